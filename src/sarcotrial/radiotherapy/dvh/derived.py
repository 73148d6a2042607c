"""Derived structures: their notation, and the operations on solids (minus, union, intersection, ring).

``compute_dvhs(..., derived={"label": "expression"})`` takes expressions (keywords are
case-insensitive; names are structure names or earlier derived labels, optionally quoted)::

    A minus B          A outside B        (the part of A not in B)
    A union B                             (A or B)
    A intersection B                      (A and B)
    ring A INNER OUTER                    (the shell between INNER and OUTER mm from A, 3-D
                                           distance; INNER >= 0, so A itself is excluded)

Both operands are rasterised on one common sampling grid and combined slab by slab. A ring's
distance is the 3-D distance to the structure's contours (in-plane Euclidean distance maps
combined with the distance between planes, measured to the contour planes and the interpolated
sections between them rather than to the slab faces, so the slabs' corners do not bulge the
ring). Around a sphere (r 15 mm) contoured every 1-4 mm, the 0-5 and 3-6 mm rings are within
about 1 % of the analytic shells.
"""

from __future__ import annotations

import bisect
import math
import re
from typing import Callable

import numpy as np

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.dvh.reconstruction import Solid


_BINARY = {"minus": "minus", "outside": "minus", "union": "union", "intersection": "intersection"}
_RING = re.compile(r"^\s*ring\s+(?P<name>.+?)\s+(?P<inner>-?\d+(?:\.\d+)?)\s+(?P<outer>-?\d+(?:\.\d+)?)\s*$", re.I)


def _unquote(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1].strip()
    return t


def parse_derived(expression: str, known: Callable[[str], bool]) -> tuple:
    """Parse a derived-structure expression into ("name", X) | (op, left, right) | ("ring", X, inner, outer).

    ``known(name)`` says whether a name is a structure (or an earlier derived label); keywords
    inside a name are resolved by trying every split and keeping the one whose two sides are
    both known names.
    """
    text = expression.strip()
    m = _RING.match(text)
    if m and known(_unquote(m["name"])):
        inner, outer = float(m["inner"]), float(m["outer"])
        if inner < 0 or outer <= inner:
            raise InvalidValue("derived", "a ring needs 0 <= INNER < OUTER (mm)", expression)
        return ("ring", _unquote(m["name"]), inner, outer)
    candidates = []
    for match in re.finditer(r"\s+(minus|outside|union|intersection)\s+", text, flags=re.I):
        left, right = _unquote(text[:match.start()]), _unquote(text[match.end():])
        if known(left) and known(right):
            candidates.append((_BINARY[match.group(1).lower()], left, right))
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise InvalidValue("derived", "ambiguous: quote the structure names, e.g. 'A minus B' as \"'A' minus 'B'\"", expression)
    if known(_unquote(text)):
        return ("name", _unquote(text))
    raise InvalidValue("derived", "expected 'A minus B', 'A outside B', 'A union B', 'A intersection B' or "
                                  "'ring A INNER OUTER' (mm) with A and B names of structures", expression)



# --------------------------------------------------------------------------- operations on solids
def core_at(solid: Solid, w: float) -> tuple[float, float] | None:
    los = [s[0] for s in solid.slabs]
    i = bisect.bisect_right(los, w) - 1
    if i >= 0 and solid.slabs[i][0] <= w < solid.slabs[i][1]:
        return solid.cores[i] if solid.cores else solid.slabs[i][:2]
    return None


def combine(a: Solid, b: Solid, op: str) -> Solid:
    points = sorted({x for s in a.slabs + b.slabs for x in s[:2]})
    slabs = []
    cores = []
    empty = np.zeros((a.grid.nv, a.grid.nu), dtype=bool)
    for t0, t1 in zip(points[:-1], points[1:]):
        if t1 - t0 < 1e-9:
            continue
        tm = 0.5 * (t0 + t1)
        ma, mb = a.mask_at(tm), b.mask_at(tm)
        ma = empty if ma is None else ma
        mb = empty if mb is None else mb
        if op == "minus":
            m = ma & ~mb
        elif op == "union":
            m = ma | mb
        else:
            m = ma & mb
        if m.any():
            slabs.append((t0, t1, m))
            parts = [c for c in (core_at(a, tm), core_at(b, tm)) if c is not None]
            c0, c1 = min(c[0] for c in parts), max(c[1] for c in parts)
            cores.append((min(max(c0, t0), t1), min(max(c1, t0), t1)))
    return Solid(a.grid, slabs, a.notes + [n for n in b.notes if n not in a.notes], cores)


def ring_around(a: Solid, inner: float, outer: float, nominal: float) -> Solid:
    from scipy.ndimage import distance_transform_edt

    g = a.grid
    # the nearest inside sample centre lies on average a quarter sample inside the boundary
    # (measured on discs; half a sample along one axis, less in 2-D): that offset is taken off
    quarter = 0.25 * 0.5 * (g.hu + g.hv)
    # in-plane distance from each sample to the structure's slab
    src = []
    cores = a.cores or [(lo, hi) for lo, hi, _ in a.slabs]
    for (lo, hi, m), (c0, c1) in zip(a.slabs, cores):
        if m.any():
            dist = distance_transform_edt(~m, sampling=(g.hv, g.hu))
            src.append((lo, hi, c0, c1, np.where(dist > 0, np.maximum(dist - quarter, 1e-9), 0.0)))
    if not src:
        return Solid(g, [], list(a.notes))
    lo0, hi0 = src[0][0], src[-1][1]
    cuts = sorted({x for lo, hi, *_ in src for x in (lo, hi)})
    step = min(nominal, 1.0)  # beyond the structure's ends and across gaps: slabs of at most 1 mm
    n_ext = int(math.ceil(outer / step))
    cuts = sorted(set(cuts) | {lo0 - k * step for k in range(1, n_ext + 1)} | {hi0 + k * step for k in range(1, n_ext + 1)})
    own_slabs = {(round(lo, 9), round(hi, 9)) for lo, hi, *_ in src}
    fine: list[float] = [cuts[0]]
    for x in cuts[1:]:
        gap = x - fine[-1]
        n = 1 if (round(fine[-1], 9), round(x, 9)) in own_slabs else max(1, int(round(gap / step)))
        fine.extend(fine[-1] + gap * i / n for i in range(1, n + 1))
    c0s = np.array([c[2] for c in src])
    c1s = np.array([c[3] for c in src])
    slabs = []
    for t0, t1 in zip(fine[:-1], fine[1:]):
        if t1 - t0 < 1e-9:
            continue
        wc = 0.5 * (t0 + t1)
        best = None
        for i in np.flatnonzero((c0s - outer <= wc) & (wc <= c1s + outer)):
            _, _, c0, c1, dist = src[i]
            dz = max(0.0, c0 - wc, wc - c1)
            d = np.sqrt(dist * dist + dz * dz) if dz > 0 else dist
            best = d if best is None else np.minimum(best, d)
        if best is None:
            continue
        own = a.mask_at(wc)
        if own is not None:
            best = np.where(own, 0.0, best)  # inside the structure itself: distance 0
        m = (best > inner) & (best <= outer) if inner > 0 else (best > 0) & (best <= outer)
        if m.any():
            slabs.append((t0, t1, m))
    return Solid(g, slabs, list(a.notes))

