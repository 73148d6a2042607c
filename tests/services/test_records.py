"""Recording clinical data: protocol form checks, pathway date rules, derived values, corrections.

Derived values are checked against the published tables, not against this code:
- FNCLCC grade (Trojani 1984; Coindre, Arch Pathol Lab Med 2006;130:1448): differentiation 3 +
  mitoses 22/10 HPF (score 3) + necrosis 60 % (score 2) = 8 -> grade 3.
- AJCC 8th ed., trunk and extremities (ch. 41): 7 cm is T2; T2 N0 M0 G3 is stage IIIA;
  retroperitoneum (ch. 44): any T N1 M0 is IIIB.
- UICC R classification: tumour at the inked margin without macroscopic residual is R1.
- EORTC-STBSG score (Wardelmann, Eur J Cancer 2016): 3 % stainable cells is tier C; SPRINT's pCR
  is at most 5 % (protocol parameter), so 3 % is a pCR.
"""

from __future__ import annotations


import pytest
from sqlalchemy import func, select

from sarcotrial.errors import InvalidValue
from sarcotrial.services import records
from sarcotrial.store.models import AdverseEvent, AuditEntry, Diagnosis, ProtocolDeviation
from tests.helpers import DOCTOR, enrolled, treated

DIAGNOSIS = {"diagnosis_date": "2025-01-05", "histotype": "undifferentiated_pleomorphic_sarcoma",
             "anatomic_site": "extremity", "size_cm": 7, "fnclcc_differentiation": 3, "mitoses_per_10hpf": 22,
             "necrosis_percent": 60, "clinical_n": "N0", "clinical_m": "M0"}


def count(study, model) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count(model.id)))


def test_diagnosis_derives_grade_and_stage(study):
    subject = enrolled(study)
    row = records.record(study, DOCTOR, subject, "diagnosis", DIAGNOSIS)
    assert (row.grade, row.t_category, row.n_category, row.m_category, row.stage) == ("3", "T2", "N0", "M0", "IIIA")
    assert row.icdo3 == "8802/3"


def test_correction_recomputes_derived_values(study):
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "diagnosis", DIAGNOSIS)
    row = records.correct(study, DOCTOR, subject, "diagnosis", {"anatomic_site": "retroperitoneum", "clinical_n": "N1"},
                          reason="site and nodes revised at the tumour board")
    assert (row.stage, row.t_category, row.n_category) == ("IIIB", "T2", "N1")
    with study.reading() as session:
        changed = set(session.scalars(select(AuditEntry.field).where(AuditEntry.table_name == "diagnosis",
                                                                      AuditEntry.action == "update")))
    assert changed == {"anatomic_site", "n_category", "stage"}


def test_pathology_derives_r_status_response_and_pcr(study):
    subject = treated(study)
    row = records.record(study, DOCTOR, subject, "pathology",
                         {"report_date": "2025-04-28", "microscopic_margin_positive": True, "closest_margin_mm": 0,
                          "closest_margin_tissue": "epineurium", "planned_positive_margin": True, "viable_percent": 3})
    assert (row.r_status, row.response_score, row.pcr) == ("R1", "C", True)
    assert "5 %" in row.pcr_definition


def test_adverse_event_grade_must_exist_for_its_term(study):
    subject = treated(study)
    with pytest.raises(InvalidValue, match="'Alopecia' allows grades 1, 2 only"):
        records.record(study, DOCTOR, subject, "adverse_event", {"term": "Alopecia", "grade": 3, "onset_date": "2025-02-20"})
    with pytest.raises(InvalidValue, match="not a CTCAE v5.0 term"):
        records.record(study, DOCTOR, subject, "adverse_event", {"term": "Sunburnish", "grade": 1, "onset_date": "2025-02-20"})
    assert count(study, AdverseEvent) == 0


def test_adverse_event_phase_from_the_start_of_rt(study):
    """Acute up to and including day 90 from the first fraction (3 Feb 2025): 4 May is day 90."""
    subject = treated(study)
    acute = records.record(study, DOCTOR, subject, "adverse_event",
                           {"term": "Dermatitis radiation", "grade": 2, "onset_date": "2025-05-04"})
    late = records.record(study, DOCTOR, subject, "adverse_event",
                          {"term": "Fibrosis deep connective tissue", "grade": 1, "onset_date": "2025-05-05"})
    assert (acute.phase, late.phase) == ("acute", "late")
    # CTCAE v5.0 files radiation dermatitis under this SOC (NCI spreadsheet, MedDRA code 10061103)
    assert acute.soc == "Injury, poisoning and procedural complications" and acute.ctcae_version == "5.0"


BAD = [
    ("unknown code", "diagnosis", {**DIAGNOSIS, "anatomic_site": "elbow"}, "diagnosis.anatomic_site: unknown code"),
    ("below range", "diagnosis", {**DIAGNOSIS, "size_cm": -5}, "diagnosis.size_cm: must be at least 0.1 cm"),
    ("not a number", "diagnosis", {**DIAGNOSIS, "size_cm": "big"}, "diagnosis.size_cm: must be a number"),
    ("bad date", "diagnosis", {**DIAGNOSIS, "diagnosis_date": "05/01/2025"}, "must be a date written YYYY-MM-DD"),
    ("date before birth", "diagnosis", {**DIAGNOSIS, "diagnosis_date": "1950-01-01"}, "is before the patient's birth"),
    ("missing required", "diagnosis", {k: v for k, v in DIAGNOSIS.items() if k != "size_cm"}, "diagnosis.size_cm: is required"),
    ("unknown field", "diagnosis", {**DIAGNOSIS, "colour": "red"}, "diagnosis.colour: not a field of form 'diagnosis'"),
    ("unknown histotype", "diagnosis", {**DIAGNOSIS, "histotype": "sarcomatoid"}, "diagnosis.histotype: not a WHO 2020 histotype"),
    ("differentiation fixed by histotype", "diagnosis", {**DIAGNOSIS, "histotype": "synovial_sarcoma", "fnclcc_differentiation": 1},
     "diagnosis.fnclcc_differentiation: FNCLCC scores Synovial sarcoma 3"),
    ("future date", "diagnosis", {**DIAGNOSIS, "diagnosis_date": "2099-01-01"}, "is in the future"),
]


@pytest.mark.parametrize("label, form, values, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_naming_field_and_rule(study, label, form, values, message):
    subject = enrolled(study)
    audit_before = count(study, AuditEntry)
    with pytest.raises(InvalidValue) as info:
        records.record(study, DOCTOR, subject, form, values)
    assert message in str(info.value)
    assert count(study, Diagnosis) == 0 and count(study, AuditEntry) == audit_before  # nothing half-written


def test_fraction_after_surgery_is_refused(study):
    subject = treated(study)
    with pytest.raises(InvalidValue, match=r"rt_fraction.fraction_date: must not be after surgery \(2025-04-17\)"):
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": 25, "fraction_date": "2025-04-18", "status": "missed", "reason": "late entry"})


def test_fraction_rules(study):
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03"})
    with pytest.raises(InvalidValue, match="is a Saturday, not a treatment day"):
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": 1, "fraction_date": "2025-02-08", "status": "delivered"})
    with pytest.raises(InvalidValue, match="the course has 25 fractions"):
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": 26, "fraction_date": "2025-02-03", "status": "delivered"})
    with pytest.raises(InvalidValue, match="rt_fraction.reason: is required for a missed fraction"):
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": 1, "fraction_date": "2025-02-03", "status": "missed"})
    first = records.record(study, DOCTOR, subject, "rt_fraction",
                           {"fraction_number": 1, "fraction_date": "2025-02-03", "status": "delivered"})
    assert first.doses_gy == {"CTV1": 2.0, "CTV2": 2.4}
    with pytest.raises(InvalidValue, match="already recorded as delivered"):
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": 1, "fraction_date": "2025-02-04", "status": "delivered"})


def test_surgery_must_follow_radiotherapy(study):
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03"})
    records.record(study, DOCTOR, subject, "rt_fraction", {"fraction_number": 1, "fraction_date": "2025-02-03",
                                                           "status": "delivered"})
    with pytest.raises(InvalidValue, match="surgery.surgery_date: must be after the last radiotherapy fraction"):
        records.record(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-02-03", "procedure": "wide_excision",
                                                           "macroscopic_residual": False})


def test_death_rules(study):
    subject = treated(study)
    with pytest.raises(InvalidValue, match="death_cause: is required when the event is a death"):
        records.record(study, DOCTOR, subject, "outcome_event", {"event_type": "death", "event_date": "2025-09-01"})
    records.record(study, DOCTOR, subject, "outcome_event",
                   {"event_type": "death", "event_date": "2025-09-01", "death_cause": "sarcoma"})
    with pytest.raises(InvalidValue, match="is after the patient's death"):
        records.record(study, DOCTOR, subject, "follow_up", {"visit_date": "2025-10-01", "disease_status": "ned"})
    with pytest.raises(InvalidValue, match="a death is already recorded"):
        records.record(study, DOCTOR, subject, "outcome_event",
                       {"event_type": "death", "event_date": "2025-09-02", "death_cause": "other"})


def test_single_records_are_corrected_not_duplicated(study):
    subject = treated(study)
    with pytest.raises(InvalidValue, match="surgery: is already recorded for SPR-001; correct it instead"):
        records.record(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-04-20", "procedure": "wide_excision",
                                                           "macroscopic_residual": False})


def test_amputation_becomes_a_major_protocol_deviation(study):
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03"})
    records.record(study, DOCTOR, subject, "rt_fraction", {"fraction_number": 1, "fraction_date": "2025-02-03",
                                                           "status": "delivered"})
    records.record(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-03-20", "procedure": "amputation",
                                                       "macroscopic_residual": False})
    with study.reading() as session:
        deviations = {d.category: d for d in session.scalars(select(ProtocolDeviation))}
    assert deviations["amputation"].severity == "major" and "amputation" in deviations["amputation"].description
    # surgery closed the course after 1 of 25 fractions: 2 Gy of 50 is a major dose deviation
    assert deviations["rt_dose"].severity == "major" and "CTV1: 2 Gy delivered of 50 Gy" in deviations["rt_dose"].description


def test_records_keep_the_protocol_version(study):
    """Every stored row and every audit entry carries the version of the protocol it was entered under."""
    from sarcotrial.store.models import audited_models

    treated(study)
    with study.reading() as session:
        versions = set(session.scalars(select(AuditEntry.protocol_version)))
        stored = {m.__tablename__: set(session.scalars(select(m.protocol_version))) for m in audited_models()}
    assert versions == {"1.0"}
    assert {t: v for t, v in stored.items() if v} == {t: {"1.0"} for t in (
        "site", "patient", "patient_identifier", "referral", "screening", "screening_criterion", "enrolment",
        "rt_course", "rt_fraction", "surgery")}


def test_differentiation_comes_from_the_histotype(study):
    """Coindre 2006 table 2: synovial sarcoma scores 3; 3 + mitoses 12 (2) + no necrosis (0) = 5 -> G2;
    AJCC 8 ch. 41: 7 cm T2 N0 M0 G2 -> IIIA."""
    subject = enrolled(study)
    values = {k: v for k, v in DIAGNOSIS.items() if k != "fnclcc_differentiation"}
    row = records.record(study, DOCTOR, subject, "diagnosis", {**values, "histotype": "synovial sarcoma",
                                                                "mitoses_per_10hpf": 12, "necrosis_percent": 0})
    assert (row.histotype, row.fnclcc_differentiation, row.grade, row.stage) == ("synovial_sarcoma", 3, "2", "IIIA")


def test_old_names_resolve_to_the_current_entity(study):
    subject = enrolled(study)
    row = records.record(study, DOCTOR, subject, "diagnosis", {**DIAGNOSIS, "histotype": "malignant schwannoma",
                                                                "fnclcc_differentiation": 2})
    assert row.histotype == "malignant_peripheral_nerve_sheath_tumour" and row.icdo3 == "9540/3"
