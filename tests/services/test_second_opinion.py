"""Second opinions through the services: request, documents (SHA-256, size), review, turnaround, and the
rate of revised diagnoses per referring centre with its exact interval.

References: the exact (Clopper-Pearson) interval is checked against scipy's own implementation
(``scipy.stats.binomtest(...).proportion_ci(method="exact")``), independent of
:mod:`sarcotrial.outcomes.binomial`; the SHA-256 against :mod:`hashlib` on the file's bytes; the
turnaround against calendar days counted by hand. Access rules: 21 CFR 11.10(d) and (g).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from scipy.stats import binomtest
from sqlalchemy import select, text

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import access
from sarcotrial.services import second_opinion as so
from sarcotrial.store import audit, db
from sarcotrial.store.models import AuditEntry
from tests.edc_support import staff
from tests.helpers import register

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def team(study):
    subjects = [register(study, f"H00{i:02d}", name=f"Patient {i} (synthetic)").subject_id for i in range(1, 4)]
    out = staff(study, roles=("investigator", "research_nurse"))
    out.by_role["clinician"] = out.extra("cleo", "clinician", "Dr Cleo Clinician")
    out.by_role["pathologist"] = out.extra("pat", "pathologist", "Dr Paula Path")
    out.by_role["radiologist"] = out.extra("ray", "radiologist", "Dr Ray Rad")
    out.subjects = subjects
    return out


def _request(team, subject=None, centre="Hospital A", kind="pathology", received=dt.date(2025, 1, 30)) -> int:
    return so.new_request(team.study, team.research_nurse, subject or team.subjects[0], kind=kind,
                          referring_centre=centre, received_date=received, question="Confirm the diagnosis")


def test_a_request_its_documents_and_their_checksums(study, team, tmp_path):
    opinion = _request(team)
    path = tmp_path / "report.pdf"
    path.write_bytes(PDF)
    info = so.attach(study, team.clinician, opinion, path)
    assert (info.media_type, info.size_bytes, info.sha256) == ("application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
    so.attach(study, team.pathologist, opinion, content=PNG, filename="slide.png")
    with pytest.raises(InvalidValue, match="document: is already attached to request #1, as report.pdf"):
        so.attach(study, team.clinician, opinion, content=PDF, filename="again.pdf")
    with pytest.raises(InvalidValue, match="document: must be a PDF, PNG, JPEG, TIFF or DICOM file"):
        so.attach(study, team.clinician, opinion, content=b"MZ\x90\x00 not a document", filename="x.pdf")
    access.set_setting(study, team.admin, "upload_limit_mb", "1", "smaller uploads")
    with pytest.raises(InvalidValue, match="larger than the upload limit of 1 MB"):
        so.attach(study, team.clinician, opinion, content=PDF + b"0" * (1024 * 1024), filename="big.pdf")
    [row] = so.listing(study, team.radiologist)
    assert [(d.filename, d.media_type, d.intact) for d in row.documents] == [
        ("report.pdf", "application/pdf", True), ("slide.png", "image/png", True)]
    # the trail keeps the checksum and the size, not the bytes
    with study.reading() as session:
        fields = set(session.scalars(select(AuditEntry.field).where(AuditEntry.table_name == "second_opinion_document")))
    assert {"sha256", "size_bytes", "filename"} <= fields and "content" not in fields
    # a document changed around SarcoTrial no longer matches its checksum
    engine = db.make_engine(study.url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE second_opinion_document SET content = :c WHERE filename = 'slide.png'"),
                           {"c": PNG + b"tampered"})
    engine.dispose()
    assert [d.intact for d in so.listing(study, team.pathologist)[0].documents] == [True, False]


def test_the_review_is_written_by_the_discipline_asked(study, team):
    pathology = _request(team)
    imaging = _request(team, kind="imaging", centre="Hospital B")
    with pytest.raises(AccessDenied, match=r"\(permission second_opinion.pathology\)"):
        so.review(study, team.radiologist, pathology, text="x", outcome="confirmed", reviewer="Dr R",
                  report_date=dt.date(2025, 2, 3))
    with pytest.raises(AccessDenied, match=r"\(permission second_opinion.imaging\)"):
        so.review(study, team.pathologist, imaging, text="x", outcome="confirmed", reviewer="Dr P",
                  report_date=dt.date(2025, 2, 3))
    with pytest.raises(AccessDenied, match=r"\(permission second_opinion.request\)"):
        so.new_request(study, team.admin, team.subjects[0],
                       kind="pathology", referring_centre="X", received_date=dt.date(2025, 1, 1), question="?")
    # received Thursday 30 January 2025, reported Monday 3 February 2025: 4 calendar days
    days = so.review(study, team.pathologist, pathology, text="Myxofibrosarcoma confirmed, FNCLCC grade 3",
                     outcome="confirmed", reviewer="Dr Paula Path", report_date=dt.date(2025, 2, 3))
    assert days == 4
    assert so.review(study, team.radiologist, imaging, text="Deep thigh mass, as reported", outcome="confirmed",
                     reviewer="Dr Ray Rad", report_date=dt.date(2025, 1, 30)) == 0
    with pytest.raises(InvalidValue, match="reason: a reason is required to change a review"):
        so.review(study, team.pathologist, pathology, text="Revised", outcome="revised", reviewer="Dr Paula Path",
                  report_date=dt.date(2025, 2, 4), revised_histotype="leiomyosarcoma", grade=2)
    so.review(study, team.pathologist, pathology, text="Revised after immunohistochemistry", outcome="revised",
              reviewer="Dr Paula Path", report_date=dt.date(2025, 2, 4), revised_histotype="leiomyosarcoma", grade=2,
              reason="desmin and caldesmon positive")
    row = [v for v in so.listing(study, team.clinician) if v.id == pathology][0]
    assert (row.outcome, row.revised_histotype, row.revised_grade, row.turnaround_days) == (
        "revised", "leiomyosarcoma", 2, 5)
    with study.reading() as session:
        assert audit.verify_chain(session).ok


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"outcome": "revised"}, "histotype: a revised pathology diagnosis names the revised histotype"),
    ({"outcome": "revised", "revised_histotype": "not_a_histotype"}, "histotype: unknown histotype id"),
    ({"outcome": "revised", "revised_histotype": "leiomyosarcoma", "grade": 4}, "grade: an FNCLCC grade is 1, 2 or 3"),
    ({"outcome": "confirmed", "revised_histotype": "leiomyosarcoma"}, "only a revised diagnosis gives a histotype"),
    ({"outcome": "maybe"}, "outcome: must be one of confirmed, revised, not_assessable"),
    ({"outcome": "confirmed", "report_date": dt.date(2025, 1, 29)}, "report_date: must not be before the request"),
    # WHO 2020 grades a solitary fibrous tumour by a risk model, not FNCLCC (the catalogue says so)
    ({"outcome": "revised", "revised_histotype": "solitary_fibrous_tumour", "grade": 2}, "is not graded by FNCLCC"),
    # FNCLCC grades sarcomas (Trojani 1984; Coindre 2006): no grade for a benign or intermediate entity (WHO 2020)
    ({"outcome": "revised", "revised_histotype": "solitary_fibrous_tumour_benign", "grade": 2},
     r"is intermediate \(locally aggressive\) \(WHO 2020\): the FNCLCC grade is given to malignant tumours only"),
    ({"outcome": "revised", "revised_histotype": "dermatofibrosarcoma_protuberans", "grade": 3},
     "the FNCLCC grade is given to malignant tumours only"),
])
def test_a_review_is_checked(study, team, kwargs, message):
    opinion = _request(team)
    given = {"text": "review", "reviewer": "Dr Paula Path", "report_date": dt.date(2025, 2, 3), **kwargs}
    with pytest.raises(InvalidValue, match=message):
        so.review(study, team.pathologist, opinion, **given)
    assert so.listing(study, team.pathologist)[0].outcome is None


def test_the_revision_rate_per_centre_with_its_exact_interval(study, team):
    """Hospital A: 2 revised of 5 assessed (1 not assessable, left out); Hospital B: 0 of 2."""
    plan = [("Hospital A", "revised"), ("Hospital A", "revised"), ("Hospital A", "confirmed"),
            ("Hospital A", "confirmed"), ("Hospital A", "confirmed"), ("Hospital A", "not_assessable"),
            ("Hospital B", "confirmed"), ("Hospital B", "confirmed"), ("Hospital C", None)]
    for i, (centre, outcome) in enumerate(plan):
        opinion = _request(team, subject=team.subjects[i % 3], centre=centre)
        if outcome is not None:
            so.review(study, team.pathologist, opinion, text="review", outcome=outcome, reviewer="Dr Paula Path",
                      report_date=dt.date(2025, 2, 1 + i), revised_histotype="leiomyosarcoma" if outcome == "revised"
                      else None)
    rates = {r.centre: r for r in so.revision_rates(so.listing(study, team.clinician))}
    assert set(rates) == {"Hospital A", "Hospital B"}  # a request with no review yet is not counted
    a, b = rates["Hospital A"], rates["Hospital B"]
    assert (a.reviews, a.assessed, a.revised, a.not_assessable) == (6, 5, 2, 1) and a.rate == pytest.approx(0.4)
    reference = binomtest(2, 5).proportion_ci(confidence_level=0.95, method="exact")
    assert a.ci == pytest.approx((reference.low, reference.high), abs=1e-9)
    reference_b = binomtest(0, 2).proportion_ci(confidence_level=0.95, method="exact")
    assert b.rate == 0 and b.ci == pytest.approx((0.0, reference_b.high), abs=1e-9)
    # turnaround: received 30 January; reports 1 to 6 February (2 to 7 days), median 4.5
    assert a.median_turnaround_days == pytest.approx(4.5)


def test_a_site_limited_reader_sees_only_their_sites_requests(study, team):
    _request(team)
    access.add_site(study, team.admin, "SAT", "Satellite")
    outsider = team.extra("sam", "pathologist", "Dr Sam Satellite", sites=["SAT"])
    assert so.listing(study, outsider) == []
    with pytest.raises(InvalidValue, match="second_opinion: no such second-opinion request"):
        so.review(study, outsider, 1, text="x", outcome="confirmed", reviewer="Dr S", report_date=dt.date(2025, 2, 3))


def test_documents_sent_together_are_stored_all_or_none(study, team, tmp_path):
    """Every document is checked before any is stored: a bad third leaves none of the three."""
    opinion = _request(team)
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 32
    with pytest.raises(InvalidValue, match="document: must be a PDF, PNG, JPEG, TIFF or DICOM file .*'notes.txt'"):
        so.attach_documents(study, team.clinician, opinion, [("report.pdf", PDF), ("slide.png", PNG),
                                                            ("notes.txt", b"plain text")])
    with pytest.raises(InvalidValue, match="document: is given twice \\(the same content as report.pdf\\)"):
        so.attach_documents(study, team.clinician, opinion, [("report.pdf", PDF), ("copy.pdf", PDF)])
    missing = tmp_path / "missing.pdf"
    (tmp_path / "report.pdf").write_bytes(PDF)
    with pytest.raises(InvalidValue, match="document: cannot be read .*missing.pdf"):
        so.attach_files(study, team.clinician, opinion, [tmp_path / "report.pdf", missing])
    assert so.listing(study, team.clinician)[0].documents == ()
    stored = so.attach_documents(study, team.clinician, opinion, [("report.pdf", PDF), ("slide.png", PNG),
                                                                  ("photo.jpg", jpeg)])
    assert [(d.filename, d.media_type, d.sha256) for d in stored] == [
        ("report.pdf", "application/pdf", hashlib.sha256(PDF).hexdigest()),
        ("slide.png", "image/png", hashlib.sha256(PNG).hexdigest()),
        ("photo.jpg", "image/jpeg", hashlib.sha256(jpeg).hexdigest())]
    # one already attached refuses the whole batch: the new document before it is not stored either
    with pytest.raises(InvalidValue, match="is already attached to request #1, as slide.png"):
        so.attach_documents(study, team.clinician, opinion, [("new.pdf", PDF + b" "), ("slide-again.png", PNG)])
    assert [d.filename for d in so.listing(study, team.clinician)[0].documents] == [
        "report.pdf", "slide.png", "photo.jpg"]


def test_a_review_written_meanwhile_is_not_overwritten_without_a_reason(study, team, monkeypatch):
    """Two pathologists record the first review at once: the second meets a review already recorded
    (decided inside the write transaction), so it needs a reason."""
    opinion = _request(team)
    real, raced = study.action, []

    def action(*args, **kwargs):  # the first reviewer commits just before the second's action opens
        if not raced:
            raced.append(True)
            so.review(study, team.pathologist, opinion, text="Confirmed", outcome="confirmed", reviewer="Dr A",
                      report_date=dt.date(2025, 2, 3))
        return real(*args, **kwargs)

    monkeypatch.setattr(study, "action", action)
    with pytest.raises(InvalidValue, match="reason: a reason is required to change a review already recorded"):
        so.review(study, team.pathologist, opinion, text="Revised", outcome="revised", reviewer="Dr B",
                  report_date=dt.date(2025, 2, 4), revised_histotype="leiomyosarcoma", grade=2)
    assert raced
    [row] = so.listing(study, team.pathologist)
    assert (row.outcome, row.reviewer) == ("confirmed", "Dr A")
    with study.reading() as session:
        assert audit.verify_chain(session).ok


def test_a_request_received_before_the_patient_was_born_or_in_the_future_is_refused(study, team):
    """A request received in 1900 gave a turnaround of 46,025 days in the per-centre figures: a received date
    before the patient's year of birth (1960) is refused, as one in the future was; nothing is written."""
    for day, rule in ((dt.date(1959, 12, 31), r"received_date: is before the patient's year of birth \(1960\)"),
                      (dt.date.today() + dt.timedelta(days=1), "received_date: is in the future")):
        with pytest.raises(InvalidValue, match=rule):
            so.new_request(study, team.research_nurse, team.subjects[0], kind="pathology", referring_centre="Hospital A",
                           received_date=day, question="Confirm the diagnosis")
    assert so.listing(study, team.pathologist) == []
