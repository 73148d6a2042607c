"""Exact binomial test and Clopper-Pearson interval against R's binom.test (oracles/r/binom.R)."""

from __future__ import annotations

import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes import binomial_test, clopper_pearson
from tests.outcomes import oracle

CASES = oracle("binom")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['x']}of{c['n']}-{c['alternative']}-{c['level']}" for c in CASES])
def test_matches_binom_test(case):
    res = binomial_test(case["x"], case["n"], case["p"], case["alternative"], case["level"])
    assert res.p_value == pytest.approx(case["p_value"], rel=1e-13)
    assert res.conf_int == pytest.approx(tuple(case["conf_int"]), rel=1e-13)
    assert res.ci == pytest.approx(tuple(case["two_sided_conf_int"]), rel=1e-13)
    assert clopper_pearson(case["x"], case["n"], case["level"]) == pytest.approx(tuple(case["two_sided_conf_int"]), rel=1e-13)
    assert res.rate == case["estimate"]


def test_simon_final_analysis_example():
    # 22 responses in 27 against p0 = 0.70 (greater): R binom.test p = 0.1358, 95% CI 0.6192-0.9370
    res = binomial_test(22, 27, 0.70, "greater")
    assert round(res.p_value, 4) == 0.1358
    assert [round(v, 4) for v in res.ci] == [0.6192, 0.937]


@pytest.mark.parametrize("args, field", [
    ((5, 4, 0.5), "successes"), ((-1, 4, 0.5), "successes"), ((1.5, 4, 0.5), "successes"),
    ((1, 0, 0.5), "n"), ((1, 4, 1.5), "null"),
])
def test_bad_counts_and_rates(args, field):
    with pytest.raises(InvalidValue) as exc:
        binomial_test(*args)
    assert exc.value.field == field


def test_bad_alternative_and_level():
    with pytest.raises(InvalidValue) as exc:
        binomial_test(1, 4, 0.5, "bigger")
    assert exc.value.field == "alternative"
    with pytest.raises(InvalidValue) as exc:
        clopper_pearson(1, 4, 95)
    assert exc.value.field == "level"
