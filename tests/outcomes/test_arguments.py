"""Every estimator refuses a confidence level or rate outside (0, 1) the same way: field named, no traceback."""

from __future__ import annotations

import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes.binomial import binomial_test, clopper_pearson
from sarcotrial.outcomes.competing_risks import cumulative_incidence
from sarcotrial.outcomes.cox import fit_cox
from sarcotrial.outcomes.design import simon_two_stage
from sarcotrial.outcomes.kaplan_meier import fit_kaplan_meier

T, E = [1.0, 2.0, 3.0, 4.0], [1, 0, 1, 1]
CALLS = {
    "kaplan_meier": lambda v: fit_kaplan_meier(T, E, conf_level=v),
    "cumulative_incidence": lambda v: cumulative_incidence(T, E, 1, conf_level=v),
    "cox": lambda v: fit_cox(T, E, [[0.1], [0.4], [0.2], [0.9]], conf_level=v),
    "clopper_pearson": lambda v: clopper_pearson(3, 10, v),
    "simon alpha": lambda v: simon_two_stage(0.2, 0.4, alpha=v, power=0.8),
}


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("value", ["abc", 1.5, 0, float("nan")])
def test_level_outside_0_1_is_refused(name, value):
    with pytest.raises(InvalidValue, match="between 0 and 1"):
        CALLS[name](value)


def test_a_null_rate_may_be_0_or_1_but_not_beyond():
    assert binomial_test(0, 10, 0.0, alternative="greater").p_value == pytest.approx(1.0)
    with pytest.raises(InvalidValue, match="null: must be between 0 and 1"):
        binomial_test(3, 10, 1.2)
