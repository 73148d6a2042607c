"""Systemic therapy in the EDC on the shipped DOXAB protocol: the cycle form's derived values, the regimen
by arm, the refusals, the anthracycline warning and the per-patient course summary.

Sources of the expected values (each computed by hand in the test):

- body surface area, Mosteller RD. Simplified calculation of body-surface area. N Engl J Med 1987;317:1098:
  sqrt(height cm x weight kg / 3600);
- the regimens of Tap WD et al., Lancet 2016;388:488-497 as DOXAB declares them: doxorubicin 75 mg/m2 on
  day 1 of a 21-day cycle, up to 8 cycles, with or without the antibody 15 mg/kg on days 1 and 8;
- relative dose intensity, Hryniuk W, Bush H. J Clin Oncol 1984;2:1281-1288 (received over planned dose
  per m2 per week; the time from day 1 of the first cycle to the end of the last, as documented in
  docs/systemic-therapy.md);
- the doxorubicin-equivalence factor of doxorubicin itself, 1 (Lyon AR et al., 2022 ESC Guidelines on
  cardio-oncology, Eur Heart J 2022;43:4229-4361), and DOXAB's limit of 450 mg/m2: at 75 mg/m2 a cycle,
  6 x 75 = 450 reaches the limit (not above it) and a 7th cycle would take it to 525.

The arm is set per patient (``arms``) so that each test knows the regimen whatever the allocation;
``test_the_arm_allocated_at_enrolment_picks_the_regimen`` uses the allocation itself.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol import ProtocolError, parse_protocol, read_protocol
from sarcotrial.services import forms as records, systemic_entry
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import CRFInstance
from tests.helpers import doxab_enrolled

NURSE = Actor("nurse.test", "test")
FORM = "systemic_cycle"
DAY1 = dt.date(2025, 1, 27)  # five days after enrolment on 22 January 2025


@pytest.fixture
def doxab(database_url):
    study, _notice = StudyDB.create(database_url, "doxab", Actor("tester", "test"))
    yield study
    study.close()


@pytest.fixture
def arms(monkeypatch):
    """Subject id -> arm; the derivation's allocated arm is read from here."""
    allocated: dict[str, str] = {}
    monkeypatch.setattr(systemic_entry, "patient_arm", lambda session, patient: allocated.get(patient.subject_id))
    return allocated


def enrol(study: StudyDB, number: str = "H0001") -> str:
    """Screened eligible, consented and enrolled on 22 January 2025 (tests/helpers.py)."""
    return doxab_enrolled(study, number)


def cycle(number: int, day: dt.date, **extra) -> dict:
    """A cycle of a 180 cm, 80 kg patient (Mosteller sqrt(180 x 80 / 3600) = sqrt(4) = 2.00 m2) with the full
    doxorubicin dose, 75 mg/m2 x 2.00 m2 = 150 mg."""
    values = {"cycle_number": number, "cycle_date": day.isoformat(), "height_cm": 180, "weight_kg": 80,
              "doxorubicin_mg": 150, "dose_reduced": False, "delayed": False}
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


def stored(study: StudyDB, subject: str) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count(CRFInstance.id)).where(CRFInstance.form_id == FORM)) or 0


def refused(study, subject, values, match):
    with pytest.raises(InvalidValue, match=match):
        records.record(study, NURSE, subject, FORM, values)


# --------------------------------------------------------------------------- the protocol section
def test_doxab_declares_its_cycle_form():
    spec = read_protocol("doxab").protocol.treatment.systemic.administration
    assert spec.form == FORM and spec.cycle_field == "cycle_number" and spec.date_field == "cycle_date"
    assert [(d.drug, d.day, d.field) for d in spec.doses] == [
        ("doxorubicin", 1, "doxorubicin_mg"), ("olaratumab", 1, "olaratumab_day1_mg"),
        ("olaratumab", 8, "olaratumab_day8_mg")]


def _problems(change) -> list[str]:
    data = yaml.safe_load(read_protocol("doxab").text)
    change(data["treatment"]["systemic"]["administration"], data)
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return info.value.problems


def test_protocol_validate_checks_the_administration_form_against_forms_and_regimens():
    """Each fault put in is named by its path and rule (the expected lines are written from the fault)."""
    def faults(spec, data):
        spec["form"] = "systemic_cycle"
        spec["doses"][2] = {"drug": "olaratumab", "day": 15, "field": "olaratumab_day8_mg"}
        spec["doses"].append({"drug": "cisplatin", "day": 1, "field": "cisplatin_mg"})
        spec["weight_field"] = "dexrazoxane"
        spec["delayed_field"] = "delay_reason"
    problems = _problems(faults)
    base = "treatment.systemic.administration"
    assert f"{base}.doses.olaratumab_day8_mg: no regimen gives olaratumab on day 15 (it is given on day 1, 8)" \
        in problems
    assert f"{base}.doses.cisplatin_mg: no regimen gives cisplatin" in problems
    assert f"{base}.doses: regimen doxorubicin_antibody gives olaratumab on day 8, and no dose field records it" \
        in problems
    assert f"{base}.doses.cisplatin_mg: form 'systemic_cycle' has no field 'cisplatin_mg'" in problems
    assert f"{base}.weight_field: 'dexrazoxane' is a boolean field; this role takes decimal or integer" in problems
    assert f"{base}: field 'delay_reason' is named for more than one role (delayed_field, delay_reason_field)" \
        in problems
    assert f"{base}.delayed_field: 'delay_reason' is a code field; this role takes boolean" in problems


def test_protocol_validate_refuses_an_unknown_form_and_an_optional_date():
    def unknown(spec, data):
        spec["form"] = "chemo"
    assert "treatment.systemic.administration.form: unknown form 'chemo'" in _problems(unknown)

    def no_arms(spec, data):
        for regimen in data["treatment"]["systemic"]["regimens"]:
            regimen["arms"] = []
    assert ("treatment.systemic.regimens: regimens doxorubicin, doxorubicin_antibody have no arms: the cycle form "
            "reads one regimen for a patient, give each its arms") in _problems(no_arms)

    def two_for_one_arm(spec, data):
        data["treatment"]["systemic"]["regimens"][1]["arms"] = ["doxorubicin"]
    assert ("treatment.systemic.regimens: arm 'doxorubicin' is in regimens doxorubicin, doxorubicin_antibody: the "
            "cycle form reads one regimen per arm") in _problems(two_for_one_arm)

    def optional(spec, data):
        form = next(f for f in data["forms"] if f["id"] == FORM)
        next(f for f in form["fields"] if f["id"] == "cycle_date")["required"] = False
    assert ("treatment.systemic.administration.date_field: 'systemic_cycle.cycle_date' must be required on its "
            "form: a cycle is placed by it") in _problems(optional)


# --------------------------------------------------------------------------- derived values at entry
def test_bsa_planned_and_given_doses_by_hand(doxab, arms):
    """170 cm, 70 kg: Mosteller sqrt(170 x 70 / 3600) = sqrt(3.30556) = 1.81812 m2; doxorubicin 75 mg/m2 x
    1.81812 = 136.36 mg planned; 130 mg given = 95.3 % (within the 5 % tolerance: not a reduction).
    The antibody 15 mg/kg x 70 kg = 1050 mg on day 1 and on day 8."""
    subject = enrol(doxab)
    arms[subject] = "doxorubicin_antibody"
    row = records.record(doxab, NURSE, subject, FORM, cycle(1, DAY1, height_cm=170, weight_kg=70, doxorubicin_mg=130,
                                                            olaratumab_day1_mg=1050))
    d = row.derived
    assert d["regimen"] == "doxorubicin_antibody" and d["arm"] == "doxorubicin_antibody"
    assert d["bsa_formula"] == "mosteller"
    assert d["bsa_m2"] == pytest.approx(1.81812, abs=1e-5)
    assert d["planned_doxorubicin_day1_mg"] == pytest.approx(136.36, abs=0.01)
    assert d["percent_doxorubicin_day1"] == pytest.approx(100 * 130 / (75 * math.sqrt(170 * 70 / 3600)))
    assert d["percent_doxorubicin_day1"] == pytest.approx(95.34, abs=0.01)
    assert d["planned_olaratumab_day1_mg"] == d["planned_olaratumab_day8_mg"] == pytest.approx(1050)
    assert d["percent_olaratumab_day1"] == pytest.approx(100)
    assert "percent_olaratumab_day8" not in d          # not entered yet
    assert d["reduced_doses"] == []
    assert d["planned_start"] is None and d["days_late"] is None  # the first cycle
    assert d["cumulative_doxorubicin_eq_mg_m2"] == pytest.approx(130 / 1.81812, abs=1e-3)  # 71.5 mg/m2
    assert d["anthracycline_warning"] is None


def test_days_late_against_the_previous_cycle(doxab, arms):
    """Cycle 1 on 27 Jan; cycle 2 due 27 Jan + 21 d = 17 Feb, given 24 Feb: 7 days late (tolerance 0 days)."""
    subject = enrol(doxab)
    arms[subject] = "doxorubicin"
    records.record(doxab, NURSE, subject, FORM, cycle(1, DAY1))
    row = records.record(doxab, NURSE, subject, FORM, cycle(2, dt.date(2025, 2, 24), delayed=True,
                                                            delay_reason="haematological"))
    assert row.derived["planned_start"] == "2025-02-17"
    assert row.derived["days_late"] == 7 and row.derived["late_beyond_tolerance"] is True
    assert row.derived["cumulative_doxorubicin_eq_mg_m2"] == pytest.approx(150)  # 75 + 75 mg/m2


def test_the_warning_comes_before_the_cycle_that_would_cross_the_limit(doxab, arms):
    """75 mg/m2 a cycle, limit 450 mg/m2: after cycle 5 (375) the next makes 450, not above: no warning; after
    cycle 6 (450) the next would make 525: warned; cycle 7 is still recorded (a warning refuses nothing)."""
    subject = enrol(doxab)
    arms[subject] = "doxorubicin"
    rows = [records.record(doxab, NURSE, subject, FORM, cycle(n, DAY1 + dt.timedelta(days=21 * (n - 1))))
            for n in range(1, 8)]
    cumulative = [r.derived["cumulative_doxorubicin_eq_mg_m2"] for r in rows]
    assert cumulative == pytest.approx([75, 150, 225, 300, 375, 450, 525])
    assert [r.derived["anthracycline_warning"] is None for r in rows] == [True] * 5 + [False, False]
    assert rows[5].derived["anthracycline_warning"] == (
        "the next cycle (75 mg/m2 doxorubicin-equivalent) would take the cumulative dose from 450 to 525 mg/m2, "
        "above the protocol's limit of 450 mg/m2")
    assert rows[6].derived["anthracycline_warning"] == (
        "cumulative doxorubicin-equivalent dose 525 mg/m2 is already above the protocol's limit of 450 mg/m2")
    assert stored(doxab, subject) == 7


# --------------------------------------------------------------------------- refusals: nothing stored
def test_a_dose_of_a_drug_not_in_the_patients_regimen_is_refused(doxab, arms):
    subject = enrol(doxab)
    arms[subject] = "doxorubicin"
    refused(doxab, subject, cycle(1, DAY1, olaratumab_day1_mg=1200),
            r"^systemic_cycle\.olaratumab_day1_mg: olaratumab is not in the regimen doxorubicin of arm doxorubicin: "
            r"leave it empty$")
    assert stored(doxab, subject) == 0


def test_the_cli_prints_one_line_and_exits_2(doxab, arms):
    from sarcotrial.cli.main import app

    subject = enrol(doxab)
    arms[subject] = "doxorubicin"
    result = CliRunner().invoke(app, ["record", FORM, subject, "--db", doxab.url,
                                      *[a for k, v in cycle(1, DAY1, olaratumab_day1_mg=1200).items()
                                        for a in ("--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}")]])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "systemic_cycle.olaratumab_day1_mg: olaratumab is not in the regimen doxorubicin" \
        in lines[0]
    assert stored(doxab, subject) == 0


def test_an_impossible_height_or_weight_is_refused(doxab, arms):
    """The form's own range refuses first (DOXAB: 100-230 cm); on a form without one, the BSA's plausible
    range does (30-250 cm, 1-400 kg: a height in metres is caught)."""
    subject = enrol(doxab)
    arms[subject] = "doxorubicin"
    refused(doxab, subject, cycle(1, DAY1, height_cm=1.8), r"^systemic_cycle\.height_cm: ")
    with pytest.raises(InvalidValue, match=r"^systemic_cycle\.height_cm: is needed: doxorubicin is dosed per m2 \(the "
                       r"body surface area reads height and weight\); a missing-data code cannot stand for it$"):
        records.record(doxab, NURSE, subject, FORM, cycle(1, DAY1, height_cm=None), missing={"height_cm": "UNK"},
                       reason="not measured")
    assert stored(doxab, subject) == 0


def test_without_a_form_range_the_bsa_rule_names_the_field(database_url, arms, tmp_path):
    data = yaml.safe_load(read_protocol("doxab").text)
    form = next(f for f in data["forms"] if f["id"] == FORM)
    for fld in form["fields"]:
        if fld["id"] in ("height_cm", "weight_kg"):
            fld.pop("min"), fld.pop("max")
    path = tmp_path / "doxab-open.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    study, _ = StudyDB.create(database_url, str(path), Actor("tester", "test"))
    try:
        subject = enrol(study)
        arms[subject] = "doxorubicin"
        refused(study, subject, cycle(1, DAY1, height_cm=1.8),
                r"^systemic_cycle\.height_cm: must be from 30 to 250 cm \(a height in cm\) \(got 1\.8\)$")
        refused(study, subject, cycle(1, DAY1, weight_kg=800),
                r"^systemic_cycle\.weight_kg: must be from 1 to 400 kg \(a weight in kg\)")
        assert stored(study, subject) == 0
    finally:
        study.close()


def test_a_reduction_or_delay_without_its_reason_is_refused(doxab, arms):
    """100 mg of the planned 150 mg is 66.7 %: more than 5 % below, a reduction."""
    subject = enrol(doxab)
    arms[subject] = "doxorubicin"
    refused(doxab, subject, cycle(1, DAY1, dose_reduced=True), r"^systemic_cycle\.reduction_reason: is required")
    refused(doxab, subject, cycle(1, DAY1, doxorubicin_mg=100, dose_reduced=False),
            r"^systemic_cycle\.dose_reduced: says no dose was reduced, but doxorubicin day 1 100 mg is 66\.7 % of the "
            r"planned 150 mg \(a reduction: more than 5 % below\)$")
    refused(doxab, subject, cycle(1, DAY1, doxorubicin_mg=100, dose_reduced=True),
            r"^systemic_cycle\.reduction_reason: is required: doxorubicin day 1 100 mg is 66\.7 %")
    refused(doxab, subject, cycle(1, DAY1, delayed=True), r"^systemic_cycle\.delay_reason: is required")
    assert stored(doxab, subject) == 0
    row = records.record(doxab, NURSE, subject, FORM, cycle(1, DAY1, doxorubicin_mg=100, dose_reduced=True,
                                                            reduction_reason="haematological"))
    assert row.derived["reduced_doses"] == ["doxorubicin_day1"]
    assert row.derived["percent_doxorubicin_day1"] == pytest.approx(200 / 3)
    # a reason unknown is a missing-data code, with the reason it is missing
    records.record(doxab, NURSE, subject, FORM, cycle(2, DAY1 + dt.timedelta(days=28), delayed=True),
                   missing={"delay_reason": "UNK"}, reason="not written in the chart")


def test_cycles_are_placed_once_in_order_and_within_the_regimen(doxab, arms):
    subject = enrol(doxab)
    arms[subject] = "doxorubicin"
    refused(doxab, subject, cycle(1, dt.date(2025, 1, 20)),
            r"^systemic_cycle\.cycle_date: must not be before enrolment \(2025-01-22\) \(got .2025-01-20.\)$")
    refused(doxab, subject, cycle(9, DAY1), r"^systemic_cycle\.cycle_number: the regimen doxorubicin of arm "
                                            r"doxorubicin has at most 8 cycles \(got 9\)$")
    records.record(doxab, NURSE, subject, FORM, cycle(1, DAY1))
    refused(doxab, subject, cycle(1, DAY1 + dt.timedelta(days=21)),
            r"^systemic_cycle\.cycle_number: cycle 1 is already recorded \(day 1 2025-01-27\)")
    refused(doxab, subject, cycle(2, DAY1), r"^systemic_cycle\.cycle_date: must be after day 1 of cycle 1 "
                                            r"\(2025-01-27\) \(got '2025-01-27'\)$")
    assert stored(doxab, subject) == 1


def test_a_patient_with_no_arm_allocated_is_refused_with_the_reason(doxab, arms):
    subject = enrol(doxab)
    refused(doxab, subject, cycle(1, DAY1), rf"^patient: {subject} has no arm allocated: the regimen follows the arm")
    assert stored(doxab, subject) == 0


def test_the_arm_allocated_at_enrolment_picks_the_regimen(doxab):
    """With the allocation at enrolment, the arm read from it decides whether the antibody may be entered."""
    subject = enrol(doxab)
    with doxab.reading() as session:
        arm = systemic_entry.patient_arm(session, doxab.patient(session, subject))
    assert arm in ("doxorubicin", "doxorubicin_antibody")  # enrolment on a randomised protocol allocates
    values = cycle(1, DAY1, olaratumab_day1_mg=1200)
    if arm == "doxorubicin":
        refused(doxab, subject, values, "olaratumab is not in the regimen doxorubicin of arm doxorubicin")
    else:
        row = records.record(doxab, NURSE, subject, FORM, values)
        assert row.derived["regimen"] == "doxorubicin_antibody"
        assert row.derived["planned_olaratumab_day1_mg"] == pytest.approx(1200)  # 15 mg/kg x 80 kg


# --------------------------------------------------------------------------- corrections and the course
def test_a_correction_recomputes_and_the_course_reads_the_values(doxab, arms):
    """Cycles on 27 Jan (150 mg), 24 Feb (7 days late, 120 mg, reduced) and 17 Mar, BSA 2.00 m2, doxorubicin
    75 mg/m2 every 21 days (the worked example of docs/systemic-therapy.md): received 75 + 60 + 75 = 210 mg/m2
    over 27 Jan to 17 Mar + 21 d = 70 days = 10 weeks, 21 mg/m2/week against 75 / 3 = 25: RDI 0.84.
    Cycle 1 is first entered at 100 mg (reduced) and corrected to 150 mg: its derived values follow."""
    subject = enrol(doxab)
    arms[subject] = "doxorubicin"
    records.record(doxab, NURSE, subject, FORM, cycle(1, DAY1, doxorubicin_mg=100, dose_reduced=True,
                                                      reduction_reason="haematological"))
    records.record(doxab, NURSE, subject, FORM, cycle(2, dt.date(2025, 2, 24), doxorubicin_mg=120, dose_reduced=True,
                                                      reduction_reason="haematological", delayed=True,
                                                      delay_reason="haematological"))
    records.record(doxab, NURSE, subject, FORM, cycle(3, dt.date(2025, 3, 17)))
    with doxab.reading() as session:
        first = session.scalars(select(CRFInstance).where(CRFInstance.form_id == FORM)
                                .order_by(CRFInstance.id)).first().id
    row = records.correct(doxab, NURSE, subject, FORM, {"doxorubicin_mg": 150, "dose_reduced": False,
                                                       "reduction_reason": None},
                          "transcription error: 150 mg given", record_id=first)
    assert row.derived["percent_doxorubicin_day1"] == pytest.approx(100)
    assert row.derived["reduced_doses"] == [] and row.derived["cumulative_doxorubicin_eq_mg_m2"] == pytest.approx(75)

    from sarcotrial.services.views import load_patients

    with doxab.reading() as session:
        record = load_patients(doxab, session, subject_id=subject)[0]
    protocol = doxab.protocol
    summary = systemic_entry.course_summary(protocol, record.of(FORM), arm="doxorubicin")
    assert summary.regimen == "doxorubicin" and summary.cycles_given == 3
    (intensity,) = summary.dose_intensity
    assert intensity.received == pytest.approx(210) and intensity.weeks == pytest.approx(10)
    assert intensity.relative == pytest.approx(0.84)
    assert summary.cumulative_doxorubicin_equivalent == pytest.approx(210)
    second = summary.cycles[1]
    assert second.delay_days == 7 and second.delayed and second.drugs[0].reduced
    assert second.reasons == ("haematological",) and second.missing_reasons == ()
    assert summary.anthracycline_warning is None      # 210 + 75 = 285 < 450
    # the same from (values, derived) pairs, and the start of treatment
    pairs = [(c.values, c.derived) for c in record.of(FORM)]
    assert systemic_entry.course_summary(protocol, pairs, arm="doxorubicin").as_dict() == summary.as_dict()
    assert systemic_entry.treatment_start(protocol, record) == DAY1
    assert systemic_entry.treatment_start(protocol, pairs) == DAY1
    assert systemic_entry.treatment_start(protocol, []) is None


def test_the_course_of_the_two_drug_regimen_counts_a_day_8_dose_not_recorded_as_not_given():
    """Pure read side, no database: 180 cm, 80 kg (2.00 m2); the antibody 15 mg/kg x 80 kg = 1200 mg on days 1
    and 8 of 21. Cycle 1 gives both (2400 mg = 30 mg/kg), cycle 2 on day 22 gives day 1 only: received 30 + 15
    = 45 mg/kg over 42 days = 6 weeks = 7.5 mg/kg/week against 30 / 3 = 10: RDI 0.75."""
    protocol = read_protocol("doxab").protocol
    one = cycle(1, DAY1, olaratumab_day1_mg=1200, olaratumab_day8_mg=1200)
    two = cycle(2, DAY1 + dt.timedelta(days=21), olaratumab_day1_mg=1200)
    rows = [{**v, "cycle_date": dt.date.fromisoformat(v["cycle_date"])} for v in (two, one)]
    summary = systemic_entry.course_summary(protocol, rows, arm="doxorubicin_antibody")
    antibody = next(d for d in summary.dose_intensity if d.drug == "olaratumab")
    assert antibody.unit == "mg/kg" and antibody.received == pytest.approx(45) and antibody.relative == pytest.approx(0.75)
    assert summary.cycles[1].drugs[1].not_recorded_days == (8,)
    with pytest.raises(InvalidValue, match="has no arm allocated"):
        systemic_entry.course_summary(protocol, rows)
