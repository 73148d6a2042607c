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
