"""Reading a risk-model file and predicting from it: points nomograms, Cox and Fine-Gray models.

The formulas (the file format is in :mod:`sarcotrial.riskmodels.schema` and ``docs/risk-models.md``):

- points nomogram (Kattan et al., J Clin Oncol 2002;20:791-796): each input's points are read off
  its knots by linear interpolation; the total is converted to the probability at each horizon by
  linear interpolation on that horizon's curve. A total outside a curve is refused.
- Cox model (Cox, J R Stat Soc B 1972;34:187-220): ``risk(t) = 1 - S0(t) ** exp(lp - centre)``,
  ``S0(t)`` the baseline survival given at linear predictor ``centre``.
- Fine-Gray model (Fine and Gray, J Am Stat Assoc 1999;94:496-509): the cumulative incidence of the
  event of interest ``F(t) = 1 - (1 - F0(t)) ** exp(lp - centre)``.
- restricted cubic spline terms, Harrell's parameterisation (Harrell, *Regression Modeling
  Strategies*, 2nd ed., Springer 2015, section 2.4.5; as R's ``Hmisc::rcspline.eval`` with
  ``inclx = TRUE``, which ``rms::rcs`` calls): for knots t_1 < ... < t_k and j = 1 .. k - 2,

      X_j = (x - t_j)+^3 - (x - t_{k-1})+^3 (t_k - t_j) / (t_k - t_{k-1})
                         + (x - t_k)+^3 (t_{k-1} - t_j) / (t_k - t_{k-1}),

  divided by (t_k - t_1)^2 (``norm = 2``, the default of ``rcspline.eval``), by
  (t_k - t_{k-1})^3 (``norm = 1``) or by nothing (``norm = 0``). The normalisations are written from
  the ``Hmisc`` documentation as remembered, not checked against R here (no R in this environment):
  a model exported from ``rms`` should be checked against one of the paper's worked examples.

Hand-written because no library reads a published nomogram from a reviewed data file: lifelines and
scikit-survival predict from models they fitted themselves. The tests check the Cox formula against
lifelines' ``CoxPHFitter`` and the spline terms against an independent writing of Harrell's formula.

Nothing is extrapolated and nothing defaulted: an input outside its range, an unknown category, a
missing or unknown input is refused with :class:`~sarcotrial.errors.InvalidValue` naming the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from sarcotrial.errors import InvalidValue, SarcoTrialError
from sarcotrial.riskmodels import schema as s
from sarcotrial.validation_messages import IDENTIFIER_WORDS, FileTerms, dedupe, line

PUBLISHED_TOLERANCE = 0.005
"""Default tolerance of a published model's worked examples: half a percentage point, the rounding of
a risk printed as a whole percentage."""


class ModelFileError(SarcoTrialError):
    """A model file that cannot be used: every problem found, each ``"path: rule"``."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__("\n".join([f"{source}: {count} in the risk-model file"] + problems))


@dataclass(frozen=True)
class InputSpec:
    """One input as the model defines it."""

    name: str
    label: str
    kind: str
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    categories: dict[str, str] = field(default_factory=dict)  # value -> label
    #: where the study's record holds this input (``FORM.FIELD`` or ``age``), or None
    record: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "numeric":
            return {"name": self.name, "label": self.label, "kind": self.kind, "unit": self.unit,
                    "min": self.min, "max": self.max, "record": self.record}
        return {"name": self.name, "label": self.label, "kind": self.kind, "categories": dict(self.categories),
                "record": self.record}


def rcs_terms(x: float, knots: list[float], norm: int = 2) -> list[float]:
    """The k - 2 non-linear restricted cubic spline terms of ``x`` (Harrell's parameterisation)."""
    k = len(knots)
    t_last, t_before = knots[-1], knots[-2]
    if norm == 2:
        scale = (t_last - knots[0]) ** 2
    elif norm == 1:
        scale = (t_last - t_before) ** 3
    else:
        scale = 1.0

    def cube(u: float) -> float:
        return u ** 3 if u > 0 else 0.0

    terms = []
    for j in range(k - 2):
        t_j = knots[j]
        value = (cube(x - t_j) - cube(x - t_before) * (t_last - t_j) / (t_last - t_before)
                 + cube(x - t_last) * (t_before - t_j) / (t_last - t_before))
        terms.append(value / scale)
    return terms


@dataclass(frozen=True)
class Prediction:
    """A model's prediction for one patient: the inputs used, the points or linear predictor, the risks."""

    model: "RiskModel"
    inputs: dict[str, float | str]
    contributions: dict[str, float]
    risks: dict[float, float]
    total_points: float | None = None
    linear_predictor: float | None = None

    def risk(self, horizon_years: float) -> float:
        """The probability of the outcome by ``horizon_years`` (one of the model's horizons)."""
        try:
            return self.risks[float(horizon_years)]
        except (KeyError, TypeError, ValueError):
            given = ", ".join(f"{h:g}" for h in self.risks)
            raise InvalidValue("horizon", f"this model gives risks at {given} years only, not between them",
                               horizon_years) from None

    def as_dict(self) -> dict[str, Any]:
        m = self.model
        out: dict[str, Any] = {"model": m.id, "name": m.name, "version": m.version, "kind": m.kind,
                               "outcome": m.outcome, "synthetic": m.synthetic, "inputs": dict(self.inputs)}
        if self.total_points is not None:
            out["points"] = dict(self.contributions)
            out["total_points"] = self.total_points
        else:
            out["linear_predictor"] = self.linear_predictor
            out["centre"] = m.centre
            out["relative_hazard"] = math.exp(self.linear_predictor - m.centre)
        out["risks"] = {f"{h:g}": r for h, r in self.risks.items()}
        if m.competing_events:
            out["competing_events"] = list(m.competing_events)
        out["source"] = m.citation
        out["validation_status"] = m.validation_status
        out["provenance"] = {**m.provenance, "measured_error": m.measured_error}
        out["limits"] = list(m.limits)
        return out


class RiskModel:
    """A loaded, checked model file: its metadata as attributes and :meth:`predict`."""

    def __init__(self, spec: s.ModelFile):
        self.spec = spec
        meta = spec.metadata
        self.id = meta.id
        self.name = meta.name
        self.version = meta.version
        self.kind = spec.model.kind
        self.outcome = meta.outcome
        self.competing_events = list(meta.competing_events)
        self.population = meta.population
        self.horizons = [float(h) for h in meta.horizons]
        self.source = meta.source
        self.citation = meta.source.citation()
        self.validation_status = meta.validation_status
        self.synthetic = meta.synthetic
        self.provenance = {"numbers": meta.provenance.numbers, "max_error": meta.provenance.max_error}
        self.centre = getattr(spec.model, "centre", None)
        self.inputs = [_input_spec(entry) for entry in spec.inputs]
        self._by_name = {entry.name: entry for entry in self.inputs}
        self.measured_error: float | None = None

    def __repr__(self) -> str:
        return f"RiskModel({self.id!r}, kind={self.kind!r}, horizons={self.horizons})"

    @property
    def limits(self) -> list[str]:
        """What a reader of a prediction must know: synthetic, validation, digitisation, ranges."""
        out = []
        if self.synthetic:
            out.append("SYNTHETIC: not a published model, not for patients")
        out.append(self.validation_status)
        numbers = self.provenance["numbers"]
        if numbers == "digitised":
            measured = f", {self.measured_error * 100:.1f} % measured" if self.measured_error is not None else ""
            out.append(f"digitised from the paper's figure: +- {self.provenance['max_error'] * 100:.1f} % "
                       f"(absolute) against its worked examples{measured}")
        elif not self.synthetic:  # a synthetic model's numbers are its own: "as published" would mislead
            out.append("numbers as published")
        out.append("inputs within the model's ranges only: nothing extrapolated")
        if self.competing_events:
            out.append("competing events: " + ", ".join(self.competing_events))
        return out

    # --- prediction ---

    def predict(self, values: dict[str, Any]) -> Prediction:
        """The risk at each horizon for one patient's ``values`` (input name -> value)."""
        if not isinstance(values, dict):
            raise InvalidValue("inputs", "must be a mapping of input name to value", type(values).__name__)
        unknown = [key for key in values if key not in self._by_name]
        if unknown:
            raise InvalidValue(str(unknown[0]), "is not an input of this model (inputs: "
                               f"{', '.join(self._by_name)})", show_value=False)
        missing = [name for name in self._by_name if values.get(name) is None or values.get(name) == ""]
        if missing:
            raise InvalidValue(", ".join(missing), "required by the model: a missing input is refused, never "
                               "defaulted", show_value=False)
        used = {name: _checked(self._by_name[name], values[name]) for name in self._by_name}
        if self.kind == "points":
            return self._points(used)
        return self._regression(used)

    def _points(self, used: dict[str, float | str]) -> Prediction:
        model: s.PointsModel = self.spec.model  # type: ignore[assignment]
        contributions: dict[str, float] = {}
        for name, value in used.items():
            spec = model.points[name]
            if isinstance(spec, s.NumericPoints):
                contributions[name] = spec.points(float(value))
            else:
                contributions[name] = spec.categories[str(value)]
        total = math.fsum(contributions.values())
        risks: dict[float, float] = {}
        for curve in sorted(model.curves, key=lambda c: c.horizon):
            low, high = curve.range
            slack = 1e-9 * max(1.0, abs(low), abs(high))
            if not low - slack <= total <= high + slack:
                raise InvalidValue("total_points", f"{total:g} lies outside the {curve.horizon:g}-year curve "
                                   f"({low:g} to {high:g}): the nomogram is not extrapolated", show_value=False)
            risks[float(curve.horizon)] = curve.risk(min(max(total, low), high))
        return Prediction(self, used, contributions, risks, total_points=total)

    def _regression(self, used: dict[str, float | str]) -> Prediction:
        model = self.spec.model
        contributions: dict[str, float] = {}
        for term in model.terms:
            value = used[term.input]
            if isinstance(term, s.NumericTerm):
                x = float(value)
                part = term.coefficient * x
                if term.spline is not None:
                    basis = rcs_terms(x, term.spline.knots, term.spline.norm)
                    part += math.fsum(b * c for b, c in zip(basis, term.spline.coefficients))
                contributions[term.input] = part
            else:
                contributions[term.input] = term.coefficients.get(str(value), 0.0)
        lp = math.fsum(contributions.values())
        hazard_ratio_log = lp - model.centre
        risks: dict[float, float] = {}
        for row in sorted(model.baseline, key=lambda b: b.horizon):
            free = row.survival if isinstance(row, s.CoxBaseline) else 1.0 - row.cumulative_incidence
            risks[float(row.horizon)] = _one_minus_power(free, hazard_ratio_log)
        return Prediction(self, used, contributions, risks, linear_predictor=lp)


def _one_minus_power(base: float, log_ratio: float) -> float:
    """``1 - base ** exp(log_ratio)``, computed without overflow for a large linear predictor."""
    if base >= 1.0:
        return 0.0
    if base <= 0.0:
        return 1.0
    exponent = log_ratio + math.log(-math.log(base))  # log of -exp(log_ratio) * log(base)
    if exponent > 700:
        return 1.0
    return -math.expm1(-math.exp(exponent))


def _checked(spec: InputSpec, value: Any) -> float | str:
    if spec.kind == "numeric":
        if isinstance(value, bool):
            raise InvalidValue(spec.name, f"must be a number ({spec.unit})", value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidValue(spec.name, f"must be a number ({spec.unit})", value) from None
        if not math.isfinite(number):
            raise InvalidValue(spec.name, "must be a finite number", value)
        if not spec.min <= number <= spec.max:
            raise InvalidValue(spec.name, f"must be from {spec.min:g} to {spec.max:g} {spec.unit}: the model is not "
                               "extrapolated beyond the range it was developed on", value)
        return int(number) if number.is_integer() and isinstance(value, int) else number
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text is None or text not in spec.categories:
        raise InvalidValue(spec.name, f"must be one of {', '.join(spec.categories)}", value)
    return text


def _input_spec(entry: Any) -> InputSpec:
    if isinstance(entry, s.NumericInput):
        return InputSpec(entry.name, entry.label, "numeric", entry.unit, entry.min, entry.max, record=entry.record)
    return InputSpec(entry.name, entry.label, "categorical",
                     categories={c.value: c.label for c in entry.categories}, record=entry.record)


# --- loading ------------------------------------------------------------------------------------------

def load_model(path_or_text: str | Path) -> RiskModel:
    """A model from a file path or from the file's YAML text; :class:`ModelFileError` lists every problem."""
    source, text = _read(path_or_text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        raise ModelFileError(source, [f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})"]) from None
    if not isinstance(data, dict):
        raise ModelFileError(source, ["(top level): must be a mapping of keys (format, metadata, inputs, model)"])
    problems: list[tuple[str, str]] = []
    spec = None
    try:
        spec = s.ModelFile.model_validate(data)
    except ValidationError as exc:
        problems += RISK_MODEL_FILE.problems(exc, data)
    metadata = _parsed(s.Metadata, data.get("metadata"))
    raw_inputs = data.get("inputs")
    inputs = [_parsed(s.Input, entry) for entry in raw_inputs] if isinstance(raw_inputs, list) else []
    model = _parsed(s.ModelSpec, data.get("model"))
    if model is None and isinstance(data.get("model"), dict) and data["model"].get("kind") in ("points", "cox",
                                                                                                 "fine_gray"):
        model = s.PartialModel(data["model"])
    problems += s.cross_problems(metadata, inputs, model)
    if metadata is not None and metadata.provenance.numbers == "digitised" and not data.get("examples"):
        problems.append(("examples", "digitised numbers need the paper's worked examples, to measure their error "
                         "against"))
    if problems or spec is None:
        raise ModelFileError(source, [line(path, rule) for path, rule in dedupe(problems)])
    risk_model = RiskModel(spec)
    problems = _example_problems(risk_model)
    if problems:
        raise ModelFileError(source, [line(path, rule) for path, rule in problems])
    return risk_model


def _example_problems(model: RiskModel) -> list[tuple[str, str]]:
    """Each worked example re-computed: within ``provenance.max_error`` (or half a percentage point)."""
    tolerance = model.provenance["max_error"]
    if tolerance is None:
        tolerance = PUBLISHED_TOLERANCE
    problems, worst = [], 0.0
    for i, example in enumerate(model.spec.examples):
        try:
            prediction = model.predict(dict(example.inputs))
        except InvalidValue as exc:
            problems.append((f"examples[{i}].inputs", f"{exc.field}: {exc.rule}"))
            continue
        for horizon, expected in example.risks.items():
            if float(horizon) not in prediction.risks:
                problems.append((f"examples[{i}].risks.{horizon:g}", f"horizon {horizon:g} is not one of the "
                                 "model's horizons"))
                continue
            got = prediction.risks[float(horizon)]
            worst = max(worst, abs(got - expected))
            if abs(got - expected) > tolerance + 1e-12:
                problems.append((f"examples[{i}].risks.{horizon:g}", f"the file's model gives {got:.4f}, the paper "
                                 f"{expected:.4f}: they differ by {abs(got - expected):.4f}, more than "
                                 f"{'provenance.max_error' if model.provenance['max_error'] is not None else 'the tolerance'}"
                                 f" {tolerance:g}"))
    if model.spec.examples:
        model.measured_error = worst
    return problems


def _read(path_or_text: str | Path) -> tuple[str, str]:
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and path_or_text.strip().endswith((".yaml", ".yml", ".json"))):
        path = Path(path_or_text).expanduser()
        try:
            return str(path), path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelFileError(str(path), ["(file): no such file"]) from None
        except IsADirectoryError:
            raise ModelFileError(str(path), ["(file): is a folder, not a model file"]) from None
    return "<text>", path_or_text


_ADAPTERS: dict[Any, TypeAdapter] = {}


def _parsed(annotation: Any, value: Any) -> Any:
    adapter = _ADAPTERS.get(annotation)
    if adapter is None:
        adapter = _ADAPTERS[annotation] = TypeAdapter(annotation)
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


# --- pydantic's errors in the file's terms ------------------------------------------------------------

def _value_shown(kind: str) -> bool:
    """A risk-model file's rule shows the value found where it is a value out of bounds or of the wrong
    kind; not where the file's shape is wrong (a list too short, a mapping where text is due)."""
    return kind in _VALUE_RULES or kind.startswith(("int_", "float_", "bool_"))


_VALUE_RULES = frozenset({"literal_error", "union_tag_invalid", "greater_than", "greater_than_equal", "less_than",
                          "less_than_equal", "string_pattern_mismatch"})

#: how a risk-model file's problems are worded (:mod:`sarcotrial.validation_messages`)
RISK_MODEL_FILE = FileTerms(
    reference="docs/risk-models.md",
    patterns={**IDENTIFIER_WORDS, r"^10\.\d{4,9}/\S+$": "must be a DOI as 10.xxxx/..., without https://doi.org/",
              s.RECORD_PATTERN: "must be FORM.FIELD (the study protocol's ids, lower case: diagnosis.size_cm) or age"},
    schema_names=frozenset({"float", "str", "int"}),
    capitalised_are_schema_names=True,
    tags=frozenset({"numeric", "categorical", "points", "cox", "fine_gray"}),
    choices_quoted=True,
    value_shown=_value_shown,
    key_rule="key {key}: {rule}",
    key_value_shown=True,
)
