"""Reorganised steps of the DVH engine against plain references: the same numbers, exactly.

Each step below was rewritten for speed (docs/benchmarks/dvh.md, 2026-12-06) and must give what the
plain computation gives, to the last bit, since the breast plan's and the Nelms et al. figures are
pinned to it: the runs of a dual cell's boxes along w (written out here as a loop over pieces and
cells), the fine histogram worked in blocks (against the whole-array computation of the same
module), and the rows and columns of a mask (against ``np.nonzero``).
"""

from __future__ import annotations

import numpy as np
import pytest

from sarcotrial.radiotherapy.dvh import histogram as H
from sarcotrial.radiotherapy.dvh.reconstruction import rows_cols
from sarcotrial.radiotherapy.dvh.voxelcentres import _runs


def _runs_by_loop(codes, k0, k1, w0, w1, after_gap):
    """Runs along w, one piece and one cell at a time: a run goes on while the next piece follows on
    (no gap, the same frames, its start at the end of this one) and the cell's code stays; a run of a
    nonzero code is recorded when it ends, in order of the piece it ends at, then of cell."""
    n, cells = codes.shape
    out = []
    start = [None] * cells
    for p in range(n):
        follows = p > 0 and not after_gap[p] and k0[p] == k0[p - 1] and k1[p] == k1[p - 1] \
            and abs(w1[p - 1] - w0[p]) < 1e-9
        for c in range(cells):
            if not follows or codes[p, c] != codes[p - 1, c]:
                start[c] = w0[p]
        nxt = p + 1
        goes_on = nxt < n and not after_gap[nxt] and k0[nxt] == k0[p] and k1[nxt] == k1[p] \
            and abs(w1[p] - w0[nxt]) < 1e-9
        for c in range(cells):
            if codes[p, c] and not (goes_on and codes[nxt, c] == codes[p, c]):
                out.append((int(k0[p]), int(k1[p]), c, int(codes[p, c]), start[c], w1[p]))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runs_along_w_match_a_loop(seed):
    rng = np.random.default_rng(seed)
    n, cells = 40, 13
    codes = rng.choice([0, 0, 3, 15, 15, 15, 5], size=(n, cells)).astype(np.uint8)
    codes[rng.random((n, cells)) < 0.7] = 15  # long runs of whole cells
    ends = np.cumsum(rng.choice([0.5, 1.0, 1.5], size=n))
    w1 = ends
    w0 = np.concatenate([[0.0], ends[:-1]])
    w0[rng.random(n) < 0.1] += 0.25  # a piece that does not meet the one before
    frame = (w0 // 3).astype(int)
    k0, k1 = frame, frame + 1
    after_gap = rng.random(n) < 0.08
    found = _runs(codes, k0, k1, w0, w1, after_gap)
    got = [(k0_, k1_, int(c), int(code), float(s), w_end)
           for k0_, k1_, cs, cds, st, w_end in found for c, code, s in zip(cs, cds, st)]
    assert got == _runs_by_loop(codes, k0, k1, w0, w1, after_gap)
    # one item per piece that ends runs, its cells in order
    assert all(np.all(np.diff(cs) > 0) for _, _, cs, _, _, _ in found)


@pytest.mark.parametrize("kind", ["mixed", "ramps", "points"])
def test_histogram_in_blocks_is_the_whole_array_computation(kind):
    # more samples than a block (three blocks and a part): doses spread over a wide range (ramps of many
    # bins) or narrower than a bin (point masses), with their weights
    rng = np.random.default_rng(9)
    n = 3 * H.HIST_BLOCK + 1234
    d = rng.uniform(10, 60, n)
    half = {"mixed": rng.choice([0.0, 1e-4, 0.3, 2.0], n), "ramps": rng.uniform(0.1, 3, n),
            "points": np.full(n, 1e-6)}[kind]
    lo, hi = d - half, d + half
    w = rng.uniform(0.001, 0.02, n)
    dmin, dmax = float(lo.min()), float(hi.max())
    scale = H.FINE_BINS / (dmax - dmin)
    want = H._fine_counts(H._to_bins(lo, dmin, scale), H._to_bins(hi, dmin, scale), w)
    got = H._binned_counts(lo, hi, w, dmin, scale)
    assert np.array_equal(got, want)
    assert got.sum() == pytest.approx(w.sum(), rel=1e-9)


def test_rows_and_columns_of_a_mask_as_nonzero():
    rng = np.random.default_rng(4)
    for shape in [(1, 1), (7, 3), (40, 57), (3, 200)]:
        m = rng.random(shape) < 0.3
        r, c = rows_cols(m)
        wr, wc = np.nonzero(m)
        assert np.array_equal(r, wr) and np.array_equal(c, wc)
    r, c = rows_cols(np.zeros((5, 4), bool))
    assert r.size == 0 and c.size == 0
