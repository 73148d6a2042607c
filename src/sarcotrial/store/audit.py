"""The audit trail: who changed what, when, from which value to which, and why.

What GCP asks (ICH E6(R3) 4.2 / EU GMP Annex 11 §9, FDA 21 CFR 11.10(e)): every creation,
change and deletion of study data leaves a computer-generated, time-stamped entry naming the
person, the record and field, the old and the new value, and, for a change to data already
entered, the reason. Entries are never changed or removed.

How: the audit is not left to each service to remember. SQLAlchemy session events watch every
flush: ``before_flush`` refuses a change or deletion without a reason, and stamps new rows with
the protocol version; ``after_flush`` writes one :class:`AuditEntry` per field of every created,
updated or deleted :class:`StudyRecord`, in the same transaction as the change itself (so a
rolled-back action leaves no entry, and no change goes unrecorded).

Each entry carries the SHA-256 of its own content and of the entry before it, so an edited,
inserted or deleted entry breaks the chain; :class:`AuditHead` holds the last entry so that
entries cut from the end are noticed too. The database refuses UPDATE and DELETE on the audit
table (triggers, created by the migrations); the chain catches whoever bypasses that.
Writers are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the head row is locked
``FOR UPDATE``), so concurrent users extend one chain, never fork it. A bulk write (an import) may
hold a session's entries in memory between flushes (:func:`begin_batch`): they are chained the same
way and appended together, in the same transaction, by :func:`write_batch`.

This is hand-written because no maintained library does a field-level, hash-chained audit for
SQLAlchemy (SQLAlchemy-Continuum keeps versions of rows, not a verifiable chain).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Iterator

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session

from sarcotrial.errors import InvalidValue
from sarcotrial.store.models import AuditEntry, AuditHead, Patient, StudyRecord

GENESIS = "0" * 64
HEAD_ID = 1

# keys of Session.info set by the service layer for each user action
INFO_ACTOR = "audit_actor"
INFO_SOURCE = "audit_actor_source"
INFO_REASON = "audit_reason"
INFO_PROTOCOL_VERSION = "protocol_version"
WORKFLOW_REASON = "workflow: follows from the recorded action"


# --------------------------------------------------------------------------- values and hashes
def audit_value(value: Any) -> str | None:
    """The text an entry keeps for a value: ISO dates (moments in UTC), JSON for structures, ``None`` for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # a moment is kept in UTC without its offset: SQLite hands back what PostgreSQL hands back aware
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


def secret_fingerprint(value: Any) -> str | None:
    """What the trail keeps of an encrypted identifier: the fact of a change, not the value."""
    if value is None:
        return None
    return "[encrypted:" + hashlib.sha256(str(value).encode()).hexdigest()[:12] + "]"


ENTRY_FIELDS = (
    "id", "at", "actor", "actor_source", "action", "table_name", "record_id", "subject_id",
    "field", "old_value", "new_value", "reason", "protocol_version", "prev_hash",
)


def entry_hash(entry: dict[str, Any] | AuditEntry) -> str:
    """SHA-256 of an entry's content and its predecessor's hash (canonical JSON)."""
    if not isinstance(entry, dict):
        entry = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    payload = json.dumps([entry[name] for name in ENTRY_FIELDS], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- capture
@dataclass
class _Change:
    action: str
    obj: StudyRecord
    fields: list[tuple[str, Any, Any]]


def _column_keys(obj: StudyRecord) -> list[str]:
    return [c.key for c in inspect(type(obj)).column_attrs if c.key not in obj.audit_exclude]


def _expand(obj: StudyRecord, key: str, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """One (field, old, new) per value that differs: a keyed JSON column gives one per key (``data.size_cm``)."""
    if key in obj.audit_keyed:
        old, new = old or {}, new or {}
        return [(f"{key}.{k}", old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                if audit_value(old.get(k)) != audit_value(new.get(k))]
    if audit_value(old) != audit_value(new):
        return [(key, old, new)]
    return []


def _changes(session: Session) -> list[_Change]:
    changes: list[_Change] = []
    for obj in session.new:
        if isinstance(obj, StudyRecord):
            fields = [f for k in _column_keys(obj) for f in _expand(obj, k, None, getattr(obj, k))]
            changes.append(_Change("create", obj, fields))
    for obj in session.dirty:
        if isinstance(obj, StudyRecord) and session.is_modified(obj, include_collections=False):
            state = inspect(obj)
            fields = []
            for key in _column_keys(obj):
                hist = state.attrs[key].history
                if hist.has_changes():
                    old = hist.deleted[0] if hist.deleted else None
                    new = hist.added[0] if hist.added else None
                    fields.extend(_expand(obj, key, old, new))
            if fields:
                changes.append(_Change("update", obj, fields))
    for obj in session.deleted:
        if isinstance(obj, StudyRecord):
            state = inspect(obj)
            fields = []
            for key in _column_keys(obj):
                hist = state.attrs[key].history
                old = (hist.unchanged or hist.deleted or [None])[0]
                fields.extend(_expand(obj, key, old, None))
            changes.append(_Change("delete", obj, fields))
    return changes


def is_workflow(obj: StudyRecord, name: str) -> bool:
    """A value the system moves as a consequence of an action (no user reason asked)."""
    return name in obj.audit_workflow or name.split(".", 1)[0] in obj.audit_workflow


def needs_reason(obj: StudyRecord, name: str, old: Any) -> bool:
    """Changing a value already entered needs a reason; entering a value for the first time does not
    (a key of a form's data that was empty), nor does a value the system moves."""
    if is_workflow(obj, name):
        return False
    if "." in name and old is None:
        return False
    return True


def _before_flush(session: Session, flush_context, instances) -> None:
    version = session.info.get(INFO_PROTOCOL_VERSION)
    for obj in session.new:
        if isinstance(obj, StudyRecord) and obj.protocol_version is None:
            if version is None:
                raise InvalidValue("protocol_version", "study data can only be written inside a study action")
            obj.protocol_version = version
    touched = [c for c in _changes(session) if c.action == "delete" or (
        c.action == "update" and any(needs_reason(c.obj, name, old) for name, old, _ in c.fields))]
    if touched and not (session.info.get(INFO_REASON) or "").strip():
        first = touched[0]
        raise InvalidValue(
            "reason",
            f"a reason is required to {first.action} data already entered "
            f"({first.obj.__tablename__} #{first.obj.id})",
            show_value=False,
        )
    if any(isinstance(o, StudyRecord) for o in (*session.new, *session.dirty, *session.deleted)):
        if not session.info.get(INFO_ACTOR):
            raise InvalidValue("user", "every change to study data must name the person making it")



def _subject_id(session: Session, obj: StudyRecord, cache: dict[int, str]) -> str | None:
    if isinstance(obj, Patient):
        return obj.subject_id
    patient_id = getattr(obj, "patient_id", None)
    for key, table in (("screening_id", "screening"), ("query_id", "data_query")):  # known through their parent
        if patient_id is None and getattr(obj, key, None) is not None:
            parent = obj.metadata.tables[table]
            patient_id = session.connection().execute(
                select(parent.c.patient_id).where(parent.c.id == getattr(obj, key))).scalar_one_or_none()
    if patient_id is None:
        return None
    if patient_id not in cache:
        known = session.identity_map.get(session.identity_key(Patient, patient_id))
        if known is not None and "subject_id" in known.__dict__:  # the patient as this session holds it
            cache[patient_id] = known.subject_id
        else:
            cache[patient_id] = session.connection().execute(
                select(Patient.subject_id).where(Patient.id == patient_id)
            ).scalar_one_or_none()
    return cache[patient_id]


def _after_flush(session: Session, flush_context) -> None:
    # Read after the flush: new rows have their ids and the foreign keys their relationships set,
    # while SQLAlchemy still shows the pre-flush new/dirty/deleted lists and attribute history.
    pending = _changes(session)
    if not pending:
        return
    connection = session.connection()
    batch: AuditBatch | None = session.info.get(INFO_BATCH)
    if batch is not None and batch.head is not None:  # the chain's end as this batch left it
        head, (last_id, last_hash) = True, batch.head
    else:
        head_query = select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
        if connection.dialect.name == "postgresql":
            head_query = head_query.with_for_update()
        head = connection.execute(head_query).first()
        last_id, last_hash = (head.last_id, head.last_hash) if head else (0, GENESIS)
        if batch is not None:
            batch.head_stored = head is not None
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    actor = session.info[INFO_ACTOR]
    source = session.info.get(INFO_SOURCE, "unknown")
    reason = session.info.get(INFO_REASON) or None
    version = session.info.get(INFO_PROTOCOL_VERSION)
    cache: dict[int, str] = session.info.setdefault("_audit_subjects", {})
    rows = []
    for change in pending:
        obj = change.obj
        subject = _subject_id(session, obj, cache)
        for key, old, new in change.fields:
            if key in obj.audit_secret:
                old_text, new_text = secret_fingerprint(old), secret_fingerprint(new)
            else:
                old_text, new_text = audit_value(old), audit_value(new)
            last_id += 1
            entry_reason = reason
            if change.action == "update" and is_workflow(obj, key) and not reason:
                entry_reason = WORKFLOW_REASON
            row = {
                "id": last_id, "at": now, "actor": actor, "actor_source": source, "action": change.action,
                "table_name": obj.__tablename__, "record_id": obj.id, "subject_id": subject, "field": key,
                "old_value": old_text, "new_value": new_text,
                "reason": entry_reason,
                "protocol_version": getattr(obj, "protocol_version", None) or version, "prev_hash": last_hash,
            }
            row["hash"] = last_hash = entry_hash(row)
            rows.append(row)
    if not rows:
        return
    if batch is not None:  # held until write_batch, in this transaction
        batch.rows.extend(rows)
        batch.head = (last_id, last_hash)
        return
    connection.execute(insert(AuditEntry), rows)
    if head is None:
        connection.execute(insert(AuditHead).values(id=HEAD_ID, last_id=last_id, last_hash=last_hash))
    else:
        connection.execute(
            update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_id=last_id, last_hash=last_hash)
        )


# --------------------------------------------------------------------------- batches (bulk writes)
INFO_BATCH = "audit_batch"


@dataclass
class AuditBatch:
    """Entries of a bulk write held in memory between flushes: each flush chains its entries exactly as
    it would write them (same ids, hashes, times), and :func:`write_batch` appends them at once with the
    head, in the same transaction, before it commits. ``head`` is the chain's end as the batch left it
    (``None``: read it from the database at the next flush)."""

    rows: list[dict[str, Any]]
    head: tuple[int, str] | None = None
    head_stored: bool = True


def begin_batch(session: Session) -> AuditBatch:
    """Hold the session's audit entries in memory until :func:`write_batch` (for an import's many writes)."""
    batch = AuditBatch(rows=[])
    session.info[INFO_BATCH] = batch
    return batch


def held(session: Session) -> int:
    """How many entries the session's batch holds (0 without a batch)."""
    batch: AuditBatch | None = session.info.get(INFO_BATCH)
    return 0 if batch is None else len(batch.rows)


def write_batch(session: Session) -> int:
    """Flush the session and append the entries held so far, then the head; returns how many were written."""
    session.flush()
    batch: AuditBatch | None = session.info.get(INFO_BATCH)
    if batch is None or not batch.rows:
        return 0
    connection = session.connection()
    rows, batch.rows = batch.rows, []
    for start in range(0, len(rows), 1000):
        connection.execute(insert(AuditEntry), rows[start:start + 1000])
    last_id, last_hash = rows[-1]["id"], rows[-1]["hash"]
    if batch.head_stored:
        connection.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_id=last_id, last_hash=last_hash))
    else:
        connection.execute(insert(AuditHead).values(id=HEAD_ID, last_id=last_id, last_hash=last_hash))
        batch.head_stored = True
    return len(rows)


def batch_mark(session: Session) -> tuple[int, tuple[int, str] | None] | None:
    """Where the batch stands (entries held, chain's end): taken before a savepoint, for :func:`discard_batch`."""
    batch: AuditBatch | None = session.info.get(INFO_BATCH)
    return None if batch is None else (len(batch.rows), batch.head)


def discard_batch(session: Session, mark: tuple[int, tuple[int, str] | None] | None = None) -> None:
    """Forget the entries held since ``mark`` (their changes were rolled back with a savepoint), all of them
    without a mark; the chain's end goes back to the mark's (none: read from the database at the next flush)."""
    batch: AuditBatch | None = session.info.get(INFO_BATCH)
    if batch is None:
        return
    if mark is None:
        batch.rows, batch.head = [], None
    else:
        del batch.rows[mark[0]:]
        batch.head = mark[1]


def end_batch(session: Session) -> None:
    """Back to writing each flush's entries at once (the entries held must have been written or discarded)."""
    batch: AuditBatch | None = session.info.pop(INFO_BATCH, None)
    if batch is not None and batch.rows:
        raise RuntimeError("audit entries held by a batch were neither written nor discarded")


def append_entries(connection, entries: list[dict[str, Any]]) -> int:
    """Append entries to the chain outside a session: for a schema migration that moves data, so the
    trail records the move (each entry: at, actor, actor_source, action, table_name, record_id,
    subject_id, field, old_value, new_value, reason, protocol_version). Returns how many were written."""
    if not entries:
        return 0
    head = connection.execute(select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)).first()
    last_id, last_hash = (head.last_id, head.last_hash) if head else (0, GENESIS)
    rows = []
    for entry in entries:
        last_id += 1
        row = {**entry, "id": last_id, "prev_hash": last_hash}
        row["hash"] = last_hash = entry_hash(row)
        rows.append(row)
    for start in range(0, len(rows), 1000):
        connection.execute(insert(AuditEntry), rows[start:start + 1000])
    if head is None:
        connection.execute(insert(AuditHead).values(id=HEAD_ID, last_id=last_id, last_hash=last_hash))
    else:
        connection.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_id=last_id, last_hash=last_hash))
    return len(rows)


class AuditedSession(Session):
    """The only session class SarcoTrial writes study data with: the audit hooks are on the class
    itself, registered once at import, so no session can be made without them."""


event.listen(AuditedSession, "before_flush", _before_flush)
event.listen(AuditedSession, "after_flush", _after_flush)


# --------------------------------------------------------------------------- verification
@dataclass(frozen=True)
class AuditProblem:
    entry_id: int | None
    problem: str

    def __str__(self) -> str:
        return f"entry {self.entry_id}: {self.problem}" if self.entry_id is not None else self.problem


@dataclass(frozen=True)
class AuditReport:
    entries: int
    head_hash: str
    problems: list[AuditProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe(entry: AuditEntry) -> str:
    who = f" of {entry.subject_id}" if entry.subject_id else ""
    return f"({entry.action} {entry.table_name} #{entry.record_id}{who}, field {entry.field}, by {entry.actor} at {entry.at})"


def iter_entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        chunk = session.scalars(select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)).all()
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].id


def verify_chain(session: Session, expect_head: str | None = None, progress=None) -> AuditReport:
    """Recompute the chain, then replay it against the data.

    The chain names every edited or deleted entry and every gap where entries were removed; the
    replay names every study record whose values differ from what the trail says they are (a
    change made around SarcoTrial, straight in the database), every record the trail never saw
    created, and every record deleted without the trail knowing. ``expect_head`` (a hash, or at
    least its first 12 characters, recorded earlier outside the database) must still be in the
    chain: that catches a trail cut short and its head rewritten.
    """
    problems: list[AuditProblem] = []
    expected_id, prev_hash, count = 1, GENESIS, 0
    state: dict[tuple[str, int], dict[str, str | None]] = {}
    anchor_found = expect_head is None
    for entry in iter_entries(session):
        count += 1
        if progress is not None:
            progress(1)
        if entry.id != expected_id:
            problems.append(AuditProblem(
                entry.id, f"entries {expected_id} to {entry.id - 1} are missing (deleted from the trail)"
                if entry.id > expected_id else "appears out of sequence"))
        if entry.prev_hash != prev_hash:
            if entry.id == expected_id:
                problems.append(AuditProblem(entry.id, "does not follow from the entry before it (chain broken)"))
        recomputed = entry_hash(entry)
        if recomputed != entry.hash:
            problems.append(AuditProblem(entry.id, f"was edited after it was written {_describe(entry)}"))
        if not anchor_found and entry.hash.startswith(expect_head):
            anchor_found = True
        key = (entry.table_name, entry.record_id)
        if entry.action == "create":
            state.setdefault(key, {})[entry.field] = entry.new_value
        elif entry.action == "update":
            state.setdefault(key, {})[entry.field] = entry.new_value
        elif entry.action == "delete":
            state.pop(key, None)
        expected_id, prev_hash = entry.id + 1, entry.hash
    head = session.get(AuditHead, HEAD_ID)
    last_id, last_hash = expected_id - 1, prev_hash
    if head is None:
        if count:
            problems.append(AuditProblem(None, "the chain head record is missing"))
    else:
        if head.last_id > last_id:
            problems.append(AuditProblem(
                None, f"entries {last_id + 1} to {head.last_id} were cut from the end of the trail"))
        elif head.last_id < last_id or head.last_hash != last_hash:
            problems.append(AuditProblem(None, "the chain head does not match the last entry (head or last entry altered)"))
    if not anchor_found:
        problems.append(AuditProblem(None, f"the recorded head {expect_head[:16]}... is no longer in the chain "
                                           "(entries were cut, or the chain was rewritten)"))
    problems.extend(_replay(session, state))
    return AuditReport(entries=count, head_hash=last_hash, problems=problems)


def _current_values(row: StudyRecord, expected: dict[str, str | None]) -> Iterator[tuple[str, Any]]:
    """Every audited value of a record as the trail names it; keyed JSON columns key by key (the keys
    the record holds and those the trail says it should hold)."""
    for name in _column_keys(row):
        value = getattr(row, name)
        if name in row.audit_keyed:
            value = value or {}
            keys = set(value) | {k.split(".", 1)[1] for k in expected if k.startswith(name + ".")}
            for k in sorted(keys):
                yield f"{name}.{k}", value.get(k)
        else:
            yield name, value


def _replay(session: Session, state: dict[tuple[str, int], dict[str, str | None]]) -> list[AuditProblem]:
    """Compare every audited record with the values the trail says it holds."""
    from sarcotrial.store.models import audited_models

    problems: list[AuditProblem] = []
    seen: set[tuple[str, int]] = set()
    for model in audited_models():
        table = model.__tablename__
        for row in session.scalars(select(model).order_by(model.id)):
            key = (table, row.id)
            seen.add(key)
            if key not in state:
                problems.append(AuditProblem(None, f"{table} #{row.id} is not in the audit trail (written around SarcoTrial)"))
                continue
            expected = state[key]
            for name, value in _current_values(row, expected):
                actual = secret_fingerprint(value) if name in row.audit_secret else audit_value(value)
                if actual != expected.get(name):
                    shown = "[encrypted]" if name in row.audit_secret else repr(actual)
                    was = "[encrypted]" if name in row.audit_secret else repr(expected.get(name))
                    problems.append(AuditProblem(None, f"{table} #{row.id} field {name} holds {shown} but the audit "
                                                       f"trail's last value is {was} (changed around SarcoTrial)"))
    for key in sorted(set(state) - seen):
        problems.append(AuditProblem(None, f"{key[0]} #{key[1]} is missing from the database but the audit trail "
                                           "never recorded its deletion (deleted around SarcoTrial)"))
    return problems
