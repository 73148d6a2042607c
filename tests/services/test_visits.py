"""Visit occurrences from the protocol's schedule: targets, windows, placement, unscheduled visits.

Expected dates are worked out by hand from ``visits`` in src/sarcotrial/protocol/protocols/sprint.yaml
for the patient of ``tests.helpers.treated``: 25 fractions Monday to Friday from Mon 3 Feb 2025 (no
Milan holiday in February or March), so the last fraction is Fri 7 Mar 2025; surgery on 17 Apr 2025.
Where the fractions' dates do not matter, ``tests.edc_support.operated`` (the same surgery, no
radiotherapy) is enough.

- follow_up_early: surgery + 3 months, every 3 months to 24 months, window -14/+14 days:
  occurrence 1 on 17 Jul 2025 (3 Jul to 31 Jul), 2 on 17 Oct 2025 (3 Oct to 31 Oct), 3 on 17 Jan 2026.
- wound_check: surgery + 30 days, every 30 days to day 120, window -7/+7: 17 May, 16 Jun, 16 Jul, 15 Aug 2025.
- surgery: last fraction + 35 days = 11 Apr 2025, window -7/+21 (4 Apr to 2 May 2025).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from sarcotrial.errors import InvalidValue
from sarcotrial.services import forms, pathway, visits
from sarcotrial.store.models import AuditEntry, CRFInstance, VisitOccurrence
from tests.edc_support import operated
from tests.helpers import DOCTOR, NURSE, SCREENING, register, treated


def occurrence(study, subject: str, visit_id: str, number: int = 1) -> visits.VisitStatus:
    return next(v for v in visits.visits(study, None, subject) if (v.visit_id, v.occurrence) == (visit_id, number))


def crf_count(study, form_id: str) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count(CRFInstance.id)).where(CRFInstance.form_id == form_id))


def test_targets_and_windows_from_the_anchors(study):
    """sprint.yaml visits: follow_up_early is surgery + 3 months +/- 14 days; surgery is rt_end + 35 days -7/+21."""
    subject = treated(study)
    first = occurrence(study, subject, "follow_up_early")
    assert (first.target_date, first.window_start, first.window_end) == (
        dt.date(2025, 7, 17), dt.date(2025, 7, 3), dt.date(2025, 7, 31))
    surgery = occurrence(study, subject, "surgery")
    assert (surgery.target_date, surgery.window_start, surgery.window_end, surgery.actual_date) == (
        dt.date(2025, 4, 11), dt.date(2025, 4, 4), dt.date(2025, 5, 2), dt.date(2025, 4, 17))
    wound = [(v.occurrence, v.target_date) for v in visits.visits(study, None, subject) if v.visit_id == "wound_check"]
    assert wound == [(1, dt.date(2025, 5, 17)), (2, dt.date(2025, 6, 16)), (3, dt.date(2025, 7, 16)),
                     (4, dt.date(2025, 8, 15))]
    # follow_up_early repeats every 3 months up to 24 months after surgery: 8 occurrences, the last 17 Apr 2027
    early = [v for v in visits.visits(study, None, subject) if v.visit_id == "follow_up_early"]
    assert (len(early), early[-1].target_date) == (8, dt.date(2027, 4, 17))


def test_a_visit_follows_its_anchor_when_the_anchor_is_corrected(study):
    """The target moves with the corrected surgery date (24 Apr 2025 + 3 months = 24 Jul 2025, window 10 Jul
    to 7 Aug), and the move is an audited update of the visit_occurrence row (21 CFR 11.10(e))."""
    subject = operated(study)
    before = occurrence(study, subject, "follow_up_early")
    forms.correct(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-04-24"}, reason="date of the operating list")
    after = occurrence(study, subject, "follow_up_early")
    assert (after.target_date, after.window_start, after.window_end) == (
        dt.date(2025, 7, 24), dt.date(2025, 7, 10), dt.date(2025, 8, 7))
    with study.reading() as session:
        row = session.scalars(select(VisitOccurrence).where(VisitOccurrence.visit_id == "follow_up_early",
                                                            VisitOccurrence.occurrence == 1)).one()
        moves = session.execute(select(AuditEntry.action, AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value,
                                       AuditEntry.actor).where(AuditEntry.table_name == "visit_occurrence",
                                                               AuditEntry.record_id == row.id,
                                                               AuditEntry.action == "update")).all()
    assert before.target_date == dt.date(2025, 7, 17)
    # the target is what moves (the window is the protocol's, around it): one audited update
    assert moves == [("update", "target_date", "2025-07-17", "2025-07-24", "dr.test")]


def test_a_follow_up_goes_to_the_occurrence_whose_window_holds_its_date(study):
    subject = operated(study)
    second = forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-10-20", "disease_status": "ned"})
    first = forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-07-20", "disease_status": "ned"})
    assert (second.visit, first.visit) == ("follow_up_early:2", "follow_up_early")
    # a date in no window is an event of the unscheduled visit
    lost = forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-09-01", "disease_status": "ned"})
    assert lost.visit == "unscheduled"


def test_a_named_visit_occurrence_places_the_form_there(study):
    """--visit follow_up_early:3 wins over the window that holds the date (20 Oct 2025 is in occurrence 2's)."""
    subject = operated(study)
    row = forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-10-20", "disease_status": "ned"},
                       visit="follow_up_early:3")
    assert (row.visit_id, row.occurrence, row.visit) == ("follow_up_early", 3, "follow_up_early:3")
    third = occurrence(study, subject, "follow_up_early", 3)
    assert (third.forms[0].form_id, third.forms[0].status) == ("follow_up", "complete")
    assert third.actual_date == dt.date(2025, 10, 20)


def test_an_occurrence_whose_anchor_is_deleted_is_kept_only_with_its_data(study):
    """services/visits.py: occurrences no longer planned are removed when empty and kept, with their data, when not."""
    subject = operated(study)
    forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-10-20", "disease_status": "ned"})
    forms.delete(study, DOCTOR, subject, "surgery", "entered for the wrong patient")
    left = [(v.visit_id, v.occurrence, v.target_date) for v in visits.visits(study, None, subject)
            if v.visit_id in ("follow_up_early", "follow_up_late", "wound_check")]
    assert left == [("follow_up_early", 2, dt.date(2025, 10, 17))]


def test_a_form_is_refused_at_a_visit_that_does_not_collect_it(study):
    """sprint.yaml: wound_check collects wound_complication and adverse_event, not follow_up."""
    subject = operated(study)
    with pytest.raises(InvalidValue, match="form 'follow_up' is not collected at visit 'wound_check' "
                                           r"\(its forms: wound_complication, adverse_event\)"):
        forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-05-17", "disease_status": "ned"},
                     visit="wound_check:1")
    with pytest.raises(InvalidValue, match="has no occurrence 9 of 'follow_up_early' yet"):
        forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-05-17", "disease_status": "ned"},
                     visit="follow_up_early:9")
    assert crf_count(study, "follow_up") == 0


def test_unscheduled_visits_are_numbered_from_two_and_hold_forms(study):
    subject = operated(study)
    assert visits.add_unscheduled_visit(study, NURSE, subject, dt.date(2025, 5, 5), "wound review") == "unscheduled:2"
    assert visits.add_unscheduled_visit(study, NURSE, subject, dt.date(2025, 6, 2)) == "unscheduled:3"
    row = forms.record(study, DOCTOR, subject, "adverse_event", {"term": "Wound infection", "grade": 2,
                                                                  "onset_date": "2025-05-05"}, visit="unscheduled:2")
    assert row.visit == "unscheduled:2"
    shown = occurrence(study, subject, "unscheduled", 2)
    assert (shown.target_date, shown.window_start, shown.window_end, shown.name) == (
        dt.date(2025, 5, 5), dt.date(2025, 5, 5), dt.date(2025, 5, 5), "Unscheduled visit: wound review")
    assert [(f.form_id, f.status) for f in shown.forms] == [("adverse_event", "complete")]


def test_an_unscheduled_visit_must_exist_and_not_be_in_the_future(study):
    subject = operated(study)
    with pytest.raises(InvalidValue, match=r"has no unscheduled visit 4; add one with 'sarcotrial unscheduled "
                                           f"{subject} --date"):
        forms.record(study, DOCTOR, subject, "adverse_event", {"term": "Fatigue", "grade": 1,
                                                                "onset_date": "2025-05-05"}, visit="unscheduled:4")
    with pytest.raises(InvalidValue, match="date: is in the future"):
        visits.add_unscheduled_visit(study, NURSE, subject, dt.date.today() + dt.timedelta(days=1))


def test_due_and_overdue_on_a_given_day(study):
    """On 10 Jul 2025 follow_up_early:1 (3 to 31 Jul) is due; baseline (diagnosis) and surgery (pathology) still
    owe a required form after their windows closed: overdue (ICH E6(R3): visits tracked against the protocol's
    schedule). Visits whose forms are all optional (sprint.yaml optional_forms: rt_weekly, pre_operative,
    wound_check) owe nothing."""
    subject = treated(study)
    rows = {(d.visit_id, d.occurrence): d.status for d in visits.due(study, None, today=dt.date(2025, 7, 10))}
    assert rows == {("baseline", 1): "overdue", ("surgery", 1): "overdue", ("follow_up_early", 1): "due"}
    forms.record(study, NURSE, subject, "follow_up", {"visit_date": "2025-07-08", "disease_status": "ned"})
    rows = {(d.visit_id, d.occurrence): d.status for d in visits.due(study, None, today=dt.date(2025, 7, 10))}
    assert ("follow_up_early", 1) not in rows  # its required form entered: complete
    # on 1 Nov 2025 occurrence 2 (3 to 31 Oct) has closed without its follow-up: overdue
    later = {(d.visit_id, d.occurrence): d.status for d in visits.due(study, None, today=dt.date(2025, 11, 1))}
    assert later[("follow_up_early", 2)] == "overdue" and ("follow_up_early", 1) not in later


def test_a_patient_whose_study_ended_is_not_chased(study):
    """An end-of-study form (lost to follow-up, completed) ends the follow-up: no visit is due any more."""
    subject = operated(study)
    assert any(d.subject == subject for d in visits.due(study, None, today=dt.date(2025, 7, 10)))
    forms.record(study, NURSE, subject, "end_of_study", {"status": "lost_to_follow_up", "end_date": "2025-06-30"})
    assert [d for d in visits.due(study, None, today=dt.date(2025, 7, 10)) if d.subject == subject] == []


def test_no_visit_is_owed_after_death_or_a_withdrawal_that_stops_its_forms(study):
    """After a death nothing is owed; after a withdrawal from follow-up (sprint.yaml withdrawal.stops.follow_up),
    the follow-up visits planned after it are 'ended', not overdue, and `due` leaves them out."""
    subject = operated(study)
    forms.record(study, NURSE, subject, "withdrawal", {"withdrawal_date": "2025-08-01", "kind": "follow_up",
                                                      "reason": "moved abroad"})
    shown = {(v.visit_id, v.occurrence): v.status for v in visits.visits(study, None, subject, today=dt.date(2026, 1, 1))}
    assert shown[("follow_up_early", 1)] == "overdue"   # 17 Jul 2025: before the withdrawal, still owed
    assert shown[("follow_up_early", 2)] == "ended"     # 17 Oct 2025: after it
    assert {(d.visit_id, d.occurrence) for d in visits.due(study, None, today=dt.date(2026, 1, 1))} == set()


def test_a_screening_done_again_counts_by_its_last_instance(study):
    """A screening first not evaluable (an answer missing), then complete: the visit is complete."""
    patient = register(study)
    pathway.screen(study, NURSE, patient.subject_id, {"screening_date": "2025-01-15", "consent_date": "2025-01-15",
                                                      **{k: v for k, v in SCREENING.items() if k != "able_to_consent"}})
    pathway.screen(study, NURSE, patient.subject_id, {"screening_date": "2025-01-20", "consent_date": "2025-01-20",
                                                      **SCREENING})
    screening = next(v for v in visits.visits(study, None, patient.subject_id) if v.visit_id == "screening")
    assert [f.status for f in screening.forms] == ["incomplete", "complete"] and screening.status == "complete"
