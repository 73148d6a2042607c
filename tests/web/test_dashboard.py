"""The dashboard (``/``): accrual against the target (with its plot), patients by pathway status,
visits due and overdue this week, open queries by age, serious adverse events' reporting clocks
and plan QA deviations; each figure compared with what the test recorded or with the services'
own answers, for the patients the user may see."""

from __future__ import annotations

import re
from types import SimpleNamespace

from sarcotrial.services import forms, overview, queries, safety, views, visits
from sarcotrial.services.planqa import store_plan_qa


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_accrual_and_statuses_are_the_services_counts(web_study, client_as):
    page = client_as("research_nurse").get("/")
    assert page.status_code == 200
    counts = views.status_counts(web_study, web_study.team.research_nurse)
    assert counts["enrolled"] == 2 and counts["target_accrual"] == 33  # SPR-001, SPR-002; sprint.yaml target_accrual
    accrual = _section(page.text, "h-accrual")
    assert re.search(r'<span class="big">2</span> of 33 enrolled\s*\(3 registered\)', accrual)
    statuses = _section(page.text, "h-status")
    for status, n in counts["by_status"].items():
        assert re.search(rf'{status.replace("_", " ")}</a></td><td class="num">{n}</td>', statuses), status
    assert counts["by_status"] == {"enrolled": 2, "referred": 1}


def test_the_accrual_plot_is_a_png(web_study, client_as):
    answer = client_as("statistician").get("/dashboard/accrual.png")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert answer.content[:8] == b"\x89PNG\r\n\x1a\n"
    dates, target = overview.accrual(web_study, web_study.team.statistician)
    assert [d.isoformat() for d in dates] == ["2025-01-22", "2025-01-22"] and target == 33


def test_a_site_limited_user_sees_only_the_sites_figures(web_study, client_as):
    team = web_study.team
    queries.open_query(web_study, team.monitor, "SPR-001", "surgery", "surgery_date", "Check the date")
    page = client_as("nurse.sat").get("/")
    assert page.status_code == 200
    assert re.search(r'<span class="big">0</span> of 33 enrolled\s*\(1 registered\)', page.text)
    assert "SPR-001" not in page.text and "SPR-002" not in page.text
    assert re.search(r'<span class="big">0</span> open', _section(page.text, "h-queries"))
    dates, _ = overview.accrual(web_study, _sat())
    assert dates == []


def _sat():
    from tests.edc_support import sign_in_as

    return sign_in_as("nurse.sat")


def test_open_queries_by_age(web_study, client_as):
    team = web_study.team
    queries.open_query(web_study, team.monitor, "SPR-001", "surgery", "surgery_date", "Check the date")
    second = queries.open_query(web_study, team.data_manager, "SPR-001", "pathology", "viable_percent", "Source?")
    queries.respond(web_study, team.investigator, second, "confirmed", "As in the report")
    page = client_as("monitor").get("/")
    listed = queries.list_queries(web_study, team.monitor)
    assert [q.status for q in listed] == ["open", "answered"] and listed[0].age_days == 0
    section = _section(page.text, "h-queries")
    assert re.search(r'<span class="big">1</span> open; 1 answered', section)
    assert re.search(r'<td>0-7 days</td><td class="num">1</td>', section)
    assert re.search(r'<td>over 30 days</td><td class="num">0</td>', section)


def test_serious_events_show_their_reporting_clock(web_study, client_as):
    """Regulation (EU) No 536/2014 Art. 41(2), sprint.yaml safety.report_within_hours 24: aware 3 May
    2025 10:00, not reported: overdue since 4 May 10:00 (the service's clock)."""
    team = web_study.team
    forms.record(web_study, team.investigator, "SPR-001", "adverse_event", {
        "term": "Wound infection", "grade": 3, "onset_date": "2025-05-02", "serious": True,
        "seriousness": "hospitalisation", "aware_at": "2025-05-03T10:00"})
    events = safety.serious_events(web_study, team.investigator)
    assert [(e.subject, e.status) for e in events] == [("SPR-001", "overdue")]
    section = _section(client_as("investigator").get("/").text, "h-sae")
    assert "SPR-001" in section and "Wound infection, grade 3" in section
    assert "2025-05-03 10:00" in section and "2025-05-04 10:00" in section
    assert '<span class="badge bad">overdue</span>' in section
    assert "SPR-001" not in _section(client_as("nurse.sat").get("/").text, "h-sae")


def test_visits_due_and_overdue_this_week(web_study, client_as):
    team = web_study.team
    week = visits.due(web_study, team.data_manager, days=6)
    assert week, "the study's patients have visits whose window has passed"
    section = _section(client_as("data_manager").get("/").text, "h-visits")
    overdue = [d for d in week if d.status == "overdue"]
    assert f"{len(overdue)} overdue" in section
    assert f"{len(week) - len(overdue)} due" in section
    for d in week:
        assert f'href="/patients/{d.subject}#visits"' in section
        assert f"{d.window_start} – {d.window_end}" in section
    # pinned from the protocol, not the code: SPRINT's baseline visit is due in the 28 days up to
    # enrolment (visits: baseline, anchor enrolment, window_before_days 28); both were enrolled on 22 Jan 2025
    # (tests.helpers.enrolled), so its window 2024-12-25 to 2025-01-22 passed long ago, unrecorded
    baseline = section[section.index("Baseline") - 300:section.index("Baseline") + 300]
    assert "2024-12-25 – 2025-01-22" in baseline and "overdue" in baseline
    assert section.count("Baseline") == 2  # SPR-001 and SPR-002; SPR-003 is not enrolled


def test_plan_qa_deviations_are_listed(web_study, client_as):
    team = web_study.team
    forms.record(web_study, team.investigator, "SPR-001", "rt_course", {"planned_start": "2025-02-03"})
    objective = {"structure": "PTV2", "metric": "D95", "value": 55.1, "verdict": "minor deviation"}
    qa = SimpleNamespace(plan_uid="1.2.3", dose_uid="1.2.4", end_cap="none", verdict="minor deviation",
                         objectives=[], consistency=[],
                         as_dict=lambda: {"verdict": "minor deviation", "objectives": [objective], "consistency": []})
    store_plan_qa(web_study, team.investigator, "SPR-001", qa)
    listed = overview.plan_qa_deviations(web_study, team.monitor)
    assert [(q.subject, q.verdict) for q in listed] == [("SPR-001", "minor deviation")]
    section = _section(client_as("monitor").get("/").text, "h-planqa")
    assert 'href="/patients/SPR-001/rt"' in section and "minor deviation" in section and "PTV2 D95 55.1" in section
    assert "No plan QA deviation" in _section(client_as("nurse.sat").get("/").text, "h-planqa")


def test_the_dashboard_needs_a_sign_in(web_app, client_as):
    answer = client_as(None).get("/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
