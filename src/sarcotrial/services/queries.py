"""Queries on collected data: OpenClinica's discrepancy notes, REDCap's data resolution workflow.

A query is opened on one field of one CRF instance, by a monitor or a data manager, or by the
system when a soft check finds a problem; it may be assigned to a member of the site staff. Site
staff answer it with a resolution (``corrected``: the value is corrected in the same transaction,
through the audited correction; ``confirmed``: the value stands as entered; ``other``) and a text.
The one who opened it, or a data manager, closes it, or reopens it when the answer does not
satisfy. Every step is a message of the query's thread and an entry of the audit trail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.domain.crf import VisitRef, parse_visit_ref
from sarcotrial.errors import InvalidValue
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import CRFInstance, DataQuery, Patient, QueryMessage, VisitOccurrence, utcnow

RESOLUTIONS = ("corrected", "confirmed", "other")
STATUSES = ("open", "answered", "closed")
SYSTEM = "system"


@dataclass(frozen=True)
class QueryView:
    id: int
    subject: str
    form_id: str
    visit_id: str
    occurrence: int
    instance: int
    field: str
    status: str
    text: str
    origin: str
    opened_by: str
    opened_at: dt.datetime
    assigned_to: str | None
    age_days: int
    thread: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "subject": self.subject, "form_id": self.form_id, "visit_id": self.visit_id,
                "occurrence": self.occurrence, "instance": self.instance, "field": self.field, "status": self.status,
                "text": self.text, "origin": self.origin, "opened_by": self.opened_by,
                "opened_at": self.opened_at.isoformat(), "assigned_to": self.assigned_to, "age_days": self.age_days,
                "thread": self.thread}


def _who(study: StudyDB, session: Session, actor: Actor) -> tuple[str, str | None]:
    """The acting user's name and role (the role is known once accounts exist)."""
    principal = study.principal(session) if hasattr(study, "principal") else None
    if principal is not None:
        return principal.username, principal.role
    return actor.name, None


def locate_crf(study: StudyDB, session: Session, patient: Patient, form_id: str, visit: str | None,
               instance: int | None) -> CRFInstance:
    """The CRF instance a query, verification, signature or lock names."""
    from sarcotrial.services.forms import _find

    if not study.protocol.has_form(form_id):
        known = ", ".join(f.id for f in study.protocol.forms)
        raise InvalidValue("form", f"protocol {study.protocol.acronym} has no such form (forms: {known})", form_id)
    ref = parse_visit_ref(visit) if visit else None
    return _find(session, study, patient, form_id, visit=ref, instance=instance)


def _check_field(study: StudyDB, row: CRFInstance, field_id: str) -> None:
    form = study.protocol.form(row.form_id)
    if form.field(field_id) is None and field_id not in (row.derived or {}):
        raise InvalidValue("field", f"form '{row.form_id}' has no field '{field_id}' (fields: "
                           f"{', '.join(f.id for f in form.fields)})", field_id)


def open_system_query(session: Session, patient: Patient, crf_id: int, field_id: str, origin: str, text: str) -> DataQuery | None:
    """A query a check opens by itself (a soft check, a re-checked rule), inside the action that found the
    problem; not opened twice while the same check's query on the field is still open or answered."""
    existing = session.scalars(select(DataQuery).where(
        DataQuery.crf_instance_id == crf_id, DataQuery.field_id == field_id, DataQuery.origin == origin,
        DataQuery.status != "closed")).first()
    if existing is not None:
        return None
    now = utcnow()
    query = DataQuery(patient_id=patient.id, crf_instance_id=crf_id, field_id=field_id, status="open", origin=origin,
                      text=text, opened_by=SYSTEM, opened_at=now)
    session.add(query)
    session.flush()
    session.add(QueryMessage(query_id=query.id, kind="open", author=SYSTEM, at=now, text=text))
    return query


def open_query(study: StudyDB, actor: Actor, subject_id: str, form_id: str, field_id: str, text: str, *,
               visit: str | None = None, instance: int | None = None, assign: str | None = None) -> int:
    """Open a query on a field of a CRF instance; returns its id."""
    if not text or not text.strip():
        raise InvalidValue("text", "say what is to be checked", show_value=False)
    with study.action(actor, "query opened", permission="query.open") as session:
        patient = study.patient(session, subject_id)
        row = locate_crf(study, session, patient, form_id, visit, instance)
        _check_field(study, row, field_id)
        who, _role = _who(study, session, actor)
        if assign:
            assign = _check_assignee(study, session, patient, assign)
        now = utcnow()
        query = DataQuery(patient_id=patient.id, crf_instance_id=row.id, field_id=field_id, status="open",
                          origin="manual", text=text.strip(), opened_by=who, opened_at=now,
                          assigned_to=assign.strip() if assign else None)
        session.add(query)
        session.flush()
        session.add(QueryMessage(query_id=query.id, kind="open", author=who, at=now, text=text.strip()))
        session.flush()
        return query.id


def _check_assignee(study: StudyDB, session: Session, patient: Patient, username: str) -> str:
    """An assignee is an active account that may answer queries and sees the patient's site; returns the
    account's user name (a study with no accounts yet has nobody to check: the name is kept as given)."""
    from sarcotrial.domain import access as rules
    from sarcotrial.services.access import has_accounts, normal_username
    from sarcotrial.store.models import User
    from sarcotrial.store.models_access import UserSite

    name = normal_username(username)
    if not has_accounts(session):
        return username.strip()
    user = session.scalars(select(User).where(User.username == name)).first()
    if user is None:
        raise InvalidValue("assign", "no such account in this study", username)
    if not user.active:
        raise InvalidValue("assign", f"account {user.username} is disabled", username)
    if not rules.allowed(user.role, "query.respond"):
        raise InvalidValue("assign", f"{user.username} ({user.role}) may not answer a query: assign a member of the "
                           "site staff", username)
    sites = set(session.scalars(select(UserSite.site_id).where(UserSite.user_id == user.id)))
    if sites and patient.site_id not in sites:
        raise InvalidValue("assign", f"{user.username} does not work on the patients of {patient.subject_id}'s site",
                           username)
    return user.username


def _query(study: StudyDB, session: Session, query_id: int) -> tuple[DataQuery, Patient]:
    query = session.get(DataQuery, query_id)
    if query is None:
        raise InvalidValue("query", "no such query", query_id)
    patient = session.get(Patient, query.patient_id)
    study.patient(session, patient.subject_id)  # the site check: another site's query does not exist for the user
    return query, patient


def respond(study: StudyDB, actor: Actor, query_id: int, resolution: str, text: str,
            changes: Mapping[str, Any] | None = None) -> None:
    """Answer an open query; with ``changes`` the correction and the answer are one transaction."""
    if resolution not in RESOLUTIONS:
        raise InvalidValue("resolution", f"must be one of {', '.join(RESOLUTIONS)}", resolution)
    if not text or not text.strip():
        raise InvalidValue("text", "an answer needs a text (what was checked, what changed)", show_value=False)
    if changes and resolution != "corrected":
        raise InvalidValue("resolution", "a value changed with the answer makes the resolution 'corrected'", resolution)
    reason = f"query {query_id} answered ({resolution}): {text.strip()}"
    with study.action(actor, reason, permission="query.respond") as session:
        query, patient = _query(study, session, query_id)
        if query.status != "open":
            raise InvalidValue("query", f"query {query_id} is {query.status}; only an open query is answered",
                               show_value=False)
        row = session.get(CRFInstance, query.crf_instance_id)
        if resolution == "corrected" and not changes and not _changed_since_opened(session, query, row):
            raise InvalidValue("resolution", f"'corrected' says the value of {query.field_id} was changed, and it has not "
                               "been since the query was opened: correct it (with the answer, or before it), or "
                               "answer 'confirmed' or 'other'", show_value=False)
        if changes:
            from sarcotrial.services.forms import _correct_row

            form = study.protocol.form(row.form_id)
            from sarcotrial.protocol.forms import validate_form

            validate_form(study.protocol, row.form_id, changes, partial=True)
            _correct_row(study, session, actor, patient, row, form, changes, {}, None)
        mark_answered(study, session, actor, query, resolution, text)
        session.flush()


def mark_answered(study: StudyDB, session: Session, actor: Actor, query: DataQuery, resolution: str,
                  text: str) -> None:
    """Within an action already checked: the query answered, its answer added to the thread (the
    author as the audit trail names the actor). The caller has checked that it was open."""
    who, _role = _who(study, session, actor)
    query.status = "answered"
    session.add(QueryMessage(query_id=query.id, kind="answer", author=who, at=utcnow(), resolution=resolution,
                             text=text.strip()))


def _changed_since_opened(session: Session, query: DataQuery, row: CRFInstance) -> bool:
    """Whether the queried field's value (or missing-data code) changed after the query was opened:
    the audit trail's entries are ordered, so the field's entry comes after the query's own."""
    from sqlalchemy import func

    from sarcotrial.store.models import AuditEntry

    opened = session.scalar(select(func.min(AuditEntry.id)).where(AuditEntry.table_name == "data_query",
                                                                  AuditEntry.record_id == query.id))
    changed = session.scalar(select(AuditEntry.id).where(
        AuditEntry.table_name == "crf_instance", AuditEntry.record_id == row.id,
        AuditEntry.field.in_((f"data.{query.field_id}", f"missing.{query.field_id}")),
        AuditEntry.id > (opened or 0)).limit(1))
    return changed is not None


def close(study: StudyDB, actor: Actor, query_id: int, text: str | None = None) -> None:
    """Close a query: by the one who opened it, or a data manager (a system query: any monitor or data manager)."""
    with study.action(actor, "query closed", permission="query.close") as session:
        query, _patient = _query(study, session, query_id)
        if query.status == "closed":
            raise InvalidValue("query", f"query {query_id} is already closed", show_value=False)
        who, role = _who(study, session, actor)
        if role is not None and role != "data_manager" and query.opened_by not in (who, SYSTEM):
            raise InvalidValue("query", f"query {query_id} was opened by {query.opened_by}; it is closed by them or by "
                               "a data manager", show_value=False)
        query.status = "closed"
        session.add(QueryMessage(query_id=query.id, kind="close", author=who, at=utcnow(),
                                 text=(text or "").strip() or "closed"))
        session.flush()


def reopen(study: StudyDB, actor: Actor, query_id: int, text: str) -> None:
    """Reopen an answered or closed query when the answer does not satisfy."""
    if not text or not text.strip():
        raise InvalidValue("text", "say why the query is reopened", show_value=False)
    with study.action(actor, f"query {query_id} reopened: {text.strip()}", permission="query.reopen") as session:
        query, _patient = _query(study, session, query_id)
        if query.status == "open":
            raise InvalidValue("query", f"query {query_id} is already open", show_value=False)
        who, _role = _who(study, session, actor)
        query.status = "open"
        session.add(QueryMessage(query_id=query.id, kind="reopen", author=who, at=utcnow(), text=text.strip()))
        session.flush()


def list_queries(study: StudyDB, actor: Actor | None, *, status: str | None = None, subject_id: str | None = None,
                 assigned_to: str | None = None, now: dt.datetime | None = None) -> list[QueryView]:
    """Queries the user may see, with their age and thread, oldest first."""
    if status is not None and status not in STATUSES:
        raise InvalidValue("status", f"must be one of {', '.join(STATUSES)}", status)
    with study.reading(actor) as session:
        return list_queries_in(study, session, status=status, subject_id=subject_id, assigned_to=assigned_to, now=now)


def list_queries_in(study: StudyDB, session: Session, *, status: str | None = None, subject_id: str | None = None,
                    assigned_to: str | None = None, now: dt.datetime | None = None) -> list[QueryView]:
    """:func:`list_queries` within a read already open (the session's principal's sites applied)."""
    if status is not None and status not in STATUSES:
        raise InvalidValue("status", f"must be one of {', '.join(STATUSES)}", status)
    now = now or utcnow()
    query = (select(DataQuery, CRFInstance.form_id, CRFInstance.instance, VisitOccurrence.visit_id,
                    VisitOccurrence.occurrence, Patient.subject_id)
             .join(CRFInstance, CRFInstance.id == DataQuery.crf_instance_id)
             .join(VisitOccurrence, VisitOccurrence.id == CRFInstance.visit_occurrence_id)
             .join(Patient, Patient.id == DataQuery.patient_id).order_by(DataQuery.id))
    visible = study.visible_site_ids(session) if hasattr(study, "visible_site_ids") else None
    if visible is not None:
        query = query.where(Patient.site_id.in_(visible))
    if status:
        query = query.where(DataQuery.status == status)
    if subject_id:
        patient = study.patient(session, subject_id)
        query = query.where(DataQuery.patient_id == patient.id)
    if assigned_to:
        query = query.where(DataQuery.assigned_to == assigned_to)
    found = session.execute(query).all()
    threads: dict[int, list[dict[str, Any]]] = {q.id: [] for q, *_ in found}
    ids = list(threads)
    for start in range(0, len(ids), 500):  # every query's messages at once, in order
        for m in session.scalars(select(QueryMessage).where(QueryMessage.query_id.in_(ids[start:start + 500]))
                                 .order_by(QueryMessage.id)):
            threads[m.query_id].append({"kind": m.kind, "author": m.author, "at": (m.at if m.at.tzinfo else m.at.replace(
                tzinfo=dt.timezone.utc)).isoformat(), "resolution": m.resolution, "text": m.text})
    out = []
    for q, form_id, instance, visit_id, occurrence, subject in found:
        opened = q.opened_at if q.opened_at.tzinfo else q.opened_at.replace(tzinfo=dt.timezone.utc)
        out.append(QueryView(q.id, subject, form_id, visit_id, occurrence, instance,
                             q.field_id, q.status, q.text, q.origin, q.opened_by, opened, q.assigned_to,
                             (now - opened).days, threads[q.id]))
    return out


def visit_label(view: QueryView) -> str:
    return str(VisitRef(view.visit_id, view.occurrence))


# --------------------------------------------------------------------------- the queries listing
#: age buckets of the listing: (label, fewest days, most days or None)
AGE_BUCKETS: dict[str, tuple[str, int, int | None]] = {
    "lt7": ("under 7 days", 0, 6),
    "7to30": ("7 to 30 days", 7, 30),
    "gt30": ("over 30 days", 31, None),
}
LISTING_ORDERS = ("oldest", "newest", "id")


@dataclass(frozen=True)
class QueryRow:
    """A query as the listing shows it: its site, and how long it has been (or was) open."""

    query: QueryView
    site: str
    days_open: int                  # until now, or until it was closed
    closed_at: dt.datetime | None

    @property
    def last(self) -> dict[str, Any] | None:
        return self.query.thread[-1] if self.query.thread else None


def query_listing(study: StudyDB, actor: Actor | None, *, status: str | None = None, site: str | None = None,
                  subject_id: str | None = None, form_id: str | None = None, age: str | None = None,
                  opened_by: str | None = None, order: str = "oldest",
                  now: dt.datetime | None = None) -> list[QueryRow]:
    """:func:`list_queries` with the listing's filters (site, form, age bucket, who opened it) and order
    (``oldest`` open longest first, ``newest``, or ``id``). A closed query's age stops at its closing."""
    if age and age not in AGE_BUCKETS:
        raise InvalidValue("age", f"must be one of {', '.join(AGE_BUCKETS)}", age)
    if order not in LISTING_ORDERS:
        raise InvalidValue("order", f"must be one of {', '.join(LISTING_ORDERS)}", order)
    if form_id and not study.protocol.has_form(form_id):
        raise InvalidValue("form", f"protocol {study.protocol.acronym} has no such form", form_id)
    if status is not None and status not in STATUSES:
        raise InvalidValue("status", f"must be one of {', '.join(STATUSES)}", status)
    now = now or utcnow()
    from sarcotrial.store.models import Site

    with study.reading(actor) as session:
        views = list_queries_in(study, session, status=status, subject_id=subject_id, now=now)
        codes = {s.id: s.code for s in session.scalars(select(Site))}
        subjects = {v.subject for v in views}
        site_of = {p.subject_id: codes.get(p.site_id, "?") for p in session.scalars(
            select(Patient).where(Patient.subject_id.in_(subjects)))} if subjects else {}
    out = []
    for v in views:
        closed_at = None
        if v.status == "closed":
            closes = [m for m in v.thread if m["kind"] == "close"]
            closed_at = dt.datetime.fromisoformat(closes[-1]["at"]) if closes else None
        days = ((closed_at or now) - v.opened_at).days
        row = QueryRow(v, site_of.get(v.subject, "?"), days, closed_at)
        if site and row.site.upper() != site.strip().upper():
            continue
        if form_id and v.form_id != form_id:
            continue
        if opened_by and v.opened_by != opened_by.strip():
            continue
        if age:
            _label, low, high = AGE_BUCKETS[age]
            if days < low or (high is not None and days > high):
                continue
        out.append(row)
    if order == "oldest":
        out.sort(key=lambda r: (-r.days_open, r.query.id))
    elif order == "newest":
        out.sort(key=lambda r: (r.days_open, -r.query.id))
    return out
