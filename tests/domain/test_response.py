"""EORTC-STBSG response score and pCR definitions against the published tiers.

Source: Wardelmann E, et al. Evaluation of response after neoadjuvant treatment in soft tissue
sarcomas; the EORTC-STBSG recommendations for pathological examination and reporting. Eur J Cancer
2016;53:84-95 (five-tier response score); tiers as applied in Int J Radiat Oncol Biol Phys
2017;98(2):375-383 (PMID 28463157): no residual viable tumour; < 1 %; >= 1 % to < 10 %;
>= 10 % to < 50 %; >= 50 %.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarcotrial.domain.response import (
    EORTC_STBSG_TIERS,
    describe_pcr,
    eortc_stbsg_response,
    is_pcr,
)
from sarcotrial.errors import InvalidValue

# Wardelmann et al. 2016, EORTC-STBSG response score: A no stainable tumour cells; B single
# stainable tumour cells or small clusters (< 1 %); C >= 1 % to < 10 %; D >= 10 % to < 50 %;
# E >= 50 %. Rows: (viable %, tier), every boundary included.
EORTC_STBSG_TABLE = [
    (0, "A"),
    (0.0, "A"),
    (0.01, "B"),
    (0.5, "B"),
    (0.99, "B"),
    (1, "C"),
    (1.0, "C"),
    (9.99, "C"),
    (10, "D"),
    (49.99, "D"),
    (50, "E"),
    (99.9, "E"),
    (100, "E"),
]


@pytest.mark.parametrize(("viable", "tier"), EORTC_STBSG_TABLE)
def test_eortc_stbsg_tiers(viable, tier):
    assert eortc_stbsg_response(viable) == tier


def test_tier_descriptions_in_order():
    assert list(EORTC_STBSG_TIERS) == ["A", "B", "C", "D", "E"]
    assert EORTC_STBSG_TIERS["A"] == "no stainable tumour cells"


@pytest.mark.parametrize("bad", [-0.01, -1, 100.01, 200, float("nan"), "5", None, True])
def test_viable_percent_outside_0_to_100_is_refused(bad):
    with pytest.raises(InvalidValue) as info:
        eortc_stbsg_response(bad)
    assert info.value.field == "viable_percent"


# pCR definitions used in sarcoma trials (domain brief; e.g. <= 5 % viable cells in Stergioula et
# al., Cancers 2024;16:3449; strict: no stainable tumour cells, EORTC-STBSG tier A).
# Rows: (viable %, threshold %, pCR?).
PCR_ROWS = [
    (0, 0, True),
    (0.01, 0, False),
    (5, 5, True),
    (5.01, 5, False),
    (4.99, 5, True),
    (0, 5, True),
    (10, 10, True),
    (10.5, 10, False),
]


@pytest.mark.parametrize(("viable", "threshold", "pcr"), PCR_ROWS)
def test_is_pcr(viable, threshold, pcr):
    assert is_pcr(viable, threshold) is pcr


def test_is_pcr_validates_both_fields():
    with pytest.raises(InvalidValue) as info:
        is_pcr(-1, 5)
    assert info.value.field == "viable_percent"
    with pytest.raises(InvalidValue) as info:
        is_pcr(3, 101)
    assert info.value.field == "max_viable_percent"
    with pytest.raises(InvalidValue) as info:
        is_pcr(3, None)
    assert info.value.field == "max_viable_percent"


def test_describe_pcr_threshold():
    assert describe_pcr(5) == (
        "pCR: at most 5 % stainable (viable) tumour cells in the resected specimen"
    )
    assert describe_pcr(5.0) == describe_pcr(5)
    assert "at most 2.5 %" in describe_pcr(2.5)


def test_describe_pcr_strict_definition():
    text = describe_pcr(0)
    assert text.startswith("pCR: no stainable (viable) tumour cells")
    assert "score A" in text


def test_describe_pcr_refuses_bad_threshold():
    with pytest.raises(InvalidValue) as info:
        describe_pcr(-5)
    assert info.value.field == "max_viable_percent"


# --- properties -------------------------------------------------------------------------------

percent = st.floats(min_value=0, max_value=100, allow_nan=False)
ORDER = "ABCDE"


@given(percent, percent)
def test_more_viable_cells_never_give_an_earlier_tier(a, b):
    low, high = sorted((a, b))
    assert ORDER.index(eortc_stbsg_response(low)) <= ORDER.index(eortc_stbsg_response(high))


@given(percent, percent)
def test_strict_pcr_is_tier_a_and_threshold_pcr_is_monotone(viable, threshold):
    assert is_pcr(viable, 0) == (eortc_stbsg_response(viable) == "A")
    if is_pcr(viable, threshold):
        assert all(is_pcr(v, threshold) for v in (0, viable / 2))
