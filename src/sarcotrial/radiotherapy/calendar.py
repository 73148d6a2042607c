"""The fraction calendar: which days a course is treated on.

A protocol says how many fractions and on which weekdays (SPRINT: 25, Monday to Friday). Public
holidays come from the ``holidays`` package (Italy; ``IT-MI`` adds Milan's patron saint,
7 December; Italy's 4 October holiday, restored from 2026, is in ``holidays`` >= 0.109), and a
department adds its own closures (machine service days, a file of dates or date ranges).
A start date that is not a treatment day moves to the next treatment day, and says so.

Stereotactic / ablative courses are not daily: 3-5 fractions with a rest between them, e.g.
every other working day, or at least 40 h apart (the RTOG 0236 schedule: three fractions of
20 Gy at least 40 h apart, over 1.5-2 weeks; Timmerman R, Paulus R, Galvin J, et al. Stereotactic
body radiation therapy for inoperable early stage lung cancer. JAMA 2010;303(11):1070-1076), or
on given weekdays only. :func:`spaced_treatment_dates` lays out such a calendar with the same holidays and
closures; with no spacing it gives exactly the dates of :func:`treatment_dates`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import holidays

from sarcotrial.errors import InvalidValue

CALENDARS = {"IT": ("IT", None), "IT-MI": ("IT", "MI")}
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONDAY_TO_FRIDAY = WEEKDAY_CODES[:5]


@lru_cache(maxsize=64)
def _public_holidays(calendar: str, year: int) -> dict[dt.date, str]:
    if calendar not in CALENDARS:
        raise InvalidValue("calendar", f"unknown holiday calendar; known: {', '.join(CALENDARS)}", calendar)
    country, subdivision = CALENDARS[calendar]
    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year).items())


def closure_reason(day: dt.date, calendar: str, closures: frozenset[dt.date] = frozenset(),
                   treatment_days: Iterable[str] = MONDAY_TO_FRIDAY) -> str | None:
    """Why ``day`` is not a treatment day (``None`` when it is one)."""
    if WEEKDAY_CODES[day.weekday()] not in tuple(treatment_days):
        return f"{day.strftime('%A')} is not a treatment day"
    name = _public_holidays(calendar, day.year).get(day)
    if name:
        return f"public holiday ({name})"
    if day in closures:
        return "department closure"
    return None


def next_treatment_day(day: dt.date, calendar: str, closures: frozenset[dt.date] = frozenset(),
                       treatment_days: Iterable[str] = MONDAY_TO_FRIDAY) -> dt.date:
    days = tuple(treatment_days)
    for _ in range(400):
        if closure_reason(day, calendar, closures, days) is None:
            return day
        day += dt.timedelta(days=1)
    raise InvalidValue("closures", "no treatment day in the next 400 days", show_value=False)


@dataclass(frozen=True)
class Schedule:
    dates: list[dt.date]
    requested_start: dt.date
    moved_reason: str | None

    @property
    def last(self) -> dt.date:
        return self.dates[-1]

    @property
    def overall_treatment_days(self) -> int:
        """First to last fraction, both counted."""
        return (self.dates[-1] - self.dates[0]).days + 1

    @property
    def moved_start(self) -> dict[str, str] | None:
        if self.moved_reason is None:
            return None
        return {"date": self.dates[0].isoformat(), "reason": f"{self.requested_start.isoformat()}: {self.moved_reason}"}

    def as_dict(self) -> dict:
        return {"dates": [d.isoformat() for d in self.dates], "last": self.last.isoformat(),
                "overall_treatment_days": self.overall_treatment_days, "moved_start": self.moved_start}


def treatment_dates(start: dt.date, fractions: int, calendar: str = "IT", closures: Iterable[dt.date] = (),
                    treatment_days: Iterable[str] = MONDAY_TO_FRIDAY) -> Schedule:
    """The dates of ``fractions`` fractions from ``start``, skipping non-treatment days."""
    if not isinstance(fractions, int) or isinstance(fractions, bool) or fractions < 1:
        raise InvalidValue("fractions", "must be a whole number of at least 1", fractions)
    closed = frozenset(closures)
    days = tuple(treatment_days)
    reason = closure_reason(start, calendar, closed, days)
    day = next_treatment_day(start, calendar, closed, days)
    dates = [day]
    while len(dates) < fractions:
        day = next_treatment_day(day + dt.timedelta(days=1), calendar, closed, days)
        dates.append(day)
    return Schedule(dates, start, reason)


ABLATIVE_SPACINGS: dict[str, dict[str, int]] = {
    "daily": {},
    "every_other_treatment_day": {"rest_treatment_days": 1},
    "at_least_40h": {"min_gap_hours": 40},
}
"""Named spacings a protocol can refer to (keyword arguments of :func:`spaced_treatment_dates`)."""


def spaced_treatment_dates(start: dt.date, fractions: int, calendar: str = "IT", closures: Iterable[dt.date] = (),
                           treatment_days: Iterable[str] = MONDAY_TO_FRIDAY, *, rest_treatment_days: int = 0,
                           min_gap_hours: float = 0, max_overall_days: int | None = None) -> Schedule:
    """Dates of a non-daily (e.g. ablative) course, skipping non-treatment days as :func:`treatment_dates` does.

    - ``rest_treatment_days``: treatment days left without a fraction between two fractions
      (1 = every other working day; a holiday is not a treatment day, so it does not count as rest).
    - ``min_gap_hours``: the least interval between fractions, with every fraction given at the
      same time of day (so 40 h means two calendar days, 48 h).
    - ``max_overall_days``: refuse a calendar whose first-to-last span (both days counted) is
      longer, e.g. when holidays push the last fraction beyond the protocol's window.
    """
    if not isinstance(fractions, int) or isinstance(fractions, bool) or fractions < 1:
        raise InvalidValue("fractions", "must be a whole number of at least 1", fractions)
    if not isinstance(rest_treatment_days, int) or isinstance(rest_treatment_days, bool) or rest_treatment_days < 0:
        raise InvalidValue("rest_treatment_days", "must be a whole number of days, 0 or more", rest_treatment_days)
    if (not isinstance(min_gap_hours, (int, float)) or isinstance(min_gap_hours, bool) or math.isnan(min_gap_hours)
            or min_gap_hours < 0 or min_gap_hours > 24 * 60):
        raise InvalidValue("min_gap_hours", "must be a number of hours from 0 to 1440", min_gap_hours)
    if max_overall_days is not None and (not isinstance(max_overall_days, int) or isinstance(max_overall_days, bool)
                                         or max_overall_days < 1):
        raise InvalidValue("max_overall_days", "must be a whole number of days, at least 1", max_overall_days)
    min_days = max(1, math.ceil(min_gap_hours / 24))
    closed = frozenset(closures)
    days = tuple(treatment_days)
    reason = closure_reason(start, calendar, closed, days)
    previous = next_treatment_day(start, calendar, closed, days)
    dates = [previous]
    while len(dates) < fractions:
        day = next_treatment_day(previous + dt.timedelta(days=1), calendar, closed, days)
        for _ in range(rest_treatment_days):
            day = next_treatment_day(day + dt.timedelta(days=1), calendar, closed, days)
        if (day - previous).days < min_days:
            day = next_treatment_day(previous + dt.timedelta(days=min_days), calendar, closed, days)
        dates.append(day)
        previous = day
    schedule = Schedule(dates, start, reason)
    if max_overall_days is not None and schedule.overall_treatment_days > max_overall_days:
        raise InvalidValue("max_overall_days", f"the course would take {schedule.overall_treatment_days} days "
                           f"({schedule.dates[0].isoformat()} to {schedule.last.isoformat()}), more than "
                           f"{max_overall_days}", show_value=False)
    return schedule


def read_closures(path: Path) -> frozenset[dt.date]:
    """A closures file: one date (YYYY-MM-DD) or range (YYYY-MM-DD..YYYY-MM-DD) a line; '#' starts a comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidValue("closures", f"cannot read {path}: {exc.strerror}", show_value=False) from None
    out: set[dt.date] = set()
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            if ".." in line:
                first, last = (dt.date.fromisoformat(p.strip()) for p in line.split("..", 1))
                if last < first:
                    raise ValueError
                out.update(first + dt.timedelta(days=i) for i in range((last - first).days + 1))
            else:
                out.add(dt.date.fromisoformat(line))
        except ValueError:
            raise InvalidValue("closures", f"{path} line {number}: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD", raw) from None
    return frozenset(out)
