"""``sarcotrial rt courses SUBJECT`` as a user runs it (tests/protocols/rt-courses-test.yaml).

Expected values by hand: EQD2 of 35 Gy in 5 x 7 Gy at a/b 10 Gy = 35 x (7 + 10) / (2 + 10) = 49.58 Gy
(Fowler, Br J Radiol 1989); protons 50 Gy physical x 1.1 = 55 Gy(RBE) (ICRU Report 78); a carbon-ion
course has no photon EQD2; every other working day from Mon 14 Apr 2025 skips Easter Monday (21 Apr) and
Liberation Day (25 Apr): 14, 16, 18, 23, 28 Apr.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()
PROTOCOL_FILE = Path(__file__).resolve().parents[1] / "protocols" / "rt-courses-test.yaml"


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    """A SQLite study on the test protocol with one enrolled patient and three courses: SBRT with two fractions
    delivered, protons, carbon ions, a temporary LDR implant (built once for the module's read-only commands)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _build(tmp_path_factory.mktemp("courses"), monkeypatch)


def _build(tmp_path, monkeypatch):
    from sarcotrial.services import forms as records, pathway
    from sarcotrial.services.study import Actor, StudyDB
    from sarcotrial.store.crypto import generate_key

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db = f"sqlite:///{tmp_path / 'courses.sqlite'}"
    nurse = Actor("nurse.test", "test")
    study, _ = StudyDB.create(db, str(PROTOCOL_FILE), Actor("tester", "test"))
    with study:
        subject = pathway.register_patient(
            study, nurse, identifiers=pathway.Identifiers("Test Patient (synthetic)", dt.date(1960, 5, 1), "H0001"),
            sex="female", referral={"referral_date": "2025-01-10"}).subject_id
        pathway.screen(study, nurse, subject, {
            "screening_date": "2025-01-20", "age_years": 64, "histology_confirmed": True,
            "disease_extent": "metastatic", "measurable_disease": True, "ecog": 1, "lvef_percent": 60,
            "previous_lines": 0, "previous_anthracycline": False, "histotype_group": "leiomyosarcoma",
            "able_to_consent": True, "consent_signed": True, "consent_date": "2025-01-20"})
        records.record(study, nurse, subject, "consent",
                       {"consent_date": "2025-01-20", "document_version": "1.0", "data_use": True})
        pathway.enrol(study, nurse, subject, dt.date(2025, 1, 22))
        records.record(study, nurse, subject, "rt_further_course", {
            "course_number": 1, "intent": "ablative", "site": "lung metastasis", "modality": "photons",
            "total_dose_gy": 35, "dose_per_fraction_gy": 7, "fractions": 5, "schedule": "every_other_day",
            "planned_start": "2025-04-14"})
        for number, day in ((1, "2025-04-14"), (2, "2025-04-16")):
            records.record(study, nurse, subject, "rt_further_fraction", {
                "course_number": 1, "fraction_number": number, "fraction_date": day, "status": "delivered"})
        records.record(study, nurse, subject, "rt_further_course", {
            "course_number": 2, "intent": "definitive", "site": "sacrum", "modality": "protons",
            "physical_dose_gy": 50, "fractions": 25, "planned_start": "2025-06-03"})
        records.record(study, nurse, subject, "rt_further_course", {
            "course_number": 3, "intent": "definitive", "site": "sacrum", "modality": "carbon", "rbe_model": "LEM-I",
            "total_dose_gy": 70.4, "dose_per_fraction_gy": 4.4, "fractions": 16, "planned_start": "2025-09-01"})
        records.record(study, nurse, subject, "rt_further_course", {
            "course_number": 4, "intent": "palliative", "site": "chest wall", "modality": "ldr_temporary",
            "total_dose_gy": 60, "dose_rate_gy_per_h": 0.5, "fractions": 1, "planned_start": "2025-10-06"})
    return db, subject


def test_courses_json_gives_each_course_with_its_dose_eqd2_calendar_and_delivery(study_db):
    db, subject = study_db
    result = runner.invoke(app, ["rt", "courses", subject, "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["subject_id"] == subject and [c["course_number"] for c in data["courses"]] == [1, 2, 3, 4]
    sbrt, protons, carbon, ldr = data["courses"]
    assert sbrt["modality"] == "photons" and sbrt["radiobiology"]["eqd2_gy"] == 49.58
    assert sbrt["planned"]["dates"] == ["2025-04-14", "2025-04-16", "2025-04-18", "2025-04-23", "2025-04-28"]
    assert (sbrt["delivery"]["delivered"], sbrt["delivery"]["planned_fractions"]) == (2, 5)
    assert sbrt["delivery"]["delivered_dose_gy"] == {"lung metastasis": 14.0}
    assert protons["prescription"]["unit"] == "Gy(RBE)" and protons["prescription"]["total_dose"] == 55.0
    assert protons["prescription"]["physical_dose_gy"] == 50.0
    assert carbon["prescription"]["rbe_model"] == "LEM-I" and carbon["radiobiology"]["eqd2_gy"] is None
    assert "no EQD2 for carbon ions" in carbon["radiobiology"]["eqd2_refused"]
    # Dale 1985, 60 Gy at 0.5 Gy/h, repair half-time 1.5 h, a/b 10 (worked in tests/services/test_rt_courses.py)
    assert (ldr["radiobiology"]["bed_gy"], ldr["radiobiology"]["eqd2_gy"]) == (72.75, 60.63)
    assert ldr["radiobiology"]["implant_duration_h"] == 120.0 and ldr["planned"]["dates"] == ["2025-10-06"]


def test_courses_readable(study_db):
    db, subject = study_db
    result = runner.invoke(app, ["rt", "courses", subject, "--db", db], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert f"{subject}: 4 further radiotherapy courses" in shown
    assert "Course 1 (ablative, lung metastasis): photons 35 Gy in 5 fractions of 7 Gy" in shown
    assert "EQD2 49.58 Gy, BED 59.50 Gy (LQ, alpha/beta 10 Gy)" in shown
    assert "Mon 14 Apr, Wed 16 Apr, Fri 18 Apr, Wed 23 Apr, Mon 28 Apr 2025; overall time 15 days" in shown
    assert "delivered 2 of 5 (0 missed, 0 rescheduled), 2025-04-14 to 2025-04-16" in shown
    assert "55 Gy(RBE) in 25 fractions of 2.2 Gy(RBE), RBE: fixed RBE 1.1 (ICRU 78) (physical 50 Gy)" in shown
    assert "70.4 Gy(RBE) in 16 fractions of 4.4 Gy(RBE), RBE: LEM-I" in shown
    assert "no EQD2 for carbon ions: the Gy(RBE) of LEM-I" in shown
    assert "Course 4 (palliative, chest wall): ldr_temporary 60 Gy in 1 implant at 0.5 Gy/h" in shown
    assert "EQD2 60.63 Gy, BED 72.75 Gy (Dale 1985, continuous irradiation at 0.5 Gy/h" in shown


def test_courses_refused_in_one_line(study_db, tmp_path):
    """An unknown subject, and a protocol without further courses (SPRINT 1.2, tests/protocols/sprint-1.2.yaml: the
    shipped 1.3 has them), exit 2 with the field and the rule."""
    db, _subject = study_db
    result = runner.invoke(app, ["rt", "courses", "RTC-999", "--db", db])
    assert result.exit_code == 2 and "RTC-999" in result.output and "Traceback" not in result.output
    from sarcotrial.services.study import Actor, StudyDB

    sprint = f"sqlite:///{tmp_path / 'sprint.sqlite'}"
    sprint_12 = Path(__file__).resolve().parents[1] / "protocols" / "sprint-1.2.yaml"
    StudyDB.create(sprint, str(sprint_12), Actor("tester", "test"))[0].close()
    result = runner.invoke(app, ["rt", "courses", "SPR-001", "--db", sprint])
    assert result.exit_code == 2
    assert "protocol: SPRINT" in result.output and "declares no further radiotherapy courses" in result.output
