"""The fraction calendar against Italy's public holidays.

Sources for the expected dates (independent of the holidays package):
- Italian national holidays: Law 260/1949 as amended (1 Jan, 6 Jan, Easter Monday, 25 Apr,
  1 May, 2 Jun, 15 Aug, 1 Nov, 8 Dec, 25-26 Dec); 4 October (St Francis of Assisi) restored as a
  national holiday from 2026 (Law 151 of 2025).
- Milan's patron saint, St Ambrose: 7 December (a local holiday in Milan only).
- Easter Sunday 2027 is 28 March, so Easter Monday is 29 March 2027 (computus tables).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.calendar import closure_reason, read_closures, treatment_dates

D = dt.date


def test_2027_course_meets_monday_4_october():
    plan = treatment_dates(D(2027, 9, 27), 25, "IT")
    assert D(2027, 10, 4) not in plan.dates          # St Francis, national from 2026
    assert D(2027, 11, 1) not in plan.dates          # All Saints, a Monday in 2027
    assert len(plan.dates) == 25 and plan.dates[0] == D(2027, 9, 27)
    assert plan.last == D(2027, 11, 2)               # 25 working days: 5 weeks + 2 holidays
    assert plan.overall_treatment_days == (D(2027, 11, 2) - D(2027, 9, 27)).days + 1 == 37
    assert "Saint Francis" in closure_reason(D(2027, 10, 4), "IT")


def test_4_october_was_a_working_day_before_2026():
    assert closure_reason(D(2021, 10, 4), "IT") is None  # a Monday, no holiday then


def test_milan_adds_7_december():
    assert closure_reason(D(2027, 12, 7), "IT") is None
    assert "Ambrose" in closure_reason(D(2027, 12, 7), "IT-MI")
    plan = treatment_dates(D(2027, 12, 6), 3, "IT-MI")
    assert plan.dates == [D(2027, 12, 6), D(2027, 12, 9), D(2027, 12, 10)]  # 7 Milan, 8 Immaculate Conception


@pytest.mark.parametrize("day", [D(2027, 1, 1), D(2027, 1, 6), D(2027, 3, 29), D(2027, 6, 2), D(2027, 12, 8),
                                 D(2026, 12, 25), D(2026, 12, 26), D(2027, 11, 1)])
def test_national_holidays_are_skipped(day):
    assert closure_reason(day, "IT") is not None


def test_start_on_a_non_treatment_day_moves_and_says_so():
    plan = treatment_dates(D(2027, 9, 25), 5, "IT")  # a Saturday
    assert plan.dates[0] == D(2027, 9, 27)
    assert plan.moved_start == {"date": "2027-09-27", "reason": "2027-09-25: Saturday is not a treatment day"}
    holiday = treatment_dates(D(2027, 6, 2), 1, "IT")
    assert holiday.dates == [D(2027, 6, 3)] and "public holiday" in holiday.moved_start["reason"]
    assert treatment_dates(D(2027, 9, 27), 5, "IT").moved_start is None


def test_department_closures(tmp_path: Path):
    f = tmp_path / "closures.txt"
    f.write_text("# linac service\n2027-10-11\n2027-10-20..2027-10-21\n\n")
    closed = read_closures(f)
    assert closed == {D(2027, 10, 11), D(2027, 10, 20), D(2027, 10, 21)}
    plan = treatment_dates(D(2027, 10, 18), 4, "IT", closed)
    assert plan.dates == [D(2027, 10, 18), D(2027, 10, 19), D(2027, 10, 22), D(2027, 10, 25)]
    f.write_text("2027-13-01\n")
    with pytest.raises(InvalidValue, match="line 1: expected YYYY-MM-DD"):
        read_closures(f)


def test_bad_arguments():
    with pytest.raises(InvalidValue, match="fractions"):
        treatment_dates(D(2027, 1, 4), 0, "IT")
    with pytest.raises(InvalidValue, match="calendar"):
        treatment_dates(D(2027, 1, 4), 5, "FR-75")


@given(st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31)), st.integers(min_value=1, max_value=35))
def test_every_date_is_a_treatment_day_in_order(start, n):
    plan = treatment_dates(start, n, "IT-MI")
    assert len(plan.dates) == n and plan.dates == sorted(set(plan.dates))
    assert all(closure_reason(d, "IT-MI") is None for d in plan.dates)
    assert plan.dates[0] >= start
