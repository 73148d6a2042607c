"""The tumour board's pages: meetings, a meeting with its quorum, cases, decisions and signatures, the
minutes PDF, a patient's case file (molecular flags, predisposition, a risk prediction drawn as an SVG,
the trial match and "Open screening") and the second-opinion listing; in a real headless Chromium and
through the HTTP client.

The pages lay out what the services return; the numbers checked here come from independent sources:
the risks by hand from the model file's own worked example (the Cox risk 1 - S0(t) ** exp(lp - centre))
and from ``sarcotrial.riskmodels.load_model(...).predict``, the SHA-256 from :mod:`hashlib` on the document's bytes, the
Clopper-Pearson interval from scipy (``binomtest(k, n).proportion_ci(method="exact")``). The rules
behind the flags are those of the services' tests: WHO 2020 (a contradicting MDM2 amplification),
Chompret criteria (Bougeard et al., J Clin Oncol 2015: an adrenocortical carcinoma meets them), the
board's quorum (the setting ``tumour_board_quorum``; ESMO-EURACAN-GENTURIS, Gronchi et al., Ann Oncol
2021). Screenshots of each page go to ``/tmp/board_shots/``.
"""

from __future__ import annotations

import re

import datetime as dt
import hashlib
import math
from pathlib import Path

import pytest
from scipy.stats import binomtest

from sarcotrial.riskmodels import load_model
from sarcotrial.services import board, pathway, registry
from sarcotrial.services import second_opinion as so
from sarcotrial.web.pages.board import risk_chart
from tests.edc_support import password, staff
from tests.helpers import enrolled, register
from tests.web.conftest import sign_in_page

SHOTS = Path("/tmp/board_shots")
COX = Path(__file__).resolve().parents[2] / "examples" / "riskmodels" / "synthetic-cox.yaml"
INPUTS = {"age": 61, "size_cm": 12, "grade": "3"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FULL = [("Dr Sue Surgeon", "surgeon"), ("Dr Rad Onc", "radiation_oncologist"), ("Dr Med Onc", "medical_oncologist"),
        ("Dr Paula Path", "pathologist"), ("Dr Ray Rad", "radiologist")]
# MDM2 amplification defines well-differentiated / dedifferentiated liposarcoma (WHO 2020): it contradicts
# a recorded synovial sarcoma; ETV6::NTRK3 is actionable whatever the histotype (larotrectinib, entrectinib)
CONTRADICTING = {"histotype": "synovial_sarcoma",
                 "findings": [{"test": "FISH", "kind": "amplification", "gene": "MDM2"},
                              {"test": "NGS panel", "kind": "fusion", "fusion": "ETV6::NTRK3"}]}
# Bougeard 2015: an adrenocortical carcinoma meets the Chompret criteria whatever the family history
ADRENOCORTICAL = {"proband": {"sex": "female", "age": 40, "cancers": [{"type": "adrenocortical_carcinoma", "age": 38}]}}
PARTIAL = {"screening_date": "2025-01-14", "histology_confirmed": True, "candidate_for_resection": True,
           "previous_rt_to_region": False, "planned_amputation": False}


@pytest.fixture
def web_study(study, fast_hashing):  # noqa: F811 - this module's own study, replacing conftest's
    """Two registry patients at MAIN (and SPR-003, enrolled) (registered before the first account, as ``tests.helpers`` builds
    them), an account for every role, then through the services: SPR-001 with a contradicting molecular
    report, an adrenocortical carcinoma in the family history, a prediction by the synthetic Cox model
    and a partial screening (not evaluable); SPR-002 screened out (previous radiotherapy). Meeting 1
    (15 January 2025) is quorate, SPR-001's case decided and signed, its first signature voided by a
    corrected pathology summary; meeting 2 (22 January 2025) has no quorum and SPR-002's case undecided.
    Three second-opinion requests: two pathology reviews from Hospital A (one revised, one confirmed), an
    imaging request from Hospital B waiting."""
    first = register(study, "H0101", name="Alpha Patient (synthetic)").subject_id
    second = register(study, "H0102", name="Beta Patient (synthetic)", dob=dt.date(1971, 3, 2)).subject_id
    enrolled(study, "H0103")  # SPR-003: the study has begun (the dashboard's accrual needs an enrolment)
    team = staff(study)
    study.team = team
    study.subjects = (first, second)
    registry.record_document(study, team.pathologist, first, "molecular", CONTRADICTING)
    registry.record_document(study, team.clinician, first, "family_history", ADRENOCORTICAL)
    model = registry.load_model_file(study, team.admin, COX, endpoint="dmfs")
    registry.predict(study, team.clinician, first, model.key, INPUTS, on=dt.date(2025, 1, 10))
    pathway.screen(study, team.research_nurse, first, PARTIAL)
    pathway.screen(study, team.research_nurse, second, {**PARTIAL, "previous_rt_to_region": True})

    one = board.new_meeting(study, team.clinician, dt.date(2025, 1, 15), note="Weekly sarcoma board")
    for name, discipline in FULL:
        board.attend(study, team.research_nurse, one, name, discipline)
    case = board.add_case(study, team.clinician, one, first, "Preoperative treatment of a 9 cm high-grade thigh tumour?")
    board.write_case(study, team.radiologist, case, "imaging", "MRI: 9 cm deep thigh mass, no metastases on CT")
    board.write_case(study, team.pathologist, case, "pathology", "Core biopsy: synovial sarcoma")
    board.decide(study, team.clinician, case, strategy="preoperative_radiotherapy_surgery",
                 rationale="Deep, large, high grade: preoperative radiotherapy", responsible_physician="Dr Cleo Clinician",
                 today=dt.date(2025, 1, 15))
    board.sign_decision(study, team.clinician, case, password("cleo"), "I approve this decision")
    board.write_case(study, team.pathologist, case, "pathology", "Core biopsy: MDM2-amplified sarcoma, FISH pending",
                     reason="molecular report received")
    board.sign_decision(study, team.clinician, case, password("cleo"), "I approve this decision")

    two = board.new_meeting(study, team.clinician, dt.date(2025, 1, 22))
    board.attend(study, team.research_nurse, two, "Dr Sue Surgeon", "surgeon")
    board.attend(study, team.research_nurse, two, "Dr Paula Path", "pathologist")
    board.add_case(study, team.clinician, two, second, "Re-excision after an unplanned excision?")
    study.meetings = (one, two)

    revised = so.new_request(study, team.research_nurse, first, kind="pathology", referring_centre="Hospital A",
                             received_date=dt.date(2025, 1, 6), question="Confirm the diagnosis")
    so.attach(study, team.research_nurse, revised, content=PDF, filename="referral-report.pdf")
    so.review(study, team.pathologist, revised, text="Revised after FISH", outcome="revised", reviewer="Dr Paula Path",
              report_date=dt.date(2025, 1, 13), revised_histotype="synovial_sarcoma")
    confirmed = so.new_request(study, team.research_nurse, second, kind="pathology", referring_centre="Hospital A",
                               received_date=dt.date(2025, 1, 8), question="Grade?")
    so.review(study, team.pathologist, confirmed, text="Confirmed", outcome="confirmed", reviewer="Dr Paula Path",
              report_date=dt.date(2025, 1, 10))
    so.new_request(study, team.research_nurse, second, kind="imaging", referring_centre="Hospital B",
                   received_date=dt.date(2025, 1, 9), question="Second reading of the MRI")
    return study


def snap(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --------------------------------------------------------------------------- the risk chart's geometry
def test_the_risk_chart_starts_at_zero_and_places_each_horizon_on_its_axes():
    chart = risk_chart({5.0: 0.25, 10.0: 0.5}, width=520, height=260)
    origin, five, ten = chart.points
    assert (origin.horizon, origin.risk) == (0.0, 0.0)
    assert (origin.x, origin.y) == (chart.left, chart.bottom)            # 0 % at time 0
    assert ten.x == pytest.approx(chart.right)                          # the last horizon ends the axis
    assert five.x == pytest.approx((chart.left + chart.right) / 2)      # 5 of 10 years: half way
    assert five.y == pytest.approx(chart.bottom - (chart.bottom - chart.top) * 0.25)
    assert ten.y == pytest.approx(chart.bottom - (chart.bottom - chart.top) * 0.5)
    assert [t for t, _ in chart.x_ticks] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert [p for p, _ in chart.y_ticks] == [0, 25, 50, 75, 100]
    assert chart.polyline.split()[0] == f"{chart.left:.1f},{chart.bottom:.1f}"


# --------------------------------------------------------------------------- through the HTTP client
def test_board_members_land_on_the_board_and_are_refused_study_pages(client_as):
    for role in ("pathologist", "clinician", "radiologist"):
        client = client_as(role)
        landing = client.get("/")
        assert landing.status_code == 303 and landing.headers["location"] == "/board", role
        board_page = client.get("/board")
        assert board_page.status_code == 200
        assert 'href="/board"' in board_page.text and 'href="/patients"' not in board_page.text
        refused = client.get("/patients")
        assert refused.status_code == 403 and "may not read study data" in refused.text
        # their own account (password, API tokens) on the administration page, and no study data there
        assert 'href="/admin"' in board_page.text
        admin_page = client.get("/admin")
        assert admin_page.status_code == 200 and "Change password" in admin_page.text, role
    nurse = client_as("research_nurse")
    assert nurse.get("/").status_code == 200  # the trial's staff keep their dashboard
    page = nurse.get("/board").text
    assert 'href="/board"' in page and 'href="/patients"' in page
    assert 'href="/board"' not in client_as("monitor").get("/").text  # no board.read: no entry
    assert client_as("monitor").get("/board").status_code == 403


def test_a_new_meeting_is_refused_beside_its_field_and_then_recorded(client_as, web_study):
    nurse = client_as("research_nurse")
    answer = nurse.post("/board/meetings", data={"meeting_date": "15/01/2025", "site": "MAIN"})
    assert answer.status_code == 422
    assert 'id="new-meeting_date-error"' in answer.text and "must be a date written YYYY-MM-DD" in answer.text
    assert len(board.meetings(web_study, web_study.team.research_nurse)) == 2  # nothing written
    answer = nurse.post("/board/meetings", data={"meeting_date": "2025-01-29", "site": "MAIN"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/board/meetings/3")
    assert client_as("pathologist").post("/board/meetings", data={"meeting_date": "2025-01-29",
                                                                  "site": "MAIN"}).status_code == 403


def test_a_meeting_to_come_is_planned_not_without_quorum(client_as, web_study):
    """A meeting recorded ahead of its day has no attendance yet: it reads "planned", not a red "no quorum"."""
    import datetime as dt

    nurse = client_as("research_nurse")
    day = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    answer = nurse.post("/board/meetings", data={"meeting_date": day, "site": "MAIN"})
    assert answer.status_code == 303
    page = nurse.get(answer.headers["location"]).text
    assert "Planned meeting." in page and "No quorum." not in page
    listing = nurse.get("/board").text
    row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*{day}(?:(?!</tr>).)*</tr>", listing, re.DOTALL).group(0)
    assert "planned" in row and "no quorum" not in row

def test_the_minutes_are_a_pdf_and_an_unknown_meeting_is_not_found(client_as):
    client = client_as("clinician")
    answer = client.get("/board/meetings/1/minutes.pdf")
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF")
    assert answer.headers["content-type"] == "application/pdf"
    assert client.get("/board/meetings/1/minutes.pdf?identified=1").status_code == 403  # no identifiers for it
    named = client_as("research_nurse").get("/board/meetings/1/minutes.pdf?identified=1")
    assert named.status_code == 200 and named.content.startswith(b"%PDF") and "identified" in named.headers[
        "content-disposition"]
    assert client.get("/board/meetings/99").status_code == 404
    assert client.get("/board/patients/SPR-999").status_code == 404


def test_a_case_form_without_csrf_writes_nothing(client_as, web_study):
    client = client_as("pathologist")
    answer = client.post("/board/cases/2/summary", csrf=False,
                         data={"meeting": "2", "part": "pathology", "text": "Core biopsy"})
    assert answer.status_code == 403
    assert board.meeting(web_study, None, 2).cases[0].pathology_summary is None


# --------------------------------------------------------------------------- in a real browser
def test_a_pathologist_sees_the_meetings_writes_a_summary_and_downloads_the_minutes(page, web_study):
    sign_in_page(page, "pat")
    page.wait_for_url("**/board")  # the board is the landing page of its members
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Board", exact=True).count() == 1
    assert nav.get_by_role("link").all_inner_texts() == ["Board", "Administration"]
    one, two = web_study.meetings
    row_one, row_two = page.locator(f"#meeting-{one}"), page.locator(f"#meeting-{two}")
    assert row_one.locator("td").all_inner_texts() == ["2025-01-15", "MAIN", "yes", "1", "1", "1"]
    assert row_two.locator("td").all_inner_texts() == ["2025-01-22", "MAIN", "no quorum", "1", "0", "0"]
    snap(page, "01-board-pathologist")

    # a study page is refused with the app's refusal page
    page.goto("/patients")
    assert "403" in page.locator("h1").inner_text()
    assert "may not read study data" in page.locator("main").inner_text()
    snap(page, "02-refused-study-page")

    page.goto("/board")
    page.get_by_role("link", name="2025-01-15").click()
    page.wait_for_url(f"**/board/meetings/{one}")
    assert "Quorum met" in page.locator("#quorum").inner_text()
    attendees = page.locator("table.attendees").inner_text()
    assert "Dr Rad Onc" in attendees and "Radiation oncologist" in attendees
    case = page.locator(".board-case").first
    assert "MRI: 9 cm deep thigh mass" in case.locator(".imaging").inner_text()
    assert "MDM2-amplified" in case.locator(".pathology").inner_text()
    assert "Preoperative radiotherapy, then surgery" in case.locator(".strategy").inner_text()
    assert "Dr Cleo Clinician" in case.locator(".decision").inner_text()
    voided = case.locator("li.sig-voided")
    assert voided.count() == 1 and voided.locator("del").count() == 1
    assert "pathology summary" in voided.inner_text()  # the reason: the change that voided it
    assert case.locator("li.sig-valid").count() == 1
    assert page.get_by_role("button", name="Record the decision").count() == 0  # a pathologist does not decide
    snap(page, "03-meeting-quorate")

    with page.expect_download() as info:
        page.locator("#minutes").click()
    path = info.value.path()
    assert Path(path).read_bytes().startswith(b"%PDF")
    assert info.value.suggested_filename.startswith("board-minutes-2025-01-15")

    # the meeting without quorum: flagged; the pathologist writes the pathology summary (empty first: refused)
    page.goto(f"/board/meetings/{two}")
    assert "No quorum" in page.locator("#quorum").inner_text()
    assert "radiation oncologist" in page.locator("#quorum").inner_text()
    page.locator("summary", has_text="Write the pathology summary").click()
    page.get_by_role("button", name="Save the pathology summary").click()
    page.wait_for_selector(".field .error")
    assert "must not be empty" in page.locator(".field .error").first.inner_text()
    page.get_by_label("Pathology summary").fill("Excision specimen: myxofibrosarcoma, FNCLCC grade 2, R1")
    page.get_by_role("button", name="Save the pathology summary").click()
    page.wait_for_url("**done=pathology*")
    assert "myxofibrosarcoma" in page.locator(".board-case .pathology").inner_text()
    snap(page, "04-meeting-no-quorum")


def test_a_clinician_decides_without_quorum_signs_and_reads_the_case_file(page, web_study):
    team = web_study.team
    first, _second = web_study.subjects
    sign_in_page(page, "cleo")
    page.wait_for_url("**/board")
    page.get_by_role("link", name="2025-01-22").click()
    page.locator("summary", has_text="Record the decision").click()
    page.get_by_label("Strategy").select_option("re_excision")
    page.get_by_label("Rationale").fill("Unplanned excision with positive margins")
    page.get_by_role("button", name="Record the decision").click()
    page.wait_for_url("**done=decided*")
    case = page.locator(".board-case").first
    assert "Re-excision" in case.locator(".strategy").inner_text()
    assert "taken without quorum" in case.locator(".flag").inner_text()
    # signing asks for the password again: a wrong one is refused beside the field
    page.locator("summary", has_text="Sign the decision").click()
    page.get_by_label("Your password, entered again to sign").fill("wrong-password")
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_selector("[id$='-password-error']")
    page.get_by_label("Your password, entered again to sign").fill(password("cleo"))
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_url("**done=signed*")
    signature = page.locator(".board-case li.sig-valid")
    assert "Dr Cleo Clinician (cleo)" in signature.inner_text()
    assert page.locator("summary", has_text="Sign the decision").count() == 0  # signed once: not offered again
    snap(page, "05-decided-without-quorum")

    # the case file of SPR-001
    page.goto(f"/board/patients/{first}")
    summary = page.locator("#summary").inner_text()
    assert "female" in summary and "1960" in summary and "MAIN" in summary
    assert "Synovial sarcoma" in page.locator("#histotype").inner_text()
    assert "second opinion" in page.locator("#histotype").inner_text()  # no diagnosis form before enrolment
    contradiction = page.locator("#molecular .flag-contradiction")
    assert contradiction.count() >= 1 and "contradicts the histotype" in contradiction.first.inner_text()
    assert "liposarcoma" in contradiction.first.inner_text().lower()
    assert "bad" in contradiction.first.get_attribute("class").split()  # drawn red
    actionable = page.locator("#molecular .actionable").first.inner_text().lower()
    assert "larotrectinib" in actionable
    assert "referral suggested" in page.locator("#counselling").inner_text()
    chompret = page.locator("#predisposition").inner_text()
    assert "criteria met" in chompret

    # the prediction drawn: the origin and one point per horizon, at the risks the model file gives
    expected = load_model(COX).predict(INPUTS)
    points = page.locator("svg.risk-chart circle.risk-point")
    assert points.count() == 3
    drawn = {float(points.nth(i).get_attribute("data-horizon")): float(points.nth(i).get_attribute("data-risk"))
             for i in range(3)}
    assert drawn == pytest.approx({0.0: 0.0, 5.0: expected.risk(5), 10.0: expected.risk(10)}, abs=1e-4)
    # and by hand, as the model file works its example: the Cox risk 1 - S0(t) ** exp(lp - centre), with
    # lp = 3.08011 (Harrell's restricted cubic spline for size), centre 2.2, S0(5) = 0.82, S0(10) = 0.74
    by_hand = {5.0: 1 - 0.82 ** math.exp(3.08011 - 2.2), 10.0: 1 - 0.74 ** math.exp(3.08011 - 2.2)}
    assert by_hand == pytest.approx({5.0: 0.3803, 10.0: 0.5162}, abs=1e-4)
    assert {h: drawn[h] for h in by_hand} == pytest.approx(by_hand, abs=1e-4)
    ys = [float(points.nth(i).get_attribute("cy")) for i in range(3)]
    assert ys[0] > ys[1] > ys[2]  # higher risk is drawn higher
    # the model gives risks at its horizons only: the joining line is dashed and said to be for reading
    assert page.locator("svg.risk-chart polyline.risk-line").first.get_attribute("stroke-dasharray")
    assert "not the model's risk in between" in page.locator("#prediction-1-reading").inner_text()
    caption = page.locator("#predictions").inner_text()
    assert "Synthetic Cox model" in caption and "synthetic" in caption and "not validated" in caption
    assert page.locator("#match-SPRINT .verdict").inner_text() == "may meet"
    assert page.get_by_role("button", name="Open screening").count() == 0  # a clinician does not screen
    snap(page, "06-case-file-clinician")
    assert registry.case_file(web_study, team.clinician, first).matches[0].verdict == "may meet"


def test_a_nurse_opens_the_screening_from_the_case_file(page, web_study):
    first, second = web_study.subjects
    sign_in_page(page, "nina")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Board", exact=True).click()
    page.wait_for_url("**/board")
    assert page.get_by_role("button", name="Record the meeting").count() == 1  # a nurse coordinates the board
    snap(page, "10-board-nurse")
    # the patient screened out: the match fails, naming the criterion
    page.get_by_label("Case file of the patient").fill(second.lower())
    page.get_by_role("button", name="Open").click()
    page.wait_for_url(f"**/board/patients/{second}")
    assert page.locator("#match-SPRINT .verdict").inner_text() == "fails"
    assert "radiotherapy" in page.locator("#match-SPRINT ul.failed").inner_text().lower()
    snap(page, "07-case-file-fails")

    page.goto(f"/board/patients/{first}")
    unknown = page.locator("#match-SPRINT ul.unknown").inner_text()
    assert "consent" in unknown.lower()
    page.get_by_role("button", name="Open screening").click()
    page.wait_for_url(f"**/screening/{first}?done=screened*")
    # the known answers (the earlier screening's) are filled in: the criteria they decide are met
    verdicts = {c: page.locator(f"#criterion-{c} .verdict").inner_text().strip()
                for c in ("resectable", "previous_rt", "amputation", "consent")}
    # an inclusion criterion answered yes is met; an exclusion answered no is not met (it passes)
    assert verdicts == {"resectable": "met", "previous_rt": "not met", "amputation": "not met", "consent": "unknown"}
    assert page.locator("#decision").inner_text() == "Not evaluable"
    snap(page, "08-screening-opened")
    rows = pathway.screening_file(web_study, web_study.team.research_nurse, first).screenings
    assert len(rows) == 2 and rows[0].values.get("candidate_for_resection") is True


def test_the_second_opinion_listing(page, web_study):
    sign_in_page(page, "pat")
    page.wait_for_url("**/board")
    page.get_by_role("link", name="Second opinions").click()
    page.wait_for_url("**/board/second-opinions")
    row = page.locator("#rates-pathology tbody tr").filter(has_text="Hospital A")
    cells = row.locator("td").all_inner_texts()
    low, high = binomtest(1, 2).proportion_ci(confidence_level=0.95, method="exact")
    assert cells[0] == "2" and cells[2] == "1 / 2"
    assert cells[3] == f"50.0 % ({low * 100:.1f}–{high * 100:.1f} %)"
    imaging = page.locator("#rates-imaging tbody tr").filter(has_text="Hospital B").locator("td").all_inner_texts()
    assert imaging[:2] == ["1", "0"] and "no review yet" in imaging[3]
    listing = page.locator("#requests").inner_text()
    assert hashlib.sha256(PDF).hexdigest() in listing
    assert f"{len(PDF)} bytes" in listing and "7 days" in listing and "awaiting review" in listing
    snap(page, "09-second-opinions")


def test_the_minutes_are_not_cached_and_only_an_identified_print_is_named_so(client_as):
    nurse = client_as("research_nurse")
    for query, identified in (("", False), ("?identified=0", False), ("?identified=no", False),
                              ("?identified=1", True), ("?identified=yes", True)):
        answer = nurse.get(f"/board/meetings/1/minutes.pdf{query}")
        assert answer.status_code == 200 and answer.content.startswith(b"%PDF"), query
        assert answer.headers["cache-control"] == "no-store", query
        named = answer.headers["content-disposition"]
        assert named.startswith('attachment; filename="board-minutes-2025-01-15-1'), query
        assert ("-identified.pdf" in named) is identified, (query, named)


def test_a_screening_refused_after_the_decision_keeps_the_decision_and_says_why(client_as, web_study):
    """A patient referred on 25 January 2025, put to the meeting of 22 January: the screening (on the meeting's
    date) would be before the referral, which pathway refuses; the decision is recorded and kept (200)."""
    team = web_study.team
    two = web_study.meetings[1]
    late = pathway.register_patient(
        web_study, team.research_nurse, identifiers=pathway.Identifiers("Gamma Patient (synthetic)",
                                                                        dt.date(1966, 6, 6), "H0104"),
        sex="male", referral={"referral_date": "2025-01-25", "anatomic_site": "extremity"}).subject_id
    case = board.add_case(web_study, team.clinician, two, late, "SPRINT?")
    answer = client_as("investigator").post(f"/board/cases/{case}/decision", data={
        "meeting": str(two), "strategy": "preoperative_radiotherapy_surgery", "rationale": "candidate for SPRINT",
        "responsible_physician": "Dr Ivy Investigator", "screen_for_study": "yes"})
    assert answer.status_code == 200
    assert "Nothing was saved" not in answer.text
    assert "recorded; screening refused: screening.screening_date: must not be before the referral (2025-01-25)" \
        in answer.text
    decision = [c for c in board.meeting(web_study, None, two).cases if c.id == case][0].decision
    assert decision is not None and decision.screen_for_study and decision.screening_id is None
    assert pathway.screening_file(web_study, team.research_nurse, late).screenings == []




def test_the_listing_says_how_many_cases_of_other_sites_a_meeting_has(client_as, web_study):
    """A member limited to a site sees a meeting's count of its own cases and, beside it, how many of other
    sites are not shown (a MAIN meeting of a satellite patient's case read "0" to MAIN's nurse, as if empty)."""
    from sarcotrial.services import access

    team = web_study.team
    access.add_site(web_study, team.admin, "SAT", "Satellite hospital")
    satellite_patient = pathway.register_patient(
        web_study, team.research_nurse, identifiers=pathway.Identifiers("Sat Patient (synthetic)", dt.date(1971, 3, 2),
                                                                        "H0903"),
        sex="male", referral={"referral_date": "2025-02-03", "anatomic_site": "extremity"}, site_code="SAT").subject_id
    meeting = board.new_meeting(web_study, team.clinician, dt.date(2025, 2, 6))
    board.add_case(web_study, team.clinician, meeting, satellite_patient, "Local treatment?")
    main_nurse = team.extra("nurse.main", "research_nurse", "Mia Main Nurse", sites=("MAIN",))
    (shown,) = [m for m in board.meetings(web_study, main_nurse) if m.id == meeting]
    assert shown.hidden == 1 and not shown.cases
    row = re.search(rf'<tr[^>]*>(?:(?!</tr>).)*/board/meetings/{meeting}"(?:(?!</tr>).)*</tr>',
                    client_as("nurse.main").get("/board").text, re.DOTALL).group(0)
    assert "(+1 of other sites)" in row
    everyone = re.search(rf'<tr[^>]*>(?:(?!</tr>).)*/board/meetings/{meeting}"(?:(?!</tr>).)*</tr>',
                         client_as("research_nurse").get("/board").text, re.DOTALL).group(0)
    assert "of other sites" not in everyone
