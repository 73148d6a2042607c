"""Exact in-plane distances from sample points to a plane's contour edges (:class:`Boundaries`): the depth
of a sample inside or outside each plane's contours, which places the surface interpolated between
planes (:mod:`.reconstruction`). Numpy only. A module of its own since 2026-12-07 (it was the larger part
of :mod:`.reconstruction`); ``reconstruction.Boundaries`` is the same class.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from sarcotrial.radiotherapy.dvh.contours import median


class _Groups(NamedTuple):
    """Runs of consecutive edges of one polygon, for the bounds of the search, one column per run and one
    row per quantity, about the edges' centre: ``tiles`` in double precision for the tiles' bounds (a vertex
    of the run; its box's centre; its box's half sides plus half a tile), ``low`` in single precision for
    the points' bounds (the vertex; the box: x0, x1, y0, y1); its first edge and its number of edges; per
    plane (a row of ``Boundaries.keys``) its runs ``rs[j]:re[j]``; ``tile`` the side of the squares of
    points that share their candidate runs."""

    tiles: np.ndarray
    low: np.ndarray
    first: np.ndarray
    count: np.ndarray
    rs: np.ndarray
    re: np.ndarray
    tile: float


class Boundaries:
    """The contour edges of some planes, for the exact Euclidean distance (mm) from in-plane points to
    the nearest edge of a given plane.

    Numpy only (no spatial index to import or build; scipy.spatial alone took a quarter of a second
    to import). A plane of at most :data:`_FEW_EDGES` edges is searched whole. Otherwise each
    polygon's edges are grouped in runs of about sqrt(edges of the largest plane / :data:`_RUN_DIV`)
    consecutive edges, each with its bounding box: the distance from a point to a vertex of the plane
    bounds the answer from above, and only the runs whose box lies within that bound can hold the
    nearest edge (:meth:`_candidates`: the bounds first for square tiles of points, every plane at
    once, then for each point among its tile's runs). Which edge of a run is nearest is decided in
    single precision (coordinates about the edges' centre; the bounds with a margin far above their
    rounding), that edge's distance then computed in double precision and the least over the runs
    taken: the answer is the distance to the nearest edge, but for two edges within about 1e-5 mm of
    a tie. (The k-d tree of edge samples used before 2026-12-05 took the edge of the nearest sample
    and its neighbours: up to 0.35 mm too far on the breast plan's BODY.) ``step`` is not used.

    Only the bounds' work changed on 2026-12-06 (tiles instead of every point against every run of its
    plane, one plane at a time): the candidate runs are those the per-point bound kept and a few more,
    which cannot hold a nearer edge, so the distances are the same (docs/benchmarks/dvh.md).

    *Laid out for numpy* (2026-12-07). Every table is held by quantity (one contiguous row each: an edge's
    x0, y0, dx, dy, 1/length^2; a run's vertex and box), so each gather gives a contiguous array and every
    step after it runs along whole arrays (numpy's loops over an array of (pairs, lanes) with a strided row
    of a gathered table as operand ran a few dozen elements per inner call). A point's values repeated for
    its pairs come from ``np.repeat`` (its pairs are consecutive), not a gather, and the pairs kept are
    picked by index, not by a boolean mask (several times as long on masks this mixed). The same
    operations on the same numbers, element by element: the same nearest edge in every run and the same
    distances. The tiles' bounds take a tile's centre and half side (|x - centre| + half for the farthest
    corner along x, |box centre - centre| - box half side - half for the gap between the tile and a run's
    box): the same bounds as from the tile's corners but for the last bits of rounding, far within their
    margin (4e-3 mm2), so the same runs can hold the nearest edge and the distances are the same. The
    search took about three quarters of its time before on the breast plan (45 to 34 ms for the nine
    structures' distances, tables included); ``tests/radiotherapy/test_dvh_speedups_3.py`` compares it, to
    the last bit, with every run of the plane taken as a candidate.
    """

    def __init__(self, planes: dict[int, list[np.ndarray]], step: float | None = None):
        keys = sorted(planes)
        polys = [(k, p) for k in keys for p in planes[k]]
        sizes = np.array([len(p) for _, p in polys])
        first = np.cumsum(sizes) - sizes
        last = first + sizes - 1
        pts = np.concatenate([p for _, p in polys])
        # one row per quantity (x0, y0, dx, dy, 1 / length^2), for the exact distances
        self.edge_cols = np.empty((5, len(pts)))
        x0, y0, dx, dy, inv = self.edge_cols
        x0[:], y0[:] = pts.T
        for p, dp in ((x0, dx), (y0, dy)):  # each vertex to the next of its polygon
            np.subtract(p[1:], p[:-1], out=dp[:-1])
            dp[last] = p[first] - p[last]
        d2 = dx * dx
        d2 += dy * dy
        np.divide(1.0, d2, out=inv, where=d2 > 0)
        inv[d2 <= 0] = 0.0
        self.keys = np.array(keys)
        edge_plane = np.repeat(np.array([k for k, _ in polys]), sizes)
        # each plane's edges
        self.edge_rs = np.searchsorted(edge_plane, self.keys)
        self.edge_re = np.searchsorted(edge_plane, self.keys, side="right")
        per_plane = self.edge_re - self.edge_rs
        self.few = per_plane <= _FEW_EDGES  # per plane: searched whole
        self.centre = np.array([x0.mean(), y0.mean()])
        self.runs = None
        # in single precision about the centre, by quantity (x0, y0, dx, dy, inv)
        self.low = np.empty((5, len(pts)), np.float32)
        self.low[0] = x0 - self.centre[0]
        self.low[1] = y0 - self.centre[1]
        self.low[2:] = self.edge_cols[2:]
        if not self.few.all():
            # runs of consecutive edges of one polygon: starting at every polygon's first edge and every
            # run-th edge after it
            run = max(4, int(round(math.sqrt(max(int(per_plane[~self.few].max()), 1) / _RUN_DIV))))
            per_poly = -(-sizes // run)  # runs per polygon
            starts = np.repeat(first - (np.cumsum(per_poly) - per_poly) * run, per_poly)
            starts += np.arange(starts.size) * run
            rlen = np.append(starts[1:], len(pts)) - starts
            # a vertex half-way along each run (not its first vertex, which also closes the run before)
            mid = starts + (rlen - 1) // 2
            x1, y1 = x0 + dx, y0 + dy
            box = (np.minimum.reduceat(np.minimum(x0, x1), starts), np.maximum.reduceat(np.maximum(x0, x1), starts),
                   np.minimum.reduceat(np.minimum(y0, y1), starts), np.maximum.reduceat(np.maximum(y0, y1), starts))
            self.runs = self._groups(starts, rlen, mid, *box, edge_plane, _TILE)
            self.run = run
            # each run's edges padded to ``run`` lanes (repeating its last edge), in single precision about
            # the centre: per quantity one row of ``run`` lanes per run, gathered as contiguous rows
            lane = (np.minimum(np.arange(run), rlen[:, None] - 1) + starts[:, None]).reshape(-1)
            self.low_tab = self.low.take(lane, axis=1).reshape(5, starts.size, run)

    def _groups(self, starts, count, vertex, bx0, bx1, by0, by1, edge_plane, tile) -> _Groups:
        cx, cy = self.centre
        size = max(median(np.maximum(bx1 - bx0, by1 - by0)) * tile, 1e-3)
        vx, vy = self.edge_cols[0].take(vertex) - cx, self.edge_cols[1].take(vertex) - cy
        bx0, bx1, by0, by1 = bx0 - cx, bx1 - cx, by0 - cy, by1 - cy
        low = np.stack([vx, vy, bx0, bx1, by0, by1]).astype(np.float32)
        half = 0.5 * size
        tiles = np.stack([vx, vy, 0.5 * (bx0 + bx1), 0.5 * (by0 + by1), 0.5 * (bx1 - bx0) + half,
                          0.5 * (by1 - by0) + half])
        gplane = edge_plane[starts]
        return _Groups(tiles, low, starts, count, np.searchsorted(gplane, self.keys),
                       np.searchsorted(gplane, self.keys, side="right"), size)

    def distance(self, plane: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Distance from each point (u, v) to the nearest edge of its plane (``plane``, one per point)."""
        n = len(pts)
        if n == 0:
            return np.zeros(0)
        # the points sorted by plane (unless they come so), so a plane's points are a slice
        order = None if n < 2 or bool((plane[1:] >= plane[:-1]).all()) else np.argsort(plane, kind="stable")
        ps, sp = (plane, pts) if order is None else (plane[order], pts.take(order, axis=0))
        sx, sy = np.ascontiguousarray(sp[:, 0]), np.ascontiguousarray(sp[:, 1])
        heads = np.flatnonzero(np.concatenate([[True], ps[1:] != ps[:-1]]))
        count = np.diff(np.append(heads, n))
        qx = (sx - self.centre[0]).astype(np.float32)
        qy = (sy - self.centre[1]).astype(np.float32)
        where = np.searchsorted(self.keys, ps[heads])
        few_plane = self.few[where]
        out = np.empty(n)
        for j, s0, c in zip(where[few_plane].tolist(), heads[few_plane].tolist(), count[few_plane].tolist()):
            # a plane of few edges: every edge, in blocks of points (a few thousand points against a few dozen
            # edges are quicker in one broadcast than through bounds), the nearest in single precision
            e0, e1 = self.edge_rs[j], self.edge_re[j]
            step = max(1, _BLOCK // (e1 - e0))
            for b0 in range(s0, s0 + c, step):
                b1 = min(b0 + step, s0 + c)
                near = _squared(qx[b0:b1, None], qy[b0:b1, None], *self.low[:, e0:e1]).argmin(axis=1)
                near += e0
                out[b0:b1] = self._exact(sx[b0:b1], sy[b0:b1], near)
        if not few_plane.all():
            many = ~few_plane
            if few_plane.any():
                pick = np.flatnonzero(np.repeat(many, count))
            else:
                pick = np.arange(n)
            qq, ri = self._candidates(self.runs, pick, np.repeat(where[many], count[many]), sx, sy, qx, qy)
            # the nearest edge of each candidate run (single precision), then the nearest of those exactly
            run = self.run
            lane = np.arange(run)
            first_edge, rlen = self.runs.first, self.runs.count
            step = _LANE_BLOCK // run
            for b0 in range(0, qq.size, step):
                qb, rb = qq[b0:b0 + step], ri[b0:b0 + step]
                near = _squared(np.repeat(qx.take(qb), run), np.repeat(qy.take(qb), run),
                                *(t.take(rb, axis=0).reshape(-1) for t in self.low_tab)).reshape(-1, run).argmin(axis=1)
                ri[b0:b0 + step] = first_edge.take(rb) + np.minimum(lane.take(near), rlen.take(rb) - 1)
            # a point's candidates are consecutive
            first = np.flatnonzero(np.concatenate([[True], qq[1:] != qq[:-1]]))
            out[qq.take(first)] = np.minimum.reduceat(self._exact(sx.take(qq), sy.take(qq), ri), first)
        np.sqrt(out, out=out)
        if order is None:
            return out
        res = np.empty(n)
        res[order] = out
        return res

    def _candidates(self, groups: _Groups, pick: np.ndarray, row: np.ndarray, sx: np.ndarray, sy: np.ndarray,
                    qx: np.ndarray, qy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The groups that may hold the nearest edge of each point ``pick`` (in order of plane; its plane's
        row ``row`` in ``keys``), as (point, group) pairs grouped by point.

        First for square tiles of points (``groups.tile`` a side), every plane at once: the farthest a
        tile's corner lies from a group's vertex bounds its points' answers from above, and only the
        groups whose box comes within that bound of the tile's box are kept. Then for each point among
        its tile's groups: the nearest of their vertices bounds the answer, and the groups whose box
        lies within that bound are candidates. Every group that could hold the nearest edge is kept (a
        tile's bound lies above any of its points' answers, a group's distance to the tile below its
        distance to any of the tile's points); the tiles spare the bound over every group of the plane
        for each point.
        """
        cx, cy = self.centre
        x = sx.take(pick) - cx
        y = sy.take(pick) - cy
        size = groups.tile
        xmin, ymin = float(x.min()), float(y.min())
        tx = ((x - xmin) / size).astype(np.int64)
        ty = ((y - ymin) / size).astype(np.int64)
        nx, ny = int(tx.max()) + 1, int(ty.max()) + 1
        key = (row * ny + ty) * nx + tx
        span = int(row.max() + 1) * ny * nx
        if span <= 8 * key.size + 65536:  # the tiles in use, by marking them
            used = np.zeros(span, bool)
            used[key] = True
            tiles = np.flatnonzero(used)
            slot = np.empty(span, np.int64)
            slot[tiles] = np.arange(tiles.size)
            tid = slot[key]
        else:
            tiles, tid = np.unique(key, return_inverse=True)
        trow, rest = np.divmod(tiles, nx * ny)
        tty, ttx = np.divmod(rest, nx)
        half = 0.5 * size
        # every (tile, group of its plane): a tile's pairs are consecutive
        nr = groups.re[trow] - groups.rs[trow]
        th = np.cumsum(nr) - nr
        rp = np.repeat(groups.rs[trow] - th, nr) + np.arange(int(nr.sum()))
        xc = np.repeat(xmin + ttx * size + half, nr)
        yc = np.repeat(ymin + tty * size + half, nr)
        tab = groups.tiles
        fx = tab[0].take(rp)
        fx -= xc
        np.abs(fx, out=fx)
        fx += half
        fy = tab[1].take(rp)
        fy -= yc
        np.abs(fy, out=fy)
        fy += half
        fx *= fx
        fy *= fy
        fx += fy
        upper = np.minimum.reduceat(fx, th)
        upper += 4e-3 * (1.0 + np.sqrt(upper))  # above the single-precision margin of the points' bound
        gx = tab[2].take(rp)
        gx -= xc
        np.abs(gx, out=gx)
        gx -= tab[4].take(rp)
        np.maximum(gx, 0.0, out=gx)
        gx *= gx
        gy = tab[3].take(rp)
        gy -= yc
        np.abs(gy, out=gy)
        gy -= tab[5].take(rp)
        np.maximum(gy, 0.0, out=gy)
        gy *= gy
        gx += gy
        keep = gx <= np.repeat(upper, nr)
        kept = np.flatnonzero(keep)  # (then gathers: a boolean index of a mask this mixed took several times as long)
        cr = rp.take(kept)
        kt = np.diff(np.searchsorted(kept, np.append(th, th[-1] + nr[-1])))  # kept pairs per tile
        # each point's pairs with its tile's groups
        k = kt.take(tid)
        heads = np.cumsum(k) - k
        rr = cr.take(np.repeat((np.cumsum(kt) - kt).take(tid) - heads, k) + np.arange(int(k.sum())))
        px, py = np.repeat(qx.take(pick), k), np.repeat(qy.take(pick), k)
        low = groups.low
        # in single precision the coordinates (within some 500 mm of the centre) carry about 6e-5 mm of
        # rounding, so the squared distances about 6e-4 (1 + d) mm2: the bound gets a margin of
        # 1e-3 (1 + d) mm2 (a group too many is only searched)
        ux = low[0].take(rr)
        ux -= px
        ux *= ux
        uy = low[1].take(rr)
        uy -= py
        uy *= uy
        ux += uy
        up = np.minimum.reduceat(ux, heads)
        up += 1e-3 * (1.0 + np.sqrt(up))
        gx = low[2].take(rr)
        gx -= px
        np.maximum(gx, px - low[3].take(rr), out=gx)
        np.maximum(gx, 0.0, out=gx)
        gx *= gx
        gy = low[4].take(rr)
        gy -= py
        np.maximum(gy, py - low[5].take(rr), out=gy)
        np.maximum(gy, 0.0, out=gy)
        gy *= gy
        gx += gy
        kept = np.flatnonzero(gx <= np.repeat(up, k))
        return np.repeat(pick, k).take(kept), rr.take(kept)

    def _exact(self, px: np.ndarray, py: np.ndarray, edge: np.ndarray) -> np.ndarray:
        """Squared distance from each point (px, py) to one edge each (double precision)."""
        return _squared(px, py, *(c.take(edge) for c in self.edge_cols))


def _squared(qx, qy, x0, y0, dx, dy, inv) -> np.ndarray:
    """Squared distances from points (qx, qy) to segments (x0, y0) + t (dx, dy), t in [0, 1] (broadcast)."""
    px = qx - x0
    py = qy - y0
    t = px * dx
    t += py * dy
    t *= inv
    np.clip(t, 0.0, 1.0, out=t)
    px -= t * dx
    py -= t * dy
    px *= px
    py *= py
    px += py
    return px


# a plane with at most this many edges is searched whole (a few thousand points against a few dozen
# edges is quicker in one broadcast than through the runs' bounds)
_FEW_EDGES = 64
# point-edge pairs handled at once (temporaries that stay in cache): a plane searched whole, and the lanes of
# the candidate runs (contiguous arrays since 2026-12-07: the quickest of 8,192-65,536 on the breast plan)
_BLOCK = 65536
_LANE_BLOCK = 16384
# runs of edges about sqrt(edges of a plane / _RUN_DIV) long: the quickest of 0.5-6 on the breast plan
_RUN_DIV = 2
# tiles of points this many runs' extents (median) a side: the quickest of 0.25-2 on the breast plan
_TILE = 1.0
