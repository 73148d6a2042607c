"""Discrimination and calibration of a risk model (sarcotrial.outcomes.model_performance).

Every expected value comes from an independent implementation, never from this module:

* Harrell's C (Harrell et al., JAMA 1982): lifelines ``utils.concordance_index`` and
  scikit-survival ``concordance_index_censored``. Both treat ties as R survival::concordance does:
  a pair of an event and a censoring at the same time is comparable (the censored patient
  outlived the event), two events at the same time are not, tied predictions count 1/2
  (lifelines compares exactly; scikit-survival within ``tied_tol`` 1e-8, as the module).
  lifelines takes a predicted *survival* time, so it gets -risk.
* Its infinitesimal-jackknife SE (as R survival::concordance; R is not run here): checked against
  a numerical derivative of a case-weighted C, against the leave-one-out jackknife and by coverage.
* AUC(t) (Uno et al., JASA 2007; Hung & Chiang, Can J Stat 2010): scikit-survival
  ``cumulative_dynamic_auc``; with competing events and no censoring (every weight 1) the
  Mann-Whitney AUC of scikit-learn ``roc_auc_score`` (Blanche et al., Stat Med 2013, definition 2).
* Observed risk per group: lifelines ``KaplanMeierFitter`` (1 - S(t)) and, with competing events,
  ``AalenJohansenFitter`` (on untied times, where lifelines adds no jitter).
* Calibration slope (Royston & Altman, BMC Med Res Methodol 2013): lifelines ``CoxPHFitter``'s
  coefficient of cloglog(p), follow-up censored at the horizon; the Fine-Gray slope (Fine & Gray,
  JASA 1999) in the uncensored case, where it is a Cox model with the competing-event patients
  kept at risk to the horizon.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes.model_performance import (
    FEW_EVENTS_WARNING, assess_performance, calibration_groups, calibration_slope, cloglog, fine_gray_1d, harrell_c,
    time_dependent_auc, weighted_concordance)

BASE_HAZARD = 0.2   # exponential baseline hazard per year of the simulated cohorts


def cohort(seed: int, n: int, *, tmax: float = 8.0, rounding: float | None = None, risk_digits: int | None = None,
           scale: float = 1.0, competing: float = 0.0, censor: bool = True):
    """A seeded cohort from a Cox model with exponential baseline: (time, event, true risk by 3 years).

    ``scale`` multiplies the linear predictor of the *predictions* (2 = an overfitted model);
    ``competing`` is the hazard of a competing event; ``rounding`` ties the times, ``risk_digits`` the risks.
    """
    rng = np.random.default_rng(seed)
    lp = rng.normal(size=n)
    t1 = rng.exponential(1 / (BASE_HAZARD * np.exp(lp)))
    t2 = rng.exponential(1 / competing, size=n) if competing else np.full(n, np.inf)
    c = rng.uniform(0, tmax, size=n) if censor else np.full(n, np.inf)
    time = np.minimum.reduce([t1, t2, c])
    event = np.where(time == t1, 1, np.where(time == t2, 2, 0))
    if rounding:
        time = np.ceil(time / rounding) * rounding
    risk = 1 - np.exp(-BASE_HAZARD * 3 * np.exp(scale * lp))
    if risk_digits is not None:
        risk = np.round(risk, risk_digits)
    return time, event, np.clip(risk, 1e-6, 1 - 1e-6)


# ---------------------------------------------------------------------------------------------
# Harrell's C
# ---------------------------------------------------------------------------------------------

def test_c_equals_lifelines_and_scikit_survival_with_ties():
    from lifelines.utils import concordance_index
    from sksurv.metrics import concordance_index_censored

    time, event, risk = cohort(1, 300, rounding=0.25, risk_digits=2)
    # the data do hold every kind of tie the rules speak of
    assert len(np.unique(time)) < 100 and len(np.unique(risk)) < 150
    c = harrell_c(time, event, risk)
    assert c.estimate == pytest.approx(concordance_index(time, -risk, event), abs=1e-12)
    sk = concordance_index_censored(event.astype(bool), time, risk)
    assert c.estimate == pytest.approx(sk[0], abs=1e-12)
    assert (c.concordant, c.discordant, c.tied_risk) == (sk[1], sk[2], sk[3])
    assert c.tied_risk > 0
    assert c.lower < c.estimate < c.upper


def test_c_competing_event_is_event_free_for_ever():
    """Wolbers et al., Epidemiology 2009: a competing event counts as never having the outcome, so C
    equals lifelines' C on the data with those patients censored after everyone's follow-up."""
    from lifelines.utils import concordance_index

    time, event, risk = cohort(2, 250, rounding=0.5, risk_digits=2, competing=0.1)
    assert (event == 2).sum() > 10
    c = harrell_c(time, event, risk)
    recoded_time = np.where(event == 2, time.max() + 1, time)
    recoded_event = (event == 1).astype(int)
    assert c.estimate == pytest.approx(concordance_index(recoded_time, -risk, recoded_event), abs=1e-12)
    assert c.competing_events


def test_ij_variance_is_the_derivative_by_case_weights():
    """Infinitesimal jackknife: Var = sum_k (dC/dw_k)^2; the derivatives by central differences of a
    case-weighted C (each pair weighted w_i w_j) computed from scratch."""
    time, event, risk = cohort(3, 40, rounding=0.5, risk_digits=2)
    c = harrell_c(time, event, risk)
    eps = 1e-6
    grads = []
    for k in range(time.size):
        w_up, w_down = np.ones(time.size), np.ones(time.size)
        w_up[k] += eps
        w_down[k] -= eps
        grads.append((weighted_concordance(time, event, risk, w_up) -
                      weighted_concordance(time, event, risk, w_down)) / (2 * eps))
    assert c.std_err == pytest.approx(math.sqrt(np.sum(np.square(grads))), rel=1e-6)


def test_ij_variance_close_to_leave_one_out_jackknife():
    """The two estimate the same variance (IJ is the jackknife's limit); at n = 150 they differ by a few %
    (0.97 on this seed); 15 % is the tolerance."""
    from lifelines.utils import concordance_index

    time, event, risk = cohort(4, 150)
    c = harrell_c(time, event, risk)
    loo = np.array([concordance_index(np.delete(time, i), -np.delete(risk, i), np.delete(event, i))
                    for i in range(time.size)])
    jackknife = (time.size - 1) / time.size * np.sum((loo - loo.mean()) ** 2)
    assert c.std_err ** 2 / jackknife == pytest.approx(1.0, abs=0.15)


def test_c_interval_covers_about_95_percent():
    """200 seeded cohorts of 200; the target is the C of one cohort of 40 000 with the same censoring
    (lifelines). 95 % coverage gives 190 +- 6 (binomial SD 3.1); a plain Wald interval is a little
    short at small n, so 176 (88 %) to 198 is accepted."""
    from lifelines.utils import concordance_index

    t, e, r = cohort(999, 40_000)
    target = concordance_index(t, -r, e)
    covered = 0
    for seed in range(200):
        c = harrell_c(*cohort(seed + 10, 200))
        covered += c.lower <= target <= c.upper
    assert 176 <= covered <= 198, covered


# ---------------------------------------------------------------------------------------------
# AUC(t)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("horizon", [1.0, 3.0, 5.0])
def test_auc_equals_scikit_survival(horizon):
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    time, event, risk = cohort(5, 300, rounding=0.25, risk_digits=2)
    y = Surv.from_arrays(event.astype(bool), time)
    expected, _ = cumulative_dynamic_auc(y, y, risk, [horizon])
    assert time_dependent_auc(time, event, risk, horizon) == pytest.approx(float(expected[0]), abs=1e-12)


def test_auc_with_competing_events_uncensored_is_mann_whitney():
    from sklearn.metrics import roc_auc_score

    time, event, risk = cohort(6, 300, competing=0.15, censor=False, risk_digits=2)
    h = 2.0
    case = (time <= h) & (event == 1)
    assert ((time <= h) & (event == 2)).sum() > 10
    assert time_dependent_auc(time, event, risk, h) == pytest.approx(roc_auc_score(case, risk), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------

def test_observed_per_group_equals_lifelines_kaplan_meier():
    from lifelines import KaplanMeierFitter

    time, event, risk = cohort(7, 300, rounding=0.25)
    groups = calibration_groups(time, event, risk, 3.0, groups=3)
    thirds = np.array_split(np.argsort(risk), 3)  # no tied risks: quantile groups are the sorted thirds
    assert len(groups) == 3
    for g, members in zip(groups, thirds):
        assert g.n == members.size
        assert g.predicted == pytest.approx(risk[members].mean())
        kmf = KaplanMeierFitter().fit(time[members], event[members])
        assert g.observed == pytest.approx(1 - float(kmf.survival_function_at_times(3.0).iloc[0]), abs=1e-12)
        assert g.lower < g.observed < g.upper


def test_observed_per_group_with_competing_events_equals_lifelines_aalen_johansen():
    from lifelines import AalenJohansenFitter

    time, event, risk = cohort(8, 300, competing=0.1)   # continuous times: no ties, no jitter in lifelines
    groups = calibration_groups(time, event, risk, 3.0, groups=2)
    halves = np.array_split(np.argsort(risk), 2)
    for g, members in zip(groups, halves):
        ajf = AalenJohansenFitter(calculate_variance=False).fit(time[members], event[members], event_of_interest=1)
        cif = ajf.cumulative_density_
        expected = float(cif[cif.index <= 3.0].iloc[-1, 0])
        assert g.observed == pytest.approx(expected, abs=1e-12)


def test_groups_are_fewer_when_events_are_few():
    time, event, risk = cohort(9, 120, tmax=2.0)
    events = int(((time <= 1.5) & (event == 1)).sum())
    groups = calibration_groups(time, event, risk, 1.5, groups=5)
    assert len(groups) == max(1, min(5, events // 10)) < 5


def test_slope_equals_lifelines_cox_coefficient():
    from lifelines import CoxPHFitter

    time, event, risk = cohort(10, 400, rounding=0.25, scale=1.4)
    h = 3.0
    slope = calibration_slope(time, event, risk, h)
    df = pd.DataFrame({"T": np.minimum(time, h), "E": np.where(time > h, 0, event), "x": cloglog(risk)})
    cph = CoxPHFitter().fit(df, "T", "E", fit_options={"precision": 1e-12})
    assert slope.method == "cox"
    assert slope.slope == pytest.approx(float(cph.params_["x"]), abs=1e-6)
    assert slope.std_err == pytest.approx(float(cph.standard_errors_["x"]), rel=1e-4)


def test_fine_gray_slope_uncensored_equals_cox_with_competing_kept_at_risk():
    """Without censoring every Fine-Gray weight is 1: a competing-event patient stays at risk to the
    horizon, which is a Cox model where that patient is censored at the horizon (lifelines, Efron;
    continuous times, so Efron = Breslow)."""
    from lifelines import CoxPHFitter

    time, event, risk = cohort(11, 400, competing=0.1, censor=False, scale=0.8)
    h = 3.0
    slope = calibration_slope(time, event, risk, h)
    assert slope.method == "fine_gray"
    df = pd.DataFrame({"T": np.where((event == 2) | (time > h), h, time),
                       "E": ((event == 1) & (time <= h)).astype(int), "x": cloglog(risk)})
    cph = CoxPHFitter().fit(df, "T", "E", fit_options={"precision": 1e-12})
    assert slope.slope == pytest.approx(float(cph.params_["x"]), abs=1e-6)
    assert slope.std_err == pytest.approx(float(cph.standard_errors_["x"]), rel=1e-4)


def test_fine_gray_without_competing_events_is_cox_breslow():
    from sarcotrial.outcomes.cox import fit_cox

    time, event, risk = cohort(12, 300, rounding=0.25)
    x = cloglog(risk)
    b, se = fine_gray_1d(time, event, x)
    fit = fit_cox(time, event, x[:, None], ties="breslow", eps=1e-12, max_iter=100)
    assert b == pytest.approx(float(fit.coef[0]), abs=1e-8)
    assert se == pytest.approx(float(fit.se[0]), rel=1e-8)


def test_perfectly_calibrated_model_slope_and_oe_near_one():
    """The predictions are the true risks of the simulated Cox model, so slope and O/E are 1 in
    expectation. n = 2000, ~700 events: the slope's SE is about 0.05 and the O/E's about 0.04, so
    0.15 and 0.1 are about 3 SE (and the seed is fixed)."""
    time, event, risk = cohort(13, 2000)
    perf = assess_performance(time, event, risk, 3.0)
    assert perf.calibration_slope.slope == pytest.approx(1.0, abs=0.15)
    assert perf.calibration_slope.lower < 1 < perf.calibration_slope.upper
    assert perf.oe_ratio == pytest.approx(1.0, abs=0.1)
    assert perf.oe_ci[0] < 1 < perf.oe_ci[1]
    for g in perf.groups:
        assert g.lower <= g.predicted <= g.upper
    assert not perf.warnings


def test_overfitted_model_slope_below_one():
    """Predictions from twice the true linear predictor: too extreme, slope about 1/2."""
    time, event, risk = cohort(14, 1000, scale=2.0)
    perf = assess_performance(time, event, risk, 3.0)
    assert perf.calibration_slope.upper < 1
    assert perf.calibration_slope.slope == pytest.approx(0.5, abs=0.1)


def test_warning_below_100_events():
    time, event, risk = cohort(15, 150)
    perf = assess_performance(time, event, risk, 3.0)
    assert perf.events < 100
    assert any(FEW_EVENTS_WARNING in w for w in perf.warnings)
    data = perf.as_dict()
    assert data["events_by_horizon"] == perf.events and data["warnings"]
    assert set(data) >= {"concordance", "auc", "calibration", "calibration_slope", "oe_ratio", "oe_ci"}


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    (lambda t, e, r: (t, e, r[:-1]), "predicted_risk"),
    (lambda t, e, r: (t, e[:-1], r), "event"),
    (lambda t, e, r: (t, np.zeros_like(e), r), "event"),
    (lambda t, e, r: (t, e, np.where(np.arange(r.size) == 3, 1.2, r)), "predicted_risk"),
    (lambda t, e, r: (t, e, np.where(np.arange(r.size) == 3, 0.0, r)), "predicted_risk"),
    (lambda t, e, r: (t, np.where(np.arange(e.size) == 2, 3, e), r), "event"),
    (lambda t, e, r: (np.where(np.arange(t.size) == 0, -1.0, t), e, r), "time"),
])
def test_bad_input_names_the_field(change, field):
    time, event, risk = cohort(16, 60)
    with pytest.raises(InvalidValue) as info:
        assess_performance(*change(time, event, risk), 3.0)
    assert info.value.field == field


@pytest.mark.parametrize("horizon, groups", [(-1, 3), (100, 3), (3, 0), (3, 2.5)])
def test_bad_horizon_or_groups(horizon, groups):
    time, event, risk = cohort(17, 60)
    with pytest.raises(InvalidValue) as info:
        assess_performance(time, event, risk, horizon, groups=groups)
    assert info.value.field == ("horizon" if horizon != 3 else "groups")
