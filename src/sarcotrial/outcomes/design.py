"""Single-arm trial designs: Simon two-stage, A'Hern single-stage, Bayesian toxicity monitoring.

Implementation: numpy/scipy; exact binomial probabilities from one table of pmfs per rate
(``scipy.stats.binom``), searches vectorised over (r1, r) for each (n, n1). No library: R's
``clinfun::ph2simon`` is the usual reference but is not a Python dependency, and the search is
short.

* Simon (Control Clin Trials 1989;10:1-10). Stage 1: n1 patients, stop if <= r1 responses.
  Stage 2: up to n in all; the treatment is rejected if <= r responses in n. Constraints:
  P(reject H0 | p0) = P(X1 > r1, X1 + X2 > r | p0) <= alpha and the same probability under p1
  >= power. PET0 = P(X1 <= r1 | p0), EN0 = n1 + (1 - PET0)(n - n1). ``optimal`` minimises EN0;
  ``minimax`` minimises n, then EN0. For each (n, n1, r1) the smallest r meeting alpha is used
  (the most powerful; every feasible r has the same EN0). Searched over n <= ``nmax``
  (default max(100, 2 x the smallest feasible n)). The tests check rows of Simon's Table 1; which
  rows were verified against the paper is said there.
* A'Hern (Stat Med 2001;20:859-866), exact single stage: the smallest n with a cut-off r such
  that P(X >= r | p0) <= alpha and P(X >= r | p1) >= power; the treatment is promising if at
  least r of n respond.
* Bayesian beta-binomial toxicity monitor: prior Beta(a, b) on the toxicity rate; after x
  toxicities in n patients the posterior is Beta(a + x, b + n - x); stop when
  P(p_tox > threshold | data) > cutoff (``scipy.stats.beta.sf``). ``boundaries`` gives, for each
  n, the least number of toxicities that stops the trial; ``stopping_probability`` the exact
  chance of stopping by n_max for a true rate (monitoring after every patient).

Example::

    >>> from sarcotrial.outcomes import simon_two_stage
    >>> d = simon_two_stage(0.70, 0.90, alpha=0.05, power=0.80)
    >>> (d.optimal.r1, d.optimal.n1, d.optimal.r, d.optimal.n), (d.minimax.r1, d.minimax.n1, d.minimax.r, d.minimax.n)
    ((4, 6, 22, 27), (19, 23, 21, 26))
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.stats import beta as beta_dist
from scipy.stats import binom

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes.kaplan_meier import probability


def _check_rates(p0, p1, alpha, power) -> tuple[float, float, float, float]:
    p0, p1 = probability(p0, "p0"), probability(p1, "p1")
    alpha, power = probability(alpha, "alpha"), probability(power, "power")
    if p1 <= p0:
        raise InvalidValue("p1", f"must be greater than p0 ({p0})", p1)
    if power <= alpha:
        raise InvalidValue("power", f"must be greater than alpha ({alpha})", power)
    return p0, p1, alpha, power


@dataclass(frozen=True)
class StageDesign:
    """One Simon design: stop after stage 1 if <= r1 of n1 respond; reject if <= r of n."""

    r1: int
    n1: int
    r: int
    n: int
    en0: float          # expected sample size under p0
    pet0: float         # probability of early termination under p0
    alpha: float        # actual type I error
    power: float        # actual power

    def as_dict(self) -> dict:
        return {"r1": self.r1, "n1": self.n1, "r": self.r, "n": self.n, "en0": self.en0, "pet0": self.pet0,
                "alpha": self.alpha, "power": self.power}


@dataclass(frozen=True)
class SimonDesign:
    p0: float
    p1: float
    alpha: float
    power: float
    nmax: int
    optimal: StageDesign
    minimax: StageDesign

    def as_dict(self) -> dict:
        return {"p0": self.p0, "p1": self.p1, "alpha": self.alpha, "power": self.power, "nmax": self.nmax,
                "optimal": self.optimal.as_dict(), "minimax": self.minimax.as_dict()}


def _pmf_table(p: float, nmax: int) -> np.ndarray:
    """pmf[m, k] = P(Bin(m, p) = k) for m, k in 0..nmax."""
    m = np.arange(nmax + 1)[:, None]
    k = np.arange(nmax + 1)[None, :]
    with np.errstate(invalid="ignore"):
        table = binom.pmf(k, m, p)
    return np.where(k <= m, table, 0.0)


def _tail_table(pmf: np.ndarray) -> np.ndarray:
    """tail[m, j] = P(Bin(m, p) > j) for j in 0..nmax (0 where j >= m)."""
    rev = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]      # P(X >= j)
    tail = np.zeros_like(pmf)
    tail[:, :-1] = rev[:, 1:]
    return tail


def _simon_candidates(n: int, tables, alpha: float, power: float):
    """Feasible (r1, n1, r, n, en0, pet0, alpha, power) for one total n, all n1 < n and r1 < n1 at once.

    rej[n1, r1, r] = sum over x1 > r1 of P(X1 = x1) P(X2 > r - x1), X1 ~ Bin(n1), X2 ~ Bin(n - n1).
    """
    (pmf0, tail0), (pmf1, tail1) = tables
    n1 = np.arange(1, n)[:, None, None]
    x1 = np.arange(n)[None, :, None]
    r = np.arange(n + 1)[None, None, :]
    k = r - x1
    kc = np.clip(k, 0, n)
    n2 = (n - n1)
    rej = []
    for pmf, tail in ((pmf0, tail0), (pmf1, tail1)):
        b1 = pmf[1:n, :n][:, :, None]                    # 0 where x1 > n1
        s2 = np.where(k < 0, 1.0, tail[n2, kc])
        m = b1 * s2
        rev = np.cumsum(m[:, ::-1, :], axis=1)[:, ::-1, :]
        rej.append(np.concatenate((rev[:, 1:, :], np.zeros((n - 1, 1, n + 1))), axis=1))  # index r1 = 0..n-1
    a0, a1 = rej
    r1 = np.arange(n)[None, :, None]
    ok = (a0 <= alpha + 1e-12) & (r >= r1) & (r < n) & (r1 < n1)
    has = ok.any(axis=2)
    first = np.argmax(ok, axis=2)
    pw = np.take_along_axis(a1, first[:, :, None], axis=2)[:, :, 0]
    al = np.take_along_axis(a0, first[:, :, None], axis=2)[:, :, 0]
    good = np.argwhere(has & (pw >= power - 1e-12))
    pet = np.cumsum(pmf0[1:n, :n], axis=1)
    out = []
    for i, j in good:
        nn1 = int(i) + 1
        pet0 = float(pet[i, j])
        out.append((int(j), nn1, int(first[i, j]), n, nn1 + (1 - pet0) * (n - nn1), pet0, float(al[i, j]), float(pw[i, j])))
    return out


def simon_two_stage(p0: float, p1: float, alpha: float = 0.05, power: float = 0.80,
                    nmax: Optional[int] = None) -> SimonDesign:
    """Simon's optimal and minimax two-stage designs for H0: p <= p0 against p >= p1.

    The search depends on its inputs alone: each set of checked inputs is searched once per process
    (:func:`_simon_search`, cached); the design returned is immutable.
    """
    p0, p1, alpha, power = _check_rates(p0, p1, alpha, power)
    if nmax is not None:
        try:
            nmax = int(nmax)
        except (TypeError, ValueError):
            raise InvalidValue("nmax", "must be a whole number", nmax) from None
        if not 2 <= nmax <= 300:
            raise InvalidValue("nmax", "must be between 2 and 300", nmax)
    return _simon_search(p0, p1, alpha, power, nmax)


@functools.lru_cache(maxsize=64)
def _simon_search(p0: float, p1: float, alpha: float, power: float, nmax: int | None) -> SimonDesign:
    limit = nmax if nmax is not None else 300
    pmf0, pmf1 = _pmf_table(p0, limit), _pmf_table(p1, limit)
    tables = ((pmf0, _tail_table(pmf0)), (pmf1, _tail_table(pmf1)))
    candidates: list = []
    first_n = None
    n = 1
    while n <= limit:
        found = _simon_candidates(n, tables, alpha, power)
        if found and first_n is None:
            first_n = n
            if nmax is None:
                limit = max(100, 2 * n)
        candidates.extend(found)
        n += 1
    if not candidates:
        raise InvalidValue("nmax", f"no design with n <= {limit} meets alpha {alpha} and power {power}; allow a larger nmax",
                           limit)
    # optimal: least EN0 (ties: smaller n); minimax: least n, then least EN0
    opt = min(candidates, key=lambda c: (round(c[4], 10), c[3], c[1]))
    mm = min(candidates, key=lambda c: (c[3], round(c[4], 10), c[1]))
    return SimonDesign(p0=p0, p1=p1, alpha=alpha, power=power, nmax=limit, optimal=StageDesign(*opt),
                       minimax=StageDesign(*mm))


@dataclass(frozen=True)
class AHernDesign:
    """A'Hern's exact single-stage design: promising if at least ``r`` of ``n`` respond."""

    p0: float
    p1: float
    alpha: float
    power: float
    n: int
    r: int
    actual_alpha: float
    actual_power: float

    def as_dict(self) -> dict:
        return {"p0": self.p0, "p1": self.p1, "alpha": self.alpha, "power": self.power, "n": self.n, "r": self.r,
                "actual_alpha": self.actual_alpha, "actual_power": self.actual_power,
                "rule": f"promising if at least {self.r} of {self.n} respond"}


def ahern_single_stage(p0: float, p1: float, alpha: float = 0.05, power: float = 0.80, nmax: int = 2000) -> AHernDesign:
    """The smallest n (and its cut-off r) with P(X >= r | p0) <= alpha and P(X >= r | p1) >= power."""
    p0, p1, alpha, power = _check_rates(p0, p1, alpha, power)
    for n in range(1, int(nmax) + 1):
        r = np.arange(n + 2)
        sf0 = binom.sf(r - 1, n, p0)                     # P(X >= r)
        ok = np.flatnonzero(sf0 <= alpha + 1e-12)
        if ok.size == 0:
            continue
        rr = int(ok[0])
        pw = float(binom.sf(rr - 1, n, p1))
        if pw >= power - 1e-12:
            return AHernDesign(p0=p0, p1=p1, alpha=alpha, power=power, n=n, r=rr, actual_alpha=float(sf0[rr]),
                               actual_power=pw)
    raise InvalidValue("nmax", f"no single-stage design with n <= {nmax}", nmax)


@dataclass(frozen=True)
class ToxicityMonitor:
    """Stop when P(p_tox > threshold | x toxicities in n) > cutoff, prior Beta(a, b)."""

    a: float
    b: float
    threshold: float
    cutoff: float

    def __post_init__(self):
        for name in ("a", "b"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InvalidValue(name, "the Beta prior's parameters must be positive numbers", v)
        probability(self.threshold, "threshold")
        probability(self.cutoff, "cutoff")

    def posterior(self, toxicities: int, n: int) -> tuple[float, float]:
        """Posterior Beta parameters after ``toxicities`` in ``n`` patients."""
        if not (0 <= int(toxicities) <= int(n)):
            raise InvalidValue("toxicities", f"must be between 0 and n ({n})", toxicities)
        return self.a + toxicities, self.b + n - toxicities

    def probability_above(self, toxicities: int, n: int) -> float:
        """P(p_tox > threshold | data)."""
        pa, pb = self.posterior(toxicities, n)
        return float(beta_dist.sf(self.threshold, pa, pb))

    def should_stop(self, toxicities: int, n: int) -> bool:
        return self.probability_above(toxicities, n) > self.cutoff

    def boundaries(self, n_max: int) -> list[Optional[int]]:
        """For n = 1..n_max, the least number of toxicities that stops the trial (None: none does)."""
        out: list[Optional[int]] = []
        for n in range(1, int(n_max) + 1):
            x = np.arange(n + 1)
            stop = beta_dist.sf(self.threshold, self.a + x, self.b + n - x) > self.cutoff
            out.append(int(np.argmax(stop)) if stop.any() else None)
        return out

    def stopping_probability(self, true_rate: float, n_max: int) -> float:
        """Exact probability of stopping by n_max patients, checking after each one, for a true rate."""
        p = probability(true_rate, "true_rate", open_interval=False)
        bounds = self.boundaries(n_max)
        alive = np.array([1.0])            # P(x toxicities so far and not stopped)
        stopped = 0.0
        for n, bound in enumerate(bounds, start=1):
            nxt = np.zeros(n + 1)
            nxt[:-1] += alive * (1 - p)
            nxt[1:] += alive * p
            if bound is not None:
                stopped += float(nxt[bound:].sum())
                nxt[bound:] = 0.0
            alive = nxt
        return stopped
