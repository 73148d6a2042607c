"""Adverse events in a real browser: the CTCAE term search driven with the keyboard, the grades
of the chosen term, and the safety page.

Source of the expected terms and grades: NCI CTCAE v5.0 (27 November 2017) as shipped in the
package ("Dermatitis radiation" allows grades 1 to 5; "Alopecia" grades 1 and 2 only).
"""

from __future__ import annotations

from sarcotrial.services import forms, views
from tests.web.conftest import shot, sign_in_page


def choose_with_keyboard(page, field_id: str, words: str, expected: str) -> None:
    """Type the words, go down into the suggestions with ↓ and choose NCI's term with Enter."""
    box = page.locator(f"#{field_id}")
    box.click()
    box.press_sequentially(words, delay=15)
    first = page.locator(f"#{field_id}-suggestions [data-ctcae-pick]").first
    first.wait_for()
    assert first.get_attribute("data-ctcae-pick") == expected
    box.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.ctcaePick") == expected
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#{field_id}-grades .ctcae-grade-card")
    assert box.input_value() == expected
    assert page.locator(f"#{field_id}-suggestions [data-ctcae-pick]").count() == 0


def test_the_ecrf_term_search_with_the_keyboard_stores_ncis_term(page, web_study):
    sign_in_page(page, "nina")
    page.goto("/patients/SPR-001/forms/adverse_event")
    choose_with_keyboard(page, "f-term", "radiation dermatitis", "Dermatitis radiation")
    grades = page.locator("#f-term-grades")
    assert grades.locator("tr.grade-allowed").count() == 5  # CTCAE v5.0: grades 1 to 5
    assert "Dermatitis radiation" in grades.inner_text()
    shot(page, "ctcae-search")

    page.get_by_role("textbox", name="CTCAE grade").fill("2")
    page.get_by_role("textbox", name="Onset date").fill("2025-03-01")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()
    stored = views.form_instances(web_study, web_study.team.monitor, "SPR-001", "adverse_event")
    assert [c.values["term"] for c in stored] == ["Dermatitis radiation"]


def test_the_safety_page_lookup_and_clock(page, web_study):
    forms.record(web_study, web_study.team.research_nurse, "SPR-001", "adverse_event",
                 {"term": "Wound infection", "grade": 3, "onset_date": "2025-05-02", "serious": True,
                  "seriousness": "hospitalisation", "aware_at": "2025-05-03T10:00", "attribution": "possible"})
    forms.record(web_study, web_study.team.research_nurse, "SPR-002", "adverse_event",
                 {"term": "hair loss", "grade": 1, "onset_date": "2025-03-01", "serious": False})
    sign_in_page(page, "nina")
    page.goto("/safety")
    assert page.get_by_role("heading", name="Serious adverse events and their reporting clock").is_visible()
    sae = page.locator("table.sae-table tbody tr")
    assert sae.count() == 1 and "overdue" in sae.inner_text()  # aware 3 May 2025 10:00, not reported

    page.get_by_label("Words for the adverse event").click()
    choose_with_keyboard(page, "f-lookup", "hair loss", "Alopecia")
    rows = page.locator("#f-lookup-grades tr")
    assert page.locator("#f-lookup-grades tr.grade-allowed").count() == 2  # Alopecia: grades 1 and 2 only
    assert "not allowed" in page.locator("#f-lookup-grades tr[data-grade='3']").inner_text()
    assert rows.count() == 6
    shot(page, "safety")

    # typing again drops the grades of the term chosen before; a click also chooses
    page.locator("#f-lookup").fill("")
    page.locator("#f-lookup").press_sequentially("oedema limb", delay=15)
    page.locator("#f-lookup-suggestions [data-ctcae-pick='Edema limbs']").click()
    page.wait_for_selector("#f-lookup-grades .ctcae-grade-card")
    assert "Edema limbs" in page.locator("#f-lookup-grades").inner_text()

    page.get_by_label("Serious only").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/safety?*serious=1*")
    assert page.locator("table.ae-table tbody tr").count() == 1
