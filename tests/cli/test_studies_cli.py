"""Several studies in one database from the command line: ``study add``, ``study list``, the root option
``--study`` and ``patient add-to-study``; exit 0 when done, 2 with one line naming the rule when refused
(nothing written), ``--json`` one JSON object; matching and screening from the registry across studies."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from tests.cli.support import one_json, refused, registry_study

runner = CliRunner()


def run(*args: str, code: int = 0):
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def db(tmp_path, monkeypatch) -> str:
    """A SPRINT study with two registry patients (SPR-001, SPR-002) and DOXAB added beside it."""
    path = registry_study(tmp_path, monkeypatch, ("Anna Example (synthetic)", "Bert Example (synthetic)"))
    out = run("study", "add", "--protocol", "doxab", "--db", path).output
    assert "Added study DOXAB" in out and "--study DOXAB" in out
    return path


def test_study_list_shows_each_study_with_its_accrual(db):
    shown = one_json(run("study", "list", "--db", db, "--json"))["studies"]
    assert [(s["acronym"], s["patients"], s["target_accrual"], s["current"]) for s in shown] == [
        ("SPRINT", 2, 33, True), ("DOXAB", 0, 130, False)]
    shown = one_json(run("--study", "doxab", "study", "list", "--db", db, "--json"))["studies"]
    assert [s["acronym"] for s in shown if s["current"]] == ["DOXAB"]
    text = run("study", "list", "--db", db).output
    assert "SPRINT (worked in)" in text and "0 of 130" in text


def test_a_registry_patient_is_taken_into_the_second_study(db):
    out = run("--study", "DOXAB", "patient", "add-to-study", "SPR-002", "--db", db).output
    assert "SPR-002 is DXA-001 in DOXAB" in out
    listed = one_json(run("--study", "DOXAB", "patient", "list", "--db", db, "--json"))
    assert [p["subject_id"] for p in listed["patients"]] == ["DXA-001"]
    listed = one_json(run("patient", "list", "--db", db, "--json"))
    assert [p["subject_id"] for p in listed["patients"]] == ["SPR-001", "SPR-002"]
    # taken in once; a subject id of the other study is refused with the way in named
    refused(run("--study", "DOXAB", "patient", "add-to-study", "SPR-002", "--db", db, code=2), "already in DOXAB")
    refused(run("--study", "DOXAB", "patient", "show", "SPR-001", "--db", db, code=2),
            "patient add-to-study SPR-001")
    # an unknown study is one line, exit 2
    refused(run("--study", "NOPE", "patient", "list", "--db", db, code=2), "runs no study 'NOPE'")
    # the registry's case file names the person's subject id in each study
    case = one_json(run("registry", "show", "SPR-002", "--db", db, "--json"))
    assert case["studies"] == [["SPRINT", "SPR-002", "referred"], ["DOXAB", "DXA-001", "referred"]]


def test_matching_lists_both_studies_and_screening_opens_in_the_one_named(db):
    matches = one_json(run("registry", "match", "SPR-001", "--db", db, "--json"))["matches"]
    assert [m["protocol"] for m in matches] == ["SPRINT", "DOXAB"]
    out = run("registry", "screen", "SPR-001", "--for", "DOXAB", "--date", "2025-02-03",
              "--set", "histology_confirmed=true", "--db", db).output
    assert "SPR-001 (taken into DOXAB as DXA-001) screened for DOXAB" in out
    matches = one_json(run("registry", "match", "SPR-001", "--db", db, "--json"))["matches"]
    assert {m["protocol"]: m["subject_id"] for m in matches} == {"SPRINT": "SPR-001", "DOXAB": "DXA-001"}


def test_the_study_option_goes_before_the_command_in_the_installed_command(db):
    """The console entry point registers only the command named, also after ``--study ACRONYM``."""
    code = ("import sys; from sarcotrial.cli.main import run; "
            f"sys.argv = ['sarcotrial', '--study', 'DOXAB', 'study', 'list', '--db', {db!r}, '--json']; run()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"current": true' in done.stdout.split('"DOXAB"')[1].split("}")[0]
