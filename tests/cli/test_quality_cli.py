"""The command line's answers as a new user meets them: start-up that loads only what a command
needs, exit statuses by the convention (0 done; 1 a search found nothing; 2 refused), tables
readable at 80 columns, a private study database file.

Speed itself is a benchmark (``bench/cli.py``, docs/benchmarks/cli.md), not a timed test: these
tests check what makes it fast, that ``--help`` and a rule load neither the database layer nor
the engines.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sqlalchemy", "alembic", "openpyxl", "matplotlib", "numpy", "scipy", "pydicom", "weasyprint",
         "sarcotrial.services.study", "sarcotrial.store.db")


def loaded_after(*argv: str) -> list[str]:
    """The heavy modules loaded by running the CLI with ``argv`` in a fresh interpreter."""
    code = ("import sys\nfrom sarcotrial.cli.main import app\n"
            f"try:\n    app({list(argv)!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            f"print('LOADED:', *(m for m in {HEAVY!r} if m in sys.modules))")
    env = {**os.environ, "SARCOTRIAL_HOME": "/nonexistent/sarcotrial-home", "COLUMNS": "100"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1].split()[1:]


@pytest.mark.parametrize("argv", [
    ["--help"], ["rules", "--help"], ["patient", "--help"],
    ["rules", "histotype", "leiomyo"],
    ["rules", "fnclcc", "--differentiation", "3", "--mitoses", "12", "--necrosis-percent", "30"],
    ["rules", "stage", "--site", "extremity", "--size-cm", "8", "--grade", "3"],
    ["rules", "eqd2", "--dose", "50", "--fractions", "25"],
    ["ctcae", "show", "Dermatitis radiation"],
])
def test_help_and_rules_load_neither_the_database_layer_nor_the_engines(argv):
    """Start-up of 1 s came from every command module importing SQLAlchemy, Alembic, openpyxl,
    matplotlib and the services at start; each is now imported by the command that uses it."""
    assert loaded_after(*argv) == []


def test_the_domain_reads_no_spreadsheet():
    """The CTCAE workbook reader (openpyxl) belongs to the import service: ``domain`` does no I/O
    beyond its packaged data, and importing it loads no spreadsheet library."""
    domain = Path(__file__).resolve().parents[2] / "src" / "sarcotrial" / "domain"
    importing = re.compile(r"^\s*(import|from)\s+openpyxl\b", re.MULTILINE)
    assert not [p.name for p in domain.glob("*.py") if importing.search(p.read_text(encoding="utf-8"))]
    done = subprocess.run([sys.executable, "-c", "import sys, sarcotrial.domain.ctcae; print('openpyxl' in sys.modules)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def cli(*argv: str, columns: int = 100, env: dict | None = None) -> subprocess.CompletedProcess:
    """As a user runs it: the real entry point, in its own process, at a terminal width."""
    full = {**os.environ, "COLUMNS": str(columns), **(env or {})}
    return subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", *argv], capture_output=True, text=True,
                          timeout=300, env=full)


# --------------------------------------------------------------------------- exit statuses
@pytest.mark.parametrize("argv", [
    ["rules", "histotype", "zzz"], ["rules", "histotype", "zzz", "--json"],
    ["ctcae", "show", "zzz"], ["ctcae", "show", "zzz", "--json"],
])
def test_a_search_that_finds_nothing_exits_1(argv, tmp_path):
    done = cli(*argv, env={"SARCOTRIAL_HOME": str(tmp_path)})
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    if "--json" in argv:
        answer = json.loads(done.stdout)
        assert answer.get("matches", answer.get("terms")) == []
    else:
        assert "No " in done.stdout and "matches 'zzz'" in done.stdout


@pytest.mark.parametrize("argv", [
    ["rules", "histotype", "leiomyosarcoma"], ["rules", "histotype", "malignant mesenchymoma"],
    ["ctcae", "show", "Dermatitis radiation"], ["ctcae", "show", "Dermatitis radiation", "--json"],
])
def test_a_search_that_finds_exits_0(argv, tmp_path):
    """An obsolete name answers with its candidates: found (exit 0), as a name that matches."""
    done = cli(*argv, env={"SARCOTRIAL_HOME": str(tmp_path)})
    assert done.returncode == 0, (done.stdout, done.stderr)


@pytest.fixture
def fresh_db(tmp_path, own_study_env) -> str:
    path = tmp_path / "study.sqlite"
    old = os.umask(0o022)  # the usual umask, under which a file is made world-readable by default
    try:
        done = cli("init", "--protocol", "sprint", "--db", str(path))
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    return str(path)


def test_an_empty_patient_list_exits_1(fresh_db):
    done = cli("patient", "list", "--db", fresh_db)
    assert done.returncode == 1 and "No patient is registered" in done.stdout
    as_json = cli("patient", "list", "--db", fresh_db, "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout) == {"patients": []}


def test_an_audit_log_without_a_matching_entry_exits_1(fresh_db, monkeypatch):
    from typer.testing import CliRunner

    from sarcotrial.cli.main import app
    from sarcotrial.services import views

    assert CliRunner().invoke(app, ["audit", "log", "--db", fresh_db]).exit_code == 0  # the study's creation
    unknown = CliRunner().invoke(app, ["audit", "log", "--db", fresh_db, "--patient", "SPR-999"])
    assert unknown.exit_code == 2  # an unknown subject id is refused input, not an empty search
    monkeypatch.setattr(views, "audit_entries", lambda *a, **k: [])  # as for a patient the user may not see
    result = CliRunner().invoke(app, ["audit", "log", "--db", fresh_db])
    assert result.exit_code == 1 and "No audit entry matches" in result.output


def test_the_study_database_is_private(fresh_db):
    """The database holds the pseudonymised clinical data: mode 0600 like the key beside it, and
    so are the files SQLite keeps beside it (written to, so that they exist)."""
    register = cli("patient", "register", "--db", fresh_db, "--name", "P (synthetic)", "--dob", "1960-01-01",
                   "--hospital-number", "H1", "--sex", "male", "--set", "referral_date=2025-01-10",
                   "--set", "anatomic_site=extremity")
    assert register.returncode == 0, register.stderr
    path = Path(fresh_db)
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert {path, path.with_name(path.name + ".key")} <= set(files)
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, (file.name, oct(file.stat().st_mode))


def test_the_sqlite_files_beside_the_database_share_its_mode(tmp_path):
    """While a connection is open SQLite keeps -wal and -shm files: they take the database's mode."""
    from sqlalchemy import text

    from sarcotrial.store.db import make_engine

    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
        with engine.begin() as connection:
            connection.execute(text("create table t (x integer)"))
            connection.execute(text("insert into t values (1)"))
            beside = sorted(p.name for p in tmp_path.iterdir())
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        engine.dispose()
    finally:
        os.umask(old)
    assert "x.sqlite-wal" in beside and "x.sqlite-shm" in beside
    assert modes == {name: 0o600 for name in beside}


# --------------------------------------------------------------------------- 80 columns
def test_protocol_show_is_readable_at_80_columns():
    done = cli("protocol", "show", "sprint", columns=80)
    assert done.returncode == 0 and "…" not in done.stdout
    objectives = done.stdout[done.stdout.index("Dose objectives"):done.stdout.index("Chemotherapy")]
    assert max(len(line) for line in objectives.splitlines()) <= 80
    for expected in ("V95% >= 95 %", "D2% <= 107 % Rx", "Dmax <= 3 Gy", "<= 110 % Rx"):
        assert expected in objectives
    assert "% Rx: of the prescribed dose" in " ".join(objectives.split())
    # the visit schedule: a wrapped line keeps its indent; no empty list of forms printed as a double space
    visits = done.stdout[done.stdout.index("Visit schedule"):done.stdout.index("Endpoints")].splitlines()[1:-1]
    assert visits and all(line.startswith("  ") for line in visits), visits
    assert "forms  (" not in done.stdout and "forms (when they occur: adverse_event)" in " ".join(done.stdout.split())
    # the primary endpoint by its name and the interval in words, not the file's keys
    words = " ".join(done.stdout.split())
    assert "Primary: R0 resection rate among resected patients" in words and "exact (Clopper-Pearson) CI" in words


@pytest.mark.parametrize("protocol", ["sprint", "doxab"])
def test_every_line_of_protocol_show_fits_80_columns(protocol):
    """The title, the endpoints' definitions, the checks, the forms and the assumptions wrap under their
    indent (they ran to 313 columns); nothing is cut."""
    done = cli("protocol", "show", protocol, columns=80)
    assert done.returncode == 0 and "…" not in done.stdout
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    assert all(line.startswith("  ") for line in
               done.stdout[done.stdout.index("Case report forms"):].splitlines()[1:] if line.strip()
               and not line.startswith("─"))


def test_histotype_search_is_readable_at_80_columns():
    """The id to enter is printed whole on one line (never folded or cut with '…': it is typed
    back), with its ICD-O-3 code; the description wraps beside it."""
    from sarcotrial.domain.histology import search_histotypes

    for query in ("leiomyo", "nerve sheath"):
        done = cli("rules", "histotype", query, columns=80)
        assert done.returncode == 0 and "…" not in done.stdout
        lines = done.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80
        for entity in search_histotypes(query).matches[:15]:
            assert any(line.startswith(entity.id + " ") and entity.icdo3 in line for line in lines), entity.id


def test_counts_read_in_the_singular_for_one():
    """'1 screening', '1 day', "1 patient's endpoints": never '1 screenings' (a one-patient study's output)."""
    from sarcotrial.report.words import count  # the report's and the CLI's one rule

    assert count(1, "screening") == "1 screening" and count(2, "screening") == "2 screenings"
    assert count(0, "day") == "0 days" and count(1, "day") == "1 day"
    assert count(1, "patient's", "patients'") == "1 patient's" and count(3, "patient's", "patients'") == "3 patients'"


# --------------------------------------------------------------------------- one command registered
@pytest.mark.parametrize("name", ["dvh", "rules", "record", "nomogram", "import", "board", "plan-qa"])
def test_one_command_app_answers_as_the_full_app(name):
    """``run`` registers only the command the line names (Typer converts every registered command
    before parsing); that command's help must be the full app's, word for word."""
    from typer.testing import CliRunner

    from sarcotrial.cli.main import COMMANDS, app, build

    assert name in COMMANDS
    runner = CliRunner()
    alone = runner.invoke(build(name), [name, "--help"], terminal_width=100)
    full = runner.invoke(app, [name, "--help"], terminal_width=100)
    assert alone.exit_code == full.exit_code == 0, (alone.output, full.output)
    assert alone.output == full.output


def test_every_command_of_the_full_app_is_in_the_table():
    """The full app is the table's commands, so --help lists exactly what ``run`` can register alone."""
    import typer.main

    from sarcotrial.cli.main import COMMANDS, app

    assert sorted(typer.main.get_command(app).commands) == sorted(COMMANDS)


def test_a_command_run_alone_imports_no_other_command_module():
    """``sarcotrial dvh ...`` (the entry point, not the full app) loads the DVH command's module and
    not the database commands', the board's or the web's."""
    code = ("import sys\nsys.argv = ['sarcotrial', 'dvh', '--help']\nfrom sarcotrial.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "print('LOADED:', *sorted(m for m in sys.modules if m.startswith('sarcotrial.cli.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip().splitlines()[-1].split()[1:]
    assert "sarcotrial.cli.dvh" in loaded
    assert not {"sarcotrial.cli.edc", "sarcotrial.cli.board", "sarcotrial.cli.web", "sarcotrial.cli.study"} & set(loaded)


@pytest.mark.parametrize(("text", "calendar"), [("2026-02-30", True), ("2025-13-01", True), ("30/02/2026", False),
                                                ("yesterday", False)])
def test_a_date_written_right_but_not_in_the_calendar_is_told_so(text, calendar):
    """'2026-02-30: must be a date written YYYY-MM-DD' told a user to write what they had written; such a
    date is now said to be no day of the calendar (the writing rule stays for a date written otherwise)."""
    from sarcotrial.errors import DATE_RULE, date_rule

    rule = date_rule(text)
    assert rule.startswith(DATE_RULE)
    assert ("is no day of the calendar" in rule) is calendar
    done = cli("rt", "schedule", "--start", text)  # as the command line says it: one line, exit 2
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"start: {rule} (got '{text}')" in " ".join(done.stderr.split())
