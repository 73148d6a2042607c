"""The dose grid's geometry (its own axes, frames, trilinear interpolation), built once per grid.

A dose grid covers its voxel centres plus half a voxel on each side (nearest-value extrapolation
in that border). Its axes are the row cosine (u), the column cosine (v) and their cross product
(w, the frames' normal), PS3.3 C.7.6.2.1.1 and C.8.8.3.2, so head-first, feet-first, prone,
decubitus and rotated grids need no special case.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from sarcotrial.radiotherapy.dicomrt import DoseGrid


class DoseFrame:
    """The dose grid in its own axes: u along the row cosine, v along the column cosine, w along the normal."""

    def __init__(self, dose: DoseGrid):
        # no reference to the DoseGrid itself: the frame cache must not keep it alive
        self.origin = np.asarray(dose.origin, float)
        self.r = np.asarray(dose.row_cosine, float)
        self.c = np.asarray(dose.column_cosine, float)
        self.n = np.cross(self.r, self.c)
        self.axes = np.stack([self.r, self.c, self.n])
        self.dcol, self.drow = float(dose.pixel_spacing[1]), float(dose.pixel_spacing[0])
        offsets = np.asarray(dose.frame_offsets, float)
        order = np.argsort(offsets)
        self.wpos = offsets[order]
        data = np.asarray(dose.dose, float)
        self.data = data if np.all(order == np.arange(len(order))) else data[order]
        self.nf, self.nr, self.nc = self.data.shape
        self.flat = self.data.reshape(self.nf, -1)
        if self.nf > 1:
            self.w_lo = self.wpos[0] - (self.wpos[1] - self.wpos[0]) / 2
            self.w_hi = self.wpos[-1] + (self.wpos[-1] - self.wpos[-2]) / 2
            self.frame_spacing = float(np.median(np.diff(self.wpos)))
        else:
            half = (dose.slice_thickness or 0.5 * (self.dcol + self.drow)) / 2
            self.w_lo, self.w_hi = self.wpos[0] - half, self.wpos[0] + half
            self.frame_spacing = 2 * half
        # where the interpolated dose may kink along w: the frames, and the grid's two ends
        self.cuts = np.unique(np.concatenate([self.wpos if self.nf > 1 else [], [self.w_lo, self.w_hi]]))
        self.cut_list, self.wpos_list = self.cuts.tolist(), self.wpos.tolist()  # for bisect on one slab at a time
        # structure set id -> (weak reference, nominal slice spacing in this frame): see Engine.nominal_spacing
        self.nominal_spacings: dict[int, tuple[weakref.ref, float]] = {}
        self.max_gy = float(data.max()) if data.size else 0.0
        self.min_gy = float(data.min()) if data.size else 0.0
        self._flat32: np.ndarray | None = None

    @property
    def flat32(self) -> np.ndarray:
        """The dose in single precision, one row per frame (made once per grid, when first asked for): what
        the samplers evaluate the interpolant on (:mod:`.sampling`, *Precision*)."""
        if self._flat32 is None:
            self._flat32 = self.flat.astype(np.float32)
        return self._flat32

    def to_local(self, points: np.ndarray) -> np.ndarray:
        # einsum, not a BLAS product: OpenBLAS's threads, spinning on a loaded machine, made one
        # structure's DVH many times slower (measured: docs/benchmarks/dvh.md)
        return np.einsum("ij,kj->ik", points - self.origin, self.axes)

    # ---- interpolation helpers
    @staticmethod
    def axis(f: np.ndarray, n: int):
        """Lower index, weight, inside flag and step for linear interpolation along an axis of n voxels."""
        inside = (f >= -0.5 - 1e-7) & (f <= n - 0.5 + 1e-7)
        if n == 1:
            return np.zeros(f.shape, np.int64), np.zeros(f.shape), inside, 0
        fc = np.clip(f, 0.0, n - 1.0)
        i0 = np.minimum(np.floor(fc).astype(np.int64), n - 2)
        return i0, fc - i0, inside, 1

    def trilinear(self, fi: np.ndarray, fj: np.ndarray, w: np.ndarray):
        """Dose at arbitrary points (fractional column/row indices, w in mm) and its gradient.

        Returns (dose, inside, (dD/du, dD/dv, dD/dw)) with the derivatives in Gy/mm along the
        grid's row cosine, column cosine and normal.
        """
        i0, ti, ins_i, si = self.axis(fi, self.nc)
        j0, tj, ins_j, sj = self.axis(fj, self.nr)
        ins_k = (w >= self.w_lo - 1e-7) & (w <= self.w_hi + 1e-7)
        if self.nf > 1:
            fk = np.interp(w, self.wpos, np.arange(self.nf))
            k0 = np.minimum(np.floor(fk).astype(np.int64), self.nf - 2)
            tk, sk = np.clip(fk - k0, 0.0, 1.0), 1
            dk_mm = self.wpos[k0 + 1] - self.wpos[k0]
            inner_k = (w >= self.wpos[0]) & (w <= self.wpos[-1])
        else:
            k0, tk, sk = np.zeros(w.shape, np.int64), np.zeros(w.shape), 0
            dk_mm, inner_k = np.ones(w.shape), np.zeros(w.shape, bool)
        flat = self.data.ravel()
        nrc = self.nr * self.nc
        val = np.zeros(fi.shape)
        gi = np.zeros(fi.shape)
        gj = np.zeros(fi.shape)
        gk = np.zeros(fi.shape)
        for dk, wk, sgk in ((0, 1 - tk, -1), (sk, tk, 1)):
            for dj, wj, sgj in ((0, 1 - tj, -1), (sj, tj, 1)):
                for di, wi, sgi in ((0, 1 - ti, -1), (si, ti, 1)):
                    f = flat[(k0 + dk) * nrc + (j0 + dj) * self.nc + (i0 + di)]
                    val += wk * wj * wi * f
                    gi += sgi * wk * wj * f
                    gj += sgj * wk * wi * f
                    gk += sgk * wj * wi * f
        # in the half voxel beyond the outer voxel centres the dose is the nearest voxel's: no slope
        gu = np.where((fi >= 0) & (fi <= self.nc - 1), gi * si / self.dcol, 0.0)
        gv = np.where((fj >= 0) & (fj <= self.nr - 1), gj * sj / self.drow, 0.0)
        gw = np.where(inner_k, gk * sk / dk_mm, 0.0)
        return val, ins_i & ins_j & ins_k, (gu, gv, gw)



_FRAMES: dict[int, tuple[weakref.ref, DoseFrame]] = {}
_FRAMES_LOCK = threading.Lock()


def frame_of(dose: DoseGrid) -> DoseFrame:
    """The dose grid's frame, built once per DoseGrid object (its min and max scan the whole grid)."""
    key = id(dose)
    with _FRAMES_LOCK:
        hit = _FRAMES.get(key)
        if hit is not None and hit[0]() is dose:
            return hit[1]
    frame = DoseFrame(dose)
    with _FRAMES_LOCK:
        _FRAMES[key] = (weakref.ref(dose, lambda _ref, key=key, frames=_FRAMES: frames.pop(key, None)), frame)
    return frame

