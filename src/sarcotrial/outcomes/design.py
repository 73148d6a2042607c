"""Trial designs: Simon two-stage, A'Hern single-stage, Bayesian toxicity monitoring, Schoenfeld's two-arm
time-to-event events and sample size.

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
* Two-arm time-to-event comparison (log-rank test or Cox model), Schoenfeld's events formula
  (Schoenfeld D. Sample-size formula for the proportional-hazards regression model. Biometrics
  1983;39:499-503): D = (z_{1-a} + z_{1-b})^2 / (p1 p2 (ln HR)^2), a = alpha / 2 when two-sided,
  p1 and p2 the allocation fractions; D is rounded up. Patients from events as in Schoenfeld 1983
  and Collett, Modelling Survival Data in Medical Research, 3rd ed., section 10.2: exponential
  survival (control median given, experimental median = control median / HR), uniform accrual
  over A and further follow-up F, P(event) = 1 - (S(F) + 4 S(F + A/2) + S(F + A)) / 6 (Simpson's
  rule) in each arm, weighted by allocation; patients = D / P(event), each arm rounded up.
  Freedman's formula (Stat Med 1982;1:121-129, lifelines' ``sample_size_necessary_under_cph``) is
  a different approximation and gives more events. Written out here because it is a closed form
  of a few lines on ``scipy.stats.norm`` quantiles; no Python library implements Schoenfeld's
  formula with this events-to-patients step (R: ``gsDesign::nEvents``, ``rpact``).

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
from scipy.stats import norm

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


# ---------------------------------------------------------------------------------------------
# two-arm time-to-event: Schoenfeld (1983)
# ---------------------------------------------------------------------------------------------

SIDES = ("two-sided", "one-sided")
_ROUND_SLACK = 1e-9     # a value within this (relative) of a whole number is that number, not the next


def _ceil(x: float) -> int:
    return int(math.ceil(x - _ROUND_SLACK * max(1.0, abs(x))))


def _positive(value, field: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidValue(field, "must be a number", value) from None
    if not (math.isfinite(v) and v > 0):
        raise InvalidValue(field, "must be a positive number", value)
    return v


def _non_negative(value, field: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidValue(field, "must be a number", value) from None
    if not (math.isfinite(v) and v >= 0):
        raise InvalidValue(field, "must be zero or a positive number", value)
    return v


def allocation_ratio(value) -> tuple[float, float]:
    """Allocation experimental:control, from ``"a:b"`` or a pair of positive numbers (e.g. ``"2:1"``, ``(1, 1)``)."""
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 2:
            raise InvalidValue("allocation", "must be written a:b (experimental:control), e.g. 1:1 or 2:1", value)
        pair = []
        for part in parts:
            try:
                pair.append(float(part.strip()))
            except ValueError:
                raise InvalidValue("allocation", "must be written a:b with two positive numbers, e.g. 1:1 or 2:1",
                                   value) from None
    else:
        try:
            pair = [float(v) for v in value]
        except (TypeError, ValueError):
            raise InvalidValue("allocation", "must be a pair (experimental, control) of positive numbers",
                               value) from None
        if len(pair) != 2:
            raise InvalidValue("allocation", "must be a pair (experimental, control) of positive numbers", value)
    if not all(math.isfinite(v) and v > 0 for v in pair):
        raise InvalidValue("allocation", "both parts of a:b must be positive numbers", value)
    a, b = (int(v) if float(v).is_integer() else v for v in pair)
    return a, b


def _check_time_to_event(hazard_ratio, alpha, power, sided, allocation):
    hr = _positive(hazard_ratio, "hazard_ratio")
    if hr == 1:
        raise InvalidValue("hazard_ratio", "must differ from 1 (no difference to detect)", hazard_ratio)
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise InvalidValue("alpha", "must be a number between 0 and 0.5", alpha) from None
    if not (math.isfinite(a) and 0 < a < 0.5):
        raise InvalidValue("alpha", "must be strictly between 0 and 0.5", alpha)
    pw = probability(power, "power")
    if sided not in SIDES:
        raise InvalidValue("sided", f"must be one of {', '.join(SIDES)}", sided)
    if pw <= a:
        raise InvalidValue("power", f"must be greater than alpha ({a:g})", power)
    return hr, a, pw, allocation_ratio(allocation)


def _z_alpha(alpha: float, sided: str) -> float:
    return float(norm.ppf(1 - (alpha / 2 if sided == "two-sided" else alpha)))


@dataclass(frozen=True)
class SchoenfeldEvents:
    """Events needed to detect ``hazard_ratio`` (experimental vs control) by the log-rank test / Cox model."""

    hazard_ratio: float
    alpha: float
    power: float
    sided: str
    allocation: tuple[float, float]     # experimental:control
    z_alpha: float                      # z_{1-alpha/2} two-sided, z_{1-alpha} one-sided
    z_beta: float                       # z_{power}
    events_exact: float                 # D before rounding
    events: int                         # D rounded up
    power_at_events: float              # Schoenfeld's power with ``events`` events

    def as_dict(self) -> dict:
        return {"method": "Schoenfeld (Biometrics 1983;39:499-503)", "hazard_ratio": self.hazard_ratio,
                "alpha": self.alpha, "power": self.power, "sided": self.sided,
                "allocation": list(self.allocation), "z_alpha": self.z_alpha, "z_beta": self.z_beta,
                "events_exact": self.events_exact, "events": self.events, "power_at_events": self.power_at_events}


def schoenfeld_events(hazard_ratio: float, alpha: float = 0.05, power: float = 0.80, *, sided: str = "two-sided",
                      allocation=(1, 1)) -> SchoenfeldEvents:
    """Schoenfeld's number of events D = (z_{1-a} + z_{1-b})^2 / (p1 p2 (ln HR)^2), rounded up.

    ``allocation`` is experimental:control (a pair or ``"a:b"``); p1, p2 its fractions. A one-sided test
    looks in the direction of ``hazard_ratio`` (benefit if HR < 1).
    """
    hr, a, pw, alloc = _check_time_to_event(hazard_ratio, alpha, power, sided, allocation)
    p1 = alloc[0] / (alloc[0] + alloc[1])
    p2 = 1 - p1
    za, zb = _z_alpha(a, sided), float(norm.ppf(pw))
    exact = (za + zb) ** 2 / (p1 * p2 * math.log(hr) ** 2)
    events = _ceil(exact)
    return SchoenfeldEvents(hazard_ratio=hr, alpha=a, power=pw, sided=sided, allocation=alloc, z_alpha=za, z_beta=zb,
                            events_exact=exact, events=events,
                            power_at_events=schoenfeld_power(hr, events, a, sided=sided, allocation=alloc))


def schoenfeld_power(hazard_ratio: float, events: float, alpha: float = 0.05, *, sided: str = "two-sided",
                     allocation=(1, 1)) -> float:
    """Schoenfeld's power with D events: Phi(sqrt(D p1 p2) |ln HR| - z_{1-a}) (the far tail is ignored)."""
    hr, a, _, alloc = _check_time_to_event(hazard_ratio, alpha, 0.999999, sided, allocation)
    d = _positive(events, "events")
    p1 = alloc[0] / (alloc[0] + alloc[1])
    return float(norm.cdf(math.sqrt(d * p1 * (1 - p1)) * abs(math.log(hr)) - _z_alpha(a, sided)))


def exponential_survival(t: float, median: float) -> float:
    """S(t) = exp(-ln 2 t / median)."""
    return math.exp(-math.log(2) * t / median)


def probability_of_event(median: float, accrual: float, follow_up: float) -> float:
    """P(event by the analysis): exponential survival with this median, uniform accrual over ``accrual`` and
    ``follow_up`` more; Simpson's rule 1 - (S(F) + 4 S(F + A/2) + S(F + A)) / 6 (Schoenfeld 1983; Collett 10.2)."""
    m = _positive(median, "median")
    a, f = _non_negative(accrual, "accrual"), _non_negative(follow_up, "follow_up")
    s = exponential_survival
    return 1 - (s(f, m) + 4 * s(f + a / 2, m) + s(f + a, m)) / 6


def patients_for_events(events: float, p_event_experimental: float, p_event_control: float,
                        allocation=(1, 1)) -> tuple[int, int]:
    """(experimental, control) patients expected to give ``events``: N = events / P(event), P weighted by the
    allocation, N split by the allocation, each arm rounded up."""
    d = _positive(events, "events")
    pe = probability(p_event_experimental, "p_event_experimental", open_interval=False)
    pc = probability(p_event_control, "p_event_control", open_interval=False)
    ae, ac = allocation_ratio(allocation)
    share = ae / (ae + ac)
    p = share * pe + (1 - share) * pc
    if p <= 0:
        raise InvalidValue("p_event", "no events are expected; lengthen accrual or follow-up", p)
    n = d / p
    return _ceil(n * share), _ceil(n * (1 - share))


@dataclass(frozen=True)
class SchoenfeldSampleSize:
    """Schoenfeld's events and the patients expected to give them under exponential survival and uniform accrual."""

    events: SchoenfeldEvents
    median_control_months: float
    median_experimental_months: float   # control median / HR
    accrual_months: float
    follow_up_months: float
    p_event_control: float
    p_event_experimental: float
    p_event: float                      # weighted by allocation
    patients_exact: float               # events (rounded) / p_event
    patients_experimental: int
    patients_control: int

    @property
    def patients(self) -> int:
        return self.patients_experimental + self.patients_control

    def as_dict(self) -> dict:
        return {**self.events.as_dict(), "median_control_months": self.median_control_months,
                "median_experimental_months": self.median_experimental_months,
                "accrual_months": self.accrual_months, "follow_up_months": self.follow_up_months,
                "p_event_method": "exponential survival, uniform accrual, Simpson's rule (Collett 3rd ed. 10.2)",
                "p_event_control": self.p_event_control, "p_event_experimental": self.p_event_experimental,
                "p_event": self.p_event, "patients_exact": self.patients_exact, "patients": self.patients,
                "patients_experimental": self.patients_experimental, "patients_control": self.patients_control}


def schoenfeld_sample_size(hazard_ratio: float, alpha: float = 0.05, power: float = 0.80, *,
                           median_control_months: float, accrual_months: float, follow_up_months: float,
                           sided: str = "two-sided", allocation=(1, 1)) -> SchoenfeldSampleSize:
    """Schoenfeld's events D, and the patients N = D / P(event), each arm rounded up (see the module docstring)."""
    ev = schoenfeld_events(hazard_ratio, alpha, power, sided=sided, allocation=allocation)
    mc = _positive(median_control_months, "median_control_months")
    acc = _non_negative(accrual_months, "accrual_months")
    fu = _non_negative(follow_up_months, "follow_up_months")
    if acc + fu <= 0:
        raise InvalidValue("follow_up_months", "accrual and follow-up cannot both be 0 (nobody would be followed)",
                           follow_up_months)
    me = mc / ev.hazard_ratio
    pc, pe = probability_of_event(mc, acc, fu), probability_of_event(me, acc, fu)
    share = ev.allocation[0] / sum(ev.allocation)
    p = share * pe + (1 - share) * pc
    n_e, n_c = patients_for_events(ev.events, pe, pc, ev.allocation)
    return SchoenfeldSampleSize(events=ev, median_control_months=mc, median_experimental_months=me,
                                accrual_months=acc, follow_up_months=fu, p_event_control=pc, p_event_experimental=pe,
                                p_event=p, patients_exact=ev.events / p, patients_experimental=n_e,
                                patients_control=n_c)
