"""Kaplan-Meier against R survival 3.5 (tests/oracles/r/km.R -> km.json), to ~1e-12 relative.

R's rules checked here: every distinct time is a row; Greenwood SE on the cumulative-hazard scale
(infinite when S reaches 0, the CI then NA); log / log-log / plain pointwise CIs; the median and
its CI by quantile.survfit (bands crossing 0.5; None where a band never does; flat stretches at
exactly 0.5 give the midpoint); landmarks as summary(fit, times=); reverse Kaplan-Meier.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes import fit_kaplan_meier, fit_kaplan_meier_groups
from tests.outcomes import arr, assert_r, dataset, oracle

TYPES = ("log", "log-log", "plain")


def check_curve(km, r: dict, what: str) -> None:
    assert km.n == r["n"], what
    np.testing.assert_array_equal(km.time, arr(r["time"]), err_msg=what)
    for ours, theirs in (("n_risk", "n_risk"), ("n_event", "n_event"), ("n_censor", "n_censor")):
        np.testing.assert_array_equal(getattr(km, ours), arr(r[theirs]), err_msg=f"{what} {ours}")
    assert_r(km.survival, r["surv"], what=f"{what} survival")
    assert_r(km.std_err_cumhaz, r["std_err"], what=f"{what} std.err")
    assert_r(km.lower, r["lower"], what=f"{what} lower")
    assert_r(km.upper, r["upper"], what=f"{what} upper")
    assert (km.median, *km.median_ci) == (r["median"], r["median_lower"], r["median_upper"]), what


@pytest.mark.parametrize("conf_type", TYPES)
def test_lung_curve_and_median_match_survfit(conf_type):
    lung = dataset("lung")
    km = fit_kaplan_meier(lung.time, lung.status, conf_type=conf_type)
    check_curve(km, oracle("km")[f"lung_{conf_type}"], f"lung {conf_type}")
    assert km.conf_type == conf_type and km.as_dict(table=False)["conf_type"] == conf_type


def test_lung_median_is_r_printed_value():
    # print(survfit(Surv(time, status) ~ 1, lung)): median 310, 0.95LCL 285, 0.95UCL 363
    lung = dataset("lung")
    km = fit_kaplan_meier(lung.time, lung.status)
    assert (km.median, km.median_ci) == (310.0, (285.0, 363.0))
    assert km.n == 228 and km.events == 165


@pytest.mark.parametrize("conf_type", TYPES)
def test_lung_by_institution_including_upper_limits_not_reached(conf_type):
    lung = dataset("lung").dropna(subset=["inst"])
    curves = fit_kaplan_meier_groups(lung.time, lung.status, lung.inst.astype(int), conf_type=conf_type)
    r = oracle("km")[f"lung_inst_{conf_type}"]
    assert sorted(f"inst={k}" for k in curves) == sorted(r)
    for label, km in curves.items():
        check_curve(km, r[f"inst={label}"], f"inst {label} {conf_type}")
    if conf_type == "log":
        # R: inst=2 median 285, LCL 197, UCL NA; inst=26 median NA, LCL 222, UCL NA
        assert (curves[2].median, curves[2].median_ci) == (285.0, (197.0, None))
        assert (curves[26].median, curves[26].median_ci) == (None, (222.0, None))


@pytest.mark.parametrize("conf_type", TYPES)
def test_other_data_sets(conf_type):
    km_r = oracle("km")
    vet = dataset("veteran")
    check_curve(fit_kaplan_meier(vet.time, vet.status, conf_type=conf_type), km_r[f"veteran_{conf_type}"], "veteran")
    lung = dataset("lung")
    for sex, km in fit_kaplan_meier_groups(lung.time, lung.status, lung.sex, conf_type=conf_type).items():
        check_curve(km, km_r[f"lung_sex_{conf_type}"][f"sex={sex}"], f"sex {sex}")


@pytest.mark.parametrize("conf_type", TYPES)
@pytest.mark.parametrize("case", ["ties", "flat", "lastflat"])
def test_ties_time_zero_and_flat_stretches(case, conf_type):
    small = dataset("small")
    d = small[small.case == case]
    km = fit_kaplan_meier(d.time, (d.status > 0).astype(int), conf_type=conf_type)
    check_curve(km, oracle("km")[f"{case}_{conf_type}"], f"{case} {conf_type}")


def test_flat_stretch_rules():
    # 10 deaths at 1..10: S = 0.5 on [5, 6) -> median (5 + 6)/2 = 5.5 (quantile.survfit)
    km = fit_kaplan_meier(np.arange(1.0, 11.0), np.ones(10))
    assert km.median == 5.5
    assert km.survival[-1] == 0 and np.isinf(km.std_err_cumhaz[-1]) and np.isnan(km.lower[-1])
    # 4 deaths then 4 censored: S stays 0.5 to the last follow-up (8) -> (4 + 8)/2 = 6;
    # print.survfit would show 4 (its older rule), quantile.survfit 6: we follow quantile
    r = oracle("km")["lastflat_log"]
    km = fit_kaplan_meier(np.arange(1.0, 9.0), [1, 1, 1, 1, 0, 0, 0, 0])
    assert km.median == r["median"] == 6 and r["print_median"][0] == 4


def test_events_at_time_zero_count():
    small = dataset("small")
    d = small[small.case == "ties"]
    km = fit_kaplan_meier(d.time, (d.status > 0).astype(int))
    # R: the first row is time 0 with 7 deaths among 60 at risk, S(0) = 53/60
    r = oracle("km")["ties_log"]
    assert r["time"][0] == 0 and r["n_event"][0] == 7
    assert km.time[0] == 0 and km.n_event[0] == 7 and km.n_risk[0] == 60
    assert km.survival[0] == pytest.approx(53 / 60, rel=1e-15)


def test_result_does_not_depend_on_row_order():
    small = dataset("small")
    d = small[small.case == "ties"]
    e = (d.status > 0).astype(int).to_numpy()
    t = d.time.to_numpy()
    a = fit_kaplan_meier(t, e)
    for seed in range(3):
        p = np.random.default_rng(seed).permutation(t.size)
        b = fit_kaplan_meier(t[p], e[p])
        for name in ("time", "n_risk", "n_event", "survival", "std_err", "lower", "upper"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert (a.median, a.median_ci) == (b.median, b.median_ci)


@pytest.mark.parametrize("conf_type", TYPES)
def test_reverse_kaplan_meier_median_follow_up(conf_type):
    lung = dataset("lung")
    km = fit_kaplan_meier(lung.time, lung.status, conf_type=conf_type, reverse=True)
    check_curve(km, oracle("km")[f"reverse_lung_{conf_type}"], f"reverse {conf_type}")
    assert km.reverse and km.events == 63


@pytest.mark.parametrize("conf_type", TYPES)
def test_landmarks_match_summary_survfit(conf_type):
    lung = dataset("lung")
    r = oracle("km")[f"landmark_lung_{conf_type}"]
    lm = fit_kaplan_meier(lung.time, lung.status, conf_type=conf_type).at(r["times"])
    np.testing.assert_array_equal(lm.n_risk, arr(r["n_risk"]))
    np.testing.assert_array_equal(lm.n_event, arr(r["n_event"]))
    for ours, theirs in (("survival", "surv"), ("std_err", "std_err"), ("lower", "lower"), ("upper", "upper")):
        assert_r(getattr(lm, ours), r[theirs], what=f"landmark {ours}")


def test_landmarks_with_ties_and_beyond_follow_up():
    small = dataset("small")
    d = small[small.case == "ties"]
    km = fit_kaplan_meier(d.time, (d.status > 0).astype(int))
    r = oracle("km")["landmark_ties_log"]
    lm = km.at(r["times"])
    np.testing.assert_array_equal(lm.n_risk, arr(r["n_risk"]))
    np.testing.assert_array_equal(lm.n_event, arr(r["n_event"]))
    assert_r(lm.survival, r["surv"])
    assert_r(lm.std_err, r["std_err"])
    beyond = km.at([1000.0])
    assert np.isnan(beyond.survival[0]) and beyond.n_risk[0] == 0
    assert beyond.rows()[0]["survival"] is None


@pytest.mark.parametrize("kwargs, field", [
    ({"time": [1, -2], "event": [1, 0]}, "time"),
    ({"time": [1, float("nan")], "event": [1, 0]}, "time"),
    ({"time": [1, 2], "event": [1, 2]}, "event"),
    ({"time": [1, 2], "event": [1]}, "event"),
    ({"time": [1, 2], "event": [1, 0], "conf_type": "logit"}, "conf_type"),
    ({"time": [1, 2], "event": [1, 0], "conf_level": 1.5}, "conf_level"),
    ({"time": [], "event": []}, "time"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(InvalidValue) as exc:
        fit_kaplan_meier(**kwargs)
    assert exc.value.field == field


def test_a_million_rows_with_variance_is_fast():
    rng = np.random.default_rng(7)
    t = rng.exponential(365, 1_000_000).round(1)
    e = rng.integers(0, 2, t.size)
    start = time.perf_counter()
    km = fit_kaplan_meier(t, e)
    elapsed = time.perf_counter() - start
    assert km.n == 1_000_000 and np.isfinite(km.std_err[: km.time.size // 2]).all()
    assert elapsed < 3.0, f"{elapsed:.2f} s (about 0.2 s expected; see docs/benchmarks/survival.md)"
