"""What the study report says, computed from the study database (every number computed, none typed).

The report's sections read from here: the CONSORT flow, the baseline table, radiotherapy
compliance, the primary endpoint, the secondary endpoints, toxicity and accrual. Rendering (HTML,
PDF, figures) lives in the sibling modules and adds no number of its own.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field, replace

from sarcotrial.domain import histology
from sarcotrial.services.endpoints import PatientEndpoints, Recist, ToxicityRow, endpoints_of, recist_of, toxicity_table
from sarcotrial.services.baseline import (  # noqa: F401  (Table 1 reads them here)
    GRADE_LABELS,
    GRADE_ORDER,
    NO_STAGE_GROUP,
    SITE_LABELS,
    STAGE_ORDER,
    fnclcc_applies,
)
from sarcotrial.services.baseline import BaselineDiagnosis as _Diagnosis
from sarcotrial.services.forms import CRF
from sarcotrial.services.radiotherapy import summarise_course
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.services.views import PatientRecord, patients


@dataclass(frozen=True)
class Consort:
    """The CONSORT 2010 flow of a single-arm study, in patients (``screenings`` counts screenings).

    A patient screened more than once counts once, by the latest screening; ``inclusion_not_met`` and
    ``exclusion_met`` give, per criterion, the patients it excluded (a patient may fail several).
    Follow-up ended by death, loss or withdrawal is counted up to the data cut-off, each patient once
    (death first).
    """

    referred: int
    screened: int
    excluded: int
    inclusion_not_met: list[tuple[str, int]]
    exclusion_met: list[tuple[str, int]]
    not_evaluable: int
    enrolled: int
    started_rt: int
    completed_rt: int
    operated: int
    analysed_primary: int
    withdrawn: int = 0
    lost_to_follow_up: int = 0
    died: int = 0
    completed: int = 0
    screenings: int = 0
    eligible_not_enrolled: int = 0
    failed_inclusion: int = 0  # patients who failed at least one inclusion criterion
    failed_exclusion: int = 0  # patients who met at least one exclusion criterion

    @property
    def screened_again(self) -> int:
        """Screenings beyond each patient's first."""
        return max(0, self.screenings - self.screened)

    @property
    def in_follow_up(self) -> int:
        """Enrolled patients whose follow-up had not ended at the cut-off."""
        return self.enrolled - self.died - self.lost_to_follow_up - self.withdrawn - self.completed


@dataclass(frozen=True)
class BaselineRow:
    label: str
    value: str
    indent: int = 0


@dataclass(frozen=True)
class Compliance:
    patients: int
    fractions_delivered: int
    fractions_planned: int
    missed: int  # fractions recorded as missed
    rescheduled: int
    complete_courses: int
    ott_median: float | None
    ott_range: tuple[int, int] | None
    prolongation_median: float | None
    deviations: list[tuple[str, str, str, str]]  # subject, category, severity, description
    made_up: int = 0  # of the missed fractions, those delivered later under the same number (:func:`sarcotrial.radiotherapy.delivery.made_up`)


@dataclass(frozen=True)
class Specimen:
    """A resected patient's specimen as Tables of margins and response read it (``None``: not recorded)."""

    subject_id: str
    r_status: str | None  # UICC residual tumour: R0, R1, R2, RX
    closest_margin_mm: float | None
    margin_tissue: str | None  # the protocol's code (codelist margin_tissue)
    planned_positive: bool | None  # a positive margin planned on a critical structure (Toronto)
    response_score: str | None  # EORTC-STBSG tier A-E
    procedure: str | None


@dataclass(frozen=True)
class SeriousEvent:
    """A serious adverse event as recorded (term as NCI names it)."""

    subject_id: str
    term: str
    soc: str | None
    grade: int | None
    seriousness: str | None  # the protocol's code (codelist seriousness)
    attribution: str | None
    onset: dt.date | None


@dataclass
class ReportData:
    acronym: str
    title: str
    protocol_version: str
    synthetic: bool
    generated_at: dt.datetime
    target_accrual: int
    consort: Consort
    baseline: list[BaselineRow]
    compliance: Compliance
    endpoints: list[PatientEndpoints]
    toxicity: list[ToxicityRow]
    accrual_dates: list[dt.date]
    cutoff: dt.date | None = None
    cutoff_source: str = ""
    extras: dict = field(default_factory=dict)
    specimens: list[Specimen] = field(default_factory=list)  # resected patients, by enrolment
    serious_events: list[SeriousEvent] = field(default_factory=list)
    accrual_start: dt.date | None = None  # the first screening by the cut-off: day 0 of the accrual forecast
    records: list[PatientRecord] = field(default_factory=list)  # the enrolled patients as of the cut-off, by sequence
    #: each enrolled patient's RECIST 1.1 course (``services.endpoints.recist_of``), computed once for the endpoints
    #: and the comparative sections; empty without a response section
    recist: dict[str, Recist] = field(default_factory=dict)




def _pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f} %)" if n else f"{k}"


def gather(study: StudyDB, cutoff: dt.date | None = None, actor: Actor | None = None) -> ReportData:
    protocol = study.protocol
    texts = {c.id: c.text for c in protocol.eligibility.criteria}
    records = _as_of(protocol, patients(study, actor, permission="report"), cutoff)
    referred = sum(bool(r.of("referral")) for r in records)
    latest = {r.subject_id: r.screenings[-1] for r in records if r.screenings}
    failed: dict[str, Counter] = {"inclusion": Counter(), "exclusion": Counter()}
    failing: dict[str, int] = {"inclusion": 0, "exclusion": 0}
    for sc in latest.values():
        if sc["decision"] == "ineligible":
            kinds = set()
            for c in sc["criteria"]:
                if c["result"] != "not_evaluable" and (c["result"] == "met") != (c["kind"] == "inclusion"):
                    failed[c["kind"]][texts.get(c["id"], c["id"])] += 1
                    kinds.add(c["kind"])
            for kind in kinds:
                failing[kind] += 1
    # a patient enrolled after the data cut-off is not in the report (their times from enrolment would be negative)
    enrolled = sorted((r for r in records if r.enrolment_date is not None and (cutoff is None or r.enrolment_date <= cutoff)),
                      key=lambda r: (r.enrolment_date, r.enrolment_sequence))
    summaries = {}
    for r in enrolled:
        course = r.first("rt_course")
        if course is not None:
            summaries[r.subject_id] = summarise_course(
                study, course.values, course.derived, [(f.values, f.derived) for f in r.of("rt_fraction")],
                closed=r.first("surgery") is not None)
    deviations = [(r.subject_id, d["category"], d["severity"], d["description"]) for r in enrolled for d in r.deviations]
    baseline = _baseline(enrolled, protocol)
    by_sequence = sorted(enrolled, key=lambda r: r.enrolment_sequence or 0)
    recist = {r.subject_id: recist_of(protocol, r) for r in by_sequence} \
        if getattr(protocol, "response", None) is not None else {}
    endpoints = [endpoints_of(protocol, r, cutoff, recist.get(r.subject_id)) for r in by_sequence]
    source = "given" if cutoff else "the latest recorded contact"
    given_cutoff = cutoff
    if cutoff is None and endpoints:
        cutoff = max(e.course.last_contact for e in endpoints)
    started = [x for x in summaries.values() if x.delivered > 0]
    otts = [x.overall_treatment_days for x in started if x.overall_treatment_days and x.delivered >= x.planned_fractions]
    prolong = [x.prolongation_days for x in started if x.prolongation_days is not None and x.delivered >= x.planned_fractions]
    compliance = Compliance(
        patients=len(started), fractions_delivered=sum(x.delivered for x in started),
        fractions_planned=sum(x.planned_fractions for x in started), missed=sum(x.missed for x in started),
        rescheduled=sum(x.rescheduled for x in started),
        made_up=sum(x.made_up for x in started),
        complete_courses=sum(x.delivered >= x.planned_fractions for x in started),
        ott_median=statistics.median(otts) if otts else None, ott_range=(min(otts), max(otts)) if otts else None,
        prolongation_median=statistics.median(prolong) if prolong else None, deviations=deviations)
    operated = sum(e.course.surgery is not None for e in endpoints)
    enrolled_ids = {r.subject_id for r in enrolled}
    consort = Consort(
        referred=referred, screened=len(latest), excluded=sum(sc["decision"] == "ineligible" for sc in latest.values()),
        inclusion_not_met=failed["inclusion"].most_common(), exclusion_met=failed["exclusion"].most_common(),
        failed_inclusion=failing["inclusion"], failed_exclusion=failing["exclusion"],
        screenings=sum(len(r.screenings) for r in records),
        eligible_not_enrolled=sum(sc["decision"] == "eligible" and sid not in enrolled_ids for sid, sc in latest.items()),
        not_evaluable=sum(sc["decision"] == "not_evaluable" for sc in latest.values()), enrolled=len(enrolled),
        started_rt=len(started), completed_rt=compliance.complete_courses, operated=operated,
        analysed_primary=sum(e.r0_resected is not None for e in endpoints),
        **_follow_up_ended(protocol, enrolled, endpoints, given_cutoff))
    return ReportData(
        acronym=protocol.acronym, title=protocol.identification.title, protocol_version=protocol.version,
        synthetic=study.synthetic, generated_at=dt.datetime.now(dt.timezone.utc),
        target_accrual=protocol.identification.design.target_accrual, consort=consort, baseline=baseline,
        compliance=compliance, endpoints=endpoints, toxicity=toxicity_table(study, records=by_sequence),
        accrual_dates=[r.enrolment_date for r in enrolled], cutoff=cutoff, cutoff_source=source,
        specimens=_specimens(by_sequence), serious_events=_serious_events(by_sequence, cutoff),
        accrual_start=min((sc["date"] for r in records for sc in r.screenings if isinstance(sc.get("date"), dt.date)),
                          default=None),
        records=by_sequence, recist=recist)


def _follow_up_ended(protocol, enrolled: list[PatientRecord], endpoints: list[PatientEndpoints],
                     cutoff: dt.date | None) -> dict[str, int]:
    """Enrolled patients whose follow-up ended by the cut-off: died (the outcome form's date of death),
    withdrawn from follow-up or consent, lost to follow-up or completed (the patient's status, dated by the
    withdrawal or end-of-study form); each patient once, death first."""
    dead = {e.course.subject_id for e in endpoints
            if e.course.death is not None and (cutoff is None or e.course.death <= cutoff)}
    counts = {"died": len(dead), "withdrawn": 0, "lost_to_follow_up": 0, "completed": 0}
    for r in enrolled:
        if r.subject_id in dead or r.status not in counts:
            continue
        left = _left_follow_up_on(protocol, r)  # with a cut-off, only a status whose form is dated by then counts
        if cutoff is None or (left is not None and left <= cutoff):
            counts[r.status] += 1
    return counts


def _left_follow_up_on(protocol, r: PatientRecord) -> dt.date | None:
    """The earliest date of the forms that end a patient's follow-up (withdrawal, end of study)."""
    dates = []
    if protocol.withdrawal is not None:
        w = protocol.withdrawal
        dates += [c.values.get(w.date_field) for c in r.of(w.form) if c.values.get(w.kind_field) in w.ends_follow_up]
    if protocol.end_of_study is not None:
        dates += [c.values.get(protocol.end_of_study.date_field) for c in r.of(protocol.end_of_study.form)]
    dates = [d for d in dates if isinstance(d, dt.date)]
    return min(dates) if dates else None


def _as_of(protocol, records: list[PatientRecord], cutoff: dt.date | None) -> list[PatientRecord]:
    """The patients as they stood at the data cut-off: a form dated after it (by its first date field: the
    referral's, the fraction's, the surgery's, the adverse event's onset...) and a screening after it are left
    out, so no table or flow counts what happened later."""
    if cutoff is None:
        return records
    dated = {f.id: next((x.id for x in f.fields if x.type == "date"), None) for f in protocol.forms}

    def after(crf: CRF) -> bool:
        day = crf.values.get(dated.get(crf.form_id) or "")
        return isinstance(day, dt.date) and day > cutoff

    return [replace(r, forms={form: [c for c in crfs if not after(c)] for form, crfs in r.forms.items()},
                    screenings=[sc for sc in r.screenings if not (isinstance(sc.get("date"), dt.date) and sc["date"] > cutoff)],
                    deviations=[d for d in r.deviations
                                if not (isinstance(d.get("detected_on"), dt.date) and d["detected_on"] > cutoff)])
            for r in records]


def _specimens(enrolled: list[PatientRecord]) -> list[Specimen]:
    out = []
    for r in enrolled:
        surgery, pathology = r.first("surgery"), r.first("pathology")
        if surgery is None:
            continue
        values = pathology.values if pathology else {}
        derived = pathology.derived if pathology else {}
        out.append(Specimen(r.subject_id, derived.get("r_status"), values.get("closest_margin_mm"),
                            values.get("closest_margin_tissue"), values.get("planned_positive_margin"),
                            derived.get("response_score"), surgery.values.get("procedure")))
    return out


def _serious_events(enrolled: list[PatientRecord], cutoff: dt.date | None) -> list[SeriousEvent]:
    return [SeriousEvent(r.subject_id, ae.values.get("term") or "term not recorded", ae.derived.get("soc"),
                         ae.values.get("grade"), ae.values.get("seriousness"), ae.values.get("attribution"),
                         ae.values.get("onset_date"))
            for r in enrolled for ae in r.of("adverse_event") if ae.values.get("serious")]


NOT_RECORDED = "Not recorded"


def _baseline(enrolled: list[PatientRecord], protocol=None) -> list[BaselineRow]:
    """Table 1: every characteristic over all enrolled patients, with a "Not recorded" row wherever a
    value is absent or coded missing (so each group adds up to n)."""
    n = len(enrolled)
    rows = [BaselineRow("Patients", str(n))]
    if not n:
        return rows

    def group(title: str, values: list, order=None, label=lambda v: str(v)) -> None:
        counts = Counter(v for v in values if v is not None)
        missing = sum(v is None for v in values)
        rows.append(BaselineRow(title, ""))
        keys = sorted(counts, key=order) if order else [k for k, _ in counts.most_common()]
        rows.extend(BaselineRow(label(k), _pct(counts[k], n), 1) for k in keys)
        if missing:
            rows.append(BaselineRow(NOT_RECORDED, _pct(missing, n), 1))

    def median_range(title: str, values: list, fmt: str) -> None:
        known = [v for v in values if v is not None]
        if known:
            rows.append(BaselineRow(title, f"{statistics.median(known):{fmt}} ({min(known):{fmt}}\u2013{max(known):{fmt}})"))
        else:
            rows.append(BaselineRow(title, "\u2013"))
        if len(known) < len(values):
            rows.append(BaselineRow(NOT_RECORDED, _pct(len(values) - len(known), n), 1))

    diagnoses = [_Diagnosis(r.first("diagnosis")) for r in enrolled]
    median_range("Age at enrolment, years: median (range)", [r.enrolment_date.year - r.year_of_birth for r in enrolled], ".0f")
    group("Sex", [r.sex for r in enrolled], label=lambda v: v.capitalize())
    group("ECOG performance status", [d.ecog for d in diagnoses], order=lambda v: v)
    screening = [r.first("screening") for r in enrolled]
    group("Presentation", [_value(c, "disease_status") for c in screening], label=lambda v: _code_label(protocol, "disease_status", v))
    group("Anatomic site", [d.anatomic_site for d in diagnoses], label=lambda v: SITE_LABELS.get(v, v))
    group("Depth relative to the superficial fascia", [d.depth for d in diagnoses], label=lambda v: str(v).capitalize())
    median_range("Largest tumour dimension, cm: median (range)", [d.size_cm for d in diagnoses], ".1f")
    group("Histotype (WHO 2020)", [d.histotype for d in diagnoses], label=_histotype_name)
    group("FNCLCC grade (pre-treatment biopsy)", [d.grade for d in diagnoses], order=lambda v: GRADE_ORDER.index(v),
          label=GRADE_LABELS.get)
    group("AJCC 8th edition stage", [d.stage for d in diagnoses],
          order=lambda v: (STAGE_ORDER.index(v) if v in STAGE_ORDER else 99, v))
    courses = [r.first("rt_course") for r in enrolled]
    group("Concurrent anthracycline-based chemotherapy", [_value(c, "concurrent_chemotherapy") for c in courses],
          order=lambda v: not v, label=lambda v: "Yes" if v else "No")
    return rows


def _value(crf: CRF | None, name: str):
    """An entered value; ``None`` when the form or the value is absent or coded missing."""
    return None if crf is None else crf.values.get(name)


def _code_label(protocol, codelist: str, code) -> str:
    if protocol is not None:
        for item in protocol.codelists.get(codelist, []):
            if item.code == code:
                return item.label
    return str(code).replace("_", " ").capitalize()


def _histotype_name(hid: str) -> str:
    try:
        return histology.histotype(hid).name
    except Exception:
        return hid


