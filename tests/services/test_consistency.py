"""Derived values follow the records they read; an action is all or nothing; every session is audited."""

from __future__ import annotations

import gc

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sarcotrial.errors import InvalidValue
from sarcotrial.services import forms as records
from sarcotrial.store.audit import AuditedSession
from sarcotrial.store.db import make_sessionmaker
from sarcotrial.services import views
from sarcotrial.store.models import AuditEntry, Patient, Site
from tests.helpers import DOCTOR, enrolled, treated

PATHOLOGY = {"report_date": "2025-04-28", "microscopic_margin_positive": False, "closest_margin_mm": 2,
             "closest_margin_tissue": "fascia", "viable_percent": 30}


def test_pathology_follows_a_corrected_surgery(study):
    """UICC: macroscopic residual tumour is R2 whatever the microscopic margin."""
    subject = treated(study)
    pathology = records.record(study, DOCTOR, subject, "pathology", PATHOLOGY)
    assert pathology.derived["r_status"] == "R0"
    records.correct(study, DOCTOR, subject, "surgery", {"macroscopic_residual": True},
                    reason="operation note: gross residual left on the sciatic nerve")
    assert views.form_instances(study, None, subject, "pathology")[0].derived["r_status"] == "R2"
    with study.reading() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "crf_instance",
                                                         AuditEntry.record_id == pathology.id,
                                                         AuditEntry.field == "derived.r_status")
                                .order_by(AuditEntry.id.desc())).first()
    assert (entry.old_value, entry.new_value) == ("R0", "R2")
    # the change of the surgery is the reason the pathology's derived value moved
    assert entry.reason == "operation note: gross residual left on the sciatic nerve"


def test_wound_complication_follows_a_corrected_surgery_date(study):
    """NCIC SR2: major only within 120 days of surgery (onset 29 Jul 2025 is day 103 from 17 Apr)."""
    subject = treated(study)
    wound = {"onset_date": "2025-07-29", "secondary_operation": True, "readmission_for_wound_care": False,
             "invasive_procedure_without_anaesthesia": False, "deep_packing": False, "prolonged_dressing": False}
    assert records.record(study, DOCTOR, subject, "wound_complication", wound).derived["major"] is True
    records.correct(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-03-20"}, reason="date typo")
    # now day 131
    assert views.form_instances(study, None, subject, "wound_complication")[0].derived["major"] is False


def test_adverse_event_phase_follows_the_rt_log(study):
    subject = enrolled(study)
    ae = records.record(study, DOCTOR, subject, "adverse_event", {"term": "Fatigue", "grade": 1, "onset_date": "2025-02-05"})
    assert ae.derived["phase"] is None  # no fraction delivered yet
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03"})
    records.record(study, DOCTOR, subject, "rt_fraction", {"fraction_number": 1, "fraction_date": "2025-02-03",
                                                           "status": "delivered"})
    assert views.form_instances(study, None, subject, "adverse_event")[0].derived["phase"] == "acute"


def test_a_failing_action_writes_nothing(study):
    """An error after rows were flushed rolls the whole action back, audit entries included."""
    with study.reading() as session:
        before = (len(session.scalars(select(Patient)).all()), len(session.scalars(select(AuditEntry)).all()))
    with pytest.raises(InvalidValue):
        with study.action(DOCTOR) as session:
            site = session.scalars(select(Site)).one()
            session.add(Patient(subject_id="SPR-900", site_id=site.id, sex="female", year_of_birth=1970, status="referred"))
            session.flush()  # rows and their audit entries are written...
            raise InvalidValue("test", "a rule broken late in the action")  # ...then the action fails
    with study.reading() as session:
        after = (len(session.scalars(select(Patient)).all()), len(session.scalars(select(AuditEntry)).all()))
    assert after == before


def test_every_session_is_audited_even_when_sessionmakers_come_and_go(study):
    """Regression: hooks attached per sessionmaker could miss one that reused a collected one's id. Two rounds of
    25 sessionmakers, each round collected before the next is made (a full collection is slow in a large test
    process, so the rounds collect once each rather than once per sessionmaker)."""
    for _ in range(2):
        factories = [make_sessionmaker(study.engine) for _ in range(25)]
        for factory in factories:
            with factory() as session:
                assert isinstance(session, AuditedSession)
        del factories, factory
        gc.collect()
    assert event.contains(AuditedSession, "before_flush", __import__("sarcotrial.store.audit", fromlist=["x"])._before_flush)


def test_a_plain_session_cannot_write_study_data_unaudited(study):
    """Defence in depth: without the audit hook, the NOT NULL protocol version refuses the row."""
    with Session(study.engine) as session, pytest.raises(IntegrityError):
        with session.begin():
            session.add(Site(code="ROGUE", name="written around the service layer"))


def test_histotype_outside_ajcc_staging_gets_no_stage(study):
    """AJCC 8 ch. 41 excludes desmoid fibromatosis from staging: T is kept, the stage group is empty."""
    subject = enrolled(study)
    row = records.record(study, DOCTOR, subject, "diagnosis", {
        "diagnosis_date": "2025-01-05", "histotype": "desmoid_fibromatosis", "anatomic_site": "extremity",
        "size_cm": 7, "clinical_n": "N0", "clinical_m": "M0"})
    assert (row.derived["ajcc_t"], row.derived["grade"], row.derived["stage"]) == ("T2", "X", None)
