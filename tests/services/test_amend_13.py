"""SPRINT 1.2 -> 1.3 on a running study (``sarcotrial protocol amend FILE --reason TEXT``).

A study created on SPRINT 1.2 (tests/protocols/sprint-1.2.yaml, the file as shipped before 1.3) with a
treated, diagnosed, followed patient is amended to the shipped SPRINT 1.3 (src/sarcotrial/protocol/protocols/
sprint.yaml, schema version 2). 1.3 keeps every form, field and code of 1.2 (the project's controlled-document
rule, docs/protocol-file.md "A protocol is a controlled document"; ICH E6(R3): data entered under the version in
force keep their meaning and the version each CRF was entered under stays known; 21 CFR 11.10(e) / EU GMP Annex
11 §9: the amendment is an audited change with its reason). What it adds, each tested here after the amendment
with values worked out by hand from the published rule:

- the surgery form's detail: the surgeon's margin by Enneking, Spanier & Goodman (Clin Orthop 1980;153:106-120:
  intralesional, marginal, wide, radical), the reconstruction, the resected structures, drain, stay, physiotherapy;
- the MSTS score (Enneking et al., Clin Orthop Relat Res 1993;286:241-246): six items 0-5, lower-limb set
  pain 5 + function 4 + emotional acceptance 3 + supports 5 + walking 4 + gait 3 = 24 of 30 = 80 %;
- cycles of the full-dose epirubicin + ifosfamide of ISG-STS 1001 (Gronchi et al., Lancet Oncol 2017;18:812-822:
  epirubicin 60 mg/m2 on days 1 and 2, ifosfamide 3 g/m2 on days 1-3, every 21 days, three cycles); body surface
  area by Mosteller (N Engl J Med 1987;317:1098): 180 cm and 80 kg give sqrt(180 x 80 / 3600) = sqrt(4) = 2.0 m2,
  so 120 mg epirubicin and 6000 mg ifosfamide a day are planned; the cumulative doxorubicin-equivalent dose with
  the ESC 2022 factor for epirubicin, 0.8 (Lyon et al., Eur Heart J 2022;43:4229-4361): a full cycle gives
  240 mg / 2.0 m2 x 0.8 = 96 mg/m2;
- a complication graded by CIRSE (Filippiadis et al., Cardiovasc Intervent Radiol 2017;40:1141-1146): one that
  needs additional post-procedure therapy is grade 3;
- a further radiotherapy course: 35 Gy in 5 fractions of 7 Gy every other working day, at SPRINT's alpha/beta of
  4 Gy: BED = 35 x (1 + 7/4) = 96.25 Gy, EQD2 = 35 x (7 + 4) / (2 + 4) = 64.17 Gy (Fowler, Br J Radiol
  1989;62:679-694).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.errors import SarcoTrialError
from sarcotrial.protocol import load_protocol
from sarcotrial.protocol.schema import redcap_names
from sarcotrial.services import forms, views
from sarcotrial.services.study import Actor, StudyDB
from tests.helpers import DOCTOR, treated
from tests.services.test_amend_12 import assert_amendment_recorded, counts, snapshot

REPO = Path(__file__).resolve().parents[2]
SPRINT_12 = REPO / "tests" / "protocols" / "sprint-1.2.yaml"
SPRINT_13 = REPO / "src" / "sarcotrial" / "protocol" / "protocols" / "sprint.yaml"
REASON = "ethics committee approval of the surgery, systemic-therapy and local-treatment amendment, 6 December 2026"
DIAGNOSIS = {"diagnosis_date": "2025-01-05", "histotype": "undifferentiated_pleomorphic_sarcoma",
             "anatomic_site": "extremity", "site_detail": "posterior thigh", "size_cm": 7,
             "fnclcc_differentiation": 3, "mitoses_per_10hpf": 22, "necrosis_percent": 60,
             "clinical_n": "N0", "clinical_m": "M0", "topography": "C49.2", "laterality": "left"}
#: the forms and the fields of 1.2's forms that 1.3 adds
NEW_FORMS = ["functional_outcome", "chemotherapy_cycle", "intervention", "rt_further_course", "rt_further_fraction"]
NEW_SURGERY_FIELDS = ["surgery_type", "enneking_margin", "reconstruction", "vascular_resection",
                      "vascular_reconstruction_kind", "bone_resection", "bone_reconstruction_kind",
                      "nerve_reconstruction_kind", "drain_days", "hospital_stay_days", "physiotherapy",
                      "physiotherapy_start"]
runner = CliRunner()


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _by_id(items: list[dict]) -> dict[str, dict]:
    return {item["id"]: item for item in items}


# --------------------------------------------------------------------------- the file: 1.3 keeps all of 1.2
def test_13_keeps_every_form_field_and_code_of_12_and_adds_only_optional_fields_to_them():
    """A controlled document: every form of 1.2, every field with all its settings (REDCap name and
    de-identification flags included), every code list, missing-data code, criterion, endpoint, check and
    visit's schedule is in 1.3 as it was; a field 1.3 adds to a form of 1.2 is optional, so a form entered
    under 1.2 stays complete."""
    old, new = _yaml(SPRINT_12), _yaml(SPRINT_13)
    assert (old["identification"]["version"], new["identification"]["version"]) == ("1.2", "1.3")
    assert (str(old["identification"]["version_date"]), str(new["identification"]["version_date"])) == \
           ("2026-12-05", "2026-12-06")
    assert (old["schema_version"], new["schema_version"]) == (1, 2)
    old_forms, new_forms = _by_id(old["forms"]), _by_id(new["forms"])
    for form_id, old_form in old_forms.items():
        new_form = new_forms[form_id]
        assert {k: v for k, v in new_form.items() if k != "fields"} == {k: v for k, v in old_form.items()
                                                                           if k != "fields"}
        assert new_form["fields"][:len(old_form["fields"])] == old_form["fields"]  # each kept, in place, unchanged
        added = new_form["fields"][len(old_form["fields"]):]
        assert [f["id"] for f in added] == (NEW_SURGERY_FIELDS if form_id == "surgery" else [])
        assert not any(f.get("required") for f in added)
    assert list(new_forms) == list(old_forms) + NEW_FORMS
    for name, codes in old["codelists"].items():
        assert new["codelists"][name] == codes
    for key in ("eligibility", "endpoints", "statistics", "pathology", "toxicity", "missing_codes", "checks",
                "consent", "end_of_study", "safety"):
        assert new[key] == old[key], key
    for key in ("radiotherapy", "chemotherapy", "surgery"):  # the chemotherapy section is kept as it was
        assert new["treatment"][key] == old["treatment"][key], key
    for old_visit, new_visit in zip(old["visits"], new["visits"], strict=True):
        extra = [f for f in new_visit.get("optional_forms", []) if f not in old_visit.get("optional_forms", [])]
        assert {k: v for k, v in new_visit.items() if k != "optional_forms"} == \
               {k: v for k, v in old_visit.items() if k != "optional_forms"}
        assert new_visit.get("optional_forms", [])[:len(old_visit.get("optional_forms", []))] == \
               old_visit.get("optional_forms", [])
        assert extra == (["functional_outcome"] if old_visit["id"].startswith("follow_up") else [])
    for kind, stopped in old["withdrawal"]["stops"].items():
        assert new["withdrawal"]["stops"][kind][:len(stopped)] == stopped
    assert {k: v for k, v in new["assumptions"].items() if k in old["assumptions"]} == old["assumptions"]
    header = SPRINT_13.read_text(encoding="utf-8").split("\nschema_version:")[0]
    assert "# Version 1.3 (amendment of 1.2)" in header and "Every form, field and code of 1.2 is kept." in header


def test_13_keeps_every_redcap_name_of_12_and_names_each_field_once():
    """REDCap (data dictionary, column A): a variable name is unique across the project's instruments. The
    fields of 1.2 keep the names data were exported under; a field 1.3 adds whose id is already used on
    another form (rt_course.planned_start, surgery.procedure...) has a redcap_name of its own."""
    old, new = load_protocol(SPRINT_12), load_protocol("sprint")
    old_names, new_names = redcap_names(old), redcap_names(new)
    assert {key: new_names[key] for key in old_names} == old_names
    assert len(set(new_names.values())) == len(new_names)
    added = {key: name for key, name in new_names.items() if key not in old_names}
    assert added[("rt_further_course", "planned_start")] == "rtc_planned_start"
    assert added[("rt_further_fraction", "fraction_date")] == "rtf_fraction_date"
    assert added[("intervention", "procedure")] == "intv_procedure"
    old_ids = {field_id for _form, field_id in old_names}
    for (form_id, field_id), name in added.items():
        assert (name != field_id) == (field_id in old_ids or field_id == "course_number"), (form_id, field_id)


def test_the_new_code_lists_are_the_published_vocabularies():
    """Enneking, Spanier & Goodman 1980: the four surgical margins, from the least to the most extensive; the
    MSTS limbs (Enneking 1993); the reasons of a reduction or delay and the interventional codes are those the
    domain rules read (a code the rule does not know is refused by ``protocol validate``)."""
    sprint = load_protocol("sprint")
    assert sprint.codes("enneking_margin") == ["intralesional", "marginal", "wide", "radical"]
    assert sprint.codes("surgery_type") == ["limb_sparing", "amputation", "other"]
    assert sprint.codes("soft_tissue_reconstruction") == ["primary_closure", "split_skin_graft", "local_flap",
                                                          "free_flap", "none"]
    assert sprint.codes("limb") == ["lower", "upper"]
    assert sprint.codes("intervention_kind") == ["thermal_ablation", "chemoembolisation"]
    surgery = sprint.form("surgery")
    assert (surgery.field("vascular_reconstruction").type, surgery.field("nerve_resection").type) == \
           ("boolean", "boolean")  # 1.2's fields, beside the new kinds
    assert surgery.field("vascular_reconstruction_kind").codelist == "vascular_reconstruction"
    regimen = sprint.treatment.systemic.regimens[0]
    assert len(sprint.treatment.systemic.regimens) == 1 and regimen.arms == []
    assert (regimen.cycle_days, regimen.max_cycles) == (21, 3)
    assert [(d.drug, d.dose, d.per, d.days) for d in regimen.drugs] == [("epirubicin", 60, "m2", [1, 2]),
                                                                        ("ifosfamide", 3000, "m2", [1, 2, 3])]
    assert sprint.treatment.systemic.anthracycline.equivalence == "esc-2022"
    assert "treatment.systemic.anthracycline.warn_cumulative_mg_m2" in sprint.assumptions


def test_protocol_validate_passes_on_13():
    result = runner.invoke(app, ["protocol", "validate", "sprint"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid: SPRINT v1.3") and "19 forms" in " ".join(result.output.split())


# --------------------------------------------------------------------------- the amendment on a running study
@pytest.fixture
def study_12(database_url):
    """A SPRINT 1.2 study with one patient diagnosed, consented, enrolled (22 Jan 2025), irradiated (25
    fractions from 3 Feb 2025), operated on 17 Apr 2025, with a pathology report, an adverse event and the
    first follow-up visit (17 Jul 2025: surgery + 3 months)."""
    study, _ = StudyDB.create(database_url, str(SPRINT_12), Actor("tester", "test"))
    subject = treated(study)
    forms.record(study, DOCTOR, subject, "diagnosis", DIAGNOSIS)
    forms.record(study, DOCTOR, subject, "pathology", {"report_date": "2025-04-28", "viable_percent": 30,
                                                        "microscopic_margin_positive": False, "necrosis_percent": 50})
    forms.record(study, DOCTOR, subject, "adverse_event", {"term": "Dermatitis radiation", "grade": 2,
                                                            "onset_date": "2025-03-03"})
    forms.record(study, DOCTOR, subject, "follow_up", {"visit_date": "2025-07-17", "disease_status": "ned"})
    yield study
    study.close()


def amend(database_url: str) -> list[str]:
    """The amendment through the command line: its output's lines."""
    result = runner.invoke(app, ["protocol", "amend", str(SPRINT_13), "--reason", REASON, "--db", database_url])
    assert result.exit_code == 0, result.output
    return [line.strip() for line in result.output.splitlines()]


def test_amend_12_to_13_keeps_the_data_and_audits_the_amendment(study_12, database_url):
    before = snapshot(study_12)
    assert {c[-1] for c in before["crfs"]} == {"1.2"}
    assert {c[0]: c[3] for c in before["crfs"]}["surgery"] == "complete"
    assert counts(study_12) == (1, 0)

    dry = runner.invoke(app, ["protocol", "amend", str(SPRINT_13), "--dry-run", "--db", database_url])
    assert dry.exit_code == 0, dry.output
    assert "change: form chemotherapy_cycle added" in dry.output and "refused" not in dry.output
    assert counts(study_12) == (1, 0)  # a dry run writes nothing

    out = amend(database_url)
    assert out[0] == "Protocol 1.2 -> 1.3; visits planned again for 1 patients"
    # only additions: nothing of 1.2 is removed, retyped, re-ranged or made required
    assert set(out[1:]) == ({f"form {form_id} added" for form_id in NEW_FORMS}
                            | {f"field surgery.{field_id} added" for field_id in NEW_SURGERY_FIELDS}
                            | {f"visit {visit}: schedule changed (targets and windows are planned again)"
                               for visit in ("follow_up_early", "follow_up_late")}  # the MSTS form, when assessed
                            | {"withdrawal changed"}  # the new forms among those a withdrawal stops
                            | {"schema version 1 -> 2", "systemic therapy added", "interventional procedures added",
                               "further radiotherapy courses added", "functional outcome added"})

    with StudyDB.open(database_url) as study:
        assert study.protocol_version == "1.3" and study.protocol.schema_version == 2
        # every value, derived value, status, place and entry version (the surgery entered under 1.2 stays
        # complete: the new fields are optional); the same visit targets and windows
        assert snapshot(study) == before
        assert counts(study) == (2, 1)
        assert_amendment_recorded(study, ("1.2", "1.3"), REASON, "form functional_outcome added")
    assert "Audit trail intact" in runner.invoke(app, ["audit", "verify", "--db", database_url]).output


def test_after_the_amendment_the_surgery_entered_under_12_takes_its_detail(study_12, database_url):
    """Under 1.2 the surgery form has no Enneking margin; under 1.3 the same CRF takes it (a correction with
    its reason) and keeps the version it was entered under; a margin that is not one of Enneking's four is
    refused, naming the field."""
    with pytest.raises(SarcoTrialError, match="enneking_margin"):
        forms.correct(study_12, DOCTOR, "SPR-001", "surgery", {"enneking_margin": "wide"}, reason="operative note")
    amend(database_url)
    with StudyDB.open(database_url) as study:
        with pytest.raises(SarcoTrialError, match=r"surgery\.enneking_margin"):
            forms.correct(study, DOCTOR, "SPR-001", "surgery", {"enneking_margin": "clear"}, reason="operative note")
        detail = {"surgery_type": "limb_sparing", "enneking_margin": "marginal", "reconstruction": "local_flap",
                  "vascular_resection": True, "vascular_reconstruction": True,
                  "vascular_reconstruction_kind": "autologous_graft", "bone_resection": False,
                  "nerve_resection": False, "drain_days": 6, "hospital_stay_days": 9, "physiotherapy": True,
                  "physiotherapy_start": "2025-04-19"}
        row = forms.correct(study, DOCTOR, "SPR-001", "surgery", detail, reason="operative note transcribed")
        assert (row.values["enneking_margin"], row.values["reconstruction"], row.values["drain_days"]) == \
               ("marginal", "local_flap", 6)
        assert (row.values["procedure"], row.values["macroscopic_residual"]) == ("wide_excision", False)
        assert row.status == "complete" and row.entered_version == "1.2"
        with pytest.raises(SarcoTrialError, match=r"surgery\.drain_days"):
            forms.correct(study, DOCTOR, "SPR-001", "surgery", {"drain_days": -1}, reason="typo")


def test_after_the_amendment_cycles_of_epirubicin_ifosfamide_give_bsa_and_cumulative_dose(study_12, database_url):
    """ISG-STS 1001's full-dose regimen at 180 cm and 80 kg (BSA 2.0 m2): 120 mg epirubicin on days 1 and 2,
    6000 mg ifosfamide on days 1-3. Cumulative doxorubicin-equivalent: 96, 192, 288 mg/m2 after cycles 1-3
    (240 mg / 2.0 m2 x 0.8 each); below the 450 mg/m2 limit, no warning. Cycle 2 on 13 Feb 2025 is 23 Jan + 21
    days (on time); cycle 3 on 11 Mar is 13 Feb + 21 = 6 Mar plus 5 days, beyond the 3 days tolerated. A dose
    75 % of the planned one (90 of 120 mg) is a reduction and needs its reason."""
    cycle = {"height_cm": 180, "weight_kg": 80, "epirubicin_day1_mg": 120, "epirubicin_day2_mg": 120,
             "ifosfamide_day1_mg": 6000, "ifosfamide_day2_mg": 6000, "ifosfamide_day3_mg": 6000,
             "dose_reduced": False, "delayed": False}
    with pytest.raises(SarcoTrialError, match="chemotherapy_cycle"):
        forms.record(study_12, DOCTOR, "SPR-001", "chemotherapy_cycle",
                     {**cycle, "cycle_number": 1, "cycle_date": "2025-01-23"})
    amend(database_url)
    with StudyDB.open(database_url) as study:
        first = forms.record(study, DOCTOR, "SPR-001", "chemotherapy_cycle",
                             {**cycle, "cycle_number": 1, "cycle_date": "2025-01-23"})
        assert (first.visit_id, first.entered_version, first.status) == ("unscheduled", "1.3", "complete")
        assert first.derived["regimen"] == "epirubicin_ifosfamide" and first.derived["arm"] is None
        assert first.derived["bsa_m2"] == pytest.approx(2.0)
        assert first.derived["planned_epirubicin_day1_mg"] == pytest.approx(120.0)
        assert first.derived["planned_ifosfamide_day3_mg"] == pytest.approx(6000.0)
        assert first.derived["percent_epirubicin_day2"] == pytest.approx(100.0)
        assert first.derived["cumulative_doxorubicin_eq_mg_m2"] == pytest.approx(96.0)
        assert first.derived["anthracycline_warning"] is None and first.derived["reduced_doses"] == []

        with pytest.raises(SarcoTrialError, match=r"chemotherapy_cycle\.(reduction_reason|dose_reduced)"):
            forms.record(study, DOCTOR, "SPR-001", "chemotherapy_cycle",
                         {**cycle, "cycle_number": 2, "cycle_date": "2025-02-13", "epirubicin_day1_mg": 90})
        second = forms.record(study, DOCTOR, "SPR-001", "chemotherapy_cycle",
                              {**cycle, "cycle_number": 2, "cycle_date": "2025-02-13"})
        assert (second.derived["days_late"], second.derived["late_beyond_tolerance"]) == (0, False)
        assert second.derived["cumulative_doxorubicin_eq_mg_m2"] == pytest.approx(192.0)
        third = forms.record(study, DOCTOR, "SPR-001", "chemotherapy_cycle",
                             {**cycle, "cycle_number": 3, "cycle_date": "2025-03-11"})
        assert (third.derived["days_late"], third.derived["late_beyond_tolerance"]) == (5, True)
        assert third.derived["cumulative_doxorubicin_eq_mg_m2"] == pytest.approx(288.0)
        with pytest.raises(SarcoTrialError, match=r"chemotherapy_cycle\.cycle_number"):
            forms.record(study, DOCTOR, "SPR-001", "chemotherapy_cycle",
                         {**cycle, "cycle_number": 4, "cycle_date": "2025-04-01"})


def test_after_the_amendment_the_msts_score_is_recorded_at_follow_up(study_12, database_url):
    """MSTS, lower limb: 5 + 4 + 3 + 5 + 4 + 3 = 24 of 30, 80 %; assessed on 17 Jul 2025, the day of the first
    follow-up visit (surgery 17 Apr + 3 months), where the form is collected when assessed."""
    amend(database_url)
    result = runner.invoke(app, ["record", "functional_outcome", "SPR-001", "--db", database_url, "--json",
                                 "--set", "assessment_date=2025-07-17", "--set", "limb=lower",
                                 "--set", "msts_pain=5", "--set", "msts_function=4",
                                 "--set", "msts_emotional_acceptance=3", "--set", "msts_supports=5",
                                 "--set", "msts_walking=4", "--set", "msts_gait=3"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)["record"]
    assert (record["msts_total"], record["msts_maximum"], record["msts_percent"]) == (24, 30, 80.0)
    with StudyDB.open(database_url) as study:
        stored = views.form_instances(study, None, "SPR-001", "functional_outcome")[0]
        assert (stored.visit_id, stored.occurrence, stored.entered_version) == ("follow_up_early", 1, "1.3")
    refused = runner.invoke(app, ["record", "functional_outcome", "SPR-001", "--db", database_url,
                                  "--set", "assessment_date=2025-10-17", "--set", "limb=lower",
                                  "--set", "msts_pain=6"])
    assert refused.exit_code == 2 and "functional_outcome.msts_pain" in refused.output


def test_after_the_amendment_an_ablation_is_graded_by_cirse(study_12, database_url):
    """A microwave ablation of a lung metastasis complicated by a pneumothorax that needed a chest drain:
    additional post-procedure therapy, CIRSE grade 3; a chemoembolisation technique for a thermal ablation is
    refused, naming the field."""
    amend(database_url)
    procedure = {"procedure_date": "2025-10-06", "procedure": "thermal_ablation", "technique": "mwa",
                 "target_lesion": "lung metastasis, right lower lobe", "approach": "percutaneous", "guidance": "ct"}
    with StudyDB.open(database_url) as study:
        row = forms.record(study, DOCTOR, "SPR-001", "intervention",
                           {**procedure, "complication": "pneumothorax, chest drain", "cirse_additional_therapy": True})
        assert (row.derived["cirse_grade"], row.derived["cirse_deciding_consequence"]) == (3, "additional_therapy")
        assert (row.visit_id, row.entered_version) == ("unscheduled", "1.3")
        with pytest.raises(SarcoTrialError, match=r"intervention\.technique"):
            forms.record(study, DOCTOR, "SPR-001", "intervention", {**procedure, "technique": "ctace"})


def test_after_the_amendment_a_further_course_to_a_metastasis_is_planned_and_delivered(study_12, database_url):
    """SBRT 35 Gy in 5 x 7 Gy every other working day from Mon 15 Sep 2025 (no Milan holiday in those weeks):
    working days 15-19 and 22-25 Sep, every other one 15, 17, 19, 23, 25 Sep; 15 to 25 Sep is 11 days. At
    SPRINT's alpha/beta 4 Gy: BED 96.25 Gy, EQD2 64.17 Gy. The protocol course (rt_course, rt_fraction) is
    untouched."""
    from sarcotrial.services import rt_courses

    amend(database_url)
    with StudyDB.open(database_url) as study:
        course = forms.record(study, DOCTOR, "SPR-001", "rt_further_course", {
            "course_number": 1, "intent": "ablative", "treated_site": "lung metastasis, right lower lobe",
            "modality": "photons", "total_dose_gy": 35, "dose_per_fraction_gy": 7, "fractions": 5,
            "schedule": "every_other_day", "planned_start": "2025-09-15"})
        assert course.derived["planned_dates"] == ["2025-09-15", "2025-09-17", "2025-09-19", "2025-09-23",
                                                   "2025-09-25"]
        assert course.derived["planned_overall_days"] == 11
        assert course.derived["bed_gy"] == pytest.approx(96.25, abs=0.01)
        assert course.derived["eqd2_gy"] == pytest.approx(35 * 11 / 6, abs=0.01) and round(35 * 11 / 6, 2) == 64.17
        for number, day in enumerate(course.derived["planned_dates"], start=1):
            fraction = forms.record(study, DOCTOR, "SPR-001", "rt_further_fraction",
                                    {"course_number": 1, "fraction_number": number, "fraction_date": day,
                                     "status": "delivered"})
            assert fraction.derived == {"dose": 7.0, "unit": "Gy"}
        with pytest.raises(SarcoTrialError, match=r"rt_further_fraction\.course_number"):
            forms.record(study, DOCTOR, "SPR-001", "rt_further_fraction",
                         {"course_number": 2, "fraction_number": 1, "fraction_date": "2025-09-26",
                          "status": "delivered"})
        shown = rt_courses.courses(study, "SPR-001")
        assert [c.number for c in shown] == [1]
        log = shown[0].delivery
        assert (log.delivered, log.complete, log.overall_treatment_days) == (5, True, 11)
        assert not log.deviations
        assert len(views.form_instances(study, None, "SPR-001", "rt_fraction")) == 25  # the protocol course
