"""The allocation engine: stratified permuted blocks and Pocock-Simon minimisation.

Sources:
- Schulz KF, Grimes DA. Generation of allocation sequences in randomised trials: chance, not choice. Lancet
  2002;359:515-519 (permuted blocks: each block holds the arms in the allocation ratio, in random order; block
  sizes varied at random); Allocation concealment in randomised trials. Lancet 2002;359:614-618.
- Pocock SJ, Simon R. Biometrics 1975;31:103-115: for each arm, the imbalance (range, or variance) of the
  counts of each of the new patient's factor levels if the patient were given that arm, summed with the
  factors' weights; the arm with the smallest sum is given with probability p.
- ICH E9 (1998) section 2.3.2: a documented, reproducible scheme.

The block bound is derived from the definition, not from the code: within a block of size m = c x R (R the sum
of the ratios) arm a gets between 0 and c x r_a patients, so n_a / r_a varies by at most c = m / R between
arms, and every completed block adds exactly c to each n_a / r_a. Hence at any time, within a stratum,
max n/r - min n/r <= max(block_sizes) / R (for 1:1, half the largest block size), and it is 0 whenever the
stratum's blocks are complete. The minimisation examples are worked by hand in each test.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from sarcotrial.domain.randomisation import (
    Allocation,
    Factor,
    Previous,
    Scheme,
    allocate,
    mismatches,
    new_seed,
    replay,
    scheme_from_protocol,
    simulate,
    stratification_errors,
    stratify,
    stratum_balance,
)
from sarcotrial.errors import InvalidValue
from sarcotrial.protocol import load_protocol

RANDOMISED = Path(__file__).resolve().parents[1] / "protocols" / "randomised-test.yaml"

SEX = Factor("sex", {"male": ("male",), "female": ("female",)})
AGE = Factor("age", {"under_50": ("under_50",), "50_plus": ("50_plus",)})


def blocks_scheme(ratios=(1, 1), sizes=(2, 4), factors=(SEX, AGE), site=False) -> Scheme:
    arms = tuple("ABCDE"[: len(ratios)])
    return Scheme("permuted_blocks", arms, tuple(ratios), block_sizes=tuple(sizes), factors=tuple(factors), site=site)


def scaled_spread(counts: dict, scheme: Scheme) -> Fraction:
    scaled = [Fraction(counts.get(a, 0), r) for a, r in zip(scheme.arms, scheme.ratios)]
    return max(scaled) - min(scaled)


# --------------------------------------------------------------------------- permuted blocks
def reference_sequence(seed: str, stratum: list, arms: list[str], ratios: list[int], sizes: list[int], n: int):
    """The permuted-block sequence of one stratum, written again from docs/randomisation.md alone (an
    auditor's implementation): SHA-256 counter stream, rejection sampling, Fisher-Yates."""
    text = json.dumps(["sarcotrial.randomisation.v1", "permuted_blocks", seed, stratum], separators=(",", ":"),
                      ensure_ascii=False)
    key = hashlib.sha256(text.encode("utf-8")).digest()
    counter = 0

    def below(m: int) -> int:
        nonlocal counter
        while True:
            v = int.from_bytes(hashlib.sha256(key + counter.to_bytes(8, "big")).digest(), "big")
            counter += 1
            if v < 2**256 - 2**256 % m:
                return v % m

    out: list[str] = []
    while len(out) < n:
        size = sizes[below(len(sizes))]
        block = [arm for arm, r in zip(arms, ratios) for _ in range(r * size // sum(ratios))]
        for i in range(len(block) - 1, 0, -1):
            j = below(i + 1)
            block[i], block[j] = block[j], block[i]
        out.extend(block)
    return out[:n]


def test_documented_algorithm_replays_the_engine():
    """docs/randomisation.md: an auditor's own implementation of the stream gives the engine's allocations."""
    scheme = blocks_scheme(ratios=(2, 1), sizes=(3, 6))
    strata = {"sex": "female", "age": "50_plus"}
    history: list[Allocation] = []
    for _ in range(40):
        history.append(allocate(scheme, "audit-seed-1", history, strata))
    expected = reference_sequence("audit-seed-1", [["sex", "female"], ["age", "50_plus"]], ["A", "B"], [2, 1], [3, 6], 40)
    assert [a.arm for a in history] == expected


def test_blocks_of_two_alternate_pairs():
    """Schulz & Grimes 2002: a block of 2 in 1:1 holds one of each arm, so each consecutive pair is {A, B}."""
    scheme = blocks_scheme(sizes=(2,), factors=())
    arms = [a.arm for a in simulate(scheme, "pairs", 100)]
    assert all({arms[i], arms[i + 1]} == {"A", "B"} for i in range(0, 100, 2))


@settings(max_examples=40, deadline=None)
@given(seed=st.text(min_size=1, max_size=12),
       shape=st.sampled_from([((1, 1), (2, 4)), ((1, 1), (2, 4, 6)), ((2, 1), (3, 6)), ((1, 1, 1), (3, 6)),
                              ((1, 2), (3, 6, 9)), ((1, 1), (4,))]),
       sites=st.integers(1, 3), n=st.integers(1, 150))
def test_balance_within_every_stratum_never_exceeds_the_block_bound(seed, shape, sites, n):
    """At every allocation, in every stratum: max n/r - min n/r <= max block / sum of ratios (half the largest
    block for 1:1); and 0 each time the stratum's current block is complete."""
    ratios, sizes = shape
    scheme = blocks_scheme(ratios=ratios, sizes=sizes, site=True)
    bound = Fraction(max(sizes), sum(ratios))
    counts: dict[str, Counter] = defaultdict(Counter)
    for allocation in simulate(scheme, seed, n, sites=sites):
        c = counts[allocation.stratum]
        c[allocation.arm] += 1
        assert scaled_spread(c, scheme) <= bound
        if allocation.position == allocation.block_size:
            assert scaled_spread(c, scheme) == 0
        assert 1 <= allocation.position <= allocation.block_size and allocation.block_size in sizes


@pytest.mark.parametrize("ratios, sizes", [((1, 1), (2, 4)), ((2, 1), (3, 6))])
def test_overall_ratio(ratios, sizes):
    """One stratum, 600 patients: |n_A / r_A - n_B / r_B| <= max block / R, i.e. 1:1 within 2 and 2:1 with
    n_A / 2 within 2 of n_B (1:1 blocks {2, 4}: at most 302-298; 2:1 blocks {3, 6}: n_A = 2 n_B +- 4)."""
    scheme = blocks_scheme(ratios=ratios, sizes=sizes, factors=())
    counts = Counter(a.arm for a in simulate(scheme, "ratio", 600))
    assert counts["A"] + counts["B"] == 600
    assert abs(Fraction(counts["A"], ratios[0]) - Fraction(counts["B"], ratios[1])) <= Fraction(max(sizes), sum(ratios))
    if ratios == (2, 1):
        assert 398 <= counts["A"] <= 402


def test_block_sizes_vary():
    """Schulz & Grimes 2002 (deciphering): with sizes {2, 4} both sizes occur, so a block's end is not known."""
    allocations = simulate(blocks_scheme(factors=()), "vary", 200)
    assert {a.block_size for a in allocations} == {2, 4}


def test_same_seed_same_list_other_seed_other_list():
    """ICH E9 2.3.2: the sequence is reproducible from the seed; another seed gives another sequence (two 60-patient
    lists agreeing by chance: probability far below 1e-6)."""
    scheme = blocks_scheme(site=True)
    first = [(a.arm, dict(a.strata)) for a in simulate(scheme, "seed-a", 60, sites=3)]
    assert first == [(a.arm, dict(a.strata)) for a in simulate(scheme, "seed-a", 60, sites=3)]
    assert [a for a, _ in first] != [a.arm for a in simulate(scheme, "seed-b", 60, sites=3)]


def test_a_stratum_does_not_depend_on_the_others():
    """Each stratum has its own stream: interleaving another stratum's patients changes none of its allocations."""
    scheme = blocks_scheme()
    one, two = {"sex": "male", "age": "under_50"}, {"sex": "female", "age": "under_50"}

    def run(order: str) -> list[str]:
        history: list[Allocation] = []
        for which in order:
            history.append(allocate(scheme, "order", history, one if which == "1" else two))
        return [a.arm for a in history if a.strata == one]

    assert run("1111111111") == run("1212121212121212121") == run("2221112211112222111")


def test_replay_confirms_and_finds_a_changed_allocation():
    """The auditor recomputes every stored allocation from the seed; a stored arm changed afterwards is named."""
    scheme = blocks_scheme(site=True)
    stored = [Previous(dict(a.strata), a.arm) for a in simulate(scheme, "audit", 50, sites=2)]
    assert replay(scheme, "audit", stored) == [p.arm for p in stored]
    assert mismatches(scheme, "audit", stored) == []
    tampered = list(stored)
    tampered[16] = Previous(stored[16].strata, "B" if stored[16].arm == "A" else "A")
    assert mismatches(scheme, "audit", tampered) == [17]
    assert mismatches(scheme, "another seed", stored) != []


def test_allocate_equals_the_simulation_step_by_step():
    scheme = blocks_scheme(site=True)
    simulated = simulate(scheme, "steps", 30, sites=2)
    history: list[Allocation] = []
    for allocation in simulated:
        history.append(allocate(scheme, "steps", history, allocation.strata))
    assert history == simulated


def test_a_corrected_factor_changes_no_allocation():
    """The history keeps the strata used at allocation: patient 3's ECOG corrected later is recorded with the
    patient's data, not in the history, so the next allocations are those of the uncorrected history."""
    scheme = blocks_scheme()
    strata = [{"sex": "male", "age": "under_50"}] * 3 + [{"sex": "female", "age": "50_plus"}] * 2
    history: list[Allocation] = []
    for s in strata:
        history.append(allocate(scheme, "correction", history, s))
    before = allocate(scheme, "correction", history, {"sex": "male", "age": "under_50"})
    stored = list(history)  # the correction of patient 3's factor leaves this list as it is
    assert allocate(scheme, "correction", stored, {"sex": "male", "age": "under_50"}) == before
    assert replay(scheme, "correction", stored) == [a.arm for a in history]


def test_a_correction_is_flagged_as_a_stratification_error():
    """ECOG 0 at allocation, corrected to 1: the level used (0) and the level now (1-2) are named; the site and
    an unchanged factor are not."""
    ecog = Factor("ecog", {"0": (0,), "1-2": (1, 2)})
    scheme = Scheme("permuted_blocks", ("A", "B"), (1, 1), block_sizes=(2,), factors=(ecog, SEX), site=True)
    used = allocate(scheme, "flag", [], {"ecog": "0", "sex": "male", "site": "S01"}).strata
    assert stratification_errors(scheme, used, {"ecog": 1, "sex": "male"}, site="S01") == {"ecog": ("0", "1-2")}
    assert stratification_errors(scheme, used, {"ecog": 0, "sex": "male"}, site="S01") == {}


def test_new_seed_is_128_random_bits():
    seeds = {new_seed() for _ in range(20)}
    assert len(seeds) == 20 and all(len(s) == 32 and int(s, 16) >= 0 for s in seeds)


# --------------------------------------------------------------------------- minimisation
def _history(rows: list[tuple[str, str, str]]) -> list[Previous]:
    return [Previous({"sex": sex, "age": age}, arm) for sex, age, arm in rows]


#: ten previous patients (sex, age, arm). Their marginal counts, by hand:
#:            A   B
#: male       3   1
#: female     2   4
#: 50_plus    1   3
#: under_50   4   2
TEN = _history([("male", "50_plus", "A"), ("male", "under_50", "A"), ("male", "under_50", "A"),
                ("female", "under_50", "A"), ("female", "under_50", "A"),
                ("male", "50_plus", "B"), ("female", "50_plus", "B"), ("female", "50_plus", "B"),
                ("female", "under_50", "B"), ("female", "under_50", "B")])
NEW = {"sex": "male", "age": "50_plus"}


def minimisation(probability=0.8, weights=None, imbalance="range", arms=("A", "B"), factors=(SEX, AGE)) -> Scheme:
    return Scheme("minimisation", arms, (1,) * len(arms), factors=factors, probability=probability,
                  imbalance=imbalance, weights=weights or {})


def test_pocock_simon_hand_worked_range():
    """New patient male, 50+. Given A: male (3+1, 1) range 3, 50+ (1+1, 3) range 1; given B: male (3, 1+1) range 1,
    50+ (1, 3+1) range 3. Weights 1, 1: G(A) = 3 + 1 = 4 = G(B) = 1 + 3: a tie, both arms minimise. Weights sex 2,
    age 1: G(A) = 2x3 + 1 = 7, G(B) = 2x1 + 3 = 5: B. Weights sex 1, age 2: G(A) = 3 + 2x1 = 5, G(B) = 1 + 2x3 = 7: A."""
    tie = allocate(minimisation(), "hand", TEN, NEW)
    assert tie.scores == {"A": 4, "B": 4} and tie.minimising == ("A", "B") and tie.draw is None
    sex_heavy = allocate(minimisation(weights={"sex": 2}), "hand", TEN, NEW)
    assert sex_heavy.scores == {"A": 7, "B": 5} and sex_heavy.minimising == ("B",)
    age_heavy = allocate(minimisation(weights={"age": 2}), "hand", TEN, NEW)
    assert age_heavy.scores == {"A": 5, "B": 7} and age_heavy.minimising == ("A",)
    assert age_heavy.number == 11


def test_pocock_simon_hand_worked_variance_three_arms():
    """Three arms, variance (mean squared deviation). Previous (f1, f2, arm): (x,z,A) (x,z,A) (x,y,B) (x,z,B)
    (w,y,C); new patient f1=x, f2=y. Counts of x: A 2, B 2, C 0; of y: A 0, B 1, C 1.
    Given A: x (3,2,0) var 14/9, y (1,1,1) var 0 -> 14/9. Given B: x (2,3,0) 14/9, y (0,2,1) 2/3 -> 20/9.
    Given C: x (2,2,1) 2/9, y (0,1,2) 2/3 -> 8/9: C alone minimises. With range: A 3+0 = 3, B 3+2 = 5,
    C 1+2 = 3: A and C tie (Pocock & Simon 1975: the measures may rank arms differently)."""
    f1, f2 = Factor("f1", {"x": ("x",), "w": ("w",)}), Factor("f2", {"y": ("y",), "z": ("z",)})
    history = [Previous({"f1": a, "f2": b}, arm) for a, b, arm in
               [("x", "z", "A"), ("x", "z", "A"), ("x", "y", "B"), ("x", "z", "B"), ("w", "y", "C")]]
    new = {"f1": "x", "f2": "y"}
    variance = allocate(minimisation(1.0, imbalance="variance", arms=("A", "B", "C"), factors=(f1, f2)), "v",
                        history, new)
    assert variance.scores == pytest.approx({"A": 14 / 9, "B": 20 / 9, "C": 8 / 9})
    assert variance.minimising == ("C",) and variance.arm == "C"
    ranged = allocate(minimisation(1.0, arms=("A", "B", "C"), factors=(f1, f2)), "r", history, new)
    assert ranged.scores == {"A": 3, "B": 5, "C": 3} and ranged.minimising == ("A", "C")


def test_probability_one_is_deterministic():
    """p = 1 (deterministic minimisation): the single minimising arm, whatever the seed."""
    scheme = minimisation(1.0, weights={"sex": 2})
    assert {allocate(scheme, f"seed-{i}", TEN, NEW).arm for i in range(200)} == {"B"}


def test_probability_08_gives_the_minimising_arm_80_percent():
    """p = 0.8: over 2000 independent seeds B (the minimising arm) is given about 80 % of the time: the exact
    binomial test of p = 0.8 does not reject at the 0.001 level, and the 99.9 % Clopper-Pearson interval holds 0.8."""
    scheme = minimisation(0.8, weights={"sex": 2})
    draws = [allocate(scheme, f"seed-{i}", TEN, NEW) for i in range(2000)]
    chosen = sum(a.arm == "B" for a in draws)
    result = binomtest(chosen, 2000, 0.8)
    assert result.pvalue > 0.001
    interval = result.proportion_ci(confidence_level=0.999)
    assert interval.low < 0.8 < interval.high
    assert all((a.arm == "B") == (a.draw < 0.8) for a in draws)


def test_a_tie_is_broken_at_random():
    """Every arm minimises (the first patient, or a tie): each arm about equally often (binomial test of 1/2)."""
    scheme = minimisation(0.8)
    chosen = sum(allocate(scheme, f"tie-{i}", TEN, NEW).arm == "A" for i in range(1000))
    assert binomtest(chosen, 1000, 0.5).pvalue > 0.001


def test_minimisation_balances_the_margins():
    """p = 1, range, two factors: after each allocation the margins of the factors are close (deterministic
    minimisation keeps every level within a few patients; here within 3 over 200 patients)."""
    scheme = minimisation(1.0)
    allocations = simulate(scheme, "margins", 200)
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for a in allocations:
        for pair in a.strata.items():
            counts[pair][a.arm] += 1
    assert all(abs(c["A"] - c["B"]) <= 3 for c in counts.values())
    assert replay(scheme, "margins", allocations) == [a.arm for a in allocations]


# --------------------------------------------------------------------------- the scheme and its inputs
def test_scheme_from_the_test_protocol():
    scheme = scheme_from_protocol(load_protocol(RANDOMISED))
    assert scheme.method == "permuted_blocks" and scheme.arms == ("doxorubicin", "doxorubicin_antibody")
    assert scheme.block_sizes == (2, 4) and scheme.site
    assert {f.id: list(f.levels) for f in scheme.factors} == {"previous_lines": ["none", "one", "two_or_more"],
                                                              "ecog": ["0", "1-2"]}
    assert stratify(scheme, {"previous_lines": "one", "ecog": 2}, site="S01") == {
        "previous_lines": "one", "ecog": "1-2", "site": "S01"}


def test_a_protocol_without_arms_is_refused():
    with pytest.raises(InvalidValue, match="protocol: declares no arms"):
        scheme_from_protocol(load_protocol("sprint"))


@pytest.mark.parametrize("strata, field", [
    ({"sex": "male"}, "strata.age"),
    ({"sex": "male", "age": "old"}, "strata.age"),
    ({"sex": "male", "age": "under_50", "colour": "red"}, "strata"),
    ({"sex": "male", "age": "under_50"}, "strata.site"),
])
def test_bad_strata_are_refused(strata, field):
    with pytest.raises(InvalidValue) as raised:
        allocate(blocks_scheme(site=True), "s", [], strata)
    assert raised.value.field == field


def test_stratify_refuses_a_value_in_no_level():
    ecog = Factor("ecog", {"0": (0,), "1-2": (1, 2)})
    scheme = Scheme("permuted_blocks", ("A", "B"), (1, 1), block_sizes=(2,), factors=(ecog,))
    assert stratify(scheme, {"ecog": 1}) == {"ecog": "1-2"}
    with pytest.raises(InvalidValue, match="ecog: is in none of the factor's levels"):
        stratify(scheme, {"ecog": 3})
    with pytest.raises(InvalidValue):
        stratify(scheme, {"ecog": True})  # a boolean is not the integer 1


@pytest.mark.parametrize("kwargs, field", [
    (dict(method="permuted_blocks", arms=("A",), ratios=(1,), block_sizes=(2,)), "arms"),
    (dict(method="permuted_blocks", arms=("A", "B"), ratios=(2, 1), block_sizes=(2, 4)), "randomisation.block_sizes"),
    (dict(method="minimisation", arms=("A", "B"), ratios=(1, 1), factors=(SEX,), probability=0.5),
     "randomisation.minimisation.probability"),
    (dict(method="minimisation", arms=("A", "B"), ratios=(2, 1), factors=(SEX,), probability=0.8), "arms.ratio"),
    (dict(method="minimisation", arms=("A", "B"), ratios=(1, 1), probability=0.8), "randomisation.factors"),
])
def test_bad_schemes_are_refused(kwargs, field):
    with pytest.raises(InvalidValue) as raised:
        Scheme(**kwargs)
    assert raised.value.field == field


def test_simulate_refuses_no_patients():
    with pytest.raises(InvalidValue, match="patients"):
        simulate(blocks_scheme(), "s", 0)


def test_stratum_balance_counts():
    """One stratum, blocks of 2 in 1:1: 7 patients are three complete blocks (3 + 3) and one patient of the
    fourth, so 4 and 3; the difference is 1 after every odd-numbered patient and 0 after each block."""
    allocations = simulate(blocks_scheme(sizes=(2,), factors=()), "count", 7)
    (row,) = stratum_balance(blocks_scheme(sizes=(2,), factors=()), allocations)
    assert row.n == 7 and sorted(row.counts.values()) == [3, 4] and row.max_imbalance == 1
