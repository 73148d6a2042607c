"""The report's figures (matplotlib, Agg): CONSORT flow, accrual, survival and incidence curves.

Each function draws from numbers already computed (:mod:`sarcotrial.report.data`,
:mod:`sarcotrial.outcomes`) and returns a Figure; :func:`~sarcotrial.publishing.plotting.save` writes it as PNG for the PDF and
SVG for the HTML (or in the formats asked). Styling is plain and journal-like: no chart junk, grey grid.

Layout is set in inches, so a figure is as tall as its content: the CONSORT flow grows with its boxes;
a curve's figure stacks title, legend (in a row of its own, where no line crosses it), axes, axis title
and the numbers at risk (a heading on its own line, then one row per curve), each below the last.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass

from matplotlib.patches import FancyBboxPatch
from matplotlib.transforms import blended_transform_factory

# plotting selects the Agg backend before pyplot is used; the report's figures are styled, saved and
# locked as every other figure (DRAWING, FORMATS and save are used through this module too)
from sarcotrial.publishing.plotting import COLOURS, DRAWING, FORMATS, plt, save  # noqa: F401
from sarcotrial.report.data import Consort

#: how the protocol's event codes read in a caption or a legend
EVENT_WORDS = {"death_any_cause": "death from any cause", "death_sarcoma": "death from sarcoma",
               "death_other_cause": "death from another cause", "local_relapse": "local relapse",
               "distant_metastasis": "distant metastasis"}


def event_words(codes) -> str:
    """``["local_relapse", "death_any_cause"]`` -> ``"local relapse or death from any cause"``."""
    words = [EVENT_WORDS.get(c, c.replace("_", " ")) for c in codes]
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


# ---------------------------------------------------------------------------------------------
# CONSORT
# ---------------------------------------------------------------------------------------------
_LINE = 1.3            # line spacing of box text
_MAIN_PT, _SIDE_PT = 8.0, 7.5
_MAIN_X, _MAIN_W = 0.05, 3.0     # inches: the main column
_SIDE_X, _SIDE_W = 3.4, 3.35     # the side column (exclusions, ends of follow-up)
_PAD = 0.09                       # inside a box, above and below its text
_GAP = 0.28                       # between two boxes of the main column (room for the arrow)
_WIDTH = _SIDE_X + _SIDE_W + 0.05


@dataclass
class _Box:
    lines: list[str]
    size: float
    bold: bool = False

    @property
    def height(self) -> float:
        return len(self.lines) * self.size * _LINE / 72 + 2 * _PAD


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(text, width, subsequent_indent=indent) or [""]


def _main(text: str, bold: bool = False) -> _Box:
    return _Box([line for part in text.split("\n") for line in _wrap(part, 46)], _MAIN_PT, bold)


def _side(heading: str, items: list[tuple[str, list[str]]]) -> _Box:
    """A side box: a heading, then groups (a line each) of bulleted items."""
    lines = [heading]
    for group, bullets in items:
        if group:
            lines.append(group)
        for b in bullets:
            lines += _wrap(f"\u2022 {b}", 56, "   ")
    return _Box(lines, _SIDE_PT)


def _n_is(k: int) -> str:
    """``n = 3`` with no-break spaces, so a line is never broken inside a count."""
    return f"n\u00a0=\u00a0{k}"


def _n(k: int, what: str, plural: str | None = None) -> str:
    return f"{k} {what if k == 1 else plural or what + 's'}"


def exclusion_groups(c: Consort, entered: str) -> list[tuple[str, list[str]]]:
    """The excluded box's groups: criteria not met or met, with how many patients each; screening not completed;
    eligible but not ``entered`` (enrolled, randomised)."""
    groups: list[tuple[str, list[str]]] = []
    if c.inclusion_not_met:
        groups.append((f"Inclusion criteria not met ({_n_is(c.failed_inclusion)})",
                       [f"{text} ({n})" for text, n in c.inclusion_not_met]))
    if c.exclusion_met:
        groups.append((f"Exclusion criteria met ({_n_is(c.failed_exclusion)})",
                       [f"{text} ({n})" for text, n in c.exclusion_met]))
    if c.failed_inclusion + c.failed_exclusion > c.excluded:
        groups.append(("(a patient may fail more than one criterion)", []))
    if c.not_evaluable:
        groups.append((f"Screening not completed ({_n_is(c.not_evaluable)})", []))
    if c.eligible_not_enrolled:
        groups.append((f"Eligible, not {entered} ({_n_is(c.eligible_not_enrolled)})", []))
    return groups


def consort_boxes(c: Consort) -> list[tuple[_Box, _Box | None]]:
    """The flow's main boxes, each with the side box (patients who leave the flow) below it, if any."""
    screened = f"Screened for eligibility ({_n_is(c.screened)})"
    if c.screenings > c.screened:
        screened += f"\n{_n(c.screenings, 'screening')} of {_n(c.screened, 'patient')} ({c.screened_again} repeated)"
    not_enrolled = max(0, c.screened - c.enrolled)
    groups = exclusion_groups(c, "enrolled")
    ended = c.died + c.lost_to_follow_up + c.withdrawn
    follow = (f"Follow-up to the data cut-off\nstill followed ({_n_is(c.in_follow_up)})\n"
              f"completed the study ({_n_is(c.completed)})")
    flow: list[tuple[_Box, _Box | None]] = [
        (_main(f"Referred by the tumour board ({_n_is(c.referred)})"),
         _side(f"Referred, not screened ({_n_is(c.referred - c.screened)})", []) if c.referred > c.screened else None),
        (_main(screened), _side(f"Not enrolled ({_n_is(not_enrolled)})", groups)),
        (_main(f"Enrolled ({_n_is(c.enrolled)})", bold=True), None),
        (_main(f"Started preoperative radiotherapy ({_n_is(c.started_rt)})\n"
               f"completed all fractions ({_n_is(c.completed_rt)})"), None),
        (_main(f"Operated ({_n_is(c.operated)})"), None),
        (_main(follow), _side(f"Follow-up ended early ({_n_is(ended)})", [
            ("", [f"Died ({_n_is(c.died)})", f"Lost to follow-up ({_n_is(c.lost_to_follow_up)})",
                  f"Withdrawn from follow-up or consent ({_n_is(c.withdrawn)})"])])),
        (_main(f"Analysed for the primary endpoint\nR0 among resected ({_n_is(c.analysed_primary)});\n"
               f"intention to treat ({_n_is(c.enrolled)})"), None),
    ]
    return flow


def consort(c: Consort):
    """The CONSORT 2010 flow for a single-arm study, referral to analysis, sized to its boxes.

    ``fig.consort_boxes`` lists each box as (its text, its patch, its text artists), so a test can read every
    count and check that every text sits inside its box."""
    flow = consort_boxes(c)
    # lay out top-down in inches from the top edge
    placed = []  # (main top, main box, side top or None, side box, arrow y)
    y, side_floor = 0.05, 0.0
    for main, side in flow:
        top = y
        bottom = top + main.height
        arrow = side_top = None
        gap = _GAP
        if side is not None:
            arrow = max(bottom + _GAP / 2, side_floor + 0.12 + min(0.16, side.height / 2))
            side_top = arrow - min(0.16, side.height / 2)
            gap = max(_GAP, 2 * (arrow - bottom))
            side_floor = side_top + side.height
        placed.append((top, main, side_top, side, arrow))
        y = bottom + gap
    height = max(y - _GAP, side_floor) + 0.05
    fig = plt.figure(figsize=(_WIDTH, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, _WIDTH)
    ax.set_ylim(height, 0)  # inches from the top
    ax.axis("off")
    xc = _MAIN_X + _MAIN_W / 2
    boxes = []
    for i, (top, main, side_top, side, arrow) in enumerate(placed):
        boxes.append(_draw(ax, main, _MAIN_X, top, _MAIN_W, centred=True))
        if i + 1 < len(placed):
            _arrow(ax, xc, top + main.height, xc, placed[i + 1][0])
        if side is not None:
            boxes.append(_draw(ax, side, _SIDE_X, side_top, _SIDE_W, centred=False))
            _arrow(ax, xc, arrow, _SIDE_X, arrow)
    fig.consort_boxes = boxes
    return fig


def _draw(ax, box: _Box, x: float, top: float, w: float, *, centred: bool):
    patch = FancyBboxPatch((x, top), w, box.height, boxstyle="round,pad=0,rounding_size=0.05",
                           linewidth=0.9, edgecolor="#333333", facecolor="white")
    ax.add_patch(patch)
    if centred:
        texts = [ax.text(x + w / 2, top + box.height / 2, "\n".join(box.lines), ha="center", va="center",
                         fontsize=box.size, linespacing=_LINE, fontweight="bold" if box.bold else "normal",
                         multialignment="center")]
    else:  # a side box: its heading in bold, the rest below it
        texts = [ax.text(x + 0.1, top + _PAD, box.lines[0], ha="left", va="top", fontsize=box.size, fontweight="bold")]
        if len(box.lines) > 1:
            texts.append(ax.text(x + 0.1, top + _PAD + box.size * _LINE / 72, "\n".join(box.lines[1:]), ha="left",
                                 va="top", fontsize=box.size, linespacing=_LINE))
    return "\n".join(box.lines), patch, texts


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="-|>", color="#333333", lw=0.9, shrinkA=0, shrinkB=0))


# ---------------------------------------------------------------------------------------------
# curves: a frame in inches (title, legend row, axes, axis title, numbers at risk)
# ---------------------------------------------------------------------------------------------
_ROW = 0.17  # inches per line of the numbers at risk


def _frame(width: float, axes_height: float, *, legend: bool, risk_rows: int = 0, left: float = 0.85,
           below: float = 0.5):
    """A figure whose axes leave room above for the title and a legend row, below for the tick labels, the
    axis title (``below`` inches) and ``risk_rows`` rows of numbers at risk with their heading."""
    top = 0.3 + (0.24 if legend else 0)
    risk = (risk_rows + 1) * _ROW + 0.08 if risk_rows else 0
    height = top + axes_height + below + risk + 0.05
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((left / width, (below + risk + 0.05) / height, (width - left - 0.2) / width, axes_height / height))
    return fig, ax


def _legend_above(ax, handles=None, labels=None):
    """The legend in a row of its own between the title and the axes, where no curve or band can run."""
    kwargs = dict(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.15,
                  ncol=4, handlelength=1.8, columnspacing=1.4, fontsize=8)
    return ax.legend(handles, labels, **kwargs) if handles is not None else ax.legend(**kwargs)


def _title(ax, title: str, legend: bool):
    ax.set_title(title, loc="left", fontsize=10, pad=20 if legend else 6)


def _risk_table(fig, ax, ticks, rows: list[tuple[str, list[int]]], colours=None):
    """Numbers at risk under the axis title: a heading on its own line, then a row per curve, aligned with the
    ticks; placed after measuring where the axis title ends, so nothing overlaps."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    label_bottom = ax.xaxis.label.get_window_extent(renderer).y0 / fig.dpi  # inches from the figure's bottom
    ticks_bottom = min((t.get_window_extent(renderer).y0 for t in ax.get_xticklabels() if t.get_text()),
                       default=label_bottom * fig.dpi) / fig.dpi
    y = min(label_bottom, ticks_bottom) - 0.08
    in_inches = blended_transform_factory(ax.transAxes, fig.dpi_scale_trans)
    on_ticks = blended_transform_factory(ax.transData, fig.dpi_scale_trans)
    texts = [ax.text(0.0, y, "Number at risk", transform=in_inches, ha="left", va="top", fontsize=7.5,
                     fontweight="bold", clip_on=False)]
    for k, (label, counts) in enumerate(rows):
        y -= _ROW
        colour = (colours or [None] * len(rows))[k] or "black"
        if label:
            texts.append(ax.text(-0.02, y, label, transform=in_inches, ha="right", va="top", fontsize=7.5,
                                 color=colour, clip_on=False))
        for t, n in zip(ticks, counts):
            texts.append(ax.text(t, y, str(n), transform=on_ticks, ha="center", va="top", fontsize=7.5,
                                 clip_on=False))
    fig.risk_texts = texts
    return texts


def _at_risk(times, ticks) -> list[int]:
    """Patients still followed and event-free at each tick: those whose time is at least the tick (R survfit's n.risk)."""
    import numpy as np

    t = np.asarray(times, dtype=float)
    return [int((t >= x).sum()) for x in ticks]


# ---------------------------------------------------------------------------------------------
# accrual
# ---------------------------------------------------------------------------------------------
def accrual(dates: list[dt.date], target: int, title: str = "Accrual", *, until: dt.date | None = None,
            forecast=None):
    """Cumulative enrolment against the protocol's target, and with ``forecast`` (an
    :class:`~sarcotrial.outcomes.accrual.AccrualForecast`) the forecast beyond the cut-off: the median number
    enrolled and its pointwise predictive band (negative binomial, at the forecast's level), and the planned end
    of enrolment as a vertical line.

    The time axis runs from the first enrolment (or the start of accrual) to the last (or ``until``, or the end of
    the band, or the planned end, when later) with a margin, so a short accrual fills the width; the target's line
    is drawn whatever the count, with the legend in a row of its own above the axes."""
    import matplotlib.dates as mdates

    fig, ax = _frame(6.4, 1.6, legend=True, left=0.6, below=0.35)
    days = sorted(d for d in dates if forecast is None or d <= forecast.cutoff)
    ahead = forecast is not None and forecast.status == "forecast"
    first = min([*days[:1], *([forecast.start] if forecast is not None else [])], default=None)
    if first is not None:
        end = max(until or first, days[-1] if days else first)
        if forecast is not None:
            end = max(end, forecast.cutoff, forecast.planned_end or first)
        if ahead:
            end = max(end, forecast.completion[2])
        n = len(days)
        last = forecast.cutoff if forecast is not None else end
        x = [first, *days, last]
        y = [0, *range(1, n + 1), n]
        ax.step(x, y, where="post", color=COLOURS[0], lw=1.6, label="Enrolled",
                marker="o" if n <= 12 else None, ms=3.5, markevery=list(range(1, n + 1)) if n <= 12 else None)
        if ahead:
            _forecast_band(ax, forecast)
        pad = dt.timedelta(days=max(7, round((end - first).days * 0.04)))
        ax.set_xlim(first - pad, end + pad)
    else:
        ax.plot([], [], color=COLOURS[0], lw=1.6, label="Enrolled")
        today = dt.date.today()
        ax.set_xlim(today - dt.timedelta(days=30), today + dt.timedelta(days=30))
    ax.axhline(target, color=COLOURS[1], lw=1, ls="--", label=f"Target ({target})")
    if forecast is not None and forecast.planned_end is not None:
        ax.axvline(forecast.planned_end, color="0.35", lw=1, ls=":", label="Planned end")
    locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel("Patients enrolled")
    ax.set_ylim(0, max(target, len(days), 1) * 1.12)
    _title(ax, title, legend=True)
    legend = _legend_above(ax)
    if forecast is not None:  # five entries: one row (the helper's four columns would wrap into the title)
        legend.remove()
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, labels, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.15,
                  ncol=len(handles), handlelength=1.6, columnspacing=1.0, fontsize=7.5)
    return fig


def _forecast_band(ax, forecast) -> None:
    """The forecast from the cut-off to the upper end of the completion interval, a point a day (at most 400)."""
    import numpy as np

    span = max(1, round(forecast.completion_days[2]))
    offsets = np.unique(np.linspace(0, span, min(span, 400) + 1).round())
    lower, median, upper = forecast.band(offsets)
    x = [forecast.cutoff + dt.timedelta(days=int(s)) for s in offsets]
    ax.fill_between(x, lower, upper, step="post", color=COLOURS[0], alpha=0.15, lw=0,
                    label=f"{forecast.level:.0%} predictive band")
    ax.step(x, median, where="post", color=COLOURS[0], lw=1.2, ls="--", label="Forecast median")


# ---------------------------------------------------------------------------------------------
# survival and incidence
# ---------------------------------------------------------------------------------------------
def _ylabel(text: str) -> str:
    return textwrap.fill(text, 30)


def survival_curves(curves, title: str, *, xmax: float, ylabel: str | None = None, step: float = 6, note: str = ""):
    """Kaplan-Meier curves (time in months) with pointwise CI bands, censoring marks and numbers at risk.

    ``curves``: a list of (label, KaplanMeier) from :func:`sarcotrial.outcomes.kaplan_meier.fit_kaplan_meier`;
    ``ylabel`` says what the probability is of (by default the title's words: "Overall survival (probability)");
    ``note`` (a hazard ratio and a test, say) is written in the axes' lower left corner, where curves that start at
    1 seldom run. The left margin widens for long labels of the numbers at risk (an arm's name).
    """
    import numpy as np

    legend = len(curves) > 1 or bool(curves[0][0])
    longest = max((len(label) for label, _ in curves), default=0)
    fig, ax = _frame(6.4, 2.5, legend=legend, risk_rows=len(curves), left=max(1.0, 0.2 + 0.056 * longest))
    ticks = list(np.arange(0, xmax + 1e-9, step))
    risk_rows = []
    for k, (label, km) in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        t = np.concatenate(([0.0], km.time))
        s = np.concatenate(([1.0], km.survival))
        lo = np.concatenate(([1.0], km.lower))
        hi = np.concatenate(([1.0], km.upper))
        lo, hi = np.where(np.isnan(lo), s, lo), np.where(np.isnan(hi), s, hi)
        ax.step(t, s, where="post", color=colour, lw=1.5, label=label or None)
        ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.12, lw=0)
        censored = km.n_censor > 0
        ax.plot(km.time[censored], km.survival[censored], "|", color=colour, ms=6, mew=1)
        risk_rows.append((label, [int(r) for r in km.at(ticks).n_risk]))
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, 1.02)
    ax.set_xticks(ticks)
    ax.set_xlabel("Months from enrolment")
    ax.set_ylabel(_ylabel(ylabel or f"{title} (probability)"))
    _title(ax, title, legend)
    if legend:
        _legend_above(ax)
    if note:
        ax.text(0.015, 0.04, note, transform=ax.transAxes, ha="left", va="bottom", fontsize=7.5, linespacing=1.3,
                bbox=dict(facecolor="white", edgecolor="none", pad=1.5, alpha=0.85))
    _risk_table(fig, ax, ticks, risk_rows, [COLOURS[k % len(COLOURS)] for k in range(len(curves))])
    return fig


def incidence_top(curves) -> float:
    """The highest estimate or upper confidence limit of cumulative incidence ``curves`` (as
    :func:`incidence_curves` draws them): passed as ``ymax`` to every incidence figure of a report, it gives
    them one y scale, so that they can be compared."""
    import numpy as np

    top = 0.0
    for _label, ci in curves:
        values = np.concatenate(([0.0], ci.estimate, ci.upper))
        values = values[~np.isnan(values)]
        top = max(top, float(values.max()) if values.size else 0.0)
    return top


def incidence_curves(curves, title: str, *, xmax: float, step: float = 6, ymax: float | None = None,
                     times=None, ylabel: str = "Cumulative incidence (probability)"):
    """Cumulative incidence curves (Aalen-Johansen) with their CI bands, and numbers at risk when ``times``
    (every patient's follow-up time for the endpoint, in months) is given.

    ``curves``: a list of (label, CumulativeIncidence) from :mod:`sarcotrial.outcomes.competing_risks`. The y
    axis reaches at least the highest estimate and upper confidence limit (``ymax`` can only raise it).
    """
    import numpy as np

    fig, ax = _frame(6.4, 2.5, legend=True, risk_rows=1 if times is not None else 0, left=1.0)
    top = 0.0
    for k, (label, ci) in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        t = np.concatenate(([0.0], ci.time, [ci.max_time]))
        f = np.concatenate(([0.0], ci.estimate, ci.estimate[-1:] if ci.estimate.size else [0.0]))
        lo = np.concatenate(([0.0], ci.lower, ci.lower[-1:] if ci.lower.size else [0.0]))
        hi = np.concatenate(([0.0], ci.upper, ci.upper[-1:] if ci.upper.size else [0.0]))
        # where the log(-log) interval is undefined (an estimate of 0 or 1) the band is the estimate itself
        lo, hi = np.where(np.isnan(lo), f, lo), np.where(np.isnan(hi), f, hi)
        ax.step(t, f, where="post", color=colour, lw=1.5, label=label)
        ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.12, lw=0)
        top = max(top, float(np.max(hi)), float(np.max(f)))
    ax.set_xlim(0, xmax)
    limit = _incidence_limit(max(top, ymax or 0.0))
    ax.set_ylim(0, 1.02 if limit >= 1.0 else limit)
    ticks = list(np.arange(0, xmax + 1e-9, step))
    ax.set_xticks(ticks)
    ax.set_xlabel("Months from enrolment")
    ax.set_ylabel(_ylabel(ylabel))
    _title(ax, title, legend=True)
    _legend_above(ax)
    if times is not None:
        _risk_table(fig, ax, ticks, [("", _at_risk(times, ticks))])
    return fig


def _incidence_limit(top: float) -> float:
    """The y axis' upper end for a highest value ``top``: 10 % above it, rounded up to 0.05, at least 0.1."""
    import numpy as np

    return max(0.1, float(np.ceil(top * 1.1 / 0.05) * 0.05))
