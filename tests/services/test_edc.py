"""The EDC core's write rules: the CRF lifecycle, missing-data codes, the protocol's edit checks, stale
revisions, and the consent, withdrawal, end-of-study and serious-adverse-event rules.

Every expected value is worked out by hand from src/sarcotrial/protocol/protocols/sprint.yaml (v1.1)
for the patient of ``tests.helpers.treated`` (last fraction Fri 7 Mar 2025, surgery 17 Apr 2025), or of
``tests.edc_support.operated`` (enrolled 22 Jan 2025, the same surgery, no radiotherapy) where the
fractions do not matter.
"""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from sqlalchemy import func, select

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.calendar import treatment_dates
from sarcotrial.services import forms, pathway, queries, review, safety, views, visits
from sarcotrial.services.endpoints import write_endpoints_csv
from sarcotrial.store.models import AuditEntry, CRFInstance
from tests.edc_support import PATHOLOGY, operated, password, staff
from tests.helpers import DOCTOR, NURSE, SCREENING, consent, enrolled, register, treated


def irradiated(study, hospital_number: str = "H0001") -> str:
    """``treated`` without the surgery: 25 fractions delivered 3 Feb to 7 Mar 2025."""
    subject = enrolled(study, hospital_number)
    forms.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03", "calendar": "IT-MI"})
    for number, day in enumerate(treatment_dates(dt.date(2025, 2, 3), 25, "IT-MI").dates, start=1):
        forms.record(study, DOCTOR, subject, "rt_fraction",
                     {"fraction_number": number, "fraction_date": day, "status": "delivered"})
    return subject


def form_state(study, subject: str, visit: str, form_id: str, instance: int = 1, actor=None) -> visits.FormStatus:
    visit_id, _, number = visit.partition(":")
    shown = next(v for v in visits.visits(study, actor, subject) if (v.visit_id, v.occurrence) == (visit_id, int(number or 1)))
    return next(f for f in shown.forms if (f.form_id, f.instance) == (form_id, instance))


def views_forms(study, subject: str, form_id: str):
    return views.form_instances(study, None, subject, form_id)


def audit_count(study) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count(AuditEntry.id)))


def system_queries(study, subject: str) -> list[queries.QueryView]:
    return [q for q in queries.list_queries(study, None, subject_id=subject) if q.opened_by == "system"]


# --------------------------------------------------------------------------- the lifecycle
def test_lifecycle_expected_complete_verified_signed_locked(study, fast_hashing):
    """expected -> complete -> verified (SDV, ICH E6(R3)) -> signed (21 CFR 11.50) -> locked, each shown in
    the visit view; the state shown is the furthest reached."""
    subject = operated(study)
    team = staff(study)
    state = lambda: form_state(study, subject, "surgery", "pathology", actor=team.monitor)
    seen = [(state().status, state().verified, state().signed, state().locked)]
    forms.record(study, team.research_nurse, subject, "pathology", PATHOLOGY)
    seen.append((state().status, state().verified, state().signed, state().locked))
    assert review.verify_source(study, team.monitor, subject, "pathology") == [
        "closest_margin_mm", "closest_margin_tissue", "microscopic_margin_positive", "report_date", "viable_percent"]
    seen.append((state().status, state().verified, state().signed, state().locked))
    review.sign(study, team.investigator, subject, password("ivy"), "I have reviewed these data", form_id="pathology")
    seen.append((state().status, state().verified, state().signed, state().locked))
    review.lock(study, team.data_manager, subject_id=subject, form_id="pathology")
    seen.append((state().status, state().verified, state().signed, state().locked))
    assert seen == [("expected", False, False, False), ("complete", False, False, False),
                    ("verified", True, False, False), ("signed", True, True, False), ("locked", True, True, True)]
    report = views.verify_audit(study, team.monitor)  # every step above replays from the audit trail
    assert report.ok, report.problems


def test_lifecycle_incomplete_when_a_required_answer_is_absent(study):
    """crf.py: incomplete while a required field has neither a value nor a missing-data code. A screening
    without the (required) planned_amputation answer is incomplete, not evaluable; screened again, the new
    instance is complete."""
    patient = register(study)
    partial = {k: v for k, v in SCREENING.items() if k != "planned_amputation"}
    assert pathway.screen(study, NURSE, patient.subject_id,
                          {"screening_date": "2025-01-20", **partial}).decision == "not_evaluable"
    assert form_state(study, patient.subject_id, "screening", "screening").status == "incomplete"
    pathway.screen(study, NURSE, patient.subject_id, {"screening_date": "2025-01-21", **SCREENING})
    assert form_state(study, patient.subject_id, "screening", "screening", instance=2).status == "complete"
    assert form_state(study, patient.subject_id, "screening", "screening", instance=1).status == "incomplete"


def test_not_done_needs_a_reason_and_a_form_without_data(study):
    subject = operated(study)
    with pytest.raises(InvalidValue, match="say why the form is not done"):
        forms.mark_not_done(study, NURSE, subject, "wound_complication", "wound_check:1", " ")
    crf = forms.mark_not_done(study, NURSE, subject, "wound_complication", "wound_check:1", "no wound problem to report")
    assert (crf.status, crf.not_done_reason) == ("not_done", "no wound problem to report")
    assert form_state(study, subject, "wound_check:1", "wound_complication").status == "not_done"
    first = next(v for v in visits.visits(study, None, subject) if (v.visit_id, v.occurrence) == ("wound_check", 1))
    assert [(f.form_id, f.status) for f in first.forms] == [("wound_complication", "not_done")]
    with pytest.raises(InvalidValue, match="is already marked not done at wound_check"):
        forms.mark_not_done(study, NURSE, subject, "wound_complication", "wound_check:1", "again")
    with pytest.raises(InvalidValue, match="holds data at surgery; a form with data is corrected or deleted, not "
                                           "marked not done"):
        forms.mark_not_done(study, NURSE, subject, "surgery", "surgery", "entered by mistake")
    with pytest.raises(InvalidValue, match="it is marked not done"):
        forms.record(study, NURSE, subject, "wound_complication", {
            "onset_date": "2025-05-17", "secondary_operation": False, "readmission_for_wound_care": False,
            "invasive_procedure_without_anaesthesia": False, "deep_packing": False, "prolonged_dressing": True},
            visit="wound_check:1")


# --------------------------------------------------------------------------- missing-data codes
def test_a_missing_code_with_a_reason_stands_for_a_required_value(study, tmp_path):
    """sprint.yaml missing_codes (CDISC null flavours, REDCap missing data codes): UNK for viable_percent makes
    the required field present (complete); R0 is still derived from the margin (UICC: no tumour at the inked
    margin, no macroscopic residual), pCR and the EORTC-STBSG score are not."""
    subject = operated(study)
    crf = forms.record(study, DOCTOR, subject, "pathology",
                       {k: v for k, v in PATHOLOGY.items() if k != "viable_percent"},
                       missing={"viable_percent": "unk"}, reason="specimen fragmented, no estimate possible")
    assert (crf.status, crf.missing, crf.values.get("viable_percent")) == ("complete", {"viable_percent": "UNK"}, None)
    assert crf.derived["r_status"] == "R0" and "pcr" not in crf.derived and "response_score" not in crf.derived
    with study.reading() as session:
        entry = session.execute(select(AuditEntry.new_value, AuditEntry.reason).where(
            AuditEntry.field == "missing.viable_percent")).one()
    assert tuple(entry) == ("UNK", "specimen fragmented, no estimate possible")
    out = tmp_path / "endpoints.csv"
    write_endpoints_csv(study, out)
    row = next(csv.DictReader(out.open(encoding="utf-8")))
    assert (row["resected"], row["r0_resected"], row["r0_itt"], row["pcr"]) == ("1", "1", "1", "")
    assert row["missing_data"] == "pathology.viable_percent=UNK"


def test_a_death_of_unknown_cause_is_coded_and_reported(study, tmp_path):
    """A death whose cause is unknown: death_cause=UNK stands for the value the death requires; overall
    survival counts the death (event at day 252: 22 Jan to 1 Oct 2025), and the code is reported."""
    subject = operated(study)
    crf = forms.record(study, DOCTOR, subject, "outcome_event", {"event_type": "death", "event_date": "2025-10-01"},
                       missing={"death_cause": "UNK"}, reason="died at home, no autopsy, cause not reported")
    assert crf.missing == {"death_cause": "UNK"} and crf.status == "complete"
    out = tmp_path / "endpoints.csv"
    write_endpoints_csv(study, out)
    row = next(csv.DictReader(out.open(encoding="utf-8")))
    assert (row["os_time_days"], row["os_status"]) == ("252", "1")
    assert row["missing_data"] == "outcome_event.death_cause=UNK"


def test_missing_codes_are_refused_without_reason_undeclared_or_beside_a_value(study):
    subject = operated(study)
    values = {k: v for k, v in PATHOLOGY.items() if k != "viable_percent"}
    with pytest.raises(InvalidValue, match="a missing-data code needs a reason"):
        forms.record(study, DOCTOR, subject, "pathology", values, missing={"viable_percent": "UNK"})
    with pytest.raises(InvalidValue, match=r"pathology.viable_percent: not a missing-data code of the protocol \(codes: "
                                           r"NA Not applicable, UNK Unknown, ND Not done, NASK Not asked\)"):
        forms.record(study, DOCTOR, subject, "pathology", values, missing={"viable_percent": "XX"}, reason="lost")
    with pytest.raises(InvalidValue, match="pathology.viable_percent: has both a value and a missing-data code"):
        forms.record(study, DOCTOR, subject, "pathology", PATHOLOGY, missing={"viable_percent": "UNK"}, reason="?")
    with pytest.raises(InvalidValue, match=r"pathology.viable_percent: is required .*--missing FIELD=CODE"):
        forms.record(study, DOCTOR, subject, "pathology", values)
    with study.reading() as session:
        assert session.scalar(select(func.count(CRFInstance.id)).where(CRFInstance.form_id == "pathology")) == 0


def test_a_value_given_later_replaces_the_code(study):
    subject = operated(study)
    forms.record(study, DOCTOR, subject, "pathology", {k: v for k, v in PATHOLOGY.items() if k != "viable_percent"},
                 missing={"viable_percent": "ND"}, reason="not assessed yet")
    crf = forms.correct(study, DOCTOR, subject, "pathology", {"viable_percent": 3}, reason="review of the slides")
    assert crf.missing == {} and crf.values["viable_percent"] == 3 and crf.derived["pcr"] is True


# --------------------------------------------------------------------------- the protocol's edit checks
def test_hard_check_surgery_must_follow_the_last_fraction(study):
    """sprint.yaml checks.surgery_after_rt (hard, gt): surgery on the day of the last fraction is refused, with
    nothing written."""
    subject = irradiated(study)
    before = audit_count(study)
    with pytest.raises(InvalidValue, match=r"surgery.surgery_date: Surgery must follow the last delivered radiotherapy "
                                           r"fraction: must be > rt_fraction.fraction_date \(2025-03-07\) "
                                           r"\[check surgery_after_rt\]"):
        forms.record(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-03-07", "procedure": "wide_excision",
                                                          "macroscopic_residual": False})
    assert audit_count(study) == before
    assert views_forms(study, subject, "surgery") == []


def test_hard_check_pathology_must_not_precede_surgery(study):
    """sprint.yaml checks.pathology_after_surgery: a report dated the day before surgery is refused."""
    subject = operated(study)
    before = audit_count(study)
    with pytest.raises(InvalidValue, match=r"pathology.report_date: .*surgery.*2025-04-17"):
        forms.record(study, DOCTOR, subject, "pathology", {**PATHOLOGY, "report_date": "2025-04-16"})
    assert audit_count(study) == before and views_forms(study, subject, "pathology") == []


def test_soft_check_surgery_interval_saves_and_opens_one_query(study):
    """sprint.yaml checks.surgery_interval (soft, 28 to 56 days): surgery on 16 May 2025 is 70 days after the last
    fraction (7 Mar): saved, with one query on surgery.surgery_date, origin check:surgery_interval."""
    subject = irradiated(study)
    crf = forms.record(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-05-16", "procedure": "wide_excision",
                                                            "macroscopic_residual": False})
    found = system_queries(study, subject)
    assert [(q.form_id, q.field, q.origin, q.status) for q in found] == [
        ("surgery", "surgery_date", "check:surgery_interval", "open")]
    assert "70 days after rt_fraction.fraction_date (2025-03-07); expected 28 to 56" in found[0].text
    assert crf.values["surgery_date"] == dt.date(2025, 5, 16)
    # correcting to another date out of the window re-runs the check: no second query while one is open
    forms.correct(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-05-19"}, reason="date of the operating list")
    assert len(system_queries(study, subject)) == 1


def test_a_correction_runs_the_checks_again(study):
    """Surgery 17 Apr (41 days: no query) corrected to 16 May (70 days) opens the soft check's query; corrected to
    7 Mar the hard check refuses it and the stored date stays."""
    subject = treated(study)
    assert system_queries(study, subject) == []
    forms.correct(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-05-16"}, reason="transcription error")
    assert [q.origin for q in system_queries(study, subject)] == ["check:surgery_interval"]
    with pytest.raises(InvalidValue, match=r"\[check surgery_after_rt\]"):
        forms.correct(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-03-07"}, reason="typo")
    assert views_forms(study, subject, "surgery")[0].values["surgery_date"] == dt.date(2025, 5, 16)


def test_soft_check_ned_on_or_after_a_relapse(study):
    """sprint.yaml checks.ned_after_relapse: 'ned' at a follow-up on or after a recorded local relapse opens one
    query on follow_up.visit_date, whichever of the two forms is entered last."""
    subject = operated(study)
    forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-10-20", "disease_status": "ned"})
    assert system_queries(study, subject) == []
    forms.record(study, DOCTOR, subject, "outcome_event", {"event_type": "local_relapse", "event_date": "2025-09-01"})
    found = system_queries(study, subject)
    assert [(q.form_id, q.field, q.origin) for q in found] == [("follow_up", "visit_date", "check:ned_after_relapse")]
    forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-09-01", "disease_status": "ned"})
    found = system_queries(study, subject)
    assert len(found) == 2 and {q.origin for q in found} == {"check:ned_after_relapse"}
    # alive with disease after the relapse is what the check expects: no query
    forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2026-01-15", "disease_status": "awd"})
    assert len(system_queries(study, subject)) == 2


def test_a_corrected_date_of_birth_rechecks_eligibility_by_a_query(study):
    """Age > 18 (sprint.yaml eligibility.criteria age): born 1 Jun 2008, the patient was 16 at screening on
    20 Jan 2025, so not eligible; the query is opened on screening.age_years (origin check:age_eligibility)."""
    subject = enrolled(study)
    pathway.correct_identifiers(study, NURSE, subject, "date of birth mistyped at registration",
                                date_of_birth=dt.date(2008, 6, 1))
    found = system_queries(study, subject)
    assert [(q.form_id, q.field, q.origin, q.status) for q in found] == [
        ("screening", "age_years", "check:age_eligibility", "open")]
    assert "the entered age 64 does not agree with the corrected date of birth (age 16 at screening" in found[0].text
    assert "with age 16 the patient is ineligible, not eligible as screened" in found[0].text


# --------------------------------------------------------------------------- stale revisions
def test_a_correction_against_an_older_revision_is_refused(study):
    """Annex 11 §9 / concurrent editing: a write based on revision 1 of a form now at revision 2 is refused,
    naming who changed it and when."""
    subject = operated(study)
    crf = forms.record(study, DOCTOR, subject, "pathology", PATHOLOGY)
    assert crf.revision == 1
    assert forms.correct(study, NURSE, subject, "pathology", {"closest_margin_mm": 4}, reason="re-measured",
                         revision=1).revision == 2
    with pytest.raises(InvalidValue, match=r"this form was changed by nurse\.test at \d{4}-\d\d-\d\d \d\d:\d\d UTC "
                                           r"\(revision 2; you saw 1\)"):
        forms.correct(study, DOCTOR, subject, "pathology", {"closest_margin_mm": 5}, reason="re-measured", revision=1)
    assert views_forms(study, subject, "pathology")[0].values["closest_margin_mm"] == 4


# --------------------------------------------------------------------------- consent, withdrawal, end of study
def test_no_study_form_before_consent_and_no_enrolment_without_it(study):
    """sprint.yaml consent (ICH E6(R3): no trial procedure before informed consent)."""
    patient = register(study)
    pathway.screen(study, NURSE, patient.subject_id, {"screening_date": "2025-01-20", **SCREENING})
    with pytest.raises(InvalidValue, match="has no consent recorded: before consent only the referral and the "
                                           "screening are accepted"):
        forms.record(study, DOCTOR, patient.subject_id, "adverse_event",
                     {"term": "Fatigue", "grade": 1, "onset_date": "2025-01-21"})
    with pytest.raises(InvalidValue, match="has no consent recorded: record the 'consent' form before enrolment"):
        pathway.enrol(study, NURSE, patient.subject_id, dt.date(2025, 1, 22))
    consent(study, patient.subject_id)
    with pytest.raises(InvalidValue, match="is not enrolled; an adverse event is recorded for enrolled patients only"):
        forms.record(study, DOCTOR, patient.subject_id, "adverse_event",
                     {"term": "Fatigue", "grade": 1, "onset_date": "2025-01-21"})
    assert pathway.enrol(study, NURSE, patient.subject_id, dt.date(2025, 1, 22)).consent_date == dt.date(2025, 1, 20)


def test_reconsent_due_lists_a_patient_on_an_older_consent_document(study):
    """sprint.yaml consent.current_version 1.0: a patient whose latest consent is to version 0.9 must consent again."""
    current = enrolled(study, "H1")
    patient = register(study, "H2")
    pathway.screen(study, NURSE, patient.subject_id, {"screening_date": "2025-01-20", **SCREENING})
    consent(study, patient.subject_id, version="0.9")
    pathway.enrol(study, NURSE, patient.subject_id, dt.date(2025, 1, 22))
    due = pathway.reconsent_due(study, None)
    assert [(r.subject, r.signed_version, r.signed_on, r.current_version) for r in due] == [
        (patient.subject_id, "0.9", dt.date(2025, 1, 20), "1.0")]
    assert current not in [r.subject for r in due]
    consent(study, patient.subject_id, day="2025-03-01", version="1.0")
    assert pathway.reconsent_due(study, None) == []


def test_withdrawal_from_follow_up_refuses_later_follow_up_only(study):
    """sprint.yaml withdrawal.stops.follow_up: follow_up dated after the withdrawal is refused, one dated before
    is accepted; the patient is withdrawn."""
    subject = operated(study)
    forms.record(study, NURSE, subject, "withdrawal", {"withdrawal_date": "2025-09-01", "kind": "follow_up",
                                                       "reason": "moved abroad"})
    with pytest.raises(InvalidValue, match=r"withdrew on 2025-09-01 \(Follow-up visits \(data already collected is "
                                           r"kept\)\); follow_up data dated after the withdrawal is refused"):
        forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-10-20", "disease_status": "ned"})
    assert forms.record(study, NURSE, subject, "follow_up",
                        {"visit_date": "2025-07-20", "disease_status": "ned"}).visit == "follow_up_early"
    # an outcome event is not stopped by a withdrawal from follow-up visits
    forms.record(study, DOCTOR, subject, "outcome_event", {"event_type": "local_relapse", "event_date": "2025-10-01"})
    assert views.patient(study, None, subject).status == "withdrawn"


def test_withdrawal_of_consent_refuses_every_later_form(study):
    """sprint.yaml withdrawal.stops.consent ['*']: nothing dated after the withdrawal of consent is accepted."""
    subject = operated(study)
    forms.record(study, NURSE, subject, "withdrawal", {"withdrawal_date": "2025-06-01", "kind": "consent",
                                                       "reason": "no longer wishes to take part"})
    later = [("outcome_event", {"event_type": "local_relapse", "event_date": "2025-07-01"}),
             ("adverse_event", {"term": "Fatigue", "grade": 1, "onset_date": "2025-06-02"}),
             ("follow_up", {"visit_date": "2025-07-17", "disease_status": "ned"})]
    for form_id, values in later:
        with pytest.raises(InvalidValue, match=f"withdrew on 2025-06-01 .*; {form_id} data dated after the withdrawal"):
            forms.record(study, DOCTOR, subject, form_id, values)
    forms.record(study, DOCTOR, subject, "pathology", PATHOLOGY)  # dated 28 Apr, before the withdrawal
    assert views.patient(study, None, subject).status == "withdrawn"


@pytest.mark.parametrize("status", ["completed", "lost_to_follow_up"])
def test_the_end_of_study_form_sets_the_patients_status(study, status):
    """sprint.yaml end_of_study: the status field's code becomes the patient's status."""
    subject = operated(study)
    forms.record(study, NURSE, subject, "end_of_study", {"status": status, "end_date": "2025-12-01"})
    assert views.patient(study, None, subject).status == status


# --------------------------------------------------------------------------- serious adverse events
SAE = {"term": "Wound infection", "grade": 3, "onset_date": "2025-05-02", "serious": True,
       "seriousness": "hospitalisation", "aware_at": "2025-05-03T10:00"}


def test_a_serious_event_needs_the_moment_the_site_became_aware(study):
    """Regulation (EU) No 536/2014 Art. 41(2): the 24 h clock runs from the site's awareness; without it the serious event is refused."""
    subject = operated(study)
    with pytest.raises(InvalidValue, match="adverse_event.aware_at: is required for a serious adverse event: the 24 h "
                                           "reporting clock runs from it"):
        forms.record(study, DOCTOR, subject, "adverse_event", {k: v for k, v in SAE.items() if k != "aware_at"})
    with pytest.raises(InvalidValue, match="adverse_event.reported_at: is before the site became aware"):
        forms.record(study, DOCTOR, subject, "adverse_event", {**SAE, "reported_at": "2025-05-03T09:00"})
    assert views_forms(study, subject, "adverse_event") == []


def test_the_sae_clock_open_overdue_reported_and_late(study, fast_hashing):
    """Regulation (EU) No 536/2014 Art. 41(2), sprint.yaml safety.report_within_hours 24: aware 3 May 10:00 UTC, due 4 May 10:00. Open before,
    overdue after; reported in time but unsigned stays overdue; reported and signed: reported; reported after
    the deadline and signed: reported late."""
    utc = dt.UTC
    subject = operated(study)
    other = operated(study, "H0002")
    forms.record(study, DOCTOR, subject, "adverse_event", SAE)
    forms.record(study, DOCTOR, other, "adverse_event", {**SAE, "reported_at": "2025-05-05T08:00"})
    team = staff(study)

    def clock(now):
        return {e.subject: (e.status, e.due_at) for e in safety.serious_events(study, team.monitor, now=now)}

    due = dt.datetime(2025, 5, 4, 10, 0, tzinfo=utc)
    assert clock(dt.datetime(2025, 5, 3, 20, 0, tzinfo=utc)) == {subject: ("open", due), other: ("open", due)}
    assert clock(dt.datetime(2025, 5, 4, 10, 1, tzinfo=utc)) == {subject: ("overdue", due), other: ("overdue", due)}
    forms.correct(study, team.investigator, subject, "adverse_event", {"reported_at": "2025-05-04T09:30"},
                  reason="reported to the sponsor by fax")
    assert clock(dt.datetime(2025, 5, 6, 0, 0, tzinfo=utc))[subject] == ("overdue", due)  # reported, not signed
    review.sign(study, team.investigator, subject, password("ivy"), "I confirm this serious adverse event",
                form_id="adverse_event")
    review.sign(study, team.investigator, other, password("ivy"), "I confirm this serious adverse event",
                form_id="adverse_event")
    assert clock(dt.datetime(2025, 5, 6, 0, 0, tzinfo=utc)) == {subject: ("reported", due),
                                                                other: ("reported late", due)}


def test_a_stale_revision_names_who_made_the_revision_not_who_verified_it(study):
    """A save against an older revision is refused naming the change that made the form's revision; a
    source-data verification since does not change the values, so it is not the change named."""
    from sarcotrial.services.study import Actor

    subject = operated(study)
    forms.correct(study, DOCTOR, subject, "surgery", {"procedure": "compartmental_resection"}, reason="operation note")
    review.verify_source(study, Actor("monitor.test", "test"), subject, "surgery")
    with pytest.raises(InvalidValue, match=r"changed by dr.test at .* \(revision 2; you saw 1\)"):
        forms.correct(study, NURSE, subject, "surgery", {"procedure": "wide_excision"}, reason="x", revision=1)
    with pytest.raises(InvalidValue, match=r"\(revision 2; there is no revision 7\)"):
        forms.correct(study, NURSE, subject, "surgery", {"procedure": "wide_excision"}, reason="x", revision=7)
