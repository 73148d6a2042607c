"""The report's section "Risk models on the study's patients": does a loaded model hold here?

Standard: the external validation of a survival prediction model by its discrimination and
calibration at a horizon (Royston P, Altman DG. BMC Med Res Methodol 2013;13:33; TRIPOD, Collins
GS et al., BMJ 2015;350:g7594), with the warning below 100 events (Collins GS, Ogundimu EO, Altman
DG. Stat Med 2016;35:214-226; Vergouwe Y et al. J Clin Epidemiol 2005;58:475-483). Every number is
computed by :func:`sarcotrial.services.registry.performance_on_study` (statistics in
:mod:`sarcotrial.outcomes.model_performance`, each tested there against an independent
implementation); this module only lays them out, and draws the figure of
:mod:`sarcotrial.report.calibration_figure`. No number is computed here.

Which models: each loaded risk-model file that was loaded with the study endpoint observing its
outcome (``nomogram load FILE --endpoint ID``) and has a prediction for at least one enrolled
patient; none, no section. The horizon: the model's longest horizon, else (when it is not before
the last follow-up, or nothing can be computed at it) the longest of its horizons at which the
statistics can be computed, with the reason the longer one was left; when none can be, one
sentence says why.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from sarcotrial.publishing.document import Figure, Section, Table

TITLE = "Risk models on the study's patients"


def _number(x: float | None, digits: int = 2) -> str:
    return "\u2013" if x is None else f"{x:.{digits}f}"


def _interval(lo: float | None, hi: float | None, digits: int = 2) -> str:
    """`` (0.52-0.87)``; `` (-0.30 to 1.89)`` when a bound is negative (a dash would read as a minus sign)."""
    if lo is None or hi is None:
        return ""
    joint = " to " if lo < 0 or hi < 0 else "\u2013"
    return f" ({lo:.{digits}f}{joint}{hi:.{digits}f})"


def _pct(x: float | None) -> str:
    return "\u2013" if x is None else f"{100 * x:.1f} %"


def _pct_interval(lo: float | None, hi: float | None) -> str:
    return "" if lo is None or hi is None else f" ({100 * lo:.1f}\u2013{100 * hi:.1f})"


def _patients(k: int) -> str:
    return f"{k} patient" + ("" if k == 1 else "s")


def loaded_models(study, actor=None) -> list:
    """The loaded model files (``services.registry.ModelFileView``) that name the study endpoint observing
    their outcome, read under the report's permission."""
    from sarcotrial.services import registry

    return [view for view in registry.model_files(study, actor, permission="report") if view.endpoint]


def performance(study, actor, view, cutoff: dt.date | None):
    """The model's numbers on the study's patients at the horizon the service chooses (the longest it can
    compute), and why a longer horizon was left (``None`` when the longest is used). ``None`` and no reason
    when no enrolled patient has a baseline prediction by the model."""
    from sarcotrial.services import registry

    result = registry.performance_on_study(study, actor, view.key, cutoff=cutoff)
    if not result.patients:
        return None, None
    left = "; ".join(f"the model's {why[4:]}" if why.startswith("the ") else why for _h, why in result.longer_left)
    return result, left or None


def section(study, actor, cutoff: dt.date | None, *, figure: Callable[..., Figure], table_no: Callable[[], str],
            figure_no: Callable[[], str], endpoint_names: dict[str, str] | None = None) -> Section | None:
    """The section, or ``None`` when no loaded model with its study endpoint has predictions for enrolled patients.

    ``figure(name, fig, caption, width_cm)`` saves a matplotlib figure and returns the document's Figure;
    ``table_no()`` and ``figure_no()`` give the next "Table n" and "Figure n"."""
    from sarcotrial.report.calibration_figure import calibration_figure

    names = endpoint_names or {}
    found = []
    for view in loaded_models(study, actor):
        result, left = performance(study, actor, view, cutoff)
        if result is not None:
            found.append((view, result, left))
    if not found:
        return None
    out = Section(TITLE)
    out.text("Each loaded risk model that names the study endpoint observing its outcome, checked on the enrolled "
             "patients with a prediction by it (the latest made by the endpoint's origin), to the data cut-off: Harrell's C, the time-dependent AUC "
             "(Uno et al. 2007), observed against predicted risk per risk group, the calibration slope (1 is ideal; "
             "below 1, predictions too extreme) and observed/expected (Royston & Altman 2013).")
    for view, result, left in found:
        _model_blocks(out, view, result, left, names, figure=figure, table_no=table_no, figure_no=figure_no,
                      drawing=calibration_figure)
    return out


def describe(view, result, left: str | None, endpoint_names: dict[str, str]) -> str:
    """The paragraph that introduces a model: what it is, on whom and to when it is checked."""
    kind = "SYNTHETIC model (invented numbers, not a published model)" if view.synthetic else "published model"
    endpoint = endpoint_names.get(view.endpoint, view.endpoint)
    events = sum(1 for e in result.event if e == 1)
    text = (f"{view.name} (id {view.key}, version {view.version}; a {kind}; source: {view.source or 'not given'}). "
            f"Validation status: {view.validation_status or 'not given'}. Outcome: {view.outcome}, observed by the "
            f"study endpoint {endpoint} ({view.endpoint}). Horizon: {result.horizon:g} years")
    text += f" ({left})." if left else "."
    by_horizon = f", {result.performance.events} of them by the horizon" if result.performance is not None else ""
    text += (f" {_patients(len(result.patients))} with a prediction, {events} "
             f"event{'s' if events != 1 else ''} of the endpoint{by_horizon}; "
             + (f"{_patients(result.not_predicted)} enrolled without a prediction by the model (or without the "
                "endpoint), not counted." if result.not_predicted else
                "every enrolled patient has a prediction by the model."))
    return text


def number_rows(perf) -> list[list[str]]:
    """The numbers, (label, value): Harrell's C, AUC(t), calibration slope, observed and expected risk and O/E,
    each with its CI where there is one."""
    c = perf.concordance
    slope = perf.calibration_slope
    rows = [["Harrell's C", _number(c.estimate) + _interval(c.lower, c.upper)],
            ["time-dependent AUC", _number(perf.auc)],
            ["calibration slope", (_number(slope.slope) + _interval(slope.lower, slope.upper)) if slope else
             "not computable"],
            ["observed risk", _pct(perf.observed) + _pct_interval(*perf.observed_ci)],
            ["expected (mean predicted) risk", _pct(perf.expected)],
            ["observed/expected (O/E)", _number(perf.oe_ratio) + _interval(*perf.oe_ci)]]
    return rows


def calibration_rows(perf) -> list[list[str]]:
    """Per group of predicted risk: patients, events by the horizon, the range and mean of the predicted risk,
    and the observed risk with its CI."""
    return [[str(g.group), str(g.n), str(g.events), f"{_pct(g.risk_min)}\u2013{_pct(g.risk_max)}", _pct(g.predicted),
             _pct(g.observed) + _pct_interval(g.lower, g.upper)] for g in perf.groups]


def _model_blocks(out: Section, view, result, left, names, *, figure, table_no, figure_no, drawing) -> None:
    out.text(describe(view, result, left, names))
    perf = result.performance
    if perf is None:
        out.text(f"{view.name}: not computable on the study's patients ({result.problem}).")
        return
    if perf.warnings:
        out.text("Warning: " + "; ".join(perf.warnings) + ".")
    level = f"{perf.conf_level:.0%}"
    out.text(f"At {perf.horizon:g} years ({level} CIs): " + "; ".join(f"{label} {value}" for label, value in
                                                                   number_rows(perf)) + ".")
    what = "Aalen-Johansen" if perf.competing_events else "1 - Kaplan-Meier"
    out.table(Table(["Group", "n", "Events", "Predicted range", "Mean predicted", f"Observed ({level} CI)"],
                    calibration_rows(perf),
                    caption=f"{table_no()}. {view.key}: predicted and observed ({what}) risk by {perf.horizon:g} "
                            "years per risk group",
                    align=["l", "r", "r", "r", "r", "r"], widths=[0.6, 0.5, 0.6, 1.5, 1.2, 1.7]))
    number = figure_no()
    fig = drawing(perf, "Calibration")
    out.figure(figure(f"calibration_{view.key}", fig,
                      f"{number}. {view.key} at {perf.horizon:g} years: (a) mean predicted against observed risk per "
                      f"risk group ({level} CIs); (b) observed risk over time per group, its mean predicted risk "
                      "marked at the horizon.", 13))

