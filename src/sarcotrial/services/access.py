"""Accounts, sites, installation settings, signing in, re-entering a password to sign, API tokens.

The rules, and where they come from:

- An account is one person: a unique user name and a password only they know, kept as an
  argon2id hash (FDA 21 CFR 11.300(a), 11.100(a)); the full name goes with every signature
  (11.50(a)(1)).
- Only authorised people use the system, each within their role and sites (11.10(d), 11.10(g);
  EU GMP Annex 11 §12.1). The check is made in the unit of work (:meth:`StudyDB.action`,
  :meth:`StudyDB.reading`), through :func:`sign_in` and :func:`authorise` below, so that no entry
  point can differ; the roles' permissions are the table in :mod:`sarcotrial.domain.access`.
- Every sign-in, failed sign-in and lock-out is recorded; repeated failures lock the account for
  a while (11.300(d): safeguards that detect and report attempts at unauthorised use). A failure
  is recorded in a transaction of its own, which commits although the action is refused.
- Creating accounts and changing a role, a site or an export right are audited like study data
  (Annex 11 §12.3), with a reason.
- Signing re-enters the password (11.200(a)(1)): :func:`reauthenticate`.
- A fresh study with no accounts works for the operating-system user alone, whose login is then
  the only identification; the first account made must be an admin, and from then on every
  action names a signed-in account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sarcotrial.domain import access as rules
from sarcotrial.domain.settings import SETTINGS, parse_setting
from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services.study import INFO_PRINCIPAL, Actor, Principal, StudyDB
from sarcotrial.store.models import Site, User
from sarcotrial.store.models_access import (
    ApiToken,
    Setting,
    SignInEvent,
    UserSite,
    WebSession,
)

__all__ = [
    "NO_ACCOUNTS",
    "AccessDenied",
    "Account",
    "SignInRefused",
    "SiteInfo",
    "WebSessionState",
    "WebSignIn",
    "add_site",
    "add_user",
    "authenticate_token",
    "authorise",
    "create_token",
    "disable_user",
    "enable_user",
    "end_web_session",
    "grant",
    "has_accounts",
    "list_sites",
    "list_tokens",
    "list_users",
    "reauthenticate",
    "require",
    "require_export",
    "resume_web_session",
    "revoke_token",
    "set_password",
    "set_setting",
    "setting",
    "settings",
    "sign_in",
    "start_web_session",
]

NO_ACCOUNTS = "no accounts yet: leave out --user, or create the first (admin) account with 'sarcotrial user add'"
REFUSED = "sign-in refused: unknown user or wrong password"
SIGNATURE_NEEDS_ACCOUNT = ("an electronic signature needs a user account (21 CFR 11.100, 11.200): create the first "
                           "(admin) account with 'sarcotrial user add'")
MIN_PASSWORD_LENGTH = 8  # NIST SP 800-63B §5.1.1.2: at least 8 characters, no composition rules
MAX_PASSWORD_LENGTH = 1024
#: argon2id with the library's defaults (RFC 9106's second recommended option); a module attribute
#: so that tests may use cheaper parameters
#: argon2id as the OWASP Password Storage Cheat Sheet recommends at least: 19 MiB of memory, 2 iterations,
#: 1 degree of parallelism (about 30 ms a check here; hashes made with other parameters still verify)
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
TOKEN_PREFIX = "st_"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,127}$")
_SITE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
_dummy_hashes: dict[int, str] = {}


def clock() -> dt.datetime:
    """Now, in UTC (tests replace this to step through a lock-out without waiting)."""
    return dt.datetime.now(dt.UTC)


def _now() -> dt.datetime:
    """Now as the database keeps it: UTC, without a zone, to the second."""
    return clock().astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


# --------------------------------------------------------------------------- what callers get back
@dataclass(frozen=True)
class Account:
    user: str
    full_name: str
    role: str
    sites: tuple[str, ...]  # empty: study-wide
    export: str
    active: bool
    locked_until: dt.datetime | None  # UTC
    studies: tuple[str, ...] = ()  # the studies delegated to; empty: every study of the database

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "full_name": self.full_name, "role": self.role, "sites": list(self.sites),
                "studies": list(self.studies), "export": self.export, "active": self.active}


@dataclass(frozen=True)
class SiteInfo:
    code: str
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name}


# --------------------------------------------------------------------------- look-ups and checks
@contextmanager
def _session(study_or_session: StudyDB | Session) -> Iterator[Session]:
    if isinstance(study_or_session, Session):
        yield study_or_session
    else:
        with study_or_session.reading() as session:
            yield session


def _accounts_exist(study: StudyDB, where: StudyDB | Session) -> bool:
    """:func:`has_accounts`, remembered once true: accounts are disabled, never deleted."""
    if getattr(study, "_accounts_exist", False):
        return True
    found = has_accounts(where)
    if found:
        study._accounts_exist = True
    return found


def has_accounts(study_or_session: StudyDB | Session) -> bool:
    """Whether the study has any account (then every action needs a signed-in one)."""
    with _session(study_or_session) as session:
        return session.scalar(select(User.id).limit(1)) is not None


def normal_username(name: str) -> str:
    return (name or "").strip().lower()


def _valid_username(name: str) -> str:
    username = normal_username(name)
    if not _USERNAME.match(username):
        raise InvalidValue("user", "a user name is 1 to 128 characters: letters, digits and . _ @ -, "
                           "starting with a letter or digit (kept in lower case)", name)
    return username


def _find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == normal_username(username))).first()


def _existing_user(session: Session, username: str) -> User:
    user = _find_user(session, username)
    if user is None:
        raise InvalidValue("user", "no such account in this study", username)
    return user


def _find_site(session: Session, code: str) -> Site:
    site = session.scalars(select(Site).where(func.upper(Site.code) == (code or "").strip().upper())).first()
    if site is None:
        raise InvalidValue("site", "no such site in this study (add it with 'sarcotrial site add')", code)
    return site


def _site_codes(session: Session, user_id: int) -> list[tuple[int, str]]:
    rows = session.execute(select(Site.id, Site.code).join(UserSite, UserSite.site_id == Site.id)
                           .where(UserSite.user_id == user_id).order_by(Site.code))
    return [(row.id, row.code) for row in rows]


def _study_acronyms(session: Session, user_id: int) -> list[tuple[int, str]]:
    """The studies an account is delegated to (none: every study)."""
    from sarcotrial.store.models import Study
    from sarcotrial.store.models_access import UserStudy

    rows = session.execute(select(Study.id, Study.acronym).join(UserStudy, UserStudy.study_id == Study.id)
                           .where(UserStudy.user_id == user_id).order_by(Study.id))
    return [(row.id, row.acronym) for row in rows]


def _find_study(session: Session, acronym: str):
    from sarcotrial.store.models import Study

    found = session.scalars(select(Study).where(func.upper(Study.acronym) == (acronym or "").strip().upper())).first()
    if found is None:
        known = ", ".join(session.scalars(select(Study.acronym).order_by(Study.id)))
        raise InvalidValue("study", f"this database runs no such study (it runs {known})", acronym)
    return found


def _account(session: Session, user: User) -> Account:
    return Account(user.username, user.full_name, user.role, tuple(code for _, code in _site_codes(session, user.id)),
                   user.export_right, bool(user.active), user.locked_until,
                   tuple(acronym for _, acronym in _study_acronyms(session, user.id)))


def _check_role(role: str) -> str:
    if role not in rules.ROLES:
        raise InvalidValue("role", f"must be one of {', '.join(rules.ROLES)}", role)
    return role


def _check_export(role: str, export: str) -> str:
    rule = rules.export_right_rule(role, export)
    if rule is not None:
        raise InvalidValue("export", rule, export)
    return export


def _check_password(username: str, password: str) -> None:
    """NIST SP 800-63B §5.1.1.2: length, not composition; never the user name itself."""
    if password is None or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue("password", f"must be at least {MIN_PASSWORD_LENGTH} characters", show_value=False)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidValue("password", f"must be at most {MAX_PASSWORD_LENGTH} characters", show_value=False)
    if password.strip().lower() == username:
        raise InvalidValue("password", "must not be the user name", show_value=False)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _spend_a_verification(password: str) -> None:
    """The same work as checking a real password, so an unknown user name is not told apart by time."""
    key = id(PASSWORD_HASHER)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = PASSWORD_HASHER.hash(secrets.token_hex(16))
    _verify(_dummy_hashes[key], password)


def _keep_an_admin(session: Session, user: User) -> None:
    """The study always keeps one active admin, or nobody could manage its accounts again."""
    if user.role != "admin" or not user.active:
        return
    others = session.scalar(select(func.count(User.id)).where(User.role == "admin", User.active.is_(True),
                                                              User.id != user.id)) or 0
    if others == 0:
        raise InvalidValue("user", "is the study's only active admin: make another admin first", user.username)


def _token_digest(token: str) -> str:
    return hashlib.sha256((token or "").encode("utf-8")).hexdigest()


def _own_or(study: StudyDB, session: Session, user: User, permission: str) -> None:
    """An account holder acts on their own account; anyone else needs ``permission``."""
    principal = study.principal(session)
    if principal is None or principal.user_id != user.id:
        study.require(session, permission)


# --------------------------------------------------------------------------- accounts
def add_user(study: StudyDB, actor: Actor, username: str, *, full_name: str, role: str, password: str,
             sites: Iterable[str] = (), export: str | None = None, delegate: Iterable[str] = ()) -> Account:
    """Create an account. The first account of a study must be an admin."""
    name = _valid_username(username)
    full = " ".join((full_name or "").split())
    if not full:
        raise InvalidValue("full_name", "must not be empty (it is printed with every signature)")
    _check_role(role)
    export = _check_export(role, export or rules.default_export_right(role))
    _check_password(name, password)
    hashed = PASSWORD_HASHER.hash(password)  # slow on purpose: before the transaction
    with study.action(actor, permission="user.manage") as session:
        if not has_accounts(session) and role != "admin":
            raise InvalidValue("role", "the first account of a study must be an admin (it manages every other "
                               "account)", role)
        if _find_user(session, name) is not None:
            raise InvalidValue("user", "already has an account in this study", name)
        granted = {site.id: site for site in (_find_site(session, code) for code in sites)}
        user = User(username=name, full_name=full, role=role, export_right=export, password_hash=hashed,
                    active=True, failed_sign_ins=0)
        session.add(user)
        session.flush()
        for site_id in granted:
            session.add(UserSite(user_id=user.id, site_id=site_id))
        _delegate(session, user, list(delegate), [], False)
        session.flush()
        return _account(session, user)


def list_users(study: StudyDB, actor: Actor) -> list[Account]:
    with study.reading(actor, permission="account.self") as session:
        return [_account(session, user) for user in session.scalars(select(User).order_by(User.username))]


def _set_active(study: StudyDB, actor: Actor, username: str, active: bool, reason: str | None) -> Account:
    default = "account enabled by an admin" if active else "account disabled by an admin"
    with study.action(actor, reason or default, permission="user.manage") as session:
        user = _existing_user(session, username)
        if not active:
            _keep_an_admin(session, user)
        if bool(user.active) != active:
            user.active = active
        if not active:
            _end_sessions(session, user, "disabled")
        if active and (user.failed_sign_ins or user.locked_until is not None):  # enabling also ends a lock-out
            user.failed_sign_ins, user.locked_until = 0, None
        session.flush()
        return _account(session, user)


def disable_user(study: StudyDB, actor: Actor, username: str, reason: str | None = None) -> Account:
    """Disable an account: it can no longer sign in (its past actions stay attributed to it)."""
    return _set_active(study, actor, username, False, reason)


def enable_user(study: StudyDB, actor: Actor, username: str, reason: str | None = None) -> Account:
    """Enable an account again (also ends a lock-out)."""
    return _set_active(study, actor, username, True, reason)


def set_password(study: StudyDB, actor: Actor, username: str, new_password: str, reason: str | None = None) -> None:
    """Change one's own password (signed in with the current one), or, as an admin, reset another's."""
    _check_password(normal_username(username), new_password)
    hashed = PASSWORD_HASHER.hash(new_password)
    with study.action(actor, reason or "password changed", permission="account.self") as session:
        user = _existing_user(session, username)
        _own_or(study, session, user, "user.manage")
        user.password_hash = hashed
        if user.failed_sign_ins or user.locked_until is not None:
            user.failed_sign_ins, user.locked_until = 0, None
        _end_sessions(session, user, "password_changed")


def grant(study: StudyDB, actor: Actor, username: str, *, role: str | None = None, sites: Iterable[str] = (),
          remove_sites: Iterable[str] = (), study_wide: bool = False, export: str | None = None,
          reason: str | None = None, delegate: Iterable[str] = (), undelegate: Iterable[str] = (),
          all_studies: bool = False) -> Account:
    """Change an account's role, sites (added, removed, or none: study-wide), export right, or the studies
    it is delegated to (added, removed, or none: every study of the database)."""
    sites, remove_sites = list(sites), list(remove_sites)
    delegate, undelegate = list(delegate), list(undelegate)
    if all_studies and delegate:
        raise InvalidValue("delegate", "an account works either in every study or in the studies named, not both")
    if role is None and export is None and not sites and not remove_sites and not study_wide \
            and not delegate and not undelegate and not all_studies:
        raise InvalidValue("grant", "give a role, sites to add or remove, study-wide, an export right, or studies "
                           "to delegate to")
    if study_wide and sites:
        raise InvalidValue("site", "an account is either study-wide or limited to sites, not both")
    if role is not None:
        _check_role(role)
    with study.action(actor, reason or "access rights changed by an admin", permission="user.manage") as session:
        user = _existing_user(session, username)
        if role is not None and role != user.role:
            if role != "admin":
                _keep_an_admin(session, user)
            user.role = role
        new_export = export if export is not None else user.export_right
        if export is None and rules.export_right_rule(user.role, new_export) is not None:
            raise InvalidValue("export", f"{user.username}'s export right {new_export} does not go with the role "
                               f"{user.role}: {rules.export_right_rule(user.role, new_export)}")
        _check_export(user.role, new_export)
        if new_export != user.export_right:
            user.export_right = new_export
        rows = {row.site_id: row for row in session.scalars(select(UserSite).where(UserSite.user_id == user.id))}
        removed = list(rows) if study_wide else []
        for code in remove_sites:
            site = _find_site(session, code)
            if site.id not in rows:
                raise InvalidValue("site", f"is not granted to {user.username}", site.code)
            removed.append(site.id)
        for site_id in dict.fromkeys(removed):
            session.delete(rows.pop(site_id))
        for code in sites:
            site = _find_site(session, code)
            if site.id not in rows:
                rows[site.id] = UserSite(user_id=user.id, site_id=site.id)
                session.add(rows[site.id])
        _delegate(session, user, delegate, undelegate, all_studies)
        session.flush()
        return _account(session, user)


def _delegate(session: Session, user: User, delegate: list[str], undelegate: list[str], all_studies: bool) -> None:
    from sarcotrial.store.models_access import UserStudy

    held = {row.study_id: row for row in session.scalars(select(UserStudy).where(UserStudy.user_id == user.id))}
    dropped = list(held) if all_studies else []
    for acronym in undelegate:
        found = _find_study(session, acronym)
        if found.id not in held:
            raise InvalidValue("undelegate", f"{user.username} is not delegated to {found.acronym}", acronym)
        dropped.append(found.id)
    for study_id in dict.fromkeys(dropped):
        session.delete(held.pop(study_id))
    for acronym in delegate:
        found = _find_study(session, acronym)
        if found.id not in held:
            held[found.id] = UserStudy(user_id=user.id, study_id=found.id)
            session.add(held[found.id])


# --------------------------------------------------------------------------- sites
def add_site(study: StudyDB, actor: Actor, code: str, name: str) -> SiteInfo:
    clean = (code or "").strip().upper()
    if not _SITE_CODE.match(clean):
        raise InvalidValue("site", "a site code is 1 to 32 characters: letters, digits, _ and - (kept in upper case)",
                           code)
    label = " ".join((name or "").split())
    if not label:
        raise InvalidValue("name", "must not be empty")
    if len(label) > 200:
        raise InvalidValue("name", "must be at most 200 characters", show_value=False)
    with study.action(actor, permission="site.manage") as session:
        if session.scalars(select(Site).where(func.upper(Site.code) == clean)).first() is not None:
            raise InvalidValue("site", "already exists in this study", clean)
        session.add(Site(code=clean, name=label))
    return SiteInfo(clean, label)


def list_sites(study: StudyDB, actor: Actor) -> list[SiteInfo]:
    with study.reading(actor, permission="account.self") as session:
        return [SiteInfo(site.code, site.name) for site in session.scalars(select(Site).order_by(Site.code))]


# --------------------------------------------------------------------------- settings
def settings(study_or_session: StudyDB | Session) -> dict[str, Any]:
    """Every setting's typed value: the one stored, else the default."""
    with _session(study_or_session) as session:
        stored = {row.key: row.value for row in session.scalars(select(Setting))}
    values: dict[str, Any] = {}
    for key, spec in SETTINGS.items():
        values[key] = spec.default
        if key in stored:
            try:
                values[key] = parse_setting(key, stored[key])
            except InvalidValue:  # a value written around SarcoTrial: the safe default holds
                pass
    return values


def setting(study_or_session: StudyDB | Session, key: str) -> Any:
    """One setting's typed value (``lockout_threshold`` -> 5 unless an admin changed it)."""
    if key not in SETTINGS:
        raise InvalidValue("setting", f"unknown key; the keys are {', '.join(SETTINGS)}", key)
    return settings(study_or_session)[key]


def set_setting(study: StudyDB, actor: Actor, key: str, value: str, reason: str | None = None) -> Any:
    """Change a setting (admins only; audited). Returns the typed value stored."""
    typed = parse_setting(key, value)
    text = SETTINGS[key].text(typed)
    with study.action(actor, reason or f"setting {key} changed by an admin", permission="settings.set") as session:
        row = session.scalars(select(Setting).where(Setting.key == key)).first()
        if row is None:
            session.add(Setting(key=key, value=text))
        elif row.value != text:
            row.value = text
    return typed


# --------------------------------------------------------------------------- signing in
def _fill(actor: Actor, study: StudyDB, user: User, codes: list[tuple[int, str]],
          studies: list[tuple[int, str]]) -> None:
    actor.authenticated = True
    actor.user_id = user.id
    actor.role = user.role
    actor.full_name = user.full_name
    actor.sites = frozenset(code for _, code in codes) or None
    actor.studies = frozenset(acronym for _, acronym in studies) or None
    actor.signed_in_to = study.identity


def _attempt(study: StudyDB, username: str, source: str, password: str, method: str, *,
             record_success: bool = True, on_success=None) -> tuple[str, str | None]:
    """Check a password against an account, count a failure toward lock-out, and record the
    attempt in a transaction of its own. Returns (outcome, message for a refusal).

    ``on_success(session, user)`` runs in that same transaction when the password is right (a web
    session is opened with its sign-in: one write, not two).

    The password is checked before the write transaction opens (argon2 is slow on purpose, and
    the transaction holds the study's write lock); if the account's hash changed meanwhile it is
    checked again inside."""
    now = _now()
    with study.reading() as session:
        found = _find_user(session, username)
        checked_hash = found.password_hash if found is not None else None
        locked_now = found is not None and found.locked_until is not None and found.locked_until > now
    checked = found is not None and not locked_now
    if found is None:
        _spend_a_verification(password)
        right = False
    else:
        right = checked and _verify(checked_hash, password)
    with study._recording(username or "(no name)", source) as session:
        user = _find_user(session, username)
        if user is None:
            outcome, message = "unknown_user", REFUSED
        elif user.locked_until is not None and user.locked_until > now:
            outcome, message = "locked", (f"account locked until {user.locked_until:%H:%M} UTC after repeated failed "
                                          "sign-ins; an administrator can unlock it sooner (by enabling the account)")
        else:
            if user.locked_until is not None:  # a lock-out that has run out
                user.locked_until = None
            if not checked or user.password_hash != checked_hash:  # unlocked, or changed, since the first look
                right = _verify(user.password_hash, password)
            if not right:
                failures = (user.failed_sign_ins or 0) + 1
                threshold = setting(session, "lockout_threshold")
                if failures >= threshold:
                    until = now + dt.timedelta(minutes=setting(session, "lockout_minutes"))
                    user.failed_sign_ins, user.locked_until = 0, until
                    outcome = "locked_out"
                    message = (f"wrong password: after {failures} failed sign-ins in a row the account is locked until "
                               f"{until:%H:%M} UTC; an administrator can unlock it sooner")
                else:
                    user.failed_sign_ins = failures
                    outcome, message = "wrong_password", REFUSED
            elif not user.active:
                outcome, message = "disabled", f"account {user.username} is disabled (an admin can enable it)"
            else:
                if user.failed_sign_ins:
                    user.failed_sign_ins = 0
                outcome, message = "success", None
        if outcome == "success" and on_success is not None:
            on_success(session, user)
        if outcome != "success" or record_success:
            session.add(SignInEvent(username=(username or "(no name)")[:128], user_id=user.id if user else None,
                                    method=method, outcome=outcome))
    return outcome, message


def sign_in(study: StudyDB, actor: Actor) -> None:
    """Sign the actor in to ``study`` if it has accounts (once per process; the actor keeps it).

    Asks the actor's credential source for the password only when it is needed. A refusal
    (unknown user, wrong password, disabled, locked out) is recorded and raises AccessDenied.
    """
    if actor.signed_in_to == study.identity:
        return
    if actor.password is None:
        return  # nothing to sign in with: authorise() refuses the actor if the study has accounts
    if not _accounts_exist(study, study):
        return
    username = normal_username(actor.name)
    password = actor.credential()
    if not password:
        raise AccessDenied(f"{actor.name}: this study has accounts, so every action needs a signed-in account; "
                           "no password was given (SARCOTRIAL_PASSWORD, or the prompt on a terminal)")
    outcome, message = _attempt(study, username, actor.source, password, "password")
    if outcome != "success":
        raise AccessDenied(message)
    with study.reading() as session:
        user = _existing_user(session, username)
        _fill(actor, study, user, _site_codes(session, user.id), _study_acronyms(session, user.id))


def authorise(study: StudyDB, session: Session, actor: Actor, permission: str) -> Principal:
    """Who ``actor`` acts as in this session, if they may ``permission`` (else AccessDenied).

    Called by :meth:`StudyDB.action` and :meth:`StudyDB.reading` after :func:`sign_in`; reads the
    account afresh, so a disabled account or a changed role counts from the next action on.
    """
    rules.allowed(None, permission)  # an unknown permission is a programming error: KeyError
    if not _accounts_exist(study, session):
        if actor.claimed:
            raise AccessDenied(NO_ACCOUNTS)
        return Principal(actor.name, actor.name, None, None, None, "full", None)
    if actor.signed_in_to != study.identity or actor.user_id is None:
        if actor.password is None:
            raise AccessDenied(f"{actor.name}: this study has accounts, so every action needs a signed-in account; "
                               "no password was given (SARCOTRIAL_PASSWORD, or the prompt on a terminal)")
        raise AccessDenied(f"{actor.name}: not signed in to this study")
    user = session.get(User, actor.user_id)
    if user is None or not user.active:
        raise AccessDenied(f"account {actor.name} is disabled (an admin can enable it)")
    if actor.token_id is not None:
        token = session.get(ApiToken, actor.token_id)
        if token is None or token.revoked_at is not None:
            raise AccessDenied("the token was revoked")
    if not rules.allowed(user.role, permission):
        raise AccessDenied(f"{user.username} ({user.role}) may not {rules.PERMISSION_DESCRIPTIONS[permission]} "
                           f"(permission {permission})")
    codes = _site_codes(session, user.id)
    delegated = _study_acronyms(session, user.id)
    from sarcotrial.store.scoping import INFO_UNIT

    if delegated and not session.info.get(INFO_UNIT) and study.study_id not in {i for i, _ in delegated}:
        # the registry (the board, second opinions) spans the studies; a study's own data is its delegates'
        raise AccessDenied(f"{user.username} is not delegated to {study.protocol.acronym} (delegated to "
                           f"{', '.join(a for _, a in delegated)}; an admin delegates with 'user grant --delegate')")
    _fill(actor, study, user, codes, delegated)
    return Principal(user.username, user.full_name, user.role, actor.sites,
                     frozenset(site_id for site_id, _ in codes) or None, user.export_right, user.id)


def require(session: Session, permission: str) -> Principal | None:
    """A further permission within an action already authorised (see :meth:`StudyDB.require`)."""
    rules.allowed(None, permission)
    principal: Principal | None = session.info.get(INFO_PRINCIPAL)
    if principal is None or principal.role is None:  # a service's internal read; a study with no accounts
        return principal
    if not rules.allowed(principal.role, permission):
        raise AccessDenied(f"{principal.username} ({principal.role}) may not "
                           f"{rules.PERMISSION_DESCRIPTIONS[permission]} (permission {permission})")
    return principal


def require_export(session: Session, level: str) -> Principal | None:
    """An export at ``level`` (full, pseudonymised, deidentified): the ``export`` permission and an
    export right that reaches that level (a statistician's never reaches ``full``)."""
    principal = require(session, "export")
    if principal is None or principal.role is None:
        return principal
    if not rules.export_allowed(principal.export, level):
        raise AccessDenied(f"{principal.username}'s export right is {principal.export}: "
                           f"{'no export at all' if principal.export == 'none' else f'no {level} export'}")
    if level == "full":  # identifiers leave the study only with someone whose role may read them
        require(session, "read.identifiers")
    return principal


def reauthenticate(study: StudyDB, actor: Actor, password: str) -> None:
    """The password re-entered at an electronic signature (21 CFR 11.200(a)(1)).

    Checks it against the actor's own account; a wrong one counts toward lock-out and is
    recorded. A study with no accounts has nobody to sign (11.100: a signature is unique to one
    individual, 11.200: made of an identification code and a password). Call it before opening
    the signing action: the attempt is recorded in a transaction of its own.
    """
    study._outside_action()
    if not has_accounts(study):
        raise AccessDenied(SIGNATURE_NEEDS_ACCOUNT)
    if not password:
        raise AccessDenied("signing needs your password, entered again at each signature")
    username = normal_username(actor.name)
    if actor.signed_in_to == study.identity and actor.user_id is not None:
        with study.reading() as session:
            user = session.get(User, actor.user_id)
            username = user.username if user is not None else username
    outcome, message = _attempt(study, username, actor.source, password, "signature", record_success=False)
    if outcome != "success":
        if outcome == "wrong_password" and actor.signed_in_to == study.identity and actor.user_id is not None:
            # the signer is signed in already: their account is known to them, the password is what was wrong
            message = "signature refused: wrong password (a signature needs your own password, entered again)"
        raise AccessDenied(message)
    if actor.signed_in_to != study.identity:
        with study.reading() as session:
            user = _existing_user(session, username)
            _fill(actor, study, user, _site_codes(session, user.id), _study_acronyms(session, user.id))


# --------------------------------------------------------------------------- API tokens
def create_token(study: StudyDB, actor: Actor, username: str, label: str) -> str:
    """A new API token for ``username`` (one's own, or anyone's for an admin). The secret is
    returned once; only its SHA-256 is stored."""
    text = " ".join((label or "").split())
    if not text:
        raise InvalidValue("label", "must not be empty (say what the token is for)")
    if len(text) > 200:
        raise InvalidValue("label", "must be at most 200 characters", show_value=False)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with study.action(actor, permission="account.self") as session:
        user = _existing_user(session, username)
        _own_or(study, session, user, "user.manage")
        if not user.active:
            raise InvalidValue("user", "is disabled", user.username)
        session.add(ApiToken(user_id=user.id, label=text, token_sha256=_token_digest(secret)))
    return secret


def revoke_token(study: StudyDB, actor: Actor, token: str | int, reason: str | None = None) -> None:
    """Revoke a token, given as its secret or its id (one's own, or anyone's for an admin)."""
    with study.action(actor, reason or "token revoked", permission="account.self") as session:
        if isinstance(token, int):
            row = session.get(ApiToken, token)
        else:
            row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == _token_digest(token))).first()
        if row is None:
            raise InvalidValue("token", "no such token in this study", show_value=False)
        _own_or(study, session, session.get(User, row.user_id), "user.manage")
        if row.revoked_at is None:
            row.revoked_at = _now()


def authenticate_token(study: StudyDB, token: str) -> Actor:
    """The signed-in actor a token stands for; an unknown or revoked token, or a disabled
    account, is refused and the attempt recorded."""
    with study.reading() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == _token_digest(token))).first()
        user = session.get(User, row.user_id) if row is not None else None
        codes = _site_codes(session, user.id) if user is not None else []
        delegated = _study_acronyms(session, user.id) if user is not None else []
    if row is None or row.revoked_at is not None or not user.active:
        outcome = "unknown_token" if row is None else "revoked_token" if row.revoked_at is not None else "disabled"
        name = user.username if user is not None else "(unknown token)"
        with study._recording(name, "api token") as session:
            session.add(SignInEvent(username=name, user_id=user.id if user else None, method="token", outcome=outcome))
        raise AccessDenied(f"account {user.username} is disabled" if outcome == "disabled"
                           else "the token is unknown or revoked")
    actor = Actor(user.username, "api token")
    _fill(actor, study, user, codes, delegated)
    actor.token_id = row.id
    return actor


def list_tokens(study: StudyDB, actor: Actor, username: str | None = None) -> list[dict[str, Any]]:
    """The API tokens of ``username`` (one's own; anyone's, or everyone's with ``None``, for an
    admin): label, when made, revoked or not. The secrets themselves are never kept."""
    with study.reading(actor, permission="account.self") as session:
        query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
        principal = study.principal(session)
        if username is not None:
            user = _existing_user(session, username)
            _own_or(study, session, user, "user.manage")
            query = query.where(ApiToken.user_id == user.id)
        elif principal is not None and principal.user_id is not None and not rules.allowed(principal.role, "user.manage"):
            query = query.where(ApiToken.user_id == principal.user_id)
        return [{"id": row.id, "user": name, "label": row.label, "created_at": row.created_at,
                 "revoked_at": row.revoked_at} for row, name in session.execute(query)]


# --------------------------------------------------------------------------- web sessions
@dataclass(frozen=True)
class WebSignIn:
    """A new web session: the cookie's secret (given once), its CSRF token, and who signed in."""

    token: str
    csrf_token: str
    actor: Actor
    account: Account


class SignInRefused(AccessDenied):
    """A refused sign-in: ``locked`` tells a lock-out (HTTP 423) from wrong credentials (401)."""

    def __init__(self, message: str, locked: bool):
        super().__init__(message)
        self.locked = locked


def start_web_session(study: StudyDB, username: str, password: str, source: str = "web") -> WebSignIn:
    """Sign in to the web application: the services' password check and lock-out rule
    (:func:`_attempt`), then a new server-side session with a fresh secret (never one the browser
    offered: no session fixation) and its own CSRF token."""
    name = normal_username(username)
    if not _accounts_exist(study, study):
        raise SignInRefused("this study has no accounts yet: create the first (admin) account with "
                            "'sarcotrial user add'", locked=False)
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    opened: dict[str, Any] = {}

    def open_session(session: Session, user: User) -> None:
        now = _now()
        session.add(WebSession(token_sha256=_token_digest(secret), user_id=user.id, csrf_token=csrf,
                               created_at=now, last_seen_at=now))
        actor = Actor(user.username, source)
        codes = _site_codes(session, user.id)
        delegated = _study_acronyms(session, user.id)
        _fill(actor, study, user, codes, delegated)
        opened["account"] = Account(user.username, user.full_name, user.role, tuple(c for _, c in codes),
                                    user.export_right, bool(user.active), user.locked_until,
                                    tuple(a for _, a in delegated))
        opened["actor"] = actor

    outcome, message = _attempt(study, name, source, password or "", "password", on_success=open_session)
    if outcome != "success":
        raise SignInRefused(message, locked=outcome in ("locked", "locked_out"))
    return WebSignIn(secret, csrf, opened["actor"], opened["account"])


@dataclass(frozen=True)
class WebSessionState:
    """What a request's session cookie stands for: the actor, the CSRF token, or why it is over."""

    actor: Actor | None
    csrf_token: str | None
    ended: str | None  # None while live; signed_out / idle / disabled / unknown


#: how stale ``last_seen_at`` may grow before a request writes it again (fewer writes; the idle
#: sign-out is then exact to this many seconds)
SEEN_RESOLUTION_SECONDS = 30


def resume_web_session(study: StudyDB, token: str, source: str = "web") -> WebSessionState:
    """The live session a cookie names, or why there is none. A session idle longer than the
    ``idle_signout_minutes`` setting is ended here, and the idle sign-out recorded."""
    if not token:
        return WebSessionState(None, None, "unknown")
    now = _now()
    with study.reading() as session:
        row = session.scalars(select(WebSession).where(WebSession.token_sha256 == _token_digest(token))).first()
        if row is None:
            return WebSessionState(None, None, "unknown")
        if row.ended_at is not None:
            return WebSessionState(None, None, row.end_reason or "signed_out")
        user = session.get(User, row.user_id)
        idle = dt.timedelta(minutes=setting(session, "idle_signout_minutes"))
        expired = now - row.last_seen_at > idle
        stale = (now - row.last_seen_at).total_seconds() >= SEEN_RESOLUTION_SECONDS
        codes = _site_codes(session, user.id)
        delegated = _study_acronyms(session, user.id)
        row_id = row.id
    if expired or not user.active:
        reason = "idle" if expired else "disabled"
        _end(study, row_id, user, reason, "idle_signout" if expired else "disabled", source)
        return WebSessionState(None, None, reason)
    if stale:
        with study._recording(user.username, source) as session:
            live = session.get(WebSession, row_id)
            if live is not None and live.ended_at is None:
                live.last_seen_at = now
    actor = Actor(user.username, source)
    _fill(actor, study, user, codes, delegated)
    return WebSessionState(actor, row.csrf_token, None)


def _end_sessions(session: Session, user: User, reason: str) -> int:
    """End every live web session of ``user`` in the action under way (a password changed or reset,
    an account disabled): a session stolen before does not outlive the change."""
    rows = session.scalars(select(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))).all()
    for row in rows:
        row.ended_at, row.end_reason = _now(), reason
    return len(rows)


def _end(study: StudyDB, row_id: int, user: User, reason: str, outcome: str, source: str) -> None:
    with study._recording(user.username, source) as session:
        live = session.get(WebSession, row_id)
        if live is None or live.ended_at is not None:
            return
        live.ended_at, live.end_reason = _now(), reason
        session.add(SignInEvent(username=user.username, user_id=user.id, method="session", outcome=outcome))


def end_web_session(study: StudyDB, token: str, source: str = "web") -> bool:
    """Sign out: the session ends server-side (its cookie is worthless from now on) and the
    sign-out is recorded. False when the cookie named no live session."""
    with study.reading() as session:
        row = session.scalars(select(WebSession).where(WebSession.token_sha256 == _token_digest(token or ""))).first()
        if row is None or row.ended_at is not None:
            return False
        user = session.get(User, row.user_id)
        row_id = row.id
    _end(study, row_id, user, "signed_out", "signed_out", source)
    return True
