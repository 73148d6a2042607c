"""Recording clinical data: one path for every form, from entry to correction.

Each clinical form of the protocol (diagnosis, radiotherapy course and fractions, surgery,
pathology, adverse events, wound complications, follow-up, outcome events) has a *recorder*: the
table it fills and how its derived values are computed from what was entered (FNCLCC grade and
AJCC stage from the biopsy; R status, EORTC-STBSG score and pCR from the pathology report; the
CTCAE term's facts and the acute/late phase of an adverse event; whether a wound complication is
major). Entry and correction go through the same steps, so a corrected value is checked by the
same rules and its derived values follow it:

1. the values are checked against the protocol's form (types, ranges, code lists, required);
2. the dates are checked against the patient's pathway (not before birth or enrolment, no
   fraction after surgery, nothing after death, nothing in the future);
3. the derived values are computed by the domain rules;
4. the record is written in one transaction with its audit entries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sarcotrial.domain import ctcae, grading, margins, response, staging, toxicity
from sarcotrial.errors import InvalidValue
from sarcotrial.protocol.forms import form_json, validate_form
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import (
    AdverseEvent,
    Diagnosis,
    Enrolment,
    FollowUpVisit,
    FormRecord,
    OutcomeEvent,
    Pathology,
    Patient,
    ProtocolDeviation,
    RTCourse,
    RTFraction,
    StudyRecord,
    Surgery,
    WoundComplication,
)


# --------------------------------------------------------------------------- the patient's pathway
@dataclass
class Pathway:
    """The dates that bound what can be recorded for a patient."""

    patient: Patient
    enrolment: Enrolment | None
    course: RTCourse | None
    surgery: Surgery | None
    death: OutcomeEvent | None
    today: dt.date

    @classmethod
    def load(cls, session: Session, patient: Patient) -> "Pathway":
        pid = patient.id
        return cls(
            patient=patient,
            enrolment=session.scalars(select(Enrolment).where(Enrolment.patient_id == pid)).first(),
            course=session.scalars(select(RTCourse).where(RTCourse.patient_id == pid)).first(),
            surgery=session.scalars(select(Surgery).where(Surgery.patient_id == pid)).first(),
            death=session.scalars(select(OutcomeEvent).where(OutcomeEvent.patient_id == pid,
                                                             OutcomeEvent.event_type == "death")).first(),
            today=dt.date.today(),
        )

    @property
    def delivered_dates(self) -> list[dt.date]:
        if self.course is None:
            return []
        return sorted(f.fraction_date for f in self.course.fractions if f.status == "delivered")

    @property
    def rt_start(self) -> dt.date | None:
        return self.delivered_dates[0] if self.delivered_dates else None

    @property
    def rt_end(self) -> dt.date | None:
        return self.delivered_dates[-1] if self.delivered_dates else None

    def require_enrolled(self, what: str) -> Enrolment:
        if self.enrolment is None:
            raise InvalidValue("patient", f"{self.patient.subject_id} is not enrolled; {what} is recorded for enrolled patients only",
                               show_value=False)
        return self.enrolment

    def check_date(self, field: str, day: dt.date, *, not_before: list[tuple[dt.date | None, str]] = (),
                   not_after: list[tuple[dt.date | None, str]] = (), allow_after_death: bool = False) -> None:
        if day.year < self.patient.year_of_birth:
            raise InvalidValue(field, f"is before the patient's birth (born {self.patient.year_of_birth})", day.isoformat())
        if day > self.today:
            raise InvalidValue(field, "is in the future", day.isoformat())
        for bound, label in not_before:
            if bound is not None and day < bound:
                raise InvalidValue(field, f"must not be before {label} ({bound.isoformat()})", day.isoformat())
        for bound, label in not_after:
            if bound is not None and day > bound:
                raise InvalidValue(field, f"must not be after {label} ({bound.isoformat()})", day.isoformat())
        if not allow_after_death and self.death is not None and day > self.death.event_date:
            raise InvalidValue(field, f"is after the patient's death ({self.death.event_date.isoformat()})", day.isoformat())


# --------------------------------------------------------------------------- recorders
Derive = Callable[[StudyDB, Session, Pathway, dict[str, Any], StudyRecord | None], dict[str, Any]]


@dataclass(frozen=True)
class Recorder:
    form_id: str
    model: type[StudyRecord]
    derive: Derive
    single: bool  # one per patient (diagnosis, surgery, ...) or repeating (fractions, events, ...)
    inputs: tuple[tuple[str, str], ...] = ()  # form field -> the column that keeps what was entered

    def form_values(self, record: StudyRecord, form_fields: list[str]) -> dict[str, Any]:
        """What was entered on the form, read back from the record (for a correction)."""
        columns = dict(self.inputs)
        values = {}
        for name in form_fields:
            column = columns.get(name, name)
            if column in record.__table__.c:
                values[name] = getattr(record, column)
        return values


def _derive_diagnosis(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("the diagnosis")
    path.check_date("diagnosis.diagnosis_date", v["diagnosis_date"],
                    not_after=[(path.enrolment.enrolment_date, "enrolment")])
    entity = resolve_histotype(v["histotype"])
    differentiation = v.get("fnclcc_differentiation")
    if entity.fnclcc_differentiation is not None:
        # FNCLCC scores differentiation by histotype (Guillou 1997; Coindre 2006, table 2); where the
        # table gives one score for the entity it decides, where it gives several the pathologist does
        if differentiation is None:
            differentiation = entity.fnclcc_differentiation
        elif differentiation != entity.fnclcc_differentiation and not entity.fnclcc_note:
            raise InvalidValue("diagnosis.fnclcc_differentiation", f"FNCLCC scores {entity.name} "
                               f"{entity.fnclcc_differentiation} (Coindre 2006, table 2)", differentiation)
    grade = grading.fnclcc_grade(differentiation, v.get("mitoses_per_10hpf"), v.get("necrosis_percent"))
    stage = staging.ajcc8_stage(v["anatomic_site"], v["size_cm"], grade.grade, v["clinical_n"], v["clinical_m"],
                                t=v.get("t_category"))
    return {
        "diagnosis_date": v["diagnosis_date"], "histotype": entity.id, "icdo3": entity.icdo3,
        "anatomic_site": v["anatomic_site"], "site_detail": v.get("site_detail"), "depth": v.get("depth"),
        "size_cm": v["size_cm"], "fnclcc_differentiation": differentiation,
        "mitoses_per_10hpf": v.get("mitoses_per_10hpf"), "necrosis_percent": v.get("necrosis_percent"),
        "grade": str(grade.grade), "t_category_given": v.get("t_category"), "t_category": stage.t, "n_category": stage.n, "m_category": stage.m,
        "stage": stage.stage if entity.ajcc_staged else None, "ecog": v.get("ecog"),
    }


def resolve_histotype(value: str):
    """A catalogue id, or a name or synonym that names exactly one entity; else a clear refusal with suggestions."""
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
        raise InvalidValue("diagnosis.histotype", f"'{value}' is an obsolete term; candidates: "
                           f"{', '.join(result.obsolete[0].candidates)}", show_value=False)
    hint = f"; did you mean {', '.join(h.id for h in result.matches[:3])}?" if result.matches else \
        " (find it with: sarcotrial rules histotype NAME)"
    raise InvalidValue("diagnosis.histotype", f"not a WHO 2020 histotype of the catalogue{hint}", value)


def _derive_rt_course(study, session, path: Pathway, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("radiotherapy")
    rt = study.protocol.treatment.radiotherapy
    if v["planned_start"] < enrolment.enrolment_date:
        raise InvalidValue("rt_course.planned_start", f"must not be before enrolment ({enrolment.enrolment_date})",
                           v["planned_start"].isoformat())
    from sarcotrial.radiotherapy.calendar import closure_reason, next_treatment_day

    calendar = v.get("calendar") or "IT"
    closed = closure_reason(v["planned_start"], calendar, treatment_days=rt.treatment_days)
    if closed:
        nxt = next_treatment_day(v["planned_start"], calendar, treatment_days=rt.treatment_days)
        raise InvalidValue("rt_course.planned_start", f"{closed}; the next treatment day is {nxt:%a %d %b %Y}",
                           v["planned_start"].isoformat())
    if path.rt_start is not None and v["planned_start"] > path.rt_start:
        raise InvalidValue("rt_course.planned_start", f"is after the first delivered fraction ({path.rt_start})",
                           v["planned_start"].isoformat())
    return {
        "planned_start": v["planned_start"], "planned_fractions": rt.fractions, "calendar": v.get("calendar"),
        "concurrent_chemotherapy": v.get("concurrent_chemotherapy"),
        "prescription": {level.target: level.total_dose_gy for level in rt.dose_levels},
    }


def _derive_fraction(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("a radiotherapy fraction")
    course = path.course
    if course is None:
        raise InvalidValue("rt_fraction", "record the radiotherapy course before its fractions", show_value=False)
    rt = study.protocol.treatment.radiotherapy
    number, day, status = v["fraction_number"], v["fraction_date"], v["status"]
    if number > course.planned_fractions:
        raise InvalidValue("rt_fraction.fraction_number", f"the course has {course.planned_fractions} fractions", number)
    path.check_date("rt_fraction.fraction_date", day,
                    not_before=[(path.enrolment.enrolment_date, "enrolment")],
                    not_after=[(path.surgery.surgery_date if path.surgery else None, "surgery")])
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    if status == "delivered" and weekday not in rt.treatment_days:
        raise InvalidValue("rt_fraction.fraction_date", f"is a {day.strftime('%A')}, not a treatment day of the protocol",
                           day.isoformat())
    others = [f for f in course.fractions if f is not current]
    same_day = [f for f in others if f.fraction_number == number and f.fraction_date == day]
    if same_day:
        raise InvalidValue("rt_fraction.fraction_date", f"fraction {number} is already recorded as {same_day[0].status} "
                           "that day", day.isoformat())
    if status == "delivered" and course.calendar:
        from sarcotrial.radiotherapy.calendar import closure_reason

        closed = closure_reason(day, course.calendar, treatment_days=rt.treatment_days)
        if closed:
            raise InvalidValue("rt_fraction.fraction_date", f"{closed} in the course's {course.calendar} calendar "
                               "(if the department did treat that day, correct the course's calendar)", day.isoformat())
    if status == "delivered":
        if any(f.fraction_number == number and f.status == "delivered" for f in others):
            raise InvalidValue("rt_fraction.fraction_number", "that fraction is already recorded as delivered", number)
        if any(f.fraction_date == day and f.status == "delivered" for f in others):
            raise InvalidValue("rt_fraction.fraction_date", "another fraction was already delivered that day", day.isoformat())
    if status in ("missed", "rescheduled") and not v.get("reason"):
        raise InvalidValue("rt_fraction.reason", f"is required for a {status} fraction", show_value=False)
    doses = {level.target: level.dose_per_fraction_gy for level in rt.dose_levels} if status == "delivered" else {}
    return {"course_id": course.id, "fraction_number": number, "fraction_date": day, "status": status,
            "reason": v.get("reason"), "doses_gy": doses}


def _derive_surgery(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("surgery")
    path.check_date("surgery.surgery_date", v["surgery_date"],
                    not_before=[(path.enrolment.enrolment_date, "enrolment")])
    if path.rt_end is not None and v["surgery_date"] <= path.rt_end:
        raise InvalidValue("surgery.surgery_date", f"must be after the last radiotherapy fraction ({path.rt_end})",
                           v["surgery_date"].isoformat())
    return {k: v.get(k) for k in ("surgery_date", "procedure", "macroscopic_residual", "vascular_reconstruction",
                                  "nerve_resection")}


def _derive_pathology(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("pathology")
    if path.surgery is None:
        raise InvalidValue("pathology", "record the surgery before its pathology report", show_value=False)
    path.check_date("pathology.report_date", v["report_date"], not_before=[(path.surgery.surgery_date, "surgery")],
                    allow_after_death=True)
    parts = [v.get(k) for k in ("viable_percent", "necrosis_percent", "fibrosis_percent")]
    if sum(p or 0 for p in parts) > 100:
        raise InvalidValue("pathology.viable_percent", "stainable cells, necrosis and fibrosis add up to "
                           f"{sum(p or 0 for p in parts):g} %, more than 100 %", show_value=False)
    r_status = margins.residual_tumour(path.surgery.macroscopic_residual, v["microscopic_margin_positive"])
    margin = margins.resection_margin(r_status, v.get("closest_margin_mm"), v.get("closest_margin_tissue"),
                                      v.get("planned_positive_margin"))
    threshold = study.protocol.pathology.pcr_max_viable_percent
    return {
        "surgery_id": path.surgery.id, "report_date": v["report_date"],
        "microscopic_margin_positive": v["microscopic_margin_positive"], "r_status": margin.r_status,
        "closest_margin_mm": margin.closest_margin_mm, "closest_margin_tissue": margin.tissue_at_closest_margin,
        "planned_positive_margin": margin.planned_positive_on_critical_structure,
        "viable_percent": v["viable_percent"], "response_score": response.eortc_stbsg_response(v["viable_percent"]),
        "pcr": response.is_pcr(v["viable_percent"], threshold), "pcr_definition": response.describe_pcr(threshold),
        "necrosis_percent": v.get("necrosis_percent"), "fibrosis_percent": v.get("fibrosis_percent"),
    }


def _derive_adverse_event(study, session, path: Pathway, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("an adverse event")
    term = ctcae.validate_grade(v["term"], v["grade"])
    path.check_date("adverse_event.onset_date", v["onset_date"], not_before=[(enrolment.enrolment_date, "enrolment")])
    if v.get("resolution_date") is not None and v["resolution_date"] < v["onset_date"]:
        raise InvalidValue("adverse_event.resolution_date", f"must not be before the onset ({v['onset_date']})",
                           v["resolution_date"].isoformat())
    if v["grade"] == 5 and path.death is None:
        raise InvalidValue("adverse_event.grade", "grade 5 is death: record the death (outcome event) first", 5)
    rt_start = path.rt_start
    phase = None
    if rt_start is not None and v["onset_date"] >= rt_start:
        phase = toxicity.toxicity_phase(v["onset_date"], rt_start, study.protocol.toxicity.acute_window_days)
    return {"term": term.term, "meddra_code": term.meddra_code, "soc": term.soc, "grade": v["grade"],
            "ctcae_version": ctcae.CTCAE_VERSION, "onset_date": v["onset_date"],
            "resolution_date": v.get("resolution_date"), "serious": v.get("serious"),
            "attribution": v.get("attribution"), "phase": phase}


def _derive_wound(study, session, path: Pathway, v, current) -> dict[str, Any]:
    path.require_enrolled("a wound complication")
    if path.surgery is None:
        raise InvalidValue("wound_complication", "record the surgery before a wound complication", show_value=False)
    path.check_date("wound_complication.onset_date", v["onset_date"], not_before=[(path.surgery.surgery_date, "surgery")])
    flags = {k: v[k] for k in toxicity.WOUND_CRITERIA}
    wc = toxicity.WoundComplication(onset_date=v["onset_date"], **flags)
    window = study.protocol.toxicity.wound_complication_window_days
    major = toxicity.is_major_wound_complication(wc, path.surgery.surgery_date, window)
    return {"surgery_id": path.surgery.id, "onset_date": v["onset_date"], **flags, "major": major}


def _derive_follow_up(study, session, path: Pathway, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("a follow-up visit")
    path.check_date("follow_up.visit_date", v["visit_date"], not_before=[
        (enrolment.enrolment_date, "enrolment"), (path.surgery.surgery_date if path.surgery else None, "surgery")])
    return {"visit_date": v["visit_date"], "disease_status": v["disease_status"], "imaging": v.get("imaging"),
            "visit_id": None}


def _derive_outcome(study, session, path: Pathway, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("a relapse, metastasis or death")
    kind, day = v["event_type"], v["event_date"]
    if kind == "death":
        if not v.get("death_cause"):
            raise InvalidValue("outcome_event.death_cause", "is required when the event is a death", show_value=False)
        if path.death is not None and path.death is not current:
            raise InvalidValue("outcome_event.event_type", f"a death is already recorded ({path.death.event_date})", kind)
        later = session.scalar(select(func.max(OutcomeEvent.event_date)).where(
            OutcomeEvent.patient_id == path.patient.id, OutcomeEvent.event_type != "death"))
        last_visit = session.scalar(select(func.max(FollowUpVisit.visit_date)).where(
            FollowUpVisit.patient_id == path.patient.id))
        for other, label in ((later, "a recorded relapse or metastasis"), (last_visit, "a recorded follow-up visit")):
            if other is not None and day < other:
                raise InvalidValue("outcome_event.event_date", f"a death cannot precede {label} ({other})", day.isoformat())
    elif v.get("death_cause"):
        raise InvalidValue("outcome_event.death_cause", "applies to a death only", v["death_cause"])
    path.check_date("outcome_event.event_date", day, not_before=[(enrolment.enrolment_date, "enrolment")],
                    allow_after_death=kind == "death" and path.death is current)
    return {"event_type": kind, "event_date": day, "death_cause": v.get("death_cause"),
            "site_detail": v.get("site_detail")}


RECORDERS: dict[str, Recorder] = {r.form_id: r for r in (
    Recorder("diagnosis", Diagnosis, _derive_diagnosis, True,
             inputs=(("clinical_n", "n_category"), ("clinical_m", "m_category"), ("t_category", "t_category_given"))),
    Recorder("rt_course", RTCourse, _derive_rt_course, True),
    Recorder("rt_fraction", RTFraction, _derive_fraction, False),
    Recorder("surgery", Surgery, _derive_surgery, True),
    Recorder("pathology", Pathology, _derive_pathology, True),
    Recorder("adverse_event", AdverseEvent, _derive_adverse_event, False),
    Recorder("wound_complication", WoundComplication, _derive_wound, False),
    Recorder("follow_up", FollowUpVisit, _derive_follow_up, False),
    Recorder("outcome_event", OutcomeEvent, _derive_outcome, False),
)}


def _recorder(form_id: str) -> Recorder:
    if form_id not in RECORDERS:
        raise InvalidValue("form", f"corrections go through the clinical record forms ({', '.join(RECORDERS)})", form_id)
    return RECORDERS[form_id]


def _patient_column(model: type[StudyRecord]) -> bool:
    return "patient_id" in model.__table__.c


# --------------------------------------------------------------------------- the services
SERVICE_FORMS = ("referral", "screening")  # entered through pathway.register_patient and pathway.screen


def record(study: StudyDB, actor: Actor, subject_id: str, form_id: str, values: Mapping[str, Any],
           reason: str | None = None) -> StudyRecord:
    """Enter one form's data for a patient; returns the stored record.

    Forms with a recorder fill their clinical table; any other form of the protocol (a second
    protocol's quality-of-life questionnaire, say) is kept as a :class:`FormRecord`, as are the
    fields a protocol adds to a clinical form beyond what its table holds: nothing entered is lost.
    """
    if form_id in SERVICE_FORMS:
        raise InvalidValue("form", f"'{form_id}' is entered with 'sarcotrial patient "
                           f"{'register' if form_id == 'referral' else 'screen'}'", form_id)
    clean = validate_form(study.protocol, form_id, values)
    if form_id not in RECORDERS:
        return _record_generic(study, actor, subject_id, form_id, clean, reason)
    recorder = RECORDERS[form_id]
    with study.action(actor, reason) as session:
        patient = study.patient(session, subject_id)
        path = Pathway.load(session, patient)
        rt_start_before = path.rt_start
        if recorder.single and _existing(session, recorder, patient) is not None:
            raise InvalidValue(form_id, f"is already recorded for {patient.subject_id}; correct it instead "
                               "(sarcotrial correct)", show_value=False)
        columns = recorder.derive(study, session, path, clean, None)
        if _patient_column(recorder.model):
            columns["patient_id"] = patient.id
        row = recorder.model(**columns)
        session.add(row)
        extras = {k: v for k, v in clean.items() if k not in recorder.model.__table__.c}
        if extras:
            session.add(FormRecord(patient_id=patient.id, form_id=form_id, status="complete",
                                   data=form_json(extras)))
        session.flush()
        _after_record(study, session, path, recorder, row, rt_start_before)
        return row


def _record_generic(study: StudyDB, actor: Actor, subject_id: str, form_id: str, clean: dict[str, Any],
                    reason: str | None) -> StudyRecord:
    with study.action(actor, reason) as session:
        patient = study.patient(session, subject_id)
        path = Pathway.load(session, patient)
        for key, value in clean.items():
            if isinstance(value, dt.date):
                path.check_date(f"{form_id}.{key}", value, allow_after_death=True)
        sequence = (session.scalar(select(func.max(FormRecord.sequence)).where(
            FormRecord.patient_id == patient.id, FormRecord.form_id == form_id)) or 0) + 1
        row = FormRecord(patient_id=patient.id, form_id=form_id, sequence=sequence, status="complete",
                         data=form_json(clean))
        session.add(row)
        session.flush()
        return row


def correct(study: StudyDB, actor: Actor, subject_id: str, form_id: str, changes: Mapping[str, Any], reason: str,
            record_id: int | None = None) -> StudyRecord:
    """Change entered values of a record (a reason is required); derived values are recomputed."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "a reason is required to change data already entered", show_value=False)
    recorder = _recorder(form_id)
    form_fields = [f.id for f in study.protocol.form(form_id).fields]
    validate_form(study.protocol, form_id, changes, partial=True)  # names unknown fields and bad values first
    with study.action(actor, reason) as session:
        patient = study.patient(session, subject_id)
        row = _find(session, recorder, patient, record_id)
        path = Pathway.load(session, patient)
        rt_start_before = path.rt_start
        current = recorder.form_values(row, form_fields)
        clean = validate_form(study.protocol, form_id, {**current, **changes})
        columns = recorder.derive(study, session, path, clean, row)
        for key, value in columns.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
        session.flush()
        _after_record(study, session, Pathway.load(session, patient), recorder, row, rt_start_before)
        return row


def delete(study: StudyDB, actor: Actor, subject_id: str, form_id: str, reason: str, record_id: int | None = None) -> None:
    """Remove a record entered in error (a reason is required; the audit trail keeps its values)."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "a reason is required to delete data already entered", show_value=False)
    recorder = _recorder(form_id)
    with study.action(actor, reason) as session:
        patient = study.patient(session, subject_id)
        row = _find(session, recorder, patient, record_id)
        for model, label in DEPENDS_ON_ME.get(form_id, ()):
            column = "course_id" if model is RTFraction else "surgery_id"
            count = session.scalar(select(func.count(model.id)).where(getattr(model, column) == row.id))
            if count:
                raise InvalidValue(form_id, f"{patient.subject_id}'s {form_id.replace('_', ' ')} has {count} {label} "
                                   "recorded against it: delete or correct those first", show_value=False)
        session.delete(row)


# records that hang on another: deleting that one is refused while they exist (never a silent cascade)
DEPENDS_ON_ME = {
    "rt_course": ((RTFraction, "fraction(s)"),),
    "surgery": ((Pathology, "pathology report(s)"), (WoundComplication, "wound complication(s)")),
}

# a record whose derived values read another record: re-derived when that one changes
DEPENDENTS = {
    "surgery": ("pathology", "wound_complication"),   # R status (macroscopic residual); major (120 days of surgery)
}
# adverse events read only the first delivered fraction (acute / late): re-derived when it moves


def _first_delivered(session: Session, patient_id: int) -> dt.date | None:
    return session.scalar(select(func.min(RTFraction.fraction_date)).join(RTCourse).where(
        RTCourse.patient_id == patient_id, RTFraction.status == "delivered"))


def _rederive(study: StudyDB, session: Session, patient: Patient, recorder: Recorder) -> None:
    """Recompute the derived values of a patient's records of one form after a record they read changed."""
    session.flush()
    session.expire_all()  # collections loaded before this action's rows were added (a course's fractions)
    form_fields = [f.id for f in study.protocol.form(recorder.form_id).fields]
    path = Pathway.load(session, patient)
    model = recorder.model
    for row in session.scalars(select(model).where(model.patient_id == patient.id)).all():
        values = validate_form(study.protocol, recorder.form_id, recorder.form_values(row, form_fields))
        for key, value in recorder.derive(study, session, path, values, row).items():
            if getattr(row, key) != value:
                setattr(row, key, value)


def _existing(session: Session, recorder: Recorder, patient: Patient) -> StudyRecord | None:
    return session.scalars(select(recorder.model).where(recorder.model.patient_id == patient.id)).first()


def _find(session: Session, recorder: Recorder, patient: Patient, record_id: int | None) -> StudyRecord:
    model = recorder.model
    if model is RTFraction:
        query = select(RTFraction).join(RTCourse).where(RTCourse.patient_id == patient.id)
    else:
        query = select(model).where(model.patient_id == patient.id)
    if record_id is not None:
        query = query.where(model.id == record_id)
    rows = session.scalars(query).all()
    if not rows:
        raise InvalidValue("record", f"no {recorder.form_id} record"
                           + (f" #{record_id}" if record_id is not None else "") + f" for {patient.subject_id}",
                           show_value=False)
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows[:20])
        raise InvalidValue("record_id", f"{patient.subject_id} has several {recorder.form_id} records; name one ({ids})",
                           show_value=False)
    return rows[0]


def _after_record(study: StudyDB, session: Session, path: Pathway, recorder: Recorder, row: StudyRecord,
                  rt_start_before: dt.date | None) -> None:
    """Consequences the protocol attaches to a record: derived values elsewhere, status, protocol deviations."""
    patient = path.patient
    for dependent in DEPENDENTS.get(recorder.form_id, ()):
        _rederive(study, session, patient, RECORDERS[dependent])
    if recorder.form_id == "rt_fraction":
        session.flush()
        if _first_delivered(session, patient.id) != rt_start_before:
            _rederive(study, session, patient, RECORDERS["adverse_event"])
    if recorder.form_id in ("rt_fraction", "surgery") and path.course is not None:
        from sarcotrial.services.radiotherapy import record_deviations

        day = row.fraction_date if recorder.form_id == "rt_fraction" else row.surgery_date
        record_deviations(study, session, path.course, day)
    if recorder.form_id == "outcome_event" and row.event_type == "death":
        patient.status = "dead"
    if recorder.form_id in ("surgery", "rt_fraction"):
        _surgery_interval_deviation(study, session, Pathway.load(session, patient))
    if recorder.form_id == "surgery":
        existing = session.scalars(select(ProtocolDeviation).where(
            ProtocolDeviation.patient_id == patient.id, ProtocolDeviation.category == "amputation")).first()
        if row.procedure == "amputation" and existing is None:
            session.add(ProtocolDeviation(patient_id=patient.id, category="amputation", severity="major",
                                          description="amputation performed although the protocol excludes planned amputation",
                                          detected_on=row.surgery_date))
        elif row.procedure != "amputation" and existing is not None:
            session.delete(existing)


def _surgery_interval_deviation(study: StudyDB, session: Session, path: Pathway) -> None:
    """Surgery outside the protocol's window after the last fraction is a (minor) protocol deviation."""
    window = study.protocol.treatment.surgery
    existing = session.scalars(select(ProtocolDeviation).where(
        ProtocolDeviation.patient_id == path.patient.id, ProtocolDeviation.category == "surgery_interval")).first()
    description = None
    if path.surgery is not None and path.rt_end is not None:
        weeks = (path.surgery.surgery_date - path.rt_end).days / 7
        if not window.interval_after_rt_weeks_min <= weeks <= window.interval_after_rt_weeks_max:
            description = (f"surgery {weeks:.1f} weeks after the last fraction (protocol: "
                           f"{window.interval_after_rt_weeks_min} to {window.interval_after_rt_weeks_max} weeks)")
    if description and existing is None:
        session.add(ProtocolDeviation(patient_id=path.patient.id, category="surgery_interval", severity="minor",
                                      description=description, detected_on=path.surgery.surgery_date))
    elif description and existing.description != description:
        existing.description = description
    elif description is None and existing is not None:
        session.delete(existing)
