"""SPRINT 1.1 -> 1.2 on a running study (``sarcotrial protocol amend FILE --reason TEXT``).

A study created on SPRINT 1.1 (tests/protocols/sprint-1.1.yaml, the file as shipped before 1.2) with a
treated, diagnosed patient is amended to SPRINT 1.2 (tests/protocols/sprint-1.2.yaml, the file as shipped
before 1.3), which adds REDCap names and de-identification flags to fields and the diagnosis's ICD-O-3
topography and laterality (optional). ICH E6(R3): data entered under the version in force keep their
meaning and the version each CRF was entered under stays known; 21 CFR 11.10(e) / EU GMP Annex 11 §9: the
amendment is an audited change with its reason. HL7 FHIR mCODE's primary cancer condition carries the
body site (an ICD-O-3 topography code such as C49.2, soft tissues of the lower limb and hip) and its
laterality, which the amended diagnosis can then record.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.errors import SarcoTrialError
from sarcotrial.services import forms, views, visits
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import AuditEntry, ProtocolAmendment, ProtocolVersion
from tests.helpers import DOCTOR, treated

REPO = Path(__file__).resolve().parents[2]
SPRINT_11 = REPO / "tests" / "protocols" / "sprint-1.1.yaml"
SPRINT_12 = REPO / "tests" / "protocols" / "sprint-1.2.yaml"
REASON = "ethics committee approval of the data-exchange amendment, 5 December 2026"
DIAGNOSIS = {"diagnosis_date": "2025-01-05", "histotype": "undifferentiated_pleomorphic_sarcoma",
             "anatomic_site": "extremity", "site_detail": "posterior thigh", "size_cm": 7,
             "fnclcc_differentiation": 3, "mitoses_per_10hpf": 22, "necrosis_percent": 60,
             "clinical_n": "N0", "clinical_m": "M0"}
runner = CliRunner()


@pytest.fixture
def study_11(database_url):
    """A SPRINT 1.1 study with one patient diagnosed, consented, enrolled, irradiated (25 fractions from
    3 Feb 2025), operated on 17 Apr 2025, with a pathology report and an adverse event."""
    study, _ = StudyDB.create(database_url, str(SPRINT_11), Actor("tester", "test"))
    subject = treated(study)
    forms.record(study, DOCTOR, subject, "diagnosis", DIAGNOSIS)
    forms.record(study, DOCTOR, subject, "pathology", {"report_date": "2025-04-28", "viable_percent": 30,
                                                        "microscopic_margin_positive": False, "necrosis_percent": 50})
    forms.record(study, DOCTOR, subject, "adverse_event", {"term": "Dermatitis radiation", "grade": 2,
                                                            "onset_date": "2025-03-03"})
    yield study
    study.close()


def snapshot(study: StudyDB) -> dict:
    """Every CRF's place, status, values, derived values, missing codes and entry version; every visit's
    target and window (also read by the 1.2 -> 1.3 amendment's tests)."""
    record = views.patient(study, None, "SPR-001")
    crfs = sorted((c.form_id, c.visit, c.instance, c.status, tuple(sorted(c.values.items())),
                   tuple(sorted((k, str(v)) for k, v in c.derived.items())), tuple(sorted(c.missing.items())),
                   c.entered_version) for rows in record.forms.values() for c in rows)
    planned = [(v.visit_id, v.occurrence, v.target_date, v.window_start, v.window_end)
               for v in visits.visits(study, None, "SPR-001")]
    return {"crfs": crfs, "visits": planned}


def counts(study: StudyDB) -> tuple[int, int]:
    with study.reading() as session:
        return (session.scalar(select(func.count(ProtocolVersion.id))),
                session.scalar(select(func.count(ProtocolAmendment.id))))


def assert_amendment_recorded(study: StudyDB, versions: tuple[str, str], reason: str, change: str) -> None:
    """The amendment is stored once with its versions, reason and a named change, audited with its reason,
    and the audit trail verifies."""
    assert views.verify_audit(study, None).ok
    with study.reading() as session:
        amendment = session.scalars(select(ProtocolAmendment)).one()
        assert (amendment.from_version, amendment.to_version, amendment.reason) == (*versions, reason)
        assert change in amendment.changes
        trail = session.scalars(select(AuditEntry.reason).where(AuditEntry.table_name == "protocol_amendment")).all()
    assert set(trail) == {reason}


def test_amend_11_to_12_keeps_the_data_and_audits_the_amendment(study_11, database_url):
    before = snapshot(study_11)
    assert {c[-1] for c in before["crfs"]} == {"1.1"}
    assert ("diagnosis", "baseline") in {(c[0], c[1]) for c in before["crfs"]}
    assert counts(study_11) == (1, 0)

    result = runner.invoke(app, ["protocol", "amend", str(SPRINT_12), "--reason", REASON, "--db", database_url])
    assert result.exit_code == 0, result.output
    assert "Protocol 1.1 -> 1.2; visits planned again for 1 patients" in result.output
    assert "field diagnosis.topography added" in result.output and "field diagnosis.laterality added" in result.output

    with StudyDB.open(database_url) as study:
        assert study.protocol_version == "1.2"
        assert snapshot(study) == before  # every value, derived value, place and entry version; the same schedule
        assert counts(study) == (2, 1)
        assert_amendment_recorded(study, ("1.1", "1.2"), REASON, "field diagnosis.topography added")
    assert "Audit trail intact" in runner.invoke(app, ["audit", "verify", "--db", database_url]).output


def test_after_the_amendment_a_diagnosis_records_topography_and_laterality(study_11, database_url):
    """Under 1.1 the diagnosis has no topography; under 1.2 the same CRF takes C49.2 and left, with a reason,
    and keeps the version it was entered under (docs/protocol-file.md: CRF instances keep the version they
    were entered under)."""
    with pytest.raises(SarcoTrialError, match="topography"):
        forms.correct(study_11, DOCTOR, "SPR-001", "diagnosis", {"topography": "C49.2"}, reason="site coded")
    amend = runner.invoke(app, ["protocol", "amend", str(SPRINT_12), "--reason", REASON, "--db", database_url])
    assert amend.exit_code == 0, amend.output

    with StudyDB.open(database_url) as study:
        with pytest.raises(SarcoTrialError, match="laterality"):
            forms.correct(study, DOCTOR, "SPR-001", "diagnosis", {"laterality": "upper"}, reason="site coded")
        row = forms.correct(study, DOCTOR, "SPR-001", "diagnosis", {"topography": "C49.2", "laterality": "left"},
                            reason="primary site coded for the mCODE export")
        assert (row.values["topography"], row.values["laterality"]) == ("C49.2", "left")
        assert row.values["histotype"] == DIAGNOSIS["histotype"] and row.values["site_detail"] == "posterior thigh"
        # FNCLCC 3 + 3 (22 mitoses) + 2 (60 % necrosis) = 8: G3; a 7 cm limb tumour is T2; AJCC 8 T2 N0 M0 G3: IIIA
        assert (row.derived["grade"], row.derived["stage"]) == ("3", "IIIA")
        stored = views.form_instances(study, None, "SPR-001", "diagnosis")[0]
        assert stored.entered_version == "1.1"
        assert (stored.values["topography"], stored.values["laterality"]) == ("C49.2", "left")
        assert views.verify_audit(study, None).ok


def test_a_new_patient_is_diagnosed_under_12_with_the_new_fields(study_11, database_url):
    """A patient enrolled after the amendment: the diagnosis is entered under 1.2 from the start."""
    assert runner.invoke(app, ["protocol", "amend", str(SPRINT_12), "--reason", REASON,
                               "--db", database_url]).exit_code == 0
    with StudyDB.open(database_url) as study:
        subject = treated(study, hospital_number="H0002")
        row = forms.record(study, DOCTOR, subject, "diagnosis",
                           {**DIAGNOSIS, "topography": "C49.2", "laterality": "right"})
        assert (row.entered_version, row.values["topography"], row.values["laterality"]) == ("1.2", "C49.2", "right")
