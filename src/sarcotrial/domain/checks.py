"""Cross-form edit checks, read from the protocol file and evaluated on a patient's data.

A check compares one field of a form (every instance of it, or those whose other fields match
``when``) with a reference value from another form (its first or last instance, filtered by
``where``): ``lt``, ``le``, ``eq``, ``ne``, ``ge``, ``gt``, or ``within_days`` (the value falls
``min_days`` to ``max_days`` days after the reference). This is the shape of OpenClinica's rules
and REDCap's data quality rules, written as data so that each protocol orders its own pathway and
a clinician can read the rule in the protocol file. A comparison with a missing value (not
entered yet, or a missing-data code) is not judged: the check runs again when the value arrives.

Pure functions: the services decide what a violation does (a hard check refuses the save, a soft
one opens a query on the checked field).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, Protocol as TypingProtocol

OPERATORS = {"lt": ("<", lambda a, b: a < b), "le": ("<=", lambda a, b: a <= b), "eq": ("=", lambda a, b: a == b),
             "ne": ("!=", lambda a, b: a != b), "ge": (">=", lambda a, b: a >= b), "gt": (">", lambda a, b: a > b)}


class Ref(TypingProtocol):
    form: str
    field: str
    instance: str
    where: Mapping[str, Any]


class CheckSpec(TypingProtocol):
    id: str
    kind: str
    text: str
    field: Ref
    op: str
    than: Ref
    min_days: int | None
    max_days: int | None
    when: Mapping[str, Any]


@dataclass(frozen=True)
class Instance:
    """One instance of a form: a key the caller knows it by (a CRF instance id) and its values."""

    key: Hashable
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    check_id: str
    kind: str          # hard / soft
    form: str
    field: str
    key: Hashable      # the checked instance
    value: Any
    message: str


def _matches(values: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    for name, wanted in where.items():
        value = values.get(name)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def _comparable(value: Any) -> Any:
    return value.date() if isinstance(value, dt.datetime) else value


def reference_value(ref: Ref, instances: Iterable[Instance]) -> Any:
    """The reference a check compares with: the smallest (``first``) or largest (``last``) matching value."""
    values = [_comparable(i.values.get(ref.field)) for i in instances if _matches(i.values, ref.where)]
    values = [v for v in values if v is not None]
    if not values:
        return None
    return min(values) if ref.instance in ("first", "each") else max(values)


def _show(value: Any) -> str:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def evaluate(check: CheckSpec, instances_by_form: Mapping[str, Iterable[Instance]]) -> list[Violation]:
    """Every instance of the checked form that breaks the check."""
    reference = reference_value(check.than, instances_by_form.get(check.than.form, ()))
    if reference is None:
        return []
    out = []
    than = f"{check.than.form}.{check.than.field}"
    candidates = [(i, value) for i in instances_by_form.get(check.field.form, ())
                  if _matches(i.values, check.field.where) and _matches(i.values, check.when)
                  and (value := _comparable(i.values.get(check.field.field))) is not None]
    if check.field.instance in ("first", "last") and candidates:
        # the checked field's first or last instance by its value (the first cycle's date), not every instance
        pick = min if check.field.instance == "first" else max
        candidates = [pick(candidates, key=lambda pair: pair[1])]
    for instance, value in candidates:
        if check.op == "within_days":
            days = (value - reference).days
            if check.min_days <= days <= check.max_days:
                continue
            detail = f"{days} days after {than} ({_show(reference)}); expected {check.min_days} to {check.max_days}"
        else:
            symbol, test = OPERATORS[check.op]
            if test(value, reference):
                continue
            detail = f"must be {symbol} {than} ({_show(reference)})"
        out.append(Violation(check.id, check.kind, check.field.form, check.field.field, instance.key, value,
                             f"{check.text}: {detail} [check {check.id}]"))
    return out
