"""Log-rank test against R survival::survdiff (tests/oracles/r/survdiff.R -> survdiff.json)."""

from __future__ import annotations

import numpy as np
import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes import logrank_test
from tests.outcomes import assert_r, dataset, oracle


def cases():
    lung, vet, small = dataset("lung"), dataset("veteran"), dataset("small")
    ecog = lung.dropna(subset=["ph.ecog"])
    ties = small[small.case == "ties"]
    return {
        "lung_sex": (lung.time, lung.status, lung.sex),
        "lung_ecog": (ecog.time, ecog.status, ecog["ph.ecog"].astype(int)),
        "veteran_trt": (vet.time, vet.status, vet.trt),
        "veteran_celltype": (vet.time, vet.status, vet.celltype),
        "ties_group": (ties.time, (ties.status > 0).astype(int), ties.group),
    }


@pytest.mark.parametrize("key", ["lung_sex", "lung_ecog", "veteran_trt", "veteran_celltype", "ties_group"])
def test_matches_survdiff(key):
    t, e, g = cases()[key]
    res = logrank_test(t, e, g)
    r = oracle("survdiff")[key]
    assert [str(x) for x in res.groups] == r["groups"]
    np.testing.assert_array_equal(res.n, r["n"])
    np.testing.assert_array_equal(res.observed, r["observed"])
    assert_r(res.expected, r["expected"])
    assert_r(res.variance.ravel(), np.array(r["var"], dtype=float).ravel(), atol=1e-12)
    assert res.statistic == pytest.approx(r["chisq"], rel=1e-12)
    assert res.p_value == pytest.approx(r["p"], rel=1e-10)
    assert res.df == r["df"]


def test_lung_sex_printed_values():
    # survdiff(Surv(time, status) ~ sex, lung): Chisq = 10.3 on 1 df, p = 0.001
    t, e, g = cases()["lung_sex"]
    res = logrank_test(t, e, g)
    assert round(res.statistic, 1) == 10.3 and round(res.p_value, 3) == 0.001


def test_strata_sum_the_tables():
    lung = dataset("lung")
    whole = logrank_test(lung.time, lung.status, lung.sex, strata=np.zeros(len(lung)))
    plain = logrank_test(lung.time, lung.status, lung.sex)
    assert whole.statistic == pytest.approx(plain.statistic, rel=1e-14)


def test_one_group_is_refused():
    with pytest.raises(InvalidValue) as exc:
        logrank_test([1, 2, 3], [1, 0, 1], ["a", "a", "a"])
    assert exc.value.field == "group"
