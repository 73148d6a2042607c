"""The audit trail: field-level entries for every create, update and delete, and a hash chain that
names any edited or deleted entry.

What is required (ICH E6(R3) GCP, section 4.2.2 / 4.2.3 on data integrity and audit trails; FDA
21 CFR 11.10(e)): secure, computer-generated, time-stamped audit trails recording the date and
time of operator entries and actions that create, modify or delete records, without obscuring
previously recorded information; the reason for a change (ICH E6).
"""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import select, text

from sarcotrial.errors import InvalidValue
from sarcotrial.services import forms as records
from sarcotrial.services.study import Actor
from sarcotrial.store.audit import verify_chain
from sarcotrial.store.models import AuditEntry, AuditHead, CRFInstance
from tests.helpers import DOCTOR, enrolled, register, treated


def entries(study, **where):
    with study.reading() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        for key, value in where.items():
            query = query.where(getattr(AuditEntry, key) == value)
        return session.scalars(query).all()


def verify(study):
    with study.reading() as session:
        return verify_chain(session)


def test_create_writes_one_entry_per_field_with_who_and_when(study):
    before = dt.datetime.now(dt.timezone.utc)
    patient = register(study)
    rows = entries(study, table_name="patient")
    fields = {r.field: r for r in rows}
    assert {"subject_id", "sex", "year_of_birth", "status", "site_id"} <= set(fields)
    assert fields["sex"].old_value is None and fields["sex"].new_value == "female"
    assert all(r.action == "create" and r.actor == "nurse.test" and r.subject_id == patient.subject_id for r in rows)
    stamp = dt.datetime.fromisoformat(rows[0].at)
    assert stamp.utcoffset() == dt.timedelta(0) and stamp >= before - dt.timedelta(seconds=1)
    assert all(r.protocol_version == "1.3" for r in rows)


def test_update_needs_a_reason_and_records_old_and_new(study):
    subject = treated(study)
    with pytest.raises(InvalidValue, match="reason"):
        records.correct(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-04-18"}, reason="")
    records.correct(study, Actor("dr.surgeon", "test"), subject, "surgery", {"surgery_date": "2025-04-18"},
                    reason="typo in the operation note date")
    change = [c for c in entries(study, table_name="crf_instance", action="update") if c.field.startswith("data.")]
    assert [(c.field, c.old_value, c.new_value) for c in change] == [("data.surgery_date", "2025-04-17", "2025-04-18")]
    assert change[0].reason == "typo in the operation note date" and change[0].actor == "dr.surgeon"


def test_reason_required_even_below_the_service_layer(study):
    """The flush hook itself refuses an unexplained change: no service can forget the rule."""
    treated(study)
    surgery = select(CRFInstance).where(CRFInstance.form_id == "surgery")
    with pytest.raises(InvalidValue, match="a reason is required to update"):
        with study.action(DOCTOR) as session:
            row = session.scalars(surgery).one()
            row.data = {**row.data, "procedure": "marginal_excision"}
    with study.reading() as session:
        assert session.scalars(surgery).one().data["procedure"] == "wide_excision"


def test_delete_keeps_the_old_values(study):
    subject = treated(study)
    records.record(study, DOCTOR, subject, "adverse_event", {"term": "Fatigue", "grade": 1, "onset_date": "2025-02-20"})
    records.delete(study, DOCTOR, subject, "adverse_event", reason="entered for the wrong patient")
    gone = {r.field: r for r in entries(study, table_name="crf_instance", action="delete")}
    assert gone["form_id"].old_value == "adverse_event"
    assert gone["data.term"].old_value == "Fatigue" and gone["data.term"].new_value is None
    assert gone["data.grade"].reason == "entered for the wrong patient"


def test_chain_verifies_after_normal_work(study):
    treated(study)
    report = verify(study)
    assert report.ok and report.entries > 100


def _tamper(study, statement: str) -> None:
    """Someone with database rights goes around SarcoTrial: drops the append-only guard and edits."""
    with study.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER audit_entry_no_update"))
            connection.execute(text("DROP TRIGGER audit_entry_no_delete"))
        else:
            connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        connection.execute(text(statement))


def test_edited_entry_is_named(study):
    enrolled(study)
    target = entries(study, table_name="patient", field="sex")[0].id
    _tamper(study, f"UPDATE audit_entry SET new_value = 'male' WHERE id = {target}")
    report = verify(study)
    assert not report.ok
    assert [p.entry_id for p in report.problems if p.entry_id is not None] == [target]
    assert "was edited" in report.problems[0].problem and "field sex" in report.problems[0].problem
    # and the replay sees the data no longer matches the (forged) trail
    assert any("patient #1 field sex holds 'female'" in str(p) for p in report.problems)


def test_deleted_entries_are_named(study):
    enrolled(study)
    _tamper(study, "DELETE FROM audit_entry WHERE id IN (5, 6)")
    report = verify(study)
    assert not report.ok
    assert "entries 5 to 6 are missing" in str(report.problems[0])


def test_entries_cut_from_the_end_are_noticed(study):
    enrolled(study)
    last = entries(study)[-1].id
    _tamper(study, f"DELETE FROM audit_entry WHERE id > {last - 3}")
    report = verify(study)
    assert not report.ok
    assert any(f"entries {last - 2} to {last} were cut from the end" in str(p) for p in report.problems)


def test_recomputed_forgery_is_caught_by_the_next_entry(study):
    """Editing an entry and recomputing its own hash still breaks the link to the next one."""
    from sarcotrial.store.audit import entry_hash

    enrolled(study)
    with study.reading() as session:
        victim = session.get(AuditEntry, 3)
        forged = {name: getattr(victim, name) for name in ("id", "at", "actor", "actor_source", "action", "table_name",
                                                          "record_id", "subject_id", "field", "old_value", "new_value",
                                                          "reason", "protocol_version", "prev_hash")}
    forged["actor"] = "someone.else"
    new_hash = entry_hash(forged)
    _tamper(study, f"UPDATE audit_entry SET actor = 'someone.else', hash = '{new_hash}' WHERE id = 3")
    report = verify(study)
    assert [p.entry_id for p in report.problems] == [4]
    assert "chain broken" in report.problems[0].problem


def test_expected_head_anchors_the_chain(study):
    """A head recorded outside the database must stay in the chain, however much it grows after."""
    enrolled(study)
    head = verify(study).head_hash
    register(study, hospital_number="LATER")
    with study.reading() as session:
        assert verify_chain(session, expect_head=head).ok
        assert verify_chain(session, expect_head=head[:16]).ok  # the short form the CLI prints
        assert not verify_chain(session, expect_head="0" * 64).ok


def test_cut_trail_with_a_rewritten_head_is_caught_by_the_anchor(study):
    enrolled(study)
    anchor = verify(study).head_hash
    with study.reading() as session:
        keep = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).offset(3)).first()
    _tamper(study, f"DELETE FROM audit_entry WHERE id > {keep.id}")
    with study.engine.begin() as connection:
        connection.execute(text(f"UPDATE audit_head SET last_id = {keep.id}, last_hash = '{keep.hash}'"))
    with study.reading() as session:
        report = verify_chain(session, expect_head=anchor)
    assert any("is no longer in the chain" in str(p) for p in report.problems)


@pytest.mark.parametrize("statement, message", [
    ("UPDATE crf_instance SET data = {json} WHERE form_id = 'surgery'",
     "field data.macroscopic_residual holds 'true' but the audit trail's last value is 'false'"),
    ("UPDATE crf_instance SET status = 'incomplete' WHERE form_id = 'surgery'", "field status holds 'incomplete'"),
    ("DELETE FROM crf_instance WHERE form_id = 'rt_fraction' AND instance = 25",
     "is missing from the database but the audit trail never recorded its deletion"),
    ("INSERT INTO site (code, name, protocol_version, created_at) VALUES ('X', 'rogue', '1.0', '2025-01-01')",
     "is not in the audit trail (written around SarcoTrial)"),
    ("UPDATE patient_identifier SET full_name_enc = 'forged'", "patient_identifier #1 field full_name_enc holds [encrypted]"),
])
def test_data_changed_around_sarcotrial_is_named(study, statement, message):
    treated(study)
    assert verify(study).ok
    with study.engine.begin() as connection:
        surgery = {"surgery_date": "2025-04-17", "procedure": "wide_excision", "macroscopic_residual": True}
        value = ":surgery" if connection.dialect.name == "sqlite" else "CAST(:surgery AS JSON)"
        connection.execute(text(statement.format(json=value)), {"surgery": json.dumps(surgery)} if "{json}" in statement else {})
    report = verify(study)
    assert not report.ok and any(message in str(p) for p in report.problems), report.problems


def test_failed_action_leaves_no_record_and_no_entry(study):
    subject = treated(study)
    count = len(entries(study))
    with pytest.raises(InvalidValue, match="after the patient's death|not be after surgery"):
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": 25, "fraction_date": "2025-04-22", "status": "delivered"})
    assert len(entries(study)) == count
    assert verify(study).ok


def test_concurrent_writers_extend_one_chain(study):
    """Two users at once: the chain is serialised, never forked."""
    errors = []

    def work(prefix):
        try:
            for i in range(4):
                register(study, hospital_number=f"{prefix}{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify(study)
    assert report.ok
    with study.reading() as session:
        head = session.get(AuditHead, 1)
        assert head.last_id == report.entries
