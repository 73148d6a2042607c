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
            yield lo, hi, *np.nonzero(m)
            return
        if self.core.any():
            yield self.lo, self.hi, *np.nonzero(self.core)
        step = (self.hi - self.lo) / n_sub
        count = self.inside.sum(axis=0)
        from_lower = self.inside[0]
        for lower in (True, False):
            side = from_lower if lower else ~from_lower
            for c in np.flatnonzero(np.bincount(count[side], minlength=1)[1:]).tolist():
                c += 1  # each count of thin slabs (1..n_sub) held by some sample of this side, ascending
                sel = side & (count == c)
                lo, hi = (self.lo, self.lo + c * step) if lower else (self.lo + (n_sub - c) * step, self.hi)
                yield lo, hi, self.rows[sel], self.cols[sel]


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
            return [(lo, hi, *np.nonzero(m)) for lo, hi, m in self.slabs]
        out = []
        for item in self._recipe:
            if isinstance(item, Slab):
                out.append((item.lo, item.hi, *np.nonzero(item.mask)))
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


class Boundaries:
    """The contour edges of some planes, for the exact Euclidean distance (mm) from in-plane points to
    the nearest edge of a given plane.

    Numpy only (no spatial index to import or build; scipy.spatial alone took a quarter of a second
    to import). A plane of at most :data:`_FEW_EDGES` edges is searched whole. Otherwise each
    polygon's edges are grouped in runs of about sqrt(edges of the largest plane / :data:`_RUN_DIV`)
    consecutive edges, each with its bounding box: the distance from a point to the nearest run's
    first vertex (a point of the contour) bounds the answer from above, and only the runs whose box
    lies within that bound can hold the nearest edge. Which edge is nearest is decided in single
    precision (coordinates about the edges' centre; the runs' bound with a margin far above its
    rounding), and that edge's distance is then computed in double precision: the answer is the
    distance to the nearest edge, but for two edges within about 1e-5 mm of a tie. (The k-d tree of
    edge samples used before 2026-12-05 took the edge of the nearest sample and its neighbours: up
    to 0.35 mm too far on the breast plan's BODY.) ``step`` is not used.
    """

    def __init__(self, planes: dict[int, list[np.ndarray]], step: float | None = None):
        keys = sorted(planes)
        polys = [(k, p) for k in keys for p in planes[k]]
        sizes = np.array([len(p) for _, p in polys])
        first = np.cumsum(sizes) - sizes
        last = first + sizes - 1
        pts = np.concatenate([p for _, p in polys])
        idx = np.arange(len(pts))
        nxt = idx + 1
        nxt[last] = first
        d = pts[nxt] - pts
        self.x0, self.y0, self.dx, self.dy = pts[:, 0], pts[:, 1], d[:, 0], d[:, 1]
        d2 = self.dx * self.dx + self.dy * self.dy
        self.inv = np.divide(1.0, d2, out=np.zeros(len(d2)), where=d2 > 0)
        # runs of consecutive edges of one polygon: starting at every polygon's first edge and every
        # run-th edge after it
        per_plane = np.bincount(np.repeat(np.array([k for k, _ in polys]) - keys[0], sizes))
        run = max(4, int(round(math.sqrt(max(per_plane.max(), 1) / _RUN_DIV))))
        offs = idx - np.repeat(first, sizes)
        starts = np.nonzero(offs % run == 0)[0]
        self.run = run
        self.r0 = starts
        ends = np.append(starts[1:], len(pts))
        x1, y1 = self.x0 + self.dx, self.y0 + self.dy
        self.bx0 = np.minimum.reduceat(np.minimum(self.x0, x1), starts)
        self.bx1 = np.maximum.reduceat(np.maximum(self.x0, x1), starts)
        self.by0 = np.minimum.reduceat(np.minimum(self.y0, y1), starts)
        self.by1 = np.maximum.reduceat(np.maximum(self.y0, y1), starts)
        self.rlen = ends - starts
        rplane = np.repeat(np.array([k for k, _ in polys]), sizes)[starts]
        self.keys = np.array(keys)
        # each run's edges padded to ``run`` lanes (repeating its last edge), so a run's edges are one row
        lane = np.minimum(np.arange(run), self.rlen[:, None] - 1) + starts[:, None]
        # the search in single precision, about the edges' centre (which edge is nearest; its distance is
        # then computed in double precision: a different pick only where two edges tie within ~1e-5 mm)
        self.centre = pts.mean(axis=0)
        self.low = np.stack([self.x0 - self.centre[0], self.y0 - self.centre[1], self.dx, self.dy,
                             self.inv]).astype(np.float32)
        # one row per run (its five quantities, each padded to ``run`` lanes): a candidate run is then
        # gathered as one contiguous row, several times quicker than five strided gathers
        self.low_tab = np.ascontiguousarray(self.low[:, lane].transpose(1, 0, 2))
        # one row per edge (x0, y0, dx, dy, inv), for the exact distances
        self.edge_tab = np.stack([self.x0, self.y0, self.dx, self.dy, self.inv], axis=1)
        # per run, single precision: its first vertex and its bounding box
        cx, cy = self.centre
        self.run_low = np.stack([self.x0[starts] - cx, self.y0[starts] - cy, self.bx0 - cx, self.bx1 - cx,
                                 self.by0 - cy, self.by1 - cy]).astype(np.float32)
        self.rs = np.searchsorted(rplane, self.keys)
        self.re = np.searchsorted(rplane, self.keys, side="right")

    def distance(self, plane: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Distance from each point (u, v) to the nearest edge of its plane (``plane``, one per point)."""
        out = np.empty(len(pts))
        self.qx = (pts[:, 0] - self.centre[0]).astype(np.float32)
        self.qy = (pts[:, 1] - self.centre[1]).astype(np.float32)
        order = np.argsort(plane, kind="stable")
        up, start, count = np.unique(plane[order], return_index=True, return_counts=True)
        where = np.searchsorted(self.keys, up)
        lane = np.arange(self.run)
        for j, s0, c in zip(where.tolist(), start.tolist(), count.tolist()):
            q = order[s0:s0 + c]
            r0, r1 = self.rs[j], self.re[j]
            e0 = self.r0[r0]
            e1 = self.r0[r1 - 1] + self.rlen[r1 - 1]
            if e1 - e0 <= _FEW_EDGES:  # every edge of the plane, in blocks of points
                step = max(1, _BLOCK // (e1 - e0))
                for b0 in range(0, c, step):
                    qb = q[b0:b0 + step]
                    near = _squared(self.qx[qb, None], self.qy[qb, None], *self.low[:, e0:e1]).argmin(axis=1)
                    out[qb] = self._exact(pts[qb], near + e0)
                continue
            qx, qy = self.qx[q, None], self.qy[q, None]
            vx, vy, bx0, bx1, by0, by1 = self.run_low[:, r0:r1]
            # upper bound: the nearest run's first vertex; lower bound per run: its bounding box. In single
            # precision the coordinates (within some 500 mm of the centre) carry about 6e-5 mm of rounding,
            # so the squared distances about 6e-4 (1 + d) mm2: the bound gets a margin of 1e-3 (1 + d) mm2
            # (a run too many is only searched)
            # (runs, points): the minimum over runs is then across rows, far quicker than along short rows
            ux = vx[:, None] - qx[:, 0]
            ux *= ux
            uy = vy[:, None] - qy[:, 0]
            uy *= uy
            ux += uy
            upper = ux.min(axis=0)
            upper += 1e-3 * (1.0 + np.sqrt(upper))
            gx = bx0 - qx
            np.maximum(gx, qx - bx1, out=gx)
            np.maximum(gx, 0.0, out=gx)
            gx *= gx
            gy = by0 - qy
            np.maximum(gy, qy - by1, out=gy)
            np.maximum(gy, 0.0, out=gy)
            gy *= gy
            gx += gy
            # flat indices then row and column: quicker than np.nonzero on a 2-D mask of short rows
            qi, ri = np.divmod(np.flatnonzero(gx <= upper[:, None]), r1 - r0)
            ri += r0
            # the nearest edge of each candidate run, then the nearest of those exactly
            qq = q[qi]
            g = self.low_tab.take(ri, axis=0)
            pick = _squared(self.qx[qq, None], self.qy[qq, None], g[:, 0], g[:, 1], g[:, 2], g[:, 3],
                            g[:, 4]).argmin(axis=1)
            edge = self.r0[ri] + np.minimum(lane[pick], self.rlen[ri] - 1)
            out[q] = np.minimum.reduceat(self._exact(pts.take(qq, axis=0), edge), np.searchsorted(qi, np.arange(c)))
        return np.sqrt(out)

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
    key, back = np.unique((plane * grid.nv + np.tile(bb, 4)) * grid.nu + np.tile(aa, 4), return_inverse=True)
    uplane, rest = np.divmod(key, grid.nv * grid.nu)
    ubb, uaa = np.divmod(rest, grid.nu)
    boundaries = Boundaries({int(j): pl.polys[j] for j in np.unique(uplane)}, min(grid.hu, grid.hv))
    d = boundaries.distance(uplane, np.column_stack([grid.u0 + uaa * grid.hu, grid.v0 + ubb * grid.hv]))
    depth = np.where(masks[uplane, ubb, uaa], d, -d)[back].reshape(4, -1)  # positive inside
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
    for (slot, k, core, sb, sa), c in zip(pending, np.split(cross, np.cumsum(sizes)[:-1])):
        w, gap = pl.w[k], pl.w[k + 1] - pl.w[k]
        n_sub = max(1, int(math.ceil(gap / hz - 1e-9)))
        centres = w + (np.arange(n_sub) + 0.5) * gap / n_sub
        inside = (centres[:, None] < c[None, :]) == masks[k][sb, sa][None, :]
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
    masks = rasterize([[grid.index_coords(p) for p in polys] for polys in pl.polys], grid.nv, grid.nu)
    notes: list[str] = []
    ws = list(pl.w)
    n_planes = len(ws)
    spacing = pl.spacing or nominal
    # how each pair of neighbouring planes is joined: "smooth" where their shapes overlap (the surface
    # between them is interpolated), "slab" where they are adjacent but do not overlap (each plane's
    # slab reaches half-way), "break" where a gap separates shapes that do not overlap (separate parts)
    def overlap(j: int, k: int) -> bool:
        a, b = masks[j], masks[k]
        if a.any() and b.any():
            return bool((a & b).any())
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
        a, b = masks[k], masks[k + 1]
        core = a & b
        bb, aa = np.nonzero(a ^ b)
        if bb.size == 0:
            add(w, nxt, core, (w, nxt))
            continue
        recipe.append(None)
        pending.append((len(recipe) - 1, k, core, bb, aa))
    if pending:
        interpolate(pending, recipe, pl, masks, links, grid, hz)
    return Solid(grid, notes=notes, recipe=recipe)

