"""Single-arm designs against their published tables.

Simon R. Optimal two-stage designs for phase II clinical trials. Control Clin Trials 1989;10:1-10,
Table 1 (alpha 0.05, beta 0.20; r1/n1, r/n, EN(p0), PET(p0)):
  p0 0.05 p1 0.25: optimal 0/9, 2/17, 12.0, 0.63;  minimax 0/12, 2/16, 13.8, 0.54
  p0 0.10 p1 0.30: optimal 1/10, 5/29, 15.0, 0.74; minimax 1/15, 5/25, 19.5, 0.55
  p0 0.20 p1 0.40: optimal 3/13, 12/43, 20.6, 0.75; minimax 4/18, 10/33, 22.3, 0.72
  p0 0.30 p1 0.50: optimal 5/15, 18/46, 23.6, 0.72; minimax 6/19, 16/39, 25.7, 0.67
  p0 0.70 p1 0.90: optimal 4/6, 22/27 (EN 14.8, PET 0.58); minimax 19/23, 21/26 (the brief's values)
A'Hern RPA. Sample size tables for exact single-stage phase II designs. Stat Med 2001;20:859-866;
as quoted by Khan, Sarker and Hackshaw, Br J Cancer 2012;107:1801-1809: p0 0.10, p1 0.20, alpha 5 %,
power 80 % -> n = 78, exact alpha 4.53 %, power 80.81 %.
The Bayesian monitor is checked against the closed form of the Beta tail for integer parameters,
P(p > t | Beta(a, b)) = P(Bin(a + b - 1, t) <= a - 1), and by enumerating every outcome sequence.
"""

from __future__ import annotations

import itertools

import pytest
from scipy.stats import binom

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes import ToxicityMonitor, ahern_single_stage, simon_two_stage

TABLE = [  # p0, p1, optimal (r1, n1, r, n, EN0, PET0), minimax (...)
    (0.05, 0.25, (0, 9, 2, 17, 12.0, 0.63), (0, 12, 2, 16, 13.8, 0.54)),
    (0.10, 0.30, (1, 10, 5, 29, 15.0, 0.74), (1, 15, 5, 25, 19.5, 0.55)),
    (0.20, 0.40, (3, 13, 12, 43, 20.6, 0.75), (4, 18, 10, 33, 22.3, 0.72)),
    (0.30, 0.50, (5, 15, 18, 46, 23.6, 0.72), (6, 19, 16, 39, 25.7, 0.67)),
]


def as_row(s):
    return (s.r1, s.n1, s.r, s.n, round(s.en0, 1), round(s.pet0, 2))


def test_brief_example_full_search():
    d = simon_two_stage(0.70, 0.90, alpha=0.05, power=0.80)
    assert (d.optimal.r1, d.optimal.n1, d.optimal.r, d.optimal.n) == (4, 6, 22, 27)
    assert (d.minimax.r1, d.minimax.n1, d.minimax.r, d.minimax.n) == (19, 23, 21, 26)
    assert round(d.optimal.en0, 1) == 14.8 and round(d.optimal.pet0, 2) == 0.58
    for s in (d.optimal, d.minimax):
        assert s.alpha <= 0.05 and s.power >= 0.80


@pytest.mark.parametrize("p0, p1, optimal, minimax", TABLE)
def test_simon_table_rows(p0, p1, optimal, minimax):
    d = simon_two_stage(p0, p1, alpha=0.05, power=0.80, nmax=60)   # every table n is below 60
    assert as_row(d.optimal) == optimal
    assert as_row(d.minimax) == minimax


def test_operating_characteristics_are_exact():
    s = simon_two_stage(0.10, 0.30, 0.05, 0.80, nmax=40).optimal
    pet0 = binom.cdf(s.r1, s.n1, 0.10)
    reject = sum(binom.pmf(x1, s.n1, 0.10) * binom.sf(s.r - x1, s.n - s.n1, 0.10) for x1 in range(s.r1 + 1, s.n1 + 1))
    assert s.pet0 == pytest.approx(pet0, rel=1e-12) and s.alpha == pytest.approx(reject, rel=1e-9)
    assert s.en0 == pytest.approx(s.n1 + (1 - pet0) * (s.n - s.n1), rel=1e-12)


def test_ahern_published_value_and_minimality():
    d = ahern_single_stage(0.10, 0.20, 0.05, 0.80)
    # the paper prints 80.81 % (0.808179 truncated)
    assert d.n == 78 and round(d.actual_alpha * 100, 2) == 4.53 and abs(d.actual_power * 100 - 80.81) < 0.01
    assert d.r == 13
    # no smaller n has a cut-off meeting both constraints
    for n in range(1, d.n):
        assert not any(binom.sf(r - 1, n, 0.10) <= 0.05 and binom.sf(r - 1, n, 0.20) >= 0.80 for r in range(n + 2))


@pytest.mark.parametrize("args, field", [
    ((0.3, 0.2, 0.05, 0.8), "p1"), ((0.0, 0.2, 0.05, 0.8), "p0"), ((0.1, 0.3, 1.2, 0.8), "alpha"),
    ((0.1, 0.3, 0.05, 0.01), "power"),
])
def test_bad_design_arguments(args, field):
    for fn in (simon_two_stage, ahern_single_stage):
        with pytest.raises(InvalidValue) as exc:
            fn(*args)
        assert exc.value.field == field


def test_toxicity_monitor_closed_form():
    m = ToxicityMonitor(a=1, b=1, threshold=0.30, cutoff=0.90)
    for n in range(1, 16):
        for x in range(n + 1):
            a, b = 1 + x, 1 + n - x
            closed = binom.cdf(a - 1, a + b - 1, 0.30)
            assert m.probability_above(x, n) == pytest.approx(closed, rel=1e-12, abs=1e-15)
    bounds = m.boundaries(15)
    for n, bound in enumerate(bounds, start=1):
        if bound is not None:
            assert m.should_stop(bound, n) and (bound == 0 or not m.should_stop(bound - 1, n))
    assert bounds[2] == 2 and bounds[9] == 5   # 2 of 3 stops; 5 of 10 stops (P = 0.922), 4 of 10 does not


def test_toxicity_monitor_stopping_probability_by_enumeration():
    m = ToxicityMonitor(a=0.5, b=1.5, threshold=0.25, cutoff=0.80)
    n_max, p = 8, 0.35
    bounds = m.boundaries(n_max)
    total = 0.0
    for seq in itertools.product((0, 1), repeat=n_max):
        x = 0
        for n, tox in enumerate(seq, start=1):
            x += tox
            if bounds[n - 1] is not None and x >= bounds[n - 1]:
                total += p ** sum(seq) * (1 - p) ** (n_max - sum(seq))
                break
    assert m.stopping_probability(p, n_max) == pytest.approx(total, rel=1e-12)


def test_toxicity_monitor_refuses_bad_prior():
    with pytest.raises(InvalidValue) as exc:
        ToxicityMonitor(a=0, b=1, threshold=0.3, cutoff=0.9)
    assert exc.value.field == "a"
