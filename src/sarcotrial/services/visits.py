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

from sqlalchemy import func, select
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


# --------------------------------------------------------------------------- the protocol, indexed
class _Index:
    """A protocol's forms and visits by id, and what the visit statuses read of them, built once per
    protocol (the protocol is immutable), so that a listing's many statuses do no linear search."""

    def __init__(self, protocol: Protocol):
        self.protocol = protocol
        self.forms = {f.id: f for f in reversed(protocol.forms)}  # the first of an id wins, as Protocol.form
        self.visits = {v.id: v for v in reversed(protocol.visits)}
        self.repeating = {form_id for form_id, f in self.forms.items() if f.repeating}
        self.date_fields = {form_id: [(fld.id, fld.type) for fld in f.fields if fld.type in ("date", "datetime")]
                            for form_id, f in self.forms.items()}
        self.order = {v.id: i for i, v in enumerate(protocol.visits)}


_INDEXES: dict[int, _Index] = {}


def _index(protocol: Protocol) -> _Index:
    index = _INDEXES.get(id(protocol))
    if index is None or index.protocol is not protocol:
        if len(_INDEXES) > 32:  # protocols are few (one per study and version): never grow without bound
            _INDEXES.clear()
        index = _INDEXES[id(protocol)] = _Index(protocol)
    return index


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
    visit = _index(protocol).visits.get(occurrence.visit_id) if occurrence.visit_id != UNSCHEDULED else None
    if visit is None:
        return day, day
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
    return patients_visits(study, session, [patient], today)[patient.id]


#: how many patients one batched read names in an ``IN (...)`` list
_BATCH = 500


def _in_batches(ids: list[int]):
    for start in range(0, len(ids), _BATCH):
        yield ids[start:start + _BATCH]


def patients_visits(study: StudyDB, session: Session, patients: list[Patient],
                    today: dt.date | None = None) -> dict[int, list[VisitStatus]]:
    """:func:`patient_visits` of several patients at once (by patient id): the same states, read in a
    handful of queries whatever the number of patients (a listing, the grid, the visits due)."""
    today = today or dt.date.today()
    protocol = study.protocol
    ids = list(dict.fromkeys(p.id for p in patients))
    occurrences: dict[int, list[VisitOccurrence]] = {i: [] for i in ids}
    crfs: dict[int, list[Any]] = {i: [] for i in ids}
    queries: dict[int, int] = {}
    signed: dict[int, set[int | None]] = {i: set() for i in ids}
    columns = (CRFInstance.id, CRFInstance.patient_id, CRFInstance.visit_occurrence_id, CRFInstance.form_id,
               CRFInstance.instance, CRFInstance.status, CRFInstance.revision, CRFInstance.data, CRFInstance.missing,
               CRFInstance.verified)
    for chunk in _in_batches(ids):
        for occ in session.scalars(select(VisitOccurrence).where(VisitOccurrence.patient_id.in_(chunk))
                                   .order_by(VisitOccurrence.id)):
            occurrences[occ.patient_id].append(occ)
        for row in session.execute(select(*columns).where(CRFInstance.patient_id.in_(chunk)).order_by(CRFInstance.id)):
            crfs[row.patient_id].append(row)
        for crf_id, n in session.execute(select(DataQuery.crf_instance_id, func.count(DataQuery.id)).where(
                DataQuery.patient_id.in_(chunk), DataQuery.status != "closed").group_by(DataQuery.crf_instance_id)):
            queries[crf_id] = n
        for patient_id, crf_id in session.execute(select(Signature.patient_id, Signature.crf_instance_id).where(
                Signature.patient_id.in_(chunk), Signature.status == "valid")):
            signed[patient_id].add(crf_id)
    locks = session.scalars(select(DataLock).where(DataLock.active.is_(True))).all()
    study_locked = any(lock.scope == "study" for lock in locks)
    locked_patients = {lock.patient_id for lock in locks if lock.scope == "patient"}
    locked_crfs = {lock.crf_instance_id for lock in locks if lock.scope == "crf"}
    return {pid: _visit_statuses(protocol, occurrences[pid], crfs[pid], queries, signed[pid],
                                 study_locked or pid in locked_patients, locked_crfs,
                                 _ends_from_rows(protocol, crfs[pid]), today)
            for pid in ids}


def _visit_statuses(protocol: Protocol, occurrences: list[VisitOccurrence], crfs: list[Any], queries: dict[int, int],
                    signed: set[int | None], patient_locked: bool, locked_crfs: set[int | None],
                    stopped: dict[str, dt.date], today: dt.date) -> list[VisitStatus]:
    index = _index(protocol)
    by_occurrence: dict[int, list[Any]] = {}
    for row in crfs:
        by_occurrence.setdefault(row.visit_occurrence_id, []).append(row)
    casebook_signed = None in signed
    out = []
    for occ in occurrences:
        window_start, window_end = occurrence_window(protocol, occ)
        spec = index.visits.get(occ.visit_id)
        name = "Unscheduled" if occ.visit_id == UNSCHEDULED else spec.name if spec is not None else occ.visit_id
        if occ.visit_id == UNSCHEDULED and occ.occurrence > 1:
            name = f"Unscheduled visit{': ' + occ.label if occ.label else ''}"
        rows = sorted(by_occurrence.get(occ.id, []), key=lambda r: (r.form_id, r.instance))
        forms: list[FormStatus] = []
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
    out.sort(key=lambda v: (v.visit_id == UNSCHEDULED and v.occurrence == 1, v.target_date or dt.date.max,
                            index.order.get(v.visit_id, 99), v.occurrence))
    return out


def _states_that_count(protocol: Protocol, forms: list[FormStatus]) -> list[str]:
    """The states a visit's status reads: every instance of a repeating form; of a form that does not
    repeat but was entered again (a second screening), the last instance only."""
    repeating = _index(protocol).repeating
    last: dict[str, FormStatus] = {}
    states = []
    for f in forms:
        if f.form_id in repeating:
            states.append(f.status)
        elif f.form_id not in last or f.instance > last[f.form_id].instance:
            last[f.form_id] = f
    return states + [f.status for f in last.values()]


def _ends_from_rows(protocol: Protocol, crfs: list[Any]) -> dict[str, dt.date]:
    """From which date each form is no longer owed: every form after death; the forms a withdrawal
    stops after its date ("*": every form). Read from a patient's CRF instances in entry order, as
    :class:`sarcotrial.services.forms.Pathway` reads them (entered: not "not done", with data; the
    death: the first entered ``outcome_event`` whose event type is death)."""
    def entered(form_id: str) -> list[Any]:
        return [c for c in crfs if c.form_id == form_id and c.status != "not_done" and c.data]

    def values(row) -> dict[str, Any]:
        return from_json(protocol.form(row.form_id), row.data or {}) if protocol.has_form(row.form_id) \
            else dict(row.data or {})

    ends: dict[str, dt.date] = {}
    death = next((c for c in entered("outcome_event") if values(c).get("event_type") == "death"), None)
    death_date = values(death).get("event_date") if death is not None else None
    if death_date is not None:
        ends["*"] = death_date
    spec = protocol.withdrawal
    if spec is not None:
        for row in entered(spec.form):
            got = values(row)
            day, kind = got.get(spec.date_field), got.get(spec.kind_field)
            for form_id in spec.stops.get(kind or "", []) if day else []:
                ends[form_id] = min(day, ends.get(form_id, day))
    return ends


def _stopped_before(ends: dict[str, dt.date], form_id: str, day: dt.date) -> bool:
    end = min([d for d in (ends.get(form_id), ends.get("*")) if d is not None], default=None)
    return end is not None and day > end


def _actual_date(protocol: Protocol, rows: list[CRFInstance]) -> dt.date | None:
    """A visit's actual date: the earliest date its entered forms give (the form's first date field)."""
    date_fields = _index(protocol).date_fields
    days = []
    for row in rows:
        if not row.data or row.form_id not in date_fields:
            continue
        for field_id, kind in date_fields[row.form_id]:
            day = row.data.get(field_id)
            if day is None:
                continue
            if isinstance(day, str):  # as protocol.forms.from_json reads the stored text
                day = dt.date.fromisoformat(day) if kind == "date" else dt.datetime.fromisoformat(day)
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
    with study.reading(actor) as session:
        return due_in(study, session, days, today)


def due_in(study: StudyDB, session: Session, days: int = 0, today: dt.date | None = None) -> list[DueVisit]:
    """:func:`due` within a read already open (the session's principal's sites applied)."""
    today = today or dt.date.today()
    horizon = today + dt.timedelta(days=days)
    out = []
    visible = study.visible_site_ids(session) if hasattr(study, "visible_site_ids") else None
    query = select(Patient).order_by(Patient.subject_id)
    if visible is not None:
        query = query.where(Patient.site_id.in_(visible))
    chased = [patient for patient in session.scalars(query) if patient.status not in (
        "dead", "withdrawn", "screen_failed", "referred", "completed", "lost_to_follow_up")]
    statuses = patients_visits(study, session, chased, today)
    for patient in chased:
        for visit in statuses[patient.id]:
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
