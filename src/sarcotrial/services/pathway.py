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
from typing import Any, Mapping

from sqlalchemy import func, select

from sarcotrial.domain.eligibility import EligibilityDecision, assess_eligibility
from sarcotrial.errors import InvalidValue
from sarcotrial.protocol.forms import form_json, validate_form
from sarcotrial.protocol.schema import Protocol
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import (
    Enrolment,
    IdentifierAccess,
    Patient,
    PatientIdentifier,
    Referral,
    Screening,
    ScreeningCriterion,
    Site,
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
    with study.action(actor) as session:
        site = session.scalars(select(Site).where(Site.code == site_code)).first()
        if site is None:
            raise InvalidValue("site", "no such site in this study", site_code)
        clash = session.scalars(select(PatientIdentifier).where(PatientIdentifier.hospital_number_index == index)).first()
        if clash is not None:
            other = session.get(Patient, clash.patient_id)
            raise InvalidValue("hospital_number", f"is already registered, as {other.subject_id}", show_value=False)
        patient = Patient(subject_id=study.next_subject_id(session), site_id=site.id, sex=sex,
                          year_of_birth=dob.year, status="referred", synthetic=synthetic)
        session.add(patient)
        session.flush()
        session.add(PatientIdentifier(
            patient_id=patient.id, full_name_enc=cipher.encrypt(name), date_of_birth_enc=cipher.encrypt(dob.isoformat()),
            hospital_number_enc=cipher.encrypt(hospital_number), hospital_number_index=index))
        session.add(Referral(patient_id=patient.id, **values))
        return patient


def identify(study: StudyDB, actor: Actor, subject_id: str, purpose: str | None = None) -> Identifiers:
    """The decrypted identifiers of one patient (needs the study's key); the access itself is audited."""
    cipher = study.cipher()
    with study.action(actor) as session:
        patient = study.patient(session, subject_id)
        row = session.scalars(select(PatientIdentifier).where(PatientIdentifier.patient_id == patient.id)).one()
        found = Identifiers(cipher.decrypt(row.full_name_enc), dt.date.fromisoformat(cipher.decrypt(row.date_of_birth_enc)),
                            cipher.decrypt(row.hospital_number_enc))
        session.add(IdentifierAccess(patient_id=patient.id, purpose=(purpose or "").strip() or "not stated"))
        return found


def correct_identifiers(study: StudyDB, actor: Actor, subject_id: str, reason: str, *, full_name: str | None = None,
                        date_of_birth: dt.date | None = None, hospital_number: str | None = None) -> None:
    """Correct a patient's direct identifiers (a reason is required; the trail keeps only fingerprints)."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "a reason is required to change identifiers already entered", show_value=False)
    if full_name is None and date_of_birth is None and hospital_number is None:
        raise InvalidValue("identifiers", "give at least one of the name, the date of birth, the hospital number",
                           show_value=False)
    cipher = study.cipher()
    with study.action(actor, reason) as session:
        patient = study.patient(session, subject_id)
        row = session.scalars(select(PatientIdentifier).where(PatientIdentifier.patient_id == patient.id)).one()
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
                raise InvalidValue("hospital_number", f"is already registered, as "
                                   f"{session.get(Patient, clash.patient_id).subject_id}", show_value=False)
            row.hospital_number_enc, row.hospital_number_index = cipher.encrypt(number), index
        if date_of_birth is not None:
            if date_of_birth > dt.date.today():
                raise InvalidValue("date_of_birth", "is in the future", date_of_birth.isoformat())
            referral = session.scalars(select(Referral).where(Referral.patient_id == patient.id)).first()
            if referral is not None and referral.referral_date < date_of_birth:
                raise InvalidValue("date_of_birth", f"is after the referral ({referral.referral_date})",
                                   date_of_birth.isoformat())
            row.date_of_birth_enc = cipher.encrypt(date_of_birth.isoformat())
            patient.year_of_birth = date_of_birth.year


def find_by_hospital_number(study: StudyDB, hospital_number: str) -> str | None:
    index = study.cipher().index(hospital_number)
    with study.reading() as session:
        row = session.scalars(select(PatientIdentifier).where(PatientIdentifier.hospital_number_index == index)).first()
        return session.get(Patient, row.patient_id).subject_id if row else None


def screen(study: StudyDB, actor: Actor, subject_id: str, values: Mapping[str, Any]) -> Screening:
    """Screen a referred patient: the screening form checked, every criterion decided and stored."""
    form_id = study.protocol.eligibility.form
    clean = validate_form(study.protocol, form_id, values, partial=True)
    decision = eligibility(study.protocol, clean)
    missing_required = [f.id for f in study.protocol.form(form_id).fields if f.required and clean.get(f.id) is None]
    with study.action(actor) as session:
        patient = study.patient(session, subject_id)
        if patient.status in ("enrolled", "dead", "withdrawn"):
            raise InvalidValue("patient", f"{patient.subject_id} is {patient.status}; screening is closed", show_value=False)
        referral = session.scalars(select(Referral).where(Referral.patient_id == patient.id)).first()
        day = clean.get("screening_date")
        if day is None:
            raise InvalidValue(f"{form_id}.screening_date", "is required", show_value=False)
        if referral is not None and day < referral.referral_date:
            raise InvalidValue(f"{form_id}.screening_date", f"must not be before the referral ({referral.referral_date})",
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
        row = Screening(patient_id=patient.id, screening_date=day, data=form_json(clean), decision=decision.decision,
                        reasons="\n".join(reasons))
        for position, result in enumerate(decision.criteria):
            row.criteria.append(ScreeningCriterion(position=position, criterion_id=result.id, kind=result.kind,
                                                   result=result.result, reason=result.reason))
        session.add(row)
        patient.status = {"eligible": "eligible", "ineligible": "screen_failed", "not_evaluable": "screening"}[decision.decision]
        session.flush()
        return row


def enrol(study: StudyDB, actor: Actor, subject_id: str, enrolment_date: dt.date) -> Enrolment:
    """Enrol an eligible patient (the latest screening must be eligible, consent signed on or before today)."""
    target = study.protocol.identification.design.target_accrual
    with study.action(actor) as session:
        patient = study.patient(session, subject_id)
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
        consent = latest.data.get("consent_date")
        consent_date = dt.date.fromisoformat(consent) if consent else latest.screening_date
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
        return row
