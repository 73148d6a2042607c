"""Case report form data checked against the protocol's form definitions.

One generic engine for every form of every protocol: values are converted to the field's type
(text from the command line or a JSON file becomes an integer, a decimal, a date, a yes/no),
then checked for presence (required), range (min/max), code list membership, and unknown
fields. Each refusal names ``form.field`` and the rule.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Mapping

from sarcotrial.errors import InvalidValue, date_rule
from sarcotrial.protocol.schema import Form, FormField, Protocol

_TRUE = {"true", "yes", "y", "1", "si", "sì"}
_FALSE = {"false", "no", "n", "0"}


def coerce_value(form_id: str, fld: FormField, value: Any, protocol: Protocol) -> Any:
    """One value converted to its field's type and checked; ``None`` for an empty value."""
    name = f"{form_id}.{fld.id}"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if fld.type == "integer":
        if isinstance(value, bool):
            raise InvalidValue(name, "must be a whole number", value)
        try:
            number = int(value) if not isinstance(value, float) else value
        except (TypeError, ValueError):
            raise InvalidValue(name, "must be a whole number", value) from None
        if isinstance(number, float):
            if not number.is_integer():
                raise InvalidValue(name, "must be a whole number", value)
            number = int(number)
        _check_range(name, fld, number)
        return number
    if fld.type == "decimal":
        if isinstance(value, bool):
            raise InvalidValue(name, "must be a number", value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidValue(name, "must be a number", value) from None
        if not math.isfinite(number):
            raise InvalidValue(name, "must be a finite number", value)
        _check_range(name, fld, number)
        return number
    if fld.type == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidValue(name, date_rule(value), value) from None
    if fld.type == "datetime":
        if isinstance(value, dt.datetime):
            moment = value
        else:
            try:
                moment = dt.datetime.fromisoformat(str(value).strip().replace(" ", "T", 1).replace("Z", "+00:00"))
            except ValueError:
                raise InvalidValue(name, "must be a date and time written YYYY-MM-DDTHH:MM (UTC, or with its offset "
                                   "such as +01:00)", value) from None
        if moment.tzinfo is None:  # a time without an offset is taken as UTC
            moment = moment.replace(tzinfo=dt.timezone.utc)
        return moment.astimezone(dt.timezone.utc)
    if fld.type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InvalidValue(name, "must be yes or no (true/false)", value)
    if fld.type == "code":
        codes = protocol.codes(fld.codelist)
        text = str(value).strip()
        if text not in codes:
            raise InvalidValue(name, f"unknown code; allowed: {', '.join(codes)}", value)
        return text
    text = str(value).strip()
    return text


def _check_range(name: str, fld: FormField, number: float) -> None:
    unit = f" {fld.unit}" if fld.unit else ""
    if fld.min is not None and number < fld.min:
        raise InvalidValue(name, f"must be at least {fld.min:g}{unit}", number)
    if fld.max is not None and number > fld.max:
        raise InvalidValue(name, f"must be at most {fld.max:g}{unit}", number)


def form_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Checked form values as JSON can hold them (dates and times as ISO text), for the form data the database keeps."""
    return {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in values.items()}


def from_json(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """Stored form values back in their fields' types (ISO text to dates and times)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        fld = form.field(key)
        if value is not None and fld is not None and fld.type == "date" and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        elif value is not None and fld is not None and fld.type == "datetime" and isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        out[key] = value
    return out


def validate_form(protocol: Protocol, form_id: str, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """The form's data converted and checked; ``partial`` skips the required check (drafts, corrections)."""
    try:
        form: Form = protocol.form(form_id)
    except KeyError:
        known = ", ".join(f.id for f in protocol.forms)
        raise InvalidValue("form", f"protocol {protocol.acronym} has no such form (forms: {known})", form_id) from None
    unknown = sorted(set(data) - {f.id for f in form.fields})
    if unknown:
        known = ", ".join(f.id for f in form.fields)
        raise InvalidValue(f"{form_id}.{unknown[0]}", f"not a field of form '{form_id}' (fields: {known})", show_value=False)
    clean: dict[str, Any] = {}
    for fld in form.fields:  # a wrong value given is reported before a value missing
        if fld.id in data:
            clean[fld.id] = coerce_value(form_id, fld, data[fld.id], protocol)
    if not partial:
        for fld in form.fields:
            if fld.required and clean.get(fld.id) is None:
                raise InvalidValue(f"{form_id}.{fld.id}", f"is required ({fld.label})", show_value=False)
    return clean
