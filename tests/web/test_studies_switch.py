"""The browser in a database of several studies: the header's study switch, each study's pages showing its
own patients, the registry (the board) alike in both, and an account delegated to one study kept to it.

The expected patients come from the services' own rows (SPR-001..003 in SPRINT, SPR-003 taken into DOXAB as
DXA-001), not from the pages; screenshots go to ``tests/web/artefacts/``.
"""

from __future__ import annotations

from sarcotrial.services import access, pathway
from tests.edc_support import sign_in_as
from tests.web.conftest import Client, shot, sign_in_page, username


def _with_doxab(study):
    doxab = study.add_study("doxab", study.team.admin)
    pathway.add_to_study(doxab, study.team.research_nurse, "SPR-003", {"referral_date": "2025-02-03"})
    return doxab


def test_the_switch_changes_the_study_the_pages_show(web_app, web_study, client_as):
    _with_doxab(web_study)
    nurse = client_as("research_nurse")
    home = nurse.get("/patients")
    assert home.status_code == 200
    assert "/patients/SPR-001" in home.text and "/patients/DXA-001" not in home.text
    assert 'name="study"' in home.text and '<option value="DOXAB">' in home.text  # the switch, two studies
    switched = nurse.post("/study", data={"study": "doxab", "next": "/patients"})
    assert switched.status_code == 303 and switched.headers["location"] == "/patients"
    listed = nurse.get("/patients")
    assert "/patients/DXA-001" in listed.text and "/patients/SPR-001" not in listed.text
    assert "SarcoTrial <span class=\"study\">DOXAB v1.0" in listed.text
    # a study the database does not run is refused, and the browser stays where it was
    refused = nurse.post("/study", data={"study": "NOPE"})
    assert refused.status_code == 400 and "runs no study" in refused.text and "NOPE" in refused.text
    assert "/patients/DXA-001" in nurse.get("/patients").text
    # a script names the study in a header
    api = Client(web_app, username("research_nurse"))
    shown = api.get("/api/v1/patients", headers={"X-SarcoTrial-Study": "DOXAB"}).json()
    assert [p["subject_id"] for p in shown["patients"]] == ["DXA-001"]


def test_an_account_delegated_to_one_study_works_in_it_alone(web_app, web_study):
    _with_doxab(web_study)
    access.add_user(web_study, web_study.team.admin, "dora", full_name="Dora Doxab Nurse", role="research_nurse",
                    password="dora-password-1", delegate=["DOXAB"])
    dora = Client(web_app)
    answer = dora.http.post("/api/v1/session", json={"username": "dora", "password": "dora-password-1"})
    assert answer.status_code == 201
    dora.csrf = answer.json()["csrf_token"]
    page = dora.get("/patients")  # starts in the study delegated to, not the server's first
    assert page.status_code == 200 and "/patients/DXA-001" in page.text and "/patients/SPR-001" not in page.text
    assert '<option value="SPRINT">' not in page.text  # the switch lists her studies only: none to switch to
    refused = dora.get("/api/v1/patients", headers={"X-SarcoTrial-Study": "SPRINT"})
    assert refused.status_code == 403 and "not delegated to SPRINT" in refused.text
    # the command line's services refuse the same
    from sarcotrial.errors import AccessDenied
    from sarcotrial.services import views

    try:
        views.patients(web_study, sign_in_as("dora"))
    except AccessDenied as exc:
        assert "not delegated to SPRINT" in str(exc)
    else:
        raise AssertionError("a DOXAB delegate read SPRINT's patients")


def test_in_the_browser_a_nurse_switches_to_the_second_study(page, web_study):
    _with_doxab(web_study)
    sign_in_page(page, username("research_nurse"))
    page.goto("/patients")
    assert page.locator("text=SPR-001").count() >= 1
    page.get_by_label("Study").select_option("DOXAB")
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url("**/patients")
    assert page.locator(".brand .study").inner_text().startswith("DOXAB")
    assert page.locator("text=DXA-001").count() >= 1 and page.locator("text=SPR-001").count() == 0
    shot(page, "study-switch-doxab")
    # the board's registry is the same in either study
    page.goto("/board")
    assert page.locator("h1").count() >= 1
