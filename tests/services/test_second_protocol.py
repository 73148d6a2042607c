"""A second protocol runs on the same engine with no code change (tests/protocols/mini.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sarcotrial.errors import InvalidValue
from sarcotrial.services import forms as records, pathway
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import ProtocolVersion

MINI = Path(__file__).resolve().parents[1] / "protocols" / "mini.yaml"
ACTOR = Actor("coordinator", "test")


@pytest.fixture
def mini(database_url):
    study, _ = StudyDB.create(database_url, str(MINI), ACTOR)
    yield study
    study.close()


def _referral(study, number: str):
    import datetime as dt

    return pathway.register_patient(study, ACTOR, identifiers=pathway.Identifiers("A B (synthetic)", dt.date(1970, 1, 1), number),
                                    sex="male", referral={"referral_date": "2025-03-01", "anatomic_site": "extremity"})


def test_mini_protocol_study(mini):
    assert mini.protocol.acronym == "MINI"
    first = _referral(mini, "M1")
    assert first.subject_id == "MIN-001"  # the protocol's own subject id prefix
    base = {"screening_date": "2025-03-05", "age_years": 55, "site": "extremity", "pregnant": False}
    assert pathway.screen(mini, ACTOR, first.subject_id, {**base, "size_cm": 16}).decision == "ineligible"
    screening = pathway.screen(mini, ACTOR, first.subject_id, {**base, "size_cm": 15})
    assert screening.decision == "eligible"
    assert [c.criterion_id for c in screening.criteria] == ["adult", "extremity", "pregnant"]
    import datetime as dt

    pathway.enrol(mini, ACTOR, first.subject_id, dt.date(2025, 3, 6))
    # a form with no clinical rule of its own is kept like every other, checked against the protocol
    row = records.record(mini, ACTOR, first.subject_id, "follow_up", {"visit_date": "2025-06-01", "disease_status": "ned"})
    assert row.values == {"visit_date": dt.date(2025, 6, 1), "disease_status": "ned"} and row.derived == {}
    with pytest.raises(InvalidValue, match="follow_up.disease_status: unknown code"):
        records.record(mini, ACTOR, first.subject_id, "follow_up", {"visit_date": "2025-06-01", "disease_status": "dead"})


def test_target_accrual_is_the_protocols(mini):
    import datetime as dt

    for number in ("M1", "M2", "M3"):
        patient = _referral(mini, number)
        pathway.screen(mini, ACTOR, patient.subject_id, {"screening_date": "2025-03-05", "age_years": 55,
                                                         "site": "extremity", "size_cm": 5, "pregnant": False})
        if number != "M3":
            pathway.enrol(mini, ACTOR, patient.subject_id, dt.date(2025, 3, 6))
    with pytest.raises(InvalidValue, match="target accrual of 2 is reached"):
        pathway.enrol(mini, ACTOR, "MIN-003", dt.date(2025, 3, 6))


def test_study_is_bound_to_the_protocol_text(mini):
    with StudyDB.open(mini.url) as reopened:
        assert reopened.protocol.acronym == "MINI" and reopened.protocol_version == "0.3"
        with reopened.reading() as session:
            bound = session.scalars(select(ProtocolVersion)).one()
        assert bound.text == MINI.read_text() and bound.sha256 == reopened.loaded.sha256
