"""Every patient's endpoints, derived from the study database as the protocol defines them.

The rows are what a statistician checks in R (``sarcotrial endpoints --out FILE.csv``) and what
the study report analyses: one row per enrolled patient, each time-to-event endpoint of the
protocol with its time, status and censoring reason, and the proportion endpoints.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from sarcotrial.outcomes.endpoints import PatientCourse, TimeToEvent, r0_status, time_to_event
from sarcotrial.services.study import StudyDB
from sarcotrial.store.models import (
    AdverseEvent,
    Enrolment,
    FollowUpVisit,
    OutcomeEvent,
    Pathology,
    Patient,
    RTCourse,
    RTFraction,
    Surgery,
    WoundComplication,
)


@dataclass(frozen=True)
class PatientEndpoints:
    course: PatientCourse
    times: dict[str, TimeToEvent]
    r0_resected: int | None
    r0_itt: int
    pcr: int | None
    major_wound_complication: int | None


@dataclass(frozen=True)
class ToxicityRow:
    subject_id: str
    term: str
    soc: str | None
    phase: str
    max_grade: int


def patient_courses(study: StudyDB) -> list[PatientCourse]:
    """The enrolled patients' courses, read from the database (pseudonymised)."""
    out = []
    with study.reading() as s:
        for patient, enrolment in s.execute(select(Patient, Enrolment).join(Enrolment, Enrolment.patient_id == Patient.id)
                                            .order_by(Enrolment.sequence)):
            pid = patient.id
            events = s.scalars(select(OutcomeEvent).where(OutcomeEvent.patient_id == pid)).all()
            death = next((e for e in events if e.event_type == "death"), None)
            surgery = s.scalars(select(Surgery).where(Surgery.patient_id == pid)).first()
            pathology = s.scalars(select(Pathology).where(Pathology.patient_id == pid)).first()
            wounds = s.scalars(select(WoundComplication).where(WoundComplication.patient_id == pid)).all()
            rt_start = s.scalar(select(func.min(RTFraction.fraction_date)).join(RTCourse)
                                .where(RTCourse.patient_id == pid, RTFraction.status == "delivered"))
            contacts = [enrolment.enrolment_date, rt_start, surgery.surgery_date if surgery else None,
                        s.scalar(select(func.max(RTFraction.fraction_date)).join(RTCourse).where(RTCourse.patient_id == pid)),
                        s.scalar(select(func.max(FollowUpVisit.visit_date)).where(FollowUpVisit.patient_id == pid)),
                        s.scalar(select(func.max(AdverseEvent.onset_date)).where(AdverseEvent.patient_id == pid)),
                        s.scalar(select(func.max(AdverseEvent.resolution_date)).where(AdverseEvent.patient_id == pid)),
                        pathology.report_date if pathology else None, *[e.event_date for e in events]]
            out.append(PatientCourse(
                subject_id=patient.subject_id, enrolment=enrolment.enrolment_date,
                last_contact=max(d for d in contacts if d is not None),
                death=death.event_date if death else None, death_cause=death.death_cause if death else None,
                local_relapses=[e.event_date for e in events if e.event_type == "local_relapse"],
                distant_metastases=[e.event_date for e in events if e.event_type == "distant_metastasis"],
                rt_start=rt_start, surgery=surgery.surgery_date if surgery else None,
                r_status=pathology.r_status if pathology else None, pcr=pathology.pcr if pathology else None,
                major_wound_complication=(any(w.major for w in wounds) if surgery else None),
                anchors={"rt_start": rt_start, "surgery": surgery.surgery_date if surgery else None}))
    return out


def derive_endpoints(study: StudyDB, cutoff: dt.date | None = None) -> list[PatientEndpoints]:
    endpoints = [e for e in study.protocol.endpoints if e.kind == "time_to_event"]
    rows = []
    for course in patient_courses(study):
        times = {e.id: time_to_event(course, e.id, e.origin, e.events, e.competing_risks, cutoff) for e in endpoints}
        r0_resected, r0_itt = r0_status(course)
        resected = course.surgery is not None
        rows.append(PatientEndpoints(
            course, times, r0_resected, r0_itt,
            pcr=int(course.pcr) if resected and course.pcr is not None else None,
            major_wound_complication=int(course.major_wound_complication) if resected else None))
    return rows


def toxicity_table(study: StudyDB) -> list[ToxicityRow]:
    """The maximum CTCAE grade per patient, term and phase (acute / late)."""
    with study.reading() as s:
        query = (select(Patient.subject_id, AdverseEvent.term, AdverseEvent.soc, AdverseEvent.phase,
                        func.max(AdverseEvent.grade))
                 .join(Patient, Patient.id == AdverseEvent.patient_id)
                 .where(AdverseEvent.phase.is_not(None))
                 .group_by(Patient.subject_id, AdverseEvent.term, AdverseEvent.soc, AdverseEvent.phase)
                 .order_by(Patient.subject_id, AdverseEvent.term))
        return [ToxicityRow(*row) for row in s.execute(query)]


def write_endpoints_csv(study: StudyDB, path: Path, cutoff: dt.date | None = None) -> int:
    rows = derive_endpoints(study, cutoff)
    tte = [e.id for e in study.protocol.endpoints if e.kind == "time_to_event"]
    header = ["subject_id", "enrolment_date", "last_contact_date"]
    for name in tte:
        header += [f"{name}_time_days", f"{name}_time_months", f"{name}_status", f"{name}_reason"]
    header += ["resected", "r0_resected", "r0_itt", "pcr", "major_wound_complication"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in rows:
            line = [r.course.subject_id, r.course.enrolment.isoformat(), r.course.last_contact.isoformat()]
            for name in tte:
                t = r.times[name]
                line += [t.time_days, f"{t.time_months:.4f}", t.status, t.reason]
            line += [int(r.course.surgery is not None), _blank(r.r0_resected), r.r0_itt, _blank(r.pcr),
                     _blank(r.major_wound_complication)]
            writer.writerow(line)
    return len(rows)


def _blank(value):
    return "" if value is None else value
