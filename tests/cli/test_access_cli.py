"""``sarcotrial user``, ``site`` and ``settings`` as a user meets them: exit 0 when done, exit 2 with
one line when refused (and nothing changed).

Rules from FDA 21 CFR 11.10(d) (access limited to authorised individuals), 11.300 (identification
codes and passwords) and EU GMP Annex 11 §12 (access by role, changes recorded).
"""

from __future__ import annotations

import json

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from tests.cli.support import refused
from sarcotrial.config import cli_user
from sarcotrial.services import access
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import AuditEntry, User
from sarcotrial.store.models_access import Setting

runner = CliRunner()
OS_USER = cli_user(None)[0]
ADMIN_PW = "admin-password-1"


def run(*args: str, code: int = 0, password: str | None = None, stdin: str | None = None):
    result = runner.invoke(app, list(args), input=stdin, env={"SARCOTRIAL_PASSWORD": password})
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(access, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def db(tmp_path, monkeypatch) -> str:
    for name in ("SARCOTRIAL_KEY", "SARCOTRIAL_KEY_FILE", "DATABASE_URL", "SARCOTRIAL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "study.sqlite"
    study, _ = StudyDB.create(str(path), "sprint", Actor(OS_USER, "cli os-user"))
    study.close()
    return str(path)


@pytest.fixture
def with_admin(db) -> str:
    result = run("user", "add", "admin", "--full-name", "Ada Admin", "--role", "admin", "--password-stdin", "--db", db,
                 stdin=ADMIN_PW + "\n")
    assert "Added admin (Ada Admin), role admin, sites study-wide, export none" in result.output
    return db


def users(db: str, who: str = "admin", password: str = ADMIN_PW) -> dict[str, dict]:
    out = json.loads(run("user", "list", "--json", "--db", db, "--user", who, password=password).output)
    return {u["user"]: u for u in out["users"]}


def test_no_accounts_the_os_user_alone(db):
    """21 CFR 11.10(d): a name typed with --user is no identification while the study has no accounts."""
    assert "No accounts yet" in run("user", "list", "--db", db).output
    assert "No accounts yet" in run("user", "list", "--db", db, "--user", OS_USER).output  # the OS user, named
    refused(run("user", "list", "--db", db, "--user", "anyone", code=2),
            "no accounts yet: leave out --user, or create the first (admin) account with 'sarcotrial user add'")
    refused(run("user", "add", "anyone", "--full-name", "Any One", "--role", "admin", "--password-stdin",
                "--db", db, "--user", "anyone", stdin="anyone-password\n", code=2), "no accounts yet")
    refused(run("settings", "set", "lockout_minutes", "20", "--db", db, "--user", "anyone", code=2), "no accounts yet")


def test_the_first_account_must_be_an_admin(db):
    refused(run("user", "add", "nina", "--full-name", "Nina Nurse", "--role", "research_nurse", "--password-stdin",
                "--db", db, stdin="nina-password\n", code=2),
            "role: the first account of a study must be an admin")
    assert json.loads(run("user", "list", "--json", "--db", db).output) == {"users": []}
    run("user", "add", "admin", "--full-name", "Ada Admin", "--role", "admin", "--password-stdin", "--db", db,
        stdin=ADMIN_PW + "\n")


def test_signing_in(with_admin):
    """21 CFR 11.300: every command names an account and its password; refusals are one line."""
    db = with_admin
    refused(run("user", "list", "--db", db, code=2), f"signing in as {OS_USER} needs a password: set SARCOTRIAL_PASSWORD")
    refused(run("user", "list", "--db", db, password="whatever-it-is", code=2),
            "sign-in refused: unknown user or wrong password")
    refused(run("user", "list", "--db", db, "--user", "admin", password="wrong-one", code=2),
            "sign-in refused: unknown user or wrong password")
    refused(run("site", "list", "--db", db, "--user", "anyone", password="x", code=2), "sign-in refused")
    assert users(db) == {"admin": {"user": "admin", "full_name": "Ada Admin", "role": "admin", "sites": [],
                                   "studies": [], "export": "none", "active": True}}
    study = StudyDB.open(db)
    with study, study.reading() as session:
        failed = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "sign_in_event",
                                                          AuditEntry.field == "outcome")).all()
    assert [(e.actor, e.new_value) for e in failed] == [(OS_USER, "unknown_user"), ("admin", "wrong_password"),
                                                        ("anyone", "unknown_user"), ("admin", "success")]


def test_lock_out(with_admin):
    """21 CFR 11.300(d): five wrong passwords lock the account; then even the right one is refused."""
    db = with_admin
    for attempt in range(5):
        result = run("user", "list", "--db", db, "--user", "admin", password="guess-again", code=2)
    refused(result, "the account is locked until")
    refused(run("user", "list", "--db", db, "--user", "admin", password=ADMIN_PW, code=2), "account locked until")
    assert "after 5 failed sign-ins in a row" in " ".join(result.output.split())


def test_users_sites_and_grants(with_admin):
    db = with_admin
    admin = ("--db", db, "--user", "admin")
    assert "Added site B (Second hospital)" in run("site", "add", "b", "--name", "Second hospital", *admin,
                                                   password=ADMIN_PW).output
    sites = json.loads(run("site", "list", "--json", *admin, password=ADMIN_PW).output)["sites"]
    assert [s["code"] for s in sites] == ["B", "MAIN"]
    refused(run("site", "add", "B", "--name", "Again", *admin, password=ADMIN_PW, code=2), "site: already exists")
    run("user", "add", "nina", "--full-name", "Nina Nurse", "--role", "research_nurse", "--site", "B", "--password-stdin",
        *admin, password=ADMIN_PW, stdin="nina-password\n")
    assert users(db)["nina"] == {"user": "nina", "full_name": "Nina Nurse", "role": "research_nurse", "sites": ["B"],
                                 "studies": [], "export": "none", "active": True}
    out = run("user", "grant", "nina", "--role", "investigator", "--site", "MAIN", "--export", "pseudonymised", *admin,
              "--reason", "now sub-investigator", password=ADMIN_PW).output
    assert "Now nina (Nina Nurse), role investigator, sites B, MAIN, export pseudonymised" in out
    refused(run("user", "grant", "nina", "--role", "surgeon", *admin, password=ADMIN_PW, code=2),
            "--role: must be one of admin, investigator")
    refused(run("user", "grant", "nina", "--site", "NOWHERE", *admin, password=ADMIN_PW, code=2), "site: no such site")
    refused(run("user", "grant", "nina", *admin, password=ADMIN_PW, code=2), "grant: give a role")
    refused(run("user", "add", "bob", "--full-name", "Bob", "--role", "monitor", *admin, password=ADMIN_PW, code=2),
            "--password-stdin")
    nina = ("--db", db, "--user", "nina")
    refused(run("user", "add", "eve", "--full-name", "Eve", "--role", "admin", "--password-stdin", *nina,
                password="nina-password", stdin="eve-password\n", code=2),
            "nina (investigator) may not create accounts and change their role, sites, export right or password")
    run("user", "disable", "nina", *admin, password=ADMIN_PW)
    refused(run("site", "list", *nina, password="nina-password", code=2), "account nina is disabled")
    refused(run("user", "disable", "admin", *admin, password=ADMIN_PW, code=2), "only active admin")
    run("user", "enable", "nina", *admin, password=ADMIN_PW)
    assert users(db, "nina", "nina-password")["nina"]["active"] is True
    study = StudyDB.open(db)
    with study, study.reading() as session:
        role = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "app_user",
                                                        AuditEntry.field == "role", AuditEntry.action == "update")).one()
    assert (role.old_value, role.new_value, role.actor, role.reason) == ("research_nurse", "investigator", "admin",
                                                                         "now sub-investigator")


def test_passwords(with_admin):
    db = with_admin
    admin = ("--db", db, "--user", "admin")
    run("user", "add", "nina", "--full-name", "Nina Nurse", "--role", "research_nurse", "--password-stdin", *admin,
        password=ADMIN_PW, stdin="nina-password\n")
    refused(run("user", "password", "admin", "--password-stdin", "--db", db, "--user", "nina", password="nina-password",
                stdin="taken-over-now\n", code=2), "nina (research_nurse) may not create accounts")
    refused(run("user", "password", "nina", "--password-stdin", "--db", db, "--user", "nina", password="nina-password",
                stdin="short\n", code=2), "password: must be at least 8 characters")
    run("user", "password", "nina", "--password-stdin", "--db", db, "--user", "nina", password="nina-password",
        stdin="nina-new-password\n")
    refused(run("site", "list", "--db", db, "--user", "nina", password="nina-password", code=2), "sign-in refused")
    run("user", "password", "nina", "--password-stdin", *admin, password=ADMIN_PW, stdin="reset-by-admin\n")
    run("site", "list", "--db", db, "--user", "nina", password="reset-by-admin")
    study = StudyDB.open(db)
    with study, study.reading() as session:
        assert all(u.password_hash.startswith("$argon2id$") for u in session.scalars(select(User)))
        values = " ".join(f"{e.old_value} {e.new_value} {e.reason}" for e in session.scalars(select(AuditEntry)))
    assert not any(p in values for p in (ADMIN_PW, "nina-password", "nina-new-password", "reset-by-admin"))


def test_settings(with_admin):
    db = with_admin
    admin = ("--db", db, "--user", "admin")
    shown = json.loads(run("settings", "show", "--json", *admin, password=ADMIN_PW).output)["settings"]
    assert {s["key"]: s["value"] for s in shown} == {
        "lockout_threshold": 5, "lockout_minutes": 15, "idle_signout_minutes": 30, "upload_limit_mb": 500,
        "tumour_board_quorum": ["surgeon", "radiation_oncologist", "medical_oncologist", "pathologist", "radiologist"]}
    assert run("settings", "set", "lockout_threshold", "3", *admin, password=ADMIN_PW).output.strip() == "lockout_threshold = 3"
    refused(run("settings", "set", "colour", "blue", *admin, password=ADMIN_PW, code=2),
            "setting: unknown key; the keys are lockout_threshold, lockout_minutes")
    refused(run("settings", "set", "lockout_threshold", "50", *admin, password=ADMIN_PW, code=2),
            "lockout_threshold: must be a whole number from 1 to 20 (got '50')")
    run("user", "add", "sam", "--full-name", "Sam Stat", "--role", "statistician", "--password-stdin", *admin,
        password=ADMIN_PW, stdin="sam-password\n")
    refused(run("settings", "set", "lockout_threshold", "9", "--db", db, "--user", "sam", password="sam-password", code=2),
            "sam (statistician) may not change installation settings (permission settings.set)")
    shown = json.loads(run("settings", "show", "--json", "--db", db, "--user", "sam", password="sam-password").output)
    assert {s["key"]: s["value"] for s in shown["settings"]}["lockout_threshold"] == 3
    study = StudyDB.open(db)
    with study, study.reading() as session:
        assert [(s.key, s.value) for s in session.scalars(select(Setting))] == [("lockout_threshold", "3")]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "setting",
                                                         AuditEntry.field == "value")).one()
    assert (entry.new_value, entry.actor) == ("3", "admin")


def test_tables_fit_80_columns(with_admin):
    db = with_admin
    admin = ("--db", db, "--user", "admin")
    run("user", "add", "maria.longname", "--full-name", "Maria Antonietta Longname-Bassi", "--role", "research_nurse",
        "--site", "MAIN", "--export", "deidentified", "--password-stdin", *admin, password=ADMIN_PW, stdin="maria-password\n")
    for command in (("user", "list"), ("site", "list"), ("settings", "show")):
        out = run(*command, *admin, password=ADMIN_PW).output
        assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "Longname" in run("user", "list", *admin, password=ADMIN_PW).output
