"""``sarcotrial rules gist-risk``: the JSON shape, the readable answer at 80 columns, one-line refusals.

Expected values come from the published tables (tests/domain/test_gist.py cites them in full):
- modified NIH (Joensuu, Hum Pathol 2008;39:1411-1419, table 1): gastric 2.1-5.0 cm with >5
  mitoses per 50 HPF is intermediate, non-gastric high; rupture is high whatever the rest;
- AFIP (Miettinen & Lasota, Semin Diagn Pathol 2006;23:70-83): >2-5 cm with >5 mitoses is group 5,
  stomach moderate (16 %); >10 cm with <=5 is group 3b, rectum high (57 %); <=2 cm with >5 is group 4,
  jejunum/ileum high with no percentage (small numbers of cases); the colon has no column.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()
BASE = ["rules", "gist-risk"]


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, [*BASE, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def cli_process(*args: str) -> subprocess.CompletedProcess:
    """As a user runs it: the real entry point, in its own process, 80 columns wide."""
    return subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", *BASE, *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "80"})


def test_json_shape_and_values():
    out = cli_json("--site", "stomach", "--size-cm", "4", "--mitoses", "7", "--mitoses-area", "5mm2")
    assert out["modified_nih"] == "intermediate"
    assert out["afip"] == {"group": "5", "risk": "moderate", "progression_percent": 16}
    assert set(out["afip"]) == {"group", "risk", "progression_percent"}
    assert out["mitoses_area"] == "5mm2" and out["table_areas"] == {"modified_nih": "50hpf", "afip": "5mm2"}
    assert out["rupture"] is False and isinstance(out["warnings"], list)
    assert any("per 50 HPF" in w for w in out["warnings"])  # NIH was defined on 50 HPF, the count was per 5 mm2


@pytest.mark.parametrize("args, nih, afip", [
    (["--site", "jejunum-ileum", "--size-cm", "4", "--mitoses", "7", "--mitoses-area", "50hpf"], "high",
     {"group": "5", "risk": "high", "progression_percent": 73}),
    (["--site", "rectum", "--size-cm", "12", "--mitoses", "2", "--mitoses-area", "5mm2"], "high",
     {"group": "3b", "risk": "high", "progression_percent": 57}),
    (["--site", "jejunum-ileum", "--size-cm", "1.5", "--mitoses", "8", "--mitoses-area", "5mm2"], "intermediate",
     {"group": "4", "risk": "high", "progression_percent": None}),
    (["--site", "colon", "--size-cm", "3", "--mitoses", "2", "--mitoses-area", "5mm2"], "low",
     {"group": "2", "risk": "insufficient data", "progression_percent": None}),
    (["--site", "stomach", "--size-cm", "1", "--mitoses", "0", "--mitoses-area", "5mm2", "--rupture"], "high",
     {"group": "1", "risk": "none", "progression_percent": 0}),
])
def test_published_cells(args, nih, afip):
    out = cli_json(*args)
    assert (out["modified_nih"], out["afip"]) == (nih, afip)


def test_null_percentage_is_json_null():
    result = runner.invoke(app, [*BASE, "--site", "oesophagus", "--size-cm", "3", "--mitoses", "2",
                                 "--mitoses-area", "5mm2", "--json"])
    assert result.exit_code == 0 and '"progression_percent": null' in result.output
    assert len(result.output.strip().splitlines()) == 1  # exactly one JSON object


def test_readable_answer_at_80_columns():
    result = cli_process("--site", "jejunum-ileum", "--size-cm", "1.5", "--mitoses", "8", "--mitoses-area", "50hpf")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "GIST, jejunum-ileum, 1.5 cm, 8 mitoses per 50 HPF, no rupture" in text
    assert "intermediate" in text and "group 4" in text and "no figure" in text
    assert text.count("warning:") == 3  # AFIP area, the <=2 cm 6-10 cell, small numbers
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("args, message", [
    (["--site", "stomach", "--size-cm", "-1", "--mitoses", "7", "--mitoses-area", "5mm2"], "size_cm:"),
    (["--site", "stomach", "--size-cm", "big", "--mitoses", "7", "--mitoses-area", "5mm2"], "size_cm:"),
    (["--site", "stomach", "--size-cm", "4", "--mitoses", "7.5", "--mitoses-area", "5mm2"],
     "mitoses: must be a whole number"),
    (["--site", "liver", "--size-cm", "4", "--mitoses", "7", "--mitoses-area", "5mm2"], "site: must be one of"),
    (["--site", "stomach", "--size-cm", "4", "--mitoses", "7", "--mitoses-area", "10hpf"], "mitoses_area:"),
    (["--site", "stomach", "--size-cm", "4", "--mitoses", "7"], "Missing option"),
])
def test_bad_input_one_line_exit_2(args, message):
    result = cli_process(*args)
    assert result.returncode == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout and result.stdout == ""
