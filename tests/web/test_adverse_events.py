"""Adverse events on the web: the CTCAE v5.0 term search and grades fragments, and the safety page.

Sources: NCI CTCAE v5.0 (27 November 2017), the catalogue shipped in the package (terms, SOC,
MedDRA codes, allowed grades: "Alopecia" allows grades 1 and 2 only); Regulation (EU) No 536/2014,
Art. 41(2) (a serious adverse event reported within 24 hours of the site's awareness), whose clock
is ``services.safety.serious_events``.
"""

from __future__ import annotations

import html
import re

import pytest

from sarcotrial.domain.ctcae import GENERAL_GRADES, catalogue, find_terms
from sarcotrial.errors import InvalidValue
from sarcotrial.services import forms, safety, views

SUBJECT = "SPR-001"  # MAIN, enrolled 22 Jan 2025 (tests/web/conftest.py)
PICK = re.compile(r'<button type="button" class="ctcae-pick" data-ctcae-pick="([^"]*)" data-ctcae-target="([^"]*)">')


def picks(text: str) -> list[tuple[str, str]]:
    return [(html.unescape(term), target) for term, target in PICK.findall(text)]


def row(text: str, crf_id: int, table: str) -> str:
    """The HTML of one event's row in the table with class ``table``."""
    part = text.split(f'class="{table}"', 1)[1].split("</table>", 1)[0]
    found = re.search(rf'<tr[^>]*data-crf="{crf_id}"[^>]*>(.*?)</tr>', part, re.DOTALL)
    assert found, f"event {crf_id} not in {table}"
    return found.group(0)


def record_ae(study, values, subject=SUBJECT):
    return forms.record(study, study.team.research_nurse, subject, "adverse_event", values)


# --------------------------------------------------------------------------- entry stores NCI's term
def test_recording_the_clinicians_words_stores_ncis_term(web_study):
    """The defect: 'radiation dermatitis' was refused ("did you mean 'Bullous dermatitis'?"); it is
    CTCAE v5.0 'Dermatitis radiation' and is stored under NCI's name, with its SOC and MedDRA code."""
    saved = record_ae(web_study, {"term": "radiation dermatitis", "grade": 2, "onset_date": "2025-03-01"})
    stored = next(c for c in views.form_instances(web_study, web_study.team.monitor, SUBJECT, "adverse_event")
                  if c.id == saved.id)
    nci = catalogue()["Dermatitis radiation"]
    assert stored.values["term"] == "Dermatitis radiation"
    assert (stored.derived["soc"], stored.derived["meddra_code"]) == (nci.soc, nci.meddra_code)

    corrected = forms.correct(web_study, web_study.team.research_nurse, SUBJECT, "adverse_event",
                              {"term": "hair loss", "grade": 1}, reason="wrong term", record_id=saved.id)
    assert corrected.values["term"] == "Alopecia"


def test_an_ambiguous_term_is_refused_with_the_candidates_and_nothing_is_written(web_study):
    with pytest.raises(InvalidValue) as info:
        record_ae(web_study, {"term": "limb swelling", "grade": 2, "onset_date": "2025-03-01"})
    assert info.value.field == "term"
    assert "'Lymphedema'" in info.value.rule and "'Edema limbs'" in info.value.rule
    assert views.form_instances(web_study, web_study.team.monitor, SUBJECT, "adverse_event") == []


# --------------------------------------------------------------------------- the search fragment
def test_the_search_fragment_lists_ncis_terms_for_the_words_typed(client_as):
    nurse = client_as("research_nurse")
    answer = nurse.get("/ctcae/search", params={"term": "radiation dermatitis"})
    assert answer.status_code == 200
    found = picks(answer.text)
    assert found[0] == ("Dermatitis radiation", "f-term")
    assert [t for t, _ in found] == [m.term.term for m in find_terms("radiation dermatitis", 8)]
    nci = catalogue()["Dermatitis radiation"]
    assert html.escape(nci.soc) in answer.text or nci.soc in answer.text
    assert f"MedDRA {nci.meddra_code}" in answer.text


def test_the_search_takes_any_one_parameter_or_q_and_caps_the_list(client_as):
    nurse = client_as("investigator")
    assert picks(nurse.get("/ctcae/search", params={"q": "hair loss"}).text)[0][0] == "Alopecia"
    lookup = picks(nurse.get("/ctcae/search", params={"lookup": "oedema limbs"}).text)
    assert lookup[0] == ("Edema limbs", "f-lookup")
    many = picks(nurse.get("/ctcae/search", params={"term": "haemorrhage"}).text)
    assert 1 < len(many) <= 8 and all("hemorrhage" in t.lower() for t, _ in many)


def test_nothing_found_says_so_and_an_empty_query_shows_nothing(client_as):
    nurse = client_as("research_nurse")
    answer = nurse.get("/ctcae/search", params={"term": "qqqqzzzz"})
    assert answer.status_code == 200 and picks(answer.text) == []
    assert "No CTCAE v5.0 term matches" in answer.text and "qqqqzzzz" in answer.text
    empty = nurse.get("/ctcae/search", params={"term": "  "})
    assert empty.status_code == 200 and empty.text.strip() == ""


# --------------------------------------------------------------------------- the grades fragment
def grade_rows(text: str) -> dict[int, str]:
    rows = re.findall(r'<tr class="(grade-allowed|grade-not-allowed)" data-grade="(\d)">.*?<td>(.*?)</td>', text, re.DOTALL)
    return {int(g): (kind, html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))).strip())
            for kind, g, body in rows}


def test_the_grades_fragment_marks_the_grades_a_term_does_not_allow(client_as):
    """CTCAE v5.0: Alopecia allows grades 1 and 2 only; without NCI's wording imported, the general
    CTCAE v5.0 grade descriptions are shown for the allowed grades."""
    answer = client_as("research_nurse").get("/ctcae/grades", params={"term": "Alopecia"})
    assert answer.status_code == 200
    rows = grade_rows(answer.text)
    allowed = catalogue()["Alopecia"].allowed_grades
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert [g for g, (kind, _) in rows.items() if kind == "grade-allowed"] == list(allowed) == [1, 2]
    for g in allowed:
        assert GENERAL_GRADES[g] in rows[g][1]
    assert "not allowed" in rows[3][1] and "not allowed" in rows[5][1]
    assert "sarcotrial ctcae import" in answer.text


@pytest.mark.validation
def test_the_grades_fragment_shows_ncis_own_wording_once_imported(client_as, web_study, shared_data):
    """NCI CTCAE v5.0 spreadsheet (CTCAE_v5.0_2017-11-27.xlsx): the fragment shows each allowed
    grade's text exactly as the spreadsheet gives it for the term."""
    from sarcotrial.services.reference import import_ctcae, read_ctcae_workbook
    from tests.conftest import shared_file

    xlsx = shared_file(shared_data, "CTCAE_v5.0_2017-11-27.xlsx")
    import_ctcae(web_study, xlsx, web_study.team.admin)
    expected = next(t for t in read_ctcae_workbook(xlsx) if t.term == "Dermatitis radiation")
    answer = client_as("research_nurse").get("/ctcae/grades", params={"term": "Dermatitis radiation"})
    rows = grade_rows(answer.text)
    for g in (1, 2, 3, 4, 5):
        if g in expected.grade_definitions:
            assert rows[g] == ("grade-allowed", " ".join(expected.grade_definitions[g].split()))
        else:
            assert rows[g][0] == "grade-not-allowed"
    assert "sarcotrial ctcae import" not in answer.text


def test_grades_of_words_that_are_not_one_term_explain_why(client_as):
    nurse = client_as("research_nurse")
    answer = nurse.get("/ctcae/grades", params={"term": "limb swelling"})
    assert answer.status_code == 422
    assert "choose one" in html.unescape(answer.text) and "Lymphedema" in answer.text
    unknown = nurse.get("/ctcae/grades", params={"term": "qqqqzzzz"})
    assert unknown.status_code == 422 and "not a CTCAE v5.0 term" in unknown.text


# --------------------------------------------------------------------------- the safety page
def test_the_safety_page_shows_the_sae_with_the_clock_the_service_reports(client_as, web_study):
    """Regulation (EU) No 536/2014, Art. 41(2): aware 3 May 2025 10:00 UTC, due 24 h later; not
    reported, so overdue now. The page shows the state ``serious_events`` gives, and links to the
    event's form and to the patient."""
    sae = record_ae(web_study, {"term": "Wound infection", "grade": 3, "onset_date": "2025-05-02", "serious": True,
                                "seriousness": "hospitalisation", "aware_at": "2025-05-03T10:00",
                                "attribution": "possible"})
    mild = record_ae(web_study, {"term": "tiredness", "grade": 1, "onset_date": "2025-03-01", "serious": False})
    clock = next(e for e in safety.serious_events(web_study, web_study.team.monitor) if e.crf_id == sae.id)

    page = client_as("monitor").get("/safety")
    assert page.status_code == 200
    line = row(page.text, sae.id, "sae-table")
    assert f'data-status="{clock.status}"' in line and f">{clock.status}</span>" in line
    assert clock.due_at.strftime("%Y-%m-%d %H:%M") in line and clock.aware_at.strftime("%Y-%m-%d %H:%M") in line
    assert f'href="/patients/{SUBJECT}"' in line and "Requires or prolongs hospitalisation" in line  # sprint.yaml
    assert html.escape(f"/patients/{SUBJECT}/forms/adverse_event?visit={sae.visit}&record={sae.id}") in line

    listed = row(page.text, mild.id, "ae-table")
    assert "Fatigue" in listed and "2025-03-01" in listed
    assert "Possible" in row(page.text, sae.id, "ae-table")
    with pytest.raises(AssertionError):
        row(page.text, mild.id, "sae-table")  # not serious: no clock


def test_the_filters_grade_serious_and_term(client_as, web_study):
    sae = record_ae(web_study, {"term": "Wound infection", "grade": 3, "onset_date": "2025-05-02", "serious": True,
                                "seriousness": "hospitalisation", "aware_at": "2025-05-03T10:00"})
    skin = record_ae(web_study, {"term": "radiation dermatitis", "grade": 2, "onset_date": "2025-03-01"})
    monitor = client_as("monitor")

    def shown(**params) -> set[int]:
        text = monitor.get("/safety", params=params).text
        part = text.split('class="ae-table"', 1)[1].split("</table>")[0] if 'class="ae-table"' in text else ""
        return {int(i) for i in re.findall(r'data-crf="(\d+)"', part)}

    assert shown() == {sae.id, skin.id}
    assert shown(grade="3") == {sae.id}
    assert shown(serious="1") == {sae.id}
    assert shown(term="radiation dermatitis") == {skin.id}  # the clinician's words find NCI's term
    assert shown(term="dermatitis", grade="3") == set()
    bad = monitor.get("/safety", params={"grade": "9"})
    assert bad.status_code == 200 and "choose a CTCAE grade from 1 to 5" in bad.text
    assert shown(grade="9") == {sae.id, skin.id}  # a wrong filter filters nothing, and says so


def test_a_report_button_per_patient_for_the_roles_that_record(client_as):
    nurse = client_as("research_nurse").get("/safety").text
    for subject in ("SPR-001", "SPR-002"):
        assert f'href="/patients/{subject}/forms/adverse_event"' in nurse  # placed by its onset date, as the CLI
    assert "SPR-003" not in nurse.split('id="report-title"')[1].split("</section>")[0]  # referred only: not enrolled
    monitor = client_as("monitor").get("/safety").text
    assert "/forms/adverse_event\"" not in monitor and "does not record them" in monitor


def test_a_site_limited_user_sees_only_the_events_of_their_site(client_as, web_study):
    sae = record_ae(web_study, {"term": "Wound infection", "grade": 3, "onset_date": "2025-05-02", "serious": True,
                                "seriousness": "hospitalisation", "aware_at": "2025-05-03T10:00"})
    page = client_as("nurse.sat").get("/safety")
    assert page.status_code == 200
    assert f'data-crf="{sae.id}"' not in page.text and SUBJECT not in page.text
    assert "No serious adverse event is recorded at SAT" in page.text
    assert client_as("research_nurse").get("/safety").text.count(f'data-crf="{sae.id}"') == 2


@pytest.mark.parametrize("url", ["/safety", "/ctcae/search?term=fatigue", "/ctcae/grades?term=Fatigue"])
def test_anonymous_users_are_sent_to_sign_in(client_as, url):
    anonymous = client_as(None)
    answer = anonymous.get(url)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
    assert "Fatigue" not in answer.text and "ctcae-pick" not in answer.text
    htmx = anonymous.get(url, headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/signin")
