"""The radiotherapy pages in a real browser: a research nurse opens a patient's course, records a
fraction through the form, checks a DICOM-RT plan and sees its DVH and verdict."""

from __future__ import annotations

import datetime as dt

import pytest

from sarcotrial.radiotherapy.calendar import treatment_dates
from sarcotrial.radiotherapy.planqa import plan_qa
from sarcotrial.services import forms, radiotherapy
from tests.radiotherapy.phantoms import sib_phantom
from tests.web.conftest import shot, sign_in_page

SUBJECT = "SPR-002"


@pytest.fixture
def course_under_way(web_study):
    """SPR-002's course from Monday 14 April 2025 (Italian holidays): fractions 1-5 delivered, 6 missed."""
    doctor = web_study.team.investigator
    forms.record(web_study, doctor, SUBJECT, "rt_course", {"planned_start": "2025-04-14", "calendar": "IT"})
    dates = treatment_dates(dt.date(2025, 4, 14), 6, "IT").dates
    for number, day in enumerate(dates[:5], start=1):
        forms.record(web_study, doctor, SUBJECT, "rt_fraction",
                     {"fraction_number": number, "fraction_date": day, "status": "delivered"})
    forms.record(web_study, doctor, SUBJECT, "rt_fraction",
                 {"fraction_number": 6, "fraction_date": dates[5], "status": "missed", "reason": "patient unwell"})
    return dates


def test_a_nurse_records_a_fraction_and_checks_a_plan(page, web_study, course_under_way, tmp_path):
    sign_in_page(page, "nina")
    page.goto(f"/patients/{SUBJECT}/rt")
    assert page.get_by_role("heading", name=f"{SUBJECT} · Radiotherapy").is_visible()
    assert page.locator('td[data-holiday="Easter Monday"]').is_visible()

    # fraction 6 made up the next treatment day, typed by keyboard into the protocol's fields
    made_up = treatment_dates(course_under_way[5] + dt.timedelta(days=1), 1, "IT").dates[0]
    page.get_by_label("Fraction number").fill("6")
    page.get_by_label("Date (required)", exact=True).fill(made_up.isoformat())
    page.get_by_label("Status").select_option("delivered")
    page.get_by_label("Reason (missed or rescheduled)").fill("")
    page.get_by_role("button", name="Record the fraction").click()
    page.wait_for_url(lambda url: "saved=fraction" in url)
    assert page.get_by_role("status").filter(has_text="Fraction recorded").is_visible()
    summary = radiotherapy.delivery(web_study, SUBJECT, web_study.team.investigator)
    assert summary.delivered == 6 and summary.missed == 1
    assert page.locator(f'td[data-date="{made_up.isoformat()}"][data-status="delivered"]').is_visible()
    assert page.get_by_text(f"{summary.overall_treatment_days} days so far").is_visible()
    shot(page, "rt-calendar")

    # a wrong date: the message beside the field, what was typed kept
    page.get_by_label("Fraction number").fill("7")
    page.get_by_label("Date (required)", exact=True).fill("2025-04-26")  # a Saturday
    page.get_by_label("Status").select_option("delivered")
    page.get_by_role("button", name="Record the fraction").click()
    error = page.locator("#fraction-fraction_date-error")
    error.wait_for()
    assert "not a treatment day" in error.inner_text()
    assert page.get_by_label("Date (required)", exact=True).input_value() == "2025-04-26"

    # plan QA: the phantom's files, its DVH and its verdict
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "minor")
    expected = plan_qa(web_study.protocol, rtss, rtdose, rtplan)
    page.goto(f"/patients/{SUBJECT}/rt")
    page.get_by_role("link", name="Check a DICOM-RT plan").click()
    page.get_by_label("RT structure set (RTSTRUCT)").set_input_files(str(rtss))
    page.get_by_label("RT dose (RTDOSE)").set_input_files(str(rtdose))
    page.get_by_label("RT plan (RTPLAN)").set_input_files(str(rtplan))
    page.get_by_role("button", name="Check the plan").click()
    verdict = page.locator("#verdict")
    verdict.wait_for()
    assert verdict.inner_text() == expected.verdict
    image = page.get_by_role("img", name="Cumulative DVHs")
    assert image.is_visible()
    assert image.evaluate("img => img.naturalWidth") > 300  # the PNG was drawn, not a broken image
    assert page.locator(".rt-objectives tbody tr").count() == len(expected.objectives)
    shot(page, "rt-planqa")
