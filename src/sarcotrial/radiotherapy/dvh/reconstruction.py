"""Reconstruction between contour planes: a structure as a solid, slabs and interpolated intervals.

*Between planes.* Where the shapes on two neighbouring planes overlap, the surface between them is
interpolated, not stepped (shape-based interpolation, Raya & Udupa, IEEE Trans Med Imaging 1990;
Herman et al., IEEE CG&A 1992): along each sample's column the contours pass at (w_j, depth_j),
the sample's signed in-plane distance inside each plane's contours (exact point-to-segment
distances to the edges, :class:`Boundaries`, so a contour too thin to hold a sample still counts).
Through those points the boundary is a circular arc, the circle through the two planes and the
plane beyond each, the two crossings averaged (a straight line where there is no third plane or
the points are collinear). Circles are reproduced exactly, so spheres and cylinders (lying along
or across the planes) are; so are cones and prisms (straight lines), and the end of a rounded
structure closes as a rounded cap. Only samples inside on one of the two planes can change
between them: the others fill the interval, the changing ones fill thin slabs (about one sample
spacing thick) up to where the surface crosses their column. Slabs of each plane's shape would
leave out the bulge of a rounded end: 2.5 % of a cylinder lying across 2 mm planes, a D95 5 % high
in a gradient across the planes. Where the shapes do not overlap, each plane's slab reaches
half-way to its neighbour.

*End caps.* ``end_cap`` decides what lies beyond the two outermost planes: ``"none"`` - the
structure ends at its first and last contour planes (as Eclipse and most planning systems; the
breast plan's stored DVHs agree within 0.7 %); ``"half-slice"`` - each end plane's shape extends
half a slice beyond it, as the analytical answers of Nelms et al. (and dicompyler-core's full
slabs). A structure drawn on a single plane gets one slice thickness either way (noted).

*Missing planes and separate parts.* A gap of more than :data:`GAP_FACTOR` nominal spacings
between planes whose shapes overlap is interpolated as above (and noted); where the shapes do not
overlap the structure has separate parts, each with its own end caps.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sarcotrial.radiotherapy.dvh.contours import Planes, SampleGrid, rasterize

GAP_FACTOR = 1.5


def rows_cols(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns of a 2-D mask's true samples, in row-major order (as ``np.nonzero``, two to three
    times quicker on these masks: flat indices, then rows and columns)."""
    flat = np.flatnonzero(mask)
    rows = flat // mask.shape[1]
    flat -= rows * mask.shape[1]
    return rows, flat


class Slab(NamedTuple):
    """A whole slab of one mask; ``core`` is the part of it the contour itself stands at."""

    lo: float
    hi: float
    mask: np.ndarray
    core: tuple[float, float]


@dataclass
class Interval:
    """The interval between two contour planes whose surface is interpolated: ``core`` holds the samples
    inside on both planes; the samples (``rows``, ``cols``) inside on one only are inside where
    ``inside`` says, per thin slab (``inside[q]`` for the q-th of ``len(inside)`` equal slabs)."""

    lo: float
    hi: float
    core: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    inside: np.ndarray

    def sections(self):
        """The thin slabs as (lo, hi, whole mask)."""
        step = (self.hi - self.lo) / len(self.inside)
        for q, inside in enumerate(self.inside):
            m = self.core.copy()
            m[self.rows, self.cols] = inside
            yield self.lo + q * step, self.lo + (q + 1) * step, m

    def parts(self):
        """Disjoint pieces for dose sampling, (lo, hi, rows, cols): the core over the whole interval
        (sampled once), then each crossed sample once, over the thin slabs it is inside. Those run from
        one end of the interval to where the surface crosses the sample's column (inside on the lower
        plane: from the lower end; else to the upper end), so a sample's slabs make one piece; samples
        with the same piece come together. A single thin slab is one piece."""
        n_sub = len(self.inside)
        if n_sub == 1:
            lo, hi, m = next(self.sections())
            yield lo, hi, *rows_cols(m)
            return
        if self.core.any():
            yield self.lo, self.hi, *rows_cols(self.core)
        step = (self.hi - self.lo) / n_sub
        count = self.inside.sum(axis=0)
        # the groups (from the lower end first, then from the upper; by count ascending; each group's samples in
        # their own order) by one stable sort of the samples, not a selection per group
        group = np.where(self.inside[0], 0, n_sub + 1) + count
        order = np.argsort(group, kind="stable")
        sizes = np.bincount(group, minlength=2 * n_sub + 2)
        ends = np.cumsum(sizes).tolist()
        rows, cols = self.rows.take(order), self.cols.take(order)
        for g in np.flatnonzero(sizes).tolist():
            lower, c = g <= n_sub, g % (n_sub + 1)
            if c == 0:  # inside on no thin slab
                continue
            lo, hi = (self.lo, self.lo + c * step) if lower else (self.lo + (n_sub - c) * step, self.hi)
            yield lo, hi, rows[ends[g] - sizes[g]:ends[g]], cols[ends[g] - sizes[g]:ends[g]]


class Solid:
    """A structure (or derived structure) along w as slabs of in-plane masks.

    ``slabs`` are (w_lo, w_hi, mask (nv, nu)), sorted and not overlapping: the form the derived
    structures combine. ``cores`` hold, per slab, the part the contour itself stands at: its plane,
    plane to cap face for an end cap, or the middle section of an interpolated thin slab (distances
    for rings are measured to these, so the slabs' corners do not bulge). A structure read from
    contours is built from a *recipe* (:class:`Slab` and :class:`Interval` items, in order along w)
    and makes its slabs only when asked; its dose sampling reads :meth:`parts` instead, so the
    samples common to both planes of an interval are sampled once over it.
    """

    def __init__(self, grid: SampleGrid, slabs: list[tuple[float, float, np.ndarray]] | None = None,
                 notes: list[str] | None = None, cores: list[tuple[float, float]] | None = None,
                 recipe: list[Slab | Interval] | None = None):
        self.grid = grid
        self.notes = notes if notes is not None else []
        self._slabs, self._cores, self._recipe = slabs, cores, recipe

    @property
    def slabs(self) -> list[tuple[float, float, np.ndarray]]:
        if self._slabs is None:
            self._build()
        return self._slabs

    @property
    def cores(self) -> list[tuple[float, float]] | None:
        if self._slabs is None:
            self._build()
        return self._cores

    @property
    def empty(self) -> bool:
        return not (self._recipe if self._slabs is None else self._slabs)

    def _build(self) -> None:
        """The slabs of the recipe, neighbours with the same mask merged."""
        slabs: list[tuple[float, float, np.ndarray]] = []
        cores: list[tuple[float, float]] = []

        def add(lo: float, hi: float, m: np.ndarray, core: tuple[float, float]) -> None:
            if slabs and abs(slabs[-1][1] - lo) < 1e-9 and np.array_equal(slabs[-1][2], m):
                slabs[-1] = (slabs[-1][0], hi, slabs[-1][2])
                cores[-1] = (min(cores[-1][0], core[0]), max(cores[-1][1], core[1]))
            else:
                slabs.append((lo, hi, m))
                cores.append(core)

        for item in self._recipe or []:
            if isinstance(item, Slab):
                add(*item)
            else:
                for lo, hi, m in item.sections():
                    add(lo, hi, m, ((lo + hi) / 2, (lo + hi) / 2))  # a section through its middle
        self._slabs, self._cores = slabs, cores

    def parts(self) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
        """Disjoint pieces for dose sampling: (w_lo, w_hi, sample rows, sample columns)."""
        if self._slabs is not None or self._recipe is None:
            return [(lo, hi, *rows_cols(m)) for lo, hi, m in self.slabs]
        out = []
        for item in self._recipe:
            if isinstance(item, Slab):
                out.append((item.lo, item.hi, *rows_cols(item.mask)))
            else:
                out.extend(item.parts())
        return out

    def mask_at(self, w: float) -> np.ndarray | None:
        los = [s[0] for s in self.slabs]
        i = bisect.bisect_right(los, w) - 1
        if i >= 0 and self.slabs[i][0] <= w < self.slabs[i][1]:
            return self.slabs[i][2]
        return None

    @property
    def extent(self) -> tuple[float, float]:
        return self.slabs[0][0], self.slabs[-1][1]


class _Groups(NamedTuple):
    """Runs of consecutive edges of one polygon, for the bounds of the search: per run one row (a vertex of
    it, its box: x0, x1, y0, y1) about the edges' centre in double (``high``) and single (``low``)
    precision, its first edge and its number of edges; per plane (a row of ``Boundaries.keys``) its
    runs ``rs[j]:re[j]``; ``tile`` the side of the squares of points that share their candidate runs."""

    high: np.ndarray
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
    """

    def __init__(self, planes: dict[int, list[np.ndarray]], step: float | None = None):
        keys = sorted(planes)
        polys = [(k, p) for k in keys for p in planes[k]]
        sizes = np.array([len(p) for _, p in polys])
        first = np.cumsum(sizes) - sizes
        last = first + sizes - 1
        pts = np.concatenate([p for _, p in polys])
        idx = np.arange(len(pts))
        d = np.empty_like(pts)  # each vertex to the next of its polygon
        np.subtract(pts[1:], pts[:-1], out=d[:-1])
        d[last] = pts[first] - pts[last]
        x0, y0, dx, dy = pts[:, 0], pts[:, 1], d[:, 0], d[:, 1]
        d2 = dx * dx + dy * dy
        inv = np.divide(1.0, d2, out=np.zeros(len(d2)), where=d2 > 0)
        self.keys = np.array(keys)
        edge_plane = np.repeat(np.array([k for k, _ in polys]), sizes)
        per_plane = np.bincount(edge_plane - keys[0])[self.keys - keys[0]]
        self.few = per_plane <= _FEW_EDGES  # per plane: searched whole
        # one row per edge (x0, y0, dx, dy, inv), for the exact distances
        self.edge_tab = np.stack([x0, y0, dx, dy, inv], axis=1)
        self.centre = np.array([x0.mean(), y0.mean()])
        x1, y1 = x0 + dx, y0 + dy
        ex0, ex1, ey0, ey1 = np.minimum(x0, x1), np.maximum(x0, x1), np.minimum(y0, y1), np.maximum(y0, y1)
        self.runs = None
        # each plane's edges; in single precision about the centre, by quantity (x0, y0, dx, dy, inv)
        self.edge_rs = np.searchsorted(edge_plane, self.keys)
        self.edge_re = np.searchsorted(edge_plane, self.keys, side="right")
        self.low = np.empty((5, len(pts)), np.float32)
        for q, values in enumerate((x0 - self.centre[0], y0 - self.centre[1], dx, dy, inv)):
            self.low[q] = values
        if not self.few.all():
            # runs of consecutive edges of one polygon: starting at every polygon's first edge and every
            # run-th edge after it
            run = max(4, int(round(math.sqrt(max(int(per_plane[~self.few].max()), 1) / _RUN_DIV))))
            offs = idx - np.repeat(first, sizes)
            starts = np.flatnonzero(offs % run == 0)
            rlen = np.append(starts[1:], len(pts)) - starts
            # a vertex half-way along each run (not its first vertex, which also closes the run before)
            mid = starts + (rlen - 1) // 2
            self.runs = self._groups(starts, rlen, mid, np.minimum.reduceat(ex0, starts),
                                     np.maximum.reduceat(ex1, starts), np.minimum.reduceat(ey0, starts),
                                     np.maximum.reduceat(ey1, starts), edge_plane, _TILE)
            self.run = run
            # each run's edges padded to ``run`` lanes (repeating its last edge), in single precision about
            # the centre: one row per run (its five quantities by lane), gathered as one contiguous row
            lane = (np.minimum(np.arange(run), rlen[:, None] - 1) + starts[:, None]).reshape(-1)
            self.low_tab = np.empty((starts.size, 5, run), np.float32)
            for q in range(5):
                self.low_tab[:, q, :] = self.low[q].take(lane).reshape(starts.size, run)

    def _groups(self, starts, count, vertex, bx0, bx1, by0, by1, edge_plane, tile) -> _Groups:
        cx, cy = self.centre
        x0, y0 = self.edge_tab[:, 0], self.edge_tab[:, 1]
        high = np.column_stack([x0[vertex] - cx, y0[vertex] - cy, bx0 - cx, bx1 - cx, by0 - cy, by1 - cy])
        gplane = edge_plane[starts]
        size = float(np.median(np.maximum(bx1 - bx0, by1 - by0))) * tile
        return _Groups(high, high.astype(np.float32), starts, count, np.searchsorted(gplane, self.keys),
                       np.searchsorted(gplane, self.keys, side="right"), max(size, 1e-3))

    def distance(self, plane: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Distance from each point (u, v) to the nearest edge of its plane (``plane``, one per point)."""
        n = len(pts)
        if n == 0:
            return np.zeros(0)
        # the points sorted by plane (unless they come so), so a plane's points are a slice
        order = None if n < 2 or bool((plane[1:] >= plane[:-1]).all()) else np.argsort(plane, kind="stable")
        ps, sp = (plane, pts) if order is None else (plane[order], pts.take(order, axis=0))
        heads = np.flatnonzero(np.concatenate([[True], ps[1:] != ps[:-1]]))
        count = np.diff(np.append(heads, n))
        qx = (sp[:, 0] - self.centre[0]).astype(np.float32)
        qy = (sp[:, 1] - self.centre[1]).astype(np.float32)
        where = np.searchsorted(self.keys, ps[heads])
        row = np.repeat(where, count)
        few = np.repeat(self.few[where], count)
        out = np.empty(n)
        if few.any():
            # a plane of few edges: every edge, in blocks of points (a few thousand points against a few dozen
            # edges are quicker in one broadcast than through bounds), the nearest in single precision
            for j, s0, c in zip(where.tolist(), heads.tolist(), count.tolist()):
                if not self.few[j]:
                    continue
                e0, e1 = self.edge_rs[j], self.edge_re[j]
                step = max(1, _BLOCK // (e1 - e0))
                for b0 in range(s0, s0 + c, step):
                    b1 = min(b0 + step, s0 + c)
                    near = _squared(qx[b0:b1, None], qy[b0:b1, None], *self.low[:, e0:e1]).argmin(axis=1)
                    near += e0
                    out[b0:b1] = self._exact(sp[b0:b1], near)
        if not few.all():
            pick = np.flatnonzero(~few)
            qq, ri = self._candidates(self.runs, pick, row[pick], sp, qx, qy)
            # the nearest edge of each candidate run (single precision), then the nearest of those exactly
            lane = np.arange(self.run)
            first_edge, rlen = self.runs.first, self.runs.count
            for b0 in range(0, qq.size, _BLOCK // self.run):
                b1 = b0 + _BLOCK // self.run
                qb, rb = qq[b0:b1], ri[b0:b1]
                g = self.low_tab.take(rb, axis=0)
                near = _squared(qx.take(qb)[:, None], qy.take(qb)[:, None], g[:, 0], g[:, 1], g[:, 2], g[:, 3],
                                g[:, 4]).argmin(axis=1)
                ri[b0:b1] = first_edge.take(rb) + np.minimum(lane.take(near), rlen.take(rb) - 1)
            # a point's candidates are consecutive
            first = np.flatnonzero(np.concatenate([[True], qq[1:] != qq[:-1]]))
            out[qq[first]] = np.minimum.reduceat(self._exact(sp.take(qq, axis=0), ri), first)
        np.sqrt(out, out=out)
        if order is None:
            return out
        res = np.empty(n)
        res[order] = out
        return res

    def _candidates(self, groups: _Groups, pick: np.ndarray, row: np.ndarray, sp: np.ndarray, qx: np.ndarray,
                    qy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The groups that may hold the nearest edge of each point ``pick`` (its plane's row ``row`` in
        ``keys``), as (point, group) pairs grouped by point.

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
        x = sp[:, 0].take(pick) - cx
        y = sp[:, 1].take(pick) - cy
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
        X0, Y0 = xmin + ttx * size, ymin + tty * size
        X1, Y1 = X0 + size, Y0 + size
        # every (tile, group of its plane)
        nr = groups.re[trow] - groups.rs[trow]
        tp = np.repeat(np.arange(tiles.size), nr)
        rp = np.repeat(groups.rs[trow] - (np.cumsum(nr) - nr), nr) + np.arange(tp.size)
        vx, vy, bx0, bx1, by0, by1 = groups.high.take(rp, axis=0).T
        X0p, X1p, Y0p, Y1p = X0[tp], X1[tp], Y0[tp], Y1[tp]
        fx = np.maximum(np.abs(vx - X0p), np.abs(vx - X1p))
        fy = np.maximum(np.abs(vy - Y0p), np.abs(vy - Y1p))
        upper = np.minimum.reduceat(fx * fx + fy * fy, np.cumsum(nr) - nr)
        upper += 4e-3 * (1.0 + np.sqrt(upper))  # above the single-precision margin of the points' bound
        gx = np.maximum(np.maximum(bx0 - X1p, X0p - bx1), 0.0)
        gy = np.maximum(np.maximum(by0 - Y1p, Y0p - by1), 0.0)
        keep = gx * gx + gy * gy <= upper[tp]
        ct, cr = tp[keep], rp[keep]
        kt = np.bincount(ct, minlength=tiles.size)
        # each point's pairs with its tile's groups
        k = kt[tid]
        pp = np.repeat(np.arange(pick.size), k)
        rr = cr[np.repeat((np.cumsum(kt) - kt)[tid] - (np.cumsum(k) - k), k) + np.arange(pp.size)]
        heads = np.cumsum(k) - k
        pq = pick.take(pp)
        px, py = qx.take(pq), qy.take(pq)
        vx, vy, bx0, bx1, by0, by1 = groups.low.take(rr, axis=0).T
        # in single precision the coordinates (within some 500 mm of the centre) carry about 6e-5 mm of
        # rounding, so the squared distances about 6e-4 (1 + d) mm2: the bound gets a margin of
        # 1e-3 (1 + d) mm2 (a group too many is only searched)
        ux = vx - px
        ux *= ux
        uy = vy - py
        uy *= uy
        ux += uy
        up = np.minimum.reduceat(ux, heads)
        up += 1e-3 * (1.0 + np.sqrt(up))
        gx = bx0 - px
        np.maximum(gx, px - bx1, out=gx)
        np.maximum(gx, 0.0, out=gx)
        gx *= gx
        gy = by0 - py
        np.maximum(gy, py - by1, out=gy)
        np.maximum(gy, 0.0, out=gy)
        gy *= gy
        gx += gy
        keep = gx <= up.take(pp)
        return pq[keep], rr[keep]

    def _exact(self, pts: np.ndarray, edge: np.ndarray) -> np.ndarray:
        """Squared distance from each point to one edge each (double precision)."""
        e = self.edge_tab.take(edge, axis=0)
        return _squared(pts[:, 0], pts[:, 1], e[:, 0], e[:, 1], e[:, 2], e[:, 3], e[:, 4])


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
# point-edge pairs handled at once (temporaries that stay in cache)
_BLOCK = 65536
# runs of edges about sqrt(edges of a plane / _RUN_DIV) long: the quickest of 0.5-6 on the breast plan
_RUN_DIV = 2
# tiles of points this many runs' extents (median) a side: the quickest of 0.25-2 on the breast plan
_TILE = 1.0


def _arc_crossing(za, na, zb, nb, zc, nc) -> np.ndarray:
    """Where the circle through (za, na), (zb, nb) and (zc, nc) crosses n = 0 on its arc from a to b
    (the arc not holding c), as a fraction of b - a; NaN where the three points are collinear."""
    bz, bn, cz, cn = zb - za, nb - na, zc - za, nc - na
    den = 2 * (bz * cn - bn * cz)
    b2, c2 = bz * bz + bn * bn, cz * cz + cn * cn
    with np.errstate(divide="ignore", invalid="ignore"):
        uz = (cn * b2 - bn * c2) / den
        un = (bz * c2 - cz * b2) / den
        # the centre is (za + uz, na + un), radius^2 = uz^2 + un^2; it meets n = 0 at z = za + uz +- root
        root = np.sqrt(np.maximum(uz * uz + un * un - (na + un) ** 2, 0.0))
        circle = np.abs(den) > 1e-9 * (b2 + c2)  # not collinear
        best = np.full(np.shape(na), np.nan)
        for sign in (-1.0, 1.0):
            xz = uz + sign * root  # relative to za; the point is (xz, -na) relative to a
            # on the arc from a to b not holding c: across the chord a-b from c (den is twice c's side)
            ok = circle & ((bz * -na - bn * xz) * den < 0) & np.isnan(best)
            best = np.where(ok, xz / bz, best)
    return best


def interpolate(pending: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]], recipe: list, pl: Planes,
                 masks: np.ndarray, links: list[str], grid: SampleGrid, hz: float) -> None:
    """The interpolated intervals of a structure: where its surface crosses the column of each sample
    inside on one of the two planes only, and so the thin slabs of those samples.

    ``pending`` holds (recipe slot, lower plane k, samples inside on both planes, rows and columns of
    the samples inside on one only). Along a sample's column the contours pass at (w_j, depth_j), its
    signed in-plane distance inside each plane's contours. Through those points the boundary is taken
    as a circular arc: the circle through the two planes and the plane beyond each of them (when the
    shapes there overlap too), the two crossings averaged where both exist, a straight line where the
    points are collinear or there is no third plane. Circles, and so spheres and cylinders, are
    reproduced exactly, cones and prisms too (straight lines), and the end of a rounded structure
    closes as a rounded cap, not as a cone.
    """
    n_planes = len(pl.w)
    wz = np.array(pl.w)
    sizes = np.array([p[3].size for p in pending])
    which = np.repeat(np.arange(len(pending)), sizes)
    kk = np.array([p[1] for p in pending])
    bb = np.concatenate([p[3] for p in pending])
    aa = np.concatenate([p[4] for p in pending])
    smooth = np.array([x == "smooth" for x in links] + [False])
    has_prev = np.array([k > 0 and smooth[k - 1] for k in kk])[which]
    has_next = np.array([k + 2 < n_planes and smooth[k + 1] for k in kk])[which]
    k0 = kk[which]
    roles = (k0, k0 + 1, np.where(has_prev, k0 - 1, k0), np.where(has_next, k0 + 2, k0 + 1))
    # signed distances to each plane's contours, each (plane, sample) asked once
    plane = np.concatenate(roles)
    # each (plane, sample) once, by marking them in an array the size of the masks: the marked ones come out
    # in order of plane (then row, column), as the distances search them
    flat = np.tile(bb * grid.nu + aa, 4)
    flat += plane * (grid.nv * grid.nu)
    used = np.zeros(masks.size, bool)
    used[flat] = True
    key = np.flatnonzero(used)
    slot = np.empty(masks.size, np.int32)
    slot[key] = np.arange(key.size, dtype=np.int32)
    back = slot[flat]
    uplane, rest = np.divmod(key, grid.nv * grid.nu)
    ubb, uaa = np.divmod(rest, grid.nu)
    heads = np.flatnonzero(np.concatenate([[True], uplane[1:] != uplane[:-1]]))
    boundaries = Boundaries({int(j): pl.polys[j] for j in uplane[heads].tolist()}, min(grid.hu, grid.hv))
    d = boundaries.distance(uplane, np.column_stack([grid.u0 + uaa * grid.hu, grid.v0 + ubb * grid.hv]))
    flag = masks.reshape(-1).take(key)
    depth = np.where(flag, d, -d)[back].reshape(4, -1)  # positive inside
    inside_flag = flag[back].reshape(4, -1)
    za, zb = wz[k0], wz[k0 + 1]
    na, nb = depth[0], depth[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = na / (na - nb)
    total = np.zeros(len(bb))
    for row, has in ((2, has_prev), (3, has_next)):
        t = _arc_crossing(za, na, zb, nb, wz[roles[row]], depth[row])
        total += np.where(has, np.where(np.isfinite(t), np.clip(t, 0.0, 1.0), linear), 0.0)
    count = has_prev.astype(int) + has_next
    cross = za + (zb - za) * np.where(count > 0, total / np.maximum(count, 1), linear)
    lower = inside_flag[0]  # inside on the lower plane
    ws = [pl.w[k] for k in kk.tolist()]
    gaps = [pl.w[k + 1] - pl.w[k] for k in kk.tolist()]
    n_subs = [max(1, int(math.ceil(gap / hz - 1e-9))) for gap in gaps]
    ends = np.cumsum(sizes).tolist()
    if len(set(n_subs)) == 1:  # every interval the same number of thin slabs (the usual): all at once
        n_sub = n_subs[0]
        w_of = np.repeat(np.array(ws), sizes)
        gap_of = np.repeat(np.array(gaps), sizes)
        centres = w_of + (np.arange(n_sub)[:, None] + 0.5) * gap_of / n_sub
        inside_all = (centres < cross) == lower
        for (slot, k, core, sb, sa), w, gap, e, n in zip(pending, ws, gaps, ends, sizes.tolist()):
            recipe[slot] = Interval(w, w + gap, core, sb, sa, inside_all[:, e - n:e])
        return
    for (slot, k, core, sb, sa), w, gap, n_sub, e, n in zip(pending, ws, gaps, n_subs, ends, sizes.tolist()):
        centres = w + (np.arange(n_sub) + 0.5) * gap / n_sub
        inside = (centres[:, None] < cross[e - n:e][None, :]) == lower[e - n:e][None, :]
        recipe[slot] = Interval(w, w + gap, core, sb, sa, inside)


def touch(polys: list[np.ndarray], mask: np.ndarray, grid: SampleGrid) -> bool:
    """Whether any vertex of a plane's polygons lies in a sample of ``mask`` (for contours too thin to rasterise)."""
    pts = np.concatenate(polys)
    ij = np.rint(grid.index_coords(pts)).astype(np.int64)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < grid.nu) & (ij[:, 1] >= 0) & (ij[:, 1] < grid.nv)
    return bool(mask[ij[ok, 1], ij[ok, 0]].any())


def build_solid(pl: Planes, grid: SampleGrid, end_cap: str, nominal: float, hz: float) -> Solid:
    """A structure's slabs and interpolated intervals (module docstring, Method 4 and 5); ``hz`` is the
    thickness the thin slabs of an interpolated interval aim at."""
    masks = rasterize(pl.polys, grid.nv, grid.nu, grid)
    notes: list[str] = []
    ws = list(pl.w)
    n_planes = len(ws)
    spacing = pl.spacing or nominal
    # how each pair of neighbouring planes is joined: "smooth" where their shapes overlap (the surface
    # between them is interpolated), "slab" where they are adjacent but do not overlap (each plane's
    # slab reaches half-way), "break" where a gap separates shapes that do not overlap (separate parts)
    # for every pair of neighbouring planes at once: the samples inside on both (the interval's core)
    cores = masks[:-1] & masks[1:]
    # and the samples inside on one of the two only, as rows and columns per pair (as rows_cols, every pair
    # at once)
    flips = np.flatnonzero(masks[:-1] ^ masks[1:])
    pair, rest = np.divmod(flips, grid.nv * grid.nu)
    rows = rest // grid.nu
    rest -= rows * grid.nu
    bounds = np.searchsorted(pair, np.arange(n_planes)).tolist()
    nonempty = masks.reshape(n_planes, -1).any(axis=1).tolist()
    shared = cores.reshape(max(n_planes - 1, 0), -1).any(axis=1).tolist()

    def overlap(j: int, k: int) -> bool:
        a, b = masks[j], masks[k]
        if nonempty[j] and nonempty[k]:
            return shared[j]
        # a contour too thin to hold a sample (the end strip of a shape lying across the planes)
        # joins the shape its vertices lie in
        return touch(pl.polys[j], b, grid) if b.any() else bool(a.any()) and touch(pl.polys[k], a, grid)

    links: list[str] = []
    filled = 0
    for k in range(1, n_planes):
        gap = ws[k] - ws[k - 1]
        if overlap(k - 1, k):
            links.append("smooth")
            if gap > GAP_FACTOR * spacing:
                filled += max(1, int(round(gap / spacing)) - 1)
        else:
            links.append("break" if gap > GAP_FACTOR * spacing else "slab")
    if filled:
        notes.append(f"{filled} missing contour plane(s) interpolated")
    n_runs = 1 + links.count("break")
    if n_runs > 1:
        notes.append(f"{n_runs} separate parts along the slice direction, each with its own end caps")

    recipe: list[Slab | Interval | None] = []
    pending: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []  # filled in by interpolate

    def add(lo: float, hi: float, m: np.ndarray, core: tuple[float, float]) -> None:
        if hi > lo:
            recipe.append(Slab(lo, hi, m, core))

    start = 0
    for k in range(n_planes):
        first = k == start
        last = k == n_planes - 1 or links[k] == "break"
        w = ws[k]
        if first and last:  # a part drawn on one plane: one slice thickness
            half = spacing / 2
            add(w - half, w + half, masks[k], (w - half, w + half))
            if end_cap == "none":
                notes.append(f"a single contour plane at {w:.2f} mm was given one slice thickness ({spacing:.2f} mm)")
            start = k + 1
            continue
        if first:
            cap = (ws[k + 1] - w) / 2 if end_cap == "half-slice" else 0.0
            add(w - cap, w, masks[k], (w - cap, w))
        if not first and links[k - 1] == "slab":
            add((ws[k - 1] + w) / 2, w, masks[k], (w, w))
        if last:
            cap = (w - ws[k - 1]) / 2 if end_cap == "half-slice" else 0.0
            add(w, w + cap, masks[k], (w, w + cap))
            start = k + 1
            continue
        nxt = ws[k + 1]
        if links[k] == "slab":
            add(w, (w + nxt) / 2, masks[k], (w, w))
            continue
        # smooth: the samples inside on both planes fill the interval; where the surface crosses the
        # columns of the others is found below
        core = cores[k]
        bb, aa = rows[bounds[k]:bounds[k + 1]], rest[bounds[k]:bounds[k + 1]]
        if bb.size == 0:
            add(w, nxt, core, (w, nxt))
            continue
        recipe.append(None)
        pending.append((len(recipe) - 1, k, core, bb, aa))
    if pending:
        interpolate(pending, recipe, pl, masks, links, grid, hz)
    return Solid(grid, notes=notes, recipe=recipe)

