"""Where the Python libraries differ from R, and why SarcoTrial computes these itself.

* lifelines' KaplanMeierFitter and scikit-survival's kaplan_meier_estimator give only the
  log(-log) pointwise interval; R survfit's default is ``log``. Their intervals equal our
  ``log-log`` ones (so our formula is theirs), and differ from R's default by up to ~0.02 on lung.
* lifelines' median CI therefore is R's log-log median CI (284, 361), not the (285, 363) that
  R prints by default.
* lifelines' AalenJohansenFitter "cannot handle tied event times": it adds random noise to the
  times, so its estimate depends on the seed and is not cmprsk's; ours is deterministic and equal
  to cuminc's (test_competing_risks.py checks the digits).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sarcotrial.outcomes import fit_cumulative_incidence, fit_kaplan_meier
from tests.outcomes import assert_r, dataset, oracle


def test_lifelines_and_sksurv_give_only_the_loglog_interval():
    from lifelines import KaplanMeierFitter
    from sksurv.nonparametric import kaplan_meier_estimator

    lung = dataset("lung")
    kmf = KaplanMeierFitter().fit(lung.time, lung.status)
    ci = kmf.confidence_interval_survival_function_
    t = ci.index.to_numpy(dtype=float)
    loglog = fit_kaplan_meier(lung.time, lung.status, conf_type="log-log").at(t)
    log = fit_kaplan_meier(lung.time, lung.status).at(t)
    np.testing.assert_allclose(ci.iloc[:, 0], loglog.lower, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ci.iloc[:, 1], loglog.upper, rtol=1e-12, atol=1e-14)
    assert np.nanmax(np.abs(ci.iloc[:, 0].to_numpy() - log.lower)) > 0.01   # not R's default

    times, _, conf = kaplan_meier_estimator(lung.status.astype(bool).to_numpy(), lung.time.to_numpy(dtype=float),
                                            conf_type="log-log")
    at = fit_kaplan_meier(lung.time, lung.status, conf_type="log-log").at(times)
    np.testing.assert_allclose(conf[0], at.lower, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError):
        kaplan_meier_estimator(lung.status.astype(bool).to_numpy(), lung.time.to_numpy(dtype=float), conf_type="log")


def test_lifelines_median_ci_is_the_loglog_one():
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    lung = dataset("lung")
    kmf = KaplanMeierFitter().fit(lung.time, lung.status)
    theirs = tuple(median_survival_times(kmf.confidence_interval_).iloc[0])
    r = oracle("km")
    assert theirs == (r["lung_log-log"]["median_lower"], r["lung_log-log"]["median_upper"]) == (284, 361)
    ours = fit_kaplan_meier(lung.time, lung.status)
    assert ours.median_ci == (r["lung_log"]["median_lower"], r["lung_log"]["median_upper"]) == (285, 363)


def test_lifelines_aalen_johansen_jitters_ties_ours_is_cmprsk():
    from lifelines import AalenJohansenFitter

    small = dataset("small")
    d = small[small.case == "ties"]
    times = [0.0, 2.0, 5.0, 8.0, 12.0]
    runs = []
    for seed in (0, 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            aj = AalenJohansenFitter(seed=seed).fit(d.time, d.status, event_of_interest=1)
        assert any("tied event times" in str(w.message).lower() for w in caught)
        cd = aj.cumulative_density_
        assert not np.isin(cd.index.to_numpy(), d.time.to_numpy()).all()     # its times are moved
        runs.append(np.array([cd[cd.index <= t].iloc[-1, 0] for t in times]))
    assert not np.allclose(runs[0], runs[1])                                  # and depend on the seed

    ours = [fit_cumulative_incidence(d.time, d.status).curve(1).at(times).estimate for _ in range(2)]
    np.testing.assert_array_equal(ours[0], ours[1])
    r = oracle("cuminc")["bmt_all"]   # deterministic and equal to cuminc (bmt, causes pooled over groups)
    bmt = dataset("bmt")
    c = fit_cumulative_incidence(bmt.time, bmt.status).curve(1)
    i = r["at"]["names"].index("1 1")
    assert_r(c.at(r["at"]["times"]).estimate, r["at"]["est"][i])
    assert not np.allclose(runs[0], ours[0])
