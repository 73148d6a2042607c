"""A patient's radiotherapy course as the trial sees it: delivery summary and protocol deviations.

Called after each recorded fraction and when surgery closes the course: the deviations the
delivery log shows (:mod:`sarcotrial.radiotherapy.delivery`) are stored as protocol deviations
of the trial, once per category, and follow the log when it is corrected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.radiotherapy.calendar import Schedule, treatment_dates
from sarcotrial.radiotherapy.delivery import DeliverySummary, FractionRecord, summarise_delivery
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import ProtocolDeviation

RT_CATEGORIES = ("rt_prolongation", "rt_dose")


def course_summary(study: StudyDB, path) -> DeliverySummary | None:
    """The delivery log of a patient's course (``path``: the patient's :class:`~sarcotrial.services.forms.Pathway`)."""
    course = path.course
    if course is None:
        return None
    fractions = [(path.values(row), row.derived or {}) for row in path.entered("rt_fraction")]
    return summarise_course(study, path.values(course), course.derived or {}, fractions, closed=path.surgery is not None)


def summarise_course(study: StudyDB, course: dict, course_derived: dict, fractions: list[tuple[dict, dict]], *,
                     closed: bool) -> DeliverySummary:
    """The delivery log from a course's values and its fractions' (values, derived values)."""
    rt = study.protocol.treatment.radiotherapy
    planned_fractions = course_derived.get("planned_fractions") or rt.fractions
    prescription = course_derived.get("prescription_gy") or {l.target: l.total_dose_gy for l in rt.dose_levels}
    planned = treatment_dates(course["planned_start"], planned_fractions, course.get("calendar") or "IT",
                              treatment_days=rt.treatment_days).overall_treatment_days \
        if course.get("planned_start") else None
    records = [FractionRecord(f["fraction_number"], f["fraction_date"], f["status"], derived.get("doses_gy") or {},
                              f.get("reason"))
               for f, derived in fractions if f.get("fraction_date") is not None and f.get("fraction_number") is not None]
    records.sort(key=lambda f: (f.date, f.number))
    d = rt.deviations
    return summarise_delivery(
        records, planned_fractions=planned_fractions, prescribed_dose_gy=prescription,
        planned_overall_treatment_days=planned, prolongation_minor_days=d.prolongation_minor_days,
        prolongation_major_days=d.prolongation_major_days, dose_minor_percent=d.dose_minor_percent,
        dose_major_percent=d.dose_major_percent, closed=closed)


def record_deviations(study: StudyDB, session: Session, path) -> DeliverySummary | None:
    """Store the course's deviations (one per category), keeping them in step with the log."""
    summary = course_summary(study, path)
    if summary is None:
        return None
    patient_id = path.patient.id
    on = max([d for d in (summary.last_fraction, path.surgery_date) if d is not None], default=None)
    existing = {d.category: d for d in session.scalars(select(ProtocolDeviation).where(
        ProtocolDeviation.patient_id == patient_id, ProtocolDeviation.category.in_(RT_CATEGORIES)))}
    found: dict[str, tuple[str, str]] = {}
    for category in RT_CATEGORIES:  # one per category: its most severe grade, every volume described
        these = [d for d in summary.deviations if d.category == category]
        if these:
            severity = "major" if any(d.severity == "major" for d in these) else "minor"
            found[category] = (severity, "; ".join(d.description for d in these))
    for category, (severity, description) in found.items():
        row = existing.get(category)
        if row is None:
            session.add(ProtocolDeviation(patient_id=patient_id, category=category, severity=severity,
                                          description=description, detected_on=on))
        elif (row.severity, row.description) != (severity, description):
            row.severity, row.description = severity, description
    for category, row in existing.items():
        if category not in found:
            session.delete(row)
    return summary


def delivery(study: StudyDB, subject_id: str, actor: Actor | None = None) -> DeliverySummary | None:
    from sarcotrial.services.forms import Pathway

    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        return course_summary(study, Pathway(study, session, patient))


# --------------------------------------------------------------------------- the course as the web page shows it
#: the protocol forms a radiotherapy course is recorded on (the course, then one instance per fraction)
COURSE_FORM = "rt_course"
FRACTION_FORM = "rt_fraction"


@dataclass
class CalendarDay:
    """One day of the course's calendar: what the plan and the log say of it."""

    date: dt.date
    in_month: bool
    treatment_day: bool                 # a weekday the protocol treats on
    holiday: str | None                 # the public holiday's name, in the course's calendar
    planned: int | None                 # the fraction the plan put on this day
    projected: int | None               # a fraction still to come, if the rest follow without a gap
    recorded: list[tuple[int, str]]     # (fraction number, status) recorded on this day
    today: bool


@dataclass
class CalendarMonth:
    year: int
    month: int
    weeks: list[list[CalendarDay]]

    @property
    def title(self) -> str:
        return dt.date(self.year, self.month, 1).strftime("%B %Y")


@dataclass
class TreatmentTime:
    """Overall treatment time, planned and actual, in words that make sense at every stage."""

    planned_days: int | None            # first to last planned fraction, both counted
    planned_first: dt.date | None
    planned_last: dt.date | None
    actual_days: int | None             # first to last delivered fraction so far, both counted
    delivered_numbers: int              # distinct fractions delivered
    planned_to_date_days: int | None    # planned OTT up to the fraction delivered last in number order
    planned_date_of_latest: dt.date | None
    behind_days: int | None             # the last delivered fraction's date minus the plan's date for it
    projected_last: dt.date | None      # if the remaining fractions follow without a gap
    projected_days: int | None
    prolongation_days: int | None       # only once every fraction is delivered
    complete: bool


@dataclass
class CoursePage:
    subject_id: str
    site: str
    status: str
    enrolment_date: dt.date | None
    surgery_date: dt.date | None
    course_form: str
    fraction_form: str
    course: Any | None                  # the course's CRF (services.forms.CRF)
    fractions: list[Any]                # the fractions' CRFs, by date then number
    calendar: str                       # the holiday calendar used (the course's, else IT)
    calendar_given: bool
    summary: DeliverySummary | None
    schedule: Schedule | None
    months: list[CalendarMonth]
    holidays: list[tuple[dt.date, str]]  # public holidays on treatment weekdays within the calendar shown
    time: TreatmentTime | None
    next_fraction: dict[str, Any]       # a suggestion for the fraction form
    plan_qa: list[dict[str, Any]]
    deviations: list[dict[str, Any]]    # the stored protocol deviations of the course (rt and plan QA)


def course_page(study: StudyDB, actor: Actor | None, subject_id: str, today: dt.date | None = None) -> CoursePage:
    """What the radiotherapy page of a patient shows: the course, the calendar with holidays, the
    delivery log, the overall treatment time, the deviations and the stored plan QA verdicts."""
    from sarcotrial.radiotherapy.calendar import _public_holidays, next_treatment_day
    from sarcotrial.services.forms import Pathway
    from sarcotrial.services.views import load_patients
    from sarcotrial.store.models import PlanQARecord

    today = today or dt.date.today()
    rt = study.protocol.treatment.radiotherapy
    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        record = load_patients(study, session, subject_id=patient.subject_id)[0]
        path = Pathway(study, session, patient)
        summary = course_summary(study, path)
        surgery_date = path.surgery_date
        qa_rows = list(session.scalars(select(PlanQARecord).where(PlanQARecord.patient_id == patient.id)
                                       .order_by(PlanQARecord.id)))
        plan_qa = [{"id": q.id, "evaluated_on": q.evaluated_on, "verdict": q.verdict, "rtplan_uid": q.rtplan_uid,
                    "rtdose_uid": q.rtdose_uid, "end_cap": q.end_cap,
                    "files": (q.results or {}).get("files") or {}} for q in qa_rows]
        deviations = [{"category": d.category, "severity": d.severity, "description": d.description,
                       "detected_on": d.detected_on}
                      for d in session.scalars(select(ProtocolDeviation).where(
                          ProtocolDeviation.patient_id == patient.id,
                          ProtocolDeviation.category.in_(RT_CATEGORIES + ("plan_qa",))).order_by(ProtocolDeviation.id))]
    course = record.first(COURSE_FORM)
    fractions = sorted(record.of(FRACTION_FORM), key=lambda c: (c.values.get("fraction_date") or dt.date.max,
                                                                c.values.get("fraction_number") or 0, c.id))
    calendar = (course.values.get("calendar") if course else None) or "IT"
    days = tuple(rt.treatment_days)
    planned_fractions = (course.derived.get("planned_fractions") if course else None) or rt.fractions
    start = course.values.get("planned_start") if course else None
    schedule = treatment_dates(start, planned_fractions, calendar, treatment_days=days) if start else None

    delivered = [f for f in fractions if f.values.get("status") == "delivered" and f.values.get("fraction_date")]
    delivered_numbers = {f.values.get("fraction_number") for f in delivered}
    recorded_dates = [f.values["fraction_date"] for f in fractions if f.values.get("fraction_date")]
    remaining = [n for n in range(1, planned_fractions + 1) if n not in delivered_numbers]
    # the next fraction: the first not yet delivered, on the next treatment day after the last recorded one
    if recorded_dates:
        suggested_day = next_treatment_day(max(recorded_dates) + dt.timedelta(days=1), calendar, treatment_days=days)
    else:
        suggested_day = schedule.dates[0] if schedule else None
    next_fraction = {"fraction_number": remaining[0] if remaining else None, "fraction_date": suggested_day,
                     "status": "delivered"}
    projected: dict[dt.date, int] = {}
    if remaining and recorded_dates and surgery_date is None:
        rest = treatment_dates(max(recorded_dates) + dt.timedelta(days=1), len(remaining), calendar,
                               treatment_days=days)
        projected = dict(zip(rest.dates, remaining))

    time = None
    if summary is not None:
        first_planned = schedule.dates[0] if schedule else None
        last_planned = schedule.last if schedule else None
        latest = max(delivered, key=lambda f: f.values["fraction_date"], default=None)
        count = len(delivered_numbers)
        planned_to_date = planned_latest = behind = None
        if schedule and latest is not None and count:
            planned_latest = schedule.dates[min(count, len(schedule.dates)) - 1]
            planned_to_date = (planned_latest - schedule.dates[0]).days + 1
            behind = (latest.values["fraction_date"] - planned_latest).days
        projected_last = max(projected) if projected else None
        projected_days = ((projected_last - summary.first_fraction).days + 1
                          if projected_last and summary.first_fraction else None)
        complete_delivery = count >= planned_fractions
        time = TreatmentTime(
            planned_days=schedule.overall_treatment_days if schedule else None, planned_first=first_planned,
            planned_last=last_planned, actual_days=summary.overall_treatment_days, delivered_numbers=count,
            planned_to_date_days=planned_to_date, planned_date_of_latest=planned_latest, behind_days=behind,
            projected_last=projected_last, projected_days=projected_days,
            prolongation_days=summary.prolongation_days if complete_delivery else None,
            complete=summary.complete)

    months: list[CalendarMonth] = []
    holidays_shown: list[tuple[dt.date, str]] = []
    span = [d for d in ([*(schedule.dates if schedule else []), *recorded_dates, *projected]) if d is not None]
    if span:
        import calendar as pycal

        first, last = min(span), max(span)
        by_day: dict[dt.date, list[tuple[int, str]]] = {}
        for f in fractions:
            if f.values.get("fraction_date"):
                by_day.setdefault(f.values["fraction_date"], []).append((f.values.get("fraction_number"),
                                                                        f.values.get("status")))
        planned_on = {d: n for n, d in enumerate(schedule.dates, start=1)} if schedule else {}
        from sarcotrial.radiotherapy.calendar import WEEKDAY_CODES

        year, month = first.year, first.month
        grid = pycal.Calendar(firstweekday=0)
        while (year, month) <= (last.year, last.month):
            weeks = []
            for week in grid.monthdatescalendar(year, month):
                row = []
                for d in week:
                    name = _public_holidays(calendar, d.year).get(d)
                    treat = WEEKDAY_CODES[d.weekday()] in days
                    row.append(CalendarDay(d, d.month == month, treat, name, planned_on.get(d), projected.get(d),
                                           by_day.get(d, []), d == today))
                    if name and d.month == month and first <= d <= last and treat:
                        holidays_shown.append((d, name))
                weeks.append(row)
            months.append(CalendarMonth(year, month, weeks))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return CoursePage(
        subject_id=record.subject_id, site=record.site, status=record.status, enrolment_date=record.enrolment_date,
        surgery_date=surgery_date, course_form=COURSE_FORM, fraction_form=FRACTION_FORM, course=course,
        fractions=fractions, calendar=calendar, calendar_given=bool(course and course.values.get("calendar")),
        summary=summary, schedule=schedule, months=months, holidays=holidays_shown, time=time,
        next_fraction=next_fraction, plan_qa=plan_qa, deviations=deviations)
