"""Sampling: the dose over a solid as weighted, spread samples (:class:`.histogram.Samples`).

The dose between voxel centres is their trilinear interpolant (the nearest voxel's dose in the
half voxel beyond the outer voxel centres and frames). Inside a *dual cell* (the box between
2 x 2 x 2 neighbouring voxel centres, two neighbouring frames along w) that is one trilinear
polynomial; its kinks lie only on the planes through voxel centres and on the frames. Every
sample stands for a cell (a box) lying inside one dual cell, so over its cell the dose is that one
polynomial: the sample's dose is the polynomial at the box centre (also its mean over the box) and
its gradient there is the polynomial's, never a slope from the far side of a voxel centre. The
dose over the box then spans about |gradient| x box size; spreading the sample uniformly over
that width (the variance of a linear dose over the box; kept within the doses at its dual cell's
corners) turns the staircase of point samples into the continuous DVH, exactly so for a dose
linear along one axis in each dual cell (a dose with kinks on voxel centres included).

Slabs are cut at every dose frame (:func:`pieces`). Three samplers:

- sub-voxel samples (``s`` even, :func:`_sample_subvoxel`): the in-plane cells subdivide the
  voxels with the voxel centres on their edges, and each piece of a slab between two frames is one
  sample thick: the interpolant is linear along w there, so the spread over the thickness is exact
  along w. (Sub-planes about as thin as the in-plane samples, as before 2026-12, changed no figure
  of the Nelms et al. set, to 1e-4 %, at a fifth more time on the breast plan's small structures.)
  The thin slabs of an interpolated interval (:mod:`.reconstruction`) still follow the surface at
  about the in-plane sample spacing;
- samples on the voxel centres (``s = 1``, :mod:`.voxelcentres`): regrouped by dual cell, or for
  the largest structures every q-th voxel centre with the interpolant's mean slopes over its cell
  (an exception: such cells hold other voxel centres);
- contours on planes oblique to the dose planes (:func:`_sample_oblique`): the other exception,
  each sample takes the gradient of the dual cell its centre lies in.

*Slivers.* A slab is not cut at a frame within :data:`SLIVER_MM` (0.01 mm) of its end: contour planes
a rounding away from the frames (0.0007 mm on the breast plan of ``docs/benchmarks/dvh.md``) would
otherwise give every slab a second piece, and so a second set of samples, a few ten-thousandths of a
millimetre thick. The sliver is sampled with the rest of the slab, on the frame interval next to it
(:func:`pieces`; the coarse samples of a body contour likewise). Since 2026-12-06.

*Precision.* The three axis-aligned samplers evaluate the interpolant in single precision, on the dose
grid rounded to single precision once per grid (``DoseFrame.flat32``): each sample's dose and the ends
of its spread are then within about 1e-6 of the grid's largest dose of the double-precision values
(relative rounding 6e-8, some ten operations), far below what a dose grid resolves, for two thirds of
the arithmetic's time. The volumes (the samples' weights), the mean's sum and the histogram stay in
double precision. The bounds against the engine before, on the breast plan and the Nelms et al. set,
are asserted by ``tests/radiotherapy/test_dvh_speedups.py``. The oblique sampler stays in double
precision. Since 2026-12-06.

*Pieces of many slabs at once* (:func:`pieces_all`, since 2026-12-07): the slabs that no frame cuts (but
for slivers), nearly all of them, get their one piece from the same comparisons on the same numbers done
for every slab at once; the others still go through :func:`pieces`. The same pieces, without a Python
call per slab (``tests/radiotherapy/test_dvh_speedups_3.py`` compares the two).
"""

from __future__ import annotations

import bisect

import numpy as np

from sarcotrial.radiotherapy.dvh.dosegrid import DoseFrame
from sarcotrial.radiotherapy.dvh.histogram import Samples
from sarcotrial.radiotherapy.dvh.reconstruction import Solid

MAX_SUBPLANES = 12
CUT_TOLERANCE_MM = 1e-6
# A slab is not cut at a dose frame that lies within this distance of its end: the sliver beyond the frame
# (contour planes a rounding away from the frames, 0.0007 mm on the breast plan, would otherwise double
# the samples of every slab) is sampled with the rest of the slab, the interpolant of the frame interval
# next to it extended over the sliver. The grid's two ends are still cut at CUT_TOLERANCE_MM (what lies
# beyond them is outside the grid). See :func:`pieces`.
SLIVER_MM = 0.01
# samples are evaluated in blocks of about this many: numpy's temporaries then stay small and in
# cache (on the benchmark machine, arrays of a few hundred thousand were several times slower per
# element)
SAMPLE_BLOCK = 16384

# A piece of a slab along w: (w0, w1, k0, k1, inside the grid); between frames k0 and k1 = k0 + 1,
# or (k0 == k1) in the half frame beyond the first or last frame, or outside the grid.
Piece = tuple[float, float, int, int, bool]


def spread(d, gu, gv, gw, hu, hv, hz, lo_bound, hi_bound):
    """(low, high) of each sample's spread over its cell (hu x hv x hz, gradients in Gy/mm), kept within
    the bounds (the doses at the corners of the sample's dual cell); (None, None) when nothing spreads."""
    width = np.square(gu * hu)
    width += np.square(gv * hv)
    if np.ndim(gw) or gw:
        width += np.square(gw * hz)
    if not width.any():
        return None, None
    np.sqrt(width, out=width)
    width *= 0.5
    return np.maximum(d - width, lo_bound), np.minimum(d + width, hi_bound)


def pieces(frame: DoseFrame, lo: float, hi: float) -> list[Piece]:
    """The slab [lo, hi] (along the dose normal) cut where the interpolated dose may kink along it:
    at every dose frame (but one within :data:`SLIVER_MM` of an end of the slab) and at the grid's two ends.

    Not cutting at a frame a sliver away from an end changes the dose of the sliver's part of the slab
    by at most the sliver's thickness times the change of the dose's slope along w at that frame (the
    interpolant is continuous there): a sliver of 0.01 mm in a slope that changes by 1 Gy/mm, 0.01 Gy,
    over a 0.01 mm part of a slab some millimetres thick."""
    cuts = frame.cut_list
    i0 = bisect.bisect_right(cuts, lo + CUT_TOLERANCE_MM)
    i1 = bisect.bisect_left(cuts, hi - CUT_TOLERANCE_MM)
    if i1 > i0:
        ends = (frame.w_lo, frame.w_hi)
        inner = [c for c in cuts[i0:i1] if c in ends or (c - lo > SLIVER_MM and hi - c > SLIVER_MM)]
        pts = [lo, *inner, hi]
    else:
        pts = [lo, hi]
    out = []
    wpos, last = frame.wpos_list, frame.nf - 1
    for w0, w1 in zip(pts[:-1], pts[1:]):
        wm = 0.5 * (w0 + w1)
        if wm < frame.w_lo or wm > frame.w_hi:
            out.append((w0, w1, 0, 0, False))
        elif last == 0 or wm <= wpos[0]:
            out.append((w0, w1, 0, 0, True))
        elif wm >= wpos[-1]:
            out.append((w0, w1, last, last, True))
        else:
            k0 = min(bisect.bisect_right(wpos, wm) - 1, last - 1)
            out.append((w0, w1, k0, k0 + 1, True))
    return out


def pieces_all(frame: DoseFrame, los: list[float], his: list[float]) -> list[list[Piece]]:
    """``[pieces(frame, lo, hi) for lo, hi in zip(los, his)]``: the slabs not cut (the usual: a slab between
    two contour planes within one frame interval, but for slivers) worked out for every slab at once, with
    the same comparisons on the same numbers; a slab that is cut goes through :func:`pieces` (module
    docstring, *Pieces of many slabs at once*)."""
    n = len(los)
    if n == 0:
        return []
    lo, hi = np.array(los, dtype=float), np.array(his, dtype=float)
    cuts = frame.cuts
    i0 = np.searchsorted(cuts, lo + CUT_TOLERANCE_MM, side="right")
    i1 = np.searchsorted(cuts, hi - CUT_TOLERANCE_MM, side="left")
    cut = np.zeros(n, bool)  # a frame, not a sliver away from an end, or an end of the grid inside the slab
    for j in range(int((i1 - i0).max())):
        c = cuts.take(np.minimum(i0 + j, cuts.size - 1))
        cut |= (i0 + j < i1) & ((c == frame.w_lo) | (c == frame.w_hi) | ((c - lo > SLIVER_MM) & (hi - c > SLIVER_MM)))
    wm = 0.5 * (lo + hi)
    ok = ~((wm < frame.w_lo) | (wm > frame.w_hi))
    last = frame.nf - 1
    k0 = np.zeros(n, np.int64)
    k1 = np.zeros(n, np.int64)
    if last > 0:
        wpos = frame.wpos
        upper = wm >= wpos[-1]
        k = np.minimum(np.searchsorted(wpos, wm, side="right") - 1, last - 1)
        k0 = np.where(upper, last, k)
        k1 = np.where(upper, last, k + 1)
        first = ~ok | (wm <= wpos[0])
        k0[first] = 0
        k1[first] = 0
    return [pieces(frame, a, b) if c else [(a, b, i, j, g)]
            for a, b, c, i, j, g in zip(los, his, cut.tolist(), k0.tolist(), k1.tolist(), ok.tolist())]


def subplane_count(length: float, hz: float) -> int:
    return min(max(round(length / hz), 1), MAX_SUBPLANES)


def sample(solid: Solid, frame: DoseFrame, basis: np.ndarray | None, origin: np.ndarray | None,
           hz: float) -> tuple[list[Samples], float, float, int]:
    """Dose samples of a solid: ([blocks of samples], total mm3, outside mm3, most sub-planes in a slab)."""
    from sarcotrial.radiotherapy.dvh.voxelcentres import sample_dual_cells, sample_strided

    if basis is not None:
        return _sample_oblique(solid, frame, basis, origin, hz)
    if solid.grid.s == 1:
        return sample_dual_cells(solid, frame) if solid.grid.stride == 1 else sample_strided(solid, frame, hz)
    return _sample_subvoxel(solid, frame)


# --------------------------------------------------------------------------- sub-voxel samples
def _subvoxel_segments(parts: list[tuple[float, float, int, int]], frame: DoseFrame, area: float):
    """The pieces of every part of a solid between frames, given as (w_lo, w_hi, samples, samples inside).

    Returns (segments, total mm3, outside mm3, most pieces in a part), one segment per piece inside
    the grid: (w0, w1, k0, k1, the part's first sample among those inside the grid, their number).
    A piece is one sample thick along w: between two frames the interpolant is linear along w, so the
    spread over the piece's thickness (its slope along w times the thickness) is exact there.
    """
    total = outside = 0.0
    max_m = 1
    segments: list[tuple[float, float, int, int, int, int]] = []
    first = 0
    for (lo, hi, npx, n_in), slab in zip(parts, pieces_all(frame, [p[0] for p in parts], [p[1] for p in parts])):
        t = hi - lo
        total += area * t * npx
        outside += area * t * (npx - n_in)
        if n_in == 0:
            continue
        max_m = max(max_m, len(slab))
        for w0, w1, k0, k1, ok in slab:
            if ok:
                segments.append((w0, w1, k0, k1, first, n_in))
            else:
                outside += area * (w1 - w0) * n_in
        first += n_in
    return segments, total, outside, max_m


class _PlaneValues:
    """The bilinear interpolant on dose frames at sub-voxel samples, with its gradient and the doses at
    the corners of each sample's dual cell."""

    def __init__(self, frame: DoseFrame, a: np.ndarray, b: np.ndarray, axes):
        i0a, tia, j0b, tjb, sa, sb, si, sj = axes
        self.flat = frame.flat32.reshape(-1)  # single precision (module docstring, *Precision*)
        self.nrc = frame.nr * frame.nc
        self.ta, self.tb = tia[a], tjb[b]
        self.su, self.sv = sa[a], sb[b]
        self.base = j0b[b] * frame.nc + i0a[a]
        self.offsets = (si, sj * frame.nc, sj * frame.nc + si)

    def at(self, k: np.ndarray):
        """(dose, dD/du, dD/dv, lowest and highest corner) on frames ``k`` (one per sample)."""
        i = k * self.nrc + self.base
        o01, o10, o11 = self.offsets
        f00, f01, f10, f11 = (self.flat.take(i), self.flat.take(i + o01), self.flat.take(i + o10),
                              self.flat.take(i + o11))
        ta, tb = self.ta, self.tb
        top = f00 + ta * (f01 - f00)
        bottom = f10 + ta * (f11 - f10)
        low = np.minimum(np.minimum(f00, f01), np.minimum(f10, f11))
        high = np.maximum(np.maximum(f00, f01), np.maximum(f10, f11))
        gu = (f01 - f00 + tb * (f11 - f10 - f01 + f00)) * self.su
        gv = (bottom - top) * self.sv
        return top + tb * (bottom - top), gu, gv, low, high


def _subvoxel_axes(solid: Solid, frame: DoseFrame):
    """Per sample column and row: the voxel below, the weight of the next, inside flags and slope scales."""
    g = solid.grid
    fa = (g.u0 + np.arange(g.nu) * g.hu) / frame.dcol
    fb = (g.v0 + np.arange(g.nv) * g.hv) / frame.drow
    i0a, tia, insa, si = DoseFrame.axis(fa, frame.nc)
    j0b, tjb, insb, sj = DoseFrame.axis(fb, frame.nr)
    # per-voxel slope scales; zero in the half voxel beyond the outer voxel centres, where the dose is
    # the nearest voxel's (the sample's cell lies wholly there: s is even)
    sa = np.where((fa >= 0) & (fa <= frame.nc - 1), si / frame.dcol, 0.0)
    sb = np.where((fb >= 0) & (fb <= frame.nr - 1), sj / frame.drow, 0.0)
    f32 = np.float32
    return (i0a, tia.astype(f32), j0b, tjb.astype(f32), sa.astype(f32), sb.astype(f32), si, sj), insa, insb


def _sample_subvoxel(solid: Solid, frame: DoseFrame) -> tuple[list[Samples], float, float, int]:
    """Samples on a grid that subdivides the dose voxels (``s`` even): each sample's cell lies in one
    dual cell in-plane, and each piece of a slab between two frames (or beyond the outer ones)."""
    g = solid.grid
    axes, insa, insb = _subvoxel_axes(solid, frame)
    parts = [p for p in solid.parts() if p[2].size]
    if not parts:
        return [], 0.0, 0.0, 1
    bb = np.concatenate([p[2] for p in parts])
    aa = np.concatenate([p[3] for p in parts])
    inside = insa[aa] & insb[bb]
    sizes = np.array([p[2].size for p in parts])
    n_in = np.add.reduceat(inside.astype(np.int64), np.cumsum(sizes) - sizes)
    segments, total, outside, max_m = _subvoxel_segments(
        [(p[0], p[1], int(n), int(k)) for p, n, k in zip(parts, sizes, n_in)], frame, g.hu * g.hv)
    if not segments:
        return [], total, outside, max_m
    w0, w1, k0, k1, first, n = (np.array(x) for x in zip(*segments))
    # every sample of every segment: its index among the samples inside the grid, and its segment
    seg_of = np.repeat(np.arange(len(n)), n)
    idx = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n - first, n)
    a_in, b_in = aa[inside], bb[inside]
    wpos = frame.wpos
    dk = np.where(k1 != k0, wpos[k1] - wpos[k0], 1.0)
    tk = np.where(k1 != k0, (0.5 * (w0 + w1) - wpos[k0]) / dk, 0.0).astype(np.float32)
    dk32 = dk.astype(np.float32)
    thick = w1 - w0
    thick32 = thick.astype(np.float32)
    chunks: list[Samples] = []
    for s0 in range(0, idx.size, SAMPLE_BLOCK):
        i, sg = idx[s0:s0 + SAMPLE_BLOCK], seg_of[s0:s0 + SAMPLE_BLOCK]
        plane = _PlaneValues(frame, a_in.take(i), b_in.take(i), axes)
        d, gu, gv, low, high = plane.at(k0.take(sg))
        d1, gu1, gv1, low1, high1 = plane.at(k1.take(sg))
        t = tk.take(sg)
        change = d1 - d
        gw = change / dk32.take(sg)  # zero beyond the outer frames (k1 == k0)
        d += t * change
        gu += t * (gu1 - gu)
        gv += t * (gv1 - gv)
        np.minimum(low, low1, out=low)
        np.maximum(high, high1, out=high)
        chunks.append(Samples(d, *spread(d, gu, gv, gw, g.hu, g.hv, thick32.take(sg), low, high),
                              g.hu * g.hv * thick.take(sg)))
    return chunks, total, outside, max_m


# --------------------------------------------------------------------------- oblique contours
def _sample_oblique(solid: Solid, frame: DoseFrame, basis: np.ndarray, origin: np.ndarray,
                    hz: float) -> tuple[list[Samples], float, float, int]:
    """Contours on planes oblique to the dose grid: sample cells cannot follow the voxel planes; each
    takes the gradient of the dual cell its centre lies in."""
    g = solid.grid
    area = g.hu * g.hv
    u_of_a = g.u0 + np.arange(g.nu) * g.hu
    v_of_b = g.v0 + np.arange(g.nv) * g.hv
    chunks: list[Samples] = []
    total = outside = 0.0
    max_m = 1
    to_patient = np.stack([frame.r, frame.c, frame.n])
    for lo, hi, bb, aa in solid.parts():
        npx = len(aa)
        if npx == 0:
            continue
        t = hi - lo
        total += area * t * npx
        m = subplane_count(t, hz)
        max_m = max(max_m, m)
        hsub = t / m
        wsub = area * hsub
        wq = lo + (np.arange(m) + 0.5) * hsub
        u = np.tile(u_of_a[aa], m)
        v = np.tile(v_of_b[bb], m)
        w = np.repeat(wq, npx)
        p = origin + u[:, None] * basis[0] + v[:, None] * basis[1] + w[:, None] * basis[2]
        loc = frame.to_local(p)
        d, ins, (gx, gy, gz) = frame.trilinear(loc[:, 0] / frame.dcol, loc[:, 1] / frame.drow, loc[:, 2])
        outside += wsub * float((~ins).sum())
        grad = np.einsum("ij,jk->ik", np.stack([gx, gy, gz], axis=1), to_patient)  # patient axes
        g1, g2, g3 = np.einsum("ij,kj->ki", grad, basis)
        if ins.any():
            chunks.append(Samples(d[ins], *spread(d[ins], g1[ins], g2[ins], g3[ins], g.hu, g.hv, hsub, frame.min_gy,
                                                  frame.max_gy), wsub))
    return chunks, total, outside, max_m
