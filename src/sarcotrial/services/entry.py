"""What a data-entry screen needs around the write API of :mod:`sarcotrial.services.forms`.

- :func:`entry_view`: one form of one patient as the screen shows it: the CRF instance named (by
  its id, or its visit occurrence and repeat instance) or none yet, the patient's other instances
  of the form, its lifecycle state, who entered and last changed it (from the audit trail), the
  lock covering it, each field's source-data verification and queries, and the visit occurrences
  a new instance may be entered at.
- :func:`check_entry`: every value of a submitted form checked against the protocol at once, so a
  screen names each wrong field beside it (the write API stops at the first).
- :func:`field_changes`: who last changed each field of a CRF instance, and when (the stale-save
  message: "changed by X at T").
- :func:`correct_and_answer`: a correction and the answers to the queries it settles, in one
  transaction (``resolution: corrected``).
- :func:`toxicity_term_field`: the protocol's CTCAE term field, which the screen searches in the
  CTCAE catalogue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from sarcotrial.domain import crf as crf_rules
from sarcotrial.errors import InvalidValue
from sarcotrial.protocol.forms import coerce_value
from sarcotrial.protocol.schema import Form, Protocol
from sarcotrial.services import forms as form_service
from sarcotrial.services.forms import CRF, snapshot
from sarcotrial.services.queries import QueryView, list_queries
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import (
    AuditEntry,
    CRFInstance,
    DataQuery,
    VisitOccurrence,
)


# --------------------------------------------------------------------------- the screen's data
@dataclass(frozen=True)
class InstanceSummary:
    """One entered (or not-done) instance of the form, for the list of a repeating form."""

    id: int
    visit: str
    visit_name: str
    instance: int
    status: str  # the lifecycle state (incomplete / complete / verified / signed / locked / not_done)
    open_queries: int
    summary: str  # the first values of the instance, to tell instances apart


@dataclass(frozen=True)
class LockView:
    scope: str  # crf / patient / study
    locked_by: str
    locked_at: dt.datetime

    @property
    def text(self) -> str:
        what = {"crf": "This form", "patient": "This patient's casebook", "study": "The study database"}[self.scope]
        return f"{what} is locked by {self.locked_by} at {self.locked_at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Verification:
    by: str
    at: str


@dataclass
class EntryView:
    subject_id: str
    site: str
    patient_status: str
    form: Form
    crf: CRF | None
    state: str                          # lifecycle state of the instance shown ("new" for none yet)
    instances: list[InstanceSummary]
    visit: str | None                   # the visit occurrence shown or asked for (``VISIT[:N]``)
    visit_name: str | None
    instance: int | None
    entered_by: str | None = None
    entered_at: str | None = None
    changed_by: str | None = None
    changed_at: str | None = None
    signed: bool = False
    lock: LockView | None = None
    verified: dict[str, Verification] = field(default_factory=dict)
    queries: dict[str, list[QueryView]] = field(default_factory=dict)
    visits: list[tuple[str, str]] = field(default_factory=list)  # where a new instance may go: (ref, label)

    @property
    def locked(self) -> bool:
        return self.lock is not None

    def open_queries(self, field_id: str | None = None) -> list[QueryView]:
        fields = [field_id] if field_id else list(self.queries)
        return [q for f in fields for q in self.queries.get(f, []) if q.status == "open"]


def _stamp(text: str | None) -> str | None:
    return text[:16].replace("T", " ") + " UTC" if text else None


def entry_view(study: StudyDB, actor: Actor | None, subject_id: str, form_id: str, *, visit: str | None = None,
               instance: int | None = None, record_id: int | None = None) -> EntryView:
    """The form ``form_id`` of a patient as a data-entry screen shows it.

    The instance shown: ``record_id``; else the one at ``visit`` (and ``instance``); else, for a form
    that does not repeat and is entered once, that one; else none (a new instance is entered).
    An id or visit that names nothing of the patient is refused (:class:`InvalidValue`).
    """
    from sarcotrial.services.visits import patient_visits

    protocol = study.protocol
    if not protocol.has_form(form_id):
        raise InvalidValue("form", f"protocol {protocol.acronym} has no such form", form_id)
    form = protocol.form(form_id)
    ref = crf_rules.parse_visit_ref(visit) if visit else None
    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        site = patient.site.code if getattr(patient, "site", None) is not None else ""
        rows = session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id,
                                                         CRFInstance.form_id == form_id).order_by(CRFInstance.id)).all()
        occurrences = {o.id: o for o in session.scalars(select(VisitOccurrence).where(
            VisitOccurrence.patient_id == patient.id))}
        statuses = patient_visits(study, session, patient)
        names = {(v.visit_id, v.occurrence): v.name for v in statuses}
        states = {f.crf_id: f for v in statuses for f in v.forms if f.crf_id is not None}

        def place(row: CRFInstance) -> crf_rules.VisitRef:
            occ = occurrences[row.visit_occurrence_id]
            return crf_rules.VisitRef(occ.visit_id, occ.occurrence)

        row: CRFInstance | None = None
        if record_id is not None:
            row = next((r for r in rows if r.id == record_id), None)
            if row is None:
                raise InvalidValue("record", f"{patient.subject_id} has no {form_id} form #{record_id}", record_id)
        elif ref is not None:
            at = [r for r in rows if place(r) == ref and (instance is None or r.instance == instance)]
            if instance is None and form.repeating:
                at = []  # a repeating form at a visit: a new instance unless one is named
            row = at[0] if len(at) == 1 else None
        elif instance is not None:
            at = [r for r in rows if r.instance == instance]
            row = at[0] if len(at) == 1 else None
        elif not form.repeating and len(rows) == 1:
            row = rows[0]

        instances = []
        for r in rows:
            values = snapshot(protocol, r, occurrences[r.visit_occurrence_id], patient.subject_id)
            where = place(r)
            shown = [f"{fld.label}: {_short(values.values.get(fld.id))}" for fld in form.fields
                     if values.values.get(fld.id) is not None][:2]
            state = states.get(r.id)
            instances.append(InstanceSummary(r.id, str(where), names.get((where.visit_id, where.occurrence),
                                                                         where.visit_id),
                                             r.instance, state.status if state else r.status,
                                             state.open_queries if state else 0, "; ".join(shown)))

        choices = []
        for v in statuses:
            spec_forms = protocol.visit(v.visit_id).collected if any(x.id == v.visit_id for x in protocol.visits) \
                else None
            if spec_forms is None and v.visit_id != crf_rules.UNSCHEDULED:
                continue
            if spec_forms is not None and form_id not in spec_forms:
                continue
            label = f"{v.name}" + (f" #{v.occurrence}" if v.occurrence > 1 else "") + \
                (f" (target {v.target_date:%Y-%m-%d})" if v.target_date else "")
            choices.append((str(crf_rules.VisitRef(v.visit_id, v.occurrence)), label))

        crf = snapshot(protocol, row, occurrences[row.visit_occurrence_id], patient.subject_id) if row else None
        lock = form_service.active_lock(session, patient.id, row.id if row else None)
        view = EntryView(
            subject_id=patient.subject_id, site=site, patient_status=patient.status, form=form, crf=crf,
            state=(states[row.id].status if row is not None and row.id in states else row.status if row is not None
                   else "new"),
            instances=instances, visit=str(place(row)) if row else (str(ref) if ref else None),
            visit_name=None, instance=row.instance if row else instance, visits=choices,
            lock=LockView(lock.scope, lock.locked_by, lock.locked_at) if lock is not None else None,
            signed=bool(row is not None and row.id in states and states[row.id].signed))
        if view.visit:
            shown_ref = crf_rules.parse_visit_ref(view.visit)
            view.visit_name = names.get((shown_ref.visit_id, shown_ref.occurrence))
        if row is not None:
            first, last = _history(session, row.id)
            view.entered_by, view.entered_at = first
            view.changed_by, view.changed_at = last
            for name, stamp in (row.verified or {}).items():
                who, _, when = str(stamp).partition(" ")
                view.verified[name] = Verification(who, _stamp(when) or "")
    if row is not None:
        for q in list_queries(study, actor, subject_id=view.subject_id):
            if q.form_id == form_id and str(crf_rules.VisitRef(q.visit_id, q.occurrence)) == view.visit \
                    and q.instance == view.instance:
                view.queries.setdefault(q.field, []).append(q)
    return view


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _history(session, crf_id: int) -> tuple[tuple[str | None, str | None], tuple[str | None, str | None]]:
    """(who entered, when) and (who last changed, when) a CRF instance, from its audit entries."""
    first = session.scalars(select(AuditEntry).where(
        AuditEntry.table_name == CRFInstance.__tablename__, AuditEntry.record_id == crf_id)
        .order_by(AuditEntry.id).limit(1)).first()
    last = session.scalars(select(AuditEntry).where(
        AuditEntry.table_name == CRFInstance.__tablename__, AuditEntry.record_id == crf_id,
        AuditEntry.field == "revision").order_by(AuditEntry.id.desc()).limit(1)).first()
    entered = (first.actor, _stamp(first.at)) if first else (None, None)
    changed = (last.actor, _stamp(last.at)) if last else (None, None)
    return entered, changed


def field_changes(study: StudyDB, actor: Actor | None, subject_id: str, crf_id: int) -> dict[str, tuple[str, str]]:
    """Who last changed each field of a CRF instance, and when: ``{field_id: (user, "YYYY-MM-DD HH:MM UTC")}``
    (a value or its missing-data code)."""
    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        row = session.get(CRFInstance, crf_id)
        if row is None or row.patient_id != patient.id:
            raise InvalidValue("record", f"{patient.subject_id} has no form #{crf_id}", crf_id)
        out: dict[str, tuple[str, str]] = {}
        for entry in session.scalars(select(AuditEntry).where(
                AuditEntry.table_name == CRFInstance.__tablename__, AuditEntry.record_id == crf_id)
                .order_by(AuditEntry.id)):
            part, _, name = entry.field.partition(".")
            if part in ("data", "missing") and name:
                out[name] = (entry.actor, _stamp(entry.at) or "")
        return out


# --------------------------------------------------------------------------- checking a submitted form
def check_entry(protocol: Protocol, form_id: str, values: Mapping[str, Any], missing: Mapping[str, str] | None = None,
                *, required: bool = True) -> dict[str, InvalidValue]:
    """Every field's value checked against the protocol's form (type, range, code list; with
    ``required``, presence unless a missing-data code stands for it): ``{field_id: refusal}``, empty
    when all is well. The write API checks the same rules again (and the pathway's) when it saves."""
    form = protocol.form(form_id)
    missing = missing or {}
    errors: dict[str, InvalidValue] = {}
    for fld in form.fields:
        raw = values.get(fld.id)
        try:
            value = coerce_value(form_id, fld, raw, protocol) if fld.id in values else None
        except InvalidValue as exc:
            errors[fld.id] = exc
            continue
        if value is not None and missing.get(fld.id):
            errors[fld.id] = InvalidValue(f"{form_id}.{fld.id}", "has both a value and a missing-data code; give one",
                                          show_value=False)
        elif required and fld.required and value is None and not missing.get(fld.id):
            errors[fld.id] = InvalidValue(f"{form_id}.{fld.id}", f"is required ({fld.label}); if it cannot be given, "
                                          "choose a missing-data code and say why", show_value=False)
    return errors


# --------------------------------------------------------------------------- correction answering queries
def correct_and_answer(study: StudyDB, actor: Actor, subject_id: str, form_id: str, changes: Mapping[str, Any],
                       reason: str, *, record_id: int, answers: Iterable[int] = (),
                       missing: Mapping[str, str] | None = None, revision: int | None = None) -> CRF:
    """:func:`forms.correct` and, in the same transaction, the answer ``corrected`` to each open query of
    ``answers`` on the corrected CRF instance (its text: the reason for the change)."""
    answers = list(dict.fromkeys(int(a) for a in answers))
    if not answers:
        return form_service.correct(study, actor, subject_id, form_id, changes, reason, record_id=record_id,
                                    missing=missing, revision=revision)
    if not reason or not reason.strip():
        raise InvalidValue("reason", "a reason is required to change data already entered", show_value=False)
    protocol = study.protocol
    from sarcotrial.protocol.forms import validate_form
    from sarcotrial.services.queries import _query, mark_answered

    validate_form(protocol, form_id, changes, partial=True)
    form = protocol.form(form_id)
    codes = form_service.check_missing(protocol, form, missing, reason)
    if not changes and not codes:
        raise InvalidValue("correction", "give the new values or missing-data codes", show_value=False)
    with study.action(actor, reason, permission="correct") as session:
        study.require(session, "query.respond")
        patient = study.patient(session, subject_id)
        row = form_service._find(session, study, patient, form_id, record_id=record_id)
        crf = form_service._correct_row(study, session, actor, patient, row, form, changes, codes, revision)
        for query_id in answers:
            query, _patient = _query(study, session, query_id)
            if query.crf_instance_id != row.id:
                raise InvalidValue("answers", f"query {query_id} is not on this form", query_id)
            if query.status != "open":
                raise InvalidValue("answers", f"query {query_id} is {query.status}; only an open query is answered",
                                   query_id)
            mark_answered(study, session, actor, query, "corrected", reason)
        session.flush()
        return crf


def open_query_ids(study: StudyDB, actor: Actor | None, subject_id: str, crf_id: int) -> set[int]:
    """The ids of the queries not closed on a CRF instance (to tell which ones a save opened)."""
    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        return set(session.scalars(select(DataQuery.id).where(DataQuery.patient_id == patient.id,
                                                              DataQuery.crf_instance_id == crf_id,
                                                              DataQuery.status != "closed")))


# --------------------------------------------------------------------------- the CTCAE term
def toxicity_term_field(protocol: Protocol) -> tuple[str, str] | None:
    """``(form_id, field_id)`` of the adverse-event term graded by CTCAE (``protocol.toxicity``): the
    term field the protocol names, else the ``term`` field of the form whose entry checks the term
    and grade against the CTCAE catalogue (:func:`forms._derive_adverse_event`)."""
    tox = protocol.toxicity
    named_form, named_field = getattr(tox, "term_form", None), getattr(tox, "term_field", None)
    if named_form and named_field:
        return named_form, named_field
    for form_id, derive in form_service.DERIVATIONS.items():
        if derive is form_service._derive_adverse_event and protocol.has_form(form_id):
            form = protocol.form(form_id)
            if form.field("term") is not None:
                return form_id, "term"
    return None
