"""Eligibility of a screened patient against a protocol's criteria.

Criteria come from the protocol file as plain conditions: ``{"field": "age_years", "op": "gt",
"value": 18}``, combined with ``{"all": [...]}``, ``{"any": [...]}`` and ``{"not": ...}``.
Evaluation is three-valued (Kleene logic): a condition on a field with no value is *unknown*,
so a missing answer makes a criterion "not evaluable" and never lets a patient through silently.

Per criterion: ``met``, ``not_met`` or ``not_evaluable``. An inclusion criterion must be met; an
exclusion criterion must not be. Overall:

- ``ineligible`` when any inclusion criterion is not met or any exclusion criterion is met
  (decided even if other answers are missing: nothing could make the patient eligible);
- ``not_evaluable`` when no criterion excludes but some cannot be evaluated;
- ``eligible`` only when every criterion was evaluated and passed.

The same engine serves ``sarcotrial screen`` and the database's screening records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

Result = Literal["met", "not_met", "not_evaluable"]
Decision = Literal["eligible", "ineligible", "not_evaluable"]

_SYMBOL = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<=", "in": "in", "not_in": "not in"}


@dataclass(frozen=True)
class CriterionResult:
    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    result: Result
    reason: str

    @property
    def passes(self) -> bool | None:
        """Whether this criterion lets the patient through (``None``: not evaluable)."""
        if self.result == "not_evaluable":
            return None
        return (self.result == "met") == (self.kind == "inclusion")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "text": self.text, "result": self.result,
                "passes": self.passes, "reason": self.reason}


@dataclass(frozen=True)
class EligibilityDecision:
    decision: Decision
    criteria: list[CriterionResult] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """Why the patient is not eligible (or not yet evaluable); empty when eligible."""
        return [c.reason for c in self.criteria if c.passes is not True]

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "eligible": self.decision == "eligible",
                "criteria": [c.as_dict() for c in self.criteria], "reasons": self.reasons}


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if isinstance(actual, dt.date) and isinstance(expected, str):
        expected = dt.date.fromisoformat(expected)
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "gt":
        return actual > expected
    if op == "ge":
        return actual >= expected
    if op == "lt":
        return actual < expected
    if op == "le":
        return actual <= expected
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "is_true":
        return actual is True
    if op == "is_false":
        return actual is False
    raise ValueError(f"unknown operator {op!r}")


def evaluate_condition(condition: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[bool | None, list[str]]:
    """``(True | False | None, facts)``: the condition's value under Kleene logic, and the facts used."""
    if "all" in condition or "any" in condition:
        parts = [evaluate_condition(c, data) for c in condition.get("all") or condition["any"]]
        values = [v for v, _ in parts]
        facts = [f for _, fs in parts for f in fs]
        if "all" in condition:
            value = False if False in values else (None if None in values else True)
        else:
            value = True if True in values else (None if None in values else False)
        return value, facts
    if "not" in condition:
        value, facts = evaluate_condition(condition["not"], data)
        return (None if value is None else not value), facts
    name, op, expected = condition["field"], condition["op"], condition.get("value")
    actual = data.get(name)
    if actual is None:
        return None, [f"{name} is missing"]
    if op in ("is_true", "is_false"):
        fact = f"{name} = {'yes' if actual is True else 'no' if actual is False else actual!r}"
    else:
        fact = f"{name} = {actual} (rule: {_SYMBOL[op]} {expected})"
    try:
        return _compare(op, actual, expected), [fact]
    except TypeError:
        return None, [f"{name} = {actual!r} cannot be compared with {expected!r}"]


def evaluate_criterion(criterion: Mapping[str, Any], data: Mapping[str, Any]) -> CriterionResult:
    value, facts = evaluate_condition(criterion["rule"], data)
    kind, text = criterion["kind"], criterion["text"]
    label = f"{kind.capitalize()} criterion '{text}'"
    if value is None:
        missing = [f for f in facts if f.endswith(" is missing") or "cannot be compared" in f]
        return CriterionResult(criterion["id"], kind, text, "not_evaluable",
                               f"{label} not evaluable: {'; '.join(missing)}")
    result: Result = "met" if value else "not_met"
    verdict = "met" if value else "not met"
    return CriterionResult(criterion["id"], kind, text, result, f"{label} {verdict}: {'; '.join(facts)}")


def assess_eligibility(criteria: Sequence[Mapping[str, Any]], data: Mapping[str, Any]) -> EligibilityDecision:
    """Evaluate every criterion and decide; ``criteria`` as in the protocol file (``id``, ``kind``, ``text``, ``rule``)."""
    if not criteria:
        raise ValueError("a protocol without eligibility criteria cannot decide eligibility")
    results = [evaluate_criterion(c, data) for c in criteria]
    return EligibilityDecision(decide(results), results)


def decide(results: Sequence[CriterionResult]) -> Decision:
    """The overall decision from the criteria's results (the rule of the module's docstring)."""
    passes = [r.passes for r in results]
    if False in passes:
        return "ineligible"
    if None in passes:
        return "not_evaluable"
    return "eligible"
