"""What every response carries, and what no response may show.

- Headers: a Content-Security-Policy with no inline script, no eval and nothing from outside the
  server (htmx is configured with ``allowEval: false`` and ``includeIndicatorStyles: false``);
  ``X-Content-Type-Options: nosniff``; frames denied (``frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY``); ``Cache-Control: no-store`` on every answer but the static files,
  since pages and API answers may show patient data; no referrer sent elsewhere.
- The upload limit (the installation setting ``upload_limit_mb``) answered with 413 before the
  body is read, or as soon as a body without a declared length passes it.
- Errors: 404, 403, 405, 413 and 500 answer in the application's style (a page, or JSON
  ``{"error": ...}`` under ``/api/``), never with a traceback; an unexpected error is logged with a
  reference the user is shown, so the log entry can be found.

Hand-written as a small ASGI middleware (rather than a library's) because it must wrap every
answer, including Starlette's own error answers, and read the limit from the study's settings.
"""

from __future__ import annotations

import json
import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sarcotrial.errors import AccessDenied, InvalidValue, SarcoTrialError
from sarcotrial.services import access
from sarcotrial.web.deps import CsrfRefused, NotSignedIn, is_api, resolve_user

log = logging.getLogger("sarcotrial.web")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
TITLES = {400: "Bad request", 401: "Not signed in", 403: "Not allowed", 404: "Not found", 405: "Not allowed here",
          409: "Changed meanwhile", 413: "Too large", 422: "Invalid input", 423: "Locked", 500: "Something went wrong"}


class SecurityMiddleware:
    """Headers on every answer, the upload limit, and no traceback ever (see the module)."""

    def __init__(self, app, fastapi_app: FastAPI):
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        static = path.startswith("/static/")
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in
                           {b"content-security-policy", b"x-frame-options", b"cache-control"} or static]
                headers += HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        limit = None
        if scope["method"] in ("POST", "PUT", "PATCH"):
            limit = await _upload_limit(self.fastapi_app)
            declared = dict(scope.get("headers", [])).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _too_large(scope, receive, send_with_headers, limit)
                return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and limit is not None:
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send_with_headers)
        except _BodyTooLarge:
            if not started:
                await _too_large(scope, receive, send_with_headers, limit)
        except Exception:
            reference = secrets.token_hex(4).upper()
            log.exception("unexpected error %s on %s %s", reference, scope["method"], path)
            if not started:
                response = _error(scope, 500, f"An unexpected error occurred (reference {reference}); "
                                  "nothing was half-written. Give the reference to the administrator.", reference)
                await response(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


async def _upload_limit(app: FastAPI) -> int:
    from starlette.concurrency import run_in_threadpool

    megabytes = await run_in_threadpool(access.setting, app.state.study, "upload_limit_mb")
    return int(megabytes) * 1024 * 1024


async def _too_large(scope, receive, send, limit: int) -> None:
    if not scope.get("path", "").startswith("/api/"):  # the page says who is signed in, as every page does
        from starlette.concurrency import run_in_threadpool

        scope.setdefault("state", {})
        try:
            await run_in_threadpool(resolve_user, Request(scope))
        except NotSignedIn:
            pass
    response = _error(scope, 413, f"the upload is larger than the limit of {limit // (1024 * 1024)} MB "
                      "(setting upload_limit_mb)")
    await response(scope, receive, send)


def _error(scope, status: int, message: str, reference: str | None = None) -> Response:
    """An error answer: JSON under /api/, else the application's error page."""
    if scope.get("path", "").startswith("/api/"):
        body = {"error": message}
        if reference:
            body["reference"] = reference
        return JSONResponse(body, status_code=status)
    from sarcotrial.web.templating import render_error

    try:
        return render_error(scope, status, TITLES.get(status, "Error"), message, reference)
    except Exception:
        log.exception("the error page failed to render")
        from html import escape

        return HTMLResponse(f"<!doctype html><title>{status}</title><h1>{status} {escape(TITLES.get(status, 'Error'))}"
                            f"</h1><p>{escape(message)}</p>", status_code=status)


def install(app: FastAPI) -> None:
    """The error handlers and the middleware, on ``app``."""

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn):
        if is_api(request):
            return JSONResponse({"error": exc.message}, status_code=401)
        from urllib.parse import quote

        target = "/signin?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if exc.ended:
            target += f"&ended={exc.ended}"
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused):
        if is_api(request):
            return _error(request.scope, 403, "the request did not carry this session's CSRF token (header "
                          "X-CSRF-Token, given at sign-in); nothing was written")
        return _error(request.scope, 403, "the request did not carry this session's CSRF token; nothing was "
                      "written (reload the page and try again)")

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied):
        return _error(request.scope, 403, str(exc))

    @app.exception_handler(InvalidValue)
    async def _invalid(request: Request, exc: InvalidValue):
        if is_api(request):
            return JSONResponse({"error": str(exc), "field": exc.field, "rule": exc.rule}, status_code=422)
        return _error(request.scope, 422, str(exc))

    @app.exception_handler(SarcoTrialError)
    async def _refused(request: Request, exc: SarcoTrialError):
        return _error(request.scope, 409 if "changed" in str(exc) else 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "form"))
            problems.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
        message = "; ".join(problems) or "invalid request"
        if is_api(request):
            return JSONResponse({"error": message}, status_code=422)
        return _error(request.scope, 422, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if not hasattr(request.state, "user"):  # no route matched, so nobody asked who this is yet
            from starlette.concurrency import run_in_threadpool

            try:
                await run_in_threadpool(resolve_user, request)
            except NotSignedIn:
                request.state.user = None
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "there is no page at this address"
        if exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed at this address"
        return _error(request.scope, exc.status_code, detail)

    app.add_middleware(SecurityMiddleware, fastapi_app=app)
