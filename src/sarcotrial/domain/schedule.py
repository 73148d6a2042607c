"""The visit schedule: planned dates and windows of a protocol's visits, computed from anchor dates.

A protocol's visit schedule says when each case report form is expected: "a wound check 30 days
after surgery, then every 30 days up to day 120", "a follow-up every 3 months for two years after
surgery", "a chemotherapy cycle 21 days after the previous one". This module turns such rules and
the dates already recorded for a patient into planned occurrences (visit, occurrence number, target
date and window), and says where a visit stands (scheduled, upcoming, due, overdue, partial,
complete). It is pure: no I/O, no database and no pydantic protocol models. It takes plain frozen
dataclasses, so the services can feed it from any protocol version, and a protocol file's schema
can change without touching the date arithmetic.

Concepts:

- **Anchor** (:class:`AnchorSpec`): a date field of a form, e.g. ``surgery.surgery_date``. When a
  form can be recorded several times (radiotherapy fractions, chemotherapy cycles), ``instance``
  chooses which records count: ``first`` (the earliest matching date), ``last`` (the latest) or
  ``previous`` (each occurrence after the first hangs on the previous actual record). ``where``
  keeps only the records whose other fields equal the given values, e.g. ``status = delivered``,
  so a missed fraction never starts the radiotherapy clock.
- **Planned occurrence**: the target date is the anchor date plus the offset. The window runs from
  ``target - window_before_days`` to ``target + window_after_days``, both days included. This is
  the "planned study day" and visit window of CDISC SDTM (TV trial visits and SV subject visits).
- A visit has **no occurrence until its anchor exists**. The services plan again whenever an anchor
  is recorded or corrected, so a target date follows its anchor.

Conventions chosen, and why:

- **Month arithmetic** clamps to the last day of the month: 31 January + 1 month = 28 February
  (29 in a leap year), 31 August + 6 months = 28/29 February. This is the convention of
  ``dateutil.relativedelta`` and of most clinical systems. :func:`add_months` implements it with
  the standard library alone, so the engine has no third-party dependency, and the tests check it
  against ``relativedelta``. When a visit gives both months and days, the months are added first
  and then the days, as ``relativedelta(months=m, days=d)`` does.
- **Repeats are computed from the anchor, never from the previous target.** Occurrence ``k``
  (1-based) is offset by ``offset_months + (k-1) * every_months`` months, or by
  ``offset_days + (k-1) * every_days`` days, from the anchor date. Adding one month at a time would
  drift: 31 Jan -> 28 Feb -> 28 Mar. Computing from the anchor gives 31 Jan -> 28 Feb -> 31 Mar.
- **Stop rules.** ``count`` plans that many occurrences. ``until_days`` and ``until_months`` plan
  every occurrence whose target is no later than the anchor date plus the limit. The limit is
  inclusive, so "every 30 days until day 120" includes day 120. The limit is compared as a date,
  not as a number, so it also works when months and days are mixed. For offsets in whole months,
  comparing dates is the same as comparing month counts, because :func:`add_months` is monotone.
  A protocol gives exactly one step (``every_days`` or ``every_months``) and exactly one stop rule,
  as the protocol schema requires.
- **``previous``**: occurrence 1 is anchored on the first matching record. Occurrence ``k >= 2`` is
  anchored on the ``(k-1)``-th matching record's actual date, plus one step. The visit's offset is
  added to every occurrence in the same way: ``target = anchor + step (k >= 2) + offset``. A "day 8
  check" of each 21-day cycle then falls on day 8 of that cycle, and a cycle given 3 days late
  moves every later occurrence by 3 days. An occurrence is planned only when its anchor record
  exists, so ``n`` records give at most ``n + 1`` occurrences. ``until_*`` is measured from the
  first matching record.
- ``PlannedOccurrence.anchor_date`` is the actual anchor date the occurrence was computed from:
  the chosen record for ``first``/``last``, and the previous record for ``previous``.
- Records with the same date are kept. A ``datetime`` is reduced to its date.
- :func:`plan_schedule` returns the occurrences in chronological order. Ties keep the order of the
  visits given, then the occurrence number.

:func:`visit_status` combines a visit's window with the entry states of its forms. A visit is
``complete`` when every form is complete (or verified, signed, locked) or recorded as not done.
It is ``partial`` when some data is entered but the visit is not complete and its window has not
ended. Entered data that is still incomplete once the window has ended makes the visit
``overdue``, because a data manager must still chase it. With no data entered, the date decides:
``scheduled`` (target unknown), ``upcoming``, ``due`` or ``overdue``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sarcotrial.errors import InvalidValue

__all__ = [
    "AnchorInstance",
    "AnchorSpec",
    "COMPLETE_STATES",
    "ENTRY_STATES",
    "INSTANCE_CHOICES",
    "PlannedOccurrence",
    "RepeatSpec",
    "VISIT_STATUSES",
    "VisitSpec",
    "add_months",
    "anchor_dates",
    "plan_schedule",
    "plan_visit",
    "visit_status",
]

INSTANCE_CHOICES: tuple[str, ...] = ("first", "last", "previous")

#: Entry states of a CRF instance that count as complete.
COMPLETE_STATES: frozenset[str] = frozenset({"complete", "verified", "signed", "locked"})
#: Every entry state a CRF instance can be in.
ENTRY_STATES: frozenset[str] = COMPLETE_STATES | {"expected", "incomplete", "not_done"}
#: What :func:`visit_status` can return.
VISIT_STATUSES: tuple[str, ...] = ("scheduled", "upcoming", "due", "overdue", "partial", "complete")


# --------------------------------------------------------------------------- specifications
@dataclass(frozen=True)
class AnchorSpec:
    """A date field of a form that a visit is planned from.

    ``where`` keeps only the records whose other fields equal the values given, e.g.
    ``(("status", "delivered"),)``. A mapping is also accepted and stored as sorted pairs.
    """

    form: str
    field: str
    instance: Literal["first", "last", "previous"] = "first"
    where: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        where = self.where
        if isinstance(where, Mapping):
            where = tuple(sorted(where.items(), key=lambda item: str(item[0])))
        else:
            try:
                where = tuple(tuple(pair) for pair in where)
            except TypeError:
                raise InvalidValue("anchor.where", "must be pairs of (field, value)", self.where) from None
        object.__setattr__(self, "where", where)


@dataclass(frozen=True)
class RepeatSpec:
    """How a visit repeats. It needs exactly one step (``every_days`` or ``every_months``) and exactly
    one stop rule (``count``, ``until_days`` or ``until_months``)."""

    every_days: int | None = None
    every_months: int | None = None
    count: int | None = None
    until_days: int | None = None
    until_months: int | None = None


@dataclass(frozen=True)
class VisitSpec:
    """One visit of a protocol's schedule. Building it checks every rule and raises a
    ``ValueError`` (:class:`~sarcotrial.errors.InvalidValue`) that names the visit and the rule."""

    id: str
    name: str
    anchor: AnchorSpec
    offset_days: int = 0
    offset_months: int = 0
    window_before_days: int = 0
    window_after_days: int = 0
    repeat: RepeatSpec | None = None
    forms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.forms, str):
            raise InvalidValue(f"visits.{self.id}.forms", "must be a sequence of form ids, not one string", self.forms)
        object.__setattr__(self, "forms", tuple(self.forms))
        _check_visit(self)


@dataclass(frozen=True)
class AnchorInstance:
    """One stored record of the anchor's form: the anchor field's date, and the record's other fields
    (for ``where``)."""

    day: dt.date
    values: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        day = self.day
        if isinstance(day, dt.datetime):
            object.__setattr__(self, "day", day.date())
        elif not isinstance(day, dt.date):
            raise InvalidValue("anchor instance day", "must be a date", day)


@dataclass(frozen=True)
class PlannedOccurrence:
    """One planned occurrence of a visit. The window includes both ends."""

    visit_id: str
    occurrence: int
    anchor_date: dt.date
    target: dt.date
    window_start: dt.date
    window_end: dt.date


# --------------------------------------------------------------------------- validation
def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_anchor(anchor: object, where: str) -> None:
    if not isinstance(anchor, AnchorSpec):
        raise InvalidValue(where, "must be an AnchorSpec", anchor)
    for name in ("form", "field"):
        value = getattr(anchor, name)
        if not isinstance(value, str) or not value:
            raise InvalidValue(f"{where}.{name}", "must be a non-empty identifier", value)
    if anchor.instance not in INSTANCE_CHOICES:
        raise InvalidValue(f"{where}.instance", f"must be one of {', '.join(INSTANCE_CHOICES)}", anchor.instance)
    seen: set[str] = set()
    for pair in anchor.where:
        if len(pair) != 2 or not isinstance(pair[0], str) or not pair[0]:
            raise InvalidValue(f"{where}.where", "each filter is a (field, value) pair", pair)
        key = pair[0]
        if key == anchor.field:
            raise InvalidValue(f"{where}.where", f"filters on other fields of the record, not on the anchor field '{key}'")
        if key in seen:
            raise InvalidValue(f"{where}.where", f"names field '{key}' twice")
        seen.add(key)


def _check_visit(visit: VisitSpec) -> None:
    if not isinstance(visit.id, str) or not visit.id:
        raise InvalidValue("visits.id", "must be a non-empty identifier", visit.id)
    path = f"visits.{visit.id}"
    if not isinstance(visit.name, str) or not visit.name:
        raise InvalidValue(f"{path}.name", "must be a non-empty text", visit.name)
    _check_anchor(visit.anchor, f"{path}.anchor")
    for name in ("offset_days", "offset_months", "window_before_days", "window_after_days"):
        if not _is_int(getattr(visit, name)):
            raise InvalidValue(f"{path}.{name}", "must be a whole number", getattr(visit, name))
    for name in ("window_before_days", "window_after_days"):
        if getattr(visit, name) < 0:
            raise InvalidValue(f"{path}.{name}", "a window cannot be negative", getattr(visit, name))
    for form_id in visit.forms:
        if not isinstance(form_id, str) or not form_id:
            raise InvalidValue(f"{path}.forms", "each form is a non-empty form id", form_id)

    repeat = visit.repeat
    if repeat is None:
        if visit.anchor.instance == "previous":
            raise InvalidValue(
                f"{path}.anchor.instance",
                "'previous' needs a repeat: each occurrence after the first is one step after the previous record",
            )
        return
    if not isinstance(repeat, RepeatSpec):
        raise InvalidValue(f"{path}.repeat", "must be a RepeatSpec", repeat)
    for name in ("every_days", "every_months", "count", "until_days", "until_months"):
        value = getattr(repeat, name)
        if value is not None and not _is_int(value):
            raise InvalidValue(f"{path}.repeat.{name}", "must be a whole number", value)
    if repeat.every_days is not None and repeat.every_months is not None:
        raise InvalidValue(f"{path}.repeat", "give exactly one of every_days or every_months, not both")
    if repeat.every_days is None and repeat.every_months is None:
        raise InvalidValue(f"{path}.repeat", "a repeat needs a step: every_days or every_months")
    for name in ("every_days", "every_months", "count"):
        value = getattr(repeat, name)
        if value is not None and value < 1:
            raise InvalidValue(f"{path}.repeat.{name}", "must be at least 1", value)
    for name in ("until_days", "until_months"):
        value = getattr(repeat, name)
        if value is not None and value < 0:
            raise InvalidValue(f"{path}.repeat.{name}", "cannot be negative", value)
    stops = [n for n in ("count", "until_days", "until_months") if getattr(repeat, n) is not None]
    if not stops:
        raise InvalidValue(f"{path}.repeat", "a repeat needs a stop rule: count, until_days or until_months")
    if len(stops) > 1:
        raise InvalidValue(f"{path}.repeat", f"give exactly one stop rule, not {' and '.join(stops)}")
    # A first occurrence beyond the limit would never be planned. Refuse it where the units agree and
    # the answer does not depend on the anchor date.
    if repeat.until_days is not None and visit.offset_months == 0 and visit.offset_days > repeat.until_days:
        raise InvalidValue(
            f"{path}.repeat.until_days",
            f"the first occurrence (day {visit.offset_days}) is after the limit (day {repeat.until_days}): it would never be planned",
        )
    if repeat.until_months is not None and visit.offset_days == 0 and visit.offset_months > repeat.until_months:
        raise InvalidValue(
            f"{path}.repeat.until_months",
            f"the first occurrence (month {visit.offset_months}) is after the limit (month {repeat.until_months}): it would never be planned",
        )


# --------------------------------------------------------------------------- date arithmetic
def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus a whole number of months (negative goes back), clamped to the last day of the
    month reached: 31 Jan + 1 = 28 Feb (29 in a leap year), like ``dateutil.relativedelta``.
    Raises ``OverflowError`` outside the years 1 to 9999."""
    if not _is_int(months):
        raise InvalidValue("months", "must be a whole number", months)
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise OverflowError(f"{day.isoformat()} {months:+d} months is outside the years {dt.MINYEAR}-{dt.MAXYEAR}")
    month = month0 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _shift(day: dt.date, months: int, days: int) -> dt.date:
    """Months first, then days (as ``relativedelta(months=m, days=d)``)."""
    return add_months(day, months) + dt.timedelta(days=days)


# --------------------------------------------------------------------------- anchors
def _matches(instance: AnchorInstance, where: tuple[tuple[str, object], ...]) -> bool:
    missing = object()
    return all(instance.values.get(key, missing) == value for key, value in where)


def anchor_dates(spec: AnchorSpec, instances: Iterable[AnchorInstance]) -> list[dt.date]:
    """The anchor dates of the records that pass ``spec.where``, sorted. Records on the same date are
    kept. ``spec.instance`` is applied by :func:`plan_visit`, not here."""
    _check_anchor(spec, f"anchor {spec.form}.{spec.field}" if isinstance(spec, AnchorSpec) else "anchor")
    dates: list[dt.date] = []
    for instance in instances:
        if not isinstance(instance, AnchorInstance):
            raise InvalidValue(f"anchor {spec.form}.{spec.field}", "records must be AnchorInstance", instance)
        if _matches(instance, spec.where):
            dates.append(instance.day)
    dates.sort()
    return dates


# --------------------------------------------------------------------------- planning
def plan_visit(visit: VisitSpec, instances: Iterable[AnchorInstance]) -> list[PlannedOccurrence]:
    """The planned occurrences of one visit, given the records of its anchor's form. The list is empty
    while the anchor does not exist."""
    if not isinstance(visit, VisitSpec):
        raise InvalidValue("visit", "must be a VisitSpec", visit)
    dates = anchor_dates(visit.anchor, instances)
    if not dates:
        return []
    repeat = visit.repeat
    mode = visit.anchor.instance
    step_months = (repeat.every_months or 0) if repeat is not None else 0
    step_days = (repeat.every_days or 0) if repeat is not None else 0
    reference = dates[-1] if mode == "last" else dates[0]  # the date the stop rule is measured from

    try:
        limit: dt.date | None = None
        if repeat is not None and repeat.until_days is not None:
            limit = reference + dt.timedelta(days=repeat.until_days)
        elif repeat is not None and repeat.until_months is not None:
            limit = add_months(reference, repeat.until_months)

        planned: list[PlannedOccurrence] = []
        k = 1
        while True:
            if repeat is None and k > 1:
                break
            if repeat is not None and repeat.count is not None and k > repeat.count:
                break
            if mode == "previous":
                if k - 2 >= len(dates):  # the previous record does not exist yet
                    break
                anchor = dates[0] if k == 1 else dates[k - 2]
                steps = 0 if k == 1 else 1
            else:
                anchor = reference
                steps = k - 1
            target = _shift(anchor, visit.offset_months + steps * step_months, visit.offset_days + steps * step_days)
            if limit is not None and target > limit:
                break
            planned.append(
                PlannedOccurrence(
                    visit_id=visit.id,
                    occurrence=k,
                    anchor_date=anchor,
                    target=target,
                    window_start=target - dt.timedelta(days=visit.window_before_days),
                    window_end=target + dt.timedelta(days=visit.window_after_days),
                )
            )
            k += 1
    except OverflowError:
        raise InvalidValue(
            f"visits.{visit.id}", "a planned date falls outside the calendar (years 1-9999)", reference
        ) from None
    return planned


def plan_schedule(
    visits: Iterable[VisitSpec], instances_by_form: Mapping[str, Iterable[AnchorInstance]]
) -> list[PlannedOccurrence]:
    """The planned occurrences of every visit, in date order. ``instances_by_form`` maps a form id to its
    stored records. A form that is missing has no records. Two visits with the same id are refused."""
    visits = list(visits)
    seen: set[str] = set()
    for visit in visits:
        if not isinstance(visit, VisitSpec):
            raise InvalidValue("visits", "each visit must be a VisitSpec", visit)
        if visit.id in seen:
            raise InvalidValue(f"visits.{visit.id}", "duplicate visit id")
        seen.add(visit.id)
    records = {form: tuple(items) for form, items in instances_by_form.items()}
    ordered: list[tuple[dt.date, int, int, PlannedOccurrence]] = []
    for index, visit in enumerate(visits):
        for occurrence in plan_visit(visit, records.get(visit.anchor.form, ())):
            ordered.append((occurrence.target, index, occurrence.occurrence, occurrence))
    ordered.sort(key=lambda item: item[:3])
    return [item[3] for item in ordered]


# --------------------------------------------------------------------------- status
def visit_status(
    window_start: dt.date | None, window_end: dt.date | None, form_states: Iterable[str], today: dt.date
) -> str:
    """Where a visit stands on ``today``. The result is one of :data:`VISIT_STATUSES`.

    - ``complete``: there is at least one form, and every form is complete (or verified, signed,
      locked) or not done.
    - ``partial``: some data is entered (incomplete, complete or not done), the visit is not
      complete, and the window has not ended (or is unknown).
    - ``overdue``: the window has ended and the visit is not complete, whether or not some data is
      entered.
    - With no data entered: ``scheduled`` (the window is unknown because the anchor does not exist),
      ``upcoming`` (before the window), ``due`` (inside it, both ends included) or ``overdue``.
    """
    if (window_start is None) != (window_end is None):
        raise InvalidValue("window", "give both window_start and window_end, or neither")
    if window_start is not None and window_end is not None and window_start > window_end:
        raise InvalidValue("window", f"window_start {window_start} is after window_end {window_end}")
    states = list(form_states)
    for state in states:
        if state not in ENTRY_STATES:
            raise InvalidValue("form_states", f"unknown entry state (known: {', '.join(sorted(ENTRY_STATES))})", state)
    if states and all(s in COMPLETE_STATES or s == "not_done" for s in states):
        return "complete"
    entered = any(s != "expected" for s in states)
    if window_end is not None and today > window_end:
        return "overdue"
    if entered:
        return "partial"
    if window_start is None:
        return "scheduled"
    if today < window_start:
        return "upcoming"
    return "due"
