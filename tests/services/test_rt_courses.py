"""Further radiotherapy courses (tests/protocols/rt-courses-test.yaml): prescription, dose, calendar, delivery.

Every expected value is worked by hand in the test from its source:

- LQ BED and EQD2: Fowler JF, Br J Radiol 1989;62:679-694: ``EQD2 = D (d + a/b) / (2 + a/b)``;
- Gy(RBE) = physical dose x 1.1 for protons (ICRU Report 78, 2007); a carbon-ion dose carries its RBE
  model (LEM-I, MKM) and has no photon EQD2;
- LDR with incomplete repair: Dale RG, Br J Radiol 1985;58:515-528 (temporary implant
  ``BED = R T [1 + 2R/(mu a/b) (1 - (1 - exp(-mu T))/(mu T))]``; permanent implant
  ``BED = D [1 + R0/((mu + lambda) a/b)]``, ``R0 = D lambda``);
- calendars: Italian public holidays (Easter Monday 21 Apr 2025, Liberation Day 25 Apr, 1 May,
  25 and 26 Dec, 1 and 6 Jan), Monday to Friday.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol import load_protocol
from sarcotrial.services import rt_courses

PROTOCOL_FILE = Path(__file__).resolve().parents[1] / "protocols" / "rt-courses-test.yaml"
COURSE, FRACTION = "rt_further_course", "rt_further_fraction"


@pytest.fixture(scope="module")
def section():
    return load_protocol(str(PROTOCOL_FILE)).treatment.radiotherapy_courses


def _course(**values):
    base = {"course_number": 1, "modality": "photons", "planned_start": dt.date(2027, 2, 1), "schedule": "daily"}
    return {**base, **values}


def _assess(section, **values):
    return rt_courses.assess_course(section, COURSE, _course(**values))


# --------------------------------------------------------------------------- the protocol's section
def _problems(mutate) -> list[str]:
    from sarcotrial.protocol import ProtocolError, parse_protocol

    data = yaml.safe_load(PROTOCOL_FILE.read_text(encoding="utf-8"))
    mutate(data)
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "courses.yaml")
    return info.value.problems


def _form(data, form_id):
    return next(f for f in data["forms"] if f["id"] == form_id)


def test_the_section_is_checked_against_its_forms_and_code_lists_every_problem_at_once():
    def mutate(data):
        section = data["treatment"]["radiotherapy_courses"]
        del section["repair_half_time_h"]
        section["schedules"]["every_other_day"]["spacing"] = "fortnightly"
        data["codelists"]["rt_modality"].append({"code": "electrons", "label": "Electrons"})
        data["codelists"]["rbe_model"].append({"code": "RBE-2", "label": "Another model"})
        _form(data, FRACTION)["repeating"] = False
        course = _form(data, COURSE)
        course["fields"] = [f for f in course["fields"] if f["id"] != "dose_rate_gy_per_h"]

    problems = " | ".join(_problems(mutate))
    base = "treatment.radiotherapy_courses"
    for expected in (
            f"{base}.schedules.every_other_day.spacing: unknown spacing 'fortnightly'",
            f"{base}.fraction_form: form 'rt_further_fraction' must be repeating",
            f"{base}.fields.modality: the codelist of 'modality' has electrons: not a modality",
            f"{base}.fields.rbe_model: the codelist of 'rbe_model' has RBE-2: not a carbon-ion RBE model",
            f"{base}.fields.dose_rate: form 'rt_further_course' has no field 'dose_rate_gy_per_h'",
            f"{base}.repair_half_time_h: the modality codes LDR brachytherapy"):
        assert expected in problems, problems


def test_the_section_names_existing_forms_and_comes_with_schema_version_2():
    def typo(data):
        data["treatment"]["radiotherapy_courses"]["course_form"] = "rt_course_typo"

    def version_1(data):
        data["schema_version"] = 1

    assert "treatment.radiotherapy_courses.course_form: unknown form 'rt_course_typo'" in " | ".join(_problems(typo))
    assert "treatment.radiotherapy_courses: comes with schema version 2" in " | ".join(_problems(version_1))


# --------------------------------------------------------------------------- the prescription and its radiobiology
def test_sbrt_35_gy_in_5_fractions_every_other_working_day_from_monday_1_february_2027(section):
    """Working days of February 2027 from Mon 1: 1 2 3 4 5 8 9 10 11; every other one: 1, 3, 5, 9, 11 Feb.
    EQD2 at a/b 10 Gy: 35 x (7 + 10) / (2 + 10) = 49.58 Gy; BED 35 x (1 + 7/10) = 59.5 Gy (Fowler 1989)."""
    a = _assess(section, total_dose_gy=35, dose_per_fraction_gy=7, fractions=5, schedule="every_other_day")
    assert a.planned_dates == tuple(dt.date(2027, 2, d) for d in (1, 3, 5, 9, 11))
    assert a.planned_overall_days == 11
    assert a.unit == "Gy" and a.rbe_model is None
    assert a.eqd2_gy == pytest.approx(35 * 17 / 12) and round(a.eqd2_gy, 2) == 49.58
    assert a.bed_gy == pytest.approx(59.5)


def test_protons_50_gy_physical_are_55_gy_rbe(section):
    """ICRU 78: 50 Gy x 1.1 = 55 Gy(RBE), 2.2 Gy(RBE) a fraction in 25; EQD2 at a/b 10 = 55 x 12.2 / 12 = 55.92."""
    a = _assess(section, modality="protons", physical_dose_gy=50, fractions=25)
    assert (a.unit, a.total_dose, a.rbe) == ("Gy(RBE)", pytest.approx(55.0), 1.1)
    assert a.dose_per_fraction == pytest.approx(2.2)
    assert a.rbe_model == "fixed RBE 1.1 (ICRU 78)"
    assert a.eqd2_gy == pytest.approx(55 * 12.2 / 12)
    with pytest.raises(InvalidValue, match=r"rt_further_course.total_dose_gy: disagrees with the physical dose x 1.1"):
        _assess(section, modality="protons", physical_dose_gy=50, total_dose_gy=50, fractions=25)


def test_hdr_4_x_7_gy_twice_weekly(section):
    """GEC-ESTRO practice: 4 x 7 Gy at a/b 10 -> EQD2 = 28 x 17 / 12 = 39.67 Gy. Tuesdays and Fridays from
    Tue 2 Feb 2027: 2, 5, 9, 12 Feb."""
    a = _assess(section, modality="hdr", total_dose_gy=28, dose_per_fraction_gy=7, fractions=4,
                schedule="twice_weekly", planned_start=dt.date(2027, 2, 2))
    assert round(a.eqd2_gy, 2) == 39.67 and a.eqd2_gy == pytest.approx(28 * 17 / 12)
    assert a.planned_dates == tuple(dt.date(2027, 2, d) for d in (2, 5, 9, 12))


def test_a_carbon_ion_dose_needs_its_rbe_model_and_has_no_eqd2(section):
    """A carbon-ion Gy(RBE) depends on the model that weighted it (LEM-I or MKM): without it the course is
    refused naming the field; with it, the dose is kept as planned and no photon EQD2 is computed."""
    with pytest.raises(InvalidValue) as refused:
        _assess(section, modality="carbon", total_dose_gy=70.4, dose_per_fraction_gy=4.4, fractions=16)
    assert refused.value.field == "rt_further_course.rbe_model"
    a = _assess(section, modality="carbon", total_dose_gy=70.4, dose_per_fraction_gy=4.4, fractions=16,
                rbe_model="LEM-I")
    assert (a.unit, a.rbe_model, a.total_dose) == ("Gy(RBE)", "LEM-I", 70.4)
    assert a.eqd2_gy is None and a.bed_gy is None and "no EQD2 for carbon ions" in a.eqd2_refused


def test_a_prescription_that_does_not_add_up_is_refused_naming_the_dose_per_fraction(section):
    """5 x 7 Gy is 35 Gy, not 30 Gy; a dose per fraction entered to 0.01 Gy (3 x 8.33 for 25 Gy) adds up."""
    with pytest.raises(InvalidValue, match=r"rt_further_course.dose_per_fraction_gy: 5 fractions x 7 Gy = 35 Gy, "
                                           r"not the total dose 30 Gy"):
        _assess(section, total_dose_gy=30, dose_per_fraction_gy=7, fractions=5)
    assert _assess(section, total_dose_gy=25, dose_per_fraction_gy=8.33, fractions=3).total_dose == 25


def test_fields_of_another_modality_are_refused(section):
    with pytest.raises(InvalidValue, match="rt_further_course.rbe_model: only a carbon-ion dose"):
        _assess(section, total_dose_gy=50, fractions=25, rbe_model="MKM")
    with pytest.raises(InvalidValue, match="rt_further_course.physical_dose_gy"):
        _assess(section, total_dose_gy=50, fractions=25, physical_dose_gy=50)
    with pytest.raises(InvalidValue, match="rt_further_course.dose_rate_gy_per_h: a dose rate is recorded for an LDR"):
        _assess(section, modality="hdr", total_dose_gy=28, fractions=4, dose_rate_gy_per_h=0.5)
    with pytest.raises(InvalidValue, match="rt_further_course.total_dose_gy: a photons course needs its total dose"):
        _assess(section, fractions=25)


def test_temporary_ldr_implant_bed_by_dale_1985(section):
    """60 Gy at 0.5 Gy/h: T = 120 h; mu = ln 2 / 1.5 h = 0.462098 /h; mu T = 55.4518;
    1 - (1 - exp(-55.4518)) / 55.4518 = 1 - 0.0180337 = 0.9819663; 2R / (mu a/b) = 1 / 4.62098 = 0.2164043;
    BED = 60 x (1 + 0.2164043 x 0.9819663) = 60 x 1.2125017 = 72.750 Gy; EQD2 = 72.750 / 1.2 = 60.625 Gy."""
    a = _assess(section, modality="ldr_temporary", total_dose_gy=60, dose_rate_gy_per_h=0.5, fractions=1)
    assert a.bed_gy == pytest.approx(72.750, abs=0.001) and a.eqd2_gy == pytest.approx(60.625, abs=0.001)
    assert a.duration_h == pytest.approx(120) and "Dale 1985" in a.model
    with pytest.raises(InvalidValue, match="rt_further_course.fractions: an LDR course is one continuous implant"):
        _assess(section, modality="ldr_temporary", total_dose_gy=60, dose_rate_gy_per_h=0.5, fractions=2)
    with pytest.raises(InvalidValue, match="rt_further_course.dose_rate_gy_per_h: a temporary LDR implant needs"):
        _assess(section, modality="ldr_temporary", total_dose_gy=60, fractions=1)


def test_permanent_iodine_125_implant_bed_by_dale_1985(section):
    """145 Gy of I-125 (half-life 59.39 d = 1425.36 h): lambda = 0.693147 / 1425.36 = 4.8630e-4 /h;
    R0 = 145 x 4.8630e-4 = 0.070513 Gy/h; mu + lambda = 0.462584 /h;
    BED = 145 x (1 + 0.070513 / (0.462584 x 10)) = 145 x 1.015243 = 147.21 Gy; EQD2 = 147.21 / 1.2 = 122.68 Gy."""
    a = _assess(section, modality="ldr_permanent", total_dose_gy=145, isotope="i125", fractions=1)
    assert a.bed_gy == pytest.approx(147.21, abs=0.01) and a.eqd2_gy == pytest.approx(122.68, abs=0.01)
    with pytest.raises(InvalidValue, match="rt_further_course.dose_rate_gy_per_h: a permanent implant's initial "
                                           "dose rate is its total dose x ln 2 / half-life = 0.07051 Gy/h"):
        _assess(section, modality="ldr_permanent", total_dose_gy=145, isotope="i125", fractions=1,
                dose_rate_gy_per_h=0.5)


def test_the_first_day_must_be_a_treatment_day_and_the_schedule_its_window(section):
    """Easter Monday 2027 is 29 March (Easter Sunday 28 March 2027): refused, the next treatment day named.
    Every other working day from Mon 22 Dec 2025 with 25-26 Dec, 1 Jan and 6 Jan closed: 22 Dec, 24 Dec,
    (29 rest) 30 Dec, (31 rest) 2 Jan, (5 rest) 7 Jan: 17 days, beyond the schedule's 15."""
    with pytest.raises(InvalidValue, match=r"rt_further_course.planned_start: public holiday \(Easter Monday\); the "
                                           r"next treatment day is Tue 30 Mar 2027"):
        _assess(section, total_dose_gy=10, fractions=5, planned_start=dt.date(2027, 3, 29))
    with pytest.raises(InvalidValue, match=r"rt_further_course.planned_start: the course would take 17 days "
                                           r"\(2025-12-22 to 2026-01-07\), more than 15"):
        _assess(section, total_dose_gy=35, fractions=5, schedule="every_other_day", planned_start=dt.date(2025, 12, 22))


# --------------------------------------------------------------------------- through the services
@pytest.fixture
def enrolled(database_url):
    """A study on the test protocol and a patient referred, screened, consented and enrolled on 22 Jan 2025,
    as tests/protocol/test_schema_v2.py runs DOXAB."""
    from sarcotrial.services import forms as records, pathway
    from sarcotrial.services.study import Actor, StudyDB

    nurse = Actor("nurse.test", "test")
    study, _notice = StudyDB.create(database_url, str(PROTOCOL_FILE), Actor("tester", "test"))
    patient = pathway.register_patient(
        study, nurse, identifiers=pathway.Identifiers("Test Patient (synthetic)", dt.date(1960, 5, 1), "H0001"),
        sex="female", referral={"referral_date": "2025-01-10"})
    pathway.screen(study, nurse, patient.subject_id, {
        "screening_date": "2025-01-20", "age_years": 64, "histology_confirmed": True,
        "disease_extent": "metastatic", "measurable_disease": True, "ecog": 1, "lvef_percent": 60,
        "previous_lines": 0, "previous_anthracycline": False, "histotype_group": "leiomyosarcoma",
        "able_to_consent": True, "consent_signed": True, "consent_date": "2025-01-20"})
    records.record(study, nurse, patient.subject_id, "consent",
                   {"consent_date": "2025-01-20", "document_version": "1.0", "data_use": True})
    pathway.enrol(study, nurse, patient.subject_id, dt.date(2025, 1, 22))
    try:
        yield study, nurse, patient.subject_id
    finally:
        study.close()


def test_two_courses_each_with_its_prescription_calendar_and_delivery_log(enrolled):
    """Preoperative photons 50 Gy in 25 x 2 Gy daily from Mon 3 Feb 2025, then SBRT 35 Gy in 5 x 7 Gy every other
    working day from Mon 14 Apr 2025 to a lung metastasis. Planned: 14, 16, 18 Apr, (21 Easter Monday, 22 rest)
    23 Apr, (24 rest, 25 Liberation Day) 28 Apr: 15 days. Delivered 14, 16, 18, 23 Apr; fraction 5 missed on
    28 Apr and made up on Fri 2 May (1 May closed): 14 Apr to 2 May is 19 days, 4 beyond the planned 15:
    a minor deviation (protocol: minor beyond 2 days, major beyond 5)."""
    from sarcotrial.services import forms as records

    study, nurse, subject = enrolled
    first = records.record(study, nurse, subject, COURSE, {
        "course_number": 1, "intent": "preoperative", "site": "thigh", "modality": "photons", "total_dose_gy": 50,
        "dose_per_fraction_gy": 2, "fractions": 25, "schedule": "daily", "planned_start": "2025-02-03"})
    assert first.derived["eqd2_gy"] == pytest.approx(50.0)  # 2 Gy fractions: EQD2 = D at any a/b
    second = records.record(study, nurse, subject, COURSE, {
        "course_number": 2, "intent": "ablative", "site": "lung metastasis", "modality": "photons",
        "total_dose_gy": 35, "dose_per_fraction_gy": 7, "fractions": 5, "schedule": "every_other_day",
        "planned_start": "2025-04-14"})
    assert second.derived["planned_dates"] == ["2025-04-14", "2025-04-16", "2025-04-18", "2025-04-23", "2025-04-28"]
    assert second.derived["planned_overall_days"] == 15 and round(second.derived["eqd2_gy"], 2) == 49.58
    for number, day in enumerate(("2025-04-14", "2025-04-16", "2025-04-18", "2025-04-23"), start=1):
        row = records.record(study, nurse, subject, FRACTION, {"course_number": 2, "fraction_number": number,
                                                               "fraction_date": day, "status": "delivered"})
        assert row.derived == {"dose": 7.0, "unit": "Gy"}
    records.record(study, nurse, subject, FRACTION, {"course_number": 2, "fraction_number": 5,
                                                     "fraction_date": "2025-04-28", "status": "missed",
                                                     "reason": "machine breakdown"})
    records.record(study, nurse, subject, FRACTION, {"course_number": 2, "fraction_number": 5,
                                                     "fraction_date": "2025-05-02", "status": "delivered"})
    shown = rt_courses.courses(study, subject)
    assert [c.number for c in shown] == [1, 2]
    assert shown[0].delivery.delivered == 0 and shown[0].delivery.planned_fractions == 25
    assert shown[0].assessment.planned_dates[-1] == dt.date(2025, 3, 7)  # 25 working days from 3 Feb, no holiday
    log = shown[1].delivery
    assert (log.delivered, log.missed, log.made_up, log.complete) == (5, 1, 1, True)
    assert (log.overall_treatment_days, log.planned_overall_treatment_days, log.prolongation_days) == (19, 15, 4)
    assert log.delivered_dose_gy == {"lung metastasis": 35.0}
    assert [(d.category, d.severity) for d in log.deviations] == [("rt_prolongation", "minor")]
    data = shown[1].as_dict()
    assert data["prescription"]["unit"] == "Gy" and data["radiobiology"]["eqd2_gy"] == 49.58


def test_a_fraction_names_a_recorded_course_and_follows_its_calendar(enrolled):
    """The course number must name a recorded course; the date must not precede the course's first day; a
    delivered fraction falls on a treatment day of its schedule (Tue/Fri) and not on a holiday."""
    from sarcotrial.services import forms as records

    study, nurse, subject = enrolled
    fraction = {"course_number": 1, "fraction_number": 1, "fraction_date": "2025-03-04", "status": "delivered"}
    with pytest.raises(InvalidValue, match="rt_further_fraction.course_number: no course 1 is recorded for RTC-001; "
                                           "record the course on form 'rt_further_course' first"):
        records.record(study, nurse, subject, FRACTION, fraction)
    records.record(study, nurse, subject, COURSE, {
        "course_number": 1, "modality": "hdr", "total_dose_gy": 28, "dose_per_fraction_gy": 7, "fractions": 4,
        "schedule": "twice_weekly", "planned_start": "2025-04-18"})
    with pytest.raises(InvalidValue, match=r"rt_further_fraction.course_number: no course 2 is recorded for RTC-001 "
                                           r"\(courses: 1\)"):
        records.record(study, nurse, subject, FRACTION, {**fraction, "course_number": 2})
    with pytest.raises(InvalidValue, match=r"rt_further_fraction.fraction_date: must not be before the first day of "
                                           r"course 1 \(2025-04-18\)"):
        records.record(study, nurse, subject, FRACTION, fraction)
    with pytest.raises(InvalidValue, match="rt_further_fraction.fraction_date: is a Monday, not a treatment day"):
        records.record(study, nurse, subject, FRACTION, {**fraction, "fraction_date": "2025-04-28"})
    with pytest.raises(InvalidValue, match=r"rt_further_fraction.fraction_date: public holiday \(Liberation Day\)"):
        records.record(study, nurse, subject, FRACTION, {**fraction, "fraction_date": "2025-04-25"})
    with pytest.raises(InvalidValue, match="rt_further_fraction.fraction_number: the course has 4 fractions"):
        records.record(study, nurse, subject, FRACTION, {**fraction, "fraction_number": 5, "fraction_date": "2025-04-22"})
    with pytest.raises(InvalidValue, match="rt_further_course.course_number: course 1 is already recorded"):
        records.record(study, nurse, subject, COURSE, {
            "course_number": 1, "modality": "photons", "total_dose_gy": 30, "fractions": 10,
            "planned_start": "2025-05-05"})
    with pytest.raises(InvalidValue, match="rt_further_course.rbe_model: a carbon-ion dose in Gy\\(RBE\\) depends on "
                                           "the RBE model"):
        records.record(study, nurse, subject, COURSE, {
            "course_number": 2, "modality": "carbon", "total_dose_gy": 70.4, "fractions": 16,
            "planned_start": "2025-05-05"})
    row = records.record(study, nurse, subject, FRACTION, {**fraction, "fraction_date": "2025-04-22"})
    assert row.derived == {"dose": 7.0, "unit": "Gy"}
    # a correction of the course keeps its fractions' course: renumbering or moving its start past them is refused
    with pytest.raises(InvalidValue, match="rt_further_course.course_number: course 1 has fractions recorded"):
        records.correct(study, nurse, subject, COURSE, {"course_number": 3}, "typo")
    with pytest.raises(InvalidValue, match=r"rt_further_course.planned_start: is after the first delivered fraction "
                                           r"of course 1 \(2025-04-22\)"):
        records.correct(study, nurse, subject, COURSE, {"planned_start": "2025-04-29"}, "typo")
    corrected = records.correct(study, nurse, subject, COURSE, {"total_dose_gy": 24, "dose_per_fraction_gy": 6},
                                "prescription entered wrong")
    assert corrected.derived["eqd2_gy"] == pytest.approx(24 * 16 / 12)  # 4 x 6 Gy at a/b 10: 24 x (6 + 10) / 12
    assert rt_courses.courses(study, subject)[0].fractions[0]["dose"] == 6.0  # the log follows the prescription
    from sarcotrial.services.forms import Pathway

    with study.reading() as session:  # the course's fractions name it: deleting it is refused
        path = Pathway(study, session, study.patient(session, subject))
        assert rt_courses.deletion_refused(study, path, path.entered(COURSE)[0]) == (
            "course 1 has fractions recorded on form 'rt_further_fraction'; delete them first")
