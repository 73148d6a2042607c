"""Accrual forecasting: when will the target be reached, with what uncertainty.

Standard: Gajewski BJ, Simon SD, Carlson SE. Predicting accrual in clinical trials with Bayesian
posterior predictive distributions. Stat Med 2008;27(13):2328-2340 (doi:10.1002/sim.3128), the
"informative prior" model as implemented by the authors' R package ``accrual`` 1.4 (Jiang Y, Simon S,
Mayo MS, Gajewski BJ. Stat Med 2015;34(4):613-629; functions ``accrual.T.inform`` and
``accrual.n.inform``).

Patients arrive as a Poisson process of rate ``lambda`` (patients a day; exponential waiting times).
The protocol plans ``n`` patients in ``T`` days; the prior on the rate is Gamma(shape ``P n``, rate
``P T``) (the paper's inverse-gamma prior on the mean waiting time ``1/lambda``), where ``P`` in [0, 1]
weighs the plan as ``P n`` patients' worth of evidence (the paper elicits it as the investigator's
confidence in the plan on a 1-10 scale, divided by 10). After ``m`` patients in ``t`` days of accrual
the posterior is Gamma(``a = P n + m``, ``b = P T + t``), ``t`` running from the start of accrual to
the data cut-off (the Poisson likelihood ``lambda^m exp(-lambda t)``; the R package's ``tm``, "time to
date").

* Time to the target: the remaining ``r = n - m`` patients take ``W | lambda ~ Gamma(r, lambda)``, so
  ``W = b B / (1 - B)`` with ``B ~ Beta(r, a)`` (``accrual.T.inform``), equivalently
  ``W a / (b r) ~ F(2r, 2a)``: quantiles in closed form; mean ``b r / (a - 1)`` (``a > 1``).
* Patients enrolled by a later day ``t + s``: ``m + N(s)`` with ``N(s)`` negative binomial, size ``a``,
  probability ``b / (b + s)`` (``accrual.n.inform``): the pointwise band of the accrual plot. Enrolment
  stops at the target, so the band is capped there.

Choices (docs/accrual.md):

* ``P = 0.5`` by default, the value of the R package's examples and of Simon's worked examples
  (P.Mean, "BUGS model for the simple Poisson accrual model", 2012): the plan counts as half the
  target's evidence. ``--prior-weight`` changes it (0: the observed rate alone).
* No planned enrolment period in the protocol: there is no prior; the forecast uses the observed rate
  alone (``P = 0``, posterior Gamma(m, t), the limit of the model as ``P -> 0``), and says so. Before the
  first patient that leaves nothing to estimate from: no forecast, with the reason.
* The planned period counts Julian years (365.25 days); a date forecast is the cut-off plus the waiting
  time rounded to the nearest day.

Hand-written: no Python library implements this model (the reference is the R package); the algebra
is a few lines over :mod:`scipy.stats` (``f``, ``nbinom``, ``gamma``), and the tests check it against
the R package's own expressions (``qbeta``, ``qnbinom``), hand-computed cases and simulation.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from numbers import Real
from typing import Sequence

from sarcotrial.errors import InvalidValue

__all__ = [
    "DAYS_PER_YEAR",
    "DEFAULT_LEVEL",
    "DEFAULT_PRIOR_WEIGHT",
    "METHOD",
    "AccrualForecast",
    "forecast",
    "predicted_enrolled",
    "waiting_time_cdf",
    "waiting_time_quantile",
]

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
DEFAULT_PRIOR_WEIGHT = 0.5
DEFAULT_LEVEL = 0.95
METHOD = ("Bayesian Poisson accrual model with a gamma prior on the rate from the planned enrolment period "
          "(Gajewski, Simon, Carlson, Stat Med 2008;27:2328-2340)")

#: what ``status`` says: the target reached; a forecast; nothing to estimate from
STATUSES = ("complete", "forecast", "not estimable")


# --------------------------------------------------------------------------- closed forms
def _positive(field: str, value: float) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise InvalidValue(field, "must be a number above 0", value)
    return float(value)


def waiting_time_quantile(q: float, remaining: int, shape: float, rate: float) -> float:
    """The ``q`` quantile of the days until ``remaining`` more patients, the rate Gamma(``shape``, ``rate``)."""
    from scipy.stats import f

    shape, rate = _positive("shape", shape), _positive("rate", rate)
    return float(rate * remaining / shape * f.ppf(q, 2 * remaining, 2 * shape))


def waiting_time_cdf(days: float, remaining: int, shape: float, rate: float) -> float:
    """P(the ``remaining`` patients have arrived within ``days``)."""
    from scipy.stats import f

    shape, rate = _positive("shape", shape), _positive("rate", rate)
    if days <= 0:
        return 0.0
    return float(f.cdf(days * shape / (rate * remaining), 2 * remaining, 2 * shape))


def predicted_enrolled(q, days, enrolled: int, target: int, shape: float, rate: float):
    """The ``q`` quantile(s) of the number enrolled ``days`` after the cut-off (array-like ``days``):
    ``enrolled`` plus a negative binomial (size ``shape``, probability ``rate / (rate + days)``), capped at
    ``target``."""
    import numpy as np
    from scipy.stats import nbinom

    shape, rate = _positive("shape", shape), _positive("rate", rate)
    s = np.maximum(np.asarray(days, dtype=float), 0.0)
    extra = nbinom.ppf(q, shape, rate / (rate + s))
    return np.minimum(enrolled + extra, target)


# --------------------------------------------------------------------------- the forecast
@dataclass(frozen=True)
class AccrualForecast:
    """Accrual at a cut-off against the protocol's target and planned period, and the forecast."""

    target: int
    enrolled: int
    start: dt.date
    cutoff: dt.date
    planned_years: float | None
    prior_weight: float          # the weight asked for
    prior_used: bool             # False: no planned period (or weight 0), the observed rate alone
    prior_shape: float
    prior_days: float            # the prior's rate parameter: ``P T`` days
    shape: float                 # posterior ``a``
    days: float                  # posterior ``b``, days
    level: float
    status: str                  # STATUSES
    note: str                    # why there is no forecast, or what the prior is
    completed_on: dt.date | None = None
    completion: tuple[dt.date, dt.date, dt.date] | None = None   # median, lower, upper
    completion_days: tuple[float, float, float] | None = None     # the same in days after the cut-off
    mean_days: float | None = None   # None: infinite (posterior shape 1 or less)
    probability_by_planned_end: float | None = None
    enrolled_by_planned_end: tuple[int, int, int] | None = None  # median, lower, upper

    # ---- derived
    @property
    def remaining(self) -> int:
        return max(self.target - self.enrolled, 0)

    @property
    def observed_days(self) -> int:
        """Days of accrual: from the start to the cut-off, or to the day the target was reached."""
        return ((self.completed_on or self.cutoff) - self.start).days

    @property
    def planned_days(self) -> float | None:
        return None if self.planned_years is None else self.planned_years * DAYS_PER_YEAR

    @property
    def planned_end(self) -> dt.date | None:
        days = self.planned_days
        return None if days is None else self.start + dt.timedelta(days=round(days))

    @property
    def observed_rate_per_month(self) -> float | None:
        return self.enrolled / self.observed_days * DAYS_PER_MONTH if self.observed_days > 0 else None

    @property
    def planned_rate_per_month(self) -> float | None:
        days = self.planned_days
        return None if days is None else self.target / days * DAYS_PER_MONTH

    @property
    def rate_per_month(self) -> tuple[float, float, float] | None:
        """The posterior accrual rate a month: mean and equal-tailed credible interval at ``level``."""
        if self.shape <= 0 or self.days <= 0:
            return None
        from scipy.stats import gamma

        tail = (1 - self.level) / 2
        lo, hi = gamma.ppf([tail, 1 - tail], self.shape, scale=1 / self.days)
        return (self.shape / self.days * DAYS_PER_MONTH, float(lo) * DAYS_PER_MONTH, float(hi) * DAYS_PER_MONTH)

    @property
    def on_track(self) -> bool | None:
        """Reached by the planned end, or the forecast more likely than not to reach it by then (None: no plan, or
        no patient yet: the plan's prior alone says nothing of the study's own pace)."""
        if self.status == "complete":
            return None if self.planned_end is None else self.completed_on <= self.planned_end
        if self.probability_by_planned_end is None or self.enrolled == 0:
            return None
        return self.probability_by_planned_end >= 0.5

    def band(self, days: Sequence[float]):
        """The predictive band of the number enrolled ``days`` after the cut-off: (lower, median, upper) arrays."""
        if self.status != "forecast":
            raise InvalidValue("forecast", f"there is no predictive band: {self.note}", show_value=False)
        tail = (1 - self.level) / 2
        return tuple(predicted_enrolled(q, days, self.enrolled, self.target, self.shape, self.days)
                     for q in (tail, 0.5, 1 - tail))

    def sentence(self) -> str:
        """The forecast in words, for the report, the dashboard and the command line."""
        if self.status == "complete":
            return f"The target of {self.target} was reached on {_day(self.completed_on)}."
        if self.status != "forecast":
            return f"No forecast: {self.note}."
        median, lower, upper = self.completion
        text = (f"Forecast: the target of {self.target} is reached on {_day(median)} (median; "
                f"{self.level:.0%} predictive interval {_day(lower)} to {_day(upper)})")
        if self.probability_by_planned_end is not None:
            text += (f"; probability {self.probability_by_planned_end:.2f} of reaching it by the planned end "
                     f"({_day(self.planned_end)})")
        return text + "."

    def as_dict(self) -> dict:
        def when(values):
            return None if values is None else dict(zip(("median", "lower", "upper"), values))

        rate = self.rate_per_month
        return {
            "status": self.status, "target": self.target, "enrolled": self.enrolled, "remaining": self.remaining,
            "start": self.start, "cutoff": self.cutoff, "observed_days": self.observed_days,
            "observed_rate_per_month": self.observed_rate_per_month,
            "planned": None if self.planned_years is None else {
                "years": self.planned_years, "days": self.planned_days, "end": self.planned_end,
                "rate_per_month": self.planned_rate_per_month},
            "prior": {"weight": self.prior_weight, "used": self.prior_used, "shape": self.prior_shape,
                      "days": self.prior_days},
            "posterior": {"shape": self.shape, "days": self.days,
                          "rate_per_month": None if rate is None else dict(zip(("mean", "lower", "upper"), rate))},
            "level": self.level, "completed_on": self.completed_on,
            "completion": when(self.completion), "completion_days": when(self.completion_days),
            "mean_days": self.mean_days, "probability_by_planned_end": self.probability_by_planned_end,
            "enrolled_by_planned_end": when(self.enrolled_by_planned_end), "on_track": self.on_track,
            "note": self.note, "sentence": self.sentence(), "method": METHOD,
        }


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _weight(value) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value) or not 0 <= value <= 1:
        raise InvalidValue("prior_weight", "must be from 0 to 1 (the plan's weight: 0.5 counts it as half the "
                           "target's patients)", value)
    return float(value)


def _level(value) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value) or not 0 < value < 1:
        raise InvalidValue("level", "must be between 0 and 1 (e.g. 0.95)", value)
    return float(value)


def forecast(enrolment_dates: Sequence[dt.date], target: int, *, start: dt.date, cutoff: dt.date,
             planned_years: float | None = None, prior_weight: float = DEFAULT_PRIOR_WEIGHT,
             level: float = DEFAULT_LEVEL) -> AccrualForecast:
    """The accrual forecast at ``cutoff`` from the enrolment dates (those after the cut-off are not counted).

    ``start``: when accrual began (day 0 of the rate); ``planned_years``: the protocol's enrolment period
    (None: no prior, the observed rate alone); ``prior_weight``: the model's ``P``; ``level``: of the intervals.
    """
    if not isinstance(target, int) or isinstance(target, bool) or target < 1:
        raise InvalidValue("target", "must be a whole number of 1 or more", target)
    weight, level = _weight(prior_weight), _level(level)
    if planned_years is not None:
        _positive("enrolment_period_years", planned_years)
    if cutoff < start:
        raise InvalidValue("cutoff", f"must not be before the start of accrual ({start.isoformat()})",
                           cutoff.isoformat())
    days = sorted(d for d in enrolment_dates if d <= cutoff)
    enrolled = len(days)
    t = (cutoff - start).days
    prior_used = planned_years is not None and weight > 0
    a0 = weight * target if prior_used else 0.0
    b0 = weight * planned_years * DAYS_PER_YEAR if prior_used else 0.0
    if prior_used:
        note = (f"prior from the plan ({target} patients in {planned_years:g} years) weighted {weight:g}, "
                f"worth {a0:g} patients")
        no_prior = ""
    else:
        no_prior = ("the protocol gives no enrolment period, so there is no prior" if planned_years is None
                    else "the prior weight is 0")
        note = f"{no_prior}: the observed rate alone"
    common = dict(target=target, enrolled=enrolled, start=start, cutoff=cutoff, planned_years=planned_years,
                  prior_weight=weight, prior_used=prior_used, prior_shape=a0, prior_days=b0, shape=a0 + enrolled,
                  days=b0 + t, level=level)
    if enrolled >= target:
        return AccrualForecast(**common, status="complete", note="the target is reached",
                               completed_on=days[target - 1])
    a, b = a0 + enrolled, b0 + t
    if a <= 0 or b <= 0:
        why = "no patient is enrolled yet" if a <= 0 else "no day of accrual is observed yet"
        return AccrualForecast(**common, status="not estimable",
                               note=f"{why} and {no_prior}: the rate cannot be estimated")
    r = target - enrolled
    tail = (1 - level) / 2
    waits = tuple(waiting_time_quantile(q, r, a, b) for q in (0.5, tail, 1 - tail))
    dates = tuple(cutoff + dt.timedelta(days=round(w)) for w in waits)
    probability = by_plan = None
    if planned_years is not None:
        end = start + dt.timedelta(days=round(planned_years * DAYS_PER_YEAR))
        left = (end - cutoff).days
        probability = waiting_time_cdf(left, r, a, b)
        by_plan = tuple(int(predicted_enrolled(q, left, enrolled, target, a, b)) for q in (0.5, tail, 1 - tail))
    return AccrualForecast(**common, status="forecast", note=note, completion=dates, completion_days=waits,
                           mean_days=b * r / (a - 1) if a > 1 else None,
                           probability_by_planned_end=probability, enrolled_by_planned_end=by_plan)
