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


def test_delivery_before_the_first_fraction_and_mid_course(tmp_path, monkeypatch):
    """Before any fraction there are no dates to show; mid-course the overall time is 'so far', and no
    prolongation is judged until the course is complete (the protocol's rule applies to the whole course)."""
    from sarcotrial.services import forms
    from sarcotrial.services.study import Actor, StudyDB
    from sarcotrial.store.crypto import generate_key
    from tests.helpers import DOCTOR, enrolled

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    study, _ = StudyDB.create(db, "sprint", Actor("tester", "test"))
    with study:
        subject = enrolled(study)
        forms.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03"})
    shown = " ".join(runner.invoke(app, ["rt", "delivery", subject, "--db", db], env={"COLUMNS": "200"}).output.split())
    assert "0 of 25 fractions delivered" in shown and "no fraction delivered yet" in shown and "None" not in shown
    with StudyDB.open(db) as study:
        for number, day in enumerate(("2025-02-03", "2025-02-04", "2025-02-05"), start=1):
            forms.record(study, DOCTOR, subject, "rt_fraction",
                         {"fraction_number": number, "fraction_date": day, "status": "delivered"})
    shown = " ".join(runner.invoke(app, ["rt", "delivery", subject, "--db", db], env={"COLUMNS": "200"}).output.split())
    assert "3 of 25 fractions delivered" in shown and "2025-02-03 to 2025-02-05" in shown
    assert "Overall treatment time so far 3 days" in shown and "-" not in shown.split("so far")[1].split(")")[0]
