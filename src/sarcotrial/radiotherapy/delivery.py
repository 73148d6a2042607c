"""The delivery log of a radiotherapy course, and the protocol deviations it shows.

From the fractions as recorded (delivered, missed with a reason, rescheduled) and the protocol's
prescription, this derives what a radiation oncologist and a monitor ask of a course:

- fractions delivered, missed and rescheduled (a course keeps its fraction count: a missed
  fraction is made up later, under the same fraction number);
- the overall treatment time (OTT), first to last delivered fraction, both days counted, against
  the OTT the calendar planned from the planned first day (weekends, holidays and closures
  excluded), so a prolongation is measured in days beyond the plan, not beyond 5 weeks;
- the dose delivered to each volume, against the prescription.

A prolongation beyond the protocol's tolerance, or a delivered dose that differs from the
prescription by more than its tolerance, is a protocol deviation, minor or major as the protocol's
``treatment.radiotherapy.deviations`` thresholds say (strictly greater than the threshold). The
dose is judged once the course is closed (surgery recorded, or every fraction delivered), the
time once the last fraction is delivered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping

Severity = Literal["minor", "major"]


@dataclass(frozen=True)
class FractionRecord:
    number: int
    date: dt.date
    status: Literal["delivered", "missed", "rescheduled"]
    doses_gy: Mapping[str, float] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class Deviation:
    category: Literal["rt_prolongation", "rt_dose"]
    severity: Severity
    description: str


@dataclass(frozen=True)
class DeliverySummary:
    planned_fractions: int
    delivered: int
    missed: int
    rescheduled: int
    first_fraction: dt.date | None
    last_fraction: dt.date | None
    overall_treatment_days: int | None
    planned_overall_treatment_days: int | None
    prolongation_days: int | None
    delivered_dose_gy: dict[str, float]
    prescribed_dose_gy: dict[str, float]
    complete: bool
    deviations: list[Deviation]
    made_up: int = 0  # of the missed fractions, those delivered on a later day under their number (:func:`made_up`)

    def as_dict(self) -> dict:
        return {
            "planned_fractions": self.planned_fractions, "delivered": self.delivered, "missed": self.missed,
            "rescheduled": self.rescheduled,
            "first_fraction": self.first_fraction.isoformat() if self.first_fraction else None,
            "last_fraction": self.last_fraction.isoformat() if self.last_fraction else None,
            "overall_treatment_days": self.overall_treatment_days,
            "planned_overall_treatment_days": self.planned_overall_treatment_days,
            "prolongation_days": self.prolongation_days, "delivered_dose_gy": self.delivered_dose_gy,
            "prescribed_dose_gy": self.prescribed_dose_gy, "complete": self.complete,
            "deviations": [{"category": d.category, "severity": d.severity, "description": d.description}
                           for d in self.deviations],
        }


def made_up(fractions: Iterable[FractionRecord]) -> int:
    """Missed fractions made up later: a course keeps its fraction count, so a missed fraction is made up
    when the same fraction number is delivered on a later day; a missed fraction with no later delivery
    of its number was never made up."""
    fractions = list(fractions)
    delivered: dict[int, list[dt.date]] = {}
    for f in fractions:
        if f.status == "delivered":
            delivered.setdefault(f.number, []).append(f.date)
    return sum(1 for f in fractions if f.status == "missed" and any(day > f.date for day in delivered.get(f.number, [])))


def _severity(excess: float, minor: float, major: float) -> Severity | None:
    if excess > major:
        return "major"
    if excess > minor:
        return "minor"
    return None


def summarise_delivery(fractions: Iterable[FractionRecord], *, planned_fractions: int,
                       prescribed_dose_gy: Mapping[str, float], planned_overall_treatment_days: int | None,
                       prolongation_minor_days: int, prolongation_major_days: int,
                       dose_minor_percent: float, dose_major_percent: float, closed: bool = False) -> DeliverySummary:
    """The course's delivery summary and its deviations (``closed``: no more fractions will come)."""
    fractions = sorted(fractions, key=lambda f: (f.date, f.number))
    delivered = [f for f in fractions if f.status == "delivered"]
    doses: dict[str, float] = {volume: 0.0 for volume in prescribed_dose_gy}
    for f in delivered:
        for volume, gy in f.doses_gy.items():
            doses[volume] = doses.get(volume, 0.0) + gy
    doses = {k: round(v, 6) for k, v in doses.items()}
    first = delivered[0].date if delivered else None
    last = delivered[-1].date if delivered else None
    ott = (last - first).days + 1 if delivered else None
    all_delivered = len({f.number for f in delivered}) >= planned_fractions
    complete = all_delivered or closed
    prolongation = None
    deviations: list[Deviation] = []
    if ott is not None and planned_overall_treatment_days is not None:
        prolongation = ott - planned_overall_treatment_days
        if all_delivered:
            severity = _severity(prolongation, prolongation_minor_days, prolongation_major_days)
            if severity:
                deviations.append(Deviation(
                    "rt_prolongation", severity,
                    f"overall treatment time {ott} days, {prolongation} days beyond the planned {planned_overall_treatment_days} "
                    f"(protocol: minor beyond {prolongation_minor_days}, major beyond {prolongation_major_days})"))
    if complete:
        for volume, prescribed in prescribed_dose_gy.items():
            given = doses.get(volume, 0.0)
            difference = abs(given - prescribed) / prescribed * 100
            severity = _severity(difference, dose_minor_percent, dose_major_percent)
            if severity:
                deviations.append(Deviation(
                    "rt_dose", severity,
                    f"{volume}: {given:g} Gy delivered of {prescribed:g} Gy prescribed ({difference:.1f} % off; "
                    f"protocol: minor beyond {dose_minor_percent:g} %, major beyond {dose_major_percent:g} %)"))
    return DeliverySummary(
        planned_fractions=planned_fractions, delivered=len(delivered),
        missed=sum(f.status == "missed" for f in fractions), rescheduled=sum(f.status == "rescheduled" for f in fractions),
        made_up=made_up(fractions),
        first_fraction=first, last_fraction=last, overall_treatment_days=ott,
        planned_overall_treatment_days=planned_overall_treatment_days, prolongation_days=prolongation,
        delivered_dose_gy=doses, prescribed_dose_gy=dict(prescribed_dose_gy), complete=complete, deviations=deviations)
