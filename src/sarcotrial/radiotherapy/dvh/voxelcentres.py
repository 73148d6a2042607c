"""Samples on the dose voxel centres (``s = 1``): regrouped by dual cell, or every q-th voxel centre.

With ``s = 1`` a sample on a voxel centre stands for a voxel straddling that centre's planes, so
the samples are regrouped by dual cell (:func:`sample_dual_cells`): the quadrants of a dual cell
that belong to corners inside the structure are covered by at most two boxes (the whole cell when
all four corners are inside), merged along the slice direction within a frame interval - about
one sample per voxel, each exact on its own box. The largest structures (more than
:data:`.contours.MAX_SAMPLES` voxels, a body contour) are sampled at every q-th voxel centre
(:func:`sample_strided`), with the interpolant's mean slopes over each sample's cell.

*Fewer steps, the same numbers* (2026-12-07; ``tests/radiotherapy/test_dvh_speedups_3.py``). The runs
along w are handed to the samplers as slices of flat arrays (:func:`_run_ends`), not one item per piece
to be put together again, in the same blocks and order. The coarse samples' cells (:class:`_StridedCells`)
are gathered per block of samples from tables per sample column and row, not worked out for all of a body
contour's 200,000 samples at once; which samples lie in the grid is found for every part at once; each
block's spreads are worked out at once and cut into sub-planes. The same operations on the same numbers,
element by element.
"""

from __future__ import annotations

import bisect

import numpy as np

from sarcotrial.radiotherapy.dvh.dosegrid import DoseFrame
from sarcotrial.radiotherapy.dvh.histogram import Samples
from sarcotrial.radiotherapy.dvh.reconstruction import Solid
from sarcotrial.radiotherapy.dvh.sampling import SAMPLE_BLOCK, SLIVER_MM, pieces_all, spread, subplane_count


def _box_table() -> tuple[np.ndarray, np.ndarray]:
    """Boxes covering the quadrants of a dual cell that belong to its corners inside the structure.

    Indexed by the corners' code (bit 1: corner (row r, column c), 2: (r, c + 1), 4: (r + 1, c),
    8: (r + 1, c + 1)): at most two boxes, each (u centre, u length, v centre, v length) in voxel
    units within the cell. Returns (boxes (16, 2, 4), number of boxes (16,)).
    """
    q = {1: (.25, .5, .25, .5), 2: (.75, .5, .25, .5), 4: (.25, .5, .75, .5), 8: (.75, .5, .75, .5)}
    top, bottom, left, right = (.5, 1., .25, .5), (.5, 1., .75, .5), (.25, .5, .5, 1.), (.75, .5, .5, 1.)
    boxes = {0: [], 15: [(.5, 1., .5, 1.)], 3: [top], 12: [bottom], 5: [left], 10: [right],
             6: [q[2], q[4]], 9: [q[1], q[8]], 7: [top, q[4]], 11: [top, q[8]], 13: [bottom, q[1]], 14: [bottom, q[2]],
             **{k: [v] for k, v in q.items()}}
    table = np.zeros((16, 2, 4))
    count = np.zeros(16, np.int8)
    for code, bs in boxes.items():
        count[code] = len(bs)
        for j, b in enumerate(bs):
            table[code, j] = b
    return table, count


_BOXES, _NBOXES = _box_table()
# by box, field; in single precision (the fields are quarters, halves and ones: exact), as the dose
_BOX_FIELDS = [[np.ascontiguousarray(_BOXES[:, j, f], dtype=np.float32) for f in range(4)] for j in range(2)]


def _window(solid: Solid, frame: DoseFrame):
    """The part of the sample grid on the dose grid: (column range, row range, padded columns, padded rows)
    or None. Padded: the window's voxel centres plus one row and column on each side; beyond the grid
    these repeat its outer voxels, so the interpolant is constant over the half voxel outside them."""
    g = solid.grid
    cols = int(round(g.u0 / g.hu)) + np.arange(g.nu)  # dose column of each sample column
    rows = int(round(g.v0 / g.hv)) + np.arange(g.nv)
    ok_c = np.nonzero((cols >= 0) & (cols < frame.nc))[0]
    ok_r = np.nonzero((rows >= 0) & (rows < frame.nr))[0]
    if not ok_c.size or not ok_r.size:
        return None
    ca, ce = int(ok_c[0]), int(ok_c[-1]) + 1
    cb, ceb = int(ok_r[0]), int(ok_r[-1]) + 1
    pc = np.clip(np.arange(cols[ca] - 1, cols[ce - 1] + 2), 0, frame.nc - 1)
    pr = np.clip(np.arange(rows[cb] - 1, rows[ceb - 1] + 2), 0, frame.nr - 1)
    return (ca, ce), (cb, ceb), pc, pr


def _corner_codes(pad: np.ndarray) -> np.ndarray:
    """Per dual cell, which of its four corners (voxel centres) are inside (bits 1, 2, 4, 8); ``pad`` is
    one padded mask (rows, columns) or a stack of them (slabs, rows, columns)."""
    p = pad.view(np.uint8)
    pairs = p[..., :, 1:] << 1  # each pair of neighbouring columns (bits 1, 2), then of rows (bits 4, 8)
    pairs |= p[..., :, :-1]
    codes = pairs[..., 1:, :] << 2
    codes |= pairs[..., :-1, :]
    return codes


def _run_ends(codes: np.ndarray, k0: np.ndarray, k1: np.ndarray, w0: np.ndarray, w1: np.ndarray,
              after_gap: np.ndarray, cell_ids: np.ndarray | None = None):
    """Runs of a dual cell's boxes along w, for every piece at once: a run goes on while consecutive pieces
    lie in one frame interval, meet, and the cell's corner code stays the same.

    ``codes`` (pieces, dual cells) per piece inside the grid, in order along w, with its frames, its ends
    and whether a piece outside the grid came just before it. Returns the runs as flat arrays in the order
    in which a run was recorded when it ended (by the piece it ends at, then by cell; the histogram sums
    its samples in that order): per run that piece, its dual cell, corner code and w start.
    ``cell_ids``: the dual cell of each column of ``codes`` (default: the column itself).
    """
    n = codes.shape[0]
    go_on = np.zeros(n, bool)  # the piece continues the runs of the piece before
    if n > 1:
        go_on[1:] = ((~after_gap[1:]) & (k0[1:] == k0[:-1]) & (k1[1:] == k1[:-1])
                     & (np.abs(w1[:-1] - w0[1:]) < 1e-9))
    change = np.ones(codes.shape, bool)  # a run starts at the piece: the code changes or the runs break
    if n > 1:
        np.not_equal(codes[1:], codes[:-1], out=change[1:])
        change[~go_on] = True
    ends = np.empty(codes.shape, bool)  # a run ends at the piece: the next one starts a run
    ends[:-1] = change[1:]
    ends[-1] = True
    ends &= codes != 0
    # the piece each run started at: the last change at or before the piece (row by row: numpy's
    # maximum.accumulate along the first axis took seven times as long)
    first = np.where(change, np.arange(n, dtype=np.int32)[:, None], np.int32(0))
    for i in range(1, n):
        np.maximum(first[i], first[i - 1], out=first[i])
    flat = np.flatnonzero(ends)
    piece = flat // codes.shape[1]
    cells = flat - piece * codes.shape[1]
    if cell_ids is not None:
        cells = cell_ids.take(cells)
    return piece, cells, codes.reshape(-1).take(flat), w0.take(first.reshape(-1).take(flat))


def _runs(codes: np.ndarray, k0: np.ndarray, k1: np.ndarray, w0: np.ndarray, w1: np.ndarray,
          after_gap: np.ndarray, cell_ids: np.ndarray | None = None) -> list:
    """Runs of a dual cell's boxes along w, for every piece at once (:func:`_run_ends`), as (frame k0,
    frame k1, cells, corner codes, w start per cell, w end), one item per piece that ends some runs, its
    runs in order of cell: the order in which a run was recorded when it ended (the histogram sums its
    samples in that order)."""
    piece, cells, code, start = _run_ends(codes, k0, k1, w0, w1, after_gap, cell_ids)
    if not piece.size:
        return []
    cut = np.flatnonzero(np.diff(piece)) + 1
    found = []
    for a, b in zip([0, *cut.tolist()], [*cut.tolist(), piece.size]):
        p = int(piece[a])
        found.append((int(k0[p]), int(k1[p]), cells[a:b], code[a:b], start[a:b], float(w1[p])))
    return found


def sample_dual_cells(solid: Solid, frame: DoseFrame) -> tuple[list[Samples], float, float, int]:
    """As :func:`.sampling.sample` when the in-plane samples are the dose voxel centres (s == 1, stride 1).

    A sample on a voxel centre stands for a voxel, which straddles the planes through that centre:
    its quadrants lie in four different dual cells (and its w extent, cut at the frames, in one or
    two frame intervals). So the samples are regrouped by dual cell: the quadrants of a dual cell
    that belong to its corners inside the structure are covered by at most two boxes (the whole
    cell when all four corners are inside), and a dual cell's boxes in consecutive pieces of one
    frame interval are merged when they cover the same quadrants. Each box becomes one sample of the
    interpolant's polynomial in its dual cell: about as many samples as voxel centres, each exact
    on its own box. The runs along w are found for every slab at once (:func:`_run_ends`).
    """
    g = solid.grid
    area = g.hu * g.hv
    total = outside = 0.0
    max_m = 1
    window = _window(solid, frame)
    if window is None:
        for lo, hi, mask in solid.slabs:
            n = int(np.count_nonzero(mask))
            total += area * (hi - lo) * n
            outside += area * (hi - lo) * n
        return [], total, outside, max_m
    (ca, ce), (cb, ceb), pc, pr = window
    # whole slabs, not the parts: a dual cell's boxes merge along w across slabs with the same corners
    slabs = solid.slabs
    if not slabs:
        return [], total, outside, max_m
    masks = np.stack([m for _, _, m in slabs])
    npx = [np.count_nonzero(m) for _, _, m in slabs]  # per mask: quicker than along two axes of the stack
    sub = masks[:, cb:ceb, ca:ce]
    n_ins = np.count_nonzero(sub, axis=(1, 2)).tolist()
    used: list[int] = []  # the slabs sampled
    k0s: list[int] = []
    k1s: list[int] = []
    w0s: list[float] = []
    w1s: list[float] = []
    gaps: list[bool] = []
    of_slab: list[int] = []
    gap = False
    slab_pieces = pieces_all(frame, [lo for lo, _, _ in slabs], [hi for _, hi, _ in slabs])
    for i, ((lo, hi, _), npx_i, n_in, slab) in enumerate(zip(slabs, npx, n_ins, slab_pieces)):
        if npx_i == 0:
            continue
        t = hi - lo
        total += area * t * npx_i
        outside += area * t * (npx_i - n_in)
        if n_in == 0:
            continue
        max_m = max(max_m, len(slab))
        for w0, w1, k0, k1, ok in slab:
            if ok:
                if not used or used[-1] != i:
                    used.append(i)
                of_slab.append(len(used) - 1)
                k0s.append(k0)
                k1s.append(k1)
                w0s.append(w0)
                w1s.append(w1)
                gaps.append(gap)
                gap = False
            else:
                outside += area * (w1 - w0) * n_in
                gap = True
    if not used:
        return [], total, outside, max_m
    pad = np.zeros((len(used), len(pr), len(pc)), dtype=bool)
    pad[:, 1:-1, 1:-1] = sub[used]
    codes = _corner_codes(pad).reshape(len(used), -1)
    # only the dual cells with a corner inside on some slab: the others hold no box (their runs are all of
    # code 0); the cells kept stay in order, so the runs and their order are the same
    active = np.flatnonzero(np.bitwise_or.reduce(codes, axis=0))
    piece, cells, codes, w_start = _run_ends(codes.take(active, axis=1).take(of_slab, axis=0), np.array(k0s),
                                             np.array(k1s), np.array(w0s), np.array(w1s), np.array(gaps), active)
    # each dual cell's corner voxels within a frame: its first corner and the steps to the next column and row
    nc = frame.nc
    base = ((pr[:-1] * nc)[:, None] + pc[None, :-1]).reshape(-1)
    step_u = np.broadcast_to(pc[1:] - pc[:-1], (len(pr) - 1, len(pc) - 1)).reshape(-1)
    step_v = np.broadcast_to(((pr[1:] - pr[:-1]) * nc)[:, None], (len(pr) - 1, len(pc) - 1)).reshape(-1)
    corner_table = (base, step_u, step_v)
    # blocks of the runs in their order: the runs ending at consecutive pieces (a piece's at most SAMPLE_BLOCK at
    # a time) until a block holds SAMPLE_BLOCK / 2 or more; each block a slice of the runs' arrays
    chunks: list[Samples] = []
    if not piece.size:
        return chunks, total, outside, max_m
    per_piece = np.bincount(piece)
    ending = np.flatnonzero(per_piece)
    pending: list = []  # per piece (or part of one) in the block: (k0, k1, w end, runs)
    n_pending = pos = 0
    for p, n in zip(ending.tolist(), per_piece.take(ending).tolist()):
        for i in range(0, n, SAMPLE_BLOCK):
            pending.append((k0s[p], k1s[p], w1s[p], min(SAMPLE_BLOCK, n - i)))
            n_pending += pending[-1][3]
            if n_pending >= SAMPLE_BLOCK // 2:
                sl = slice(pos, pos + n_pending)
                chunks.append(_box_samples(pending, cells[sl], codes[sl], w_start[sl], frame, corner_table))
                pos += n_pending
                pending, n_pending = [], 0
    if pending:
        chunks.append(_box_samples(pending, cells[pos:], codes[pos:], w_start[pos:], frame, corner_table))
    return chunks, total, outside, max_m


def _box_samples(parts: list, cells: np.ndarray, codes: np.ndarray, w_start: np.ndarray, frame: DoseFrame,
                 corner_table: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Samples:
    """The samples of a block of runs (``cells``, ``codes``, ``w_start`` per run; ``parts``: (k0, k1, w end,
    runs) for each piece they end at, in order): one per box, exact bilinear dose and gradient at its
    centre. ``corner_table``: per dual cell of the window, the flat index of its first corner voxel within a
    frame, and the steps to the next column and the next row (0 beyond the grid's edge)."""
    flat = frame.flat32.reshape(-1)  # single precision (sampling's module docstring, *Precision*)
    nrc = frame.nr * frame.nc
    if len(parts) == 1:
        k0, k1, w_end, _ = parts[0]
    else:
        sizes = [p[3] for p in parts]
        k0, k1, w_end = (np.repeat(np.array([p[i] for p in parts]), sizes) for i in (0, 1, 2))
    two = np.flatnonzero(_NBOXES.take(codes) == 2)
    tu, lu, tv, lv = (t.take(codes) for t in _BOX_FIELDS[0])
    if two.size:  # the second box of a partly covered cell
        sec = codes[two]
        tu, lu, tv, lv = (np.concatenate([x, t.take(sec)]) for x, t in zip((tu, lu, tv, lv), _BOX_FIELDS[1]))
        cells, w_start = np.concatenate([cells, cells[two]]), np.concatenate([w_start, w_start[two]])
        if np.ndim(k0):
            k0, k1, w_end = (np.concatenate([x, x[two]]) for x in (k0, k1, w_end))
    base, step_u, step_v = corner_table
    c00 = base.take(cells)
    du = step_u.take(cells)
    c10 = c00 + step_v.take(cells)
    corners = (c00, c00 + du, c10, c10 + du)

    def bilinear(k):
        o = k * nrc
        c00, c01, c10, c11 = (flat.take(o + v) for v in corners)
        d0 = c01 - c00
        d1 = c11 - c10
        a0 = c00 + tu * d0
        a1 = c10 + tu * d1
        low = np.minimum(np.minimum(c00, c01), np.minimum(c10, c11))
        high = np.maximum(np.maximum(c00, c01), np.maximum(c10, c11))
        return a0 + tv * (a1 - a0), d0 + tv * (d1 - d0), a1 - a0, low, high

    d, gu, gv, low, high = bilinear(k0)
    lw = w_end - w_start
    if np.ndim(k0) or k1 != k0:  # between two frames (k1 == k0 beyond the outer frames: constant along w)
        d1, gu1, gv1, low1, high1 = bilinear(k1)
        wk0 = frame.wpos[k0]
        dk = np.where(k1 != k0, frame.wpos[k1] - wk0, 1.0) if np.ndim(k0) else frame.wpos[k1] - wk0
        tw = ((0.5 * (w_start + w_end) - wk0) / dk).astype(np.float32)
        gw = d1 - d  # Gy over the frame interval
        d = d + tw * gw
        gu += tw * (gu1 - gu)
        gv += tw * (gv1 - gv)
        np.minimum(low, low1, out=low)
        np.maximum(high, high1, out=high)
        gw *= (lw / dk).astype(np.float32)
        half = np.square(gw, out=gw)
    else:
        half = np.zeros(d.shape, np.float32)
    # the spread: gradients per voxel (per frame interval) times the box's lengths in voxels (intervals)
    gu *= lu
    gv *= lv
    half += np.square(gu)
    half += np.square(gv)
    np.sqrt(half, out=half)
    half *= 0.5
    lu *= lv  # exact in single precision (quarters, halves, ones); the volumes in double
    weight = lu * lw
    weight *= frame.dcol * frame.drow
    return Samples(d, np.maximum(d - half, low), np.minimum(d + half, high), weight)


def _along_w(frame: DoseFrame, w: float) -> tuple[int, int, float]:
    """Frames either side of w and the weight of the upper one (the outer frame's dose beyond the frames)."""
    wpos, nf = frame.wpos_list, frame.nf
    if nf == 1 or w <= wpos[0]:
        return 0, 0, 0.0
    if w >= wpos[-1]:
        return nf - 1, nf - 1, 0.0
    k0 = min(bisect.bisect_right(wpos, w) - 1, nf - 2)
    return k0, k0 + 1, (w - wpos[k0]) / (wpos[k0 + 1] - wpos[k0])


class _StridedCells:
    """Samples on every q-th voxel centre, each standing for a cell q voxels wide: per sample its voxel
    (``idx``, within a frame) and the cell's four in-plane faces, q/2 voxels either side (up to the
    outer voxel centres, the dose being constant beyond), as (index, weight of the next voxel or None,
    next index); per part of the solid (a slice of the samples) its values on each frame. The faces
    depend on the column or the row alone: they are held per sample column and row (``cols``, ``rows``:
    their dose voxels) and gathered for a block of samples at a time (:meth:`samples`; ``aa``, ``bb``:
    each sample's sample column and row), so the arrays stay the size of a block (worked out for all
    of a body contour's 200,000 samples at once, they took a quarter of its sampling time)."""

    def __init__(self, frame: DoseFrame, rows: np.ndarray, cols: np.ndarray, bb: np.ndarray, aa: np.ndarray,
                 q: int):
        nc, nr = frame.nc, frame.nr
        self.frame, self.bb, self.aa = frame, bb, aa
        self.row_off, self.col = rows * nc, cols
        self.face_tabs: tuple[list, list] = ([], [])  # per sample column (faces along u), per sample row (along v)
        inv = []
        for pos, n, step, d, tab in ((cols, nc, 1, frame.dcol, self.face_tabs[0]),
                                     (rows, nr, nc, frame.drow, self.face_tabs[1])):
            ends = (np.maximum(pos - q / 2, 0.0), np.minimum(pos + q / 2, n - 1.0))
            for end in ends:
                i0 = end.astype(np.int64)
                if q % 2:
                    tab.append((i0 * step, (end - i0).astype(np.float32), np.minimum(i0 + 1, n - 1) * step))
                else:  # an even stride's faces are voxel centres
                    tab.append((i0 * step, None, None))
            span = ends[1] - ends[0]
            inv.append(np.divide(1.0 / d, span, out=np.zeros(span.size), where=span > 0).astype(np.float32))
        self.inv_u_tab, self.inv_v_tab = inv

    def samples(self, sl: slice | np.ndarray):
        """(voxel index, faces, 1 / cell width along u and v) of the samples ``sl``: per face (index, weight
        of the next voxel or None, next index)."""
        bb, aa = self.bb[sl], self.aa[sl]
        row_off, col = self.row_off.take(bb), self.col.take(aa)
        faces = []
        for tab, which, other in ((self.face_tabs[0], aa, row_off), (self.face_tabs[1], bb, col)):
            for i0, t0, i1 in tab:
                faces.append((other + i0.take(which), None if t0 is None else t0.take(which),
                              None if i1 is None else other + i1.take(which)))
        return row_off + col, faces, self.inv_u_tab.take(aa), self.inv_v_tab.take(bb)

    def part(self, sl: slice) -> "_StridedPart":
        return _StridedPart(self, sl)


class _StridedPart:
    """One part's samples (a slice of :class:`_StridedCells`): its values per frame, each frame read once."""

    def __init__(self, cells: _StridedCells, sl: slice):
        self.frame = cells.frame
        self.idx, self.faces, self.inv_u, self.inv_v = cells.samples(sl)
        self.cache: dict[int, tuple[np.ndarray, ...]] = {}

    def at(self, k: int) -> tuple[np.ndarray, ...]:
        """On frame k: (dose, dD/du, dD/dv (mean over the cells, Gy/mm), lowest, highest at centre and faces)."""
        if k not in self.cache:
            f = self.frame.flat32[k]  # single precision (sampling's module docstring, *Precision*)
            c = f.take(self.idx)
            fv = [f.take(i0) for i0, _, _ in self.faces]
            for n, (_, t0, i1) in enumerate(self.faces):
                if t0 is not None:
                    fv[n] = fv[n] + t0 * (f.take(i1) - fv[n])
            low = np.minimum(np.minimum(np.minimum(fv[0], fv[1]), np.minimum(fv[2], fv[3])), c)
            high = np.maximum(np.maximum(np.maximum(fv[0], fv[1]), np.maximum(fv[2], fv[3])), c)
            self.cache[k] = (c, (fv[1] - fv[0]) * self.inv_u, (fv[3] - fv[2]) * self.inv_v, low, high)
        return self.cache[k]

    def interp(self, i: int, k0: int, k1: int, tk: float) -> np.ndarray:
        a = self.at(k0)[i]
        return a if k1 == k0 or tk == 0.0 else a + tk * (self.at(k1)[i] - a)

    def sub_plane(self, w0: float, w1: float, hu: float, hv: float) -> Samples:
        """The samples of the sub-plane [w0, w1] (inside the grid along w): the interpolant at the middle,
        its mean slopes, the slope along w from the dose at the two faces, the range over the frames.

        A frame the sub-plane reaches by a sliver only (:data:`.sampling.SLIVER_MM`: a contour plane a
        rounding away from a frame) is left out: within one frame interval so extended, the slope along w
        is that interval's and the range is over its two frames (as :func:`.sampling.pieces` does)."""
        k0, k1, tk = _along_w(self.frame, 0.5 * (w0 + w1))
        d, gu, gv = (self.interp(i, k0, k1, tk) for i in range(3))
        a0, a1 = _along_w(self.frame, w0), _along_w(self.frame, w1)
        wpos = self.frame.wpos_list
        first = a0[1] if a0[1] != a0[0] and wpos[a0[1]] - w0 <= SLIVER_MM else a0[0]
        last = a1[0] if w1 - wpos[a1[0]] <= SLIVER_MM else a1[1]
        if last == first + 1 and (first, last) == (k0, k1):  # one frame interval, but for slivers
            gw = (self.at(last)[0] - self.at(first)[0]) / (wpos[last] - wpos[first])
        else:
            if last < first:
                first, last = a0[0], a1[1]
            gw = (self.interp(0, *a1) - self.interp(0, *a0)) / (w1 - w0) if (a0[0], a0[2]) != (a1[0], a1[2]) else 0.0
        low, high = self.at(first)[3], self.at(first)[4]
        for k in range(first + 1, last + 1):
            low, high = np.minimum(low, self.at(k)[3]), np.maximum(high, self.at(k)[4])
        return Samples(d, *spread(d, gu, gv, gw, hu, hv, w1 - w0, low, high), hu * hv * (w1 - w0))


def sample_strided(solid: Solid, frame: DoseFrame, hz: float) -> tuple[list[Samples], float, float, int]:
    """As :func:`.sampling.sample` for the largest structures, sampled at every q-th voxel centre (q = stride > 1).

    A sample's cell is then q voxels wide in-plane (and a sub-plane of the slab along w) and holds
    voxel centres, or frames, other than its own: no single polynomial holds over it, and splitting
    it would undo the coarser sampling. The sample's dose is the interpolant at its point; its slopes
    are the interpolant's mean slopes over the cell (from the dose at the cell's faces: exact for a
    dose linear over the cell). A coarse statement, for structures of more than
    :data:`.contours.MAX_SAMPLES` voxels (a body contour).
    """
    g = solid.grid
    q = g.stride
    cols = int(round(g.u0 / g.hu)) * q + np.arange(g.nu) * q  # dose column of each sample column
    rows = int(round(g.v0 / g.hv)) * q + np.arange(g.nv) * q
    ok_c = np.nonzero((cols >= 0) & (cols < frame.nc))[0]
    ok_r = np.nonzero((rows >= 0) & (rows < frame.nr))[0]
    ca, ce = (int(ok_c[0]), int(ok_c[-1]) + 1) if ok_c.size else (0, 0)
    cb, ceb = (int(ok_r[0]), int(ok_r[-1]) + 1) if ok_r.size else (0, 0)
    area = g.hu * g.hv
    total = outside = 0.0
    max_m = 1
    parts = [p for p in solid.parts() if p[2].size]
    if not parts:
        return [], total, outside, max_m
    # which samples lie in the dose grid, for every part at once
    sizes = [p[2].size for p in parts]
    bb = np.concatenate([p[2] for p in parts])
    aa = np.concatenate([p[3] for p in parts])
    window = ce > ca and ceb > cb
    if window:
        ok_b, ok_a = np.zeros(g.nv, bool), np.zeros(g.nu, bool)
        ok_b[cb:ceb] = True
        ok_a[ca:ce] = True
        sel = ok_b.take(bb) & ok_a.take(aa)
        n_ins = np.add.reduceat(sel.astype(np.int64), np.cumsum(sizes) - sizes).tolist()
    kept: list[tuple[float, float, int, int]] = []  # per part: (lo, hi, sub-planes, samples inside)
    for (lo, hi, _, _), npx, n_in in zip(parts, sizes, n_ins if window else sizes):
        t = hi - lo
        m = subplane_count(t, hz)
        max_m = max(max_m, m)
        wsub = area * t / m
        total += wsub * npx * m
        if not window:
            outside += wsub * npx * m
            continue
        outside += wsub * (npx - n_in) * m
        if n_in:
            kept.append((lo, hi, m, n_in))
    if not kept:
        return [], total, outside, max_m
    # the cells' faces per sample column and row, then each part's frames once for its sub-planes
    cells = _StridedCells(frame, rows, cols, bb[sel], aa[sel], q)
    chunks: list[Samples] = []
    first = 0
    batch: list[tuple[int, int, int, int, float, float]] = []  # sub-planes within one frame interval
    n_batch = 0
    wpos = frame.wpos_list
    for lo, hi, m, n_in in kept:
        part = None
        hsub = (hi - lo) / m
        for j in range(m):
            w0, w1 = lo + j * hsub, lo + (j + 1) * hsub
            wc = 0.5 * (w0 + w1)
            if wc < frame.w_lo - 1e-7 or wc > frame.w_hi + 1e-7:
                outside += area * hsub * n_in
                continue
            k0, k1, tk = _along_w(frame, wc)
            a0, a1 = _along_w(frame, w0), _along_w(frame, w1)
            f0 = a0[1] if a0[1] != a0[0] and wpos[a0[1]] - w0 <= SLIVER_MM else a0[0]
            f1 = a1[0] if w1 - wpos[a1[0]] <= SLIVER_MM else a1[1]
            if f1 == f0 + 1 and (f0, f1) == (k0, k1):  # as _StridedPart.sub_plane, many at once
                batch.append((first, first + n_in, k0, k1, tk, w1 - w0))
                n_batch += n_in
                if n_batch >= SAMPLE_BLOCK:
                    chunks.extend(_strided_batch(cells, batch, g.hu, g.hv))
                    batch, n_batch = [], 0
                continue
            if batch:
                chunks.extend(_strided_batch(cells, batch, g.hu, g.hv))
                batch, n_batch = [], 0
            part = part or cells.part(slice(first, first + n_in))
            chunks.append(part.sub_plane(w0, w1, g.hu, g.hv))
        first += n_in
    if batch:
        chunks.extend(_strided_batch(cells, batch, g.hu, g.hv))
    return chunks, total, outside, max_m


def _strided_batch(cells: _StridedCells, batch: list[tuple[int, int, int, int, float, float]], hu: float,
                   hv: float) -> list[Samples]:
    """:meth:`_StridedPart.sub_plane` of many sub-planes at once, each within one frame interval (k0, k1 =
    k0 + 1, but for slivers): (first sample, end, k0, k1, weight of k1 at the middle, thickness) each, in
    order. The same operations on the same numbers, element by element (the frames' values read through
    flat indices into every frame at once): one block of samples per sub-plane, as one at a time."""
    frame = cells.frame
    f = frame.flat32.reshape(-1)
    nrc = frame.nr * frame.nc
    sizes = [b[1] - b[0] for b in batch]
    if all(b[1] == nb[0] for b, nb in zip(batch, batch[1:])):
        sl = slice(batch[0][0], batch[-1][1])
    else:
        sl = np.concatenate([np.arange(b[0], b[1]) for b in batch])
    idx, faces, inv_u, inv_v = cells.samples(sl)
    wpos = frame.wpos_list

    def per_sample(values, dtype):
        return np.repeat(np.array(values, dtype=dtype), sizes)

    def at(offset):
        c = f.take(idx + offset)
        fv = [f.take(i0 + offset) for i0, _, _ in faces]
        for n, (_, t0, i1) in enumerate(faces):
            if t0 is not None:
                fv[n] = fv[n] + t0 * (f.take(i1 + offset) - fv[n])
        low = np.minimum(np.minimum(np.minimum(fv[0], fv[1]), np.minimum(fv[2], fv[3])), c)
        high = np.maximum(np.maximum(np.maximum(fv[0], fv[1]), np.maximum(fv[2], fv[3])), c)
        return c, (fv[1] - fv[0]) * inv_u, (fv[3] - fv[2]) * inv_v, low, high

    lower = at(per_sample([b[2] * nrc for b in batch], np.int64))
    upper = at(per_sample([b[3] * nrc for b in batch], np.int64))
    tk = per_sample([b[4] for b in batch], np.float32)
    d, gu, gv = (a + tk * (b - a) for a, b in zip(lower[:3], upper[:3]))
    gw = (upper[0] - lower[0]) / per_sample([wpos[b[3]] - wpos[b[2]] for b in batch], np.float32)
    low, high = np.minimum(lower[3], upper[3]), np.maximum(lower[4], upper[4])
    # sampling.spread, each sub-plane's own thickness
    width = np.square(gu * hu)
    width += np.square(gv * hv)
    width += np.square(gw * per_sample([b[5] for b in batch], np.float32))
    # the spreads of every sub-plane at once (element by element as one at a time), then cut into sub-planes:
    # a sub-plane whose widths are all zero has none
    half = np.sqrt(width)
    half *= 0.5
    low = np.maximum(d - half, low)
    high = np.minimum(d + half, high)
    heads = np.cumsum(sizes) - sizes
    some = np.logical_or.reduceat(width != 0, heads).tolist()
    return [Samples(d[a:a + n], low[a:a + n], high[a:a + n], hu * hv * h) if any_ else
            Samples(d[a:a + n], None, None, hu * hv * h)
            for (_, _, _, _, _, h), a, n, any_ in zip(batch, heads.tolist(), sizes, some)]
