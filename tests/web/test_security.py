"""The web application's security rules (issue: sessions, CSRF, headers, lock-out, idle sign-out,
no traceback), each through the HTTP interface a browser or a script uses.

Sources: OWASP Session Management and CSRF Prevention Cheat Sheets (new session id at sign-in,
HttpOnly/SameSite cookies, synchroniser tokens); FDA 21 CFR 11.300(d) and EU GMP Annex 11 §12
(lock-out after failed attempts, recorded); the installation settings ``lockout_threshold`` (5),
``lockout_minutes`` (15), ``idle_signout_minutes`` (30) and ``upload_limit_mb`` (500).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from sarcotrial.services import access, views
from sarcotrial.store.models_access import SignInEvent, WebSession
from tests.edc_support import password
from tests.web.conftest import Client


def events(study, outcome=None):
    with study.reading() as session:
        rows = session.scalars(select(SignInEvent).order_by(SignInEvent.id)).all()
    return [(r.username, r.method, r.outcome) for r in rows if outcome is None or r.outcome == outcome]


def test_sign_in_gives_a_new_http_only_strict_cookie_and_the_csrf_token(web_app, web_study):
    client = Client(web_app)
    client.http.cookies.set("sarcotrial_session", "chosen-by-an-attacker")
    answer = client.post("/api/v1/session", json={"username": "mona", "password": password("mona")})
    assert answer.status_code == 201
    body = answer.json()
    assert body["user"] == "mona" and body["role"] == "monitor" and body["full_name"] == "Mona Monitor"
    assert len(body["csrf_token"]) >= 32
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Secure" not in cookie
    new_id = answer.cookies.get("sarcotrial_session")
    assert new_id and new_id != "chosen-by-an-attacker"  # no session fixation
    with web_study.reading() as session:
        stored = session.scalars(select(WebSession.token_sha256)).all()
    assert new_id not in stored  # only a digest of the secret is kept


def test_secure_cookie_over_tls(web_app):
    from fastapi.testclient import TestClient

    https = TestClient(web_app, base_url="https://testserver")
    answer = https.post("/api/v1/session", json={"username": "mona", "password": password("mona")})
    assert "Secure" in answer.headers["set-cookie"]


def test_wrong_credentials_401_and_lock_out_423_recorded(web_app, web_study):
    client = Client(web_app)
    for _ in range(4):
        answer = client.post("/api/v1/session", json={"username": "nina", "password": "wrong-password"})
        assert answer.status_code == 401 and "wrong password" in answer.json()["error"]
    fifth = client.post("/api/v1/session", json={"username": "nina", "password": "wrong-password"})
    assert fifth.status_code == 423 and "locked until" in fifth.json()["error"]
    right = client.post("/api/v1/session", json={"username": "nina", "password": password("nina")})
    assert right.status_code == 423  # the right password too, while locked out
    assert events(web_study, "locked_out") == [("nina", "password", "locked_out")]
    # the CLI obeys the same lock-out: it is the services' rule
    from sarcotrial.services.study import Actor

    with pytest.raises(access.AccessDenied, match="locked"):
        views.patients(web_study, Actor("nina", "cli", password=password("nina")))


def test_lock_out_ends_after_its_minutes(web_app, web_study, monkeypatch):
    client = Client(web_app)
    for _ in range(5):
        client.post("/api/v1/session", json={"username": "nina", "password": "wrong-password"})
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    monkeypatch.setattr(access, "clock", lambda: later)
    assert client.post("/api/v1/session", json={"username": "nina", "password": password("nina")}).status_code == 201


def test_sign_out_ends_the_session_on_the_server(web_app, web_study):
    client = Client(web_app, "mona")
    stolen = client.http.cookies.get("sarcotrial_session")
    assert client.get("/api/v1/session").status_code == 200
    assert client.delete("/api/v1/session").status_code == 204
    replay = Client(web_app)
    replay.http.cookies.set("sarcotrial_session", stolen)
    assert replay.get("/api/v1/session").status_code == 401
    assert ("mona", "session", "signed_out") in events(web_study)


def test_idle_sign_out_after_the_setting_and_recorded(web_app, web_study, monkeypatch):
    client = Client(web_app, "mona")
    assert client.get("/api/v1/session").status_code == 200
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)
    monkeypatch.setattr(access, "clock", lambda: later)
    answer = client.get("/api/v1/session")
    assert answer.status_code == 401 and "without activity" in answer.json()["error"]
    assert ("mona", "session", "idle_signout") in events(web_study)
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and "/signin" in page.headers["location"]


def test_activity_keeps_the_session_alive(web_app, monkeypatch):
    client = Client(web_app, "mona")
    start = dt.datetime.now(dt.UTC)
    for minutes in (20, 40, 60):  # a request every 20 minutes: never 30 idle
        monkeypatch.setattr(access, "clock", lambda m=minutes: start + dt.timedelta(minutes=m))
        assert client.get("/api/v1/session").status_code == 200


def test_a_change_without_the_csrf_token_is_refused_and_writes_nothing(web_app, web_study):
    client = Client(web_app, "mona")
    before = access.list_tokens(web_study, web_study.team.admin)
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        answer = client.post("/api/v1/tokens", json={"label": "script"}, csrf=False, headers=headers)
        assert answer.status_code == 403 and "CSRF" in answer.json()["error"]
    assert access.list_tokens(web_study, web_study.team.admin) == before
    assert client.post("/api/v1/tokens", json={"label": "script"}).status_code == 201
    # a page form without its token: 403 too, and still signed in
    assert client.post("/signout", csrf=False).status_code == 403
    assert client.get("/api/v1/session").status_code == 200


def test_bearer_tokens_need_no_csrf_and_stop_when_revoked(web_app):
    owner = Client(web_app, "mona")
    made = owner.post("/api/v1/tokens", json={"label": "nightly export"}).json()
    script = Client(web_app)
    bearer = {"Authorization": f"Bearer {made['token']}"}
    assert script.get("/api/v1/session", headers=bearer).json()["user"] == "mona"
    listed = owner.get("/api/v1/tokens").json()["tokens"]
    assert [t["label"] for t in listed] == ["nightly export"] and "token" not in listed[0]
    created = script.post("/api/v1/tokens", json={"label": "second"}, headers=bearer)
    assert created.status_code == 201  # no cookie, so no CSRF token asked
    assert owner.delete(f"/api/v1/tokens/{listed[0]['id']}").status_code == 204
    assert script.get("/api/v1/session", headers=bearer).status_code == 401


def test_headers_on_every_answer(web_app):
    client = Client(web_app, "mona")
    for url in ("/signin", "/", "/api/v1/session", "/no-such-page", "/openapi.json"):
        answer = client.get(url)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"


def test_no_cdn_docs_pages(web_app):
    client = Client(web_app, "mona")
    for url in ("/docs", "/redoc"):
        assert client.get(url).status_code == 404


def test_errors_in_the_application_style_without_traceback(web_app, caplog):
    client = Client(web_app, "mona")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "Not found" in missing.text and "Traceback" not in missing.text
    api_missing = client.get("/api/v1/no-such-route")
    assert api_missing.status_code == 404 and "error" in api_missing.json()

    @web_app.get("/api/v1/test-crash")
    def crash():
        raise RuntimeError("secret internals")

    @web_app.get("/test-crash")
    def crash_page():
        raise RuntimeError("secret internals")

    answer = client.get("/api/v1/test-crash")
    assert answer.status_code == 500
    reference = answer.json()["reference"]
    assert "secret internals" not in answer.text and "Traceback" not in answer.text
    assert reference in caplog.text and "secret internals" in caplog.text  # the log has it, by reference
    page = client.get("/test-crash")
    assert page.status_code == 500 and "reference" in page.text and "secret internals" not in page.text


def test_upload_limit_413(web_app, web_study):
    access.set_setting(web_study, web_study.team.admin, "upload_limit_mb", "1")
    client = Client(web_app, "mona")
    answer = client.post("/api/v1/tokens", content=b"x" * (1024 * 1024 + 1),
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and "1 MB" in answer.json()["error"]


def test_no_route_gives_data_to_an_anonymous_caller(web_app):
    anonymous = Client(web_app)
    schema = anonymous.get("/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method in methods:
            if (path, method) == ("/api/v1/session", "post"):
                continue
            url = path.replace("{", "").replace("}", "")
            answer = anonymous.http.request(method.upper(), url)
            assert answer.status_code in (401, 422), (method, path, answer.status_code)
            assert answer.status_code == 401 or "error" in answer.json()


def test_signing_out_through_the_api_needs_the_csrf_token_too(web_app):
    client = Client(web_app, "mona")
    assert client.delete("/api/v1/session", csrf=False).status_code == 403
    assert client.get("/api/v1/session").status_code == 200
    assert client.delete("/api/v1/session").status_code == 204


def test_a_password_change_or_a_disabled_account_ends_every_session(web_app, web_study):
    """OWASP Session Management: a session stolen before a password reset must not outlive it; a
    disabled account's sessions end in the same action (re-enabling does not revive them)."""
    stolen = Client(web_app, "nina")
    access.set_password(web_study, web_study.team.admin, "nina", "a-new-password-2", reason="reset at her request")
    answer = stolen.get("/api/v1/session")
    assert answer.status_code == 401 and "password was changed" in answer.json()["error"]
    fresh = Client(web_app)
    assert fresh.post("/api/v1/session", json={"username": "nina", "password": "a-new-password-2"}).status_code == 201
    access.disable_user(web_study, web_study.team.admin, "nina", reason="left the unit")
    access.enable_user(web_study, web_study.team.admin, "nina", reason="came back")
    assert fresh.get("/api/v1/session").status_code == 401
