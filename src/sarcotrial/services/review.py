"""Review of collected data: source-data verification, electronic signatures and locks.

- **Source-data verification** (ICH E6(R3) monitoring): a monitor marks fields, or every entered
  field of a CRF instance, as verified against the source; any later change to a verified value
  clears its mark (:func:`sarcotrial.services.forms._apply`). Progress is counted per patient and
  per site.
- **Electronic signatures** (21 CFR 11.50, 11.70, 11.100, 11.200): an investigator signs a CRF
  instance, or a patient's whole casebook, after entering the password again; the signature keeps
  the signer's printed name, the date and time, and its meaning, and is bound to the SHA-256 of
  exactly the values signed. A later change voids it visibly, naming the change.
- **Locks**: a data manager locks a CRF instance, a patient, or the whole study (database lock);
  a locked value refuses any change, naming the lock; unlocking needs the right and a reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.domain import crf as crf_rules
from sarcotrial.errors import InvalidValue
from sarcotrial.services.queries import _who, locate_crf
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import (
    CRFInstance,
    DataLock,
    DataQuery,
    Patient,
    Signature,
    Site,
    VisitOccurrence,
    utcnow,
)


# --------------------------------------------------------------------------- source-data verification
def _entered_fields(row: CRFInstance) -> list[str]:
    return crf_rules.entered_fields(row.data or {}, row.missing or {})


def verify_source(study: StudyDB, actor: Actor, subject_id: str, form_id: str, *, visit: str | None = None,
                  instance: int | None = None, field_id: str | None = None,
                  fields: list[str] | None = None) -> list[str]:
    """Mark a field (``field_id``), several (``fields``, all or none), or every entered field of a CRF
    instance, as verified against source; returns the fields marked."""
    wanted = list(dict.fromkeys([field_id] if field_id is not None else [f for f in fields or [] if f]))
    with study.action(actor, "source data verified", permission="sdv") as session:
        patient = study.patient(session, subject_id)
        row = locate_crf(study, session, patient, form_id, visit, instance)
        from sarcotrial.services.forms import require_unlocked

        require_unlocked(session, patient, row.id, "source-data verification")
        entered = _entered_fields(row)
        if wanted:
            empty = [f for f in wanted if f not in entered]
            if empty:
                raise InvalidValue("field", f"{form_id}.{empty[0]} holds no value to verify", empty[0])
            fields = wanted
        else:
            if not entered:
                raise InvalidValue(form_id, "holds no entered value to verify", show_value=False)
            fields = entered
        todo = [f for f in fields if f not in (row.verified or {})]
        if not todo:
            raise InvalidValue("sdv", f"{', '.join(fields)} already verified", show_value=False)
        who, _ = _who(study, session, actor)
        stamp = f"{who} {utcnow().isoformat(timespec='seconds')}"
        row.verified = {**(row.verified or {}), **{f: stamp for f in todo}}
        session.flush()
        return todo


@dataclass(frozen=True)
class SdvProgress:
    subject: str
    site: str
    fields_entered: int
    fields_verified: int
    forms_entered: int
    forms_verified: int

    @property
    def percent(self) -> float:
        return 100.0 * self.fields_verified / self.fields_entered if self.fields_entered else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "site": self.site, "fields_entered": self.fields_entered,
                "fields_verified": self.fields_verified, "forms_entered": self.forms_entered,
                "forms_verified": self.forms_verified, "percent": round(self.percent, 1)}


def sdv_progress(study: StudyDB, actor: Actor | None) -> list[SdvProgress]:
    """Source-data verification progress per patient (the patients the user may see)."""
    with study.reading(actor) as session:
        sites = {s.id: s.code for s in session.scalars(select(Site))}
        query = select(Patient).order_by(Patient.subject_id)
        visible = study.visible_site_ids(session) if hasattr(study, "visible_site_ids") else None
        if visible is not None:
            query = query.where(Patient.site_id.in_(visible))
        patients = list(session.scalars(query))
        of_patient: dict[int, list[Any]] = {p.id: [] for p in patients}
        if patients:
            for row in session.execute(select(CRFInstance.patient_id, CRFInstance.data, CRFInstance.missing,
                                              CRFInstance.verified)
                                       .where(CRFInstance.patient_id.in_(list(of_patient)))):
                of_patient[row.patient_id].append(row)
        out = []
        for patient in patients:
            rows = of_patient[patient.id]
            entered = verified = forms = forms_done = 0
            for row in rows:
                fields = _entered_fields(row)
                if not fields:
                    continue
                forms += 1
                entered += len(fields)
                done = sum(f in (row.verified or {}) for f in fields)
                verified += done
                forms_done += done == len(fields)
            out.append(SdvProgress(patient.subject_id, sites.get(patient.site_id, "?"), entered, verified, forms,
                                   forms_done))
        return out


def sdv_by_site(progress: list[SdvProgress]) -> list[dict[str, Any]]:
    totals: dict[str, list[int]] = {}
    for p in progress:
        t = totals.setdefault(p.site, [0, 0, 0])
        t[0] += 1
        t[1] += p.fields_entered
        t[2] += p.fields_verified
    return [{"site": site, "patients": n, "fields_entered": e, "fields_verified": v,
             "percent": round(100.0 * v / e, 1) if e else 0.0} for site, (n, e, v) in sorted(totals.items())]


# --------------------------------------------------------------------------- electronic signatures
def _signed_items(session: Session, rows: list[CRFInstance]) -> list[tuple[str, dict[str, Any]]]:
    items = []
    for row in rows:
        occ = session.get(VisitOccurrence, row.visit_occurrence_id)
        items.append(crf_rules.signable_values(row.form_id, str(crf_rules.VisitRef(occ.visit_id, occ.occurrence)),
                                               row.instance, row.data or {}, row.derived or {}, row.missing or {}))
    return items


def _casebook_rows(session: Session, patient: Patient) -> list[CRFInstance]:
    return [r for r in session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id)
                                       .order_by(CRFInstance.id)) if r.data or r.missing or r.status == "not_done"]


def before_signing(study: StudyDB, actor: Actor, password: str, meaning: str) -> str:
    """What every electronic signature checks before its action opens (CRFs, casebooks, board decisions):
    a stated meaning (21 CFR 11.50(a)(3)) and the password entered again (11.200(a)(1)(i)); returns
    the meaning as signed."""
    if not meaning or not meaning.strip():
        raise InvalidValue("meaning", "say what the signature means (e.g. 'I have reviewed these data')",
                           show_value=False)
    from sarcotrial.services import access

    access.reauthenticate(study, actor, password)
    return meaning.strip()


def signer(study: StudyDB, session: Session):
    """The principal who signs, inside the signing action: a user account (21 CFR 11.100: unique to one
    individual), whose full name is the signature's printed name (11.50(a)(1))."""
    principal = study.principal(session)
    if principal is None or not principal.has_account:
        raise InvalidValue("user", "an electronic signature needs a user account (21 CFR 11.100); create one with "
                           "'sarcotrial user add'", show_value=False)
    return principal


def sign(study: StudyDB, actor: Actor, subject_id: str, password: str, meaning: str, *, form_id: str | None = None,
         visit: str | None = None, instance: int | None = None, now: dt.datetime | None = None) -> int:
    """Sign a CRF instance, or (without ``form_id``) the patient's whole casebook; returns the signature's id.

    The password is checked again at each signing (21 CFR 11.200(a)(1)(i)); the signature needs a
    user account (11.100: unique to one individual).
    """
    meaning = before_signing(study, actor, password, meaning)
    with study.action(actor, f"signed: {meaning}", permission="sign") as session:
        principal = signer(study, session)
        patient = study.patient(session, subject_id)
        if form_id is not None:
            row = locate_crf(study, session, patient, form_id, visit, instance)
            if row.status != "complete":
                raise InvalidValue(form_id, f"is {row.status}; a form is signed once complete", show_value=False)
            rows, scope = [row], "crf"
        else:
            rows, scope = _casebook_rows(session, patient), "casebook"
            if not rows:
                raise InvalidValue("casebook", f"{patient.subject_id} has no data to sign", show_value=False)
            incomplete = [r.form_id for r in rows if r.status == "incomplete"]
            if incomplete:
                raise InvalidValue("casebook", f"{patient.subject_id} has incomplete forms ({', '.join(incomplete)}); "
                                   "complete them first", show_value=False)
        open_queries = session.scalars(select(DataQuery).where(
            DataQuery.crf_instance_id.in_([r.id for r in rows]), DataQuery.status != "closed")).all()
        if open_queries:
            raise InvalidValue("queries", f"{len(open_queries)} query(ies) not closed on what is to be signed "
                               f"(#{', #'.join(str(q.id) for q in open_queries[:5])})", show_value=False)
        existing = session.scalars(select(Signature).where(
            Signature.patient_id == patient.id, Signature.status == "valid", Signature.scope == scope,
            Signature.crf_instance_id == (rows[0].id if scope == "crf" else None))).first()
        if existing is not None and existing.signer == principal.username:
            raise InvalidValue("signature", f"already signed by you at {existing.signed_at:%Y-%m-%d %H:%M} UTC",
                               show_value=False)
        signature = Signature(patient_id=patient.id, crf_instance_id=rows[0].id if scope == "crf" else None,
                              scope=scope, signer=principal.username, printed_name=principal.full_name or principal.username,
                              meaning=meaning, signed_at=now or utcnow(),
                              values_hash=crf_rules.signed_values_hash(_signed_items(session, rows)), status="valid")
        session.add(signature)
        session.flush()
        return signature.id


@dataclass(frozen=True)
class SignatureView:
    id: int
    subject: str
    scope: str
    form_id: str | None
    visit: str | None
    printed_name: str
    signer: str
    meaning: str
    signed_at: dt.datetime
    status: str            # valid / voided / broken (values changed around SarcoTrial)
    voided_reason: str | None
    crf_id: int | None = None

    def manifestation(self) -> str:
        """How the signature reads on screen and in print (21 CFR 11.50)."""
        what = f"{self.form_id} at {self.visit}" if self.form_id else "casebook"
        text = f"Signed by {self.printed_name} ({self.signer}) on {self.signed_at:%Y-%m-%d %H:%M} UTC: {self.meaning} [{what}]"
        if self.status == "voided":
            text += f" — VOID: {self.voided_reason}"
        elif self.status == "broken":
            text += " — INVALID: the signed values no longer match (changed around SarcoTrial)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "subject": self.subject, "scope": self.scope, "form_id": self.form_id,
                "visit": self.visit, "printed_name": self.printed_name, "signer": self.signer, "meaning": self.meaning,
                "signed_at": self.signed_at.isoformat(), "status": self.status, "voided_reason": self.voided_reason,
                "manifestation": self.manifestation()}


def signatures(study: StudyDB, actor: Actor | None, subject_id: str) -> list[SignatureView]:
    """A patient's signatures with what they mean today: valid, voided by a change, or broken (the values
    no longer hash to what was signed although no change voided it)."""
    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        return signature_views(session, [patient])[patient.id]


def signature_views(session: Session, patients: list[Patient],
                    crfs: dict[int, list[CRFInstance]] | None = None) -> dict[int, list[SignatureView]]:
    """:func:`signatures` of several patients (by patient id), read in one session: the patients
    are the caller's, already checked as the actor's to see; ``crfs``: every CRF instance of those
    patients (by patient id) when the caller has read them already."""
    by_id = {p.id: p for p in patients}
    out: dict[int, list[SignatureView]] = {pid: [] for pid in by_id}
    if not by_id:
        return out
    rows = list(session.scalars(select(Signature).where(Signature.patient_id.in_(list(by_id))).order_by(Signature.id)))
    if not rows:
        return out
    # what the signatures cover, read at once (the rows stay in the session's identity map, where
    # session.get and _signed_items find them): the signed CRF instances, the casebooks still valid
    # (as _casebook_rows reads them) and the visit occurrences the signed values name
    # (held here: the identity map keeps only the objects referenced)
    signers = list({s.patient_id for s in rows})
    held = list(session.scalars(select(VisitOccurrence).where(VisitOccurrence.patient_id.in_(signers))))
    signed_crfs = [s.crf_instance_id for s in rows if s.scope == "crf"]
    if signed_crfs:
        held += list(session.scalars(select(CRFInstance).where(CRFInstance.id.in_(signed_crfs))))
    casebooks: dict[int, list[CRFInstance]] = {s.patient_id: [] for s in rows if s.scope != "crf" and s.status == "valid"}
    if casebooks:
        covered = sorted((row for pid in casebooks for row in crfs[pid]), key=lambda r: r.id) if crfs is not None \
            else session.scalars(select(CRFInstance).where(CRFInstance.patient_id.in_(list(casebooks)))
                                 .order_by(CRFInstance.id))
        for row in covered:
            if row.data or row.missing or row.status == "not_done":
                casebooks[row.patient_id].append(row)
    for s in rows:
        patient = by_id[s.patient_id]
        form_id = visit = None
        status = s.status
        if s.scope == "crf":
            row = session.get(CRFInstance, s.crf_instance_id)
            occ = session.get(VisitOccurrence, row.visit_occurrence_id)
            form_id, visit = row.form_id, str(crf_rules.VisitRef(occ.visit_id, occ.occurrence))
            signed = [row]
        elif status == "valid":
            signed = casebooks[patient.id]
        if status == "valid" and crf_rules.signed_values_hash(_signed_items(session, signed)) != s.values_hash:
            status = "broken"
        signed_at = s.signed_at if s.signed_at.tzinfo else s.signed_at.replace(tzinfo=dt.timezone.utc)
        out[patient.id].append(SignatureView(s.id, patient.subject_id, s.scope, form_id, visit, s.printed_name,
                                             s.signer, s.meaning, signed_at, status, s.voided_reason,
                                             s.crf_instance_id))
    return out


# --------------------------------------------------------------------------- locks
def lock(study: StudyDB, actor: Actor, *, subject_id: str | None = None, form_id: str | None = None,
         visit: str | None = None, instance: int | None = None, whole_study: bool = False) -> str:
    """Lock a CRF instance, a patient, or the whole study; returns what was locked."""
    return _lock(study, actor, None, subject_id=subject_id, form_id=form_id, visit=visit, instance=instance,
                 whole_study=whole_study)


def _lock(study: StudyDB, actor: Actor, reason: str | None, *, subject_id: str | None, form_id: str | None,
          visit: str | None, instance: int | None, whole_study: bool) -> str:
    scope = "study" if whole_study else "crf" if form_id else "patient"
    if whole_study and (subject_id or form_id):
        raise InvalidValue("lock", "lock either the study (--study) or a patient / form, not both", show_value=False)
    if not whole_study and not subject_id:
        raise InvalidValue("lock", "name a patient (and a form), or --study", show_value=False)
    permission = "lock.study" if whole_study else "lock"
    said = f"{scope} locked" + (f": {reason.strip()}" if reason and reason.strip() else "")
    with study.action(actor, said, permission=permission) as session:
        who, _ = _who(study, session, actor)
        patient = study.patient(session, subject_id) if subject_id else None
        row = locate_crf(study, session, patient, form_id, visit, instance) if form_id else None
        from sarcotrial.services.forms import active_lock

        current = active_lock(session, patient.id if patient else None, row.id if row else None)
        if current is not None and (current.scope == scope or current.scope == "study"
                                    or (current.scope == "patient" and scope == "crf")):
            raise InvalidValue("lock", f"already locked ({current.scope} lock by {current.locked_by} at "
                               f"{current.locked_at:%Y-%m-%d %H:%M} UTC)", show_value=False)
        session.add(DataLock(scope=scope, patient_id=patient.id if patient else None,
                             crf_instance_id=row.id if row else None, locked_by=who, locked_at=utcnow(), active=True))
        session.flush()
        return "the study" if whole_study else f"{patient.subject_id}" + (f" {form_id}" if form_id else "")


def unlock(study: StudyDB, actor: Actor, reason: str, *, subject_id: str | None = None, form_id: str | None = None,
           visit: str | None = None, instance: int | None = None, whole_study: bool = False) -> str:
    """Lift a lock, with a reason; returns what was unlocked."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "unlocking needs a reason", show_value=False)
    scope = "study" if whole_study else "crf" if form_id else "patient"
    permission = "unlock.study" if whole_study else "unlock"
    with study.action(actor, reason, permission=permission) as session:
        who, _ = _who(study, session, actor)
        patient = study.patient(session, subject_id) if subject_id else None
        row = locate_crf(study, session, patient, form_id, visit, instance) if form_id else None
        query = select(DataLock).where(DataLock.active.is_(True), DataLock.scope == scope)
        if scope == "patient":
            query = query.where(DataLock.patient_id == patient.id)
        if scope == "crf":
            query = query.where(DataLock.crf_instance_id == row.id)
        found = session.scalars(query).first()
        if found is None:
            raise InvalidValue("unlock", f"no {scope} lock to lift", show_value=False)
        found.active, found.unlocked_by, found.unlocked_at = False, who, utcnow()
        session.flush()
        return "the study" if whole_study else f"{patient.subject_id}" + (f" {form_id}" if form_id else "")


# --------------------------------------------------------------------------- for the review pages
def lock_with_reason(study: StudyDB, actor: Actor, reason: str | None, *, subject_id: str | None = None,
                     form_id: str | None = None, visit: str | None = None, instance: int | None = None,
                     whole_study: bool = False) -> str:
    """:func:`lock`, with the reason the user gave kept in the audit trail (``crf locked: <reason>``)."""
    return _lock(study, actor, reason, subject_id=subject_id, form_id=form_id, visit=visit, instance=instance,
                 whole_study=whole_study)


def crf_place(study: StudyDB, actor: Actor | None, subject_id: str, form_id: str,
              record_id: int) -> tuple[str, int]:
    """Where the CRF instance with this record id sits: its visit (``VISIT:N``) and its instance number."""
    from sarcotrial.services.forms import _find

    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        if not study.protocol.has_form(form_id):
            raise InvalidValue("form", f"protocol {study.protocol.acronym} has no such form", form_id)
        row = _find(session, study, patient, form_id, record_id=record_id)
        occ = session.get(VisitOccurrence, row.visit_occurrence_id)
        return f"{occ.visit_id}:{occ.occurrence}", row.instance


def verify_fields(study: StudyDB, actor: Actor, subject_id: str, form_id: str, fields: list[str], *,
                  visit: str | None = None, instance: int | None = None) -> list[str]:
    """Several fields of one CRF instance verified in one action (all or none); no field: every entered
    field. :func:`verify_source` with ``fields``."""
    return verify_source(study, actor, subject_id, form_id, visit=visit, instance=instance, fields=fields)


#: the states the lock and signature table filters on
BOARD_STATES = ("locked", "unlocked", "signed", "unsigned", "voided")


@dataclass(frozen=True)
class LockInfo:
    """A lock: the one covering a row (its own, its patient's or the study's), or one of a patient's locks."""

    id: int
    scope: str                  # crf / patient / study
    subject: str | None
    form_id: str | None
    visit: str | None
    locked_by: str
    locked_at: dt.datetime
    reason: str | None          # as given when locking (the audit trail's reason)
    active: bool = True
    unlocked_by: str | None = None
    unlocked_at: dt.datetime | None = None
    unlock_reason: str | None = None


@dataclass(frozen=True)
class BoardRow:
    """One casebook or one CRF instance: its lock and its signatures."""

    subject: str
    site: str
    scope: str                  # casebook / crf
    form_id: str | None
    visit_id: str | None
    occurrence: int | None
    instance: int | None
    crf_status: str | None
    record_id: int | None
    lock: LockInfo | None
    signatures: tuple[SignatureView, ...]
    open_queries: int
    fields_entered: int = 0     # source-data verification of a CRF instance: fields holding a value or a code,
    fields_verified: int = 0    # and those of them verified

    @property
    def visit(self) -> str | None:
        return str(crf_rules.VisitRef(self.visit_id, self.occurrence)) if self.visit_id else None

    @property
    def valid_signatures(self) -> list[SignatureView]:
        return [s for s in self.signatures if s.status == "valid"]

    @property
    def states(self) -> set[str]:
        out = {"locked" if self.lock else "unlocked", "signed" if self.valid_signatures else "unsigned"}
        if any(s.status != "valid" for s in self.signatures):
            out.add("voided")
        return out


@dataclass(frozen=True)
class LockSignBoard:
    study_lock: LockInfo | None
    rows: list[BoardRow]
    total: int                  # rows matching before the limit
    locks: list[LockInfo]       # with a patient named: every lock of that patient, lifted ones too


def _lock_reasons(session: Session, lock_ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
    """The reason given when each lock was set, and when it was lifted (from the audit trail)."""
    from sarcotrial.store.models import AuditEntry

    out: dict[int, list[str | None]] = {i: [None, None] for i in lock_ids}
    if not lock_ids:
        return {}
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.table_name == DataLock.__tablename__,
                                                          AuditEntry.record_id.in_(lock_ids))
                                 .order_by(AuditEntry.id)):
        if entry.action == "create" and out[entry.record_id][0] is None:
            given = entry.reason or ""
            for scope in ("crf", "patient", "study"):  # as _lock words it: "<scope> locked[: <reason>]"
                if given == f"{scope} locked" or given.startswith(f"{scope} locked: "):
                    given = given[len(f"{scope} locked: "):]
            out[entry.record_id][0] = given or None
        elif entry.action == "update" and entry.field == "active":
            out[entry.record_id][1] = entry.reason
    return {k: (v[0], v[1]) for k, v in out.items()}


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _sdv_counts(row: CRFInstance) -> tuple[int, int]:
    entered = _entered_fields(row)
    return len(entered), sum(f in (row.verified or {}) for f in entered)


def lock_sign_board(study: StudyDB, actor: Actor | None, *, subject_id: str | None = None, site: str | None = None,
                    form_id: str | None = None, state: str | None = None, limit: int = 500) -> LockSignBoard:
    """Which casebooks and forms are locked and signed, by whom and when (the patients the user may see).

    With no filter: every patient's casebook, and the forms that are locked or hold a signature. With a
    patient, a form or a state: every casebook and form (with data) that matches. ``limit`` caps the rows.
    """
    if state and state not in BOARD_STATES:
        raise InvalidValue("state", f"must be one of {', '.join(BOARD_STATES)}", state)
    if form_id and not study.protocol.has_form(form_id):
        raise InvalidValue("form", f"protocol {study.protocol.acronym} has no such form", form_id)
    with study.reading(actor) as session:
        sites = {s.id: s.code for s in session.scalars(select(Site))}
        query = select(Patient).order_by(Patient.subject_id)
        visible = study.visible_site_ids(session)
        if visible is not None:
            query = query.where(Patient.site_id.in_(visible))
        if subject_id:
            query = query.where(Patient.id == study.patient(session, subject_id).id)
        if site:
            query = query.where(Patient.site_id.in_([i for i, c in sites.items() if c.upper() == site.strip().upper()]))
        patients = list(session.scalars(query))
        by_id = {p.id: p for p in patients}
        locks = list(session.scalars(select(DataLock).order_by(DataLock.id)))
        reasons = _lock_reasons(session, [lk.id for lk in locks])
        crf_ids = [lk.crf_instance_id for lk in locks if lk.crf_instance_id]
        places = {}
        for crf_id in crf_ids:
            row = session.get(CRFInstance, crf_id)
            occ = session.get(VisitOccurrence, row.visit_occurrence_id)
            places[crf_id] = (row.form_id, str(crf_rules.VisitRef(occ.visit_id, occ.occurrence)))
        subjects = {p.id: p.subject_id for p in session.scalars(select(Patient))}

        def info(lk: DataLock) -> LockInfo:
            form, visit = places.get(lk.crf_instance_id, (None, None))
            given, lifted = reasons.get(lk.id, (None, None))
            return LockInfo(lk.id, lk.scope, subjects.get(lk.patient_id), form, visit, lk.locked_by,
                            _aware(lk.locked_at), given, lk.active, lk.unlocked_by, _aware(lk.unlocked_at), lifted)

        active = [lk for lk in locks if lk.active]
        study_lock = next((info(lk) for lk in active if lk.scope == "study"), None)
        patient_locks = {lk.patient_id: info(lk) for lk in active if lk.scope == "patient"}
        crf_locks = {lk.crf_instance_id: info(lk) for lk in active if lk.scope == "crf"}
        signed = {}
        for s in session.scalars(select(Signature).where(Signature.patient_id.in_(list(by_id)))):
            signed.setdefault(s.patient_id, set()).add(s.crf_instance_id)
        open_q: dict[int, int] = {}   # queries not closed, per CRF instance and per patient
        open_p: dict[int, int] = {}
        for q in session.scalars(select(DataQuery).where(DataQuery.patient_id.in_(list(by_id)),
                                                         DataQuery.status != "closed")):
            open_q[q.crf_instance_id] = open_q.get(q.crf_instance_id, 0) + 1
            open_p[q.patient_id] = open_p.get(q.patient_id, 0) + 1
        history = [info(lk) for lk in locks if subject_id and lk.patient_id in by_id]
        wide = bool(subject_id or form_id or state)
        candidates: list[tuple[Patient, CRFInstance | None, VisitOccurrence | None]] = []
        of_patient: dict[int, list[tuple[CRFInstance, VisitOccurrence]]] = {pid: [] for pid in by_id}
        if by_id:
            for row, occ in session.execute(select(CRFInstance, VisitOccurrence)
                                            .join(VisitOccurrence, VisitOccurrence.id == CRFInstance.visit_occurrence_id)
                                            .where(CRFInstance.patient_id.in_(list(by_id)))
                                            .order_by(VisitOccurrence.id, CRFInstance.form_id, CRFInstance.instance)):
                of_patient[row.patient_id].append((row, occ))
        for patient in patients:
            rows = of_patient[patient.id]
            if not form_id:
                candidates.append((patient, None, None))
            for row, occ in rows:
                if form_id and row.form_id != form_id:
                    continue
                has_data = bool(row.data or row.missing or row.status == "not_done")
                if wide and has_data or row.id in crf_locks or row.id in signed.get(patient.id, ()):
                    candidates.append((patient, row, occ))
        views = {by_id[pid].subject_id: shown for pid, shown in signature_views(
            session, [p for p in patients if p.id in signed],
            {pid: [row for row, _occ in rows] for pid, rows in of_patient.items()}).items()}
    out = []
    for patient, row, occ in candidates:
        lock_here = study_lock or patient_locks.get(patient.id) or (crf_locks.get(row.id) if row is not None else None)
        mine = tuple(s for s in views.get(patient.subject_id, ())
                     if (row is None and s.scope == "casebook") or (row is not None and s.crf_id == row.id))
        queries = open_q.get(row.id, 0) if row is not None else open_p.get(patient.id, 0)
        item = BoardRow(patient.subject_id, sites.get(patient.site_id, "?"), "crf" if row is not None else "casebook",
                        row.form_id if row is not None else None, occ.visit_id if occ is not None else None,
                        occ.occurrence if occ is not None else None, row.instance if row is not None else None,
                        row.status if row is not None else None, row.id if row is not None else None, lock_here, mine,
                        queries, *(_sdv_counts(row) if row is not None else (0, 0)))
        if state and state not in item.states:
            continue
        out.append(item)
    return LockSignBoard(study_lock, out[:limit], len(out), history)


#: the meaning offered at signing (the signer may write their own): docs/edc.md, 21 CFR 11.50(a)(3)
SUGGESTED_MEANING = {"crf": "I have reviewed these data", "casebook": "I have reviewed this casebook"}


@dataclass(frozen=True)
class SignItem:
    form_id: str
    form_name: str
    visit: str
    instance: int
    status: str
    values: tuple[tuple[str, str], ...]     # (field label, value as entered, derived or missing-coded)


@dataclass(frozen=True)
class SignPreview:
    """What a signature would cover, who would sign, and what would refuse it now (:func:`sign` decides)."""

    subject: str
    scope: str                  # crf / casebook
    form_id: str | None
    visit: str | None
    instance: int | None
    signer: str
    printed_name: str
    items: list[SignItem]
    problems: list[str]
    suggested_meaning: str


def _shown_values(study: StudyDB, row: CRFInstance) -> tuple[tuple[str, str], ...]:
    form = study.protocol.form(row.form_id)
    data, derived, missing = row.data or {}, row.derived or {}, row.missing or {}
    out = []
    for f in form.fields:
        if data.get(f.id) is not None:
            value = data[f.id]
            shown = ("yes" if value else "no") if isinstance(value, bool) else f"{value}"
            out.append((f.label, shown + (f" {f.unit}" if f.unit else "")))
        elif missing.get(f.id):
            out.append((f.label, f"missing ({missing[f.id]})"))
    for key, value in sorted(derived.items()):
        if value is not None and form.field(key) is None:
            out.append((f"{key} (derived)", f"{value}"))
    return tuple(out)


def sign_preview(study: StudyDB, actor: Actor, subject_id: str, *, form_id: str | None = None,
                 visit: str | None = None, instance: int | None = None) -> SignPreview:
    """The page before signing: the values to be signed, the signer's printed name, and the reasons
    :func:`sign` would refuse now (incomplete, queries not closed, already signed by the same person)."""
    with study.reading(actor) as session:
        principal = study.principal(session)
        patient = study.patient(session, subject_id)
        problems: list[str] = []
        if form_id is not None:
            row = locate_crf(study, session, patient, form_id, visit, instance)
            rows, scope = [row], "crf"
            if row.status != "complete":
                problems.append(f"{form_id} is {row.status}; a form is signed once complete")
        else:
            rows, scope = _casebook_rows(session, patient), "casebook"
            if not rows:
                problems.append(f"{patient.subject_id} has no data to sign")
            incomplete = [r.form_id for r in rows if r.status == "incomplete"]
            if incomplete:
                problems.append(f"incomplete forms ({', '.join(incomplete)}); complete them first")
        if rows:
            open_queries = session.scalars(select(DataQuery).where(
                DataQuery.crf_instance_id.in_([r.id for r in rows]), DataQuery.status != "closed")).all()
            if open_queries:
                problems.append(f"{len(open_queries)} query(ies) not closed on what is to be signed "
                                f"(#{', #'.join(str(q.id) for q in open_queries[:5])})")
        if principal is not None and rows:
            mine = session.scalars(select(Signature).where(
                Signature.patient_id == patient.id, Signature.status == "valid", Signature.scope == scope,
                Signature.crf_instance_id == (rows[0].id if scope == "crf" else None),
                Signature.signer == principal.username)).first()
            if mine is not None:
                problems.append(f"already signed by you at {mine.signed_at:%Y-%m-%d %H:%M} UTC")
        items = []
        for r in rows:
            occ = session.get(VisitOccurrence, r.visit_occurrence_id)
            items.append(SignItem(r.form_id, study.protocol.form(r.form_id).name,
                                  str(crf_rules.VisitRef(occ.visit_id, occ.occurrence)), r.instance, r.status,
                                  _shown_values(study, r)))
        shown_visit = items[0].visit if scope == "crf" else None
        return SignPreview(patient.subject_id, scope, form_id, shown_visit, rows[0].instance if scope == "crf" else None,
                           principal.username if principal else actor.name,
                           (principal.full_name if principal else None) or actor.name, items, problems,
                           SUGGESTED_MEANING[scope])
