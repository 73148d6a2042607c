"""One database, the unit's registry and several studies (issue: the registry beside its studies).

SPRINT is the database's first study; DOXAB (the shipped systemic-therapy protocol) is added beside it.
What must hold, from the issue's text: a registry patient taken into the second study keeps one identity
(one encrypted identifier record: the same name, date of birth and hospital number read back in either
study, no second registration possible), what is known is carried over rather than entered twice, each
study sees its own patients, enrolments, locks and accrual only, and matching runs against every study
the database runs, open for accrual or said to be closed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from sarcotrial.errors import InvalidValue
from sarcotrial.services import pathway, registry, views
from sarcotrial.services.review import lock
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store import audit
from sarcotrial.store.models import Patient, PatientIdentifier
from sarcotrial.store.scoping import ALL_STUDIES
from tests.helpers import NURSE, enrolled, register

OS = Actor("tester", "test")


@pytest.fixture
def two(study):
    """SPRINT with SPR-001 (referred, thigh) and SPR-002 (enrolled); DOXAB added beside it."""
    register(study, "H0001")
    enrolled(study, "H0002")
    doxab = study.add_study("doxab", OS)
    return study, doxab


def test_a_study_is_added_beside_the_first_and_listed(two):
    sprint, doxab = two
    assert [(i.acronym, i.first) for i in sprint.studies()] == [("SPRINT", True), ("DOXAB", False)]
    assert doxab.protocol.acronym == "DOXAB" and doxab.study_id != sprint.study_id
    rows = {r["acronym"]: r for r in views.studies_overview(sprint, None)}
    assert rows["SPRINT"]["patients"] == 2 and rows["SPRINT"]["enrolled"] == 1 and rows["SPRINT"]["current"]
    assert rows["DOXAB"]["patients"] == 0 and rows["DOXAB"]["target_accrual"] == 130
    with pytest.raises(InvalidValue, match="already runs DOXAB"):
        sprint.add_study("doxab", OS)


def test_the_study_given_by_name_is_opened(two, database_url):
    with StudyDB.open(database_url, "doxab") as opened:
        assert opened.protocol.acronym == "DOXAB"
    with StudyDB.open(database_url) as opened:
        assert opened.protocol.acronym == "SPRINT"  # the first, unless one is named
    with pytest.raises(Exception, match="runs no study 'NOPE'; it runs SPRINT, DOXAB"):
        StudyDB.open(database_url, "NOPE")


def test_a_registry_patient_taken_into_a_second_study_keeps_one_identity(two):
    sprint, doxab = two
    taken = pathway.add_to_study(doxab, NURSE, "SPR-001")
    assert taken.subject_id == "DXA-001"  # DOXAB's own prefix and numbering
    # one encrypted identifier record for the person, read back alike in either study
    assert pathway.identify(doxab, OS, "DXA-001") == pathway.identify(sprint, OS, "SPR-001")
    with sprint.reading() as session:
        records = session.scalars(select(PatientIdentifier)).all()
        assert len(records) == 2  # SPR-001 and SPR-002: none added for DXA-001
    # the same person cannot be registered again, nor taken in twice
    with pytest.raises(InvalidValue, match="already registered, as DXA-001"):
        pathway.register_patient(doxab, NURSE, identifiers=pathway.Identifiers("Test Patient (synthetic)",
                                 dt.date(1960, 5, 1), "H0001"), sex="female", referral={"referral_date": "2025-02-01"})
    with pytest.raises(InvalidValue, match="already in DOXAB, as DXA-001"):
        pathway.add_to_study(doxab, NURSE, "SPR-001")
    # a hospital number look-up in DOXAB answers the person's DOXAB subject id
    assert pathway.find_by_hospital_number(doxab, OS, "H0001") == "DXA-001"
    assert pathway.find_by_hospital_number(sprint, OS, "H0001") == "SPR-001"


def test_the_referral_is_carried_over_not_asked_again(two):
    sprint, doxab = two
    pathway.add_to_study(doxab, NURSE, "SPR-001")
    with doxab.reading() as session:
        from sarcotrial.store.models import CRFInstance

        row = session.scalars(select(CRFInstance).where(CRFInstance.form_id == "referral")).one()
        # SPRINT's referral said 2025-01-10; DOXAB's referral form asks the date too (anatomic site: not a
        # DOXAB referral field, so not carried)
        assert row.data == {"referral_date": "2025-01-10"}
        assert row.study_id == doxab.study_id


def test_each_study_sees_its_own_rows(two):
    sprint, doxab = two
    pathway.add_to_study(doxab, NURSE, "SPR-001")
    assert [p.subject_id for p in views.patients(sprint, None)] == ["SPR-001", "SPR-002"]
    assert [p.subject_id for p in views.patients(doxab, None)] == ["DXA-001"]
    # a subject id of another study is not this study's; the refusal says how to take the patient in
    with doxab.reading() as session:
        with pytest.raises(InvalidValue, match="SPR-002 is a patient of SPRINT; take them into DOXAB"):
            doxab.patient(session, "SPR-002")
        with pytest.raises(InvalidValue, match="the person is DXA-001 here"):
            doxab.patient(session, "SPR-001")
    # a study's lock is its own: SPRINT locked, DOXAB still takes data
    lock(sprint, OS, whole_study=True)
    assert views.status_counts(sprint, None)["study_lock"] is not None
    assert views.status_counts(doxab, None)["study_lock"] is None
    pathway.register_patient(doxab, NURSE, identifiers=pathway.Identifiers("Other Patient (synthetic)",
                             dt.date(1970, 1, 1), "H0009"), sex="male", referral={"referral_date": "2025-03-01"})
    with pytest.raises(InvalidValue, match="lock"):
        register(sprint, "H0010")
    # the registry spans both: SPR-001's DOXAB row names its registry patient
    with sprint.reading(unit=True) as session:
        rows = session.scalars(select(Patient).order_by(Patient.id)).all()
        assert [(p.subject_id, p.registry_patient_id is not None) for p in rows] == [
            ("SPR-001", False), ("SPR-002", False), ("DXA-001", True), ("DXA-002", False)]
        assert audit.verify_chain(session).ok  # one chain for the database, every study's rows replayed


def test_matching_runs_against_every_study_of_the_database(two):
    sprint, doxab = two
    matches = {m.protocol: m for m in registry.match(sprint, OS, "SPR-001")}
    assert set(matches) == {"SPRINT", "DOXAB"}
    assert matches["SPRINT"].subject_id == "SPR-001" and matches["DOXAB"].subject_id is None
    assert matches["DOXAB"].open_for_accrual
    # an enrolled patient is matched no more against the study that enrolled them, but still against the other
    assert [m.protocol for m in registry.match(sprint, OS, "SPR-002")] == ["DOXAB"]
    lock(doxab, OS, whole_study=True)
    closed = {m.protocol: m for m in registry.match(sprint, OS, "SPR-001")}["DOXAB"]
    assert not closed.open_for_accrual and "locked" in closed.closed


def test_screening_for_the_second_study_takes_the_patient_in_with_what_is_known(two):
    sprint, doxab = two
    row = registry.open_screening(sprint, OS, "SPR-002", {"disease_extent": "metastatic"}, for_study="DOXAB",
                                  screening_date=dt.date(2025, 6, 2))
    assert pathway.subject_of_screening(doxab, row) == "DXA-001"
    with doxab.reading() as session:
        values = pathway.screening_values(session, row)
    # SPR-002's SPRINT screening said the sarcoma is histologically proven and the patient able to consent;
    # DOXAB's form asks both with the same ids: carried, not asked again
    assert values["histology_confirmed"] is True and values["able_to_consent"] is True
    assert values["disease_extent"] == "metastatic"  # the answer given
    # a consent is given to one study: SPRINT's signed consent does not stand for DOXAB's
    assert "consent_signed" not in values and "consent_date" not in values
    # the age at screening from the one date of birth (1960-05-01), read through the shared identifiers
    assert values["age_years"] == 65
    case = registry.case_file(sprint, OS, "SPR-002")
    assert case.studies == [("SPRINT", "SPR-002", "enrolled"), ("DOXAB", "DXA-001", row_status(doxab, "DXA-001"))]


def row_status(study, subject):
    with study.reading() as session:
        return study.patient(session, subject).status


def test_counts_per_study_even_in_a_registry_session(two):
    sprint, doxab = two
    with sprint.reading(unit=True) as session:
        everyone = session.scalars(select(Patient)).all()
        mine = session.scalars(select(Patient).execution_options(**{ALL_STUDIES: True})).all()
        assert len(everyone) == len(mine) == 2
    with doxab.reading() as session:
        assert session.scalars(select(Patient)).all() == []


def test_an_account_is_delegated_to_studies_and_kept_to_them(two, fast_hashing):
    from sarcotrial.errors import AccessDenied
    from sarcotrial.services import access
    from tests.edc_support import sign_in_as, staff

    sprint, doxab = two
    team = staff(sprint, roles=("admin", "research_nurse", "clinician"))
    nurse = team.research_nurse
    assert [p.subject_id for p in views.patients(doxab, nurse)] == []  # no delegation: every study
    account = access.grant(sprint, team.admin, "nina", delegate=["doxab"])
    assert account.studies == ("DOXAB",)
    nurse = sign_in_as("nina")
    with pytest.raises(AccessDenied, match="nina is not delegated to SPRINT"):
        views.patients(sprint, nurse)
    assert views.patients(doxab, nurse) == []
    # the registry spans the studies: her board work is not a study's, so it is not refused
    assert [m.protocol for m in registry.match(sprint, nurse, "SPR-001")] == ["SPRINT", "DOXAB"]
    with pytest.raises(InvalidValue, match="nina is not delegated to SPRINT"):
        access.grant(sprint, team.admin, "nina", undelegate=["sprint"])
    with pytest.raises(InvalidValue, match="runs no such study"):
        access.grant(sprint, team.admin, "nina", delegate=["NOPE"])
    assert access.grant(sprint, team.admin, "nina", all_studies=True).studies == ()
    assert [p.subject_id for p in views.patients(sprint, sign_in_as("nina"))] == ["SPR-001", "SPR-002"]


def test_an_identified_export_of_the_second_study_reads_the_one_identifier_record(two):
    from sarcotrial.services import exchange

    sprint, doxab = two
    pathway.add_to_study(doxab, NURSE, "SPR-001")
    snapshot = exchange.export_snapshot(doxab, OS, level="identified")
    [patient] = snapshot.patients  # DOXAB's own patient only
    assert patient.subject_id == "DXA-001"
    assert patient.identifiers == {"full_name": "Test Patient (synthetic)", "date_of_birth": dt.date(1960, 5, 1),
                                   "hospital_number": "H0001"}
