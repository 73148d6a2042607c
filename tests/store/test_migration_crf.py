"""Migration 0006: a study's form data moves from its per-form tables into CRF instances, nothing lost.

A study is made at schema 0005 the way the previous version stored it (rows in referral, screening
with its answers, enrolment, diagnosis with derived columns, rt_course, rt_fraction, surgery,
pathology, plan_qa), each row with the audit entries the previous version wrote; the upgrade must
keep every value under the protocol's field ids, keep the trail verifiable (the move itself is in
the trail), and leave the study readable by the current services.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command

from sarcotrial.services import views
from sarcotrial.services.study import StudyDB
from sarcotrial.store import db
from sarcotrial.store.audit import append_entries, audit_value, verify_chain
from tests.protocols import SPRINT_10_TEXT

NOW = "2025-06-01T10:00:00.000000+00:00"


def _insert(connection, meta, table: str, values: dict, subject: str | None) -> int:
    """A row as the previous version wrote it, with its create entries in the audit trail."""
    t = meta.tables[table]
    row = {"protocol_version": "1.0", "created_at": dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc), **values}
    new_id = connection.execute(t.insert().returning(t.c.id), row).scalar_one()
    append_entries(connection, [
        {"at": NOW, "actor": "nurse", "actor_source": "test", "action": "create", "table_name": table,
         "record_id": new_id, "subject_id": subject, "field": key, "old_value": None, "new_value": audit_value(value),
         "reason": None, "protocol_version": "1.0"}
        for key, value in values.items() if value is not None])
    return new_id


def _old_study(url: str) -> None:
    engine = db.make_engine(url)
    command.upgrade(db.alembic_config(engine), "0005")
    from sarcotrial.store.crypto import IdentifierCipher, generate_key

    cipher = IdentifierCipher.from_text(generate_key(), "test")
    with engine.begin() as connection:
        meta = sa.MetaData()
        meta.reflect(connection)
        version = connection.execute(meta.tables["protocol_version"].insert().returning(meta.tables["protocol_version"].c.id), {
            "acronym": "SPRINT", "version": "1.0", "sha256": "x" * 64, "text": SPRINT_10_TEXT,
            "bound_at": dt.datetime(2025, 1, 1), "bound_by": "tester"}).scalar_one()
        connection.execute(meta.tables["study"].insert(), {"acronym": "SPRINT", "protocol_version_id": version,
                                                           "synthetic": True, "key_check": cipher.key_check(),
                                                           "created_at": dt.datetime(2025, 1, 1), "created_by": "tester"})
        site = _insert(connection, meta, "site", {"code": "MAIN", "name": "Unit"}, None)
        patient = _insert(connection, meta, "patient", {"subject_id": "SPR-001", "site_id": site, "sex": "female",
                                                        "year_of_birth": 1960, "status": "enrolled", "synthetic": True},
                          "SPR-001")
        s = "SPR-001"
        _insert(connection, meta, "referral", {"patient_id": patient, "referral_date": dt.date(2025, 1, 10),
                                               "anatomic_site": "extremity"}, s)
        screening = _insert(connection, meta, "screening", {
            "patient_id": patient, "screening_date": dt.date(2025, 1, 20), "decision": "eligible", "reasons": "",
            "data": {"screening_date": "2025-01-20", "age_years": 64, "consent_date": "2025-01-20"}}, s)
        _insert(connection, meta, "enrolment", {"patient_id": patient, "screening_id": screening,
                                                "enrolment_date": dt.date(2025, 1, 22),
                                                "consent_date": dt.date(2025, 1, 20), "sequence": 1}, s)
        _insert(connection, meta, "diagnosis", {
            "patient_id": patient, "diagnosis_date": dt.date(2025, 1, 5), "histotype": "myxofibrosarcoma",
            "icdo3": "8811/3", "anatomic_site": "extremity", "size_cm": 12.0, "fnclcc_differentiation": 2,
            "mitoses_per_10hpf": 12, "necrosis_percent": 0.0, "grade": "2", "t_category": "T3", "n_category": "N0",
            "m_category": "M0", "stage": "IIIB"}, s)
        course = _insert(connection, meta, "rt_course", {"patient_id": patient, "planned_start": dt.date(2025, 2, 3),
                                                         "planned_fractions": 25, "calendar": "IT",
                                                         "prescription": {"CTV1": 50.0, "CTV2": 60.0}}, s)
        _insert(connection, meta, "rt_fraction", {"course_id": course, "fraction_number": 1,
                                                  "fraction_date": dt.date(2025, 2, 3), "status": "delivered",
                                                  "doses_gy": {"CTV1": 2.0, "CTV2": 2.4}}, s)
        surgery = _insert(connection, meta, "surgery", {"patient_id": patient, "surgery_date": dt.date(2025, 4, 17),
                                                        "procedure": "wide_excision", "macroscopic_residual": False}, s)
        _insert(connection, meta, "pathology", {
            "patient_id": patient, "surgery_id": surgery, "report_date": dt.date(2025, 4, 28),
            "microscopic_margin_positive": False, "r_status": "R0", "viable_percent": 3.0, "response_score": "C",
            "pcr": True, "pcr_definition": "pCR: at most 5 %"}, s)
        _insert(connection, meta, "plan_qa", {"patient_id": patient, "course_id": course,
                                              "evaluated_on": dt.date(2025, 1, 30), "end_cap": "none",
                                              "verdict": "per protocol", "results": {"objectives": []}}, s)
    engine.dispose()


def test_form_data_moves_into_crf_instances_with_its_trail(database_url):
    _old_study(database_url)
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    with db.make_sessionmaker(engine)() as session:
        report = verify_chain(session)
    assert report.ok, report.problems  # the move is in the trail: every new row created, every old one deleted
    engine.dispose()
    with StudyDB.open(database_url) as study:
        record = views.patient(study, None, "SPR-001")
        diagnosis = record.first("diagnosis")
        # entered values under the protocol's field ids; derived values kept as computed, not recomputed
        assert diagnosis.values["clinical_n"] == "N0" and diagnosis.values["size_cm"] == 12.0
        assert (diagnosis.derived["grade"], diagnosis.derived["ajcc_t"], diagnosis.derived["stage"]) == ("2", "T3", "IIIB")
        assert diagnosis.visit == "baseline" and diagnosis.entered_version == "1.0"
        assert record.first("pathology").derived["r_status"] == "R0"
        assert record.first("rt_fraction").derived["doses_gy"] == {"CTV1": 2.0, "CTV2": 2.4}
        assert record.first("referral").values["referral_date"] == dt.date(2025, 1, 10)
        assert record.screenings[0]["decision"] == "eligible"
        assert record.first("screening").values["age_years"] == 64
        assert record.plan_qa[0]["verdict"] == "per protocol"
        with study.reading() as session:
            tables = set(sa.inspect(session.get_bind()).get_table_names())
    assert not {"diagnosis", "referral", "rt_course", "surgery", "pathology"} & tables
