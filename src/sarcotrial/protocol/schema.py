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
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

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


class FormField(_Model):
    id: Identifier
    label: Annotated[str, Field(min_length=1)]
    type: FieldType
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    required: bool = False
    codelist: Identifier | None = None
    help: str | None = None

    @model_validator(mode="after")
    def _coherent(self) -> "FormField":
        problems = []
        if self.type == "code" and self.codelist is None:
            problems.append(("codelist", "a field of type code needs a codelist"))
        if self.type != "code" and self.codelist is not None:
            problems.append(("codelist", f"only a field of type code has a codelist; this one is {self.type}"))
        if (self.min is not None or self.max is not None) and self.type not in ("integer", "decimal"):
            problems.append(("min" if self.min is not None else "max",
                             f"min/max apply to integer and decimal fields only; this one is {self.type}"))
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append(("min", f"{self.min:g} is greater than max {self.max:g}"))
        _raise_problems(problems)
        return self


class Form(_Model):
    id: Identifier
    name: Annotated[str, Field(min_length=1)]
    repeating: bool = False
    fields: Annotated[list[FormField], Field(min_length=1)]

    @field_validator("fields")
    @classmethod
    def _unique_fields(cls, fields: list[FormField]) -> list[FormField]:
        _no_duplicates([f.id for f in fields], "field")
        return fields

    def field(self, field_id: str) -> FormField | None:
        return next((f for f in self.fields if f.id == field_id), None)


# --------------------------------------------------------------------------- eligibility
Operator = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "is_true", "is_false"]
UNARY_OPERATORS = ("is_true", "is_false")


class FieldCondition(_Model):
    """One test on one screening field, e.g. ``{field: age_years, op: gt, value: 18}``."""

    field: Identifier
    op: Operator
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> "FieldCondition":
        if self.op in UNARY_OPERATORS and self.value is not None:
            _raise_problems([("value", f"operator {self.op} takes no value")])
        if self.op not in UNARY_OPERATORS and self.value is None:
            _raise_problems([("value", f"operator {self.op} needs a value")])
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            _raise_problems([("value", f"operator {self.op} needs a list of values")])
        return self


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


class Eligibility(_Model):
    form: Identifier
    criteria: Annotated[list[Criterion], Field(min_length=1)]

    @field_validator("criteria")
    @classmethod
    def _unique(cls, criteria: list[Criterion]) -> list[Criterion]:
        _no_duplicates([c.id for c in criteria], "criterion")
        return criteria


# --------------------------------------------------------------------------- treatment
class DoseLevel(_Model):
    target: Annotated[str, Field(min_length=1)]
    ptv: Annotated[str, Field(min_length=1)]
    total_dose_gy: Annotated[float, Field(gt=0)]
    dose_per_fraction_gy: Annotated[float, Field(gt=0)]
    description: str | None = None


class DoseObjective(_Model):
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

    @model_validator(mode="after")
    def _ordered(self) -> "DoseObjective":
        looser = self.minor_deviation >= self.per_protocol if self.comparator == "<=" else self.minor_deviation <= self.per_protocol
        if not looser:
            raise ValueError(
                f"{self.structure} {self.metric}: the minor-deviation bound {self.minor_deviation} must be looser "
                f"than the per-protocol bound {self.per_protocol} for comparator {self.comparator}"
            )
        return self


class Deviations(_Model):
    """When delivered treatment departs from the prescription, and how serious that is."""

    prolongation_minor_days: Annotated[int, Field(ge=0)]
    prolongation_major_days: Annotated[int, Field(ge=0)]
    dose_minor_percent: Annotated[float, Field(ge=0)]
    dose_major_percent: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> "Deviations":
        if self.prolongation_major_days < self.prolongation_minor_days:
            raise ValueError("prolongation_major_days must be at least prolongation_minor_days")
        if self.dose_major_percent < self.dose_minor_percent:
            raise ValueError("dose_major_percent must be at least dose_minor_percent")
        return self


class GapCorrection(_Model):
    """Repopulation after a kick-off time (LQ with a time factor): only where a protocol sets it."""

    kickoff_days: Annotated[float, Field(ge=0)]
    dprolif_gy_per_day: Annotated[float, Field(ge=0)]
    source: str | None = None


class Radiotherapy(_Model):
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

    @model_validator(mode="after")
    def _coherent(self) -> "Radiotherapy":
        problems = []
        for i, level in enumerate(self.dose_levels):
            expected = level.dose_per_fraction_gy * self.fractions
            if not math.isclose(expected, level.total_dose_gy, rel_tol=0, abs_tol=1e-6):
                problems.append((f"dose_levels[{i}].total_dose_gy",
                                 f"{level.target}: {self.fractions} fractions x {level.dose_per_fraction_gy:g} Gy "
                                 f"= {expected:g} Gy, not the stated total {level.total_dose_gy:g} Gy"))
        if len(set(self.treatment_days)) != len(self.treatment_days):
            problems.append(("treatment_days", "lists a day twice"))
        if self.fractions_per_week > len(self.treatment_days):
            problems.append(("fractions_per_week", f"{self.fractions_per_week} exceeds the {len(self.treatment_days)} "
                                                   "treatment days"))
        known = {lvl.target for lvl in self.dose_levels} | {lvl.ptv for lvl in self.dose_levels} | set(self.organs_at_risk)
        for i, objective in enumerate(self.objectives):
            base = re.split(r"\s+(minus|outside)\s+", objective.structure)[0]
            if base not in known:
                problems.append((f"objectives[{i}].structure",
                                 f"'{objective.structure}' is neither a target, a PTV nor an organ at risk"))
        _raise_problems(problems)
        return self

    def dose_level(self, target_or_ptv: str) -> DoseLevel:
        for level in self.dose_levels:
            if target_or_ptv in (level.target, level.ptv):
                return level
        raise KeyError(target_or_ptv)


class Chemotherapy(_Model):
    allowed: bool
    regimens: list[str] = []
    timing: str | None = None


class Surgery(_Model):
    timing: str
    interval_after_rt_weeks_min: Annotated[int, Field(ge=0)]
    interval_after_rt_weeks_max: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> "Surgery":
        if self.interval_after_rt_weeks_max < self.interval_after_rt_weeks_min:
            raise ValueError("interval_after_rt_weeks_max is shorter than interval_after_rt_weeks_min")
        return self


class Treatment(_Model):
    radiotherapy: Radiotherapy
    chemotherapy: Chemotherapy
    surgery: Surgery


# --------------------------------------------------------------------------- clinical parameters
class Pathology(_Model):
    response_score: Literal["EORTC-STBSG"]
    pcr_max_viable_percent: Annotated[float, Field(ge=0, le=100)]
    grading: Literal["FNCLCC"]
    grading_from: Literal["pretreatment biopsy"]


class Toxicity(_Model):
    ctcae_version: Literal["5.0"]
    acute_window_days: Annotated[int, Field(ge=1)]
    wound_complication_window_days: Annotated[int, Field(ge=1)]


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


class Repeat(_Model):
    every_days: Annotated[int, Field(ge=1)] | None = None
    every_months: Annotated[int, Field(ge=1)] | None = None
    until_days: Annotated[int, Field(ge=0)] | None = None
    until_months: Annotated[int, Field(ge=0)] | None = None
    count: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _one_step(self) -> "Repeat":
        if (self.every_days is None) == (self.every_months is None):
            raise ValueError("give exactly one of every_days or every_months")
        if sum(x is not None for x in (self.until_days, self.until_months, self.count)) != 1:
            raise ValueError("give exactly one of until_days, until_months or count")
        return self


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
    instance; ``first`` / ``last`` for a reference), and filters on the instance's other fields
    (a list means any of those values)."""

    form: Identifier
    field: Identifier
    instance: Literal["each", "first", "last"] = "first"
    where: dict[Identifier, Any] = {}


class Check(_Model):
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

    @model_validator(mode="after")
    def _coherent(self) -> "Check":
        if self.op == "within_days" and (self.min_days is None or self.max_days is None or self.min_days > self.max_days):
            raise ValueError(f"check '{self.id}': within_days needs min_days <= max_days")
        if self.op != "within_days" and (self.min_days is not None or self.max_days is not None):
            raise ValueError(f"check '{self.id}': min_days / max_days go with op within_days")
        if self.than.instance == "each":
            raise ValueError(f"check '{self.id}': the reference 'than' is one value: instance first or last")
        return self

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
class Endpoint(_Model):
    id: Identifier
    name: Annotated[str, Field(min_length=1)]
    role: Literal["primary", "secondary", "exploratory"]
    kind: Literal["proportion", "time_to_event", "toxicity"]
    definition: Annotated[str, Field(min_length=1)]
    population: Annotated[str, Field(min_length=1)]
    timing: str | None = None
    origin: Anchor | None = None
    events: list[Literal["death_any_cause", "death_sarcoma", "local_relapse", "distant_metastasis"]] = []
    competing_risks: list[Literal["death_any_cause", "death_other_cause", "local_relapse", "distant_metastasis"]] = []
    censoring: str | None = None

    @model_validator(mode="after")
    def _time_to_event_complete(self) -> "Endpoint":
        if self.kind == "time_to_event":
            if self.origin is None or not self.events or not self.censoring:
                raise ValueError(f"time-to-event endpoint '{self.id}' needs an origin, its events and its censoring rule")
            if set(self.events) & set(self.competing_risks):
                raise ValueError(f"endpoint '{self.id}': an event cannot also be a competing risk")
        return self


class PrimaryAnalysis(_Model):
    endpoint: Identifier
    population: Literal["resected", "enrolled"]
    also_report_itt: bool
    null_rate: Annotated[float, Field(gt=0, lt=1)]
    alternative_rate: Annotated[float, Field(gt=0, lt=1)]
    alpha: Annotated[float, Field(gt=0, lt=0.5)]
    sided: Literal["one-sided", "two-sided"]
    power: Annotated[float, Field(gt=0, lt=1)]
    ci_level: Annotated[float, Field(gt=0, lt=1)]
    ci_method: Literal["clopper-pearson"]

    @model_validator(mode="after")
    def _direction(self) -> "PrimaryAnalysis":
        if self.alternative_rate == self.null_rate:
            raise ValueError("alternative_rate must differ from null_rate")
        return self


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
    primary: PrimaryAnalysis
    time_origin: Anchor
    landmarks_months: list[Annotated[int, Field(ge=1)]]
    km_conf_type: Literal["log", "log-log", "plain"]
    toxicity_monitor: ToxicityMonitor | None = None


# --------------------------------------------------------------------------- the protocol
class Protocol(_Model):
    schema_version: Literal[1]
    identification: Identification
    eligibility: Eligibility
    treatment: Treatment
    pathology: Pathology
    toxicity: Toxicity
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


def _no_duplicates(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} id '{item}'")
        seen.add(item)
