"""The patient page of a schema-version-2 protocol (DOXAB): what it shows follows what the protocol has.

DOXAB has no radiotherapy (no tab), a diagnosis form without FNCLCC's scores (no derived grade or AJCC stage:
its grade as entered), its own endpoints (PFS and OS; the objective response rate as the best overall
response), arms (the arm allocated), a systemic regimen (the course) and RECIST 1.1 (the time points).
SPRINT keeps its page (tests/web/test_patient.py; here: its radiotherapy tab).

Expected values, each computed by hand here:

- RECIST 1.1 (Eisenhauer EA et al., Eur J Cancer 2009;45:228-247, section 4.3.1 and Table 3): baseline sum
  30 + 20 = 50 mm; on 5 March 2025 20 + 14 = 34 mm, a 32 % decrease (>= 30 %): PR; on 16 April 2025
  26 + 16 = 42 mm, 8 mm over the nadir 34 (23.5 % >= 20 % and >= 5 mm): PD. Best overall response unconfirmed
  PR (5 March); confirmed (no second PR at least 28 days later) SD, since 5 March is day 42 after enrolment
  on 22 January and DOXAB's ``sd_min_days`` is 35. PFS: progression on 16 April, 9 + 28 + 31 + 16 = 84 days,
  84 / 30.4375 = 2.76 months, shown 2.8.
- Mosteller body surface area (N Engl J Med 1987;317:1098): sqrt(180 x 80 / 3600) = 2.00 m2; doxorubicin
  75 mg/m2 (Tap WD et al., Lancet 2016;388:488-497, as DOXAB declares it) = 150 mg, given in full.
- Relative dose intensity (Hryniuk W, Bush H. J Clin Oncol 1984;2:1281-1288): cycles on 27 January,
  17 February (21 days later: on time) and 17 March (28 days later: 7 days late); the time runs from the first
  day 1 to the end of the last cycle, 27 January to 7 April = 70 days = 10 weeks; received 3 x 75 = 225 mg/m2,
  22.5 mg/m2 a week, against 75 / 3 = 25 planned: 90 %. Cumulative doxorubicin (equivalence factor 1, ESC 2022,
  Lyon AR et al., Eur Heart J 2022;43:4229-4361): 225 mg/m2. After 6 cycles, 6 x 75 = 450 mg/m2: a 7th cycle
  would take it to 525, above DOXAB's 450: the warning.
- ICD-O-3.2 morphology of leiomyosarcoma, NOS: 8890/3 (WHO International Classification of Diseases for
  Oncology, 3rd edition, second revision).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from sarcotrial.services import forms as records, pathway
from sarcotrial.services.study import Actor, StudyDB

NURSE = Actor("nurse.test", "test")
ENROL = dt.date(2025, 1, 22)
SCREENING = {"screening_date": "2025-01-20", "age_years": 64, "histology_confirmed": True,
             "disease_extent": "metastatic", "measurable_disease": True, "ecog": 1, "lvef_percent": 60,
             "previous_lines": 0, "previous_anthracycline": False, "histotype_group": "leiomyosarcoma",
             "able_to_consent": True, "consent_signed": True, "consent_date": "2025-01-20"}


@pytest.fixture
def doxab(tmp_path, monkeypatch, fast_hashing):  # noqa: F811 - fast_hashing is conftest's
    """An empty synthetic DOXAB study on SQLite."""
    from sarcotrial.store.crypto import generate_key

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    monkeypatch.delenv("SARCOTRIAL_KEY_FILE", raising=False)
    study, _ = StudyDB.create(f"sqlite:///{tmp_path / 'doxab.sqlite'}", "doxab", Actor("tester", "test"),
                              synthetic=True)
    yield study
    study.close()


def enrolled(study: StudyDB, number: str = "H0001") -> str:
    """Registered, screened eligible, consented and enrolled (randomised) on 22 January 2025."""
    patient = pathway.register_patient(
        study, NURSE, identifiers=pathway.Identifiers("Test Patient (synthetic)", dt.date(1960, 5, 1), number),
        sex="female", referral={"referral_date": "2025-01-10"})
    pathway.screen(study, NURSE, patient.subject_id, SCREENING)
    records.record(study, NURSE, patient.subject_id, "consent",
                   {"consent_date": "2025-01-20", "document_version": "1.0", "data_use": True})
    pathway.enrol(study, NURSE, patient.subject_id, ENROL)
    return patient.subject_id


def arm(study: StudyDB, subject: str) -> str:
    from sarcotrial.services.randomisation import arms_by_subject

    return arms_by_subject(study, None, subject)[subject]


def cycle(study: StudyDB, subject: str, number: int, day: str, **extra) -> None:
    """A cycle of a 180 cm, 80 kg patient (2.00 m2) with the full doxorubicin dose, 150 mg; on the antibody
    arm the antibody too, 15 mg/kg x 80 kg = 1200 mg on days 1 and 8."""
    values = {"cycle_number": number, "cycle_date": day, "height_cm": 180, "weight_kg": 80, "doxorubicin_mg": 150,
              "dose_reduced": False, "delayed": False, **extra}
    if arm(study, subject) == "doxorubicin_antibody":
        values.update({"olaratumab_day1_mg": 1200, "olaratumab_day8_mg": 1200})
    records.record(study, NURSE, subject, "systemic_cycle", values)


def assessment(study, subject, day, sizes, statuses, *, baseline=False, new_lesions="no"):
    form = records.record(study, NURSE, subject, "tumour_assessment",
                          {"assessment_date": day, "baseline": baseline, "method": "ct", "new_lesions": new_lesions})
    for lesion_id, mm in sizes.items():
        records.record(study, NURSE, subject, "lesion_measurement",
                       {"assessment_date": day, "lesion_id": lesion_id, "diameter_mm": mm}, visit=form.visit)
    for lesion_id, status in statuses.items():
        records.record(study, NURSE, subject, "lesion_measurement",
                       {"assessment_date": day, "lesion_id": lesion_id, "status": status}, visit=form.visit)


def doxab_patient(study: StudyDB) -> str:
    """The patient of the module docstring: diagnosis (leiomyosarcoma, grade 2 as entered), three cycles (the
    third 7 days late), and three tumour assessments (PR, then PD)."""
    subject = enrolled(study)
    records.record(study, NURSE, subject, "diagnosis", {"diagnosis_date": "2025-01-05", "histotype": "leiomyosarcoma",
                                                       "primary_site": "retroperitoneum", "grade": "2"})
    for lesion_id, kind, organ, node in (("L1", "target", "lung", False), ("L2", "target", "liver", False),
                                         ("N1", "non_target", "lymph_node", True)):
        records.record(study, NURSE, subject, "lesion", {"lesion_id": lesion_id, "kind": kind, "organ": organ,
                                                         "node": node})
    assessment(study, subject, "2025-01-15", {"L1": 30, "L2": 20}, {"N1": "present"}, baseline=True)
    cycle(study, subject, 1, "2025-01-27")
    cycle(study, subject, 2, "2025-02-17")
    assessment(study, subject, "2025-03-05", {"L1": 20, "L2": 14}, {"N1": "present"})
    cycle(study, subject, 3, "2025-03-17", delayed=True, delay_reason="logistic")
    assessment(study, subject, "2025-04-16", {"L1": 26, "L2": 16}, {"N1": "present"})
    return subject


@pytest.fixture
def doxab_app(doxab):
    from sarcotrial.web.app import create_app
    from tests.edc_support import staff

    subject = doxab_patient(doxab)
    doxab.team = staff(doxab)
    doxab.subject = subject
    return create_app(study=doxab)


def html_of(app, subject: str, role: str = "data_manager") -> str:
    from tests.web.conftest import Client, username

    answer = Client(app, username(role)).get(f"/patients/{subject}")
    assert answer.status_code == 200, answer.text
    return answer.text


def section(html: str, start: str, end: str) -> str:
    return html[html.index(start):html.index(end, html.index(start))]


def text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def test_no_radiotherapy_tab_and_no_sprint_diagnosis_rows(doxab_app):
    """DOXAB has no treatment.radiotherapy, and its diagnosis form no FNCLCC scores: no tab, no FNCLCC grade
    GX, no AJCC stage; the grade as entered (code 2, "Grade 2") and the ICD-O-3 code of the histotype."""
    study = doxab_app.state.study
    html = html_of(doxab_app, study.subject)
    assert f"/patients/{study.subject}/rt" not in html and ">Radiotherapy</a>" not in html
    derived = text(section(html, 'id="h-derived"', "</section>"))
    assert "FNCLCC)" not in derived and "GX" not in derived and "AJCC" not in derived and "stage" not in derived
    assert "FNCLCC grade (as entered) Grade 2" in derived
    assert "ICD-O-3 morphology 8890/3" in derived


def test_the_protocols_own_endpoints(doxab_app):
    """PFS and OS with their time and status, the ORR as the best overall response; none of SPRINT's
    proportions (R0, pCR, major wound complication)."""
    study = doxab_app.state.study
    endpoints = section(html_of(doxab_app, study.subject), 'id="h-endpoints"', "</section>")
    plain = text(endpoints)
    for absent in ("R0", "pCR", "wound", "not applicable yet"):
        assert absent not in plain, absent
    assert re.search(r"Progression-free survival event progression 2\.8", plain), plain
    assert "Overall survival censored" in plain  # alive
    assert "Objective response rate (RECIST 1.1)" in plain
    assert "unconfirmed PR 2025-03-05 yes" in plain and "confirmed SD 2025-03-05 no" in plain


def test_the_arm_the_course_and_the_time_points(doxab_app):
    study = doxab_app.state.study
    html = html_of(doxab_app, study.subject)
    allocated = arm(study, study.subject)
    name = {a.id: a.name for a in study.protocol.arms}[allocated]
    assert f'<dd id="arm">{name}' in html
    randomisation = text(section(html, 'id="h-arm"', "</section>"))
    assert f"Arm {name}" in randomisation and "Allocation number 1, 2025-01-22" in randomisation

    systemic = text(section(html, 'id="h-systemic"', "</section>"))
    assert "Cycles given 3 of 8" in systemic
    assert "Relative dose intensity, doxorubicin 90 %" in systemic
    assert "Cumulative doxorubicin-equivalent 225 mg/m²" in systemic
    assert 'id="anthracycline-warning"' not in html  # 225 + 75 = 300, below 450
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(\d)</th>\s*<td class=\"nowrap\">([\d-]+)</td>\s*"
                      r"<td class=\"num\">(-?\d*)", section(html, 'id="cycles"', "</table>"))
    assert rows == [("1", "2025-01-27", ""), ("2", "2025-02-17", "0"), ("3", "2025-03-17", "7")]
    assert "Logistic (holiday, scheduling)" in systemic  # the delay's reason, by its label

    recist = section(html, 'id="h-recist"', "</section>")
    assert "SD (2025-03-05)" in text(section(recist, 'id="best-confirmed"', "</dd>"))
    assert "PR (2025-03-05)" in text(section(recist, 'id="best-unconfirmed"', "</dd>"))
    points = [text(r) for r in re.findall(r"<tr>(.*?)</tr>", section(recist, "<tbody>", "</tbody>"), re.S)]
    assert points[0].startswith("2025-01-15 baseline 50")
    assert points[1] == "2025-03-05 34 PR NON-CR/NON-PD no PR"
    assert points[2] == "2025-04-16 42 PD NON-CR/NON-PD no PD"
    # each lesion and measurement is in the table (and the visit schedule), not one timeline item each
    timeline = section(html, 'id="h-timeline"', "</section>")
    assert "Lesion measurement" not in timeline and "Tumour assessment" in timeline


def test_the_anthracycline_warning_after_six_cycles(doxab):
    """6 x 75 = 450 mg/m2: the 7th cycle at 75 would reach 525, above DOXAB's 450 (warned, not refused)."""
    from sarcotrial.web.app import create_app
    from tests.edc_support import staff

    subject = enrolled(doxab)
    for n, day in enumerate(("2025-01-27", "2025-02-17", "2025-03-10", "2025-03-31", "2025-04-21", "2025-05-12"), 1):
        cycle(doxab, subject, n, day)
    staff(doxab)
    html = html_of(create_app(study=doxab), subject)
    assert "Cumulative doxorubicin-equivalent 450 mg/m²" in text(section(html, 'id="h-systemic"', "</section>"))
    warning = text(section(html, 'id="anthracycline-warning"', "</p>"))
    assert "450" in warning


def test_a_patient_not_enrolled_has_no_panels_filled(doxab):
    """Registered only: no arm (the facts say so), no cycle, no assessment; the page still answers."""
    from sarcotrial.web.app import create_app
    from tests.edc_support import staff

    patient = pathway.register_patient(
        doxab, NURSE, identifiers=pathway.Identifiers("Other Patient (synthetic)", dt.date(1970, 1, 1), "H0009"),
        sex="male", referral={"referral_date": "2025-01-10"})
    staff(doxab)
    html = html_of(create_app(study=doxab), patient.subject_id)
    assert '<dd id="arm">not allocated</dd>' in html
    assert "No cycle of systemic therapy recorded yet." in html and "No tumour assessment recorded yet." in html
    assert "Endpoints are derived once the patient is enrolled." in html


def test_sprint_keeps_its_radiotherapy_tab_and_its_rows(tmp_path, monkeypatch, fast_hashing):  # noqa: F811
    """SPRINT has treatment.radiotherapy and FNCLCC's scores: the tab and the rows stay; no DOXAB panel."""
    from sarcotrial.store.crypto import generate_key
    from sarcotrial.web.app import create_app
    from tests.edc_support import staff
    from tests.helpers import enrolled as sprint_enrolled

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    monkeypatch.delenv("SARCOTRIAL_KEY_FILE", raising=False)
    study, _ = StudyDB.create(f"sqlite:///{tmp_path / 'sprint.sqlite'}", "sprint", Actor("tester", "test"))
    try:
        subject = sprint_enrolled(study)
        staff(study)
        html = html_of(create_app(study=study), subject)
        assert f'href="/patients/{subject}/rt">Radiotherapy</a>' in html
        plain = text(section(html, 'id="h-endpoints"', "</section>"))
        assert "R0 (resected)" in plain and "pCR" in plain and "Major wound complication" in plain
        for absent in ('id="arm"', 'id="h-systemic"', 'id="h-recist"', 'id="h-arm"', 'id="rt-courses"'):
            assert absent not in html, absent
    finally:
        study.close()


def test_the_radiotherapy_page_is_not_found_for_a_protocol_without_radiotherapy(doxab_app):
    """DOXAB has no treatment.radiotherapy: /patients/<id>/rt answers 404, not a page built on nothing."""
    from tests.web.conftest import Client, username

    response = Client(doxab_app, username("data_manager")).get("/patients/DXA-001/rt")
    assert response.status_code == 404


def test_the_dashboard_has_no_plan_qa_card_without_radiotherapy(doxab_app):
    """Plan QA judges a protocol's own radiotherapy plans: DOXAB's dashboard has no such card; SPRINT's keeps it
    (tests/web/test_dashboard.py)."""
    from tests.web.conftest import Client, username

    page = Client(doxab_app, username("data_manager")).get("/")
    assert page.status_code == 200 and "Plan QA deviations" not in page.text and "Accrual" in page.text
