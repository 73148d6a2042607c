"""The unit's registry beside the study: molecular findings, family history, risk predictions, trial
matching and the case file, on SQLite and PostgreSQL.

The rules themselves are tested against their sources in tests/domain/test_molecular.py (WHO 2020),
tests/domain/test_predisposition.py (Bougeard 2015, Legius 2021), tests/riskmodels/ (lifelines) and
tests/domain/test_eligibility.py; here: that the registry stores what they accept, refuses what
they refuse without writing anything, keeps one identity, checks each role, and that matching
decides a criterion only on what is known (three-valued, Kleene: an unknown answer never passes).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.riskmodels import load_model
from sarcotrial.services import pathway, registry, review
from sarcotrial.store import audit
from sarcotrial.store.models import Patient, PatientIdentifier, Screening
from sarcotrial.store.models_registry import RegistryDocument, RiskPrediction
from tests.edc_support import staff
from tests.helpers import register

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COX = EXAMPLES / "riskmodels" / "synthetic-cox.yaml"

SYNOVIAL = {"histotype": "synovial_sarcoma",
            "findings": [{"test": "FISH", "kind": "fusion", "fusion": "SS18::SSX1", "laboratory": "Lab A",
                          "date": "2025-01-12"}]}
# MDM2 amplification defines well-differentiated / dedifferentiated liposarcoma and ETV6::NTRK3
# infantile fibrosarcoma (WHO 2020): both contradict a recorded synovial sarcoma; the NTRK fusion is
# also actionable whatever the histotype (larotrectinib, entrectinib).
CONTRADICTING = {"histotype": "synovial_sarcoma",
                 "findings": [{"test": "FISH", "kind": "amplification", "gene": "MDM2"},
                              {"test": "NGS panel", "kind": "fusion", "fusion": "ETV6::NTRK3"}]}
# Bougeard 2015, rare tumours: an adrenocortical carcinoma meets the Chompret criteria whatever the
# family history; a met criterion raises the genetic-counselling flag.
ADRENOCORTICAL = {"proband": {"sex": "female", "age": 40,
                              "cancers": [{"type": "adrenocortical_carcinoma", "age": 38}]}}


@pytest.fixture
def team(study):
    first = register(study, "H0001").subject_id
    second = register(study, "H0002", name="Other Patient (synthetic)", dob=dt.date(2007, 6, 1)).subject_id
    out = staff(study, roles=("investigator", "research_nurse", "statistician", "data_manager"))
    out.by_role["clinician"] = out.extra("cleo", "clinician", "Dr Cleo Clinician")
    out.by_role["pathologist"] = out.extra("pat", "pathologist", "Dr Paula Path")
    out.by_role["radiologist"] = out.extra("ray", "radiologist", "Dr Ray Rad")
    out.subjects = (first, second)
    return out


def _documents(study) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count()).select_from(RegistryDocument))


def _chain_intact(study) -> None:
    with study.reading() as session:
        report = audit.verify_chain(session)
    assert report.ok, report.problems


# --------------------------------------------------------------------------- molecular findings
def test_molecular_findings_support_or_contradict_the_histotype_and_flag_for_the_board(study, team):
    subject = team.subjects[0]
    assert registry.record_document(study, team.pathologist, subject, "molecular", SYNOVIAL) == 1
    file = registry.case_file(study, team.clinician, subject)
    assert file.histotype == "synovial_sarcoma" and file.histotype_source == "molecular report"
    assert [item.relation for item in file.interpretation] == ["supports"]
    assert file.flags == []

    revision = registry.record_document(study, team.pathologist, subject, "molecular", CONTRADICTING,
                                        reason="NGS report received")
    assert revision == 2
    file = registry.case_file(study, team.clinician, subject)
    assert [item.relation for item in file.interpretation] == ["contradicts", "contradicts"]
    assert "well_differentiated_liposarcoma" in file.interpretation[0].entities
    assert "infantile_fibrosarcoma" in file.interpretation[1].entities
    flags = "\n".join(file.flags)
    assert "MDM2" in flags and "contradicts the recorded histotype" in flags
    assert "actionable: ETV6::NTRK3" in flags and "larotrectinib" in flags.lower()
    _chain_intact(study)


def test_replacing_a_document_needs_a_reason_and_a_change(study, team):
    subject = team.subjects[0]
    registry.record_document(study, team.pathologist, subject, "molecular", SYNOVIAL)
    with pytest.raises(InvalidValue, match="reason"):
        registry.record_document(study, team.pathologist, subject, "molecular", CONTRADICTING)
    with pytest.raises(InvalidValue, match="same as the recorded document"):
        registry.record_document(study, team.pathologist, subject, "molecular", SYNOVIAL, reason="again")
    file = registry.case_file(study, team.clinician, subject)
    assert file.molecular_revision == 1 and file.molecular["findings"][0]["fusion"] == "SS18::SSX1"


def test_a_document_made_from_an_older_revision_is_refused(study, team):
    """Two board members rebuild the document from the revision their page showed: the second write, made
    from a revision no longer current, is refused in its transaction and changes nothing."""
    subject = team.subjects[0]
    assert registry.record_document(study, team.pathologist, subject, "molecular", SYNOVIAL, expected_revision=0) == 1
    with pytest.raises(InvalidValue, match=r"revision: the molecular has changed since it was read \(revision 0, now 1\)"):
        registry.record_document(study, team.pathologist, subject, "molecular", CONTRADICTING, reason="typed at once",
                                 expected_revision=0)
    assert registry.record_document(study, team.pathologist, subject, "molecular", CONTRADICTING, reason="the FISH",
                                    expected_revision=1) == 2
    with pytest.raises(InvalidValue, match="now 2"):
        registry.record_document(study, team.pathologist, subject, "molecular", SYNOVIAL, reason="back",
                                 expected_revision=1)
    file = registry.case_file(study, team.clinician, subject)
    assert file.molecular_revision == 2 and [f.get("gene") for f in file.molecular["findings"]] == ["MDM2", None]


def test_an_unknown_gene_is_refused_with_the_nearest_and_nothing_is_written(study, team):
    bad = {"findings": [{"test": "FISH", "kind": "amplification", "gene": "SS19"}]}
    with pytest.raises(InvalidValue, match=r"findings\[0\]\.gene.*SS18"):
        registry.record_document(study, team.pathologist, team.subjects[0], "molecular", bad)
    assert _documents(study) == 0


def test_each_role_writes_only_its_own_part(study, team):
    subject = team.subjects[0]
    with pytest.raises(AccessDenied, match="permission registry.molecular"):
        registry.record_document(study, team.radiologist, subject, "molecular", SYNOVIAL)
    with pytest.raises(AccessDenied, match="permission registry.family"):
        registry.record_document(study, team.pathologist, subject, "family_history", ADRENOCORTICAL)
    with pytest.raises(AccessDenied, match="permission board.read"):
        registry.case_file(study, team.statistician, subject)
    assert _documents(study) == 0


# --------------------------------------------------------------------------- family history
def test_family_history_is_assessed_and_raises_the_counselling_flag(study, team):
    subject = team.subjects[0]
    registry.record_document(study, team.clinician, subject, "family_history", ADRENOCORTICAL)
    file = registry.case_file(study, team.pathologist, subject)
    assert file.predisposition.chompret.verdict == "met"
    assert file.predisposition.referral.refer is True
    assert "genetic counselling: referral suggested" in file.flags


def test_a_bad_family_history_is_refused_naming_its_path(study, team):
    bad = {"proband": {"sex": "female", "cancers": []},
           "relatives": [{"relationship": "sister", "cancers": [{"type": "osteosarcoma", "age": -3}]}]}
    with pytest.raises(InvalidValue, match=r"relatives\[0\]\.cancers\[0\]\.age"):
        registry.record_document(study, team.clinician, team.subjects[0], "family_history", bad)
    assert _documents(study) == 0


# --------------------------------------------------------------------------- risk predictions
def test_a_loaded_model_predicts_and_the_prediction_is_kept(study, team):
    view = registry.load_model_file(study, team.admin, COX)
    assert view.key == "synthetic_cox_distant_metastasis" and view.synthetic and len(view.sha256) == 64
    with pytest.raises(InvalidValue, match="already loaded"):
        registry.load_model_file(study, team.admin, COX)
    assert [v.key for v in registry.model_files(study, team.clinician)] == [view.key]

    inputs = {"age": 61, "size_cm": 12, "grade": "3"}
    prediction = registry.predict(study, team.clinician, team.subjects[0], view.key, inputs, on=dt.date(2025, 2, 1))
    expected = load_model(COX).predict(inputs)
    assert prediction.risks == pytest.approx({5.0: expected.risk(5), 10.0: expected.risk(10)})
    assert any("synthetic" in limit.lower() for limit in prediction.limits)
    file = registry.case_file(study, team.clinician, team.subjects[0])
    assert [p.risks for p in file.predictions] == [prediction.risks]
    assert file.predictions[0].inputs == {"age": 61, "size_cm": 12, "grade": "3"}


def test_a_prediction_with_a_missing_or_out_of_range_input_is_refused_and_not_kept(study, team):
    key = registry.load_model_file(study, team.admin, COX).key
    with pytest.raises(InvalidValue, match="grade"):
        registry.predict(study, team.clinician, team.subjects[0], key, {"age": 61, "size_cm": 12})
    with pytest.raises(InvalidValue, match="size_cm"):
        registry.predict(study, team.clinician, team.subjects[0], key, {"age": 61, "size_cm": 55, "grade": "2"})
    with pytest.raises(InvalidValue, match="no such loaded model"):
        registry.predict(study, team.clinician, team.subjects[0], "nomogram_x", {"age": 61})
    # a day that has not come, or one before the patient was born (1960), is no day to predict on
    inputs = {"age": 61, "size_cm": 12, "grade": "2"}
    with pytest.raises(InvalidValue, match="predicted_on: is in the future"):
        registry.predict(study, team.clinician, team.subjects[0], key, inputs, on=dt.date.today() + dt.timedelta(days=1))
    with pytest.raises(InvalidValue, match=r"predicted_on: is before the patient's year of birth \(1960\)"):
        registry.predict(study, team.clinician, team.subjects[0], key, inputs, on=dt.date(1959, 12, 31))
    with study.reading() as session:
        assert session.scalar(select(func.count()).select_from(RiskPrediction)) == 0


UPS_DIAGNOSIS = {"diagnosis_date": "2025-01-05", "histotype": "undifferentiated_pleomorphic_sarcoma",
                 "anatomic_site": "extremity", "site_detail": "posterior thigh", "size_cm": 7,
                 "fnclcc_differentiation": 3, "mitoses_per_10hpf": 22, "necrosis_percent": 60,
                 "clinical_n": "N0", "clinical_m": "M0"}


def _recording_model(tmp_path, size_ref="diagnosis.size_cm") -> Path:
    """The synthetic Cox model with its inputs tied to the study's record (docs/risk-models.md, ``record``)."""
    text = COX.read_text(encoding="utf-8")
    text = text.replace("  - name: age\n", "  - name: age\n    record: age\n", 1)
    text = text.replace("  - name: size_cm\n", f"  - name: size_cm\n    record: {size_ref}\n", 1)
    text = text.replace("  - name: grade\n", "  - name: grade\n    record: diagnosis.grade\n", 1)
    assert text.count("record:") == 3
    path = tmp_path / "recording-cox.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_inputs_the_record_holds_are_taken_from_it_and_one_that_disagrees_is_refused(study, tmp_path):
    """Size 7 cm and FNCLCC grade 3 are on the diagnosis form (grade 3: differentiation 3 + mitoses 22/10 HPF
    (3) + necrosis 60 % (2) = 8, Trojani 1984 / Coindre 2006), born 1960: on 1 Feb 2025 aged 64 or 65."""
    from tests.helpers import DOCTOR, enrolled
    from sarcotrial.services import forms as records

    subject = enrolled(study, "H0009")
    records.record(study, DOCTOR, subject, "diagnosis", UPS_DIAGNOSIS)
    team = staff(study, roles=("investigator",))
    team.by_role["clinician"] = team.extra("cleo", "clinician", "Dr Cleo Clinician")
    key = registry.load_model_file(study, team.admin, _recording_model(tmp_path)).key
    day = dt.date(2025, 2, 1)

    held = registry.recorded_inputs(study, team.clinician, subject, key, on=day)
    assert (held["size_cm"].value, held["grade"].value, held["age"].possible) == (7, "3", (64, 65))
    # only the age given: size and grade from the record, the prediction the one those values give
    view = registry.predict(study, team.clinician, subject, key, {"age": 64}, on=day)
    assert view.from_record == {"size_cm": "diagnosis.size_cm", "grade": "diagnosis.grade"}
    expected = load_model(COX).predict({"age": 64, "size_cm": 7, "grade": "3"})
    assert view.risks == pytest.approx({5.0: expected.risk(5), 10.0: expected.risk(10)})
    # a value the record contradicts is refused, and nothing is kept
    with pytest.raises(InvalidValue, match=r"size_cm: disagrees with the study's record: the record's "
                                           r"diagnosis.size_cm is 7(\.0)? .*\(got 12\)"):
        registry.predict(study, team.clinician, subject, key, {"age": 64, "size_cm": 12}, on=day)
    with pytest.raises(InvalidValue, match=r"age: disagrees .*year of birth 1960 gives 64 or 65 on 2025-02-01"):
        registry.predict(study, team.clinician, subject, key, {"age": 61}, on=day)
    with pytest.raises(InvalidValue, match="grade"):
        registry.predict(study, team.clinician, subject, key, {"age": 65, "grade": "1"}, on=day)
    # the same value given as text agrees; the age is never filled (the year of birth leaves two)
    assert registry.predict(study, team.clinician, subject, key, {"age": "65", "size_cm": "7.0"}, on=day).risks
    with pytest.raises(InvalidValue, match="age"):
        registry.predict(study, team.clinician, subject, key, {}, on=day)
    with study.reading() as session:
        assert session.scalar(select(func.count()).select_from(RiskPrediction)) == 2


def test_a_record_reference_to_a_form_the_protocol_lacks_is_refused_at_loading(study, team, tmp_path):
    with pytest.raises(InvalidValue, match=r"inputs\[1\]\.record: the study's protocol has no form diagnoses"):
        registry.load_model_file(study, team.admin, _recording_model(tmp_path, "diagnoses.size_cm"))


def test_loading_a_model_is_reference_data_an_admin_loads(study, team):
    with pytest.raises(AccessDenied, match="permission reference.import"):
        registry.load_model_file(study, team.clinician, COX)


# --------------------------------------------------------------------------- trial matching
def test_a_registry_patient_may_meet_the_study_with_the_unknown_criteria_named(study, team):
    (m,) = registry.match(study, team.clinician, team.subjects[0], today=dt.date(2025, 2, 1))
    assert m.protocol == "SPRINT" and m.verdict == "may meet"
    by_id = {c.id: c.result for c in m.decision.criteria}
    assert by_id["age"] == "met"  # born 1960: 63 or 64 in 2025, over 18 either way
    assert {"histology", "resectable", "consent"} <= {c.id for c in m.decision.criteria if c.passes is None}
    assert m.failed == ()


def test_an_age_the_year_of_birth_leaves_open_is_not_decided(study, team):
    # born June 2007: on 1 Feb 2026 the year of birth says 18 or 19; "age > 18" is then unknown
    (m,) = registry.match(study, team.clinician, team.subjects[1], today=dt.date(2026, 2, 1))
    age = next(c for c in m.decision.criteria if c.id == "age")
    assert age.result == "not_evaluable" and "18 or 19" in age.reason
    # a year later both readings are over 18
    (m,) = registry.match(study, team.clinician, team.subjects[1], today=dt.date(2027, 2, 1))
    assert next(c for c in m.decision.criteria if c.id == "age").result == "met"


def test_screening_opens_with_what_is_known_and_a_failed_criterion_is_named(study, team):
    subject = team.subjects[0]
    row = registry.open_screening(study, team.research_nurse, subject,
                                  {"histology_confirmed": True, "previous_rt_to_region": True, "age_years": 64},
                                  screening_date=dt.date(2025, 2, 1))
    assert row.decision == "ineligible"
    (m,) = registry.match(study, team.clinician, subject, today=dt.date(2025, 2, 2))
    assert m.verdict == "fails" and any("radiotherapy" in reason.lower() for reason in m.failed)
    assert m.known["histology_confirmed"] is True and m.known["previous_rt_to_region"] is True
    # the next screening starts from what the first one recorded: nothing is typed twice
    again = registry.open_screening(study, team.research_nurse, subject, {"previous_rt_to_region": False,
                                                                          "age_years": 64},
                                    screening_date=dt.date(2025, 2, 3))
    with study.reading() as session:
        screenings = session.scalars(select(Screening).where(Screening.id == again.id)).all()
        assert len(screenings) == 1
    values = pathway.screening_file(study, team.research_nurse, subject)
    assert values is not None
    (m,) = registry.match(study, team.clinician, subject, today=dt.date(2025, 2, 4))
    assert m.verdict == "may meet" and m.known["histology_confirmed"] is True


def test_one_identity_for_the_registry_and_the_study(study, team):
    subject = team.subjects[0]
    registry.record_document(study, team.pathologist, subject, "molecular", SYNOVIAL)
    registry.open_screening(study, team.research_nurse, subject, {"age_years": 64}, screening_date=dt.date(2025, 2, 1))
    with study.reading() as session:
        patient = session.scalars(select(Patient).where(Patient.subject_id == subject)).one()
        identifiers = session.scalar(select(func.count()).select_from(PatientIdentifier)
                                     .where(PatientIdentifier.patient_id == patient.id))
        document = session.scalars(select(RegistryDocument)).one()
        screening = session.scalars(select(Screening)).one()
    assert identifiers == 1 and document.patient_id == patient.id == screening.patient_id
    _chain_intact(study)


# --------------------------------------------------------------------------- the model on the study's patients
def test_checking_a_model_on_the_study_needs_its_endpoint_and_one_of_its_horizons(study, team):
    key = registry.load_model_file(study, team.admin, COX).key  # loaded without --endpoint
    with pytest.raises(InvalidValue, match="without the study endpoint"):
        registry.performance_on_study(study, team.statistician, key)
    with pytest.raises(InvalidValue, match="time-to-event endpoints"):
        registry.load_model_file(study, team.admin, COX, endpoint="r0_rate")


def test_no_patient_with_a_prediction_is_said_not_guessed(study, team, tmp_path):
    text = COX.read_text(encoding="utf-8").replace('version: "1.0"', 'version: "1.1"')
    copy = tmp_path / "model.yaml"
    copy.write_text(text, encoding="utf-8")
    key = registry.load_model_file(study, team.admin, copy, endpoint="dmfs").key
    with pytest.raises(InvalidValue, match="one of the model's horizons"):
        registry.performance_on_study(study, team.statistician, key, horizon=7)
    result = registry.performance_on_study(study, team.statistician, key, horizon=5)
    assert result.performance is None and result.patients == () and result.problem


def test_a_locked_study_is_shown_closed_to_accrual(study, team):
    """Matching looks at the studies open for accrual: a study-wide (database) lock closes it; the
    verdict on the criteria is still shown."""
    (m,) = registry.match(study, team.clinician, team.subjects[0], today=dt.date(2025, 2, 1))
    assert m.open_for_accrual and m.closed is None
    review.lock(study, team.data_manager, whole_study=True)
    (m,) = registry.match(study, team.clinician, team.subjects[0], today=dt.date(2025, 2, 1))
    assert not m.open_for_accrual and "locked" in m.closed and m.verdict == "may meet"


def test_a_prediction_made_after_the_origin_is_not_a_baseline_prediction(study, team, tmp_path):
    """Royston & Altman (BMC Med Res Methodol 2013;13:33): a model is validated on predictions made at
    baseline; one made after enrolment (SPRINT's time origin) may use what happened since, so it is not
    used, and the patient counts as without a prediction."""
    from sarcotrial.services import forms
    from tests.helpers import SCREENING

    nurse = team.research_nurse
    subject = team.subjects[0]
    pathway.screen(study, nurse, subject, {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING})
    forms.record(study, nurse, subject, "consent", {"consent_date": "2025-01-20", "document_version": "1.0",
                                                    "data_use": True})
    pathway.enrol(study, nurse, subject, dt.date(2025, 1, 22))
    key = registry.load_model_file(study, team.admin, COX, endpoint="dmfs").key
    inputs = {"age": 64, "size_cm": 8, "grade": "2"}
    registry.predict(study, team.clinician, subject, key, inputs, on=dt.date(2025, 3, 1))
    result = registry.performance_on_study(study, team.statistician, key, horizon=5)
    assert result.patients == () and result.not_predicted == 1
    registry.predict(study, team.clinician, subject, key, inputs, on=dt.date(2025, 1, 20))
    result = registry.performance_on_study(study, team.statistician, key, horizon=5)
    assert result.patients == (subject,) and result.not_predicted == 0
    assert result.risk == (pytest.approx(load_model(COX).predict(inputs).risk(5)),)


def test_a_relatives_name_is_not_kept(study, team):
    """A relative's name would sit in plain text in the study data and the audit trail, outside the
    encrypted identifiers: the registry refuses it, naming the path, and stores nothing."""
    document = {"proband": {"sex": "female", "cancers": []},
                "relatives": [{"relationship": "mother", "name": "Jane Example", "cancers": []}]}
    with pytest.raises(InvalidValue, match=r"relatives\[0\]\.name"):
        registry.record_document(study, team.clinician, team.subjects[0], "family_history", document)
    assert _documents(study) == 0


def test_a_revised_second_opinion_gives_the_histotype_or_is_flagged_against_the_diagnosis_form(study, team):
    """The case file reads the histotype from the diagnosis form, else from a second opinion that revised
    it; a revision that disagrees with the diagnosis form is flagged for the board."""
    from sarcotrial.services import forms, second_opinion

    subject = team.subjects[0]
    opinion = second_opinion.new_request(study, team.research_nurse, subject, kind="pathology",
                                         referring_centre="Hospital A", received_date=dt.date(2025, 1, 12),
                                         question="Diagnosis?", today=dt.date(2025, 1, 20))
    second_opinion.review(study, team.pathologist, opinion, text="MDM2 amplified on FISH", outcome="revised",
                          reviewer="Dr Paula Path", report_date=dt.date(2025, 1, 16),
                          revised_histotype="dedifferentiated_liposarcoma", grade=3, today=dt.date(2025, 1, 20))
    file = registry.case_file(study, team.clinician, subject)
    assert file.histotype == "dedifferentiated_liposarcoma" and file.histotype_source.startswith("second opinion")
    assert not any(flag.startswith("second opinion") for flag in file.flags)
    from tests.helpers import SCREENING

    nurse = team.research_nurse
    pathway.screen(study, nurse, subject, {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING})
    forms.record(study, nurse, subject, "consent", {"consent_date": "2025-01-20", "document_version": "1.0",
                                                    "data_use": True})
    pathway.enrol(study, nurse, subject, dt.date(2025, 1, 22))
    forms.record(study, team.research_nurse, subject, "diagnosis",
                 {"diagnosis_date": "2025-01-10", "histotype": "leiomyosarcoma", "anatomic_site": "extremity",
                  "size_cm": 8, "clinical_n": "N0", "clinical_m": "M0"})
    file = registry.case_file(study, team.clinician, subject)
    assert file.histotype == "leiomyosarcoma" and file.histotype_source == "diagnosis form"
    (flag,) = [f for f in file.flags if f.startswith("second opinion")]
    assert "dedifferentiated liposarcoma" in flag and "grade 3" in flag and "leiomyosarcoma" in flag
    # the same histotype but another grade is flagged too: dedifferentiated liposarcoma scores 3 for
    # differentiation (Coindre 2006, table 2), mitoses 2 per 10 HPF 1, no necrosis 0: total 4, grade 2
    # (Trojani 1984), where the second opinion says grade 3
    forms.correct(study, nurse, subject, "diagnosis", {"histotype": "dedifferentiated_liposarcoma",
                                                       "mitoses_per_10hpf": 2, "necrosis_percent": 0},
                  "Histotype and grade from the second opinion's review")
    file = registry.case_file(study, team.clinician, subject)
    (flag,) = [f for f in file.flags if f.startswith("second opinion")]
    assert "revised the FNCLCC grade to 3" in flag and "the diagnosis form's grade is 2" in flag


def test_the_case_file_lists_the_second_opinions_and_flags_revisions_that_disagree(study, team):
    """Every second opinion of the patient is on the case file; two reviews that revised the diagnosis to
    different histotypes are flagged (the latest is not simply right), one revision alone is not."""
    from sarcotrial.services import second_opinion

    subject = team.subjects[0]
    reviewed = []
    for day, centre, histotype in ((dt.date(2025, 1, 12), "Hospital A", "dedifferentiated_liposarcoma"),
                                   (dt.date(2025, 3, 2), "Hospital B", "leiomyosarcoma")):
        number = second_opinion.new_request(study, team.research_nurse, subject, kind="pathology", referring_centre=centre,
                                            received_date=day, question="Diagnosis?", today=dt.date(2025, 4, 1))
        second_opinion.review(study, team.pathologist, number, text="reviewed", outcome="revised", reviewer="Dr Paula Path",
                              report_date=day + dt.timedelta(days=5), revised_histotype=histotype,
                              today=dt.date(2025, 4, 1))
        reviewed.append(number)
        file = registry.case_file(study, team.clinician, subject)
        assert [o.id for o in file.second_opinions] == reviewed
        disagree = [f for f in file.flags if f.startswith("second opinions disagree")]
        assert bool(disagree) is (len(reviewed) == 2)
    assert "dedifferentiated liposarcoma" in disagree[0] and "leiomyosarcoma" in disagree[0]
    assert [o["id"] for o in file.as_dict()["second_opinions"]] == reviewed

def test_screening_opened_from_the_registry_has_the_age_from_the_date_of_birth(study, team):
    """The year of birth bounds the age to two values; screening needs the one at the screening date, which
    the date of birth gives (born 1 May 1960: 64 on 1 Feb 2025), read by a role that reads identifiers
    (the reading is logged)."""
    subject = team.subjects[0]
    registry.open_screening(study, team.research_nurse, subject, {"histology_confirmed": True},
                            screening_date=dt.date(2025, 2, 1))
    values = pathway.screening_file(study, team.research_nurse, subject)
    assert values is not None
    with study.reading() as session:
        from sarcotrial.store.models import CRFInstance, IdentifierAccess

        screening = session.scalars(select(Screening)).one()
        crf = session.get(CRFInstance, screening.crf_instance_id)
        assert crf.data["age_years"] == 64
        assert session.scalars(select(IdentifierAccess)).one().purpose.startswith("age at screening")
