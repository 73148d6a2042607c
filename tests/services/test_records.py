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
from sarcotrial.services import forms as records
from sarcotrial.store.models import AuditEntry, CRFInstance, ProtocolDeviation
from tests.helpers import DOCTOR, enrolled, treated

DIAGNOSIS = {"diagnosis_date": "2025-01-05", "histotype": "undifferentiated_pleomorphic_sarcoma",
             "anatomic_site": "extremity", "size_cm": 7, "fnclcc_differentiation": 3, "mitoses_per_10hpf": 22,
             "necrosis_percent": 60, "clinical_n": "N0", "clinical_m": "M0"}


def count(study, model, form_id: str | None = None) -> int:
    with study.reading() as session:
        query = select(func.count(model.id))
        if form_id is not None:
            query = query.where(CRFInstance.form_id == form_id)
        return session.scalar(query)


def test_diagnosis_derives_grade_and_stage(study):
    subject = enrolled(study)
    row = records.record(study, DOCTOR, subject, "diagnosis", DIAGNOSIS)
    d = row.derived
    assert (d["grade"], d["ajcc_t"], d["ajcc_n"], d["ajcc_m"], d["stage"]) == ("3", "T2", "N0", "M0", "IIIA")
    assert d["icdo3"] == "8802/3"
    assert row.visit == "baseline" and row.status == "complete"


def test_correction_recomputes_derived_values(study):
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "diagnosis", DIAGNOSIS)
    row = records.correct(study, DOCTOR, subject, "diagnosis", {"anatomic_site": "retroperitoneum", "clinical_n": "N1"},
                          reason="site and nodes revised at the tumour board")
    assert (row.derived["stage"], row.derived["ajcc_t"], row.derived["ajcc_n"]) == ("IIIB", "T2", "N1")
    with study.reading() as session:
        changed = set(session.scalars(select(AuditEntry.field).where(AuditEntry.table_name == "crf_instance",
                                                                      AuditEntry.record_id == row.id,
                                                                      AuditEntry.action == "update")))
    # each value its own entry, named by the protocol's field id; the revision counts the change
    assert changed == {"data.anatomic_site", "data.clinical_n", "derived.ajcc_n", "derived.stage", "revision"}


def test_pathology_derives_r_status_response_and_pcr(study):
    subject = treated(study)
    row = records.record(study, DOCTOR, subject, "pathology",
                         {"report_date": "2025-04-28", "microscopic_margin_positive": True, "closest_margin_mm": 0,
                          "closest_margin_tissue": "epineurium", "planned_positive_margin": True, "viable_percent": 3})
    assert (row.derived["r_status"], row.derived["response_score"], row.derived["pcr"]) == ("R1", "C", True)
    assert "5 %" in row.derived["pcr_definition"]


def test_adverse_event_grade_must_exist_for_its_term(study):
    subject = treated(study)
    with pytest.raises(InvalidValue, match="'Alopecia' allows grades 1, 2 only"):
        records.record(study, DOCTOR, subject, "adverse_event", {"term": "Alopecia", "grade": 3, "onset_date": "2025-02-20"})
    with pytest.raises(InvalidValue, match="not a CTCAE v5.0 term"):
        records.record(study, DOCTOR, subject, "adverse_event", {"term": "Sunburnish", "grade": 1, "onset_date": "2025-02-20"})
    assert count(study, CRFInstance, "adverse_event") == 0


def test_adverse_event_phase_from_the_start_of_rt(study):
    """Acute up to and including day 90 from the first fraction (3 Feb 2025): 4 May is day 90."""
    subject = treated(study)
    acute = records.record(study, DOCTOR, subject, "adverse_event",
                           {"term": "Dermatitis radiation", "grade": 2, "onset_date": "2025-05-04"})
    late = records.record(study, DOCTOR, subject, "adverse_event",
                          {"term": "Fibrosis deep connective tissue", "grade": 1, "onset_date": "2025-05-05"})
    assert (acute.derived["phase"], late.derived["phase"]) == ("acute", "late")
    # CTCAE v5.0 files radiation dermatitis under this SOC (NCI spreadsheet, MedDRA code 10061103)
    assert acute.derived["soc"] == "Injury, poisoning and procedural complications"
    assert acute.derived["ctcae_version"] == "5.0"



def test_the_clinicians_words_are_stored_as_ncis_term_graded_or_not(study):
    """NCI CTCAE v5.0 names the term "Dermatitis radiation" (MedDRA 10061103); "radiation
    dermatitis" is stored as that, also when the grade is not known yet (missing-coded)."""
    subject = treated(study)
    graded = records.record(study, DOCTOR, subject, "adverse_event",
                            {"term": "radiation dermatitis", "grade": 2, "onset_date": "2025-05-04"})
    ungraded = records.record(study, DOCTOR, subject, "adverse_event",
                              {"term": "radiation dermatitis", "onset_date": "2025-05-06"},
                              missing={"grade": "UNK"}, reason="grade not written in the clinic letter")
    assert graded.values["term"] == ungraded.values["term"] == "Dermatitis radiation"
    assert ungraded.derived["meddra_code"] == 10061103
    with pytest.raises(InvalidValue, match="not a CTCAE v5.0 term"):
        records.record(study, DOCTOR, subject, "adverse_event", {"term": "Sunburnish", "onset_date": "2025-05-06"},
                       missing={"grade": "UNK"}, reason="grade not known")

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
    assert count(study, CRFInstance, "diagnosis") == 0 and count(study, AuditEntry) == audit_before  # nothing half-written


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
    assert first.derived["doses_gy"] == {"CTV1": 2.0, "CTV2": 2.4}
    with pytest.raises(InvalidValue, match="already recorded as delivered"):
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": 1, "fraction_date": "2025-02-04", "status": "delivered"})


def test_surgery_must_follow_radiotherapy(study):
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03"})
    records.record(study, DOCTOR, subject, "rt_fraction", {"fraction_number": 1, "fraction_date": "2025-02-03",
                                                           "status": "delivered"})
    with pytest.raises(InvalidValue, match=r"surgery.surgery_date: Surgery must follow the last delivered radiotherapy fraction: must be > rt_fraction.fraction_date \(2025-02-03\) \[check surgery_after_rt\]"):
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
    with pytest.raises(InvalidValue, match="surgery: is already entered for SPR-001 at surgery; correct it instead"):
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
    assert versions == {"1.3"}
    assert {t: v for t, v in stored.items() if v} == {t: {"1.3"} for t in (
        "site", "patient", "patient_identifier", "screening", "screening_criterion", "enrolment",
        "visit_occurrence", "crf_instance")}
    with study.reading() as session:
        assert set(session.scalars(select(CRFInstance.protocol_version))) == {"1.3"}


def test_differentiation_comes_from_the_histotype(study):
    """Coindre 2006 table 2: synovial sarcoma scores 3; 3 + mitoses 12 (2) + no necrosis (0) = 5 -> G2;
    AJCC 8 ch. 41: 7 cm T2 N0 M0 G2 -> IIIA."""
    subject = enrolled(study)
    values = {k: v for k, v in DIAGNOSIS.items() if k != "fnclcc_differentiation"}
    row = records.record(study, DOCTOR, subject, "diagnosis", {**values, "histotype": "synovial sarcoma",
                                                                "mitoses_per_10hpf": 12, "necrosis_percent": 0})
    assert row.values["histotype"] == "synovial_sarcoma" and row.values.get("fnclcc_differentiation") is None
    assert (row.derived["fnclcc_score_differentiation"], row.derived["grade"], row.derived["stage"]) == (3, "2", "IIIA")


def test_old_names_resolve_to_the_current_entity(study):
    subject = enrolled(study)
    row = records.record(study, DOCTOR, subject, "diagnosis", {**DIAGNOSIS, "histotype": "malignant schwannoma",
                                                                "fnclcc_differentiation": 2})
    assert row.values["histotype"] == "malignant_peripheral_nerve_sheath_tumour" and row.derived["icdo3"] == "9540/3"


def test_an_ungraded_term_stored_before_does_not_block_a_correction_of_another_field(study):
    """Terms are checked against CTCAE when they are entered or changed; a record entered before the
    check (free text, no grade) may still have its other fields corrected."""
    from sqlalchemy import select

    subject = treated(study)
    stored = records.record(study, DOCTOR, subject, "adverse_event", {"term": "Fatigue", "onset_date": "2025-05-06"},
                            missing={"grade": "UNK"}, reason="grade not known")
    with study.action(DOCTOR, "an older entry, as it was stored before terms were checked") as session:
        row = session.scalars(select(CRFInstance).where(CRFInstance.id == stored.id)).one()
        row.data = {**row.data, "term": "tiredness after the fractions"}
    corrected = records.correct(study, DOCTOR, subject, "adverse_event", {"onset_date": "2025-05-07"},
                                "date from the clinic letter", record_id=stored.id)
    assert corrected.values["term"] == "tiredness after the fractions"
    with pytest.raises(InvalidValue, match="term"):
        records.correct(study, DOCTOR, subject, "adverse_event", {"term": "sunburnish"}, "typo", record_id=stored.id)
