"""``sarcotrial rules recist``: the issue's JSON shape, both confirmation settings, one-line refusals.

Source: Eisenhauer EA et al. RECIST 1.1, Eur J Cancer 2009;45:228-247. The patient below, computed by
hand (sum of diameters: longest diameters plus the node's short axis, section 4.2):

- baseline 2024-01-01: 30 + 20 + 20 = 70 mm;
- 2024-02-12 (day 42): 15 + 10 + 12 = 37 mm, (37 - 70) / 70 = -47 % -> PR (>= 30 % decrease, 4.3.1);
  non-target present -> NON-CR/NON-PD; overall PR (Table 1);
- 2024-03-25 (day 84): 20 + 15 + 14 = 49 mm, 49 - 37 = +12 mm = +32 % over the nadir -> PD.

Best overall response without confirmation: PR (section 4.4.3), not confirmed (no later PR or CR).
With confirmation (Table 3, "PR, PD: SD provided minimum criteria for SD duration met, otherwise, PD"):
SD with a 42-day minimum (day 42 >= 42), PD with a 60-day minimum.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()

PATIENT = {
    "lesions": {"L1": {"kind": "target", "node": False, "organ": "lung"},
                "L2": {"kind": "target", "organ": "liver"},
                "N1": {"kind": "target", "node": True},
                "X1": {"kind": "non-target"}},
    "assessments": [
        {"date": "2024-01-01", "baseline": True,
         "measurements": {"L1": 30, "L2": 20, "N1": {"mm": 20, "axis": "short"}},
         "non_target": {"X1": "present"}, "new_lesions": False},
        {"date": "2024-02-12", "measurements": {"L1": 15, "L2": 10, "N1": 12}, "non_target": {"X1": "present"},
         "new_lesions": False},
        {"date": "2024-03-25", "measurements": {"L1": 20, "L2": 15, "N1": 14}, "non_target": {"X1": "present"},
         "new_lesions": False},
    ],
}


@pytest.fixture
def patient_file(tmp_path):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(PATIENT))
    return path


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, ["rules", "recist", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_has_exactly_the_issues_shape(patient_file):
    out = cli_json(str(patient_file))
    assert out == {
        "timepoints": [
            {"date": "2024-01-01", "baseline": True, "sum_mm": 70, "target": None, "non_target": None, "overall": None},
            {"date": "2024-02-12", "baseline": False, "sum_mm": 37, "target": "PR", "non_target": "NON-CR/NON-PD",
             "overall": "PR"},
            {"date": "2024-03-25", "baseline": False, "sum_mm": 49, "target": "PD", "non_target": "NON-CR/NON-PD",
             "overall": "PD"},
        ],
        "best_overall_response": {"response": "PR", "date": "2024-02-12", "confirmed": False},
    }


def test_both_confirmation_settings(patient_file):
    """The randomised protocol reports the unconfirmed and the confirmed best overall response."""
    assert cli_json(str(patient_file), "--no-confirm")["best_overall_response"]["response"] == "PR"
    assert cli_json(str(patient_file), "--confirm")["best_overall_response"] == {
        "response": "SD", "date": "2024-02-12", "confirmed": None}
    assert cli_json(str(patient_file), "--confirm", "--sd-min-days", "60")["best_overall_response"] == {
        "response": "PD", "date": "2024-03-25", "confirmed": None}


def test_too_small_not_assessed_and_equivocal(tmp_path):
    """"TS" counts 5 mm (section 4.3.2): 5 + 10 + 12 = 27 mm. A null measurement is not assessed: NE
    (4.4.2). An equivocal new lesion is not PD until a later scan confirms it, then PD is dated back to
    the first scan (4.3.5): 2024-03-25 becomes PD, the best response stays PR from 2024-02-12."""
    doc = json.loads(json.dumps(PATIENT))
    doc["assessments"][1]["measurements"]["L1"] = "TS"
    doc["assessments"][2].update(measurements={"L1": None, "L2": 10, "N1": 12}, new_lesions="equivocal")
    doc["assessments"].append({"date": "2024-05-06", "measurements": {"L1": 5, "L2": 10, "N1": 12},
                               "non_target": {"X1": "present"}, "new_lesions": True})
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    out = cli_json(str(path))
    assert [(tp["sum_mm"], tp["target"], tp["overall"]) for tp in out["timepoints"]] == [
        (70, None, None), (27, "PR", "PR"), (None, "NE", "PD"), (27, "PR", "PD")]
    assert out["best_overall_response"] == {"response": "PR", "date": "2024-02-12", "confirmed": False}


def test_readable_output_fits_80_columns(patient_file):
    result = runner.invoke(app, ["rules", "recist", str(patient_file)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:4] == ["date", "sum", "mm", "target"] for line in lines if line.strip())
    row = next(line for line in lines if line.startswith("2024-02-12")).split()
    assert row == ["2024-02-12", "37", "PR", "NON-CR/NON-PD", "no", "PR"]
    table = [line for line in lines if not line.startswith(("*", "Best"))]
    assert max(len(line) for line in table) <= 80
    assert "Best overall response: PR from 2024-02-12, not confirmed\n  (confirmation not required" in result.output
    assert max(len(line) for line in lines) <= 80


@pytest.mark.parametrize("change, message", [
    (lambda d: d["assessments"][1]["measurements"].update(L9=12),
     "assessments[1].measurements.L9: not a declared lesion"),
    (lambda d: d["lesions"].update({f"T{i}": {"kind": "target"} for i in range(3)}), "at most 5 target lesions"),
    (lambda d: d.update(extra=1), "document.extra: unknown key"),
])
def test_bad_documents_exit_2_with_one_line(tmp_path, change, message):
    doc = json.loads(json.dumps(PATIENT))
    change(doc)
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["rules", "recist", str(path), "--json"])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unreadable_or_invalid_file_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{lesions: ")
    result = runner.invoke(app, ["rules", "recist", str(bad)])
    assert result.exit_code == 2 and "file:" in result.output and "not valid JSON" in result.output
    result = runner.invoke(app, ["rules", "recist", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "cannot read" in result.output


def test_node_measured_by_its_long_axis_exits_2(tmp_path):
    """As a user runs it: one line on stderr naming the field and the rule (RECIST 1.1 section 3.1:
    nodes are measured by their short axis), exit status 2."""
    doc = json.loads(json.dumps(PATIENT))
    doc["assessments"][1]["measurements"]["N1"] = {"mm": 16, "axis": "long"}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    result = subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", "rules", "recist", str(path), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "assessments[1].measurements.N1" in lines[0] and "short axis" in lines[0]
    assert result.stdout == "" and "Traceback" not in result.stderr
