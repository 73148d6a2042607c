"""The queries listing, the locks and signatures page and the signing page in a real browser."""

from __future__ import annotations

from sarcotrial.services import queries, review
from tests.edc_support import password
from tests.web.conftest import shot, sign_in_page


def test_a_monitor_filters_the_queries_listing(web_study, page):
    team = web_study.team
    queries.open_query(web_study, team.monitor, "SPR-001", "surgery", "procedure", "Procedure differs from the note")
    queries.open_query(web_study, team.monitor, "SPR-001", "pathology", "viable_percent", "Viable cells: check")
    queries.open_query(web_study, team.monitor, "SPR-003", "referral", "anatomic_site", "Check the letter")
    sign_in_page(page, "mona")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queries", exact=True).click()
    page.wait_for_url("**/queries")
    assert page.locator("tbody tr").count() == 3
    page.get_by_label("Form").select_option("pathology")  # the filter submits on change
    page.wait_for_url("**/queries?*form=pathology*")
    assert page.locator("tbody tr").count() == 1
    page.get_by_text("Thread (1)").click()
    assert page.get_by_label("Closing note (optional)").is_visible()
    page.get_by_label("Site").select_option("SAT")
    page.wait_for_url("**site=SAT*")
    assert page.get_by_text("No query matches these filters.").is_visible()
    page.get_by_role("link", name="Clear").click()
    page.wait_for_url("**/queries")
    shot(page, "queries")
    link = page.get_by_role("link", name="pathology.viable_percent")
    assert link.get_attribute("href") == "/patients/SPR-001/forms/pathology?visit=surgery%3A1&instance=1#field-viable_percent"


def test_a_data_manager_locks_a_form_with_a_reason(web_study, page):
    sign_in_page(page, "dana")
    page.goto("/review?subject=SPR-001")
    row = page.locator('tr[data-subject="SPR-001"][data-form="pathology"]')
    row.get_by_role("link", name="Lock").click()
    page.wait_for_url("**/review/lock?*")
    reason = page.get_by_label("Reason (optional)")
    reason.fill("Pathology reviewed; ready for analysis")
    reason.press("Tab")
    page.keyboard.press("Enter")  # the keyboard reaches the button
    page.wait_for_url("**/review?subject=SPR-001&done=lock")
    assert page.get_by_text("The lock is set.").is_visible()
    row = page.locator('tr[data-subject="SPR-001"][data-form="pathology"]')
    assert row.get_attribute("data-locked") == "yes"
    assert "Pathology reviewed; ready for analysis" in row.inner_text()
    board = review.lock_sign_board(web_study, web_study.team.data_manager, subject_id="SPR-001", state="locked")
    assert [(r.form_id, r.lock.locked_by) for r in board.rows] == [("pathology", "dana")]
    shot(page, "review")


def test_an_investigator_signs_after_entering_the_password_again(web_study, page):
    sign_in_page(page, "ivy")
    page.goto("/review?subject=SPR-001")
    page.locator('tr[data-subject="SPR-001"][data-form="surgery"]').get_by_role("link", name="Sign").click()
    page.wait_for_url("**/review/sign?*")
    assert page.get_by_label("Meaning of the signature").input_value() == "I have reviewed these data"
    assert "Dr Ivy Investigator (ivy)" in page.locator("#printed-name").inner_text()
    page.get_by_label("Your password, entered again to sign").fill("wrong-password")
    page.get_by_role("button", name="Sign", exact=True).click()
    assert page.locator("#password-error").is_visible()
    assert review.signatures(web_study, web_study.team.investigator, "SPR-001") == []
    page.get_by_label("Meaning of the signature").fill("I have reviewed the operation note")
    page.get_by_label("Your password, entered again to sign").fill(password("ivy"))
    assert page.locator("#meaning-preview").inner_text() == "I have reviewed the operation note"
    shot(page, "sign")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_url("**/review?subject=SPR-001&signed=*")
    [signature] = review.signatures(web_study, web_study.team.investigator, "SPR-001")
    assert signature.status == "valid" and signature.meaning == "I have reviewed the operation note"
    assert page.locator("#signed-flash").inner_text() == signature.manifestation()
