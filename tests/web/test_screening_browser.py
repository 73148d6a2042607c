"""The screening pages in a real headless Chromium: a research nurse registers a referral, screens the
patient (a first attempt refused beside the field), records the consent and enrols, with the keyboard
and the mouse; the screenshots ``screening-log``, ``screening-checklist``, ``screening-enrolled`` are
kept in ``tests/web/artefacts/``."""

from __future__ import annotations

import datetime as dt

from sarcotrial.services import pathway, views
from tests.helpers import SCREENING
from tests.web.conftest import shot, sign_in_page


def test_a_nurse_registers_screens_consents_and_enrols(page, web_study):
    from playwright.sync_api import expect

    protocol = web_study.protocol
    # SPR-003 was screened and failed one criterion (arranged through the service)
    pathway.screen(web_study, web_study.team.research_nurse, "SPR-003",
                   {"screening_date": "2025-02-10", **SCREENING, "age_years": 53, "previous_rt_to_region": True})
    sign_in_page(page, "nina")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Screening").click()
    page.wait_for_url("**/screening")
    assert "Previous radiotherapy" in page.locator("#row-SPR-003").inner_text()

    # register a referral: the mouse to open the form, then the keyboard from field to field
    page.get_by_role("link", name="Register a referral").click()
    page.wait_for_url("**/screening/new")
    page.get_by_label("Full name").focus()
    page.keyboard.type("Bruno Browser (synthetic)")
    page.keyboard.press("Tab")
    page.get_by_label("Date of birth").fill("1958-04-12")
    page.get_by_label("Hospital number").focus()
    page.keyboard.type("HN-4242")
    page.get_by_label("Sex").select_option("male")
    page.get_by_label("Study site").select_option("MAIN")
    page.get_by_label("Date of referral").fill("2025-03-03")
    page.get_by_label("Anatomical site").select_option(label=protocol.codelists["anatomic_site"][0].label)
    page.get_by_label("Date of referral").focus()
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_url("**/screening/SPR-004?done=registered")
    assert "The referral is registered." in page.locator("main").inner_text()
    assert "Bruno Browser" not in page.content()  # the page is pseudonymised

    # a first screening with an age of "abc": the message beside the field, the keyboard on the summary
    page.get_by_label("Date of screening").fill("2025-03-10")
    page.get_by_label("Age at screening").fill("abc")
    answers = {"Soft tissue sarcoma histologically proven": "Yes", "Candidate for surgical resection": "Yes",
               "Previous radiotherapy to the region": "No", "Able to give informed consent": "Yes",
               "Written informed consent signed": "Yes", "Amputation planned": "No"}
    for question, answer in answers.items():
        page.get_by_role("radiogroup", name=question).get_by_label(answer, exact=True).check()
    page.get_by_label("Disease presentation").select_option("de_novo")
    page.get_by_label("Date of signed consent").fill("2025-03-10")
    page.get_by_role("button", name="Save the screening and decide eligibility").click()
    page.wait_for_selector("#f-age_years-error")
    assert "must be a whole number" in page.locator("#f-age_years-error").inner_text()
    expect(page.locator(".error-summary")).to_be_focused()  # the keyboard starts at the list of what to fix
    assert page.get_by_label("Age at screening").input_value() == "abc"
    assert page.get_by_role("radiogroup", name="Amputation planned").get_by_label("No", exact=True).is_checked()
    assert views.patient(web_study, web_study.team.research_nurse, "SPR-004").screenings == []
    shot(page, "screening-refused")
    # the summary's link takes the keyboard to the field
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.get_by_label("Age at screening").fill("66")
    page.get_by_label("Age at screening").press("Enter")
    page.wait_for_url("**/screening/SPR-004?done=screened*")
    assert page.locator("#decision").inner_text() == "Eligible"
    for criterion in protocol.eligibility.criteria:
        assert criterion.text in page.locator(f"#criterion-{criterion.id}").inner_text()
    assert "no consent is recorded" in page.locator("#enrol").inner_text()
    shot(page, "screening-checklist")

    # consent with the document's version (offered as the protocol's current one)
    spec = protocol.consent
    assert page.get_by_label("Version of the consent document signed").input_value() == spec.current_version
    page.get_by_label("Date the patient signed the consent").fill("2025-03-10")
    page.get_by_role("radiogroup", name="Consent to the use of data for research").get_by_label("Yes", exact=True).check()
    page.get_by_role("button", name="Record the consent").click()
    page.wait_for_url("**/screening/SPR-004?done=consent*")
    assert spec.current_version in page.locator("table.consents").inner_text()

    # enrolment: today's date offered, a confirmation asked
    assert page.get_by_label("Date of enrolment").input_value() == dt.date.today().isoformat()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Enrol SPR-004").click()
    page.wait_for_url("**/patients/SPR-004")
    record = views.patient(web_study, web_study.team.research_nurse, "SPR-004")
    assert record.status == "enrolled" and record.enrolment_date == dt.date.today()
    page.goto("/screening/SPR-004")
    assert "Enrolled on" in page.locator("#enrol").inner_text()
    shot(page, "screening-enrolled")
    page.goto("/screening")
    assert "Enrolled" in page.locator("#row-SPR-004").inner_text()
    shot(page, "screening-log")
