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

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.services.views import load_patients, patients
from sarcotrial.store.models import Patient, utcnow


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
    if study.protocol.safety is None:
        return []
    with study.reading(actor) as session:
        return serious_events_in(study, session, now)


def serious_events_in(study: StudyDB, session: Session, now: dt.datetime | None = None) -> list[SeriousEvent]:
    """:func:`serious_events` within a read already open (the actor's sites applied by the session):
    the adverse-event form's instances alone, and the signatures of the patients with a serious one."""
    spec = study.protocol.safety
    if spec is None:
        return []
    now = now or utcnow()
    from sarcotrial.services import review

    found = []
    for record in load_patients(study, session, forms=[spec.form], details=False):
        events = [c for c in record.of(spec.form) if c.values.get(spec.serious_field) is True]
        if events:
            found.append((record, events))
    subjects = [record.subject_id for record, _ in found]
    patients = list(session.scalars(select(Patient).where(Patient.subject_id.in_(subjects)))) if subjects else []
    by_subject = {p.subject_id: p.id for p in patients}
    views = review.signature_views(session, patients)
    out = []
    for record, events in found:
        signatures = views[by_subject[record.subject_id]]
        casebook = any(s.scope == "casebook" and s.status == "valid" for s in signatures)
        for crf in events:
            signed = casebook or any(s.status == "valid" and s.crf_id == crf.id for s in signatures)
            aware, reported = crf.values.get(spec.aware_field), crf.values.get(spec.reported_field)
            due, status = sae_status(aware, reported, signed, spec.report_within_hours, now)
            out.append(SeriousEvent(record.subject_id, crf.id, crf.visit, crf.values.get("term"), crf.values.get("grade"),
                                    crf.values.get("seriousness"), aware, due, reported, signed, status))
    order = {"overdue": 0, "open": 1, "reported late": 2, "reported": 3}
    return sorted(out, key=lambda e: (order[e.status], e.aware_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc)))


# --------------------------------------------------------------------------- the adverse-event listing
@dataclass(frozen=True)
class AdverseEvent:
    """One recorded adverse event as the safety listing shows it (codes given with their labels)."""

    subject: str
    site: str
    crf_id: int
    form_id: str
    visit: str
    term: str | None
    soc: str | None
    grade: int | None
    onset: dt.date | None
    resolved: dt.date | None
    serious: bool | None
    seriousness: str | None
    attribution: str | None
    phase: str | None

    def as_dict(self) -> dict[str, Any]:
        def iso(value: dt.date | None) -> str | None:
            return value.isoformat() if value else None

        return {"subject": self.subject, "site": self.site, "crf_id": self.crf_id, "form_id": self.form_id,
                "visit": self.visit, "term": self.term, "soc": self.soc, "grade": self.grade,
                "onset": iso(self.onset), "resolved": iso(self.resolved), "serious": self.serious,
                "seriousness": self.seriousness, "attribution": self.attribution, "phase": self.phase}


def _label(study: StudyDB, form_id: str, field_id: str, code: Any) -> str | None:
    """A coded value's label from the protocol's code list (the code itself when it has none)."""
    if code is None:
        return None
    form = study.protocol.form(form_id)
    spec = form.field(field_id)
    if spec is not None and spec.codelist and spec.codelist in study.protocol.codelists:
        return next((c.label for c in study.protocol.codelists[spec.codelist] if c.code == code), str(code))
    return str(code)


def adverse_events(study: StudyDB, actor: Actor | None, *, min_grade: int | None = None, serious_only: bool = False,
                   term: str | None = None) -> list[AdverseEvent]:
    """Every adverse event of the patients the user may see, newest onset first.

    Filters: ``min_grade`` (grade N or worse), ``serious_only``, and ``term``: the events whose
    CTCAE term the term search finds for those words (``radiation dermatitis`` finds the events
    recorded as "Dermatitis radiation"), or whose term contains them.
    """
    spec = study.protocol.safety
    if spec is None:
        return []
    wanted: set[str] | None = None
    needle = " ".join((term or "").split()).casefold()
    if needle:
        from sarcotrial.domain.ctcae import find_terms

        wanted = {m.term.term for m in find_terms(needle)}
    out = []
    for record in patients(study, actor, forms=[spec.form], details=False):
        for crf in record.of(spec.form):
            values = crf.values
            grade, serious, name = values.get("grade"), values.get(spec.serious_field), values.get("term")
            if min_grade is not None and (grade is None or grade < min_grade):
                continue
            if serious_only and serious is not True:
                continue
            if wanted is not None and not (name in wanted or needle in (name or "").casefold()):
                continue
            out.append(AdverseEvent(
                record.subject_id, record.site, crf.id, crf.form_id, crf.visit, name, crf.derived.get("soc"), grade,
                values.get("onset_date"), values.get("resolution_date"), serious,
                _label(study, spec.form, "seriousness", values.get("seriousness")),
                _label(study, spec.form, "attribution", values.get("attribution")), crf.derived.get("phase")))
    return sorted(out, key=lambda e: (e.onset or dt.date.min, e.crf_id), reverse=True)


def event_form(study: StudyDB) -> str | None:
    """The protocol's adverse-event form (where a new event is reported), or None without a safety section."""
    return study.protocol.safety.form if study.protocol.safety is not None else None


def seriousness_label(study: StudyDB, code: str | None) -> str | None:
    """The protocol's label of a seriousness criterion code (ICH E2A), for a listing of serious events."""
    return _label(study, study.protocol.safety.form, "seriousness", code) if study.protocol.safety else code
