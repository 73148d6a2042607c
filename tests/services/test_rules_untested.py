"""Pathway and storage rules that had no test of their own."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select, text

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol import ProtocolError, parse_protocol, read_protocol
from sarcotrial.services import forms as records, pathway
from sarcotrial.store import db as store_db
from sarcotrial.services import views
from sarcotrial.store.models import Patient
from tests.helpers import DOCTOR, NURSE, SCREENING, enrolled, register, treated


def _course(study, calendar="IT"):
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03", "calendar": calendar})
    return subject


def test_fraction_on_a_holiday_of_the_course_calendar(study):
    """25 April (Liberation Day, Italian national holiday; Law 260/1949) 2025 is a Friday."""
    subject = _course(study)
    with pytest.raises(InvalidValue, match="public holiday .*in the course's IT calendar"):
        records.record(study, DOCTOR, subject, "rt_fraction", {"fraction_number": 1, "fraction_date": "2025-04-25",
                                                               "status": "delivered"})


def test_same_fraction_twice_the_same_day(study):
    subject = _course(study)
    records.record(study, DOCTOR, subject, "rt_fraction", {"fraction_number": 3, "fraction_date": "2025-02-05",
                                                           "status": "missed", "reason": "linac breakdown"})
    with pytest.raises(InvalidValue, match="fraction 3 is already recorded as missed that day"):
        records.record(study, DOCTOR, subject, "rt_fraction", {"fraction_number": 3, "fraction_date": "2025-02-05",
                                                               "status": "delivered"})


def test_rt_start_on_a_closed_day(study):
    subject = enrolled(study)
    with pytest.raises(InvalidValue, match="Sunday is not a treatment day; the next treatment day is Mon 03 Feb 2025"):
        records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-02"})


def test_pathology_percentages_cannot_exceed_100(study):
    subject = treated(study)
    with pytest.raises(InvalidValue, match="add up to 120 %"):
        records.record(study, DOCTOR, subject, "pathology", {
            "report_date": "2025-04-28", "microscopic_margin_positive": False, "closest_margin_mm": 3,
            "viable_percent": 30, "necrosis_percent": 50, "fibrosis_percent": 40})


def test_consent_after_screening_though_signed_at_screening(study):
    patient = register(study)
    with pytest.raises(InvalidValue, match="screening.consent_date: is after the screening"):
        pathway.screen(study, NURSE, patient.subject_id, {**SCREENING, "screening_date": "2025-01-20",
                                                          "consent_date": "2025-01-25"})


def test_delete_refused_while_records_depend_on_it(study):
    subject = treated(study)
    with pytest.raises(InvalidValue, match="rt course has 25 rt fraction form\\(s\\) recorded against it"):
        records.delete(study, DOCTOR, subject, "rt_course", reason="entered twice")
    assert len(views.form_instances(study, None, subject, "rt_course")) == 1


def test_foreign_database_is_never_migrated(tmp_path):
    engine = store_db.make_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    with pytest.raises(store_db.DatabaseError, match="not a SarcoTrial study"):
        store_db.upgrade(engine)
    engine.dispose()


def test_record_ids_are_never_reused(study):
    subject = treated(study)
    first = records.record(study, DOCTOR, subject, "adverse_event", {"term": "Fatigue", "grade": 1, "onset_date": "2025-02-20"})
    records.delete(study, DOCTOR, subject, "adverse_event", reason="wrong patient", record_id=first.id)
    second = records.record(study, DOCTOR, subject, "adverse_event", {"term": "Fatigue", "grade": 2, "onset_date": "2025-02-21"})
    assert second.id > first.id


def test_british_spellings_find_ctcae_terms():
    from sarcotrial.domain.ctcae import ctcae_term, search_terms

    assert ctcae_term("Lymphoedema").term == "Lymphedema" and ctcae_term("Anaemia").term == "Anemia"
    assert [t.term for t in search_terms("diarrhoea")] == ["Diarrhea"]


def _mutated(mutate) -> list[str]:
    data = yaml.safe_load(read_protocol("sprint").text)
    mutate(data)
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "x.yaml")
    return info.value.problems


def test_schema_checks_the_toxicity_monitor_and_text_parameters():
    assert any("statistics.toxicity_monitor.endpoint: 'os' is not a proportion endpoint" in p for p in
               _mutated(lambda d: d["statistics"]["toxicity_monitor"].__setitem__("endpoint", "os")))
    assert any("'{pathology.pcr_threshold}' names no parameter" in p for p in
               _mutated(lambda d: d["endpoints"][1].__setitem__("definition", "at most {pathology.pcr_threshold} %")))


def test_subject_ids_follow_registration_order(study):
    for number in ("A1", "A2"):
        register(study, hospital_number=number)
    with study.reading() as session:
        assert [p.subject_id for p in session.scalars(select(Patient).order_by(Patient.id))] == ["SPR-001", "SPR-002"]
