"""What the web tests share: a small study with an account per role, an in-process client signed
in as any of them, and (for the browser tests) a real server on loopback and a real headless
Chromium.

The browser tests skip with a reason when no Chromium is installed, unless
``SARCOTRIAL_REQUIRE_BROWSER=1`` (which ``.ci/run`` sets after installing Debian's chromium): then
a missing browser fails them. Screenshots go to ``tests/web/artefacts/`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from sarcotrial.services import access
from tests.edc_support import NAMES, fast_hashing, operated, password, staff  # noqa: F401 - fixtures
from tests.helpers import enrolled

ARTEFACTS = Path(__file__).parent / "artefacts"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
BROWSER_ENV = "SARCOTRIAL_REQUIRE_BROWSER"


@pytest.fixture
def web_study(study, fast_hashing):  # noqa: F811
    """A SPRINT study with a second site (SAT): SPR-001 at MAIN (enrolled 22 Jan 2025, operated, with
    pathology), SPR-002 at MAIN (enrolled), SPR-003 at SAT (referred, not screened); then an account for every role (study-wide) and a nurse limited to SAT
    (``nurse.sat``). The usernames are ``tests.edc_support.NAMES``."""
    from tests.edc_support import OS_USER

    import datetime as dt

    from sarcotrial.services import pathway

    access.add_site(study, OS_USER, "SAT", "Satellite hospital")
    operated(study, "H0001", pathology=True)  # SPR-001 at MAIN: enrolled, operated, pathology
    enrolled(study, "H0002")  # SPR-002 at MAIN: enrolled
    pathway.register_patient(  # SPR-003 at SAT: referred only
        study, OS_USER, identifiers=pathway.Identifiers("Sat Patient (synthetic)", dt.date(1971, 3, 2), "H0003"),
        sex="male", referral={"referral_date": "2025-02-03", "anatomic_site": "extremity"}, site_code="SAT")
    team = staff(study)
    team.extra("nurse.sat", "research_nurse", "Sam Satellite Nurse", sites=("SAT",))
    study.team = team
    return study


def username(role: str) -> str:
    return NAMES[role][0]


class Client:
    """A signed-in API/page client: ``client.get(...)``, and changes that carry the CSRF token."""

    def __init__(self, app, user: str | None = None):
        from fastapi.testclient import TestClient

        self.http = TestClient(app, follow_redirects=False)
        self.csrf = ""
        if user is not None:
            answer = self.http.post("/api/v1/session", json={"username": user, "password": password(user)})
            assert answer.status_code == 201, answer.text
            self.csrf = answer.json()["csrf_token"]

    def get(self, url, **kw):
        return self.http.get(url, **kw)

    def post(self, url, csrf: bool = True, **kw):
        return self._change("post", url, csrf, **kw)

    def put(self, url, csrf: bool = True, **kw):
        return self._change("put", url, csrf, **kw)

    def patch(self, url, csrf: bool = True, **kw):
        return self._change("patch", url, csrf, **kw)

    def delete(self, url, csrf: bool = True, **kw):
        return self._change("delete", url, csrf, **kw)

    def _change(self, method, url, csrf, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if csrf and self.csrf:
            headers.setdefault("X-CSRF-Token", self.csrf)
        return getattr(self.http, method)(url, headers=headers, **kw)


@pytest.fixture
def web_app(web_study):
    from sarcotrial.web.app import create_app

    return create_app(study=web_study)


@pytest.fixture
def client_as(web_app):
    """``client_as("monitor")``: a client signed in with that role's account (or a user name)."""

    def make(role_or_user: str | None) -> Client:
        if role_or_user is None:
            return Client(web_app)
        user = NAMES[role_or_user][0] if role_or_user in NAMES else role_or_user
        return Client(web_app, user)

    return make


# --------------------------------------------------------------------------- a real server and browser
def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    return found


def _require_browser() -> bool:
    return os.environ.get(BROWSER_ENV, "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run (Debian's, driven by Playwright)."""
    path = chromium_path()
    reason = None
    if path is None:
        reason = "no Chromium installed (apt-get install chromium); browser tests need one"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "Playwright is not installed (pip install -e '.[dev]')"
    if reason is not None:
        if _require_browser():
            pytest.fail(f"{reason}, and {BROWSER_ENV}=1 forbids skipping")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=path, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


class LiveServer:
    def __init__(self, app):
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(web_app):
    with LiveServer(web_app) as server:
        yield server


@pytest.fixture
def page(browser, live_server, request):
    """A new browser page (its own cookies) on the live server; every request it makes outside
    the server fails the test."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.set_default_timeout(10000)
    yield page
    context.close()
    assert not outside, f"pages asked for addresses outside the server: {outside}"
    csp = [e for e in errors if "Content Security Policy" in e or "Refused to" in e]
    assert not csp, f"the Content-Security-Policy blocked something the page needed: {csp}"


def sign_in_page(page, user: str) -> None:
    """Sign in through the sign-in form, as a person would."""
    page.goto("/signin")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/signin" not in url)


def shot(page, name: str) -> Path:
    """A full-page screenshot kept as a test artefact."""
    ARTEFACTS.mkdir(exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pytest_collection_modifyitems(config, items):
    """Browser tests run on SQLite only: what they check is the pages, and every service under
    them is tested on both databases by the HTTP and service tests. A browser test marked
    ``both_databases`` runs on PostgreSQL too."""
    removed = [item for item in items if item.nodeid.startswith("tests/web/") and "page" in getattr(item, "fixturenames", ())
               and "[postgresql" in item.nodeid and item.get_closest_marker("both_databases") is None]
    if removed:
        config.hook.pytest_deselected(items=removed)
        items[:] = [item for item in items if item not in removed]
