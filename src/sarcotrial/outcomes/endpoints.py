"""Endpoints derived from a patient's recorded course, as the protocol defines them.

For each time-to-event endpoint of the protocol (``kind: time_to_event``) the protocol names the
origin, the events and the competing risks (DATECAN, Bellera et al., Ann Oncol 2015: say for
each endpoint its origin, its events, and whether death is an event or a competing risk). The
derivation is generic over those names:

- ``death_any_cause``: the date of death; ``death_sarcoma``: the date of a death whose recorded
  cause is sarcoma (any other death censors the patient at that date, and the censoring reason
  names the cause); ``local_relapse`` / ``distant_metastasis`` / ``progression``: the first such event.
- The time is from the origin to the first event; with competing risks the status is 1 for the
  endpoint's event, 2 for a competing event that came first, 0 for censoring.
- Without an event the patient is censored at the last contact: the latest date at which the
  patient was known to be alive and followed (a visit, an event, a treatment, an adverse event),
  never after the data cut-off.

Times are in days, and in months as days / (365.25 / 12). Proportions: R0 (among resected
patients, and intention to treat among all enrolled: not resected counts as not R0), pCR (among
resected), major wound complication (among resected).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Sequence

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class PatientCourse:
    """What the derivation needs of one enrolled patient (no identifiers)."""

    subject_id: str
    enrolment: dt.date
    last_contact: dt.date
    death: dt.date | None = None
    death_cause: str | None = None
    local_relapses: Sequence[dt.date] = ()
    distant_metastases: Sequence[dt.date] = ()
    progressions: Sequence[dt.date] = ()
    #: the tumour assessments' dates (schema version 2): where an endpoint censors at the last assessment
    assessments: Sequence[dt.date] = ()
    rt_start: dt.date | None = None
    surgery: dt.date | None = None
    r_status: str | None = None
    pcr: bool | None = None
    major_wound_complication: bool | None = None
    anchors: dict[str, dt.date] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeToEvent:
    endpoint: str
    time_days: int
    status: int  # 0 censored, 1 event, 2 competing event
    reason: str

    @property
    def time_months(self) -> float:
        return self.time_days / DAYS_PER_MONTH


def _event_dates(course: PatientCourse, name: str) -> tuple[dt.date | None, str]:
    if name == "death_any_cause":
        return course.death, f"death ({course.death_cause or 'cause not recorded'})"
    if name == "death_sarcoma":
        if course.death is not None and course.death_cause == "sarcoma":
            return course.death, "death from sarcoma"
        return None, ""
    if name == "death_other_cause":
        if course.death is not None and course.death_cause != "sarcoma":
            return course.death, f"death from another cause ({course.death_cause or 'not recorded'})"
        return None, ""
    if name == "local_relapse":
        return (min(course.local_relapses) if course.local_relapses else None), "local relapse"
    if name == "distant_metastasis":
        return (min(course.distant_metastases) if course.distant_metastases else None), "distant metastasis"
    if name == "progression":
        return (min(course.progressions) if course.progressions else None), "progression"
    raise ValueError(f"unknown event {name!r}")


def origin_date(course: PatientCourse, origin: str) -> dt.date | None:
    """The date an endpoint's time counts from: enrolment, or another anchor of the course (None: not reached)."""
    return course.enrolment if origin == "enrolment" else course.anchors.get(origin)


def time_to_event(course: PatientCourse, endpoint_id: str, origin: str, events: Iterable[str],
                  competing: Iterable[str] = (), cutoff: dt.date | None = None,
                  censor_at: str = "last_contact") -> TimeToEvent:
    """One patient's time and status for one endpoint. ``censor_at``: without an event the patient is
    censored at the last contact, or (``last_response_assessment``, progression-free survival as the FDA's
    guidance on endpoints for cancer trials (2018) and EMA's (2017, appendix 1) censor it) at the last tumour
    assessment on or before the cut-off, else at the origin."""
    start = origin_date(course, origin)
    if start is None:
        raise ValueError(f"{course.subject_id}: no {origin} date, the origin of {endpoint_id}")
    end_of_data = min(course.last_contact, cutoff) if cutoff else course.last_contact
    censor_label = "censored: alive at last contact"
    if censor_at == "last_response_assessment":
        seen = [d for d in course.assessments if d >= start and (cutoff is None or d <= cutoff)]
        end_of_data = max(seen, default=start)
        censor_label = "censored at the last tumour assessment" if seen else "censored at the origin: no tumour assessment"
    candidates: list[tuple[dt.date, int, str]] = []
    for name in events:
        day, label = _event_dates(course, name)
        if day is not None:
            candidates.append((day, 1, label))
    for name in competing:
        day, label = _event_dates(course, name)
        if day is not None:
            candidates.append((day, 2, f"{label} (competing)"))
    candidates = [c for c in candidates if cutoff is None or c[0] <= cutoff]
    if candidates:
        day, status, label = min(candidates, key=lambda c: (c[0], c[1]))  # a tie goes to the endpoint's own event
        return TimeToEvent(endpoint_id, (day - start).days, status, label)
    if course.death is not None and (cutoff is None or course.death <= cutoff) and censor_at == "last_contact":
        _, label = _event_dates(course, "death_any_cause")
        return TimeToEvent(endpoint_id, (course.death - start).days, 0, f"censored at {label}")
    return TimeToEvent(endpoint_id, (end_of_data - start).days, 0, censor_label)


def r0_status(course: PatientCourse) -> tuple[int | None, int]:
    """(R0 among resected: 1/0, or None if not resected; R0 intention to treat: 1/0)."""
    if course.surgery is None or course.r_status is None:
        return None, 0
    r0 = int(course.r_status == "R0")
    return r0, r0
