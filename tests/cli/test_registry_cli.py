"""``sarcotrial registry`` and ``nomogram load|loaded`` as a user meets them: exit 0 when done, 1 when a
search finds nothing, 2 with one line when refused (nothing written), ``--json`` one JSON object.

The rules behind them are tested against their sources elsewhere (tests/domain/test_molecular.py,
test_predisposition.py, tests/riskmodels/, tests/services/test_registry.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from tests.cli.support import one_json, registry_study
from sarcotrial.config import cli_user
from sarcotrial.riskmodels import load_model

runner = CliRunner()
OS_USER = cli_user(None)[0]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COX = EXAMPLES / "riskmodels" / "synthetic-cox.yaml"


def run(*args: str, code: int = 0):
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def db(tmp_path, monkeypatch) -> str:
    """A SPRINT study with one registry patient and no accounts: the OS user acts alone."""
    return registry_study(tmp_path, monkeypatch, ("Anna Example (synthetic)",))


def test_molecular_and_family_documents_show_in_the_case_file(db, tmp_path):
    findings = tmp_path / "findings.yaml"
    findings.write_text("histotype: synovial_sarcoma\nfindings:\n"
                        "  - {test: FISH, kind: amplification, gene: MDM2}\n", encoding="utf-8")
    family = EXAMPLES / "predisposition" / "family.yaml"
    assert "recorded (revision 1)" in run("registry", "molecular", "SPR-001", str(findings), "--db", db).output
    run("registry", "family", "SPR-001", str(family), "--db", db)
    shown = one_json(run("registry", "show", "SPR-001", "--db", db, "--json"))
    assert shown["histotype"] == "synovial_sarcoma"
    assert shown["interpretation"][0]["relation"] == "contradicts"
    assert any("contradicts the recorded histotype" in flag for flag in shown["flags"])
    assert shown["predisposition"]["nf1_legius_2021"]["verdict"] == "met"  # the example meets NF1 (its comment)
    text = run("registry", "show", "SPR-001", "--db", db).output
    assert "flag" in text and "MDM2" in text and "Predisposition" in text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_bad_documents_are_refused_in_one_line_and_nothing_is_written(db, tmp_path):
    findings = tmp_path / "findings.yaml"
    findings.write_text("findings:\n  - {test: FISH, kind: amplification, gene: MDM3}\n", encoding="utf-8")
    result = run("registry", "molecular", "SPR-001", str(findings), "--db", db, code=2)
    assert result.output.startswith("error: findings[0].gene") and "MDM2" in result.output
    assert len(result.output.strip().splitlines()) == 1
    broken = tmp_path / "family.yaml"
    broken.write_text("proband: [unclosed\n", encoding="utf-8")
    assert "not valid YAML" in run("registry", "family", "SPR-001", str(broken), "--db", db, code=2).output
    shown = one_json(run("registry", "show", "SPR-001", "--db", db, "--json"))
    assert shown["molecular"] is None and shown["family_history"] is None


def test_a_loaded_model_predicts_a_registry_patient(db):
    assert run("nomogram", "loaded", "--db", db, code=1).output.startswith("No risk model is loaded")
    loaded = one_json(run("nomogram", "load", str(COX), "--endpoint", "dmfs", "--db", db, "--json"))
    assert loaded["endpoint"] == "dmfs" and loaded["synthetic"] is True
    assert "already loaded" in run("nomogram", "load", str(COX), "--db", db, code=2).output
    assert "time-to-event endpoints" in run("nomogram", "load", str(COX), "--endpoint", "r0_rate", "--db", db,
                                            code=2).output
    listed = one_json(run("nomogram", "loaded", "--db", db, "--json"))
    assert [m["key"] for m in listed["models"]] == [loaded["key"]]

    out = one_json(run("registry", "predict", "SPR-001", loaded["key"], "--set", "age=61", "--set", "size_cm=12",
                       "--set", "grade=3", "--db", db, "--json"))
    expected = load_model(COX).predict({"age": 61, "size_cm": 12.0, "grade": "3"})
    assert out["risks"]["5"] == pytest.approx(expected.risk(5)) and out["risks"]["10"] == pytest.approx(expected.risk(10))
    refused = run("registry", "predict", "SPR-001", loaded["key"], "--set", "age=61", "--set", "size_cm=12",
                  "--db", db, code=2)
    assert "grade" in refused.output and len(refused.output.strip().splitlines()) == 1
    shown = one_json(run("registry", "show", "SPR-001", "--db", db, "--json"))
    assert len(shown["predictions"]) == 1


def test_match_then_screen_with_what_is_known(db):
    matched = one_json(run("registry", "match", "SPR-001", "--db", db, "--json"))
    (sprint,) = matched["matches"]
    assert sprint["protocol"] == "SPRINT" and sprint["verdict"] == "may meet"
    text = run("registry", "match", "SPR-001", "--db", db).output
    assert "may meet" in text and "unknown:" in text
    run("registry", "screen", "SPR-001", "--set", "previous_rt_to_region=true", "--set", "histology_confirmed=true",
        "--set", "age_years=64", "--date", "2025-02-01", "--db", db)
    failed = run("registry", "match", "SPR-001", "--db", db, code=1)
    assert "fails:" in failed.output and "radiotherapy" in failed.output.lower()
    assert "histology_confirmed=True" in failed.output
