"""In a real browser: the dashboard, the record status grid (filtered, a cell clicked through to
its form's address) and a patient's page, with the keyboard where it matters; screenshots kept."""

from __future__ import annotations

import re

from sarcotrial.services import review
from tests.web.conftest import shot, sign_in_page


def test_dashboard_grid_and_patient_page(web_study, page):
    review.verify_source(web_study, web_study.team.monitor, "SPR-001", "surgery")
    sign_in_page(page, "mona")
    page.goto("/")
    assert page.get_by_role("heading", name="Accrual").is_visible()
    plot = page.get_by_role("img", name=re.compile("Cumulative enrolment"))
    assert plot.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator("#h-status").is_visible()
    shot(page, "dashboard")

    page.get_by_role("link", name="Record status").click()
    page.wait_for_url("**/grid")
    page.get_by_label("Form state").select_option("verified")  # submits on change
    page.wait_for_url(re.compile(r"/grid\?.*status=verified"))
    rows = page.locator("table.grid-table tbody th[scope=row] a")
    assert rows.all_inner_texts() == ["SPR-001"]
    page.get_by_label("Site").focus()
    shot(page, "grid")
    cell = page.locator('a.icon.match[href^="/patients/SPR-001/forms/surgery"]')
    cell.focus()
    page.keyboard.press("Enter")  # the cell is a link: the keyboard opens it
    page.wait_for_url(re.compile(r"/patients/SPR-001/forms/surgery\?visit=surgery:1$"))

    page.goto("/patients")
    page.get_by_label("Subject id").fill("001")
    page.get_by_label("Subject id").press("Enter")
    page.get_by_role("link", name="SPR-001").click()
    page.wait_for_url("**/patients/SPR-001")
    assert page.get_by_role("heading", name="Pathway").is_visible()
    assert page.locator("ol.timeline li", has_text="Surgery").locator(".when").inner_text() == "2025-04-17"
    page.get_by_label("Purpose").fill("source data verification")
    page.get_by_role("button", name="Show identifiers").click()
    page.wait_for_selector("#identifiers")
    assert "H0001" in page.locator("#identifiers").inner_text()
    shot(page, "patient")


def test_the_grid_on_a_tablet(web_study, page):
    page.set_viewport_size({"width": 820, "height": 1100})
    sign_in_page(page, "nurse.sat")
    page.goto("/grid")
    assert page.locator("table.grid-table tbody th[scope=row] a").all_inner_texts() == ["SPR-003"]
    # the filters stay within the screen; the table scrolls inside its frame, not the page
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 820, width
    shot(page, "grid-tablet")
