"""Interventional treatments (CIRSE) and functional outcome (MSTS) as forms a protocol declares.

The test protocol is tests/protocols/local-test.yaml (DOXAB's file made single-arm, with an intervention
form and a functional-outcome form declared by ``treatment.interventions`` and ``functional_outcome``).
Every value is entered by hand through the services (``forms.record`` / ``forms.correct``) and every
expected value is worked out from the sources, not from the code:

- Filippiadis DK, Binkert C, Pellerin O, et al. Cirse Quality Assurance Document and Standards for
  Classification of Complications: The Cirse Classification System. Cardiovasc Intervent Radiol
  2017;40:1141-1146: grade 1 solved within the same session; 2 prolonged observation including overnight
  stay (< 48 h), no additional therapy; 3 additional post-procedure therapy or prolonged stay (> 48 h);
  4 permanent mild sequela; 5 permanent severe sequela; 6 death. The worst consequence decides; a stay of
  exactly 48 h is not "more than 48 h" (grade 2).
- Ahmed M, et al. Radiology 2014;273:241-260 (thermal ablation: radiofrequency, microwave, cryoablation);
  Lucatelli P, et al. Cardiovasc Intervent Radiol 2021;44:1851-1867 (TACE is transarterial).
- Enneking WF, Dunham W, Gebhardt MC, et al. Clin Orthop Relat Res 1993;286:241-246: six items scored
  0-5 (pain, function, emotional acceptance; supports, walking, gait for the lower limb; hand
  positioning, dexterity, lifting ability for the upper), total out of 30, also as a percentage.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from sqlalchemy import func, select

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol import ProtocolError, load_protocol, parse_protocol
from sarcotrial.protocol.schema_local import FUNCTION_DERIVED, INTERVENTION_DERIVED
from sarcotrial.services import forms as records, views
from sarcotrial.services.local_entry import function_of, interventions_of
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import CRFInstance
from tests.helpers import doxab_enrolled

LOCAL = Path(__file__).resolve().parents[1] / "protocols" / "local-test.yaml"
NURSE = Actor("nurse.test", "test")
ENROLMENT = dt.date(2025, 1, 22)

ABLATION = {"procedure_date": "2025-03-03", "procedure": "thermal_ablation", "technique": "mwa",
            "target_lesion": "lung metastasis, right lower lobe", "approach": "percutaneous", "guidance": "ct"}
# Enneking 1993, lower limb: pain 5, function 4, emotional acceptance 3, supports 5, walking 4, gait 3
LOWER = {"msts_pain": 5, "msts_function": 4, "msts_emotional_acceptance": 3, "msts_supports": 5, "msts_walking": 4,
         "msts_gait": 3}


def _data() -> dict:
    return yaml.safe_load(LOCAL.read_text())


def _problems(data: dict) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return info.value.problems


def _enrolled(study: StudyDB, number: str = "H0001", *, enrol: bool = True) -> str:
    return doxab_enrolled(study, number, enrol=enrol, enrol_on=ENROLMENT)


def _count(study: StudyDB, form_id: str) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count()).select_from(CRFInstance).where(CRFInstance.form_id == form_id))


def _record(study: StudyDB, subject: str) -> views.PatientRecord:
    with study.reading() as session:
        return views.load_patients(study, session, subject_id=subject)[0]


@pytest.fixture
def local(database_url):
    study, _ = StudyDB.create(database_url, str(LOCAL), Actor("tester", "test"))
    yield study
    study.close()


@pytest.fixture
def subject(local):
    return _enrolled(local)


# --------------------------------------------------------------------------- the protocol sections
def test_the_test_protocol_declares_both_forms():
    p = load_protocol(LOCAL)
    assert p.schema_version == 2 and p.arms == [] and p.randomisation is None
    assert p.identification.design.allocation == "single arm" and p.identification.design.arms == 1
    assert p.treatment.interventions.form == "intervention"
    assert p.treatment.interventions.fields.consequences["additional_therapy"] == "cirse_additional_therapy"
    assert p.functional_outcome.score == "msts" and p.functional_outcome.fields.items["gait"] == "msts_gait"


def test_codes_must_be_the_domains_vocabulary_named_by_path():
    data = _data()
    codelists = data["codelists"]
    codelists["intervention_technique"].append({"code": "tace", "label": "TACE"})
    codelists["intervention_kind"].append({"code": "radioembolisation", "label": "SIRT"})
    codelists["limb"].append({"code": "both", "label": "Both"})
    problems = _problems(data)
    assert "treatment.interventions.fields.technique: codelist 'intervention_technique' has code 'tace', which is " \
           "not a technique (known: rfa, mwa, cryoablation, ctace, deb_tace, dsm_tace)" in problems
    assert "treatment.interventions.fields.kind: codelist 'intervention_kind' has code 'radioembolisation', which " \
           "is not a kind of intervention (known: thermal_ablation, chemoembolisation)" in problems
    assert "functional_outcome.fields.limb: codelist 'limb' has code 'both', which is not a limb (known: lower, " \
           "upper)" in problems


def test_a_technique_whose_kind_the_form_does_not_offer():
    data = _data()
    data["codelists"]["intervention_kind"] = [{"code": "thermal_ablation", "label": "Thermal ablation"}]
    assert ("treatment.interventions.fields.technique: technique 'ctace' is transarterial chemoembolisation (TACE), "
            "which the kind's codelist 'intervention_kind' does not offer") in _problems(data)


def test_fields_must_exist_with_the_type_of_their_role():
    data = _data()
    fields = data["treatment"]["interventions"]["fields"]
    fields["date"] = "target_lesion"                   # a text field as the date, and two roles on one field
    fields["consequences"]["grade_3"] = "cirse_death"  # not a consequence (and a second role for the field)
    fields["extra_stay_hours"] = "stay_hours"          # no such field
    problems = _problems(data)
    assert "treatment.interventions.fields.date: field 'target_lesion' of form 'intervention' is text; this role " \
           "needs a date field" in problems
    assert "treatment.interventions.fields.target_lesion: field 'target_lesion' is also " \
           "treatment.interventions.fields.date; each role needs its own field" in problems
    assert any(p.startswith("treatment.interventions.fields.consequences: 'grade_3' is not a consequence of the CIRSE "
                            "classification") for p in problems)
    assert "treatment.interventions.fields.extra_stay_hours: form 'intervention' has no field 'stay_hours'" in problems


def test_the_msts_items_of_each_limb_are_all_needed_and_scored_0_to_5():
    data = _data()
    items = data["functional_outcome"]["fields"]["items"]
    del items["walking"], items["lifting_ability"]
    items["stairs"] = "msts_gait"
    form = next(f for f in data["forms"] if f["id"] == "functional_outcome")
    next(f for f in form["fields"] if f["id"] == "msts_pain")["max"] = 10
    problems = _problems(data)
    assert "functional_outcome.fields.items: the lower-limb MSTS score needs all six items: walking not named" in problems
    assert "functional_outcome.fields.items: the upper-limb MSTS score needs all six items: lifting_ability not " \
           "named" in problems
    assert any(p.startswith("functional_outcome.fields.items: 'stairs' is not an MSTS item") for p in problems)
    assert "functional_outcome.fields.items.pain: field 'msts_pain' allows scores outside 0 to 5 (min 0, max 10); " \
           "an MSTS item is scored 0 to 5" in problems


def test_a_fixed_limb_scores_that_limbs_set_only():
    data = _data()
    section = data["functional_outcome"]
    section["limb"] = "upper"
    problems = _problems(data)
    assert "functional_outcome.limb: the limb is fixed here and also recorded in a field: give one of limb and " \
           "fields.limb" in problems
    del section["fields"]["limb"]
    assert "functional_outcome.fields.items: supports, walking, gait belong to the lower-limb set; this protocol " \
           "scores the upper limb only" in _problems(data)


def test_no_field_may_take_the_name_of_a_derived_value():
    """The derived values are stored beside the form's own; a field of the same name would hide one."""
    data = _data()
    form = next(f for f in data["forms"] if f["id"] == "functional_outcome")
    form["fields"].append({"id": "msts_total", "label": "Total", "type": "integer"})
    assert "forms.functional_outcome.fields.msts_total: 'msts_total' is a value derived at entry from " \
           "functional_outcome: choose another field id" in _problems(data)


def test_an_unknown_form_is_named_but_a_form_that_did_not_parse_is_not_called_unknown():
    data = _data()
    data["functional_outcome"]["form"] = "msts"
    assert "functional_outcome.form: unknown form 'msts'" in _problems(data)
    data = _data()
    form = next(f for f in data["forms"] if f["id"] == "intervention")
    form["fields"][0]["type"] = "moment"  # the form does not parse: its own problem is reported, not the reference
    problems = _problems(data)
    assert any(p.startswith("forms.intervention.fields.procedure_date.type") for p in problems)
    assert not any(p.startswith("treatment.interventions") for p in problems), problems


# --------------------------------------------------------------------------- interventions: CIRSE at entry
#: (consequences entered, CIRSE grade, deciding consequence), by Filippiadis 2017's definitions
GRADED = [
    # solved in the same session (grade 1) and a chest drain, an additional therapy (grade 3): the worst decides
    ({"cirse_solved_in_session": True, "cirse_additional_therapy": True}, 3, "additional_therapy"),
    ({"cirse_solved_in_session": True}, 1, "solved_in_session"),
    ({"extra_stay_hours": 30}, 2, "prolonged_observation"),      # overnight, < 48 h
    ({"extra_stay_hours": 48}, 2, "prolonged_observation"),      # exactly 48 h is not "> 48 h"
    ({"extra_stay_hours": 72}, 3, "prolonged_stay_over_48h"),    # > 48 h
    ({"cirse_mild_sequela": True, "extra_stay_hours": 72}, 4, "permanent_mild_sequela"),
    ({"cirse_severe_sequela": True}, 5, "permanent_severe_sequela"),
    ({"cirse_death": True, "cirse_additional_therapy": True}, 6, "death"),
]


def test_the_complication_is_graded_by_its_worst_consequence(local, subject):
    row = records.record(local, NURSE, subject, "intervention", ABLATION)
    assert row.visit_id == "unscheduled" and row.instance == 1  # an event form, one instance per procedure
    assert row.derived["cirse_complication"] is False and row.derived["cirse_grade"] is None  # none recorded: none
    assert row.derived["cirse_note"] == "no complication recorded: no CIRSE grade"
    assert tuple(row.derived) == INTERVENTION_DERIVED
    for number, (values, grade, deciding) in enumerate(GRADED, start=2):
        row = records.record(local, NURSE, subject, "intervention", {**ABLATION, "complication": "pneumothorax",
                                                                     **values})
        assert row.instance == number and row.derived["cirse_complication"] is True
        assert (row.derived["cirse_grade"], row.derived["cirse_deciding_consequence"]) == (grade, deciding), values
        assert row.derived["cirse_note"] is None


def test_a_chemoembolisation_is_recorded_and_read_back_by_date(local, subject):
    records.record(local, NURSE, subject, "intervention", {
        "procedure_date": "2025-05-12", "procedure": "chemoembolisation", "technique": "deb_tace",
        "target_lesion": "liver segment 7", "approach": "endovascular", "guidance": "fluoroscopy",
        "complication": "post-embolisation syndrome, one night", "extra_stay_hours": 20})
    records.record(local, NURSE, subject, "intervention", {**ABLATION, "complication": "haemoptysis",
                                                           "cirse_additional_therapy": True})
    rows = interventions_of(local.protocol, _record(local, subject))
    assert [(r["date"], r["technique"], r["cirse_grade"]) for r in rows] == [
        ("2025-03-03", "mwa", 3), ("2025-05-12", "deb_tace", 2)]
    assert rows[0]["kind_label"] == "image-guided thermal ablation" and rows[0]["target_lesion"].startswith("lung")
    assert rows[1]["cirse_deciding_consequence"] == "prolonged_observation"
    assert (rows[0]["instance"], rows[1]["instance"]) == (2, 1)  # entered second, dated first


REFUSED = [
    ({"technique": "ctace"}, "intervention.technique: is a transarterial chemoembolisation (TACE) technique; the "
                             "techniques of image-guided thermal ablation are rfa, mwa, cryoablation"),
    ({"procedure": "chemoembolisation", "technique": "ctace", "approach": "percutaneous"},
     "intervention.approach: chemoembolisation is transarterial: the approach is 'endovascular'"),
    ({"complication": "bleeding"}, "intervention.complication: describes a complication, but none of its "
                                   "consequences is recorded"),
    ({"procedure_date": "2025-01-21"}, "intervention.procedure_date: must not be before enrolment (2025-01-22)"),
    ({"procedure_date": "2099-01-04"}, "intervention.procedure_date: is in the future"),
    ({"extra_stay_hours": -2}, "intervention.extra_stay_hours: must be at least 0"),
    ({"target_lesion": " "}, "intervention.target_lesion: is required"),
]


def test_refusals_name_the_field_and_store_nothing(local, subject):
    for values, message in REFUSED:
        with pytest.raises(InvalidValue) as err:
            records.record(local, NURSE, subject, "intervention", {**ABLATION, **values})
        assert str(err.value).startswith(message), str(err.value)
    assert _count(local, "intervention") == 0


def test_a_patient_not_enrolled_has_no_intervention(local):
    screened = _enrolled(local, "H0002", enrol=False)
    with pytest.raises(InvalidValue, match="is not enrolled; an interventional treatment is recorded for enrolled"):
        records.record(local, NURSE, screened, "intervention", ABLATION)
    assert _count(local, "intervention") == 0


def test_a_correction_grades_again_and_a_refused_one_changes_nothing(local, subject):
    records.record(local, NURSE, subject, "intervention", {**ABLATION, "complication": "pneumothorax",
                                                           "cirse_additional_therapy": True})
    row = records.correct(local, NURSE, subject, "intervention", {"cirse_mild_sequela": True}, "source document")
    assert (row.derived["cirse_grade"], row.derived["cirse_deciding_consequence"]) == (4, "permanent_mild_sequela")
    with pytest.raises(InvalidValue, match="intervention.technique: is a transarterial chemoembolisation"):
        records.correct(local, NURSE, subject, "intervention", {"technique": "ctace"}, "typo")
    stored = _record(local, subject).of("intervention")
    assert len(stored) == 1 and stored[0].values["technique"] == "mwa" and stored[0].derived["cirse_grade"] == 4


def test_a_consequence_coded_missing_leaves_the_grade_unknown(local, subject):
    # a chest drain is known (grade 3), but whether a sequela followed is not: the worst is not known
    row = records.record(local, NURSE, subject, "intervention",
                         {**ABLATION, "complication": "pneumothorax", "cirse_additional_therapy": True},
                         missing={"cirse_mild_sequela": "UNK"}, reason="not in the discharge letter")
    assert row.derived["cirse_grade"] is None and row.derived["cirse_complication"] is None
    assert row.derived["cirse_note"] == "not graded: intervention.cirse_mild_sequela is UNK (the worst consequence " \
                                        "is not known)"


def test_a_stay_flag_must_agree_with_the_hours(database_url, tmp_path):
    """A protocol recording both a 'prolonged observation' flag and the hours: 60 h is more than 48 h (grade 3,
    Filippiadis 2017), so the flag for a stay under 48 h contradicts it."""
    data = _data()
    data["treatment"]["interventions"]["fields"]["consequences"]["prolonged_observation"] = "cirse_observation"
    form = next(f for f in data["forms"] if f["id"] == "intervention")
    form["fields"].append({"id": "cirse_observation", "label": "Prolonged observation (< 48 h)", "type": "boolean"})
    path = tmp_path / "local-flags.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    study, _ = StudyDB.create(database_url, str(path), Actor("tester", "test"))
    try:
        subject = _enrolled(study)
        with pytest.raises(InvalidValue) as err:
            records.record(study, NURSE, subject, "intervention",
                           {**ABLATION, "cirse_observation": True, "extra_stay_hours": 60})
        assert err.value.field == "intervention.cirse_observation"
        assert "says 60 h beyond the normal course" in err.value.rule
        row = records.record(study, NURSE, subject, "intervention",
                             {**ABLATION, "cirse_observation": True, "extra_stay_hours": 24})
        assert (row.derived["cirse_grade"], row.derived["cirse_consequences"]) == (2, ["prolonged_observation"])
    finally:
        study.close()


# --------------------------------------------------------------------------- functional outcome: MSTS at entry
def test_the_lower_limb_msts_from_its_six_items(local, subject):
    # 5 + 4 + 3 + 5 + 4 + 3 = 24 of 30; 100 x 24 / 30 = 80.0 %
    row = records.record(local, NURSE, subject, "functional_outcome",
                         {"assessment_date": "2025-04-20", "limb": "lower", **LOWER})
    assert row.visit_id == "follow_up" and row.occurrence == 1  # 22 Jan + 3 months = 22 Apr, window +-14 days
    assert tuple(row.derived) == FUNCTION_DERIVED
    assert row.derived == {"msts_limb": "lower", "msts_total": 24, "msts_maximum": 30, "msts_percent": 80.0,
                           "msts_note": None}


def test_the_upper_limb_msts_and_its_percentage(local, subject):
    # pain 3, function 3, emotional acceptance 5, hand positioning 3, dexterity 1, lifting 3: 18 of 30 = 60.0 %;
    # then dexterity 2: 19 of 30 = 63.33... -> 63.3 %
    items = {"msts_pain": 3, "msts_function": 3, "msts_emotional_acceptance": 5, "msts_hand_positioning": 3,
             "msts_manual_dexterity": 1, "msts_lifting_ability": 3}
    row = records.record(local, NURSE, subject, "functional_outcome",
                         {"assessment_date": "2025-04-20", "limb": "upper", **items})
    assert (row.derived["msts_total"], row.derived["msts_percent"]) == (18, 60.0)
    row = records.correct(local, NURSE, subject, "functional_outcome", {"msts_manual_dexterity": 2}, "re-assessed")
    assert (row.derived["msts_total"], row.derived["msts_percent"]) == (19, 63.3)


def test_a_missing_item_is_not_derived_until_it_is_recorded(local, subject):
    partial = {k: v for k, v in LOWER.items() if k != "msts_walking"}
    row = records.record(local, NURSE, subject, "functional_outcome",
                         {"assessment_date": "2025-04-20", "limb": "lower", **partial})
    assert row.derived["msts_total"] is None and row.derived["msts_percent"] is None
    assert row.derived["msts_note"] == "not derived: the MSTS total needs all six items; functional_outcome." \
                                       "msts_walking not recorded"
    row = records.correct(local, NURSE, subject, "functional_outcome", {"msts_walking": 4}, "completed")
    assert (row.derived["msts_total"], row.derived["msts_percent"]) == (24, 80.0)
    [read] = function_of(local.protocol, _record(local, subject))
    assert (read["date"], read["limb"], read["total"], read["percent"]) == ("2025-04-20", "lower", 24, 80.0)
    assert read["items"]["walking"] == 4


MSTS_REFUSED = [
    ({"msts_hand_positioning": 4}, "functional_outcome.msts_hand_positioning",
     "belongs to the upper-limb MSTS set; this assessment is of the lower limb"),
    ({"msts_gait": 6}, "functional_outcome.msts_gait", "must be at most 5"),
    ({"msts_pain": -1}, "functional_outcome.msts_pain", "must be at least 0"),
    ({"assessment_date": "2099-02-01"}, "functional_outcome.assessment_date", "is in the future"),
]


def test_msts_refusals_name_the_field_and_store_nothing(local, subject):
    for values, field, rule in MSTS_REFUSED:
        with pytest.raises(InvalidValue) as err:
            records.record(local, NURSE, subject, "functional_outcome",
                           {"assessment_date": "2025-04-20", "limb": "lower", **LOWER, **values})
        assert (err.value.field, err.value.rule[:len(rule)]) == (field, rule)
    assert _count(local, "functional_outcome") == 0


def test_the_read_side_is_empty_where_the_protocol_declares_neither():
    protocol = SimpleNamespace(treatment=SimpleNamespace(interventions=None), functional_outcome=None)
    record = SimpleNamespace(of=lambda form_id: pytest.fail("no form is read"))
    assert interventions_of(protocol, record) == [] and function_of(protocol, record) == []
