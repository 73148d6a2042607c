"""Alembic migrations: upgrade from empty, downgrade cleanly, and match the models exactly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from sarcotrial.store import db
from sarcotrial.store.models import Base


@pytest.fixture
def engine(database_url):
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


def test_upgrade_from_empty_and_downgrade_clean(engine):
    assert db.is_empty(engine)
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"patient", "patient_identifier", "audit_entry", "audit_head", "screening", "screening_criterion",
            "visit_occurrence", "crf_instance", "data_query", "query_message", "signature", "data_lock",
            "site", "app_user", "enrolment"} <= tables
    # one shape for collected data: no table per form any more
    assert not {"diagnosis", "rt_course", "rt_fraction", "surgery", "pathology", "referral", "form_record"} & tables
    db.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)  # and up again after a clean downgrade
    assert db.current_revision(engine) == db.head_revision()


def test_migrations_match_models(engine):
    """The migrated schema is exactly what the models declare (no drift between the two)."""
    db.upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_database_refuses_to_change_audit_entries(engine):
    db.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO audit_entry (id, at, actor, actor_source, action, table_name, record_id, field, prev_hash, hash)"
            " VALUES (1, '2025-01-01T00:00:00+00:00', 'x', 'test', 'create', 'patient', 1, 'sex', 'a', 'b')"))
    for statement in ("UPDATE audit_entry SET actor = 'mallory'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as connection:
                connection.execute(text(statement))
