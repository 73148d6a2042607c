"""The derived tables of the ``tables`` export, computed from an export snapshot by the services that
compute them for the report and the endpoints CSV.

Three tables a statistician otherwise rebuilds from the forms:

- ``endpoints``: one row per enrolled patient, each time-to-event endpoint's time and status and the
  proportion endpoints (:func:`sarcotrial.services.endpoints.endpoints_of`, the rows of
  ``sarcotrial endpoints --out``), with the baseline covariates of the report's Table 1 (age at
  enrolment, sex, site, and the diagnosis read as :class:`sarcotrial.services.baseline.BaselineDiagnosis` reads it:
  histotype, FNCLCC grade, AJCC stage, size, depth);
- ``toxicity``: the maximum CTCAE grade per patient, term and phase
  (:func:`sarcotrial.services.endpoints.toxicity_table`);
- ``rt_delivery``: each radiotherapy course's delivery log
  (:func:`sarcotrial.services.radiotherapy.summarise_course`: fractions delivered, missed, made up,
  overall treatment time, dose per volume, deviations).

No rule is restated here: each table calls the service and lays its result out. The services read the
patients' records (dates as recorded); every date written is put at the export's level with
:meth:`ExportSnapshot.date`, and ages are the snapshot's (capped when de-identified). A table is
computed only when the snapshot holds every form its service reads (:data:`NEEDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sarcotrial.services.endpoints import ENDPOINT_FORMS, toxicity_table
from sarcotrial.services.exchange import ExportPatient, ExportSnapshot
from sarcotrial.services.radiotherapy import COURSE_FORM, FRACTION_FORM, summarise_course

#: the forms each derived table's service reads (``course_of`` reads the adverse events' dates as contacts)
NEEDS: dict[str, tuple[str, ...]] = {
    "endpoints": tuple(dict.fromkeys((*ENDPOINT_FORMS, "adverse_event", "diagnosis"))),
    "toxicity": ("adverse_event",),
    "rt_delivery": (COURSE_FORM, FRACTION_FORM, "surgery"),
}
#: the time-to-event status codes of :class:`sarcotrial.outcomes.endpoints.TimeToEvent`
TTE_STATUS = (("0", "censored"), ("1", "event"), ("2", "competing event"))
YES_NO = (("1", "yes"), ("0", "no"))
#: the stage written where Table 1 says the AJCC 8th edition gives no stage group
NO_STAGE = "NA"


@dataclass(frozen=True)
class Column:
    """A column of an exported table: its name, type (the protocol's field types), and its dictionary entry."""

    name: str
    type: str  # integer, decimal, text, code, date, datetime, boolean
    label: str
    source: str
    unit: str | None = None
    codes: tuple[tuple[str, str], ...] = ()
    missing_codes: bool = False  # the protocol's missing-data codes may stand for a value


@dataclass
class DerivedTable:
    name: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)


def needs(protocol: Any, name: str) -> tuple[str, ...] | None:
    """The forms the table ``name`` reads for this protocol: those of :data:`NEEDS` the protocol has, and for
    the endpoints the response forms (RECIST 1.1) and the cycle form (contacts) where it has them. None where the
    table does not apply (``rt_delivery`` without radiotherapy)."""
    if name == "rt_delivery" and protocol.treatment.radiotherapy is None:
        return None
    wanted = [f for f in NEEDS[name] if protocol.has_form(f)]
    if name == "endpoints":
        from sarcotrial.services.systemic_entry import administration_of

        response = getattr(protocol, "response", None)
        if response is not None:
            wanted += [f for f in (response.form, response.lesion_form, response.measurement_form) if f]
        spec = administration_of(protocol)
        if spec is not None:
            wanted.append(spec.form)
    return tuple(dict.fromkeys(wanted))


def derived_tables(snapshot: ExportSnapshot) -> tuple[list[DerivedTable], list[str]]:
    """The derived tables the snapshot's forms allow, and the names of those skipped for want of forms (a table
    that does not apply to the protocol is neither made nor skipped)."""
    builders = {"endpoints": endpoints_table, "toxicity": toxicity_per_term, "rt_delivery": rt_delivery_table}
    made, skipped = [], []
    for name, build in builders.items():
        forms = needs(snapshot.protocol, name)
        if forms is None:
            continue
        if all(f in snapshot.forms for f in forms):
            made.append(build(snapshot))
        else:
            skipped.append(name)
    return made, skipped


def _enrolled(snapshot: ExportSnapshot) -> list[ExportPatient]:
    """The enrolled patients, in the order of enrolment (that of ``sarcotrial endpoints``)."""
    enrolled = [p for p in snapshot.patients if p.record is not None and p.record.enrolment_date is not None]
    return sorted(enrolled, key=lambda p: p.record.enrolment_sequence or 0)


def _protocol_only(snapshot: ExportSnapshot) -> Any:
    """What the endpoint and delivery services read of a study when given the records: its protocol."""
    return SimpleNamespace(protocol=snapshot.protocol)


# --------------------------------------------------------------------------- endpoints
def endpoints_table(snapshot: ExportSnapshot) -> DerivedTable:
    from sarcotrial.services.baseline import GRADE_LABELS, NO_STAGE_GROUP, SITE_LABELS, STAGE_ORDER
    from sarcotrial.services.baseline import BaselineDiagnosis as _Diagnosis

    protocol = snapshot.protocol
    patients = _enrolled(snapshot)
    by_subject = {p.subject_id: p for p in patients}
    from sarcotrial.services.endpoints import endpoints_of, recist_of, response_row

    # each patient's RECIST course computed once, for the endpoints and the best response alike
    recists = {p.subject_id: recist_of(protocol, p.record) for p in patients} \
        if getattr(protocol, "response", None) is not None else {}
    rows_in = [endpoints_of(protocol, p.record, recist=recists.get(p.subject_id)) for p in patients]
    tte = [e for e in protocol.endpoints if e.kind == "time_to_event"]
    src = "derived: services.endpoints"
    cols = [Column("subject_id", "text", "Subject id", "patient"),
            Column("enrolment_date", "date", "Date of enrolment", "patient"),
            Column("last_contact_date", "date", "Date of the last contact", src)]
    for e in tte:
        cols += [Column(f"{e.id}_time_days", "integer", f"{e.name}: time", src, unit="days"),
                 Column(f"{e.id}_time_months", "decimal", f"{e.name}: time", src, unit="months"),
                 Column(f"{e.id}_status", "integer", f"{e.name}: status", src, codes=TTE_STATUS),
                 Column(f"{e.id}_reason", "text", f"{e.name}: event or censoring reason", src)]
    surgical = protocol.treatment.surgery is not None
    cols += [Column("resected", "integer", "Operated on", src, codes=YES_NO),
             Column("r0_resected", "integer", "R0 resection, among the resected", src, codes=YES_NO),
             Column("r0_itt", "integer", "R0 resection, intention to treat", src, codes=YES_NO),
             Column("pcr", "integer", "Pathological complete response, among the resected", src, codes=YES_NO),
             Column("major_wound_complication", "integer", "Major wound complication, among the resected", src,
                    codes=YES_NO)] if surgical else []
    responses = {}
    if getattr(protocol, "response", None) is not None:
        rsrc = "derived: services.endpoints.response_rows (RECIST 1.1)"
        bor = tuple((c, c) for c in ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"))
        cols += [Column("best_response_unconfirmed", "code", "Best overall response, unconfirmed", rsrc, codes=bor),
                 Column("best_response_unconfirmed_date", "date", "Date the unconfirmed best response was first seen",
                        rsrc),
                 Column("responder_unconfirmed", "integer", "Objective response (CR or PR), unconfirmed", rsrc,
                        codes=YES_NO),
                 Column("best_response_confirmed", "code", "Best overall response, confirmed", rsrc, codes=bor),
                 Column("best_response_confirmed_date", "date", "Date the confirmed best response was first seen",
                        rsrc),
                 Column("responder_confirmed", "integer", "Objective response (CR or PR), confirmed", rsrc,
                        codes=YES_NO),
                 Column("response_note", "text", "Why the best response is NE without an evaluation", rsrc)]
        responses = {p.subject_id: response_row(p.record, recists[p.subject_id]) for p in patients}
    cols += [Column("missing_data", "text", "Missing-data codes in what the endpoints read (form.field=CODE)", src)]
    cov = "derived: report Table 1 (baseline)"
    anatomic = protocol.form("diagnosis").field("anatomic_site")
    depth = protocol.form("diagnosis").field("depth")
    cols += [Column("age_at_enrolment", "integer", "Age at enrolment", "patient", unit="years"),
             Column("sex", "code", "Sex", "patient"),
             Column("site", "code", "Study site", "patient"),
             Column("anatomic_site", "code", anatomic.label if anatomic else "Anatomical site", "diagnosis.anatomic_site",
                    codes=tuple(SITE_LABELS.items())),
             Column("histotype", "text", "Histotype (WHO 2020 catalogue id)", "diagnosis.histotype"),
             Column("grade", "code", "FNCLCC grade (pre-treatment biopsy)", cov, codes=tuple(GRADE_LABELS.items())),
             Column("stage", "code", "AJCC 8th edition stage group", cov,
                    codes=tuple((s, f"stage {s}") for s in STAGE_ORDER) + ((NO_STAGE, NO_STAGE_GROUP),)),
             Column("size_cm", "decimal", "Largest tumour dimension", "diagnosis.size_cm", unit="cm"),
             Column("depth", "code", depth.label if depth else "Depth", "diagnosis.depth",
                    codes=_codes(protocol, depth))]
    kept = {(f, fld.id) for f in snapshot.forms for fld in snapshot.fields(f)}
    rows = []
    for r in rows_in:
        patient = by_subject[r.course.subject_id]
        row: dict[str, Any] = {"subject_id": patient.subject_id,
                               "enrolment_date": snapshot.date(patient, r.course.enrolment),
                               "last_contact_date": snapshot.date(patient, r.course.last_contact)}
        for e in tte:
            t = r.times[e.id]
            row.update({f"{e.id}_time_days": t.time_days, f"{e.id}_time_months": t.time_months,
                        f"{e.id}_status": t.status, f"{e.id}_reason": t.reason})
        notes = [n for n in r.missing if tuple(n.split("=", 1)[0].split(".", 1)) in kept]
        if surgical:
            row.update({"resected": int(r.course.surgery is not None), "r0_resected": r.r0_resected,
                        "r0_itt": r.r0_itt, "pcr": r.pcr, "major_wound_complication": r.major_wound_complication})
        best = responses.get(patient.subject_id)
        if best is not None:
            row.update({"best_response_unconfirmed": best.best_unconfirmed,
                        "best_response_unconfirmed_date": snapshot.date(patient, best.date_unconfirmed),
                        "responder_unconfirmed": best.responder_unconfirmed,
                        "best_response_confirmed": best.best_confirmed,
                        "best_response_confirmed_date": snapshot.date(patient, best.date_confirmed),
                        "responder_confirmed": best.responder_confirmed, "response_note": best.note})
        row["missing_data"] = "; ".join(notes) or None
        d = _Diagnosis(patient.record.first("diagnosis"))
        entered = {"anatomic_site": d.anatomic_site, "histotype": d.histotype, "size_cm": d.size_cm, "depth": d.depth}
        row.update({"age_at_enrolment": patient.age_at_enrolment, "sex": patient.sex, "site": patient.site,
                    "grade": d.grade, "stage": NO_STAGE if d.stage == NO_STAGE_GROUP else d.stage,
                    # an entered value only where the level writes its field
                    **{k: (v if ("diagnosis", k) in kept else None) for k, v in entered.items()}})
        rows.append(row)
    return DerivedTable("endpoints", cols, rows)


def _codes(protocol, fld) -> tuple[tuple[str, str], ...]:
    if fld is None or not fld.codelist:
        return ()
    return tuple((c.code, c.label) for c in protocol.codelists.get(fld.codelist, []))


# --------------------------------------------------------------------------- toxicity
def toxicity_per_term(snapshot: ExportSnapshot) -> DerivedTable:
    src = "derived: services.endpoints.toxicity_table"
    cols = [Column("subject_id", "text", "Subject id", "patient"),
            Column("term", "text", "CTCAE v5.0 term", "adverse_event.term"),
            Column("soc", "text", "MedDRA system organ class (CTCAE v5.0)", "derived: adverse_event (CTCAE catalogue)"),
            Column("phase", "code", "Acute or late (onset from the start of radiotherapy, protocol window)",
                   "derived: adverse_event (protocol toxicity window)", codes=(("acute", "acute"), ("late", "late"))),
            Column("max_grade", "integer", "Highest CTCAE grade of the term in the phase", src)]
    records = [p.record for p in snapshot.patients if p.record is not None]
    rows = [{"subject_id": t.subject_id, "term": t.term, "soc": t.soc, "phase": t.phase, "max_grade": t.max_grade}
            for t in toxicity_table(_protocol_only(snapshot), records=records)]
    return DerivedTable("toxicity", cols, rows)


# --------------------------------------------------------------------------- radiotherapy delivery
def rt_delivery_table(snapshot: ExportSnapshot) -> DerivedTable:
    rt = snapshot.protocol.treatment.radiotherapy
    study = _protocol_only(snapshot)
    summaries = []
    for patient in snapshot.patients:
        record = patient.record
        course = record.first(COURSE_FORM) if record is not None else None
        if course is None:
            continue
        summary = summarise_course(study, course.values, course.derived,
                                   [(f.values, f.derived) for f in record.of(FRACTION_FORM)],
                                   closed=record.first("surgery") is not None)
        summaries.append((patient, summary))
    volumes = list(dict.fromkeys([level.target for level in rt.dose_levels]
                                 + sorted({v for _, s in summaries for v in (*s.prescribed_dose_gy, *s.delivered_dose_gy)})))
    src = "derived: services.radiotherapy.summarise_course"
    cols = [Column("subject_id", "text", "Subject id", "patient"),
            Column("planned_fractions", "integer", "Fractions planned", src),
            Column("delivered", "integer", "Fractions delivered", src),
            Column("missed", "integer", "Fractions recorded as missed", src),
            Column("rescheduled", "integer", "Fractions recorded as rescheduled", src),
            Column("made_up", "integer", "Missed fractions delivered later under their number", src),
            Column("first_fraction_date", "date", "First delivered fraction", src),
            Column("last_fraction_date", "date", "Last delivered fraction", src),
            Column("overall_treatment_days", "integer", "Overall treatment time (first to last fraction, both counted)",
                   src, unit="days"),
            Column("planned_overall_treatment_days", "integer", "Overall treatment time planned", src, unit="days"),
            Column("prolongation_days", "integer", "Overall treatment time beyond the plan", src, unit="days"),
            Column("complete", "boolean", "Course complete (every fraction delivered, or closed by surgery)", src)]
    for v in volumes:
        cols += [Column(f"dose_{v.lower()}_delivered_gy", "decimal", f"{v}: dose delivered", src, unit="Gy"),
                 Column(f"dose_{v.lower()}_prescribed_gy", "decimal", f"{v}: dose prescribed", src, unit="Gy")]
    cols += [Column("deviations", "text", "Protocol deviations of the course (category: severity)", src)]
    rows = []
    for patient, s in summaries:
        row: dict[str, Any] = {
            "subject_id": patient.subject_id, "planned_fractions": s.planned_fractions, "delivered": s.delivered,
            "missed": s.missed, "rescheduled": s.rescheduled, "made_up": s.made_up,
            "first_fraction_date": snapshot.date(patient, s.first_fraction),
            "last_fraction_date": snapshot.date(patient, s.last_fraction),
            "overall_treatment_days": s.overall_treatment_days,
            "planned_overall_treatment_days": s.planned_overall_treatment_days,
            "prolongation_days": s.prolongation_days, "complete": s.complete,
            "deviations": "; ".join(f"{d.category}: {d.severity}" for d in s.deviations) or None}
        for v in volumes:
            row[f"dose_{v.lower()}_delivered_gy"] = _gy(s.delivered_dose_gy.get(v))
            row[f"dose_{v.lower()}_prescribed_gy"] = _gy(s.prescribed_dose_gy.get(v))
        rows.append(row)
    return DerivedTable("rt_delivery", cols, rows)


def _gy(value) -> float | None:
    return None if value is None else float(value)

