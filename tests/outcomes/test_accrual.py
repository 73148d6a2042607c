"""The accrual forecast (Gajewski, Simon, Carlson, Stat Med 2008;27:2328-2340) against the R package of its
authors (``accrual`` 1.4: ``accrual.T.inform`` and ``accrual.n.inform``, whose one-line formulas are
re-computed here with scipy's ``beta`` and ``nbinom``), against cases worked by hand, and against
simulation of the model itself (a rate drawn from the prior or posterior, then exponential gaps)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from scipy.stats import beta, nbinom

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes.accrual import (
    forecast,
    predicted_enrolled,
    waiting_time_cdf,
    waiting_time_quantile,
)

P = (0.025, 0.5, 0.975)
START = dt.date(2024, 1, 1)


def days(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


# --------------------------------------------------------------------------- the R package's expressions
def test_time_to_target_is_accrual_T_inform():
    """accrual.T.inform(n=300, TT=36, P=0.5, m=100, tm=10, np=300), the package's own example (months):
    qB <- qbeta(p, np - m, n*P + m); qTOT <- (TT*P + tm) * qB / (1 - qB) + tm."""
    n, TT, Pw, m, tm = 300, 36, 0.5, 100, 10
    qB = beta.ppf(P, n - m, n * Pw + m)
    expected = (TT * Pw + tm) * qB / (1 - qB) + tm
    got = [waiting_time_quantile(q, n - m, n * Pw + m, TT * Pw + tm) + tm for q in P]
    assert got == pytest.approx(expected, rel=1e-9)


def test_number_by_a_date_is_accrual_n_inform():
    """accrual.n.inform(n=300, TT=36, P=0.5, m=100, tm=10, Tp=36): prob <- (TT*P + tm)/(TT*P + Tp);
    qnbinom(p, n*P + m, prob) + m (the package does not stop at the target: a target far above is given)."""
    n, TT, Pw, m, tm, Tp = 300, 36, 0.5, 100, 10, 36
    expected = nbinom.ppf(P, n * Pw + m, (TT * Pw + tm) / (TT * Pw + Tp)) + m
    got = [float(predicted_enrolled(q, Tp - tm, m, 10**6, n * Pw + m, TT * Pw + tm)) for q in P]
    assert got == list(expected)


def test_waiting_time_and_count_agree():
    """Poisson-gamma duality: the r-th patient has come by s exactly when N(s) >= r, so
    P(W <= s) = P(N(s) >= r) = nbinom.sf(r - 1, a, b / (b + s))."""
    a, b, r = 19.5, 912.875, 30
    for s in (200.0, 800.0, 1500.0, 3000.0):
        assert waiting_time_cdf(s, r, a, b) == pytest.approx(nbinom.sf(r - 1, a, b / (b + s)), abs=1e-10)


# --------------------------------------------------------------------------- cases worked by hand
def test_one_patient_left_is_a_lomax_waiting_time():
    """Target 2, 1 enrolled at day 100, no prior (weight 0): rate ~ Gamma(1, 100 days); the last wait is
    exponential given the rate, so P(W > w) = 100 / (100 + w) and the q quantile is 100 q / (1 - q):
    median 100 days, 2.5 % 100 x 0.025/0.975 = 2.56 (3 days), 97.5 % 100 x 39 = 3900 days. Planned end at one year
    (day 365, 265 days after the cut-off): P(W <= 265) = 265 / 365 = 0.72603."""
    f = forecast([days(40)], 2, start=START, cutoff=days(100), planned_years=365 / 365.25, prior_weight=0)
    assert (f.status, f.shape, f.days, f.prior_used) == ("forecast", 1, 100, False)
    assert f.completion_days == pytest.approx((100, 100 * 0.025 / 0.975, 3900))
    assert f.completion == (days(200), days(103), days(4000))
    assert f.planned_end == days(365)
    assert f.probability_by_planned_end == pytest.approx(265 / 365)
    assert f.mean_days is None  # shape 1: E[1/rate] is infinite
    assert f.on_track is True


def test_observed_rate_alone_without_an_enrolment_period():
    """No planned period: no prior, posterior Gamma(m, t). 2 patients in 100 days, target 3: one left,
    P(W > w) = (100 / (100 + w))^2, median 100 (sqrt 2 - 1) = 41.42 days; mean 100 x 1 / (2 - 1) = 100 days."""
    f = forecast([days(10), days(60)], 3, start=START, cutoff=days(100), planned_years=None)
    assert (f.prior_used, f.shape, f.days) == (False, 2, 100)
    assert "no enrolment period" in f.note and f.planned_end is None and f.on_track is None
    assert f.completion_days[0] == pytest.approx(100 * (math.sqrt(2) - 1))
    assert f.mean_days == pytest.approx(100)
    assert f.probability_by_planned_end is None and f.enrolled_by_planned_end is None


def test_before_the_first_patient_the_prior_alone_forecasts():
    """SPRINT (33 in 3 years, P 0.5) on its first day: Gamma(16.5, 547.875 days); mean time to 33 patients
    b r / (a - 1) = 547.875 x 33 / 15.5 = 1166.44 days; the expected count by the planned end a s / b =
    16.5 x 1096 / 547.875 = 33.01, so the median date is close to the planned end."""
    f = forecast([], 33, start=START, cutoff=START, planned_years=3)
    assert (f.shape, f.days, f.enrolled) == (16.5, 547.875, 0)
    assert f.mean_days == pytest.approx(547.875 * 33 / 15.5)
    assert abs((f.completion[0] - f.planned_end).days) < 60


def test_nothing_to_estimate_from():
    """No prior and no patient: the posterior Gamma(0, t) is improper; the forecast says why."""
    f = forecast([], 33, start=START, cutoff=days(30), planned_years=None)
    assert f.status == "not estimable" and "no patient is enrolled yet" in f.note
    assert f.sentence().startswith("No forecast: no patient is enrolled yet")
    zero = forecast([days(0)], 33, start=START, cutoff=START, planned_years=3, prior_weight=0)
    assert zero.status == "not estimable" and "no day of accrual" in zero.note
    with pytest.raises(InvalidValue, match="no predictive band"):
        f.band([0, 10])


def test_target_reached_is_complete():
    """The target-th enrolment ends accrual: no forecast, the date it was reached, on track if by the plan."""
    dates = [days(k) for k in (5, 50, 90, 400)]
    f = forecast(dates, 3, start=START, cutoff=days(500), planned_years=1)
    assert (f.status, f.completed_on, f.enrolled, f.remaining) == ("complete", days(90), 4, 0)
    assert f.completion is None and f.on_track is True
    assert f.observed_days == 90 and f.sentence() == "The target of 3 was reached on 31 March 2024."
    late = forecast(dates, 3, start=START, cutoff=days(500), planned_years=60 / 365.25)  # planned end day 60
    assert late.on_track is False
    assert forecast(dates, 3, start=START, cutoff=days(500)).on_track is None  # no plan to be on track against


def test_enrolments_after_the_cutoff_do_not_count():
    f = forecast([days(10), days(200)], 5, start=START, cutoff=days(100), planned_years=1)
    assert f.enrolled == 1 and f.shape == 2.5 + 1


def test_the_band_starts_at_the_count_and_stops_at_the_target():
    """At the cut-off the band is the count; it never falls and never passes the target."""
    f = forecast([days(30), days(90), days(150)], 10, start=START, cutoff=days(180), planned_years=2)
    lower, median, upper = f.band(np.arange(0, 3000, 30))
    assert lower[0] == median[0] == upper[0] == 3
    for series in (lower, median, upper):
        assert np.all(np.diff(series) >= 0) and series.max() <= 10
    assert np.all(lower <= median) and np.all(median <= upper) and upper[-1] == 10


@pytest.mark.parametrize("kwargs, field", [
    ({"prior_weight": 1.5}, "prior_weight"), ({"prior_weight": -0.1}, "prior_weight"), ({"level": 1}, "level"),
    ({"level": 0}, "level"), ({"cutoff": dt.date(2023, 12, 31)}, "cutoff"),
    ({"planned_years": 0}, "enrolment_period_years"),
])
def test_bad_values_are_refused_by_name(kwargs, field):
    args = {"start": START, "cutoff": days(10), "planned_years": 3, **kwargs}
    with pytest.raises(InvalidValue) as refused:
        forecast([], 33, **args)
    assert refused.value.field == field


# --------------------------------------------------------------------------- simulation
def _within(empirical: float, p: float, n: int) -> bool:
    """An empirical proportion within 4.5 Monte Carlo standard errors of p."""
    return abs(empirical - p) <= 4.5 * math.sqrt(p * (1 - p) / n)


def test_time_to_target_matches_simulated_gaps():
    """Draw the rate from the posterior Gamma(a, b), then r exponential gaps: the share of simulated times below
    each closed-form quantile is the quantile's level, within Monte Carlo error (100,000 draws)."""
    rng = np.random.default_rng(20080613)
    a, b, r, draws = 19.5, 912.875, 30, 100_000
    rate = rng.gamma(a, 1 / b, draws)
    waits = rng.exponential(1 / rate[:, None], (draws, r)).sum(axis=1)
    for q in (0.025, 0.25, 0.5, 0.75, 0.975):
        assert _within(np.mean(waits <= waiting_time_quantile(q, r, a, b)), q, draws), q
    assert waits.mean() == pytest.approx(b * r / (a - 1), rel=0.02)


def test_count_by_a_date_matches_simulated_poisson_counts():
    """Rate from Gamma(a, b), then a Poisson count in s days: P(count <= the closed-form q quantile) >= q and
    P(count < it) < q, within Monte Carlo error."""
    rng = np.random.default_rng(7)
    a, b, s, draws = 12.0, 400.0, 365.0, 100_000
    counts = rng.poisson(rng.gamma(a, 1 / b, draws) * s)
    for q in (0.025, 0.5, 0.975):
        k = int(predicted_enrolled(q, s, 0, 10**6, a, b))
        assert np.mean(counts <= k) >= q - 4.5 * math.sqrt(q * (1 - q) / draws)
        assert np.mean(counts < k) <= q + 4.5 * math.sqrt(q * (1 - q) / draws)


def test_posterior_update_matches_simulated_trials():
    """The whole model by simulation: rates from the prior Gamma(P n, P T); a trial's accrual to the cut-off
    (t = 300 days) drawn as a Poisson count; the trials with exactly m = 3 patients kept (rejection: their
    rate is the posterior's); their time to the target of 6 drawn as 3 exponential gaps after the cut-off.
    The forecast's quantiles hold the simulated times at their levels: the posterior uses the days to the
    cut-off (300), not to the last patient."""
    rng = np.random.default_rng(2328)
    target, years, weight, t, m = 6, 400 / 365.25, 0.5, 300, 3
    rate = rng.gamma(weight * target, 1 / (weight * 400), 600_000)
    kept = rate[rng.poisson(rate * t) == m]
    waits = rng.exponential(1 / kept[:, None], (kept.size, target - m)).sum(axis=1)
    f = forecast([days(50), days(120), days(250)], target, start=START, cutoff=days(t), planned_years=years,
                 prior_weight=weight, level=0.9)
    assert kept.size > 50_000
    for q, w in zip((0.5, 0.05, 0.95), f.completion_days):
        assert _within(np.mean(waits <= w), q, kept.size), q
    left = (f.planned_end - f.cutoff).days
    assert _within(np.mean(waits <= left), f.probability_by_planned_end, kept.size)


def test_no_patient_yet_is_neither_on_track_nor_behind():
    """Before the first enrolment the forecast is the plan's prior alone: it says nothing of the study's own pace,
    so 'on track' is not judged (a probability of 0.49 from the prior alone read as 'behind plan' on day one)."""
    result = forecast([], 130, start=dt.date(2026, 1, 1), cutoff=dt.date(2026, 1, 1), planned_years=2)
    assert result.enrolled == 0 and result.on_track is None
