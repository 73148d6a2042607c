"""The record status grid (``/grid``, REDCap's record status dashboard): patients x visits x forms,
each cell the state of a CRF instance (docs/edc.md: entered, incomplete, verified, signed, locked,
not done; an open query flagged), filtered by site, state and visit, paged, each cell a link to
its form; a site-limited user sees only the site's patients."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from sarcotrial.services import overview, pathway, queries, review
from sarcotrial.services import visits as visit_service

SURGERY_HREF = "/patients/SPR-001/forms/surgery?visit=surgery:1"


def cell_class(html: str, href: str) -> str:
    """The classes of the grid icon that links to ``href``."""
    found = re.search(r'<a class="icon ([^"]*)"\s*href="' + re.escape(href) + '"', html)
    assert found, f"no icon links to {href}"
    return found.group(1)


def subjects(html: str) -> list[str]:
    return re.findall(r'<th scope="row" class="sticky-col"><a href="/patients/([A-Z0-9-]+)">', html)


def test_a_form_shows_entered_then_verified_then_locked(web_study, client_as):
    team = web_study.team
    client = client_as("data_manager")
    assert "status-complete" in cell_class(client.get("/grid").text, SURGERY_HREF).split()
    review.verify_source(web_study, team.monitor, "SPR-001", "surgery")
    assert "status-verified" in cell_class(client.get("/grid").text, SURGERY_HREF).split()
    review.lock(web_study, team.data_manager, subject_id="SPR-001", form_id="surgery")
    assert "status-locked" in cell_class(client.get("/grid").text, SURGERY_HREF).split()
    # the state is the one the visit read gives (the CLI's `visits`)
    states = {(f.form_id, v.visit_id): f.status for v in visit_service.visits(web_study, team.data_manager, "SPR-001")
              for f in v.forms}
    assert states[("surgery", "surgery")] == "locked"


def test_an_open_query_is_flagged_on_its_form(web_study, client_as):
    queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "surgery_date", "Check the date")
    classes = cell_class(client_as("monitor").get("/grid").text, SURGERY_HREF).split()
    assert "has-query" in classes and "status-complete" in classes


def test_a_repeating_forms_cell_names_its_instance(web_study, client_as):
    team = web_study.team
    from sarcotrial.services import forms

    forms.record(web_study, team.investigator, "SPR-001", "follow_up", {"visit_date": "2025-07-17",
                                                                        "disease_status": "ned"})
    html = client_as("investigator").get("/grid").text
    assert re.search(r'href="/patients/SPR-001/forms/follow_up\?visit=follow_up_early:1&amp;instance=1"', html)


def test_filters_by_state_visit_and_site(web_study, client_as):
    team = web_study.team
    review.verify_source(web_study, team.monitor, "SPR-001", "surgery")
    client = client_as("data_manager")
    assert subjects(client.get("/grid").text) == ["SPR-001", "SPR-002", "SPR-003"]
    page = client.get("/grid?status=verified")
    assert subjects(page.text) == ["SPR-001"]
    assert "match" in cell_class(page.text, SURGERY_HREF).split()
    # the baseline visit's columns only: its form, not the surgery's
    page = client.get("/grid?visit=baseline")
    assert subjects(page.text) == ["SPR-001", "SPR-002", "SPR-003"]
    assert 'title="Diagnosis' in page.text and SURGERY_HREF not in page.text
    # no diagnosis recorded yet for the enrolled two (baseline); SPR-001's surgery visit holds both its forms
    assert subjects(client.get("/grid?visit=baseline&status=expected").text) == ["SPR-001", "SPR-002"]
    assert subjects(client.get("/grid?visit=surgery&status=expected").text) == []
    assert subjects(client.get("/grid?site=SAT").text) == ["SPR-003"]
    assert subjects(client.get("/grid?site=MAIN&status=complete").text) == ["SPR-001", "SPR-002"]


def test_every_state_filter_agrees_with_the_visit_read(web_study):
    """The SQL filter decides a state as visits.patient_visits does: for each state and visit, the
    patients listed are exactly those with a form in that state there."""
    team = web_study.team
    review.verify_source(web_study, team.monitor, "SPR-001", "pathology")
    review.lock(web_study, team.data_manager, subject_id="SPR-002")
    queries.open_query(web_study, team.monitor, "SPR-001", "surgery", "surgery_date", "Check the date")
    everyone = overview.grid(web_study, team.data_manager, size=100).rows
    for visit in [None] + [v for v, _ in overview.grid_visits(web_study)]:
        for state in overview.GRID_STATES:
            got = [r.subject for r in overview.grid(web_study, team.data_manager, status=state, visit=visit,
                                                    size=100).rows]
            want = [r.subject for r in everyone if any(
                (i.status == state or (state == "query" and i.open_queries))
                for (v, _f), icons in r.cells.items() if visit is None or v == visit for i in icons)]
            assert got == want, (state, visit)


def test_a_bad_filter_is_named_beside_it(web_study, client_as):
    page = client_as("data_manager").get("/grid?status=finished")
    assert page.status_code == 422
    assert re.search(r'<p class="error" id="e-status">status: must be one of expected, incomplete', page.text)
    page = client_as("data_manager").get("/grid?visit=nowhere")
    assert page.status_code == 422 and 'id="e-visit"' in page.text and "not a visit of protocol SPRINT" in page.text


def test_pages_of_25_patients(web_study, client_as):
    team = web_study.team
    for k in range(4, 29):  # SPR-004 .. SPR-028: 28 patients in all
        pathway.register_patient(
            web_study, team.research_nurse, identifiers=pathway.Identifiers(f"Patient {k} (synthetic)",
                                                                            dt.date(1960, 1, 1), f"H{k:04d}"),
            sex="female", referral={"referral_date": "2025-03-01", "anatomic_site": "extremity"})
    client = client_as("data_manager")
    first = client.get("/grid")
    assert subjects(first.text) == [f"SPR-{k:03d}" for k in range(1, 26)]
    assert "28 patients; page 1 of 2" in " ".join(first.text.split())
    assert re.search(r'href="/grid\?site=[^"]*page=2" rel="next"', first.text)
    second = client.get("/grid?page=2")
    assert subjects(second.text) == ["SPR-026", "SPR-027", "SPR-028"]
    assert subjects(client.get("/grid?site=SAT&page=1").text) == ["SPR-003"]
    assert client.get("/grid?page=0").status_code == 422


def test_a_site_limited_user_sees_only_the_site(web_study, client_as):
    client = client_as("nurse.sat")
    page = client.get("/grid")
    assert subjects(page.text) == ["SPR-003"]
    assert "SPR-001" not in page.text and "SPR-002" not in page.text
    assert '<option value="MAIN"' not in page.text
    assert client.get("/grid?site=MAIN").status_code == 403


def test_the_grid_pages_in_the_database(web_study):
    """One page reads its own patients only: asking for page 2 of size 1 gives the second patient,
    and the total counts every patient the user sees."""
    team = web_study.team
    one = overview.grid(web_study, team.data_manager, page=2, size=1)
    assert [r.subject for r in one.rows] == ["SPR-002"] and one.total == 3 and one.pages == 3
    with pytest.raises(Exception, match="page: must be 1 or more"):
        overview.grid(web_study, team.data_manager, page=0)
