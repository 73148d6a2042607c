"""A data file's validation errors as ``path: rule`` lines, in the terms of the file's own reference.

No clinical standard: the wording in which SarcoTrial reports what is wrong with a file a person wrote
(a protocol file, ``docs/protocol-file.md``; a risk-model file, ``docs/risk-models.md``). pydantic checks
the file and names each fault by a Python location and its own English (``forms.0.fields.2.FieldCondition``,
``Input should be a valid integer``); this module names it as the file is written (``forms.pathology
.fields.margin``, ``inputs[2].max``) and words the rule as the file's reference does
(``must be at least 1 (got 0)``), without names of the validation library's internals.

Hand-written because pydantic has no hook to word its errors for the writer of a data file. One
module serves every kind of file; :class:`FileTerms` holds what differs between them: the reference
an unknown key is checked against, the words of the schema's patterns and of its own error types,
the names the schema puts in a location that are not keys of the file, the discriminator values
written in the file, whether list entries are named by their ``id``, and how the permitted values
and the value given are shown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError


class Problems(ValueError):
    """Every problem one check found, each ``(path relative to the checked entry, rule)``: a validator
    names them all, not only the first, and each is reported under its own path in the file."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {rule}" if path else rule for path, rule in problems))


#: the pattern of an identifier (``Field(pattern=IDENTIFIER_PATTERN)``), which every file uses, and its words
IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]*$"
IDENTIFIER_WORDS = {
    IDENTIFIER_PATTERN: "must be an identifier: lower-case letters, digits and _, beginning with a letter"}

_BOUNDS = {"greater_than": "must be greater than {gt}", "greater_than_equal": "must be at least {ge}",
           "less_than": "must be less than {lt}", "less_than_equal": "must be at most {le}"}
_TYPES = {"list_type": "must be a list", "dict_type": "must be a mapping of keys to values",
          "model_type": "must be a mapping of keys to values",
          "model_attributes_type": "must be a mapping of keys to values", "string_type": "must be text",
          "finite_number": "must be a finite number"}
_TYPE_PREFIXES = (("int_", "must be a whole number"), ("float_", "must be a number"), ("bool_", "must be true or false"),
                  ("datetime", "must be a date and time"), ("date", "must be a date written YYYY-MM-DD"))
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_CHOICE = re.compile(r"'([^']*)'|(-?\d+(?:\.\d+)?)")
_KEY_NAME = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)'$")


@dataclass(frozen=True)
class FileTerms:
    """What differs between two kinds of file in the wording of their validation errors."""

    #: where the file's keys are listed, named by the rule of an unknown key
    reference: str
    #: the schema's patterns (``Field(pattern=...)``) in words, by pattern
    patterns: Mapping[str, str] = field(default_factory=dict)
    #: a pattern's words by the key it checks, before ``patterns`` (``metric``: a DVH metric)
    key_patterns: Mapping[str, str] = field(default_factory=dict)
    #: the schema's own error types (a discriminator's ``custom_error_type``) in words
    error_types: Mapping[str, str] = field(default_factory=dict)
    #: names the schema puts in a location that are not keys of the file (a union's member, by name),
    #: besides its validators' (bracketed: ``function-after[...]``), which are never taken for keys
    schema_names: frozenset[str] = frozenset()
    #: whether any capitalised name in a location that is not a key of the file is the name of a class
    capitalised_are_schema_names: bool = False
    #: the values of the discriminator ``kind`` written in the file (``kind: cox``): a location names one once,
    #: right after its entry, where it is not a key of the file
    tags: frozenset[str] = frozenset()
    #: a list entry named by its ``id`` (``forms.pathology``) where it has a unique one, not ``forms[3]``
    entries_by_id: bool = False
    #: the permitted values as pydantic lists them (``'a', 'b' or 'c'``) rather than as ``a, b, c``
    choices_quoted: bool = False
    #: whether the rule of one of pydantic's error types shows the value found (``(got 0)``)
    value_shown: Callable[[str], bool] = lambda kind: True
    #: how a mapping's key that is wrong is named before its rule
    key_rule: str = "key {key} {rule}"
    #: whether that rule shows the value found (the key itself) too
    key_value_shown: bool = False
    #: the schema's exception that carries one entry's problems (each relative path, rule)
    problems_type: type[Exception] = Problems

    def problems(self, exc: ValidationError, data: Any = None) -> list[tuple[str, str]]:
        """pydantic's errors as ``(path, rule)`` pairs, the path as the file ``data`` is written."""
        out: list[tuple[str, str]] = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            key = None
            if "[key]" in loc:  # a mapping's key is wrong, not its value
                at = loc.index("[key]")
                key, loc = loc[at - 1], loc[:at - 1]
            path = self.path(loc, data)
            ctx = error.get("ctx") or {}
            failure = ctx.get("error")
            if error["type"] == "value_error" and isinstance(failure, self.problems_type):
                out += [(join_path(path, rel), rule) for rel, rule in failure.problems]
                continue
            rule = self.rule(error, show_value=key is None or self.key_value_shown)
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                named = _KEY_NAME.match(str(ctx.get("discriminator", "")))
                if named:  # the discriminator is a key of the entry: the fault is that key's
                    path = join_path(path, named.group(1))
            if key is not None:
                rule = self.key_rule.format(key=shown(key), rule=rule)
            out.append((path, rule))
        return out

    def path(self, loc: tuple, data: Any) -> str:
        """A location as the file is written: keys dotted, list entries by id (when unique and
        ``entries_by_id``) or by position, without the names the schema gives its choices."""
        out, current, tag_skipped = "", data, False
        for part in loc:
            if isinstance(part, int):
                name = _entry_id(current, part) if self.entries_by_id else None
                out += f".{name}" if name and out else (name or f"[{part}]")
                current = current[part] if isinstance(current, list) and 0 <= part < len(current) else None
                tag_skipped = False
                continue
            in_data = isinstance(current, dict) and part in current
            if part in self.tags and not tag_skipped and (not in_data or current.get("kind") == part):
                tag_skipped = True  # a union's tag comes once, right after the entry it names
                continue
            if not in_data and (part in self.schema_names or "[" in str(part)
                                or (self.capitalised_are_schema_names and str(part)[:1].isupper())):
                continue  # the kind of entry the schema tried (a class, a validator), not a key of the file
            out += ("." if out else "") + str(part)
            current = current.get(part) if isinstance(current, dict) else None
            tag_skipped = False
        return out

    def rule(self, error: dict, show_value: bool = True) -> str:
        """One validation error's rule, worded as the file's reference words it."""
        kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
        if kind == "missing":
            return "required key is missing"
        if kind == "extra_forbidden":
            return f"unknown key (check its spelling against {self.reference})"
        if kind == "value_error":
            failure = ctx.get("error")
            return str(failure) if failure is not None else error["msg"].removeprefix("Value error, ")
        if kind == "union_tag_not_found":
            return "required key is missing"
        if kind == "literal_error":
            rule = self._one_of(str(ctx.get("expected", ""))) or error["msg"]
        elif kind == "union_tag_invalid":
            rule, given = self._one_of(str(ctx.get("expected_tags", ""))) or error["msg"], ctx.get("tag")
        elif kind in _BOUNDS:
            rule = _BOUNDS[kind].format(**{k: _number(v) for k, v in ctx.items()})
        elif kind == "string_too_short":
            least = ctx.get("min_length")
            rule = "must not be empty" if least == 1 else f"must have at least {least} characters"
        elif kind == "string_too_long":
            rule = f"must have at most {ctx.get('max_length')} characters"
        elif kind == "too_short":
            least = ctx.get("min_length", 1)
            rule = f"must list at least {least} {'entry' if least == 1 else 'entries'}"
        elif kind == "too_long":
            rule = f"must list at most {ctx.get('max_length')} entries"
        elif kind == "string_pattern_mismatch":
            pattern = str(ctx.get("pattern", ""))
            rule = (self.key_patterns.get(str(error["loc"][-1])) if error["loc"] else None) or \
                self.patterns.get(pattern, f"is not written as expected (pattern {pattern})")
        else:
            rule = (self.error_types.get(kind) or _TYPES.get(kind)
                    or next((text for prefix, text in _TYPE_PREFIXES if kind.startswith(prefix)), error["msg"]))
        if show_value and self.value_shown(kind):
            rule += f" (got {shown(given)})"
        return rule

    def _one_of(self, expected: str) -> str:
        """``must be one of ...`` the values pydantic lists as ``expected`` (empty if it lists none)."""
        if self.choices_quoted:
            return f"must be one of {expected}"
        allowed = _CHOICE.findall(expected)
        return "must be one of " + ", ".join(a or b for a, b in allowed) if allowed else ""


def _entry_id(entries: Any, index: int) -> str | None:
    """The ``id`` of a list's entry, where it is an identifier no other entry of the list has."""
    if not isinstance(entries, list) or not 0 <= index < len(entries) or not isinstance(entries[index], dict):
        return None
    entry_id = entries[index].get("id")
    if not isinstance(entry_id, str) or not _IDENTIFIER.match(entry_id):
        return None
    same = sum(isinstance(e, dict) and e.get("id") == entry_id for e in entries)
    return entry_id if same == 1 else None


def join_path(path: str, relative: str) -> str:
    """A path within an entry (``knots[2]``, ``dose.total``) appended to the entry's path."""
    if not relative:
        return path
    if not path:
        return relative
    return path + relative if relative.startswith("[") else f"{path}.{relative}"


def line(path: str, rule: str) -> str:
    """One problem as it is printed: ``path: rule``."""
    return f"{path or '(top level)'}: {rule}"


def shown(value: Any) -> str:
    """A value as it is written in the file."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _number(value: Any) -> Any:
    return f"{value:g}" if isinstance(value, float) else value


_T = TypeVar("_T")


def dedupe(items: Iterable[_T]) -> list[_T]:
    """The items in their order, each once."""
    seen: set = set()
    return [item for item in items if not (item in seen or seen.add(item))]
