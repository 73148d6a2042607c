"""Signing in and out of the web application (the services' accounts, lock-out and idle rule)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from sarcotrial.services import access
from sarcotrial.web.deps import (
    COOKIE,
    clear_session_cookie,
    set_session_cookie,
    study_of,
)
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

ENDED = {"idle": "You were signed out after a period without activity. Sign in again to go on.",
         "signed_out": "You have signed out.",
         "disabled": "Your account was disabled; ask an administrator.",
         "password_changed": "The password of this account was changed: sign in with the new one."}


def safe_next(target: str | None) -> str:
    """Only a path on this server (no open redirect to another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/signin")
def signin_page(request: Request, next: str = "/", ended: str | None = None):
    if request.state.user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "signin.html", title="Sign in", next=safe_next(next), notice=ENDED.get(ended or ""),
                  username="", error=None)


@router.post("/signin")
async def signin(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")):
    try:
        signed = await run_in_threadpool(access.start_web_session, study_of(request), username, password, "web")
    except access.SignInRefused as exc:
        return render(request, "signin.html", status_code=423 if exc.locked else 401, title="Sign in",
                      next=safe_next(next), notice=None, username=username, error=str(exc))
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, signed.token)
    return response


@router.post("/signout")
async def signout(request: Request):
    token = request.cookies.get(COOKIE)
    if token:
        await run_in_threadpool(access.end_web_session, study_of(request), token, "web")
    response = RedirectResponse("/signin?ended=signed_out", status_code=303)
    clear_session_cookie(request, response)
    return response
