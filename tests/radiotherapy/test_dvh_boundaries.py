"""The in-plane distance to a plane's contour edges (``reconstruction.Boundaries``), which places the
interpolated surface between contour planes.

Expected values come from geometry (distances to the sides of a square, to a circle's chord
polygon) or from a brute-force minimum over every edge written out here, never from the class.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from sarcotrial.radiotherapy.dvh.reconstruction import Boundaries

from . import phantoms as ph


def _brute(poly: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest segment of a closed polygon, one segment at a time."""
    out = []
    for x, y in pts:
        best = math.inf
        for i in range(len(poly)):
            (ax, ay), (bx, by) = poly[i], poly[(i + 1) % len(poly)]
            dx, dy = bx - ax, by - ay
            t = 0.0 if dx == dy == 0 else min(1.0, max(0.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
            best = min(best, math.hypot(x - ax - t * dx, y - ay - t * dy))
        out.append(best)
    return np.array(out)


def _brute_all(poly: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """As :func:`_brute`, every point against every segment at once (double precision, numpy)."""
    a, b = poly, np.roll(poly, -1, axis=0)
    d = b - a
    px = pts[:, None, 0] - a[None, :, 0]
    py = pts[:, None, 1] - a[None, :, 1]
    t = np.clip((px * d[:, 0] + py * d[:, 1]) / (d[:, 0] ** 2 + d[:, 1] ** 2), 0.0, 1.0)
    return np.hypot(px - t * d[:, 0], py - t * d[:, 1]).min(axis=1)


def test_square_distances_are_exact():
    # a 10 mm square on plane 0 and a 2 mm square on plane 1: the distances are to the sides/corners
    big = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    small = np.array([[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0]])
    b = Boundaries({0: [big], 1: [small]}, 0.5)
    pts = np.array([[5.0, 5.0], [1.0, 3.0], [13.0, 14.0], [5.0, 5.0], [8.0, 5.0], [7.0, 7.0]])
    plane = np.array([0, 0, 0, 1, 1, 1])
    expected = [5.0, 1.0, 5.0, 1.0, 2.0, math.sqrt(2.0)]
    np.testing.assert_allclose(b.distance(plane, pts), expected, rtol=0, atol=1e-12)


def test_nearest_edge_not_the_edge_of_the_nearest_edge_sample():
    # The point (0.25, 1) is 1 mm above the long edge y = 0 of the first square; the second polygon's
    # vertex (0.25, 2.02) is 1.02 mm away. An edge sampled every 0.5 mm has no sample nearer than
    # hypot(0.25, 1) = 1.03 mm, so a nearest-sample search picks the other polygon (1.02 mm): the
    # exact answer is 1 mm.
    a = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, -10.0], [0.0, -10.0]])
    b = np.array([[0.25, 2.02], [0.35, 12.0], [0.15, 12.0]])
    got = Boundaries({0: [a, b]}, 0.5).distance(np.array([0]), np.array([[0.25, 1.0]]))
    np.testing.assert_allclose(got, [1.0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("offset", [0.0, 400.0])
def test_many_edges_match_brute_force(offset):
    # planes of 300 and 40 edges (the first searched by runs of edges, the second whole), two parts on
    # one plane; points inside, outside and far away, in an arbitrary order of planes; also 400 mm from
    # the origin (the search runs in single precision about the edges' centre)
    rng = np.random.default_rng(7)
    ang = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    wobbly = np.column_stack([(30 + 4 * np.sin(5 * ang)) * np.cos(ang), (30 + 4 * np.sin(5 * ang)) * np.sin(ang)])
    ang2 = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    a = np.column_stack([5 * np.cos(ang2) - 20, 5 * np.sin(ang2)])
    c = np.column_stack([3 * np.cos(ang2) + 20, 8 * np.sin(ang2)])
    wobbly, a, c = wobbly + offset, a + offset, c + offset
    planes = {3: [wobbly], 7: [a, c]}
    b = Boundaries(planes, 0.5)
    pts = rng.uniform(-60, 60, size=(2000, 2)) + offset
    plane = rng.choice([3, 7], size=2000)
    got = b.distance(plane, pts)
    want = np.where(plane == 3, _brute_all(wobbly, pts), np.minimum(_brute_all(a, pts), _brute_all(c, pts)))
    # the vectorised brute force is the one-segment-at-a-time loop's
    np.testing.assert_allclose(_brute_all(wobbly, pts[:60]), _brute(wobbly, pts[:60]), rtol=0, atol=1e-12)
    # the nearest edge is picked in single precision: where two edges tie within ~1e-5 mm either may be
    # taken (its distance then computed in double precision)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert np.mean(np.abs(got - want) < 1e-12) > 0.99


def test_a_dvh_needs_no_scipy(tmp_path):
    # a sphere (its surface interpolated between planes) and a box: no scipy module is imported
    # (scipy.spatial alone took a quarter of a second of the dvh command's start-up)
    rtss = ph.write_rtstruct(tmp_path / "rtss.dcm", [ph.ROI("Sphere", ph.sphere((0, 0, 10), 8.0, 2.0)),
                                                      ph.ROI("Box", ph.box(-5, 5, -5, 5, 0, 10, 2.0))])
    grid = ph.GridSpec.around((-15, -15, -5), (15, 15, 25), 2.5)
    rtdose = ph.write_rtdose(tmp_path / "rtdose.dcm", grid, ph.sample(grid, lambda x, y, z: 10 + 0.1 * x))
    code = ("import sys\n"
            "from sarcotrial.radiotherapy.dicomrt import read_rtdose, read_rtstruct\n"
            "from sarcotrial.radiotherapy.dvh import compute_dvhs\n"
            f"r = compute_dvhs(read_rtstruct({str(rtss)!r}), read_rtdose({str(rtdose)!r}))\n"
            "assert sorted(r.dvhs) == ['Box', 'Sphere'], r\n"
            "print(sorted(m for m in sys.modules if m.startswith('scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_several_planes_searched_by_runs_match_brute_force():
    # three planes of over 64 edges each (all searched by runs of edges, each plane's runs then indexed
    # from its own first run), one of them with two polygons, and points of every plane interleaved:
    # each point's distance is to its own plane's edges only
    rng = np.random.default_rng(11)
    ang = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    big = np.column_stack([40 * np.cos(ang), 25 * np.sin(ang)])
    left = np.column_stack([6 * np.cos(ang) - 15, 9 * np.sin(ang)])
    right = np.column_stack([(10 + np.sin(7 * ang)) * np.cos(ang) + 15, (10 + np.sin(7 * ang)) * np.sin(ang)])
    small = np.column_stack([12 * np.cos(ang) + 5, 12 * np.sin(ang) - 3])
    planes = {2: [big], 5: [left, right], 9: [small]}
    b = Boundaries(planes, 0.5)
    pts = rng.uniform(-50, 50, size=(1500, 2))
    plane = rng.choice([2, 5, 9], size=1500)
    got = b.distance(plane, pts)
    want = np.select([plane == 2, plane == 5],
                     [_brute_all(big, pts), np.minimum(_brute_all(left, pts), _brute_all(right, pts))],
                     _brute_all(small, pts))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert np.mean(np.abs(got - want) < 1e-12) > 0.99


@pytest.mark.parametrize("sort_points", [False, True])
def test_many_planes_tiles_match_brute_force(sort_points):
    # eight planes of 150-400 edges (searched by runs, their bounds worked out by tiles of points for
    # every plane at once), two polygons on some planes, one plane of 30 edges searched whole; points
    # near the contours, inside and far outside; given in random order of planes, or sorted by plane
    rng = np.random.default_rng(23)
    planes, want_of = {}, {}
    for k in range(8):
        n = int(rng.integers(150, 400))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = 20 + 3 * np.sin(3 * ang + k) + rng.uniform(-0.3, 0.3, n)
        polys = [np.column_stack([r * np.cos(ang) + k, r * np.sin(ang) - k])]
        if k % 3 == 0:
            a2 = np.linspace(0, 2 * np.pi, 40, endpoint=False)
            polys.append(np.column_stack([4 * np.cos(a2) + 35, 6 * np.sin(a2)]))
        planes[2 * k] = polys
    a3 = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    planes[20] = [np.column_stack([9 * np.cos(a3), 9 * np.sin(a3)])]
    keys = np.array(sorted(planes))
    plane = rng.choice(keys, size=3000)
    pts = np.column_stack([rng.normal(0, 15, 3000), rng.normal(0, 15, 3000)])
    pts[:150] *= 8  # far away
    if sort_points:
        order = np.argsort(plane, kind="stable")
        plane, pts = plane[order], pts[order]
    got = Boundaries(planes, 0.5).distance(plane, pts)
    for k in keys:
        sel = plane == k
        want_of[k] = np.min([_brute_all(p, pts[sel]) for p in planes[k]], axis=0)
    want = np.empty(len(pts))
    for k in keys:
        want[plane == k] = want_of[k]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert np.mean(np.abs(got - want) < 1e-12) > 0.99


def test_points_spread_far_beyond_the_tiles():
    # points thousands of tiles apart (the tiles then numbered by sorting, not marked in an array): the
    # same distances as brute force
    ang = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    ring = np.column_stack([10 * np.cos(ang), 10 * np.sin(ang)])
    pts = np.array([[0.0, 0.0], [10.5, 0.0], [5e4, 0.0], [-3e4, 4e4], [0.0, -9.0], [1e4, 1e4]])
    got = Boundaries({4: [ring]}, 0.5).distance(np.full(len(pts), 4), pts)
    np.testing.assert_allclose(got, _brute(ring, pts), rtol=1e-12, atol=1e-6)
