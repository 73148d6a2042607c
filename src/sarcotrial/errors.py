"""Errors a user sees.

Every refusal names the field and the rule it broke, so the CLI (and later the web application)
can print one clear line instead of a traceback.
"""

from __future__ import annotations

import re


class SarcoTrialError(Exception):
    """Base class of every error SarcoTrial reports to a user."""


class InvalidValue(SarcoTrialError, ValueError):
    """A value broke a rule: names the field, the rule and, where useful, the value given."""

    def __init__(self, field: str, rule: str, value: object = None, *, show_value: bool = True):
        self.field = field
        self.rule = rule
        self.value = value
        text = f"{field}: {rule}"
        if show_value and value is not None:
            text += f" (got {value!r})"
        super().__init__(text)


class InvalidValues(InvalidValue):
    """Several values of one document broke rules: every problem at once, one ``field: rule`` line each,
    so that a file with four mistakes needs one correction, not four runs. ``problems`` holds them in
    order; ``field``, ``rule`` and ``value`` are the first's (a caller showing one error beside one field
    still can)."""

    def __init__(self, problems: list[InvalidValue], where: str | None = None):
        if not problems:
            raise ValueError("InvalidValues needs at least one problem")
        self.problems = list(problems)
        first = self.problems[0]
        self.field, self.rule, self.value = first.field, first.rule, first.value
        count = f"{len(self.problems)} problems" + (f" in {where}" if where else "")
        ValueError.__init__(self, "\n".join([count + ":"] + [f"  {p}" for p in self.problems]))


class AccessDenied(SarcoTrialError):
    """The person is not signed in, or their account may not do this (nothing was written)."""


DATE_RULE = "must be a date written YYYY-MM-DD"
_WRITTEN_AS_A_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def date_rule(text: object) -> str:
    """The rule a text broke as a date; one written as YYYY-MM-DD that is no day of the calendar (2026-02-30)
    is told so, rather than told how to write it."""
    if isinstance(text, str) and _WRITTEN_AS_A_DATE.fullmatch(text):
        return f"{DATE_RULE}: {text.strip()} is no day of the calendar"
    return DATE_RULE
