"""Visits from the protocol's schedule: planned occurrences stored per patient, their status, what is due.

After every write to a patient's data the schedule is planned again from the anchor dates it reads
(:mod:`sarcotrial.domain.schedule`): a visit occurrence is created once its anchor exists, and its
target date and window follow the anchor when that is corrected (each move is an audited change of
the ``visit_occurrence`` row). An occurrence that no longer follows from the data (an anchor
deleted, a schedule that now ends earlier) is removed when it holds no form, and kept, with its
data, when it does. Event forms that belong to no visit live in the ``unscheduled`` visit
(occurrence 1); users add unscheduled visits (occurrences 2, 3, ...) with a date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.domain import schedule
from sarcotrial.domain.crf import UNSCHEDULED, VisitRef, entered_fields, fully_verified, lifecycle_state
from sarcotrial.errors import InvalidValue
from sarcotrial.protocol.forms import from_json
from sarcotrial.protocol.schema import ENROLMENT_FORM, Protocol, Visit
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import (
    CRFInstance,
    DataLock,
    DataQuery,
    Enrolment,
    Patient,
    Signature,
    VisitOccurrence,
)


# --------------------------------------------------------------------------- planning
def visit_spec(visit: Visit) -> schedule.VisitSpec:
    """The engine's plain view of a protocol visit."""
    ref = visit.anchor_ref
    repeat = visit.repeat
    return schedule.VisitSpec(
        id=visit.id, name=visit.name,
        anchor=schedule.AnchorSpec(form=ref.form, field=ref.field, instance=ref.instance,
                                   where=tuple(sorted(ref.where.items()))),
        offset_days=visit.offset_days, offset_months=visit.offset_months,
        window_before_days=visit.window_before_days, window_after_days=visit.window_after_days,
        repeat=schedule.RepeatSpec(every_days=repeat.every_days, every_months=repeat.every_months, count=repeat.count,
                                   until_days=repeat.until_days, until_months=repeat.until_months) if repeat else None,
        forms=tuple(visit.collected))


def _anchor_instances(protocol: Protocol, session: Session, patient: Patient, visit: Visit,
                      crfs: list[CRFInstance]) -> list[schedule.AnchorInstance]:
    ref = visit.anchor_ref
    if ref.form == ENROLMENT_FORM and not protocol.has_form(ENROLMENT_FORM):
        enrolment = session.scalars(select(Enrolment).where(Enrolment.patient_id == patient.id)).first()
        return [schedule.AnchorInstance(enrolment.enrolment_date, {})] if enrolment else []
    if not protocol.has_form(ref.form):
        return []  # a named anchor whose form this protocol does not collect: never reached
    form = protocol.form(ref.form)
    out = []
    for row in crfs:
        if row.form_id != ref.form or row.status == "not_done" or not row.data:
            continue
        values = from_json(form, row.data)
        day = values.get(ref.field)
        if day is not None:
            out.append(schedule.AnchorInstance(day, values))
    return out


def anchor_forms(protocol: Protocol) -> set[str]:
    """The forms whose dates anchor a visit: writing one of them plans the patient's visits again."""
    return {v.anchor_ref.form for v in protocol.visits}


def plan_patient(protocol: Protocol, session: Session, patient: Patient, crfs: list[CRFInstance] | None = None,
                 visits: list[Visit] | None = None) -> list[schedule.PlannedOccurrence]:
    if crfs is None:
        crfs = list(session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id)))
    planned = []
    for visit in protocol.visits if visits is None else visits:
        planned.extend(schedule.plan_visit(visit_spec(visit), _anchor_instances(protocol, session, patient, visit, crfs)))
    return planned


def sync_schedule(study: StudyDB, session: Session, patient: Patient, crfs: list[CRFInstance] | None = None,
                  written: str | None = None) -> None:
    """Store the patient's planned visit occurrences: create, move with their anchor, drop the empty unplanned.
    ``crfs``: the patient's CRF instances when the caller holds them already; ``written``: the form just
    written, whose visits alone can move (every visit when ``None``)."""
    session.flush()
    if crfs is None:
        crfs = list(session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id)))
    visits = [v for v in study.protocol.visits if written is None or v.anchor_ref.form == written]
    if not visits:
        return
    planned = {(p.visit_id, p.occurrence): p for p in plan_patient(study.protocol, session, patient, crfs, visits)}
    query = select(VisitOccurrence).where(VisitOccurrence.patient_id == patient.id)
    if written is not None:
        query = query.where(VisitOccurrence.visit_id.in_([v.id for v in visits]))
    stored = {(o.visit_id, o.occurrence): o for o in session.scalars(query)}
    used = {c.visit_occurrence_id for c in crfs}
    for key, plan in planned.items():
        row = stored.get(key)
        if row is None:
            session.add(VisitOccurrence(patient_id=patient.id, visit_id=plan.visit_id, occurrence=plan.occurrence,
                                        target_date=plan.target))
            continue
        if row.target_date != plan.target:
            row.target_date = plan.target
    for key, row in stored.items():
        if key[0] == UNSCHEDULED or key in planned:
            continue
        if row.id in used:
            continue  # an occurrence holding data stays where it was, with its data
        session.delete(row)
    session.flush()


def occurrence_window(protocol: Protocol, occurrence: VisitOccurrence) -> tuple[dt.date | None, dt.date | None]:
    """A visit occurrence's window: the protocol's around its target date (an unscheduled visit: its day)."""
    day = occurrence.target_date
    if day is None:
        return None, None
    if occurrence.visit_id == UNSCHEDULED or not _has_visit(protocol, occurrence.visit_id):
        return day, day
    visit = protocol.visit(occurrence.visit_id)
    return day - dt.timedelta(days=visit.window_before_days), day + dt.timedelta(days=visit.window_after_days)


def add_unscheduled_visit(study: StudyDB, actor: Actor, subject_id: str, day: dt.date, label: str | None = None) -> str:
    """Add an unscheduled visit (occurrence 2, 3, ...) on a date; returns it as ``unscheduled:N``."""
    with study.action(actor, permission="visit.add") as session:
        patient = study.patient(session, subject_id)
        from sarcotrial.services.forms import require_unlocked

        require_unlocked(session, patient, None, "adding a visit")
        if day > dt.date.today():
            raise InvalidValue("date", "is in the future", day.isoformat())
        numbers = [o.occurrence for o in session.scalars(select(VisitOccurrence).where(
            VisitOccurrence.patient_id == patient.id, VisitOccurrence.visit_id == UNSCHEDULED))]
        if 1 not in numbers:
            session.add(VisitOccurrence(patient_id=patient.id, visit_id=UNSCHEDULED, occurrence=1))
        number = max(numbers + [1]) + 1
        session.add(VisitOccurrence(patient_id=patient.id, visit_id=UNSCHEDULED, occurrence=number, target_date=day,
                                    label=(label or "").strip() or None))
        session.flush()
        return str(VisitRef(UNSCHEDULED, number))


# --------------------------------------------------------------------------- the read side of visits
@dataclass
class FormStatus:
    form_id: str
    instance: int
    status: str          # expected / incomplete / complete / not_done / verified / signed / locked
    verified: bool
    signed: bool
    locked: bool
    open_queries: int
    crf_id: int | None = None
    revision: int | None = None


@dataclass
class VisitStatus:
    visit_id: str
    occurrence: int
    name: str
    target_date: dt.date | None
    window_start: dt.date | None
    window_end: dt.date | None
    actual_date: dt.date | None
    status: str
    forms: list[FormStatus] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"visit_id": self.visit_id, "occurrence": self.occurrence, "name": self.name,
                "target_date": _iso(self.target_date), "window_start": _iso(self.window_start),
                "window_end": _iso(self.window_end), "actual_date": _iso(self.actual_date), "status": self.status,
                "forms": [{"form_id": f.form_id, "instance": f.instance, "status": f.status, "verified": f.verified,
                           "signed": f.signed, "locked": f.locked, "open_queries": f.open_queries}
                          for f in self.forms]}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def patient_visits(study: StudyDB, session: Session, patient: Patient, today: dt.date | None = None) -> list[VisitStatus]:
    """Every visit occurrence of a patient with its forms' lifecycle states (expected forms included)."""
    today = today or dt.date.today()
    protocol = study.protocol
    occurrences = session.scalars(select(VisitOccurrence).where(VisitOccurrence.patient_id == patient.id)).all()
    crfs = session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id)).all()
    by_occurrence: dict[int, list[CRFInstance]] = {}
    for row in crfs:
        by_occurrence.setdefault(row.visit_occurrence_id, []).append(row)
    queries: dict[int, int] = {}
    for q in session.scalars(select(DataQuery).where(DataQuery.patient_id == patient.id,
                                                     DataQuery.status != "closed")):
        queries[q.crf_instance_id] = queries.get(q.crf_instance_id, 0) + 1
    signed = {s.crf_instance_id for s in session.scalars(select(Signature).where(
        Signature.patient_id == patient.id, Signature.status == "valid"))}
    casebook_signed = None in signed
    locks = session.scalars(select(DataLock).where(DataLock.active.is_(True))).all()
    study_locked = any(lock.scope == "study" for lock in locks)
    patient_locked = study_locked or any(lock.scope == "patient" and lock.patient_id == patient.id for lock in locks)
    locked_crfs = {lock.crf_instance_id for lock in locks if lock.scope == "crf"}
    stopped = _follow_up_ends(study, session, patient)
    out = []
    for occ in occurrences:
        window_start, window_end = occurrence_window(protocol, occ)
        name = "Unscheduled" if occ.visit_id == UNSCHEDULED else protocol.visit(occ.visit_id).name \
            if _has_visit(protocol, occ.visit_id) else occ.visit_id
        if occ.visit_id == UNSCHEDULED and occ.occurrence > 1:
            name = f"Unscheduled visit{': ' + occ.label if occ.label else ''}"
        rows = sorted(by_occurrence.get(occ.id, []), key=lambda r: (r.form_id, r.instance))
        forms: list[FormStatus] = []
        spec = protocol.visit(occ.visit_id) if _has_visit(protocol, occ.visit_id) else None
        expected = spec.forms if spec else []
        order = spec.collected if spec else []
        present = {r.form_id for r in rows}
        for row in rows:
            verified = fully_verified(entered_fields(row.data or {}, row.missing or {}), row.verified or {})
            is_signed = row.id in signed or (casebook_signed and row.status != "not_done")
            is_locked = patient_locked or row.id in locked_crfs
            forms.append(FormStatus(row.form_id, row.instance, lifecycle_state(
                row.status, verified=verified, signed=is_signed, locked=is_locked), verified, is_signed, is_locked,
                queries.get(row.id, 0), row.id, row.revision))
        for form_id in expected:
            if form_id not in present:
                forms.append(FormStatus(form_id, 1, "expected", False, False, patient_locked, 0))
        forms.sort(key=lambda f: (order.index(f.form_id) if f.form_id in order else 99, f.form_id, f.instance))
        actual = _actual_date(protocol, rows)
        if occ.visit_id == UNSCHEDULED:
            status = "unscheduled" if occ.occurrence == 1 else schedule.visit_status(
                window_start, window_end, [f.status for f in forms] or ["expected"], today) \
                if forms else "upcoming" if occ.target_date and occ.target_date > today else "partial"
        elif not forms:  # only optional forms, none entered: nothing is owed at this visit
            status = "optional"
        elif not rows and occ.target_date is not None and expected and all(
                _stopped_before(stopped, form_id, occ.target_date) for form_id in expected):
            status = "ended"  # after the patient's death, or a withdrawal that stops these forms: nothing is owed
        else:
            status = schedule.visit_status(window_start, window_end, _states_that_count(protocol, forms), today)
        out.append(VisitStatus(occ.visit_id, occ.occurrence, name, occ.target_date, window_start, window_end,
                               actual, status, forms))
    order = {v.id: i for i, v in enumerate(protocol.visits)}
    out.sort(key=lambda v: (v.visit_id == UNSCHEDULED and v.occurrence == 1, v.target_date or dt.date.max,
                            order.get(v.visit_id, 99), v.occurrence))
    return out


def _states_that_count(protocol: Protocol, forms: list[FormStatus]) -> list[str]:
    """The states a visit's status reads: every instance of a repeating form; of a form that does not
    repeat but was entered again (a second screening), the last instance only."""
    last: dict[str, FormStatus] = {}
    states = []
    for f in forms:
        if protocol.has_form(f.form_id) and protocol.form(f.form_id).repeating:
            states.append(f.status)
        elif f.form_id not in last or f.instance > last[f.form_id].instance:
            last[f.form_id] = f
    return states + [f.status for f in last.values()]


def _follow_up_ends(study: StudyDB, session: Session, patient: Patient) -> dict[str, dt.date]:
    """From which date each form is no longer owed: every form after death; the forms a withdrawal
    stops after its date ("*": every form)."""
    from sarcotrial.services.forms import Pathway

    path = Pathway(study, session, patient)
    ends: dict[str, dt.date] = {}
    if path.death_date is not None:
        ends["*"] = path.death_date
    spec = study.protocol.withdrawal
    if spec is not None:
        for row in path.entered(spec.form):
            values = path.values(row)
            day, kind = values.get(spec.date_field), values.get(spec.kind_field)
            for form_id in spec.stops.get(kind or "", []) if day else []:
                ends[form_id] = min(day, ends.get(form_id, day))
    return ends


def _stopped_before(ends: dict[str, dt.date], form_id: str, day: dt.date) -> bool:
    end = min([d for d in (ends.get(form_id), ends.get("*")) if d is not None], default=None)
    return end is not None and day > end


def _has_visit(protocol: Protocol, visit_id: str) -> bool:
    return any(v.id == visit_id for v in protocol.visits)


def _actual_date(protocol: Protocol, rows: list[CRFInstance]) -> dt.date | None:
    """A visit's actual date: the earliest date its entered forms give (the form's first date field)."""
    days = []
    for row in rows:
        if not row.data or not protocol.has_form(row.form_id):
            continue
        form = protocol.form(row.form_id)
        values = from_json(form, row.data)
        for fld in form.fields:
            if fld.type in ("date", "datetime") and values.get(fld.id) is not None:
                day = values[fld.id]
                days.append(day.date() if isinstance(day, dt.datetime) else day)
                break
    return min(days) if days else None


def visits(study: StudyDB, actor: Actor | None, subject_id: str, today: dt.date | None = None) -> list[VisitStatus]:
    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        return patient_visits(study, session, patient, today)


@dataclass(frozen=True)
class DueVisit:
    subject: str
    visit_id: str
    occurrence: int
    window_start: dt.date | None
    window_end: dt.date | None
    status: str  # due / overdue

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "visit_id": self.visit_id, "occurrence": self.occurrence,
                "window_start": _iso(self.window_start), "window_end": _iso(self.window_end), "status": self.status}


def due(study: StudyDB, actor: Actor | None, days: int = 0, today: dt.date | None = None) -> list[DueVisit]:
    """Visits due now (or within ``days``) and overdue ones, for the patients the user may see.

    A patient who died or whose follow-up ended is not chased for later visits.
    """
    today = today or dt.date.today()
    horizon = today + dt.timedelta(days=days)
    out = []
    with study.reading(actor) as session:
        visible = study.visible_site_ids(session) if hasattr(study, "visible_site_ids") else None
        query = select(Patient).order_by(Patient.subject_id)
        if visible is not None:
            query = query.where(Patient.site_id.in_(visible))
        for patient in session.scalars(query):
            if patient.status in ("dead", "withdrawn", "screen_failed", "referred", "completed", "lost_to_follow_up"):
                continue
            for visit in patient_visits(study, session, patient, today):
                if visit.visit_id == UNSCHEDULED or visit.status in ("complete", "scheduled", "optional", "ended"):
                    continue
                if visit.status == "overdue":
                    out.append(DueVisit(patient.subject_id, visit.visit_id, visit.occurrence, visit.window_start,
                                        visit.window_end, "overdue"))
                elif visit.window_start is not None and visit.window_start <= horizon and \
                        (visit.window_end is None or visit.window_end >= today):
                    out.append(DueVisit(patient.subject_id, visit.visit_id, visit.occurrence, visit.window_start,
                                        visit.window_end, "due"))
    out.sort(key=lambda d: (d.status != "overdue", d.window_start or dt.date.min, d.subject))
    return out


def sync_all(study: StudyDB, actor: Actor) -> int:
    """Plan every patient's visits again (after a schema upgrade or a protocol amendment); returns the count."""
    with study.action(actor, "visit schedules planned from the protocol", permission="protocol.amend") as session:
        patients = session.scalars(select(Patient).order_by(Patient.id)).all()
        for patient in patients:
            sync_schedule(study, session, patient)
        return len(patients)
