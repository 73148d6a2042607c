"""``sarcotrial accrual`` as a user meets it: the forecast (Gajewski, Simon, Carlson, Stat Med
2008;27:2328-2340) of a small SPRINT study, worked by hand; one-line refusals with exit status 2.

The study (tests/report/test_accrual_report.py, ``enrol_three``): screened 6 January, 3 February, 3 March 2025,
enrolled a week later each. At the cut-off of 30 June 2025: day 0 the first screening, t = 175 days; SPRINT plans
33 in 3 years (1095.75 days; planned end 6 January 2025 + 1096 days = 7 January 2028); prior weight P: prior
Gamma(33 P, 1095.75 P), posterior Gamma(33 P + 3, 1095.75 P + 175); 30 patients to go. The completion quantiles
are the R package accrual's ``accrual.T.inform`` expression, cut-off + b qB / (1 - qB) with
qB = qbeta(p, 30, a), and P(target by the planned end, s days on) = P(B <= s / (b + s)), computed with scipy's beta.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from scipy.stats import beta
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from tests.report.test_accrual_report import enrol_three

runner = CliRunner()
CUTOFF = dt.date(2025, 6, 30)
MINI = Path(__file__).resolve().parents[1] / "protocols" / "mini.yaml"


def run(*args: str, code: int = 0):
    result = runner.invoke(app, ["accrual", *args])
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


def r_package(p: float, weight: float = 0.5) -> str:
    a, b = 33 * weight + 3, 1095.75 * weight + 175
    qb = beta.ppf(p, 30, a)
    return (CUTOFF + dt.timedelta(days=round(b * qb / (1 - qb)))).isoformat()


@pytest.fixture
def db(study, database_url) -> str:
    enrol_three(study)
    return database_url


def test_json_is_the_model_worked_by_hand(db):
    shown = json.loads(run("--db", db, "--as-of", "2025-06-30", "--json").output)
    assert (shown["study"], shown["status"], shown["enrolled"], shown["remaining"], shown["target"]) == (
        "SPRINT", "forecast", 3, 30, 33)
    assert (shown["start"], shown["start_source"], shown["cutoff"], shown["observed_days"]) == (
        "2025-01-06", "the first screening", "2025-06-30", 175)
    assert shown["observed_rate_per_month"] == pytest.approx(3 / 175 * 365.25 / 12)
    assert shown["planned"] == {"years": 3.0, "days": 1095.75, "end": "2028-01-07",
                                "rate_per_month": pytest.approx(33 / 1095.75 * 365.25 / 12)}
    assert (shown["posterior"]["shape"], shown["posterior"]["days"]) == (19.5, 722.875)
    assert shown["completion"] == {"median": r_package(0.5), "lower": r_package(0.025), "upper": r_package(0.975)}
    s = (dt.date(2028, 1, 7) - CUTOFF).days
    assert shown["probability_by_planned_end"] == pytest.approx(beta.cdf(s / (722.875 + s), 30, 19.5))
    assert shown["on_track"] is (shown["probability_by_planned_end"] >= 0.5)
    assert shown["patients_seen"] == "all" and "Gajewski" in shown["method"]


def test_prior_weight_and_level(db):
    """--prior-weight 0: the observed rate alone, Gamma(3, 175); --level 0.8: the 10 % and 90 % quantiles."""
    shown = json.loads(run("--db", db, "--as-of", "2025-06-30", "--prior-weight", "0", "--level", "0.8",
                           "--json").output)
    assert shown["prior"]["used"] is False and (shown["posterior"]["shape"], shown["posterior"]["days"]) == (3, 175)
    assert shown["completion"] == {"median": r_package(0.5, 0), "lower": r_package(0.1, 0), "upper": r_package(0.9, 0)}


def test_readable_answer(db):
    out = run("--db", db, "--as-of", "2025-06-30").output
    text = " ".join(out.split())  # Rich wraps at the terminal's width
    assert "SPRINT accrual at 30 June 2025" in text
    assert "Enrolled 3 of 33 (9%) from 6 January 2025 (the first screening): 5.7 months, 0.52 patients a month" in text
    assert "Planned: 33 in 3 years, by 7 January 2028 (0.92 a month)" in text
    median = dt.date.fromisoformat(r_package(0.5))
    assert f"Forecast: the target of 33 is reached on {median.day} {median:%B %Y} (median; 95% predictive" in text
    assert "On track: " in text


def test_a_cutoff_before_the_first_screening_forecasts_from_the_prior(db):
    """Nobody screened by 1 January 2025: accrual counts from the cut-off, the prior alone (Gamma(16.5, 547.875))."""
    shown = json.loads(run("--db", db, "--as-of", "2025-01-01", "--json").output)
    assert (shown["enrolled"], shown["start"], shown["start_source"]) == (0, "2025-01-01",
                                                                         "no screening yet: from the cut-off")
    assert (shown["posterior"]["shape"], shown["posterior"]["days"]) == (16.5, 547.875)


@pytest.mark.parametrize("args, message", [
    (["--prior-weight", "1.5"], "prior_weight: must be from 0 to 1"),
    (["--level", "ninety"], "level: must be a number"),
    (["--level", "95"], "level: must be between 0 and 1"),
    (["--as-of", "30/06/2025"], "--as-of: must be a date written YYYY-MM-DD"),
    (["--as-of", "2025-06-30", "--start", "2025-07-01"], "start: must not be after the cut-off (2025-06-30)"),
])
def test_bad_values_are_one_line(db, args, message):
    result = run("--db", db, *args, code=2)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output


def test_a_protocol_without_an_enrolment_period(database_url):
    """MINI (tests/protocols/mini.yaml) plans 2 patients and no period: no prior; before the first patient no
    forecast (exit 0: an answer, not a failed check); its 2 patients, enrolled 6 and 20 March 2025, complete it."""
    from sarcotrial.services import pathway
    from sarcotrial.services.study import Actor, StudyDB

    actor = Actor("coordinator", "test")
    study, _ = StudyDB.create(database_url, str(MINI), actor)
    try:
        none_yet = json.loads(run("--db", database_url, "--as-of", "2025-03-01", "--json").output)
        assert none_yet["status"] == "not estimable" and none_yet["planned"] is None
        assert none_yet["note"] == ("no patient is enrolled yet and the protocol gives no enrolment period, so there "
                                    "is no prior: the rate cannot be estimated")
        for number, day in (("M1", dt.date(2025, 3, 6)), ("M2", dt.date(2025, 3, 20))):
            patient = pathway.register_patient(
                study, actor, identifiers=pathway.Identifiers("A B (synthetic)", dt.date(1970, 1, 1), number),
                sex="male", referral={"referral_date": "2025-03-01", "anatomic_site": "extremity"})
            pathway.screen(study, actor, patient.subject_id, {"screening_date": "2025-03-05", "age_years": 55,
                                                              "site": "extremity", "size_cm": 5, "pregnant": False})
            pathway.enrol(study, actor, patient.subject_id, day)
    finally:
        study.close()
    text = " ".join(run("--db", database_url, "--as-of", "2025-06-30").output.split())
    assert "Enrolled 2 of 2 (100%) from 5 March 2025 (the first screening) to 20 March 2025: 0.5 months" in text
    assert "Planned: the protocol gives no enrolment period" in text
    assert "The target of 2 was reached on 20 March 2025." in text and "On track" not in text


def test_screened_but_nobody_enrolled_starts_at_the_first_screening(study, database_url):
    """A study whose patients are screened but none enrolled yet: accrual starts at the first screening
    and the forecast is made (it once failed with a TypeError on the empty list of enrolment dates)."""
    from tests.helpers import NURSE, SCREENING, register
    from sarcotrial.services import pathway

    subject = register(study, "H0101").subject_id
    pathway.screen(study, NURSE, subject, {"screening_date": "2025-02-03", "consent_date": "2025-02-03", **SCREENING})
    shown = json.loads(run("--db", database_url, "--as-of", "2025-06-30", "--json").output)
    assert (shown["enrolled"], shown["start"], shown["start_source"]) == (0, "2025-02-03", "the first screening")
