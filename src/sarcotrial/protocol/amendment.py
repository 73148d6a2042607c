"""What a protocol amendment changes, and whether a running study can take it without losing data.

A new protocol version may add forms, fields, codes, visits and checks, and change windows and
parameters: data entered under the old version keeps its meaning, since each CRF instance records
the version it was entered under. It may not make entered data unreadable or reinterpret it: a
form or field removed while it holds data, a field whose type changes under its values, a code
removed while values use it, a missing-data code removed while in use. Those are refused, each
named, so the trial team can fix the amendment (or first correct the data, with reasons).

Pure: the service passes in what the study's data uses (:class:`DataInUse`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sarcotrial.protocol.references import V2_SECTIONS
from sarcotrial.protocol.schema import Protocol

#: type changes that keep every stored value valid
WIDENING = {("integer", "decimal"), ("code", "text"), ("date", "text"), ("integer", "text"), ("decimal", "text")}


@dataclass
class DataInUse:
    """The forms, fields, values and missing-data codes a study's data holds."""

    fields: dict[str, dict[str, set]] = field(default_factory=dict)  # form -> field -> values held
    missing_codes: set[str] = field(default_factory=set)
    #: patients allocated to an arm: their allocations replay only under the randomisation they were made with
    allocations: int = 0

    def add(self, form_id: str, values: dict, missing: dict) -> None:
        held = self.fields.setdefault(form_id, {})
        for key, value in values.items():
            if value is not None:
                held.setdefault(key, set()).add(value if not isinstance(value, (list, dict)) else str(value))
        for key, code in missing.items():
            held.setdefault(key, set())
            self.missing_codes.add(code)


@dataclass(frozen=True)
class AmendmentReview:
    changes: list[str]
    problems: list[str]

    @property
    def acceptable(self) -> bool:
        return not self.problems


#: how a change line names each section of schema version 2 (``references.V2_SECTIONS``), which an amendment
#: may add, remove or change
_SECTION_NAMES = {"response": "response criteria", "treatment.systemic": "systemic therapy",
                  "treatment.radiotherapy_courses": "further radiotherapy courses",
                  "treatment.interventions": "interventional procedures", "functional_outcome": "functional outcome"}


def _section(protocol: Protocol, path: str):
    value = protocol
    for part in path.split("."):
        value = getattr(value, part, None)
    if isinstance(value, list):
        return [v.model_dump() for v in value]
    return value.model_dump() if value is not None else None


def _scheme(protocol: Protocol):
    """The allocation scheme as the engine reads it (``None`` without one)."""
    from sarcotrial.domain.randomisation import scheme_from_protocol

    if not protocol.arms or protocol.randomisation is None:
        return None
    return scheme_from_protocol(protocol)


def review_amendment(old: Protocol, new: Protocol, used: DataInUse) -> AmendmentReview:
    """The changes from ``old`` to ``new``, and every reason the study's data refuses them."""
    changes: list[str] = []
    problems: list[str] = []
    if new.acronym != old.acronym:
        problems.append(f"identification.acronym: the study runs {old.acronym}, the file is {new.acronym}")
    if new.version == old.version:
        problems.append(f"identification.version: the study already runs version {old.version}; an amendment "
                        "has a new version")
    if new.schema_version != old.schema_version:
        changes.append(f"schema version {old.schema_version} -> {new.schema_version}")
    scheme_refused = False
    for path in V2_SECTIONS:
        before, after = _section(old, path), _section(new, path)
        if before == after:
            continue
        if path in ("arms", "randomisation") and used.allocations:
            problems.append(f"{path}: changed, but {used.allocations} patient(s) are allocated: their allocations "
                            "replay only under the scheme they were made with")
            scheme_refused = True
            continue
        how = "added" if before in (None, []) else "removed" if after in (None, []) else "changed"
        changes.append(f"{_SECTION_NAMES.get(path, path)} {how}")
    if used.allocations and not scheme_refused and _scheme(old) != _scheme(new):
        # the scheme as the engine reads it: a factor without levels of its own takes its codelist's codes
        problems.append(f"randomisation: the levels of a factor change (its field's codes or type), but "
                        f"{used.allocations} patient(s) are allocated: their allocations replay only under the scheme "
                        "they were made with")
    old_forms, new_forms = {f.id: f for f in old.forms}, {f.id: f for f in new.forms}
    for form_id, form in old_forms.items():
        held = used.fields.get(form_id, {})
        if form_id not in new_forms:
            if held:
                problems.append(f"forms.{form_id}: removed, but {form_id} holds data")
            else:
                changes.append(f"form {form_id} removed (it held no data)")
            continue
        target = new_forms[form_id]
        for fld in form.fields:
            values = held.get(fld.id)
            new_field = target.field(fld.id)
            if new_field is None:
                if values is not None:
                    problems.append(f"forms.{form_id}.fields.{fld.id}: removed, but it holds data")
                else:
                    changes.append(f"field {form_id}.{fld.id} removed (it held no data)")
                continue
            if new_field.type != fld.type:
                if values and (fld.type, new_field.type) not in WIDENING:
                    problems.append(f"forms.{form_id}.fields.{fld.id}: type {fld.type} -> {new_field.type} would "
                                    "reinterpret the values it holds")
                else:
                    changes.append(f"field {form_id}.{fld.id}: type {fld.type} -> {new_field.type}")
            if new_field.type == "code" and values:
                allowed = set(new.codes(new_field.codelist)) if new_field.codelist in new.codelists else set()
                orphans = sorted(str(v) for v in values if v not in allowed)
                if orphans:
                    problems.append(f"forms.{form_id}.fields.{fld.id}: codes {', '.join(orphans)} are used by entered "
                                    f"data but not in the new code list '{new_field.codelist}'")
            if (fld.min, fld.max) != (new_field.min, new_field.max):
                changes.append(f"field {form_id}.{fld.id}: range {fld.min}..{fld.max} -> {new_field.min}..{new_field.max} "
                               "(entered values are kept as entered)")
            if fld.required != new_field.required:
                changes.append(f"field {form_id}.{fld.id}: {'now' if new_field.required else 'no longer'} required")
        for fld in target.fields:
            if form.field(fld.id) is None:
                changes.append(f"field {form_id}.{fld.id} added")
    for form_id in new_forms.keys() - old_forms.keys():
        changes.append(f"form {form_id} added")
    old_visits, new_visits = {v.id: v for v in old.visits}, {v.id: v for v in new.visits}
    for visit_id in new_visits.keys() - old_visits.keys():
        changes.append(f"visit {visit_id} added")
    for visit_id in old_visits.keys() - new_visits.keys():
        changes.append(f"visit {visit_id} removed (its occurrences holding data are kept)")
    for visit_id in old_visits.keys() & new_visits.keys():
        a, b = old_visits[visit_id], new_visits[visit_id]
        if a.model_dump() != b.model_dump():
            changes.append(f"visit {visit_id}: schedule changed (targets and windows are planned again)")
    kept_missing = {c.code for c in new.missing_codes}
    lost = sorted(used.missing_codes - kept_missing)
    if lost:
        problems.append(f"missing_codes: {', '.join(lost)} are used by entered data but no longer declared")
    for code in sorted(kept_missing - {c.code for c in old.missing_codes}):
        changes.append(f"missing-data code {code} added")
    old_checks, new_checks = {c.id for c in old.checks}, {c.id for c in new.checks}
    for check in sorted(new_checks - old_checks):
        changes.append(f"check {check} added")
    for check in sorted(old_checks - new_checks):
        changes.append(f"check {check} removed")
    for name in ("consent", "withdrawal", "end_of_study", "safety"):
        if getattr(old, name) != getattr(new, name):
            changes.append(f"{name} changed")
    if old.consent is not None and new.consent is not None and old.consent.current_version != new.consent.current_version:
        changes.append(f"consent document {old.consent.current_version} -> {new.consent.current_version}: patients "
                       "followed must consent again")
    return AmendmentReview(changes, problems)
