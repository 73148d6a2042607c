"""Protocol amendments applied to a running study (``sarcotrial protocol amend FILE --reason TEXT``).

A study created on SPRINT 1.0 (tests/protocols/sprint-1.0.yaml) with a treated patient is amended
to SPRINT 1.1 (tests/protocols/sprint-1.1.yaml, shipped before 1.2), which adds forms,
fields, missing-data codes and checks and keeps every form, field and code of 1.0. ICH E6(R3):
data entered under the version in force keep their meaning, and the version each CRF was
entered under stays known; 21 CFR 11.10(e) / EU GMP Annex 11 §9: the amendment is an audited change
with its reason, and the audit trail stays intact. An amendment that would remove or reinterpret
data held by the study is refused, naming every reason, with nothing written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.protocol import read_protocol
from sarcotrial.radiotherapy.calendar import treatment_dates
from sarcotrial.services import forms, pathway, views, visits
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import AuditEntry, ProtocolAmendment, ProtocolVersion
from tests.helpers import DOCTOR, NURSE, SCREENING, consent, enrolled, treated

REPO = Path(__file__).resolve().parents[2]
SPRINT_10 = REPO / "tests" / "protocols" / "sprint-1.0.yaml"
SPRINT_11 = REPO / "tests" / "protocols" / "sprint-1.1.yaml"
REASON = "ethics committee approval of 1 December 2026"
runner = CliRunner()


def amend(url: str, path: Path | str, code: int = 0):
    result = runner.invoke(app, ["protocol", "amend", str(path), "--reason", REASON, "--db", url])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def study_10(database_url):
    """A SPRINT 1.0 study with one patient enrolled, irradiated (25 fractions from 3 Feb 2025) and operated on
    17 Apr 2025. Version 1.0 has no consent form: the screening's consent answer carries it."""
    study, _ = StudyDB.create(database_url, str(SPRINT_10), Actor("tester", "test"))
    patient = pathway.register_patient(study, NURSE, identifiers=pathway.Identifiers("Test Patient (synthetic)",
                                                                                     dt.date(1960, 5, 1), "H0001"),
                                       sex="female", referral={"referral_date": "2025-01-10",
                                                               "anatomic_site": "extremity"})
    subject = patient.subject_id
    pathway.screen(study, NURSE, subject, {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING})
    pathway.enrol(study, NURSE, subject, dt.date(2025, 1, 22))
    forms.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03", "calendar": "IT-MI"})
    for number, day in enumerate(treatment_dates(dt.date(2025, 2, 3), 25, "IT-MI").dates, start=1):
        forms.record(study, DOCTOR, subject, "rt_fraction",
                     {"fraction_number": number, "fraction_date": day, "status": "delivered"})
    forms.record(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-04-17", "procedure": "wide_excision",
                                                      "macroscopic_residual": False})
    yield study
    study.close()


def snapshot(study: StudyDB) -> dict:
    """Every CRF's place, values, missing codes and entry version; every visit's target and window."""
    record = views.patient(study, None, "SPR-001")
    crfs = sorted((c.form_id, c.visit, c.instance, tuple(sorted(c.values.items())), tuple(sorted(c.missing.items())),
                   c.entered_version) for rows in record.forms.values() for c in rows)
    planned = [(v.visit_id, v.occurrence, v.target_date, v.window_start, v.window_end)
               for v in visits.visits(study, None, "SPR-001")]
    return {"crfs": crfs, "visits": planned}


def counts(study: StudyDB) -> tuple[int, int, int]:
    with study.reading() as session:
        return (session.scalar(select(func.count(AuditEntry.id))), session.scalar(select(func.count(ProtocolVersion.id))),
                session.scalar(select(func.count(ProtocolAmendment.id))))


def write_protocol(tmp_path: Path, name: str, change) -> Path:
    data = yaml.safe_load(read_protocol("sprint").text)
    change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def field_of(data: dict, form_id: str, field_id: str) -> dict:
    form = next(f for f in data["forms"] if f["id"] == form_id)
    return next(f for f in form["fields"] if f["id"] == field_id)


def test_amend_10_to_11_keeps_data_and_versions(study_10, database_url):
    before = snapshot(study_10)
    assert {c[-1] for c in before["crfs"]} == {"1.0"}
    result = amend(database_url, SPRINT_11)
    assert "Protocol 1.0 -> 1.1; visits planned again for 1 patients" in result.output
    assert "form consent added" in result.output and "missing-data code UNK added" in result.output
    with StudyDB.open(database_url) as study:
        assert study.protocol_version == "1.1"
        after = snapshot(study)
        assert after == before  # every value, code, place and entry version kept; the schedule is the same
        assert views.verify_audit(study, None).ok
        new = consent(study, "SPR-001", day="2025-01-20", version="1.0")
        assert (new.entered_version, new.protocol_version) == ("1.1", "1.1")
        surgery = views.form_instances(study, None, "SPR-001", "surgery")[0]
        assert surgery.entered_version == "1.0"
        with study.reading() as session:
            amendment = session.scalars(select(ProtocolAmendment)).one()
            assert (amendment.from_version, amendment.to_version, amendment.reason) == ("1.0", "1.1", REASON)
            assert "check surgery_after_rt added" in amendment.changes
            trail = session.scalars(select(AuditEntry.reason).where(AuditEntry.table_name == "protocol_amendment")).all()
        assert set(trail) == {REASON}
    assert "Audit trail intact" in runner.invoke(app, ["audit", "verify", "--db", database_url]).output


def test_a_changed_schedule_plans_the_visits_again(study_10, database_url, tmp_path):
    """A 1.2 that widens follow_up_early's window to -21/+21 days: occurrence 1 (17 Jul 2025) moves to
    26 Jun to 7 Aug 2025 for the patient already followed."""
    amend(database_url, SPRINT_11)

    def widen(data):
        data["identification"]["version"] = "1.2"
        visit = next(v for v in data["visits"] if v["id"] == "follow_up_early")
        visit["window_before_days"] = visit["window_after_days"] = 21

    result = amend(database_url, write_protocol(tmp_path, "sprint-1.2.yaml", widen))
    assert "visit follow_up_early: schedule changed (targets and windows are planned again)" in result.output
    with StudyDB.open(database_url) as study:
        first = next(v for v in visits.visits(study, None, "SPR-001") if (v.visit_id, v.occurrence) == ("follow_up_early", 1))
        assert (first.target_date, first.window_start, first.window_end) == (
            dt.date(2025, 7, 17), dt.date(2025, 6, 26), dt.date(2025, 8, 7))
        assert views.verify_audit(study, None).ok


def test_an_amendment_that_would_lose_or_reinterpret_data_is_refused_with_every_reason(study_10, database_url,
                                                                                      tmp_path):
    def damage(data):
        data["identification"]["version"] = "1.2"
        form = next(f for f in data["forms"] if f["id"] == "surgery")
        form["fields"] = [f for f in form["fields"] if f["id"] != "procedure"]           # holds wide_excision
        field_of(data, "surgery", "macroscopic_residual")["type"] = "integer"              # holds false
        data["codelists"]["fraction_status"] = [c for c in data["codelists"]["fraction_status"]
                                                if c["code"] != "delivered"]              # 25 fractions use it
        for check in data["checks"]:  # filters on a code the file no longer has would make the file itself invalid
            check["than"].get("where", {}).pop("status", None)

    path = write_protocol(tmp_path, "sprint-1.2-bad.yaml", damage)
    before, held = counts(study_10), snapshot(study_10)
    result = amend(database_url, path, code=2)
    assert "forms.surgery.fields.procedure: removed, but it holds data" in result.output
    assert ("forms.surgery.fields.macroscopic_residual: type boolean -> integer would reinterpret the values it "
            "holds") in result.output
    assert ("forms.rt_fraction.fields.status: codes delivered are used by entered data but not in the new code list "
            "'fraction_status'") in result.output
    with StudyDB.open(database_url) as study:
        assert study.protocol_version == "1.0"
        assert counts(study) == before and snapshot(study) == held


def test_a_missing_data_code_in_use_cannot_be_removed(study, database_url, tmp_path):
    """CDISC/REDCap missing data codes are data: UNK held by a pathology form stays declared."""
    subject = treated(study)
    forms.record(study, DOCTOR, subject, "pathology", {"report_date": "2025-04-28", "microscopic_margin_positive": False},
                 missing={"viable_percent": "UNK"}, reason="specimen fragmented")

    def drop_unk(data):
        data["identification"]["version"] = "1.2"
        data["missing_codes"] = [c for c in data["missing_codes"] if c["code"] != "UNK"]

    before = counts(study)
    result = amend(database_url, write_protocol(tmp_path, "sprint-1.2.yaml", drop_unk), code=2)
    assert "missing_codes: UNK are used by entered data but no longer declared" in result.output
    assert counts(study) == before


def test_a_new_consent_document_makes_followed_patients_consent_again(study, database_url, tmp_path):
    """ICH E6(R3): a revised consent document is signed again by the patients still followed."""
    subject = enrolled(study)
    assert pathway.reconsent_due(study, None) == []

    def new_document(data):
        data["identification"]["version"] = "1.4"  # the study runs the shipped 1.3
        data["consent"]["current_version"] = "2.0"

    result = amend(database_url, write_protocol(tmp_path, "sprint-1.4.yaml", new_document))
    assert "consent document 1.0 -> 2.0: patients followed must consent again" in result.output
    with StudyDB.open(database_url) as amended:
        due = pathway.reconsent_due(amended, None)
        assert [(r.subject, r.signed_version, r.current_version) for r in due] == [(subject, "1.0", "2.0")]
        consent(amended, subject, day="2025-03-01", version="2.0")
        assert pathway.reconsent_due(amended, None) == []


def test_the_same_version_twice_is_refused(study_10, database_url):
    amend(database_url, SPRINT_11)
    with StudyDB.open(database_url) as study:
        before = counts(study)
    again = amend(database_url, SPRINT_11, code=2)
    assert "identification.version: the study already runs version 1.1; an amendment has a new version" in again.output
    back = amend(database_url, SPRINT_10, code=2)
    assert "version 1.0 was bound to this study before" in back.output
    with StudyDB.open(database_url) as study:
        assert study.protocol_version == "1.1" and counts(study) == before


def test_a_dry_run_shows_the_changes_and_writes_nothing(study_10, database_url, tmp_path):
    before = counts(study_10)
    preview = runner.invoke(app, ["protocol", "amend", str(SPRINT_11), "--reason", REASON, "--dry-run",
                                  "--db", database_url])
    assert preview.exit_code == 0 and "change: form consent added" in preview.output
    path = write_protocol(tmp_path, "sprint-1.2-bad.yaml", lambda data: next(
        f for f in data["forms"] if f["id"] == "surgery")["fields"].pop(1))  # procedure, which holds data
    bad = runner.invoke(app, ["protocol", "amend", str(path), "--reason", REASON, "--dry-run", "--db", database_url])
    assert bad.exit_code == 2 and "refused: forms.surgery.fields.procedure: removed, but it holds data" in bad.output
    with StudyDB.open(database_url) as study:
        assert study.protocol_version == "1.0" and counts(study) == before


def test_an_amendment_needs_a_reason(study_10, database_url):
    result = runner.invoke(app, ["protocol", "amend", str(SPRINT_11), "--reason", " ", "--db", database_url])
    assert result.exit_code == 2 and "an amendment needs its reason" in result.output
