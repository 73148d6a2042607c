"""``sarcotrial nomogram validate`` and ``nomogram predict`` (docs/risk-models.md).

Expected risks are computed by hand from the synthetic example files (the arithmetic is in the
comments), never taken from this code: points nomogram read as Kattan et al., J Clin Oncol
2002;20:791-796, describe; Cox risk 1 - S0(t) ** exp(lp - centre) (Cox, J R Stat Soc B 1972).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "riskmodels"
POINTS = str(EXAMPLES / "synthetic-points.yaml")
COX = str(EXAMPLES / "synthetic-cox.yaml")
# age 54: 10 points; 10 cm: 30; grade 3: 70; deep: 15: total 125.
# 5 y: .20 + .40 * 25/65; 10 y: .30 + .45 * 25/65
RISK5, RISK10 = 0.20 + 0.40 * 25 / 65, 0.30 + 0.45 * 25 / 65
PATIENT = ["--set", "age=54", "--set", "size_cm=10", "--set", "grade=3", "--set", "depth=deep"]


def test_validate_a_valid_file_prints_one_line_and_its_inputs():
    """The verdict on one line, then each input a prediction asks for (a new user learned them from an error)."""
    from sarcotrial.riskmodels import load_model

    result = runner.invoke(app, ["nomogram", "validate", POINTS])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert "valid points nomogram 'synthetic_points_local_recurrence' (SYNTHETIC)" in lines[0]
    assert "numbers published" not in lines[0]  # a synthetic file's numbers are its own
    inputs = load_model(Path(POINTS).read_text(encoding="utf-8")).inputs
    listed = [line for line in lines if line.startswith("  input ")]
    assert len(listed) == len(inputs)
    for spec, line in zip(inputs, listed):
        assert line.startswith(f"  input {spec.name}: {spec.label}, ")
    assert runner.invoke(app, ["nomogram", "validate", COX]).exit_code == 0


def test_validate_json():
    result = runner.invoke(app, ["nomogram", "validate", COX, "--json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["valid"] is True and data["kind"] == "cox"
    assert data["inputs"] == ["age", "size_cm", "grade"] and data["horizons"] == [5.0, 10.0]


def test_validate_prints_every_problem_with_its_path(tmp_path):
    data = yaml.safe_load(Path(POINTS).read_text(encoding="utf-8"))
    data["inputs"][1]["max"] = 0.5
    data["metadata"]["validation_status"] = "validated"
    data["model"]["points"]["grade"]["categories"] = {"1": 0, "2": 40}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["nomogram", "validate", str(bad)])
    assert result.exit_code == 2
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == f"error: {bad}: 3 problems in the risk-model file"
    assert lines[1:] == [
        "metadata.validation_status: must be one of 'not validated', 'internally validated' or 'externally "
        "validated' (got 'validated')",
        "inputs[1].max: must be greater than min",
        "model.points.grade.categories: category '3' has no points",
    ]
    assert "Traceback" not in result.output
    as_json = runner.invoke(app, ["nomogram", "validate", str(bad), "--json"])
    assert as_json.exit_code == 2 and len(json.loads(as_json.stdout)["problems"]) == 3


def test_predict_json_by_set():
    result = runner.invoke(app, ["nomogram", "predict", POINTS, *PATIENT, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total_points"] == pytest.approx(125)
    assert data["points"] == pytest.approx({"age": 10, "size_cm": 30, "grade": 70, "depth": 15})
    assert data["risks"] == pytest.approx({"5": RISK5, "10": RISK10})
    assert data["synthetic"] is True and any("not validated" in limit for limit in data["limits"])


def test_predict_input_file_completed_and_overridden_by_set(tmp_path):
    given = tmp_path / "patient.yaml"
    given.write_text("age: 40\nsize_cm: 12\n", encoding="utf-8")
    result = runner.invoke(app, ["nomogram", "predict", COX, "--input", str(given), "--set", "grade=3",
                                 "--set", "age=61", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["inputs"] == {"age": 61.0, "size_cm": 12, "grade": "3"}
    # lp = 0.02*61 + 0.09*12 - 0.12*(715.4/289) + 0.25*(204.8/289) + 0.9 (spline terms by hand, knots 3, 6, 10, 20)
    lp = 0.02 * 61 + 0.09 * 12 - 0.12 * 715.4 / 289 + 0.25 * 204.8 / 289 + 0.9
    assert data["linear_predictor"] == pytest.approx(lp)
    assert data["risks"]["5"] == pytest.approx(1 - 0.82 ** math.exp(lp - 2.2))
    as_json_file = tmp_path / "patient.json"
    as_json_file.write_text(json.dumps({"age": 61, "size_cm": 12, "grade": "3"}), encoding="utf-8")
    again = json.loads(runner.invoke(app, ["nomogram", "predict", COX, "--input", str(as_json_file), "--json"]).stdout)
    assert again["risks"] == pytest.approx(data["risks"])


def test_predict_readable_at_80_columns():
    result = runner.invoke(app, ["nomogram", "predict", POINTS, *PATIENT])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for expected in ("SYNTHETIC", "54 years", "10 cm", "Grade 3 (3)", "Total points: 125", "5 years", "35.4 %",
                     "10 years", "47.3 %", "Source: SarcoTrial developers", "not validated", "nothing extrapolated"):
        assert expected in text, expected
    assert max(len(line) for line in text.splitlines()) <= 80
    cox = runner.invoke(app, ["nomogram", "predict", COX, "--set", "age=61", "--set", "size_cm=12",
                              "--set", "grade=3"]).stdout
    assert "Linear predictor: 3.0801 (centre 2.2" in cox and "38.0 %" in cox and "51.6 %" in cox


@pytest.mark.parametrize("args, message", [
    (["--set", "age=54", "--set", "size_cm=10", "--set", "grade=3"],
     "error: depth: required by the model: a missing input is refused, never defaulted"),
    ([*PATIENT[:-1], "depth=middle"], "error: depth: must be one of superficial, deep (got 'middle')"),
    (["--set", "age=95", *PATIENT[2:]], "error: age: must be from 18 to 90 years"),
    ([*PATIENT, "--set", "margin=R0"], "error: margin: is not an input of this model"),
    ([*PATIENT, "--set", "age=60"], "error: --set: age is given twice; give each input once"),
    (["--set", "age"], "error: --set: expected name=value, e.g. age=61 (got 'age')"),
    ([], "error: --input: give the patient's inputs with --input FILE and/or --set name=value"),
])
def test_predict_refusals_are_one_line(args, message):
    result = runner.invoke(app, ["nomogram", "predict", POINTS, *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.output


def test_predict_refuses_an_invalid_model_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: sarcotrial-riskmodel/1\n", encoding="utf-8")
    result = runner.invoke(app, ["nomogram", "predict", str(bad), "--set", "age=1"])
    assert result.exit_code == 2 and "metadata: required key is missing" in result.stderr


def test_real_entry_point():
    done = subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", "nomogram", "predict", POINTS, *PATIENT,
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["risks"]["5"] == pytest.approx(RISK5)


def test_a_missing_model_file_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", "nomogram", "validate",
                           str(tmp_path / "absent.yaml")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "does not exist" in lines[0]
