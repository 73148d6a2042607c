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


# --------------------------------------------------------------------------- rules of single forms
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def check_fraction(number: int | None, day: dt.date | None, status: str | None, reason: str | None, *,
                   planned: int | None, treatment_days: Iterable[str], others: Iterable[dict],
                   closed: str | None = None, calendar: str | None = None) -> None:
    """A radiotherapy fraction in its course's log (``others``: the course's other fractions).

    A course keeps its fraction count (a missed fraction is made up under the same number); a
    delivered fraction falls on a treatment day of the protocol and not on a day the course's
    calendar closes (``closed``: that calendar's reason, computed by the caller); one fraction is
    delivered once, one a day; a missed or rescheduled fraction says why.
    """
    others = list(others)
    if number is not None and planned is not None and number > planned:
        raise InvalidValue("rt_fraction.fraction_number", f"the course has {planned} fractions", number)
    if day is not None:
        if status == "delivered" and WEEKDAYS[day.weekday()] not in set(treatment_days):
            raise InvalidValue("rt_fraction.fraction_date", f"is a {day.strftime('%A')}, not a treatment day of the "
                               "protocol", day.isoformat())
        same_day = [f for f in others if f.get("fraction_number") == number and f.get("fraction_date") == day]
        if same_day:
            raise InvalidValue("rt_fraction.fraction_date", f"fraction {number} is already recorded as "
                               f"{same_day[0].get('status')} that day", day.isoformat())
        if status == "delivered" and closed:
            raise InvalidValue("rt_fraction.fraction_date", f"{closed} in the course's {calendar} calendar "
                               "(if the department did treat that day, correct the course's calendar)", day.isoformat())
    if status == "delivered":
        if any(f.get("fraction_number") == number and f.get("status") == "delivered" for f in others):
            raise InvalidValue("rt_fraction.fraction_number", "that fraction is already recorded as delivered", number)
        if day is not None and any(f.get("fraction_date") == day and f.get("status") == "delivered" for f in others):
            raise InvalidValue("rt_fraction.fraction_date", "another fraction was already delivered that day",
                               day.isoformat())
    if status in ("missed", "rescheduled") and not reason:
        raise InvalidValue("rt_fraction.reason", f"is required for a {status} fraction", show_value=False)


def check_specimen_percentages(viable: float | None, necrosis: float | None, fibrosis: float | None) -> None:
    """Stainable cells, necrosis and fibrosis are shares of one specimen: together at most 100 %."""
    total = sum(p or 0 for p in (viable, necrosis, fibrosis))
    if total > 100:
        raise InvalidValue("pathology.viable_percent", f"stainable cells, necrosis and fibrosis add up to {total:g} %, "
                           "more than 100 %", show_value=False)


def check_adverse_event(onset: dt.date | None, resolution: dt.date | None, grade: int | None,
                        death_recorded: bool) -> None:
    """An event resolves after its onset; CTCAE grade 5 is death, so the death is recorded first."""
    if resolution is not None and onset is not None and resolution < onset:
        raise InvalidValue("adverse_event.resolution_date", f"must not be before the onset ({onset})",
                           resolution.isoformat())
    if grade == 5 and not death_recorded:
        raise InvalidValue("adverse_event.grade", "grade 5 is death: record the death (outcome event) first", 5)


def check_outcome_event(kind: str | None, day: dt.date | None, death_cause: str | None, *,
                        other_death: dt.date | None, other_events: Iterable[dt.date | None],
                        visits: Iterable[dt.date | None]) -> None:
    """Death is one event with its cause, and the last one: no relapse, metastasis or visit after it."""
    if kind == "death":
        if not death_cause:
            raise InvalidValue("outcome_event.death_cause", "is required when the event is a death", show_value=False)
        if other_death is not None:
            raise InvalidValue("outcome_event.event_type", f"a death is already recorded ({other_death})", kind)
        for dates, label in ((other_events, "a recorded relapse or metastasis"), (visits, "a recorded follow-up visit")):
            last = max((d for d in dates if d is not None), default=None)
            if last is not None and day is not None and day < last:
                raise InvalidValue("outcome_event.event_date", f"a death cannot precede {label} ({last})", day.isoformat())
    elif death_cause:
        raise InvalidValue("outcome_event.death_cause", "applies to a death only", death_cause)
