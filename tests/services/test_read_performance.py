"""How the read side stays quick without changing what it answers.

- Reads take no write lock: on SQLite a read's transaction begins ``BEGIN DEFERRED`` and a write's
  ``BEGIN IMMEDIATE`` (store/db.py), so a reader never queues behind a writer, and each read still
  sees one snapshot from its first read to its end (SQLite WAL).
- Listings read their patients in a fixed number of queries (no query per patient): the visits of
  many patients at once (``visits.patients_visits``), the serious events with their signatures,
  the dashboard in one transaction.
- A record's history is found through an index on the audit trail, not a scan of it.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import event, func, select, text

from sarcotrial.services import (
    forms,
    overview,
    pathway,
    queries,
    review,
    safety,
    views,
    visits,
)
from sarcotrial.store.models import AuditEntry, CRFInstance, Patient
from tests.edc_support import PATHOLOGY, SURGERY, operated, password, staff
from tests.helpers import NURSE, SCREENING, enrolled

SAE = {"term": "Wound infection", "grade": 3, "onset_date": "2025-05-02", "serious": True,
       "seriousness": "hospitalisation", "aware_at": "2025-05-03T10:00"}
TODAY = dt.date(2025, 6, 1)
NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


class Statements:
    """The SQL statements the study's engine runs while the block runs."""

    def __init__(self, study):
        self.engine = study.engine
        self.seen: list[str] = []

    def _record(self, _conn, _cursor, statement, *_args):
        self.seen.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def count(self) -> int:
        return len(self.seen)


# --------------------------------------------------------------------------- transactions
class Abort(Exception):
    """Ends an action unwritten."""



@pytest.fixture
def sqlite_study(tmp_path, monkeypatch):
    """A SPRINT study on SQLite only, for what is SQLite's own (its BEGIN modes, snapshots, plans)."""
    from sarcotrial.services.study import Actor, StudyDB
    from sarcotrial.store.crypto import generate_key

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db, _ = StudyDB.create(f"sqlite:///{tmp_path / 'study.sqlite'}", "sprint", Actor("tester", "test"))
    yield db
    db.close()

def test_a_read_does_not_wait_for_an_open_write(study):
    """While a write action holds the write lock, another thread's read answers at once, and sees
    the data as it was before the write (nothing half-written)."""
    subject = enrolled(study)
    status = views.patient(study, None, subject).status
    answers: list = []
    with pytest.raises(Abort), study.action(NURSE, permission="record") as session:
        study.patient(session, subject).status = "withdrawn"
        session.flush()  # written, not committed: on SQLite the action holds the write lock
        reader = threading.Thread(target=lambda: answers.append(views.patient(study, None, subject).status))
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "the read waited for the write to end"
        raise Abort
    assert answers == [status] and status != "withdrawn"
    assert views.patient(study, None, subject).status == status


def test_reads_begin_deferred_and_writes_immediate(sqlite_study):
    """SQLite: a read's transaction is BEGIN DEFERRED (no write lock); an action's stays BEGIN IMMEDIATE,
    so writers are still serialised and the audit chain cannot fork."""
    study = sqlite_study  # BEGIN IMMEDIATE / DEFERRED is SQLite's; PostgreSQL serialises writers with an advisory lock
    subject = enrolled(study)
    with Statements(study) as sql:
        views.patient(study, None, subject)
    begins = [s for s in sql.seen if s.startswith("BEGIN")]
    assert begins and set(begins) == {"BEGIN DEFERRED"}
    with Statements(study) as sql:
        forms.record(study, NURSE, subject, "adverse_event", {"term": "Fatigue", "grade": 1,
                                                              "onset_date": "2025-03-01"})
    assert [s for s in sql.seen if s.startswith("BEGIN")][-1] == "BEGIN IMMEDIATE"


def test_a_read_sees_one_snapshot(sqlite_study):
    """SQLite (WAL): once a read has read, a write committed meanwhile is not seen until the read ends."""
    study = sqlite_study  # PostgreSQL's default isolation (read committed) is a snapshot per statement
    subject = enrolled(study)
    count = select(func.count(CRFInstance.id))
    with study.reading() as session:
        before = session.scalar(count)
        forms.record(study, NURSE, subject, "adverse_event", {"term": "Fatigue", "grade": 1,
                                                              "onset_date": "2025-03-01"})
        during = session.scalar(count)
    with study.reading() as session:
        after = session.scalar(count)
    assert before == during and after == before + 1


# --------------------------------------------------------------------------- no query per patient
def _operated(study, actor, hospital_number: str, *, sae: bool) -> str:
    """An enrolled patient operated on, with pathology (and a serious adverse event), entered by ``actor``."""
    patient = pathway.register_patient(
        study, actor, identifiers=pathway.Identifiers("Test Patient (synthetic)", dt.date(1960, 5, 1), hospital_number),
        sex="female", referral={"referral_date": "2025-01-10", "anatomic_site": "extremity"})
    subject = patient.subject_id
    pathway.screen(study, actor, subject, {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING})
    forms.record(study, actor, subject, "consent", {"consent_date": "2025-01-20", "document_version": "1.0",
                                                   "data_use": True})
    pathway.enrol(study, actor, subject, dt.date(2025, 1, 22))
    forms.record(study, actor, subject, "surgery", SURGERY)
    forms.record(study, actor, subject, "pathology", PATHOLOGY)
    if sae:
        forms.record(study, actor, subject, "adverse_event", SAE)
    return subject


@pytest.mark.parametrize("read", ["dashboard", "grid", "serious_events", "due", "patient_list", "adverse_events",
                                  "sdv_progress", "lock_sign_board", "query_listing"])
def test_listings_read_in_a_fixed_number_of_queries(study, read):
    """The statements a listing runs do not grow with its patients (two patients, then five; each
    with a serious adverse event, one signed casebook and one open query more)."""
    subjects = [_operated(study, NURSE, f"H{n:04d}", sae=True) for n in range(2)]
    team = staff(study)
    review.sign(study, team.investigator, subjects[0], password("ivy"), "I have reviewed this casebook")
    queries.open_query(study, team.monitor, subjects[1], "surgery", "surgery_date", "please check the date")
    calls = {
        "dashboard": lambda: overview.dashboard(study, team.data_manager, today=TODAY, now=NOW),
        "grid": lambda: overview.grid(study, team.data_manager, today=TODAY),
        "serious_events": lambda: safety.serious_events(study, team.data_manager, now=NOW),
        "due": lambda: visits.due(study, team.data_manager, days=30, today=TODAY),
        "patient_list": lambda: overview.patient_list(study, team.data_manager),
        "adverse_events": lambda: safety.adverse_events(study, team.data_manager),
        "sdv_progress": lambda: review.sdv_progress(study, team.data_manager),
        "lock_sign_board": lambda: review.lock_sign_board(study, team.data_manager),
        "query_listing": lambda: queries.query_listing(study, team.data_manager, now=NOW),
    }
    calls[read]()  # signed in once
    with Statements(study) as few:
        shown_few = calls[read]()
    more = [_operated(study, team.research_nurse, f"H{n:04d}", sae=True) for n in range(10, 13)]
    review.sign(study, team.investigator, more[0], password("ivy"), "I have reviewed this casebook")
    queries.open_query(study, team.monitor, more[1], "surgery", "surgery_date", "and this one")
    with Statements(study) as many:
        shown_many = calls[read]()
    assert shown_many != shown_few  # the listing did read the patients added
    assert many.count() == few.count(), "\n".join(s[:90] for s in many.seen) + "\n----\n" + "\n".join(s[:90] for s in few.seen)


def test_the_visits_of_many_patients_are_each_patients_own(study):
    """Read together, each patient's visits are exactly those read for the patient alone (no state of
    one patient leaks into another's: a query, a signature, a death)."""
    subjects = [_operated(study, NURSE, f"H{n:04d}", sae=False) for n in range(3)]
    team = staff(study)
    queries.open_query(study, team.monitor, subjects[1], "surgery", "surgery_date", "please check the date")
    review.sign(study, team.investigator, subjects[2], password("ivy"), "I have reviewed this casebook")
    forms.record(study, team.investigator, subjects[0], "outcome_event", {
        "event_type": "death", "event_date": "2025-05-10", "death_cause": "sarcoma"})
    with study.reading() as session:
        patients = list(session.scalars(select(Patient).order_by(Patient.id)))
        together = visits.patients_visits(study, session, patients, TODAY)
    alone = {p.id: visits.visits(study, None, p.subject_id, TODAY) for p in patients}
    assert together == alone
    states = {p.subject_id: {f.status for v in together[p.id] for f in v.forms} for p in patients}
    assert "signed" in states[subjects[2]] and "signed" not in states[subjects[1]]
    assert any(f.open_queries for v in together[patients[1].id] for f in v.forms)
    assert not any(f.open_queries for v in together[patients[0].id] for f in v.forms)
    assert any(v.status == "ended" for v in together[patients[0].id])


def test_a_listing_reads_only_the_forms_it_names(study):
    """``load_patients(forms=...)`` gives those forms' instances exactly as the full read gives them,
    and no other form; ``details=False`` leaves out screenings, deviations and plan QA."""
    for n in range(2):
        _operated(study, NURSE, f"H{n:04d}", sae=True)
    full = views.patients(study, None)
    some = views.patients(study, None, forms=("adverse_event", "pathology"), details=False)
    assert [r.subject_id for r in some] == [r.subject_id for r in full]
    for a, b in zip(full, some):
        assert set(b.forms) == {"adverse_event", "pathology"}
        assert b.forms["adverse_event"] == a.forms["adverse_event"] and b.forms["pathology"] == a.forms["pathology"]
        assert a.screenings and not b.screenings
        assert (b.status, b.site, b.enrolment_date) == (a.status, a.site, a.enrolment_date)


# --------------------------------------------------------------------------- indexes
def test_a_records_history_is_found_through_an_index(sqlite_study):
    """The revision of a CRF instance (looked up at every save and on every form page) and a lock's
    reasons read the audit trail by table and record id through its index, not by a scan."""
    study = sqlite_study  # the query plan checked is SQLite's
    subject = operated(study, pathology=True)
    with study.reading() as session:
        row = session.scalars(select(CRFInstance).join(Patient).where(Patient.subject_id == subject)).first()
        query = select(AuditEntry).where(AuditEntry.table_name == "crf_instance", AuditEntry.record_id == row.id,
                                         AuditEntry.field == "revision").order_by(AuditEntry.id.desc()).limit(1)
        compiled = query.compile(study.engine, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(r[-1]) for r in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "ix_audit_entry_record_id_table_name" in plan, plan
        assert session.scalars(query).first() is not None
