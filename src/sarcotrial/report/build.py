"""Build the study report (HTML and PDF) from the study database.

Every number comes from :mod:`sarcotrial.report.data` and the statistical methods of
:mod:`sarcotrial.outcomes`; the methods and their conventions are stated in the report itself.

The sections are chosen by what the protocol has: radiotherapy compliance only with radiotherapy, surgery and
pathology (R0, pCR, margins, wound complications) only with pathology and surgery, the single-arm primary
analysis (exact binomial test, A'Hern and Simon designs) for a primary analysis of kind ``proportion``, and the
comparative sections of :mod:`sarcotrial.report.arms` (CONSORT with every arm, baseline, treatment, endpoints
and toxicity by arm, stratification errors) for a protocol whose arms are compared.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

import numpy as np

from sarcotrial import __version__
from sarcotrial.outcomes import accrual as accrual_model
from sarcotrial.outcomes import binomial
from sarcotrial.outcomes.competing_risks import cumulative_incidence
from sarcotrial.outcomes.design import ToxicityMonitor, ahern_single_stage, simon_two_stage
from sarcotrial.outcomes.endpoints import DAYS_PER_MONTH
from sarcotrial.outcomes.kaplan_meier import fit_kaplan_meier
from sarcotrial.publishing import html, pdf
from sarcotrial.publishing.document import Document, Figure, Section, Table
from sarcotrial.report import arms as arms_report, figures, tables
from sarcotrial.report.data import ReportData, gather
from sarcotrial.report.words import count, verb
from sarcotrial.services.study import StudyDB


NR_NOTE = "NR: not reached. Estimates beyond the last follow-up are shown as a dash."


def _fmt(x: float | None, digits: int = 1) -> str:
    return "NR" if x is None else f"{x:.{digits}f}"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))


def _pct(x: float | None) -> str:
    return "\u2013" if _missing(x) else f"{100 * x:.1f} %"


def _pct_ci(v, lo, hi) -> str:
    """``75.0 % (59.3-94.9)``: an estimate and its interval, in percent."""
    if _missing(v):
        return "\u2013"
    return f"{100 * v:.1f} % ({100 * lo:.1f}\u2013{100 * hi:.1f})" if not (_missing(lo) or _missing(hi)) else f"{100 * v:.1f} %"


def _rate_row(label: str, k: int, n: int, level: float) -> list[str]:
    if n == 0:
        return [label, "0 / 0", "-", "-"]
    lo, hi = binomial.clopper_pearson(k, n, level)
    return [label, f"{k} / {n}", _pct(k / n), f"{_pct(lo)} \u2013 {_pct(hi)}"]


def _figure(folder: Path, name: str, fig, caption: str, width_cm: float = 13, *,
            formats: tuple[str, ...] = figures.FORMATS) -> Figure:
    paths = figures.save(fig, folder, name, formats)
    return Figure(paths["png"], paths.get("svg"), caption, width_cm)


def _censoring_words(protocol) -> str:
    """How the time-to-event endpoints censor: at the last contact, or (``censor_at``) at the last adequate tumour
    assessment, naming the endpoints that do."""
    at_assessment = [e.name for e in protocol.endpoints
                     if e.kind == "time_to_event" and e.censor_at == "last_response_assessment"]
    if not at_assessment:
        return "Patients without an event are censored at their last contact. "
    others = [e for e in protocol.endpoints if e.kind == "time_to_event" and e.censor_at == "last_contact"]
    text = (f"{', '.join(at_assessment)}: patients without an event are censored at their last adequate tumour "
            "assessment (a response other than not evaluable), at the origin when there is none (FDA 2018, EMA 2017)")
    return text + ("; other endpoints at the last contact. " if others else ". ")


def build_document(study: StudyDB, out: Path, progress: Callable[[str], None] | None = None,
                   cutoff: dt.date | None = None, actor=None, *,
                   figure_formats: tuple[str, ...] = figures.FORMATS) -> Document:
    """The report's content, its figures written under ``out/figures`` in ``figure_formats``
    (PNG, which the PDF needs, and SVG for the HTML report; ``("png",)`` when no HTML is written)."""
    if "png" not in figure_formats:
        raise ValueError("the report's figures are always drawn as PNG (the PDF shows them)")
    say = progress or (lambda _m: None)
    counter = iter(range(1, 100))

    def table_no() -> str:
        return f"Table {next(counter)}"

    say("gathering the data")
    data: ReportData = gather(study, cutoff, actor)
    protocol = study.protocol
    figs = out / "figures"
    sections: list[Section] = []
    primary = protocol.statistics.primary
    level = primary.ci_level
    compared = arms_report.comparative(protocol)
    by_arm = arms_report.gather_arms(study, data, actor) if compared else None
    rt = protocol.treatment.radiotherapy
    pathology = protocol.pathology is not None and protocol.treatment.surgery is not None

    # -- the study
    c = data.consort
    first, last = (min(data.accrual_dates), max(data.accrual_dates)) if data.accrual_dates else (None, None)
    intro = Section("Study")
    intro.text(f"{protocol.identification.title}. Protocol version {data.protocol_version} "
               f"({protocol.identification.version_date}); design: {protocol.identification.design.allocation}, "
               f"{protocol.identification.design.centres}, target accrual {data.target_accrual}.")
    if first:
        when = f"on {first:%d %B %Y}" if first == last else f"between {first:%d %B %Y} and {last:%d %B %Y}"
        intro.text(f"{count(c.enrolled, 'patient')} {verb(c.enrolled)} enrolled {when}, "
                   f"{c.enrolled / data.target_accrual:.0%} of the target.")
    if by_arm is not None:
        ratio = ":".join(str(a.ratio) for a in by_arm.arms)
        intro.text(f"Arms ({ratio}): " + "; ".join(f"{a.name}, {count(len(by_arm.of(a.id)), 'patient')}"
                                                  + (" (control)" if a.id == by_arm.control else "")
                                                  for a in by_arm.arms) + ".")
    sections.append(intro)

    outlook = accrual_forecast(data, protocol)

    say("drawing the CONSORT flow and accrual")
    flow = Section("Patient flow (CONSORT)")
    if by_arm is not None:
        flow.figure(_figure(figs, "consort", arms_report.consort_figure(arms_report.consort_arm_boxes(data, by_arm, protocol)),
                            "Figure 1. CONSORT 2010 flow: assessment for eligibility, randomisation, allocation, follow-up "
                            "and analysis, by arm, to the data cut-off.", 16, formats=figure_formats))
    else:
        flow.figure(_figure(figs, "consort", figures.consort(c), "Figure 1. Flow of patients from referral to analysis.",
                            16, formats=figure_formats))
    ahead = (f", with the forecast beyond the cut-off (median and {outlook.level:.0%} pointwise predictive band)"
             if outlook.status == "forecast" else "")
    planned = " and the planned end of enrolment" if outlook.planned_end is not None else ""
    flow.figure(_figure(figs, "accrual", figures.accrual(data.accrual_dates, data.target_accrual, "Accrual",
                                                         forecast=outlook),
                        f"Figure 2. Cumulative enrolment against the target of {data.target_accrual}{planned}{ahead}.",
                        12, formats=figure_formats))  # narrower, so that it shares page 1 with the flow
    flow.text(_accrual_words(outlook, screened=data.accrual_start is not None))  # below it: page 1 keeps the figure
    sections.append(flow)

    figure_numbers = iter(range(3, 100))
    # the time axis spans the follow-up (a short follow-up is not drawn against years of empty axis)
    xmax = float(max(6.0, np.ceil(_max_months(data.endpoints) / 6) * 6))
    comparative = arms_report.sections(
        study, data, by_arm, figure=lambda name, fig, caption, width=14.5: _figure(figs, name, fig, caption, width,
                                                                                 formats=figure_formats),
        table_no=table_no, figure_no=lambda: f"Figure {next(figure_numbers)}", cell=_pct_ci,
        note=NR_NOTE + " Numbers at risk are under each figure.", xmax=xmax) if by_arm is not None else None

    if comparative is not None:
        sections += comparative["baseline"]
    else:
        base = Section("Baseline characteristics")
        base.table(tables.baseline(data, f"{table_no()}. Patients and tumours at enrolment"))
        sections.append(base)

    # -- radiotherapy compliance
    rc = data.compliance
    if rt is not None:
        comp = Section("Radiotherapy compliance")
        levels = ", ".join(f"{lv.target} {lv.total_dose_gy:g} Gy in {rt.fractions} x {lv.dose_per_fraction_gy:g} Gy"
                           for lv in rt.dose_levels)
        comp.text(f"Prescription: {rt.technique}, {levels}, {rt.fractions_per_week} fractions a week.")
        comp.table(tables.compliance(rc, f"{table_no()}. Delivery of radiotherapy"))
        if rc.deviations:
            comp.table(tables.deviations(rc, f"{table_no()}. Protocol deviations"))
        sections.append(comp)
    if comparative is None:  # a protocol without arms that allows systemic therapy: the cycles given, if any
        chemo = arms_report.systemic_single_arm(study, data, lambda: f"{table_no()}. Systemic therapy given")
        if chemo is not None:
            sysec = Section("Systemic therapy")
            sysec.table(chemo)
            sections.append(sysec)
    if comparative is not None:
        say("computing the endpoints")
        say("fitting the survival curves")
        sections += comparative["treatment"] + comparative["endpoints"]

    if not compared:
        # -- primary endpoint
        say("computing the endpoints")
        eps = data.endpoints
        resected = [e for e in eps if e.r0_resected is not None]
        r0 = sum(e.r0_resected for e in resected)
        itt_r0 = sum(e.r0_itt for e in eps)
        prim = Section("Primary endpoint: R0 resection rate")
        prim_rows = [_rate_row("R0 among resected patients (primary analysis)", r0, len(resected), level),
                     _rate_row("R0 among all enrolled patients (intention to treat)", itt_r0, len(eps), level)]
        prim.table(Table(["Population", "R0 / n", "Rate", f"{level:.0%} CI (exact)"], prim_rows,
                         caption=f"{table_no()}. R0 resection rate (UICC residual tumour classification)"))
        alternative = "greater" if primary.alternative_rate > primary.null_rate else "less"
        if resected:
            test = binomial.binomial_test(r0, len(resected), primary.null_rate, alternative=alternative)
            verdict = "rejected" if test.p_value < primary.alpha else "not rejected"
            prim.text(f"One-sided exact binomial test of H0: p {'<=' if alternative == 'greater' else '>='} "
                      f"{primary.null_rate:g} against H1: p {'>' if alternative == 'greater' else '<'} {primary.null_rate:g} "
                      f"(design alternative {primary.alternative_rate:g}, alpha {primary.alpha:g}, power {primary.power:g}): "
                      f"p = {test.p_value:.4f}; the null hypothesis is {verdict} at the {primary.alpha:g} level.")
        design = ahern_single_stage(primary.null_rate, primary.alternative_rate, primary.alpha, primary.power) \
            if primary.alternative_rate > primary.null_rate else None
        if design is not None:
            simon = simon_two_stage(primary.null_rate, primary.alternative_rate, primary.alpha, primary.power)
            prim.text(f"Design check: A'Hern's exact single-stage design for p0 = {primary.null_rate:g}, p1 = "
                      f"{primary.alternative_rate:g}, one-sided alpha {primary.alpha:g} and power {primary.power:g} needs "
                      f"{count(design.n, 'patient')} (promising if at least {design.r} have an R0 resection; actual alpha "
                      f"{design.actual_alpha:.3f}, power {design.actual_power:.3f}); the protocol plans {data.target_accrual}. "
                      f"Simon's two-stage alternatives: optimal {simon.optimal.r1}/{simon.optimal.n1} then "
                      f"{simon.optimal.r}/{simon.optimal.n}, minimax {simon.minimax.r1}/{simon.minimax.n1} then "
                      f"{simon.minimax.r}/{simon.minimax.n}.")
        sections.append(prim)

        # -- surgery and pathology
        if data.specimens:
            path = Section("Surgery and pathology")
            path.table(tables.margins(data.specimens, protocol, f"{table_no()}. Surgery and resection margins"))
            path.table(tables.response(data.specimens, f"{table_no()}. Histological response: EORTC-STBSG score"))
            sections.append(path)

        # -- secondary endpoints: rates
        sec = Section("Secondary endpoints")
        pcr = [e.pcr for e in eps if e.pcr is not None]
        wounds = [e.major_wound_complication for e in eps if e.major_wound_complication is not None]
        if pathology:
            sec.table(Table(["Endpoint", "k / n", "Rate", f"{level:.0%} CI (exact)"], [
                _rate_row(f"Pathologic complete response ({_pcr_words(protocol)})", sum(pcr), len(pcr), level),
                _rate_row(f"Major wound complication within {protocol.toxicity.wound_complication_window_days} days of "
                          "surgery (NCIC SR2 definition)", sum(wounds), len(wounds), level)],
                caption=f"{table_no()}. Pathologic response and wound complications (resected patients)"))

        # -- time to event
        say("fitting the survival curves")
        landmarks = protocol.statistics.landmarks_months
        conf_type = protocol.statistics.km_conf_type
        # the time axis spans the follow-up (a short follow-up is not drawn against years of empty axis)
        xmax = float(max(6.0, np.ceil(_max_months(eps) / 6) * 6))
        follow = fit_kaplan_meier([e.times["os"].time_months for e in eps], [e.times["os"].status for e in eps],
                                  reverse=True) if eps and "os" in eps[0].times else None
        if follow is not None:
            sec.text(f"Median follow-up (reverse Kaplan-Meier): {_fmt(follow.median)} months "
                     f"({level:.0%} CI {_fmt(follow.median_ci[0])}\u2013{_fmt(follow.median_ci[1])}).")
        km_rows = []
        number = 3
        for endpoint in [e for e in protocol.endpoints if e.kind == "time_to_event" and not e.competing_risks]:
            times = [p.times[endpoint.id].time_months for p in eps]
            status = [p.times[endpoint.id].status for p in eps]
            if not times:
                continue
            km = fit_kaplan_meier(times, status, conf_type=conf_type, conf_level=level)
            at = km.at(landmarks)
            row = [endpoint.name, str(km.events), f"{_fmt(km.median)} ({_fmt(km.median_ci[0])}\u2013{_fmt(km.median_ci[1])})"]
            row += [_pct_ci(s, lo, hi) for s, lo, hi in zip(at.survival, at.lower, at.upper)]
            km_rows.append(row)
            sec.figure(_figure(figs, f"km_{endpoint.id}", figures.survival_curves([("", km)], endpoint.name, xmax=xmax),
                               f"Figure {number}. {endpoint.name}: Kaplan-Meier estimate with pointwise {level:.0%} "
                               f"confidence band ({conf_type} transformation); ticks mark censored patients. "
                               f"Events: {figures.event_words(endpoint.events)}.", 14.5,
                               formats=figure_formats))
            number += 1
        sec.table(Table(["Endpoint", "Events", "Median, months (CI)"] + [f"At {m} months (CI)" for m in landmarks], km_rows,
                        caption=f"{table_no()}. Time-to-event endpoints from enrolment (n = {len(eps)}; {level:.0%} CIs)",
                        align=["l", "r", "r"] + ["r"] * len(landmarks), widths=[2.5, 0.9, 1.6] + [1.7] * len(landmarks),
                        note=NR_NOTE + " Numbers at risk are under each figure."))
        cif_rows = []
        incidences = []  # (endpoint, times, curves): fitted first, so that every figure gets the same y scale
        for endpoint in [e for e in protocol.endpoints if e.kind == "time_to_event" and e.competing_risks]:
            times = np.array([p.times[endpoint.id].time_months for p in eps])
            status = np.array([p.times[endpoint.id].status for p in eps])
            if not times.size:
                continue
            curves = []
            for cause, label in ((1, figures.event_words(endpoint.events)),
                                 (2, f"death without {figures.event_words(endpoint.events)} (competing risk)")):
                if (status == cause).any():
                    curves.append((label, cumulative_incidence(times, status, cause, conf_level=level)))
            incidences.append((endpoint, times, curves))
        shared_top = max((figures.incidence_top(curves) for _, _, curves in incidences), default=0.0)
        for endpoint, times, curves in incidences:
            own = curves[0][1] if curves and curves[0][1].cause == 1 else None
            cif_rows.append(tables.incidence_row(endpoint.name, own, times, landmarks, _pct_ci))
            if not curves:
                continue
            sec.figure(_figure(figs, f"cif_{endpoint.id}", figures.incidence_curves(curves, endpoint.name, xmax=xmax,
                                                                                    times=times, ymax=shared_top),
                               f"Figure {number}. {endpoint.name} (Aalen-Johansen) with death as a competing risk; "
                               f"bands: pointwise {level:.0%} CI, delta-method variance (cmprsk), log(-log) transformation; "
                               "the y scale is the same in every cumulative-incidence figure.",
                               14.5, formats=figure_formats))
            number += 1
        if cif_rows:
            sec.table(Table(["Endpoint", "Events"] + [f"At {m} months (CI)" for m in landmarks], cif_rows,
                            caption=f"{table_no()}. Cumulative incidences with death as a competing risk",
                            widths=[3.0, 0.8] + [1.8] * len(landmarks),
                            note=NR_NOTE.split(". ")[1] + " " + tables.ZERO_INCIDENCE_NOTE))
        _summary_before_figures(sec, "km_")
        _summary_before_figures(sec, "cif_")
        sections.append(sec)

    # -- toxicity
    say("tabulating toxicity")
    if comparative is not None:
        if pathology and data.specimens:  # a randomised protocol with surgery: its margins and response
            path = Section("Surgery and pathology")
            path.table(tables.margins(data.specimens, protocol, f"{table_no()}. Surgery and resection margins"))
            path.table(tables.response(data.specimens, f"{table_no()}. Histological response: EORTC-STBSG score"))
            sections.append(path)
        sections += comparative["toxicity"] + comparative["allocation"]
    else:
        tox = Section("Toxicity (CTCAE v5.0)")
        started = data.compliance.patients
        for phase, title in (("acute", f"acute: up to day {protocol.toxicity.acute_window_days} from the start of RT"),
                             ("late", "late: after the acute window")):
            caption = f"Worst grade per patient, {title} (n = {count(started, 'patient')} who started RT; n (%))"
            table = tables.worst_grades(data.toxicity, phase, started, "")
            if table is not None:
                table.caption = f"{table_no()}. {caption}"
                tox.table(table)
            else:
                tox.text(f"No {phase} adverse event recorded.")
        socs = tables.organ_classes(data.toxicity, started, "")
        if socs is not None:
            socs.caption = f"{table_no()}. Patients with adverse events by system organ class (CTCAE v5.0)"
            tox.table(socs)
        sae = data.serious_events
        if sae:
            patients_sae = len({e.subject_id for e in sae})
            tox.text(f"Serious adverse events: {len(sae)} in {count(patients_sae, 'patient')} "
                     f"({100 * patients_sae / c.enrolled:.0f} % of the {c.enrolled} enrolled); listed below.")
            tox.table(tables.serious(sae, protocol, f"{table_no()}. Serious adverse events"))
        else:
            tox.text("No serious adverse event recorded.")
        monitor = protocol.statistics.toxicity_monitor
        if monitor is not None:
            rates = {"major_wound_complication": [e.major_wound_complication for e in eps if e.major_wound_complication is not None],
                     "pcr_rate": [e.pcr for e in eps if e.pcr is not None]}
            observed = rates.get(monitor.endpoint)
            if observed is not None:
                rule = ToxicityMonitor(monitor.prior_a, monitor.prior_b, monitor.threshold, monitor.cutoff)
                x, n = sum(observed), len(observed)
                prob = rule.probability_above(x, n)
                tox.text(f"Safety monitoring ({protocol.endpoint(monitor.endpoint).name}): with a Beta({monitor.prior_a:g}, "
                         f"{monitor.prior_b:g}) prior and {x} of {count(n, 'patient')}, the posterior probability that the rate exceeds "
                         f"{monitor.threshold:.0%} is {prob:.3f}; the protocol asks for a review above {monitor.cutoff:.0%}: "
                         f"{'REVIEW REQUIRED' if rule.should_stop(x, n) else 'no review required'}.")
        sections.append(tox)

    # -- does a loaded risk model hold on the study's patients? (report/riskmodels.py; no model, no section)
    from sarcotrial.report import riskmodels

    drawn = iter(range(sum(isinstance(b, Figure) for s in sections for b in s.blocks) + 1, 100))
    models = riskmodels.section(study, actor, data.cutoff, table_no=table_no, figure_no=lambda: f"Figure {next(drawn)}",
                                figure=lambda name, fig, caption, width=13: _figure(figs, name, fig, caption, width,
                                                                                      formats=figure_formats),
                                endpoint_names={e.id: e.name for e in protocol.endpoints})
    if models is not None:
        sections.append(models)

    # -- methods
    methods = Section("Methods and definitions")
    methods.text(f"Endpoints are timed from {protocol.statistics.time_origin}; times in months are days / 30.44. "
                 + _censoring_words(protocol)
                 + " ".join(f"{e.name}: {protocol.render(e.definition)}" for e in protocol.endpoints if e.kind == "time_to_event"))
    if compared:
        for paragraph in arms_report.methods_words(protocol):
            methods.text(paragraph)
    else:
        methods.text(f"Kaplan-Meier estimates with Greenwood variance and pointwise {level:.0%} confidence intervals on "
                     f"the {protocol.statistics.km_conf_type} scale (R survfit's default is 'log'); the median's interval "
                     "is where the pointwise bands cross 0.5 (R's rule), 'not reached' where they do not. Median "
                     "follow-up by reverse Kaplan-Meier. Cumulative incidences by Aalen-Johansen with cmprsk's "
                     "delta-method variance and log(-log) intervals. Rates with exact two-sided Clopper-Pearson "
                     "intervals; the primary endpoint with the one-sided exact binomial test against the protocol's null "
                     "rate.")
    if pathology:
        methods.text(f"Pathologic complete response: {_pcr_words(protocol)}. Toxicity graded by CTCAE v5.0; acute up to "
                     f"and including day {protocol.toxicity.acute_window_days} from the first fraction, late after.")
    methods.text(f"Accrual forecast: {accrual_model.METHOD}; patients arrive as a Poisson process whose rate has a "
                 f"gamma prior worth {outlook.prior_weight:g} x the target's patients over the planned period, updated "
                 "with the patients enrolled from the first screening to the cut-off; the completion date and the "
                 "band of Figure 2 are posterior predictive (closed form: F and negative binomial distributions)."
                 + ("" if outlook.prior_used else f" Here {outlook.note}."))
    if protocol.assumptions:
        methods.table(tables.parameters(protocol, f"{table_no()}. Parameters assumed where the registry record is "
                                                  f"silent ({len(protocol.assumptions)}; to be confirmed by the trial team)"))
    sections.append(methods)

    synthetic = "SYNTHETIC DATA: every patient in this report is invented (sarcotrial demo); not for clinical use." \
        if data.synthetic else None
    return Document(
        title=f"{data.acronym}: study report",
        subtitle=(f"Protocol v{data.protocol_version}; data cut-off {data.cutoff:%d %B %Y} ({data.cutoff_source}); "
                  if data.cutoff else f"Protocol v{data.protocol_version}; ")
                 + f"database read on {data.generated_at:%d %B %Y, %H:%M} UTC; "
                 f"{c.enrolled} of {data.target_accrual} patients enrolled",
        banner=synthetic, sections=sections,
        footer=f"SarcoTrial {__version__}; {data.acronym} v{data.protocol_version} "
               f"(sha256 {study.loaded.sha256[:12]}); generated {data.generated_at:%Y-%m-%d %H:%M} UTC"
               + ("; SYNTHETIC DATA" if data.synthetic else ""))


def accrual_forecast(data: ReportData, protocol) -> accrual_model.AccrualForecast:
    """The accrual forecast at the report's cut-off (else the day it is built), from the first screening."""
    cutoff = data.cutoff or data.generated_at.date()
    start = min([d for d in (data.accrual_start, *data.accrual_dates[:1]) if d is not None], default=cutoff)
    return accrual_model.forecast(data.accrual_dates, data.target_accrual, start=min(start, cutoff), cutoff=cutoff,
                                  planned_years=protocol.identification.design.enrolment_period_years)


def _accrual_words(f: accrual_model.AccrualForecast, screened: bool = True) -> str:
    """Accrual against the plan, and the forecast, in a paragraph."""
    months = f.observed_days / DAYS_PER_MONTH
    text = (f"Accrual began with the first screening on {f.start:%d %B %Y}" if screened
            else "No patient had been screened by the cut-off")
    if f.enrolled and months > 0:
        text += (f"; {count(f.enrolled, 'patient')} in {months:.1f} months"
                 + (" to the target" if f.status == "complete" else " to the cut-off")
                 + f", {f.observed_rate_per_month:.2f} a month")
    if f.planned_years is not None:
        text += (f"; the protocol plans {f.target} in {f.planned_years:g} years ({f.planned_rate_per_month:.2f} a "
                 f"month), to {f.planned_end:%d %B %Y}")
    return f"{text}. {f.sentence()}"


def _summary_before_figures(section: Section, prefix: str) -> None:
    """Move the table that follows a run of figures (``prefix``: their files' names) before them: the summary
    first, then the curves, as a journal sets them (and the pages fill: two figures and a table to a page)."""
    blocks = section.blocks
    first = next((i for i, b in enumerate(blocks) if isinstance(b, Figure) and Path(b.png).stem.startswith(prefix)), None)
    if first is None:
        return
    last = first
    while last + 1 < len(blocks) and isinstance(blocks[last + 1], Figure):
        last += 1
    if last + 1 < len(blocks) and isinstance(blocks[last + 1], Table):
        blocks.insert(first, blocks.pop(last + 1))


def _max_months(eps) -> float:
    values = [t.time_days / DAYS_PER_MONTH for e in eps for t in e.times.values()]
    return max(values) if values else 0.0


def _pcr_words(protocol) -> str:
    threshold = protocol.pathology.pcr_max_viable_percent
    return f"at most {threshold:g} % stainable tumour cells" if threshold else "no stainable tumour cells"


STEPS = 6  # progress messages build_report sends


def build_report(study: StudyDB, out: Path, progress: Callable[[str], None] | None = None,
                 cutoff: dt.date | None = None, actor=None) -> dict[str, Path]:
    """Write ``report.html`` and ``report.pdf`` (and their figures) into ``out``; events after ``cutoff`` are ignored."""
    out.mkdir(parents=True, exist_ok=True)
    document = build_document(study, out, progress, cutoff, actor)
    if progress:
        progress("writing HTML and PDF")
    return {"html": html.render(document, out / "report.html"), "pdf": pdf.render(document, out / "report.pdf")}
