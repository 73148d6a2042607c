"""The protocol file's schema: what a trial protocol says, as data a generic engine reads.

A protocol file (YAML) holds the trial's identification, eligibility criteria in machine-evaluable
form, the treatment prescription and its dose objectives, the visit schedule, the endpoints with
their definitions, the statistical parameters and the case report forms. pydantic checks every
field's type and range; the checks within a section (a prescription whose dose per fraction times
fractions is not its total) and across sections (``references.py``: a criterion naming a field its
form lacks, a visit naming an unknown form) report the path of each offending entry, all at once,
so a trial team can fix the file without reading code. Every model forbids unknown keys, so a
misspelt key is an error, not a silent default.

The module is longer than the project's ~600 lines because it is the protocol file's reference in
code: one model per section of the file, in the file's order, read together with
``docs/protocol-file.md``; splitting it would scatter one document over several modules.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from types import SimpleNamespace
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from sarcotrial.protocol.schema_randomisation import Arm, Randomisation
from sarcotrial.protocol.schema_local import FunctionalOutcome, Interventions
from sarcotrial.protocol.schema_rtcourses import RadiotherapyCourses
from sarcotrial.protocol.schema_systemic import Systemic
from sarcotrial.radiotherapy.dvh.notation import METRIC_PATTERN

ASSUMED = "assumed, to be confirmed by the trial team"

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Problems(ValueError):
    """Every problem one check found, each ``(path relative to the checked entry, rule)``: a validator
    names them all, not only the first, and the loader reports each under its own path."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {rule}" if path else rule for path, rule in problems))


def _raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise Problems(problems)


Problem = tuple[str, str]


class Partial(SimpleNamespace):
    """What parsed of an entry that as a whole did not: each field that parsed, as its value; a field
    that did not is absent. A list of entries of which some did not parse is a :class:`PartialList`."""


class PartialList(list):
    """A list of entries some of which did not parse: those are :class:`Partial`, or ``None`` where the
    entry is not even a mapping."""


def _has(entry: Any, *names: str) -> bool:
    """Whether an entry (valid, or :class:`Partial`) has each named field parsed."""
    return entry is not None and all(hasattr(entry, name) for name in names)


def repeated(items: list[Any]) -> list[Any]:
    """Each value given more than once, once, in the order of its second occurrence."""
    seen: set = set()
    twice: list = []
    for item in items:
        if item in seen and item not in twice:
            twice.append(item)
        seen.add(item)
    return twice


def duplicates(ids: list[Any], what: str) -> list[str]:
    """``duplicate form id 'x'`` for each value given more than once."""
    return [f"duplicate {what} '{item}'" for item in repeated(ids)]


class CheckedEntry(_Model):
    """An entry with checks across its own fields (bounds in order, a dose that adds up).

    The checks are :meth:`entry_problems`, which reads the fields of a valid entry or of a
    :class:`Partial` one alike and judges only what parsed: pydantic runs them on a valid entry, and
    the loader on what parsed of an entry that has another problem too, so that a file's problems are
    named in one run (a model validator alone runs only when every field of its entry is valid)."""

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        """Each problem ``(path relative to the entry, rule)``."""
        return []

    @model_validator(mode="after")
    def _checked(self) -> "CheckedEntry":
        _raise_problems(type(self).entry_problems(self))
        return self


# --------------------------------------------------------------------------- identification
class Design(_Model):
    arms: Annotated[int, Field(ge=1)]
    centres: Literal["monocentric", "multicentric"]
    phase: str | None = None
    allocation: Literal["single arm", "randomised", "non-randomised"] = "single arm"
    target_accrual: Annotated[int, Field(ge=1)]
    enrolment_period_years: Annotated[float, Field(gt=0)] | None = None
    study_duration_years: Annotated[float, Field(gt=0)] | None = None


class Identification(_Model):
    acronym: Annotated[str, Field(min_length=1, max_length=32)]
    title: Annotated[str, Field(min_length=1)]
    version: Annotated[str, Field(min_length=1, max_length=32)]
    version_date: dt.date
    subject_id_prefix: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,7}$")]
    condition: str
    intervention: str
    design: Design
    summary: str | None = None


# --------------------------------------------------------------------------- forms
FieldType = Literal["integer", "decimal", "text", "date", "datetime", "boolean", "code"]


class Code(_Model):
    code: Annotated[str, Field(min_length=1)]
    label: Annotated[str, Field(min_length=1)]


#: REDCap's rules for a variable (field) name, column A of its data dictionary: lower-case letters,
#: digits and underscores, beginning with a letter, at most 100 characters, unique in the project
REDCAP_NAME_MAX = 100
_REDCAP_NAME = re.compile(rf"[a-z][a-z0-9_]{{0,{REDCAP_NAME_MAX - 1}}}")


class FormField(CheckedEntry):
    id: Identifier
    label: Annotated[str, Field(min_length=1)]
    type: FieldType
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    required: bool = False
    codelist: Identifier | None = None
    help: str | None = None
    #: free text that may name people (a reason, a free description): dropped from pseudonymised and
    #: de-identified exports alike
    identifying: bool = False
    #: whether the field is free text for de-identification; unset: a ``text`` field is, others are not.
    #: A text field that holds a catalogue id or a code (a WHO 2020 histotype id) says ``false``
    free_text: bool | None = None
    #: the field's variable name in REDCap, where its id alone is not unique across the protocol's forms
    redcap_name: str | None = None

    @property
    def is_free_text(self) -> bool:
        """Whether de-identification treats the field as free text: ``free_text`` if given, else its type is text."""
        return self.type == "text" if self.free_text is None else self.free_text

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        problems = []
        if _has(v, "redcap_name") and v.redcap_name is not None and not _REDCAP_NAME.fullmatch(v.redcap_name):
            problems.append(("redcap_name", f"{v.redcap_name!r} is not a REDCap variable name: lower-case letters, "
                                            f"digits and _, beginning with a letter, at most {REDCAP_NAME_MAX} "
                                            "characters"))
        if _has(v, "type", "free_text") and v.free_text and v.type != "text":
            problems.append(("free_text", f"only a text field can be free text; this one is {v.type}"))
        if _has(v, "type", "codelist"):
            if v.type == "code" and v.codelist is None:
                problems.append(("codelist", "a field of type code needs a codelist"))
            if v.type != "code" and v.codelist is not None:
                problems.append(("codelist", f"only a field of type code has a codelist; this one is {v.type}"))
        if _has(v, "type", "min", "max") and (v.min is not None or v.max is not None) \
                and v.type not in ("integer", "decimal"):
            problems.append(("min" if v.min is not None else "max",
                             f"min/max apply to integer and decimal fields only; this one is {v.type}"))
        if _has(v, "min", "max") and v.min is not None and v.max is not None and v.min > v.max:
            problems.append(("min", f"{v.min:g} is greater than max {v.max:g}"))
        return problems


class Form(CheckedEntry):
    id: Identifier
    name: Annotated[str, Field(min_length=1)]
    repeating: bool = False
    fields: Annotated[list[FormField], Field(min_length=1)]

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        ids = [f.id for f in getattr(v, "fields", None) or [] if _has(f, "id")]
        return [("fields", problem) for problem in duplicates(ids, "field id")]

    def field(self, field_id: str) -> FormField | None:
        return next((f for f in self.fields if f.id == field_id), None)


def redcap_name(field: FormField) -> str:
    """A field's effective REDCap variable name: its ``redcap_name``, else its id."""
    return field.redcap_name or field.id


def redcap_name_clashes(forms: list[Form]) -> list[Problem]:
    """A REDCap variable name is unique in a REDCap project, across its instruments: each field whose
    effective name another field already has is named with the field that has it, both by path."""
    first: dict[str, str] = {}
    problems: list[Problem] = []
    for form in forms:
        for fld in form.fields:
            name, where = redcap_name(fld), f"forms.{form.id}.fields.{fld.id}"
            if name in first:
                problems.append((where, f"REDCap variable name '{name}' is also that of {first[name]}; a REDCap "
                                        "variable name is unique across the forms: give one of them a redcap_name"))
            else:
                first[name] = where
    return problems


def redcap_name_problems(forms: list[Form]) -> list[Problem]:
    """The clashes of :func:`redcap_name_clashes`, in a protocol that declares its REDCap names (a field
    has a ``redcap_name``). A protocol written before the key existed (SPRINT 1.0 and 1.1 use one field id
    on several forms) stays valid, so that the studies bound to it still open; its REDCap names are
    refused where they are read (:func:`redcap_names`)."""
    if not any(fld.redcap_name is not None for form in forms for fld in form.fields):
        return []
    return redcap_name_clashes(forms)


# --------------------------------------------------------------------------- eligibility
Operator = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "is_true", "is_false"]
UNARY_OPERATORS = ("is_true", "is_false")


class FieldCondition(CheckedEntry):
    """One test on one screening field, e.g. ``{field: age_years, op: gt, value: 18}``."""

    field: Identifier
    op: Operator
    value: Any = None

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        if not _has(v, "op", "value"):
            return []
        if v.op in UNARY_OPERATORS and v.value is not None:
            return [("value", f"operator {v.op} takes no value")]
        if v.op not in UNARY_OPERATORS and v.value is None:
            return [("value", f"operator {v.op} needs a value")]
        if v.op in ("in", "not_in") and not isinstance(v.value, list):
            return [("value", f"operator {v.op} needs a list of values")]
        return []


class AllOf(_Model):
    all: Annotated[list["Condition"], Field(min_length=1)]


class AnyOf(_Model):
    any: Annotated[list["Condition"], Field(min_length=1)]


class NotOf(_Model):
    not_: "Condition" = Field(alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _condition_kind(value: Any) -> str | None:
    """Which kind of rule an entry is, from its keys (``all``, ``any``, ``not``, else a field test), so
    that a wrong rule is judged as the kind it was meant to be, not against every kind at once."""
    if isinstance(value, dict):
        return next((tag for key, tag in (("all", "AllOf"), ("any", "AnyOf"), ("not", "NotOf")) if key in value),
                    "FieldCondition")
    if isinstance(value, (FieldCondition, AllOf, AnyOf, NotOf)):
        return type(value).__name__
    return None


Condition = Annotated[
    Union[Annotated[FieldCondition, Tag("FieldCondition")], Annotated[AllOf, Tag("AllOf")],
          Annotated[AnyOf, Tag("AnyOf")], Annotated[NotOf, Tag("NotOf")]],
    Discriminator(_condition_kind, custom_error_type="rule_kind",
                  custom_error_message="a rule is a mapping: {field, op, value}, or all / any / not of rules"),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


class Criterion(_Model):
    """An inclusion criterion must be met; an exclusion criterion, if met, excludes."""

    id: Identifier
    kind: Literal["inclusion", "exclusion"]
    text: Annotated[str, Field(min_length=1)]
    rule: Condition


class Eligibility(CheckedEntry):
    form: Identifier
    criteria: Annotated[list[Criterion], Field(min_length=1)]

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        ids = [c.id for c in getattr(v, "criteria", None) or [] if _has(c, "id")]
        return [("criteria", problem) for problem in duplicates(ids, "criterion id")]


# --------------------------------------------------------------------------- treatment
class DoseLevel(_Model):
    target: Annotated[str, Field(min_length=1)]
    ptv: Annotated[str, Field(min_length=1)]
    total_dose_gy: Annotated[float, Field(gt=0)]
    dose_per_fraction_gy: Annotated[float, Field(gt=0)]
    description: str | None = None


class DoseObjective(CheckedEntry):
    """A planning objective judged per protocol / minor deviation / major deviation.

    ``metric`` is a DVH query: ``V95%`` (volume receiving 95 % of the structure's prescription,
    in % of volume), ``V20Gy``, ``D2%`` / ``D98%`` (dose to the hottest 2 % / 98 %, in % of
    prescription or Gy as ``unit`` says), ``D0.03cc``, ``Dmean``, ``Dmax``.
    """

    structure: Annotated[str, Field(min_length=1)]
    metric: Annotated[str, Field(pattern=METRIC_PATTERN)]  # the grammar of radiotherapy.dvh.notation
    comparator: Literal["<=", ">="]
    per_protocol: float
    minor_deviation: float
    unit: Literal["percent_volume", "percent_prescription", "gy", "cc"]
    source: str | None = None

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        if not _has(v, "comparator", "minor_deviation", "per_protocol"):
            return []
        looser = v.minor_deviation >= v.per_protocol if v.comparator == "<=" else v.minor_deviation <= v.per_protocol
        if looser:
            return []
        named = " ".join(str(getattr(v, name)) for name in ("structure", "metric") if _has(v, name))
        return [("", f"{named + ': ' if named else ''}the minor-deviation bound {v.minor_deviation} must be looser "
                     f"than the per-protocol bound {v.per_protocol} for comparator {v.comparator}")]


class Deviations(CheckedEntry):
    """When delivered treatment departs from the prescription, and how serious that is."""

    prolongation_minor_days: Annotated[int, Field(ge=0)]
    prolongation_major_days: Annotated[int, Field(ge=0)]
    dose_minor_percent: Annotated[float, Field(ge=0)]
    dose_major_percent: Annotated[float, Field(ge=0)]

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        problems = []
        for kind in ("prolongation", "dose"):
            minor, major = (f"{kind}_minor_days", f"{kind}_major_days") if kind == "prolongation" else \
                (f"{kind}_minor_percent", f"{kind}_major_percent")
            if _has(v, minor, major) and getattr(v, major) < getattr(v, minor):
                problems.append(("", f"{major} must be at least {minor}"))
        return problems


class GapCorrection(_Model):
    """Repopulation after a kick-off time (LQ with a time factor): only where a protocol sets it."""

    kickoff_days: Annotated[float, Field(ge=0)]
    dprolif_gy_per_day: Annotated[float, Field(ge=0)]
    source: str | None = None


class Radiotherapy(CheckedEntry):
    technique: str
    timing: Literal["preoperative", "postoperative", "definitive"]
    fractions: Annotated[int, Field(ge=1, le=60)]
    fractions_per_week: Annotated[int, Field(ge=1, le=7)]
    treatment_days: Annotated[list[Weekday], Field(min_length=1)]
    dose_levels: Annotated[list[DoseLevel], Field(min_length=1)]
    ptv_margins_mm: dict[str, Annotated[float, Field(ge=0)]]
    alpha_beta_gy: Annotated[float, Field(gt=0)]
    alpha_beta_literature: str | None = None
    gap_correction: GapCorrection | None = None
    deviations: Deviations
    organs_at_risk: list[str] = []
    objectives: list[DoseObjective] = []

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        problems = []
        levels = getattr(v, "dose_levels", None) or []
        for i, level in enumerate(levels):
            if not (_has(v, "fractions") and _has(level, "dose_per_fraction_gy", "total_dose_gy")):
                continue
            expected = level.dose_per_fraction_gy * v.fractions
            if not math.isclose(expected, level.total_dose_gy, rel_tol=0, abs_tol=1e-6):
                target = f"{level.target}: " if _has(level, "target") else ""
                problems.append((f"dose_levels[{i}].total_dose_gy",
                                 f"{target}{v.fractions} fractions x {level.dose_per_fraction_gy:g} Gy "
                                 f"= {expected:g} Gy, not the stated total {level.total_dose_gy:g} Gy"))
        if _has(v, "treatment_days") and len(set(v.treatment_days)) != len(v.treatment_days):
            problems.append(("treatment_days", "lists a day twice"))
        if _has(v, "fractions_per_week", "treatment_days") and v.fractions_per_week > len(v.treatment_days):
            problems.append(("fractions_per_week", f"{v.fractions_per_week} exceeds the {len(v.treatment_days)} "
                                                   "treatment days"))
        # the structures an objective may name are known only when every dose level's names parsed
        if _has(v, "dose_levels", "organs_at_risk", "objectives") and levels \
                and all(_has(level, "target", "ptv") for level in levels):
            known = {lvl.target for lvl in levels} | {lvl.ptv for lvl in levels} | set(v.organs_at_risk)
            for i, objective in enumerate(v.objectives):
                if not _has(objective, "structure"):
                    continue
                base = re.split(r"\s+(minus|outside)\s+", objective.structure)[0]
                if base not in known:
                    problems.append((f"objectives[{i}].structure",
                                     f"'{objective.structure}' is neither a target, a PTV nor an organ at risk"))
        return problems

    def dose_level(self, target_or_ptv: str) -> DoseLevel:
        for level in self.dose_levels:
            if target_or_ptv in (level.target, level.ptv):
                return level
        raise KeyError(target_or_ptv)


class Chemotherapy(_Model):
    allowed: bool
    regimens: list[str] = []
    timing: str | None = None


class Surgery(CheckedEntry):
    timing: str
    interval_after_rt_weeks_min: Annotated[int, Field(ge=0)]
    interval_after_rt_weeks_max: Annotated[int, Field(ge=0)]

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        if _has(v, "interval_after_rt_weeks_min", "interval_after_rt_weeks_max") \
                and v.interval_after_rt_weeks_max < v.interval_after_rt_weeks_min:
            return [("", "interval_after_rt_weeks_max is shorter than interval_after_rt_weeks_min")]
        return []


class Treatment(_Model):
    """The treatment the protocol prescribes. Schema version 1 (SPRINT 1.0-1.2) requires radiotherapy,
    chemotherapy and surgery; from version 2 each is given where the protocol has it."""

    radiotherapy: Radiotherapy | None = None
    chemotherapy: Chemotherapy | None = None
    surgery: Surgery | None = None
    #: schema version 2: regimens with their drugs, doses and cycles, body surface area, anthracycline limit
    systemic: Systemic | None = None
    #: schema version 2: further courses (another modality, an ablative course to a metastasis), each with
    #: its own prescription, calendar and delivery log, recorded on the forms it names
    radiotherapy_courses: RadiotherapyCourses | None = None
    #: schema version 2: thermal ablation and chemoembolisation, with complications graded by CIRSE
    interventions: Interventions | None = None


# --------------------------------------------------------------------------- clinical parameters
class Pathology(_Model):
    response_score: Literal["EORTC-STBSG"]
    pcr_max_viable_percent: Annotated[float, Field(ge=0, le=100)]
    grading: Literal["FNCLCC"]
    grading_from: Literal["pretreatment biopsy"]


class Toxicity(_Model):
    ctcae_version: Literal["5.0"]
    acute_window_days: Annotated[int, Field(ge=1)]
    #: the window of wound complications after surgery (required by schema version 1)
    wound_complication_window_days: Annotated[int, Field(ge=1)] | None = None


class Response(CheckedEntry):
    """Radiological response of measurable disease (schema version 2): RECIST 1.1 (Eisenhauer et al., Eur J
    Cancer 2009;45:228-247), read from the tumour-assessment form. Whether a response needs confirmation
    (a second assessment at least ``confirmation_min_days`` later) and the shortest time from the start of
    treatment for a best response of stable disease are the protocol's: RECIST 1.1 requires confirmation
    where response is the primary endpoint of a non-randomised trial, not in a randomised one.

    The three forms carry the fields of :meth:`recist_fields` under those names (a documented convention, as
    ``docs/recist.md`` gives it, rather than a mapping in the file: one shape of tumour-assessment form is
    enough for RECIST 1.1); ``references.version_problems`` checks a version 2 file's forms have them, with
    the types and codes the rule reads."""

    criteria: Literal["RECIST 1.1"]
    #: the tumour-assessment form (one instance per imaging date: its date and the new lesions)
    form: Identifier
    #: the lesions declared at baseline (target or non-target, organ, node) and their measurements at each assessment
    lesion_form: Identifier | None = None
    measurement_form: Identifier | None = None
    #: report the best overall response confirmed (true) or unconfirmed (false); the report gives both
    confirmation: bool
    confirmation_min_days: Annotated[int, Field(ge=1)] = 28
    sd_min_days: Annotated[int, Field(ge=1)]
    assessment_every_weeks: Annotated[int, Field(ge=1)] | None = None

    @staticmethod
    def recist_fields() -> dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]]]:
        """The fields RECIST 1.1 reads on each declared form (``form``, ``lesion_form``, ``measurement_form``):
        field id -> (the field types accepted, the exact codes of its codelist for a code field, else None)."""
        return {
            "form": {"assessment_date": (("date",), None), "baseline": (("boolean",), None),
                     "new_lesions": (("code",), ("no", "yes", "equivocal"))},
            "lesion_form": {"lesion_id": (("text", "code"), None), "kind": (("code",), ("target", "non_target")),
                            "organ": (("code", "text"), None), "node": (("boolean",), None)},
            "measurement_form": {"assessment_date": (("date",), None), "lesion_id": (("text", "code"), None),
                                 "diameter_mm": (("decimal", "integer"), None), "axis": (("code",), ("long", "short")),
                                 "too_small": (("boolean",), None),
                                 "status": (("code",), ("present", "absent", "unequivocal_progression", "not_assessed"))},
        }


# --------------------------------------------------------------------------- schedule
Anchor = Literal["referral", "screening", "enrolment", "rt_start", "rt_end", "surgery"]

#: the pathway record of enrolment, which anchors like a form (``enrolment.enrolment_date``)
ENROLMENT_FORM = "enrolment"


class AnchorRef(_Model):
    """A visit's anchor: a date field of a form, e.g. ``{form: surgery, field: surgery_date}``.

    ``instance`` picks the first or the last matching instance, or ``previous``: each occurrence
    after the first is timed from the previous actual instance (chemotherapy every 21 days from
    the previous cycle). ``where`` keeps only instances whose other fields have the given values
    (``{status: delivered}``; a course's ``role``).
    """

    form: Identifier
    field: Identifier
    instance: Literal["first", "last", "previous"] = "first"
    where: dict[Identifier, Any] = {}


#: what the named anchors of schema version 1 mean, as form fields
NAMED_ANCHORS: dict[str, AnchorRef] = {
    "referral": AnchorRef(form="referral", field="referral_date"),
    "screening": AnchorRef(form="screening", field="screening_date"),
    "enrolment": AnchorRef(form=ENROLMENT_FORM, field="enrolment_date"),
    "rt_start": AnchorRef(form="rt_fraction", field="fraction_date", instance="first", where={"status": "delivered"}),
    "rt_end": AnchorRef(form="rt_fraction", field="fraction_date", instance="last", where={"status": "delivered"}),
    "surgery": AnchorRef(form="surgery", field="surgery_date"),
}


class Repeat(CheckedEntry):
    every_days: Annotated[int, Field(ge=1)] | None = None
    every_months: Annotated[int, Field(ge=1)] | None = None
    until_days: Annotated[int, Field(ge=0)] | None = None
    until_months: Annotated[int, Field(ge=0)] | None = None
    count: Annotated[int, Field(ge=1)] | None = None

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        problems = []
        if _has(v, "every_days", "every_months") and (v.every_days is None) == (v.every_months is None):
            problems.append(("", "give exactly one of every_days or every_months"))
        if _has(v, "until_days", "until_months", "count") \
                and sum(x is not None for x in (v.until_days, v.until_months, v.count)) != 1:
            problems.append(("", "give exactly one of until_days, until_months or count"))
        return problems


class Visit(_Model):
    id: Identifier
    name: Annotated[str, Field(min_length=1)]
    anchor: Annotated[Union[Annotated[Anchor, Tag("Anchor")], Annotated[AnchorRef, Tag("AnchorRef")]],
                      Discriminator(lambda v: "Anchor" if isinstance(v, str) else "AnchorRef" if isinstance(v, (dict, AnchorRef))
                                    else None, custom_error_type="anchor_kind",
                                    custom_error_message="an anchor is a named anchor or a mapping {form, field}")]
    offset_days: int = 0
    offset_months: Annotated[int, Field(ge=0)] = 0
    window_before_days: Annotated[int, Field(ge=0)] = 0
    window_after_days: Annotated[int, Field(ge=0)] = 0
    repeat: Repeat | None = None
    forms: list[Identifier] = []
    #: forms collected at the visit when there is something to record (an adverse event): they do not
    #: leave the visit incomplete when absent
    optional_forms: list[Identifier] = []

    @property
    def collected(self) -> list[str]:
        """Every form collected at the visit, required first."""
        return [*self.forms, *self.optional_forms]

    @property
    def anchor_ref(self) -> AnchorRef:
        return NAMED_ANCHORS[self.anchor] if isinstance(self.anchor, str) else self.anchor


# --------------------------------------------------------------------------- edit checks
class FieldRef(_Model):
    """A value a check reads: a field of a form, which instance (``each`` for the checked field: every
    instance, ``first`` / ``last``: the instance with the smallest / largest value; ``first`` / ``last`` for a
    reference), and filters on the instance's other fields (a list means any of those values)."""

    form: Identifier
    field: Identifier
    instance: Literal["each", "first", "last"] = "first"
    where: dict[Identifier, Any] = {}


class Check(CheckedEntry):
    """A cross-form check, as data: ``field`` compared with ``than`` (``lt`` ... ``ge``), or within
    ``min_days``..``max_days`` after it (``within_days``). ``when`` restricts it to instances whose
    other fields have the given values. A hard check refuses the save; a soft check saves and opens
    a query on the checked field. The check runs whenever a form it reads is written."""

    id: Identifier
    kind: Literal["hard", "soft"]
    text: Annotated[str, Field(min_length=1)]
    field: FieldRef
    op: Literal["lt", "le", "eq", "ne", "ge", "gt", "within_days"]
    than: FieldRef
    min_days: int | None = None
    max_days: int | None = None
    when: dict[Identifier, Any] = {}

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        problems = []
        named = f"check '{v.id}': " if _has(v, "id") else ""
        if _has(v, "op", "min_days", "max_days"):
            if v.op == "within_days" and (v.min_days is None or v.max_days is None or v.min_days > v.max_days):
                problems.append(("", f"{named}within_days needs min_days <= max_days"))
            if v.op != "within_days" and (v.min_days is not None or v.max_days is not None):
                problems.append(("", f"{named}min_days / max_days go with op within_days"))
        if _has(getattr(v, "than", None), "instance") and v.than.instance == "each":
            problems.append(("", f"{named}the reference 'than' is one value: instance first or last"))
        return problems

    @property
    def forms(self) -> set[str]:
        return {self.field.form, self.than.form}


# --------------------------------------------------------------------------- consent, withdrawal, safety
class ConsentSpec(_Model):
    """Where consent is recorded, and the consent document's current version: a patient whose latest
    consent is to an older version must consent again. ``data_use_field`` (a yes/no field) says whether
    the patient consents to the use of the data: a consent without it does not enrol."""

    form: Identifier
    date_field: Identifier
    version_field: Identifier
    current_version: Annotated[str, Field(min_length=1)]
    data_use_field: Identifier | None = None


class WithdrawalSpec(_Model):
    """Where withdrawal is recorded, and which forms each kind of withdrawal stops (dated after it)."""

    form: Identifier
    date_field: Identifier
    kind_field: Identifier
    stops: dict[Identifier, list[str]]  # kind code -> forms refused after the withdrawal date ("*": all)
    #: the kinds after which the patient is no longer followed (status withdrawn)
    ends_follow_up: list[Identifier] = []


class EndOfStudySpec(_Model):
    """The end-of-study form; ``patient_status`` maps its status codes to the patient's status
    (completed, withdrawn, lost_to_follow_up), which CONSORT counts."""

    form: Identifier
    status_field: Identifier
    date_field: Identifier
    patient_status: dict[str, Literal["completed", "withdrawn", "lost_to_follow_up"]] = {}


class SafetySpec(_Model):
    """Serious adverse events: the reporting clock runs from the site's awareness. The investigator reports
    to the sponsor within 24 hours (Regulation (EU) No 536/2014, Art. 41(2)); ICH E2A defines seriousness."""

    form: Identifier
    serious_field: Identifier
    aware_field: Identifier
    reported_field: Identifier
    report_within_hours: Annotated[int, Field(ge=1)] = 24


# --------------------------------------------------------------------------- endpoints
class Endpoint(CheckedEntry):
    id: Identifier
    name: Annotated[str, Field(min_length=1)]
    role: Literal["primary", "secondary", "exploratory"]
    kind: Literal["proportion", "time_to_event", "toxicity"]
    definition: Annotated[str, Field(min_length=1)]
    population: Annotated[str, Field(min_length=1)]
    timing: str | None = None
    origin: Anchor | None = None
    #: ``progression`` (schema version 2): progression by the protocol's response criteria, or clinical
    events: list[Literal["death_any_cause", "death_sarcoma", "local_relapse", "distant_metastasis", "progression"]] = []
    competing_risks: list[Literal["death_any_cause", "death_other_cause", "local_relapse", "distant_metastasis"]] = []
    censoring: str | None = None
    #: without an event: censored at the last contact, or (schema version 2, progression-free survival) at the
    #: last tumour assessment
    censor_at: Literal["last_contact", "last_response_assessment"] = "last_contact"

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        if not (_has(v, "kind") and v.kind == "time_to_event"):
            return []
        problems = []
        named = f" '{v.id}'" if _has(v, "id") else ""
        if _has(v, "origin", "events", "censoring") and (v.origin is None or not v.events or not v.censoring):
            problems.append(("", f"time-to-event endpoint{named} needs an origin, its events and its censoring rule"))
        if _has(v, "events", "competing_risks") and set(v.events) & set(v.competing_risks):
            problems.append(("", f"endpoint{named}: an event cannot also be a competing risk"))
        return problems


#: the analysis populations: ``randomised`` (intention to treat, by the arm allocated) and ``treated`` (safety:
#: patients who received any study treatment) come with schema version 2
Population = Literal["resected", "enrolled", "randomised", "treated"]


class PrimaryAnalysis(CheckedEntry):
    """A single-arm proportion against a null rate (SPRINT's R0 rate): exact binomial test and interval."""

    kind: Literal["proportion"] = "proportion"
    endpoint: Identifier
    population: Population
    also_report_itt: bool
    null_rate: Annotated[float, Field(gt=0, lt=1)]
    alternative_rate: Annotated[float, Field(gt=0, lt=1)]
    alpha: Annotated[float, Field(gt=0, lt=0.5)]
    sided: Literal["one-sided", "two-sided"]
    power: Annotated[float, Field(gt=0, lt=1)]
    ci_level: Annotated[float, Field(gt=0, lt=1)]
    ci_method: Literal["clopper-pearson"]

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        if _has(v, "alternative_rate", "null_rate") and v.alternative_rate == v.null_rate:
            return [("", "alternative_rate must differ from null_rate")]
        return []


class ComparisonAnalysis(CheckedEntry):
    """Two arms compared on a time-to-event endpoint (schema version 2): log-rank test and Cox hazard ratio,
    the events needed by Schoenfeld's formula (Biometrics 1983;39:499-503) for the hazard ratio to detect."""

    kind: Literal["comparison"]
    endpoint: Identifier
    population: Population
    #: the arm whose hazard is the reference (denominator of the hazard ratio)
    control_arm: Identifier
    hazard_ratio: Annotated[float, Field(gt=0)]
    alpha: Annotated[float, Field(gt=0, lt=0.5)]
    sided: Literal["one-sided", "two-sided"]
    power: Annotated[float, Field(gt=0, lt=1)]
    ci_level: Annotated[float, Field(gt=0, lt=1)]
    median_control_months: Annotated[float, Field(gt=0)] | None = None
    stratified_by: list[Identifier] = []

    @classmethod
    def entry_problems(cls, v: Any) -> list[Problem]:
        if _has(v, "hazard_ratio") and v.hazard_ratio == 1:
            return [("hazard_ratio", "a hazard ratio of 1 is no difference to detect")]
        return []


def _primary_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "ComparisonAnalysis" if value.get("kind") == "comparison" else "PrimaryAnalysis"
    if isinstance(value, (PrimaryAnalysis, ComparisonAnalysis)):
        return type(value).__name__
    return None


Primary = Annotated[Union[Annotated[PrimaryAnalysis, Tag("PrimaryAnalysis")], Annotated[ComparisonAnalysis, Tag("ComparisonAnalysis")]],
                    Discriminator(_primary_kind, custom_error_type="primary_kind",
                                  custom_error_message="the primary analysis is a mapping, of kind proportion or comparison")]


class ToxicityMonitor(_Model):
    """Bayesian beta-binomial monitoring of a toxicity rate: review the trial when
    P(rate > threshold | data) > cutoff, with a Beta(prior_a, prior_b) prior."""

    endpoint: Identifier
    prior_a: Annotated[float, Field(gt=0)]
    prior_b: Annotated[float, Field(gt=0)]
    threshold: Annotated[float, Field(gt=0, lt=1)]
    cutoff: Annotated[float, Field(gt=0, lt=1)]
    source: str | None = None


class Statistics(_Model):
    primary: Primary
    time_origin: Anchor
    landmarks_months: list[Annotated[int, Field(ge=1)]]
    km_conf_type: Literal["log", "log-log", "plain"]
    toxicity_monitor: ToxicityMonitor | None = None


# --------------------------------------------------------------------------- the protocol
#: the schema versions this SarcoTrial reads. Version 2 generalises version 1 (SPRINT 1.0-1.2): treatment
#: without radiotherapy or surgery, systemic regimens, arms and randomisation, RECIST response, progression,
#: two-arm comparisons; a version 1 file must give what version 1 required (``references.version_problems``)
SCHEMA_VERSIONS = (1, 2)


class Protocol(_Model):
    schema_version: Literal[1, 2]
    identification: Identification
    eligibility: Eligibility
    treatment: Treatment
    pathology: Pathology | None = None
    toxicity: Toxicity
    response: Response | None = None
    #: schema version 2: functional outcome after limb surgery (MSTS), on the form it names
    functional_outcome: FunctionalOutcome | None = None
    visits: Annotated[list[Visit], Field(min_length=1)]
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]
    statistics: Statistics
    forms: Annotated[list[Form], Field(min_length=1)]
    codelists: dict[Identifier, Annotated[list[Code], Field(min_length=1)]]
    missing_codes: list[Code] = []
    checks: list[Check] = []
    consent: ConsentSpec | None = None
    withdrawal: WithdrawalSpec | None = None
    end_of_study: EndOfStudySpec | None = None
    safety: SafetySpec | None = None
    #: schema version 2: the arms (none: a single-arm study) and how patients are allocated to them
    arms: list[Arm] = []
    randomisation: Randomisation | None = None
    assumptions: dict[str, str] = {}

    # ---- lookups
    @property
    def acronym(self) -> str:
        return self.identification.acronym

    @property
    def version(self) -> str:
        return self.identification.version

    def form(self, form_id: str) -> Form:
        for form in self.forms:
            if form.id == form_id:
                return form
        raise KeyError(form_id)

    def has_form(self, form_id: str) -> bool:
        return any(f.id == form_id for f in self.forms)

    def endpoint(self, endpoint_id: str) -> Endpoint:
        for endpoint in self.endpoints:
            if endpoint.id == endpoint_id:
                return endpoint
        raise KeyError(endpoint_id)

    def visit(self, visit_id: str) -> Visit:
        for visit in self.visits:
            if visit.id == visit_id:
                return visit
        raise KeyError(visit_id)

    def visits_of_form(self, form_id: str) -> list[Visit]:
        """The visits that collect a form (required or optional)."""
        return [v for v in self.visits if form_id in v.collected]

    def missing_code(self, code: str) -> Code | None:
        return next((c for c in self.missing_codes if c.code == code), None)

    def codes(self, codelist: str) -> list[str]:
        return [c.code for c in self.codelists[codelist]]

    def is_assumed(self, path: str) -> bool:
        return path in self.assumptions

    def render(self, text: str) -> str:
        """A protocol text with each ``{parameter.path}`` replaced by that parameter's value."""
        def value(match: re.Match) -> str:
            found = _resolve(self, match.group(1))
            if isinstance(found, float):
                return f"{found:g}"
            return str(found)
        return re.sub(r"\{([a-z_][a-z0-9_.\[\]]*)\}", value, text)

    # ---- cross-references
    @model_validator(mode="after")
    def _cross_references(self) -> "Protocol":
        """What one section says about another (``protocol/references.py``), every problem at once."""
        from sarcotrial.protocol.references import cross_reference_problems

        _raise_problems(cross_reference_problems(self))
        return self


_MISSING = object()


def _resolve(model: Any, path: str) -> Any:
    """Follow a dotted path: ``statistics.primary.null_rate``, ``endpoints.lrfs.events`` (a list entry by
    its id) or ``visits[3].window_after_days`` (by position)."""
    current = model
    for part in path.split("."):
        match = re.fullmatch(r"([a-z_0-9]+)(?:\[(\d+)\])?", part)
        if match is None:
            return _MISSING
        name, index = match.group(1), match.group(2)
        if isinstance(current, dict):
            current = current.get(name, _MISSING)
        elif isinstance(current, list):  # an entry of a list named by its id: endpoints.lrfs.events
            current = next((item for item in current if getattr(item, "id", None) == name), _MISSING)
        else:
            current = getattr(current, name, _MISSING)
        if current is _MISSING:
            return _MISSING
        if index is not None:
            try:
                current = current[int(index)]
            except (IndexError, TypeError, KeyError):
                return _MISSING
    return current


def resolve_parameter(protocol: Protocol, path: str) -> Any:
    """The value at a dotted path of a protocol (``KeyError`` if there is none)."""
    value = _resolve(protocol, path)
    if value is _MISSING:
        raise KeyError(path)
    return value


def redcap_names(protocol: Protocol) -> dict[tuple[str, str], str]:
    """Each field's REDCap variable name, by ``(form id, field id)``, in the protocol's order. Raises
    :class:`Problems` (each clash, both fields by path) where two fields would share a name, as in a
    protocol that declares no ``redcap_name`` and uses a field id on two forms."""
    _raise_problems(redcap_name_clashes(protocol.forms))
    return {(form.id, fld.id): redcap_name(fld) for form in protocol.forms for fld in form.fields}


def redcap_fields(protocol: Protocol) -> dict[str, tuple[str, str]]:
    """The inverse of :func:`redcap_names`: the ``(form id, field id)`` each REDCap variable name stands for,
    to read a REDCap export back."""
    return {name: key for key, name in redcap_names(protocol).items()}
