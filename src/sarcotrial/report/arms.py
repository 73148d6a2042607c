"""The study report's comparative sections for a protocol whose patients are randomised between arms.

Standards implemented, each with its source:

- the flow of a two-arm randomised trial: CONSORT 2010 (Schulz KF, Altman DG, Moher D. CONSORT 2010
  Statement. BMJ 2010;340:c332, flow diagram): assessed for eligibility, excluded with reasons, randomised,
  allocated to each arm, received the allocated intervention, discontinued with reasons, lost to follow-up,
  analysed;
- the primary comparison of a time-to-event endpoint: Kaplan-Meier curves by arm with numbers at risk, the
  median and its confidence interval (Brookmeyer and Crowley, R's rule), the Cox hazard ratio experimental
  vs control (Efron ties, R's ``coxph``), the log-rank test unstratified and stratified by the protocol's
  ``stratified_by`` factors at the levels used at allocation (ICH E9 section 5.7: the analysis reflects the
  stratification of the randomisation), and the events observed against those Schoenfeld's formula needs
  (Schoenfeld DA. Biometrics 1983;39:499-503) for the protocol's hazard ratio, alpha and power;
- objective response by RECIST 1.1 (Eisenhauer EA et al. Eur J Cancer 2009;45:228-247): the best overall
  response unconfirmed and confirmed (section 4.4, Table 3) by arm, the rates with exact Clopper-Pearson
  intervals (Biometrika 1934;26:404-413), and the waterfall plot of each patient's best percentage change
  of the sum of target diameters from baseline (the smallest post-baseline sum; +20 % and -30 % marked, the
  thresholds of section 4.3.1);
- systemic therapy by arm: cycles given, relative dose intensity (Hryniuk W, Bush H. J Clin Oncol
  1984;2:1281-1288), reductions and delays with their reasons, the cumulative doxorubicin-equivalent dose
  against the protocol's limit (:func:`sarcotrial.services.systemic_entry.course_summary`);
- toxicity by arm: the worst CTCAE v5.0 grade per patient and term, any grade and grade 3 or more, among
  the patients of each arm who received any study treatment;
- stratification errors (a factor's level used at allocation differing from its value now), listed as
  the allocation's read side gives them, the analysis keeping the strata used.

Every number is computed by :mod:`sarcotrial.outcomes` (Kaplan-Meier, Cox, log-rank, Clopper-Pearson,
Schoenfeld) and the services' read side; what is here selects patients by arm and lays the results out,
which no library does for this study's own forms. The figures are drawn as the single-arm report's are
(:mod:`sarcotrial.report.figures`).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from sarcotrial.outcomes import binomial
from sarcotrial.publishing.document import Figure, Section, Table
from sarcotrial.report import figures
from sarcotrial.report.data import NOT_RECORDED, ReportData
from sarcotrial.report.figures import COLOURS, plt
from sarcotrial.report.words import count
from sarcotrial.services.endpoints import PatientEndpoints, ResponseRow
from sarcotrial.services.randomisation import factor_labels
from sarcotrial.services.systemic_entry import reason_labels
from sarcotrial.services.views import PatientRecord

DASH = "\u2013"
RESPONSES = ("CR", "PR", "SD", "PD", "NE")
RESPONSE_WORDS = {"CR": "Complete response (CR)", "PR": "Partial response (PR)", "SD": "Stable disease (SD)",
                  "PD": "Progressive disease (PD)", "NE": "Not evaluable (NE)"}
#: RECIST 1.1 section 4.3.1: PR at least 30 % below the baseline sum; PD at least 20 % above the nadir
PR_THRESHOLD, PD_THRESHOLD = -30.0, 20.0


def comparative(protocol) -> bool:
    """Whether the report compares arms: the protocol declares arms and its primary analysis is a comparison."""
    return bool(getattr(protocol, "arms", None)) and protocol.statistics.primary.kind == "comparison"


# ---------------------------------------------------------------------------------------------
# the data, by arm
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArmPatient:
    """One randomised patient as the comparative sections read them."""

    subject_id: str
    arm: str
    strata: dict[str, str]
    record: PatientRecord
    endpoints: PatientEndpoints
    response: ResponseRow | None = None
    best_change: float | None = None  # % change of the sum of target diameters, best post-baseline
    course: Any = None  # domain.systemic.CourseSummary, None without systemic therapy or a cycle
    course_problem: str | None = None  # why the course could not be summarised


@dataclass(frozen=True)
class Stopped:
    """Why a treated patient's treatment ended by the cut-off (CONSORT: discontinued, with reasons)."""

    completed: int = 0
    reasons: tuple[tuple[str, int], ...] = ()
    ongoing: int = 0


@dataclass
class ArmsData:
    arms: list[Any]  # protocol.arms, the control arm first
    control: str
    patients: list[ArmPatient]
    errors: list[Any] = field(default_factory=list)  # services.randomisation.AllocationView with errors
    unallocated: list[str] = field(default_factory=list)  # enrolled without an allocation

    def of(self, arm: str) -> list[ArmPatient]:
        return [p for p in self.patients if p.arm == arm]

    def name(self, arm: str) -> str:
        return next((a.name for a in self.arms if a.id == arm), arm)

    @property
    def experimental(self) -> list[Any]:
        return [a for a in self.arms if a.id != self.control]


def gather_arms(study, data: ReportData, actor=None) -> ArmsData:
    """The randomised patients of the report (enrolled by the cut-off) with their arm, endpoints, best response
    and systemic course; the allocations' stratification errors."""
    from sarcotrial.services.endpoints import response_row
    from sarcotrial.services.randomisation import allocations

    protocol = study.protocol
    control = protocol.statistics.primary.control_arm
    arms = sorted(protocol.arms, key=lambda a: a.id != control)
    views = {v.subject_id: v for v in allocations(study, actor)}
    records = {r.subject_id: r for r in data.records}
    out: list[ArmPatient] = []
    unallocated = []
    for e in data.endpoints:
        sid = e.course.subject_id
        view = views.get(sid)
        if view is None:
            unallocated.append(sid)
            continue
        record = records[sid]
        recist = data.recist.get(sid)  # computed once by the report's data; None without a response section
        # a course that cannot be evaluated has no time point, so no waterfall bar (its ORR row says NE)
        response, change = (response_row(record, recist), best_change(recist[0])) if recist is not None else (None, None)
        course, problem = _course(protocol, record, view.arm)
        out.append(ArmPatient(sid, view.arm, dict(view.strata), record, e, response, change, course, problem))
    reported = {p.subject_id for p in out}
    errors = [v for v in views.values() if v.stratification_errors and v.subject_id in reported]
    return ArmsData(arms, control, out, errors, unallocated)


def best_change(points) -> float | None:
    """The best (smallest) percentage change of the sum of target diameters from baseline over the post-baseline
    assessments whose sum is known; ``None`` without a baseline sum or a post-baseline one."""
    base = next((tp.sum_mm for tp in points if tp.baseline), None)
    after = [float(tp.sum_mm) for tp in points if not tp.baseline and tp.sum_mm is not None]
    if base is None or float(base) <= 0 or not after:
        return None
    return 100.0 * (min(after) - float(base)) / float(base)


def _course(protocol, record: PatientRecord, arm: str):
    from sarcotrial.errors import InvalidValue
    from sarcotrial.services.systemic_entry import administration_of, course_summary

    spec = administration_of(protocol)
    if spec is None or not record.of(spec.form):
        return None, None
    try:
        return course_summary(protocol, record, arm), None
    except InvalidValue as err:
        return None, f"{err.field}: {err.rule}"


# ---------------------------------------------------------------------------------------------
# treatment received and stopped
# ---------------------------------------------------------------------------------------------
def received(protocol, p: ArmPatient) -> bool:
    """Whether the patient received any of the allocated intervention: a cycle given (systemic therapy), else a
    fraction delivered (radiotherapy)."""
    if protocol.treatment.systemic is not None and getattr(protocol.treatment.systemic, "administration", None):
        return p.course is not None and p.course.cycles_given > 0
    return bool(p.record.delivered_dates())


def _max_cycles(protocol, arm: str) -> int | None:
    from sarcotrial.services.systemic_entry import regimen_for

    try:
        return regimen_for(protocol, arm).max_cycles
    except Exception:
        return None


def stopped(protocol, patients: list[ArmPatient], cutoff: dt.date | None) -> Stopped:
    """The treated patients' treatment at the cut-off: completed (every cycle the regimen allows), discontinued
    (withdrawn from treatment, progression, death, else no reason recorded) or still on treatment (a cycle due
    within two cycle lengths of the cut-off)."""
    from sarcotrial.services.systemic_entry import regimen_for

    completed = ongoing = 0
    reasons: Counter = Counter()
    withdrawal = protocol.withdrawal
    for p in patients:
        if p.course is None or not p.course.cycles_given:
            continue
        most = _max_cycles(protocol, p.arm)
        if most is not None and p.course.cycles_given >= most:
            completed += 1
            continue
        last = p.course.cycles[-1].start
        withdrawn = withdrawal is not None and any(
            c.values.get(withdrawal.kind_field) is not None for c in p.record.of(withdrawal.form))
        course = p.endpoints.course
        if withdrawn:
            reasons["Withdrawn from treatment or consent"] += 1
        elif course.progressions and course.progressions[0] <= (cutoff or course.progressions[0]):
            reasons["Disease progression"] += 1
        elif course.death is not None:
            reasons["Death"] += 1
        else:
            try:
                length = regimen_for(protocol, p.arm).cycle_days
            except Exception:
                length = 21
            if cutoff is None or (cutoff - last).days <= 2 * length:
                ongoing += 1
            else:
                reasons["Stopped, no reason recorded"] += 1
    return Stopped(completed, tuple(reasons.most_common()), ongoing)


# ---------------------------------------------------------------------------------------------
# CONSORT with arms
# ---------------------------------------------------------------------------------------------
_COL_W = 3.25
_LEFT_X, _RIGHT_X = 0.05, 3.55
_WIDTH = _RIGHT_X + _COL_W + 0.05
_STAGE_PT = 8.0


def consort_arm_boxes(data: ReportData, arms: ArmsData, protocol) -> dict[str, Any]:
    """The texts of the flow's boxes: the enrolment column (assessed, excluded with reasons, randomised) and, per
    arm, allocation, follow-up and analysis."""
    from sarcotrial.report.figures import _main, _n, _n_is, _side, exclusion_groups

    c = data.consort
    groups = exclusion_groups(c, "randomised")
    not_randomised = max(0, c.screened - len(arms.patients))
    assessed = f"Assessed for eligibility ({_n_is(c.screened)})"
    if c.screenings > c.screened:
        assessed += f"\n{_n(c.screenings, 'screening')} of {_n(c.screened, 'patient')} ({c.screened_again} repeated)"
    per_arm = {}
    for arm in arms.arms:
        mine = arms.of(arm.id)
        treated = [p for p in mine if received(protocol, p)]
        stop = stopped(protocol, treated, data.cutoff)
        discontinued = sum(n for _, n in stop.reasons)
        ended = _follow_up_ended(protocol, mine, data.cutoff)
        allocation = (f"Allocated to {arm.name} ({_n_is(len(mine))})\n"
                      f"received the allocated intervention ({_n_is(len(treated))})\n"
                      f"did not receive it ({_n_is(len(mine) - len(treated))})")
        follow = [("", [f"Completed the planned treatment ({_n_is(stop.completed)})",
                        f"On treatment at the cut-off ({_n_is(stop.ongoing)})"])]
        follow.append((f"Discontinued the intervention ({_n_is(discontinued)})",
                       [f"{why} ({n})" for why, n in stop.reasons]))
        follow.append((f"Follow-up ended ({_n_is(sum(ended.values()))})",
                       [f"{why} ({n})" for why, n in ended.items()]))
        analysed = (f"Analysed ({_n_is(len(mine))})\n"
                    f"intention to treat, all allocated\nexcluded from the analysis ({_n_is(0)})")
        per_arm[arm.id] = [_main(allocation), _side("Treatment and follow-up", follow), _main(analysed)]
    return {"assessed": _main(assessed), "excluded": _side(f"Excluded ({_n_is(not_randomised)})", groups),
            "randomised": _main(f"Randomised ({_n_is(len(arms.patients))})", bold=True), "arms": per_arm}


def _follow_up_ended(protocol, patients: list[ArmPatient], cutoff: dt.date | None) -> dict[str, int]:
    """Died, lost to follow-up, withdrawn from follow-up or consent, completed the study: each patient once, death
    first (the single-arm flow's rule)."""
    from sarcotrial.report.data import _left_follow_up_on

    out = {"Died": 0, "Lost to follow-up": 0, "Withdrawn from follow-up or consent": 0, "Completed the study": 0}
    status = {"lost_to_follow_up": "Lost to follow-up", "withdrawn": "Withdrawn from follow-up or consent",
              "completed": "Completed the study"}
    for p in patients:
        course = p.endpoints.course
        if course.death is not None and (cutoff is None or course.death <= cutoff):
            out["Died"] += 1
            continue
        if p.record.status in status:
            left = _left_follow_up_on(protocol, p.record)
            if cutoff is None or (left is not None and left <= cutoff):
                out[status[p.record.status]] += 1
    return out


def consort_figure(boxes: dict[str, Any]):
    """The CONSORT 2010 flow with one column per arm (two arms side by side; more arms in more columns would not
    fit the page, so a third arm widens nothing and is refused by the caller).

    ``fig.consort_boxes`` lists each box as (its text, its patch, its text artists), as the single-arm flow does."""
    from sarcotrial.report.figures import _GAP, _arrow, _draw

    arm_ids = list(boxes["arms"])
    top = 0.05
    assessed, excluded, randomised = boxes["assessed"], boxes["excluded"], boxes["randomised"]
    xc = _WIDTH / 2
    main_x = xc - _COL_W / 2
    # enrolment: assessed, the exclusions to its right-hand side below it, then randomised
    stage = _STAGE_PT * 1.6 / 72
    y = top + stage
    placed = [("assessed", assessed, main_x, y, _COL_W, True)]
    y += assessed.height
    side_x = xc + 0.35
    side_w = _WIDTH - side_x - 0.05
    side_top = y + _GAP * 0.6
    placed.append(("excluded", excluded, side_x, side_top, side_w, False))
    arrow_y = side_top + min(0.16, excluded.height / 2)
    y = max(side_top + excluded.height + _GAP, y + 2 * _GAP)
    placed.append(("randomised", randomised, main_x, y, _COL_W, True))
    rand_bottom = y + randomised.height
    y = rand_bottom + _GAP + stage
    rows = []
    for k, label in enumerate(("Allocation", "Follow-up", "Analysis")):
        height = max(boxes["arms"][a][k].height for a in arm_ids)
        rows.append((label, y, height))
        y += height + _GAP + stage
    height = y - _GAP - stage + 0.05
    fig = plt.figure(figsize=(_WIDTH, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, _WIDTH)
    ax.set_ylim(height, 0)
    ax.axis("off")
    drawn = []
    ax.text(0.05, top, "Enrolment", fontsize=_STAGE_PT, fontweight="bold", va="top", color="#1f4e79")
    for _name, box, x, t, w, centred in placed:
        drawn.append(_draw(ax, box, x, t, w, centred=centred))
    _arrow(ax, xc, top + stage + assessed.height, xc, placed[2][3])
    _arrow(ax, xc, arrow_y, side_x, arrow_y)
    columns = [_LEFT_X, _RIGHT_X] if len(arm_ids) == 2 else [_LEFT_X + k * (_COL_W + 0.25) for k in range(len(arm_ids))]
    split = rand_bottom + _GAP / 2
    ax.plot([xc, xc], [rand_bottom, split], color="#333333", lw=0.9)
    ax.plot([columns[0] + _COL_W / 2, columns[-1] + _COL_W / 2], [split, split], color="#333333", lw=0.9)
    for k, (label, row_top, _h) in enumerate(rows):
        ax.text(0.05, row_top - stage, label, fontsize=_STAGE_PT, fontweight="bold", va="top", color="#1f4e79")
        for arm, x in zip(arm_ids, columns):
            box = boxes["arms"][arm][k]
            drawn.append(_draw(ax, box, x, row_top, _COL_W, centred=k != 1))
            centre = x + _COL_W / 2
            if k == 0:
                _arrow(ax, centre, split, centre, row_top)
            else:
                previous_top, previous_h = rows[k - 1][1], boxes["arms"][arm][k - 1].height
                _arrow(ax, centre, previous_top + previous_h, centre, row_top)
    fig.consort_boxes = drawn
    return fig


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def waterfall(bars: list[tuple[float, str]], arm_names: dict[str, str], title: str):
    """Each patient's best percentage change of the sum of target diameters from baseline, largest increase
    first, coloured by arm, with the RECIST 1.1 thresholds (+20 % and -30 %) as dashed lines.

    ``bars``: (change in %, arm id) per patient; ``fig.bars`` gives the drawn (height, arm) in order."""
    fig, ax = figures._frame(6.4, 2.4, legend=True, left=0.85, below=0.35)
    order = sorted(bars, key=lambda b: -b[0])
    colour = {arm: COLOURS[k % len(COLOURS)] for k, arm in enumerate(arm_names)}
    x = np.arange(len(order))
    heights = [b[0] for b in order]
    ax.bar(x, heights, width=0.8, color=[colour[b[1]] for b in order], lw=0)
    from matplotlib.patches import Patch

    handles = [Patch(color=colour[arm], label=name) for arm, name in arm_names.items()]
    ax.axhline(PD_THRESHOLD, color="0.35", lw=0.9, ls="--", label="+20 % (PD)")
    ax.axhline(PR_THRESHOLD, color="0.35", lw=0.9, ls=":", label="\u221230 % (PR)")
    ax.axhline(0, color="black", lw=0.6)
    top = max([PD_THRESHOLD, *heights]) * 1.15
    bottom = min([-100.0 / 1.15, *heights]) * 1.15
    ax.set_ylim(bottom, top)
    ax.set_xlim(-0.8, max(len(order), 1) - 0.2)
    ax.set_xticks([])
    ax.set_xlabel(f"Patients with a baseline and a post-baseline sum of target diameters (n = {len(order)})")
    ax.set_ylabel("Best change from\nbaseline (%)")
    figures._title(ax, title, legend=True)
    lines, labels = ax.get_legend_handles_labels()
    figures._legend_above(ax, handles + lines, [h.get_label() for h in handles] + labels)
    fig.bars = [(h, b[1]) for h, b in zip(heights, order)]
    return fig


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
def _n_pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f} %)" if n else str(k)


def _median_range(values: list[float], fmt: str) -> str:
    if not values:
        return DASH
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}\u2013{max(values):{fmt}})"


def _code_words(protocol, form_id: str, field_id: str) -> Callable[[Any], str]:
    labels = _field_code_labels(protocol, form_id, field_id)
    return lambda v: labels.get(v, str(v).replace("_", " ").capitalize() if isinstance(v, str) else str(v))


def baseline_by_arm(protocol, arms: ArmsData, caption: str) -> Table:
    """Table 1 by arm: age, sex, the stratification factors at the levels used at allocation, the site where it is
    a factor, and the histotype (WHO 2020) of the diagnosis form."""
    from sarcotrial.report.data import _histotype_name

    columns = [arms.of(a.id) for a in arms.arms] + [arms.patients]
    ns = [len(c) for c in columns]
    rows: list[list[str]] = [["Patients"] + [str(n) for n in ns]]
    indent = [0]

    def group(title: str, value: Callable[[ArmPatient], Any], order=None, words=lambda v: str(v)) -> None:
        seen = Counter(value(p) for p in arms.patients)
        keys = [k for k in (order or []) if k in seen] + sorted((k for k in seen if k is not None and k not in (order or [])),
                                                                key=str)
        rows.append([title] + [""] * len(columns))
        indent.append(0)
        for key in keys:
            rows.append([words(key)] + [_n_pct(sum(value(p) == key for p in col), len(col)) for col in columns])
            indent.append(1)
        if None in seen:
            rows.append([NOT_RECORDED] + [_n_pct(sum(value(p) is None for p in col), len(col)) for col in columns])
            indent.append(1)

    ages = [[p.record.enrolment_date.year - p.record.year_of_birth for p in col] for col in columns]
    rows.append(["Age at randomisation, years: median (range)"] + [_median_range(a, ".0f") for a in ages])
    indent.append(0)
    group("Sex", lambda p: p.record.sex, words=lambda v: str(v).capitalize())
    scheme = getattr(protocol, "randomisation", None)
    for factor in getattr(scheme, "factors", []) or []:
        label = factor_labels(protocol)[factor.id]
        levels = list(factor.levels) if getattr(factor, "levels", None) else None
        words = _code_words(protocol, factor.form, factor.field) if not levels else (lambda v: str(v))
        group(f"{label}: stratum at randomisation", lambda p, f=factor.id: p.strata.get(f), order=levels, words=words)
    if scheme is not None and getattr(scheme, "site", False):
        group("Site: stratum at randomisation", lambda p: p.strata.get("site", p.record.site))
    diagnosis = _diagnosis_form(protocol)
    if diagnosis is not None:
        def histotype(p: ArmPatient):
            crf = p.record.first(diagnosis)
            return crf.values.get("histotype") if crf is not None else None
        group("Histotype (WHO 2020)", histotype, words=_histotype_name)
    header = ["Characteristic"] + [f"{a.name} (n = {len(arms.of(a.id))})" for a in arms.arms] + [f"All (n = {ns[-1]})"]
    return Table(header, rows, caption=caption, indent=indent, widths=[2.6] + [1.5] * len(columns),
                 note=f"n (%) of each arm unless stated. Stratification factors at the level used at allocation "
                      f"(a later correction is listed under stratification errors). {NOT_RECORDED}: no value, or a "
                      "missing-data code. Age from the year of birth.")


def _diagnosis_form(protocol) -> str | None:
    for form in protocol.forms:
        if form.id == "diagnosis" and any(f.id == "histotype" for f in form.fields):
            return form.id
    return None


def systemic_by_arm(protocol, arms: ArmsData, caption: str) -> Table:
    """Cycles given, relative dose intensity per drug, reductions and delays with their reasons, and the cumulative
    doxorubicin-equivalent dose, among the patients of each arm who received a cycle."""
    from sarcotrial.services.systemic_entry import administration_of

    systemic = protocol.treatment.systemic
    spec = administration_of(protocol)
    treated = {a.id: [p for p in arms.of(a.id) if p.course is not None and p.course.cycles_given] for a in arms.arms}
    drugs = list(dict.fromkeys(d.drug for r in systemic.regimens for d in r.drugs))
    rows: list[list[str]] = []
    indent: list[int] = []

    def row(label: str, cells: list[str], level: int = 0) -> None:
        rows.append([label] + cells)
        indent.append(level)

    row("Patients who received at least one cycle", [_n_pct(len(treated[a.id]), len(arms.of(a.id))) for a in arms.arms])
    row("Cycles given: median (range)", [_median_range([p.course.cycles_given for p in treated[a.id]], ".0f")
                                         for a in arms.arms])
    cells = []
    for a in arms.arms:
        most = _max_cycles(protocol, a.id)
        cells.append(_n_pct(sum(p.course.cycles_given >= most for p in treated[a.id]), len(treated[a.id]))
                     if most else DASH)
    row("Every cycle the regimen allows", cells, 1)
    row("Relative dose intensity: median (range)", [""] * len(arms.arms))
    for drug in drugs:
        cells = []
        for a in arms.arms:
            values = [100 * d.relative for p in treated[a.id] for d in p.course.dose_intensity if d.drug == drug]
            cells.append(_median_range(values, ".0f") + (" %" if values else ""))
        row(drug.capitalize(), cells, 1)
    reason_words = reason_labels(protocol)
    for kind, title, field_id in (("reduced", "Patients with a dose reduction", spec.reduction_reason_field),
                                  ("delayed", "Patients with a delayed cycle", spec.delay_reason_field)):
        patients_with = {a.id: [p for p in treated[a.id] if _cycles_with(p, kind)] for a in arms.arms}
        row(title, [_n_pct(len(patients_with[a.id]), len(treated[a.id])) for a in arms.arms])
        reasons: dict[str, Counter] = {a.id: Counter() for a in arms.arms}
        for a in arms.arms:
            for p in patients_with[a.id]:
                for number in _cycles_with(p, kind):
                    reasons[a.id][_reason_of(p, spec, number, field_id, reason_words)] += 1
        for why in sorted(set().union(*[set(r) for r in reasons.values()])):
            row(f"{why}: cycles", [str(reasons[a.id].get(why, 0)) for a in arms.arms], 1)
    if systemic.anthracycline is not None:
        limit = systemic.anthracycline.warn_cumulative_mg_m2
        cells = []
        for a in arms.arms:
            values = [p.course.cumulative_doxorubicin_equivalent for p in treated[a.id]
                      if p.course.cumulative_doxorubicin_equivalent is not None]
            cells.append(f"{statistics.median(values):.0f} ({max(values):.0f})" if values else DASH)
        row("Cumulative doxorubicin-equivalent dose, mg/m\u00b2: median (maximum)", cells)
        row(f"Above the protocol's limit of {limit:g} mg/m\u00b2",
            [_n_pct(sum((p.course.cumulative_doxorubicin_equivalent or 0) > limit for p in treated[a.id]),
                    len(treated[a.id])) for a in arms.arms], 1)
    problems = [p for p in arms.patients if p.course_problem]
    header = ["Measure"] + [f"{a.name} (n = {len(treated[a.id])} treated)" for a in arms.arms]
    note = ("n (%) of the treated patients of each arm (the first row: of those allocated). Relative dose intensity: "
            "dose received per m\u00b2 (or kg) per week over the planned (Hryniuk and Bush 1984), from day 1 of the "
            "first cycle to the end of the last. A reduction: a dose more than "
            f"{systemic.dose_tolerance_percent:g} % below the planned; a delay: day 1 more than "
            f"{systemic.delay_tolerance_days} days after the planned.")
    if problems:
        note += " Not summarised: " + "; ".join(f"{p.subject_id} ({p.course_problem})" for p in problems) + "."
    return Table(header, rows, caption=caption, indent=indent, widths=[2.8] + [1.8] * len(arms.arms), note=note)


def systemic_single_arm(study, data: ReportData, caption: Callable[[], str]) -> Table | None:
    """The systemic-therapy table of a protocol without arms (SPRINT allows neoadjuvant anthracycline-based
    chemotherapy), with every enrolled patient in one column: ``None`` where the protocol declares no cycle form
    or no patient has a cycle recorded by the cut-off."""
    from types import SimpleNamespace

    from sarcotrial.services.systemic_entry import administration_of

    protocol = study.protocol
    spec = administration_of(protocol)
    if spec is None:
        return None
    records = {r.subject_id: r for r in data.records}
    everyone = SimpleNamespace(id="all", name="All patients")
    patients = []
    for e in data.endpoints:
        record = records.get(e.course.subject_id)
        if record is None:
            continue
        course, problem = _course(protocol, record, everyone.id)
        patients.append(ArmPatient(e.course.subject_id, everyone.id, {}, record, e, None, None, course, problem))
    if not any(p.course is not None and p.course.cycles_given for p in patients):
        return None
    return systemic_by_arm(protocol, ArmsData([everyone], everyone.id, patients), caption())


def _cycles_with(p: ArmPatient, kind: str) -> list[int]:
    if kind == "reduced":
        return [c.cycle for c in p.course.cycles if any(d.reduced for d in c.drugs)]
    return [c.cycle for c in p.course.cycles if c.delayed]


def _field_code_labels(protocol, form_id: str, field_id: str) -> dict[str, str]:
    """The labels of the codes of a form's field, by code (empty for a field without a code list)."""
    fld = protocol.form(form_id).field(field_id) if protocol.has_form(form_id) else None
    return {c.code: c.label for c in protocol.codelists.get(fld.codelist or "", [])} if fld is not None else {}


def _reason_of(p: ArmPatient, spec, number: int, field_id: str | None, words: dict[str, str]) -> str:
    if field_id is None:
        return "Reason not recorded"
    for crf in p.record.of(spec.form):
        if crf.values.get(spec.cycle_field) == number:
            code = crf.values.get(field_id)
            if code is None:
                coded = crf.missing.get(field_id)
                return f"Reason {coded}" if coded else "Reason not recorded"
            return words.get(code, str(code))
    return "Reason not recorded"


def toxicity_by_arm(data: ReportData, arms: ArmsData, protocol, phase: str, caption: str) -> Table | None:
    """Worst CTCAE grade per patient and term, any grade and grade >= 3, per arm, among each arm's treated
    patients (``phase``: acute, late)."""
    arm_of = {p.subject_id: p.arm for p in arms.patients}
    treated = {a.id: sum(received(protocol, p) for p in arms.of(a.id)) for a in arms.arms}
    worst: dict[str, dict[str, int]] = defaultdict(dict)
    for row in data.toxicity:
        if row.phase == phase and row.subject_id in arm_of:
            worst[row.term][row.subject_id] = max(worst[row.term].get(row.subject_id, 0), row.max_grade)
    if not worst:
        return None
    rows = []
    for term in sorted(worst, key=lambda t: (-len(worst[t]), t)):
        cells = []
        for a in arms.arms:
            grades = [g for sid, g in worst[term].items() if arm_of[sid] == a.id]
            cells += [_n_pct(len(grades), treated[a.id]), _n_pct(sum(g >= 3 for g in grades), treated[a.id])]
        rows.append([term] + cells)
    header = ["CTCAE term"]
    for a in arms.arms:
        header += [f"{a.name} (n = {treated[a.id]}): any grade", "Grade \u2265 3"]
    return Table(header, rows, caption=caption, widths=[2.6] + [1.2, 0.9] * len(arms.arms),
                 note="Patients with the term at its worst grade, n (%) of the arm's patients who received any study "
                      "treatment.")


def response_by_arm(arms: ArmsData, level: float, caption: str) -> Table:
    """Best overall response by RECIST 1.1, unconfirmed and confirmed, and the objective response rates with
    exact intervals, per arm."""
    rows: list[list[str]] = []
    indent: list[int] = []
    for title, attr in (("Best overall response, unconfirmed", "best_unconfirmed"),
                        ("Best overall response, confirmed (RECIST 1.1 Table 3)", "best_confirmed")):
        rows.append([title] + [""] * len(arms.arms))
        indent.append(0)
        for code in RESPONSES:
            rows.append([RESPONSE_WORDS[code]] + [_n_pct(sum(_best(p, attr) == code for p in arms.of(a.id)),
                                                         len(arms.of(a.id))) for a in arms.arms])
            indent.append(1)
        cells = []
        for a in arms.arms:
            mine = arms.of(a.id)
            k = sum(_best(p, attr) in ("CR", "PR") for p in mine)
            cells.append(_rate_ci(k, len(mine), level))
        rows.append([f"Objective response rate (CR + PR), {level:.0%} CI"] + cells)
        indent.append(1)
    header = ["Response"] + [f"{a.name} (n = {len(arms.of(a.id))})" for a in arms.arms]
    return Table(header, rows, caption=caption, indent=indent, widths=[3.0] + [1.7] * len(arms.arms),
                 note="All randomised patients by the arm allocated; a patient with no evaluable assessment counts as "
                      "NE (not a responder). Intervals: exact (Clopper-Pearson).")


def _best(p: ArmPatient, attr: str) -> str:
    return getattr(p.response, attr) if p.response is not None else "NE"


def _rate_ci(k: int, n: int, level: float) -> str:
    if not n:
        return "0 / 0"
    lo, hi = binomial.clopper_pearson(k, n, level)
    return f"{k} / {n}: {100 * k / n:.1f} % ({100 * lo:.1f}\u2013{100 * hi:.1f})"


def errors_table(arms: ArmsData, protocol, caption: str) -> Table:
    labels = factor_labels(protocol)
    rows = [[v.subject_id, arms.name(v.arm), labels.get(factor, factor.replace("_", " ").capitalize()), str(used),
             "missing" if now is None else "in no level" if now == "?" else str(now)]
            for v in arms.errors for factor, (used, now) in sorted(v.stratification_errors.items())]
    return Table(["Patient", "Arm", "Factor", "Level used", "Level now"], rows, caption=caption,
                 align=["l", "l", "l", "r", "r"], widths=[0.9, 1.6, 2.6, 0.9, 0.9],
                 note="The allocation and the analysis keep the level used at randomisation (ICH E9 section 5.7).")


# ---------------------------------------------------------------------------------------------
# the comparison of a time-to-event endpoint
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """An endpoint compared between arms (control first in ``curves``)."""

    endpoint: str
    curves: list[tuple[str, Any]]  # (arm name, KaplanMeier)
    arms: list[str]  # arm ids, as ``curves``
    cox: Any = None  # CoxFit, one indicator per experimental arm
    cox_problem: str | None = None
    logrank: Any = None
    logrank_stratified: Any = None
    logrank_stratified_problem: str | None = None
    strata: int = 0
    events: int = 0


def compare(arms: ArmsData, endpoint_id: str, *, stratify: list[str], conf_type: str, level: float) -> Comparison:
    """Kaplan-Meier by arm, the Cox hazard ratio of each experimental arm against the control (Efron), and the
    log-rank test, unstratified and stratified by the factors ``stratify`` at the levels used at allocation."""
    from sarcotrial.errors import InvalidValue
    from sarcotrial.outcomes.cox import fit_cox
    from sarcotrial.outcomes.kaplan_meier import fit_kaplan_meier
    from sarcotrial.outcomes.logrank import logrank_test

    curves, ids = [], []
    for a in arms.arms:
        mine = arms.of(a.id)
        if not mine:
            continue
        t = [p.endpoints.times[endpoint_id].time_months for p in mine]
        e = [p.endpoints.times[endpoint_id].status for p in mine]
        curves.append((a.name, fit_kaplan_meier(t, e, conf_type=conf_type, conf_level=level)))
        ids.append(a.id)
    patients = arms.patients
    time = [p.endpoints.times[endpoint_id].time_months for p in patients]
    status = [p.endpoints.times[endpoint_id].status for p in patients]
    events = int(sum(status))
    result: dict[str, Any] = {}
    if len(ids) >= 2:
        experimental = [a.id for a in arms.experimental if a.id in ids]
        x = [[int(p.arm == arm) for arm in experimental] for p in patients]
        try:
            result["cox"] = fit_cox(time, status, x, names=experimental, conf_level=level)
        except InvalidValue as err:
            result["cox_problem"] = err.rule
        groups = [p.arm for p in patients]
        if events:
            result["logrank"] = logrank_test(time, status, groups)
            if stratify:
                labels = [" / ".join(str(p.strata.get(f)) for f in stratify) for p in patients]
                result["strata"] = len(set(labels))
                try:
                    result["logrank_stratified"] = logrank_test(time, status, groups, strata=labels)
                except np.linalg.LinAlgError:  # no stratum holds both arms at an event time: no variance to test
                    result["logrank_stratified_problem"] = "no stratum holds both arms at an event time"
    return Comparison(endpoint_id, curves, ids, events=events, **result)


def hazard_words(c: Comparison, arms: ArmsData, level: float) -> str:
    """The hazard ratios and the tests in a paragraph."""
    if c.cox is None:
        why = c.cox_problem or "fewer than two arms with patients"
        return f"Hazard ratio not estimable ({why})."
    parts = []
    for k, arm in enumerate(c.cox.covariates):
        parts.append(f"{arms.name(arm)} against {arms.name(arms.control)}: hazard ratio "
                     f"{c.cox.hazard_ratio[k]:.2f} ({level:.0%} CI {c.cox.hr_lower[k]:.2f}\u2013{c.cox.hr_upper[k]:.2f}; "
                     f"Wald p = {_p(c.cox.p[k])})")
    text = "Cox proportional hazards model (Efron ties), " + "; ".join(parts) + "."
    if c.logrank is not None:
        text += f" Log-rank test: chi-square {c.logrank.statistic:.2f} on {c.logrank.df} df, p = {_p(c.logrank.p_value)}"
        if c.logrank_stratified is None and c.logrank_stratified_problem:
            text += f"; stratified by the randomisation factors: not computable ({c.logrank_stratified_problem})"
        if c.logrank_stratified is not None:
            text += (f"; stratified by the randomisation factors ({count(c.strata, 'stratum', 'strata')} at the levels "
                     f"used at allocation): chi-square {c.logrank_stratified.statistic:.2f}, p = "
                     f"{_p(c.logrank_stratified.p_value)}")
        text += "."
    return text


def _p(p: float) -> str:
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"


def km_rows(c: Comparison, landmarks: list[float], cell) -> list[list[str]]:
    rows = []
    for name, km in c.curves:
        at = km.at(landmarks)
        rows.append([name, str(km.n), str(km.events),
                     f"{_fmt(km.median)} ({_fmt(km.median_ci[0])}\u2013{_fmt(km.median_ci[1])})"]
                    + [cell(s, lo, hi) for s, lo, hi in zip(at.survival, at.lower, at.upper)])
    return rows


def _fmt(x: float | None) -> str:
    return "NR" if x is None else f"{x:.1f}"


# ---------------------------------------------------------------------------------------------
# the sections
# ---------------------------------------------------------------------------------------------
def sections(study, data: ReportData, arms: ArmsData, *, figure: Callable[..., Figure], table_no: Callable[[], str],
             figure_no: Callable[[], str], cell, note: str, xmax: float) -> dict[str, list[Section]]:
    """The comparative sections, by where the report places them: ``treatment`` (after the baseline),
    ``endpoints`` (primary, response, other time-to-event endpoints), ``toxicity``, ``allocation``."""
    protocol = study.protocol
    primary = protocol.statistics.primary
    level = primary.ci_level
    conf_type = protocol.statistics.km_conf_type
    landmarks = protocol.statistics.landmarks_months
    names = {a.id: a.name for a in arms.arms}
    out: dict[str, list[Section]] = {"baseline": [], "treatment": [], "endpoints": [], "toxicity": [], "allocation": []}

    base = Section("Baseline characteristics by arm")
    base.table(baseline_by_arm(protocol, arms, f"{table_no()}. Patients at randomisation, by arm"))
    out["baseline"].append(base)

    if protocol.treatment.systemic is not None and getattr(protocol.treatment.systemic, "administration", None):
        treat = Section("Systemic therapy by arm")
        regimens = "; ".join(f"{r.name}: " + ", ".join(f"{d.drug} {d.dose:g} mg/{d.per if d.per != 'flat' else 'dose'} "
                                                      f"day {', '.join(map(str, d.days))}" for d in r.drugs)
                             + f", every {r.cycle_days} days" + (f", up to {r.max_cycles} cycles" if r.max_cycles else "")
                             for r in protocol.treatment.systemic.regimens)
        treat.text(f"Regimens: {regimens}.".replace("mg/m2", "mg/m\u00b2"))
        treat.table(systemic_by_arm(protocol, arms, f"{table_no()}. Systemic therapy given, by arm"))
        out["treatment"].append(treat)

    # -- the primary endpoint
    endpoint = protocol.endpoint(primary.endpoint)
    prim = Section(f"Primary endpoint: {endpoint.name.lower()}")
    c = compare(arms, endpoint.id, stratify=list(primary.stratified_by), conf_type=conf_type, level=level)
    _comparison_blocks(prim, c, endpoint, arms, figure=figure, table_no=table_no, figure_no=figure_no, cell=cell,
                       note=note, xmax=xmax, landmarks=landmarks, level=level, conf_type=conf_type)
    prim.text(_events_words(primary, c, arms))
    out["endpoints"].append(prim)

    # -- objective response
    if getattr(protocol, "response", None) is not None:
        resp = Section("Objective response (RECIST 1.1)")
        resp.table(response_by_arm(arms, level, f"{table_no()}. Best overall response by RECIST 1.1, by arm"))
        bars = [(p.best_change, p.arm) for p in arms.patients if p.best_change is not None]
        if bars:
            resp.figure(figure("waterfall", waterfall(bars, names, "Best change of the sum of target diameters"),
                               f"{figure_no()}. Waterfall plot: each patient's best (smallest) post-baseline sum of "
                               "target diameters as a percentage change from baseline, by arm; dashed: +20 % "
                               "(progression if also 5 mm over the nadir), dotted: \u221230 % (partial response), "
                               "RECIST 1.1 section 4.3.1.", 14.5))
        else:
            resp.text("No patient has a baseline and a post-baseline sum of target diameters: no waterfall plot.")
        out["endpoints"].append(resp)

    # -- the other time-to-event endpoints
    for other in [e for e in protocol.endpoints if e.kind == "time_to_event" and e.id != endpoint.id
                  and not e.competing_risks]:
        sec = Section(f"Secondary endpoint: {other.name.lower()}")
        oc = compare(arms, other.id, stratify=[], conf_type=conf_type, level=level)
        _comparison_blocks(sec, oc, other, arms, figure=figure, table_no=table_no, figure_no=figure_no, cell=cell,
                           note=note, xmax=xmax, landmarks=landmarks, level=level, conf_type=conf_type)
        out["endpoints"].append(sec)

    # -- toxicity
    tox = Section("Toxicity by arm (CTCAE v5.0)")
    window = protocol.toxicity.acute_window_days
    for phase, words in (("acute", f"adverse events starting up to day {window} from the first dose"),
                         ("late", f"adverse events starting after day {window}")):
        t = toxicity_by_arm(data, arms, protocol, phase, "")
        if t is not None:
            t.caption = f"{table_no()}. Worst grade per patient and term, {words}, by arm"
            tox.table(t)
        elif phase == "acute":
            tox.text("No adverse event recorded from the first dose.")
    arm_of = {p.subject_id: p.arm for p in arms.patients}
    sae = data.serious_events
    by_arm = Counter(arm_of.get(e.subject_id) for e in sae)
    tox.text("Serious adverse events: " + "; ".join(
        f"{a.name} {by_arm.get(a.id, 0)} in {count(len({e.subject_id for e in sae if arm_of.get(e.subject_id) == a.id}), 'patient')}"
        for a in arms.arms) + ".")
    out["toxicity"].append(tox)

    # -- allocation
    alloc = Section("Randomisation and stratification errors")
    counts = ", ".join(f"{a.name} {len(arms.of(a.id))}" for a in arms.arms)
    scheme = protocol.randomisation
    alloc.text(f"{count(len(arms.patients), 'patient')} randomised by {scheme.method.replace('_', ' ')} ({counts}); "
               f"factors: {', '.join(f.id.replace('_', ' ') for f in scheme.factors)}"
               + (", site" if getattr(scheme, "site", False) else "") + ".")
    if arms.errors:
        alloc.table(errors_table(arms, protocol, f"{table_no()}. Stratification errors ({count(len(arms.errors), 'patient')})"))
    else:
        alloc.text("No stratification error: every factor's value as it stands now is in the level used at allocation.")
    if arms.unallocated:
        alloc.text(f"Enrolled without an allocation (not in the comparison): {', '.join(arms.unallocated)}.")
    out["allocation"].append(alloc)
    return out


def _comparison_blocks(section: Section, c: Comparison, endpoint, arms: ArmsData, *, figure, table_no, figure_no,
                       cell, note, xmax, landmarks, level, conf_type) -> None:
    rows = km_rows(c, landmarks, cell)
    section.table(Table(["Arm", "n", "Events", "Median, months (CI)"] + [f"At {m} months (CI)" for m in landmarks],
                        rows, caption=f"{table_no()}. {endpoint.name} by arm ({level:.0%} CIs)",
                        align=["l", "r", "r", "r"] + ["r"] * len(landmarks),
                        widths=[1.5, 0.45, 0.8, 1.55] + [1.7] * len(landmarks), note=note,
                        nowrap=[False, True, True, False] + [False] * len(landmarks)))
    section.text(hazard_words(c, arms, level))
    if c.curves:
        hr = ""
        if c.cox is not None and len(c.cox.covariates) == 1:
            hr = (f"HR {c.cox.hazard_ratio[0]:.2f} ({c.cox.hr_lower[0]:.2f}\u2013{c.cox.hr_upper[0]:.2f})"
                  + (f"\nlog-rank p = {_p(c.logrank.p_value)}" if c.logrank is not None else ""))
        fig = figures.survival_curves(c.curves, endpoint.name, xmax=xmax, note=hr)
        section.figure(figure(f"km_{endpoint.id}_arms", fig,
                              f"{figure_no()}. {endpoint.name} by arm: Kaplan-Meier estimates with pointwise "
                              f"{level:.0%} confidence bands ({conf_type} transformation); ticks mark censored "
                              f"patients. Events: {figures.event_words(endpoint.events)}.", 14.5))


def _events_words(primary, c: Comparison, arms: ArmsData) -> str:
    from sarcotrial.outcomes.design import schoenfeld_events

    ratios = {a.id: a.ratio for a in arms.arms}
    experimental = arms.experimental[0].id if arms.experimental else arms.control
    need = schoenfeld_events(primary.hazard_ratio, primary.alpha, primary.power, sided=primary.sided,
                             allocation=(ratios.get(experimental, 1), ratios.get(arms.control, 1)))
    share = c.events / need.events
    return (f"Events for the analysis: {c.events} observed of the {need.events} that Schoenfeld's formula needs to "
            f"detect a hazard ratio of {primary.hazard_ratio:g} with {primary.sided} alpha {primary.alpha:g} and power "
            f"{primary.power:g} ({share:.0%}); "
            + ("the planned number of events is reached." if c.events >= need.events else
               "the planned analysis awaits the remaining events: the comparison shown is descriptive."))


def methods_words(protocol) -> list[str]:
    """The comparative methods, as the Methods section states them."""
    primary = protocol.statistics.primary
    level = primary.ci_level
    conf_type = protocol.statistics.km_conf_type
    factors = ", ".join(f.replace("_", " ") for f in primary.stratified_by) or "none"
    words = [
        f"Comparison of arms (intention to treat: every randomised patient in the arm allocated): Kaplan-Meier "
        f"estimates with Greenwood variance and pointwise {level:.0%} intervals on the {conf_type} scale, the median's "
        "interval where the bands cross 0.5 (R's rule); hazard ratios of each experimental arm against the control "
        f"({protocol.statistics.primary.control_arm.replace('_', ' ')}) by a Cox proportional hazards model with Efron's "
        "ties and Wald intervals; the log-rank test unstratified and stratified by the randomisation factors "
        f"({factors}) at the levels used at allocation. Events needed: Schoenfeld (Biometrics 1983).",
    ]
    if getattr(protocol, "response", None) is not None:
        words.append("Objective response by RECIST 1.1 (Eisenhauer et al. 2009): the best overall response from "
                     "randomisation, stable disease counted from day "
                     f"{protocol.response.sd_min_days}, confirmation at least {protocol.response.confirmation_min_days} "
                     "days later; rates with exact Clopper-Pearson intervals.")
    if protocol.treatment.systemic is not None:
        words.append("Systemic therapy: body surface area by the "
                     f"{protocol.treatment.systemic.bsa_formula.capitalize()} formula; relative dose intensity by "
                     "Hryniuk and Bush (1984); the cumulative doxorubicin-equivalent dose by the protocol's "
                     "equivalence table. Toxicity: worst CTCAE v5.0 grade per patient and term, among each arm's "
                     f"patients who received any study treatment; acute up to day {protocol.toxicity.acute_window_days} "
                     "from the first dose.")
    return words


__all__ = ["ArmsData", "ArmPatient", "comparative", "gather_arms", "best_change", "sections", "methods_words",
           "consort_arm_boxes", "consort_figure", "waterfall", "compare", "Comparison"]
