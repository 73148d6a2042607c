"""Simon's two-stage search is done once per set of inputs in a process (the study report asks
for it at every build), and the cache is keyed by the checked inputs: equal inputs share the
answer, different inputs never do, and a refused input is never cached."""

from __future__ import annotations

import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes import design
from sarcotrial.outcomes.design import simon_two_stage


def test_the_same_inputs_are_searched_once():
    design._simon_search.cache_clear()
    first = simon_two_stage(0.2, 0.4, 0.05, 0.8)
    again = simon_two_stage("0.2", 0.40, alpha=0.05, power=0.80)  # the same inputs, written otherwise
    assert again is first
    assert design._simon_search.cache_info().misses == 1 and design._simon_search.cache_info().hits == 1
    # the answer cached is the search's own (Simon 1989, Table 1: p0 0.20, p1 0.40, alpha 0.05, power 0.80:
    # optimal 3/13 then 12/43, minimax 4/18 then 10/33)
    assert design._simon_search.__wrapped__(0.2, 0.4, 0.05, 0.8, None) == first
    assert (first.optimal.r1, first.optimal.n1, first.optimal.r, first.optimal.n) == (3, 13, 12, 43)
    assert (first.minimax.r1, first.minimax.n1, first.minimax.r, first.minimax.n) == (4, 18, 10, 33)


def test_other_inputs_get_their_own_answer():
    base = simon_two_stage(0.2, 0.4)
    assert simon_two_stage(0.2, 0.4, power=0.9) != base
    assert simon_two_stage(0.1, 0.3) != base
    limited = simon_two_stage(0.2, 0.4, nmax=45)
    assert limited.nmax == 45 and limited is not base


def test_a_refused_input_is_refused_every_time():
    for _ in range(2):
        with pytest.raises(InvalidValue, match="p1"):
            simon_two_stage(0.4, 0.2)
        with pytest.raises(InvalidValue, match="nmax"):
            simon_two_stage(0.2, 0.4, nmax="many")
