"""Schoenfeld's events formula and its events-to-patients step, against independent references.

Sources and what each checks:

* The formula, computed by hand in the test from ``scipy.stats.norm`` quantiles:
  D = (z_{1-a} + z_{1-b})^2 / (p1 p2 (ln HR)^2), a = alpha / 2 two-sided (Schoenfeld D, Biometrics
  1983;39:499-503).
* A published table: Stat Med 2017;36(26):4121-4140 (doi:10.1002/sim.7421; PMC6478034), Table 3,
  column "# Events N for PH assumption (80% power, alpha = 0.05 one-sided, r = 1)", where N is "rounded
  up to an even number": HR 0.85 938, 0.8 498, 0.75 300, 0.7 196, 0.65 134, 0.6 96, 0.55 70, 0.5 52,
  0.45 40, 0.4 30.
* A published worked example: MRC Cognition and Brain Sciences Unit statistics wiki, "Example comparing
  software for evaluating sample sizes for log rank test" (imaging.mrc-cbu.cam.ac.uk/statswiki/FAQ/powsurv):
  Schoenfeld's formula, 80 % power, two-sided 5 %, equal groups, z rounded to 1.96 and 0.84,
  HR = log(0.75) / log(0.37): 4 (1.96 + 0.84)^2 / [log(log(0.75)/log(0.37))]^2 = 20.39 events; with
  Collett's patients-from-events step for survival probabilities 0.75 and 0.37 at the end of follow-up,
  20.39 / [1 - (0.75 + 0.37) / 2] -> 47 participants.
* Simpson's rule for P(event) (Schoenfeld 1983; Collett, Modelling Survival Data in Medical Research,
  3rd ed., section 10.2) computed by hand for medians that make S a power of 1/2, and compared with the
  exact integral for exponential survival under uniform accrual, 1 - (S(F) - S(F + A)) / (lambda A).
* lifelines 0.30.3 ``sample_size_necessary_under_cph`` / ``power_under_cph`` implement Freedman's formula
  (Stat Med 1982;1:121-129; the powerSurvEpi reference in their docstrings), events
  m = (1/k) ((k HR + 1) / (HR - 1))^2 (z_{1-a/2} + z_{1-b})^2 with k = n_exp / n_con, two-sided only, and
  patients n_con = m / (k p_exp + p_con), n_exp = k n_con, each rounded up. Freedman is not Schoenfeld, so
  only what the two share is compared: (i) the exact ratio of the two event counts,
  D / m = (1 + k)^2 (HR - 1)^2 / ((k HR + 1)^2 (ln HR)^2) (algebra from the two formulas), which checks our
  quantiles and allocation against lifelines' own; (ii) the events-to-patients step, which is the same
  in both (fed Freedman's events, ours must give lifelines' patients); (iii) Freedman's power at
  Schoenfeld's events, Phi((z_{1-a/2} + z_{1-b}) sqrt(D / m) - z_{1-a/2}).
* The operating characteristic itself: Monte-Carlo rejection rate of the two-sided 5 % log-rank test with
  Schoenfeld's events (exponential times, no censoring, fixed seed); the vectorised log-rank statistic
  used there is checked on one trial against ``lifelines.statistics.logrank_test``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes.design import (allocation_ratio, patients_for_events, probability_of_event,
                                        schoenfeld_events, schoenfeld_power, schoenfeld_sample_size)

# ---------------------------------------------------------------------------------------------
# the events formula
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hr, alpha, power, sided, allocation", [
    (0.6, 0.05, 0.80, "two-sided", (1, 1)),
    (0.7, 0.10, 0.90, "one-sided", (1, 1)),
    (0.5, 0.05, 0.90, "two-sided", (2, 1)),
    (1.5, 0.025, 0.80, "one-sided", (1, 3)),
    (0.8, 0.20, 0.80, "two-sided", (3, 2)),
])
def test_events_formula_by_hand(hr, alpha, power, sided, allocation):
    """D = (z_{1-a} + z_{1-b})^2 / (p1 p2 (ln HR)^2), a = alpha/2 two-sided (Schoenfeld 1983, eq. for two groups)."""
    a = alpha / 2 if sided == "two-sided" else alpha
    z_a, z_b = norm.ppf(1 - a), norm.ppf(power)
    p1 = allocation[0] / sum(allocation)
    p2 = allocation[1] / sum(allocation)
    expected = (z_a + z_b) ** 2 / (p1 * p2 * math.log(hr) ** 2)
    d = schoenfeld_events(hr, alpha, power, sided=sided, allocation=allocation)
    assert d.events_exact == pytest.approx(expected, rel=1e-12)
    assert d.events == math.ceil(expected)
    assert (d.z_alpha, d.z_beta) == (pytest.approx(z_a, rel=1e-14), pytest.approx(z_b, rel=1e-14))
    # Schoenfeld's power with the rounded-up events is at least the power asked for, and not with one fewer
    assert d.power_at_events >= power
    assert schoenfeld_power(hr, d.events - 1, alpha, sided=sided, allocation=allocation) < power
    assert d.power_at_events == pytest.approx(
        norm.cdf(math.sqrt(d.events * p1 * p2) * abs(math.log(hr)) - z_a), rel=1e-12)


def test_worked_example_hr_06():
    """HR 0.6, two-sided 5 %, 80 %, 1:1 by hand: z 1.959964 + 0.841621 = 2.801585; 4 x 2.801585^2 = 31.39551;
    (ln 0.6)^2 = 0.2609428; 31.39551 / 0.2609428 = 120.3157 -> 121 events."""
    d = schoenfeld_events(0.6, 0.05, 0.80)
    assert d.events_exact == pytest.approx(120.3157, abs=5e-4)
    assert d.events == 121


# Stat Med 2017;36:4121-4140, Table 3, PH column: events, one-sided alpha 0.05, power 80 %, 1:1, rounded up to even
TABLE3_PH = [(0.85, 938), (0.8, 498), (0.75, 300), (0.7, 196), (0.65, 134), (0.6, 96), (0.55, 70), (0.5, 52),
             (0.45, 40), (0.4, 30)]


@pytest.mark.parametrize("hr, published", TABLE3_PH)
def test_published_table_one_sided(hr, published):
    """Stat Med 2017;36(26):4121-4140 (doi:10.1002/sim.7421), Table 3: Schoenfeld's events under proportional
    hazards, one-sided 5 %, 80 %, r = 1, the table's N rounded up to an even number."""
    events = schoenfeld_events(hr, 0.05, 0.80, sided="one-sided").events
    assert events + events % 2 == published


def test_published_worked_example_mrc_cbu():
    """MRC CBU statswiki (FAQ/powsurv): 4 (1.96 + 0.84)^2 / [log(log 0.75 / log 0.37)]^2 = 20.39 events;
    Collett's n = d / [1 - (S0 + S1)/2] with S 0.37 (control) and 0.75 -> 47 participants."""
    hr = math.log(0.75) / math.log(0.37)
    page = 4 * (1.96 + 0.84) ** 2 / math.log(hr) ** 2          # the page's arithmetic, rounded z
    assert page == pytest.approx(20.39, abs=0.005)
    d = schoenfeld_events(hr, 0.05, 0.80)
    # exact quantiles: (1.959964 + 0.841621)^2 = 7.848879 against the page's 2.8^2 = 7.84, +0.11 %
    assert d.events_exact == pytest.approx(20.39 * 7.848879 / 7.84, rel=1e-4)
    assert d.events == 21
    # No accrual (A = 0): Simpson's rule is exact, P(event) = 1 - S(F). Exponential control with S(1) = 0.37,
    # so its median is ln 2 / -ln 0.37; the experimental arm's S(1) = 0.37^HR = 0.75.
    s = schoenfeld_sample_size(hr, 0.05, 0.80, median_control_months=math.log(2) / -math.log(0.37),
                               accrual_months=0, follow_up_months=1)
    assert s.p_event_control == pytest.approx(0.63, abs=1e-12)
    assert s.p_event_experimental == pytest.approx(0.25, abs=1e-12)
    assert s.p_event == pytest.approx(1 - (0.75 + 0.37) / 2, abs=1e-12)      # 0.44
    assert math.ceil(d.events_exact / s.p_event) == 47                      # the page's 47 (from 20.39 / 0.44)
    # from the rounded-up 21 events: 21 / 0.44 = 47.73, 23.86 per arm -> 24 + 24
    assert s.patients_exact == pytest.approx(21 / 0.44, rel=1e-12)
    assert (s.patients_experimental, s.patients_control, s.patients) == (24, 24, 48)


def test_symmetry_of_the_formula():
    """(ln HR)^2 and p1 p2 are unchanged by HR -> 1/HR and a:b -> b:a, so D is too."""
    assert schoenfeld_events(0.6).events_exact == pytest.approx(schoenfeld_events(1 / 0.6).events_exact, rel=1e-12)
    assert (schoenfeld_events(0.6, allocation=(2, 1)).events_exact
            == pytest.approx(schoenfeld_events(0.6, allocation="1:2").events_exact, rel=1e-12))


# ---------------------------------------------------------------------------------------------
# probability of an event, events to patients
# ---------------------------------------------------------------------------------------------

def test_simpson_rule_by_hand():
    """Median 6, accrual 24, follow-up 12: S(12) = 1/4, S(24) = 1/16, S(36) = 1/64, so
    P = 1 - (1/4 + 4/16 + 1/64) / 6 = 1 - 0.515625 / 6 = 0.9140625 (Collett 3rd ed. 10.2)."""
    assert probability_of_event(6, 24, 12) == pytest.approx(0.9140625, abs=1e-15)
    # HR 0.6: experimental median 10, S(t) = 2^(-t/10)
    pe = 1 - (2 ** -1.2 + 4 * 2 ** -2.4 + 2 ** -3.6) / 6
    s = schoenfeld_sample_size(0.6, 0.05, 0.80, median_control_months=6, accrual_months=24, follow_up_months=12)
    assert s.median_experimental_months == pytest.approx(10, rel=1e-15)
    assert s.p_event_experimental == pytest.approx(pe, abs=1e-15)
    p = (0.9140625 + pe) / 2
    assert s.p_event == pytest.approx(p, abs=1e-15)
    # 121 events / 0.850731 = 142.23 -> 71.12 per arm -> 72 + 72
    assert s.events.events == 121 and s.patients_exact == pytest.approx(121 / p, rel=1e-12)
    assert (s.patients_experimental, s.patients_control, s.patients) == (72, 72, 144)


def test_unequal_allocation_patients_by_hand():
    """2:1, HR 0.6: D = 2.801585^2 / ((2/3)(1/3)(ln 0.6)^2) = 135.355 -> 136; P = (2 pe + 0.9140625) / 3;
    N = 136 / P split 2/3 : 1/3, each arm rounded up."""
    s = schoenfeld_sample_size(0.6, 0.05, 0.80, median_control_months=6, accrual_months=24, follow_up_months=12,
                               allocation="2:1")
    pe = 1 - (2 ** -1.2 + 4 * 2 ** -2.4 + 2 ** -3.6) / 6
    p = (2 * pe + 0.9140625) / 3
    n = 136 / p                                                   # 163.93
    assert s.events.events == 136 and s.p_event == pytest.approx(p, abs=1e-15)
    assert (s.patients_experimental, s.patients_control) == (math.ceil(n * 2 / 3), math.ceil(n / 3)) == (110, 55)


@pytest.mark.parametrize("median, accrual, follow_up", [(6, 24, 12), (12, 18, 6), (20, 12, 24), (9, 30, 0)])
def test_simpson_rule_against_exact_integral(median, accrual, follow_up):
    """Exponential survival, uniform entry over A, analysis at A + F: P = 1 - (S(F) - S(F + A)) / (lambda A).
    Simpson's three-point rule approximates it; with these inputs it is within 0.005."""
    lam = math.log(2) / median
    exact = 1 - (math.exp(-lam * follow_up) - math.exp(-lam * (follow_up + accrual))) / (lam * accrual)
    assert probability_of_event(median, accrual, follow_up) == pytest.approx(exact, abs=5e-3)


def test_no_accrual_is_exact():
    """A = 0: the three points coincide and P = 1 - S(F) = 1 - 2^(-F/median)."""
    assert probability_of_event(10, 0, 30) == pytest.approx(1 - 2 ** -3, abs=1e-15)


# ---------------------------------------------------------------------------------------------
# lifelines (Freedman 1982): only what is comparable
# ---------------------------------------------------------------------------------------------

def _freedman_events(hr, alpha, power, k):
    """Freedman's events (Stat Med 1982;1:121-129), written out by hand."""
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return (1 / k) * ((k * hr + 1) / (hr - 1)) ** 2 * z ** 2


@pytest.mark.parametrize("hr, k", [(0.6, 1), (0.5, 2), (0.8, 0.5), (1.5, 1), (0.95, 1)])
def test_lifelines_freedman_events_ratio(hr, k):
    """lifelines' Freedman events, recovered from its patients with event probabilities 1e-6 (so rounding
    each arm up changes them by < 1e-7), against Schoenfeld's via D / m = (1+k)^2 (HR-1)^2 / ((k HR+1)^2 (ln HR)^2)."""
    from lifelines.statistics import sample_size_necessary_under_cph

    tiny = 1e-6
    n_exp, n_con = sample_size_necessary_under_cph(0.8, k, tiny, tiny, hr, alpha=0.05)
    m = n_con * (k * tiny + tiny)
    assert m == pytest.approx(_freedman_events(hr, 0.05, 0.8, k), rel=1e-7)    # lifelines is Freedman's formula
    d = schoenfeld_events(hr, 0.05, 0.80, allocation=(k, 1)).events_exact
    ratio = (1 + k) ** 2 * (hr - 1) ** 2 / ((k * hr + 1) ** 2 * math.log(hr) ** 2)
    assert d / m == pytest.approx(ratio, rel=1e-6)


def test_lifelines_freedman_converges_near_hr_1():
    """Both are first-order approximations of the same log-rank variance: at HR 0.98 they differ by < 0.1 %."""
    from lifelines.statistics import sample_size_necessary_under_cph

    n_exp, n_con = sample_size_necessary_under_cph(0.8, 1, 1e-6, 1e-6, 0.98, alpha=0.05)
    m = n_con * 2e-6
    assert schoenfeld_events(0.98, 0.05, 0.80).events_exact == pytest.approx(m, rel=1e-3)


@pytest.mark.parametrize("hr, k, p_exp, p_con", [(0.7, 1, 0.25, 0.35), (0.6, 2, 0.5, 0.7), (0.5, 0.5, 0.3, 0.6)])
def test_lifelines_events_to_patients(hr, k, p_exp, p_con):
    """The events-to-patients step is the same in both: fed Freedman's events, ours gives lifelines' patients
    (lifelines' docstring example is the first case: (421, 421))."""
    from lifelines.statistics import sample_size_necessary_under_cph

    m = _freedman_events(hr, 0.05, 0.8, k)
    expected = sample_size_necessary_under_cph(0.8, k, p_exp, p_con, hr, alpha=0.05)
    assert patients_for_events(m, p_exp, p_con, (k, 1)) == expected
    if (hr, k) == (0.7, 1):
        assert expected == (421, 421)


@pytest.mark.parametrize("hr", [0.6, 0.75, 1.4])
def test_lifelines_freedman_power_at_schoenfeld_events(hr):
    """lifelines' power_under_cph (Freedman) with Schoenfeld's events D, everyone having an event:
    Phi(sqrt(k D) |HR - 1| / (k HR + 1) - z) = Phi((z_a + z_b) sqrt(D / m) - z_a)."""
    from lifelines.statistics import power_under_cph

    d = schoenfeld_events(hr, 0.05, 0.80).events_exact
    got = power_under_cph(d / 2, d / 2, 1.0, 1.0, hr, alpha=0.05)
    za, zb = norm.ppf(0.975), norm.ppf(0.80)
    m = _freedman_events(hr, 0.05, 0.80, 1)
    assert got == pytest.approx(norm.cdf((za + zb) * math.sqrt(d / m) - za), rel=1e-10)
    assert got < 0.80            # Freedman asks for more events than Schoenfeld away from HR 1


# ---------------------------------------------------------------------------------------------
# the operating characteristic, by simulation
# ---------------------------------------------------------------------------------------------

def _logrank_chi2(times: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Log-rank chi-square for each row of ``times`` (no censoring, no ties), group 1 = experimental."""
    n_total = times.shape[1]
    g = group[np.argsort(times, axis=1)]
    n1 = np.cumsum(g[:, ::-1], axis=1)[:, ::-1]          # experimental patients still at risk
    n = n_total - np.arange(n_total)
    u = (g - n1 / n).sum(axis=1)
    v = (n1 * (n - n1) / n ** 2).sum(axis=1)
    return u ** 2 / v


@pytest.mark.parametrize("allocation, arms", [((1, 1), (61, 61)), ((2, 1), (91, 46))])
def test_simulated_logrank_power(allocation, arms):
    """HR 0.6, two-sided 5 %, 80 %: D = 121 (1:1) or 136 (2:1). Trials with at least D patients, all having an
    event (exponential times, experimental hazard x 0.6), 4000 each: the log-rank test rejects in 80 % +- 2.5 %
    (about 4 Monte-Carlo SE) of them."""
    from lifelines.statistics import logrank_test

    d = schoenfeld_events(0.6, 0.05, 0.80, allocation=allocation).events
    n_exp, n_con = arms
    assert n_exp + n_con >= d and n_exp / n_con == pytest.approx(allocation[0] / allocation[1], rel=0.02)
    rng = np.random.default_rng(19830601)
    group = np.r_[np.ones(n_exp), np.zeros(n_con)]
    times = rng.exponential(1.0, size=(4000, n_exp + n_con))
    times[:, :n_exp] /= 0.6
    chi2 = _logrank_chi2(times, group)
    ref = logrank_test(times[0, :n_exp], times[0, n_exp:])       # the statistic is lifelines' on a trial
    assert chi2[0] == pytest.approx(ref.test_statistic, rel=1e-10)
    rejected = float(np.mean(chi2 > norm.ppf(0.975) ** 2))
    assert abs(rejected - 0.80) < 0.025, rejected


# ---------------------------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    ({"hazard_ratio": 0}, "hazard_ratio"),
    ({"hazard_ratio": -0.5}, "hazard_ratio"),
    ({"hazard_ratio": 1}, "hazard_ratio"),
    ({"hazard_ratio": float("nan")}, "hazard_ratio"),
    ({"alpha": 0}, "alpha"),
    ({"alpha": 0.5}, "alpha"),
    ({"power": 0}, "power"),
    ({"power": 1}, "power"),
    ({"power": 0.04}, "power"),
    ({"sided": "left"}, "sided"),
    ({"allocation": "2-1"}, "allocation"),
    ({"allocation": "0:1"}, "allocation"),
    ({"allocation": "a:b"}, "allocation"),
    ({"allocation": (1, 2, 3)}, "allocation"),
])
def test_events_refuses_bad_values(kwargs, field):
    args = {"hazard_ratio": 0.6, "alpha": 0.05, "power": 0.8, "sided": "two-sided", "allocation": (1, 1), **kwargs}
    with pytest.raises(InvalidValue) as info:
        schoenfeld_events(args.pop("hazard_ratio"), args.pop("alpha"), args.pop("power"), **args)
    assert info.value.field == field


@pytest.mark.parametrize("kwargs, field", [
    ({"median_control_months": 0}, "median_control_months"),
    ({"accrual_months": -1}, "accrual_months"),
    ({"follow_up_months": float("inf")}, "follow_up_months"),
    ({"accrual_months": 0, "follow_up_months": 0}, "follow_up_months"),
])
def test_sample_size_refuses_bad_times(kwargs, field):
    args = {"median_control_months": 6, "accrual_months": 24, "follow_up_months": 12, **kwargs}
    with pytest.raises(InvalidValue) as info:
        schoenfeld_sample_size(0.6, 0.05, 0.8, **args)
    assert info.value.field == field


def test_allocation_ratio_parsing():
    assert allocation_ratio("2:1") == (2, 1) and allocation_ratio(" 1.5 : 1 ") == (1.5, 1)
    assert allocation_ratio((1, 1)) == (1, 1)
