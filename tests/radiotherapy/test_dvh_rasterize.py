"""The even-odd fill of a plane's contours on the sample grid (``contours.rasterize``).

A sample (integer column, integer row) is inside when a ray from it towards -u crosses the plane's
edges an odd number of times: a hole inside a contour is outside, a contour drawn twice cancels
(the XOR of nested contours), and a vertex lying on a row is counted once (edges half-open in v).
Expected masks are written out from the rectangles' corners here, never taken from the function.
"""

from __future__ import annotations

import numpy as np

from sarcotrial.radiotherapy.dvh.contours import rasterize


def _rect(u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], float)


def _inside(nv: int, nu: int, u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    v, u = np.mgrid[0:nv, 0:nu]
    return (u > u0) & (u < u1) & (v > v0) & (v < v1)


def test_holes_repeats_and_several_planes_at_once():
    nv, nu = 12, 15
    outer, hole = _rect(1.5, 12.5, 0.5, 10.5), _rect(4.5, 8.5, 3.5, 6.5)
    masks = rasterize([[outer, hole], [outer, outer], [], [_rect(2.5, 5.5, 1.5, 3.5), _rect(6.5, 9.5, 1.5, 3.5)],
                       [_rect(-3.5, 20.5, -2.5, 20.5)]], nv, nu)
    assert masks.shape == (5, nv, nu) and masks.dtype == bool
    assert np.array_equal(masks[0], _inside(nv, nu, 1.5, 12.5, 0.5, 10.5) & ~_inside(nv, nu, 4.5, 8.5, 3.5, 6.5))
    assert not masks[1].any() and not masks[2].any()  # a contour drawn twice cancels; no contours
    assert np.array_equal(masks[3], _inside(nv, nu, 2.5, 5.5, 1.5, 3.5) | _inside(nv, nu, 6.5, 9.5, 1.5, 3.5))
    assert masks[4].all()  # a contour beyond the grid on every side covers it all


def test_vertices_on_rows_and_columns():
    # a diamond with its vertices on sample rows and columns: |u - 6| + |v - 5| < 4 (its boundary is
    # half-open: the samples on it may fall either side, the rest must be right)
    diamond = np.array([[6.0, 1.0], [10.0, 5.0], [6.0, 9.0], [2.0, 5.0]])
    m = rasterize([[diamond]], 11, 13)[0]
    v, u = np.mgrid[0:11, 0:13]
    strict = np.abs(u - 6) + np.abs(v - 5) < 4
    edge = np.abs(u - 6) + np.abs(v - 5) == 4
    assert np.array_equal(m & ~edge, strict)  # every interior sample, none outside
    # the fill is even-odd along each row: rows of a convex shape are one run each
    for row in m:
        cols = np.flatnonzero(row)
        assert cols.size == 0 or cols[-1] - cols[0] + 1 == cols.size


def test_degenerate_contours_are_ignored():
    assert not rasterize([[np.array([[1.0, 1.0], [5.0, 5.0]])]], 8, 8).any()  # two points: no area
    assert not rasterize([[_rect(1.5, 5.5, 2.0, 2.0)]], 8, 8).any()  # flat: no edge crosses a row
    assert rasterize([], 4, 4).shape == (0, 4, 4)


def test_running_xor_eight_bytes_at_a_time():
    # the running XOR along rows of 0/1 bytes, worked eight bytes to a word, against a plain loop over
    # each row (rows of one word, of a few, and of many)
    from sarcotrial.radiotherapy.dvh.contours import _running_xor

    rng = np.random.default_rng(5)
    for width in (8, 16, 40, 160):
        rows = (rng.random((7, width)) < 0.2).astype(np.uint8)
        want = np.zeros_like(rows)
        for i in range(rows.shape[0]):
            acc = 0
            for j in range(width):
                acc ^= int(rows[i, j])
                want[i, j] = acc
        assert np.array_equal(_running_xor(rows.copy()), want)
