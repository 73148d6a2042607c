"""The API's sign-in and sign-out, who is signed in, and personal API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sarcotrial.services import access
from sarcotrial.web.deps import COOKIE, SignedIn, clear_session_cookie, set_session_cookie, study_of

router = APIRouter(tags=["session"])


class Credentials(BaseModel):
    username: str = Field(max_length=256)
    password: str = Field(max_length=access.MAX_PASSWORD_LENGTH)


class SessionOut(BaseModel):
    user: str
    full_name: str
    role: str
    csrf_token: str


class ErrorOut(BaseModel):
    error: str


class TokenIn(BaseModel):
    label: str = Field(max_length=200, description="What the token is for")
    user: str | None = Field(None, description="Another account's user name (admins only)")


@router.post("/session", status_code=201, response_model=SessionOut, summary="Sign in (a session cookie and its CSRF token)",
             responses={401: {"model": ErrorOut}, 423: {"model": ErrorOut}})
def sign_in(credentials: Credentials, request: Request):
    """Sign in: the session cookie, and the CSRF token to send as `X-CSRF-Token` on every change."""
    try:
        signed = access.start_web_session(study_of(request), credentials.username, credentials.password, "api")
    except access.SignInRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=423 if exc.locked else 401)
    body = {"user": signed.account.user, "full_name": signed.account.full_name, "role": signed.account.role,
            "csrf_token": signed.csrf_token}
    response = JSONResponse(body, status_code=201)
    set_session_cookie(request, response, signed.token)
    return response


@router.get("/session", response_model=SessionOut, responses={401: {"model": ErrorOut}}, summary="Who is signed in")
def who(user: SignedIn) -> dict[str, Any]:
    """Who is signed in (and the session's CSRF token; empty for an API token)."""
    return {"user": user.username, "full_name": user.full_name, "role": user.role or "",
            "csrf_token": user.csrf_token or ""}


@router.delete("/session", status_code=204, responses={401: {"model": ErrorOut}}, summary="Sign out (the session ends on the server)")
async def sign_out(request: Request, user: SignedIn):
    """Sign out: the session ends on the server; its cookie is worthless from now on."""
    token = request.cookies.get(COOKIE)
    if token and user.via == "cookie":
        await run_in_threadpool(access.end_web_session, study_of(request), token, "api")
    response = JSONResponse(None, status_code=204)
    clear_session_cookie(request, response)
    return response


@router.get("/tokens", summary="Your personal API tokens (an admin: everyone's); never the secrets")
def tokens(request: Request, user: SignedIn) -> dict[str, Any]:
    """Your API tokens (an admin sees everyone's): label, made, revoked. Never the secrets."""
    return {"tokens": access.list_tokens(study_of(request), user.actor)}


@router.post("/tokens", status_code=201, summary="Make a personal API token (its secret is shown once)")
def create_token(body: TokenIn, request: Request, user: SignedIn) -> dict[str, Any]:
    """A new personal API token: the secret is in this answer only; keep it safe."""
    secret = access.create_token(study_of(request), user.actor, body.user or user.username, body.label)
    return {"token": secret, "label": body.label, "user": body.user or user.username}


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
def revoke(token_id: int, request: Request, user: SignedIn):
    """Revoke a token (your own, or anyone's for an admin)."""
    access.revoke_token(study_of(request), user.actor, token_id)
    return JSONResponse(None, status_code=204)
