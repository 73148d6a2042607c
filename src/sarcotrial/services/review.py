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
                  instance: int | None = None, field_id: str | None = None) -> list[str]:
    """Mark a field, or every entered field of a CRF instance, as verified against source; returns the fields marked."""
    with study.action(actor, "source data verified", permission="sdv") as session:
        patient = study.patient(session, subject_id)
        row = locate_crf(study, session, patient, form_id, visit, instance)
        from sarcotrial.services.forms import require_unlocked

        require_unlocked(session, patient, row.id, "source-data verification")
        entered = _entered_fields(row)
        if field_id is not None:
            if field_id not in entered:
                raise InvalidValue("field", f"{form_id}.{field_id} holds no value to verify", field_id)
            fields = [field_id]
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
        out = []
        for patient in session.scalars(query):
            rows = session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id)).all()
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


def sign(study: StudyDB, actor: Actor, subject_id: str, password: str, meaning: str, *, form_id: str | None = None,
         visit: str | None = None, instance: int | None = None, now: dt.datetime | None = None) -> int:
    """Sign a CRF instance, or (without ``form_id``) the patient's whole casebook; returns the signature's id.

    The password is checked again at each signing (21 CFR 11.200(a)(1)(i)); the signature needs a
    user account (11.100: unique to one individual).
    """
    if not meaning or not meaning.strip():
        raise InvalidValue("meaning", "say what the signature means (e.g. 'I have reviewed these data')",
                           show_value=False)
    from sarcotrial.services import access

    access.reauthenticate(study, actor, password)
    with study.action(actor, f"signed: {meaning.strip()}", permission="sign") as session:
        principal = study.principal(session)
        if principal is None or not principal.has_account:
            raise InvalidValue("user", "an electronic signature needs a user account (21 CFR 11.100); create one with "
                               "'sarcotrial user add'", show_value=False)
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
                              meaning=meaning.strip(), signed_at=now or utcnow(),
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
        out = []
        for s in session.scalars(select(Signature).where(Signature.patient_id == patient.id).order_by(Signature.id)):
            form_id = visit = None
            status = s.status
            if s.scope == "crf":
                row = session.get(CRFInstance, s.crf_instance_id)
                occ = session.get(VisitOccurrence, row.visit_occurrence_id)
                form_id, visit = row.form_id, str(crf_rules.VisitRef(occ.visit_id, occ.occurrence))
                rows = [row]
            else:
                rows = _casebook_rows(session, patient)
            if status == "valid" and crf_rules.signed_values_hash(_signed_items(session, rows)) != s.values_hash:
                status = "broken"
            signed_at = s.signed_at if s.signed_at.tzinfo else s.signed_at.replace(tzinfo=dt.timezone.utc)
            out.append(SignatureView(s.id, patient.subject_id, s.scope, form_id, visit, s.printed_name, s.signer,
                                     s.meaning, signed_at, status, s.voided_reason, s.crf_instance_id))
        return out


# --------------------------------------------------------------------------- locks
def lock(study: StudyDB, actor: Actor, *, subject_id: str | None = None, form_id: str | None = None,
         visit: str | None = None, instance: int | None = None, whole_study: bool = False) -> str:
    """Lock a CRF instance, a patient, or the whole study; returns what was locked."""
    scope = "study" if whole_study else "crf" if form_id else "patient"
    if whole_study and (subject_id or form_id):
        raise InvalidValue("lock", "lock either the study (--study) or a patient / form, not both", show_value=False)
    if not whole_study and not subject_id:
        raise InvalidValue("lock", "name a patient (and a form), or --study", show_value=False)
    permission = "lock.study" if whole_study else "lock"
    with study.action(actor, f"{scope} locked", permission=permission) as session:
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
