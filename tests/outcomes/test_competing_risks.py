"""Cumulative incidence against R cmprsk 2.2 (cuminc, timepoints, Gray's test) and survival's
Aalen-Johansen (infinitesimal-jackknife SEs): tests/oracles/r/cuminc.R -> cuminc.json.

cuminc returns each curve as a step function (time 0, then each jump twice: before and after);
its values after the jumps are our ``estimate``/``variance`` at our ``time``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import norm

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes import fit_cumulative_incidence, gray_test
from tests.outcomes import arr, assert_r, dataset, oracle

CASES = {  # oracle key -> (data set, group column, rho)
    "bmt_dis": ("bmt", "dis", 0.0),
    "bmt_all": ("bmt", None, 0.0),
    "ties_group": ("ties", "group", 0.0),
    "ties_group_rho1": ("ties", "group", 1.0),
}


def data(name: str):
    if name == "ties":
        small = dataset("small")
        return small[small.case == "ties"]
    return dataset(name)


def parse(label: str, numeric_group: bool):
    parts = label.split(" ")
    group = None if len(parts) == 1 else (int(parts[0]) if numeric_group else parts[0])
    return group, int(parts[-1])


@pytest.mark.parametrize("key", CASES)
def test_estimates_variances_and_timepoints_match_cuminc(key):
    name, col, rho = CASES[key]
    d = data(name)
    fit = fit_cumulative_incidence(d.time, d.status, group=None if col is None else d[col], rho=rho)
    r = oracle("cuminc")[key]
    for label, cur in r["curves"].items():
        group, cause = parse(label, col == "dis") if col else (None, int(label.split(" ")[-1]))
        c = fit.curve(cause, group)
        t, est, var = arr(cur["time"]), arr(cur["est"]), arr(cur["var"])
        np.testing.assert_array_equal(c.time, t[2:-1:2], err_msg=label)
        assert_r(c.estimate, est[2:-1:2], what=f"{key} {label} est")
        assert_r(c.variance, var[2:-1:2], rtol=1e-11, what=f"{key} {label} var")
        assert c.max_time == t[-1]
        at = c.at(r["at"]["times"])
        i = r["at"]["names"].index(label)
        assert_r(at.estimate, r["at"]["est"][i], what=f"{key} {label} timepoints est")
        assert_r(at.variance, r["at"]["var"][i], rtol=1e-11, what=f"{key} {label} timepoints var")


@pytest.mark.parametrize("key", ["bmt_dis", "ties_group", "ties_group_rho1"])
def test_grays_test_matches_cuminc(key):
    name, col, rho = CASES[key]
    d = data(name)
    fit = fit_cumulative_incidence(d.time, d.status, group=d[col], rho=rho)
    tests = oracle("cuminc")[key]["tests"]
    for cause, stat, pv, df in zip(tests["causes"], tests["stat"], tests["pv"], tests["df"]):
        g = fit.tests[int(cause)]
        assert g.statistic == pytest.approx(stat, rel=1e-12)
        assert g.p_value == pytest.approx(pv, rel=1e-10)
        assert g.df == df


def test_bmt_grays_test_values():
    # cuminc(ftime, fstatus, dis) on bmt: cause 1 stat 1.3016, p 0.2539; cause 2 stat 7.0823, p 0.0078
    bmt = dataset("bmt")
    t2 = gray_test(bmt.time, bmt.status, bmt.dis, cause=2)
    assert round(t2.statistic, 4) == 7.0823 and round(t2.p_value, 4) == 0.0078


def test_infinitesimal_jackknife_matches_survfit():
    for key, name in (("aj_bmt", "bmt"), ("aj_ties", "ties")):
        d = data(name)
        r = oracle("cuminc")[key]
        pstate = np.array(r["pstate"], dtype=float)
        se = np.array(r["std_err"], dtype=float)
        fit = fit_cumulative_incidence(d.time, d.status, variance="ij")
        for j, state in enumerate(r["states"]):
            if state in ("(s0)", "0"):
                continue
            at = fit.curve(int(state)).at(r["time"])
            assert_r(at.estimate, pstate[:, j], what=f"{key} state {state}")
            assert_r(np.sqrt(at.variance), se[:, j], rtol=1e-10, atol=1e-15, what=f"{key} se {state}")


def test_loglog_confidence_interval_formula():
    bmt = dataset("bmt")
    c = fit_cumulative_incidence(bmt.time, bmt.status, conf_level=0.90).curve(2)
    f, v = c.estimate, c.variance
    z = norm.ppf(0.95)
    k = z * np.sqrt(v) / (f * np.log(f))
    np.testing.assert_allclose(c.lower, f ** np.exp(-k), rtol=1e-14)
    np.testing.assert_allclose(c.upper, f ** np.exp(k), rtol=1e-14)
    assert (c.lower < f).all() and (f < c.upper).all()


def test_time_zero_events_and_values_beyond_follow_up():
    d = data("ties")
    c = fit_cumulative_incidence(d.time, d.status, group=d.group).curve(1, "A")
    assert c.time[0] == 0 and c.estimate[0] > 0
    at = c.at([-1.0, 0.0, 1e9])
    assert np.isnan(at.estimate[0]) and at.estimate[1] == c.estimate[0] and np.isnan(at.estimate[2])


def test_deterministic_under_row_order():
    d = data("ties")
    t, s, g = d.time.to_numpy(), d.status.to_numpy(), d.group.to_numpy()
    a = fit_cumulative_incidence(t, s, group=g)
    p = np.random.default_rng(3).permutation(t.size)
    b = fit_cumulative_incidence(t[p], s[p], group=g[p])
    for key, c in a.curves.items():
        np.testing.assert_array_equal(c.estimate, b.curves[key].estimate)
        np.testing.assert_array_equal(c.variance, b.curves[key].variance)
    assert a.tests[1].statistic == pytest.approx(b.tests[1].statistic, rel=1e-13)


@pytest.mark.parametrize("kwargs, field", [
    ({"time": [1, 2], "status": [1, -1]}, "status"),
    ({"time": [1, 2], "status": [0, 0]}, "status"),
    ({"time": [1, 2], "status": [1, 0], "variance": "bootstrap"}, "variance"),
    ({"time": [1, 2], "status": [1, 0], "causes": [0]}, "cause"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(InvalidValue) as exc:
        fit_cumulative_incidence(**kwargs)
    assert exc.value.field == field


def test_unknown_cause_or_group():
    fit = fit_cumulative_incidence([1, 2, 3], [1, 2, 0])
    with pytest.raises(InvalidValue) as exc:
        fit.curve(3)
    assert exc.value.field == "cause"


def test_a_million_rows_with_variance_is_fast():
    rng = np.random.default_rng(11)
    t = rng.exponential(365, 1_000_000).round(1)
    s = rng.choice([0, 1, 2], size=t.size, p=[0.4, 0.35, 0.25])
    start = time.perf_counter()
    fit = fit_cumulative_incidence(t, s)
    elapsed = time.perf_counter() - start
    assert fit.curve(1).estimate[-1] + fit.curve(2).estimate[-1] <= 1 + 1e-9
    assert elapsed < 4.0, f"{elapsed:.2f} s (well under 1 s expected; see docs/benchmarks/survival.md)"
