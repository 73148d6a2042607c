"""The fraction calendar: which days a course is treated on.

A protocol says how many fractions and on which weekdays (SPRINT: 25, Monday to Friday). Public
holidays come from the ``holidays`` package (Italy; ``IT-MI`` adds Milan's patron saint,
7 December; Italy's 4 October holiday, restored from 2026, is in ``holidays`` >= 0.109), and a
department adds its own closures (machine service days, a file of dates or date ranges).
A start date that is not a treatment day moves to the next treatment day, and says so.
"""

from __future__ import annotations

import datetime as dt
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
