"""A patient's radiotherapy course as the trial sees it: delivery summary and protocol deviations.

Called after each recorded fraction and when surgery closes the course: the deviations the
delivery log shows (:mod:`sarcotrial.radiotherapy.delivery`) are stored as protocol deviations
of the trial, once per category, and follow the log when it is corrected.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.radiotherapy.calendar import treatment_dates
from sarcotrial.radiotherapy.delivery import DeliverySummary, FractionRecord, summarise_delivery
from sarcotrial.services.study import StudyDB
from sarcotrial.store.models import ProtocolDeviation, RTCourse, Surgery

RT_CATEGORIES = ("rt_prolongation", "rt_dose")


def course_summary(study: StudyDB, session: Session, course: RTCourse) -> DeliverySummary:
    rt = study.protocol.treatment.radiotherapy
    planned = treatment_dates(course.planned_start, course.planned_fractions, course.calendar or "IT",
                              treatment_days=rt.treatment_days).overall_treatment_days
    closed = session.scalars(select(Surgery).where(Surgery.patient_id == course.patient_id)).first() is not None
    fractions = [FractionRecord(f.fraction_number, f.fraction_date, f.status, f.doses_gy or {}, f.reason)
                 for f in course.fractions]
    d = rt.deviations
    return summarise_delivery(
        fractions, planned_fractions=course.planned_fractions, prescribed_dose_gy=course.prescription,
        planned_overall_treatment_days=planned, prolongation_minor_days=d.prolongation_minor_days,
        prolongation_major_days=d.prolongation_major_days, dose_minor_percent=d.dose_minor_percent,
        dose_major_percent=d.dose_major_percent, closed=closed)


def record_deviations(study: StudyDB, session: Session, course: RTCourse, on) -> DeliverySummary:
    """Store the course's deviations (one per category), keeping them in step with the log."""
    session.flush()
    session.refresh(course, ["fractions"])
    summary = course_summary(study, session, course)
    existing = {d.category: d for d in session.scalars(select(ProtocolDeviation).where(
        ProtocolDeviation.patient_id == course.patient_id, ProtocolDeviation.category.in_(RT_CATEGORIES)))}
    found: dict[str, tuple[str, str]] = {}
    for category in RT_CATEGORIES:  # one per category: its most severe grade, every volume described
        these = [d for d in summary.deviations if d.category == category]
        if these:
            severity = "major" if any(d.severity == "major" for d in these) else "minor"
            found[category] = (severity, "; ".join(d.description for d in these))
    for category, (severity, description) in found.items():
        row = existing.get(category)
        if row is None:
            session.add(ProtocolDeviation(patient_id=course.patient_id, category=category, severity=severity,
                                          description=description, detected_on=on))
        elif (row.severity, row.description) != (severity, description):
            row.severity, row.description = severity, description
    for category, row in existing.items():
        if category not in found:
            session.delete(row)
    return summary


def delivery(study: StudyDB, subject_id: str) -> DeliverySummary | None:
    with study.reading() as session:
        patient = study.patient(session, subject_id)
        course = session.scalars(select(RTCourse).where(RTCourse.patient_id == patient.id)).first()
        return course_summary(study, session, course) if course else None
