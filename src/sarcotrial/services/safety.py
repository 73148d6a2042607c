"""Serious adverse events and their reporting clock.

The investigator reports a serious adverse event to the sponsor within 24 hours of learning of it
(Regulation (EU) No 536/2014, Art. 41(2); ICH E6(R3)); ICH E2A defines what makes an event serious.
The clock is the protocol's ``safety.report_within_hours``. It runs from
the moment the site became aware; the event stays overdue until it is both reported and signed
by an investigator (the signature on its form, or on the casebook).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.services.views import patients
from sarcotrial.store.models import utcnow


@dataclass(frozen=True)
class SeriousEvent:
    subject: str
    crf_id: int
    visit: str
    term: str | None
    grade: int | None
    seriousness: str | None
    aware_at: dt.datetime | None
    due_at: dt.datetime | None
    reported_at: dt.datetime | None
    signed: bool
    status: str   # open (clock running) / overdue / reported late / reported (and signed)

    def as_dict(self) -> dict[str, Any]:
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"subject": self.subject, "crf_id": self.crf_id, "visit": self.visit, "term": self.term,
                "grade": self.grade, "seriousness": self.seriousness, "aware_at": iso(self.aware_at),
                "due_at": iso(self.due_at), "reported_at": iso(self.reported_at), "signed": self.signed,
                "status": self.status}


def sae_status(aware_at: dt.datetime | None, reported_at: dt.datetime | None, signed: bool, hours: int,
               now: dt.datetime) -> tuple[dt.datetime | None, str]:
    """The deadline and the state of one serious event's reporting clock."""
    if aware_at is None:
        return None, "overdue"  # a serious event without its awareness time cannot be timed: chase it
    due = aware_at + dt.timedelta(hours=hours)
    if reported_at is not None and signed:
        return due, "reported late" if reported_at > due else "reported"
    return due, "overdue" if now > due else "open"


def serious_events(study: StudyDB, actor: Actor | None, now: dt.datetime | None = None) -> list[SeriousEvent]:
    """Every serious adverse event the user may see, with its reporting clock (overdue first)."""
    spec = study.protocol.safety
    if spec is None:
        return []
    now = now or utcnow()
    from sarcotrial.services import review

    out = []
    for record in patients(study, actor):
        events = [c for c in record.of(spec.form) if c.values.get(spec.serious_field) is True]
        if not events:
            continue
        signatures = review.signatures(study, actor, record.subject_id)
        casebook = any(s.scope == "casebook" and s.status == "valid" for s in signatures)
        for crf in events:
            signed = casebook or any(s.status == "valid" and s.crf_id == crf.id for s in signatures)
            aware, reported = crf.values.get(spec.aware_field), crf.values.get(spec.reported_field)
            due, status = sae_status(aware, reported, signed, spec.report_within_hours, now)
            out.append(SeriousEvent(record.subject_id, crf.id, crf.visit, crf.values.get("term"), crf.values.get("grade"),
                                    crf.values.get("seriousness"), aware, due, reported, signed, status))
    order = {"overdue": 0, "open": 1, "reported late": 2, "reported": 3}
    return sorted(out, key=lambda e: (order[e.status], e.aware_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc)))
