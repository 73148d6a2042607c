"""Accounts, signing in, lock-out, tokens, roles, sites and settings, through the services.

Sources of the rules checked here: FDA 21 CFR 11.10(d) (access limited to authorised
individuals), 11.10(g) (authority checks), 11.200(a)(1) (the password re-entered at signing),
11.300 (identification codes and passwords: unique, safeguarded, attempts at misuse detected and
recorded); EU GMP Annex 11 §12 (access by role; changes to access recorded).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from sarcotrial.domain import access as rules
from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import access
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store import audit
from sarcotrial.store.models import AuditEntry, Patient, Site, User
from sarcotrial.store.models_access import ApiToken, Setting, SignInEvent, UserSite

REPO = Path(__file__).resolve().parents[2]
OS_USER = Actor("tester", "test")  # what the study fixture was created by: no --user, no account
ADMIN_PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """argon2id still, with the smallest cost, so that the many sign-ins below stay quick."""
    monkeypatch.setattr(access, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def first_admin(study: StudyDB) -> Actor:
    access.add_user(study, OS_USER, "admin", full_name="Ada Admin", role="admin", password=ADMIN_PASSWORD)
    return Actor("admin", "test", password=ADMIN_PASSWORD)


def account(study: StudyDB, admin: Actor, name: str, role: str, sites=(), export=None) -> Actor:
    access.add_user(study, admin, name, full_name=f"{name.title()} (synthetic)", role=role,
                    password=f"{name}-password", sites=sites, export=export)
    return Actor(name, "test", password=f"{name}-password")


def audit_count(study: StudyDB) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count(AuditEntry.id))) or 0


def sign_ins(study: StudyDB, username: str) -> list[tuple[str, str]]:
    with study.reading() as session:
        return [(e.method, e.outcome) for e in session.scalars(
            select(SignInEvent).where(SignInEvent.username == username).order_by(SignInEvent.id))]


def chain_intact(study: StudyDB) -> None:
    with study.reading() as session:
        report = audit.verify_chain(session)
    assert report.ok, report.problems


# --------------------------------------------------------------------------- no accounts, the first account
def test_first_account_must_be_an_admin(study):
    with pytest.raises(InvalidValue, match="the first account of a study must be an admin"):
        access.add_user(study, OS_USER, "nina", full_name="Nina Nurse", role="research_nurse", password="nina-password")
    assert not access.has_accounts(study)
    first_admin(study)
    assert [a.user for a in access.list_users(study, Actor("admin", "test", password=ADMIN_PASSWORD))] == ["admin"]


def test_no_accounts_the_os_user_alone(study):
    """21 CFR 11.10(d): with no accounts the only identification is the operating-system login, so a
    name typed with --user is not accepted as the author of anything."""
    with study.action(OS_USER, permission="settings.set") as session:  # unrestricted: the single user
        assert study.principal(session).role is None
        assert study.visible_site_ids(session) is None
    before = audit_count(study)
    claimed = Actor("anyone", "cli --user", claimed=True)
    for attempt in (lambda: study.action(claimed).__enter__(), lambda: study.reading(claimed).__enter__(),
                    lambda: access.add_user(study, claimed, "anyone", full_name="Any One", role="admin",
                                            password="anyone-password")):
        with pytest.raises(AccessDenied, match="no accounts yet: leave out --user, or create the first"):
            attempt()
    assert audit_count(study) == before and not access.has_accounts(study)


def test_a_new_study_refuses_a_claimed_creator(database_url):
    with pytest.raises(AccessDenied, match="no accounts yet"):
        StudyDB.create(database_url, "sprint", Actor("anyone", "cli --user", claimed=True))


def test_once_there_are_accounts_every_action_and_read_signs_in(study):
    """21 CFR 11.300 and 11.10(d): from the first account on, every action names a signed-in account."""
    first_admin(study)
    for who in (OS_USER, Actor("anyone", "cli --user", claimed=True)):
        with pytest.raises(AccessDenied, match="no password was given"):
            with study.reading(who):
                pass
    admin = Actor("admin", "test", password=ADMIN_PASSWORD)
    with study.reading(admin) as session:
        principal = study.principal(session)
    assert (principal.username, principal.full_name, principal.role, principal.sites) == ("admin", "Ada Admin",
                                                                                          "admin", None)
    assert admin.authenticated and admin.role == "admin" and admin.full_name == "Ada Admin"


def test_the_password_is_asked_once_per_process(study):
    first_admin(study)
    asked = []
    admin = Actor("admin", "test", password=lambda: asked.append(1) or ADMIN_PASSWORD)
    for _ in range(3):
        access.list_users(study, admin)
    assert asked == [1]
    assert sign_ins(study, "admin") == [("password", "success")]


# --------------------------------------------------------------------------- refusals, recorded
@pytest.mark.parametrize("who, outcome, message", [
    (Actor("admin", "test", password="not the password"), "wrong_password", "unknown user or wrong password"),
    (Actor("nobody", "test", password="whatever-it-is"), "unknown_user", "unknown user or wrong password"),
])
def test_wrong_password_and_unknown_user_are_refused_and_recorded(study, who, outcome, message):
    """21 CFR 11.300(d): attempts at unauthorised use are detected and recorded; the refusal is the same
    for an unknown name and a wrong password, so names cannot be probed."""
    first_admin(study)
    with pytest.raises(AccessDenied, match=message):
        with study.action(who, permission="read") as session:
            session.add(Setting(key="never", value="written"))
    assert sign_ins(study, who.name) == [("password", outcome)]
    with study.reading() as session:
        assert session.scalars(select(Setting)).all() == []
        entries = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "sign_in_event",
                                                           AuditEntry.field == "outcome")).all()
    assert [(e.actor, e.new_value) for e in entries] == [(who.name, outcome)]
    chain_intact(study)


def test_a_disabled_account_is_refused(study):
    admin = first_admin(study)
    nurse = account(study, admin, "nina", "research_nurse")
    access.list_users(study, nurse)  # signed in
    access.disable_user(study, admin, "nina", reason="left the unit")
    with pytest.raises(AccessDenied, match="account nina is disabled"):  # the same process, next action
        access.list_users(study, nurse)
    with pytest.raises(AccessDenied, match="account nina is disabled"):  # a new sign-in
        access.list_users(study, Actor("nina", "test", password="nina-password"))
    assert sign_ins(study, "nina") == [("password", "success"), ("password", "disabled")]
    access.enable_user(study, admin, "nina")
    assert len(access.list_users(study, Actor("nina", "test", password="nina-password"))) == 2


def test_lock_out_after_the_threshold_and_its_expiry(study, monkeypatch):
    """21 CFR 11.300(d): repeated failures lock the account (setting lockout_threshold, default 5) for
    lockout_minutes (default 15); while locked even the right password is refused."""
    first_admin(study)
    start = dt.datetime(2026, 3, 2, 10, 0, 30, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(access, "clock", lambda: start)
    for attempt in range(1, 6):
        with pytest.raises(AccessDenied) as refused:
            access.list_users(study, Actor("admin", "test", password="guess"))
        assert ("locked until 10:15 UTC" in str(refused.value)) == (attempt == 5)
    assert sign_ins(study, "admin")[-1] == ("password", "locked_out")
    monkeypatch.setattr(access, "clock", lambda: start + dt.timedelta(minutes=14))
    with pytest.raises(AccessDenied, match=r"^account locked until 10:15 UTC after repeated failed sign-ins; an "
                                           r"administrator can unlock it sooner \(by enabling the account\)$"):
        access.list_users(study, Actor("admin", "test", password=ADMIN_PASSWORD))
    monkeypatch.setattr(access, "clock", lambda: start + dt.timedelta(minutes=15, seconds=1))
    assert access.list_users(study, Actor("admin", "test", password=ADMIN_PASSWORD))
    assert [o for _, o in sign_ins(study, "admin")] == ["wrong_password"] * 4 + ["locked_out", "locked", "success"]
    with study.reading() as session:
        user = session.scalars(select(User)).one()
        assert (user.failed_sign_ins, user.locked_until) == (0, None)
        entries = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "app_user",
                                                           AuditEntry.field == "locked_until")).all()
    assert entries[0].new_value == "2026-03-02T10:15:30" and entries[0].reason == audit.WORKFLOW_REASON
    chain_intact(study)


def test_lock_out_follows_the_settings_and_a_success_resets_the_count(study, monkeypatch):
    admin = first_admin(study)
    access.set_setting(study, admin, "lockout_threshold", "2")
    access.set_setting(study, admin, "lockout_minutes", "60")
    now = dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(access, "clock", lambda: now)
    with pytest.raises(AccessDenied, match="wrong password$"):
        access.list_users(study, Actor("admin", "test", password="guess"))
    access.list_users(study, Actor("admin", "test", password=ADMIN_PASSWORD))  # resets the count
    with pytest.raises(AccessDenied, match="wrong password$"):
        access.list_users(study, Actor("admin", "test", password="guess"))
    with pytest.raises(AccessDenied, match="locked until 00:30 UTC"):
        access.list_users(study, Actor("admin", "test", password="guess"))


def test_enabling_an_account_ends_its_lock_out(study, monkeypatch):
    admin = first_admin(study)
    account(study, admin, "nina", "research_nurse")
    access.add_user(study, admin, "root2", full_name="Second Admin", role="admin", password="root2-password")
    for _ in range(5):
        with pytest.raises(AccessDenied):
            access.list_users(study, Actor("nina", "test", password="guess"))
    with pytest.raises(AccessDenied, match="account locked until"):
        access.list_users(study, Actor("nina", "test", password="nina-password"))
    access.enable_user(study, admin, "nina", reason="locked herself out; identity checked by phone")
    assert access.list_users(study, Actor("nina", "test", password="nina-password"))


# --------------------------------------------------------------------------- passwords
def test_passwords_are_argon2_hashes_and_never_in_the_audit_trail(study):
    """21 CFR 11.300: passwords are safeguarded; Annex 11 §12: the trail records the change, not the secret."""
    admin = first_admin(study)
    nurse = account(study, admin, "nina", "research_nurse")
    access.set_password(study, nurse, "nina", "a new secret phrase")
    access.set_password(study, admin, "nina", "reset by the admin", reason="forgotten password")
    with study.reading() as session:
        hashes = [u.password_hash for u in session.scalars(select(User))]
        entries = session.scalars(select(AuditEntry)).all()
    assert all(h.startswith("$argon2id$") for h in hashes)
    secrets_given = (ADMIN_PASSWORD, "nina-password", "a new secret phrase", "reset by the admin", *hashes)
    for entry in entries:
        for value in (entry.old_value, entry.new_value, entry.reason):
            assert not any(s in (value or "") for s in secrets_given), (entry.table_name, entry.field)
    changes = [e for e in entries if e.field == "password_hash"]
    assert [e.action for e in changes] == ["create", "create", "update", "update"]
    assert all(e.new_value.startswith("[encrypted:") for e in changes)
    assert changes[-1].reason == "forgotten password" and changes[-1].actor == "admin"
    with pytest.raises(AccessDenied):
        access.list_users(study, Actor("nina", "test", password="a new secret phrase"))
    assert access.list_users(study, Actor("nina", "test", password="reset by the admin"))
    assert "password_hash" in User.audit_secret


def test_another_account_s_password_is_for_admins_only(study):
    admin = first_admin(study)
    nurse = account(study, admin, "nina", "research_nurse")
    with pytest.raises(AccessDenied, match=r"nina \(research_nurse\) may not create accounts"):
        access.set_password(study, nurse, "admin", "taken over now")
    with pytest.raises(InvalidValue, match="password: must be at least 8 characters"):
        access.set_password(study, nurse, "nina", "short")


def test_reauthentication_at_signing(study):
    """21 CFR 11.200(a)(1): the password is entered again at each signing; a wrong one counts toward
    lock-out and is recorded."""
    for who in (OS_USER, Actor("anyone", "cli --user", claimed=True)):  # 11.100: a signature is one person's
        with pytest.raises(AccessDenied, match="an electronic signature needs a user account"):
            access.reauthenticate(study, who, "x")
    admin = first_admin(study)
    investigator = account(study, admin, "ivo", "investigator")
    access.list_users(study, investigator)
    access.reauthenticate(study, investigator, "ivo-password")
    with pytest.raises(AccessDenied, match="wrong password"):
        access.reauthenticate(study, investigator, "admin's password?")
    with pytest.raises(AccessDenied, match="entered again at each signature"):
        access.reauthenticate(study, investigator, "")
    assert sign_ins(study, "ivo") == [("password", "success"), ("signature", "wrong_password")]
    with study.reading() as session:
        assert session.scalars(select(User).where(User.username == "ivo")).one().failed_sign_ins == 1
    with study.action(investigator, permission="sign"):  # inside the action it would wait on its own lock
        with pytest.raises(RuntimeError, match="call them before study.action"):
            access.reauthenticate(study, investigator, "ivo-password")


# --------------------------------------------------------------------------- tokens
def test_api_tokens(study):
    admin = first_admin(study)
    nurse = account(study, admin, "nina", "research_nurse")
    secret = access.create_token(study, nurse, "nina", "web application, ward laptop")
    assert secret.startswith("st_") and len(secret) > 40
    web = access.authenticate_token(study, secret)
    assert (web.name, web.role, web.authenticated, web.source) == ("nina", "research_nurse", True, "api token")
    with study.action(web, permission="record") as session:
        assert study.principal(session).username == "nina"
    with pytest.raises(AccessDenied, match=r"nina \(research_nurse\) may not create accounts"):
        access.create_token(study, nurse, "admin", "not mine")
    with study.reading() as session:
        stored = session.scalars(select(ApiToken)).one()
        entries = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "api_token")).all()
    assert stored.token_sha256 != secret and secret not in stored.token_sha256
    assert all(secret not in (e.new_value or "") for e in entries)
    access.revoke_token(study, nurse, secret)
    with pytest.raises(AccessDenied, match="the token was revoked"):  # an actor made before the revocation
        with study.reading(web):
            pass
    for token in (secret, "st_made-up"):
        with pytest.raises(AccessDenied, match="unknown or revoked"):
            access.authenticate_token(study, token)
    assert sign_ins(study, "nina")[-1] == ("token", "revoked_token")
    assert sign_ins(study, "(unknown token)") == [("token", "unknown_token")]
    chain_intact(study)


# --------------------------------------------------------------------------- account management
def test_role_site_and_export_changes_are_audited(study):
    """Annex 11 §12.3: the creation, change and cancellation of access rights are recorded."""
    admin = first_admin(study)
    access.add_site(study, admin, "b", "Second hospital")
    account(study, admin, "sam", "statistician")
    with pytest.raises(InvalidValue, match="a statistician never receives identifiers"):
        access.grant(study, admin, "sam", export="full")
    changed = access.grant(study, admin, "sam", role="data_manager", sites=["B", "MAIN"], reason="moved to data management")
    assert (changed.role, changed.sites, changed.export) == ("data_manager", ("B", "MAIN"), "pseudonymised")
    with pytest.raises(InvalidValue, match="a data manager never receives identifiers"):
        access.grant(study, admin, "sam", export="full")
    changed = access.grant(study, admin, "sam", remove_sites=["main"], export="deidentified")
    assert (changed.sites, changed.export) == (("B",), "deidentified")
    access.grant(study, admin, "sam", role="investigator", reason="now an investigator at B")
    assert access.grant(study, admin, "sam", export="full").export == "full"  # an investigator reads identifiers
    with pytest.raises(InvalidValue, match="does not go with the role statistician"):
        access.grant(study, admin, "sam", role="statistician")
    assert access.grant(study, admin, "sam", study_wide=True).sites == ()
    with study.reading() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.table_name.in_(["app_user", "user_site"]),
                                                           AuditEntry.action != "create")).all()
    seen = [(e.table_name, e.action, e.field, e.old_value, e.new_value, e.reason) for e in entries]
    assert ("app_user", "update", "role", "statistician", "data_manager", "moved to data management") in seen
    assert ("app_user", "update", "export_right", "pseudonymised", "deidentified", "access rights changed by an admin") in seen
    assert ("app_user", "update", "export_right", "deidentified", "full", "access rights changed by an admin") in seen
    assert sum(1 for s in seen if s[:3] == ("user_site", "delete", "site_id")) == 2
    chain_intact(study)


def test_the_study_keeps_an_active_admin(study):
    admin = first_admin(study)
    for attempt in (lambda: access.disable_user(study, admin, "admin"),
                    lambda: access.grant(study, admin, "admin", role="monitor")):
        with pytest.raises(InvalidValue, match="only active admin"):
            attempt()
    access.add_user(study, admin, "second", full_name="Second Admin", role="admin", password="second-password")
    access.disable_user(study, admin, "admin")


def test_account_rules(study):
    admin = first_admin(study)
    with pytest.raises(InvalidValue, match="already has an account"):
        access.add_user(study, admin, "ADMIN", full_name="Again", role="admin", password="again-password")
    with pytest.raises(InvalidValue, match="full_name: must not be empty"):
        access.add_user(study, admin, "x", full_name="  ", role="monitor", password="x-password")
    with pytest.raises(InvalidValue, match="role: must be one of admin, investigator"):
        access.add_user(study, admin, "x", full_name="X", role="surgeon", password="x-password")
    with pytest.raises(InvalidValue, match="site: no such site"):
        access.add_user(study, admin, "x", full_name="X", role="monitor", password="x-password", sites=["NOWHERE"])
    with pytest.raises(InvalidValue, match="password: must not be the user name"):
        access.add_user(study, admin, "longname", full_name="X", role="monitor", password="LongName")
    with pytest.raises(InvalidValue, match="user: a user name is"):
        access.add_user(study, admin, "bad name", full_name="X", role="monitor", password="x-password")
    with pytest.raises(InvalidValue, match="site: already exists"):
        access.add_site(study, admin, "main", "Again")
    assert access.add_user(study, admin, "Sam.Stat", full_name="Sam Stat", role="statistician",
                           password="sam-password").export == "pseudonymised"  # the default for a statistician


# --------------------------------------------------------------------------- every role against every permission
def _roles_database(kind: str, tmp_path_factory):
    """A study of its own for the role table (a PostgreSQL database created and dropped here)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sarcotrial.config import resolve_database_url

    if kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('roles') / 'roles.sqlite'}", None
    if not os.environ.get("SARCOTRIAL_TEST_PG"):
        pytest.skip("PostgreSQL tests need SARCOTRIAL_TEST_PG (a database URL)")
    server = make_url(resolve_database_url(os.environ["SARCOTRIAL_TEST_PG"]))
    name = f"sarcotrial_roles_{os.getpid()}_{os.urandom(3).hex()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="module", params=[pytest.param("sqlite", id="sqlite"),
                                        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def roles_study(request, tmp_path_factory):
    from sarcotrial.store.crypto import generate_key

    url, drop = _roles_database(request.param, tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SARCOTRIAL_KEY", generate_key())
        mp.setattr(access, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        study, _ = StudyDB.create(url, "sprint", OS_USER)
        admin = first_admin(study)
        actors = {"admin": admin}
        for role in rules.ROLES[1:]:
            actors[role] = account(study, admin, role.replace("_", "."), role)
        for who in actors.values():
            access.list_users(study, who)  # sign every one in once
    yield study, actors
    study.close()
    if drop:
        drop()


@pytest.mark.parametrize("role", rules.ROLES)
@pytest.mark.parametrize("permission", list(rules.PERMISSIONS))
def test_every_role_against_every_permission(roles_study, permission, role):
    """21 CFR 11.10(g) authority checks, EU GMP Annex 11 §12.1: the unit of work lets a role do exactly
    what the permission table says, and a refusal writes nothing."""
    study, actors = roles_study
    key = f"probe {permission} {role}"
    before = audit_count(study)
    if role in rules.PERMISSIONS[permission]:
        with study.action(actors[role], permission=permission) as session:
            assert study.principal(session).role == role
            session.add(Setting(key=key, value="written"))
        assert audit_count(study) > before
    else:
        with pytest.raises(AccessDenied, match=rf"may not .* \(permission {permission}\)$"):
            with study.action(actors[role], permission=permission) as session:
                session.add(Setting(key=key, value="written"))
        with pytest.raises(AccessDenied):
            with study.reading(actors[role], permission=permission):
                pass
        assert audit_count(study) == before
        with study.reading() as session:
            assert session.scalars(select(Setting).where(Setting.key == key)).first() is None


def test_export_rights(study):
    """The export permission, then the account's export right: a statistician never gets identifiers."""
    admin = first_admin(study)
    stat = account(study, admin, "sam", "statistician")  # pseudonymised by default
    manager = account(study, admin, "dora", "data_manager")  # none by default
    with study.action(stat, permission="export") as session:
        assert access.require_export(session, "pseudonymised").username == "sam"
        assert access.require_export(session, "deidentified").username == "sam"
        with pytest.raises(AccessDenied, match="sam's export right is pseudonymised: no full export"):
            access.require_export(session, "full")
    with study.action(manager, permission="read") as session:
        with pytest.raises(AccessDenied, match="dora's export right is none: no export at all"):
            access.require_export(session, "deidentified")
    with pytest.raises(InvalidValue, match="a data manager never receives identifiers"):
        access.grant(study, admin, "dora", export="full")
    ivo = account(study, admin, "ivo", "investigator", export="full")
    with study.reading(ivo, permission="export") as session:
        assert access.require_export(session, "full").export == "full"
    nurse = account(study, admin, "nina", "research_nurse", export="full")
    with study.reading(nurse) as session:
        with pytest.raises(AccessDenied, match=r"nina \(research_nurse\) may not export data"):
            access.require_export(session, "deidentified")


def test_an_unknown_permission_is_a_programming_error(study):
    with pytest.raises(KeyError, match="unknown permission 'recrod'"):
        with study.action(OS_USER, permission="recrod"):
            pass


def test_the_permission_table():
    """The names the services use, and the rules the table must keep."""
    assert set(rules.PERMISSIONS) == {
        "read", "read.identifiers", "patient.register", "patient.screen", "patient.enrol", "record", "correct",
        "delete", "not_done", "visit.add", "consent", "withdraw", "query.open", "query.respond", "query.close",
        "query.reopen", "sdv", "sign", "lock", "unlock", "lock.study", "unlock.study", "user.manage", "site.manage",
        "settings.set", "audit.read", "report", "export", "protocol.amend", "reference.import", "planqa.store",
        "randomisation.verify", "account.self", "board.read", "board.meeting", "board.imaging", "board.pathology",
        "board.decide", "board.sign", "second_opinion.request", "second_opinion.pathology", "second_opinion.imaging",
        "registry.molecular", "registry.family", "registry.predict"}
    assert set(rules.PERMISSIONS) == set(rules.PERMISSION_DESCRIPTIONS)
    assert all(roles <= set(rules.ROLES) and roles for roles in rules.PERMISSIONS.values())
    # the board's members who are not trial staff see no study form
    assert rules.PERMISSIONS["read"] == frozenset(rules.ROLES) - {"clinician", "pathologist", "radiologist"}
    assert rules.PERMISSIONS["account.self"] == frozenset(rules.ROLES)
    assert "statistician" not in rules.PERMISSIONS["read.identifiers"]  # pseudonymised data only
    for entering in ("record", "correct", "delete"):  # reviewers never enter the data they review
        assert not rules.PERMISSIONS[entering] & {"data_manager", "monitor", "statistician", "admin"}
    assert rules.PERMISSIONS["sign"] == {"investigator"}
    assert rules.export_allowed("full", "deidentified") and not rules.export_allowed("deidentified", "pseudonymised")
    assert not rules.export_allowed("none", "deidentified")
    assert rules.export_right_rule("statistician", "full") is not None


def test_docs_roles_is_generated_from_the_table():
    assert (REPO / "docs" / "roles.md").read_text(encoding="utf-8") == rules.permissions_markdown(), \
        "docs/roles.md is out of date: regenerate it with permissions_markdown()"


# --------------------------------------------------------------------------- sites
def _patient(study: StudyDB, actor: Actor, subject_id: str, site_code: str) -> None:
    with study.action(actor, permission="patient.register") as session:
        site = study.site(session, site_code)
        session.add(Patient(subject_id=subject_id, site_id=site.id, sex="female", year_of_birth=1960, status="referred"))


def test_site_isolation(study):
    """21 CFR 11.10(d): a site's staff see and change only their own sites' patients, and cannot even
    tell which subject ids exist elsewhere."""
    admin = first_admin(study)
    access.add_site(study, admin, "B", "Second hospital")
    investigator = account(study, admin, "ivo", "investigator")  # study-wide
    nurse_a = account(study, admin, "nina", "research_nurse", sites=["MAIN"])
    nurse_b = account(study, admin, "bea", "research_nurse", sites=["B"])
    _patient(study, investigator, "SPR-001", "MAIN")
    _patient(study, nurse_b, "SPR-002", "B")
    with pytest.raises(AccessDenied, match="site MAIN: bea works on the patients of B only"):
        _patient(study, nurse_b, "SPR-003", "MAIN")
    with study.reading() as session:
        site_ids = {s.code: s.id for s in session.scalars(select(Site))}
    with study.action(nurse_a, permission="record") as session:
        assert study.visible_site_ids(session) == {site_ids["MAIN"]}
        assert study.patient(session, "spr-001").subject_id == "SPR-001"
        with pytest.raises(InvalidValue) as other_site:
            study.patient(session, "SPR-002")
        with pytest.raises(InvalidValue) as unknown:
            study.patient(session, "SPR-999")
        assert str(other_site.value).replace("SPR-002", "X") == str(unknown.value).replace("SPR-999", "X")
        assert "no such subject id in this study" in str(other_site.value)
    with study.reading(investigator) as session:
        assert study.visible_site_ids(session) is None
        assert study.patient(session, "SPR-002").subject_id == "SPR-002"
    access.grant(study, admin, "nina", sites=["B"])
    with study.reading(nurse_a) as session:  # the change counts from the next action of the same process
        assert study.visible_site_ids(session) == {site_ids["MAIN"], site_ids["B"]}
        assert study.principal(session).sites == {"MAIN", "B"}
    with study.reading() as session:  # a service's own read sees everything
        assert study.visible_site_ids(session) is None
        assert session.scalar(select(func.count(UserSite.id))) == 3


def test_registration_and_identification_keep_to_the_sites(study):
    """Through the pathway services: a site's nurse registers only at her sites, and another site's
    patient is, for her, no patient at all."""
    from sarcotrial.services import pathway

    admin = first_admin(study)
    access.add_site(study, admin, "B", "Second hospital")
    nurse_a = account(study, admin, "nina", "research_nurse", sites=["MAIN"])
    nurse_b = account(study, admin, "bea", "research_nurse", sites=["B"])

    def register(nurse, site, number):
        return pathway.register_patient(
            study, nurse, identifiers=pathway.Identifiers("Test Patient (synthetic)", dt.date(1960, 5, 1), number),
            sex="female", referral={"referral_date": "2025-01-10", "anatomic_site": "extremity"}, site_code=site)

    with pytest.raises(AccessDenied, match="site MAIN: bea works on the patients of B only"):
        register(nurse_b, "MAIN", "H1")
    subject = register(nurse_b, "B", "H1").subject_id
    assert pathway.identify(study, nurse_b, subject, "phone call").hospital_number == "H1"
    with pytest.raises(InvalidValue, match="patient: no such subject id in this study"):
        pathway.identify(study, nurse_a, subject, "curiosity")


# --------------------------------------------------------------------------- settings
def test_settings_defaults_set_and_audited(study):
    admin = first_admin(study)
    assert access.setting(study, "lockout_threshold") == 5
    assert access.setting(study, "tumour_board_quorum")[0] == "surgeon"
    assert access.set_setting(study, admin, "upload_limit_mb", " 750 ") == 750
    assert access.set_setting(study, admin, "tumour_board_quorum", "surgeon, pathologist",
                              reason="smaller board in August") == ("surgeon", "pathologist")
    with study.reading(admin) as session:
        assert access.setting(session, "upload_limit_mb") == 750
        assert access.settings(session)["tumour_board_quorum"] == ("surgeon", "pathologist")
    access.set_setting(study, admin, "upload_limit_mb", "800")
    with study.reading() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "setting",
                                                           AuditEntry.field == "value")).all()
    assert [(e.old_value, e.new_value, e.actor) for e in entries] == [
        (None, "750", "admin"), (None, "surgeon,pathologist", "admin"), ("750", "800", "admin")]
    assert entries[-1].reason == "setting upload_limit_mb changed by an admin"


@pytest.mark.parametrize("key, value, message", [
    ("lockout_threshold", "0", "lockout_threshold: must be a whole number from 1 to 20 (got '0')"),
    ("lockout_minutes", "ten", "lockout_minutes: must be a whole number of minutes from 1 to 1440"),
    ("idle_signout_minutes", "1441", "idle_signout_minutes: must be a whole number of minutes from 1 to 1440"),
    ("upload_limit_mb", "10001", "upload_limit_mb: must be a whole number of megabytes from 1 to 10000"),
    ("tumour_board_quorum", "surgeon,,pathologist", "tumour_board_quorum: must be a comma-separated list"),
    ("tumour_board_quorum", "surgeon,surgeon", "tumour_board_quorum: must be a comma-separated list"),
    ("colour", "blue", "setting: unknown key; the keys are lockout_threshold"),
])
def test_settings_refuse_a_bad_key_or_value(study, key, value, message):
    admin = first_admin(study)
    with pytest.raises(InvalidValue, match=message.replace("(", r"\(").replace(")", r"\)")):
        access.set_setting(study, admin, key, value)


def test_settings_are_for_admins(study):
    admin = first_admin(study)
    manager = account(study, admin, "dora", "data_manager")
    with pytest.raises(AccessDenied, match=r"dora \(data_manager\) may not change installation settings"):
        access.set_setting(study, manager, "lockout_minutes", "30")
    with study.reading(manager) as session:
        assert access.setting(session, "lockout_minutes") == 15


def test_a_duplicate_hospital_number_names_the_patient_only_within_ones_sites(study):
    """11.10(d), as test_site_isolation: registering a hospital number already in the study is
    refused; a site's nurse is not told which subject of another site holds it."""
    from sarcotrial.services import pathway

    admin = first_admin(study)
    access.add_site(study, admin, "B", "Second hospital")
    nurse_a = account(study, admin, "nina", "research_nurse", sites=["MAIN"])
    investigator = account(study, admin, "ivo", "investigator")

    def register(actor, site):
        return pathway.register_patient(
            study, actor, identifiers=pathway.Identifiers("A Patient (synthetic)", dt.date(1970, 1, 1), "H-B-1"),
            sex="female", referral={"referral_date": "2025-01-10", "anatomic_site": "extremity"}, site_code=site)

    first = register(investigator, "B").subject_id
    again = register

    with pytest.raises(InvalidValue) as hidden:
        again(nurse_a, "MAIN")
    assert "at a site you do not see" in str(hidden.value) and first not in str(hidden.value)
    with pytest.raises(InvalidValue, match=f"already registered, as {first}"):
        again(investigator, "MAIN")
