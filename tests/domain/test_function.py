"""MSTS functional score and the limb-surgery vocabularies.

Sources:
- Enneking WF, Dunham W, Gebhardt MC, et al. A system for the functional evaluation of
  reconstructive procedures after surgical treatment of tumors of the musculoskeletal system.
  Clin Orthop Relat Res 1993;286:241-246. Abstract: "numerical values (0-5) for each of six
  categories: pain, and function and emotional acceptance in upper and lower extremities;
  supports, and walking and gait in the lower extremity; and hand positioning, and dexterity and
  lifting ability in the upper extremity"; "a numerical score and percent rating is calculated".
  Total = sum of the six items (maximum 6 x 5 = 30); percent = 100 x total / 30.
- Enneking WF, Spanier SS, Goodman MA. Clin Orthop Relat Res 1980;153:106-120: margins
  intralesional, marginal, wide, radical.
Expected totals below are hand sums, shown in the comments.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarcotrial.domain.function import (
    ENNEKING_MARGINS,
    MSTS_DESCRIPTORS,
    MSTS_ITEMS,
    RECONSTRUCTIONS,
    RESECTED_STRUCTURES,
    STRUCTURE_RECONSTRUCTIONS,
    SURGERY_TYPES,
    msts_score,
)
from sarcotrial.errors import InvalidValue

LOWER = ("pain", "function", "emotional_acceptance", "supports", "walking", "gait")
UPPER = ("pain", "function", "emotional_acceptance", "hand_positioning", "manual_dexterity", "lifting_ability")


def test_item_sets_are_the_papers():
    # Enneking 1993 abstract: three shared items, then supports/walking/gait (lower) and
    # hand positioning/dexterity/lifting ability (upper).
    assert MSTS_ITEMS["lower"] == LOWER
    assert MSTS_ITEMS["upper"] == UPPER


def test_lower_limb_worked_example():
    # 5 + 4 + 3 + 5 + 4 + 3 = 24 of 30; 100 x 24 / 30 = 80.0 %
    result = msts_score("lower", dict(zip(LOWER, (5, 4, 3, 5, 4, 3))))
    assert (result.total, result.maximum, result.percent) == (24, 30, 80.0)
    assert result.as_dict()["items"]["gait"] == 3


def test_upper_limb_worked_example():
    # 3 + 3 + 5 + 3 + 1 + 3 = 18 of 30; 100 x 18 / 30 = 60.0 %
    result = msts_score("upper", dict(zip(UPPER, (3, 3, 5, 3, 1, 3))))
    assert (result.total, result.percent) == (18, 60.0)


def test_percent_to_one_decimal_and_extremes():
    # 5 x 4 + 3 = 23 of 30 -> 76.666... -> 76.7 %
    assert msts_score("lower", dict(zip(LOWER, (4, 4, 4, 4, 4, 3)))).percent == 76.7
    assert msts_score("upper", {k: 5 for k in UPPER}).percent == 100.0
    assert msts_score("upper", {k: 0 for k in UPPER}).total == 0


def test_missing_item_is_refused_naming_it():
    items = dict(zip(LOWER, (5, 5, 5, 5, 5, 5)))
    del items["walking"]
    with pytest.raises(InvalidValue) as err:
        msts_score("lower", items)
    assert err.value.field == "walking" and "missing" in err.value.rule


@pytest.mark.parametrize("bad", [6, -1, 4.5, True, "3", None])
def test_out_of_range_or_non_integer_score_is_refused(bad):
    items = dict(zip(LOWER, (5, 5, 5, 5, 5, 5)))
    items["gait"] = bad
    with pytest.raises(InvalidValue) as err:
        msts_score("lower", items)
    assert err.value.field == "gait"


def test_item_of_the_other_limb_or_unknown_is_refused():
    items = dict(zip(LOWER, (5, 5, 5, 5, 5, 5)))
    with pytest.raises(InvalidValue) as err:
        msts_score("lower", {**items, "lifting_ability": 3})
    assert err.value.field == "lifting_ability" and "upper" in err.value.rule
    with pytest.raises(InvalidValue) as err:
        msts_score("lower", {**items, "stairs": 3})
    assert err.value.field == "stairs"
    with pytest.raises(InvalidValue) as err:
        msts_score("arm", items)
    assert err.value.field == "limb"


def test_every_item_has_a_descriptor_for_every_score():
    for name in set(LOWER) | set(UPPER):
        assert sorted(MSTS_DESCRIPTORS[name]) == [0, 1, 2, 3, 4, 5]
    # anchors as commonly reproduced from the 1993 table
    assert MSTS_DESCRIPTORS["supports"][0] == "two canes or crutches"
    assert MSTS_DESCRIPTORS["emotional_acceptance"][5] == "enthused"


@given(st.sampled_from(["lower", "upper"]), st.lists(st.integers(0, 5), min_size=6, max_size=6))
def test_total_is_the_sum_of_items(limb, scores):
    result = msts_score(limb, dict(zip(MSTS_ITEMS[limb], scores)))
    assert result.total == sum(scores) and 0 <= result.percent <= 100


def test_surgical_vocabularies():
    # Enneking 1980: from the least to the most extensive margin
    assert tuple(ENNEKING_MARGINS) == ("intralesional", "marginal", "wide", "radical")
    assert set(SURGERY_TYPES) == {"limb_sparing", "amputation"}
    assert tuple(RECONSTRUCTIONS) == ("primary_closure", "split_skin_graft", "local_flap", "free_flap")
    assert set(RESECTED_STRUCTURES) == set(STRUCTURE_RECONSTRUCTIONS) == {"vascular", "bone", "nerve"}
    assert all("none" in v for v in STRUCTURE_RECONSTRUCTIONS.values())
