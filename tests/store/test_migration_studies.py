"""Revision 0013 (several studies in one database) on a study that already holds data: every row becomes
the first study's, ids are still never reused (SQLite keeps the table's highest id ever given through the
rebuild), the audit trail still verifies, and a second study can then be added beside it."""

from __future__ import annotations

from sqlalchemy import text

from sarcotrial.services import pathway, views
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store import db
from tests.helpers import NURSE, enrolled, register

OS = Actor("tester", "test")
SCOPED = ("patient", "screening", "screening_criterion", "enrolment", "visit_occurrence", "crf_instance")


def test_an_existing_study_moves_into_the_shape_of_several(database_url):
    study, _ = StudyDB.create(database_url, "sprint", OS)
    try:
        enrolled(study, "H0001")
        register(study, "H0002")
        from sarcotrial.services import forms

        # the newest form removed: its id is the table's highest ever given, and must never be given again
        forms.record(study, NURSE, "SPR-002", "consent", {"consent_date": "2025-01-20", "document_version": "1.0",
                                                          "data_use": True})
        forms.delete(study, NURSE, "SPR-002", "consent", "entered for the wrong patient")
        study_id = study.study_id
        db.downgrade(study.engine, "0012")
        with study.engine.begin() as connection:
            assert "study_id" not in {c["name"] for c in _columns(connection, "patient")}
            before = {t: _seq(connection, t) for t in SCOPED}
        db.upgrade(study.engine)
        with study.engine.connect() as connection:
            for table in SCOPED:
                owners = connection.execute(text(f"SELECT DISTINCT study_id FROM {table}")).scalars().all()
                assert owners == [study_id], table
                if before[table] is not None:
                    assert _seq(connection, table) == before[table], table  # no id given twice
            assert connection.execute(text("SELECT count(*) FROM patient WHERE registry_patient_id IS NOT NULL"
                                           )).scalar() == 0
    finally:
        study.close()
    with StudyDB.open(database_url) as reopened:
        assert views.verify_audit(reopened, None).ok
        assert [p.subject_id for p in views.patients(reopened, None)][:2] == ["SPR-001", "SPR-002"]
        doxab = reopened.add_study("doxab", OS)
        assert pathway.add_to_study(doxab, NURSE, "SPR-002").subject_id == "DXA-001"
        assert views.verify_audit(reopened, None).ok


def _columns(connection, table):
    from sqlalchemy import inspect

    return inspect(connection).get_columns(table)


def _seq(connection, table):
    if connection.dialect.name != "sqlite":
        return None
    return connection.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table}).scalar()
