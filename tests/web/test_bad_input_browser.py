"""Bad input through a real browser: wrong values of every field type typed into an eCRF, an
oversized upload and a non-DICOM upload. Each is refused with its message where the user looks
(beside the field, or the application's own error page), what was typed is kept, and nothing is
written."""

from __future__ import annotations

from sarcotrial.services import access, views
from tests.web.conftest import shot, sign_in_page

# the adverse event form holds a text, an integer, a date and a date-time field; the diagnosis a decimal
WRONG = {"f-grade": ("two", "must be a whole number"), "f-onset_date": ("31/11/2025", "YYYY-MM-DD"),
         "f-resolution_date": ("2025-02-30", "YYYY-MM-DD"), "f-aware_at": ("yesterday at noon", "YYYY-MM-DD")}


def test_wrong_values_of_each_field_type_come_back_beside_their_fields(page, web_study):
    sign_in_page(page, "nina")
    page.goto("/patients/SPR-001/forms/adverse_event")
    page.locator("#f-term").fill("Fatigue")
    for field, (typed, _) in WRONG.items():
        page.locator(f"#{field}").fill(typed)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("#e-grade")
    for field, (typed, message) in WRONG.items():
        name = field[2:]
        assert message in page.locator(f"#e-{name}").inner_text(), name
        assert page.locator(f"#{field}").input_value() == typed  # what was typed is kept
    shot(page, "bad-input-every-type")
    assert views.form_instances(web_study, None, "SPR-001", "adverse_event") == []
    page.goto("/patients/SPR-002/forms/diagnosis")
    page.locator("#f-size_cm").fill("twelve")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("#e-size_cm")
    assert "must be a number" in page.locator("#e-size_cm").inner_text()
    assert views.form_instances(web_study, None, "SPR-002", "diagnosis") == []


def test_an_oversized_and_a_non_dicom_upload(page, web_study, tmp_path):
    access.set_setting(web_study, web_study.team.admin, "upload_limit_mb", "1")
    big = tmp_path / "big.dcm"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n", encoding="utf-8")
    sign_in_page(page, "nina")

    page.goto("/patients/SPR-002/rt/plan-qa")
    for label in ("RT structure set (RTSTRUCT)", "RT dose (RTDOSE)", "RT plan (RTPLAN)"):
        page.get_by_label(label).set_input_files(str(text))
    page.get_by_role("button", name="Check the plan").click()
    error = page.locator("#up-rtstruct-error")
    error.wait_for()
    assert "not a DICOM file" in error.inner_text()
    shot(page, "bad-input-non-dicom")

    page.goto("/patients/SPR-002/rt/plan-qa")
    for label in ("RT structure set (RTSTRUCT)", "RT dose (RTDOSE)", "RT plan (RTPLAN)"):
        page.get_by_label(label).set_input_files(str(big))
    with page.expect_navigation():
        page.get_by_role("button", name="Check the plan").click()
    assert "413" in page.locator("h1").inner_text()
    assert "larger than the limit of 1 MB" in page.locator("main").inner_text()
    assert "Nina Nurse" in page.locator("header").inner_text()  # still signed in, and told so
    shot(page, "bad-input-oversized")
    assert views.patient(web_study, None, "SPR-002").plan_qa == []
