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

Scale: this writes every form through the services, one patient after another: about 10 ms a form on
SQLite (the demo's 50 patients, 1,317 forms: 14 s), so a 10,000-patient registry would take most of an
hour, against the goal of 5 minutes. A bulk path needs: the same checks run on the plan in memory (the
pathway's date order, the derivations, the cross-form checks: the pure rules of ``domain`` already take
values, not sessions), then the rows inserted in batches (``insert(...)`` of many CRF rows at once) with
their audit entries chained in memory and appended once per batch (``store.audit.append_entries``),
each patient's visit schedule planned once after all their anchors rather than after each anchor form,
the flushes per form avoided, and the session emptied (``expunge_all``) between batches to keep memory
flat; a patient refused by a check is then left out of its batch, as here.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.exchange.redcap_import import FormEntry, ImportPlan, PatientPlan, Problem, sort_problems
from sarcotrial.services import access, forms, pathway
from sarcotrial.services.study import INFO_PRINCIPAL, Actor, StudyDB
from sarcotrial.store import audit

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
    transaction (authorised for its own permission, audited with the import's reason)."""

    def __init__(self, study: StudyDB, session: Session, reason: str):
        self._study = study
        self._session = session
        self._reason = reason

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    @contextmanager
    def action(self, actor: Actor, reason: str | None = None, *, permission: str = "record") -> Iterator[Session]:
        session = self._session
        session.info[INFO_PRINCIPAL] = access.authorise(self._study, session, actor, permission)
        session.info[audit.INFO_REASON] = f"{self._reason}; {reason.strip()}" if reason and reason.strip() \
            else self._reason
        yield session

    @contextmanager
    def reading(self, actor: Actor | None = None, *, permission: str = "read") -> Iterator[Session]:
        if actor is not None:
            access.authorise(self._study, self._session, actor, permission)
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
            for done, patient in enumerate(todo):
                tell(done, len(todo), f"record {patient.record}")
                subject, count, problem = _write_in_savepoint(unit, session, actor, patient, plan.variables)
                if problem is None:
                    result.imported[patient.record] = subject
                    result.values += count
                else:
                    result.problems.append(problem)
                    result.skipped.append(patient.record)
            tell(len(todo), len(todo), "done")
            if not result.imported or (len(result.problems) and not accept_partial):
                raise _Rollback
    except _Rollback:
        result.imported, result.values = {}, 0
        result.skipped = [p.record for p in plan.patients]
    else:
        result.written = True
    result.problems = sort_problems(result.problems)
    return result


def _write_in_savepoint(unit: _ImportUnit, session: Session, actor: Actor, patient: PatientPlan,
                        variables: dict[str, str]) -> tuple[str | None, int, Problem | None]:
    """One patient in a savepoint: written whole, or rolled back with the refusal as a problem of the report
    (the field named by their variable where the refusal names a protocol field)."""
    where = _Where(patient)
    try:
        with session.begin_nested():
            subject, count = _write_patient(unit, actor, patient, where)
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
