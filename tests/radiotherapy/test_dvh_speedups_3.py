"""The DVH engine's speed-ups of 2026-12-07 against the plain computations they replace: the same numbers.

Each rewritten step must give, to the last bit, what the plain computation written out here gives
(docs/benchmarks/dvh.md): the in-plane distances searched through tiles and bounds against every run of
the point's plane taken as a candidate; the pieces of many slabs at once against :func:`pieces` one slab
at a time; the median against ``np.median``; the body contour's cells gathered per block against the
cells worked out for all samples at once; the two circles of the surface interpolation at once against
one at a time; a histogram's weights from one volume per block against the weights of each block.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sarcotrial.radiotherapy.dvh.contours import median
from sarcotrial.radiotherapy.dvh.distances import Boundaries, _squared
from sarcotrial.radiotherapy.dvh.histogram import Samples, dvh_from_samples
from sarcotrial.radiotherapy.dvh.reconstruction import _arc_crossing
from sarcotrial.radiotherapy.dvh.sampling import pieces, pieces_all
from sarcotrial.radiotherapy.dvh.voxelcentres import _StridedCells


def _every_run(b: Boundaries, plane: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distances with every run of the point's plane a candidate (no bounds): per run the nearest of its
    edges in single precision (the first of equals), that edge's squared distance in double precision,
    the least over the runs; one point at a time, the runs' lanes broadcast against the point."""
    runs = b.runs
    out = np.empty(len(pts))
    for i, (k, (x, y)) in enumerate(zip(plane.tolist(), pts)):
        j = int(np.searchsorted(b.keys, k))
        r = np.arange(runs.rs[j], runs.re[j])
        qx = np.float32(x - b.centre[0])
        qy = np.float32(y - b.centre[1])
        lanes = [t.take(r, axis=0) for t in b.low_tab]  # (runs, lanes) per quantity
        near = _squared(np.full((r.size, 1), qx), np.full((r.size, 1), qy), *lanes).argmin(axis=1)
        edge = runs.first.take(r) + np.minimum(near, runs.count.take(r) - 1)
        exact = _squared(np.full(r.size, x), np.full(r.size, y), *(c.take(edge) for c in b.edge_cols))
        out[i] = np.sqrt(exact.min())
    return out


@pytest.mark.parametrize("offset", [0.0, 350.0])
def test_distances_through_the_bounds_are_those_over_every_run(offset):
    # planes of 90-500 edges (searched by runs), two polygons on some; points near the contours, inside,
    # far outside, on a vertex; given in random order of planes
    rng = np.random.default_rng(5)
    planes = {}
    for k in range(6):
        n = int(rng.integers(90, 500))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = 25 + 4 * np.sin(4 * ang + k) + rng.uniform(-0.4, 0.4, n)
        polys = [np.column_stack([r * np.cos(ang) + offset, r * np.sin(ang) - 2 * k + offset])]
        if k % 2:
            a2 = np.linspace(0, 2 * np.pi, 70, endpoint=False)
            polys.append(np.column_stack([5 * np.cos(a2) + 40 + offset, 7 * np.sin(a2) + offset]))
        planes[3 * k + 1] = polys
    keys = np.array(sorted(planes))
    b = Boundaries(planes, 0.5)
    assert b.runs is not None and not b.few.any()
    plane = rng.choice(keys, size=1500)
    pts = np.column_stack([rng.normal(offset, 18, 1500), rng.normal(offset, 18, 1500)])
    pts[:60] = (pts[:60] - offset) * 10 + offset  # far away
    pts[60] = planes[int(plane[60])][0][3]  # on a vertex
    got = b.distance(plane, pts)
    np.testing.assert_array_equal(got, _every_run(b, plane, pts))
    assert got[60] == 0.0


def _frame(nf: int, rng) -> SimpleNamespace:
    wpos = np.cumsum(rng.uniform(1, 4, nf)) if nf > 1 else np.array([3.0])
    if nf > 1:
        w_lo, w_hi = wpos[0] - (wpos[1] - wpos[0]) / 2, wpos[-1] + (wpos[-1] - wpos[-2]) / 2
    else:
        w_lo, w_hi = 2.0, 4.0
    cuts = np.unique(np.concatenate([wpos if nf > 1 else [], [w_lo, w_hi]]))
    return SimpleNamespace(cuts=cuts, cut_list=cuts.tolist(), wpos=wpos, wpos_list=wpos.tolist(), nf=nf,
                           w_lo=w_lo, w_hi=w_hi)


@pytest.mark.parametrize("nf", [1, 2, 5, 30])
def test_pieces_of_many_slabs_as_one_slab_at_a_time(nf):
    # slabs ending on frames, a sliver (0.0007 mm, 0.01 mm) or a tolerance (1e-6 mm) from them, on the grid's
    # ends, beyond the grid, across several frames
    rng = np.random.default_rng(nf)
    frame = _frame(nf, rng)
    near = np.concatenate([frame.cuts + d for d in (0.0, 7e-4, -7e-4, 0.01, -0.01, 1e-6, -1e-6, 0.0101)])
    ends = np.concatenate([near, rng.uniform(frame.w_lo - 5, frame.w_hi + 5, 300)])
    lo = rng.choice(ends, 4000)
    hi = np.where(rng.random(4000) < 0.4, rng.choice(ends, 4000),
                  lo + rng.choice([7e-4, 0.01, 0.5, 1.0, 3.0, 7.0], 4000))
    keep = hi > lo
    los, his = lo[keep].tolist(), hi[keep].tolist()
    got = pieces_all(frame, los, his)
    assert got == [pieces(frame, a, b) for a, b in zip(los, his)]
    assert any(len(p) == 1 for p in got) and any(len(p) > 1 for p in got)


def test_median_is_numpys():
    rng = np.random.default_rng(2)
    for n in [*range(1, 30), 999, 1000, 2665]:
        for x in (rng.normal(size=n) * 10.0 ** rng.uniform(-3, 3), rng.integers(0, 4, n) * 2.5,
                  np.round(rng.uniform(0, 3, n), 2), np.full(n, 3.0007)):
            assert median(x) == np.median(x), n


def _cells_for_all(frame, rows, cols, bb, aa, q):
    """The cells of :class:`_StridedCells` worked out for every sample at once (as before 2026-12-07):
    (voxel index, faces, 1 / cell width along u and v)."""
    nc, nr = frame.nc, frame.nr
    row_off = rows[bb] * nc
    col = cols[aa]
    faces, inv = [], []
    for pos, n, step, d, which, other in ((cols, nc, 1, frame.dcol, aa, row_off), (rows, nr, nc, frame.drow, bb, col)):
        ends = (np.maximum(pos - q / 2, 0.0), np.minimum(pos + q / 2, n - 1.0))
        for end in ends:
            i0 = end.astype(np.int64)
            if q % 2:
                faces.append((other + (i0 * step)[which], (end - i0).astype(np.float32)[which],
                              other + (np.minimum(i0 + 1, n - 1) * step)[which]))
            else:
                faces.append((other + (i0 * step)[which], None, None))
        span = ends[1] - ends[0]
        inv.append(np.divide(1.0 / d, span, out=np.zeros(span.size), where=span > 0).astype(np.float32)[which])
    return row_off + col, faces, inv[0], inv[1]


@pytest.mark.parametrize("q", [2, 3])
def test_strided_cells_per_block_are_those_for_all_samples(q):
    # a grid of 37 x 23 voxels (a single row or column reaching its edges), sample columns and rows every
    # q-th voxel, reaching beyond the grid; blocks as a slice and as scattered samples
    rng = np.random.default_rng(q)
    frame = SimpleNamespace(nc=37, nr=23, dcol=2.5, drow=3.0)
    cols = np.arange(-2, 40, q)
    rows = np.arange(-1, 25, q)
    ok_c = np.flatnonzero((cols >= 0) & (cols < frame.nc))
    ok_r = np.flatnonzero((rows >= 0) & (rows < frame.nr))
    aa, bb = rng.choice(ok_c, 500), rng.choice(ok_r, 500)
    cells = _StridedCells(frame, rows, cols, bb, aa, q)
    idx, faces, inv_u, inv_v = _cells_for_all(frame, rows, cols, bb, aa, q)
    for sl in (slice(40, 321), np.sort(rng.choice(500, 77, replace=False))):
        got = cells.samples(sl)
        np.testing.assert_array_equal(got[0], idx[sl])
        for (g0, gt, g1), (w0, wt, w1) in zip(got[1], faces):
            np.testing.assert_array_equal(g0, w0[sl])
            assert (gt is None) == (wt is None) == (g1 is None) == (w1 is None) == (q % 2 == 0)
            if gt is not None:
                np.testing.assert_array_equal(gt, wt[sl])
                np.testing.assert_array_equal(g1, w1[sl])
        np.testing.assert_array_equal(got[2], inv_u[sl])
        np.testing.assert_array_equal(got[3], inv_v[sl])


def test_the_two_circles_at_once_as_one_at_a_time():
    # both third points (the plane before, the plane after) in one call: each row as its own call, NaN
    # (collinear points) included
    rng = np.random.default_rng(8)
    n = 3000
    za = rng.uniform(0, 50, n)
    zb = za + rng.choice([2.0, 3.0], n)
    na, nb = rng.normal(0, 2, n), rng.normal(0, 2, n)
    zc = np.stack([za - rng.choice([2.0, 3.0], n), zb + rng.choice([2.0, 3.0], n)])
    nc = np.stack([rng.normal(0, 2, n), rng.normal(0, 2, n)])
    nc[0, :100] = na[:100] - (nb[:100] - na[:100]) * (za[:100] - zc[0, :100]) / (zb[:100] - za[:100])  # collinear
    both = _arc_crossing(za, na, zb, nb, zc, nc)
    for row in (0, 1):
        np.testing.assert_array_equal(both[row], _arc_crossing(za, na, zb, nb, zc[row], nc[row]))
    assert np.isnan(both[0, :100]).sum() > 50 and np.isfinite(both).sum() > n


def test_histogram_weights_from_one_volume_per_block():
    # blocks of samples with one volume each (weights repeated per block) give the histogram of the same
    # blocks with a volume per sample (each block's weights as their own array)
    rng = np.random.default_rng(3)
    chunks, arrays = [], []
    for n in rng.integers(1, 400, 40).tolist():
        d = rng.uniform(5, 60, n).astype(np.float32)
        half = rng.choice([0.0, 1e-4, 0.5, 2.0], n).astype(np.float32)
        v = float(rng.uniform(0.5, 20))
        chunks.append(Samples(d, d - half, d + half, v))
        arrays.append(Samples(d, d - half, d + half, np.full(n, v)))
    total = sum(c.total_cc for c in chunks) * 1000.0
    got = dvh_from_samples("x", chunks, total, 0.0, "none", [], {})
    want = dvh_from_samples("x", arrays, total, 0.0, "none", [], {})
    np.testing.assert_array_equal(got._counts, want._counts)
    assert (got.min_gy, got.max_gy) == (want.min_gy, want.max_gy)
    assert got.mean_gy == pytest.approx(want.mean_gy, rel=1e-12)
