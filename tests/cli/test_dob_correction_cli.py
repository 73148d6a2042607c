"""A date-of-birth correction that makes an enrolled patient too young: the age at screening is derived
again, eligibility judged again, a query opened on the screening form's age, and the command says so.

Rule: SPRINT inclusion criterion ``age`` (sprint.yaml eligibility.criteria: age_years > 18, from the
trial's registry record). The patient of the README is screened on 2026-11-23 with the example
screening file (age 65, born 1961-04-02); born 2010-06-01 instead, the patient was 16 on that day
(2026 - 2010 = 16, the birthday in June already past by November), so ineligible.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "screening.json"
runner = CliRunner()


def run(*args: str, codes: tuple[int, ...] = (0,)) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code in codes, (args, result.output)
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


@pytest.fixture
def enrolled(tmp_path, monkeypatch) -> str:
    for name in ("DATABASE_URL", "SARCOTRIAL_KEY", "SARCOTRIAL_KEY_FILE", "SARCOTRIAL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    db = str(tmp_path / "study.sqlite")
    run("init", "--protocol", "sprint", "--db", db)
    run("patient", "register", "--db", db, "--name", "Ada Test (synthetic)", "--dob", "1961-04-02",
        "--hospital-number", "H123", "--sex", "female", "--set", "referral_date=2026-11-20",
        "--set", "anatomic_site=extremity")
    assert "ELIGIBLE" in run("patient", "screen", "SPR-001", "--input", str(EXAMPLE), "--db", db)
    run("record", "consent", "SPR-001", "--db", db, "--set", "consent_date=2026-11-23",
        "--set", "document_version=1.0", "--set", "data_use=yes")
    run("patient", "enrol", "SPR-001", "--date", "2026-11-23", "--db", db)
    return db


def _age_queries(db: str) -> list[dict]:
    found = json.loads(run("query", "list", "--db", db, "--json", codes=(0, 1)))["queries"]  # 1: none found
    return [q for q in found if q["origin"] == "check:age_eligibility"]


def test_a_dob_that_makes_the_patient_16_is_reported_and_queried(enrolled):
    out = run("patient", "correct-identifiers", "SPR-001", "--dob", "2010-06-01", "--reason",
              "date of birth mistyped at registration", "--db", enrolled)
    assert "Corrected the identifiers of SPR-001" in out
    assert "Eligibility to check: the corrected date of birth gives age 16 at screening on 2026-11-23" in out
    assert "the form says 65" in out
    assert "with age 16 SPR-001 is ineligible, not eligible as screened" in out and "Age > 18 years" in out
    queries = _age_queries(enrolled)
    assert [(q["form_id"], q["field"], q["status"]) for q in queries] == [("screening", "age_years", "open")]
    assert f"Query {queries[0]['id']} is open on screening.age_years" in out
    # the patient's page says so beside the screening it questions
    shown = run("patient", "show", "SPR-001", "--db", enrolled)
    assert "Open queries (1):" in shown and f"#{queries[0]['id']} screening.age_years:" in shown
    # a second correction while the query is open names the same query, and opens no other
    again = run("patient", "correct-identifiers", "SPR-001", "--dob", "2010-06-02", "--reason", "day mistyped",
                "--db", enrolled)
    assert f"Query {queries[0]['id']} is open" in again and len(_age_queries(enrolled)) == 1


def test_a_dob_correction_that_keeps_the_age_says_so_and_opens_nothing(enrolled):
    # born 3 April instead of 2 April 1961: still 65 on 2026-11-23
    out = run("patient", "correct-identifiers", "SPR-001", "--dob", "1961-04-03", "--reason", "day mistyped",
              "--db", enrolled)
    assert "the corrected date of birth gives age 65 at screening on 2026-11-23; eligibility unchanged (eligible)" in out
    assert _age_queries(enrolled) == []


def test_an_age_that_no_longer_agrees_is_queried_even_when_still_eligible(enrolled):
    # born 1 January 1960: 66 on 2026-11-23, not the 65 entered; still > 18
    out = run("patient", "correct-identifiers", "SPR-001", "--dob", "1960-01-01", "--reason", "year mistyped",
              "--db", enrolled)
    assert "gives age 66 at screening on 2026-11-23; the form says 65." in out and "ineligible" not in out
    assert len(_age_queries(enrolled)) == 1
