"""The write side of imports: an import plan written into a study through the services, audited.

:func:`write_plan` writes the patients of an :class:`~sarcotrial.exchange.redcap_import.ImportPlan`
the way a user's actions would, through the same services (so the same checks judge them):
:func:`pathway.register_patient` with the identifiers and the referral, :func:`pathway.screen` for
each screening, the consent forms, :func:`pathway.enrol`, then each form with
:func:`forms.record` (at its visit and instance) in the pathway's order. A service's refusal
(a date out of the pathway's order, a value the rules refuse, a form the schedule has no place for)
is a problem of the validation report for that record.

Units of work: the whole import is one transaction, and each patient a savepoint in it, so that a
patient is all or nothing, and without ``accept_partial`` nothing at all is written when any record
has a problem (the transaction is rolled back after every record has been tried, so the report
names every problem at once). The services open their own action each (``study.action``); during
an import they run on :class:`_ImportUnit`, a view of the study whose actions join the import's
transaction instead (authorised each for its own permission). Every row written is audited with the
acting user and, as the reason, the source file's name and SHA-256 (``ImportPlan.audit_reason``).

Scale (``bench/registry.py``, docs/benchmarks/registry.md): every value still goes through the
services, so every check, derivation and audit entry is theirs; what a bulk import need not repeat is
not repeated. The audit entries are chained in memory as each flush makes them and appended a few
thousand at once, with the chain's head (``store.audit.begin_batch`` / ``write_batch``: the same
entries, in the same order and with the same ids, as flush by flush; a test compares them); a patient
rolled back to its savepoint takes its held entries with it (``discard_batch`` to the patient's mark).
The principal of each permission, each site, the patient being written, the number of patients and the
active data locks are looked up once (:class:`_ImportUnit`, ``forms.INFO_ACTIVE_LOCKS``), not for every
form. What remains is the services' own work, about 7 ms a form on SQLite. Further gains would need the
services' pathway reads (the patient's forms, enrolment, signatures, deviations, visits) kept for the
patient across its forms, rather than read again by each form.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.exchange.redcap_import import FormEntry, ImportPlan, PatientPlan, Problem, sort_problems
from sarcotrial.services import access, forms, pathway
from sarcotrial.services.study import INFO_PRINCIPAL, Actor, StudyDB
from sarcotrial.store import audit
from sarcotrial.store.models import DataLock, Patient

#: audit entries held in memory before they are appended (a few thousand rows: one statement per 1,000)
BATCH_ENTRIES = 5000
#: forms written after every other, in this order (their date decides nothing the others need)
LAST_FORMS = ("withdrawal", "end_of_study")


@dataclass
class ImportResult:
    """What an import did: the records written (REDCap record -> subject id), those held back, the report."""

    imported: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    written: bool = False
    values: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "imported": self.imported, "skipped": self.skipped, "values": self.values,
                "problems": [p.as_dict() for p in self.problems]}


class _Rollback(Exception):
    """Ends the import's transaction without writing (the report has problems)."""


class _ImportUnit:
    """The study as the services see it during an import: each of their actions joins the import's
    transaction (authorised for its own permission, audited with the import's reason).

    The import holds the study's write lock from its start to its commit, so nothing but the import
    changes the study meanwhile: the unit answers again what it has looked up once (the principal of each
    permission, each site, the patient being written, the number of patients for the next subject id;
    :func:`write_plan` reads the active data locks once too) instead of asking the database for every
    form. :meth:`forget` drops what a rolled-back patient may have left in these answers.
    ``remember = False`` asks the database every time."""

    remember = True

    def __init__(self, study: StudyDB, session: Session, reason: str):
        self._study = study
        self._session = session
        self._reason = reason
        self._principals: dict[tuple[int, str], Any] = {}
        self._sites: dict[str, Any] = {}
        self._patients: dict[str, Any] = {}
        self._count: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def forget(self, *, rolled_back: bool = False) -> None:
        """Between patients: the patient written is no longer asked for; after a rollback, the number of
        patients is counted again."""
        self._patients.clear()
        if rolled_back:
            self._count = None

    def patient(self, session: Session, subject_id: str) -> Any:
        """:meth:`StudyDB.patient`, asked once per patient being written."""
        key = subject_id.strip().upper()
        if not self.remember or key not in self._patients:
            self._patients[key] = self._study.patient(session, subject_id)
        return self._patients[key]

    def site(self, session: Session, code: str) -> Any:
        """:meth:`StudyDB.site`, asked once per site (a refusal is asked again, and refused again)."""
        key = code.strip().upper()
        if not self.remember or key not in self._sites:
            self._sites[key] = self._study.site(session, code)
        return self._sites[key]

    def next_subject_id(self, session: Session) -> str:
        """:meth:`StudyDB.next_subject_id` from the number of patients counted once, then one more for each
        registration (a registration rolled back makes the unit count again: :meth:`forget`)."""
        if not self.remember:
            return self._study.next_subject_id(session)
        if self._count is None:
            self._count = int(session.scalar(select(func.count(Patient.id))) or 0)
        self._count += 1
        return f"{self.protocol.identification.subject_id_prefix}-{self._count:03d}"

    def _authorise(self, actor: Actor, permission: str) -> Any:
        """The actor's principal for a permission, checked once per import (one transaction: the account,
        its role and its sites cannot change under it)."""
        key = (id(actor), permission)
        if key not in self._principals:
            self._principals[key] = access.authorise(self._study, self._session, actor, permission)
        return self._principals[key]

    @contextmanager
    def action(self, actor: Actor, reason: str | None = None, *, permission: str = "record") -> Iterator[Session]:
        session = self._session
        session.info[INFO_PRINCIPAL] = self._authorise(actor, permission)
        session.info[audit.INFO_REASON] = f"{self._reason}; {reason.strip()}" if reason and reason.strip() \
            else self._reason
        yield session

    @contextmanager
    def reading(self, actor: Actor | None = None, *, permission: str = "read") -> Iterator[Session]:
        if actor is not None:
            self._authorise(actor, permission)
        yield self._session


def write_plan(study: StudyDB, actor: Actor, plan: ImportPlan, *, accept_partial: bool = False,
               progress: Callable[[int, int, str], None] | None = None) -> ImportResult:
    """Write the plan's patients (see the module docstring). Without ``accept_partial`` nothing is written
    unless every record imports; with it, every record without a problem is written."""
    result = ImportResult(problems=sort_problems(plan.problems))
    bad = plan.bad_records
    todo = [] if plan.fatal else [p for p in plan.patients if p.record not in bad]
    result.skipped = [p.record for p in plan.patients if p.record in bad or plan.fatal]
    if not todo:
        return result
    study.cipher()  # the key, read before the transaction opens
    tell = progress or (lambda done, total, message: None)
    try:
        with study.action(actor, plan.audit_reason, permission="patient.register") as session:
            unit = _ImportUnit(study, session, plan.audit_reason)
            audit.begin_batch(session)
            _read_locks_once(session)
            try:
                for done, patient in enumerate(todo):
                    tell(done, len(todo), f"record {patient.record}")
                    subject, count, problem = _write_in_savepoint(unit, session, actor, patient, plan.variables)
                    if audit.held(session) >= BATCH_ENTRIES:
                        audit.write_batch(session)
                    if problem is None:
                        result.imported[patient.record] = subject
                        result.values += count
                    else:
                        result.problems.append(problem)
                        result.skipped.append(patient.record)
                tell(len(todo), len(todo), "done")
                if not result.imported or (len(result.problems) and not accept_partial):
                    raise _Rollback
                audit.write_batch(session)
            except BaseException:
                audit.discard_batch(session)
                raise
            finally:
                audit.end_batch(session)
                session.info.pop(forms.INFO_ACTIVE_LOCKS, None)
    except _Rollback:
        result.imported, result.values = {}, 0
        result.skipped = [p.record for p in plan.patients]
    else:
        result.written = True
    result.problems = sort_problems(result.problems)
    return result


def _read_locks_once(session: Session) -> None:
    """The active data locks, read once for the whole import (it holds the write lock and never locks or
    unlocks, so none can change under it); ``forms.active_lock`` judges each write against them."""
    if _ImportUnit.remember:
        session.info[forms.INFO_ACTIVE_LOCKS] = list(session.scalars(select(DataLock).where(DataLock.active.is_(True))))


def _write_in_savepoint(unit: _ImportUnit, session: Session, actor: Actor, patient: PatientPlan,
                        variables: dict[str, str]) -> tuple[str | None, int, Problem | None]:
    """One patient in a savepoint: written whole, or rolled back with the refusal as a problem of the report
    (the field named by their variable where the refusal names a protocol field)."""
    where = _Where(patient)
    unit.forget()
    mark = audit.batch_mark(session)
    try:
        with session.begin_nested():
            subject, count = _write_patient(unit, actor, patient, where)
            session.flush()  # the patient's last changes, and their audit entries held, inside its savepoint
        return subject, count, None
    except InvalidValue as exc:
        row, name = where.row, _field(exc.field, where)
        name = variables.get(name or "", name)
        if exc.field in patient.sources:  # a pathway value (the site, an identifier): the row it came from
            row, name = patient.sources[exc.field]
        problem = Problem(str(row), patient.record, name, _text(exc.value), exc.rule)
    except AccessDenied as exc:  # a site the user does not work at (the role was checked when the import began)
        row, name = patient.sources.get("site", (where.row, where.what))
        problem = Problem(str(row), patient.record, name, patient.site, str(exc))
    except IntegrityError as exc:
        problem = Problem(str(where.row), patient.record, where.what, None,
                          f"conflicts with data already stored ({str(exc.orig).splitlines()[0][:160]})")
    session.info.pop("_audit_subjects", None)  # the audit's cache of subject ids may hold a rolled-back one
    audit.discard_batch(session, mark)  # the entries of the rolled-back rows
    unit.forget(rolled_back=True)
    return None, 0, problem


@dataclass
class _Where:
    """The row being written, for a refusal's line in the report."""

    patient: PatientPlan
    row: int = 0
    what: str | None = None

    def at(self, row: int, what: str | None) -> None:
        self.row, self.what = row, what


def _field(name: str | None, where: _Where) -> str | None:
    if not name or name in ("record", "patient", "lock"):
        return where.what
    return name


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def _write_patient(unit: _ImportUnit, actor: Actor, p: PatientPlan, where: _Where) -> tuple[str, int]:
    protocol = unit.protocol
    ids = p.identifiers
    where.at(p.referral.row if p.referral else p.first_row, "referral")
    kwargs = {"site_code": p.site} if p.site else {}
    registered = pathway.register_patient(
        unit, actor, identifiers=pathway.Identifiers(ids["full_name"], ids["date_of_birth"], ids["hospital_number"]),
        sex=p.sex, referral=p.referral.values if p.referral else {}, **kwargs)
    subject = registered.subject_id
    count = len(ids) + 1 + (len(p.referral.values) if p.referral else 0)
    for entry in sorted(p.screenings, key=_screening_order):
        where.at(entry.row, protocol.eligibility.form)
        pathway.screen(unit, actor, subject, entry.values)
        count += len(entry.values)
    consent = protocol.consent.form if protocol.consent is not None else None
    ordered = order_forms(protocol, p.forms)
    unscheduled = [1]  # the patient's last unscheduled visit
    for entry in [e for e in ordered if e.form_id == consent]:
        count += _record(unit, actor, subject, entry, where, unscheduled)
    if p.enrolment_date is not None:
        where.at(p.sources["enrolment_date"][0], p.sources["enrolment_date"][1])
        pathway.enrol(unit, actor, subject, p.enrolment_date)
        count += 1
    for entry in [e for e in ordered if e.form_id != consent]:
        count += _record(unit, actor, subject, entry, where, unscheduled)
    return subject, count


def _record(unit: _ImportUnit, actor: Actor, subject: str, entry: FormEntry, where: _Where,
            unscheduled: list[int]) -> int:
    where.at(entry.row, entry.form_id)
    _unscheduled_visit(unit, actor, subject, entry, unscheduled)
    reason = "missing-data code as recorded in the source" if entry.missing else None
    forms.record(unit, actor, subject, entry.form_id, entry.values, visit=entry.visit, instance=entry.instance,
                 missing=entry.missing or None, reason=reason)
    return len(entry.values) + len(entry.missing)


def _unscheduled_visit(unit: _ImportUnit, actor: Actor, subject: str, entry: FormEntry, last: list[int]) -> None:
    """A form of the unscheduled visit N > 1: the visits up to N are added first (``add_unscheduled_visit``),
    dated by the form's first date (the source keeps no date of the visit itself)."""
    from sarcotrial.domain.crf import UNSCHEDULED, parse_visit_ref
    from sarcotrial.services.visits import add_unscheduled_visit

    if not entry.visit or not entry.visit.startswith(UNSCHEDULED):
        return
    wanted = parse_visit_ref(entry.visit).occurrence
    day = key_date(unit.protocol, entry)
    while last[0] < wanted and day is not None:
        last[0] = parse_visit_ref(add_unscheduled_visit(unit, actor, subject, day)).occurrence


def key_date(protocol, entry: FormEntry) -> dt.date | None:
    """A form entry's first date (the date the schedule would place it by)."""
    for fld in protocol.form(entry.form_id).fields:
        value = entry.values.get(fld.id)
        if fld.type in ("date", "datetime") and value is not None:
            return value.date() if isinstance(value, dt.datetime) else value
    return None


def _screening_order(entry: FormEntry) -> tuple:
    day = entry.values.get("screening_date")
    return (day or dt.date.max, entry.row)


def order_forms(protocol, entries: list[FormEntry]) -> list[FormEntry]:
    """The pathway's order: the forms in the protocol's order of forms (so that a form's anchors are recorded
    before it: the course before its fractions, the fractions before the adverse events whose phase they
    decide, surgery before pathology and before the wound checks and follow-ups it anchors), each form's
    instances by their instance number, else in the order of the rows (which keeps each visit's instance
    numbers); withdrawal and end of study last, by date, as the source entered them after the data they
    close (a form dated after a withdrawal, entered before it, is accepted on entry too). The hard checks
    of the pathway's date order run on every write whatever the order."""
    rank = {f.id: i for i, f in enumerate(protocol.forms)}

    def order(entry: FormEntry) -> tuple:
        if entry.form_id in LAST_FORMS:
            return (1, LAST_FORMS.index(entry.form_id), key_date(protocol, entry) or dt.date.max, entry.row)
        return (0, rank.get(entry.form_id, 99), entry.instance or 0, entry.row)

    return sorted(entries, key=order)
