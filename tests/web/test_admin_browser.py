"""Administration, the audit trail and the study report in a real browser: labels, keyboard, the
main flows, no CSP violation, and screenshots (``tests/web/artefacts/admin.png``, ``audit.png``,
``report.png``)."""

from __future__ import annotations

import re

from sarcotrial.services import access, forms
from tests.web.conftest import shot, sign_in_page


def test_an_admin_adds_an_account_and_creates_a_token(page, web_study, live_server):
    sign_in_page(page, "admin")
    page.goto("/admin")
    page.get_by_role("link", name="Add an account").click()
    page.wait_for_url("**/admin/users/new")
    page.get_by_label("User name").fill("rita")
    page.get_by_label("Full name").fill("Rita Research Nurse")
    page.get_by_label("Role").select_option("research_nurse")
    page.get_by_label("SAT").check()
    page.get_by_label("Initial password", exact=True).fill("rita-initial-pass")
    page.get_by_label("Initial password again").fill("rita-initial-pass")
    page.get_by_label("Initial password again").press("Enter")  # submitted from the keyboard
    page.wait_for_url(re.compile(r".*/admin\?done=user.*"))
    assert page.get_by_role("status").first.inner_text().startswith("Account created")
    rita = next(a for a in access.list_users(web_study, web_study.team.admin) if a.user == "rita")
    assert rita.sites == ("SAT",) and rita.role == "research_nurse"

    page.get_by_label("What the token is for").fill("nightly export")
    page.get_by_role("button", name="Create a token").click()
    secret = page.get_by_label("Token", exact=True).input_value()
    assert secret.startswith("st_")
    assert "shown only this once" in page.locator("#new-token").inner_text()
    shot(page, "admin")
    page.goto("/admin")
    assert secret not in page.content()


def test_the_audit_trail_filtered_by_patient(page, web_study, live_server):
    forms.correct(web_study, web_study.team.research_nurse, "SPR-001", "surgery", {"surgery_date": "2025-04-18"},
                  "transcription error")
    sign_in_page(page, "dana")
    page.goto("/audit")
    page.get_by_label("Patient (subject id)").fill("SPR-001")
    page.get_by_label("Form").select_option("surgery")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*/audit\?.*subject=SPR-001.*"))
    rows = page.locator("table.audit-table tbody tr")
    assert rows.count() > 0
    subjects = set(rows.locator("td:nth-child(4)").all_inner_texts())
    assert subjects == {"SPR-001"}
    assert page.get_by_text("transcription error").count() >= 1
    page.get_by_text("Intact.").wait_for()  # the chain's check, loaded by htmx
    shot(page, "audit")


def test_the_report_is_built_and_read_in_the_application(page, web_study, live_server, tmp_path, monkeypatch):
    monkeypatch.setenv("SARCOTRIAL_REPORT_DIR", str(tmp_path / "reports"))
    sign_in_page(page, "ivy")
    page.goto("/report")
    shot(page, "report-form")
    page.get_by_label("Data cut-off date (optional)").fill("2025-06-30")
    page.get_by_role("button", name="Build the report").click()
    page.wait_for_url(re.compile(r".*/report/[A-Za-z0-9_-]{16,}$"), timeout=60000)
    assert page.get_by_role("heading", level=1).inner_text() == f"{web_study.protocol.acronym}: study report"
    images = page.locator("article.study-report img")
    assert images.count() > 0
    for i in range(images.count()):  # every figure loaded (served by the application); they load lazily, in view
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=10000)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the PDF").click()
    path = download.value.path()
    with open(path, "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    shot(page, "report")
