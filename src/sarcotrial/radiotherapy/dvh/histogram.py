"""The histogram and its metrics: weighted dose samples -> a DVH that answers D_x%, D_xcc, V_xGy.

Each sample (:class:`Samples`) is a uniform density of its volume over [low, high], the spread of
the dose over the box the sample stands for (see :mod:`.sampling`). The mean comes straight from
the weighted samples (a sample's dose is its box's mean dose, so it is the exact mean of the
interpolated dose over the rasterised structure, but for the coarse samples of a body contour and
the samples of oblique contours). Min and max come from the spread samples, each spread kept
within its dual cell's corner doses, so they are doses the interpolated grid takes in or beside
the structure's cells. Dose-at-volume and volume-at-dose queries use a fine continuous
representation (:data:`FINE_BINS` bins between min and max, the spread samples integrated exactly
into them, uniform within each bin, i.e. a piecewise-linear cumulative DVH): answers are
interpolated, never snapped to a bin edge.

Since 2026-12-07 the fine histogram picks its point samples and ramps by index rather than by boolean
mask (a boolean index of a mask mixing the two took several times as long), and the weights of blocks
with one volume each are repeated from one number per block: the same numbers in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.dvh.notation import Metric, parse_metric

FINE_BINS = 20_000


class Skip(Exception):
    """A structure that has no DVH, with the reason (internal)."""


class Samples(NamedTuple):
    """A block of dose samples: the dose at each, the low and high ends of its spread (None: a point
    sample, no spread), and the volume (mm3) each stands for: one number for the block, or one each."""

    dose: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    volume_mm3: float | np.ndarray

    @property
    def weights_cc(self) -> np.ndarray:
        w = self.volume_mm3
        return w / 1000.0 if np.ndim(w) else np.full(self.dose.size, w / 1000.0)

    @property
    def total_cc(self) -> float:
        w = self.volume_mm3
        return (float(w.sum()) if np.ndim(w) else w * self.dose.size) / 1000.0

    @property
    def dose_volume(self) -> float:
        """sum of dose x volume (Gy cm3)."""
        w = self.volume_mm3
        return (float((self.dose * w).sum()) if np.ndim(w) else w * float(self.dose.sum(dtype=np.float64))) / 1000.0


@dataclass
class DVH:
    """The DVH of one structure. Doses in Gy, volumes in cm3.

    Dose statistics refer to the part of the structure inside the dose grid (see
    ``outside_grid_percent``); ``volume_cc`` is the whole structure.
    """

    name: str
    end_cap: str
    mode: str
    volume_cc: float
    outside_grid_cc: float
    min_gy: float
    mean_gy: float
    max_gy: float
    _edges: np.ndarray = field(repr=False)
    _counts: np.ndarray = field(repr=False)
    notes: list[str] = field(default_factory=list)
    sampling: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = np.concatenate([np.cumsum(self._counts[::-1])[::-1], [0.0]])
        self._cum = c  # volume (cc) receiving at least each edge dose
        self._inside = float(c[0])

    # ------------------------------------------------------------ volumes
    @property
    def volume_in_grid_cc(self) -> float:
        return self._inside

    @property
    def outside_grid_percent(self) -> float:
        return 100.0 * self.outside_grid_cc / self.volume_cc if self.volume_cc > 0 else 0.0

    # ------------------------------------------------------------ queries
    def volume_at_dose_gy(self, dose_gy: float, relative: bool = True) -> float:
        """Volume receiving at least ``dose_gy``: percent of the in-grid volume, or cm3."""
        d = float(dose_gy)
        if d <= self._edges[0]:
            return 100.0 if relative else self._inside
        if d > self._edges[-1]:
            return 0.0
        v = float(np.interp(d, self._edges, self._cum))
        return 100.0 * v / self._inside if relative else v

    def dose_at_volume_cc(self, volume_cc: float) -> float:
        """Minimum dose to the hottest ``volume_cc`` cm3 (D_xcc)."""
        v = float(volume_cc)
        if v < 0:
            raise InvalidValue("volume_cc", "must not be negative", volume_cc)
        if v >= self._inside:
            return self.min_gy
        if v <= 0:
            return self.max_gy
        # cumulative volume decreases with dose: interpolate on the reversed arrays
        return float(np.interp(v, self._cum[::-1], self._edges[::-1]))

    def dose_at_volume_percent(self, percent: float) -> float:
        """Minimum dose to the hottest ``percent`` % of the (in-grid) volume (D_x%)."""
        p = float(percent)
        if not 0 <= p <= 100:
            raise InvalidValue("volume_percent", "must be between 0 and 100", percent)
        return self.dose_at_volume_cc(p / 100.0 * self._inside)

    def metric(self, metric: str | Metric, prescription_gy: float | None = None, volume_cc: bool = False) -> float:
        """A metric in the notation of :mod:`.notation` ("D95%", "D0.03cc", "Dmean", "V20Gy", "V95%"): a dose
        in Gy, or a volume in % of the in-grid volume (cm3 with ``volume_cc``). A V..% needs the
        prescription its dose level is a percentage of."""
        m = parse_metric(metric) if isinstance(metric, str) else metric
        if m.quantity == "volume":
            if m.unit == "%" and prescription_gy is None:
                raise InvalidValue("metric", "is relative to a prescription, and none was given", m.text)
            dose = m.amount if m.unit == "Gy" else prescription_gy * m.amount / 100
            return self.volume_at_dose_gy(dose, relative=not volume_cc)
        if m.quantity == "dose":
            return self.dose_at_volume_percent(m.amount) if m.unit == "%" else self.dose_at_volume_cc(m.amount)
        return {"mean": self.mean_gy, "max": self.max_gy, "min": self.min_gy}[m.quantity]

    def cumulative(self, bin_width_gy: float = 0.01, relative: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(dose_bins, volume): volume (cm3, or % with ``relative``) receiving at least each dose."""
        doses = np.arange(0.0, self.max_gy + bin_width_gy, bin_width_gy)
        vol = np.interp(doses, self._edges, self._cum, left=self._inside, right=0.0)
        return doses, (100.0 * vol / self._inside if relative else vol)

    def differential(self, bin_width_gy: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
        """(bin_centres, volume): cm3 in each dose bin of ``bin_width_gy``."""
        edges = np.arange(0.0, self.max_gy + 2 * bin_width_gy, bin_width_gy)
        vol = np.interp(edges, self._edges, self._cum, left=self._inside, right=0.0)
        return 0.5 * (edges[1:] + edges[:-1]), -np.diff(vol)

    def as_dict(self) -> dict:
        out = {
            "name": self.name,
            "volume_cc": round(self.volume_cc, 6),
            "min_gy": round(self.min_gy, 6),
            "mean_gy": round(self.mean_gy, 6),
            "max_gy": round(self.max_gy, 6),
            "d98_gy": round(self.dose_at_volume_percent(98), 6),
            "d95_gy": round(self.dose_at_volume_percent(95), 6),
            "d50_gy": round(self.dose_at_volume_percent(50), 6),
            "d2_gy": round(self.dose_at_volume_percent(2), 6),
            "end_cap": self.end_cap,
        }
        if self.outside_grid_cc > 0:
            out["outside_grid_percent"] = round(self.outside_grid_percent, 4)
        if self.mode != "accurate":
            out["mode"] = self.mode
        return out


@dataclass
class DVHResult:
    """DVHs by name, and the structures skipped with the reason."""

    dvhs: dict[str, DVH]
    skipped: dict[str, str]
    end_cap: str
    mode: str = "accurate"

    def as_list(self) -> list[dict]:
        return [d.as_dict() for d in self.dvhs.values()] + [{"name": n, "skipped": r} for n, r in self.skipped.items()]



# --------------------------------------------------------------------------- samples -> DVH
def _ramp_sums(pos: np.ndarray, slope: np.ndarray, n_edges: int) -> np.ndarray:
    """sum_i slope_i * max(n - pos_i, 0) at every integer n = 0..n_edges-1 (exact, O(N + n_edges))."""
    k = np.clip(np.ceil(pos), 0, n_edges).astype(np.int32)
    s_sum = np.cumsum(np.bincount(k, weights=slope, minlength=n_edges + 1))[:n_edges]
    t_sum = np.cumsum(np.bincount(k, weights=slope * pos, minlength=n_edges + 1))[:n_edges]
    return np.arange(n_edges) * s_sum - t_sum


# 0, 1, ..., FINE_BINS: the fine bins' edges in bins
_EDGE_INDEX = np.arange(FINE_BINS + 1, dtype=np.float64)


def _ramps(k_lo: np.ndarray, k_hi: np.ndarray, slope: np.ndarray, t_lo: np.ndarray, t_hi: np.ndarray) -> np.ndarray:
    """Volume in each fine bin of samples spread uniformly from x_lo to x_hi (in bins; ``k`` their ceilings,
    ``slope`` weight per bin, ``t`` slope times x): the volume below edge n is
    sum_i slope_i (max(n - x_lo_i, 0) - max(n - x_hi_i, 0)), that is n S(n) - T(n) with S and T running sums
    of the slopes and of slope times x, each ramp's start counted positive and its end negative. Two
    running sums, not one per end: the same sums, and as each ended ramp's terms cancel in S and T
    themselves (not between two large totals), better conditioned."""
    n_edges = FINE_BINS + 1
    s = np.bincount(k_lo, weights=slope, minlength=n_edges + 1)
    s -= np.bincount(k_hi, weights=slope, minlength=n_edges + 1)
    t = np.bincount(k_lo, weights=t_lo, minlength=n_edges + 1)
    t -= np.bincount(k_hi, weights=t_hi, minlength=n_edges + 1)
    below = _EDGE_INDEX * np.cumsum(s[:n_edges])
    below -= np.cumsum(t[:n_edges])
    return np.maximum(np.diff(below), 0.0)


def _fine_counts(x_lo: np.ndarray, x_hi: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    """Volume in each of :data:`FINE_BINS` bins of samples spread uniformly over [x_lo, x_hi] (in bins).

    Narrower than a bin: a point mass in its bin; wider: a ramp of slope <= weight per bin, so the
    two cumulative sums stay well conditioned.
    """
    counts = np.zeros(FINE_BINS)
    if x_hi is None:
        x_hi, point = x_lo, None
    else:
        width = x_hi - x_lo
        point = width < 1.0
    if point is None or point.all():
        idx = np.minimum(((x_lo + x_hi) * 0.5).astype(np.int32), FINE_BINS - 1)
        return counts + np.bincount(idx, weights=w, minlength=FINE_BINS)
    if point.any():
        xc = (x_lo[point] + x_hi[point]) * 0.5
        counts += np.bincount(np.minimum(xc.astype(np.int32), FINE_BINS - 1), weights=w[point], minlength=FINE_BINS)
        wide = ~point
        x_lo, x_hi, width, w = x_lo[wide], x_hi[wide], width[wide], w[wide]
    slope = w / width
    n_edges = FINE_BINS + 1
    k_lo = np.clip(np.ceil(x_lo), 0, n_edges).astype(np.int32)
    k_hi = np.clip(np.ceil(x_hi), 0, n_edges).astype(np.int32)
    counts += _ramps(k_lo, k_hi, slope, slope * x_lo, slope * x_hi)
    return counts


# samples handled at once by :func:`_binned_counts` (its temporaries then stay in cache)
HIST_BLOCK = 32768


def _binned_counts(lo: np.ndarray, hi: np.ndarray | None, w: np.ndarray, dmin: float, scale: float) -> np.ndarray:
    """As :func:`_fine_counts` of the doses ``lo`` and ``hi`` in bins (:func:`_to_bins`), the same numbers.

    Every step but the sums runs on blocks of :data:`HIST_BLOCK` samples, whose temporaries stay in
    cache (on the whole arrays each step read and wrote main memory: most of the time at half a million
    samples); the blocks' results are laid end to end, so the sums (``np.bincount``, in order of the
    samples) add the same numbers in the same order.
    """
    if hi is None:
        return _fine_counts(_to_bins(lo, dmin, scale), None, w)
    n = lo.size
    k_lo, k_hi = np.empty(n, np.int32), np.empty(n, np.int32)
    slope, t_lo, t_hi = np.empty(n), np.empty(n), np.empty(n)
    pt_idx: list[np.ndarray] = []
    pt_w: list[np.ndarray] = []
    m = 0  # ramps so far
    for b0 in range(0, n, HIST_BLOCK):
        x_lo = _to_bins(lo[b0:b0 + HIST_BLOCK], dmin, scale)
        x_hi = _to_bins(hi[b0:b0 + HIST_BLOCK], dmin, scale)
        wb = w[b0:b0 + HIST_BLOCK]
        width = x_hi - x_lo
        point = width < 1.0
        if point.any():
            # the points and the ramps picked by index (a boolean index of so mixed a mask, once per array,
            # took several times as long)
            pick = np.flatnonzero(point)
            xc = (x_lo.take(pick) + x_hi.take(pick)) * 0.5
            pt_idx.append(np.minimum(xc.astype(np.int32), FINE_BINS - 1))
            pt_w.append(wb.take(pick))
            pick = np.flatnonzero(~point)
            x_lo, x_hi, width, wb = x_lo.take(pick), x_hi.take(pick), width.take(pick), wb.take(pick)
        e = m + x_lo.size
        np.divide(wb, width, out=slope[m:e])
        # (as _ramp_sums: the positions lie in [0, FINE_BINS], their ceilings within its n_edges)
        k_lo[m:e] = np.ceil(x_lo)
        k_hi[m:e] = np.ceil(x_hi)
        np.multiply(slope[m:e], x_lo, out=t_lo[m:e])
        np.multiply(slope[m:e], x_hi, out=t_hi[m:e])
        m = e
    counts = np.zeros(FINE_BINS)
    if m == 0:  # points only
        return counts + np.bincount(np.concatenate(pt_idx), weights=np.concatenate(pt_w), minlength=FINE_BINS)
    if pt_idx:
        counts += np.bincount(np.concatenate(pt_idx), weights=np.concatenate(pt_w), minlength=FINE_BINS)
    counts += _ramps(k_lo[:m], k_hi[:m], slope[:m], t_lo[:m], t_hi[:m])
    return counts


def _to_bins(d: np.ndarray, dmin: float, scale: float) -> np.ndarray:
    x = d - dmin
    x *= scale
    np.clip(x, 0.0, float(FINE_BINS), out=x)
    return x


def dvh_from_samples(name: str, chunks: list[Samples], total_mm3: float, outside_mm3: float,
                     end_cap: str, notes: list[str], sampling: dict,
                     grid_range: tuple[float, float] = (-np.inf, np.inf)) -> DVH:
    """The DVH of weighted dose samples: exact mean; min, max and the fine histogram from the spread samples.

    Each sample is a uniform density of its weight over [low, high]; the volume below every fine-bin
    edge is a sum of ramps, computed exactly with two cumulative sums.
    """
    if not chunks:
        if total_mm3 > 0 and outside_mm3 >= total_mm3 * (1 - 1e-9):
            raise Skip("lies entirely outside the dose grid (no dose)")
        raise Skip("has no volume on the sampling grid (contours smaller than a sample)")
    wsum = sum(c.total_cc for c in chunks)
    mean = sum(c.dose_volume for c in chunks) / wsum
    spread = any(c.low is not None for c in chunks)
    # in double precision from here on, whatever the samplers worked in
    lo_d = np.concatenate([c.low if c.low is not None else c.dose for c in chunks], dtype=np.float64)
    hi_d = np.concatenate([c.high if c.high is not None else c.dose for c in chunks], dtype=np.float64) if spread else lo_d
    np.maximum(lo_d, grid_range[0], out=lo_d)  # a spread never leaves the dose grid's own range
    if spread:
        np.minimum(hi_d, grid_range[1], out=hi_d)
    dmin, dmax = float(lo_d.min()), float(hi_d.max())
    if dmax - dmin < 1e-9:
        edges = np.array([dmin, dmin + 1e-9])
        counts = np.array([wsum])
    else:
        edges = np.linspace(dmin, dmax, FINE_BINS + 1)
        scale = FINE_BINS / (dmax - dmin)
        if any(np.ndim(c.volume_mm3) for c in chunks):
            w = np.concatenate([c.weights_cc for c in chunks])
        else:  # one volume per chunk (the same numbers as weights_cc, without an array per chunk)
            w = np.repeat(np.array([c.volume_mm3 / 1000.0 for c in chunks]), [c.dose.size for c in chunks])
        counts = _binned_counts(lo_d, hi_d if spread else None, w, dmin, scale)
    return DVH(name=name, end_cap=end_cap, mode="accurate", volume_cc=total_mm3 / 1000.0,
               outside_grid_cc=outside_mm3 / 1000.0, min_gy=dmin, mean_gy=min(max(mean, dmin), dmax), max_gy=dmax,
               _edges=edges, _counts=counts, notes=notes, sampling=sampling)
