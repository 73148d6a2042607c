"""The read side of exports: one snapshot of the study at an export level, checked and audited.

``sarcotrial export FORMAT`` asks here for what it may write: :func:`export_snapshot` checks the
acting user's export permission and right for the level inside the unit of work, reads the patients
of the user's sites with the forms asked for, and applies the level, so the format writers
(``sarcotrial.exchange``) never see more than they may write:

- *pseudonymised* (default): subject ids only, no name, date of birth or hospital number (the age at
  enrolment instead), and no field the protocol marks ``identifying: true``;
- *deidentified*: also each patient's dates shifted by one offset of their own (1-180 days either
  way, derived from the study key and the subject id, so it is stored nowhere and the unit, holding
  the key, can reverse it: :func:`date_offset`), ages over 89 given as 90 ("90 or older", HIPAA
  Safe Harbor, 45 CFR 164.514(b)(2)(i)(C)), and no free text; with ``intervals`` (tables only) dates
  are instead whole days from enrolment;
- *identified*: the identifiers added (full name, date of birth, hospital number), for accounts whose
  export right is ``full``.

:func:`record_export` then stores the export (format, level, forms, patients, the manifest's
checksum) as an audited record of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import select

from sarcotrial.domain.pathway import age_on
from sarcotrial.errors import InvalidValue, SarcoTrialError
from sarcotrial.protocol import Protocol
from sarcotrial.services import access
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.services.views import PatientRecord, load_patients
from sarcotrial.store.models import AuditEntry, DataExport, IdentifierAccess, Patient, PatientIdentifier

#: export levels, narrowest last; each needs the export right named beside it (``domain.access``)
LEVELS: dict[str, str] = {"identified": "full", "pseudonymised": "pseudonymised", "deidentified": "deidentified"}
#: ages above this are given as AGE_CAP in a de-identified export (HIPAA Safe Harbor: ages over 89)
AGE_LIMIT = 89
AGE_CAP = 90


@dataclass
class ExportCRF:
    """A CRF instance as an export gives it: its place and its values at the export's level."""

    form_id: str
    visit_id: str
    occurrence: int
    instance: int
    status: str
    protocol_version: str
    values: dict[str, Any]
    missing: dict[str, str]
    derived: dict[str, Any]
    crf_id: int  # the database id: for the audit records of ODM; never written as data

    @property
    def entered(self) -> bool:
        """Whether it holds data (not marked not done), as the read side's ``PatientRecord.of`` counts a form."""
        return self.status != "not_done" and bool(self.values or self.missing)


@dataclass
class ExportPatient:
    """One patient at the export's level. ``identifiers`` only at the identified level."""

    subject_id: str
    site: str
    sex: str
    status: str
    age_at_enrolment: int | None
    enrolment_date: dt.date | int | None
    consent_date: dt.date | int | None
    forms: dict[str, list[ExportCRF]] = field(default_factory=dict)
    identifiers: dict[str, Any] | None = None
    #: the read side's record, unchanged (dates not shifted): for derived tables computed by services
    #: before they are put at the level with :meth:`ExportSnapshot.date`
    record: PatientRecord | None = field(default=None, repr=False)
    date_offset_days: int | None = field(default=None, repr=False)
    #: with ``intervals``: what the days count from ("enrolment", or "first record" for a patient never
    #: enrolled: the earliest date recorded of them); the date itself is never written
    interval_origin: str | None = None
    origin_date: dt.date | None = field(default=None, repr=False)

    def of(self, form_id: str) -> list[ExportCRF]:
        """The form's instances that hold data, in entry order (``PatientRecord.of`` at the export's level)."""
        return [c for c in self.forms.get(form_id, []) if c.entered]


@dataclass
class ExportSnapshot:
    protocol: Protocol
    level: str
    forms: tuple[str, ...]
    patients: list[ExportPatient]
    exported_at: dt.datetime
    exported_by: str
    intervals: bool = False
    age_basis: str = "date of birth"
    #: the study and the acting user, for a writer whose read side streams (ODM's audit records)
    study: Any = field(default=None, repr=False)
    actor: Any = field(default=None, repr=False)
    #: the sites the export covers: the user's sites, or ``None`` for every site
    sites: list[str] | None = None

    def date(self, patient: ExportPatient, day: dt.date | None) -> dt.date | int | float | None:
        """A date of the patient's put at the export's level (shifted, or days from the interval origin)."""
        return _level_date(day, patient.origin_date, patient.date_offset_days, self.intervals)


    def fields(self, form_id: str):
        """The form's fields that this level writes, in the protocol's order."""
        return [f for f in self.protocol.form(form_id).fields if keeps(f, self.level)]


def keeps(f, level: str) -> bool:
    """Whether a field is written at ``level``: identifying free text only when identified, other free
    text not when de-identified."""
    if level == "identified":
        return True
    if f.identifying:
        return False
    return not (level == "deidentified" and f.is_free_text)


def _level_date(day, origin: dt.date | None, offset: int | None, intervals: bool):
    """A date (or date-time) at the level: shifted by ``offset`` days; with ``intervals``, whole days from the
    origin for a date and days with their fraction (to the minute) for a date-time, so that a clock of hours
    (a serious adverse event's report within 24 hours) survives."""
    if not isinstance(day, dt.date):
        return day
    if intervals:
        if origin is None:
            return None
        if isinstance(day, dt.datetime):
            start = dt.datetime.combine(origin, dt.time(0), tzinfo=day.tzinfo)
            return round((day - start).total_seconds() / 86400, 4)
        return (day - origin).days
    if offset is None:
        return day
    return day + dt.timedelta(days=offset)


def _is_age(f) -> bool:
    """A number measured in years is taken as an age (SPRINT's ``screening.age_years``)."""
    return f.type in ("integer", "decimal") and (f.unit or "").strip().lower() in ("years", "year", "y")


def _first_date(r: PatientRecord) -> dt.date | None:
    days = [v.date() if isinstance(v, dt.datetime) else v for rows in r.forms.values() for c in rows
            for v in c.values.values() if isinstance(v, dt.date)]
    return min(days, default=None)


def resolve_forms(protocol: Protocol, forms: Iterable[str] | None) -> tuple[str, ...]:
    """The forms asked for (every form of the protocol when none), each checked against the protocol."""
    known = [f.id for f in protocol.forms]
    if forms is None:
        return tuple(known)
    wanted = [f.strip() for f in forms if f.strip()]
    if not wanted:
        raise InvalidValue("forms", "give form ids, comma-separated (or leave the forms out for every form)",
                           ",".join(forms))
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise InvalidValue("forms", f"not forms of {protocol.identification.acronym} "
                           f"{protocol.version}: {', '.join(unknown)} (its forms: {', '.join(known)})",
                           ",".join(wanted))
    return tuple(dict.fromkeys(wanted))


def export_snapshot(study: StudyDB, actor: Actor | None, *, level: str = "pseudonymised",
                    forms: Iterable[str] | None = None, intervals: bool = False) -> ExportSnapshot:
    """What an export at ``level`` may write: the user's sites' patients, the forms asked for, the level
    applied. Refused (:class:`AccessDenied`) when the user's role or export right does not reach it."""
    if level not in LEVELS:
        raise InvalidValue("level", f"must be one of {', '.join(LEVELS)}", level)
    if intervals and level != "deidentified":
        raise InvalidValue("intervals", "days from enrolment are a way of de-identifying dates: they go with the de-identified level (--deidentified)")
    protocol = study.protocol
    wanted = resolve_forms(protocol, forms)
    needs_key = level in ("identified", "deidentified")
    cipher = None
    try:
        cipher = study.cipher()
    except SarcoTrialError:
        if needs_key:
            raise InvalidValue("key", f"an {level} export needs the study's identifier key (the key file beside the "
                               "database, or SARCOTRIAL_KEY_FILE)", show_value=False) from None
    with study.reading(actor, permission="export") as session:
        access.require_export(session, LEVELS[level])
        records = load_patients(study, session, forms=wanted, details=False)
        idents: dict[str, Any] = {}
        if cipher is not None and records:
            subjects = {r.subject_id for r in records}
            # a patient taken in from another study reads the identifiers of their registry patient
            rows = session.execute(select(PatientIdentifier, Patient.subject_id).join(
                Patient, (Patient.id == PatientIdentifier.patient_id)
                | (Patient.registry_patient_id == PatientIdentifier.patient_id)))
            idents = {subject: ident for ident, subject in rows if subject in subjects}
        principal = study.principal(session)
        who = principal.username if principal is not None and getattr(principal, "username", None) else \
            (actor.name if actor is not None else "system")
        sites = sorted(principal.sites) if principal is not None and principal.sites is not None else None
        patients = [_at_level(protocol, r, wanted, level, intervals, cipher, idents.get(r.subject_id)) for r in records]
    return ExportSnapshot(protocol, level, wanted, patients, dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
                          who, intervals, "date of birth" if cipher is not None else "year of birth", study, actor,
                          sites)


def _at_level(protocol: Protocol, r: PatientRecord, wanted: tuple[str, ...], level: str, intervals: bool,
              cipher, ident) -> ExportPatient:
    dob = None
    identifiers = None
    if cipher is not None and ident is not None:
        dob = dt.date.fromisoformat(cipher.decrypt(ident.date_of_birth_enc))
        if level == "identified":
            identifiers = {"full_name": cipher.decrypt(ident.full_name_enc), "date_of_birth": dob,
                           "hospital_number": cipher.decrypt(ident.hospital_number_enc)}
    anchor = r.enrolment_date or r.consent_date
    age = None
    if anchor is not None:
        age = age_on(dob, anchor) if dob is not None else anchor.year - r.year_of_birth
    offset = cipher.date_shift_days(r.subject_id) if level == "deidentified" and not intervals else None
    deidentified = level == "deidentified"
    if deidentified and age is not None and age > AGE_LIMIT:
        age = AGE_CAP
    origin, origin_kind = None, None
    if intervals:
        origin, origin_kind = (r.enrolment_date, "enrolment") if r.enrolment_date else (_first_date(r), "first record")

    def date(day):
        return _level_date(day, origin, offset, intervals)

    def value(f, v):
        if deidentified and f is not None and _is_age(f) and isinstance(v, (int, float)) and v > AGE_LIMIT:
            return AGE_CAP  # every age, not only the age at enrolment (Safe Harbor: ages over 89)
        return date(v)

    out_forms: dict[str, list[ExportCRF]] = {}
    for form_id in wanted:
        form = protocol.form(form_id)
        kept = {f.id for f in form.fields if keeps(f, level)}
        by_id = {f.id: f for f in form.fields}
        rows = []
        for c in r.forms.get(form_id, []):
            values = {k: value(by_id.get(k), v) for k, v in c.values.items() if k in kept}
            missing = {k: v for k, v in c.missing.items() if k in kept}
            derived = {k: date(v) for k, v in c.derived.items() if k in kept or k not in {f.id for f in form.fields}}
            rows.append(ExportCRF(form_id, c.visit_id, c.occurrence, c.instance, c.status, c.protocol_version,
                                  values, missing, derived, c.id))
        out_forms[form_id] = rows
    return ExportPatient(r.subject_id, r.site, r.sex, r.status, age, date(r.enrolment_date), date(r.consent_date),
                         out_forms, identifiers, r, offset, origin_kind, origin)


def record_export(study: StudyDB, actor: Actor | None, snapshot: ExportSnapshot, fmt: str, manifest_sha256: str) -> None:
    """The export as an audited record: format, level, forms, patients, the manifest's checksum."""
    subjects = [p.subject_id for p in snapshot.patients]
    with study.action(actor or Actor("system", "export"), f"{fmt} export at the {snapshot.level} level",
                      permission="export") as session:
        access.require_export(session, LEVELS[snapshot.level])
        session.add(DataExport(format=fmt, level=snapshot.level, forms=",".join(snapshot.forms),
                               patient_count=len(subjects), patients="\n".join(subjects),
                               manifest_sha256=manifest_sha256))
        if snapshot.level == "identified":  # each patient's identifiers read, as `patient identify` records it
            ids = dict(session.execute(select(Patient.subject_id, Patient.id)).all())
            session.add_all([IdentifierAccess(patient_id=ids[s], purpose=f"identified {fmt} export")
                             for s in subjects if s in ids])


def exports(study: StudyDB, actor: Actor | None) -> list[dict[str, Any]]:
    """The study's exports, newest first, each with who made it (from the audit trail)."""
    with study.reading(actor, permission="export") as session:
        principal = study.principal(session)
        rows = list(session.scalars(select(DataExport).order_by(DataExport.id.desc())))
        by = dict(session.execute(select(AuditEntry.record_id, AuditEntry.actor).where(
            AuditEntry.table_name == DataExport.__tablename__, AuditEntry.field == "format")).all())
        if principal is not None and principal.site_ids is not None:  # a site's staff see their own exports
            rows = [e for e in rows if by.get(e.id) == principal.username]
        return [{"id": e.id, "at": _utc(e.created_at), "by": by.get(e.id), "format": e.format, "level": e.level,
                 "forms": e.forms.split(","), "patients": e.patient_count, "manifest_sha256": e.manifest_sha256}
                for e in rows]


def _utc(moment: dt.datetime) -> dt.datetime:
    """A stored moment as UTC (SQLite gives it back without its zone)."""
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def date_offset(study: StudyDB, actor: Actor | None, subject_id: str) -> int:
    """The offset (days) a de-identified export added to this patient's dates: to reverse it. Needs the key
    and a full export right; the look-up is recorded like a read of the identifiers."""
    cipher = study.cipher()
    with study.action(actor or Actor("system", "export"), permission="export") as session:
        access.require_export(session, "full")
        patient = study.patient(session, subject_id)
        session.add(IdentifierAccess(patient_id=patient.id, purpose="de-identified export: date offset"))
    return cipher.date_shift_days(subject_id)


def allowed_levels(study: StudyDB, actor: Actor | None) -> list[str]:
    """The export levels the user may choose (narrowest last); refused when the role may not export at all."""
    from sarcotrial.domain import access as rules

    with study.reading(actor, permission="export") as session:
        principal = access.require(session, "export")
    if principal is None or principal.role is None:
        return list(LEVELS)
    return [level for level, right in LEVELS.items() if rules.export_allowed(principal.export, right)]
