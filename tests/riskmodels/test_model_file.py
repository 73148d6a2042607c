"""The risk-model file format (docs/risk-models.md): every rule refused with its path and its rule.

Each test starts from a shipped synthetic example, breaks one rule and asserts the exact problem line
``path: rule``; one test breaks several at once and asserts that every one is reported.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sarcotrial.errors import SarcoTrialError
from sarcotrial.riskmodels import ModelFileError, load_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "riskmodels"
POINTS = yaml.safe_load((EXAMPLES / "synthetic-points.yaml").read_text(encoding="utf-8"))
COX = yaml.safe_load((EXAMPLES / "synthetic-cox.yaml").read_text(encoding="utf-8"))


def fine_gray() -> dict:
    data = copy.deepcopy(COX)
    data["metadata"]["id"] = "synthetic_fine_gray"
    data["metadata"]["competing_events"] = ["death without metastasis"]
    data["model"]["kind"] = "fine_gray"
    data["model"]["baseline"] = [{"horizon": 5, "cumulative_incidence": 0.1},
                                 {"horizon": 10, "cumulative_incidence": 0.15}]
    data["examples"] = []
    return data


def problems(data: dict) -> list[str]:
    with pytest.raises(ModelFileError) as caught:
        load_model(yaml.safe_dump(data, sort_keys=False))
    return caught.value.problems


def broken(base: dict, change) -> list[str]:
    data = copy.deepcopy(base)
    change(data)
    return problems(data)


def test_shipped_examples_are_valid_and_synthetic():
    for name in ("synthetic-points.yaml", "synthetic-cox.yaml"):
        model = load_model(EXAMPLES / name)
        assert model.synthetic is True
        assert "SYNTHETIC" in (EXAMPLES / name).read_text(encoding="utf-8")  # the comment says so too
        assert model.measured_error is not None and model.measured_error <= 0.005
    assert load_model(yaml.safe_dump(fine_gray())).kind == "fine_gray"


def test_model_file_error_is_a_sarcotrial_error_printing_one_problem_a_line():
    data = copy.deepcopy(POINTS)
    data["inputs"][0]["max"] = 10
    data["inputs"][1]["unit"] = ""
    with pytest.raises(SarcoTrialError) as caught:
        load_model(yaml.safe_dump(data))
    lines = str(caught.value).splitlines()
    assert lines[0] == "<text>: 2 problems in the risk-model file"
    assert lines[1:] == ["inputs[0].max: must be greater than min", "inputs[1].unit: must not be empty"]


def _set(path: list, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


_DELETE = object()

# (base, the change, the problem line expected)
CASES = [
    # top level and metadata
    (POINTS, _set(["format"], "sarcotrial-riskmodel/9"),
     "format: must be one of 'sarcotrial-riskmodel/1' (got 'sarcotrial-riskmodel/9')"),
    (POINTS, _set(["colour"], "red"), "colour: unknown key (check its spelling against docs/risk-models.md)"),
    (POINTS, _set(["metadata", "id"], "Bad Id"),
     "metadata.id: must be an identifier: lower-case letters, digits and _, beginning with a letter (got 'Bad Id')"),
    (POINTS, _set(["metadata", "source", "year"], 1800), "metadata.source.year: must be at least 1900 (got 1800)"),
    (POINTS, _set(["metadata", "source", "doi"], "https://doi.org/10.1200/JCO.2002.20.3.791"),
     "metadata.source.doi: must be a DOI as 10.xxxx/..., without https://doi.org/ "
     "(got 'https://doi.org/10.1200/JCO.2002.20.3.791')"),
    (POINTS, _set(["metadata", "source", "authors"], _DELETE), "metadata.source.authors: required key is missing"),
    (POINTS, _set(["metadata", "population"], _DELETE), "metadata.population: required key is missing"),
    (POINTS, _set(["metadata", "outcome"], ""), "metadata.outcome: must not be empty"),
    (POINTS, _set(["metadata", "horizons"], [10, 5]),
     "metadata.horizons: horizons must be listed once each, in increasing order"),
    (POINTS, _set(["metadata", "horizons"], []), "metadata.horizons: must list at least 1 entry"),
    (POINTS, _set(["metadata", "horizons"], [0, 5]), "metadata.horizons[0]: must be greater than 0 (got 0)"),
    (POINTS, _set(["metadata", "validation_status"], "validated"),
     "metadata.validation_status: must be one of 'not validated', 'internally validated' or 'externally validated' "
     "(got 'validated')"),
    (POINTS, _set(["metadata", "provenance", "numbers"], "guessed"),
     "metadata.provenance.numbers: must be one of 'published' or 'digitised' (got 'guessed')"),
    (POINTS, _set(["metadata", "provenance"], {"numbers": "digitised"}),
     "metadata.provenance.max_error: digitised numbers need their measured error against the paper's worked "
     "examples"),
    (POINTS, _set(["metadata", "synthetic"], "maybe"), "metadata.synthetic: must be true or false (got 'maybe')"),
    # inputs
    (POINTS, _set(["inputs"], []), "inputs: must list at least 1 entry"),
    (POINTS, _set(["inputs", 1, "kind"], "number"),
     "inputs[1].kind: must be one of 'numeric', 'categorical' (got 'number')"),
    (POINTS, _set(["inputs", 1, "kind"], _DELETE), "inputs[1].kind: required key is missing"),
    (POINTS, _set(["inputs", 1, "max"], 1), "inputs[1].max: must be greater than min"),
    (POINTS, _set(["inputs", 1, "unit"], _DELETE), "inputs[1].unit: required key is missing"),
    (POINTS, _set(["inputs", 1, "min"], "small"), "inputs[1].min: must be a number (got 'small')"),
    (POINTS, _set(["inputs", 2, "categories"], [{"value": "1", "label": "Grade 1"}]),
     "inputs[2].categories: must list at least 2 entries"),
    (POINTS, _set(["inputs", 2, "categories", 2, "value"], "2"), "inputs[2].categories[2].value: category '2' is listed twice"),
    (POINTS, _set(["inputs", 3, "name"], "age"), "inputs[3].name: input 'age' is defined twice"),
    # points model
    (POINTS, _set(["model", "kind"], "logistic"),
     "model.kind: must be one of 'points', 'cox', 'fine_gray' (got 'logistic')"),
    (POINTS, _set(["model", "points", "age", "knots"], [[18, 0], [18, 5], [90, 9]]),
     "model.points.age.knots[1]: the value must increase from one knot to the next"),
    (POINTS, _set(["model", "points", "age", "knots"], [[18, 0]]), "model.points.age.knots: must list at least 2 entries"),
    (POINTS, _set(["model", "points", "age", "knots"], [[18, 0, 1], [90, 5]]),
     "model.points.age.knots[0]: must list at most 2 entries"),
    (POINTS, _set(["model", "points", "age", "knots"], [[20, 0], [90, 20]]),
     "model.points.age.knots: must cover the input's range 18 to 90 (knots run from 20 to 90)"),
    (POINTS, _set(["model", "points", "age"], {"categories": {"young": 0, "old": 10}}),
     "model.points.age: a numeric input's points are given as knots: [[value, points], ...]"),
    (POINTS, _set(["model", "points", "grade"], {"knots": [[1, 0], [3, 70]]}),
     "model.points.grade: a categorical input's points are given per category: {category: points}"),
    (POINTS, _set(["model", "points", "grade", "categories"], {"1": 0, "2": 40, "3": 70, "4": 90}),
     "model.points.grade.categories.4: '4' is not a category of input 'grade' (categories: 1, 2, 3)"),
    (POINTS, _set(["model", "points", "grade", "categories"], {"1": 0, "2": 40}),
     "model.points.grade.categories: category '3' has no points"),
    (POINTS, _set(["model", "points", "depth"], _DELETE), "model.points: input 'depth' has no points"),
    (POINTS, _set(["model", "points", "site"], {"categories": {"limb": 0}}),
     "model.points.site: 'site' is not one of the inputs"),
    (POINTS, _set(["model", "curves", 0, "knots"], [[0, 0.01], [100, 0.3], [165, 0.2]]),
     "model.curves[0].knots[2]: a risk axis must not decrease as total points increase"),
    (POINTS, _set(["model", "curves", 0, "knots"], [[0, 0.01], [165, 1.2]]),
     "model.curves[0].knots[1]: the probability must be from 0 to 1"),
    (POINTS, _set(["model", "curves", 0, "axis"], "survival"),
     "model.curves[0].knots[1]: a survival axis must not increase as total points increase"),
    (POINTS, _set(["model", "curves", 0, "axis"], "odds"),
     "model.curves[0].axis: must be one of 'risk' or 'survival' (got 'odds')"),
    (POINTS, _set(["model", "curves", 1, "horizon"], 7), "model.curves[1].horizon: horizon 7 is not one of metadata.horizons"),
    (POINTS, _set(["model", "curves", 1], _DELETE), "model.curves: horizon 10 of metadata.horizons has no entry"),
    (POINTS, _set(["model", "curves", 1, "horizon"], 5), "model.curves[1].horizon: horizon 5 is given twice"),
    # Cox and Fine-Gray models
    (COX, _set(["model", "terms", 0, "coefficient"], "high"),
     "model.terms[0].coefficient: must be a number (got 'high')"),
    (COX, _set(["model", "terms", 1, "spline", "knots"], [3, 10, 6, 20]),
     "model.terms[1].spline.knots: must increase from one knot to the next"),
    (COX, _set(["model", "terms", 1, "spline", "knots"], [3, 20]),
     "model.terms[1].spline.knots: must list at least 3 entries"),
    (COX, _set(["model", "terms", 1, "spline", "coefficients"], [0.1]),
     "model.terms[1].spline.coefficients: 4 knots need 2 coefficients (one per non-linear term), got 1"),
    (COX, _set(["model", "terms", 1, "spline", "norm"], 3), "model.terms[1].spline.norm: must be one of 0, 1 or 2 (got 3)"),
    (COX, _set(["model", "terms", 2, "reference"], "0"),
     "model.terms[2].reference: '0' is not a category of input 'grade' (categories: 1, 2, 3)"),
    (COX, _set(["model", "terms", 2, "coefficients"], {"1": 0.0, "2": 0.45, "3": 0.9}),
     "model.terms[2].coefficients.1: the reference category has no coefficient (it is 0 by definition)"),
    (COX, _set(["model", "terms", 2, "coefficients"], {"2": 0.45}),
     "model.terms[2].coefficients: category '3' has no coefficient"),
    (COX, _set(["model", "terms", 2, "coefficients"], {"2": 0.45, "3": 0.9, "4": 1.2}),
     "model.terms[2].coefficients.4: '4' is not a category of input 'grade' (categories: 1, 2, 3)"),
    (COX, _set(["model", "terms", 0], {"input": "age", "reference": "young", "coefficients": {}}),
     "model.terms[0]: a numeric input's term has a coefficient (and optionally a spline)"),
    (COX, _set(["model", "terms", 2], {"input": "grade", "coefficient": 0.4}),
     "model.terms[2]: a categorical input's term has a reference category and coefficients for the other categories"),
    (COX, _set(["model", "terms", 2, "input"], "age"),
     "model.terms[2].input: input 'age' has a term already; give one term per input"),
    (COX, lambda d: d["model"]["terms"].append({"input": "depth", "coefficient": 0.2}),
     "model.terms[3].input: 'depth' is not one of the inputs"),
    (COX, lambda d: d["model"]["terms"].pop(0), "model.terms: input 'age' has no term"),
    (COX, _set(["model", "baseline", 0, "survival"], 0), "model.baseline[0].survival: must be greater than 0 (got 0)"),
    (COX, _set(["model", "baseline", 0, "survival"], 1.1), "model.baseline[0].survival: must be at most 1 (got 1.1)"),
    (COX, _set(["model", "baseline", 1, "survival"], 0.9),
     "model.baseline[1].survival: baseline survival must not increase with time"),
    (COX, _set(["model", "baseline", 1, "horizon"], 8), "model.baseline[1].horizon: horizon 8 is not one of metadata.horizons"),
    (COX, _set(["model", "baseline"], [{"horizon": 5, "survival": 0.8}]),
     "model.baseline: horizon 10 of metadata.horizons has no entry"),
    (COX, _set(["model", "baseline", 0], {"horizon": 5, "cumulative_incidence": 0.1}),
     "model.baseline[0].survival: required key is missing"),
    (COX, _set(["model", "centre"], "mean"), "model.centre: must be a number (got 'mean')"),
    # where the study's record holds an input: FORM.FIELD or age
    (COX, _set(["inputs", 1, "record"], "size_cm"), "inputs[1].record: must be FORM.FIELD (the study protocol's ids, lower case: diagnosis.size_cm) or age (got 'size_cm')"),
    (COX, _set(["inputs", 1, "record"], "Diagnosis.Size"),
     "inputs[1].record: must be FORM.FIELD (the study protocol's ids, lower case: diagnosis.size_cm) or age "
     "(got 'Diagnosis.Size')"),
    (COX, _set(["inputs", 0, "record"], 40), "inputs[0].record: must be text"),
    (fine_gray(), _set(["metadata", "competing_events"], []),
     "metadata.competing_events: a Fine-Gray model must name its competing events"),
    (fine_gray(), _set(["model", "baseline", 1, "cumulative_incidence"], 0.05),
     "model.baseline[1].cumulative_incidence: baseline cumulative incidence must not decrease with time"),
    (fine_gray(), _set(["model", "baseline", 0, "cumulative_incidence"], 1),
     "model.baseline[0].cumulative_incidence: must be less than 1 (got 1)"),
    # worked examples
    (POINTS, _set(["examples", 0, "risks"], {5: 0.30, 10: 0.473}),
     "examples[0].risks.5: the file's model gives 0.3538, the paper 0.3000: they differ by 0.0538, more than the "
     "tolerance 0.005"),
    (POINTS, _set(["examples", 0, "risks"], {7: 0.3}), "examples[0].risks.7: horizon 7 is not one of the model's horizons"),
    (POINTS, _set(["examples", 0, "inputs", "age"], 100),
     "examples[0].inputs: age: must be from 18 to 90 years: the model is not extrapolated beyond the range it was "
     "developed on"),
    (POINTS, lambda d: (d["metadata"].update(provenance={"numbers": "digitised", "max_error": 0.01}),
                        d.pop("examples")),
     "examples: digitised numbers need the paper's worked examples, to measure their error against"),
]


@pytest.mark.parametrize("base, change, expected", CASES, ids=[c[2][:60] for c in CASES])
def test_each_rule_is_refused_with_its_path(base, change, expected):
    assert expected in broken(base, change)


def test_every_problem_is_reported_not_only_the_first():
    data = copy.deepcopy(POINTS)
    data["inputs"][1]["max"] = 0.5                                          # a range
    data["metadata"]["horizons"] = [10, 5]                                  # metadata
    data["model"]["points"]["age"]["knots"] = [[30, 0], [20, 5]]            # a points entry
    data["model"]["points"]["grade"]["categories"] = {"1": 0, "2": 4}       # across sections
    data["model"]["curves"][0]["knots"][2][1] = 0.01                        # a curve
    data["model"]["colour"] = 1                                             # a misspelt key
    found = problems(data)
    assert found == [
        "metadata.horizons: horizons must be listed once each, in increasing order",
        "inputs[1].max: must be greater than min",
        "model.points.age.knots[1]: the value must increase from one knot to the next",
        "model.curves[0].knots[2]: a risk axis must not decrease as total points increase",
        "model.colour: unknown key (check its spelling against docs/risk-models.md)",
        "model.points.grade.categories: category '3' has no points",
    ]


def test_digitised_model_must_reproduce_its_worked_examples_within_its_stated_error():
    data = copy.deepcopy(POINTS)
    data["metadata"]["provenance"] = {"numbers": "digitised", "max_error": 0.02}
    data["examples"][0]["risks"] = {5: 0.37, 10: 0.473}   # 0.3538 by the file: 0.0162 off, within 0.02
    model = load_model(yaml.safe_dump(data))
    assert model.measured_error == pytest.approx(0.37 - (0.20 + 0.40 * 25 / 65))
    assert any("digitised" in limit and "+- 2.0 %" in limit for limit in model.limits)
    data["examples"][0]["risks"] = {5: 0.38, 10: 0.473}   # 0.0262 off: more than the stated 0.02
    assert problems(data) == ["examples[0].risks.5: the file's model gives 0.3538, the paper 0.3800: they differ by "
                              "0.0262, more than provenance.max_error 0.02"]


def test_whole_number_categories_may_be_written_bare_in_yaml():
    text = (EXAMPLES / "synthetic-points.yaml").read_text(encoding="utf-8")
    text = text.replace('{value: "1"', "{value: 1").replace('categories: {"1": 0, "2": 40, "3": 70}',
                                                             "categories: {1: 0, 2: 40, 3: 70}")
    assert '{value: 1,' in text and "{1: 0" in text
    model = load_model(text)
    assert model.predict({"age": 18, "size_cm": 1, "grade": 2, "depth": "superficial"}).total_points == 40


@pytest.mark.parametrize("text, expected", [
    ("format: [unclosed", "line 1, column 18: not valid YAML"),
    ("- a list", "(top level): must be a mapping of keys (format, metadata, inputs, model)"),
    ("format: sarcotrial-riskmodel/1", "metadata: required key is missing"),
])
def test_unreadable_files(text, expected):
    with pytest.raises(ModelFileError) as caught:
        load_model(text)
    assert any(line.startswith(expected) for line in caught.value.problems), caught.value.problems


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError) as caught:
        load_model(tmp_path / "absent.yaml")
    assert caught.value.problems == ["(file): no such file"]
