"""Log-rank test (K groups, optional strata), as R's ``survival::survdiff(..., rho = 0)``.

Implementation: pure numpy, vectorised over distinct times (``np.unique`` + ``np.bincount``),
O(T x K) memory. No library is used: lifelines' ``multivariate_logrank_test`` gives the same
statistic but not survdiff's observed/expected/variance table nor its rule for groups with
nothing expected, and it is much slower on large data.

survdiff's rules: at each distinct time with d deaths among n at risk (n_g in group g),
E_g += d n_g / n and V_gh += d (n - d) / (n - 1) x n_g / n x (delta_gh - n_h / n) (n > 1);
with strata, O, E and V are summed over strata. Groups with E = 0 are left out of the test;
statistic = (O - E)' V^-1 (O - E) over the remaining groups but the first, df = (groups with
E > 0) - 1, p = P(chi-square(df) > statistic).

Example::

    >>> from sarcotrial.outcomes import logrank_test
    >>> res = logrank_test([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 0], ["a", "b", "a", "b", "b", "a"])
    >>> res.df, round(res.statistic, 4)
    (1, 0.0449)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes.kaplan_meier import _frozen, as_codes, as_times, group_labels


@dataclass(frozen=True)
class LogRankTest:
    """survdiff's table and test."""

    groups: tuple
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    statistic: float
    df: int
    p_value: float

    def as_dict(self) -> dict:
        return {"test": "log-rank", "groups": [{"group": g, "n": int(n), "observed": float(o), "expected": float(e)}
                                               for g, n, o, e in zip(self.groups, self.n, self.observed, self.expected)],
                "statistic": self.statistic, "df": self.df, "p_value": self.p_value}


def _one_stratum(t: np.ndarray, e: np.ndarray, g: np.ndarray, ng: int):
    uniq, inv = np.unique(t, return_inverse=True)
    T = uniq.size
    cell = inv * ng + g
    total = np.bincount(cell, minlength=T * ng).reshape(T, ng).astype(float)
    deaths = np.bincount(cell, weights=e, minlength=T * ng).reshape(T, ng)
    n_g = np.bincount(g, minlength=ng)[None, :] - np.vstack((np.zeros((1, ng)), np.cumsum(total, axis=0)[:-1]))
    d = deaths.sum(axis=1)
    keep = d > 0
    n_g, deaths, d = n_g[keep], deaths[keep], d[keep]
    n = n_g.sum(axis=1)
    observed = deaths.sum(axis=0)
    expected = (n_g * (d / n)[:, None]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        wt = np.where(n > 1, d * (n - d) / ((n - 1) * n), 0.0)
    var = np.diag((n_g * wt[:, None]).sum(axis=0)) - np.einsum("tg,th,t->gh", n_g, n_g, wt / n)
    return observed, expected, var


def logrank_test(time, event, group, *, strata=None) -> LogRankTest:
    """``survdiff(Surv(time, event) ~ group [+ strata(strata)])``; groups in sorted order."""
    t = as_times(time)
    e = as_codes(event, t.size, "event", 1)
    labels, g = group_labels(group, t.size)
    ng = len(labels)
    if ng < 2:
        raise InvalidValue("group", "the log-rank test needs at least two groups", ng)
    if strata is None:
        st = np.zeros(t.size, dtype=int)
    else:
        _, st = group_labels(strata, t.size, "strata")
    observed = np.zeros(ng)
    expected = np.zeros(ng)
    var = np.zeros((ng, ng))
    for k in np.unique(st):
        sel = st == k
        o, ex, v = _one_stratum(t[sel], e[sel].astype(float), g[sel], ng)
        observed += o
        expected += ex
        var += v
    use = expected > 0
    df = int(use.sum()) - 1
    if df < 1:
        stat = 0.0
    else:
        diff = (observed - expected)[use][1:]
        vv = var[np.ix_(use, use)][1:, 1:]
        stat = float(np.sum(np.linalg.solve(vv, diff) * diff))
    p = float(chi2.sf(stat, df)) if df >= 1 else 1.0
    return LogRankTest(groups=tuple(labels), n=_frozen(np.bincount(g, minlength=ng)), observed=_frozen(observed),
                       expected=_frozen(expected), variance=_frozen(var), statistic=stat, df=df, p_value=p)
