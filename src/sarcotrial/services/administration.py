"""What the administration page reads beyond ``services/access.py``: the protocol in force and its
amendments, the accounts a person may see, a check of one's own current password, and whether
someone may manage accounts (to refuse the account forms themselves, not only their submission).

Accounts are listed in full to an admin (``user.manage``); anyone else sees their own account
only: a list of colleagues' roles and sites is access-control information (EU GMP Annex 11 §12).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from sarcotrial.domain import access as rules
from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import access
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import ProtocolAmendment, ProtocolVersion, Study, User


@dataclass(frozen=True)
class ProtocolInForce:
    acronym: str
    version: str
    version_date: str
    title: str
    sha256: str
    bound_at: dt.datetime | None
    bound_by: str | None
    versions: list[dict[str, Any]] = field(default_factory=list)  # every version bound, oldest first
    amendments: list[dict[str, Any]] = field(default_factory=list)  # oldest first


def protocol_in_force(study: StudyDB, actor: Actor | None) -> ProtocolInForce:
    """The protocol version the study runs under (its exact text's SHA-256), the versions bound
    before it and the amendments that moved it on, with their reasons and changes."""
    with study.reading(actor, permission="account.self") as session:
        current = session.get(Study, study.study_id).protocol
        versions = [{"version": v.version, "sha256": v.sha256, "bound_at": v.bound_at, "bound_by": v.bound_by}
                    for v in session.scalars(select(ProtocolVersion).order_by(ProtocolVersion.id))]
        amendments = [{"from": a.from_version, "to": a.to_version, "sha256": a.sha256, "reason": a.reason,
                       "changes": list(a.changes or []), "at": a.created_at}
                      for a in session.scalars(select(ProtocolAmendment).order_by(ProtocolAmendment.id))]
        ident = study.protocol.identification
        return ProtocolInForce(study.protocol.acronym, study.protocol.version, str(ident.version_date), ident.title,
                               current.sha256, current.bound_at, current.bound_by, versions, amendments)


@dataclass(frozen=True)
class AccountView:
    """An account as the administration page lists it."""

    account: access.Account
    locked: bool

    def __getattr__(self, name: str):
        return getattr(self.account, name)


def may_manage_accounts(actor: Actor | None) -> bool:
    return actor is not None and rules.allowed(actor.role, "user.manage")


def visible_accounts(study: StudyDB, actor: Actor) -> list[AccountView]:
    """Every account for an admin; one's own otherwise."""
    now = access._now()
    manage = False
    with study.reading(actor, permission="account.self") as session:
        principal = study.principal(session)
        manage = principal is None or principal.role is None or rules.allowed(principal.role, "user.manage")
        own = principal.user_id if principal is not None else None
    accounts = access.list_users(study, actor)
    if not manage:
        mine = None
        with study.reading(actor, permission="account.self") as session:
            user = session.get(User, own) if own is not None else None
            mine = user.username if user is not None else None
        accounts = [a for a in accounts if a.user == mine]
    return [AccountView(a, a.locked_until is not None and a.locked_until > now) for a in accounts]


def require_manage(study: StudyDB, actor: Actor) -> None:
    """Refuse (AccessDenied) anyone who may not manage accounts: the forms that make and change
    accounts are refused with their submission."""
    with study.reading(actor, permission="user.manage"):
        pass


def check_own_password(study: StudyDB, actor: Actor, password: str) -> None:
    """One's current password, asked again before it is changed (a wrong one counts toward the
    lock-out and is recorded, as any failed sign-in)."""
    if not password:
        raise InvalidValue("current_password", "enter your current password", show_value=False)
    outcome, message = access._attempt(study, access.normal_username(actor.name), actor.source, password, "password",
                                       record_success=False)
    if outcome == "wrong_password":
        raise InvalidValue("current_password", "is not your current password", show_value=False)
    if outcome != "success":
        raise AccessDenied(message or "refused")


def change_own_password(study: StudyDB, actor: Actor, current: str, new: str, again: str) -> None:
    """Change one's own password: the current one, then the new one twice (NIST SP 800-63B §5.1.1.2
    rules, checked by :func:`access.set_password`)."""
    if new != again:
        raise InvalidValue("new_password_again", "must repeat the new password exactly", show_value=False)
    try:
        access._check_password(access.normal_username(actor.name), new)
    except InvalidValue as exc:
        raise InvalidValue("new_password", exc.rule, show_value=False) from None
    check_own_password(study, actor, current)
    if new == current:
        raise InvalidValue("new_password", "must differ from the current password", show_value=False)
    access.set_password(study, actor, actor.name, new, reason="password changed by its holder")


def require_setting(study: StudyDB, actor: Actor) -> None:
    """Refuse (AccessDenied) anyone who may not change installation settings."""
    with study.reading(actor, permission="settings.set"):
        pass


def change_rights(study: StudyDB, actor: Actor, username: str, *, role: str, export: str, sites: list[str],
                  reason: str) -> access.Account:
    """Set an account's role, export right and sites to the values a form shows (none ticked:
    study-wide), in one audited change with its reason (:func:`access.grant`)."""
    require_manage(study, actor)
    if not reason or not reason.strip():
        raise InvalidValue("reason", "say why the access rights change (it is kept in the audit trail)")
    current = next((a for a in access.list_users(study, actor) if a.user == access.normal_username(username)), None)
    if current is None:
        raise InvalidValue("user", "no such account in this study", username)
    wanted = {s.strip().upper() for s in sites if s.strip()}
    have = set(current.sites)
    new_role = role if role and role != current.role else None
    new_export = export if export and export != current.export else None
    add, remove = sorted(wanted - have), sorted(have - wanted)
    study_wide = bool(have) and not wanted
    if new_role is None and new_export is None and not add and not remove:
        raise InvalidValue("grant", "nothing changed: choose another role, export right or sites")
    return access.grant(study, actor, username, role=new_role, export=new_export, sites=add,
                        remove_sites=[] if study_wide else remove, study_wide=study_wide, reason=reason.strip())
