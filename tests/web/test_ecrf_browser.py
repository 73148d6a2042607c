"""The eCRF in a real browser: entry by keyboard, a wrong value typed reaching the server and coming
back beside its field, a double submit writing one instance, the unsaved-changes warning, a stale
save, and a field's query thread; with screenshots of each (``tests/web/artefacts/ecrf-*.png``).
"""

from __future__ import annotations

import re

from sarcotrial.services import forms, queries, views
from tests.web.conftest import shot, sign_in_page


def instances(study, subject, form_id):
    return views.form_instances(study, None, subject, form_id)


def test_entry_by_keyboard_a_wrong_decimal_comes_back_beside_its_field_then_saves(page, web_study):
    sign_in_page(page, "nina")
    page.goto("/patients/SPR-002/forms/diagnosis")
    shot(page, "ecrf-empty-form")
    page.get_by_label("Date of histological diagnosis", exact=True).click()
    page.keyboard.type("2025-01-10")
    page.get_by_label("Histotype (WHO 2020 catalogue id)", exact=True).fill("desmoid_fibromatosis")
    page.get_by_label("Anatomical site", exact=True).select_option("extremity")
    page.locator("#f-size_cm").fill("12,5")   # a comma: the browser sends it as typed
    page.get_by_role("group", name="Regional nodes (cN)").locator("input[value=N0]").check()
    page.get_by_role("group", name="Distant metastasis (cM)").locator("input[value=M0]").check()
    page.locator("#f-size_cm").focus()
    page.keyboard.press("Enter")             # Enter in a field submits the form
    page.wait_for_selector("#e-size_cm")
    assert "must be a number" in page.locator("#e-size_cm").inner_text()
    assert page.locator("#f-size_cm").input_value() == "12,5"
    assert page.locator("#f-histotype").input_value() == "desmoid_fibromatosis"
    assert page.locator("#f-size_cm").get_attribute("aria-invalid") == "true"
    shot(page, "ecrf-form-with-errors")
    assert instances(web_study, "SPR-002", "diagnosis") == []
    page.locator("#f-size_cm").fill("12.5")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"record=\d+"))
    assert "Saved" in page.locator(".flash.ok").inner_text()
    stored = instances(web_study, "SPR-002", "diagnosis")
    assert len(stored) == 1 and stored[0].values["size_cm"] == 12.5


def test_a_double_submit_writes_one_instance(page, web_study):
    sign_in_page(page, "nina")
    page.goto("/patients/SPR-001/forms/follow_up")
    page.get_by_label("Visit date", exact=True).fill("2025-07-20")
    page.get_by_label("Alive with disease").check()
    page.get_by_role("button", name="Save", exact=True).dblclick()
    page.wait_for_url(re.compile(r"record=\d+"))
    page.wait_for_load_state("networkidle")
    assert len(instances(web_study, "SPR-001", "follow_up")) == 1


def test_leaving_with_unsaved_changes_warns(page, web_study):
    qid = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "surgery_date", "Check the date")
    sign_in_page(page, "nina")
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", on_dialog)
    page.goto("/patients/SPR-001/forms/surgery")
    # typing an answer in a field's query panel is no change of the form's values
    page.get_by_label(f"Answer to query #{qid}").fill("Checked against the theatre list")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(lambda url: "/forms/" not in url)
    assert dialogs == []
    page.goto("/patients/SPR-001/forms/surgery")
    page.locator("#f-surgery_date").click()
    page.keyboard.press("End")
    page.keyboard.type("9")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    assert "/forms/surgery" in page.url


def test_a_stale_save_shows_both_values_in_the_browser(page, web_study):
    crf = instances(web_study, "SPR-001", "surgery")[0]
    sign_in_page(page, "nina")
    page.goto("/patients/SPR-001/forms/surgery")
    forms.correct(web_study, web_study.team.investigator, "SPR-001", "surgery", {"surgery_date": "2025-04-16"},
                  "theatre list", record_id=crf.id)
    page.locator("#f-surgery_date").fill("2025-04-18")
    page.get_by_label("Reason for the change").fill("operation note")
    page.get_by_role("button", name="Save the correction").click()
    page.wait_for_selector("#stale")
    assert "changed by ivy" in page.locator("#stale").inner_text()
    note = page.locator("#c-surgery_date").inner_text()
    assert "2025-04-16" in note and "2025-04-18" in note
    assert page.locator("#f-surgery_date").input_value() == "2025-04-18"
    shot(page, "ecrf-stale-save")
    assert instances(web_study, "SPR-001", "surgery")[0].values["surgery_date"].isoformat() == "2025-04-16"


def test_a_field_panel_shows_the_query_thread_and_opens_by_keyboard(page, web_study):
    qid = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "surgery_date",
                             "The operation note says 16 April")
    queries.respond(web_study, web_study.team.research_nurse, qid, "confirmed", "Theatre list says 17 April")
    queries.reopen(web_study, web_study.team.monitor, qid, "Please attach the theatre list")
    sign_in_page(page, "mona")
    page.goto("/patients/SPR-001/forms/surgery")
    badge = page.locator("#row-surgery_date .query-badge")
    assert badge.inner_text().strip() == "1 open query"
    panel = page.locator("#field-surgery_date")
    assert panel.get_attribute("open") is not None  # a field with an open query shows its panel
    thread = panel.locator("ol.thread li")
    assert thread.count() == 3
    assert "The operation note says 16 April" in thread.nth(0).inner_text()
    assert "Theatre list says 17 April" in thread.nth(1).inner_text()
    assert "ivy" not in thread.nth(1).inner_text() and "nina" in thread.nth(1).inner_text()
    other = page.locator("#field-procedure summary")
    other.focus()
    page.keyboard.press("Enter")  # a panel opens from the keyboard
    assert page.locator("#field-procedure").get_attribute("open") is not None
    assert page.get_by_label("New query on “Procedure”").is_visible()
    page.locator("#field-surgery_date").scroll_into_view_if_needed()
    shot(page, "ecrf-field-panel-query-thread")


def test_a_monitor_opens_a_query_and_verifies_a_field_from_its_panel(page, web_study):
    sign_in_page(page, "mona")
    page.goto("/patients/SPR-001/forms/surgery")
    page.locator("#field-procedure summary").click()
    page.get_by_label("New query on “Procedure”").fill("Procedure differs from the operation note")
    page.locator("#field-procedure").get_by_role("button", name="Open a query").click()
    page.wait_for_url(re.compile(r"/patients/SPR-001/forms/surgery\?record=\d+#field-procedure"))
    assert page.locator("#row-procedure .query-badge").inner_text().strip() == "1 open query"
    assert "Procedure differs from the operation note" in page.locator("#field-procedure ol.thread").inner_text()
    page.locator("#field-surgery_date summary").click()
    page.locator("#field-surgery_date").get_by_role("button", name="Mark “Date of surgery” source-verified").click()
    page.wait_for_url(re.compile(r"#field-surgery_date"))
    assert "verified" in page.locator("#field-surgery_date .sdv").inner_text()
    crf = instances(web_study, "SPR-001", "surgery")[0]
    assert "surgery_date" in crf.verified and crf.verified["surgery_date"].startswith("mona")
    opened = [q for q in queries.list_queries(web_study, web_study.team.monitor) if q.field == "procedure"]
    assert len(opened) == 1 and opened[0].opened_by == "mona"
