"""Direct identifiers: encrypted at rest, kept apart, never in the audit trail, readable only with the key."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from sqlalchemy import select, text

from sarcotrial.errors import InvalidValue
from sarcotrial.services import pathway
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.crypto import KeyError_, generate_key
from sarcotrial.store.models import AuditEntry, PatientIdentifier
from tests.helpers import NURSE, register

NAME, HOSPITAL_NUMBER, DOB = "Zebedeo Quintavalle (synthetic)", "MRN-77Q91", dt.date(1958, 3, 14)


def _all_text(study) -> str:
    """Every value of every table, as text: what someone reading the database would see."""
    out = []
    with study.engine.connect() as connection:
        for table in ("patient", "patient_identifier", "crf_instance", "audit_entry"):
            for row in connection.execute(text(f"SELECT * FROM {table}")):
                out.extend(str(v) for v in row)
    return "\n".join(out)


def test_identifiers_are_encrypted_at_rest_and_absent_from_the_audit(study):
    patient = register(study, hospital_number=HOSPITAL_NUMBER, name=NAME, dob=DOB)
    dump = _all_text(study)
    for secret in (NAME, "Zebedeo", "Quintavalle", HOSPITAL_NUMBER, DOB.isoformat()):
        assert secret not in dump
    with study.reading() as session:
        logged = dict(session.execute(select(AuditEntry.field, AuditEntry.new_value)
                                      .where(AuditEntry.table_name == "patient_identifier")).all())
    assert set(logged) == {"patient_id", "full_name_enc", "date_of_birth_enc", "hospital_number_enc", "hospital_number_index"}
    assert all(logged[f].startswith("[encrypted:") for f in logged if f != "patient_id")
    back = pathway.identify(study, NURSE, patient.subject_id, "test of decryption")
    assert (back.full_name, back.date_of_birth, back.hospital_number) == (NAME, DOB, HOSPITAL_NUMBER)


def test_sqlite_file_holds_no_plaintext_identifier(tmp_path, monkeypatch):
    monkeypatch.delenv("SARCOTRIAL_KEY", raising=False)
    monkeypatch.delenv("SARCOTRIAL_KEY_FILE", raising=False)
    path = tmp_path / "s.sqlite"
    study, notice = StudyDB.create(f"sqlite:///{path}", "sprint", Actor("t"))
    with study:
        register(study, hospital_number=HOSPITAL_NUMBER, name=NAME, dob=DOB)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("s.sqlite") and p.suffix != ".key")
    assert NAME.encode() not in raw and HOSPITAL_NUMBER.encode() not in raw and b"Quintavalle" not in raw


def test_key_file_created_beside_sqlite_owner_only_and_found_again(tmp_path, monkeypatch):
    monkeypatch.delenv("SARCOTRIAL_KEY", raising=False)
    monkeypatch.delenv("SARCOTRIAL_KEY_FILE", raising=False)
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    study, notice = StudyDB.create(url, "sprint", Actor("t"))
    study.close()
    assert notice.created and notice.path == tmp_path / "study.sqlite.key"
    assert stat.S_IMODE(os.stat(notice.path).st_mode) == 0o600
    with StudyDB.open(url) as reopened:
        subject = register(reopened).subject_id
        assert pathway.identify(reopened, NURSE, subject).hospital_number == "H0001"


def test_wrong_key_is_refused_clearly(study, monkeypatch):
    subject = register(study).subject_id
    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    with StudyDB.open(study.url) as other:
        with pytest.raises(KeyError_, match="is not this study's identifier key"):
            pathway.identify(other, NURSE, subject)


def test_postgresql_refuses_to_start_without_a_key(monkeypatch):
    monkeypatch.delenv("SARCOTRIAL_KEY", raising=False)
    monkeypatch.delenv("SARCOTRIAL_KEY_FILE", raising=False)
    from sarcotrial.services.study import _key_for_new_study

    with pytest.raises(KeyError_, match="a PostgreSQL study needs an identifier key"):
        _key_for_new_study("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_key_file_env(tmp_path, monkeypatch, database_url):
    key = tmp_path / "site.key"
    key.write_text(generate_key())
    monkeypatch.delenv("SARCOTRIAL_KEY")
    monkeypatch.setenv("SARCOTRIAL_KEY_FILE", str(key))
    study, notice = StudyDB.create(database_url, "sprint", Actor("t"))
    with study:
        assert not notice.created and "SARCOTRIAL_KEY_FILE" in notice.origin
        assert pathway.identify(study, NURSE, register(study).subject_id).full_name.startswith("Test Patient")
    key.write_text("not a key")
    with StudyDB.open(database_url) as again, pytest.raises(KeyError_, match="does not hold a SarcoTrial key"):
        again.cipher()


def test_same_hospital_number_registers_once(study):
    first = register(study, hospital_number="MRN 001")
    with pytest.raises(InvalidValue, match=f"already registered, as {first.subject_id}"):
        register(study, hospital_number="mrn001")  # normalised: case and spaces
    assert pathway.find_by_hospital_number(study, None, "MRN001") == first.subject_id
    with study.reading() as session:
        assert len(session.scalars(select(PatientIdentifier)).all()) == 1


def test_reading_an_identity_is_itself_audited(study):
    from sarcotrial.store.models import IdentifierAccess

    subject = register(study).subject_id
    pathway.identify(study, NURSE, subject, "booking the pre-operative visit")
    with study.reading() as session:
        access = session.scalars(select(IdentifierAccess)).one()
        logged = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "identifier_access",
                                                          AuditEntry.field == "purpose")).one()
    assert access.purpose == "booking the pre-operative visit"
    assert (logged.actor, logged.subject_id, logged.new_value) == ("nurse.test", subject, "booking the pre-operative visit")


def test_identifiers_corrected_with_a_reason(study):
    subject = register(study, dob=DOB).subject_id
    with pytest.raises(InvalidValue, match="reason"):
        pathway.correct_identifiers(study, NURSE, subject, " ", date_of_birth=dt.date(1958, 3, 15))
    pathway.correct_identifiers(study, NURSE, subject, "date of birth mistyped at referral",
                                date_of_birth=dt.date(1958, 3, 15))
    assert pathway.identify(study, NURSE, subject).date_of_birth == dt.date(1958, 3, 15)
    with study.reading() as session:
        change = session.scalars(select(AuditEntry).where(AuditEntry.field == "date_of_birth_enc",
                                                          AuditEntry.action == "update")).one()
    assert change.reason == "date of birth mistyped at referral" and change.new_value.startswith("[encrypted:")
    assert "1958-03-15" not in _all_text(study)
