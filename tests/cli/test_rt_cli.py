"""``sarcotrial rt schedule`` and ``rt delivery`` as a user runs them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()


def test_schedule_json_keys_and_2027_st_francis():
    result = runner.invoke(app, ["rt", "schedule", "--start", "2027-09-25", "--fractions", "25", "--calendar", "IT-MI", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"dates", "last", "overall_treatment_days", "moved_start"}
    assert "2027-10-04" not in data["dates"] and data["dates"][0] == "2027-09-27"
    assert data["moved_start"]["date"] == "2027-09-27" and "Saturday" in data["moved_start"]["reason"]
    assert (data["last"], data["overall_treatment_days"]) == ("2027-11-02", 37)


def test_schedule_with_closures_file(tmp_path):
    closures = tmp_path / "closures.txt"
    closures.write_text("2027-10-11\n")
    data = json.loads(runner.invoke(app, ["rt", "schedule", "--start", "2027-10-05", "--fractions", "5",
                                          "--closures", str(closures), "--json"]).output)
    assert data["dates"] == ["2027-10-05", "2027-10-06", "2027-10-07", "2027-10-08", "2027-10-12"]
    assert data["moved_start"] is None


def test_schedule_bad_date_is_one_line():
    result = runner.invoke(app, ["rt", "schedule", "--start", "5 Oct 2027"])
    assert result.exit_code == 2 and "start: must be a date written YYYY-MM-DD" in result.output
