"""The case report form's lifecycle, as data managers of REDCap, OpenClinica and clinicedc know it.

A CRF instance (patient x visit occurrence x form x repeat instance) moves through

    expected -> entered (incomplete or complete) -> source-verified -> signed -> locked

or is marked *not done* with a reason. The entry status is what the data says (every required
field has a value or a missing-data code: complete; otherwise incomplete); verification,
signature and lock are separate facts laid on top, and the state shown is the furthest one
reached. A change to a value undoes what was laid on that value: the field's verification is
cleared and every signature covering it is voided (21 CFR 11.70: a signature is bound to exactly
the values signed). A lock refuses every change until a user with the right unlocks it, with a
reason.

Pure functions only: the services store what these return.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sarcotrial.errors import InvalidValue

ENTRY_STATUSES = ("expected", "incomplete", "complete", "not_done")
UNSCHEDULED = "unscheduled"


@dataclass(frozen=True)
class VisitRef:
    """A visit occurrence as users write it: ``follow_up_early:3`` (``:1`` may be left out)."""

    visit_id: str
    occurrence: int = 1

    def __str__(self) -> str:
        return self.visit_id if self.occurrence == 1 else f"{self.visit_id}:{self.occurrence}"


def parse_visit_ref(text: str) -> VisitRef:
    match = re.fullmatch(r"\s*([a-z][a-z0-9_]*)\s*(?::\s*(\d+))?\s*", text or "")
    if match is None:
        raise InvalidValue("visit", "write a visit as VISIT or VISIT:N (e.g. follow_up_early:3)", text)
    occurrence = int(match.group(2)) if match.group(2) else 1
    if occurrence < 1:
        raise InvalidValue("visit", "occurrences are numbered from 1", text)
    return VisitRef(match.group(1), occurrence)


def entry_status(required: Iterable[str], data: Mapping[str, Any], missing: Mapping[str, Any]) -> str:
    """``complete`` when every required field has a value or a missing-data code, else ``incomplete``."""
    for field_id in required:
        if data.get(field_id) is None and not missing.get(field_id):
            return "incomplete"
    return "complete"


def entered_fields(data: Mapping[str, Any], missing: Mapping[str, Any]) -> list[str]:
    """The fields that hold a value or a missing-data code: what source-data verification covers."""
    return sorted([k for k, v in data.items() if v is not None] + list(missing))


def fully_verified(entered: Iterable[str], verified: Mapping[str, Any]) -> bool:
    """Every field that holds a value or a missing code has been verified against source."""
    fields = list(entered)
    return bool(fields) and all(f in verified for f in fields)


def lifecycle_state(entry: str, *, verified: bool, signed: bool, locked: bool) -> str:
    """The furthest state a CRF instance has reached (a lock is shown above everything)."""
    if entry not in ENTRY_STATUSES:
        raise ValueError(f"unknown entry status {entry!r}")
    if locked:
        return "locked"
    if entry in ("expected", "not_done"):
        return entry
    if signed:
        return "signed"
    if verified and entry == "complete":
        return "verified"
    return entry


def signed_values_hash(items: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """SHA-256 of exactly the values a signature covers: each CRF instance's key and its entered,
    derived and missing-coded values, in canonical JSON (sorted keys, no spaces)."""
    payload = json.dumps(sorted(([key, dict(values)] for key, values in items), key=lambda x: x[0]),
                         sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def signable_values(form_id: str, visit: str, instance: int, data: Mapping[str, Any], derived: Mapping[str, Any],
                    missing: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """What of one CRF instance a signature is bound to."""
    return f"{visit}/{form_id}/{instance}", {"data": dict(data), "derived": dict(derived), "missing": dict(missing)}


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The keys whose value differs between two versions of a form's values."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
