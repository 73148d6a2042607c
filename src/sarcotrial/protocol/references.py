"""The protocol's cross-reference checks: what one section says about another.

A criterion must name a field of the screening form, a visit must name existing forms, a check
must name existing fields, the primary analysis must name the primary endpoint, an assumption must
name a real parameter, and so on. The checks run on a validated :class:`Protocol` (its model
validator calls :func:`cross_reference_problems`) and also on the parts of a protocol file that
parsed when others did not (``Parsed``), so ``protocol validate`` names every problem of a file at
once. A reference to an entry that is present but itself invalid is not reported as unknown: the
entry's own problem is.

Each problem is ``(path, rule)``; a list entry is named by its id (``forms.pathology.fields.margin``),
as the protocol's ``assumptions`` name parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sarcotrial.protocol.schema import (
    ENROLMENT_FORM,
    UNARY_OPERATORS,
    AllOf,
    AnchorRef,
    AnyOf,
    Form,
    NotOf,
    _resolve,
    _MISSING,
    duplicates,
    redcap_name_problems,
)
from sarcotrial.protocol.schema_local import local_problems
from sarcotrial.protocol.schema_randomisation import randomisation_problems
from sarcotrial.protocol.schema_rtcourses import rtcourses_problems
from sarcotrial.protocol.schema_systemic import systemic_problems

Problem = tuple[str, str]


@dataclass
class Unparsed:
    """What did not parse: whole sections, and the ids of list entries (forms, endpoints, codelists...)
    that are present in the file but invalid."""

    sections: set[str] = field(default_factory=set)
    ids: dict[str, set[str]] = field(default_factory=dict)
    #: sections of which some entries parsed and others did not
    partial: set[str] = field(default_factory=set)

    #: sections with an invalid entry whose id cannot be read: any id may be that entry's
    anonymous: set[str] = field(default_factory=set)
    #: the ids of the invalid entries of each list, in the file's order (an id given twice is listed twice)
    failed_ids: dict[str, list[str]] = field(default_factory=dict)

    def has(self, section: str, entry_id: Any) -> bool:
        return section in self.anonymous or (isinstance(entry_id, str) and entry_id in self.ids.get(section, set()))

    @property
    def complete(self) -> bool:
        return not self.sections and not self.partial


def cross_reference_problems(p: Any, unparsed: Unparsed | None = None) -> list[Problem]:
    """Every cross-reference problem of ``p`` (a :class:`Protocol`, or the parsed parts of one: a
    section is ``None`` where it did not parse, a list entry ``None`` where that entry did not)."""
    u = unparsed or Unparsed()
    out: list[Problem] = []
    forms_ok = p.forms is not None
    forms = {f.id: f for f in (p.forms or []) if f is not None}
    codelists_ok = p.codelists is not None
    codelists = {k: v for k, v in (p.codelists or {}).items() if v is not None}

    def form_known(form_id: str) -> bool:
        return form_id in forms or u.has("forms", form_id) or not forms_ok

    for section, what in (("forms", "form id"), ("visits", "visit id"), ("endpoints", "endpoint id"),
                          ("checks", "check id")):
        ids = [entry.id for entry in (getattr(p, section) or []) if entry is not None] + u.failed_ids.get(section, [])
        out.extend((section, problem) for problem in duplicates(ids, what))

    # forms and code lists
    for form in forms.values():
        for fld in form.fields:
            if codelists_ok and fld.codelist is not None and fld.codelist not in codelists \
                    and not u.has("codelists", fld.codelist):
                out.append((f"forms.{form.id}.fields.{fld.id}.codelist",
                            f"unknown codelist '{fld.codelist}' (known: {', '.join(sorted(codelists))})"))
    for name, codes in codelists.items():
        out.extend((f"codelists.{name}", problem) for problem in duplicates([c.code for c in codes], "code"))
    out.extend(redcap_name_problems(list(forms.values())))  # REDCap needs one variable name per field

    # eligibility
    eligibility = p.eligibility
    if eligibility is not None and isinstance(eligibility.form, str) and forms_ok:
        screening = forms.get(eligibility.form)
        if screening is None and not u.has("forms", eligibility.form):
            out.append(("eligibility.form", f"unknown form '{eligibility.form}'"))
        elif screening is not None:
            for criterion in eligibility.criteria or []:
                if criterion is not None:
                    out.extend(_check_condition(criterion.rule, screening, f"eligibility.criteria.{criterion.id}.rule",
                                                codelists if codelists_ok else None))

    # visits
    for visit in p.visits or []:
        if visit is None:
            continue
        where = f"visits.{visit.id}"
        if visit.id == "unscheduled":
            out.append((f"{where}.id", "'unscheduled' is the visit of event forms; choose another id"))
        for form_id in visit.collected:
            if not form_known(form_id):
                out.append((f"{where}.forms", f"unknown form '{form_id}'"))
        both = set(visit.forms) & set(visit.optional_forms)
        if both:
            out.append((f"{where}.optional_forms", f"{', '.join(sorted(both))} also in forms"))
        if visit.anchor_ref.instance == "previous" and visit.repeat is None:
            out.append((f"{where}.anchor.instance", "'previous' times each occurrence from the one before, so the "
                                                    "visit needs a repeat"))
        if isinstance(visit.anchor, AnchorRef):
            ref = visit.anchor
            if ref.form == ENROLMENT_FORM and ref.form not in forms and not u.has("forms", ref.form):
                if ref.field != "enrolment_date":
                    out.append((f"{where}.anchor.field", "enrolment anchors on enrolment_date"))
            elif ref.form in forms:
                fld = forms[ref.form].field(ref.field)
                if fld is None or fld.type not in ("date", "datetime"):
                    out.append((f"{where}.anchor.field", f"form '{ref.form}' has no date field '{ref.field}'"))
                for key, value in ref.where.items():
                    if forms[ref.form].field(key) is None:
                        out.append((f"{where}.anchor.where", f"form '{ref.form}' has no field '{key}'"))
                    else:
                        out.extend(_codes(forms[ref.form], key, value, f"{where}.anchor.where.{key}", codelists, codelists_ok))
            elif not form_known(ref.form):
                out.append((f"{where}.anchor.form", f"unknown form '{ref.form}'"))

    # missing-data codes and edit checks
    missing_codes = [m for m in (p.missing_codes or []) if m is not None]
    out.extend(("missing_codes", problem) for problem in duplicates([m.code for m in missing_codes], "missing-data code"))
    for m_index, missing in enumerate(p.missing_codes or []):
        if missing is not None and not re.fullmatch(r"[A-Z]{2,6}", missing.code):
            out.append((f"missing_codes[{m_index}].code", "write a missing-data code in 2 to 6 capital letters"))
    for check in p.checks or []:
        if check is None:
            continue
        for part, ref in (("field", check.field), ("than", check.than)):
            where = f"checks.{check.id}.{part}"
            if ref.form == ENROLMENT_FORM and ref.form not in forms and not u.has("forms", ref.form):
                if ref.field != "enrolment_date":
                    out.append((f"{where}.field", "enrolment gives enrolment_date only"))
                continue
            if ref.form not in forms:
                if not form_known(ref.form):
                    out.append((f"{where}.form", f"unknown form '{ref.form}'"))
                continue
            for name in (ref.field, *ref.where, *(check.when if part == "field" else {})):
                if forms[ref.form].field(name) is None:
                    out.append((where, f"form '{ref.form}' has no field '{name}'"))
            for name, value in ref.where.items():
                out.extend(_codes(forms[ref.form], name, value, f"{where}.where.{name}", codelists, codelists_ok))
            for name, value in (check.when.items() if part == "field" else ()):
                out.extend(_codes(forms[ref.form], name, value, f"checks.{check.id}.when.{name}", codelists, codelists_ok))
        if check.field.form == ENROLMENT_FORM:
            out.append((f"checks.{check.id}.field", "the checked field must be a form's (enrolment is the reference)"))

    # consent, withdrawal, end of study, safety
    for name, fields in (("consent", ("date_field", "version_field", "data_use_field")),
                         ("withdrawal", ("date_field", "kind_field")),
                         ("end_of_study", ("status_field", "date_field")),
                         ("safety", ("serious_field", "aware_field", "reported_field"))):
        spec = getattr(p, name)
        if spec is None:
            continue
        if spec.form not in forms:
            if not form_known(spec.form):
                out.append((f"{name}.form", f"unknown form '{spec.form}'"))
            continue
        for attribute in fields:
            value = getattr(spec, attribute)
            if value is not None and forms[spec.form].field(value) is None:
                out.append((f"{name}.{attribute}", f"form '{spec.form}' has no field '{value}'"))
    if p.withdrawal is not None:
        for kind, stopped in p.withdrawal.stops.items():
            for form_id in stopped:
                if form_id != "*" and not form_known(form_id):
                    out.append((f"withdrawal.stops.{kind}", f"unknown form '{form_id}'"))
        if p.withdrawal.form in forms:
            for part, kinds in (("stops", p.withdrawal.stops), ("ends_follow_up", p.withdrawal.ends_follow_up)):
                out.extend(_codes(forms[p.withdrawal.form], p.withdrawal.kind_field, list(kinds), f"withdrawal.{part}",
                                  codelists, codelists_ok))
    if p.end_of_study is not None and p.end_of_study.form in forms:
        for status in p.end_of_study.patient_status:
            out.extend(_codes(forms[p.end_of_study.form], p.end_of_study.status_field, status,
                              "end_of_study.patient_status", codelists, codelists_ok))

    # endpoints and statistics
    endpoints_ok = p.endpoints is not None
    endpoints = {e.id: e for e in (p.endpoints or []) if e is not None}
    statistics = p.statistics
    if statistics is not None and endpoints_ok:
        primary = statistics.primary.endpoint
        if primary in endpoints:
            if endpoints[primary].role != "primary":
                out.append(("statistics.primary.endpoint", f"endpoint '{primary}' is {endpoints[primary].role}, not primary"))
        elif not u.has("endpoints", primary):
            out.append(("statistics.primary.endpoint", f"unknown endpoint '{primary}'"))
        monitor = statistics.toxicity_monitor
        if monitor is not None and not u.has("endpoints", monitor.endpoint) and (
                monitor.endpoint not in endpoints or endpoints[monitor.endpoint].kind != "proportion"):
            out.append(("statistics.toxicity_monitor.endpoint", f"'{monitor.endpoint}' is not a proportion endpoint"))
    primaries = sum(e.role == "primary" for e in endpoints.values())
    if endpoints_ok and (primaries > 1 or (primaries == 0 and "endpoints" not in u.partial)):
        out.append(("endpoints", f"exactly one endpoint must have role primary ({primaries} have)"))

    # parameters named in text: where the section they name parsed, or the entry they name by id in a
    # list of which other entries did not (``visits.wound_check.repeat`` beside an invalid visit)
    def names_nothing(path: str) -> bool:
        head = re.split(r"[.\[]", path, maxsplit=1)[0]
        if head in u.sections:
            return False
        if head in u.partial:
            entry = re.match(r"[a-z_0-9]+\.([a-z_0-9]+)(?:[.]|$)", path)
            if head not in u.ids or head in u.anonymous or entry is None or entry.group(1) in u.ids[head]:
                return False
        return _resolve(p, path) is _MISSING
    for path in p.assumptions or {}:
        if names_nothing(path):
            out.append(("assumptions", f"'{path}' names no parameter of this protocol"))
    for endpoint in endpoints.values():
        for ref in re.findall(r"\{([a-z_][a-z0-9_.\[\]]*)\}", endpoint.definition):
            if names_nothing(ref):
                out.append((f"endpoints.{endpoint.id}.definition", f"'{{{ref}}}' names no parameter of this protocol"))
    # schema version 2: arms and randomisation, systemic therapy, further courses, interventions and function
    out.extend(randomisation_problems(p, u))
    out.extend(systemic_problems(p))
    out.extend(rtcourses_problems(p, u))
    out.extend(local_problems(p, u))
    out.extend(version_problems(p, u))
    return out


#: what schema version 1 required, by path, and the sections that came with version 2
_V1_REQUIRED = ("treatment.radiotherapy", "treatment.chemotherapy", "treatment.surgery", "pathology",
                "toxicity.wound_complication_window_days")
V2_SECTIONS = ("arms", "randomisation", "response", "treatment.systemic", "treatment.radiotherapy_courses",
               "treatment.interventions", "functional_outcome")


def version_problems(p: Any, u: Unparsed | None = None) -> list[Problem]:
    """What the file's ``schema_version`` allows: version 1 (SPRINT 1.0-1.2) requires radiotherapy, chemotherapy,
    surgery, pathology and the wound-complication window, and knows none of version 2's sections; version 2
    makes those optional, and its response, arms and comparison are checked against the rest of the file."""
    u = u or Unparsed()
    version = getattr(p, "schema_version", None)
    out: list[Problem] = []

    def given(path: str) -> Any:
        value = _resolve(p, path)
        return None if value is _MISSING else value

    def parsed(path: str) -> bool:
        head = path.split(".")[0]
        return head not in u.sections and (head == path or given(head) is not None)

    if version == 1:
        for path in _V1_REQUIRED:
            if parsed(path) and given(path) is None:
                out.append((path, "schema version 1 requires it (or declare schema_version: 2)"))
        for path in V2_SECTIONS:
            if given(path) not in (None, []):
                out.append((path, "comes with schema version 2: declare schema_version: 2"))
        primary = given("statistics.primary")
        if primary is not None and getattr(primary, "kind", "proportion") != "proportion":
            out.append(("statistics.primary.kind", "a comparison of arms comes with schema version 2"))
        for endpoint in getattr(p, "endpoints", None) or []:
            if endpoint is not None and "progression" in (endpoint.events or []):
                out.append((f"endpoints.{endpoint.id}.events", "progression comes with schema version 2"))
            if endpoint is not None and endpoint.censor_at != "last_contact":
                out.append((f"endpoints.{endpoint.id}.censor_at", "comes with schema version 2"))
    if version == 2:
        forms = {f.id: f for f in (getattr(p, "forms", None) or []) if f is not None}
        forms_ok = getattr(p, "forms", None) is not None
        out.extend(_response_problems(given("response"), forms, forms_ok, getattr(p, "codelists", None), u))
        for endpoint in getattr(p, "endpoints", None) or []:
            if endpoint is not None and endpoint.censor_at == "last_response_assessment" \
                    and given("response") is None and "response" not in u.sections:
                out.append((f"endpoints.{endpoint.id}.censor_at", "the last tumour assessment needs a response section"))
        arms = [a for a in (getattr(p, "arms", None) or []) if a is not None]
        design = given("identification.design")
        if design is not None and arms and design.arms != len(arms):
            out.append(("identification.design.arms", f"says {design.arms} arms; the protocol declares {len(arms)}"))
        primary = given("statistics.primary")
        if primary is not None and getattr(primary, "kind", None) == "comparison" and "arms" not in u.sections:
            ids = [a.id for a in arms]
            if len(ids) != 2:
                out.append(("statistics.primary", f"a comparison of two arms needs two arms; the protocol declares {len(ids)}"))
            elif primary.control_arm not in ids:
                out.append(("statistics.primary.control_arm", f"unknown arm '{primary.control_arm}' (arms: {', '.join(ids)})"))
    return out


def _response_problems(response: Any, forms: dict[str, Form], forms_ok: bool, codelists: dict | None,
                       u: Unparsed) -> list[Problem]:
    """The response section of a version 2 file: RECIST 1.1 derives each time point from the lesions declared
    at baseline and their measurements, so the three forms are declared, distinct, and carry the fields the
    rule reads (``Response.recist_fields``) with the right types and exactly the codes it knows."""
    if response is None:
        return []
    out: list[Problem] = []
    roles = ("form", "lesion_form", "measurement_form")
    ids = {key: getattr(response, key, None) for key in roles}
    for key in ("lesion_form", "measurement_form"):
        if ids[key] is None:
            out.append((f"response.{key}", "RECIST 1.1 derives the response from the lesions declared at baseline and "
                                           "their measurements: name the form"))
    named = [form_id for form_id in ids.values() if form_id is not None]
    if len(set(named)) < len(named):
        out.append(("response", "the tumour-assessment, lesion and measurement forms must be three different forms"))
    if not forms_ok:
        return out
    codes_known = isinstance(codelists, dict)
    for key, wanted in response.recist_fields().items():
        form_id = ids.get(key)
        if form_id is None:
            continue
        form = forms.get(form_id)
        if form is None:
            if not u.has("forms", form_id):
                out.append((f"response.{key}", f"unknown form '{form_id}'"))
            continue
        for field_id, (types, codes) in wanted.items():
            where = f"forms.{form_id}.fields.{field_id}"
            fld = form.field(field_id)
            if fld is None:
                out.append((f"response.{key}", f"form '{form_id}' has no field '{field_id}', which RECIST 1.1 reads "
                                               "(docs/recist.md)"))
                continue
            if fld.type not in types:
                out.append((f"{where}.type", f"RECIST 1.1 reads it as {' or '.join(types)}, not {fld.type}"))
                continue
            # a code list that did not parse is reported under its own path
            if codes is not None and codes_known and codelists.get(fld.codelist) is not None:
                given_codes = [str(c.code) for c in codelists[fld.codelist]]
                if sorted(given_codes) != sorted(codes):
                    out.append((f"{where}.codelist", f"codelist '{fld.codelist}' must have exactly the codes "
                                                     f"{', '.join(codes)} (it has {', '.join(given_codes)})"))
    return out


def _check_condition(cond: Any, form: Form, path: str, codelists: dict | None) -> list[Problem]:
    if isinstance(cond, AllOf):
        return [p for i, c in enumerate(cond.all) for p in _check_condition(c, form, f"{path}.all[{i}]", codelists)]
    if isinstance(cond, AnyOf):
        return [p for i, c in enumerate(cond.any) for p in _check_condition(c, form, f"{path}.any[{i}]", codelists)]
    if isinstance(cond, NotOf):
        return _check_condition(cond.not_, form, f"{path}.not", codelists)
    fld = form.field(cond.field)
    if fld is None:
        return [(f"{path}.field", f"form '{form.id}' has no field '{cond.field}'")]
    if cond.op in UNARY_OPERATORS and fld.type != "boolean":
        return [(f"{path}.op", f"{cond.op} needs a boolean field, '{fld.id}' is {fld.type}")]
    if cond.op in ("gt", "ge", "lt", "le") and fld.type not in ("integer", "decimal", "date"):
        return [(f"{path}.op", f"{cond.op} needs a number or date field, '{fld.id}' is {fld.type}")]
    if fld.type == "code" and cond.value is not None and codelists is not None and fld.codelist in codelists:
        allowed = [c.code for c in codelists[fld.codelist]]
        values = cond.value if isinstance(cond.value, list) else [cond.value]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            return [(f"{path}.value", f"{', '.join(map(repr, unknown))} not in codelist '{fld.codelist}' "
                                      f"(one of {', '.join(allowed)})")]
    return []


def _codes(form: Form, field_id: str, value: Any, path: str, codelists: dict, known: bool) -> list[Problem]:
    """A value (or list of values) given for a code field must be one of its codelist's codes."""
    fld = form.field(field_id)
    if not known or fld is None or fld.type != "code" or fld.codelist not in codelists:
        return []
    allowed = [c.code for c in codelists[fld.codelist]]
    values = value if isinstance(value, list) else [value]
    return [(path, f"code {v!r} is not one of {form.id}.{fld.id}'s codes ({', '.join(allowed)})")
            for v in values if v not in allowed]
