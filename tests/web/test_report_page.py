"""The study report page (``/report``) through HTTP: built for the user's sites, read in the
application, downloaded as PDF.

Sources: ``docs/roles.md`` (``report``: investigator, data manager, monitor, statistician; an
account limited to sites sees only its sites' patients "in every listing, report and export").
The facts compared come from the ``web_study`` fixture: SPR-001 and SPR-002 enrolled at MAIN,
SPR-003 referred at SAT.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markupsafe import escape

from sarcotrial.services import study_report
from sarcotrial.services.study import StudyDB
from sarcotrial.web.app import create_app
from tests.web.conftest import Client


@pytest.fixture
def report_dir(tmp_path, monkeypatch):
    folder = tmp_path / "reports"
    monkeypatch.setenv(study_report.ENV, str(folder))
    return folder


def build(client, cutoff: str = "") -> str:
    answer = client.post("/report", data={"cutoff": cutoff})
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/report/[A-Za-z0-9_-]{16,64}", location)
    return location


def test_the_investigator_builds_the_report_reads_it_and_downloads_the_pdf(web_study, client_as, report_dir):
    ivy = client_as("investigator")
    form = ivy.get("/report")
    assert form.status_code == 200 and 'name="cutoff"' in form.text and '<label for="cutoff">' in form.text
    location = build(ivy, "2025-06-30")
    page = ivy.get(location)
    assert page.status_code == 200
    html = page.text
    protocol = web_study.protocol
    assert "data cut-off 30 June 2025 (given)" in html
    assert f"{protocol.acronym}: study report" in html
    assert str(escape(protocol.identification.title)) in html
    assert f"2 of {protocol.identification.design.target_accrual} patients enrolled" in html  # SPR-001, SPR-002
    assert "sites:" not in html  # study-wide: no site limit to state
    # the CSP forbids inline styles and scripts: the page has none; figures are served by the app
    assert "<style" not in html and " style=" not in html and "<script>" not in html and "<svg" not in html
    figures = re.findall(r'<img src="(/report/[^"]+/figures/[a-z0-9_]+\.png)" alt="([^"]+)"', html)
    assert figures, "the report's figures are images served by the application"
    for src, alt in figures:
        image = ivy.get(src)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n" and alt
    pdf = ivy.get(location + ".pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content[:5] == b"%PDF-"
    assert "attachment" in pdf.headers["content-disposition"]
    assert f'href="{location}.pdf"' in html
    # kept in the folder the installation names, by its random id
    assert (report_dir / location.rsplit("/", 1)[1] / "report.pdf").is_file()
    # the builder's alone: another account (which may build its own) finds no such report
    mona = client_as("monitor")
    assert mona.get(location).status_code == 404 and mona.get(location + ".pdf").status_code == 404
    assert ivy.get("/report/not-a-report-id-at-all").status_code == 404
    assert ivy.get(location + "/figures/..%2Fmeta.png").status_code == 404
    # a second worker (its own process state, the same database) serves the same report
    other = StudyDB.open(web_study.url)
    try:
        second = Client(create_app(study=other), "ivy")
        again = second.get(location)
        assert again.status_code == 200 and f"{protocol.acronym}: study report" in again.text
        assert second.get(location + ".pdf").content[:5] == b"%PDF-"
    finally:
        other.close()


def test_a_site_limited_user_gets_a_report_of_their_sites_that_says_so(web_study, client_as, report_dir):
    web_study.team.extra("ivy.sat", "investigator", "Iris Satellite Investigator", sites=("SAT",))
    client = client_as("ivy.sat")
    assert "for the patients of <strong>SAT</strong> only" in client.get("/report").text
    html = client.get(build(client)).text
    target = web_study.protocol.identification.design.target_accrual
    assert f"{web_study.protocol.acronym}: study report (sites: SAT)" in html
    assert f"0 of {target} patients enrolled" in html  # SAT's only patient (SPR-003) is referred, not enrolled
    assert "SPR-001" not in html and "SPR-002" not in html


def test_a_bad_cut_off_is_refused_beside_the_field(web_study, client_as, report_dir):
    ivy = client_as("investigator")
    bad = ivy.post("/report", data={"cutoff": "2025-02-30"})
    assert bad.status_code == 422
    assert 'id="cutoff-error"' in bad.text and "must be a date YYYY-MM-DD" in bad.text
    assert 'value="2025-02-30"' in bad.text
    assert not report_dir.exists() or not any(report_dir.iterdir()), "nothing built"


def test_a_role_without_report_is_refused_and_nothing_is_built(web_study, client_as, report_dir):
    for role in ("research_nurse", "admin", "nurse.sat"):  # docs/roles.md: not theirs
        client = client_as(role)
        assert client.get("/report").status_code == 403, role
        assert client.post("/report", data={"cutoff": ""}).status_code == 403, role
    assert not report_dir.exists() or not any(report_dir.iterdir())


def test_without_a_configured_folder_reports_lie_beside_a_sqlite_database(web_study, monkeypatch):
    from sarcotrial.config import sqlite_path

    monkeypatch.delenv(study_report.ENV, raising=False)
    path = sqlite_path(web_study.url)
    root = study_report.report_root(web_study)
    if path is None:  # PostgreSQL: the system's temporary folder
        import tempfile

        assert str(root).startswith(tempfile.gettempdir())
    else:
        assert root == path.parent / f"{path.stem}-reports"


def test_a_report_built_before_ones_sites_were_narrowed_is_no_longer_shown(web_study, client_as, report_dir):
    """A study-wide report holds every site's patients: once the reader is limited to a site, it is
    theirs no more (404 as for anyone else's)."""
    from sarcotrial.services import access

    investigator = client_as("investigator")
    location = build(investigator)
    assert investigator.get(location).status_code == 200
    access.grant(web_study, web_study.team.admin, "ivy", sites=["SAT"], reason="moved to the satellite")
    assert investigator.get(location).status_code == 404
    assert investigator.get(location + ".pdf").status_code == 404


def test_the_page_keeps_ids_and_intervals_on_one_line_and_lets_wide_tables_scroll(web_study, client_as, report_dir):
    """As report.html does: right-aligned columns never wrap, and in every cell an identifier or a
    percentage with its interval is a no-wrap run ("SPR-/002" and "100.0–/100.0" broke across lines)."""
    from sarcotrial.publishing.html import segments

    assert segments("SPR-002: dose") == [("SPR-002", True), (": dose", False)]
    assert segments("100.0 % (100.0\u2013100.0)") == [("100.0 % (100.0\u2013100.0)", True)]
    ivy = client_as("investigator")
    html = ivy.get(build(ivy, "2025-06-30")).text
    # rate and survival cells: right-aligned no-wrap cells, an interval one run ("2.5 % – 100.0 %")
    cells = re.findall(r'<td class="num nw"><span class="nw">(\d+\.\d %[^<]*)</span></td>', html)
    assert any(re.fullmatch(r"\d+\.\d % \u2013 \d+\.\d %", c) for c in cells), cells[:5]
    # no right-aligned cell may wrap
    assert not re.search(r'<td class="num">', html)
    css = (Path(__file__).parents[2] / "src/sarcotrial/web/static/report.css").read_text()
    assert re.search(r"\.study-report \.report-table \{[^}]*overflow-x: auto", css)
    assert re.search(r"\.study-report \.nw \{[^}]*white-space: nowrap", css)


def test_in_a_browser_at_1280_px_no_id_or_interval_breaks_and_the_page_does_not_scroll_sideways(
        web_study, page, report_dir):
    from tests.web.conftest import shot, sign_in_page

    sign_in_page(page, "ivy")
    page.goto("/report")
    page.get_by_label(re.compile("cut-off", re.I)).fill("2025-06-30")
    page.get_by_role("button", name=re.compile("Build", re.I)).click()
    page.wait_for_url(re.compile(r"/report/[A-Za-z0-9_-]{16,64}$"))
    broken = page.evaluate("""() => [...document.querySelectorAll('.study-report .nw')]
        .filter(e => e.getClientRects().length > 1).map(e => e.textContent)""")
    assert broken == []
    assert page.locator(".study-report .nw").count() > 10
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    for figure in page.locator(".study-report figure img").all():  # lazy images load as they come into view
        figure.scroll_into_view_if_needed()
        figure.evaluate("img => img.decode()")
    shot(page, "report-page")
