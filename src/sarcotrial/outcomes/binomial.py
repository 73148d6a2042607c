"""Exact binomial test and Clopper-Pearson interval, as R's ``binom.test``.

Implementation: scipy.stats (``binom``, ``beta``) following R's ``binom.test`` line for line.
scipy's own ``binomtest`` computes the same p-values, but its ``proportion_ci`` returns the
one-sided interval's limits differently named, and R's code is short enough to mirror exactly:

* p-value: ``less`` P(X <= x); ``greater`` P(X >= x); ``two-sided`` the sum of the probabilities
  of every outcome no more likely than x (with R's relative tolerance 1 + 1e-7), 1 if x = n p.
* Clopper-Pearson limits: lower qbeta(a, x, n - x + 1) (0 if x = 0), upper
  qbeta(1 - a, x + 1, n - x) (1 if x = n); two-sided a = (1 - level)/2 (``ci``), one-sided
  a = 1 - level on the tested side (``conf_int``, what binom.test prints for that alternative).

Example::

    >>> from sarcotrial.outcomes import binomial_test
    >>> res = binomial_test(7, 20, null=0.2, alternative="greater")
    >>> round(res.p_value, 4), [round(v, 4) for v in res.ci]
    (0.0867, [0.1539, 0.5922])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import beta, binom

from sarcotrial.errors import InvalidValue
from sarcotrial.outcomes.kaplan_meier import probability

ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class BinomialTest:
    """An exact binomial test of a response rate against a null rate."""

    successes: int
    n: int
    rate: float
    null: float
    alternative: str
    p_value: float
    ci: tuple[float, float]          # two-sided Clopper-Pearson at ``level``
    conf_int: tuple[float, float]    # binom.test's interval for this alternative (one-sided unless two-sided)
    level: float

    def as_dict(self) -> dict:
        return {"successes": self.successes, "n": self.n, "rate": self.rate, "null": self.null,
                "alternative": self.alternative, "p_value": self.p_value, "ci": list(self.ci),
                "conf_int": list(self.conf_int), "level": self.level, "method": "exact binomial (Clopper-Pearson)"}


def _counts(successes, n) -> tuple[int, int]:
    def whole(v, field):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise InvalidValue(field, "must be a whole number", v) from None
        if not math.isfinite(f) or abs(f - round(f)) > 1e-7:
            raise InvalidValue(field, "must be a whole number", v)
        return int(round(f))
    x, m = whole(successes, "successes"), whole(n, "n")
    if m < 1:
        raise InvalidValue("n", "must be at least 1", m)
    if not 0 <= x <= m:
        raise InvalidValue("successes", f"must be between 0 and n ({m})", x)
    return x, m


def _lower(x: int, n: int, a: float) -> float:
    return 0.0 if x == 0 else float(beta.ppf(a, x, n - x + 1))


def _upper(x: int, n: int, a: float) -> float:
    return 1.0 if x == n else float(beta.ppf(1 - a, x + 1, n - x))


def clopper_pearson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided Clopper-Pearson interval (binom.test's two-sided ``conf.int``)."""
    x, m = _counts(successes, n)
    a = (1 - probability(level, "level")) / 2
    return _lower(x, m, a), _upper(x, m, a)


def binomial_test(successes: int, n: int, null: float = 0.5, alternative: str = "two-sided",
                  level: float = 0.95) -> BinomialTest:
    """``binom.test(successes, n, p=null, alternative=..., conf.level=level)``."""
    x, m = _counts(successes, n)
    lv = probability(level, "level")
    alt = "two-sided" if alternative == "two.sided" else alternative
    if alt not in ALTERNATIVES:
        raise InvalidValue("alternative", f"must be one of {', '.join(ALTERNATIVES)}", alternative)
    p = probability(null, "null", open_interval=False)
    if alt == "less":
        pval = float(binom.cdf(x, m, p))
    elif alt == "greater":
        pval = float(binom.sf(x - 1, m, p))
    elif p == 0:
        pval = float(x == 0)
    elif p == 1:
        pval = float(x == m)
    else:
        rel = 1 + 1e-7
        d = binom.pmf(x, m, p)
        mean = m * p
        if x == mean:
            pval = 1.0
        elif x < mean:
            i = range(math.ceil(mean), m + 1)
            y = int(sum(binom.pmf(list(i), m, p) <= d * rel))
            pval = float(binom.cdf(x, m, p) + binom.sf(m - y, m, p))
        else:
            i = range(0, math.floor(mean) + 1)
            y = int(sum(binom.pmf(list(i), m, p) <= d * rel))
            pval = float(binom.cdf(y - 1, m, p) + binom.sf(x - 1, m, p))
    pval = min(1.0, pval)
    ci = (_lower(x, m, (1 - lv) / 2), _upper(x, m, (1 - lv) / 2))
    if alt == "less":
        conf_int = (0.0, _upper(x, m, 1 - lv))
    elif alt == "greater":
        conf_int = (_lower(x, m, 1 - lv), 1.0)
    else:
        conf_int = ci
    return BinomialTest(successes=x, n=m, rate=x / m, null=p, alternative=alt, p_value=pval, ci=ci, conf_int=conf_int,
                        level=lv)
