"""The queries listing and the query actions through HTTP (docs/edc.md, "Queries"; docs/roles.md).

A query's age is the services' (``services.queries.list_queries``); queries dated in the past are
opened with the services' clock set back, so the ages are the services' own, not the page's.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from sarcotrial.services import queries
from sarcotrial.store import models


@pytest.fixture
def dated(web_study, monkeypatch):
    """Three queries opened by the monitor: 40 days ago (SPR-001 surgery), 10 days ago (SPR-003 at SAT,
    referral) and now (SPR-001 pathology); returns their ids in that order."""
    team = web_study.team
    now = models.utcnow()

    def opened(days, *args):
        monkeypatch.setattr(queries, "utcnow", lambda: now - dt.timedelta(days=days, hours=1))
        try:
            return queries.open_query(web_study, team.monitor, *args)
        finally:
            monkeypatch.setattr(queries, "utcnow", models.utcnow)

    old = opened(40, "SPR-001", "surgery", "procedure", "Procedure differs from the operation note")
    sat = opened(10, "SPR-003", "referral", "anatomic_site", "Check the referral letter")
    new = opened(0, "SPR-001", "pathology", "viable_percent", "Viable cells: please check the report")
    return old, sat, new


def row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="query-(\d+)"', html)]


def row(html: str, query_id: int) -> str:
    start = html.index(f'<tr id="query-{query_id}"')
    return html[start:html.index("</tr>", start)]


def test_listing_shows_the_services_ages_oldest_first_with_links_to_the_field(web_study, client_as, dated):
    old, sat, new = dated
    page = client_as("monitor").get("/queries")
    assert page.status_code == 200
    views = {q.id: q for q in queries.list_queries(web_study, web_study.team.monitor)}
    assert [views[i].age_days for i in (old, sat, new)] == [40, 10, 0]
    assert row_ids(page.text) == [old, sat, new]  # sortable by age: open longest first by default
    for query_id, view in views.items():
        html = row(page.text, query_id)
        assert f'data-age="{view.age_days}"' in html
        assert view.text in html
        link = (f"/patients/{view.subject}/forms/{view.form_id}?visit={view.visit_id}%3A{view.occurrence}"
                f"&amp;instance={view.instance}#field-{view.field}")
        assert f'href="{link}"' in html
    assert row_ids(client_as("monitor").get("/queries?order=newest").text) == [new, sat, old]


@pytest.mark.parametrize("params, expected", [
    ("age=gt30", "old"), ("age=7to30", "sat"), ("age=lt7", "new"), ("site=SAT", "sat"), ("form=pathology", "new"),
    ("subject=SPR-003", "sat"), ("status=closed", None), ("status=open&site=MAIN", "old new"),
])
def test_filters_narrow_the_listing(client_as, dated, params, expected):
    names = dict(zip(("old", "sat", "new"), dated))
    page = client_as("monitor").get(f"/queries?{params}")
    assert page.status_code == 200
    assert sorted(row_ids(page.text)) == sorted(names[n] for n in (expected or "").split())


def test_filter_by_who_opened(web_study, client_as, dated):
    mine = queries.open_query(web_study, web_study.team.data_manager, "SPR-001", "surgery", "surgery_date", "Date?")
    assert row_ids(client_as("monitor").get("/queries?opened_by=dana").text) == [mine]
    assert sorted(row_ids(client_as("monitor").get("/queries?opened_by=mona").text)) == sorted(dated)


def test_an_unknown_patient_in_the_filter_is_named_beside_it(client_as, dated):
    page = client_as("monitor").get("/queries?subject=SPR-999")
    assert page.status_code == 422
    assert 'id="f-subject-error"' in page.text and "no such subject id" in page.text
    assert 'value="SPR-999"' in page.text


def test_a_site_limited_user_sees_only_their_sites_queries(client_as, dated):
    _old, sat, _new = dated
    page = client_as("nurse.sat").get("/queries")
    assert page.status_code == 200
    assert row_ids(page.text) == [sat]
    assert "SPR-001" not in page.text


def test_open_respond_close_reopen_through_the_routes(web_study, client_as):
    field_page = "/patients/SPR-001/forms/pathology?visit=surgery:1#field-closest_margin_mm"
    monitor, nurse = client_as("monitor"), client_as("research_nurse")
    answer = monitor.post("/queries/open", data={"subject": "SPR-001", "form": "pathology",
                                                 "field": "closest_margin_mm", "visit": "surgery:1", "instance": "1",
                                                 "text": "Margin 3 mm? The report says 2 mm", "next": field_page})
    assert answer.status_code == 303 and answer.headers["location"] == field_page
    [view] = queries.list_queries(web_study, web_study.team.monitor)
    assert (view.subject, view.form_id, view.field, view.status) == ("SPR-001", "pathology", "closest_margin_mm", "open")

    steps = [(nurse, "respond", {"resolution": "confirmed", "text": "Report re-read: 3 mm"}, "answered"),
             (monitor, "close", {"text": "Agrees with the source"}, "closed"),
             (monitor, "reopen", {"text": "Please check the addendum"}, "open")]
    for client, step, data, status in steps:
        answer = client.post(f"/queries/{view.id}/{step}", data=data)
        assert answer.status_code == 303 and answer.headers["location"] == "/queries"
        [view] = queries.list_queries(web_study, web_study.team.monitor)
        assert view.status == status
        assert view.thread[-1]["text"] == data["text"]
    assert [m["kind"] for m in view.thread] == ["open", "answer", "close", "reopen"]
    page = monitor.get("/queries").text
    for text in ("Margin 3 mm? The report says 2 mm", "Report re-read: 3 mm", "Agrees with the source",
                 "Please check the addendum"):
        assert text in row(page, view.id)


def test_a_query_is_opened_on_the_record_the_panel_names(web_study, client_as):
    from sarcotrial.services import review

    board = review.lock_sign_board(web_study, web_study.team.monitor, subject_id="SPR-001", form_id="surgery")
    record = board.rows[0].record_id
    answer = client_as("data_manager").post("/queries/open", data={
        "subject": "SPR-001", "form": "surgery", "field": "procedure", "record": str(record), "text": "Which procedure?",
        "next": "https://elsewhere.example/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/"  # only a local path
    [view] = queries.list_queries(web_study, web_study.team.data_manager)
    assert (view.form_id, view.visit_id, view.field, view.opened_by) == ("surgery", "surgery", "procedure", "dana")


def test_an_empty_query_text_is_refused_beside_the_box(web_study, client_as):
    back = "/patients/SPR-001/forms/surgery?visit=surgery:1#field-procedure"
    answer = client_as("monitor").post("/queries/open", data={"subject": "SPR-001", "form": "surgery",
                                                              "field": "procedure", "text": "   ", "next": back})
    assert answer.status_code == 422
    error = re.search(r'<p class="error" id="q-text-error"[^>]*>([^<]*)</p>', answer.text)
    assert error and "say what is to be checked" in error.group(1)
    assert f'href="{back}"' in answer.text
    assert queries.list_queries(web_study, web_study.team.monitor) == []


def test_a_refused_step_keeps_the_typed_text(web_study, client_as):
    number = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "procedure", "Which?")
    answer = client_as("monitor").post(f"/queries/{number}/reopen",
                                       data={"text": "Typed with care", "next": "/queries?status=open"})
    assert answer.status_code == 422
    assert "already open" in answer.text
    assert ">Typed with care</textarea>" in answer.text
    assert 'href="/queries?status=open"' in answer.text
    [view] = queries.list_queries(web_study, web_study.team.monitor)
    assert [m["kind"] for m in view.thread] == ["open"]


def test_steps_without_the_permission_are_refused_and_write_nothing(web_study, client_as):
    """docs/roles.md: queries are opened, closed and reopened by the reviewers, answered by the site."""
    number = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "procedure", "Which?")
    nurse, monitor = client_as("research_nurse"), client_as("monitor")
    assert nurse.post(f"/queries/{number}/close", data={"text": "done"}).status_code == 403
    assert nurse.post("/queries/open", data={"subject": "SPR-001", "form": "surgery", "field": "procedure",
                                             "text": "mine"}).status_code == 403
    assert monitor.post(f"/queries/{number}/respond", data={"resolution": "confirmed",
                                                            "text": "fine"}).status_code == 403
    assert client_as("statistician").post(f"/queries/{number}/close", data={"text": "x"}).status_code == 403
    [view] = queries.list_queries(web_study, web_study.team.monitor)
    assert view.status == "open" and len(view.thread) == 1


def test_a_post_without_the_csrf_token_is_refused(web_study, client_as):
    number = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "procedure", "Which?")
    answer = client_as("monitor").post(f"/queries/{number}/close", data={"text": "done"}, csrf=False)
    assert answer.status_code == 403
    [view] = queries.list_queries(web_study, web_study.team.monitor)
    assert view.status == "open"


def test_the_listing_offers_only_the_steps_the_role_may_take(web_study, client_as):
    number = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "procedure", "Which?")
    nurse_row = row(client_as("research_nurse").get("/queries").text, number)
    monitor_row = row(client_as("monitor").get("/queries").text, number)
    assert f'action="/queries/{number}/respond"' in nurse_row and "/close" not in nurse_row
    assert f'action="/queries/{number}/close"' in monitor_row and "/respond" not in monitor_row
    for html in (nurse_row, monitor_row):  # every input labelled
        for ident in re.findall(r'<(?:textarea|select)[^>]* id="([^"]+)"', html):
            assert f'<label for="{ident}"' in html


def test_a_query_on_a_repeating_form_links_to_its_instance(web_study, client_as):
    """A query on the second follow-up visit opens that instance's form, not an empty new one."""
    from sarcotrial.services import forms

    team = web_study.team
    for day in ("2025-07-17", "2025-07-20"):
        forms.record(web_study, team.investigator, "SPR-001", "follow_up", {"visit_date": day, "disease_status": "ned"},
                     visit="unscheduled")
    number = queries.open_query(web_study, team.monitor, "SPR-001", "follow_up", "visit_date", "Which clinic letter?",
                                visit="unscheduled", instance=2)
    [query] = [q for q in queries.list_queries(web_study, team.monitor) if q.id == number]
    listing = client_as("research_nurse").get("/queries").text
    link = re.search(r'href="(/patients/SPR-001/forms/follow_up\?[^"]*)"', listing).group(1).replace("&amp;", "&")
    assert f"instance={query.instance}" in link
    page = client_as("research_nurse").get(link.split("#")[0]).text
    assert "2025-07-20" in page and "Which clinic letter?" in page
