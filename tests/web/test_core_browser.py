"""The web application's frame in a real headless Chromium: signing in and out, the error pages,
the API documentation, and that no page asks for anything outside the server or trips the CSP
(the ``page`` fixture fails the test on either)."""

from __future__ import annotations

from tests.edc_support import password
from tests.web.conftest import shot, sign_in_page


def test_sign_in_wrong_then_right_then_sign_out(page):
    page.goto("/?from=bookmark")
    assert "/signin" in page.url  # a page needs a signed-in user
    page.get_by_label("User name").fill("nina")
    page.get_by_label("Password").fill("not-her-password")
    page.keyboard.press("Enter")
    assert "wrong password" in page.locator("#signin-error").inner_text()
    assert page.get_by_label("User name").input_value() == "nina"  # what was typed is kept
    assert page.get_by_label("Password").input_value() == ""  # never the password
    shot(page, "signin-error")
    page.get_by_label("Password").fill(password("nina"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/?from=bookmark")  # back where the user was going
    assert "Nina Nurse" in page.locator("header").inner_text()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["sarcotrial_session"]["httpOnly"] and cookies["sarcotrial_session"]["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin?ended=signed_out")
    assert "signed out" in page.locator("main").inner_text()
    page.goto("/")
    assert "/signin" in page.url


def test_error_pages_in_the_application_style(page):
    sign_in_page(page, "mona")
    answer = page.goto("/no-such-page")
    assert answer.status == 404
    assert "404" in page.locator("h1").inner_text() and "Back to the dashboard" in page.locator("main").inner_text()
    shot(page, "error-404")


def test_keyboard_reaches_the_content_first(page):
    sign_in_page(page, "mona")
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Skip to content"


def test_api_reference_page(page):
    sign_in_page(page, "mona")
    page.goto("/api/docs")
    row = page.locator("tr", has=page.locator("td", has_text="/api/v1/session")).first
    assert "POST" in page.locator("table.api-ops").inner_text()
    assert row.is_visible()
    page.locator("#schema-Credentials summary").click()
    assert '"username"' in page.locator("#schema-Credentials pre").inner_text()
    shot(page, "api-docs")
