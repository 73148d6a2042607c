"""The protocol file's interventional treatments and functional outcome (schema version 2).

Standards: the CIRSE classification of complications (Filippiadis DK, et al. Cardiovasc Intervent
Radiol 2017;40:1141-1146), the thermal ablation techniques of Ahmed M, et al. (Radiology
2014;273:241-260) and the chemoembolisation techniques of Lucatelli P, et al. (Cardiovasc Intervent
Radiol 2021;44:1851-1867), as :mod:`sarcotrial.domain.interventional` holds them; the MSTS score
(Enneking WF, et al. Clin Orthop Relat Res 1993;286:241-246), as :mod:`sarcotrial.domain.function`
holds it. This module only says which of a protocol's forms and fields play those roles; the rules
stay in the domain.

A file declares, each form's fields named by their role::

    treatment:
      interventions:
        form: intervention              # one instance per procedure
        fields:
          date: procedure_date          # a date field
          kind: procedure               # code: thermal_ablation, chemoembolisation
          technique: technique          # code: rfa, mwa, cryoablation, ctace, deb_tace, dsm_tace
          target_lesion: target_lesion  # text (or code): the lesion treated
          approach: approach            # optional code: percutaneous, laparoscopic, open, endovascular
          guidance: guidance            # optional code: ct, us, mri, fluoroscopy, cbct
          complication: complication    # optional text: what happened
          consequences:                 # optional yes/no fields, one per consequence of the complication
            solved_in_session: cirse_solved_in_session
            additional_therapy: cirse_additional_therapy
          consequence: cirse_consequence  # optional code field whose codes are consequences
          extra_stay_hours: extra_stay_hours  # optional number: hours beyond the normal post-procedure stay
    functional_outcome:
      form: functional_outcome
      score: msts
      limb: lower                       # or a limb field below (code: lower, upper), not both
      fields:
        date: assessment_date
        items: {pain: msts_pain, function: msts_function, emotional_acceptance: msts_emotional, ...}

:func:`local_problems` checks the sections against the forms and code lists, naming each problem by its
path: the fields exist with the type their role needs, and every code of their code lists is a code of
the domain's vocabulary (so that what a form stores is what the rules read). Hand-written, as the rest of
the protocol schema: no library knows this project's protocol file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: the protocol file's identifier (as ``schema.Identifier``; this module is imported by ``schema``)
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64)]
Problem = tuple[str, str]


#: the values derived at entry (``services/local_entry.py``), stored beside the form's own: no field may share a name
INTERVENTION_DERIVED = ("cirse_complication", "cirse_grade", "cirse_definition", "cirse_deciding_consequence",
                        "cirse_consequences", "cirse_note")
FUNCTION_DERIVED = ("msts_limb", "msts_total", "msts_maximum", "msts_percent", "msts_note")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InterventionFields(_Model):
    """The intervention form's fields, by role (field ids of the form)."""

    date: Identifier
    kind: Identifier
    technique: Identifier
    target_lesion: Identifier
    approach: Identifier | None = None
    guidance: Identifier | None = None
    #: the complication, described in words
    complication: Identifier | None = None
    #: consequence code (``CIRSE_CONSEQUENCES``) -> the yes/no field that records it
    consequences: dict[str, Identifier] = {}
    #: a code field whose code list holds consequence codes (one consequence)
    consequence: Identifier | None = None
    #: hours of stay beyond the normal post-procedure course (0: none; up to 48: grade 2; more: grade 3)
    extra_stay_hours: Identifier | None = None


class Interventions(_Model):
    """Thermal ablation and chemoembolisation, one form instance per procedure, complications graded by CIRSE."""

    form: Identifier
    fields: InterventionFields


class FunctionFields(_Model):
    """The functional-outcome form's fields, by role."""

    date: Identifier
    #: a code field (codes ``lower``, ``upper``), where the protocol does not fix the limb
    limb: Identifier | None = None
    #: MSTS item (``MSTS_ITEMS``) -> the integer field that scores it 0-5
    items: Annotated[dict[str, Identifier], Field(min_length=1)]


class FunctionalOutcome(_Model):
    """Function after limb surgery on the form it names: the MSTS score from its six items."""

    form: Identifier
    score: Literal["msts"]
    #: the limb every assessment scores, where the form has no limb field
    limb: Literal["lower", "upper"] | None = None
    fields: FunctionFields


# --------------------------------------------------------------------------- cross-references
class _Forms:
    """What parsed of the protocol's forms and code lists, and what did not (so as not to call it unknown)."""

    def __init__(self, p: Any, unparsed: Any):
        self.p = p
        self.unparsed = unparsed
        self.ok = getattr(p, "forms", None) is not None
        self.forms = {f.id: f for f in (getattr(p, "forms", None) or []) if f is not None}
        self.codelists_ok = getattr(p, "codelists", None) is not None
        self.codelists = {k: v for k, v in (getattr(p, "codelists", None) or {}).items() if v is not None}

    def failed(self, section: str, entry_id: str) -> bool:
        has = getattr(self.unparsed, "has", None)
        return bool(has and has(section, entry_id))

    def form(self, where: str, form_id: str, out: list[Problem]) -> Any:
        """The form, or ``None`` (with a problem when it is unknown rather than unparsed)."""
        if form_id in self.forms:
            return self.forms[form_id]
        if self.ok and not self.failed("forms", form_id):
            out.append((where, f"unknown form '{form_id}'"))
        return None

    def codes(self, codelist: str | None) -> list[str] | None:
        """The codes of a code list, ``None`` where it did not parse or is unknown (reported elsewhere)."""
        if codelist is None or codelist not in self.codelists:
            return None
        return [c.code for c in self.codelists[codelist] if c is not None]


def _field(form: Any, role_path: str, field_id: str, types: tuple[str, ...], out: list[Problem]) -> Any:
    fld = form.field(field_id)
    if fld is None:
        out.append((role_path, f"form '{form.id}' has no field '{field_id}'"))
        return None
    if fld.type not in types:
        wanted = " or ".join(types)
        out.append((role_path, f"field '{field_id}' of form '{form.id}' is {fld.type}; this role needs a {wanted} field"))
        return None
    return fld


def _vocabulary(known: _Forms, role_path: str, fld: Any, vocabulary: dict[str, Any], what: str,
                out: list[Problem]) -> list[str] | None:
    """The field's codes, each checked against the domain's vocabulary."""
    if fld is None or fld.type != "code":
        return None
    codes = known.codes(fld.codelist)
    if codes is None:
        return None
    for code in codes:
        if code not in vocabulary:
            out.append((role_path, f"codelist '{fld.codelist}' has code '{code}', which is not {what} "
                                   f"(known: {', '.join(vocabulary)})"))
    return codes


def _derived_names(base: str, form: Any, derived: tuple[str, ...], out: list[Problem]) -> None:
    for fld in form.fields:
        if fld.id in derived:
            out.append((f"forms.{form.id}.fields.{fld.id}", f"'{fld.id}' is a value derived at entry from {base}: "
                                                            "choose another field id"))


def _shared_fields(base: str, roles: list[tuple[str, str]], out: list[Problem]) -> None:
    """A field plays one role: two roles on one field would store two facts in one value."""
    first: dict[str, str] = {}
    for role, field_id in roles:
        if field_id in first:
            out.append((f"{base}.{role}", f"field '{field_id}' is also {first[field_id]}; each role needs its own field"))
        else:
            first[field_id] = f"{base}.{role}"


def _intervention_problems(spec: Any, known: _Forms) -> list[Problem]:
    from sarcotrial.domain.interventional import (
        APPROACHES,
        CIRSE_CONSEQUENCES,
        IMAGE_GUIDANCE,
        INTERVENTION_KINDS,
        TECHNIQUES,
    )

    base = "treatment.interventions"
    out: list[Problem] = []
    fields = spec.fields
    where = f"{base}.fields"
    for code in fields.consequences:
        if code not in CIRSE_CONSEQUENCES:
            out.append((f"{where}.consequences", f"'{code}' is not a consequence of the CIRSE classification "
                                                 f"(known: {', '.join(CIRSE_CONSEQUENCES)})"))
    if fields.complication is not None and not fields.consequences and fields.consequence is None \
            and fields.extra_stay_hours is None:
        out.append((f"{where}.complication", "a complication is graded by its consequences: name the consequences "
                                             "fields, a consequence field or extra_stay_hours"))
    roles = [(name, getattr(fields, name)) for name in ("date", "kind", "technique", "target_lesion", "approach",
                                                         "guidance", "complication", "consequence", "extra_stay_hours")
             if getattr(fields, name) is not None]
    roles += [(f"consequences.{code}", field_id) for code, field_id in fields.consequences.items()]
    _shared_fields(where, roles, out)

    form = known.form(f"{base}.form", spec.form, out)
    if form is None:
        return out
    _derived_names(base, form, INTERVENTION_DERIVED, out)
    _field(form, f"{where}.date", fields.date, ("date",), out)
    _field(form, f"{where}.target_lesion", fields.target_lesion, ("text", "code"), out)
    kind = _field(form, f"{where}.kind", fields.kind, ("code",), out)
    kinds = _vocabulary(known, f"{where}.kind", kind, INTERVENTION_KINDS, "a kind of intervention", out)
    technique = _field(form, f"{where}.technique", fields.technique, ("code",), out)
    every_technique = {code: label for vocabulary in TECHNIQUES.values() for code, label in vocabulary.items()}
    techniques = _vocabulary(known, f"{where}.technique", technique, every_technique, "a technique", out)
    if kinds is not None and techniques is not None:
        for code in techniques:
            owner = next((k for k, vocabulary in TECHNIQUES.items() if code in vocabulary), None)
            if owner is not None and owner not in kinds:
                out.append((f"{where}.technique", f"technique '{code}' is {INTERVENTION_KINDS[owner]}, which the "
                                                  f"kind's codelist '{kind.codelist}' does not offer"))
    for role, vocabulary, what in (("approach", APPROACHES, "an approach"), ("guidance", IMAGE_GUIDANCE,
                                                                             "an image guidance")):
        if getattr(fields, role) is not None:
            fld = _field(form, f"{where}.{role}", getattr(fields, role), ("code",), out)
            _vocabulary(known, f"{where}.{role}", fld, vocabulary, what, out)
    if fields.complication is not None:
        _field(form, f"{where}.complication", fields.complication, ("text",), out)
    for code, field_id in fields.consequences.items():
        _field(form, f"{where}.consequences.{code}", field_id, ("boolean",), out)
    if fields.consequence is not None:
        fld = _field(form, f"{where}.consequence", fields.consequence, ("code",), out)
        _vocabulary(known, f"{where}.consequence", fld, {c: v[1] for c, v in CIRSE_CONSEQUENCES.items()},
                    "a consequence of the CIRSE classification", out)
    if fields.extra_stay_hours is not None:
        fld = _field(form, f"{where}.extra_stay_hours", fields.extra_stay_hours, ("decimal", "integer"), out)
        if fld is not None and fld.min is not None and fld.min < 0:
            out.append((f"{where}.extra_stay_hours", f"field '{fld.id}' allows {fld.min:g} hours; a stay beyond the "
                                                     "normal course cannot be negative (min: 0)"))
    return out


def _function_problems(spec: Any, known: _Forms) -> list[Problem]:
    from sarcotrial.domain.function import LIMBS, MSTS_ITEMS, MSTS_MAX_ITEM

    base = "functional_outcome"
    out: list[Problem] = []
    fields = spec.fields
    where = f"{base}.fields"
    every_item = [item for limb in LIMBS for item in MSTS_ITEMS[limb]]
    for item in fields.items:
        if item not in every_item:
            out.append((f"{where}.items", f"'{item}' is not an MSTS item (lower limb: {', '.join(MSTS_ITEMS['lower'])}; "
                                          f"upper limb: {', '.join(MSTS_ITEMS['upper'])})"))
    if spec.limb is not None and fields.limb is not None:
        out.append((f"{base}.limb", "the limb is fixed here and also recorded in a field: give one of limb and "
                                    "fields.limb"))
    if spec.limb is None and fields.limb is None:
        out.append((f"{base}.limb", "say which limb is scored: limb: lower or upper, or fields.limb (a code field)"))
    roles = [("date", fields.date)] + ([("limb", fields.limb)] if fields.limb is not None else [])
    roles += [(f"items.{item}", field_id) for item, field_id in fields.items.items()]
    _shared_fields(where, roles, out)

    form = known.form(f"{base}.form", spec.form, out)
    limbs: list[str] | None = [spec.limb] if spec.limb is not None else None
    if form is not None:
        _derived_names(base, form, FUNCTION_DERIVED, out)
        _field(form, f"{where}.date", fields.date, ("date",), out)
        if fields.limb is not None:
            fld = _field(form, f"{where}.limb", fields.limb, ("code",), out)
            codes = _vocabulary(known, f"{where}.limb", fld, {limb: limb for limb in LIMBS}, "a limb", out)
            limbs = limbs if codes is None else [c for c in codes if c in LIMBS]
        for item, field_id in fields.items.items():
            fld = _field(form, f"{where}.items.{item}", field_id, ("integer",), out)
            if fld is not None and ((fld.min is not None and fld.min < 0) or
                                    (fld.max is not None and fld.max > MSTS_MAX_ITEM)):
                bounds = f"min {'none' if fld.min is None else f'{fld.min:g}'}, max " \
                         f"{'none' if fld.max is None else f'{fld.max:g}'}"
                out.append((f"{where}.items.{item}", f"field '{field_id}' allows scores outside 0 to {MSTS_MAX_ITEM} "
                                                     f"({bounds}); an MSTS item is scored 0 to {MSTS_MAX_ITEM}"))
    for limb in limbs or []:
        missing = [item for item in MSTS_ITEMS[limb] if item not in fields.items]
        if missing:
            out.append((f"{where}.items", f"the {limb}-limb MSTS score needs all six items: {', '.join(missing)} "
                                          "not named"))
    if spec.limb is not None:
        other = "upper" if spec.limb == "lower" else "lower"
        extra = [item for item in fields.items if item in MSTS_ITEMS[other] and item not in MSTS_ITEMS[spec.limb]]
        if extra:
            out.append((f"{where}.items", f"{', '.join(extra)} belong to the {other}-limb set; this protocol scores "
                                          f"the {spec.limb} limb only"))
    return out


def local_problems(p: Any, unparsed: Any = None) -> list[Problem]:
    """Cross-references of the interventions and functional-outcome sections with the forms and code lists
    (path, rule). ``p`` is a Protocol or the parsed parts of one (a section ``None`` where it did not parse,
    a form ``None`` where that form did not); ``unparsed`` (the loader's ``Unparsed``) names what did not."""
    known = _Forms(p, unparsed)
    out: list[Problem] = []
    interventions = getattr(getattr(p, "treatment", None), "interventions", None)
    if interventions is not None:
        out.extend(_intervention_problems(interventions, known))
    function = getattr(p, "functional_outcome", None)
    if function is not None:
        out.extend(_function_problems(function, known))
    return out
