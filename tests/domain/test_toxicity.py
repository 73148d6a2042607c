"""Acute/late phase of RT toxicity and SR2 major wound complications.

Sources: CTCAE v5.0 does not define acute vs late; the 90-day convention is the RTOG/EORTC one
(Cox, Stetz, Pajak, Int J Radiat Oncol Biol Phys 1995;31:1341-6), counted here with the first day
of RT as day 0 and day 90 acute. Wound complications: O'Sullivan et al., Lancet 2002;359:2235-41
(NCIC CTG SR2), "wound complications within 120 days of surgery".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarcotrial.domain.toxicity import (
    ACUTE_WINDOW_DAYS,
    SR2_WOUND_WINDOW_DAYS,
    WOUND_CRITERIA,
    WoundComplication,
    is_major_wound_complication,
    toxicity_phase,
)
from sarcotrial.errors import InvalidValue

RT_START = date(2025, 3, 3)
SURGERY = date(2025, 5, 12)

dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))
windows = st.integers(min_value=0, max_value=400)
offsets = st.integers(min_value=0, max_value=2000)


def test_defaults():
    assert ACUTE_WINDOW_DAYS == 90
    assert SR2_WOUND_WINDOW_DAYS == 120


# --- acute vs late --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "phase"),
    [(0, "acute"), (1, "acute"), (89, "acute"), (90, "acute"), (91, "late"), (365, "late")],
)
def test_day_90_is_acute_day_91_late(days, phase):
    assert toxicity_phase(RT_START + timedelta(days=days), RT_START) == phase


def test_boundary_across_a_month_and_leap_day():
    start = date(2024, 1, 15)  # 2024 is a leap year: +90 days = 14 April
    assert toxicity_phase(date(2024, 4, 14), start) == "acute"
    assert toxicity_phase(date(2024, 4, 15), start) == "late"


def test_protocol_window():
    assert toxicity_phase(RT_START + timedelta(days=60), RT_START, acute_window_days=60) == "acute"
    assert toxicity_phase(RT_START + timedelta(days=61), RT_START, acute_window_days=60) == "late"
    assert toxicity_phase(RT_START, RT_START, acute_window_days=0) == "acute"
    assert toxicity_phase(RT_START + timedelta(days=1), RT_START, acute_window_days=0) == "late"


def test_onset_before_rt_is_refused():
    with pytest.raises(InvalidValue) as info:
        toxicity_phase(RT_START - timedelta(days=1), RT_START)
    assert info.value.field == "onset_date"
    assert "before the start of radiotherapy" in info.value.rule


@pytest.mark.parametrize("window", [-1, 1.5, "90", True, None])
def test_bad_window_refused(window):
    with pytest.raises(InvalidValue) as info:
        toxicity_phase(RT_START, RT_START, acute_window_days=window)
    assert info.value.field == "acute_window_days"


def test_datetimes_and_text_refused():
    with pytest.raises(InvalidValue):
        toxicity_phase(datetime(2025, 3, 4, 8, 0), RT_START)
    with pytest.raises(InvalidValue):
        toxicity_phase("2025-03-04", RT_START)
    with pytest.raises(InvalidValue) as info:
        toxicity_phase(RT_START, "2025-03-03")
    assert info.value.field == "rt_start"


@given(start=dates, a=offsets, b=offsets, window=windows)
def test_phase_is_monotone_in_onset(start, a, b, window):
    """Once late, always late: a later onset is never 'more acute'."""
    early, late = sorted((a, b))
    rank = {"acute": 0, "late": 1}
    p1 = toxicity_phase(start + timedelta(days=early), start, window)
    p2 = toxicity_phase(start + timedelta(days=late), start, window)
    assert rank[p1] <= rank[p2]


@given(start=dates, offset=offsets, window=windows)
def test_phase_matches_day_count(start, offset, window):
    phase = toxicity_phase(start + timedelta(days=offset), start, window)
    assert phase == ("acute" if offset <= window else "late")


@given(start=dates, offset=st.integers(min_value=0, max_value=2000), window=windows)
def test_phase_is_monotone_in_window(start, offset, window):
    """Widening the protocol window can only turn late into acute."""
    onset = start + timedelta(days=offset)
    if toxicity_phase(onset, start, window) == "acute":
        assert toxicity_phase(onset, start, window + 1) == "acute"


# --- SR2 major wound complications ----------------------------------------------------------


@pytest.mark.parametrize("criterion", WOUND_CRITERIA)
@pytest.mark.parametrize(("days", "major"), [(0, True), (1, True), (119, True), (120, True), (121, False)])
def test_each_criterion_within_120_days_inclusive(criterion, days, major):
    wc = WoundComplication(onset_date=SURGERY + timedelta(days=days), **{criterion: True})
    assert wc.criteria_met() == (criterion,)
    assert is_major_wound_complication(wc, SURGERY) is major


def test_no_criterion_is_not_major():
    wc = WoundComplication(onset_date=SURGERY + timedelta(days=10))
    assert wc.criteria_met() == ()
    assert is_major_wound_complication(wc, SURGERY) is False


def test_several_criteria():
    wc = WoundComplication(
        onset_date=SURGERY + timedelta(days=30),
        secondary_operation=True,
        readmission_for_wound_care=True,
    )
    assert wc.criteria_met() == ("secondary_operation", "readmission_for_wound_care")
    assert is_major_wound_complication(wc, SURGERY)


def test_protocol_window_for_wounds():
    wc = WoundComplication(onset_date=SURGERY + timedelta(days=100), deep_packing=True)
    assert is_major_wound_complication(wc, SURGERY, window_days=100)
    assert not is_major_wound_complication(wc, SURGERY, window_days=99)


def test_onset_before_surgery_is_refused():
    wc = WoundComplication(onset_date=SURGERY - timedelta(days=1), secondary_operation=True)
    with pytest.raises(InvalidValue) as info:
        is_major_wound_complication(wc, SURGERY)
    assert info.value.field == "onset_date"
    assert "before the surgery" in info.value.rule


def test_wound_complication_checks_its_fields():
    with pytest.raises(InvalidValue) as info:
        WoundComplication(onset_date="2025-05-20")
    assert info.value.field == "onset_date"
    with pytest.raises(InvalidValue) as info:
        WoundComplication(onset_date=SURGERY, deep_packing="yes")
    assert info.value.field == "deep_packing"
    with pytest.raises(InvalidValue) as info:
        is_major_wound_complication(WoundComplication(onset_date=SURGERY), SURGERY, window_days=-1)
    assert info.value.field == "window_days"


@given(
    surgery=dates,
    offset=st.integers(min_value=0, max_value=400),
    flags=st.lists(st.booleans(), min_size=len(WOUND_CRITERIA), max_size=len(WOUND_CRITERIA)),
)
def test_major_iff_any_criterion_and_within_window(surgery, offset, flags):
    wc = WoundComplication(
        onset_date=surgery + timedelta(days=offset), **dict(zip(WOUND_CRITERIA, flags))
    )
    assert is_major_wound_complication(wc, surgery) == (any(flags) and offset <= 120)
