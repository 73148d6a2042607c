"""Errors a user sees.

Every refusal names the field and the rule it broke, so the CLI (and later the web application)
can print one clear line instead of a traceback.
"""

from __future__ import annotations


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


class AccessDenied(SarcoTrialError):
    """The person is not signed in, or their account may not do this (nothing was written)."""
