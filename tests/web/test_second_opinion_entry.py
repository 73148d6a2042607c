"""Second opinions entered in the browser, through HTTP: a request registered with its documents, the
request's page (patient, centre, dates, question, each document's type, size and SHA-256, the review), the
forms that attach documents and record or change the review, the listing's links; refusals beside their
field with what was typed kept and nothing written; permissions as the services decide them (403).

Independent references: the SHA-256 and the size from :mod:`hashlib` and ``len`` on the bytes sent; the
turnaround in calendar days counted with :mod:`datetime`; the revised histotype's name from the WHO 2020
catalogue (``domain.histology``); who may do what from ``docs/roles.md`` and ``docs/tumour-board.md``
(the request and documents: site staff and board members; a pathology review: a pathologist; an imaging
review: a radiologist; a change of a review: with a reason). "Nothing written" is checked on the audit
trail's count of entries (every write is audited) and on the services' listing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest

from sarcotrial.domain.histology import histotype
from sarcotrial.services import audit_trail
from sarcotrial.services import second_opinion as so
from tests.web.test_ecrf import by_id, dom, form_data

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 40
TEXT = b"just some text, not a document"
GOOD = {"subject_id": "spr-001", "kind": "pathology", "referring_centre": "Hospital  North",
        "received_date": "2025-02-03", "question": "Leiomyosarcoma or myxofibrosarcoma?"}


def writes(study) -> int:
    """Every write is audited: the trail's entries on second-opinion requests and their documents."""
    return sum(1 for row in audit_trail.audit_rows(study, None) if row.table.startswith("second_opinion"))


def requests(study) -> list[so.OpinionView]:
    return so.listing(study, None)


def error_of(root, form: str, field: str) -> str:
    return by_id(root, f"{form}-{field}-error").text


def opinion_id(answer) -> int:
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/board/second-opinions/(\d+)\?done=registered", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


@pytest.fixture
def pathology(web_study):
    """A pathology request on SPR-001 (MAIN) from Hospital A, received Thursday 30 January 2025, with a PDF."""
    nurse = web_study.team.research_nurse
    number = so.new_request(web_study, nurse, "SPR-001", kind="pathology", referring_centre="Hospital A",
                            received_date=dt.date(2025, 1, 30), question="Confirm the diagnosis")
    so.attach(web_study, nurse, number, content=PDF, filename="outside-report.pdf")
    return number


@pytest.fixture
def imaging(web_study):
    return so.new_request(web_study, web_study.team.research_nurse, "SPR-002", kind="imaging",
                          referring_centre="Hospital B", received_date=dt.date(2025, 1, 9), question="MRI reading")


# --------------------------------------------------------------------------- registering a request
def test_the_form_has_a_label_for_every_field_and_the_kinds_the_service_accepts(client_as):
    answer = client_as("clinician").get("/board/second-opinions/new?subject=spr-002")
    assert answer.status_code == 200
    root = dom(answer)
    form = by_id(root, "new-request")
    assert form.attrs["enctype"] == "multipart/form-data" and form.attrs["action"] == "/board/second-opinions"
    for name in ("subject_id", "kind", "referring_centre", "received_date", "question", "documents"):
        assert root.find("label", for_=f"new-{name}") is not None, name
    assert by_id(root, "new-documents").attrs.get("multiple") is not None
    kinds = [o.attrs["value"] for o in by_id(root, "new-kind").find_all("option") if o.attrs["value"]]
    assert kinds == ["pathology", "imaging"]
    assert form_data(root, "new-request")["subject_id"] == "SPR-002"
    assert form_data(root, "new-request")["received_date"] == dt.date.today().isoformat()


def test_a_request_is_registered_with_its_documents_and_shown(client_as, web_study):
    nurse = client_as("research_nurse")
    trail = writes(web_study)
    answer = nurse.post("/board/second-opinions", data=GOOD,
                        files=[("documents", ("outside report.pdf", PDF, "application/pdf")),
                               ("documents", ("slide-01.png", PNG, "image/png"))])
    number = opinion_id(answer)
    assert writes(web_study) > trail                           # the measure of "nothing written" sees writes
    [row] = [r for r in requests(web_study) if r.id == number]
    assert (row.subject, row.kind, row.referring_centre, row.received_date, row.question) == (
        "SPR-001", "pathology", "Hospital North", dt.date(2025, 2, 3), GOOD["question"])
    assert [(d.filename, d.media_type, d.size_bytes, d.sha256) for d in row.documents] == [
        ("outside report.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest()),
        ("slide-01.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest())]

    page = nurse.get(answer.headers["location"])
    assert page.status_code == 200
    root = dom(page)
    assert "The request is registered." in page.text
    assert by_id(root, "patient").text == "SPR-001"
    assert by_id(root, "centre").text == "Hospital North"
    assert by_id(root, "received").text == "2025-02-03"
    assert by_id(root, "question").text == GOOD["question"]
    assert "awaiting review" in by_id(root, "status").text
    documents = by_id(root, "documents").text
    for content, name, kind in ((PDF, "outside report.pdf", "application/pdf"), (PNG, "slide-01.png", "image/png")):
        assert name in documents and kind in documents and f"{len(content)} bytes" in documents
        assert hashlib.sha256(content).hexdigest() in documents
    assert "no longer matches" not in documents


def test_a_request_without_documents_is_registered(client_as, web_study):
    before = len(requests(web_study))
    answer = client_as("pathologist").post("/board/second-opinions", data={**GOOD, "kind": "imaging"},
                                           files=[("documents", ("", b"", "application/octet-stream"))])
    number = opinion_id(answer)
    assert len(requests(web_study)) == before + 1
    [row] = [r for r in requests(web_study) if r.id == number]
    assert row.kind == "imaging" and row.documents == ()


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"subject_id": ""}, "subject_id", "is required"),
    ({"subject_id": "SPR-999"}, "subject_id", "no such subject id in this study"),
    ({"kind": ""}, "kind", "must be one of pathology, imaging"),
    ({"kind": "cytology"}, "kind", "must be one of pathology, imaging"),
    ({"referring_centre": "   "}, "referring_centre", "must not be empty"),
    ({"referring_centre": "H" * 201}, "referring_centre", "must be at most 200 characters"),
    ({"received_date": ""}, "received_date", "is required"),
    ({"received_date": "03/02/2025"}, "received_date", "must be a date written YYYY-MM-DD"),
    ({"received_date": (dt.date.today() + dt.timedelta(days=1)).isoformat()}, "received_date", "is in the future"),
    ({"question": ""}, "question", "must not be empty"),
])
def test_bad_input_is_refused_beside_its_field_with_what_was_typed_kept(client_as, web_study, change, field, rule):
    before, trail = len(requests(web_study)), writes(web_study)
    typed = {**GOOD, **change}
    answer = client_as("research_nurse").post("/board/second-opinions", data=typed,
                                              files=[("documents", ("report.pdf", PDF, "application/pdf"))])
    assert answer.status_code == 422
    root = dom(answer)
    assert rule in error_of(root, "new", field)
    assert len(root.find_all("p", class_="error")) == 1
    assert by_id(root, f"new-{field}").attrs.get("aria-invalid") == "true"
    kept = form_data(root, "new-request")
    for name in ("subject_id", "referring_centre", "received_date"):
        assert kept[name] == typed[name], name
    assert kept["kind"] == (typed["kind"] if typed["kind"] in ("pathology", "imaging") else "")  # a list keeps its own
    assert by_id(root, "new-question").text == typed["question"].strip()
    assert "Traceback" not in answer.text and "Nothing was saved" in answer.text
    assert len(requests(web_study)) == before and writes(web_study) == trail


def test_text_sent_in_place_of_a_file_is_refused_beside_the_documents_field(client_as, web_study):
    trail = writes(web_study)
    answer = client_as("research_nurse").post("/board/second-opinions", data={**GOOD, "documents": "report.pdf"})
    assert answer.status_code == 422
    assert "must be a file chosen in the form" in error_of(dom(answer), "new", "documents")
    assert writes(web_study) == trail


def test_another_sites_patient_is_answered_as_an_unknown_one(client_as, web_study):
    """nurse.sat works at SAT only: SPR-001 (MAIN) is refused exactly as a subject id that does not exist."""
    trail = writes(web_study)
    answer = client_as("nurse.sat").post("/board/second-opinions", data=GOOD)
    assert answer.status_code == 422
    assert "no such subject id in this study" in error_of(dom(answer), "new", "subject_id")
    assert writes(web_study) == trail


def test_a_refused_document_leaves_nothing_written_and_is_named_beside_the_documents_field(client_as, web_study):
    """The request and its documents are stored in one transaction: a refused document (text sent as a PDF)
    leaves neither the request nor the good PDF stored; the refusal names the file beside the field, and
    what was typed is kept."""
    nurse = client_as("research_nurse")
    before, trail = {r.id for r in requests(web_study)}, writes(web_study)
    answer = nurse.post("/board/second-opinions", data=GOOD,
                        files=[("documents", ("report.pdf", PDF, "application/pdf")),
                               ("documents", ("notes.pdf", TEXT, "application/pdf"))])
    assert answer.status_code == 422
    assert {r.id for r in requests(web_study)} == before and writes(web_study) == trail
    root = dom(answer)
    error = error_of(root, "new", "documents")
    assert "must be a PDF, PNG, JPEG, TIFF or DICOM file" in error and "notes.pdf" in error
    assert by_id(root, "new-referring_centre").attrs["value"] == GOOD["referring_centre"]


def test_a_document_is_downloaded_as_received_and_an_altered_one_is_not_served(client_as, web_study, pathology):
    """The request's page links each document; the download is the bytes received (SHA-256 by hashlib), as
    an attachment, never cached. Bytes changed around SarcoTrial are refused (409), not served."""
    from sqlalchemy import update

    from sarcotrial.store.models_board import SecondOpinionDocument

    nurse = client_as("research_nurse")
    [doc] = [r for r in requests(web_study) if r.id == pathology][0].documents
    page = dom(nurse.get(f"/board/second-opinions/{pathology}"))
    link = by_id(page, "documents").find("a", href=f"/board/second-opinions/{pathology}/documents/{doc.id}")
    assert link is not None and link.text == "outside-report.pdf"
    got = nurse.get(f"/board/second-opinions/{pathology}/documents/{doc.id}")
    assert got.status_code == 200 and got.content == PDF
    assert hashlib.sha256(got.content).hexdigest() == doc.sha256 == got.headers["x-document-sha256"]
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith('attachment; filename="outside-report.pdf"')
    assert got.headers["cache-control"] == "no-store"
    assert nurse.get(f"/board/second-opinions/{pathology}/documents/{doc.id + 99}").status_code == 404
    with web_study.engine.begin() as connection:  # changed around SarcoTrial
        connection.execute(update(SecondOpinionDocument).where(SecondOpinionDocument.id == doc.id)
                           .values(content=PDF + b"%altered"))
    refused = nurse.get(f"/board/second-opinions/{pathology}/documents/{doc.id}")
    assert refused.status_code == 409 and PDF not in refused.content  # the altered bytes are not served


def test_a_request_needs_the_sessions_csrf_token_and_the_permission(client_as, web_study):
    trail = writes(web_study)
    answer = client_as("research_nurse").post("/board/second-opinions", data=GOOD, csrf=False)
    assert answer.status_code == 403 and "CSRF" in answer.text
    # the monitor reviews trial data, not the board's (docs/roles.md): refused by the service
    monitor = client_as("monitor")
    answer = monitor.post("/board/second-opinions", data=GOOD)
    assert answer.status_code == 403 and "second_opinion.request" in answer.text
    assert "Traceback" not in answer.text
    form = monitor.get("/board/second-opinions/new")
    assert 'id="new-request"' not in form.text and 'id="not-allowed"' in form.text
    assert writes(web_study) == trail


# --------------------------------------------------------------------------- one request
def test_an_unknown_request_or_another_sites_is_not_found(client_as, pathology):
    assert client_as("research_nurse").get("/board/second-opinions/999").status_code == 404
    assert client_as("research_nurse").get("/board/second-opinions/abc").status_code == 404
    assert client_as("nurse.sat").get(f"/board/second-opinions/{pathology}").status_code == 404
    assert client_as("monitor").get(f"/board/second-opinions/{pathology}").status_code == 403


def test_documents_are_attached_on_the_requests_page_all_or_none(client_as, web_study, pathology):
    clinician = client_as("clinician")
    trail = writes(web_study)
    refused = clinician.post(f"/board/second-opinions/{pathology}/documents",
                             files=[("documents", ("slide.png", PNG, "image/png")),
                                    ("documents", ("again.pdf", PDF, "application/pdf"))])
    assert refused.status_code == 422
    assert "is already attached to request" in error_of(dom(refused), "attach", "documents")
    assert writes(web_study) == trail
    empty = clinician.post(f"/board/second-opinions/{pathology}/documents",
                           files=[("documents", ("", b"", "application/octet-stream"))])
    assert empty.status_code == 422 and "give a file to attach" in error_of(dom(empty), "attach", "documents")
    done = clinician.post(f"/board/second-opinions/{pathology}/documents",
                          files=[("documents", ("slide.png", PNG, "image/png")),
                                 ("documents", ("photo.jpg", JPEG, "image/jpeg"))])
    assert done.status_code == 303
    assert done.headers["location"] == f"/board/second-opinions/{pathology}?done=documents#documents"
    [row] = [r for r in requests(web_study) if r.id == pathology]
    assert [d.filename for d in row.documents] == ["outside-report.pdf", "slide.png", "photo.jpg"]
    assert row.documents[2].sha256 == hashlib.sha256(JPEG).hexdigest()


def test_a_revised_pathology_review_is_recorded_and_shown(client_as, web_study, pathology):
    pat = client_as("pathologist")
    root = dom(pat.get(f"/board/second-opinions/{pathology}"))
    assert by_id(root, "no-review")
    typed = form_data(root, "review-form")
    assert typed["reviewer"] == "Dr Paula Pathologist" and typed["report_date"] == dt.date.today().isoformat()
    options = {o.attrs["value"] for o in by_id(root, "review-revised_histotype").find_all("option")}
    assert {"leiomyosarcoma", "myxofibrosarcoma", "solitary_fibrous_tumour"} <= options
    assert root.find(id="review-reason") is None            # no reason asked for a first review

    answer = pat.post(f"/board/second-opinions/{pathology}/review", data={
        "text": "Desmin and caldesmon positive: leiomyosarcoma", "outcome": "revised",
        "revised_histotype": "leiomyosarcoma", "grade": "2", "reviewer": "Dr Paula Path", "report_date": "2025-02-04"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/board/second-opinions/{pathology}?done=reviewed#review"
    [row] = [r for r in requests(web_study) if r.id == pathology]
    assert (row.outcome, row.revised_histotype, row.revised_grade, row.reviewer, row.report_date) == (
        "revised", "leiomyosarcoma", 2, "Dr Paula Path", dt.date(2025, 2, 4))

    root = dom(pat.get(answer.headers["location"]))
    assert by_id(root, "outcome").text == "revised"
    assert histotype("leiomyosarcoma").name in by_id(root, "revised-histotype").text
    assert by_id(root, "revised-grade").text == "2"
    assert by_id(root, "reviewer").text == "Dr Paula Path"
    assert by_id(root, "report-date").text == "2025-02-04"
    days = (dt.date(2025, 2, 4) - dt.date(2025, 1, 30)).days
    assert by_id(root, "turnaround").text == f"{days} days"
    assert by_id(root, "review-text").text == "Desmin and caldesmon positive: leiomyosarcoma"
    # the form now changes the review: filled with it, and asking for a reason
    assert form_data(root, "review-form")["revised_histotype"] == "leiomyosarcoma"
    assert form_data(root, "review-form")["grade"] == "2"
    assert root.find(id="review-reason") is not None


REVIEW = {"text": "Reviewed", "outcome": "confirmed", "reviewer": "Dr Paula Path", "report_date": "2025-02-03"}


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"text": " "}, "text", "must not be empty"),
    ({"outcome": ""}, "outcome", "is required"),
    ({"outcome": "revised"}, "revised_histotype", "a revised pathology diagnosis names the revised histotype"),
    ({"outcome": "confirmed", "revised_histotype": "leiomyosarcoma"}, "revised_histotype",
     "only a revised diagnosis gives a histotype"),
    ({"outcome": "revised", "revised_histotype": "no_such_entity"}, "revised_histotype", "unknown histotype id"),
    # WHO 2020 grades a solitary fibrous tumour by a risk model, not FNCLCC
    ({"outcome": "revised", "revised_histotype": "solitary_fibrous_tumour", "grade": "2"}, "grade",
     "is not graded by FNCLCC"),
    ({"outcome": "revised", "revised_histotype": "leiomyosarcoma", "grade": "two"}, "grade", "must be a whole number"),
    ({"outcome": "revised", "revised_histotype": "leiomyosarcoma", "grade": "4"}, "grade", "1, 2 or 3"),
    ({"reviewer": ""}, "reviewer", "must not be empty"),
    ({"report_date": "2025-01-29"}, "report_date", "must not be before the request was received (2025-01-30)"),
    ({"report_date": "4 Feb"}, "report_date", "must be a date written YYYY-MM-DD"),
])
def test_a_bad_review_is_refused_beside_its_field(client_as, web_study, pathology, change, field, rule):
    trail = writes(web_study)
    typed = {**REVIEW, **change}
    answer = client_as("pathologist").post(f"/board/second-opinions/{pathology}/review", data=typed)
    assert answer.status_code == 422
    root = dom(answer)
    assert rule in error_of(root, "review", field)
    kept = form_data(root, "review-form")
    for name in ("outcome", "reviewer", "report_date"):
        assert kept[name] == typed[name], name
    assert writes(web_study) == trail
    assert [r.outcome for r in requests(web_study) if r.id == pathology] == [None]


def test_a_review_is_changed_only_with_a_reason(client_as, web_study, pathology):
    pat = client_as("pathologist")
    url = f"/board/second-opinions/{pathology}/review"
    assert pat.post(url, data=REVIEW).status_code == 303
    change = {**REVIEW, "outcome": "revised", "revised_histotype": "myxofibrosarcoma", "grade": "3",
              "report_date": "2025-02-05"}
    trail = writes(web_study)
    refused = pat.post(url, data=change)
    assert refused.status_code == 422
    assert "a reason is required" in error_of(dom(refused), "review", "reason")
    assert writes(web_study) == trail
    answer = pat.post(url, data={**change, "reason": "MDM2 FISH negative"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=changed#review")
    [row] = [r for r in requests(web_study) if r.id == pathology]
    assert (row.outcome, row.revised_histotype, row.revised_grade, row.turnaround_days) == (
        "revised", "myxofibrosarcoma", 3, (dt.date(2025, 2, 5) - dt.date(2025, 1, 30)).days)
    reasons = {r.reason for r in audit_trail.audit_rows(web_study, None)}
    assert "MDM2 FISH negative" in reasons


def test_the_review_is_the_discipline_asked(client_as, web_study, pathology, imaging):
    """A pathology review by a pathologist, an imaging review by a radiologist (docs/tumour-board.md); the
    form is shown to the discipline asked only, and a refusal is the 403 page with nothing written."""
    trail = writes(web_study)
    for role in ("radiologist", "research_nurse", "clinician"):
        client = client_as(role)
        assert 'id="review-form"' not in client.get(f"/board/second-opinions/{pathology}").text, role
        answer = client.post(f"/board/second-opinions/{pathology}/review", data=REVIEW)
        assert answer.status_code == 403 and "second_opinion.pathology" in answer.text, role
    assert writes(web_study) == trail
    ray = client_as("radiologist")
    root = dom(ray.get(f"/board/second-opinions/{imaging}"))
    assert root.find(id="review-form") is not None
    assert root.find(id="review-revised_histotype") is None and root.find(id="review-grade") is None
    answer = ray.post(f"/board/second-opinions/{imaging}/review",
                      data={**REVIEW, "report_date": "2025-01-16", "text": "Deep thigh mass, as reported"})
    assert answer.status_code == 303
    [row] = [r for r in requests(web_study) if r.id == imaging]
    assert (row.outcome, row.turnaround_days) == ("confirmed", 7)
    # the nurse attaches documents but does not review
    nurse_page = dom(client_as("research_nurse").get(f"/board/second-opinions/{pathology}"))
    assert nurse_page.find(id="attach-form") is not None and nurse_page.find(id="review-form") is None


# --------------------------------------------------------------------------- the listing's links
def test_the_listing_links_to_a_new_request_and_to_each_request(client_as, pathology, imaging):
    root = dom(client_as("research_nurse").get("/board/second-opinions"))
    assert by_id(root, "new-request").attrs["href"] == "/board/second-opinions/new"
    for number in (pathology, imaging):
        links = [a.attrs["href"] for a in by_id(root, f"opinion-{number}").find_all("a")]
        assert f"/board/second-opinions/{number}" in links
    # the monitor may not register one (and reads no board data): 403, as the listing always answered
    assert client_as("monitor").get("/board/second-opinions").status_code == 403


def test_the_case_file_lists_the_patients_second_opinions(client_as, web_study, pathology):
    """The patient's case file has a section of their second opinions, each linked to its page."""
    page = dom(client_as("clinician").get("/board/patients/SPR-001"))
    section = by_id(page, "second-opinions")
    link = section.find("a", href=f"/board/second-opinions/{pathology}")
    assert link is not None and link.text == f"#{pathology}"
    assert "Hospital A" in section.text and "awaiting review" in section.text
