"""The DOXAB patient page in a real browser at 1280 px: the protocol's own panels (the arm, the systemic
course, the RECIST 1.1 time points), no radiotherapy tab, every table within the page's width, nothing loaded
from outside the server (the ``page`` fixture fails the test otherwise). The patient and the expected values
are those of tests/web/test_patient_v2.py (its module docstring gives the hand computations and sources)."""

from __future__ import annotations

import pytest

from tests.web.conftest import shot, sign_in_page, username
from tests.web.test_patient_v2 import doxab, doxab_patient  # noqa: F401 - the fixture


@pytest.fixture
def web_app(doxab):  # noqa: F811 - the live server serves the DOXAB study
    from sarcotrial.web.app import create_app
    from tests.edc_support import staff

    doxab.subject = doxab_patient(doxab)
    staff(doxab)
    return create_app(study=doxab)


def test_the_doxab_patient_page(page, web_app):
    subject = web_app.state.study.subject
    sign_in_page(page, username("data_manager"))
    page.goto(f"/patients/{subject}")
    assert page.get_by_role("heading", name="Systemic therapy").is_visible()
    assert page.get_by_role("heading", name="Tumour response (RECIST 1.1)").is_visible()
    assert page.get_by_role("heading", name="Randomisation").is_visible()
    assert page.get_by_role("link", name="Radiotherapy").count() == 0
    # 3 x 75 mg/m2 over 10 weeks against 25 mg/m2 a week planned: 90 % (Hryniuk and Bush 1984)
    assert "90 %" in page.locator("#systemic").inner_text()
    assert page.locator("#timepoints tbody tr").count() == 3
    assert "PR (2025-03-05)" in page.locator("#best-unconfirmed").inner_text()
    # readable at 1280 px: nothing wider than the window
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    for table in ("#cycles", "#timepoints"):
        box = page.locator(table).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1280, table
    shot(page, "patient-doxab")
