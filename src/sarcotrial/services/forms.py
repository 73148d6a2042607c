"""Collected data: one write API for every form of every protocol.

Every value a user enters hangs from a CRF instance (patient x visit occurrence x form x repeat
instance, :class:`~sarcotrial.store.models.CRFInstance`), under the protocol's own form and field
ids. Four actions change collected data, each one transaction with its audit entries:

- :func:`record`: enter a form (at a visit occurrence, or the one the schedule gives it);
- :func:`correct`: change entered values, with a reason;
- :func:`delete`: remove a CRF instance entered in error, with a reason;
- :func:`mark_not_done`: say a form expected at a visit will not be collected, with a reason.

Entry and correction go through the same steps, so a corrected value is checked by the same rules
and everything that follows from it follows:

1. the values are checked against the protocol's form (types, ranges, code lists, required; a
   missing-data code declared by the protocol stands for a value, with a reason);
2. the CRF instance must not be locked, and a write against an older revision than the stored one
   is refused ("changed by X at T");
3. the dates are checked against the patient's pathway (:mod:`sarcotrial.domain.pathway`);
4. the derived values are computed by the clinical rules (FNCLCC grade and AJCC stage from the
   biopsy; R status, EORTC-STBSG score and pCR from the specimen; the CTCAE term's facts and the
   acute/late phase; whether a wound complication is major), and records that read the changed
   values are derived again;
5. a changed value loses its source-data verification, and every signature covering it is voided
   with the change named;
6. protocol deviations, the patient's status and the visit schedule follow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.domain import crf as crf_rules
from sarcotrial.domain import ctcae, grading, margins, pathway as pathway_rules, response, staging, toxicity
from sarcotrial.errors import InvalidValue
from sarcotrial.protocol.forms import form_json, from_json, validate_form
from sarcotrial.protocol.schema import Form, Protocol
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.services.systemic_entry import administration_of, treatment_start as systemic_treatment_start
from sarcotrial.store.models import (
    CRFInstance,
    DataLock,
    DataQuery,
    Enrolment,
    Patient,
    ProtocolDeviation,
    QueryMessage,
    Signature,
    VisitOccurrence,
    utcnow,
)

#: forms entered through the pathway services (``patient register`` / ``patient screen``)
SERVICE_FORMS = ("referral", "screening")


# --------------------------------------------------------------------------- what a write returns
@dataclass(frozen=True)
class CRF:
    """A CRF instance as stored: its place, its lifecycle and its values in their fields' types."""

    id: int
    subject_id: str
    form_id: str
    visit_id: str
    occurrence: int
    instance: int
    status: str
    revision: int
    protocol_version: str
    entered_version: str | None
    values: dict[str, Any]
    derived: dict[str, Any]
    missing: dict[str, str]
    verified: dict[str, Any] = field(default_factory=dict)
    not_done_reason: str | None = None

    @property
    def visit(self) -> str:
        return str(crf_rules.VisitRef(self.visit_id, self.occurrence))

    def get(self, name: str, default: Any = None) -> Any:
        """An entered value, else a derived one."""
        if self.values.get(name) is not None:
            return self.values[name]
        return self.derived.get(name, default)


def snapshot(protocol: Protocol, row: CRFInstance, occurrence: VisitOccurrence, subject_id: str) -> CRF:
    form = protocol.form(row.form_id) if protocol.has_form(row.form_id) else None
    values = from_json(form, row.data or {}) if form else dict(row.data or {})
    return CRF(id=row.id, subject_id=subject_id, form_id=row.form_id, visit_id=occurrence.visit_id,
               occurrence=occurrence.occurrence, instance=row.instance, status=row.status, revision=row.revision,
               protocol_version=row.protocol_version, entered_version=row.protocol_version, values=values,
               derived=dict(row.derived or {}), missing=dict(row.missing or {}), verified=dict(row.verified or {}),
               not_done_reason=row.not_done_reason)


# --------------------------------------------------------------------------- the patient's pathway
class Pathway:
    """A patient's collected data loaded once per action: the dates that bound what can be recorded."""

    def __init__(self, study: StudyDB, session: Session, patient: Patient):
        self.study = study
        self.session = session
        self.patient = patient
        self.today = dt.date.today()
        self.enrolment: Enrolment | None = session.scalars(
            select(Enrolment).where(Enrolment.patient_id == patient.id)).first()
        self.crfs: list[CRFInstance] = list(session.scalars(
            select(CRFInstance).where(CRFInstance.patient_id == patient.id).order_by(CRFInstance.id)))
        self._values: dict[int, tuple[Any, dict[str, Any]]] = {}
        #: the missing-data codes of the form being derived (a code stands for a value a rule requires)
        self.missing: Mapping[str, str] = {}

    def values(self, row: CRFInstance) -> dict[str, Any]:
        """A CRF instance's values in their fields' types (cached until its data changes)."""
        cached = self._values.get(id(row))
        if cached is not None and cached[0] is row.data:
            return cached[1]
        protocol = self.study.protocol
        values = from_json(protocol.form(row.form_id), row.data or {}) if protocol.has_form(row.form_id) \
            else dict(row.data or {})
        self._values[id(row)] = (row.data, values)
        return values

    def add(self, row: CRFInstance) -> None:
        """A CRF instance written in this action joins the pathway."""
        if row not in self.crfs:
            self.crfs.append(row)

    def remove(self, row: CRFInstance) -> None:
        if row in self.crfs:
            self.crfs.remove(row)
        self._values.pop(id(row), None)

    def entered(self, form_id: str) -> list[CRFInstance]:
        return [c for c in self.crfs if c.form_id == form_id and c.status != "not_done" and c.data]

    def first(self, form_id: str) -> CRFInstance | None:
        rows = self.entered(form_id)
        return rows[0] if rows else None

    # ---- the dates the pathway rules read
    @property
    def course(self) -> CRFInstance | None:
        return self.first("rt_course")

    @property
    def fractions(self) -> list[dict[str, Any]]:
        return [self.values(c) for c in self.entered("rt_fraction")]

    @property
    def delivered_dates(self) -> list[dt.date]:
        return sorted(f["fraction_date"] for f in self.fractions
                      if f.get("status") == "delivered" and f.get("fraction_date") is not None)

    @property
    def rt_start(self) -> dt.date | None:
        dates = self.delivered_dates
        return dates[0] if dates else None

    @property
    def rt_end(self) -> dt.date | None:
        dates = self.delivered_dates
        return dates[-1] if dates else None

    @property
    def treatment_start(self) -> dt.date | None:
        """The first day of study treatment: the first delivered fraction of the protocol's radiotherapy, else
        (schema version 2) the first cycle of systemic therapy on the form the protocol names for it."""
        protocol = self.study.protocol
        if protocol.treatment.radiotherapy is not None:
            return self.rt_start
        administration = administration_of(protocol)
        if administration is None:
            return None
        return systemic_treatment_start(protocol, [self.values(c) for c in self.entered(administration.form)])

    @property
    def surgery(self) -> CRFInstance | None:
        return self.first("surgery")

    @property
    def surgery_date(self) -> dt.date | None:
        return self.values(self.surgery).get("surgery_date") if self.surgery is not None else None

    @property
    def death(self) -> CRFInstance | None:
        return next((c for c in self.entered("outcome_event") if self.values(c).get("event_type") == "death"), None)

    @property
    def death_date(self) -> dt.date | None:
        return self.values(self.death).get("event_date") if self.death is not None else None

    def require_enrolled(self, what: str) -> Enrolment:
        if self.enrolment is None:
            raise InvalidValue("patient", f"{self.patient.subject_id} is not enrolled; {what} is recorded for enrolled "
                               "patients only", show_value=False)
        return self.enrolment

    def check_date(self, name: str, day: dt.date | None, *, not_before=(), not_after=(),
                   allow_after_death: bool = False) -> None:
        pathway_rules.check_date(name, day, year_of_birth=self.patient.year_of_birth, today=self.today,
                                 not_before=not_before, not_after=not_after,
                                 death=None if allow_after_death else self.death_date)


# --------------------------------------------------------------------------- derived values
Derive = Callable[[StudyDB, Session, Pathway, dict[str, Any], CRFInstance | None], dict[str, Any]]


def _derive_diagnosis(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("the diagnosis")
    path.check_date("diagnosis.diagnosis_date", v.get("diagnosis_date"),
                    not_after=[(path.enrolment.enrolment_date, "enrolment")])
    entity = resolve_histotype(v["histotype"]) if v.get("histotype") else None
    if entity is not None:
        v["histotype"] = entity.id
    form = study.protocol.form("diagnosis")
    if form.field("fnclcc_differentiation") is None:  # a diagnosis form without FNCLCC's scores (schema version 2)
        return {"icdo3": entity.icdo3 if entity else None}
    differentiation = v.get("fnclcc_differentiation")
    if entity is not None and entity.fnclcc_differentiation is not None:
        # FNCLCC scores differentiation by histotype (Guillou 1997; Coindre 2006, table 2); where the
        # table gives one score for the entity it decides, where it gives several the pathologist does
        if differentiation is None:
            differentiation = entity.fnclcc_differentiation
        elif differentiation != entity.fnclcc_differentiation and not entity.fnclcc_note:
            raise InvalidValue("diagnosis.fnclcc_differentiation", f"FNCLCC scores {entity.name} "
                               f"{entity.fnclcc_differentiation} (Coindre 2006, table 2)", differentiation)
    grade = grading.fnclcc_grade(differentiation, v.get("mitoses_per_10hpf"), v.get("necrosis_percent"))
    derived: dict[str, Any] = {"icdo3": entity.icdo3 if entity else None, "fnclcc_score_differentiation": differentiation,
                               "grade": str(grade.grade)}
    if None not in (v.get("anatomic_site"), v.get("size_cm"), v.get("clinical_n"), v.get("clinical_m")):
        stage = staging.ajcc8_stage(v["anatomic_site"], v["size_cm"], grade.grade, v["clinical_n"], v["clinical_m"],
                                    t=v.get("t_category"))
        derived.update({"ajcc_t": stage.t, "ajcc_n": stage.n, "ajcc_m": stage.m,
                        "stage": stage.stage if entity is None or entity.ajcc_staged else None})
    return derived


def resolve_histotype(value: str, field: str = "diagnosis.histotype"):
    """A catalogue id, or a name or synonym that names exactly one entity; else a clear refusal with suggestions,
    naming ``field``."""
    from sarcotrial.domain import histology

    try:
        return histology.histotype(value)
    except InvalidValue:
        pass
    result = histology.search_histotypes(value)
    exact = [h for h in result.matches if histology.normalize_term(value) in
             {histology.normalize_term(x) for x in (h.name, h.id, *h.synonyms)}]
    if len(exact) == 1:
        return exact[0]
    if result.obsolete:
        raise InvalidValue(field, f"'{value}' is an obsolete term; candidates: "
                           f"{', '.join(result.obsolete[0].candidates)}", show_value=False)
    hint = f"; did you mean {', '.join(h.id for h in result.matches[:3])}?" if result.matches else \
        " (find it with: sarcotrial rules histotype NAME)"
    raise InvalidValue(field, f"not a WHO 2020 histotype of the catalogue{hint}", value)


def _derive_rt_course(study, session, path: Pathway, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("radiotherapy")
    rt = study.protocol.treatment.radiotherapy
    start = v.get("planned_start")
    if start is not None:
        if start < enrolment.enrolment_date:
            raise InvalidValue("rt_course.planned_start", f"must not be before enrolment ({enrolment.enrolment_date})",
                               start.isoformat())
        from sarcotrial.radiotherapy.calendar import closure_reason, next_treatment_day

        calendar = v.get("calendar") or "IT"
        closed = closure_reason(start, calendar, treatment_days=rt.treatment_days)
        if closed:
            nxt = next_treatment_day(start, calendar, treatment_days=rt.treatment_days)
            raise InvalidValue("rt_course.planned_start", f"{closed}; the next treatment day is {nxt:%a %d %b %Y}",
                               start.isoformat())
        if path.rt_start is not None and start > path.rt_start:
            raise InvalidValue("rt_course.planned_start", f"is after the first delivered fraction ({path.rt_start})",
                               start.isoformat())
    return {"planned_fractions": rt.fractions,
            "prescription_gy": {level.target: level.total_dose_gy for level in rt.dose_levels}}


def _derive_fraction(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("a radiotherapy fraction")
    course = path.course
    if course is None:
        raise InvalidValue("rt_fraction", "record the radiotherapy course before its fractions", show_value=False)
    course_values, planned = path.values(course), (course.derived or {}).get("planned_fractions")
    rt = study.protocol.treatment.radiotherapy
    number, day, status = v.get("fraction_number"), v.get("fraction_date"), v.get("status")
    path.check_date("rt_fraction.fraction_date", day, not_before=[(path.enrolment.enrolment_date, "enrolment")],
                    not_after=[(path.surgery_date, "surgery")])
    calendar, closed = course_values.get("calendar"), None
    if day is not None and status == "delivered" and calendar:
        from sarcotrial.radiotherapy.calendar import closure_reason

        closed = closure_reason(day, calendar, treatment_days=rt.treatment_days)
    pathway_rules.check_fraction(number, day, status, v.get("reason"), planned=planned,
                                 treatment_days=rt.treatment_days, closed=closed, calendar=calendar,
                                 others=[path.values(c) for c in path.entered("rt_fraction") if c is not current])
    doses = {level.target: level.dose_per_fraction_gy for level in rt.dose_levels} if status == "delivered" else {}
    return {"doses_gy": doses}


def _derive_surgery(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("surgery")
    day = v.get("surgery_date")
    path.check_date("surgery.surgery_date", day, not_before=[(path.enrolment.enrolment_date, "enrolment")])
    return {}  # its order after radiotherapy is the protocol's check (checks: surgery_after_rt)


def _derive_pathology(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("pathology")
    surgery = path.surgery
    if surgery is None:
        raise InvalidValue("pathology", "record the surgery before its pathology report", show_value=False)
    path.check_date("pathology.report_date", v.get("report_date"), not_before=[(path.surgery_date, "surgery")],
                    allow_after_death=True)
    pathway_rules.check_specimen_percentages(v.get("viable_percent"), v.get("necrosis_percent"),
                                             v.get("fibrosis_percent"))
    derived: dict[str, Any] = {}
    residual = path.values(surgery).get("macroscopic_residual")
    if residual is not None and v.get("microscopic_margin_positive") is not None:
        r_status = margins.residual_tumour(residual, v["microscopic_margin_positive"])
        margin = margins.resection_margin(r_status, v.get("closest_margin_mm"), v.get("closest_margin_tissue"),
                                          v.get("planned_positive_margin"))
        derived["r_status"] = margin.r_status
    if v.get("viable_percent") is not None:
        threshold = study.protocol.pathology.pcr_max_viable_percent
        derived.update({"response_score": response.eortc_stbsg_response(v["viable_percent"]),
                        "pcr": response.is_pcr(v["viable_percent"], threshold),
                        "pcr_definition": response.describe_pcr(threshold)})
    return derived


def _derive_adverse_event(study, session, path: Pathway, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("an adverse event")
    term = None
    if v.get("term"):  # NCI's term is stored whatever words were typed, graded or not yet (missing-coded)
        if v.get("grade"):
            term = ctcae.validate_grade(v["term"], v["grade"])
        elif current is None or path.values(current).get("term") != v["term"]:
            term = ctcae.ctcae_term(v["term"])  # an ungraded term entered before is judged only when changed
    if term is not None:
        v["term"] = term.term
    onset = v.get("onset_date")
    path.check_date("adverse_event.onset_date", onset, not_before=[(enrolment.enrolment_date, "enrolment")])
    pathway_rules.check_adverse_event(onset, v.get("resolution_date"), v.get("grade"), path.death is not None)
    start = path.treatment_start  # the first fraction (SPRINT), else the first cycle of systemic therapy
    phase = None
    if start is not None and onset is not None and onset >= start:
        phase = toxicity.toxicity_phase(onset, start, study.protocol.toxicity.acute_window_days)
    return {"meddra_code": term.meddra_code if term else None, "soc": term.soc if term else None,
            "ctcae_version": ctcae.CTCAE_VERSION, "phase": phase}


def _derive_wound(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("a wound complication")
    if path.surgery is None:
        raise InvalidValue("wound_complication", "record the surgery before a wound complication", show_value=False)
    path.check_date("wound_complication.onset_date", v.get("onset_date"), not_before=[(path.surgery_date, "surgery")])
    if v.get("onset_date") is None or any(v.get(k) is None for k in toxicity.WOUND_CRITERIA):
        return {"major": None}
    flags = {k: v[k] for k in toxicity.WOUND_CRITERIA}
    wc = toxicity.WoundComplication(onset_date=v["onset_date"], **flags)
    window = study.protocol.toxicity.wound_complication_window_days
    return {"major": toxicity.is_major_wound_complication(wc, path.surgery_date, window)}


def _derive_follow_up(study, session, path: Pathway, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("a follow-up visit")
    path.check_date("follow_up.visit_date", v.get("visit_date"), not_before=[
        (enrolment.enrolment_date, "enrolment"), (path.surgery_date, "surgery")])
    return {}


def _derive_outcome(study, session, path: Pathway, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("a relapse, metastasis or death")
    kind, day = v.get("event_type"), v.get("event_date")
    pathway_rules.check_outcome_event(
        kind, day, v.get("death_cause") or (path.missing.get("death_cause") if kind == "death" else None),
        other_death=path.death_date if path.death is not None and path.death is not current else None,
        other_events=[path.values(c).get("event_date") for c in path.entered("outcome_event") if c is not current
                      and path.values(c).get("event_type") != "death"],
        visits=[path.values(c).get("visit_date") for c in path.entered("follow_up")])
    path.check_date("outcome_event.event_date", day, not_before=[(enrolment.enrolment_date, "enrolment")],
                    allow_after_death=kind == "death" and (path.death is None or path.death is current))
    return {}


def _derive_generic(study, session, path: Pathway, v, current) -> dict[str, Any]:
    """A form with no clinical rule of its own (a second protocol's questionnaire): its dates are
    checked against birth, today and death, nothing is derived."""
    for key, value in v.items():
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            path.check_date(key, value, allow_after_death=True)
    return {}


DERIVATIONS: dict[str, Derive] = {
    "diagnosis": _derive_diagnosis, "rt_course": _derive_rt_course, "rt_fraction": _derive_fraction,
    "surgery": _derive_surgery, "pathology": _derive_pathology, "adverse_event": _derive_adverse_event,
    "wound_complication": _derive_wound, "follow_up": _derive_follow_up, "outcome_event": _derive_outcome,
}

# records whose derived values read another form: derived again when that one changes
DEPENDENTS = {
    "surgery": ("pathology", "wound_complication"),   # R status (macroscopic residual); major (120 days of surgery)
    "rt_fraction": ("adverse_event",),                 # acute / late from the first delivered fraction
}


def dependents(protocol: Protocol, form_id: str) -> tuple[str, ...]:
    """The forms whose derived values read ``form_id``: SPRINT's by form id (``DEPENDENTS``), and from schema
    version 2 what the protocol's declarations imply: adverse events read the first cycle of systemic therapy
    (their acute or late phase), a cycle reads the cycles before it (the cumulative dose, the delay), a tumour
    assessment reads its lesions and their measurements."""
    found = list(DEPENDENTS.get(form_id, ()))
    administration = administration_of(protocol)
    if administration is not None and form_id == administration.form and protocol.treatment.radiotherapy is None \
            and protocol.has_form("adverse_event"):
        found.append("adverse_event")
    if administration is not None and form_id == administration.form:
        found.append(administration.form)  # later cycles' cumulative dose and days late read the earlier cycles
    response = protocol.response
    if response is not None and form_id in (response.form, response.lesion_form, response.measurement_form):
        found.append(response.form)  # an assessment's response reads the nadir and the assessments before it
    return tuple(dict.fromkeys(found))


# records that hang on another: deleting that one is refused while they exist (never a silent cascade)
DEPENDS_ON_ME = {"rt_course": ("rt_fraction",), "surgery": ("pathology", "wound_complication")}


def _derive(study: StudyDB, session: Session, path: Pathway, form_id: str, values: dict[str, Any],
            current: CRFInstance | None, missing: Mapping[str, str] | None = None) -> dict[str, Any]:
    path.missing = dict(missing or {})
    from sarcotrial.services.derivers import declared_deriver

    derive = declared_deriver(study.protocol, form_id) or DERIVATIONS.get(form_id, _derive_generic)
    return derive(study, session, path, values, current)


# --------------------------------------------------------------------------- checks on the input
def check_missing(protocol: Protocol, form: Form, missing: Mapping[str, str] | None, reason: str | None) -> dict[str, str]:
    """Missing-data codes given for fields: declared by the protocol, for fields of the form, with a reason."""
    out: dict[str, str] = {}
    for field_id, code in (missing or {}).items():
        if form.field(field_id) is None:
            raise InvalidValue(f"{form.id}.{field_id}", f"not a field of form '{form.id}'", show_value=False)
        code = str(code).strip().upper()
        if not protocol.missing_codes:
            raise InvalidValue(f"{form.id}.{field_id}", f"protocol {protocol.acronym} v{protocol.version} declares no "
                               "missing-data codes", code)
        if protocol.missing_code(code) is None:
            raise InvalidValue(f"{form.id}.{field_id}", "not a missing-data code of the protocol (codes: "
                               + ", ".join(f"{c.code} {c.label}" for c in protocol.missing_codes) + ")", code)
        out[field_id] = code
    if out and not (reason or "").strip():
        raise InvalidValue("reason", "a missing-data code needs a reason (why the value is missing)", show_value=False)
    return out


def _required_present(form: Form, values: Mapping[str, Any], missing: Mapping[str, str]) -> None:
    for fld in form.fields:
        if fld.required and values.get(fld.id) is None and fld.id not in missing:
            raise InvalidValue(f"{form.id}.{fld.id}", f"is required ({fld.label}); if it cannot be given, record a "
                               "missing-data code (--missing FIELD=CODE) with a reason", show_value=False)


# --------------------------------------------------------------------------- locating a CRF instance
def _occurrence(session: Session, study: StudyDB, patient: Patient, visit_id: str, number: int,
                create: bool) -> VisitOccurrence | None:
    row = session.scalars(select(VisitOccurrence).where(
        VisitOccurrence.patient_id == patient.id, VisitOccurrence.visit_id == visit_id,
        VisitOccurrence.occurrence == number)).first()
    if row is None and create:
        row = VisitOccurrence(patient_id=patient.id, visit_id=visit_id, occurrence=number)
        session.add(row)
        session.flush()
    return row


def _key_date(form: Form, values: Mapping[str, Any]) -> dt.date | None:
    for fld in form.fields:
        if fld.type in ("date", "datetime") and values.get(fld.id) is not None:
            day = values[fld.id]
            return day.date() if isinstance(day, dt.datetime) else day
    return None


def _place(session: Session, study: StudyDB, patient: Patient, form: Form, values: Mapping[str, Any],
           visit: crf_rules.VisitRef | None) -> VisitOccurrence:
    """The visit occurrence a new form goes to: the one named, else the schedule's.

    Without a named visit: a form of exactly one visit that does not repeat goes to that visit; a
    form of repeating visits goes to the occurrence whose window holds the form's date and which
    does not hold that form yet (the nearest target); anything else is an event form of the
    unscheduled visit.
    """
    protocol = study.protocol
    if visit is not None:
        if visit.visit_id == crf_rules.UNSCHEDULED:
            row = _occurrence(session, study, patient, visit.visit_id, visit.occurrence, create=visit.occurrence == 1)
            if row is None:
                raise InvalidValue("visit", f"{patient.subject_id} has no unscheduled visit {visit.occurrence}; add one "
                                   f"with 'sarcotrial unscheduled {patient.subject_id} --date YYYY-MM-DD'", str(visit))
            return row
        try:
            spec = protocol.visit(visit.visit_id)
        except KeyError:
            known = ", ".join([v.id for v in protocol.visits] + [crf_rules.UNSCHEDULED])
            raise InvalidValue("visit", f"protocol has no such visit (visits: {known})", visit.visit_id) from None
        if form.id not in spec.collected:
            raise InvalidValue("visit", f"form '{form.id}' is not collected at visit '{spec.id}' (its forms: "
                               f"{', '.join(spec.collected) or 'none'}); record it at the unscheduled visit instead",
                               str(visit))
        row = _occurrence(session, study, patient, spec.id, visit.occurrence, create=spec.repeat is None)
        if row is None:
            raise InvalidValue("visit", f"{patient.subject_id} has no occurrence {visit.occurrence} of '{spec.id}' yet "
                               "(its anchor is not recorded, or the schedule ends before it)", str(visit))
        return row
    day = _key_date(form, values)
    administration = administration_of(protocol)
    for spec in protocol.visits_of_form(form.id):
        ref = spec.anchor_ref
        if day is None or spec.repeat is None or ref.form != form.id or ref.instance != "previous":
            continue
        # a form that anchors its own repeating visit (a treatment cycle, each planned from the one before): a cycle
        # goes to the occurrence of its number (the protocol's cycle field), whatever the order of entry; without a
        # number, the first record opens the first occurrence, on its own date
        number = values.get(administration.cycle_field) if administration is not None \
            and administration.form == form.id else None
        existing = session.scalars(select(VisitOccurrence).where(
            VisitOccurrence.patient_id == patient.id, VisitOccurrence.visit_id == spec.id)).all()
        if isinstance(number, int) and number >= 1:
            row = next((o for o in existing if o.occurrence == number), None)
            if row is None:
                row = VisitOccurrence(patient_id=patient.id, visit_id=spec.id, occurrence=number,
                                      target_date=day + dt.timedelta(days=spec.offset_days) if number == 1 else None)
                session.add(row)
                session.flush()
            return row
        if not existing:
            row = VisitOccurrence(patient_id=patient.id, visit_id=spec.id, occurrence=1,
                                  target_date=day + dt.timedelta(days=spec.offset_days))
            session.add(row)
            session.flush()
            return row
    visits = protocol.visits_of_form(form.id)
    if len(visits) == 1 and visits[0].repeat is None:
        return _occurrence(session, study, patient, visits[0].id, 1, create=True)
    if visits and day is not None:
        ids = [v.id for v in visits]
        from sarcotrial.services.visits import occurrence_window

        candidates = []
        for occurrence in session.scalars(select(VisitOccurrence).where(
                VisitOccurrence.patient_id == patient.id, VisitOccurrence.visit_id.in_(ids))):
            start, end = occurrence_window(protocol, occurrence)
            if start is not None and start <= day <= end:
                candidates.append(occurrence)
        # a form recorded several times at one visit (a tumour assessment's lesions and measurements) goes to the
        # visit whose window holds its date even when that visit holds it already
        many = protocol.response is not None and form.id in (protocol.response.lesion_form,
                                                              protocol.response.measurement_form)
        taken = set() if many else set(session.scalars(select(CRFInstance.visit_occurrence_id).where(
            CRFInstance.patient_id == patient.id, CRFInstance.form_id == form.id)))
        free = sorted((c for c in candidates if c.id not in taken), key=lambda c: (abs((c.target_date - day).days), c.id))
        if free:
            return free[0]
    return _occurrence(session, study, patient, crf_rules.UNSCHEDULED, 1, create=True)


def _find(session: Session, study: StudyDB, patient: Patient, form_id: str, *, record_id: int | None = None,
          visit: crf_rules.VisitRef | None = None, instance: int | None = None) -> CRFInstance:
    query = select(CRFInstance).where(CRFInstance.patient_id == patient.id, CRFInstance.form_id == form_id)
    if record_id is not None:
        query = query.where(CRFInstance.id == record_id)
    if visit is not None:
        query = query.join(VisitOccurrence, VisitOccurrence.id == CRFInstance.visit_occurrence_id).where(
            VisitOccurrence.visit_id == visit.visit_id, VisitOccurrence.occurrence == visit.occurrence)
    if instance is not None:
        query = query.where(CRFInstance.instance == instance)
    rows = session.scalars(query.order_by(CRFInstance.id)).all()
    where = f" at {visit}" if visit else ""
    if not rows:
        raise InvalidValue("record", f"no {form_id} form{where}" + (f" #{record_id}" if record_id is not None else "")
                           + f" for {patient.subject_id}", show_value=False)
    if len(rows) > 1:
        places = ", ".join(
            f"--visit {crf_rules.VisitRef(o.visit_id, o.occurrence)} --instance {r.instance}"
            for r, o in ((r, session.get(VisitOccurrence, r.visit_occurrence_id)) for r in rows[:6]))
        raise InvalidValue("record_id", f"{patient.subject_id} has several {form_id} forms{where}; name one with "
                           f"--visit and --instance ({places})", show_value=False)
    return rows[0]


# --------------------------------------------------------------------------- locks, revisions, signatures
#: session.info key: the active locks as read once by a writer that holds the write lock throughout and
#: neither locks nor unlocks (an import): no lock can change under it
INFO_ACTIVE_LOCKS = "active_locks"


def active_lock(session: Session, patient_id: int | None, crf_id: int | None) -> DataLock | None:
    """The lock that covers a CRF instance (its own, its patient's, or the study's), if any."""
    locks = session.info.get(INFO_ACTIVE_LOCKS)
    if locks is None:
        locks = session.scalars(select(DataLock).where(DataLock.active.is_(True))).all()
    for scope in ("study", "patient", "crf"):
        for lock in locks:
            if lock.scope == scope and (scope == "study" or (scope == "patient" and lock.patient_id == patient_id)
                                        or (scope == "crf" and crf_id is not None and lock.crf_instance_id == crf_id)):
                return lock
    return None


def require_unlocked(session: Session, patient: Patient | None, crf_id: int | None, what: str) -> None:
    """Refuse ``what`` under a lock covering it (the study's; the patient's; the CRF instance's); without a
    patient (a registration) only the study lock applies."""
    lock = active_lock(session, patient.id if patient is not None else None, crf_id)
    if lock is not None:
        scope = {"study": "the study is locked (database lock)", "crf": "this form is locked"}.get(lock.scope) \
            or f"{patient.subject_id} is locked"
        raise InvalidValue("lock", f"{scope} by {lock.locked_by} at {lock.locked_at:%Y-%m-%d %H:%M} UTC; {what} is "
                           "refused until it is unlocked (sarcotrial unlock ... --reason)", show_value=False)


def _last_change(session: Session, row: CRFInstance) -> tuple[str, str]:
    from sarcotrial.store.models import AuditEntry

    entry = session.scalars(select(AuditEntry).where(AuditEntry.table_name == CRFInstance.__tablename__,
                                                      AuditEntry.record_id == row.id,
                                                      AuditEntry.field == "revision")
                            .order_by(AuditEntry.id.desc()).limit(1)).first()
    return (entry.actor, entry.at[:16].replace("T", " ") + " UTC") if entry else ("someone", "an unknown time")


def require_revision(session: Session, row: CRFInstance, revision: int | None) -> None:
    """A write against the revision a user saw: refused if the form changed since."""
    if revision is not None and revision != row.revision:
        who, when = _last_change(session, row)
        seen = f"you saw {revision}" if revision < row.revision else f"there is no revision {revision}"
        raise InvalidValue("revision", f"this form was changed by {who} at {when} (revision {row.revision}; {seen}); "
                           "reload it and enter your change again", show_value=False)


def void_signatures(session: Session, row: CRFInstance, changed: list[str], actor: str) -> int:
    """Void every valid signature covering a changed CRF instance (its own and its patient's casebook)."""
    if not changed:
        return 0
    signatures = session.scalars(select(Signature).where(
        Signature.patient_id == row.patient_id, Signature.status == "valid")).all()
    now = utcnow()
    what = ", ".join(f"{row.form_id}.{name.split('.', 1)[-1]}" for name in changed[:5]) + (
        f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    count = 0
    for signature in signatures:
        if signature.scope == "casebook" or signature.crf_instance_id == row.id:
            signature.status = "voided"
            signature.voided_at = now
            signature.voided_reason = f"signature voided by the change of {what} by {actor} at {now:%Y-%m-%d %H:%M} UTC"
            count += 1
    return count


def _apply(session: Session, row: CRFInstance, *, data: dict[str, Any], derived: dict[str, Any],
           missing: dict[str, str], form: Form, actor: str) -> list[str]:
    """Store a CRF instance's new values: status, revision, verification and signatures follow."""
    before = {"data": row.data or {}, "derived": row.derived or {}, "missing": row.missing or {}}
    after = {"data": data, "derived": derived, "missing": missing}
    changed = [f"{part}.{k}" for part in before for k in crf_rules.changed_fields(before[part], after[part])]
    if not changed:
        return []
    row.data, row.derived, row.missing = dict(data), dict(derived), dict(missing)
    status = crf_rules.entry_status([f.id for f in form.fields if f.required], data, missing)
    if row.status != status:
        row.status = status
    if row.id is not None:
        row.revision = (row.revision or 0) + 1
        touched = {name.split(".", 1)[1] for name in changed}
        verified = {k: v for k, v in (row.verified or {}).items() if k not in touched}
        if verified != (row.verified or {}):
            row.verified = verified
    # a change voids the signatures over the form; a new form changes the signed casebook (21 CFR 11.70)
    void_signatures(session, row, changed, actor)
    return changed


# --------------------------------------------------------------------------- the write API
def record(study: StudyDB, actor: Actor, subject_id: str, form_id: str, values: Mapping[str, Any], *,
           visit: str | None = None, instance: int | None = None, missing: Mapping[str, str] | None = None,
           reason: str | None = None) -> CRF:
    """Enter one form for a patient; returns the stored CRF instance.

    ``visit`` (``VISIT[:N]``) names the visit occurrence; without it the schedule places the form
    (see :func:`_place`). ``instance`` names the repeat instance of a repeating form (the next one
    by default). ``missing`` gives a missing-data code per field, with ``reason``.
    """
    protocol = study.protocol
    if form_id in SERVICE_FORMS:
        raise InvalidValue("form", f"'{form_id}' is entered with 'sarcotrial patient "
                           f"{'register' if form_id == 'referral' else 'screen'}'", form_id)
    clean = validate_form(protocol, form_id, values, partial=True)
    form = protocol.form(form_id)
    codes = check_missing(protocol, form, missing, reason)
    both = sorted(k for k in codes if clean.get(k) is not None)
    if both:
        raise InvalidValue(f"{form_id}.{both[0]}", "has both a value and a missing-data code; give one", show_value=False)
    _required_present(form, clean, codes)
    ref = crf_rules.parse_visit_ref(visit) if visit else None
    permission = "consent" if protocol.consent and form_id == protocol.consent.form else \
        "withdraw" if protocol.withdrawal and form_id == protocol.withdrawal.form else "record"
    with study.action(actor, reason, permission=permission) as session:
        patient = study.patient(session, subject_id)
        path = Pathway(study, session, patient)
        require_consent(study, path, form_id)
        require_not_withdrawn(study, path, form, clean)
        _check_safety(study, form, clean)
        occurrence = _place(session, study, patient, form, clean, ref)
        existing = session.scalars(select(CRFInstance).where(
            CRFInstance.visit_occurrence_id == occurrence.id, CRFInstance.form_id == form_id)
            .order_by(CRFInstance.instance)).all()
        where = crf_rules.VisitRef(occurrence.visit_id, occurrence.occurrence)
        if form.repeating:
            number = instance or (max((c.instance for c in existing), default=0) + 1)
            row = next((c for c in existing if c.instance == number), None)
        else:
            if instance not in (None, 1):
                raise InvalidValue("instance", f"form '{form_id}' does not repeat within a visit", instance)
            number, row = 1, (existing[0] if existing else None)
        if row is not None:
            raise InvalidValue(form_id, f"is already entered for {patient.subject_id} at {where}"
                               + (f" (instance {number})" if form.repeating else "")
                               + ("; it is marked not done" if row.status == "not_done" else "")
                               + f"; correct it instead (sarcotrial correct {form_id} {patient.subject_id} --visit {where})",
                               show_value=False)
        require_unlocked(session, patient, None, "entering data")
        rt_start_before = path.treatment_start
        derived = _derive(study, session, path, form_id, clean, None, codes)
        row = CRFInstance(study_id=study.study_id, patient_id=patient.id, visit_occurrence_id=occurrence.id,
                          form_id=form_id, instance=number, status="incomplete", revision=1, data={}, derived={}, missing={}, verified={})
        _apply(session, row, data=form_json(clean), derived=derived, missing=codes, form=form, actor=actor.name)
        session.add(row)
        session.flush()
        path.add(row)
        _after_write(study, session, path, form_id, row, rt_start_before)
        return snapshot(protocol, row, occurrence, patient.subject_id)


def correct(study: StudyDB, actor: Actor, subject_id: str, form_id: str, changes: Mapping[str, Any], reason: str, *,
            record_id: int | None = None, visit: str | None = None, instance: int | None = None,
            missing: Mapping[str, str] | None = None, revision: int | None = None) -> CRF:
    """Change entered values of a CRF instance (a reason is required); everything that follows from them follows."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "a reason is required to change data already entered", show_value=False)
    protocol = study.protocol
    validate_form(protocol, form_id, changes, partial=True)  # names unknown fields and bad values first
    form = protocol.form(form_id)
    codes = check_missing(protocol, form, missing, reason)
    if not changes and not codes:
        raise InvalidValue("correction", "give the new values (--set FIELD=VALUE) or missing-data codes (--missing)",
                           show_value=False)
    ref = crf_rules.parse_visit_ref(visit) if visit else None
    with study.action(actor, reason, permission="correct") as session:
        patient = study.patient(session, subject_id)
        row = _find(session, study, patient, form_id, record_id=record_id, visit=ref, instance=instance)
        return _correct_row(study, session, actor, patient, row, form, changes, codes, revision)


def _correct_row(study: StudyDB, session: Session, actor: Actor, patient: Patient, row: CRFInstance, form: Form,
                 changes: Mapping[str, Any], codes: Mapping[str, str], revision: int | None) -> CRF:
    protocol = study.protocol
    require_unlocked(session, patient, row.id, "a correction")
    require_revision(session, row, revision)
    if row.status == "not_done" and not row.data:
        raise InvalidValue(form.id, "is marked not done and holds no value to correct; if it was done after all, "
                           "delete the mark (sarcotrial delete ... --reason) and record the form", show_value=False)
    path = Pathway(study, session, patient)
    rt_start_before = path.treatment_start
    current = dict(path.values(row))
    current_missing = dict(row.missing or {})
    for key in changes:
        current_missing.pop(key, None)  # a value given replaces a missing-data code
    for key in codes:
        current.pop(key, None)          # a missing-data code replaces a value
    current_missing.update(codes)
    merged = {**current, **changes}
    clean = validate_form(protocol, form.id, {k: v for k, v in merged.items() if v is not None}, partial=True)
    _required_present(form, clean, current_missing)
    require_not_withdrawn(study, path, form, clean, row)
    _check_safety(study, form, clean)
    derived = _derive(study, session, path, form.id, clean, row, current_missing)
    changed = _apply(session, row, data=form_json(clean), derived=derived, missing=current_missing, form=form,
                     actor=actor.name)
    if not changed:
        raise InvalidValue("correction", "changes no value (the form already holds these values)", show_value=False)
    session.flush()
    _after_write(study, session, path, form.id, row, rt_start_before)
    return snapshot(protocol, row, session.get(VisitOccurrence, row.visit_occurrence_id), patient.subject_id)


def delete(study: StudyDB, actor: Actor, subject_id: str, form_id: str, reason: str, *, record_id: int | None = None,
           visit: str | None = None, instance: int | None = None) -> None:
    """Remove a CRF instance entered in error (a reason is required; the audit trail keeps its values)."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "a reason is required to delete data already entered", show_value=False)
    ref = crf_rules.parse_visit_ref(visit) if visit else None
    study.protocol.form(form_id) if study.protocol.has_form(form_id) else validate_form(study.protocol, form_id, {})
    with study.action(actor, reason, permission="delete") as session:
        patient = study.patient(session, subject_id)
        row = _find(session, study, patient, form_id, record_id=record_id, visit=ref, instance=instance)
        require_unlocked(session, patient, row.id, "a deletion")
        path = Pathway(study, session, patient)
        if study.protocol.response is not None:  # a lesion or an assessment with measurements against it
            from sarcotrial.services.response_entry import refuse_orphaning_delete

            refuse_orphaning_delete(study, path, row)
        for dependent in DEPENDS_ON_ME.get(form_id, ()):
            count = len(path.entered(dependent))
            if count and len(path.entered(form_id)) == 1:
                raise InvalidValue(form_id, f"{patient.subject_id}'s {form_id.replace('_', ' ')} has {count} "
                                   f"{dependent.replace('_', ' ')} form(s) recorded against it: delete or correct those "
                                   "first", show_value=False)
        if study.protocol.treatment.radiotherapy_courses is not None:  # a further course with fractions against it
            from sarcotrial.services.rt_courses import deletion_refused

            refused = deletion_refused(study, path, row)
            if refused:
                raise InvalidValue(form_id, refused, show_value=False)
        rt_start_before = path.treatment_start
        void_signatures(session, row, [f"data.{k}" for k in (row.data or {})] or ["data"], actor.name)
        for query in session.scalars(select(DataQuery).where(DataQuery.crf_instance_id == row.id)).all():
            for message in session.scalars(select(QueryMessage).where(QueryMessage.query_id == query.id)).all():
                session.delete(message)
            session.delete(query)
        for signature in session.scalars(select(Signature).where(Signature.crf_instance_id == row.id)).all():
            session.delete(signature)
        for lock in session.scalars(select(DataLock).where(DataLock.crf_instance_id == row.id)).all():
            session.delete(lock)
        session.flush()
        session.delete(row)
        session.flush()
        path.remove(row)
        _after_write(study, session, path, form_id, None, rt_start_before)


def mark_not_done(study: StudyDB, actor: Actor, subject_id: str, form_id: str, visit: str, reason: str, *,
                  instance: int | None = None) -> CRF:
    """Say a form expected at a visit occurrence will not be collected (a reason is required)."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "say why the form is not done", show_value=False)
    protocol = study.protocol
    validate_form(protocol, form_id, {}, partial=True)
    form = protocol.form(form_id)
    ref = crf_rules.parse_visit_ref(visit)
    with study.action(actor, reason, permission="not_done") as session:
        patient = study.patient(session, subject_id)
        occurrence = _place(session, study, patient, form, {}, ref)
        row = session.scalars(select(CRFInstance).where(
            CRFInstance.visit_occurrence_id == occurrence.id, CRFInstance.form_id == form_id,
            CRFInstance.instance == (instance or 1))).first()
        require_unlocked(session, patient, row.id if row else None, "marking a form not done")
        if row is not None and row.data:
            raise InvalidValue(form_id, f"holds data at {ref}; a form with data is corrected or deleted, not marked "
                               "not done", show_value=False)
        if row is not None and row.status == "not_done":
            raise InvalidValue(form_id, f"is already marked not done at {ref}", show_value=False)
        if row is None:
            row = CRFInstance(study_id=study.study_id, patient_id=patient.id, visit_occurrence_id=occurrence.id,
                              form_id=form_id, instance=instance or 1, status="not_done", not_done_reason=reason.strip(),
                              revision=1, data={}, derived={}, missing={},
                              verified={})
            session.add(row)
            void_signatures(session, row, ["status"], actor.name)  # the signed casebook gains a form
        session.flush()
        return snapshot(protocol, row, occurrence, patient.subject_id)


def require_consent(study: StudyDB, path: Pathway, form_id: str) -> None:
    """No study form other than referral and screening is accepted before the patient's consent (where
    the protocol records consent on a form of its own; else the enrolment carries it)."""
    spec = study.protocol.consent
    if spec is None or form_id in SERVICE_FORMS or form_id == spec.form:
        return
    if path.enrolment is None and not path.entered(spec.form):  # enrolment itself required consent
        raise InvalidValue("consent", f"{path.patient.subject_id} has no consent recorded: before consent only the "
                           f"referral and the screening are accepted (record the '{spec.form}' form first)",
                           show_value=False)


def require_not_withdrawn(study: StudyDB, path: Pathway, form: Form, values: Mapping[str, Any],
                          current: CRFInstance | None = None) -> None:
    """Data of a kind the patient withdrew from, dated after the withdrawal, is refused."""
    spec = study.protocol.withdrawal
    if spec is None or form.id == spec.form or (study.protocol.end_of_study and form.id == study.protocol.end_of_study.form):
        return
    day = _key_date(form, values)
    if day is None and current is not None:
        day = _key_date(form, path.values(current))
        if day is None:
            return  # an undated form entered before is corrected: nothing says it follows the withdrawal
    for row in path.entered(spec.form):
        if row is current:
            continue
        w = path.values(row)
        kind, when = w.get(spec.kind_field), w.get(spec.date_field)
        stopped = spec.stops.get(kind or "", [])
        if when is None or not ("*" in stopped or form.id in stopped):
            continue
        if day is None or day > when:
            label = next((c.label for c in study.protocol.codelists.get(
                study.protocol.form(spec.form).field(spec.kind_field).codelist, []) if c.code == kind), kind)
            raise InvalidValue(form.id, f"{path.patient.subject_id} withdrew on {when.isoformat()} ({label}); "
                               f"{form.id} data dated after the withdrawal is refused", show_value=False)


def _check_safety(study: StudyDB, form: Form, values: Mapping[str, Any]) -> None:
    """A serious adverse event carries the moment the site became aware of it (the reporting clock)."""
    spec = study.protocol.safety
    if spec is None or form.id != spec.form or values.get(spec.serious_field) is not True:
        return
    aware, reported = values.get(spec.aware_field), values.get(spec.reported_field)
    if aware is None:
        raise InvalidValue(f"{form.id}.{spec.aware_field}", "is required for a serious adverse event: the "
                           f"{spec.report_within_hours} h reporting clock runs from it", show_value=False)
    if reported is not None and reported < aware:
        raise InvalidValue(f"{form.id}.{spec.reported_field}", f"is before the site became aware ({aware:%Y-%m-%d %H:%M} "
                           "UTC)", reported.isoformat())
    if aware > utcnow() or (reported is not None and reported > utcnow()):
        raise InvalidValue(f"{form.id}.{spec.aware_field}", "is in the future", show_value=False)


def run_checks(study: StudyDB, session: Session, path: Pathway, written: str) -> None:
    """The protocol's cross-form checks that read the written form: a hard one refuses the whole action,
    a soft one opens a query on the checked field (once, while it is not closed)."""
    from sarcotrial.domain import checks as check_rules
    from sarcotrial.protocol.schema import ENROLMENT_FORM
    from sarcotrial.services.queries import open_system_query

    relevant = [c for c in study.protocol.checks if written in c.forms]
    if not relevant:
        return
    patient = path.patient
    instances: dict[str, list] = {}
    for row in path.crfs:
        if row.status != "not_done" and row.data:
            instances.setdefault(row.form_id, []).append(check_rules.Instance(row.id, path.values(row)))
    if path.enrolment is not None and not study.protocol.has_form(ENROLMENT_FORM):
        instances[ENROLMENT_FORM] = [check_rules.Instance(None, {"enrolment_date": path.enrolment.enrolment_date})]
    for check in relevant:
        for violation in check_rules.evaluate(check, instances):
            if violation.kind == "hard":
                raise InvalidValue(f"{violation.form}.{violation.field}", violation.message,
                                   violation.value.isoformat() if hasattr(violation.value, "isoformat") else violation.value)
            open_system_query(session, patient, violation.key, violation.field, f"check:{violation.check_id}",
                              violation.message)


# --------------------------------------------------------------------------- consequences of a write
def _after_write(study: StudyDB, session: Session, path: Pathway, form_id: str, row: CRFInstance | None,
                 rt_start_before: dt.date | None) -> None:
    """Consequences the protocol attaches to a write: derived values elsewhere, status, deviations, checks,
    schedule. ``path`` is the patient's pathway with the write in it; ``rt_start_before`` its first day of
    treatment before the write (adverse events are re-derived only when that moves)."""
    patient = path.patient
    session.flush()
    for dependent in dependents(study.protocol, form_id):
        if dependent == "adverse_event" and path.treatment_start == rt_start_before:
            continue  # adverse events read only the first day of treatment
        _rederive(study, session, path, dependent)
    if form_id in ("rt_fraction", "surgery", "rt_course") and path.course is not None:
        from sarcotrial.services.radiotherapy import record_deviations

        record_deviations(study, session, path)
    if form_id == "outcome_event":
        dead = path.death is not None
        if dead and patient.status != "dead":
            patient.status = "dead"
        elif not dead and patient.status == "dead":
            patient.status = "enrolled" if path.enrolment is not None else "referred"
    if form_id in ("surgery", "rt_fraction"):
        _sync_deviation(session, patient, "surgery_interval", "minor", pathway_rules.surgery_interval_deviation(
            path.surgery_date, path.rt_end, study.protocol.treatment.surgery), path.surgery_date)
    if form_id == "surgery":
        procedure = path.values(path.surgery).get("procedure") if path.surgery is not None else None
        _sync_deviation(session, patient, "amputation", "major",
                        pathway_rules.amputation_deviation(procedure), path.surgery_date)
    _follow_status(study, path, patient, form_id)
    run_checks(study, session, path, form_id)
    from sarcotrial.services.visits import anchor_forms, sync_schedule

    if form_id in anchor_forms(study.protocol):
        sync_schedule(study, session, patient, path.crfs, written=form_id)


def _follow_status(study: StudyDB, path: Pathway, patient: Patient, form_id: str) -> None:
    """A withdrawal from follow-up or of consent, or the end-of-study form, moves the patient's status."""
    protocol = study.protocol
    if protocol.withdrawal is not None and form_id == protocol.withdrawal.form:
        kinds = {path.values(r).get(protocol.withdrawal.kind_field) for r in path.entered(form_id)}
        if kinds & set(protocol.withdrawal.ends_follow_up) and patient.status not in ("dead", "withdrawn"):
            patient.status = "withdrawn"
    if protocol.end_of_study is not None and form_id == protocol.end_of_study.form:
        row = path.first(form_id)
        code = path.values(row).get(protocol.end_of_study.status_field) if row else None
        status = protocol.end_of_study.patient_status.get(code or "")
        if status and patient.status != "dead" and patient.status != status:
            patient.status = status


def _sync_deviation(session: Session, patient: Patient, category: str, severity: str, description: str | None,
                    on: dt.date | None) -> None:
    existing = session.scalars(select(ProtocolDeviation).where(
        ProtocolDeviation.patient_id == patient.id, ProtocolDeviation.category == category)).first()
    if description and existing is None:
        session.add(ProtocolDeviation(patient_id=patient.id, category=category, severity=severity,
                                      description=description, detected_on=on or dt.date.today()))
    elif description and existing.description != description:
        existing.description = description
    elif description is None and existing is not None:
        session.delete(existing)


def _rederive(study: StudyDB, session: Session, path: Pathway, form_id: str) -> None:
    """Recompute the derived values of a patient's forms of one kind after a form they read changed."""
    form = study.protocol.form(form_id)
    for row in path.entered(form_id):
        values = dict(path.values(row))
        derived = _derive(study, session, path, form_id, values, row, row.missing)
        _apply(session, row, data=form_json(values), derived=derived, missing=dict(row.missing or {}), form=form,
               actor=str(session.info.get("audit_actor", "system")))
