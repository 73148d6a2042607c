"""Who is asking: the session cookie or a personal API token, resolved once per request; CSRF.

- A browser signs in at ``/signin`` (or ``POST /api/v1/session``) and gets the cookie
  :data:`COOKIE`: HttpOnly, SameSite=Strict, Secure over TLS, holding a random secret of which the
  server keeps only the SHA-256 (``services/access.py``, :func:`start_web_session`).
- A script sends ``Authorization: Bearer st_...`` (:func:`access.authenticate_token`); no cookie
  is involved, so no CSRF token is asked of it.
- Every state-changing request authenticated by the cookie carries the session's CSRF token, in
  the form field ``csrf_token`` or the header ``X-CSRF-Token``; without it the request is refused
  with 403 before any route runs (:func:`csrf_guard`), so nothing is written.

Permissions are not checked here: the services check them inside their unit of work, for the
web exactly as for the CLI.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from sarcotrial.errors import AccessDenied
from sarcotrial.services import access
from sarcotrial.services.study import Actor, StudyDB

COOKIE = "sarcotrial_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the requests that sign in: no session authenticates them yet, so there is no token to ask for
CSRF_EXEMPT = frozenset({("POST", "/signin"), ("POST", "/api/v1/session")})


@dataclass
class WebUser:
    """The signed-in person of one request."""

    actor: Actor
    csrf_token: str | None  # None when signed in by an API token
    via: str  # "cookie" or "token"

    @property
    def username(self) -> str:
        return self.actor.name

    @property
    def full_name(self) -> str:
        return self.actor.full_name or self.actor.name

    @property
    def role(self) -> str | None:
        return self.actor.role

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(sorted(self.actor.sites or ()))

    def may(self, permission: str) -> bool:
        """Whether the role has ``permission`` (to show or hide a button; the services decide)."""
        from sarcotrial.domain import access as rules

        return self.role is not None and rules.allowed(self.role, permission)


class NotSignedIn(Exception):
    """No live session and no valid token: a page redirects to the sign-in, the API answers 401."""

    def __init__(self, message: str, ended: str | None = None):
        super().__init__(message)
        self.message = message
        self.ended = ended


class CsrfRefused(Exception):
    """A state-changing request authenticated by the cookie without the session's CSRF token."""


#: the cookie naming the study a browser works in, when the database runs several (``POST /study``)
STUDY_COOKIE = "sarcotrial_study"
STUDY_HEADER = "X-SarcoTrial-Study"


def study_of(request: Request) -> StudyDB:
    """The study this request works in: the one the browser chose (its study cookie), else the one the
    server was started in; a script names it in the header ``X-SarcoTrial-Study``. Every study of the
    database shares the server's engine and accounts."""
    root: StudyDB = request.app.state.study
    chosen = request.headers.get(STUDY_HEADER) or request.cookies.get(STUDY_COOKIE)
    user = getattr(request.state, "user", None)
    delegated = user.actor.studies if user is not None else None
    if not chosen and delegated and root.protocol.acronym not in delegated:
        chosen = sorted(delegated)[0]  # an account delegated to other studies starts in one of its own
    if not chosen or chosen.upper() == root.protocol.acronym.upper():
        return root
    try:
        return root.sibling(chosen)
    except Exception:  # a study no longer run here (or a forged cookie): the server's own
        return root


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def client_source(request: Request) -> str:
    """How the audit trail names where an action came from (no address: it may identify a person)."""
    return "api" if is_api(request) else "web"


def resolve_user(request: Request) -> None:
    """Every request: the user its cookie or bearer token stands for, in ``request.state.user``
    (``None`` when anonymous). A sync dependency: FastAPI runs it in its thread pool."""
    request.state.user = None
    request.state.session_ended = None
    study = study_of(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        try:
            actor = access.authenticate_token(study, header[7:].strip())
        except AccessDenied as exc:
            raise NotSignedIn(str(exc)) from None
        request.state.user = WebUser(actor, None, "token")
        return
    token = request.cookies.get(COOKIE)
    if not token:
        return
    state = access.resume_web_session(study, token, client_source(request))
    if state.actor is None:
        request.state.session_ended = state.ended
        return
    request.state.user = WebUser(state.actor, state.csrf_token, "cookie")


async def csrf_guard(request: Request) -> None:
    """Refuse (403) a state-changing request made with the session cookie but without its token."""
    if request.method in SAFE_METHODS or (request.method, request.url.path) in CSRF_EXEMPT:
        return
    user: WebUser | None = getattr(request.state, "user", None)
    if user is None or user.via != "cookie":
        return
    given = request.headers.get(CSRF_HEADER)
    if not given:
        kind = request.headers.get("content-type", "")
        if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given, user.csrf_token or ""):
        raise CsrfRefused()


def current_user(request: Request) -> WebUser:
    """A route's dependency: the signed-in user, else :class:`NotSignedIn`."""
    user: WebUser | None = getattr(request.state, "user", None)
    if user is None:
        ended = getattr(request.state, "session_ended", None)
        if ended == "idle":
            raise NotSignedIn("signed out after a period without activity; sign in again", ended)
        if ended == "disabled":
            raise NotSignedIn("the account was disabled; the session has ended", ended)
        if ended == "password_changed":
            raise NotSignedIn("the password was changed; sign in again with the new one", ended)
        raise NotSignedIn("sign in first (POST /api/v1/session, or a bearer token)" if is_api(request)
                          else "sign in first", ended)
    return user


def set_session_cookie(request: Request, response, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/")


def clear_session_cookie(request: Request, response) -> None:
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")


#: a route's parameter ``user: SignedIn``: the signed-in user, else 401 (API) or the sign-in page
SignedIn = Annotated[WebUser, Depends(current_user)]


def optional_int(value: str | None, field: str) -> int | None:
    """A whole number typed in a form or a query string (blank: ``None``), else the one-line refusal
    naming the field."""
    from sarcotrial.errors import InvalidValue

    if value is None or not str(value).strip():
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidValue(field, "must be a whole number", value) from None
