"""The protocol file's systemic-therapy section (schema version 2): regimens, BSA formula, anthracycline limit.

What a protocol declares (``treatment.systemic``)::

    systemic:
      bsa_formula: mosteller            # or dubois
      dose_tolerance_percent: 5         # a dose this far below the planned one is not a reduction
      delay_tolerance_days: 0           # a cycle this many days late is not a delay
      anthracycline:
        equivalence: esc-2022           # a table of domain/data/anthracycline_equivalence.yaml
        warn_cumulative_mg_m2: 450      # warn before the cycle that would cross it
        source: why this limit
      regimens:
        - id: doxorubicin
          name: Doxorubicin
          arms: [doxorubicin]           # optional: ids among the protocol's arms
          cycle_days: 21
          max_cycles: 8
          drugs:
            - {drug: doxorubicin, dose: 75, per: m2, days: [1], route: iv}

Doses are mg per m2 of body surface area (``per: m2``), per kg of weight (``kg``) or mg flat
(``flat``), on each listed day of the cycle. The rules themselves (BSA, dose intensity,
doxorubicin equivalence) are in :mod:`sarcotrial.domain.systemic`; this module checks what the
file says against them, against the protocol's arms and, for ``administration``, against the
protocol's forms (:func:`systemic_problems`): the form and each field exist, each field's type fits its
role, each dose names a drug and day of some regimen, and every day of every regimen's drugs has a dose
field. The derived values of the administration form are those of
:mod:`sarcotrial.services.systemic_entry`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ID = r"^[a-z][a-z0-9_]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegimenDrug(_Model):
    drug: Annotated[str, Field(pattern=ID)]
    dose: Annotated[float, Field(gt=0)]
    per: Literal["m2", "kg", "flat"]
    days: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
    route: Literal["iv", "oral", "sc", "im"] | None = None


class Regimen(_Model):
    id: Annotated[str, Field(pattern=ID)]
    name: Annotated[str, Field(min_length=1)]
    #: the arms this regimen belongs to (ids of the protocol's ``arms``); none: every patient's
    arms: list[str] = []
    cycle_days: Annotated[int, Field(ge=1, le=365)]
    max_cycles: Annotated[int, Field(ge=1)] | None = None
    drugs: Annotated[list[RegimenDrug], Field(min_length=1)]


class AnthracyclineLimit(_Model):
    #: the id of a doxorubicin-equivalence table (``sarcotrial rules anthracycline --help`` lists them)
    equivalence: Annotated[str, Field(min_length=1)]
    warn_cumulative_mg_m2: Annotated[float, Field(gt=0)]
    source: Annotated[str, Field(min_length=1)]


class AdministrationDose(_Model):
    """A dose field of the administration form: the mg of ``drug`` given on ``day`` of the cycle."""

    drug: Annotated[str, Field(pattern=ID)]
    day: Annotated[int, Field(ge=1)]
    field: Annotated[str, Field(pattern=ID)]


class AdministrationForm(_Model):
    """The form one cycle of systemic therapy is entered on, and the role of each of its fields."""

    form: Annotated[str, Field(pattern=ID)]
    cycle_field: Annotated[str, Field(pattern=ID)]
    #: day 1 of the cycle
    date_field: Annotated[str, Field(pattern=ID)]
    height_field: Annotated[str, Field(pattern=ID)] | None = None
    weight_field: Annotated[str, Field(pattern=ID)] | None = None
    doses: Annotated[list[AdministrationDose], Field(min_length=1)]
    reduced_field: Annotated[str, Field(pattern=ID)] | None = None
    reduction_reason_field: Annotated[str, Field(pattern=ID)] | None = None
    delayed_field: Annotated[str, Field(pattern=ID)] | None = None
    delay_reason_field: Annotated[str, Field(pattern=ID)] | None = None

    def roles(self) -> list[tuple[str, str]]:
        """Each field named, with its role (``cycle_field``, ``doses.<field>``...), in the file's order."""
        out = [(name, getattr(self, name)) for name in ("cycle_field", "date_field", "height_field", "weight_field")]
        out += [(f"doses.{d.field}", d.field) for d in self.doses]
        out += [(name, getattr(self, name)) for name in ("reduced_field", "reduction_reason_field", "delayed_field",
                                                          "delay_reason_field")]
        return [(role, field) for role, field in out if field is not None]


class Systemic(_Model):
    bsa_formula: Literal["mosteller", "dubois"] = "mosteller"
    dose_tolerance_percent: Annotated[float, Field(ge=0, le=50)] = 5.0
    delay_tolerance_days: Annotated[int, Field(ge=0)] = 0
    anthracycline: AnthracyclineLimit | None = None
    regimens: list[Regimen] = []
    administration: AdministrationForm | None = None


def systemic_problems(p: Any) -> list[tuple[str, str]]:
    """Cross-references of the systemic-therapy section with the arms and the equivalence tables
    (path, rule). ``p`` is a Protocol or the parsed parts of one (a section ``None`` where it did not parse)."""
    treatment = getattr(p, "treatment", None)
    systemic = getattr(treatment, "systemic", None)
    if systemic is None:
        return []
    from sarcotrial.domain.systemic import equivalence_tables, is_anthracycline
    from sarcotrial.protocol.schema import duplicates, repeated  # schema.py imports this module: read at call time

    base = "treatment.systemic"
    out: list[tuple[str, str]] = []
    regimens = [r for r in (getattr(systemic, "regimens", None) or []) if r is not None]
    out.extend((f"{base}.regimens", problem) for problem in duplicates([r.id for r in regimens], "regimen id"))

    arms = getattr(p, "arms", None)
    arm_ids = None if arms is None else {a.id for a in arms if a is not None}
    anthracyclines: dict[str, list[str]] = {}  # drug -> regimens giving it
    for regimen in regimens:
        where = f"{base}.regimens.{regimen.id}"
        for drug in repeated([d.drug for d in regimen.drugs]):
            out.append((f"{where}.drugs", f"drug '{drug}' is listed twice"))
        for entry in regimen.drugs:
            outside = [d for d in entry.days if d > regimen.cycle_days]
            if outside:
                out.append((f"{where}.drugs.{entry.drug}.days",
                            f"day {', '.join(map(str, outside))} is outside the {regimen.cycle_days}-day cycle"))
            for day in repeated(list(entry.days)):
                out.append((f"{where}.drugs.{entry.drug}.days", f"day {day} is listed twice"))
            if is_anthracycline(entry.drug):
                anthracyclines.setdefault(entry.drug, []).append(regimen.id)
                if entry.per != "m2":
                    out.append((f"{where}.drugs.{entry.drug}.per",
                                "an anthracycline is dosed per m2 (its cumulative dose is counted in mg/m2)"))
        if arm_ids is not None:
            for arm in regimen.arms:
                if arm not in arm_ids:
                    known = f" (arms: {', '.join(sorted(arm_ids))})" if arm_ids else " (the protocol declares no arms)"
                    out.append((f"{where}.arms", f"'{arm}' names no arm of this protocol{known}"))

    limit = getattr(systemic, "anthracycline", None)
    if anthracyclines and limit is None:
        drugs = ", ".join(anthracyclines)
        out.append((f"{base}.anthracycline", f"the regimens give an anthracycline ({drugs}): the section needs "
                                             "anthracycline: equivalence, warn_cumulative_mg_m2 and source"))
    if limit is not None:
        tables = equivalence_tables()
        table = tables.get(limit.equivalence)
        if table is None:
            out.append((f"{base}.anthracycline.equivalence",
                        f"unknown equivalence table '{limit.equivalence}' (known: {', '.join(tables)})"))
        else:
            for drug in table.lacks(anthracyclines):
                given_in = ", ".join(anthracyclines[drug])
                out.append((f"{base}.anthracycline.equivalence",
                            f"{table.why_missing(drug)}, which regimen {given_in} gives: choose a table with one"))
    administration = getattr(systemic, "administration", None)
    if administration is not None:
        out.extend(_administration_problems(p, administration, regimens, f"{base}.administration"))
    return out


#: the field types each role of the administration form accepts
_ROLE_TYPES = {"cycle_field": ("integer",), "date_field": ("date",), "height_field": ("decimal", "integer"),
               "weight_field": ("decimal", "integer"), "reduced_field": ("boolean",),
               "reduction_reason_field": ("code", "text"), "delayed_field": ("boolean",),
               "delay_reason_field": ("code", "text")}


def _parent(where: str) -> str:
    return where.rsplit(".", 1)[0]


def _administration_problems(p: Any, spec: Any, regimens: list[Any], where: str) -> list[tuple[str, str]]:
    """The administration form against the protocol's forms and regimens."""
    from sarcotrial.protocol.schema import repeated

    out: list[tuple[str, str]] = []
    roles = spec.roles()
    for field_id in repeated([field for _role, field in roles]):
        named = ", ".join(role for role, field in roles if field == field_id)
        out.append((where, f"field '{field_id}' is named for more than one role ({named})"))
    for drug, day in repeated([(d.drug, d.day) for d in spec.doses]):
        out.append((f"{where}.doses", f"{drug} day {day} has more than one dose field"))

    # a patient's cycle reads one regimen: the one of the patient's arm, else the one without arms
    by_arm: dict[str, list[str]] = {}
    for regimen in regimens:
        for arm in regimen.arms:
            by_arm.setdefault(arm, []).append(regimen.id)
    for arm, ids in by_arm.items():
        if len(ids) > 1:
            out.append((f"{_parent(where)}.regimens", f"arm '{arm}' is in regimens {', '.join(ids)}: the cycle form "
                                                      "reads one regimen per arm"))
    general = [r.id for r in regimens if not r.arms]
    if len(general) > 1:
        out.append((f"{_parent(where)}.regimens", f"regimens {', '.join(general)} have no arms: the cycle form reads "
                                                  "one regimen for a patient, give each its arms"))

    # each dose is a drug and day some regimen gives, and each day a regimen gives has a dose field
    given = {(d.drug, d.day) for d in spec.doses}
    scheduled: dict[tuple[str, int], list[str]] = {}
    for regimen in regimens:
        for entry in regimen.drugs:
            for day in entry.days:
                scheduled.setdefault((entry.drug, day), []).append(regimen.id)
    if regimens:
        for dose in spec.doses:
            if (dose.drug, dose.day) not in scheduled:
                days = sorted(day for drug, day in scheduled if drug == dose.drug)
                rule = (f"no regimen gives {dose.drug} on day {dose.day} (it is given on day "
                        f"{', '.join(map(str, days))})") if days else f"no regimen gives {dose.drug}"
                out.append((f"{where}.doses.{dose.field}", rule))
        for (drug, day), ids in scheduled.items():
            if (drug, day) not in given:
                out.append((f"{where}.doses", f"regimen {', '.join(dict.fromkeys(ids))} gives {drug} on day {day}, "
                                              "and no dose field records it"))

    forms_list = getattr(p, "forms", None)
    if forms_list is None:
        return out
    forms = {f.id: f for f in forms_list if f is not None and hasattr(f, "id")}
    form = forms.get(spec.form)
    if form is None:
        if not any(f is None or not hasattr(f, "id") for f in forms_list):
            out.append((f"{where}.form", f"unknown form '{spec.form}'"))
        return out  # (an entry that did not parse may be this form: its own problem is reported)
    fields = {f.id: f for f in getattr(form, "fields", None) or [] if f is not None and hasattr(f, "id")}
    per = {entry.per for regimen in regimens for entry in regimen.drugs}
    needed = {"cycle_field": "a cycle is placed by it", "date_field": "a cycle is placed by it"}
    if "m2" in per:
        needed["height_field"] = needed["weight_field"] = "a drug is dosed per m2 (the BSA reads it)"
    elif "kg" in per:
        needed["weight_field"] = "a drug is dosed per kg"
    for name, why in needed.items():
        if getattr(spec, name) is None:
            out.append((f"{where}.{name}", f"is needed: {why}"))
    for role, field_id in roles:
        path = f"{where}.{role}"
        fld = fields.get(field_id)
        if fld is None:
            out.append((path, f"form '{form.id}' has no field '{field_id}'"))
            continue
        kind = getattr(fld, "type", None)
        accepted = ("decimal", "integer") if role.startswith("doses.") else _ROLE_TYPES[role]
        if kind is not None and kind not in accepted:
            out.append((path, f"'{field_id}' is a {kind} field; this role takes {' or '.join(accepted)}"))
        if role in needed and getattr(fld, "required", True) is False:
            out.append((path, f"'{form.id}.{field_id}' must be required on its form: {needed[role]}"))
    for flag, reason in (("reduced_field", "reduction_reason_field"), ("delayed_field", "delay_reason_field")):
        if getattr(spec, flag) is not None and getattr(spec, reason) is None:
            out.append((f"{where}.{reason}", f"is needed with {flag}: a reduction or delay is recorded with its reason"))
    return out
