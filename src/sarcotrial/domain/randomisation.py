"""Allocation of patients to a protocol's arms: stratified permuted blocks, or minimisation.

Standards:

- Stratified permuted blocks with block sizes varied at random, so that the end of a block (and the
  allocation it forces) cannot be deduced: Schulz KF, Grimes DA. Generation of allocation sequences in
  randomised trials: chance, not choice. Lancet 2002;359:515-519; and Allocation concealment in randomised
  trials: defending against deciphering. Lancet 2002;359:614-618.
- Minimisation with a random element: Pocock SJ, Simon R. Sequential treatment assignment with balancing for
  prognostic factors in the controlled clinical trial. Biometrics 1975;31:103-115.
- ICH E9, Statistical principles for clinical trials (1998), section 2.3.2: the scheme is documented before
  the trial, the allocation of the next patient is concealed, and the sequence is reproducible.

An allocation is a pure function of (scheme, seed, the previous allocations with the strata each was made
with, this patient's strata): :func:`allocate`. An auditor recomputes every stored allocation from the seed
with :func:`replay`. The history keeps the strata *used at allocation*: a later correction of a
stratification factor changes the patient's data, never the history, so it changes no allocation (the
correction is flagged as a stratification error by the caller).

The random numbers (written out in ``docs/randomisation.md`` so that they can be recomputed with any tool):

- a *stream* is named by a context: ``key = SHA-256(UTF-8 of the JSON array ["sarcotrial.randomisation.v1",
  *context])``, the JSON written without spaces (``separators=(",", ":")``, non-ASCII kept as is); its i-th
  block (i = 0, 1, ...) is ``SHA-256(key || i as 8 bytes big-endian)``, read as a 256-bit big-endian integer;
- ``below(n)``: the next block ``v``, skipped while ``v >= 2**256 - 2**256 % n`` (so every value is equally
  likely), then ``v % n``; ``unit()`` is ``below(2**53) / 2**53``;
- a shuffle is Fisher-Yates: for ``i`` from ``len - 1`` down to 1, swap item ``i`` with item ``below(i + 1)``.

Permuted blocks: each stratum (the patient's level of each factor in the protocol's order, then the site) has
its own stream, context ``["permuted_blocks", seed, [[factor, level], ...]]``, so that allocations in one
stratum do not depend on those in another. Block after block, the stream gives the block's size,
``block_sizes[below(len(block_sizes))]``, then the block: each arm repeated ``size * ratio / sum of ratios``
times, in the protocol's order, shuffled. The k-th patient of a stratum gets the k-th entry of the stratum's
blocks, whatever the other strata hold.

Minimisation (Pocock and Simon 1975, equal ratios): for each arm k, as if the new patient were given k, the
counts of each of the patient's factor levels across the arms (the previous patients with that level, plus
this patient) have an imbalance ``D`` (range: largest minus smallest count; or variance: the mean squared
deviation from their mean), and ``G(k)`` is the sum over the factors of weight x ``D``. The minimising arms are
those with the smallest ``G``. The stream of allocation number n is ``["minimisation", seed, n]``: if every arm
minimises, the arm is ``arms[below(K)]``; otherwise ``u = unit()`` and, if ``u < probability``, the arm is the
``below(m)``-th minimising arm (protocol order), else the ``below(K - m)``-th other arm.

Hand-written: no maintained library implements Pocock-Simon minimisation or varied-block stratification as a
pure function of a stored seed; and an allocation must be recomputable by an auditor from this documented
definition alone, which SHA-256 makes possible in any language where Python's Mersenne Twister seeding and its
``randrange`` internals would not.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Literal, Mapping, Protocol, Sequence

from sarcotrial.errors import InvalidValue

__all__ = [
    "VERSION",
    "SITE",
    "Factor",
    "Scheme",
    "Previous",
    "Allocation",
    "StratumBalance",
    "imbalance",
    "new_seed",
    "scheme_from_protocol",
    "stratify",
    "stratification_errors",
    "allocate",
    "replay",
    "mismatches",
    "simulate",
    "stratum_balance",
    "marginal_balance",
]

#: the name of this definition of the random streams, hashed into every one
VERSION = "sarcotrial.randomisation.v1"
#: the id of the site's factor in a patient's strata
SITE = "site"
Method = Literal["permuted_blocks", "minimisation"]


def new_seed() -> str:
    """A study's secret seed: 128 random bits from the operating system (``secrets``), as 32 hex digits.

    Generated once, at the study's first allocation (services/randomisation.py), and stored encrypted; never derived from a clock or a name."""
    return secrets.token_hex(16)


# --------------------------------------------------------------------------- random streams
class _Stream:
    """The SHA-256 counter stream named by a context (the module docstring defines it)."""

    def __init__(self, *context: Any):
        text = json.dumps([VERSION, *context], ensure_ascii=False, separators=(",", ":"))
        self._key = hashlib.sha256(text.encode("utf-8")).digest()
        self._counter = 0

    def _block(self) -> int:
        digest = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
        self._counter += 1
        return int.from_bytes(digest, "big")

    def below(self, n: int) -> int:
        """A whole number from 0 to ``n - 1``, each equally likely."""
        limit = (1 << 256) - (1 << 256) % n
        while True:
            value = self._block()
            if value < limit:
                return value % n

    def unit(self) -> float:
        """A number in [0, 1) on a grid of 2**-53."""
        return self.below(1 << 53) / (1 << 53)

    def shuffle(self, items: list) -> list:
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
        return items


# --------------------------------------------------------------------------- the scheme
@dataclass(frozen=True)
class Factor:
    """A factor and its levels in order, each with the field values it groups (``{"0": (0,), "1-2": (1, 2)}``).

    ``form`` and ``field`` say where the value is read at enrolment."""

    id: str
    levels: Mapping[str, tuple]
    form: str | None = None
    field: str | None = None

    def level_of(self, value: Any) -> str:
        """The level a field value belongs to (``True`` and ``1`` are different values)."""
        for level, values in self.levels.items():
            if any(type(v) is type(value) and v == value for v in values):
                return level
        raise InvalidValue(self.id, f"is in none of the factor's levels ({_levels_text(self.levels)})", value)


def _levels_text(levels: Mapping[str, tuple]) -> str:
    return "; ".join(f"{level}: {', '.join(map(str, values))}" for level, values in levels.items())


@dataclass(frozen=True)
class Scheme:
    """A protocol's allocation scheme, as the engine reads it.

    ``arms`` and ``ratios`` in the protocol's order; ``block_sizes`` for permuted blocks; ``probability``,
    ``imbalance`` and ``weights`` (by factor id, ``site``; 1 where not named) for minimisation."""

    method: Method
    arms: tuple[str, ...]
    ratios: tuple[int, ...]
    block_sizes: tuple[int, ...] = ()
    factors: tuple[Factor, ...] = ()
    site: bool = False
    probability: float = 1.0
    imbalance: Literal["range", "variance"] = "range"
    weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("permuted_blocks", "minimisation"):
            raise InvalidValue("randomisation.method", "must be permuted_blocks or minimisation", self.method)
        if len(self.arms) < 2 or len(set(self.arms)) != len(self.arms):
            raise InvalidValue("arms", "a randomisation needs at least 2 arms, each id once", list(self.arms))
        if len(self.ratios) != len(self.arms) or any(not isinstance(r, int) or r < 1 for r in self.ratios):
            raise InvalidValue("arms.ratio", "each arm needs a whole-number ratio of at least 1", list(self.ratios))
        ids = [f.id for f in self.factors]
        if len(set(ids)) != len(ids) or SITE in ids:
            raise InvalidValue("randomisation.factors", "factor ids must be unique and not 'site'", ids)
        if self.method == "permuted_blocks":
            if not self.block_sizes or any(not isinstance(s, int) or s < 1 or s % self.total for s in self.block_sizes):
                raise InvalidValue("randomisation.block_sizes", f"each must be a multiple of {self.total}, the sum of "
                                                                "the arms' ratios", list(self.block_sizes))
        else:
            if not 0.5 < self.probability <= 1:
                raise InvalidValue("randomisation.minimisation.probability", "must be greater than 0.5 and at most 1",
                                   self.probability)
            if len(set(self.ratios)) != 1:
                raise InvalidValue("arms.ratio", "minimisation allocates in equal ratios", list(self.ratios))
            if self.imbalance not in ("range", "variance"):
                raise InvalidValue("randomisation.minimisation.imbalance", "must be range or variance", self.imbalance)
            if not self.factor_ids:
                raise InvalidValue("randomisation.factors", "minimisation needs at least one factor, or the site")
            unknown = [name for name in self.weights if name not in self.factor_ids]
            if unknown or any(w <= 0 for w in self.weights.values()):
                raise InvalidValue("randomisation.minimisation.weights", "each names a factor and is above 0",
                                   dict(self.weights))

    @property
    def total(self) -> int:
        """The sum of the arms' ratios: a block holds a multiple of it."""
        return sum(self.ratios)

    @property
    def factor_ids(self) -> tuple[str, ...]:
        """The factors a patient's strata name, in order: the protocol's, then ``site`` if the site is one."""
        return tuple(f.id for f in self.factors) + ((SITE,) if self.site else ())

    def weight(self, factor_id: str) -> Fraction:
        return Fraction(self.weights.get(factor_id, 1))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method,
                               "arms": [{"id": a, "ratio": r} for a, r in zip(self.arms, self.ratios)]}
        if self.method == "permuted_blocks":
            out["block_sizes"] = list(self.block_sizes)
        else:
            out.update(probability=self.probability, imbalance=self.imbalance,
                       weights={name: float(self.weight(name)) for name in self.factor_ids})
        out["factors"] = {f.id: list(f.levels) for f in self.factors}
        out["site"] = self.site
        return out

    def check_strata(self, strata: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        """A patient's strata as ``((factor, level), ...)`` in the scheme's order; refuses a missing or unknown
        factor and a level the factor does not have (a site is any non-empty text)."""
        if not isinstance(strata, Mapping):
            raise InvalidValue("strata", "must be a mapping of factor id to level", strata)
        extra = [name for name in strata if name not in self.factor_ids]
        if extra:
            raise InvalidValue("strata", f"names no factor of the scheme: {', '.join(map(str, extra))} (factors: "
                                         f"{', '.join(self.factor_ids) or 'none'})", show_value=False)
        pairs = []
        for factor in self.factors:
            level = strata.get(factor.id)
            if level is None:
                raise InvalidValue(f"strata.{factor.id}", "is missing: the allocation needs every factor")
            if level not in factor.levels:
                raise InvalidValue(f"strata.{factor.id}", f"must be one of the levels {', '.join(factor.levels)}", level)
            pairs.append((factor.id, level))
        if self.site:
            site = strata.get(SITE)
            if not isinstance(site, str) or not site.strip():
                raise InvalidValue(f"strata.{SITE}", "the site is a stratum: give the patient's site", site)
            pairs.append((SITE, site))
        return tuple(pairs)


def scheme_from_protocol(protocol: Any) -> Scheme:
    """The scheme of a validated protocol (its ``arms``, ``randomisation``, ``forms`` and ``codelists``):
    a code factor without levels has its codelist's codes as levels, a boolean one ``yes`` and ``no``."""
    rand = getattr(protocol, "randomisation", None)
    arms = list(getattr(protocol, "arms", None) or [])
    if not arms:
        raise InvalidValue("protocol", "declares no arms: a single-arm study allocates no one", show_value=False)
    if rand is None:
        raise InvalidValue("protocol", "declares arms but no randomisation section: nothing to allocate",
                           show_value=False)
    factors = []
    for f in rand.factors:
        if f.levels is not None:
            levels = {name: tuple(values) for name, values in f.levels.items()}
        else:
            fld = protocol.form(f.form).field(f.field)
            if fld.type == "boolean":
                levels = {"yes": (True,), "no": (False,)}
            else:
                levels = {code: (code,) for code in protocol.codes(fld.codelist)}
        factors.append(Factor(f.id, levels, form=f.form, field=f.field))
    mini = rand.minimisation
    return Scheme(method=rand.method, arms=tuple(a.id for a in arms), ratios=tuple(a.ratio for a in arms),
                  block_sizes=tuple(rand.block_sizes or ()), factors=tuple(factors), site=rand.site,
                  probability=mini.probability if mini else 1.0, imbalance=mini.imbalance if mini else "range",
                  weights=dict(mini.weights) if mini else {})


def stratify(scheme: Scheme, values: Mapping[str, Any], site: str | None = None) -> dict[str, str]:
    """A patient's strata from the values of the factors' fields (by factor id) and the site."""
    strata = {}
    for factor in scheme.factors:
        if values.get(factor.id) is None:
            raise InvalidValue(factor.field or factor.id, "is missing: the allocation reads it")
        strata[factor.id] = factor.level_of(values[factor.id])
    if scheme.site:
        strata[SITE] = site
    scheme.check_strata(strata)
    return strata


def stratification_errors(scheme: Scheme, used: Mapping[str, str], values: Mapping[str, Any],
                          site: str | None = None) -> dict[str, tuple[str, str]]:
    """The factors whose level, from the patient's values as they stand now (after a correction), is not the
    level the allocation used: ``{factor: (level used, level now)}``. The allocation stands; each entry is a
    stratification error to flag (the analysis by the strata used at randomisation is the protocol's)."""
    now = stratify(scheme, values, site=site)
    return {name: (used.get(name), level) for name, level in now.items() if used.get(name) != level}


# --------------------------------------------------------------------------- allocations
class Allocated(Protocol):
    """A previous allocation as the history keeps it: the strata used then, and the arm given."""

    strata: Mapping[str, str]
    arm: str


@dataclass(frozen=True)
class Previous:
    """A previous allocation: the strata it was made with (never corrected afterwards) and its arm."""

    strata: Mapping[str, str]
    arm: str


@dataclass(frozen=True)
class Allocation:
    """One allocation and how it was made (enough for an auditor to check it by hand).

    Permuted blocks: the stratum's ``block_number`` (from 1), its ``block_size`` and the ``position`` in it.
    Minimisation: ``scores`` (G per arm), the ``minimising`` arms, and ``draw`` (the ``unit()`` compared with
    the probability; ``None`` when every arm minimised and the arm was drawn among all)."""

    number: int
    arm: str
    strata: Mapping[str, str]
    stratum: str
    method: Method
    block_number: int | None = None
    block_size: int | None = None
    position: int | None = None
    scores: Mapping[str, float] | None = None
    minimising: tuple[str, ...] | None = None
    draw: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"number": self.number, "arm": self.arm, "strata": dict(self.strata), "stratum": self.stratum,
               "method": self.method}
        if self.method == "permuted_blocks":
            out.update(block_number=self.block_number, block_size=self.block_size, position=self.position)
        else:
            out.update(scores=dict(self.scores or {}), minimising=list(self.minimising or ()), draw=self.draw)
        return out


def _label(pairs: Iterable[tuple[str, str]]) -> str:
    text = ", ".join(f"{name}={level}" for name, level in pairs)
    return text or "all patients"


@dataclass
class _Blocks:
    stream: _Stream
    block: list[str] = field(default_factory=list)
    number: int = 0
    position: int = 0


class _Engine:
    """The state the history leaves: per stratum, its blocks; per factor level, its counts by arm."""

    def __init__(self, scheme: Scheme, seed: str):
        if not isinstance(seed, str) or not seed:
            raise InvalidValue("seed", "must be a non-empty text (a study's seed: 32 hex digits)", seed)
        self.scheme, self.seed = scheme, seed
        self.count = 0
        self.strata_blocks: dict[tuple, _Blocks] = {}
        self.level_counts: dict[tuple[str, str], dict[str, int]] = {}

    def next(self, strata: Mapping[str, Any]) -> Allocation:
        """The allocation the next patient with these strata gets (nothing is recorded)."""
        pairs = self.scheme.check_strata(strata)
        number = self.count + 1
        if self.scheme.method == "permuted_blocks":
            blocks = self._current_block(pairs)
            return Allocation(number, blocks.block[blocks.position], dict(pairs), _label(pairs), "permuted_blocks",
                              block_number=blocks.number, block_size=len(blocks.block), position=blocks.position + 1)
        return self._minimise(number, pairs)

    def record(self, strata: Mapping[str, Any], arm: str) -> None:
        """Take a previous allocation into the state (with the arm it was given)."""
        pairs = self.scheme.check_strata(strata)
        if arm not in self.scheme.arms:
            raise InvalidValue("history.arm", f"must be one of the arms {', '.join(self.scheme.arms)}", arm)
        self.count += 1
        if self.scheme.method == "permuted_blocks":
            self._current_block(pairs).position += 1
        else:
            for pair in pairs:
                counts = self.level_counts.setdefault(pair, dict.fromkeys(self.scheme.arms, 0))
                counts[arm] += 1

    def _current_block(self, pairs: tuple[tuple[str, str], ...]) -> _Blocks:
        """The stratum's blocks with a place left in the current one: the next block is drawn from the
        stratum's stream when the last one is full (the same draw whether allocating or recording)."""
        blocks = self.strata_blocks.get(pairs)
        if blocks is None:
            blocks = self.strata_blocks[pairs] = _Blocks(_Stream("permuted_blocks", self.seed,
                                                                 [list(p) for p in pairs]))
        if blocks.position >= len(blocks.block):
            blocks.block, blocks.number, blocks.position = self._new_block(blocks.stream), blocks.number + 1, 0
        return blocks

    def _new_block(self, stream: _Stream) -> list[str]:
        sizes = self.scheme.block_sizes
        size = sizes[stream.below(len(sizes))]
        per = size // self.scheme.total
        block = [arm for arm, ratio in zip(self.scheme.arms, self.scheme.ratios) for _ in range(ratio * per)]
        return stream.shuffle(block)

    def _minimise(self, number: int, pairs: tuple[tuple[str, str], ...]) -> Allocation:
        scheme = self.scheme
        scores: dict[str, Fraction] = {}
        for arm in scheme.arms:
            total = Fraction(0)
            for pair in pairs:
                counts = dict(self.level_counts.get(pair) or dict.fromkeys(scheme.arms, 0))
                counts[arm] += 1
                total += scheme.weight(pair[0]) * _imbalance(list(counts.values()), scheme.imbalance)
            scores[arm] = total
        best = min(scores.values())
        minimising = tuple(a for a in scheme.arms if scores[a] == best)
        others = [a for a in scheme.arms if scores[a] != best]
        stream = _Stream("minimisation", self.seed, number)
        draw = None
        if not others:
            arm = scheme.arms[stream.below(len(scheme.arms))]
        else:
            draw = stream.unit()
            arm = minimising[stream.below(len(minimising))] if draw < scheme.probability \
                else others[stream.below(len(others))]
        return Allocation(number, arm, dict(pairs), _label(pairs), "minimisation",
                          scores={a: float(s) for a, s in scores.items()}, minimising=minimising, draw=draw)


def _imbalance(counts: list[int], measure: str) -> Fraction:
    """Pocock and Simon's D: the range of the counts, or their variance (mean squared deviation)."""
    if measure == "range":
        return Fraction(max(counts) - min(counts))
    mean = Fraction(sum(counts), len(counts))
    return sum(((c - mean) ** 2 for c in counts), Fraction(0)) / len(counts)


def allocate(scheme: Scheme, seed: str, history: Sequence[Allocated], strata: Mapping[str, Any]) -> Allocation:
    """The arm of the next patient, given the study's seed, every previous allocation in order (each with the
    strata it was made with) and this patient's strata (factor id to level; ``site`` to the site)."""
    engine = _Engine(scheme, seed)
    for previous in history:
        engine.record(previous.strata, previous.arm)
    return engine.next(strata)


def replay(scheme: Scheme, seed: str, history: Sequence[Allocated]) -> list[str]:
    """The arm each stored allocation should have, recomputed from the seed: the auditor's check. Each one is
    computed from the allocations stored before it (as it was made), so a difference points at one entry."""
    engine = _Engine(scheme, seed)
    arms = []
    for previous in history:
        arms.append(engine.next(previous.strata).arm)
        engine.record(previous.strata, previous.arm)
    return arms


def mismatches(scheme: Scheme, seed: str, history: Sequence[Allocated]) -> list[int]:
    """The allocation numbers (from 1) whose stored arm is not the one the seed gives: none, for a sound study."""
    expected = replay(scheme, seed, history)
    return [i for i, (previous, arm) in enumerate(zip(history, expected), start=1) if previous.arm != arm]


def simulate(scheme: Scheme, seed: str, patients: int, sites: int = 1) -> list[Allocation]:
    """The allocations a fresh study with this seed makes for ``patients`` simulated patients whose strata are
    drawn at random, each factor's level uniformly among its levels and the site among ``sites`` sites
    (``S01``, ``S02``, ...), from the stream ``["simulation", seed]``, apart from the allocation streams."""
    if not isinstance(patients, int) or isinstance(patients, bool) or patients < 1:
        raise InvalidValue("patients", "must be a whole number of at least 1", patients)
    if not isinstance(sites, int) or isinstance(sites, bool) or sites < 1:
        raise InvalidValue("sites", "must be a whole number of at least 1", sites)
    engine = _Engine(scheme, seed)
    draws = _Stream("simulation", seed)
    width = max(2, len(str(sites)))
    out = []
    for _ in range(patients):
        strata = {f.id: list(f.levels)[draws.below(len(f.levels))] for f in scheme.factors}
        if scheme.site:
            strata[SITE] = f"S{draws.below(sites) + 1:0{width}d}"
        allocation = engine.next(strata)
        engine.record(strata, allocation.arm)
        out.append(allocation)
    return out


# --------------------------------------------------------------------------- balance
@dataclass(frozen=True)
class StratumBalance:
    """The allocations of one stratum (or one factor level): counts by arm, and the largest imbalance seen
    after any allocation, ``max over arms of n/ratio - min over arms of n/ratio`` (for 1:1, the difference
    between the arms' counts)."""

    stratum: str
    n: int
    counts: Mapping[str, int]
    max_imbalance: float

    def as_dict(self) -> dict[str, Any]:
        return {"stratum": self.stratum, "n": self.n, "counts": dict(self.counts), "max_imbalance": self.max_imbalance}


def imbalance(scheme: Scheme, counts: Mapping[str, int]) -> Fraction:
    """``max n/ratio - min n/ratio`` over the arms: 0 when the counts are in the allocation ratio."""
    scaled = [Fraction(counts.get(a, 0), r) for a, r in zip(scheme.arms, scheme.ratios)]
    return max(scaled) - min(scaled)


def _balance(scheme: Scheme, keyed: Iterable[tuple[str, str]]) -> list[StratumBalance]:
    counts: dict[str, dict[str, int]] = {}
    worst: dict[str, Fraction] = {}
    for key, arm in keyed:
        c = counts.setdefault(key, dict.fromkeys(scheme.arms, 0))
        c[arm] += 1
        worst[key] = max(worst.get(key, Fraction(0)), imbalance(scheme, c))
    return [StratumBalance(key, sum(c.values()), c, float(worst[key])) for key, c in sorted(counts.items())]


def stratum_balance(scheme: Scheme, allocations: Sequence[Allocation]) -> list[StratumBalance]:
    """Per stratum (the strata permuted blocks balance within), in the order of the stratum labels."""
    return _balance(scheme, ((a.stratum, a.arm) for a in allocations))


def marginal_balance(scheme: Scheme, allocations: Sequence[Allocation]) -> list[StratumBalance]:
    """Per level of each factor (the margins minimisation balances), factor by factor."""
    out = []
    for factor_id in scheme.factor_ids:
        out.extend(_balance(scheme, ((f"{factor_id}={a.strata[factor_id]}", a.arm) for a in allocations)))
    return out
