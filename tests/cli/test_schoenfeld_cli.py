"""``sarcotrial stats schoenfeld``: one JSON object, readable output, one-line refusals naming the option.

Expected numbers are computed by hand (Schoenfeld, Biometrics 1983;39:499-503; Collett, Modelling Survival
Data in Medical Research, 3rd ed., section 10.2):
HR 0.6, two-sided 5 %, 80 %, 1:1: (1.959964 + 0.841621)^2 x 4 / (ln 0.6)^2 = 120.3157 -> 121 events.
Control median 6 months, accrual 24, follow-up 12: S(12) = 1/4, S(24) = 1/16, S(36) = 1/64, so
P(event, control) = 1 - (1/4 + 4/16 + 1/64) / 6 = 0.9140625; experimental median 6 / 0.6 = 10,
P(event, experimental) = 1 - (2^-1.2 + 4 x 2^-2.4 + 2^-3.6) / 6 = 0.787400; overall 0.850731;
121 / 0.850731 = 142.23 -> 71.12 per arm -> 72 + 72 = 144.
The sub-app is mounted on a bare Typer app (main.py registers it as ``sarcotrial stats``).
"""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from sarcotrial.cli.stats import stats_app

app = typer.Typer()
app.add_typer(stats_app, name="stats")


@app.callback()
def _root() -> None:
    """Test host."""


runner = CliRunner()
TIMES = ("--median-control", "6", "--accrual", "24", "--follow-up", "12")
P_EXPERIMENTAL = 1 - (2 ** -1.2 + 4 * 2 ** -2.4 + 2 ** -3.6) / 6


def run(*args: str):
    return runner.invoke(app, ["stats", "schoenfeld", *args])


def cli_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, "exactly one JSON object"
    return json.loads(lines[0])


def test_events_json():
    out = cli_json("--hr", "0.6", "--alpha", "0.05", "--power", "0.8")
    assert out["events"] == 121 and out["events_exact"] == pytest.approx(120.3157, abs=5e-4)
    assert (out["sided"], out["allocation"], out["hazard_ratio"]) == ("two-sided", [1, 1], 0.6)
    assert "patients" not in out


def test_sample_size_json():
    out = cli_json("--hr", "0.6", *TIMES)
    assert out["p_event_control"] == pytest.approx(0.9140625, abs=1e-15)
    assert out["p_event_experimental"] == pytest.approx(P_EXPERIMENTAL, abs=1e-15)
    assert out["p_event"] == pytest.approx((0.9140625 + P_EXPERIMENTAL) / 2, abs=1e-15)
    assert (out["events"], out["patients"], out["patients_experimental"], out["patients_control"]) == (121, 144, 72, 72)
    assert out["median_experimental_months"] == pytest.approx(10, rel=1e-15)


def test_one_sided_and_ratio():
    """One-sided 5 %, 80 %, HR 0.6, 1:1: 2.486475^2 x 4 / 0.2609428 = 94.78 -> 95 (the published Table 3 of
    Stat Med 2017;36:4121-4140 lists 96, its value rounded up to even). 2:1 two-sided: 135.36 -> 136."""
    assert cli_json("--hr", "0.6", "--sided", "one-sided")["events"] == 95
    out = cli_json("--hr", "0.6", "--ratio", "2:1", *TIMES)
    got = (out["events"], out["allocation"], out["patients_experimental"], out["patients_control"])
    assert got == (136, [2, 1], 110, 55)


def test_readable_output():
    result = run("--hr", "0.6", *TIMES)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "events required: 121" in text and "patients: 144" in text and "0.9141" in text


@pytest.mark.parametrize("args, option", [
    (("--hr", "0"), "hr"),
    (("--hr", "-0.6"), "hr"),
    (("--hr", "1"), "hr"),
    (("--hr", "x"), "hr"),
    (("--hr", "0.6", "--alpha", "0.5"), "alpha"),
    (("--hr", "0.6", "--alpha", "0"), "alpha"),
    (("--hr", "0.6", "--power", "1"), "power"),
    (("--hr", "0.6", "--power", "0"), "power"),
    (("--hr", "0.6", "--ratio", "2"), "ratio"),
    (("--hr", "0.6", "--ratio", "2:x"), "ratio"),
    (("--hr", "0.6", "--ratio", "0:1"), "ratio"),
    (("--hr", "0.6", "--sided", "both"), "sided"),
    (("--hr", "0.6", "--accrual", "24", "--follow-up", "12"), "median-control"),
    (("--hr", "0.6", "--median-control", "-6", "--accrual", "24", "--follow-up", "12"), "median-control"),
    (("--hr", "0.6", "--median-control", "6", "--accrual", "-1", "--follow-up", "12"), "accrual"),
    (("--hr", "0.6", "--median-control", "6", "--accrual", "0", "--follow-up", "0"), "follow-up"),
])
def test_bad_values_one_line_exit_2(args, option):
    result = run(*args)
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert text.startswith("error:") and f"{option}:" in text and len(text.splitlines()) == 1, text
