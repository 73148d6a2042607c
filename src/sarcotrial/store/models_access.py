"""Accounts' tables besides ``app_user`` and ``site``: sites granted, sign-ins, API tokens, settings.

All are :class:`~sarcotrial.store.models.StudyRecord` subclasses, so the audit trail records
every grant, sign-in, token and setting change like any study data (``services/access.py``
writes them). Imported at the end of :mod:`sarcotrial.store.models`, so the metadata, the
migrations' comparison and the audit's replay all see them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sarcotrial.store.models import Base, StudyRecord


class UserSite(StudyRecord):
    """A site granted to an account (several may be); an account with none is study-wide."""

    __tablename__ = "user_site"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    __table_args__ = (UniqueConstraint("user_id", "site_id"), {"sqlite_autoincrement": True})


class UserStudy(StudyRecord):
    """A study an account is delegated to (several may be); an account with none works in every study
    of the database (the delegation log of ICH E6 4.1.5, per study)."""

    __tablename__ = "user_study"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"))
    __table_args__ = (UniqueConstraint("user_id", "study_id"), {"sqlite_autoincrement": True})


class SignInEvent(StudyRecord):
    """One attempt to sign in (or to re-enter a password at signing): who, how, and the outcome.

    ``outcome``: success, wrong_password, unknown_user, disabled, locked (refused during a
    lock-out), locked_out (this failure started one), revoked_token, unknown_token; for a web
    session (method ``session``): signed_out, idle_signout.
    """

    __tablename__ = "sign_in_event"
    username: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    method: Mapped[str] = mapped_column(String(16))  # password / token / signature
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class ApiToken(StudyRecord):
    """A token for the web application: only its SHA-256 is stored (the secret is shown once)."""

    __tablename__ = "api_token"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    label: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False))  # UTC, as app_user.locked_until

    audit_secret = ("token_sha256",)


class Setting(StudyRecord):
    """An installation setting (lock-out, upload limit, ...) changed from its default; see domain/settings.py."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[str] = mapped_column(Text)


class WebSession(Base):
    """A signed-in browser session of the web application, kept server-side so that any worker
    serves it and sign-out ends it at once. Only the SHA-256 of the cookie's secret is stored.

    Not study data, so not audited row by row (``last_seen_at`` moves with every request): the
    sign-in, the sign-out and the idle sign-out that begin and end a session are recorded as
    :class:`SignInEvent` rows, which are.
    """

    __tablename__ = "web_session"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=False))  # UTC
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=False))  # UTC
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False))
    end_reason: Mapped[str | None] = mapped_column(String(32))  # signed_out / idle / disabled / password_changed
