"""The import's bulk path: audit entries held in memory and appended in batches give the same trail.

``sarcotrial import redcap`` holds the audit entries in memory between flushes and appends them a few
thousand at once (``store.audit.begin_batch`` / ``write_batch``); a patient rolled back to its savepoint
drops the entries it added (``discard_batch``). The trail must be
exactly the one the services write flush by flush (ICH E6(R3) 4.2 / 21 CFR 11.10(e): every value, who,
when, old and new value, reason), its hash chain must verify (``sarcotrial audit verify``), and a patient
refused by a check must leave no entry behind. The reference is the same import run with the batch
switched off (each flush appending its own entries, the way every other action writes them); the REDCap
files are the hand-written ones of ``test_redcap_import`` (REDCap's documented layouts).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.services import importing, views
from sarcotrial.services.study import StudyDB
from sarcotrial.store import audit
from sarcotrial.store.models import AuditEntry
from tests.exchange.test_redcap_import import TESTER, _set, patient_rows, run_import, write_project

COMPARED = ("id", "actor", "actor_source", "action", "table_name", "record_id", "subject_id", "field", "old_value",
            "new_value", "reason", "protocol_version")


def three_patients_one_refused() -> list[dict[str, str]]:
    """Three patients; the second's screening is dated before its referral (the pathway's order refuses it)."""
    rows = (patient_rows("101", "H101", "Anna Prova (synthetic)")
            + patient_rows("102", "H102", "Bruno Prova (synthetic)", sex="2")
            + patient_rows("103", "H103", "Carla Prova (synthetic)"))
    return _set(rows, "102", "screening_arm_1", screening_date="2025-01-05", scr_consent_date="2025-01-05")


def _trail(url: str) -> list[tuple]:
    with StudyDB.open(url) as study, study.engine.connect() as connection:
        rows = connection.execute(select(*(getattr(AuditEntry, name) for name in COMPARED))
                                  .order_by(AuditEntry.id)).all()
    return [tuple(_plain(v) for v in r) for r in rows]


def _plain(value):
    """An encrypted identifier's fingerprint hashes its ciphertext, whose nonce is random: compared as a mark."""
    return "[encrypted]" if isinstance(value, str) and value.startswith("[encrypted:") else value


def _fresh(url: str) -> str:
    study, _ = StudyDB.create(url, "sprint", TESTER)
    study.close()
    return url


def _reset(url: str, tmp_path) -> str:
    """The database emptied for the next import (a new SQLite file; PostgreSQL's schema dropped)."""
    if url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'reference.sqlite'}"
    from tests.conftest import _fresh_postgres_url

    return _fresh_postgres_url(url)


def _imported_and_verified(url: str, files) -> list[tuple]:
    result = run_import(url, files, "--accept-partial")
    assert result.exit_code == 0, result.output
    verify = CliRunner().invoke(app, ["audit", "verify", "--db", url])  # sarcotrial audit verify
    assert verify.exit_code == 0, verify.output
    with StudyDB.open(url) as study:
        report = views.verify_audit(study, TESTER)
    assert report.ok, report.problems
    return _trail(url)


@pytest.mark.parametrize("entries", [1, importing.BATCH_ENTRIES], ids=["appended-after-each-patient", "held-to-the-end"])
def test_the_batched_trail_is_the_services_trail_and_verifies(database_url, tmp_path, monkeypatch, entries):
    files = write_project(tmp_path / "in", three_patients_one_refused())
    with monkeypatch.context() as m:
        m.setattr(importing, "BATCH_ENTRIES", entries)
        batched = _imported_and_verified(_fresh(database_url), files)
    reference = _reset(database_url, tmp_path)
    with monkeypatch.context() as m:  # the reference: every flush appends its own entries, every look-up asked
        m.setattr(audit, "begin_batch", lambda session: None)
        m.setattr(importing._ImportUnit, "remember", False)
        flushed = _imported_and_verified(_fresh(reference), files)
    assert batched and batched == flushed
    assert [row[0] for row in batched] == list(range(1, len(batched) + 1))  # no gap where patient 102 was refused
    assert {row[6] for row in batched if row[6]} == {"SPR-001", "SPR-002"}  # 101 and 103; 102 left nothing


def test_a_refused_import_leaves_no_entry(database_url, tmp_path):
    url = _fresh(database_url)
    with StudyDB.open(url) as study:
        before = views.verify_audit(study, TESTER).entries
    files = write_project(tmp_path / "in", three_patients_one_refused())
    assert run_import(url, files).exit_code == 1  # without --accept-partial: nothing written
    assert len(_trail(url)) == before
    with StudyDB.open(url) as study:
        assert views.verify_audit(study, TESTER).ok


def test_a_study_lock_read_once_still_refuses_every_record(database_url, tmp_path):
    """The import reads the active data locks once (it holds the write lock, so none can change under it):
    a locked study still refuses each record, by the services' own refusal (EU GMP Annex 11 §12.4: locked
    data is not changed), and nothing is written."""
    from sarcotrial.services import review

    url = _fresh(database_url)
    with StudyDB.open(url) as study:
        review.lock(study, TESTER, whole_study=True)
    report = tmp_path / "report.csv"
    files = write_project(tmp_path / "in", patient_rows("101", "H101", "Anna Prova (synthetic)"))
    result = run_import(url, files, "--accept-partial", "--report", str(report))
    assert result.exit_code == 1, result.output
    problems = report.read_text(encoding="utf-8")
    assert "locked" in problems and "101" in problems
    with StudyDB.open(url) as study:
        assert views.patients(study, TESTER) == []
        assert views.verify_audit(study, TESTER).ok
