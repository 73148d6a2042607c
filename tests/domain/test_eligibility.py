"""Eligibility engine: per-criterion decisions with three-valued (Kleene) logic.

The SPRINT criteria come from its registry record (../shared/seeds/000_*.txt): inclusion "age >
18 years" (so 18 is not eligible, 19 is), histologically proven STS, candidate for resection;
exclusion: previous RT to the region, inability to consent, planned amputation.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarcotrial.domain.eligibility import assess_eligibility, evaluate_condition
from sarcotrial.protocol import load_protocol
from sarcotrial.services.pathway import eligibility

SPRINT = load_protocol("sprint")

ELIGIBLE = {"screening_date": "2025-01-10", "age_years": 45, "histology_confirmed": True, "disease_status": "de_novo",
            "candidate_for_resection": True, "previous_rt_to_region": False, "able_to_consent": True,
            "consent_signed": True, "planned_amputation": False}


def decide(**changes):
    return eligibility(SPRINT, {**ELIGIBLE, **changes})


def test_all_criteria_met_is_eligible():
    d = decide()
    assert d.decision == "eligible" and d.reasons == []
    assert {c.id: c.result for c in d.criteria} == {"age": "met", "histology": "met", "resectable": "met",
                                                     "consent": "met", "previous_rt": "not_met", "amputation": "not_met"}


@pytest.mark.parametrize("age, decision", [(17, "ineligible"), (18, "ineligible"), (19, "eligible"), (90, "eligible")])
def test_age_strictly_over_18(age, decision):
    assert decide(age_years=age).decision == decision


@pytest.mark.parametrize("changes, criterion", [
    ({"previous_rt_to_region": True}, "previous_rt"),
    ({"planned_amputation": True}, "amputation"),
    ({"able_to_consent": False}, "consent"),
    ({"consent_signed": False}, "consent"),
    ({"candidate_for_resection": False}, "resectable"),
    ({"histology_confirmed": False}, "histology"),
    ({"disease_status": "metastatic"}, "histology"),
])
def test_each_criterion_excludes_with_its_reason(changes, criterion):
    d = decide(**changes)
    assert d.decision == "ineligible"
    failing = [c for c in d.criteria if c.passes is False]
    assert [c.id for c in failing] == [criterion]
    assert failing[0].text in d.reasons[0]


def test_locoregional_recurrence_is_eligible():
    assert decide(disease_status="locoregional_recurrence").decision == "eligible"


def test_missing_answer_is_not_evaluable_never_eligible():
    d = decide(previous_rt_to_region=None)
    assert d.decision == "not_evaluable"
    prev = next(c for c in d.criteria if c.id == "previous_rt")
    assert prev.result == "not_evaluable" and "previous_rt_to_region is missing" in prev.reason


def test_ineligible_wins_over_missing():
    d = decide(previous_rt_to_region=None, planned_amputation=True)
    assert d.decision == "ineligible"


def test_kleene_logic():
    t, f, u = {"field": "a", "op": "is_true"}, {"field": "b", "op": "is_true"}, {"field": "c", "op": "is_true"}
    data = {"a": True, "b": False}
    assert evaluate_condition({"all": [t, u]}, data)[0] is None
    assert evaluate_condition({"all": [f, u]}, data)[0] is False
    assert evaluate_condition({"any": [t, u]}, data)[0] is True
    assert evaluate_condition({"any": [f, u]}, data)[0] is None
    assert evaluate_condition({"not": u}, data)[0] is None
    assert evaluate_condition({"not": f}, data)[0] is True


def test_empty_criteria_refused():
    with pytest.raises(ValueError):
        assess_eligibility([], {})


@given(st.integers(min_value=0, max_value=120))
def test_age_monotone(age):
    """Being older never makes an otherwise eligible patient ineligible on age."""
    younger, older = decide(age_years=age).decision, decide(age_years=min(age + 1, 120)).decision
    assert not (younger == "eligible" and older != "eligible")
