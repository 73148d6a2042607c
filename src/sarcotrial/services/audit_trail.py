"""The audit trail as a reviewer reads it: filtered by user, patient, form and time, newest first,
a page at a time, or all of it as CSV; and the hash chain's check.

ICH E6(R3) asks the audit trail to be reviewed (by the sponsor, the monitor, the investigator for
their site's data), and EU GMP Annex 11 §9 that it be "available and convertible to a generally
intelligible form": hence the filters and the CSV. Reading needs the ``audit.read`` permission; a
user limited to sites reads the entries of their sites' patients only (as
:func:`sarcotrial.services.views.audit_entries`). The trail itself keeps only fingerprints of
secrets (encrypted identifiers, password and token hashes), so nothing shown here reveals one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import (
    AuditEntry,
    CRFInstance,
    DataLock,
    DataQuery,
    Patient,
    QueryMessage,
    Signature,
)

PER_PAGE = 50
#: who sees the hash chain's check beside the trail: those answerable for the system (admin) and
#: for the data's integrity (data manager); the check reads the whole trail and every record, so
#: it is not repeated for each reader
VERIFY_ROLES = frozenset({"admin", "data_manager"})
CSV_COLUMNS = ("id", "at", "actor", "source", "action", "table", "record_id", "subject_id", "form_id", "field",
               "old_value", "new_value", "reason", "protocol_version")
#: tables whose rows belong to one CRF instance (its queries, signatures and locks): the trail
#: of a form includes theirs
_BY_CRF = {"data_query": DataQuery, "signature": Signature, "data_lock": DataLock}


@dataclass(frozen=True)
class AuditFilter:
    """What the reader asks for; every part optional."""

    user: str | None = None
    subject: str | None = None
    form: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    @classmethod
    def parse(cls, study: StudyDB, *, user: str | None = None, subject: str | None = None, form: str | None = None,
              since: str | dt.date | None = None, until: str | dt.date | None = None) -> AuditFilter:
        """The filter from what a person typed, or :class:`InvalidValue` naming the field and its rule."""
        user = (user or "").strip() or None
        subject = (subject or "").strip().upper() or None
        form = (form or "").strip() or None
        if form is not None and form not in {f.id for f in study.protocol.forms}:
            raise InvalidValue("form", "must be one of the protocol's forms", form)
        first, last = _date("since", since), _date("until", until)
        if first and last and last < first:
            raise InvalidValue("until", "must be on or after the 'since' date", last.isoformat())
        return cls(user, subject, form, first, last)

    def query(self) -> dict[str, str]:
        """The filter as URL query parameters (empty ones left out)."""
        out = {"user": self.user, "subject": self.subject, "form": self.form,
               "since": self.since.isoformat() if self.since else None,
               "until": self.until.isoformat() if self.until else None}
        return {k: v for k, v in out.items() if v}


def _date(name: str, value: str | dt.date | None) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidValue(name, "must be a date YYYY-MM-DD", value) from None


@dataclass(frozen=True)
class AuditRow:
    """One entry as the reader sees it (``form_id`` for entries of a CRF instance and its queries,
    signatures and locks)."""

    id: int
    at: str
    actor: str
    source: str
    action: str
    table: str
    record_id: int
    subject_id: str | None
    form_id: str | None
    field: str
    old_value: str | None
    new_value: str | None
    reason: str | None
    protocol_version: str | None

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.at)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int
    per_page: int
    filter: AuditFilter


def _filtered(study: StudyDB, session: Session, wanted: AuditFilter):
    query = select(AuditEntry)
    visible = study.visible_site_ids(session)
    if visible is not None:  # a site's user reads the trail of the site's patients, nothing else
        query = query.where(AuditEntry.subject_id.in_(select(Patient.subject_id).where(Patient.site_id.in_(visible))))
    if wanted.user:
        query = query.where(func.lower(AuditEntry.actor) == wanted.user.lower())
    if wanted.subject:
        patient = study.patient(session, wanted.subject)  # another site's patient reads as unknown
        query = query.where(AuditEntry.subject_id == patient.subject_id)
    if wanted.form:
        crfs = select(CRFInstance.id).where(CRFInstance.form_id == wanted.form)
        if wanted.subject:
            crfs = crfs.join(Patient, Patient.id == CRFInstance.patient_id).where(Patient.subject_id == wanted.subject)
        parts = [(AuditEntry.table_name == "crf_instance") & AuditEntry.record_id.in_(crfs)]
        for table, model in _BY_CRF.items():
            parts.append((AuditEntry.table_name == table)
                         & AuditEntry.record_id.in_(select(model.id).where(model.crf_instance_id.in_(crfs))))
        queries = select(DataQuery.id).where(DataQuery.crf_instance_id.in_(crfs))
        parts.append((AuditEntry.table_name == "query_message")
                     & AuditEntry.record_id.in_(select(QueryMessage.id).where(QueryMessage.query_id.in_(queries))))
        query = query.where(or_(*parts))
    if wanted.since:
        query = query.where(AuditEntry.at >= wanted.since.isoformat())
    if wanted.until:
        query = query.where(AuditEntry.at < (wanted.until + dt.timedelta(days=1)).isoformat())
    return query


def _rows(session: Session, entries: list[AuditEntry]) -> list[AuditRow]:
    """The entries with the form each belongs to (looked up for these entries only)."""
    crf_ids: set[int] = {e.record_id for e in entries if e.table_name == "crf_instance"}
    owner: dict[tuple[str, int], int] = {}
    for table, model in _BY_CRF.items():
        ids = [e.record_id for e in entries if e.table_name == table]
        if ids:
            for row_id, crf_id in session.execute(select(model.id, model.crf_instance_id).where(model.id.in_(ids))):
                if crf_id is not None:
                    owner[(table, row_id)] = crf_id
    message_ids = [e.record_id for e in entries if e.table_name == "query_message"]
    if message_ids:
        for row_id, crf_id in session.execute(
                select(QueryMessage.id, DataQuery.crf_instance_id).join(DataQuery, DataQuery.id == QueryMessage.query_id)
                .where(QueryMessage.id.in_(message_ids))):
            owner[("query_message", row_id)] = crf_id
    crf_ids |= set(owner.values())
    forms = {row_id: form_id for row_id, form_id in session.execute(
        select(CRFInstance.id, CRFInstance.form_id).where(CRFInstance.id.in_(crf_ids)))} if crf_ids else {}
    out = []
    for e in entries:
        crf = e.record_id if e.table_name == "crf_instance" else owner.get((e.table_name, e.record_id))
        out.append(AuditRow(e.id, e.at, e.actor, e.actor_source, e.action, e.table_name, e.record_id, e.subject_id,
                            forms.get(crf) if crf is not None else None, e.field, e.old_value, e.new_value, e.reason,
                            e.protocol_version))
    return out


def audit_page(study: StudyDB, actor: Actor | None, wanted: AuditFilter | None = None, *, page: int = 1,
               per_page: int = PER_PAGE) -> AuditPage:
    """One page of the entries matching ``wanted``, newest first, and how many match in all."""
    wanted = wanted or AuditFilter()
    per_page = max(1, min(int(per_page), 1000))
    with study.reading(actor, permission="audit.read") as session:
        query = _filtered(study, session, wanted)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, int(page)), pages)
        entries = session.scalars(query.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page)
                                  .limit(per_page)).all()
        return AuditPage(_rows(session, list(entries)), total, page, pages, per_page, wanted)


def audit_count(study: StudyDB, actor: Actor | None, wanted: AuditFilter | None = None) -> int:
    """How many entries match ``wanted`` (for the reader's sites)."""
    with study.reading(actor, permission="audit.read") as session:
        query = _filtered(study, session, wanted or AuditFilter())
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def audit_rows(study: StudyDB, actor: Actor | None, wanted: AuditFilter | None = None,
               batch: int = 5000) -> Iterator[AuditRow]:
    """Every entry matching ``wanted``, newest first (read in batches)."""
    with study.reading(actor, permission="audit.read") as session:
        query = _filtered(study, session, wanted or AuditFilter())
        last: int | None = None
        while True:
            chunk_query = query if last is None else query.where(AuditEntry.id < last)
            chunk = list(session.scalars(chunk_query.order_by(AuditEntry.id.desc()).limit(batch)).all())
            if not chunk:
                return
            yield from _rows(session, chunk)
            last = chunk[-1].id


def audit_actors(study: StudyDB, actor: Actor | None) -> list[str]:
    """The names that appear in the trail the reader may see (for a filter's choices)."""
    with study.reading(actor, permission="audit.read") as session:
        query = _filtered(study, session, AuditFilter()).with_only_columns(AuditEntry.actor).distinct()
        return sorted(set(session.scalars(query)), key=str.lower)


_FORMULA = re.compile(r"^[=+\-@\t\r]")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is prefixed with ``'`` (OWASP CSV
    injection), numbers are left as they are."""
    text = "" if value is None else str(value)
    if _FORMULA.match(text) and not _NUMBER.match(text):
        return "'" + text
    return text


def audit_csv(study: StudyDB, actor: Actor | None, wanted: AuditFilter | None = None) -> Iterator[str]:
    """The entries matching ``wanted`` as CSV text (a header line, then one line per entry, newest
    first), produced piece by piece."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, row in enumerate(audit_rows(study, actor, wanted), start=1):
        writer.writerow([_cell(getattr(row, "source" if c == "source" else c)) for c in CSV_COLUMNS])
        if n % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def may_verify(actor: Actor | None) -> bool:
    """Whether the trail's page shows this reader the chain's check (:data:`VERIFY_ROLES`)."""
    return actor is not None and actor.role in VERIFY_ROLES


def audit_integrity(study: StudyDB, actor: Actor):
    """``audit verify``'s answer (:func:`sarcotrial.store.audit.verify_chain`) for an admin or a data manager."""
    from sarcotrial.services.views import verify_audit

    with study.reading(actor, permission="audit.read") as session:
        principal = study.principal(session)
        if principal is not None and principal.role is not None and principal.role not in VERIFY_ROLES:
            raise AccessDenied(f"{principal.username} ({principal.role}): the audit trail's check is for "
                               f"{' and '.join(sorted(VERIFY_ROLES))} accounts")
    return verify_audit(study, actor)
