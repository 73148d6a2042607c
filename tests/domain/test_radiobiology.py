"""Linear-quadratic BED and EQD2.

Sources: Fowler JF, Br J Radiol 1989;62:679-694; Joiner & van der Kogel, Basic Clinical
Radiobiology (LQ chapter): BED = n d (1 + d/(a/b)), EQD2 = BED / (1 + 2/(a/b)); repopulation
BED - Dprolif (T - Tk) for T > Tk. Expected values below are worked by hand from those formulae
(shown in the comments), not taken from this code.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sarcotrial.domain.radiobiology import bed, eqd2, gap_corrected_bed, lq_summary
from sarcotrial.errors import InvalidValue

# Rows: (total dose Gy, fractions, a/b Gy, BED Gy, EQD2 Gy).
LQ_TABLE = [
    # SPRINT CTV2: 25 x 2.4 Gy, a/b 4: BED = 60 (1 + 2.4/4) = 96; EQD2 = 96 / 1.5 = 64 (domain brief).
    (60, 25, 4, 96.0, 64.0),
    # SPRINT CTV1: 25 x 2 Gy, a/b 4: BED = 50 x 1.5 = 75; EQD2 = 75 / 1.5 = 50.
    (50, 25, 4, 75.0, 50.0),
    # 5 x 5 Gy, a/b 4: BED = 25 (1 + 5/4) = 56.25; EQD2 = 56.25 / 1.5 = 37.5.
    (25, 5, 4, 56.25, 37.5),
    # 25 x 2.4 Gy, a/b 10: BED = 60 x 1.24 = 74.4; EQD2 = 74.4 / 1.2 = 62.
    (60, 25, 10, 74.4, 62.0),
    # 25 x 2.4 Gy, a/b 3: BED = 60 x 1.8 = 108; EQD2 = 108 / (5/3) = 64.8.
    (60, 25, 3, 108.0, 64.8),
    # 1 x 8 Gy, a/b 2: BED = 8 x 5 = 40; EQD2 = 40 / 2 = 20.
    (8, 1, 2, 40.0, 20.0),
]


@pytest.mark.parametrize(("dose", "n", "ab", "expected_bed", "expected_eqd2"), LQ_TABLE)
def test_bed_and_eqd2(dose, n, ab, expected_bed, expected_eqd2):
    assert bed(dose, n, ab) == pytest.approx(expected_bed)
    assert eqd2(dose, n, ab) == pytest.approx(expected_eqd2)


def test_lq_summary_sprint_ctv2():
    summary = lq_summary(60, 25, 4)
    assert set(summary) == {"bed", "eqd2", "dose_per_fraction"}
    assert summary["bed"] == pytest.approx(96.0)
    assert summary["eqd2"] == pytest.approx(64.0)
    assert summary["dose_per_fraction"] == pytest.approx(2.4)


def test_lq_summary_sprint_ctv1():
    summary = lq_summary(50, 25, 4)
    assert summary == pytest.approx({"bed": 75.0, "eqd2": 50.0, "dose_per_fraction": 2.0})


# Gap correction rows: (dose, n, a/b, T days, Tk days, Dprolif Gy/day, corrected BED).
GAP_TABLE = [
    # 70 Gy / 35, a/b 10: BED 84; T 49, Tk 28, Dprolif 0.9: 84 - 0.9 x 21 = 65.1.
    (70, 35, 10, 49, 28, 0.9, 65.1),
    # T <= Tk: no correction.
    (70, 35, 10, 28, 28, 0.9, 84.0),
    (60, 25, 4, 33, 40, 0.5, 96.0),
    # SPRINT CTV2, T 40, Tk 21, Dprolif 0.5 (illustrative parameters): 96 - 0.5 x 19 = 86.5.
    (60, 25, 4, 40, 21, 0.5, 86.5),
    # Dprolif 0: no correction.
    (60, 25, 4, 60, 0, 0, 96.0),
]


@pytest.mark.parametrize(("dose", "n", "ab", "t", "tk", "dprolif", "expected"), GAP_TABLE)
def test_gap_corrected_bed(dose, n, ab, t, tk, dprolif, expected):
    assert gap_corrected_bed(dose, n, ab, t, tk, dprolif) == pytest.approx(expected)


FUNCTIONS = [bed, eqd2, lq_summary]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 25, 4), "total_dose_gy"),
        ((-60, 25, 4), "total_dose_gy"),
        ((float("nan"), 25, 4), "total_dose_gy"),
        (("60", 25, 4), "total_dose_gy"),
        ((60, 0, 4), "fractions"),
        ((60, -1, 4), "fractions"),
        ((60, 25.0, 4), "fractions"),
        ((60, 2.5, 4), "fractions"),
        ((60, True, 4), "fractions"),
        ((60, 25, 0), "alpha_beta_gy"),
        ((60, 25, -4), "alpha_beta_gy"),
        ((60, 25, float("inf")), "alpha_beta_gy"),
        ((60, 25, None), "alpha_beta_gy"),
    ],
)
def test_bad_values_are_refused(function, args, field):
    with pytest.raises(InvalidValue) as info:
        function(*args)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((60, 25, 4, -1, 21, 0.5), "overall_time_days"),
        ((60, 25, 4, 40, -1, 0.5), "kickoff_days"),
        ((60, 25, 4, 40, 21, -0.5), "dprolif_gy_per_day"),
        ((60, 25, 4, 40, 21, None), "dprolif_gy_per_day"),
        ((60, 0, 4, 40, 21, 0.5), "fractions"),
    ],
)
def test_gap_correction_refuses_bad_values(args, field):
    with pytest.raises(InvalidValue) as info:
        gap_corrected_bed(*args)
    assert info.value.field == field


# --- properties -------------------------------------------------------------------------------

doses = st.floats(min_value=0.1, max_value=200, allow_nan=False, allow_infinity=False)
fractions = st.integers(min_value=1, max_value=60)
alpha_betas = st.floats(min_value=0.3, max_value=20, allow_nan=False, allow_infinity=False)


@given(doses, doses, fractions, alpha_betas)
def test_eqd2_increases_with_dose(a, b, n, ab):
    low, high = sorted((a, b))
    assume(high - low > 1e-9 * high)  # distinct doses, not a floating-point tie
    assert eqd2(low, n, ab) < eqd2(high, n, ab)
    assert bed(low, n, ab) < bed(high, n, ab)


@given(fractions, alpha_betas)
def test_2_gy_fractions_have_eqd2_equal_to_physical_dose(n, ab):
    # By definition of EQD2 (Joiner & van der Kogel): a 2 Gy-per-fraction schedule is its own EQD2.
    assert eqd2(2.0 * n, n, ab) == pytest.approx(2.0 * n)


@given(doses, fractions, alpha_betas)
def test_eqd2_is_bed_over_the_2_gy_factor(dose, n, ab):
    assert eqd2(dose, n, ab) == pytest.approx(bed(dose, n, ab) / (1 + 2 / ab))
