"""``sarcotrial nomogram assess``: does a risk model hold on the unit's own patients?

Reads a model file (:mod:`sarcotrial.riskmodels`) and a CSV of patients (one row each: the model's
inputs under their names, follow-up time in years, an event code 0 censored / 1 the outcome /
2 a competing event), predicts every patient's risk by the horizon with the model, and prints
Harrell's C with its CI, the time-dependent AUC, the calibration table per risk group, the
calibration slope, the observed/expected ratio and the warning below 100 events. The statistics
and their sources are in :mod:`sarcotrial.outcomes.model_performance`; this module only reads,
predicts and prints. ``--plot`` writes the calibration figure
(:mod:`sarcotrial.report.calibration_figure`).

Rows with a missing value in a column the command uses are left out and counted (``n_dropped``),
as the ``stats`` commands do; a value the model refuses (outside its range, an unknown category)
stops the command with the data row's number, since the model cannot be applied to that patient.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from sarcotrial.cli.common import JsonOption, console, handle_errors, print_json
from sarcotrial.cli.stats import json_safe, parse_number
from sarcotrial.errors import InvalidValue

_MISSING = {"", "na", "nan", "null", "none", "."}
_PLOT_FORMATS = (".png", ".svg", ".pdf")


def read_patients(path: Path, inputs: list[str], time_column: str, event_column: str):
    """(rows of model inputs, times, event codes, rows read, rows dropped) from the CSV at ``path``."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidValue("data", f"cannot read {path}: {exc.strerror}", show_value=False) from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        for field, name in (("time_column", time_column), ("event_column", event_column)):
            if name not in header:
                raise InvalidValue(field, f"no column {name!r} in {path.name} (columns: {', '.join(header)})",
                                   show_value=False)
        absent = [name for name in inputs if name not in header]
        if absent:
            raise InvalidValue("data", f"{path.name} lacks the model's input column(s) {', '.join(absent)} "
                               f"(columns: {', '.join(header)})", show_value=False)
        rows, times, events = [], [], []
        total = dropped = 0
        for number, row in enumerate(reader, start=1):
            total += 1
            values = {name: (row.get(name) or "").strip() for name in (*inputs, time_column, event_column)}
            if any(v.lower() in _MISSING for v in values.values()):
                dropped += 1
                continue
            t = parse_number(values[time_column], f"{time_column} (data row {number})")
            code = parse_number(values[event_column], f"{event_column} (data row {number})", float)
            if code not in (0, 1, 2):
                raise InvalidValue(f"{event_column} (data row {number})",
                                   "must be 0 (censored), 1 (the outcome) or 2 (a competing event)", values[event_column])
            rows.append((number, {name: values[name] for name in inputs}))
            times.append(t)
            events.append(int(code))
    if not rows:
        raise InvalidValue("data", f"{path.name} has no complete rows", show_value=False)
    return rows, times, events, total, dropped


def _typed(spec, text: str):
    """A CSV cell as the model wants it: a number for a numeric input, the text for a category."""
    if spec.kind == "numeric":
        try:
            return float(text)
        except ValueError:
            return text  # the engine refuses it, naming the input
    return text


def _pct(value: Optional[float], digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def _ci(lo: Optional[float], hi: Optional[float], pct: bool = False) -> str:
    if lo is None or hi is None:
        return "CI not estimable"
    if pct:
        return f"{100 * lo:.1f} to {100 * hi:.1f} %"
    return f"{lo:.2f} to {hi:.2f}"


@handle_errors
def assess(model_file: Path = typer.Argument(..., help="The risk-model file (YAML), see docs/risk-models.md.",
                                             show_default=False),
           data: Path = typer.Option(..., "--data", help="CSV of patients: one row each, the model's inputs by name, "
                                     "follow-up time in years and an event code.", show_default=False),
           time_column: str = typer.Option(..., "--time-column", help="Column of follow-up time, in years.",
                                           show_default=False),
           event_column: str = typer.Option(..., "--event-column", help="Column of the event code: 0 censored, "
                                            "1 the model's outcome, 2 a competing event.", show_default=False),
           horizon: Optional[str] = typer.Option(None, "--horizon", help="Years: one of the model's horizons "
                                                 "(default: the shortest).", show_default=False),
           groups: str = typer.Option("3", "--groups", help="Risk groups of the calibration table (1-10; fewer "
                                      "when there are under 10 events per group)."),
           level: str = typer.Option("0.95", "--level", help="Confidence level of the intervals."),
           plot: Optional[Path] = typer.Option(None, "--plot", help="Write the calibration figure to this file "
                                               "(.png, .svg or .pdf).", show_default=False),
           as_json: bool = JsonOption) -> None:
    """Discrimination and calibration of a risk model on your patients: C, AUC(t), calibration, slope, O/E."""
    from sarcotrial.outcomes.model_performance import assess_performance
    from sarcotrial.riskmodels import load_model

    model = load_model(model_file)
    if horizon is None:
        h = min(model.horizons)
    else:
        h = parse_number(horizon, "horizon")
        if not any(math.isclose(h, m) for m in model.horizons):
            raise InvalidValue("horizon", f"must be one of the model's horizons "
                               f"({', '.join(f'{m:g}' for m in model.horizons)} years)", horizon)
        h = next(m for m in model.horizons if math.isclose(h, m))
    k = parse_number(groups, "groups", int)
    conf = parse_number(level, "level")
    if not 0 < conf < 1:
        raise InvalidValue("level", "must be between 0 and 1 (exclusive), e.g. 0.95", level)
    check_plot_path(plot)
    specs = {spec.name: spec for spec in model.inputs}
    rows, times, events, total, dropped = read_patients(data, list(specs), time_column, event_column)
    risks = []
    for number, values in rows:
        try:
            prediction = model.predict({name: _typed(specs[name], text) for name, text in values.items()})
            risks.append(prediction.risk(h))
        except InvalidValue as exc:
            raise InvalidValue(f"data row {number}: {exc.field}", exc.rule, exc.value) from None
    perf = assess_performance(times, events, risks, h, groups=k, conf_level=conf)

    if plot is not None:
        write_plot(perf, f"{model.name}, {h:g} years", plot)

    if as_json:
        out = {"model": {"id": model.id, "name": model.name, "version": model.version, "kind": model.kind,
                         "outcome": model.outcome, "synthetic": model.synthetic, "source": model.citation,
                         "validation_status": model.validation_status},
               "data": str(data), "n_rows": total, "n_dropped": dropped, **perf.as_dict(),
               "plot": str(plot) if plot is not None else None}
        print_json(json_safe(out))
        return
    print_performance(model.name, model.id, str(model.version), model.outcome, model.synthetic, perf, data.name,
                      total, dropped, plot)


def check_plot_path(plot: Optional[Path]) -> None:
    if plot is not None and plot.suffix.lower() not in _PLOT_FORMATS:
        raise InvalidValue("plot", f"must end in {', '.join(_PLOT_FORMATS)}", str(plot))


def write_plot(perf, title: str, plot: Path) -> None:
    """The calibration figure of ``perf`` written to ``plot`` (PNG, SVG or PDF by its suffix)."""
    from sarcotrial.publishing.plotting import DRAWING, plt
    from sarcotrial.report.calibration_figure import calibration_figure

    with DRAWING:
        fig = calibration_figure(perf, title)
        try:
            plot.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(plot, bbox_inches="tight")
        finally:
            plt.close(fig)


def print_performance(name: str, model_id: str, version: str, outcome: str, synthetic: bool, perf, data_label: str,
                      total: int, dropped: int, plot: Optional[Path], dropped_as: str = "for a missing value") -> None:
    """The readable answer of ``nomogram assess`` and ``nomogram study``."""
    h = perf.horizon
    console.print(f"[bold]{escape(name)}[/] ({escape(model_id)} {escape(version)}): "
                  f"{escape(outcome)} by {h:g} years", soft_wrap=True)
    if synthetic:
        console.print("[yellow]SYNTHETIC model: not a published model, not for patients[/]")
    console.print(f"{escape(data_label)}: {perf.n} patients"
                  + (f" ({dropped} of {total} left out {dropped_as})" if dropped else "")
                  + f", {perf.events} events of the outcome by {h:g} years ({perf.events_total} in all)"
                  + (f", {perf.competing_events} competing events" if perf.competing_events else ""), soft_wrap=True)
    pct = f"{perf.conf_level:.0%}"
    c = perf.concordance
    console.print(f"Harrell's C: [bold]{c.estimate:.3f}[/] ({pct} CI {c.lower:.3f} to {c.upper:.3f}; "
                  f"{c.comparable} comparable pairs)")
    console.print(f"AUC at {h:g} years (cumulative/dynamic, IPCW): "
                  + ("not estimable (no case or no control)" if perf.auc is None else f"[bold]{perf.auc:.3f}[/]"))
    observed_by = "Aalen-Johansen" if perf.competing_events else "1 - Kaplan-Meier"
    table = Table(title=f"Calibration at {h:g} years (observed: {observed_by})", title_justify="left")
    table.add_column("Group", justify="right")
    table.add_column("n", justify="right")
    table.add_column("Events", justify="right")
    table.add_column("Risk range")
    table.add_column("Predicted", justify="right")
    table.add_column("Observed", justify="right")
    table.add_column(f"{pct} CI")
    for g in perf.groups:
        ci = "-" if g.lower is None or g.upper is None else f"{100 * g.lower:.1f}-{100 * g.upper:.1f} %"
        table.add_row(str(g.group), str(g.n), str(g.events), f"{100 * g.risk_min:.1f}-{100 * g.risk_max:.1f} %",
                      _pct(g.predicted), "beyond follow-up" if g.observed is None else _pct(g.observed), ci)
    console.print(table)
    s = perf.calibration_slope
    if s is not None:
        method = "Fine-Gray" if s.method == "fine_gray" else "Cox"
        console.print(f"Calibration slope ({method} on cloglog risk): [bold]{s.slope:.2f}[/] ({pct} CI "
                      f"{s.lower:.2f} to {s.upper:.2f}; 1 is perfect, below 1 predictions too extreme)")
    if perf.oe_ratio is not None:
        console.print(f"Observed/expected at {h:g} years: [bold]{perf.oe_ratio:.2f}[/] ({pct} CI "
                      f"{_ci(*perf.oe_ci)}); observed {_pct(perf.observed)}, expected {_pct(perf.expected)}")
    for warning in perf.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if plot is not None:
        console.print(f"Calibration figure: {escape(str(plot))}")
