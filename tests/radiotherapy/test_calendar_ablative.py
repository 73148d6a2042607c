"""Non-daily (stereotactic / ablative) fraction calendars against Italy's public holidays.

Sources for the expected dates (independent of the holidays package), as in test_calendar.py:
Italian national holidays by Law 260/1949 as amended (8 December Immaculate Conception, 2 June
Republic Day, Easter Monday); Easter Sunday 2027 is 28 March, so Easter Monday is 29 March 2027.
Spacing: RTOG 0236 (Timmerman R, et al. JAMA 2010;303:1070-1076): three fractions at least 40 h
apart; with every fraction at the same time of day, 40 h means two calendar days (48 h).
Weekdays checked by hand against the 2027 calendar (6 December 2027 is a Monday).
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.calendar import ABLATIVE_SPACINGS, spaced_treatment_dates, treatment_dates

D = dt.date


def test_every_other_working_day_over_easter_2027():
    plan = spaced_treatment_dates(D(2027, 3, 22), 5, "IT", **ABLATIVE_SPACINGS["every_other_treatment_day"])
    # Mon 22, (rest Tue 23) Wed 24, (rest Thu 25) Fri 26; Mon 29 Easter Monday is no treatment day,
    # so Tue 30 is the rest day and Wed 31 the fourth fraction; (rest Thu 1 Apr) Fri 2 Apr.
    assert plan.dates == [D(2027, 3, 22), D(2027, 3, 24), D(2027, 3, 26), D(2027, 3, 31), D(2027, 4, 2)]
    assert plan.overall_treatment_days == 12


def test_three_fractions_at_least_40_hours_apart():
    plan = spaced_treatment_dates(D(2027, 12, 6), 3, "IT", min_gap_hours=40)
    # Mon 6; +2 days = Wed 8 (Immaculate Conception) -> Thu 9; +2 = Sat 11 -> Mon 13
    assert plan.dates == [D(2027, 12, 6), D(2027, 12, 9), D(2027, 12, 13)]
    assert all((b - a).days * 24 >= 40 for a, b in zip(plan.dates, plan.dates[1:]))


def test_given_weekdays_only():
    plan = spaced_treatment_dates(D(2027, 5, 31), 5, "IT", treatment_days=("mon", "wed", "fri"))
    # Mon 31 May; Wed 2 June is Republic Day -> Fri 4; Mon 7, Wed 9, Fri 11 June
    assert plan.dates == [D(2027, 5, 31), D(2027, 6, 4), D(2027, 6, 7), D(2027, 6, 9), D(2027, 6, 11)]


def test_start_on_a_holiday_moves_and_says_why():
    plan = spaced_treatment_dates(D(2027, 12, 8), 3, "IT", min_gap_hours=40)
    assert plan.dates[0] == D(2027, 12, 9) and "public holiday" in plan.moved_start["reason"]
    assert plan.dates[1:] == [D(2027, 12, 13), D(2027, 12, 15)]  # Thu 9 +2 = Sat 11 -> Mon 13; +2 = Wed 15


def test_window_exceeded_is_refused():
    # Thu 23 Dec 2027; +2 = Sat 25 -> Mon 27; +2 = Wed 29: 23..29 Dec is 7 days, both counted
    assert spaced_treatment_dates(D(2027, 12, 23), 3, "IT", min_gap_hours=40, max_overall_days=7).last == D(2027, 12, 29)
    with pytest.raises(InvalidValue) as err:
        spaced_treatment_dates(D(2027, 12, 23), 3, "IT", min_gap_hours=40, max_overall_days=6)
    assert err.value.field == "max_overall_days" and "7 days" in err.value.rule


@pytest.mark.parametrize("kwargs, field", [
    (dict(rest_treatment_days=-1), "rest_treatment_days"),
    (dict(rest_treatment_days=1.5), "rest_treatment_days"),
    (dict(min_gap_hours=-4), "min_gap_hours"),
    (dict(min_gap_hours=float("nan")), "min_gap_hours"),
    (dict(max_overall_days=0), "max_overall_days"),
])
def test_refusals(kwargs, field):
    with pytest.raises(InvalidValue) as err:
        spaced_treatment_dates(D(2027, 1, 11), 3, "IT", **kwargs)
    assert err.value.field == field


@settings(max_examples=40, deadline=None)
@given(st.dates(D(2026, 1, 1), D(2028, 12, 31)), st.integers(1, 30))
def test_no_spacing_is_exactly_the_daily_calendar(start, fractions):
    assert spaced_treatment_dates(start, fractions, "IT-MI") == treatment_dates(start, fractions, "IT-MI")


@settings(max_examples=40, deadline=None)
@given(st.dates(D(2026, 1, 1), D(2028, 12, 31)), st.integers(2, 8), st.integers(0, 2), st.sampled_from([0, 24, 40, 72]))
def test_spacing_is_respected_and_days_are_treatment_days(start, fractions, rest, gap):
    plan = spaced_treatment_dates(start, fractions, "IT", rest_treatment_days=rest, min_gap_hours=gap)
    daily = treatment_dates(start, 400, "IT").dates
    positions = [daily.index(d) for d in plan.dates]   # every date is a treatment day
    assert all(b - a >= rest + 1 for a, b in zip(positions, positions[1:]))
    assert all((b - a).days * 24 >= gap for a, b in zip(plan.dates, plan.dates[1:]))
