"""The risk-model file's schema: a published nomogram or regression model, as data a generic engine reads.

A model file (YAML, reference in ``docs/risk-models.md``) holds the model's metadata (its citation,
the population it was developed on, the outcome, the horizons, how far it was validated and where
its numbers come from), its inputs (numeric with a unit and a permitted range, or categorical), and
one of three kinds of model:

- ``points``: a points nomogram (Kattan et al., J Clin Oncol 2002;20:791-796, is the archetype in
  sarcoma): each input gives points, read off piecewise-linear knots; the total is converted to a
  probability per horizon through a piecewise-linear, monotone curve.
- ``cox``: a Cox proportional-hazards model (Cox, J R Stat Soc B 1972;34:187-220): risk by t is
  ``1 - S0(t) ** exp(lp - centre)``.
- ``fine_gray``: a Fine-Gray subdistribution-hazard model (Fine and Gray, J Am Stat Assoc
  1999;94:496-509): cumulative incidence by t is ``1 - (1 - F0(t)) ** exp(lp - centre)``.

Numeric inputs of a regression model may carry restricted cubic spline terms in Harrell's
parameterisation (Harrell, *Regression Modeling Strategies*, 2nd ed., Springer 2015, section
2.4.5; R ``Hmisc::rcspline.eval`` / ``rms::rcs``), computed in :mod:`sarcotrial.riskmodels.predict`.

pydantic checks each key's type and range (every model forbids unknown keys, so a misspelt key is an
error, not a silent default); :func:`cross_problems` then checks the sections against one another
(a points entry for every input, a baseline for every horizon). Each problem is reported as
``(path, rule)`` with the path as the file is written (``inputs[2].max``), all of them at once.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from sarcotrial.validation_messages import Problems

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64)]
Text = Annotated[str, Field(min_length=1)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
ValidationStatus = Literal["not validated", "internally validated", "externally validated"]
#: where the study's record holds an input: ``FORM.FIELD`` (the protocol's ids), or ``age`` (the age in
#: whole years on the day of the prediction, which the patient's year of birth narrows to two values)
RECORD_PATTERN = r"^(age|[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)$"
RecordRef = Annotated[str, Field(pattern=RECORD_PATTERN, max_length=129)]


def _raise(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise Problems(problems)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text_of_whole_number(value: Any) -> Any:
    """A category written as a bare whole number in YAML (``1``) is the category ``"1"``."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _keys_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {_text_of_whole_number(key): item for key, item in value.items()}
    return value


# --- metadata ---------------------------------------------------------------------------------------

class Source(_Model):
    """The publication the model comes from."""

    authors: Text
    title: Text
    journal: Text
    year: Annotated[int, Field(ge=1900, le=2100)]
    doi: Optional[Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")]] = None

    def citation(self) -> str:
        doi = f", doi:{self.doi}" if self.doi else ""
        return f"{self.authors}. {self.title}. {self.journal} {self.year}{doi}"


class Provenance(_Model):
    """Where the model's numbers come from.

    ``published``: printed in the paper (coefficients, baseline, tables). ``digitised``: read off the
    paper's nomogram figure; ``max_error`` is then required: the largest absolute difference (as a
    probability, 0.02 = 2 percentage points) between this file's predictions and the paper's worked
    examples, which the file lists under ``examples`` and the loader re-computes.
    """

    numbers: Literal["published", "digitised"]
    max_error: Optional[Annotated[float, Field(ge=0.0, le=0.5)]] = None
    note: Optional[Text] = None

    @model_validator(mode="after")
    def _error_when_digitised(self) -> "Provenance":
        if self.numbers == "digitised" and self.max_error is None:
            _raise([("max_error", "digitised numbers need their measured error against the paper's worked examples")])
        return self


class Metadata(_Model):
    id: Identifier
    name: Text
    version: Text
    synthetic: bool = False
    source: Source
    population: Text
    outcome: Text
    competing_events: list[Text] = []
    horizons: Annotated[list[Annotated[float, Field(gt=0, le=100)]], Field(min_length=1)]
    validation_status: ValidationStatus
    provenance: Provenance

    @field_validator("horizons")
    @classmethod
    def _increasing(cls, horizons: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(horizons, horizons[1:])):
            raise ValueError("horizons must be listed once each, in increasing order")
        return horizons

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


# --- inputs -----------------------------------------------------------------------------------------

class NumericInput(_Model):
    name: Identifier
    label: Text
    kind: Literal["numeric"]
    unit: Text
    min: float
    max: float
    record: Optional[RecordRef] = None

    @model_validator(mode="after")
    def _range(self) -> "NumericInput":
        problems = [(key, "must be a finite number") for key in ("min", "max") if not math.isfinite(getattr(self, key))]
        if not problems and self.max <= self.min:
            problems.append(("max", "must be greater than min"))
        _raise(problems)
        return self


class Category(_Model):
    value: Annotated[str, Field(min_length=1)]
    label: Text

    _value_as_text = field_validator("value", mode="before")(classmethod(lambda cls, v: _text_of_whole_number(v)))


class CategoricalInput(_Model):
    name: Identifier
    label: Text
    kind: Literal["categorical"]
    categories: Annotated[list[Category], Field(min_length=2)]
    record: Optional[RecordRef] = None

    @model_validator(mode="after")
    def _distinct(self) -> "CategoricalInput":
        seen: set[str] = set()
        problems = []
        for i, category in enumerate(self.categories):
            if category.value in seen:
                problems.append((f"categories[{i}].value", f"category {category.value!r} is listed twice"))
            seen.add(category.value)
        _raise(problems)
        return self


Input = Annotated[Union[NumericInput, CategoricalInput], Field(discriminator="kind")]


# --- points nomograms -------------------------------------------------------------------------------

Knot = Annotated[list[float], Field(min_length=2, max_length=2)]


def _knot_problems(knots: list[list[float]], x_name: str) -> list[tuple[str, str]]:
    problems = []
    for i, knot in enumerate(knots):
        if not all(math.isfinite(v) for v in knot):
            problems.append((f"knots[{i}]", "must be two finite numbers"))
    if not problems:
        for i in range(1, len(knots)):
            if knots[i][0] <= knots[i - 1][0]:
                problems.append((f"knots[{i}]", f"{x_name} must increase from one knot to the next"))
    return problems


class NumericPoints(_Model):
    """Points of a numeric input: ``[value, points]`` knots, interpolated linearly between them."""

    knots: Annotated[list[Knot], Field(min_length=2)]

    @model_validator(mode="after")
    def _knots(self) -> "NumericPoints":
        _raise(_knot_problems(self.knots, "the value"))
        return self

    def points(self, value: float) -> float:
        return _interpolate(self.knots, value)


class CategoricalPoints(_Model):
    """Points of a categorical input: one number per category."""

    categories: dict[str, float]

    _keys = field_validator("categories", mode="before")(classmethod(lambda cls, v: _keys_as_text(v)))


class ProbabilityCurve(_Model):
    """Total points to probability at one horizon: ``[total_points, probability]`` knots.

    ``axis: risk`` (the default) when the nomogram's axis reads the probability of the outcome (the
    knots then may not decrease), ``axis: survival`` when it reads the probability of being free of
    it (``risk = 1 - value``; the knots then may not increase)."""

    horizon: Annotated[float, Field(gt=0)]
    axis: Literal["risk", "survival"] = "risk"
    knots: Annotated[list[Knot], Field(min_length=2)]

    @model_validator(mode="after")
    def _monotone(self) -> "ProbabilityCurve":
        problems = _knot_problems(self.knots, "total points")
        for i, (_, p) in enumerate(self.knots):
            if math.isfinite(p) and not 0.0 <= p <= 1.0:
                problems.append((f"knots[{i}]", "the probability must be from 0 to 1"))
        if not problems:
            for i in range(1, len(self.knots)):
                before, now = self.knots[i - 1][1], self.knots[i][1]
                if self.axis == "risk" and now < before:
                    problems.append((f"knots[{i}]", "a risk axis must not decrease as total points increase"))
                if self.axis == "survival" and now > before:
                    problems.append((f"knots[{i}]", "a survival axis must not increase as total points increase"))
        _raise(problems)
        return self

    @property
    def range(self) -> tuple[float, float]:
        return self.knots[0][0], self.knots[-1][0]

    def risk(self, total: float) -> float:
        value = _interpolate(self.knots, total)
        return 1.0 - value if self.axis == "survival" else value


def _points_kind(value: Any) -> str:
    return "categorical" if isinstance(value, dict) and "categories" in value else "numeric"


PointsEntry = Annotated[Union[Annotated[NumericPoints, Tag("numeric")], Annotated[CategoricalPoints, Tag("categorical")]],
                        Discriminator(_points_kind)]


class PointsModel(_Model):
    kind: Literal["points"]
    points: dict[str, PointsEntry]
    curves: Annotated[list[ProbabilityCurve], Field(min_length=1)]


# --- Cox and Fine-Gray models -----------------------------------------------------------------------

class Spline(_Model):
    """Restricted cubic spline terms (Harrell's parameterisation, R ``rms::rcs``).

    ``knots``: k >= 3 knots, increasing; ``coefficients``: the k - 2 non-linear terms' coefficients in
    the order ``rcs`` prints them (``x'``, ``x''``, ...); ``norm``: ``Hmisc::rcspline.eval``'s
    normalisation: 2 (its default, which ``rms::rcs`` uses: each term divided by (t_k - t_1)^2),
    1 (divided by (t_k - t_{k-1})^3) or 0 (none: Devlin and Weeks's original terms)."""

    knots: Annotated[list[float], Field(min_length=3)]
    coefficients: list[float]
    norm: Literal[0, 1, 2] = 2

    @model_validator(mode="after")
    def _shape(self) -> "Spline":
        problems = []
        if any(b <= a for a, b in zip(self.knots, self.knots[1:])):
            problems.append(("knots", "must increase from one knot to the next"))
        if len(self.coefficients) != len(self.knots) - 2:
            problems.append(("coefficients", f"{len(self.knots)} knots need {len(self.knots) - 2} "
                             f"coefficients (one per non-linear term), got {len(self.coefficients)}"))
        _raise(problems)
        return self


class NumericTerm(_Model):
    input: Identifier
    coefficient: float
    spline: Optional[Spline] = None


class CategoricalTerm(_Model):
    input: Identifier
    reference: Annotated[str, Field(min_length=1)]
    coefficients: dict[str, float]

    _reference = field_validator("reference", mode="before")(classmethod(lambda cls, v: _text_of_whole_number(v)))
    _keys = field_validator("coefficients", mode="before")(classmethod(lambda cls, v: _keys_as_text(v)))


def _term_kind(value: Any) -> str:
    return "categorical" if isinstance(value, dict) and "reference" in value else "numeric"


Term = Annotated[Union[Annotated[NumericTerm, Tag("numeric")], Annotated[CategoricalTerm, Tag("categorical")]],
                 Discriminator(_term_kind)]


class CoxBaseline(_Model):
    horizon: Annotated[float, Field(gt=0)]
    survival: Annotated[float, Field(gt=0.0, le=1.0)]


class FineGrayBaseline(_Model):
    horizon: Annotated[float, Field(gt=0)]
    cumulative_incidence: Annotated[float, Field(ge=0.0, lt=1.0)]


class CoxModel(_Model):
    """``centre``: the linear predictor at which the baseline is given (the mean linear predictor when
    the paper gives the baseline at the covariates' means; 0 when at all covariates zero)."""

    kind: Literal["cox"]
    terms: Annotated[list[Term], Field(min_length=1)]
    centre: float = 0.0
    baseline: Annotated[list[CoxBaseline], Field(min_length=1)]


class FineGrayModel(_Model):
    kind: Literal["fine_gray"]
    terms: Annotated[list[Term], Field(min_length=1)]
    centre: float = 0.0
    baseline: Annotated[list[FineGrayBaseline], Field(min_length=1)]


ModelSpec = Annotated[Union[PointsModel, CoxModel, FineGrayModel], Field(discriminator="kind")]


class Example(_Model):
    """A worked example of the paper: its inputs and the risks it prints, per horizon."""

    inputs: dict[str, Any]
    risks: Annotated[dict[float, Probability], Field(min_length=1)]
    note: Optional[Text] = None


class ModelFile(_Model):
    format: Literal["sarcotrial-riskmodel/1"]
    metadata: Metadata
    inputs: Annotated[list[Input], Field(min_length=1)]
    model: ModelSpec
    examples: list[Example] = []


# --- checks across sections -------------------------------------------------------------------------

def cross_problems(metadata: Metadata | None, inputs: list[Any], model: Any) -> list[tuple[str, str]]:
    """What no single section shows: names, categories and horizons agreeing between sections.

    Each argument holds what parsed: ``inputs`` the parsed entry or ``None`` per entry; ``model`` a
    parsed model or a :class:`PartialModel`; ``None`` for a section that did not parse at all. A
    check needing what did not parse is skipped (that part's own problems are reported already)."""
    problems: list[tuple[str, str]] = []
    by_name: dict[str, Any] = {}
    for i, entry in enumerate(inputs):
        if entry is None:
            continue
        if entry.name in by_name:
            problems.append((f"inputs[{i}].name", f"input {entry.name!r} is defined twice"))
        by_name[entry.name] = entry
    complete = all(entry is not None for entry in inputs)
    kind = getattr(model, "kind", None)
    if metadata is not None and kind == "fine_gray" and not metadata.competing_events:
        problems.append(("metadata.competing_events", "a Fine-Gray model must name its competing events"))
    if kind == "points":
        problems += _points_problems(model, by_name, complete)
        horizons_in_model = [(f"model.curves[{i}].horizon", c.horizon) for i, c in enumerate(model.curves)
                             if c is not None]
        every_entry = all(c is not None for c in model.curves)
    elif kind in ("cox", "fine_gray"):
        problems += _terms_problems(model, by_name, complete)
        horizons_in_model = [(f"model.baseline[{i}].horizon", b.horizon) for i, b in enumerate(model.baseline)
                             if b is not None]
        every_entry = all(b is not None for b in model.baseline)
        problems += _baseline_problems(model)
    else:
        return problems
    if metadata is not None:
        wanted = set(metadata.horizons)
        seen: set[float] = set()
        for path, horizon in horizons_in_model:
            if horizon in seen:
                problems.append((path, f"horizon {horizon:g} is given twice"))
            elif horizon not in wanted:
                problems.append((path, f"horizon {horizon:g} is not one of metadata.horizons"))
            seen.add(horizon)
        where = "model.curves" if kind == "points" else "model.baseline"
        if every_entry:
            problems += [(where, f"horizon {h:g} of metadata.horizons has no entry") for h in metadata.horizons
                         if h not in seen]
    return problems


class PartialModel:
    """The parts of a ``model`` section that parsed, when the whole did not: each list entry parsed or
    ``None``, each ``points`` entry parsed or ``None``."""

    def __init__(self, raw: dict):
        from pydantic import TypeAdapter, ValidationError

        def parsed(annotation: Any, value: Any) -> Any:
            try:
                return TypeAdapter(annotation).validate_python(value)
            except ValidationError:
                return None

        def entries(key: str, annotation: Any) -> list[Any]:
            value = raw.get(key)
            return [parsed(annotation, item) for item in value] if isinstance(value, list) else []

        self.kind = raw.get("kind")
        if self.kind == "points":
            points = raw.get("points")
            self.points = ({str(k): parsed(PointsEntry, v) for k, v in points.items()}
                           if isinstance(points, dict) else {})
            self.curves = entries("curves", ProbabilityCurve)
        else:
            self.terms = entries("terms", Term)
            self.baseline = entries("baseline", CoxBaseline if self.kind == "cox" else FineGrayBaseline)


def _points_problems(model: Any, by_name: dict[str, Any], complete: bool) -> list[tuple[str, str]]:
    problems = []
    for name, spec in model.points.items():
        path = f"model.points.{name}"
        entry = by_name.get(name)
        if spec is None:
            continue
        if entry is None:
            if complete:
                problems.append((path, f"{name!r} is not one of the inputs"))
            continue
        if isinstance(entry, NumericInput):
            if not isinstance(spec, NumericPoints):
                problems.append((path, "a numeric input's points are given as knots: [[value, points], ...]"))
            elif spec.knots[0][0] > entry.min or spec.knots[-1][0] < entry.max:
                problems.append((f"{path}.knots", f"must cover the input's range {entry.min:g} to {entry.max:g} "
                                 f"(knots run from {spec.knots[0][0]:g} to {spec.knots[-1][0]:g})"))
        else:
            if not isinstance(spec, CategoricalPoints):
                problems.append((path, "a categorical input's points are given per category: {category: points}"))
                continue
            problems += _category_keys(path + ".categories", set(spec.categories), entry, "points")
    if complete:
        problems += [("model.points", f"input {name!r} has no points") for name in by_name if name not in model.points]
    return problems


def _category_keys(path: str, given: set[str], entry: CategoricalInput, what: str,
                   exclude: str | None = None) -> list[tuple[str, str]]:
    """Keys of a per-category mapping against the input's categories (``exclude``: the reference)."""
    values = [c.value for c in entry.categories]
    problems = [(f"{path}.{key}", f"{key!r} is not a category of input {entry.name!r} (categories: "
                 f"{', '.join(values)})") for key in sorted(given - set(values))]
    problems += [(path, f"category {value!r} has no {what}") for value in values
                 if value not in given and value != exclude]
    return problems


def _terms_problems(model: Any, by_name: dict[str, Any], complete: bool) -> list[tuple[str, str]]:
    problems = []
    seen: set[str] = set()
    every_term = all(term is not None for term in model.terms)
    for i, term in enumerate(model.terms):
        path = f"model.terms[{i}]"
        if term is None:
            continue
        if term.input in seen:
            problems.append((f"{path}.input", f"input {term.input!r} has a term already; give one term per input"))
        seen.add(term.input)
        entry = by_name.get(term.input)
        if entry is None:
            if complete:
                problems.append((f"{path}.input", f"{term.input!r} is not one of the inputs"))
            continue
        if isinstance(entry, NumericInput) and not isinstance(term, NumericTerm):
            problems.append((path, "a numeric input's term has a coefficient (and optionally a spline)"))
        elif isinstance(entry, CategoricalInput):
            if not isinstance(term, CategoricalTerm):
                problems.append((path, "a categorical input's term has a reference category and coefficients "
                                 "for the other categories"))
                continue
            values = [c.value for c in entry.categories]
            if term.reference not in values:
                problems.append((f"{path}.reference", f"{term.reference!r} is not a category of input "
                                 f"{entry.name!r} (categories: {', '.join(values)})"))
            if term.reference in term.coefficients:
                problems.append((f"{path}.coefficients.{term.reference}",
                                 "the reference category has no coefficient (it is 0 by definition)"))
            if term.reference in values:
                problems += _category_keys(f"{path}.coefficients", set(term.coefficients) - {term.reference},
                                           entry, "coefficient", exclude=term.reference)
    if complete and every_term:
        problems += [("model.terms", f"input {name!r} has no term") for name in by_name if name not in seen]
    return problems


def _baseline_problems(model: Any) -> list[tuple[str, str]]:
    problems = []
    rows = sorted(((i, b) for i, b in enumerate(model.baseline) if b is not None), key=lambda item: item[1].horizon)
    for (_, before), (i, now) in zip(rows, rows[1:]):
        if model.kind == "cox" and now.survival > before.survival:
            problems.append((f"model.baseline[{i}].survival", "baseline survival must not increase with time"))
        if model.kind == "fine_gray" and now.cumulative_incidence < before.cumulative_incidence:
            problems.append((f"model.baseline[{i}].cumulative_incidence",
                             "baseline cumulative incidence must not decrease with time"))
    return problems


def _interpolate(knots: list[list[float]], x: float) -> float:
    """Linear interpolation between ``[x, y]`` knots; the caller has checked ``x`` lies within them."""
    for (x0, y0), (x1, y1) in zip(knots, knots[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return knots[-1][1]
