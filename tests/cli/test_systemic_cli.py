"""``sarcotrial rules bsa`` and ``rules anthracycline``: keys, published values, one-line refusals.

Expected values come from the sources, by hand:
- Mosteller (N Engl J Med 1987;317:1098): 180 cm, 80 kg -> sqrt(14 400 / 3600) = 2.00 m2.
- DuBois (Arch Intern Med 1916;17:863): 0.007184 x 80^0.425 x 180^0.725 = 0.007184 x 6.4389 x 43.159
  = 1.9964 m2.
- ESC 2022 cardio-oncology guidelines (Eur Heart J 2022;43:4229), anthracycline equivalence table:
  epirubicin x 0.8 (its footnote: 125 mg/m2 -> 100 mg/m2), doxorubicin x 1; 300 + 100 = 400 mg/m2;
  a next cycle of doxorubicin 75 mg/m2 takes it to 475, above a 450 mg/m2 limit.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_bsa_mosteller_and_dubois():
    data = cli_json("rules", "bsa", "--height-cm", "180", "--weight-kg", "80")
    assert data["bsa_m2"] == pytest.approx(2.0) and data["formula"] == "mosteller"
    assert set(data) == {"bsa_m2", "formula", "height_cm", "weight_kg", "reference"}
    data = cli_json("rules", "bsa", "--height-cm", "180", "--weight-kg", "80", "--formula", "DuBois")
    assert data["bsa_m2"] == pytest.approx(1.9964, abs=5e-4) and data["formula"] == "dubois"


def test_bsa_readable():
    result = runner.invoke(app, ["rules", "bsa", "--height-cm", "180", "--weight-kg", "80"])
    assert result.exit_code == 0 and "Body surface area 2.00 m2" in result.output


@pytest.mark.parametrize("args, expected", [
    (["--height-cm", "1.8", "--weight-kg", "80"], "height_cm: must be from 30 to 250 cm"),
    (["--height-cm", "180", "--weight-kg", "0"], "weight_kg: must be from 1 to 400 kg"),
    (["--height-cm", "tall", "--weight-kg", "80"], "height_cm: must be a number"),
    (["--height-cm", "180", "--weight-kg", "80", "--formula", "haycock"], "formula: must be one of mosteller, dubois"),
])
def test_bsa_refusals_one_line_exit_2(args, expected):
    result = runner.invoke(app, ["rules", "bsa", *args])
    assert result.exit_code == 2 and expected in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_anthracycline_sum_contributions_and_warning():
    data = cli_json("rules", "anthracycline", "--dose", "doxorubicin=300", "--dose", "epirubicin=125",
                    "--limit", "450", "--next", "doxorubicin=75")
    assert data["cumulative_doxorubicin_equivalent_mg_m2"] == pytest.approx(400)
    assert data["contributions"] == [
        {"drug": "doxorubicin", "dose_mg_m2": 300, "factor": 1, "equivalent_mg_m2": 300},
        {"drug": "epirubicin", "dose_mg_m2": 125, "factor": 0.8, "equivalent_mg_m2": pytest.approx(100)}]
    assert data["table"]["id"] == "esc-2022" and data["table"]["version"] == "2022"
    assert "Eur Heart J 2022" in data["table"]["source"]
    assert data["over_limit"] is False and data["next_cycle_mg_m2"] == 75
    assert "from 400 to 475 mg/m2" in data["warning"]


def test_anthracycline_within_limit_has_no_warning():
    data = cli_json("rules", "anthracycline", "--dose", "doxorubicin=375", "--limit", "450", "--next", "doxorubicin=75")
    assert data["warning"] is None  # 375 + 75 reaches 450, does not cross it
    result = runner.invoke(app, ["rules", "anthracycline", "--dose", "doxorubicin=300", "--limit", "450"])
    assert result.exit_code == 0 and "Below the limit of 450 mg/m2 (150.0 mg/m2 left)" in result.output


def test_anthracycline_other_table():
    """Feijen 2019 table 3 (mean): daunorubicin 0.6 -> 100 mg/m2 daunorubicin = 60 mg/m2."""
    data = cli_json("rules", "anthracycline", "--dose", "daunorubicin=100", "--table", "feijen-2019")
    assert data["cumulative_doxorubicin_equivalent_mg_m2"] == pytest.approx(60)


def test_anthracycline_lists_tables():
    data = cli_json("rules", "anthracycline", "--tables")
    ids = [t["id"] for t in data["tables"]]
    assert {"esc-2022", "feijen-2019", "ighg-2025", "cog-ltfu-6.0"} <= set(ids)
    ighg = next(t for t in data["tables"] if t["id"] == "ighg-2025")
    assert "epirubicin" in ighg["no_factor"]


@pytest.mark.parametrize("args, expected", [
    (["--dose", "epirubicin=100", "--table", "ighg-2025"],
     "epirubicin: table ighg-2025 gives no doxorubicin-equivalence factor for epirubicin"),
    (["--dose", "olaratumab=15"], "drug: 'olaratumab' is not an anthracycline"),
    (["--dose", "doxorubicin"], "--dose: expected DRUG=MG_PER_M2"),
    (["--dose", "doxorubicin=lots"], "doxorubicin: must be a number"),
    (["--dose", "doxorubicin=-5"], "doxorubicin: must be at least 0"),
    (["--dose", "doxorubicin=5", "--table", "nope"], "table: unknown equivalence table"),
    (["--dose", "doxorubicin=5", "--next", "doxorubicin=75"], "--next: needs --limit"),
    ([], "--dose: give at least one DRUG=MG_PER_M2"),
])
def test_anthracycline_refusals_one_line_exit_2(args, expected):
    result = runner.invoke(app, ["rules", "anthracycline", *args])
    assert result.exit_code == 2 and expected in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_refusal_as_a_user_sees_it():
    """The real entry point: one line on stderr, nothing on stdout, exit status 2."""
    done = subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", "rules", "bsa", "--height-cm", "180",
                           "--weight-kg", "4000", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    expected = "error: weight_kg: must be from 1 to 400 kg (a weight in kg) (got 4000.0)"
    assert done.stderr.strip().splitlines() == [expected]
