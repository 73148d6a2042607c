"""Tumour response by RECIST 1.1: time point responses and best overall response.

Standard: Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in solid
tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45(2):228-247.
doi:10.1016/j.ejca.2008.10.026. Section numbers below are the paper's. Clarifications of the RECIST
Working Group published with the guideline (recist.eortc.org, "Questions and clarifications") are
cited as "RECIST FAQ" with their title.

What is encoded:

- Baseline (sections 3.1, 4.2). A target lesion must be measurable: longest diameter >= 10 mm, a
  lymph node >= 15 mm in short axis (nodes are always measured by their short axis). At most five
  target lesions in all and two per organ; all lymph nodes count as one organ (RECIST FAQ "Two
  target lesions"). Non-target lesions are followed as present, absent or unequivocal progression.
- Target response (4.3.1, 4.3.2). The sum of diameters adds the longest diameters and the nodes'
  short axes. CR: every non-nodal target lesion has disappeared and every target node is < 10 mm in
  short axis, so the sum may be above 0 at CR. PR: a decrease of at least 30 % from the baseline
  sum. PD: an increase of at least 20 % over the smallest sum on study (the nadir, baseline
  included) that is also at least 5 mm. SD: neither. A lesion "too small to measure" counts 5 mm
  (0 mm if it has disappeared). A target not assessed makes the target response NE, unless the
  lesions measured already make PD (4.4.2, the paper's 50 mm -> 80 mm example).
- Non-target response (4.3.3): CR when every lesion is absent (nodes < 10 mm), PD on unequivocal
  progression, NE when a lesion is not assessed, NON-CR/NON-PD otherwise. Tumour markers are not
  modelled: a protocol that uses them must record them in the non-target status.
- New lesions (4.3.5): a new lesion makes PD. An equivocal one does not, at that time point; if a
  later assessment shows a definite new lesion, progression is dated at the first scan of the
  uninterrupted run of equivocal findings just before it ("If repeat scans confirm there is
  definitely a new lesion, then progression should be declared using the date of the initial
  scan"): that time point's overall response becomes PD.
- Disease after a complete response (Table 3, footnote a; RECIST FAQ "Does a new lesion always
  result in PD?" and "Abnormal lymph node"): once the overall response was CR, the reappearance of a
  non-nodal lesion (target measured > 0, or non-target present) is PD; a node counts as reappeared
  only at >= 10 mm short axis (target) or by unequivocal progression (non-target).
- Overall response per time point: Table 1 (target disease, with or without non-target disease)
  and Table 2 (non-target disease only), kept below as data. New lesions not assessed at a time
  point make it NE unless it is PD on other grounds (4.4.2: an incomplete assessment is NE).
- Best overall response (4.4.3, 4.6.1, Table 3). Time points after the first PD are ignored.
  Without confirmation it is the best time point response. With confirmation a CR needs a later CR
  at least ``confirmation_min_days`` after it (assessments between must be CR or NE), a PR a later
  PR or CR (those between PR, CR or NE); a CR followed by a PR is a confirmed PR (Table 3: "SD, PD
  or PR"; footnote a: the first CR was then a PR), an SD after a CR counts as progression (Table 3
  "CR, SD: SD provided minimum criteria for SD duration met, otherwise, PD"). SD (NON-CR/NON-PD
  with non-target disease only) needs one time point at least ``sd_min_days`` after the origin
  (4.6.1; the protocol sets it, "in general not less than 6-8 weeks"); otherwise the best response
  is PD if progression followed, else NE.

Everything is hand-written: RECIST is a handful of rules on sums and tables, no maintained Python
library implements RECIST 1.1 with its confirmation rules, and the domain core imports nothing but
the standard library. Arithmetic is exact (fractions), so 100 mm -> 70 mm is exactly -30 %.

The rules take dataclasses, not a document: :func:`parse_recist_document` turns the JSON document of
``sarcotrial rules recist`` into them, and other callers (forms stored in the database) build them
directly. Every refusal is an :class:`~sarcotrial.errors.InvalidValue` naming the field by a
JSON-path-like name such as ``assessments[2].measurements.L1``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from numbers import Real
from typing import Any, Literal, Mapping, Sequence, Union

from sarcotrial.errors import InvalidValue, date_rule

__all__ = [
    "CR", "PR", "SD", "PD", "NE", "NON_CR_NON_PD", "TOO_SMALL", "RESPONSES",
    "NON_TARGET_STATUSES", "TABLE_1", "TABLE_2",
    "Lesion", "Assessment", "TimepointResponse", "BestOverallResponse",
    "target_response", "non_target_response", "overall_response",
    "check_recist_data", "recist_timepoints", "best_overall_response", "parse_recist_document",
]

CR, PR, SD, PD, NE = "CR", "PR", "SD", "PD", "NE"
NON_CR_NON_PD = "NON-CR/NON-PD"
RESPONSES: tuple[str, ...] = (CR, PR, SD, NON_CR_NON_PD, PD, NE)
TOO_SMALL = "TS"
"""A target lesion present but too small to measure: counted as 5 mm (section 4.3.2)."""
TOO_SMALL_MM = Fraction(5)

PRESENT, ABSENT, UNEQUIVOCAL_PROGRESSION = "present", "absent", "unequivocal-progression"
NON_TARGET_STATUSES: tuple[str, ...] = (PRESENT, ABSENT, UNEQUIVOCAL_PROGRESSION)
EQUIVOCAL = "equivocal"

MAX_TARGETS = 5
MAX_TARGETS_PER_ORGAN = 2
MIN_MEASURABLE_MM = Fraction(10)
MIN_MEASURABLE_NODE_MM = Fraction(15)
NORMAL_NODE_BELOW_MM = Fraction(10)
NODE_ORGAN = "lymph nodes"

Measurement = Union[Real, Literal["TS"], None]
NewLesions = Union[bool, Literal["equivocal"], None]

# --- Tables 1 and 2 of the paper, as published -------------------------------------------------
_ANY_TARGET = frozenset({CR, PR, SD, PD, NE})
_ANY_NON_TARGET = frozenset({CR, NON_CR_NON_PD, PD, NE})
_NON_PD = frozenset({CR, NON_CR_NON_PD})
_NON_PD_OR_NE = frozenset({CR, NON_CR_NON_PD, NE})

TABLE_1: tuple[tuple[frozenset, frozenset, frozenset, str], ...] = (
    # target lesions,        non-target lesions,       new lesions,                 overall
    (frozenset({CR}), frozenset({CR}), frozenset({False}), CR),
    (frozenset({CR}), frozenset({NON_CR_NON_PD}), frozenset({False}), PR),
    (frozenset({CR}), frozenset({NE}), frozenset({False}), PR),                   # "not evaluated"
    (frozenset({PR}), _NON_PD_OR_NE, frozenset({False}), PR),                     # "non-PD or not all evaluated"
    (frozenset({SD}), _NON_PD_OR_NE, frozenset({False}), SD),
    (frozenset({NE}), _NON_PD_OR_NE, frozenset({False}), NE),                     # "not all evaluated", "non-PD" (*)
    (frozenset({PD}), _ANY_NON_TARGET, frozenset({True, False}), PD),
    (_ANY_TARGET, frozenset({PD}), frozenset({True, False}), PD),
    (_ANY_TARGET, _ANY_NON_TARGET, frozenset({True}), PD),
)
"""Table 1, time point response with target disease. (*) The paper's row reads "non-PD"; a target
NE with non-target NE is also NE (nothing was fully evaluated), which the printed table leaves out.
With no non-target lesion at all, the non-target column is read as CR (no non-target disease)."""

TABLE_2: tuple[tuple[frozenset, frozenset, str], ...] = (
    (frozenset({CR}), frozenset({False}), CR),
    (frozenset({NON_CR_NON_PD}), frozenset({False}), NON_CR_NON_PD),
    (frozenset({NE}), frozenset({False}), NE),                                    # "not all evaluated"
    (frozenset({PD}), frozenset({True, False}), PD),                              # "unequivocal PD"
    (_ANY_NON_TARGET, frozenset({True}), PD),
)
"""Table 2, time point response with non-target disease only."""


# --- data --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lesion:
    """A lesion chosen at baseline. ``node``: a lymph node (measured by its short axis)."""

    id: str
    kind: Literal["target", "non-target"]
    node: bool = False
    organ: str | None = None

    @property
    def is_target(self) -> bool:
        return self.kind == "target"


@dataclass(frozen=True)
class Assessment:
    """One tumour assessment (a scan). ``measurements`` maps target lesion ids to mm (longest
    diameter; short axis for nodes), ``"TS"`` (too small to measure) or None (not assessed);
    ``non_target`` maps non-target lesion ids to a status of :data:`NON_TARGET_STATUSES` or None.
    A lesion missing from either mapping was not assessed. ``new_lesions``: True, False,
    ``"equivocal"`` or None (not assessed)."""

    date: dt.date
    baseline: bool = False
    measurements: Mapping[str, Measurement] = field(default_factory=dict)
    non_target: Mapping[str, str | None] = field(default_factory=dict)
    new_lesions: NewLesions = False


@dataclass(frozen=True)
class TimepointResponse:
    """The response at one assessment. At baseline only ``sum_mm`` is set. ``target`` is None with
    no target lesion, ``non_target`` None with no non-target lesion; ``sum_mm`` is None when a
    target lesion was not assessed. ``note`` explains a response that the figures alone do not."""

    date: dt.date
    baseline: bool
    sum_mm: float | None
    target: str | None
    non_target: str | None
    new_lesions: NewLesions
    overall: str | None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The keys of ``sarcotrial rules recist --json``."""
        return {"date": self.date.isoformat(), "baseline": self.baseline, "sum_mm": self.sum_mm,
                "target": self.target, "non_target": self.non_target, "overall": self.overall}


@dataclass(frozen=True)
class BestOverallResponse:
    """Best overall response, the date it was first observed (None for NE), and for CR and PR
    whether a confirming assessment exists (None for the other responses)."""

    response: str
    date: dt.date | None
    confirmed: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {"response": self.response, "date": self.date.isoformat() if self.date else None,
                "confirmed": self.confirmed}


# --- the rules, one time point at a time -------------------------------------------------------
def _mm(value: Measurement) -> Fraction | None:
    if value is None:
        return None
    if value == TOO_SMALL:
        return TOO_SMALL_MM
    return Fraction(Decimal(str(value)))


def _is_pd(total: Fraction, nadir: Fraction) -> bool:
    """Section 4.3.1: >= 20 % over the nadir and >= 5 mm absolute."""
    increase = total - nadir
    return increase * 5 >= nadir and increase >= 5


def target_response(lesions: Sequence[Lesion], measurements: Mapping[str, Measurement], *, baseline_sum: Fraction,
                    nadir: Fraction, after_cr: bool = False) -> tuple[str, Fraction | None, str | None]:
    """Target lesion response (section 4.3.1) with the sum of diameters, or None if incomplete.

    ``baseline_sum`` is the PR reference, ``nadir`` the smallest sum before this time point
    (baseline included), ``after_cr`` whether the last evaluable overall response was CR. Returns
    (response, sum, note)."""
    values = {lesion.id: _mm(measurements.get(lesion.id)) for lesion in lesions}
    known = {k: v for k, v in values.items() if v is not None}
    by_id = {lesion.id: lesion for lesion in lesions}

    def reappeared(lesion_id: str, value: Fraction) -> bool:
        return value >= NORMAL_NODE_BELOW_MM if by_id[lesion_id].node else value > 0

    if after_cr:
        back = sorted(k for k, v in known.items() if reappeared(k, v))
        if back:
            return PD, (sum(known.values(), Fraction(0)) if len(known) == len(values) else None), \
                f"disease after CR: {', '.join(back)} reappeared (Table 3 note a)"
    if len(known) < len(values):
        missing = sorted(k for k, v in values.items() if v is None)
        partial = sum(known.values(), Fraction(0))
        if _is_pd(partial, nadir):
            return PD, None, (f"PD on the lesions measured ({_fmt(partial)} mm against a nadir of {_fmt(nadir)} mm) "
                              f"although {', '.join(missing)} not assessed (section 4.4.2)")
        return NE, None, f"{', '.join(missing)} not assessed"
    total = sum(known.values(), Fraction(0))
    if all((v < NORMAL_NODE_BELOW_MM) if by_id[k].node else v == 0 for k, v in known.items()):
        note = None
        if total > 0:
            note = f"CR with a sum of {_fmt(total)} mm: target nodes below 10 mm short axis (section 4.3.2)"
        return CR, total, note
    if _is_pd(total, nadir):
        return PD, total, None
    if total * 10 <= baseline_sum * 7:
        return PR, total, None
    return SD, total, None


def non_target_response(lesions: Sequence[Lesion], statuses: Mapping[str, str | None], *,
                        after_cr: bool = False) -> tuple[str, str | None]:
    """Non-target response (section 4.3.3): (response, note)."""
    given = {lesion.id: statuses.get(lesion.id) for lesion in lesions}
    if any(s == UNEQUIVOCAL_PROGRESSION for s in given.values()):
        return PD, None
    if after_cr:
        back = sorted(lesion.id for lesion in lesions if not lesion.node and given[lesion.id] == PRESENT)
        if back:
            return PD, f"disease after CR: {', '.join(back)} reappeared (Table 3 note a)"
    if any(s is None for s in given.values()):
        return NE, None
    if all(s == ABSENT for s in given.values()):
        return CR, None
    return NON_CR_NON_PD, None


def overall_response(target: str | None, non_target: str | None, new_lesions: NewLesions) -> str:
    """Overall time point response from Table 1 (target disease) or Table 2 (non-target only).

    ``target`` None: no target disease (Table 2). ``non_target`` None: no non-target disease (read
    as CR). An equivocal new lesion reads as "no" (section 4.3.5); new lesions not assessed (None)
    give NE unless the time point is PD anyway."""
    if new_lesions is None:
        result = overall_response(target, non_target, False)
        return PD if result == PD else NE
    new = new_lesions is True
    if target is None:
        if non_target is None:
            raise InvalidValue("lesions", "at least one target or non-target lesion is needed")
        for nt, nl, overall in TABLE_2:
            if non_target in nt and new in nl:
                return overall
    else:
        nt_value = CR if non_target is None else non_target
        for t, nt, nl, overall in TABLE_1:
            if target in t and nt_value in nt and new in nl:
                return overall
    raise InvalidValue("response", "not a RECIST 1.1 response combination", (target, non_target, new_lesions))


# --- checks ------------------------------------------------------------------------------------
def _number_ok(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value)) and value >= 0


def _new_lesions_ok(value: object) -> bool:
    return value is None or isinstance(value, bool) or value == EQUIVOCAL


def check_recist_data(lesions: Sequence[Lesion], assessments: Sequence[Assessment]) -> None:
    """Refuse lesions and assessments that break RECIST 1.1's baseline rules or name unknown lesions."""
    if not lesions:
        raise InvalidValue("lesions", "at least one target or non-target lesion is needed")
    seen: set[str] = set()
    per_organ: dict[str, list[str]] = {}
    for lesion in lesions:
        where = f"lesions.{lesion.id}"
        if not isinstance(lesion.id, str) or not lesion.id.strip():
            raise InvalidValue("lesions", "a lesion id must be a non-empty text", lesion.id)
        if lesion.id in seen:
            raise InvalidValue(where, "the lesion is declared twice")
        seen.add(lesion.id)
        if lesion.kind not in ("target", "non-target"):
            raise InvalidValue(f"{where}.kind", "must be 'target' or 'non-target'", lesion.kind)
        if lesion.is_target:
            organ = NODE_ORGAN if lesion.node else (lesion.organ or "").strip().lower()
            if organ:
                per_organ.setdefault(organ, []).append(lesion.id)
    targets = [lesion for lesion in lesions if lesion.is_target]
    if len(targets) > MAX_TARGETS:
        raise InvalidValue("lesions", f"at most {MAX_TARGETS} target lesions in all (RECIST 1.1 section 4.2)",
                           len(targets))
    for organ, ids in per_organ.items():
        if len(ids) > MAX_TARGETS_PER_ORGAN:
            rule = (f"at most {MAX_TARGETS_PER_ORGAN} target lesions per organ (RECIST 1.1 section 4.2)"
                    + ("; all lymph nodes count as one organ" if organ == NODE_ORGAN else ""))
            raise InvalidValue(f"lesions.{ids[MAX_TARGETS_PER_ORGAN]}.organ", rule, organ)
    if not assessments:
        raise InvalidValue("assessments", "at least the baseline assessment is needed")
    by_id = {lesion.id: lesion for lesion in lesions}
    previous: dt.date | None = None
    for i, a in enumerate(assessments):
        where = f"assessments[{i}]"
        if not isinstance(a.date, dt.date):
            raise InvalidValue(f"{where}.date", "must be a date", a.date)
        if previous is not None and a.date <= previous:
            raise InvalidValue(f"{where}.date", "must be later than the previous assessment's date", a.date.isoformat())
        previous = a.date
        if a.baseline != (i == 0):
            raise InvalidValue(f"{where}.baseline", "the first assessment, and only it, is the baseline", a.baseline)
        for lesion_id, value in a.measurements.items():
            f = f"{where}.measurements.{lesion_id}"
            lesion = by_id.get(lesion_id)
            if lesion is None:
                raise InvalidValue(f, "not a declared lesion")
            if not lesion.is_target:
                raise InvalidValue(f, f"{lesion_id} is a non-target lesion: give its status in non_target, not a size")
            if value is not None and value != TOO_SMALL and not _number_ok(value):
                raise InvalidValue(f, "must be a size in mm >= 0, 'TS' (too small to measure) or null (not assessed)",
                                   value)
        for lesion_id, status in a.non_target.items():
            f = f"{where}.non_target.{lesion_id}"
            lesion = by_id.get(lesion_id)
            if lesion is None:
                raise InvalidValue(f, "not a declared lesion")
            if lesion.is_target:
                raise InvalidValue(f, f"{lesion_id} is a target lesion: give its size in measurements")
            if status is not None and status not in NON_TARGET_STATUSES:
                raise InvalidValue(f, "must be one of " + ", ".join(NON_TARGET_STATUSES) + " or null", status)
        if not _new_lesions_ok(a.new_lesions):
            raise InvalidValue(f"{where}.new_lesions", "must be true, false, 'equivocal' or null", a.new_lesions)
    base = assessments[0]
    for lesion in targets:
        f = f"assessments[0].measurements.{lesion.id}"
        value = base.measurements.get(lesion.id)
        if value is None or value == TOO_SMALL:
            raise InvalidValue(f, "every target lesion must be measured at baseline", value)
        minimum = MIN_MEASURABLE_NODE_MM if lesion.node else MIN_MEASURABLE_MM
        if _mm(value) < minimum:
            rule = ("a target lymph node must be >= 15 mm in short axis (RECIST 1.1 section 3.1)" if lesion.node else
                    "a target lesion must be measurable, >= 10 mm (RECIST 1.1 section 3.1)")
            raise InvalidValue(f, rule, value)
    for lesion in lesions:
        if not lesion.is_target and base.non_target.get(lesion.id) != PRESENT:
            raise InvalidValue(f"assessments[0].non_target.{lesion.id}", "a non-target lesion is 'present' at baseline",
                               base.non_target.get(lesion.id))
    if base.new_lesions not in (False, None):
        raise InvalidValue("assessments[0].new_lesions", "there are no new lesions at baseline", base.new_lesions)


# --- all time points ---------------------------------------------------------------------------
def _fmt(value: Fraction) -> str:
    return f"{float(value):g}"


def _mm_out(value: Fraction | None) -> float | None:
    if value is None:
        return None
    return int(value) if value.denominator == 1 else float(value)


def recist_timepoints(lesions: Sequence[Lesion], assessments: Sequence[Assessment]) -> list[TimepointResponse]:
    """The response at each assessment, the baseline first (sections 4.3, 4.4.1, Tables 1 and 2)."""
    check_recist_data(lesions, assessments)
    targets = [lesion for lesion in lesions if lesion.is_target]
    non_targets = [lesion for lesion in lesions if not lesion.is_target]
    base = assessments[0]
    baseline_sum = sum((_mm(base.measurements[lesion.id]) for lesion in targets), Fraction(0))
    out = [TimepointResponse(base.date, True, _mm_out(baseline_sum) if targets else None, None, None,
                             base.new_lesions, None)]
    nadir = baseline_sum
    last_evaluable: str | None = None
    for a in assessments[1:]:
        after_cr = last_evaluable == CR
        notes: list[str] = []
        target = total = None
        if targets:
            target, total, note = target_response(targets, a.measurements, baseline_sum=baseline_sum, nadir=nadir,
                                                  after_cr=after_cr)
            notes += [note] if note else []
        non_target = None
        if non_targets:
            non_target, note = non_target_response(non_targets, a.non_target, after_cr=after_cr)
            notes += [note] if note else []
        overall = overall_response(target, non_target, a.new_lesions)
        if a.new_lesions is None:
            notes.append("new lesions not assessed")
        out.append(TimepointResponse(a.date, False, _mm_out(total), target, non_target, a.new_lesions, overall,
                                     "; ".join(notes) or None))
        if total is not None:
            nadir = min(nadir, total)
        if overall != NE:
            last_evaluable = overall
    return _date_back_equivocal_new_lesions(out)


def _date_back_equivocal_new_lesions(points: list[TimepointResponse]) -> list[TimepointResponse]:
    """Section 4.3.5: a definite new lesion after equivocal ones dates PD at the first equivocal scan."""
    points = list(points)
    for i, tp in enumerate(points):
        if tp.new_lesions is not True:
            continue
        j = i
        while j - 1 > 0 and points[j - 1].new_lesions == EQUIVOCAL:
            j -= 1
        for k in range(j, i):
            note = (f"PD dated back to this scan: the equivocal new lesion was confirmed on {tp.date.isoformat()} "
                    "(section 4.3.5)")
            points[k] = replace(points[k], overall=PD, note="; ".join(filter(None, [points[k].note, note])))
    return points


# --- best overall response ---------------------------------------------------------------------
def _confirmed_at(seq: Sequence[tuple[dt.date, str]], i: int, confirming: frozenset, between: frozenset,
                  min_days: int) -> bool:
    start = seq[i][0]
    for day, response in seq[i + 1:]:
        if (day - start).days >= min_days and response in confirming:
            return True
        if response not in between:
            return False
    return False


def _non_negative_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidValue(name, "must be a whole number of days >= 0", value)
    return value


def best_overall_response(timepoints: Sequence[TimepointResponse], *, confirmation: bool, sd_min_days: int,
                          confirmation_min_days: int = 28, origin_date: dt.date | None = None) -> BestOverallResponse:
    """Best overall response (section 4.4.3; with ``confirmation``, section 4.6.1 and Table 3).

    ``sd_min_days``: the protocol's minimum time from ``origin_date`` (default: the baseline
    assessment's date) for SD or NON-CR/NON-PD to count. ``confirmation_min_days``: the minimum
    interval between a CR or PR and the assessment that confirms it (4 weeks in the paper).
    Without confirmation, ``confirmed`` still says whether a CR or PR was confirmed."""
    sd_min_days = _non_negative_int(sd_min_days, "sd_min_days")
    confirmation_min_days = _non_negative_int(confirmation_min_days, "confirmation_min_days")
    if origin_date is None:
        base = [tp for tp in timepoints if tp.baseline]
        if not base:
            raise InvalidValue("origin_date", "give the origin date when there is no baseline time point")
        origin_date = base[0].date
    follow = [tp for tp in timepoints if not tp.baseline]
    for i, tp in enumerate(follow):
        if tp.overall not in RESPONSES:
            raise InvalidValue(f"timepoints[{i}].overall", "must be one of " + ", ".join(RESPONSES), tp.overall)
    target_disease = any(tp.target is not None for tp in follow)
    seq: list[tuple[dt.date, str]] = []
    for tp in follow:
        seq.append((tp.date, tp.overall))
        if tp.overall == PD:
            break  # the best response is taken up to progression

    confirmed_best = _confirmed_best(seq, confirmation_min_days, sd_min_days, origin_date, target_disease)
    if confirmation:
        return confirmed_best
    for level in (CR, PR):
        first = next((day for day, response in seq if response == level), None)
        if first is not None:
            return BestOverallResponse(level, first, confirmed_best.response == level)
    return _stable_or_worse(seq, sd_min_days, origin_date, target_disease)


def _confirmed_best(seq: list[tuple[dt.date, str]], min_days: int, sd_min_days: int, origin: dt.date,
                    target_disease: bool) -> BestOverallResponse:
    # Table 3 "CR, SD": after a CR, stable disease means disease came back: it counts as progression.
    for i, (day, response) in enumerate(seq):
        if response == SD and any(r == CR for _, r in seq[:i]):
            seq = seq[:i] + [(day, PD)]
            break
    for i, (day, response) in enumerate(seq):
        if response == CR and _confirmed_at(seq, i, frozenset({CR}), frozenset({CR, NE}), min_days):
            return BestOverallResponse(CR, day, True)
    for i, (day, response) in enumerate(seq):
        if response in (CR, PR) and _confirmed_at(seq, i, frozenset({CR, PR}), frozenset({CR, PR, NE}), min_days):
            return BestOverallResponse(PR, day, True)
    return _stable_or_worse(seq, sd_min_days, origin, target_disease)


def _stable_or_worse(seq: list[tuple[dt.date, str]], sd_min_days: int, origin: dt.date,
                     target_disease: bool) -> BestOverallResponse:
    for day, response in seq:
        if response in (CR, PR, SD, NON_CR_NON_PD) and (day - origin).days >= sd_min_days:
            return BestOverallResponse(SD if target_disease else NON_CR_NON_PD, day, None)
    if seq and seq[-1][1] == PD:
        return BestOverallResponse(PD, seq[-1][0], None)
    return BestOverallResponse(NE, None, None)


# --- the JSON document -------------------------------------------------------------------------
_LESION_KEYS = {"kind", "node", "organ"}
_ASSESSMENT_KEYS = {"date", "baseline", "measurements", "non_target", "new_lesions"}


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidValue(where, "must be a JSON object", type(value).__name__, show_value=False)
    return value


def _unknown_keys(obj: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise InvalidValue(f"{where}.{extra[0]}", "unknown key (allowed: " + ", ".join(sorted(allowed)) + ")")


def _parse_measurement(value: object, lesion: Lesion | None, where: str) -> Measurement:
    if lesion is None:
        raise InvalidValue(where, "not a declared lesion")
    if isinstance(value, dict):
        _unknown_keys(value, {"mm", "axis"}, where)
        axis = value.get("axis")
        if axis not in ("short", "long", "longest"):
            raise InvalidValue(f"{where}.axis", "must be 'short' or 'long' ('longest' is read as 'long')", axis)
        if lesion.node and axis != "short":
            raise InvalidValue(where, "a lymph node is measured by its short axis, not its long axis "
                                      "(RECIST 1.1 section 3.1)", value)
        if not lesion.node and axis == "short":
            raise InvalidValue(where, "a lesion other than a lymph node is measured by its longest diameter "
                                      "(RECIST 1.1 section 3.1)", value)
        if "mm" not in value:
            raise InvalidValue(f"{where}.mm", "the size in mm is missing")
        value = value["mm"]
        if not _number_ok(value):
            raise InvalidValue(f"{where}.mm", "must be a size in mm >= 0", value)
        return value
    if value is None or value == TOO_SMALL or _number_ok(value):
        return value
    raise InvalidValue(where, "must be a size in mm >= 0, 'TS' (too small to measure), null (not assessed) "
                              "or {\"mm\": ..., \"axis\": ...}", value)


def parse_recist_document(document: object) -> tuple[list[Lesion], list[Assessment]]:
    """The lesions and assessments of a RECIST document (the JSON of ``sarcotrial rules recist``), checked."""
    doc = _object(document, "document")
    _unknown_keys(doc, {"lesions", "assessments"}, "document")
    if "lesions" not in doc:
        raise InvalidValue("lesions", "the document must declare its lesions")
    lesions: list[Lesion] = []
    for lesion_id, spec in _object(doc["lesions"], "lesions").items():
        where = f"lesions.{lesion_id}"
        spec = _object(spec, where)
        _unknown_keys(spec, _LESION_KEYS, where)
        kind = spec.get("kind")
        if kind not in ("target", "non-target"):
            raise InvalidValue(f"{where}.kind", "must be 'target' or 'non-target'", kind)
        node = spec.get("node", False)
        if not isinstance(node, bool):
            raise InvalidValue(f"{where}.node", "must be true or false", node)
        organ = spec.get("organ")
        if organ is not None and (not isinstance(organ, str) or not organ.strip()):
            raise InvalidValue(f"{where}.organ", "must be a non-empty text", organ)
        lesions.append(Lesion(lesion_id, kind, node, organ))
    if not lesions:
        raise InvalidValue("lesions", "at least one target or non-target lesion is needed")
    by_id = {lesion.id: lesion for lesion in lesions}
    raw = doc.get("assessments")
    if not isinstance(raw, list) or not raw:
        raise InvalidValue("assessments", "must be a list of assessments, the baseline first")
    assessments: list[Assessment] = []
    for i, item in enumerate(raw):
        where = f"assessments[{i}]"
        item = _object(item, where)
        _unknown_keys(item, _ASSESSMENT_KEYS, where)
        text = item.get("date")
        try:
            day = dt.date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise InvalidValue(f"{where}.date", date_rule(text), text)
        baseline = item.get("baseline", False)
        if not isinstance(baseline, bool):
            raise InvalidValue(f"{where}.baseline", "must be true or false", baseline)
        measurements = {k: _parse_measurement(v, by_id.get(k), f"{where}.measurements.{k}")
                        for k, v in _object(item.get("measurements", {}), f"{where}.measurements").items()}
        non_target = _object(item.get("non_target", {}), f"{where}.non_target")
        new = item.get("new_lesions")
        if not _new_lesions_ok(new):
            raise InvalidValue(f"{where}.new_lesions", "must be true, false, 'equivocal' or null", new)
        assessments.append(Assessment(day, baseline, measurements, dict(non_target), new))
    check_recist_data(lesions, assessments)
    return lesions, assessments
