"""Cox models against R survival::coxph (tests/oracles/r/coxph.R -> coxph.json).

With R's default control (eps 1e-9, 20 iterations) we take the same Newton-Raphson steps, so the
coefficients agree with what an R user's script prints to ~1e-13; with a tight tolerance both
converge to the same maximum. Tests: likelihood ratio, Wald (``fit$wald.test``: ``summary``
prints it rounded to 2 decimals) and score.
"""

from __future__ import annotations

import numpy as np
import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes import fit_cox
from tests.outcomes import assert_r, dataset, oracle


def models():
    rossi, lung, vet, small = dataset("rossi"), dataset("lung"), dataset("veteran"), dataset("small")
    lungc = lung[["time", "status", "age", "sex", "ph.ecog", "wt.loss"]].dropna()
    ties = small[small.case == "ties"].copy()
    ties["B"] = (ties.group == "B").astype(float)
    return {
        "rossi": (rossi.week, rossi.arrest, rossi[["fin", "age", "race", "wexp", "mar", "paro", "prio"]]),
        "lung": (lungc.time, lungc.status, lungc[["age", "sex", "ph.ecog", "wt.loss"]]),
        "veteran": (vet.time, vet.status, vet[["trt", "karno", "diagtime", "age", "prior"]]),
        "ties": (ties.time, (ties.status > 0).astype(int), ties[["x", "B"]]),
    }


def check(fit, r, what):
    assert_r(fit.coef, r["coef"], rtol=1e-11, what=f"{what} coef")
    assert_r(fit.se, r["se"], rtol=1e-11, what=f"{what} se")
    assert_r(fit.var.ravel(), np.array(r["var"], dtype=float).ravel(), rtol=1e-10, what=f"{what} var")
    assert_r([fit.loglik_null, fit.loglik], r["loglik"], rtol=1e-13, what=f"{what} loglik")
    assert fit.lr_statistic == pytest.approx(r["lr"], rel=1e-10)
    assert fit.wald_statistic == pytest.approx(r["wald"], rel=1e-10)
    assert fit.score_statistic == pytest.approx(r["score"], rel=1e-11)
    for ours, theirs in ((fit.lr_p, r["lr_p"]), (fit.wald_p, r["wald_p"]), (fit.score_p, r["score_p"])):
        assert ours == pytest.approx(theirs, rel=1e-8, abs=1e-300)
    assert (fit.n, fit.events, fit.df) == (r["n"], r["nevent"], r["df"])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("name", ["rossi", "lung", "veteran", "ties"])
def test_converged_fit_matches_coxph(name, ties):
    t, e, x = models()[name]
    fit = fit_cox(t, e, x, ties=ties, eps=1e-12, max_iter=100)
    check(fit, oracle("coxph")[f"{name}_{ties}"], f"{name} {ties}")
    assert fit.converged
    if name != "ties":  # R names the indicator I(group == "B")TRUE
        assert fit.covariates == tuple(oracle("coxph")[f"{name}_{ties}"]["covariates"])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_default_control_takes_r_steps(ties):
    t, e, x = models()["rossi"]
    fit = fit_cox(t, e, x, ties=ties)
    r = oracle("coxph")[f"rossi_default_{ties}"]
    check(fit, r, f"rossi default {ties}")
    assert fit.iterations == r["iter"]


def test_rossi_printed_values():
    # coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, rossi):
    # fin -0.3794 (se 0.1914); Likelihood ratio test 33.27 on 7 df; Score 33.53
    t, e, x = models()["rossi"]
    fit = fit_cox(t, e, x)
    assert round(fit.coef[0], 4) == -0.3794 and round(fit.se[0], 4) == 0.1914
    assert round(fit.lr_statistic, 2) == 33.27 and round(fit.score_statistic, 2) == 33.53


def test_constant_covariate_is_refused():
    with pytest.raises(InvalidValue) as exc:
        fit_cox([1, 2, 3, 4], [1, 1, 0, 1], [[1.0], [1.0], [1.0], [1.0]])
    assert exc.value.field == "covariates"


@pytest.mark.parametrize("kwargs, field", [
    ({"ties": "exact"}, "ties"),
    ({"event": [0, 0, 0, 0]}, "event"),
    ({"covariates": [[1.0], [float("nan")], [0.0], [1.0]]}, "covariates"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = {"time": [1, 2, 3, 4], "event": [1, 1, 0, 1], "covariates": [[0.0], [1.0], [0.0], [1.0]], **kwargs}
    with pytest.raises(InvalidValue) as exc:
        fit_cox(**args)
    assert exc.value.field == field
