"""The patient list (``/patients``) and a patient's page (``/patients/{subject}``): the pathway as
a timeline with the dates the test recorded, the derived values, the visit schedule with windows;
identifiers only for the roles allowed (docs/roles.md: ``read.identifiers`` is the investigator's,
the research nurse's and the monitor's, not the data manager's or the statistician's), each
reading in the audit trail (pathway.identify)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from sarcotrial.services import forms, views, visits
from sarcotrial.store.models import IdentifierAccess


def listed(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/patients/([A-Z0-9-]+)">', html)


def readings(study) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count(IdentifierAccess.id))) or 0


def test_the_list_and_its_search(web_study, client_as):
    client = client_as("monitor")
    assert listed(client.get("/patients").text) == ["SPR-001", "SPR-002", "SPR-003"]
    assert listed(client.get("/patients?q=002").text) == ["SPR-002"]
    assert listed(client.get("/patients?q=spr-00").text) == ["SPR-001", "SPR-002", "SPR-003"]
    assert listed(client.get("/patients?status=referred").text) == ["SPR-003"]
    assert listed(client.get("/patients?q=%25").text) == []  # a LIKE wildcard is searched for as itself


def test_the_list_shows_derived_values(web_study, client_as):
    record = views.patient(web_study, web_study.team.monitor, "SPR-001")
    r_status = record.first("pathology").derived["r_status"]
    assert r_status == "R0"  # tests.edc_support.PATHOLOGY: tumour-free inked margin
    row = re.search(r'<a href="/patients/SPR-001">SPR-001</a></th>(.*?)</tr>', client_as("monitor").get("/patients").text,
                    re.S).group(1)
    assert "2025-01-22" in row and "<td>R0</td>" in row and "<td>enrolled</td>" in row


def test_a_site_limited_user_lists_and_opens_only_the_sites_patients(web_study, client_as):
    client = client_as("nurse.sat")
    assert listed(client.get("/patients").text) == ["SPR-003"]
    assert client.get("/patients/SPR-001").status_code == 404
    assert client.post("/patients", data={"hospital_number": "H0001"}).status_code == 404
    assert client.post("/patients/SPR-001/identifiers", data={"purpose": "x"}).status_code == 422
    assert readings(web_study) == 0


def test_find_by_hospital_number(web_study, client_as):
    answer = client_as("research_nurse").post("/patients", data={"hospital_number": " H0002 "})
    assert answer.status_code == 303 and answer.headers["location"] == "/patients/SPR-002"
    # linking a hospital number to a pseudonym is a reading of the identifiers, and is logged so
    readings = [e for e in views.audit_entries(web_study, web_study.team.admin, subject_id="SPR-002", limit=500)
                if e.table_name == "identifier_access"]
    assert any(e.new_value == "hospital number look-up" for e in readings)
    missing = client_as("research_nurse").post("/patients", data={"hospital_number": "H9999"})
    assert missing.status_code == 404 and 'id="e-hospital"' in missing.text
    assert 'value="H9999"' in missing.text  # what was typed is kept
    assert "H0002" not in client_as("research_nurse").get("/patients").text
    # a role without read.identifiers gets no field, and is refused
    page = client_as("statistician").get("/patients")
    assert 'name="hospital_number"' not in page.text
    assert client_as("statistician").post("/patients", data={"hospital_number": "H0002"}).status_code == 403


def test_the_timeline_shows_the_recorded_dates(web_study, client_as):
    team = web_study.team
    forms.record(web_study, team.investigator, "SPR-001", "follow_up", {"visit_date": "2025-07-17",
                                                                        "disease_status": "ned"})
    html = client_as("investigator").get("/patients/SPR-001").text
    timeline = html[html.index('id="h-timeline"'):html.index('id="h-derived"')]
    steps = re.findall(r'<span class="when">([^<]+)</span>\s*<strong>(?:<a [^>]*>)?([^<]+)', timeline)
    # tests.helpers.enrolled and tests.edc_support.operated: the dates this patient was built with
    for day, label in (("2025-01-20", "Screening"), ("2025-01-20", "Consent"), ("2025-01-22", "Enrolment"),
                       ("2025-04-17", "Surgery"), ("2025-04-28", "Pathology"), ("2025-07-17", "Follow-up")):
        assert (day, label) in steps, (day, label)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    assert 'href="/patients/SPR-001/forms/surgery?visit=surgery:1"' in timeline
    assert 'href="/patients/SPR-001/forms/follow_up?visit=follow_up_early:1&amp;instance=1"' in timeline
    derived = html[html.index('id="h-derived"'):html.index('id="h-endpoints"')]
    assert "<dt>Margin</dt><dd>R0, closest margin 3 mm (fascia)</dd>" in derived
    assert "pCR yes" in derived  # 3 % stainable cells, SPRINT pCR at most 5 %


def test_the_visit_schedule_with_windows(web_study, client_as):
    team = web_study.team
    schedule = visits.visits(web_study, team.investigator, "SPR-001")
    html = client_as("investigator").get("/patients/SPR-001").text
    section = html[html.index('id="visits"'):]
    for v in schedule:
        if v.window_start:
            assert f"{v.window_start} – {v.window_end}" in section
        assert f"status-{v.status}" in section
    # sprint.yaml follow_up_early: 3 months after the surgery (17 Apr 2025), window 14 days either side
    first = next(v for v in schedule if v.visit_id == "follow_up_early" and v.occurrence == 1)
    assert str(first.target_date) == "2025-07-17"
    assert re.search(r"Follow-up every 3 months \(years 1-2\)</th>\s*<td[^>]*>2025-07-17</td>\s*"
                     r"<td[^>]*>2025-07-03 – 2025-07-31</td>", section)


def test_links_follow_the_role(web_study, client_as):
    ivy = client_as("investigator").get("/patients/SPR-001").text
    for href in ("/patients/SPR-001/rt", "/safety", "/queries?subject=SPR-001", "/review?subject=SPR-001",
                 "/review/sign?subject=SPR-001", "/screening/SPR-001", "/audit?subject=SPR-001"):
        assert f'href="{href}"' in ivy, href
    nina = client_as("research_nurse").get("/patients/SPR-001").text
    assert 'href="/audit?subject=SPR-001"' not in nina  # nurses do not read the audit trail
    assert 'href="/review/sign?subject=SPR-001"' not in nina


def test_identifiers_after_a_post_by_an_allowed_role_and_the_reading_is_audited(web_study, client_as):
    client = client_as("monitor")
    page = client.get("/patients/SPR-001")
    assert "Show identifiers" in page.text and "H0001" not in page.text
    before = readings(web_study)
    shown = client.post("/patients/SPR-001/identifiers", data={"purpose": "source data verification"})
    assert shown.status_code == 200
    assert "H0001" in shown.text and "<dt>Hospital number</dt><dd>H0001</dd>" in shown.text
    assert readings(web_study) == before + 1
    trail = views.audit_entries(web_study, web_study.team.monitor, subject_id="SPR-001", limit=500)
    access = [e for e in trail if e.table_name == "identifier_access"]
    assert access and access[-1].actor == "mona"
    assert any(e.field == "purpose" and e.new_value == "source data verification" for e in access)
    assert "H0001" not in client.get("/patients/SPR-001").text  # shown once, not kept


def test_roles_without_read_identifiers_get_no_button_and_403(web_study, client_as):
    for role in ("data_manager", "statistician", "admin"):
        client = client_as(role)
        assert "Show identifiers" not in client.get("/patients/SPR-001").text
        answer = client.post("/patients/SPR-001/identifiers", data={"purpose": "curious"})
        assert answer.status_code == 403, role
        assert "H0001" not in answer.text
    assert readings(web_study) == 0


def test_the_identifiers_post_needs_the_csrf_token(web_study, client_as):
    answer = client_as("investigator").post("/patients/SPR-001/identifiers", data={"purpose": "x"}, csrf=False)
    assert answer.status_code == 403 and readings(web_study) == 0


def test_an_unknown_patient_is_404(web_study, client_as):
    assert client_as("investigator").get("/patients/SPR-999").status_code == 404
