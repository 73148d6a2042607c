"""The calibration figure of a risk model at its horizon (matplotlib, Agg).

Drawn from a :class:`~sarcotrial.outcomes.model_performance.ModelPerformance` (the statistics are
computed there, never here), in the report's style (:mod:`sarcotrial.publishing.plotting`;
titles and legends placed as :mod:`sarcotrial.report.figures` places them): two panels side by side.

* (a) **Calibration plot**: per risk group the mean predicted risk (x) against the observed risk
  (y: 1 - Kaplan-Meier, or the Aalen-Johansen cumulative incidence when there are competing
  events) with its confidence interval, and the diagonal of perfect calibration. Points below the
  diagonal: the model over-predicts; above: it under-predicts (Royston & Altman, BMC Med Res
  Methodol 2013; Austin et al., Stat Med 2020). The slope and O/E are written in the corner.
* (b) **Observed risk over time per risk group**, with each group's mean predicted risk by the
  horizon marked (a diamond of the group's colour on the horizon's dotted line): where a curve
  crosses the horizon far from its diamond, that group is miscalibrated.

:func:`~sarcotrial.publishing.plotting.save` writes the returned Figure as PNG or SVG.
"""

from __future__ import annotations

import numpy as np

# the style, palette and Agg backend of every figure; the report's own helpers (sarcotrial.report.figures)
# are not imported, as that module loads the study's data layer, which this figure does not need
from sarcotrial.publishing.plotting import COLOURS, plt


def _title(ax, title: str, pad: float):
    """A panel title as :mod:`sarcotrial.report.figures` sets it: left, 10 pt, ``pad`` points above the axes
    (room for panel (b)'s legend rows below it; both panels' titles on one line)."""
    ax.set_title(title, loc="left", fontsize=10, pad=pad)


def _steps(curve, horizon_max: float):
    """(times, observed risk) of a KaplanMeier (1 - S) or CumulativeIncidence, from 0 to its last time."""
    if hasattr(curve, "survival"):
        t = np.concatenate(([0.0], curve.time))
        return t, np.concatenate(([0.0], 1 - curve.survival))
    t = np.concatenate(([0.0], curve.time, [curve.max_time]))
    f = np.concatenate(([0.0], curve.estimate, curve.estimate[-1:] if curve.estimate.size else [0.0]))
    return t, f


def calibration_figure(performance, title: str = "Calibration", *, time_unit: str = "years"):
    """The calibration plot (a) and the observed risk curves per group (b) of ``performance``."""
    perf = performance
    h = perf.horizon
    # the model's name over both panels; each panel its own short title, on one line; panel (b)'s legend
    # in rows of up to four entries between its title and its axes (a long model name once ran from
    # panel (a)'s title into that legend)
    columns = min(len(perf.groups) + 1, 4)
    rows = -(-(len(perf.groups) + 1) // columns)
    pad = 8 + 13 * rows
    fig = plt.figure(figsize=(7.6, 3.6 + 0.2 * (rows - 1)))
    top = 0.76 - 0.04 * (rows - 1)
    ax_a = fig.add_axes((0.09, 0.13, 0.36, top - 0.13))
    ax_b = fig.add_axes((0.6, 0.13, 0.37, top - 0.13))
    fig.text(0.01, 0.985, title, ha="left", va="top", fontsize=11, fontweight="bold")
    competing = perf.competing_events > 0
    what = "Aalen-Johansen" if competing else "1 - Kaplan-Meier"

    # (a) predicted against observed
    pred = np.array([g.predicted for g in perf.groups], dtype=float)
    obs = np.array([np.nan if g.observed is None else g.observed for g in perf.groups], dtype=float)
    lo = np.array([np.nan if g.lower is None else g.lower for g in perf.groups], dtype=float)
    hi = np.array([np.nan if g.upper is None else g.upper for g in perf.groups], dtype=float)
    values = np.concatenate((pred, obs, lo, hi))
    values = values[np.isfinite(values)]
    top = min(1.0, max(0.1, float(np.ceil((values.max() if values.size else 0.1) * 1.1 / 0.05) * 0.05)))
    ax_a.plot([0, top], [0, top], color="0.55", lw=1, ls="--", label="Perfect calibration")
    for k, g in enumerate(perf.groups):
        colour = COLOURS[k % len(COLOURS)]
        if g.observed is None:
            continue
        err = None
        if g.lower is not None and g.upper is not None:
            err = [[max(0.0, g.observed - g.lower)], [max(0.0, g.upper - g.observed)]]
        ax_a.errorbar([g.predicted], [g.observed], yerr=err, fmt="o", color=colour, ms=5, capsize=3, lw=1.2,
                      label=f"Group {g.group}")
    ax_a.set_xlim(0, top)
    ax_a.set_ylim(0, top)
    ax_a.set_aspect("equal", adjustable="box")
    ax_a.set_xlabel(f"Predicted risk by {h:g} {time_unit}")
    ax_a.set_ylabel(f"Observed risk\n({what})")
    lines = []
    if perf.calibration_slope is not None:
        s = perf.calibration_slope
        lines.append(f"slope {s.slope:.2f} ({s.lower:.2f} to {s.upper:.2f})")
    if perf.oe_ratio is not None:
        ci = perf.oe_ci
        ci_text = f" ({ci[0]:.2f} to {ci[1]:.2f})" if None not in ci else ""
        lines.append(f"O/E {perf.oe_ratio:.2f}{ci_text}")
    if lines:
        ax_a.text(0.97, 0.04, "\n".join(lines), transform=ax_a.transAxes, ha="right", va="bottom", fontsize=7,
                  linespacing=1.3, bbox=dict(facecolor="white", edgecolor="none", pad=1.5, alpha=0.85))
    _title(ax_a, f"(a) Calibration at {h:g} {time_unit}", pad)

    # (b) observed risk over time per group, the mean predicted risk at the horizon marked
    xmax = h * 1.25
    ymax = 0.0
    for k, g in enumerate(perf.groups):
        colour = COLOURS[k % len(COLOURS)]
        t, f = _steps(g.curve, xmax)
        keep = t < xmax
        t, f = np.append(t[keep], xmax if t[-1] >= xmax else t[keep][-1]), np.append(f[keep], f[keep][-1])
        ax_b.step(t, f, where="post", color=colour, lw=1.4, label=f"Group {g.group}")
        ax_b.plot([h], [g.predicted], marker="D", color=colour, ms=5, mec="white", mew=0.6, clip_on=False)
        ymax = max(ymax, float(np.nanmax(f)), g.predicted)
    ax_b.axvline(h, color="0.35", lw=1, ls=":")
    ax_b.plot([], [], marker="D", ls="none", color="0.3", ms=5, label="Mean predicted")
    ax_b.set_xlim(0, xmax)
    ax_b.set_ylim(0, min(1.02, max(0.1, float(np.ceil(ymax * 1.1 / 0.05) * 0.05))))
    ax_b.set_xlabel(f"Time ({time_unit})")
    ax_b.set_ylabel(f"Observed risk\n({what})")
    _title(ax_b, "(b) Observed risk by predicted-risk group", pad)
    ax_b.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.15, ncol=columns,
                handlelength=1.5, columnspacing=1.0, handletextpad=0.4, fontsize=8)
    return fig
