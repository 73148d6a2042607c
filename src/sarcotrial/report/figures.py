"""The report's figures (matplotlib, Agg): CONSORT flow, accrual, survival and incidence curves.

Each function draws from numbers already computed (:mod:`sarcotrial.report.data`,
:mod:`sarcotrial.outcomes`) and returns a Figure; :func:`~sarcotrial.publishing.plotting.save` writes it as PNG for the PDF and
SVG for the HTML (or in the formats asked). Styling is plain and journal-like: no chart junk, grey grid, numbers at risk
under survival curves.
"""

from __future__ import annotations

import datetime as dt
import textwrap

from matplotlib.patches import FancyBboxPatch

# plotting selects the Agg backend before pyplot is used; the report's figures are styled, saved and
# locked as every other figure (DRAWING, FORMATS and save are used through this module too)
from sarcotrial.publishing.plotting import COLOURS, DRAWING, FORMATS, plt, save  # noqa: F401
from sarcotrial.report.data import Consort


def _box(ax, x, y, w, h, text, *, bold=False):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.008,rounding_size=0.01",
                                linewidth=0.9, edgecolor="#333333", facecolor="white"))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.2, fontweight="bold" if bold else "normal", wrap=True)


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="-|>", color="#333333", lw=0.9))


def consort(c: Consort):
    """The CONSORT 2010 flow for a single-arm study: referral to analysis."""
    fig, ax = plt.subplots(figsize=(6.8, 7.4))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.grid(False)
    xc, w, h = 0.27, 0.50, 0.075
    levels = [
        (0.94, f"Referred by the tumour board\n(n = {c.referred})"),
        (0.80, f"Screened for eligibility\n(n = {c.screened})"),
        (0.56, f"Enrolled\n(n = {c.enrolled})"),
        (0.42, f"Started preoperative radiotherapy (n = {c.started_rt})\ncompleted all fractions (n = {c.completed_rt})"),
        (0.28, f"Operated\n(n = {c.operated})"),
        (0.12, f"Analysed for the primary endpoint\n(R0 among resected, n = {c.analysed_primary};\n"
               f"intention to treat, n = {c.enrolled})"),
    ]
    for i, (y, text) in enumerate(levels):
        _box(ax, xc, y, w, h + (0.02 if i == len(levels) - 1 else 0), text, bold=i in (2,))
        if i:
            prev_y = levels[i - 1][0]
            _arrow(ax, xc, prev_y - h / 2, xc, y + h / 2 + (0.01 if i == len(levels) - 1 else 0))
    lines = [f"Excluded (n = {c.excluded + c.not_evaluable})"]
    for text, n in c.exclusion_reasons:
        wrapped = textwrap.wrap(f"{text}: {n}", 40)
        lines += ["\u2022 " + wrapped[0]] + ["   " + more for more in wrapped[1:]]
    if c.not_evaluable:
        lines.append(f"\u2022 Screening not completed: {c.not_evaluable}")
    bh = 0.03 + 0.0225 * len(lines)
    top = 0.75
    ax.add_patch(FancyBboxPatch((0.58, top - bh), 0.41, bh, boxstyle="round,pad=0.008,rounding_size=0.01",
                                linewidth=0.9, edgecolor="#333333", facecolor="white"))
    ax.text(0.595, top - 0.012, "\n".join(lines), ha="left", va="top", fontsize=7.0, linespacing=1.35)
    ax.plot([xc, xc], [0.80 - h / 2, 0.68], color="#333333", lw=0.9)
    _arrow(ax, xc, 0.68, 0.58, 0.68)
    ended = c.withdrawn + c.lost_to_follow_up + c.died
    if ended:  # CONSORT's "discontinued" box: follow-up that ended before the study's end, and why
        lines = [f"Follow-up ended early (n = {ended})", f"\u2022 Withdrawn: {c.withdrawn}",
                 f"\u2022 Lost to follow-up: {c.lost_to_follow_up}", f"\u2022 Died: {c.died}"]
        bh = 0.03 + 0.0225 * len(lines)
        top = 0.31
        ax.add_patch(FancyBboxPatch((0.58, top - bh), 0.41, bh, boxstyle="round,pad=0.008,rounding_size=0.01",
                                    linewidth=0.9, edgecolor="#333333", facecolor="white"))
        ax.text(0.595, top - 0.012, "\n".join(lines), ha="left", va="top", fontsize=7.0, linespacing=1.35)
        _arrow(ax, xc, 0.20, 0.58, 0.20)
    return fig


def accrual(dates: list[dt.date], target: int, title: str = "Accrual"):
    """Cumulative enrolment against the protocol's target."""
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    days = sorted(dates)
    if days:
        ax.step(days, range(1, len(days) + 1), where="post", color=COLOURS[0], lw=1.6, label="Enrolled")
    ax.axhline(target, color=COLOURS[1], lw=1, ls="--", label=f"Target ({target})")
    ax.set_ylabel("Patients enrolled")
    ax.set_ylim(0, max(target, len(days)) * 1.1)
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(frameon=False, loc="upper left")
    fig.autofmt_xdate()
    return fig


def _risk_table(ax, fig, ticks, rows: list[tuple[str, list[int]]]):
    """Numbers at risk under the x axis, aligned with its ticks."""
    for k, (label, counts) in enumerate(rows):
        y = -0.24 - 0.075 * k
        ax.text(-0.02, y, label, transform=ax.transAxes, ha="right", va="center", fontsize=7.5)
        for t, n in zip(ticks, counts):
            ax.text(t, y, str(n), transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=7.5)
    ax.text(-0.02, -0.165, "At risk", transform=ax.transAxes, ha="right", va="center", fontsize=7.5, style="italic")


def survival_curves(curves, title: str, *, xmax: float, ylabel: str = "Probability", step: float = 6):
    """Kaplan-Meier curves (time in months) with pointwise CI bands, censoring marks and numbers at risk.

    ``curves``: a list of (label, KaplanMeier) from :func:`sarcotrial.outcomes.kaplan_meier.fit_kaplan_meier`.
    """
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    ticks = list(np.arange(0, xmax + 1e-9, step))
    risk_rows = []
    for k, (label, km) in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        t = np.concatenate(([0.0], km.time))
        s = np.concatenate(([1.0], km.survival))
        lo = np.concatenate(([1.0], np.nan_to_num(km.lower, nan=np.nan)))
        hi = np.concatenate(([1.0], np.nan_to_num(km.upper, nan=np.nan)))
        ax.step(t, s, where="post", color=colour, lw=1.5, label=label)
        ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.12, lw=0)
        censored = km.n_censor > 0
        ax.plot(km.time[censored], km.survival[censored], "|", color=colour, ms=6, mew=1)
        risk_rows.append((label, [int(r) for r in km.at(ticks).n_risk]))
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, 1.02)
    ax.set_xticks(ticks)
    ax.set_xlabel("Months from enrolment")
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=10)
    if len(curves) > 1 or curves[0][0]:
        ax.legend(frameon=False, loc="lower left")
    _risk_table(ax, fig, ticks, risk_rows)
    fig.subplots_adjust(bottom=0.3)
    return fig


def incidence_curves(curves, title: str, *, xmax: float, step: float = 6, ymax: float | None = None):
    """Cumulative incidence curves (Aalen-Johansen) with their CI bands.

    ``curves``: a list of (label, CumulativeIncidence) from :mod:`sarcotrial.outcomes.competing_risks`.
    """
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    top = 0.0
    for k, (label, ci) in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        t = np.concatenate(([0.0], ci.time, [ci.max_time]))
        f = np.concatenate(([0.0], ci.estimate, ci.estimate[-1:] if ci.estimate.size else [0.0]))
        lo = np.concatenate(([0.0], ci.lower, ci.lower[-1:] if ci.lower.size else [0.0]))
        hi = np.concatenate(([0.0], ci.upper, ci.upper[-1:] if ci.upper.size else [0.0]))
        ax.step(t, f, where="post", color=colour, lw=1.5, label=label)
        ax.fill_between(t, np.nan_to_num(lo), np.nan_to_num(hi), step="post", color=colour, alpha=0.12, lw=0)
        top = max(top, float(np.nanmax(hi)) if hi.size else 0.0)
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, ymax or min(1.0, max(0.2, top * 1.15)))
    ax.set_xticks(list(np.arange(0, xmax + 1e-9, step)))
    ax.set_xlabel("Months from enrolment")
    ax.set_ylabel("Cumulative incidence")
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(frameon=False, loc="upper left")
    return fig
