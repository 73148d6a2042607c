"""The README's study example runs as written, the example screening file is accepted, and
``record FORM --help`` lists the form's fields.

The README once recorded a diagnosis without four of the form's required fields (sprint.yaml
forms.diagnosis: diagnosis_date, anatomic_site, clinical_n, clinical_m) and shipped no screening
file; these tests run the README's own lines, read from README.md, against a new study.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.protocol import load_protocol

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "screening.json"
runner = CliRunner()


def _readme_commands(first: str, last: str) -> list[list[str]]:
    """The README's commands from the one starting ``first`` to the one starting ``last``, continuation
    lines joined and comments dropped, as argument lists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    commands, taking = [], False
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("sarcotrial "):
            continue
        words = shlex.split(line, comments=True)
        taking = taking or line.startswith(first)
        if taking:
            commands.append(words[1:])
        if line.startswith(last):
            break
    assert commands and commands[-1][:1] == last.split()[1:2], "README lines not found"
    return commands


@pytest.fixture
def new_study_home(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "SARCOTRIAL_KEY", "SARCOTRIAL_KEY_FILE", "SARCOTRIAL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SARCOTRIAL_HOME", str(tmp_path))
    monkeypatch.chdir(ROOT)  # README: run from the repository's folder (examples/screening.json)
    return tmp_path


def test_the_readme_study_example_runs_as_written(new_study_home):
    commands = _readme_commands("sarcotrial init --protocol sprint", "sarcotrial correct diagnosis")
    diagnosis = next(c for c in commands if c[:2] == ["record", "diagnosis"] and "--set" in c)
    given = {c.split("=", 1)[0] for c in diagnosis if "=" in c}
    required = {f.id for f in load_protocol("sprint").form("diagnosis").fields if f.required}
    assert required == {"diagnosis_date", "histotype", "anatomic_site", "size_cm", "clinical_n", "clinical_m"}
    assert required <= given
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
        assert "Traceback" not in result.output
    shown = runner.invoke(app, ["patient", "show", "SPR-001", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["status"] == "enrolled"


def test_the_example_screening_file_is_accepted_by_both_screening_commands(new_study_home):
    answers = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    form = load_protocol("sprint").form("screening")
    assert set(answers) == {f.id for f in form.fields}  # every answer of the form, nothing else
    result = runner.invoke(app, ["screen", "--protocol", "sprint", "--input", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["decision"] == "eligible"
    assert all(c["result"] == ("met" if c["kind"] == "inclusion" else "not_met") for c in decision["criteria"])


def test_record_form_help_lists_the_forms_fields_types_units_and_codes(new_study_home):
    result = runner.invoke(app, ["record", "diagnosis", "--help"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Usage:" in out and "--set" in out
    # sprint.yaml forms.diagnosis: size_cm decimal in cm, 0.1 to 100, required; clinical_n codes N0, N1
    assert "size_cm*" in out and "decimal, cm, 0.1 to 100" in out
    assert "clinical_n*" in out and "code: N0, N1" in out
    assert "diagnosis_date*" in out and "date YYYY-MM-DD" in out
    assert "ecog " in out and "integer, 0 to 4" in out
    assert "shipped protocol SPRINT v1.3; no study database could be opened" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 80


def test_record_form_help_reads_the_studys_protocol_and_names_an_unknown_form(new_study_home):
    assert runner.invoke(app, ["init", "--protocol", "sprint"]).exit_code == 0
    result = runner.invoke(app, ["record", "pathology", "--help"])
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    assert "Form pathology" in words and "protocol SPRINT v1.3 of the study" in words
    wrong = runner.invoke(app, ["record", "diagnoses", "--help"])
    assert wrong.exit_code == 2
    assert "has no form 'diagnoses'" in wrong.output and "diagnosis" in wrong.output


def test_record_without_help_still_requires_its_arguments(new_study_home):
    result = runner.invoke(app, ["record"])
    assert result.exit_code == 2 and "Missing argument" in result.output
    # and its usage line shows FORM required, as SUBJECT (the parser holds it optional only for FORM --help)
    usage = next(x for x in runner.invoke(app, ["record", "--help"]).output.splitlines() if "Usage:" in x)
    assert "{form} {subject}" in usage and "[FORM]" not in usage
