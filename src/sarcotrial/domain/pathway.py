"""The order of a patient's pathway, and the protocol deviations it shows: pure rules.

The dates of one patient's care follow one order (SPRINT: referral <= screening <= enrolment <=
first fraction <= last fraction < surgery <= pathology report; nothing after death; nothing in the
future; nothing before birth). Each rule here takes dates and returns a refusal text, a deviation
text, or ``None``; the services decide what to store. Surgery timing is judged against the
protocol's window after the last fraction (``treatment.surgery.interval_after_rt_weeks_min`` /
``_max``; SPRINT 4 to 8 weeks, as in the NCIC SR2 trial, O'Sullivan et al., Lancet 2002).
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Protocol as TypingProtocol

from sarcotrial.errors import InvalidValue


class SurgeryWindow(TypingProtocol):
    interval_after_rt_weeks_min: int
    interval_after_rt_weeks_max: int


def check_date(name: str, day: dt.date | None, *, year_of_birth: int, today: dt.date,
               not_before: Iterable[tuple[dt.date | None, str]] = (), not_after: Iterable[tuple[dt.date | None, str]] = (),
               death: dt.date | None = None) -> None:
    """Refuse a date before birth, in the future, outside its bounds, or after the patient's death."""
    if day is None:
        return
    if isinstance(day, dt.datetime):
        day = day.date()
    if day.year < year_of_birth:
        raise InvalidValue(name, f"is before the patient's birth (born {year_of_birth})", day.isoformat())
    if day > today:
        raise InvalidValue(name, "is in the future", day.isoformat())
    for bound, label in not_before:
        if bound is not None and day < bound:
            raise InvalidValue(name, f"must not be before {label} ({bound.isoformat()})", day.isoformat())
    for bound, label in not_after:
        if bound is not None and day > bound:
            raise InvalidValue(name, f"must not be after {label} ({bound.isoformat()})", day.isoformat())
    if death is not None and day > death:
        raise InvalidValue(name, f"is after the patient's death ({death.isoformat()})", day.isoformat())


def surgery_interval_deviation(surgery: dt.date | None, last_fraction: dt.date | None,
                               window: SurgeryWindow) -> str | None:
    """Surgery outside the protocol's window after the last fraction: the deviation's description."""
    if surgery is None or last_fraction is None:
        return None
    weeks = (surgery - last_fraction).days / 7
    if window.interval_after_rt_weeks_min <= weeks <= window.interval_after_rt_weeks_max:
        return None
    return (f"surgery {weeks:.1f} weeks after the last fraction (protocol: {window.interval_after_rt_weeks_min} to "
            f"{window.interval_after_rt_weeks_max} weeks)")


def amputation_deviation(procedure: str | None) -> str | None:
    """An amputation although the protocol excludes planned amputation (a major deviation)."""
    if procedure == "amputation":
        return "amputation performed although the protocol excludes planned amputation"
    return None


def age_on(year_of_birth_or_dob: dt.date, day: dt.date) -> int:
    """Completed years on a day, from a date of birth."""
    dob = year_of_birth_or_dob
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))
