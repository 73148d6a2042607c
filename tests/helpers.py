"""Building patients through the services, as a user's actions would."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from sarcotrial.services import forms as records, pathway
from sarcotrial.services.study import Actor, StudyDB

NURSE = Actor("nurse.test", "test")
DOCTOR = Actor("dr.test", "test")

SCREENING = {"age_years": 64, "histology_confirmed": True, "disease_status": "de_novo",
             "candidate_for_resection": True, "previous_rt_to_region": False, "able_to_consent": True,
             "consent_signed": True, "planned_amputation": False}


def register(study: StudyDB, hospital_number: str = "H0001", name: str = "Test Patient (synthetic)",
             dob: dt.date = dt.date(1960, 5, 1), referral_date: str = "2025-01-10", site: str = "extremity"):
    return pathway.register_patient(
        study, NURSE, identifiers=pathway.Identifiers(name, dob, hospital_number), sex="female",
        referral={"referral_date": referral_date, "anatomic_site": site})


def enrolled(study: StudyDB, hospital_number: str = "H0001", enrol_on: dt.date = dt.date(2025, 1, 22)) -> str:
    patient = register(study, hospital_number)
    pathway.screen(study, NURSE, patient.subject_id, {"screening_date": "2025-01-20", "consent_date": "2025-01-20",
                                                      **SCREENING})
    consent(study, patient.subject_id)
    pathway.enrol(study, NURSE, patient.subject_id, enrol_on)
    return patient.subject_id


def consent(study: StudyDB, subject: str, day: str = "2025-01-20", version: str = "1.0"):
    """The patient's signed consent (SPRINT 1.1 records it on its own form)."""
    return records.record(study, NURSE, subject, "consent", {"consent_date": day, "document_version": version,
                                                             "data_use": True})


def treated(study: StudyDB, hospital_number: str = "H0001") -> str:
    """Enrolled, 25 fractions delivered from Monday 3 February 2025, operated on 17 April 2025."""
    from sarcotrial.radiotherapy.calendar import treatment_dates

    subject = enrolled(study, hospital_number)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03", "calendar": "IT-MI"})
    for number, day in enumerate(treatment_dates(dt.date(2025, 2, 3), 25, "IT-MI").dates, start=1):
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": number, "fraction_date": day, "status": "delivered"})
    records.record(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-04-17", "procedure": "wide_excision",
                                                       "macroscopic_residual": False})
    return subject


#: the second protocol's (DOXAB's) screening of an eligible patient: leiomyosarcoma, metastatic and measurable,
#: first line, no anthracycline before, ECOG 1, LVEF 60 %
DOXAB_SCREENING = {"screening_date": "2025-01-20", "age_years": 64, "histology_confirmed": True,
                   "disease_extent": "metastatic", "measurable_disease": True, "ecog": 1, "lvef_percent": 60,
                   "previous_lines": 0, "previous_anthracycline": False, "histotype_group": "leiomyosarcoma",
                   "able_to_consent": True, "consent_signed": True, "consent_date": "2025-01-20"}


def doxab_enrolled(study: StudyDB, hospital_number: str = "H0001", *, enrol: bool = True,
                   enrol_on: dt.date = dt.date(2025, 1, 22)) -> str:
    """On a protocol with DOXAB's screening (DOXAB and the test protocols made from its file): registered,
    screened eligible, consented on 20 January 2025 and (``enrol``) enrolled on ``enrol_on``."""
    patient = pathway.register_patient(
        study, NURSE, identifiers=pathway.Identifiers("Test Patient (synthetic)", dt.date(1960, 5, 1), hospital_number),
        sex="female", referral={"referral_date": "2025-01-10"})
    assert pathway.screen(study, NURSE, patient.subject_id, DOXAB_SCREENING).decision == "eligible"
    consent(study, patient.subject_id)
    if enrol:
        pathway.enrol(study, NURSE, patient.subject_id, enrol_on)
    return patient.subject_id


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its write-ahead log included)."""
    source_connection, target_connection = sqlite3.connect(source), sqlite3.connect(target)
    try:
        source_connection.backup(target_connection)
    finally:
        source_connection.close()
        target_connection.close()
