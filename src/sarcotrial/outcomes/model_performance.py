"""Does a published risk model hold here? Discrimination and calibration at a horizon.

The statistics of the external validation of a survival prediction model (Royston P, Altman DG.
External validation of a Cox prognostic model: principles and methods. BMC Med Res Methodol
2013;13:33; Collins GS, Reitsma JB, Altman DG, Moons KGM. TRIPOD. BMJ 2015;350:g7594), computed
on the unit's own patients from each patient's follow-up, event code and the model's predicted
risk of the outcome by the horizon.

Hand-written (numpy/scipy) because no one library gives them together with the project's
Kaplan-Meier and Aalen-Johansen estimates: lifelines and scikit-survival give Harrell's C without a
confidence interval, scikit-survival gives the time-dependent AUC without competing events, and
neither gives a grouped calibration table or the calibration slope. Each number is tested against
an independent implementation (tests/outcomes/test_model_performance.py).

* **Harrell's C** (Harrell FE, Califf RM, Pryor DB, Lee KL, Rosati RA. Evaluating the yield of
  medical tests. JAMA 1982;247:2543-2546; Harrell FE, Lee KL, Mark DB. Stat Med 1996;15:361-387):
  the share of comparable pairs in which the patient with the earlier event has the higher
  predicted risk. A pair is comparable when the earlier time is an event; ties handled as
  R ``survival::concordance`` (default ``timewt="n"``), lifelines ``concordance_index`` and
  scikit-survival ``concordance_index_censored`` all do: an event and a censoring at the same time
  are comparable (the censored patient outlived the event), two events at the same time are not,
  and tied predicted risks (within 1e-8, scikit-survival's ``tied_tol``) count one half.
  With a competing event (code 2), the patient who had it counts as event-free for ever: their time
  is set to infinity, so they are comparable with every event of the outcome, later ones too (Wolbers M, Koller MT,
  Witteman JCM, Steyerberg EW. Prognostic models with competing risks: methods and application
  to coronary risk prediction. Epidemiology 2009;20:555-561).
  **Its CI**: C +- z SE, the SE from the infinitesimal-jackknife variance, the method of
  R ``survival::concordance`` (Therneau TM, Atkinson EJ, "The concordance statistic", vignette of
  the R survival package): the sum over patients of the squared derivative of C with respect to
  the patient's case weight (C is a ratio of pair sums, each pair weighted w_i w_j). R is not
  available to this project's tests, so the SE is checked against a numerical derivative of a
  weighted C, against the ordinary leave-one-out jackknife and by a coverage simulation, not
  against R's printout.
* **Time-dependent AUC** at the horizon, cumulative cases (event by the horizon) against dynamic
  controls (still event-free after it), with inverse-probability-of-censoring weights (Uno H, Cai
  T, Tian L, Wei LJ. Evaluating prediction rules for t-year survivors with censored regression
  models. J Am Stat Assoc 2007;102:527-537; Hung H, Chiang CT. Estimation methods for
  time-dependent AUC models with survival data. Can J Stat 2010;38:8-26): equal to
  scikit-survival's ``cumulative_dynamic_auc`` with the same data as training and test set
  (the censoring Kaplan-Meier G counts events at a time before censorings at that time, and a
  case's weight is 1/G(T_i), G right-continuous). With competing events, the patients who had
  one by the horizon are controls weighted 1/G(T_j), and the event-free controls 1/G(horizon)
  (Blanche P, Dartigues JF, Jacqmin-Gadda H. Stat Med 2013;32:5381-5397, definition 2 of
  controls); without competing events the controls' weights are equal and cancel, which is
  scikit-survival's formula.
* **Calibration at the horizon**: patients grouped by quantiles of predicted risk (3 groups by
  default; fewer when there are under about 10 events of the outcome per group, a working rule
  of this module, not a published one); per group the mean predicted risk and the observed risk,
  1 - S(horizon) by Kaplan-Meier (:mod:`sarcotrial.outcomes.kaplan_meier`, log CI as R's
  survfit, turned into 1 - S) or, when any patient has a competing event, the Aalen-Johansen
  cumulative incidence (:mod:`sarcotrial.outcomes.competing_risks`, cmprsk's delta-method
  variance, log(-log) CI).
* **Calibration slope**: the coefficient of a Cox regression of the outcome on
  cloglog(p) = log(-log(1 - p)) of the predicted risk by the horizon, follow-up censored at the
  horizon; 1 is perfect, below 1 means predictions too extreme (overfitting), above 1 too
  modest (Royston & Altman 2013; Van Calster B, Nieboer D, Vergouwe Y, De Cock B, Pencina MJ,
  Steyerberg EW. A calibration hierarchy for risk models was defined: from utopia to empirical
  data. J Clin Epidemiol 2016;74:167-176; Austin PC, Harrell FE Jr, van Klaveren D. Graphical
  calibration curves and the integrated calibration index (ICI) for survival models. Stat Med
  2020;39:2714-2742). For a Cox model cloglog(p) = log H0(t) + linear predictor, so the slope
  is that on the prognostic index of Royston & Altman. Fitted with :func:`sarcotrial.outcomes.cox.fit_cox`
  (Efron ties, Wald CI). With competing events the regression is Fine & Gray's on the
  subdistribution hazard (Fine JP, Gray RJ. A proportional hazards model for the subdistribution
  of a competing risk. J Am Stat Assoc 1999;94:496-509), one covariate, Breslow ties, weights
  G(t-)/G(T_j-) for patients after their competing event, model-based (inverse information)
  SE; R's ``cmprsk::crr`` reports a robust (sandwich) SE instead, so the CI here is narrower
  or wider than crr's; the estimate is checked against lifelines' Cox fit in the uncensored case,
  where Fine-Gray is a Cox model with the competing-event patients kept at risk.
* **Observed/expected** at the horizon: the whole cohort's Kaplan-Meier (or Aalen-Johansen) risk
  divided by the mean predicted risk; its CI is that of the observed risk divided by the expected,
  the expected treated as fixed.
* **The warning** below 100 events of the outcome by the horizon: "estimates unstable below about
  100 events" (Vergouwe Y, Steyerberg EW, Eijkemans MJC, Habbema JDF. J Clin Epidemiol
  2005;58:475-483; Collins GS, Ogundimu EO, Altman DG. Sample size considerations for the
  external validation of a multivariable prognostic model: a resampling study. Stat Med
  2016;35:214-226, who advise a minimum of 100 events and preferably 200; Van Calster et al.
  2016 ask for at least 200 events and 200 non-events for a flexible calibration curve).

Example::

    >>> import numpy as np
    >>> from sarcotrial.outcomes.model_performance import assess_performance
    >>> rng = np.random.default_rng(1)
    >>> lp = rng.normal(size=400)
    >>> t = rng.exponential(1 / (0.2 * np.exp(lp)))
    >>> c = rng.uniform(0, 8, size=400)
    >>> time, event = np.minimum(t, c), (t <= c).astype(int)
    >>> risk = 1 - np.exp(-0.2 * 3 * np.exp(lp))     # the true risk by 3 years
    >>> perf = assess_performance(time, event, risk, horizon=3)
    >>> 0.65 < perf.concordance.estimate < 0.8, 0.8 < perf.calibration_slope.slope < 1.2
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.stats import norm

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes.kaplan_meier import _none, as_codes, as_times, probability

#: below this many events of the outcome the output carries :data:`FEW_EVENTS_WARNING`
MIN_EVENTS = 100
FEW_EVENTS_WARNING = ("estimates unstable below about 100 events (Collins et al., Stat Med 2016; "
                      "Vergouwe et al., J Clin Epidemiol 2005)")
#: predicted risks closer than this are tied (scikit-survival's ``tied_tol``)
TIED_TOL = 1e-8
#: fewer calibration groups when there are under this many events of the outcome per group
EVENTS_PER_GROUP = 10
_CHUNK = 512


# ---------------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------------

def _inputs(time, event, risk, *, need_events: bool = True):
    """Times, event codes (0 censored, 1 outcome, 2 competing event) and predicted risks in (0, 1)."""
    t = as_times(time)
    e = as_codes(event, t.size, "event", 2)
    try:
        r = np.asarray(risk, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidValue("predicted_risk", "must be numbers") from None
    if r.size != t.size:
        raise InvalidValue("predicted_risk", f"must have one value per time ({t.size})", r.size)
    if not np.isfinite(r).all():
        raise InvalidValue("predicted_risk", "must be finite numbers", show_value=False)
    bad = (r <= 0) | (r >= 1)
    if bad.any():
        raise InvalidValue("predicted_risk", "must be a probability strictly between 0 and 1",
                           float(r[np.argmax(bad)]))
    if need_events and not (e == 1).any():
        raise InvalidValue("event", "has no events of the outcome (code 1): nothing to validate against",
                           show_value=False)
    return t, e, r


def _horizon(value) -> float:
    try:
        h = float(value)
    except (TypeError, ValueError):
        raise InvalidValue("horizon", "must be a number of years", value) from None
    if not math.isfinite(h) or h <= 0:
        raise InvalidValue("horizon", "must be a positive number of years", value)
    return h


def _z(conf_level: float) -> float:
    return float(norm.ppf(1 - (1 - conf_level) / 2))


# ---------------------------------------------------------------------------------------------
# Harrell's C
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Concordance:
    """Harrell's C with its infinitesimal-jackknife SE and CI, and the pair counts."""

    estimate: float
    std_err: float
    lower: float
    upper: float
    conf_level: float
    comparable: int
    concordant: int
    discordant: int
    tied_risk: int
    competing_events: bool

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "std_err": self.std_err, "ci": [self.lower, self.upper],
                "conf_level": self.conf_level, "comparable_pairs": self.comparable, "concordant": self.concordant,
                "discordant": self.discordant, "tied_risk": self.tied_risk,
                "ties": "event and censoring at one time comparable; tied events not; tied risks count 1/2",
                "variance": "infinitesimal jackknife",
                "competing_events": "Wolbers 2009: event-free for ever" if self.competing_events else None}


def _pair_sums(t: np.ndarray, e: np.ndarray, r: np.ndarray, w: Optional[np.ndarray] = None):
    """Weighted pair sums of Harrell's C and each patient's derivative of them.

    Returns (N, D, dN, dD, counts): N = sum w_i w_j s_ij over comparable pairs (s = 1 concordant,
    1/2 tied risk, 0 discordant), D = sum w_i w_j; dN[k], dD[k] their derivatives by w_k.
    """
    n = t.size
    w = np.ones(n) if w is None else w
    early = np.flatnonzero(e == 1)
    dn = np.zeros(n)
    dd = np.zeros(n)
    counts = np.zeros(3)  # concordant, tied, comparable (unweighted)
    num = den = 0.0
    for start in range(0, early.size, _CHUNK):
        rows = early[start:start + _CHUNK]
        ti, ri = t[rows][:, None], r[rows][:, None]
        comp = (t[None, :] > ti) | ((t[None, :] == ti) & (e[None, :] != 1))
        diff = ri - r[None, :]
        tied = np.abs(diff) <= TIED_TOL
        s = comp * np.where(tied, 0.5, (diff > 0).astype(float))
        wi = w[rows][:, None]
        ws = s * w[None, :]
        wc = comp * w[None, :]
        num += float((wi * ws).sum())
        den += float((wi * wc).sum())
        dn[rows] += ws.sum(axis=1)
        dd[rows] += wc.sum(axis=1)
        dn += (wi * s).sum(axis=0)
        dd += (wi * comp).sum(axis=0)
        counts += [float((comp & ~tied & (diff > 0)).sum()), float((comp & tied).sum()), float(comp.sum())]
    return num, den, dn, dd, counts


def _wolbers(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A competing event (code 2) becomes event-free for ever (Wolbers et al. 2009)."""
    comp = e == 2
    return np.where(comp, np.inf, t), np.where(comp, 0, e)


def weighted_concordance(time, event, risk, weights) -> float:
    """Harrell's C with case weights (each pair weighted w_i w_j): used to check the variance."""
    t, e, r = _inputs(time, event, risk)
    t, e = _wolbers(t, e)
    w = np.asarray(weights, dtype=float).reshape(-1)
    num, den, *_ = _pair_sums(t, e, r, w)
    return num / den


def harrell_c(time, event, risk, *, conf_level: float = 0.95) -> Concordance:
    """Harrell's C of predicted ``risk`` (higher = worse) against follow-up ``time`` and ``event``
    (0 censored, 1 the outcome, 2 a competing event), with the infinitesimal-jackknife CI."""
    level = probability(conf_level, "conf_level")
    t, e, r = _inputs(time, event, risk)
    competing = bool((e == 2).any())
    t, e = _wolbers(t, e)
    num, den, dn, dd, counts = _pair_sums(t, e, r)
    if den == 0:
        raise InvalidValue("time", "gives no comparable pair (every event is at or after every other follow-up)",
                           show_value=False)
    c = num / den
    influence = (dn - c * dd) / den
    se = float(np.sqrt(np.sum(influence ** 2)))
    z = _z(level)
    concordant, tied, comparable = (int(round(x)) for x in counts)
    return Concordance(estimate=float(c), std_err=se, lower=max(0.0, c - z * se), upper=min(1.0, c + z * se),
                       conf_level=level, comparable=comparable, concordant=concordant,
                       discordant=comparable - concordant - tied, tied_risk=tied,
                       competing_events=competing)


# ---------------------------------------------------------------------------------------------
# censoring distribution and the time-dependent AUC
# ---------------------------------------------------------------------------------------------

def censoring_survival(time, event) -> tuple[np.ndarray, np.ndarray]:
    """The censoring Kaplan-Meier G as scikit-survival's ``CensoringDistributionEstimator``: at a
    tied time the events (any code) leave the risk set before the censorings. Returns the distinct
    times and G just after each."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    uniq, inv = np.unique(t, return_inverse=True)
    total = np.bincount(inv, minlength=uniq.size)
    cens = np.bincount(inv, weights=(e == 0), minlength=uniq.size)
    events = total - cens
    n_risk = t.size - np.concatenate(([0], np.cumsum(total)[:-1])) - events
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(cens > 0, 1 - cens / n_risk, 1.0)
    return uniq, np.cumprod(step)


def _g_at(times: np.ndarray, g_time: np.ndarray, g: np.ndarray, *, left: bool = False) -> np.ndarray:
    """G at ``times`` (right-continuous; ``left=True`` for the limit just before)."""
    idx = np.searchsorted(g_time, times, side="left" if left else "right") - 1
    return np.where(idx < 0, 1.0, g[np.clip(idx, 0, None)])


def time_dependent_auc(time, event, risk, horizon: float) -> Optional[float]:
    """Cumulative/dynamic AUC at ``horizon`` with IPCW (Uno 2007; Hung & Chiang 2010), as
    scikit-survival's ``cumulative_dynamic_auc(y, y, risk, [horizon])``; competing events (code 2)
    by the horizon are controls (Blanche et al. 2013). None without a case or a control."""
    h = _horizon(horizon)
    t, e, r = _inputs(time, event, risk)
    if h >= t.max():
        raise InvalidValue("horizon", f"must be before the last follow-up time ({t.max():g})", h)
    g_time, g = censoring_survival(t, e)
    case = (t <= h) & (e == 1)
    control = t > h
    other = (t <= h) & (e == 2)
    if not case.any() or not (control.any() or other.any()):
        return None
    g_case = _g_at(t[case], g_time, g)
    if (g_case <= 0).any():
        raise InvalidValue("time", "the censoring distribution reaches 0 before an event: no IPC weight",
                           show_value=False)
    w_case = 1 / g_case
    w_ctrl = np.concatenate((np.full(int(control.sum()), 1 / float(_g_at(np.array([h]), g_time, g)[0])),
                             1 / _g_at(t[other], g_time, g)))
    r_ctrl = np.concatenate((r[control], r[other]))
    r_case = r[case]
    num = 0.0
    for start in range(0, r_case.size, _CHUNK):
        diff = r_case[start:start + _CHUNK, None] - r_ctrl[None, :]
        s = np.where(np.abs(diff) <= TIED_TOL, 0.5, (diff > 0).astype(float))
        num += float(w_case[start:start + _CHUNK] @ s @ w_ctrl)
    return num / (w_case.sum() * w_ctrl.sum())


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalibrationGroup:
    """One group of patients by predicted risk: predicted against observed at the horizon."""

    group: int                  # 1 = lowest predicted risk
    n: int
    events: int                 # events of the outcome by the horizon
    risk_min: float
    risk_max: float
    predicted: float            # mean predicted risk by the horizon
    observed: Optional[float]   # 1 - KM S(horizon) or the Aalen-Johansen incidence; None beyond follow-up
    lower: Optional[float]
    upper: Optional[float]
    curve: object = field(default=None, repr=False, compare=False)  # the KaplanMeier or CumulativeIncidence

    def as_dict(self) -> dict:
        return {"group": self.group, "n": self.n, "events": self.events, "risk_range": [self.risk_min, self.risk_max],
                "predicted": self.predicted, "observed": self.observed, "ci": [self.lower, self.upper]}


@dataclass(frozen=True)
class CalibrationSlope:
    """The calibration slope: Cox (or Fine-Gray) coefficient of cloglog(predicted risk)."""

    slope: float
    std_err: float
    lower: float
    upper: float
    method: str                 # "cox" or "fine_gray"

    def as_dict(self) -> dict:
        return {"slope": self.slope, "std_err": self.std_err, "ci": [self.lower, self.upper], "method": self.method}


def risk_groups(risk, groups: int) -> np.ndarray:
    """Group number 0..k-1 of each patient by quantiles of predicted risk; tied risks share a group,
    so a group may be empty when many risks are tied (callers drop empty groups)."""
    from scipy.stats import rankdata

    r = np.asarray(risk, dtype=float)
    ranks = rankdata(r, method="average")
    return np.minimum(groups - 1, np.floor((ranks - 0.5) * groups / r.size).astype(int))


def _observed(t: np.ndarray, e: np.ndarray, h: float, competing: bool, conf_level: float):
    """(curve, observed risk by h, lower, upper): 1 - KM, or the Aalen-Johansen incidence of code 1."""
    if competing:
        from sarcotrial.outcomes.competing_risks import cumulative_incidence

        curve = cumulative_incidence(t, e, 1, conf_level=conf_level)
        at = curve.at([h])
        est, lo, hi = float(at.estimate[0]), float(at.lower[0]), float(at.upper[0])
        if est == 0.0:  # the log(-log) interval is undefined at 0: no event by the horizon
            lo = hi = 0.0
        return curve, _none(est), _none(lo), _none(hi)
    from sarcotrial.outcomes.kaplan_meier import fit_kaplan_meier

    curve = fit_kaplan_meier(t, (e == 1).astype(int), conf_level=conf_level)
    at = curve.at([h])
    s, lo, hi = float(at.survival[0]), float(at.lower[0]), float(at.upper[0])
    return curve, _none(1 - s), _none(1 - hi), _none(1 - lo)


def calibration_groups(time, event, risk, horizon: float, *, groups: int = 3,
                       conf_level: float = 0.95) -> list[CalibrationGroup]:
    """Predicted against observed risk by ``horizon`` in quantile groups of predicted risk."""
    h = _horizon(horizon)
    level = probability(conf_level, "conf_level")
    t, e, r = _inputs(time, event, risk)
    k = _groups(groups, int(((t <= h) & (e == 1)).sum()))
    competing = bool((e == 2).any())
    gidx = risk_groups(r, k)
    out = []
    for g in range(k):
        sel = gidx == g
        if not sel.any():
            continue
        curve, obs, lo, hi = _observed(t[sel], e[sel], h, competing, level)
        out.append(CalibrationGroup(group=len(out) + 1, n=int(sel.sum()), events=int(((t[sel] <= h) & (e[sel] == 1)).sum()),
                                    risk_min=float(r[sel].min()), risk_max=float(r[sel].max()),
                                    predicted=float(r[sel].mean()), observed=obs, lower=lo, upper=hi, curve=curve))
    return out


def _groups(groups, events: int) -> int:
    """The number of groups asked for, lowered to keep about 10 events of the outcome per group."""
    return max(1, min(check_groups(groups), events // EVENTS_PER_GROUP))


def check_groups(groups) -> int:
    try:
        k = int(groups)
    except (TypeError, ValueError):
        raise InvalidValue("groups", "must be a whole number from 1 to 10", groups) from None
    if k != groups or not 1 <= k <= 10:
        raise InvalidValue("groups", "must be a whole number from 1 to 10", groups)
    return k


def cloglog(p) -> np.ndarray:
    """log(-log(1 - p)): the complementary log-log of a risk."""
    return np.log(-np.log1p(-np.asarray(p, dtype=float)))


def calibration_slope(time, event, risk, horizon: float, *, conf_level: float = 0.95) -> CalibrationSlope:
    """The calibration slope at ``horizon``: Cox regression (Efron ties) of the outcome, follow-up
    censored at the horizon, on cloglog(predicted risk); Fine-Gray when there are competing events."""
    h = _horizon(horizon)
    level = probability(conf_level, "conf_level")
    t, e, r = _inputs(time, event, risk)
    x = cloglog(r)
    if np.ptp(x) == 0:
        raise InvalidValue("predicted_risk", "is the same for every patient: no slope to estimate", float(r[0]))
    after = t > h
    tc = np.where(after, h, t)
    ec = np.where(after, 0, e)
    if not (ec == 1).any():
        raise InvalidValue("event", "has no events of the outcome by the horizon", show_value=False)
    z = _z(level)
    if (ec == 2).any():
        b, se = fine_gray_1d(tc, ec, x)
        method = "fine_gray"
    else:
        from sarcotrial.outcomes.cox import fit_cox

        fit = fit_cox(tc, ec, x[:, None], names=["cloglog_risk"], conf_level=level)
        b, se = float(fit.coef[0]), float(fit.se[0])
        method = "cox"
    return CalibrationSlope(slope=b, std_err=se, lower=b - z * se, upper=b + z * se, method=method)


def fine_gray_1d(time, status, x, *, max_iter: int = 50, eps: float = 1e-10) -> tuple[float, float]:
    """Fine & Gray (1999) regression of cause 1 on one covariate: (coefficient, model-based SE).

    Breslow ties; a patient with a competing event (code 2) at T_j stays in the risk set of a later
    time t with weight G(t-)/G(T_j-), G the censoring Kaplan-Meier. Newton-Raphson from 0.
    """
    t = np.asarray(time, dtype=float)
    s = np.asarray(status)
    x = np.asarray(x, dtype=float)
    x = x - x.mean()
    g_time, g = censoring_survival(t, s)
    ev_times, inv = np.unique(t[s == 1], return_inverse=True)
    d = np.bincount(inv, minlength=ev_times.size).astype(float)
    sum_x_events = float(x[s == 1].sum())
    g_ev = _g_at(ev_times, g_time, g, left=True)
    comp = s == 2
    g_comp = np.where(comp, _g_at(t, g_time, g, left=True), 1.0)

    def evaluate(beta: float):
        r = np.exp(beta * x)
        u, info = sum_x_events, 0.0
        for start in range(0, ev_times.size, _CHUNK):
            tk = ev_times[start:start + _CHUNK, None]
            w = np.where(t[None, :] >= tk, 1.0, np.where(comp[None, :], g_ev[start:start + _CHUNK, None] / g_comp[None, :], 0.0))
            wr = w * r[None, :]
            s0, s1, s2 = wr.sum(axis=1), wr @ x, wr @ (x * x)
            dk = d[start:start + _CHUNK]
            u -= float((dk * s1 / s0).sum())
            info += float((dk * (s2 / s0 - (s1 / s0) ** 2)).sum())
        return u, info

    beta = 0.0
    for _ in range(max_iter):
        u, info = evaluate(beta)
        if info <= 0:
            raise InvalidValue("predicted_risk", "gives no information for a slope", show_value=False)
        step = u / info
        beta += step
        if abs(step) < eps * max(1.0, abs(beta)):
            break
    _, info = evaluate(beta)
    return float(beta), float(1 / math.sqrt(info))


# ---------------------------------------------------------------------------------------------
# everything together
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelPerformance:
    """Discrimination and calibration of predicted risks by a horizon, on one cohort."""

    horizon: float
    n: int
    events: int                 # events of the outcome by the horizon
    events_total: int           # events of the outcome at any time
    competing_events: int       # competing events at any time
    concordance: Concordance
    auc: Optional[float]
    groups: list
    calibration_slope: Optional[CalibrationSlope]
    observed: Optional[float]   # the whole cohort's observed risk by the horizon
    observed_ci: tuple
    expected: float             # mean predicted risk
    oe_ratio: Optional[float]
    oe_ci: tuple
    groups_requested: int
    conf_level: float
    warnings: tuple
    overall_curve: object = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {
            "horizon": self.horizon, "n": self.n, "events_by_horizon": self.events, "events_total": self.events_total,
            "competing_events": self.competing_events, "conf_level": self.conf_level,
            "observed_by": "aalen_johansen" if self.competing_events else "kaplan_meier",
            "concordance": self.concordance.as_dict(), "auc": self.auc,
            "calibration": {"groups_requested": self.groups_requested,
                            "groups": [g.as_dict() for g in self.groups]},
            "calibration_slope": self.calibration_slope.as_dict() if self.calibration_slope else None,
            "observed": self.observed, "observed_ci": list(self.observed_ci), "expected": self.expected,
            "oe_ratio": self.oe_ratio, "oe_ci": list(self.oe_ci), "warnings": list(self.warnings),
        }


def assess_performance(time, event, risk, horizon: float, *, groups: int = 3,
                       conf_level: float = 0.95) -> ModelPerformance:
    """Harrell's C, AUC(horizon), the calibration table, slope and O/E of predicted risks by ``horizon``.

    ``time``: follow-up in the horizon's unit (years); ``event``: 0 censored, 1 the outcome,
    2 a competing event; ``risk``: each patient's predicted risk of the outcome by the horizon.
    """
    h = _horizon(horizon)
    level = probability(conf_level, "conf_level")
    t, e, r = _inputs(time, event, risk)
    if h >= t.max():
        raise InvalidValue("horizon", f"must be before the last follow-up time ({t.max():g})", h)
    k = check_groups(groups)  # the number used depends on the events
    competing = bool((e == 2).any())
    events = int(((t <= h) & (e == 1)).sum())
    warnings = []
    if events < MIN_EVENTS:
        warnings.append(f"{events} events of the outcome by the horizon: {FEW_EVENTS_WARNING}")
    concordance = harrell_c(t, e, r, conf_level=level)
    auc = time_dependent_auc(t, e, r, h)
    table = calibration_groups(t, e, r, h, groups=int(groups), conf_level=level)
    if len(table) < k:
        warnings.append(f"{len(table)} risk group{'s' if len(table) != 1 else ''} instead of {k}: "
                        f"fewer than {EVENTS_PER_GROUP} events of the outcome per group, or tied risks")
    try:
        slope = calibration_slope(t, e, r, h, conf_level=level) if events else None
    except InvalidValue as exc:
        slope = None
        warnings.append(f"no calibration slope: {exc}")
    curve, obs, lo, hi = _observed(t, e, h, competing, level)
    expected = float(r.mean())
    oe = None if obs is None else obs / expected
    oe_ci = (None if lo is None else lo / expected, None if hi is None else hi / expected)
    return ModelPerformance(horizon=h, n=int(t.size), events=events, events_total=int((e == 1).sum()),
                            competing_events=int((e == 2).sum()), concordance=concordance, auc=auc, groups=table,
                            calibration_slope=slope, observed=obs, observed_ci=(lo, hi), expected=expected,
                            oe_ratio=oe, oe_ci=oe_ci, groups_requested=k, conf_level=level,
                            warnings=tuple(warnings), overall_curve=curve)
