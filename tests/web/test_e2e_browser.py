"""A patient's way through the study in a real headless Chromium, each step done by the person
whose job it is, in their own browser session:

a research nurse signs in, registers, screens and enrols a patient, records radiotherapy fractions
and an adverse event (found from the words "radiation dermatitis"); a monitor opens a query on the
grade; the nurse answers it by correcting the value; the monitor closes the query and verifies the
form; the investigator signs it; the data manager locks it; a later edit is refused; the audit
trail shows every step. A screenshot of each step is kept in ``tests/web/artefacts/e2e-*.png``.

The rules applied on the way are each tested with their sources elsewhere; here the point is that
a person can do the whole of it through the pages, and that what they did is what was stored.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from sarcotrial.services import forms, queries, review, views
from tests.edc_support import password
from tests.web.conftest import shot, sign_in_page

SUBJECT = "SPR-004"  # the next subject id of ``web_study``
REFERRAL, SCREENING, ENROLMENT = "2026-10-19", "2026-10-26", "2026-10-28"
RT_START = "2026-11-02"  # a Monday
FRACTIONS = ["2026-11-02", "2026-11-03", "2026-11-04"]
AE_ONSET = "2026-11-20"


@pytest.fixture
def session_for(browser, live_server):
    """``session_for("mona")``: a new browser session (its own cookies) signed in as that user."""
    contexts = []

    def make(user: str):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server.url)
                      else route.abort())
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10000)
        sign_in_page(page, user)
        return page

    yield make
    for context in contexts:
        context.close()


def the_event(study):
    [event] = views.form_instances(study, None, SUBJECT, "adverse_event")
    return event


def test_a_patients_way_through_the_study(page, web_study, session_for):
    protocol = web_study.protocol
    nurse = page

    # 1. the research nurse registers, screens and enrols the patient
    sign_in_page(nurse, "nina")
    nurse.goto("/screening/new")
    nurse.get_by_label("Full name").fill("Erika End-to-end (synthetic)")
    nurse.get_by_label("Date of birth").fill("1961-06-30")
    nurse.get_by_label("Hospital number").fill("HN-E2E-1")
    nurse.get_by_label("Sex").select_option("female")
    nurse.get_by_label("Study site").select_option("MAIN")
    nurse.get_by_label("Date of referral").fill(REFERRAL)
    nurse.get_by_label("Anatomical site").select_option(label=protocol.codelists["anatomic_site"][0].label)
    nurse.get_by_role("button", name=re.compile("Register")).click()
    nurse.wait_for_url(f"**/screening/{SUBJECT}?done=registered")
    nurse.get_by_label("Date of screening").fill(SCREENING)
    nurse.get_by_label("Age at screening").fill("65")
    for question, answer in {"Soft tissue sarcoma histologically proven": "Yes",
                             "Candidate for surgical resection": "Yes", "Previous radiotherapy to the region": "No",
                             "Able to give informed consent": "Yes", "Written informed consent signed": "Yes",
                             "Amputation planned": "No"}.items():
        nurse.get_by_role("radiogroup", name=question).get_by_label(answer, exact=True).check()
    nurse.get_by_label("Disease presentation").select_option("de_novo")
    nurse.get_by_label("Date of signed consent").fill(SCREENING)
    nurse.get_by_role("button", name="Save the screening and decide eligibility").click()
    nurse.wait_for_url(f"**/screening/{SUBJECT}?done=screened*")
    assert nurse.locator("#decision").inner_text() == "Eligible"
    nurse.get_by_label("Date the patient signed the consent").fill(SCREENING)
    nurse.get_by_role("radiogroup", name="Consent to the use of data for research").get_by_label(
        "Yes", exact=True).check()
    nurse.get_by_role("button", name="Record the consent").click()
    nurse.wait_for_url(f"**/screening/{SUBJECT}?done=consent*")
    nurse.get_by_label("Date of enrolment").fill(ENROLMENT)
    nurse.once("dialog", lambda dialog: dialog.accept())
    nurse.get_by_role("button", name=f"Enrol {SUBJECT}").click()
    nurse.wait_for_url(f"**/patients/{SUBJECT}")
    shot(nurse, "e2e-1-enrolled")
    record = views.patient(web_study, None, SUBJECT)
    assert record.status == "enrolled" and record.enrolment_date == dt.date.fromisoformat(ENROLMENT)

    # 2. the radiotherapy course and three fractions
    nurse.goto(f"/patients/{SUBJECT}/rt")
    nurse.get_by_label("Planned first fraction").fill(RT_START)
    nurse.get_by_label("Holiday calendar").select_option("IT")
    nurse.get_by_role("button", name=re.compile("course", re.I)).first.click()
    nurse.wait_for_url(f"**/patients/{SUBJECT}/rt*")
    for number, day in enumerate(FRACTIONS, start=1):
        nurse.get_by_label("Fraction number").fill(str(number))
        nurse.get_by_label("Date (required)", exact=True).fill(day)
        nurse.get_by_label("Status").select_option("delivered")
        nurse.get_by_role("button", name="Record the fraction").click()
        nurse.wait_for_url(lambda url: "saved=fraction" in url)
        assert nurse.locator(f'td[data-date="{day}"][data-status="delivered"]').is_visible()
    shot(nurse, "e2e-2-radiotherapy")
    assert views.patient(web_study, None, SUBJECT).delivered_dates() == [dt.date.fromisoformat(d) for d in FRACTIONS]

    # 3. an adverse event, its term found from the clinician's words
    nurse.goto(f"/patients/{SUBJECT}/forms/adverse_event")
    nurse.locator("#f-term").fill("radiation dermatitis")
    pick = nurse.locator('[data-ctcae-pick="Dermatitis radiation"]')
    pick.wait_for()
    pick.click()
    assert nurse.locator("#f-term").input_value() == "Dermatitis radiation"
    nurse.locator('#f-term-grades tr[data-grade="2"]').wait_for()  # the grade definitions of the term chosen
    nurse.locator("#f-grade").fill("2")
    nurse.locator("#f-onset_date").fill(AE_ONSET)
    nurse.get_by_role("button", name="Save", exact=True).click()
    nurse.wait_for_url(re.compile(r"record=\d+"))
    shot(nurse, "e2e-3-adverse-event")
    event = the_event(web_study)
    assert (event.values["term"], event.values["grade"]) == ("Dermatitis radiation", 2)
    form_url = f"/patients/{SUBJECT}/forms/adverse_event?record={event.id}"

    # 4. the monitor opens a query on the grade
    monitor = session_for("mona")
    monitor.goto(form_url)
    monitor.locator("#field-grade summary").click()
    monitor.get_by_label("New query on “CTCAE grade”").fill("The clinic note describes grade 1 (faint erythema)")
    monitor.locator("#field-grade").get_by_role("button", name="Open a query").click()
    monitor.wait_for_url(re.compile(r"#field-grade"))
    assert monitor.locator("#row-grade .query-badge").inner_text().strip() == "1 open query"
    shot(monitor, "e2e-4-query-opened")
    [query] = [q for q in queries.list_queries(web_study, web_study.team.monitor, subject_id=SUBJECT)]
    assert query.status == "open" and query.field == "grade"

    # 5. the nurse answers it by correcting the value
    nurse.goto(form_url)
    nurse.locator("#f-grade").fill("1")
    nurse.get_by_label(re.compile(rf"This correction answers query #{query.id}")).check()
    nurse.get_by_label("Reason for the change").fill("Grade taken from the clinic note of 20 November")
    nurse.get_by_role("button", name="Save the correction").click()
    nurse.wait_for_url(re.compile(r"record=\d+"))
    shot(nurse, "e2e-5-corrected")
    assert the_event(web_study).values["grade"] == 1
    [answered] = queries.list_queries(web_study, web_study.team.monitor, subject_id=SUBJECT)
    assert answered.status == "answered"

    # 6. the monitor closes the query and verifies the form
    monitor.goto(form_url)
    panel = monitor.locator("#field-grade")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    panel.get_by_role("button", name="Close").click()
    monitor.wait_for_url(re.compile(r"#field-grade"))
    monitor.get_by_role("button", name="Mark the whole form source-verified").click()
    monitor.wait_for_url(re.compile(r"/forms/adverse_event"))
    shot(monitor, "e2e-6-closed-and-verified")
    [closed] = queries.list_queries(web_study, web_study.team.monitor, subject_id=SUBJECT)
    assert closed.status == "closed"
    event = the_event(web_study)
    assert set(event.verified) >= {k for k, v in event.values.items() if v is not None}

    # 7. the investigator signs it, entering the password again
    investigator = session_for("ivy")
    investigator.goto(form_url)
    investigator.get_by_role("link", name="Sign this form").click()
    investigator.wait_for_url("**/review/sign?*")
    investigator.get_by_label("Your password, entered again to sign").fill(password("ivy"))
    investigator.get_by_role("button", name="Sign", exact=True).click()
    investigator.wait_for_url("**/review?*signed=*")
    shot(investigator, "e2e-7-signed")
    [signature] = review.signatures(web_study, web_study.team.investigator, SUBJECT)
    assert signature.status == "valid" and signature.form_id == "adverse_event"

    # 8. the data manager locks it, with a reason
    manager = session_for("dana")
    manager.goto(form_url)
    manager.get_by_role("link", name="Lock", exact=True).click()
    manager.wait_for_url("**/review/lock?*")
    manager.get_by_label(re.compile("Reason")).fill("Adverse event reviewed, signed and verified")
    manager.get_by_role("button", name=re.compile("^Lock")).click()
    manager.wait_for_url("**/review?*done=lock*")
    shot(manager, "e2e-8-locked")

    # 9. a later edit is refused: the form is read-only, and a save sent anyway changes nothing
    nurse.goto(form_url)
    assert "locked" in nurse.locator("main").inner_text().lower()
    assert nurse.get_by_role("button", name="Save the correction").count() == 0
    csrf = nurse.locator('input[name="csrf_token"]').first.get_attribute("value")
    answer = nurse.request.post(f"/patients/{SUBJECT}/forms/adverse_event?record={event.id}",
                                form={"csrf_token": csrf, "record": str(event.id), "grade": "3",
                                      "term": "Dermatitis radiation", "onset_date": AE_ONSET,
                                      "reason": "late change", "revision": str(event.revision)})
    assert answer.status in (400, 403, 409, 422) and "lock" in answer.text().lower()
    shot(nurse, "e2e-9-locked-read-only")
    assert the_event(web_study).values["grade"] == 1
    with pytest.raises(Exception, match="lock"):
        forms.correct(web_study, web_study.team.research_nurse, SUBJECT, "adverse_event", {"grade": 3},
                      "late change", record_id=event.id)

    # 10. the audit trail shows every step, by whom
    manager.goto(f"/audit?subject={SUBJECT}")
    manager.wait_for_load_state("networkidle")
    trail = manager.locator("main").inner_text()
    shot(manager, "e2e-10-audit-trail")
    csv = manager.request.get(f"/audit.csv?subject={SUBJECT}").text()
    for expected in ("Dermatitis radiation", "Grade taken from the clinic note of 20 November",
                     "The clinic note describes grade 1", "Adverse event reviewed, signed and verified",
                     "nina", "mona", "ivy", "dana", FRACTIONS[-1]):
        assert expected in csv, expected
    for table in ("screening", "enrolment", "crf_instance", "data_query", "signature", "data_lock"):
        assert table in csv, table
    assert SUBJECT in trail
