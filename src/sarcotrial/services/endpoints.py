"""Every patient's endpoints, derived from the study database as the protocol defines them.

The rows are what a statistician checks in R (``sarcotrial endpoints --out FILE.csv``) and what
the study report analyses: one row per enrolled patient, each time-to-event endpoint of the
protocol with its time, status and censoring reason, and the proportion endpoints.

Where the protocol has a RECIST 1.1 ``response`` section (Eisenhauer et al., Eur J Cancer 2009;45:228-247),
progression is the earliest of the first time point whose overall response is PD (dated as RECIST 1.1 dates
it, section 4.3.5) and any ``outcome_event`` of type progression (clinical progression); the tumour
assessments' dates are contacts. :func:`response_rows` gives each enrolled patient's best overall
response, unconfirmed and confirmed (section 4.4.3, Table 3), for an objective response rate. Both compute
from the entered values of the response forms (``services.response_entry.recist_course``), never from
stored derived values, which may predate a lesion or measurement entered after its assessment.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sarcotrial.outcomes.endpoints import PatientCourse, TimeToEvent, r0_status, time_to_event
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.services.views import PatientRecord, patients

#: a patient's RECIST 1.1 course as :func:`recist_of` gives it: (time points, best unconfirmed, best confirmed, why not
#: evaluable)
Recist = tuple[list, Any, Any, "str | None"]

#: the forms whose values the endpoints read: a missing-data code in them is reported with the patient's row
ENDPOINT_FORMS = ("rt_fraction", "surgery", "pathology", "wound_complication", "follow_up", "outcome_event")


@dataclass(frozen=True)
class PatientEndpoints:
    course: PatientCourse
    times: dict[str, TimeToEvent]
    r0_resected: int | None
    r0_itt: int
    pcr: int | None
    major_wound_complication: int | None
    missing: tuple[str, ...] = ()  # missing-data codes in what the endpoints read: form.field=CODE


@dataclass(frozen=True)
class ToxicityRow:
    subject_id: str
    term: str
    soc: str | None
    phase: str
    max_grade: int


def recist_of(protocol, record: PatientRecord) -> Recist:
    """The patient's RECIST 1.1 course, or why it cannot be evaluated yet: (timepoints, unconfirmed, confirmed,
    problem). Computed once per patient and handed to :func:`course_of` and :func:`response_row`."""
    from sarcotrial.errors import InvalidValue
    from sarcotrial.services.response_entry import recist_course

    try:
        return (*recist_course(protocol, record), None)
    except InvalidValue as err:
        return [], None, None, f"RECIST 1.1 not evaluable: {err.field}: {err.rule}"


def _treatment_dates(protocol, record: PatientRecord) -> list[dt.date]:
    """The days 1 of the cycles of systemic therapy (schema version 2): the patient was seen."""
    from sarcotrial.services.systemic_entry import administration_of

    administration = administration_of(protocol) if protocol is not None else None
    if administration is None:
        return []
    return [c.values.get(administration.date_field) for c in record.of(administration.form)]


def course_of(record: PatientRecord, protocol=None, recist: Recist | None = None) -> PatientCourse:
    """What the endpoint derivation needs of one enrolled patient, from the read side (``protocol``: where it
    has a response section, progression and contacts come from the tumour assessments too; ``recist``: the
    patient's :func:`recist_of`, where the caller has it already)."""
    response = getattr(protocol, "response", None)
    recist_pd: list[dt.date] = []
    assessed: list[dt.date] = []
    adequate: list[dt.date] = []
    if response is not None:
        from sarcotrial.services.response_entry import progression_date

        points = (recist if recist is not None else recist_of(protocol, record))[0]
        recist_pd = [d for d in [progression_date(points)] if d is not None]
        assessed = [c.values.get("assessment_date") for c in record.of(response.form)]
        # censoring at the last *adequate* assessment (FDA 2018, EMA 2017): a time point whose response is known
        adequate = [tp.date for tp in points if not tp.baseline and tp.overall not in (None, "NE")]
    events = [c.values for c in record.of("outcome_event")]
    death = next((e for e in events if e.get("event_type") == "death"), None)
    surgery = record.first("surgery")
    pathology = record.first("pathology")
    wounds = record.of("wound_complication")
    delivered = record.delivered_dates()
    rt_start = delivered[0] if delivered else None
    surgery_date = surgery.values.get("surgery_date") if surgery else None
    fraction_dates = [c.values.get("fraction_date") for c in record.of("rt_fraction")]
    contacts = [record.enrolment_date, rt_start, surgery_date, max((d for d in fraction_dates if d), default=None),
                *[c.values.get("visit_date") for c in record.of("follow_up")],
                *[c.values.get("onset_date") for c in record.of("adverse_event")],
                *[c.values.get("resolution_date") for c in record.of("adverse_event")],
                pathology.values.get("report_date") if pathology else None, *[e.get("event_date") for e in events],
                *assessed, *_treatment_dates(protocol, record)]
    return PatientCourse(
        subject_id=record.subject_id, enrolment=record.enrolment_date,
        last_contact=max(d for d in contacts if d is not None),
        death=death.get("event_date") if death else None, death_cause=death.get("death_cause") if death else None,
        local_relapses=sorted(e["event_date"] for e in events if e.get("event_type") == "local_relapse"),
        distant_metastases=sorted(e["event_date"] for e in events if e.get("event_type") == "distant_metastasis"),
        progressions=sorted([e["event_date"] for e in events if e.get("event_type") == "progression"] + recist_pd),
        assessments=sorted(d for d in adequate if d is not None),
        rt_start=rt_start, surgery=surgery_date,
        r_status=pathology.derived.get("r_status") if pathology else None,
        pcr=pathology.derived.get("pcr") if pathology else None,
        major_wound_complication=(any(w.derived.get("major") for w in wounds) if surgery else None),
        anchors={"rt_start": rt_start, "surgery": surgery_date})


def derive_endpoints(study: StudyDB, cutoff: dt.date | None = None, actor: Actor | None = None,
                     records: list[PatientRecord] | None = None) -> list[PatientEndpoints]:
    records = records if records is not None else patients(study, actor, enrolled_only=True, permission="export")
    return [endpoints_of(study.protocol, record, cutoff) for record in records]


def endpoints_of(protocol, record: PatientRecord, cutoff: dt.date | None = None,
                 recist: Recist | None = None) -> PatientEndpoints:
    """One enrolled patient's endpoints (``recist``: the patient's :func:`recist_of`, where the caller has it
    already; else computed here where the protocol has a response section)."""
    response = getattr(protocol, "response", None)
    response_forms = tuple(f for f in (response.form, response.lesion_form, response.measurement_form) if f) \
        if response is not None else ()
    if recist is None and response is not None:
        recist = recist_of(protocol, record)
    course = course_of(record, protocol, recist)
    problem = recist[3] if recist is not None else None
    times = {e.id: time_to_event(course, e.id, e.origin, e.events, e.competing_risks, cutoff, e.censor_at)
             for e in protocol.endpoints if e.kind == "time_to_event"}
    r0_resected, r0_itt = r0_status(course)
    resected = course.surgery is not None
    return PatientEndpoints(
        course, times, r0_resected, r0_itt,
        pcr=int(course.pcr) if resected and course.pcr is not None else None,
        major_wound_complication=int(course.major_wound_complication) if resected else None,
        missing=tuple(record.missing_notes(ENDPOINT_FORMS + response_forms)) + ((problem,) if problem else ()))


@dataclass(frozen=True)
class ResponseRow:
    """One enrolled patient's best overall response by RECIST 1.1 (section 4.4.3), unconfirmed and confirmed
    (Table 3), as the objective response rate counts it: a responder has CR or PR; a patient whose
    assessments cannot be evaluated counts as NE (not a responder), with the reason in ``note``."""

    subject_id: str
    enrolment_date: dt.date
    best_unconfirmed: str
    date_unconfirmed: dt.date | None
    best_confirmed: str
    date_confirmed: dt.date | None
    note: str | None = None

    @property
    def responder_unconfirmed(self) -> int:
        return int(self.best_unconfirmed in ("CR", "PR"))

    @property
    def responder_confirmed(self) -> int:
        return int(self.best_confirmed in ("CR", "PR"))


def response_rows(study: StudyDB, actor: Actor | None = None,
                  records: list[PatientRecord] | None = None) -> list[ResponseRow]:
    """Each enrolled patient's best overall response, unconfirmed and confirmed, origin the enrolment date
    (stable disease counts from ``response.sd_min_days`` after it); empty where the protocol has no response
    section."""
    response = getattr(study.protocol, "response", None)
    if response is None:
        return []
    if records is None:
        forms = [f for f in (response.form, response.lesion_form, response.measurement_form) if f]
        records = patients(study, actor, enrolled_only=True, permission="export", forms=forms, details=False)
    return [response_row(record, recist_of(study.protocol, record)) for record in records
            if record.enrolment_date is not None]


def response_row(record: PatientRecord, recist: Recist) -> ResponseRow:
    """One enrolled patient's :class:`ResponseRow` from the patient's :func:`recist_of`."""
    _points, unconfirmed, confirmed, problem = recist
    if unconfirmed is None or confirmed is None:
        return ResponseRow(record.subject_id, record.enrolment_date, "NE", None, "NE", None,
                           problem or "no tumour assessment recorded")
    return ResponseRow(record.subject_id, record.enrolment_date, unconfirmed.response, unconfirmed.date,
                       confirmed.response, confirmed.date)


def toxicity_table(study: StudyDB, actor: Actor | None = None,
                   records: list[PatientRecord] | None = None) -> list[ToxicityRow]:
    """The maximum CTCAE grade per patient, term and phase (acute / late)."""
    best: dict[tuple[str, str, str | None, str], int] = {}
    for record in records if records is not None else patients(study, actor):
        for ae in record.of("adverse_event"):
            phase, grade = ae.derived.get("phase"), ae.values.get("grade")
            if phase is None or grade is None:
                continue
            key = (record.subject_id, ae.values.get("term"), ae.derived.get("soc"), phase)
            best[key] = max(best.get(key, 0), grade)
    return [ToxicityRow(*key, grade) for key, grade in sorted(best.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3]))]


def write_endpoints_csv(study: StudyDB, path: Path, cutoff: dt.date | None = None, actor: Actor | None = None) -> int:
    """The endpoints as CSV: a pseudonymised export (subject ids; no identifier), so the user's export
    right must reach that level."""
    header, rows = endpoint_table(study, cutoff, actor)
    months = {i for i, name in enumerate(header) if name.endswith("_time_months")}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([f"{value:.4f}" if i in months else _blank(value) for i, value in enumerate(row)])
    return len(rows)


def endpoint_table(study: StudyDB, cutoff: dt.date | None = None,
                   actor: Actor | None = None) -> tuple[list[str], list[list]]:
    """The endpoints export's columns and rows (one an enrolled patient), values in their types (``None``
    where the CSV leaves a cell blank): a pseudonymised export, so the user's export right must reach
    that level. The columns follow the protocol as the tables export's endpoints table does
    (:func:`sarcotrial.services.exchange_derived.endpoints_table`): the arm where it randomises, the
    surgical proportions (resection, R0, pCR, wound) where it has surgery, the best overall response
    (RECIST 1.1) where it has a response section."""
    from sarcotrial.services import access, randomisation

    with study.reading(actor, permission="export") as session:
        access.require_export(session, "pseudonymised")
    protocol = study.protocol
    records = patients(study, actor, enrolled_only=True, permission="export")
    response = getattr(protocol, "response", None)
    recists = {r.subject_id: recist_of(protocol, r) for r in records} if response is not None else {}
    rows = [endpoints_of(protocol, r, cutoff, recist=recists.get(r.subject_id)) for r in records]
    arms = randomisation.arms_by_subject(study, actor) if randomisation.randomises(protocol) else None
    surgical = protocol.treatment.surgery is not None
    tte = [e.id for e in protocol.endpoints if e.kind == "time_to_event"]
    header = ["subject_id"] + (["arm"] if arms is not None else []) + ["enrolment_date", "last_contact_date"]
    for name in tte:
        header += [f"{name}_time_days", f"{name}_time_months", f"{name}_status", f"{name}_reason"]
    if surgical:
        header += ["resected", "r0_resected", "r0_itt", "pcr", "major_wound_complication"]
    if response is not None:
        header += ["best_response_unconfirmed", "responder_unconfirmed", "best_response_confirmed",
                   "responder_confirmed"]
    header += ["missing_data"]
    table = []
    for record, r in zip(records, rows):
        line = [r.course.subject_id] + ([arms.get(r.course.subject_id)] if arms is not None else []) + \
            [r.course.enrolment.isoformat(), r.course.last_contact.isoformat()]
        for name in tte:
            t = r.times[name]
            line += [t.time_days, t.time_months, t.status, t.reason]
        if surgical:
            line += [int(r.course.surgery is not None), r.r0_resected, r.r0_itt, r.pcr, r.major_wound_complication]
        if response is not None:
            best = response_row(record, recists[record.subject_id])
            line += [best.best_unconfirmed, best.responder_unconfirmed, best.best_confirmed, best.responder_confirmed]
        line += ["; ".join(r.missing)]
        table.append(line)
    return header, table


def _blank(value):
    return "" if value is None else value
