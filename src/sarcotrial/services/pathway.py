"""The patient's way into the trial: referral from the tumour board, screening, enrolment.

Registration creates the pseudonymised patient (``SPR-001``), its referral, and its encrypted
identifiers; nothing outside this module and :meth:`identify` ever sees the identifiers.
Screening checks the protocol's screening form and decides eligibility with the domain engine
(:mod:`sarcotrial.domain.eligibility`), storing a decision per criterion with its reason.
Enrolment is allowed only after an *eligible* screening, within the protocol's target accrual.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import func, select

from sarcotrial.domain.eligibility import EligibilityDecision, assess_eligibility
from sarcotrial.errors import InvalidValue
from sarcotrial.protocol.forms import form_json, validate_form
from sarcotrial.protocol.schema import Protocol
from sarcotrial.services.study import Actor, StudyDB

if TYPE_CHECKING:
    from sarcotrial.services.age_recheck import AgeRecheck
from sarcotrial.store.models import (
    CRFInstance,
    Enrolment,
    IdentifierAccess,
    Patient,
    PatientIdentifier,
    Screening,
    ScreeningCriterion,
)

SEXES = ("female", "male", "other")


@dataclass(frozen=True)
class Identifiers:
    full_name: str
    date_of_birth: dt.date
    hospital_number: str


def eligibility(protocol: Protocol, screening_values: Mapping[str, Any]) -> EligibilityDecision:
    """The protocol's criteria applied to screening values (already checked against the screening form)."""
    criteria = [c.model_dump(by_alias=True, exclude_none=False) for c in protocol.eligibility.criteria]
    return assess_eligibility(criteria, screening_values)


def register_patient(study: StudyDB, actor: Actor, *, identifiers: Identifiers, sex: str,
                     referral: Mapping[str, Any], site_code: str = "MAIN", synthetic: bool = False) -> Patient:
    """A tumour-board referral: creates the patient, the referral and the encrypted identifiers."""
    name = " ".join(identifiers.full_name.split())
    if not name:
        raise InvalidValue("full_name", "must not be empty")
    hospital_number = identifiers.hospital_number.strip()
    if not hospital_number:
        raise InvalidValue("hospital_number", "must not be empty")
    if sex not in SEXES:
        raise InvalidValue("sex", f"must be one of {', '.join(SEXES)}", sex)
    dob = identifiers.date_of_birth
    today = dt.date.today()
    if dob > today:
        raise InvalidValue("date_of_birth", "is in the future", dob.isoformat())
    if dob.year < today.year - 120:
        raise InvalidValue("date_of_birth", "gives an age over 120 years", dob.isoformat())
    values = validate_form(study.protocol, "referral", referral)
    for key in ("referral_date", "tumour_board_date"):
        day = values.get(key)
        if day is not None and day < dob:
            raise InvalidValue(f"referral.{key}", f"is before the date of birth ({dob.isoformat()})", day.isoformat())
        if day is not None and day > today:
            raise InvalidValue(f"referral.{key}", "is in the future", day.isoformat())
    if values.get("tumour_board_date") and values["tumour_board_date"] < values["referral_date"]:
        raise InvalidValue("referral.tumour_board_date", f"must not be before the referral ({values['referral_date']})",
                           values["tumour_board_date"].isoformat())
    cipher = study.cipher()
    index = cipher.index(hospital_number)
    with study.action(actor, permission="patient.register") as session:
        site = study.site(session, site_code)  # unknown, or not among the principal's sites: refused
        from sarcotrial.services.forms import require_unlocked

        require_unlocked(session, None, None, "registering a patient")
        clash = session.scalars(select(PatientIdentifier).where(PatientIdentifier.hospital_number_index == index)).first()
        if clash is not None:
            raise InvalidValue("hospital_number", _already_registered(study, session, clash.patient_id),
                               show_value=False)
        patient = Patient(subject_id=study.next_subject_id(session), site_id=site.id, sex=sex,
                          year_of_birth=dob.year, status="referred", synthetic=synthetic)
        session.add(patient)
        session.flush()
        session.add(PatientIdentifier(
            patient_id=patient.id, full_name_enc=cipher.encrypt(name), date_of_birth_enc=cipher.encrypt(dob.isoformat()),
            hospital_number_enc=cipher.encrypt(hospital_number), hospital_number_index=index))
        _store_form(study, session, patient, "referral", values)
        from sarcotrial.services.visits import sync_schedule

        sync_schedule(study, session, patient, written="referral")
        return patient


def _store_form(study: StudyDB, session, patient: Patient, form_id: str, values: Mapping[str, Any]) -> CRFInstance:
    """A pathway form (referral, screening) as a CRF instance: at the visit that collects it, else unscheduled;
    each screening is a new instance (a patient may be screened again)."""
    from sarcotrial.domain.crf import UNSCHEDULED, entry_status
    from sarcotrial.services.forms import _occurrence

    visits = study.protocol.visits_of_form(form_id)
    occurrence = _occurrence(session, study, patient, visits[0].id if visits else UNSCHEDULED, 1, create=True)
    number = (session.scalar(select(func.max(CRFInstance.instance)).where(
        CRFInstance.visit_occurrence_id == occurrence.id, CRFInstance.form_id == form_id)) or 0) + 1
    form = study.protocol.form(form_id)
    data = form_json({k: v for k, v in values.items() if v is not None})
    row = CRFInstance(study_id=study.study_id, patient_id=patient.id, visit_occurrence_id=occurrence.id,
                      form_id=form_id, instance=number, status=entry_status([f.id for f in form.fields if f.required],
                                                                             data, {}),
                      revision=1, data=data, derived={}, missing={},
                      verified={})
    session.add(row)
    session.flush()
    return row


def _already_registered(study: StudyDB, session, patient_id: int) -> str:
    """The refusal of a hospital number already in the study: it names the patient only to someone
    who may see them (a site's staff are not told which subject of another site it is)."""
    from sarcotrial.store.scoping import ALL_STUDIES

    other = session.scalars(select(Patient).where(Patient.id == patient_id)
                            .execution_options(**{ALL_STUDIES: True})).one()
    visible = study.visible_site_ids(session)
    if visible is not None and other.site_id not in visible:
        return "is already registered in this database, at a site you do not see"
    rows = person_rows(session, other)
    here = [r for r in rows if r.study_id == study.study_id]
    if here:
        return f"is already registered, as {here[0].subject_id}"
    return (f"is already registered, as {other.subject_id} (a registry patient of another study): take them into "
            f"{study.protocol.acronym} with 'patient add-to-study {other.subject_id}'")


def referral_date(study: StudyDB, session, patient: Patient) -> dt.date | None:
    row = session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id,
                                                    CRFInstance.form_id == "referral").order_by(CRFInstance.id)).first()
    value = (row.data or {}).get("referral_date") if row is not None else None
    return dt.date.fromisoformat(value) if value else None


def identify(study: StudyDB, actor: Actor, subject_id: str, purpose: str | None = None) -> Identifiers:
    """The decrypted identifiers of one patient (needs the study's key); the access itself is audited."""
    cipher = study.cipher()
    with study.action(actor, permission="read.identifiers") as session:
        patient = study.patient(session, subject_id)
        row = session.scalars(select(PatientIdentifier).where(PatientIdentifier.patient_id == patient.registry_id)).one()
        found = Identifiers(cipher.decrypt(row.full_name_enc), dt.date.fromisoformat(cipher.decrypt(row.date_of_birth_enc)),
                            cipher.decrypt(row.hospital_number_enc))
        session.add(IdentifierAccess(patient_id=patient.id, purpose=(purpose or "").strip() or "not stated"))
        return found


def correct_identifiers(study: StudyDB, actor: Actor, subject_id: str, reason: str, *, full_name: str | None = None,
                        date_of_birth: dt.date | None = None, hospital_number: str | None = None) -> AgeRecheck | None:
    """Correct a patient's direct identifiers (a reason is required; the trail keeps only fingerprints).

    A corrected date of birth of a screened patient gives the age at screening again and judges
    eligibility with it (:mod:`sarcotrial.services.age_recheck`); the result says what it found."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "a reason is required to change identifiers already entered", show_value=False)
    if full_name is None and date_of_birth is None and hospital_number is None:
        raise InvalidValue("identifiers", "give at least one of the name, the date of birth, the hospital number",
                           show_value=False)
    cipher = study.cipher()
    with study.action(actor, reason, permission="correct") as session:
        patient = study.patient(session, subject_id)
        from sarcotrial.services.forms import require_unlocked

        require_unlocked(session, patient, None, "a correction of the identifiers")
        row = session.scalars(select(PatientIdentifier).where(PatientIdentifier.patient_id == patient.registry_id)).one()
        if full_name is not None:
            name = " ".join(full_name.split())
            if not name:
                raise InvalidValue("full_name", "must not be empty")
            row.full_name_enc = cipher.encrypt(name)
        if hospital_number is not None:
            number = hospital_number.strip()
            if not number:
                raise InvalidValue("hospital_number", "must not be empty")
            index = cipher.index(number)
            clash = session.scalars(select(PatientIdentifier).where(PatientIdentifier.hospital_number_index == index,
                                                                    PatientIdentifier.id != row.id)).first()
            if clash is not None:
                raise InvalidValue("hospital_number", _already_registered(study, session, clash.patient_id),
                                   show_value=False)
            row.hospital_number_enc, row.hospital_number_index = cipher.encrypt(number), index
        if date_of_birth is not None:
            if date_of_birth > dt.date.today():
                raise InvalidValue("date_of_birth", "is in the future", date_of_birth.isoformat())
            referred = referral_date(study, session, patient)
            if referred is not None and referred < date_of_birth:
                raise InvalidValue("date_of_birth", f"is after the referral ({referred})", date_of_birth.isoformat())
            row.date_of_birth_enc = cipher.encrypt(date_of_birth.isoformat())
            patient.year_of_birth = date_of_birth.year
            from sarcotrial.services.age_recheck import recheck_eligibility_age

            return recheck_eligibility_age(study, session, patient, date_of_birth)
    return None


def find_by_hospital_number(study: StudyDB, actor: Actor | None, hospital_number: str) -> str | None:
    """The subject id registered under a hospital number (a patient of the user's sites only). A
    look-up that finds a patient links an identifier to a pseudonym, so it is logged as a reading of
    that patient's identifiers (``identifier_access``, purpose "hospital number look-up")."""
    index = study.cipher().index(hospital_number)
    with study.reading(actor, permission="read.identifiers") as session:
        row = session.scalars(select(PatientIdentifier).where(PatientIdentifier.hospital_number_index == index)).first()
        if row is None:
            return None
        visible = study.visible_site_ids(session)
        from sarcotrial.store.scoping import ALL_STUDIES

        patient = session.scalars(select(Patient).where(Patient.id == row.patient_id)
                                  .execution_options(**{ALL_STUDIES: True})).one()
        if visible is not None and patient.site_id not in visible:
            return None
        here = [r for r in person_rows(session, patient) if r.study_id == study.study_id]
        patient = here[0] if here else patient  # the person's subject id in this study, else the registry's
        subject_id, patient_id = patient.subject_id, patient.id
    if actor is not None:
        with study.action(actor, permission="read.identifiers") as session:
            session.add(IdentifierAccess(patient_id=patient_id, purpose="hospital number look-up"))
    return subject_id


def screen(study: StudyDB, actor: Actor, subject_id: str, values: Mapping[str, Any]) -> Screening:
    """Screen a referred patient: the screening form checked, every criterion decided and stored."""
    form_id = study.protocol.eligibility.form
    clean = validate_form(study.protocol, form_id, values, partial=True)
    decision = eligibility(study.protocol, clean)
    missing_required = [f.id for f in study.protocol.form(form_id).fields if f.required and clean.get(f.id) is None]
    with study.action(actor, permission="patient.screen") as session:
        patient = study.patient(session, subject_id)
        from sarcotrial.services.forms import require_unlocked

        require_unlocked(session, patient, None, "screening")
        if patient.status in ("enrolled", "dead", "withdrawn"):
            raise InvalidValue("patient", f"{patient.subject_id} is {patient.status}; screening is closed", show_value=False)
        referred = referral_date(study, session, patient)
        day = clean.get("screening_date")
        if day is None:
            raise InvalidValue(f"{form_id}.screening_date", "is required", show_value=False)
        if referred is not None and day < referred:
            raise InvalidValue(f"{form_id}.screening_date", f"must not be before the referral ({referred})",
                               day.isoformat())
        if day > dt.date.today():
            raise InvalidValue(f"{form_id}.screening_date", "is in the future", day.isoformat())
        consent = clean.get("consent_date")
        if consent is not None and clean.get("consent_signed") is True and consent > day:
            raise InvalidValue(f"{form_id}.consent_date", f"is after the screening ({day}) although consent is recorded "
                               "as signed at screening", consent.isoformat())
        age = clean.get("age_years")
        if age is not None and age not in (day.year - patient.year_of_birth, day.year - patient.year_of_birth - 1):
            raise InvalidValue(f"{form_id}.age_years", f"does not agree with the year of birth {patient.year_of_birth} "
                               f"at the screening date {day}", age)
        reasons = decision.reasons
        if decision.decision == "not_evaluable" and missing_required:
            reasons = reasons + [f"missing required answers: {', '.join(missing_required)}"]
        crf = _store_form(study, session, patient, form_id, clean)
        row = Screening(patient_id=patient.id, crf_instance_id=crf.id, screening_date=day, decision=decision.decision,
                        reasons="\n".join(reasons))
        for position, result in enumerate(decision.criteria):
            row.criteria.append(ScreeningCriterion(position=position, criterion_id=result.id, kind=result.kind,
                                                   result=result.result, reason=result.reason))
        session.add(row)
        patient.status = {"eligible": "eligible", "ineligible": "screen_failed", "not_evaluable": "screening"}[decision.decision]
        session.flush()
        return row


def consent_records(study: StudyDB, session, patient: Patient) -> list[dict[str, Any]]:
    """A patient's consent forms (values in their types), oldest first."""
    from sarcotrial.protocol.forms import from_json

    spec = study.protocol.consent
    if spec is None:
        return []
    form = study.protocol.form(spec.form)
    rows = session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id,
                                                     CRFInstance.form_id == spec.form).order_by(CRFInstance.id)).all()
    out = [from_json(form, r.data) for r in rows if r.data and r.status != "not_done"]
    return sorted(out, key=lambda c: (c.get(spec.date_field) or dt.date.min))


@dataclass(frozen=True)
class Reconsent:
    subject: str
    signed_version: str | None
    signed_on: dt.date | None
    current_version: str


def reconsent_due(study: StudyDB, actor: Actor | None) -> list[Reconsent]:
    """Patients followed on the study whose latest consent is to an older version of the consent
    document than the protocol's current one (they must consent again)."""
    spec = study.protocol.consent
    if spec is None:
        return []
    out = []
    with study.reading(actor) as session:
        query = select(Patient).order_by(Patient.subject_id)
        visible = study.visible_site_ids(session)
        if visible is not None:
            query = query.where(Patient.site_id.in_(visible))
        for patient in session.scalars(query):
            if patient.status != "enrolled":
                continue
            consents = consent_records(study, session, patient)
            latest = consents[-1] if consents else None
            version = latest.get(spec.version_field) if latest else None
            if version != spec.current_version:
                out.append(Reconsent(patient.subject_id, version, latest.get(spec.date_field) if latest else None,
                                     spec.current_version))
    return out


def screening_values(session, screening: Screening) -> dict[str, Any]:
    """The answers a screening decision judged (its CRF instance's values, as stored)."""
    crf = session.get(CRFInstance, screening.crf_instance_id)
    return dict(crf.data or {}) if crf is not None else {}


def enrol(study: StudyDB, actor: Actor, subject_id: str, enrolment_date: dt.date) -> Enrolment:
    """Enrol an eligible patient (the latest screening must be eligible, consent signed on or before today).

    A protocol that declares arms allocates the patient in the same transaction
    (:func:`sarcotrial.services.randomisation.allocate_at_enrolment`): a refused or failed allocation
    leaves no enrolment either."""
    from sarcotrial.services import randomisation

    target = study.protocol.identification.design.target_accrual
    # the seed is kept encrypted with the study's key: read the key before the unit of work opens
    cipher = study.cipher() if randomisation.randomises(study.protocol) else None
    with study.action(actor, permission="patient.enrol") as session:
        patient = study.patient(session, subject_id)
        from sarcotrial.services.forms import require_unlocked

        require_unlocked(session, patient, None, "enrolment")
        if patient.status == "enrolled":
            raise InvalidValue("patient", f"{patient.subject_id} is already enrolled", show_value=False)
        latest = session.scalars(select(Screening).where(Screening.patient_id == patient.id)
                                 .order_by(Screening.screening_date.desc(), Screening.id.desc())).first()
        if latest is None or latest.decision != "eligible":
            state = "has not been screened" if latest is None else f"latest screening is {latest.decision.replace('_', ' ')}"
            raise InvalidValue("patient", f"{patient.subject_id} cannot be enrolled: {state}", show_value=False)
        if enrolment_date < latest.screening_date:
            raise InvalidValue("enrolment_date", f"must not be before the screening ({latest.screening_date})",
                               enrolment_date.isoformat())
        if enrolment_date > dt.date.today():
            raise InvalidValue("enrolment_date", "is in the future", enrolment_date.isoformat())
        consent = screening_values(session, latest).get("consent_date")
        consent_date = dt.date.fromisoformat(consent) if consent else latest.screening_date
        spec = study.protocol.consent
        if spec is not None:  # the protocol records consent on a form of its own
            consents = [c for c in consent_records(study, session, patient)
                        if spec.data_use_field is None or c.get(spec.data_use_field) is not False]
            dated = [c[spec.date_field] for c in consents if c.get(spec.date_field) is not None]
            if not dated:
                raise InvalidValue("consent", f"{patient.subject_id} has no consent recorded: record the '{spec.form}' "
                                   "form before enrolment", show_value=False)
            consent_date = min(dated)
        if consent_date > enrolment_date:
            raise InvalidValue("enrolment_date", f"must not be before the signed consent ({consent_date})",
                               enrolment_date.isoformat())
        enrolled = session.scalar(select(func.count(Enrolment.id))) or 0
        if enrolled >= target:
            raise InvalidValue("enrolment", f"the protocol's target accrual of {target} is reached; an amendment is "
                               "needed to enrol more", show_value=False)
        row = Enrolment(patient_id=patient.id, screening_id=latest.id, enrolment_date=enrolment_date,
                        consent_date=consent_date, sequence=enrolled + 1)
        session.add(row)
        patient.status = "enrolled"
        session.flush()
        randomisation.allocate_at_enrolment(study, session, patient, row, latest, cipher)
        from sarcotrial.protocol.schema import ENROLMENT_FORM
        from sarcotrial.services.visits import sync_schedule

        sync_schedule(study, session, patient, written=ENROLMENT_FORM)
        return row


# --------------------------------------------------------------------------- reads for the screening pages
#: the statuses in which :func:`screen` refuses a new screening
SCREENING_CLOSED = ("enrolled", "dead", "withdrawn")
#: the pathway's statuses before and at enrolment, in the order a patient passes them
PATHWAY_STATUSES = ("referred", "screening", "eligible", "screen_failed", "enrolled")


@dataclass(frozen=True)
class CriterionVerdict:
    """One criterion as a screening judged it: the protocol's text beside the stored result and reason."""

    id: str
    kind: str
    text: str
    result: str  # met / not_met / not_evaluable
    reason: str

    @property
    def passes(self) -> bool | None:
        """Whether the criterion lets the patient through (``None``: not evaluable)."""
        if self.result == "not_evaluable":
            return None
        return (self.result == "met") == (self.kind == "inclusion")


@dataclass(frozen=True)
class ScreeningResult:
    """A stored screening: the date, the decision, each criterion's verdict with its reason, the answers judged."""

    id: int
    screening_date: dt.date
    decision: str  # eligible / ineligible / not_evaluable
    reasons: list[str]
    criteria: list[CriterionVerdict]
    values: dict[str, Any]

    @property
    def failed(self) -> list[CriterionVerdict]:
        return [c for c in self.criteria if c.passes is False]

    @property
    def unknown(self) -> list[CriterionVerdict]:
        return [c for c in self.criteria if c.passes is None]


@dataclass(frozen=True)
class ScreeningLogRow:
    """One patient of the screening log (pseudonymised: no identifiers)."""

    subject_id: str
    site: str
    sex: str
    year_of_birth: int
    status: str
    referral_date: dt.date | None
    screenings: int
    last: ScreeningResult | None
    consent_date: dt.date | None
    consent_version: str | None
    enrolment_date: dt.date | None


@dataclass(frozen=True)
class ScreeningFile:
    """A patient's way into the trial as the screening page shows it (pseudonymised)."""

    subject_id: str
    site: str
    sex: str
    year_of_birth: int
    status: str
    referral: dict[str, Any]
    screenings: list[ScreeningResult]  # newest first
    consents: list[dict[str, Any]]  # oldest first, values in their types
    enrolment_date: dt.date | None
    enrolment_sequence: int | None
    screening_open: bool  # a new screening would be accepted (status and enrolment allow it)
    enrolment_blockers: list[str]  # why enrolment would be refused now; empty: it may be offered

    @property
    def last(self) -> ScreeningResult | None:
        return self.screenings[0] if self.screenings else None


def _screening_result(study: StudyDB, session, row: Screening) -> ScreeningResult:
    from sarcotrial.protocol.forms import from_json

    texts = {c.id: c.text for c in study.protocol.eligibility.criteria}
    crf = session.get(CRFInstance, row.crf_instance_id)
    values = from_json(study.protocol.form(crf.form_id), crf.data or {}) if crf is not None else {}
    criteria = [CriterionVerdict(c.criterion_id, c.kind, texts.get(c.criterion_id, c.criterion_id), c.result, c.reason)
                for c in row.criteria]
    return ScreeningResult(row.id, row.screening_date, row.decision, [r for r in (row.reasons or "").splitlines() if r],
                           criteria, values)


def _consents_usable(study: StudyDB, consents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The consents :func:`enrol` accepts: dated, and not refusing the use of the data."""
    spec = study.protocol.consent
    if spec is None:
        return []
    return [c for c in consents if c.get(spec.date_field) is not None
            and (spec.data_use_field is None or c.get(spec.data_use_field) is not False)]


def screening_log(study: StudyDB, actor: Actor | None, *, status: str | None = None,
                  site: str | None = None) -> list[ScreeningLogRow]:
    """The screening log of the user's sites: every patient with referral, latest screening (its failed
    criteria with their reasons), consent and enrolment; optionally of one status or one site."""
    from sarcotrial.protocol.forms import from_json
    from sarcotrial.store.models import Site

    spec = study.protocol.consent
    with study.reading(actor) as session:
        query = select(Patient, Site.code).join(Site, Site.id == Patient.site_id).order_by(Patient.subject_id)
        visible = study.visible_site_ids(session)
        if visible is not None:
            query = query.where(Patient.site_id.in_(visible))
        if status:
            query = query.where(Patient.status == status)
        if site:
            query = query.where(func.upper(Site.code) == site.strip().upper())
        pairs = session.execute(query).all()
        ids = [p.id for p, _ in pairs]
        if not ids:
            return []
        referrals: dict[int, dt.date] = {}
        consents: dict[int, list[dict[str, Any]]] = {}
        forms = ["referral"] + ([spec.form] if spec is not None else [])
        for crf in session.scalars(select(CRFInstance).where(CRFInstance.patient_id.in_(ids),
                                                             CRFInstance.form_id.in_(forms)).order_by(CRFInstance.id)):
            if crf.form_id == "referral" and crf.patient_id not in referrals:
                day = (crf.data or {}).get("referral_date")
                if day:
                    referrals[crf.patient_id] = dt.date.fromisoformat(day)
            elif spec is not None and crf.form_id == spec.form and crf.data and crf.status != "not_done":
                consents.setdefault(crf.patient_id, []).append(from_json(study.protocol.form(spec.form), crf.data))
        latest: dict[int, Screening] = {}
        counts: dict[int, int] = {}
        for row in session.scalars(select(Screening).where(Screening.patient_id.in_(ids))
                                   .order_by(Screening.screening_date, Screening.id)):
            latest[row.patient_id] = row
            counts[row.patient_id] = counts.get(row.patient_id, 0) + 1
        enrolments = {e.patient_id: e for e in session.scalars(select(Enrolment).where(Enrolment.patient_id.in_(ids)))}
        out = []
        for patient, code in pairs:
            given = sorted(consents.get(patient.id, []), key=lambda c: c.get(spec.date_field) or dt.date.min) if spec else []
            last_consent = given[-1] if given else None
            out.append(ScreeningLogRow(
                patient.subject_id, code, patient.sex, patient.year_of_birth, patient.status,
                referrals.get(patient.id), counts.get(patient.id, 0),
                _screening_result(study, session, latest[patient.id]) if patient.id in latest else None,
                last_consent.get(spec.date_field) if last_consent else None,
                last_consent.get(spec.version_field) if last_consent else None,
                enrolments[patient.id].enrolment_date if patient.id in enrolments else None))
        return out


def screening_file(study: StudyDB, actor: Actor | None, subject_id: str) -> ScreeningFile:
    """One patient's referral, screenings (newest first, each criterion with its reason), consents and
    enrolment, and whether a screening or an enrolment would be accepted now."""
    from sarcotrial.protocol.forms import from_json
    from sarcotrial.store.models import Site

    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        site = session.get(Site, patient.site_id)
        referral_row = session.scalars(select(CRFInstance).where(
            CRFInstance.patient_id == patient.id, CRFInstance.form_id == "referral").order_by(CRFInstance.id)).first()
        referral = from_json(study.protocol.form("referral"), referral_row.data or {}) if referral_row else {}
        rows = session.scalars(select(Screening).where(Screening.patient_id == patient.id)
                               .order_by(Screening.screening_date.desc(), Screening.id.desc())).all()
        screenings = [_screening_result(study, session, r) for r in rows]
        consents = consent_records(study, session, patient)
        enrolment = session.scalars(select(Enrolment).where(Enrolment.patient_id == patient.id)).first()
        blockers = []
        if enrolment is not None or patient.status == "enrolled":
            blockers.append(f"{patient.subject_id} is already enrolled")
        elif not screenings:
            blockers.append(f"{patient.subject_id} has not been screened")
        elif screenings[0].decision != "eligible":
            blockers.append(f"the latest screening is {screenings[0].decision.replace('_', ' ')}")
        if enrolment is None and study.protocol.consent is not None and not _consents_usable(study, consents):
            blockers.append("no consent is recorded")
        return ScreeningFile(
            patient.subject_id, site.code if site else "?", patient.sex, patient.year_of_birth, patient.status, referral,
            screenings, consents, enrolment.enrolment_date if enrolment else None,
            enrolment.sequence if enrolment else None,
            enrolment is None and patient.status not in SCREENING_CLOSED, blockers)


def form_problems(study: StudyDB, form_id: str, values: Mapping[str, Any], *,
                  partial: bool = True) -> dict[str, InvalidValue]:
    """Every field of a form whose value the form would refuse, by field id (one refusal per field), so a
    page can show each message beside its field at once; the writing service checks again."""
    from sarcotrial.protocol.forms import coerce_value

    form = study.protocol.form(form_id)
    problems: dict[str, InvalidValue] = {}
    for fld in form.fields:
        if fld.id not in values:
            if not partial and fld.required:
                problems[fld.id] = InvalidValue(f"{form_id}.{fld.id}", f"is required ({fld.label})", show_value=False)
            continue
        try:
            value = coerce_value(form_id, fld, values[fld.id], study.protocol)
        except InvalidValue as exc:
            problems[fld.id] = exc
            continue
        if value is None and not partial and fld.required:
            problems[fld.id] = InvalidValue(f"{form_id}.{fld.id}", f"is required ({fld.label})", show_value=False)
    return problems


# --------------------------------------------------------------------------- several studies
def person_rows(session, patient: Patient) -> list[Patient]:
    """Every study's row of the person ``patient`` is (their registry patient first), read across the
    database's studies."""
    from sarcotrial.store.scoping import ALL_STUDIES

    home = patient.registry_id
    return list(session.scalars(select(Patient).where((Patient.id == home) | (Patient.registry_patient_id == home))
                                .order_by(Patient.id).execution_options(**{ALL_STUDIES: True})))


def carried_referral(source_protocol, target_protocol, data: Mapping[str, Any]) -> dict[str, Any]:
    """The answers of a referral form that the target study's referral form asks too (same field id,
    same type, a value its rules accept): what a later study takes over rather than asks again."""
    try:
        target = target_protocol.form("referral")
        source = source_protocol.form("referral")
    except KeyError:
        return {}
    types = {f.id: f.type for f in source.fields}
    carried: dict[str, Any] = {}
    for fld in target.fields:
        value = data.get(fld.id)
        if value is None or types.get(fld.id) != fld.type:
            continue
        try:
            carried.update(validate_form(target_protocol, "referral", {fld.id: value}, partial=True))
        except InvalidValue:
            continue  # a code the target's codelist does not have, a value out of its range: asked again
    return carried


def add_to_study(study: StudyDB, actor: Actor, subject_id: str, referral: Mapping[str, Any] | None = None) -> Patient:
    """Take a registry patient (a patient of another of the database's studies) into ``study``: a row of
    their own here, with a subject id of this study, linked to their registry patient (one person, one
    encrypted identifier record: nothing is asked again). The referral form's answers that this study's
    referral form asks too are carried over; ``referral`` gives the others (and wins)."""
    from sarcotrial.services.forms import require_unlocked
    from sarcotrial.services.visits import sync_schedule
    from sarcotrial.store.scoping import ALL_STUDIES

    with study.action(actor, f"taken into {study.protocol.acronym} from the unit's registry",
                      permission="patient.register") as session:
        source = session.scalars(select(Patient).where(Patient.subject_id == subject_id.strip().upper())
                                 .execution_options(**{ALL_STUDIES: True})).first()
        visible = study.visible_site_ids(session)
        if source is None or (visible is not None and source.site_id not in visible):
            raise InvalidValue("patient", "no such subject id in this database", subject_id)
        require_unlocked(session, None, None, "registering a patient")
        rows = person_rows(session, source)
        here = [r for r in rows if r.study_id == study.study_id]
        if here:
            raise InvalidValue("patient", f"{source.subject_id} is already in {study.protocol.acronym}, as "
                               f"{here[0].subject_id}", show_value=False)
        if any(r.status == "dead" for r in rows):
            raise InvalidValue("patient", f"{source.subject_id} has died", show_value=False)
        home = rows[0]
        carried: dict[str, Any] = {}
        for row in rows:  # the registry patient's referral first, then later studies' (later wins)
            crf = session.scalars(select(CRFInstance).where(CRFInstance.patient_id == row.id,
                                                            CRFInstance.form_id == "referral")
                                  .order_by(CRFInstance.id).execution_options(**{ALL_STUDIES: True})).first()
            if crf is not None and crf.data:
                origin = study.sibling(row.study_id).protocol
                carried.update(carried_referral(origin, study.protocol, crf.data))
        values = validate_form(study.protocol, "referral", {**form_json(carried), **dict(referral or {})})
        patient = Patient(subject_id=study.next_subject_id(session), site_id=home.site_id, sex=home.sex,
                          year_of_birth=home.year_of_birth, status="referred", synthetic=home.synthetic,
                          registry_patient_id=home.id, study_id=study.study_id)
        session.add(patient)
        session.flush()
        _store_form(study, session, patient, "referral", values)
        sync_schedule(study, session, patient, written="referral")
        return patient


def subject_in_study(study: StudyDB, actor: Actor, subject_id: str) -> str:
    """The person's subject id in ``study``, taking them into it from the registry when they have none
    there yet (:func:`add_to_study`)."""
    from sarcotrial.store.scoping import ALL_STUDIES

    with study.reading(actor, permission="patient.screen", unit=True) as session:
        source = session.scalars(select(Patient).where(Patient.subject_id == subject_id.strip().upper())
                                 .execution_options(**{ALL_STUDIES: True})).first()
        here = [r for r in person_rows(session, source) if r.study_id == study.study_id] if source is not None else []
    if source is None or here:
        return here[0].subject_id if here else subject_id
    return add_to_study(study, actor, subject_id).subject_id


def subject_of_screening(study: StudyDB, screening: Screening) -> str:
    """The subject id a stored screening is of."""
    with study.reading() as session:
        return session.get(Patient, screening.patient_id).subject_id
