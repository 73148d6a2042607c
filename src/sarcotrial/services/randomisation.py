"""Randomisation at enrolment: the allocation written in the enrolment's transaction, its concealed seed, the
auditor's replay, and the reads (the list of allocations with their stratification errors, a patient's arm).

Standards: ICH E9, Statistical principles for clinical trials (1998), section 2.3.2: the allocation of the
next patient is concealed until it is made and the sequence is reproducible; Schulz KF, Grimes DA. Allocation
concealment in randomised trials: defending against deciphering. Lancet 2002;359:614-618 (allocation after
the patient's irrevocable entry, by a mechanism no one at the site can foresee); ICH E6(R3) and FDA 21 CFR
11.10(e) (every record audited). The allocation itself is :func:`sarcotrial.domain.randomisation.allocate`;
``docs/randomisation.md`` says how it is made and how an auditor recomputes it.

- **When.** :func:`allocate_at_enrolment` is called by ``pathway.enrol`` after the Enrolment row is flushed,
  inside the same unit of work: an allocation exists exactly when an enrolment does (eligibility and consent
  were checked first; a refusal or a failure rolls both back).
- **Strata.** Each factor's value is read where the protocol says (``factors[].form`` / ``field``): on the
  screening form, from the eligible screening the enrolment rests on; on another form, from the patient's
  latest instance of it. The site is the patient's site when ``site: true``. A value missing, or in no
  level, refuses the enrolment with one line naming the field.
- **Seed.** Made with ``new_seed()`` at the study's first allocation (in that transaction, before any arm
  exists; a study that never randomises has none) and stored encrypted (Fernet) with a key derived by
  HKDF-SHA256 from the study's identifier key, under a name of its own: the seed cannot be read without the
  key, and no function here returns it. The audit trail keeps a fingerprint of the ciphertext only.
- **Concealment.** Nothing computes an allocation except the enrolment. A patient's arm is readable once
  allocated, under the usual ``read`` permission and site scoping (an open-label trial: the site's staff see
  their patients' arms).
- **Verification.** :func:`verify` decrypts the seed and replays every stored allocation
  (``domain.randomisation.mismatches``), needing the permission ``randomisation.verify``; each replay is
  recorded (:class:`RandomisationCheck`, audited), as a reading of identifiers is, because the seed was read.
- **Corrections.** A later correction of a factor's value never touches the allocation: :func:`allocations`
  compares the strata used with the values as they stand (``stratification_errors``) and flags each
  difference.

Hand-written: the rules of this study's enrolment and storage are the project's own; the allocation engine,
the encryption (``cryptography``'s Fernet and HKDF) and the database layer are the shared ones.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.errors import InvalidValue
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import Allocation, CRFInstance, Enrolment, Patient, RandomisationCheck, \
    RandomisationSecret, Screening, Site, utcnow

__all__ = ["randomises", "allocate_at_enrolment", "arm_of", "arms_by_subject", "AllocationView", "allocations",
           "Mismatch", "Verification", "verify"]

#: the HKDF name of the seed's key, derived from the study's identifier key (apart from the identifiers' own)
SEED_KEY_INFO = b"sarcotrial randomisation seed fernet"
#: the permission an auditor's replay needs (``domain/access.py``)
VERIFY_PERMISSION = "randomisation.verify"


def factor_labels(protocol) -> dict[str, str]:
    """Each stratification factor's name by its id: the label of the screening field it reads, else its id in words;
    the site (a stratum where the protocol says so) as ``Site``. The report and the patient page name factors so."""
    from sarcotrial.domain.randomisation import SITE

    out = {SITE: "Site"}
    for factor in getattr(getattr(protocol, "randomisation", None), "factors", None) or ():
        fld = protocol.form(factor.form).field(factor.field) if protocol.has_form(factor.form) else None
        out[factor.id] = fld.label if fld is not None else factor.id.replace("_", " ").capitalize()
    return out


def randomises(protocol) -> bool:
    """Whether the protocol declares arms and a randomisation (SPRINT does not: nothing is allocated)."""
    return bool(getattr(protocol, "arms", None)) and getattr(protocol, "randomisation", None) is not None


# --------------------------------------------------------------------------- the seed
def _fernet(cipher):
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEED_KEY_INFO).derive(cipher.master)
    return Fernet(base64.urlsafe_b64encode(key))


def _seed(study: StudyDB, session: Session, cipher, *, create: bool) -> str | None:
    """The study's seed, decrypted; made and stored at the first allocation when ``create``."""
    from cryptography.fernet import InvalidToken

    from sarcotrial.domain.randomisation import new_seed
    from sarcotrial.store.crypto import KeyError_

    row = session.scalars(select(RandomisationSecret).where(RandomisationSecret.study_id == study.study_id)).first()
    if row is None:
        if not create:
            return None
        seed = new_seed()
        session.add(RandomisationSecret(study_id=study.study_id,
                                        seed_enc=_fernet(cipher).encrypt(seed.encode("ascii")).decode("ascii")))
        session.flush()
        return seed
    try:
        return _fernet(cipher).decrypt(row.seed_enc.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise KeyError_(f"the key from {cipher.origin} does not decrypt this study's randomisation seed") from None


def set_synthetic_seed(study: StudyDB, actor: Actor, seed: str) -> None:
    """Give a synthetic study's randomisation seed before its first allocation, so that a demo built from the same
    seed allocates the same arms. Refused for a real study (its seed is 128 random bits, never chosen) and once a
    seed exists; the seed is stored encrypted as any other and ``randomisation verify`` replays from it."""
    if not study.synthetic:
        raise InvalidValue("seed", "only a synthetic study's randomisation seed may be given", show_value=False)
    cipher = study.cipher()
    with study.action(actor, permission="patient.enrol") as session:
        if _seed(study, session, cipher, create=False) is not None:
            raise InvalidValue("seed", "the study's randomisation seed exists already", show_value=False)
        session.add(RandomisationSecret(study_id=study.study_id,
                                        seed_enc=_fernet(cipher).encrypt(seed.encode("ascii")).decode("ascii")))


# --------------------------------------------------------------------------- strata
def _scheme(study: StudyDB):
    from sarcotrial.domain.randomisation import scheme_from_protocol

    return scheme_from_protocol(study.protocol)


def _form_values(study: StudyDB, session: Session, patient: Patient, form_id: str,
                 screening: Screening | None) -> dict[str, Any] | None:
    """The values of a factor's form as they stand now: the screening the enrolment rests on for the
    eligibility form, else the patient's latest instance of the form (``None``: none entered)."""
    from sarcotrial.protocol.forms import from_json

    protocol = study.protocol
    crf = None
    if form_id == protocol.eligibility.form and screening is not None:
        crf = session.get(CRFInstance, screening.crf_instance_id)
    else:
        crf = session.scalars(select(CRFInstance).where(
            CRFInstance.patient_id == patient.id, CRFInstance.form_id == form_id, CRFInstance.status != "not_done")
            .order_by(CRFInstance.id.desc())).first()
    if crf is None:
        return None
    return from_json(protocol.form(form_id), crf.data or {})


def _factor_values(study: StudyDB, session: Session, patient: Patient, scheme,
                   screening: Screening | None) -> dict[str, Any]:
    """Each factor's field value (by factor id), ``None`` where missing."""
    cache: dict[str, dict[str, Any] | None] = {}
    values = {}
    for factor in scheme.factors:
        if factor.form not in cache:
            cache[factor.form] = _form_values(study, session, patient, factor.form, screening)
        values[factor.id] = (cache[factor.form] or {}).get(factor.field)
    return values


def _site_code(session: Session, patient: Patient) -> str:
    return session.get(Site, patient.site_id).code


# --------------------------------------------------------------------------- the write side
def allocate_at_enrolment(study: StudyDB, session: Session, patient: Patient, enrolment: Enrolment,
                          screening: Screening, cipher) -> Allocation | None:
    """Allocate an enrolled patient, in the enrolment's own session (``pathway.enrol``), after the Enrolment
    row is flushed; ``None`` for a protocol that does not randomise. ``cipher`` is the study's identifier key
    (``study.cipher()``, read before the unit of work opens). Refuses (``InvalidValue``, nothing written) a
    factor's value that is missing or in none of its levels."""
    from sarcotrial.domain.randomisation import Previous, allocate, stratify
    from sarcotrial.store import audit

    if not randomises(study.protocol):
        return None
    scheme = _scheme(study)
    values = _factor_values(study, session, patient, scheme, screening)
    for factor in scheme.factors:
        if values[factor.id] is None:
            raise InvalidValue(f"{factor.form}.{factor.field}", f"is missing: the randomisation reads it (factor "
                               f"{factor.id}); record it before enrolment", show_value=False)
    try:
        strata = stratify(scheme, values, site=_site_code(session, patient) if scheme.site else None)
    except InvalidValue as exc:
        factor = next((f for f in scheme.factors if exc.field in (f.id, f.field)), None)
        if factor is None:
            raise
        raise InvalidValue(f"{factor.form}.{factor.field}", exc.rule, values[factor.id]) from None
    seed = _seed(study, session, cipher, create=True)
    history = [Previous(row.strata, row.arm)
               for row in session.scalars(select(Allocation).order_by(Allocation.number))]
    made = allocate(scheme, seed, history, strata)
    record = made.as_dict()
    details = {key: value for key, value in record.items() if key not in ("number", "arm", "strata", "stratum",
                                                                          "method")}
    row = Allocation(patient_id=patient.id, enrolment_id=enrolment.id, number=made.number, arm=made.arm,
                     strata=dict(made.strata), stratum=made.stratum, method=made.method, details=details,
                     allocated_at=utcnow(), allocated_by=session.info.get(audit.INFO_ACTOR) or "unknown")
    session.add(row)
    session.flush()
    return row


# --------------------------------------------------------------------------- reads
def arm_of(session: Session, patient: Patient) -> str | None:
    """The arm id allocated to a patient, ``None`` if not allocated (no access check: the caller's session
    has made it)."""
    return session.scalars(select(Allocation.arm).where(Allocation.patient_id == patient.id)).first()


def arms_by_subject(study: StudyDB, actor: Actor | None, subject_id: str | None = None) -> dict[str, str]:
    """The arm of each allocated patient the user may see, by subject id (one patient with ``subject_id``)."""
    with study.reading(actor) as session:
        query = select(Patient.subject_id, Allocation.arm).join(Patient, Patient.id == Allocation.patient_id)
        visible = study.visible_site_ids(session)
        if visible is not None:
            query = query.where(Patient.site_id.in_(visible))
        if subject_id is not None:
            query = query.where(Patient.id == study.patient(session, subject_id).id)
        return dict(session.execute(query).all())


@dataclass(frozen=True)
class AllocationView:
    """One allocation as read: the strata *used* (never corrected) and, by factor, each stratification error
    (``{factor: (level used, level now)}``; level now ``None`` when the value is missing now, or ``"?"``
    when it is in none of the factor's levels)."""

    subject_id: str
    arm: str
    strata: dict[str, str]
    allocated_on: dt.date  # the enrolment date: the date of randomisation in the trial's terms
    stratification_errors: dict[str, tuple[str, str | None]]
    number: int = 0
    site: str = ""
    allocated_at: dt.datetime | None = None  # the moment it was made
    arm_name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "subject_id": self.subject_id, "site": self.site, "arm": self.arm,
                "arm_name": self.arm_name, "strata": dict(self.strata), "allocated_on": self.allocated_on,
                "allocated_at": self.allocated_at,
                "stratification_errors": {k: {"used": used, "now": now}
                                          for k, (used, now) in self.stratification_errors.items()}}


def _errors(scheme, used: Mapping[str, str], values: Mapping[str, Any], site: str | None) -> dict[str, tuple]:
    """``stratification_errors``; when a value is now missing or in no level, that factor is named too."""
    from sarcotrial.domain.randomisation import SITE, stratification_errors

    try:
        return stratification_errors(scheme, used, values, site=site)
    except InvalidValue:
        out: dict[str, tuple] = {}
        for factor in scheme.factors:
            value = values.get(factor.id)
            try:
                now = None if value is None else factor.level_of(value)
            except InvalidValue:
                now = "?"
            if now != used.get(factor.id):
                out[factor.id] = (used.get(factor.id), now)
        if scheme.site and site != used.get(SITE):
            out[SITE] = (used.get(SITE), site)
        return out


def allocations(study: StudyDB, actor: Actor | None) -> list[AllocationView]:
    """Every allocation of the patients the user may see, in allocation order, each with its stratification
    errors against the values as they stand now (the report and the list read this). Empty for a protocol
    that does not randomise."""
    if not randomises(study.protocol):
        return []
    scheme = _scheme(study)
    names = {arm.id: arm.name for arm in study.protocol.arms}
    out = []
    with study.reading(actor) as session:
        query = (select(Allocation, Patient, Enrolment, Site.code)
                 .join(Patient, Patient.id == Allocation.patient_id)
                 .join(Enrolment, Enrolment.id == Allocation.enrolment_id)
                 .join(Site, Site.id == Patient.site_id).order_by(Allocation.number))
        visible = study.visible_site_ids(session)
        if visible is not None:
            query = query.where(Patient.site_id.in_(visible))
        for row, patient, enrolment, code in session.execute(query).all():
            screening = session.get(Screening, enrolment.screening_id)
            values = _factor_values(study, session, patient, scheme, screening)
            errors = _errors(scheme, row.strata, values, code if scheme.site else None)
            out.append(AllocationView(patient.subject_id, row.arm, dict(row.strata), enrolment.enrolment_date,
                                      errors, row.number, code, row.allocated_at, names.get(row.arm, row.arm)))
    return out


# --------------------------------------------------------------------------- the auditor's replay
@dataclass(frozen=True)
class Mismatch:
    """An allocation whose stored arm is not the one the seed gives (``subject_id`` ``None``: a patient of a
    site the user does not see)."""

    number: int
    subject_id: str | None
    stored: str
    expected: str


@dataclass(frozen=True)
class Verification:
    """The replay of every allocation from the seed: how many, the mismatches, and other problems (a gap in
    the allocation numbers)."""

    allocations: int
    mismatches: list[Mismatch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"allocations": self.allocations, "ok": self.ok,
                "mismatches": [{"number": m.number, "subject_id": m.subject_id, "stored": m.stored,
                                "expected": m.expected} for m in self.mismatches],
                "problems": list(self.problems)}


def verify(study: StudyDB, actor: Actor) -> Verification:
    """Decrypt the seed and replay every stored allocation of the study (all sites: the sequence is the
    study's); needs ``randomisation.verify``. The check is recorded (audited) with its result."""
    from sarcotrial.domain.randomisation import Previous, replay

    if not randomises(study.protocol):
        raise InvalidValue("protocol", f"{study.protocol.acronym} declares no randomisation: nothing to verify",
                           show_value=False)
    scheme = _scheme(study)
    cipher = study.cipher()
    with study.action(actor, permission=VERIFY_PERMISSION) as session:
        rows = session.execute(select(Allocation, Patient).join(Patient, Patient.id == Allocation.patient_id)
                               .order_by(Allocation.number)).all()
        seed = _seed(study, session, cipher, create=False)
        problems = []
        if rows and seed is None:
            problems.append("the study has allocations but no stored seed")
        numbers = [row.number for row, _ in rows]
        if numbers != list(range(1, len(rows) + 1)):
            problems.append(f"the allocation numbers are not 1 to {len(rows)} in order (an allocation is missing "
                            "or was added around SarcoTrial); the replay is not meaningful")
        found = []
        if seed is not None and rows:
            history = [Previous(row.strata, row.arm) for row, _ in rows]
            visible = study.visible_site_ids(session)
            for (row, patient), expected in zip(rows, replay(scheme, seed, history)):
                if row.arm != expected:
                    shown = patient.subject_id if visible is None or patient.site_id in visible else None
                    found.append(Mismatch(row.number, shown, row.arm, expected))
        session.add(RandomisationCheck(allocations=len(rows), mismatches=",".join(str(m.number) for m in found)))
        return Verification(len(rows), found, problems)
