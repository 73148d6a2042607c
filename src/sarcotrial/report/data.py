"""What the study report says, computed from the study database (every number computed, none typed).

The report's sections read from here: the CONSORT flow, the baseline table, radiotherapy
compliance, the primary endpoint, the secondary endpoints, toxicity and accrual. Rendering (HTML,
PDF, figures) lives in the sibling modules and adds no number of its own.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field

from sarcotrial.domain import histology
from sarcotrial.services.endpoints import PatientEndpoints, ToxicityRow, derive_endpoints, toxicity_table
from sarcotrial.services.forms import CRF
from sarcotrial.services.radiotherapy import summarise_course
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.services.views import PatientRecord, patients


@dataclass(frozen=True)
class Consort:
    referred: int
    screened: int
    excluded: int
    exclusion_reasons: list[tuple[str, int]]
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
    missed: int
    rescheduled: int
    complete_courses: int
    ott_median: float | None
    ott_range: tuple[int, int] | None
    prolongation_median: float | None
    deviations: list[tuple[str, str, str, str]]  # subject, category, severity, description


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


def criterion_failure(kind: str, text: str) -> str:
    """How a failed criterion reads in a list of exclusions: an exclusion as it stands, an inclusion as not met."""
    return text if kind == "exclusion" else f"Not met: {text}"


def _pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f} %)" if n else f"{k}"


def gather(study: StudyDB, cutoff: dt.date | None = None, actor: Actor | None = None) -> ReportData:
    protocol = study.protocol
    texts = {c.id: c.text for c in protocol.eligibility.criteria}
    records = patients(study, actor, permission="report")
    referred = sum(bool(r.of("referral")) for r in records)
    latest = {r.subject_id: r.screenings[-1] for r in records if r.screenings}
    reasons: Counter = Counter()
    for sc in latest.values():
        if sc["decision"] == "ineligible":
            for c in sc["criteria"]:
                if c["result"] != "not_evaluable" and (c["result"] == "met") != (c["kind"] == "inclusion"):
                    reasons[criterion_failure(c["kind"], texts.get(c["id"], c["id"]))] += 1
    enrolled = sorted((r for r in records if r.enrolment_date is not None), key=lambda r: (r.enrolment_date, r.enrolment_sequence))
    summaries = {}
    for r in enrolled:
        course = r.first("rt_course")
        if course is not None:
            summaries[r.subject_id] = summarise_course(
                study, course.values, course.derived, [(f.values, f.derived) for f in r.of("rt_fraction")],
                closed=r.first("surgery") is not None)
    deviations = [(r.subject_id, d["category"], d["severity"], d["description"]) for r in records for d in r.deviations]
    baseline = _baseline(enrolled)
    by_sequence = sorted(enrolled, key=lambda r: r.enrolment_sequence or 0)
    endpoints = derive_endpoints(study, cutoff, records=by_sequence)
    source = "given" if cutoff else "the latest recorded contact"
    if cutoff is None and endpoints:
        cutoff = max(e.course.last_contact for e in endpoints)
    started = [x for x in summaries.values() if x.delivered > 0]
    otts = [x.overall_treatment_days for x in started if x.overall_treatment_days and x.delivered >= x.planned_fractions]
    prolong = [x.prolongation_days for x in started if x.prolongation_days is not None and x.delivered >= x.planned_fractions]
    compliance = Compliance(
        patients=len(started), fractions_delivered=sum(x.delivered for x in started),
        fractions_planned=sum(x.planned_fractions for x in started), missed=sum(x.missed for x in started),
        rescheduled=sum(x.rescheduled for x in started),
        complete_courses=sum(x.delivered >= x.planned_fractions for x in started),
        ott_median=statistics.median(otts) if otts else None, ott_range=(min(otts), max(otts)) if otts else None,
        prolongation_median=statistics.median(prolong) if prolong else None, deviations=deviations)
    operated = sum(e.course.surgery is not None for e in endpoints)
    consort = Consort(
        referred=referred, screened=len(latest), excluded=sum(sc["decision"] == "ineligible" for sc in latest.values()),
        exclusion_reasons=reasons.most_common(),
        not_evaluable=sum(sc["decision"] == "not_evaluable" for sc in latest.values()), enrolled=len(enrolled),
        started_rt=len(started), completed_rt=compliance.complete_courses, operated=operated,
        analysed_primary=sum(e.r0_resected is not None for e in endpoints),
        withdrawn=sum(r.status == "withdrawn" for r in enrolled),
        lost_to_follow_up=sum(r.status == "lost_to_follow_up" for r in enrolled),
        died=sum(r.death() is not None for r in enrolled), completed=sum(r.status == "completed" for r in enrolled))
    return ReportData(
        acronym=protocol.acronym, title=protocol.identification.title, protocol_version=protocol.version,
        synthetic=study.synthetic, generated_at=dt.datetime.now(dt.timezone.utc),
        target_accrual=protocol.identification.design.target_accrual, consort=consort, baseline=baseline,
        compliance=compliance, endpoints=endpoints, toxicity=toxicity_table(study, records=records),
        accrual_dates=[r.enrolment_date for r in enrolled], cutoff=cutoff, cutoff_source=source)


def _baseline(enrolled: list[PatientRecord]) -> list[BaselineRow]:
    n = len(enrolled)
    rows = [BaselineRow("Patients", str(n))]
    if not n:
        return rows
    ages = [r.enrolment_date.year - r.year_of_birth for r in enrolled]
    rows.append(BaselineRow("Age at enrolment, years: median (range)", f"{statistics.median(ages):.0f} ({min(ages)}-{max(ages)})"))
    sexes = Counter(r.sex for r in enrolled)
    rows.append(BaselineRow("Sex", ""))
    rows += [BaselineRow(k.capitalize(), _pct(v, n), 1) for k, v in sorted(sexes.items())]
    known = [_Diagnosis(d) for d in (r.first("diagnosis") for r in enrolled) if d is not None]
    if not known:
        return rows
    rows.append(BaselineRow("Site", ""))
    site_labels = {"extremity": "Extremity", "trunk": "Trunk (superficial)", "retroperitoneum": "Retroperitoneum",
                   "head-neck": "Head and neck", "visceral": "Visceral"}
    for site, count in Counter(d.anatomic_site for d in known).most_common():
        rows.append(BaselineRow(site_labels.get(site, site), _pct(count, n), 1))
    rows.append(BaselineRow("Histotype (WHO 2020)", ""))
    for hid, count in Counter(d.histotype for d in known).most_common():
        try:
            name = histology.histotype(hid).name
        except Exception:
            name = hid
        rows.append(BaselineRow(name, _pct(count, n), 1))
    rows.append(BaselineRow("FNCLCC grade", ""))
    for grade, count in sorted(Counter(d.grade for d in known).items()):
        rows.append(BaselineRow(f"G{grade}", _pct(count, n), 1))
    sizes = [d.size_cm for d in known if d.size_cm is not None]
    if sizes:
        rows.append(BaselineRow("Size, cm: median (range)", f"{statistics.median(sizes):.1f} ({min(sizes):.1f}-{max(sizes):.1f})"))
    rows.append(BaselineRow("Depth", ""))
    for depth, count in Counter(d.depth or "not recorded" for d in known).most_common():
        rows.append(BaselineRow(depth.capitalize(), _pct(count, n), 1))
    rows.append(BaselineRow("AJCC 8th edition stage", ""))
    order = ["IA", "IB", "II", "IIIA", "IIIB", "IV"]
    stages = Counter(d.stage or "no stage group (head and neck, visceral)" for d in known)
    for stage in sorted(stages, key=lambda x: (order.index(x) if x in order else 99, x)):
        rows.append(BaselineRow(stage, _pct(stages[stage], n), 1))
    return rows


class _Diagnosis:
    """A diagnosis form read for Table 1: entered values and derived grade and stage by the protocol's names."""

    def __init__(self, crf: CRF):
        self.anatomic_site = crf.values.get("anatomic_site") or crf.missing.get("anatomic_site") or "not recorded"
        self.histotype = crf.values.get("histotype") or crf.missing.get("histotype") or "not recorded"
        self.grade = crf.derived.get("grade") or "X"
        self.size_cm = crf.values.get("size_cm")
        self.depth = crf.values.get("depth") or crf.missing.get("depth")
        self.stage = crf.derived.get("stage")
