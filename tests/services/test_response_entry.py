"""RECIST 1.1 tumour assessments entered on the second protocol's forms (DOXAB: lesion, tumour_assessment,
lesion_measurement), and the endpoints that read them.

Standard: Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in solid tumours:
revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247. Expected responses are computed by
hand in each test from the paper's definitions (section 4.3.1: PR a decrease of >= 30 % from the baseline
sum, PD an increase of >= 20 % and >= 5 mm over the nadir; Table 3 for confirmation); days are counted on
the calendar.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from typer.testing import CliRunner

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol import ProtocolError, parse_protocol, read_protocol
from sarcotrial.services import forms as records, views
from sarcotrial.services.study import Actor, StudyDB
from tests.helpers import doxab_enrolled

NURSE = Actor("nurse.test", "test")
ENROL = dt.date(2025, 1, 22)
BASELINE, FIRST, SECOND = "2025-01-15", "2025-03-05", "2025-04-16"  # enrolment -7 d, +42 d, +84 d


@pytest.fixture
def doxab(database_url):
    study, _ = StudyDB.create(database_url, "doxab", Actor("tester", "test"))
    yield study
    study.close()


def enrolled(study: StudyDB, number: str = "H0001") -> str:
    """Registered, screened eligible, consented and enrolled on 22 January 2025 (tests/helpers.py, as in
    tests/protocol/test_schema_v2.py); nothing here reads the arm."""
    return doxab_enrolled(study, number, enrol_on=ENROL)


def lesion(study, subject, lesion_id, kind, organ, node=False):
    return records.record(study, NURSE, subject, "lesion",
                          {"lesion_id": lesion_id, "kind": kind, "organ": organ, "node": node})


def assessment(study, subject, day, sizes, statuses, *, baseline=False, new_lesions="no"):
    """One imaging date: the assessment form first, then its measurements at the same visit."""
    form = records.record(study, NURSE, subject, "tumour_assessment",
                          {"assessment_date": day, "baseline": baseline, "method": "ct", "new_lesions": new_lesions})
    for lesion_id, mm in sizes.items():
        records.record(study, NURSE, subject, "lesion_measurement",
                       {"assessment_date": day, "lesion_id": lesion_id, "diameter_mm": mm}, visit=form.visit)
    for lesion_id, status in statuses.items():
        records.record(study, NURSE, subject, "lesion_measurement",
                       {"assessment_date": day, "lesion_id": lesion_id, "status": status}, visit=form.visit)
    return form


def with_baseline(study) -> str:
    """Two target lesions (lung 30 mm, liver 20 mm: sum 50 mm) and one non-target lymph node, present."""
    subject = enrolled(study)
    lesion(study, subject, "L1", "target", "lung")
    lesion(study, subject, "L2", "target", "liver")
    lesion(study, subject, "N1", "non_target", "lymph_node", node=True)
    assessment(study, subject, BASELINE, {"L1": 30, "L2": 20}, {"N1": "present"}, baseline=True)
    return subject


def stored(study, subject) -> dict[str, int]:
    record = views.patient(study, NURSE, subject)
    return {f: len(record.forms.get(f, [])) for f in ("lesion", "tumour_assessment", "lesion_measurement")}


def test_pr_then_pd_gives_the_pfs_event_at_the_pd_scan_and_orr_unconfirmed_pr_confirmed_sd(doxab):
    """Baseline sum 30 + 20 = 50 mm. Day 42: 20 + 14 = 34 mm, a 32 % decrease (>= 30 %): PR. Day 84:
    26 + 16 = 42 mm, 8 mm over the nadir of 34 (23.5 % >= 20 % and >= 5 mm): PD (section 4.3.1). PFS: PD on
    16 April 2025, enrolment 22 January: 9 + 28 + 31 + 16 = 84 days, event. ORR: unconfirmed best PR (from
    5 March); confirmed (Table 3, "PR, PD: SD provided minimum criteria for SD duration met"): SD, since
    5 March is day 42 and the protocol's sd_min_days is 35."""
    from sarcotrial.services.endpoints import derive_endpoints, response_rows
    from sarcotrial.services.response_entry import recist_course

    subject = with_baseline(doxab)
    assessment(doxab, subject, FIRST, {"L1": 20, "L2": 14}, {"N1": "present"})
    assessment(doxab, subject, SECOND, {"L1": 26, "L2": 16}, {"N1": "present"})

    points, unconfirmed, confirmed = recist_course(doxab.protocol, views.patient(doxab, NURSE, subject))
    assert [(tp.sum_mm, tp.target, tp.non_target, tp.overall) for tp in points] == [
        (50, None, None, None), (34, "PR", "NON-CR/NON-PD", "PR"), (42, "PD", "NON-CR/NON-PD", "PD")]
    assert (unconfirmed.response, unconfirmed.date, unconfirmed.confirmed) == ("PR", dt.date(2025, 3, 5), False)
    assert (confirmed.response, confirmed.date) == ("SD", dt.date(2025, 3, 5))

    row = derive_endpoints(doxab)[0]
    pfs, os_ = row.times["pfs"], row.times["os"]
    assert (pfs.time_days, pfs.status, pfs.reason) == (84, 1, "progression")
    assert (os_.time_days, os_.status) == (84, 0)  # alive, last contact the last tumour assessment
    assert row.course.last_contact == dt.date(2025, 4, 16)

    orr = response_rows(doxab)
    assert [(r.subject_id, r.best_unconfirmed, r.responder_unconfirmed, r.best_confirmed, r.responder_confirmed)
            for r in orr] == [(subject, "PR", 1, "SD", 0)]


def test_the_assessment_form_derives_its_time_point_once_its_measurements_are_in(doxab):
    """The assessment is entered before its measurements, so its stored response waits for them (NE: the
    target lesions not yet assessed, section 4.4.2); correcting the form derives it again: 34 mm, PR."""
    subject = with_baseline(doxab)
    first = assessment(doxab, subject, FIRST, {"L1": 20, "L2": 14}, {"N1": "present"})
    assert first.derived["overall"] == "NE" and first.derived["sum_mm"] is None
    again = records.correct(doxab, NURSE, subject, "tumour_assessment", {"method": "mri"}, "read on MRI",
                            record_id=first.id)
    assert (again.derived["sum_mm"], again.derived["target"], again.derived["overall"]) == (34, "PR", "PR")


def test_a_measurement_derives_its_assessment_again_where_forms_declares_the_dependency(doxab, monkeypatch):
    """With the response forms among services.forms.DEPENDENTS (the change this module asks of forms.py),
    every measurement re-derives the patient's assessments: the day-42 assessment reads PR (34 mm)."""
    for form_id in ("lesion", "lesion_measurement", "tumour_assessment"):
        monkeypatch.setitem(records.DEPENDENTS, form_id, ("tumour_assessment",))
    subject = with_baseline(doxab)
    assessment(doxab, subject, FIRST, {"L1": 20, "L2": 14}, {"N1": "present"})
    rows = {c.values["assessment_date"]: c.derived for c in views.patient(doxab, NURSE, subject).of("tumour_assessment")}
    assert rows[dt.date(2025, 1, 15)]["sum_mm"] == 50 and rows[dt.date(2025, 1, 15)]["pending"] is None
    assert (rows[dt.date(2025, 3, 5)]["sum_mm"], rows[dt.date(2025, 3, 5)]["overall"]) == (34, "PR")


BAD_BASELINE_MEASUREMENTS = [
    ({"lesion_id": "N2", "diameter_mm": 12}, "lesion_measurement.lesion_id", "not a lesion declared on the lesion form"),
    ({"lesion_id": "N9", "diameter_mm": 16, "axis": "long"}, "lesion_measurement.axis",
     "a lymph node is measured by its short axis, not its long axis (RECIST 1.1 section 3.1)"),
    ({"lesion_id": "L1", "diameter_mm": 12, "axis": "short"}, "lesion_measurement.axis",
     "a lesion other than a lymph node is measured by its longest diameter"),
    ({"lesion_id": "L1", "diameter_mm": 9}, "lesion_measurement.diameter_mm",
     "a target lesion must be measurable, >= 10 mm (RECIST 1.1 section 3.1)"),
    ({"lesion_id": "N9", "diameter_mm": 14, "axis": "short"}, "lesion_measurement.diameter_mm",
     "a target lymph node must be >= 15 mm in short axis"),
    ({"lesion_id": "N1", "diameter_mm": 14}, "lesion_measurement.diameter_mm", "N1 is a non-target lesion"),
    ({"lesion_id": "N1", "status": "absent"}, "lesion_measurement.status", "a non-target lesion is present at baseline"),
    ({"lesion_id": "L1", "status": "present"}, "lesion_measurement.status", "L1 is a target lesion"),
    ({"lesion_id": "L1", "diameter_mm": 30, "too_small": True}, "lesion_measurement.too_small", "not both"),
    ({"lesion_id": "L1", "too_small": True}, "lesion_measurement.diameter_mm", "every target lesion is measured at baseline"),
]


def test_a_baseline_measurement_that_breaks_recist_is_refused_and_nothing_is_stored(doxab):
    """RECIST 1.1 section 3.1: a node by its short axis (>= 15 mm to be a target), other lesions by their
    longest diameter (>= 10 mm); section 4.3.3: non-target lesions are followed by their status."""
    subject = enrolled(doxab)
    lesion(doxab, subject, "L1", "target", "lung")
    lesion(doxab, subject, "N1", "non_target", "lymph_node", node=True)
    lesion(doxab, subject, "N9", "target", "lymph_node", node=True)
    with pytest.raises(InvalidValue) as err:  # section 4.3.5: a new lesion is one not seen at baseline
        records.record(doxab, NURSE, subject, "tumour_assessment",
                       {"assessment_date": BASELINE, "baseline": True, "method": "ct", "new_lesions": "equivocal"})
    assert err.value.field == "tumour_assessment.new_lesions" and "no new lesions at baseline" in err.value.rule
    assert stored(doxab, subject)["tumour_assessment"] == 0
    records.record(doxab, NURSE, subject, "tumour_assessment",
                   {"assessment_date": BASELINE, "baseline": True, "method": "ct", "new_lesions": "no"})
    before = stored(doxab, subject)
    for values, field, rule in BAD_BASELINE_MEASUREMENTS:
        with pytest.raises(InvalidValue) as err:
            records.record(doxab, NURSE, subject, "lesion_measurement", {"assessment_date": BASELINE, **values})
        assert err.value.field == field and rule in err.value.rule, str(err.value)
    assert stored(doxab, subject) == before


def test_measurement_dates_lesion_limits_and_baselines_are_refused(doxab):
    """A measurement belongs to an assessment's date, once per lesion; at most five target lesions and two
    per organ, every lymph node one organ (RECIST 1.1 section 4.2); one baseline, the first assessment, with
    no new lesions (section 4.3.5); one assessment per imaging date. Nothing refused is stored."""
    subject = with_baseline(doxab)

    def refused(form_id, values, field, rule):
        before = stored(doxab, subject)
        with pytest.raises(InvalidValue) as err:
            records.record(doxab, NURSE, subject, form_id, values)
        assert err.value.field == field and rule in err.value.rule, str(err.value)
        assert stored(doxab, subject) == before

    refused("lesion_measurement", {"assessment_date": "2025-02-01", "lesion_id": "L1", "diameter_mm": 25},
            "lesion_measurement.assessment_date", "is not the date of one of DXA-001's tumour assessments (2025-01-15)")
    refused("lesion_measurement", {"assessment_date": BASELINE, "lesion_id": "L1", "diameter_mm": 31},
            "lesion_measurement.lesion_id", "L1 already has a measurement on 2025-01-15")
    refused("lesion", {"lesion_id": "L1", "kind": "target", "organ": "bone", "node": False},
            "lesion.lesion_id", "DXA-001 already has a lesion labelled L1")
    refused("tumour_assessment", {"assessment_date": "2025-01-10", "baseline": True, "method": "ct", "new_lesions": "no"},
            "tumour_assessment.baseline", "DXA-001 already has a baseline assessment (2025-01-15)")
    refused("tumour_assessment", {"assessment_date": "2025-01-20", "baseline": False, "method": "ct", "new_lesions": "no"},
            "tumour_assessment.assessment_date", "must not be before enrolment (2025-01-22)")
    refused("tumour_assessment", {"assessment_date": BASELINE, "baseline": False, "method": "mri", "new_lesions": "no"},
            "tumour_assessment.assessment_date", "already has a tumour assessment on 2025-01-15")
    # two per organ: a second lung target is accepted, a third is not; every lymph node counts as one organ
    lesion(doxab, subject, "L3", "target", "lung")
    refused("lesion", {"lesion_id": "L4", "kind": "target", "organ": "lung", "node": False}, "lesion.organ",
            "at most 2 target lesions per organ (RECIST 1.1 section 4.2); DXA-001's lung: L1, L3")
    lesion(doxab, subject, "N2", "target", "lymph_node", node=True)
    lesion(doxab, subject, "N3", "target", "other", node=True)
    refused("lesion", {"lesion_id": "N4", "kind": "target", "organ": "pleura", "node": True}, "lesion.node",
            "all lymph nodes count as one organ; DXA-001's lymph nodes: N2, N3")
    refused("lesion", {"lesion_id": "P1", "kind": "target", "organ": "peritoneum", "node": False}, "lesion.kind",
            "at most 5 target lesions in all (RECIST 1.1 section 4.2)")
    lesion(doxab, subject, "P1", "non_target", "peritoneum")  # non-target lesions are not limited


def test_a_correction_or_deletion_that_would_orphan_measurements_is_refused(doxab):
    """A lesion's label, kind, or an assessment's date may not change under the measurements recorded for
    it; nor may either be deleted (refuse_orphaning_delete, the guard services.forms.delete is asked to
    call: never a silent cascade)."""
    from sqlalchemy import select

    from sarcotrial.services.response_entry import refuse_orphaning_delete
    from sarcotrial.store.models import CRFInstance

    subject = with_baseline(doxab)
    with pytest.raises(InvalidValue, match=r"lesion.lesion_id: L1 has 1 measurement\(s\) recorded under its label"):
        records.correct(doxab, NURSE, subject, "lesion", {"lesion_id": "L9"}, "typo", instance=1, visit="baseline")
    with pytest.raises(InvalidValue, match=r"lesion.kind: would contradict L1's measurement of 2025-01-15 \(L1 is a "
                                           r"non-target lesion: give its status, not a size"):
        records.correct(doxab, NURSE, subject, "lesion", {"kind": "non_target"}, "non-target after all", instance=1,
                        visit="baseline")
    with pytest.raises(InvalidValue, match="tumour_assessment.assessment_date: 3 measurement"):
        records.correct(doxab, NURSE, subject, "tumour_assessment", {"assessment_date": "2025-01-16"}, "date",
                        visit="baseline")
    lone = lesion(doxab, subject, "L3", "target", "bone")
    with doxab.reading(NURSE) as session:
        path = records.Pathway(doxab, session, doxab.patient(session, subject))
        rows = {r.id: r for r in session.scalars(select(CRFInstance).where(CRFInstance.patient_id == path.patient.id))}
        first = next(r for r in rows.values() if r.form_id == "lesion")
        base = next(r for r in rows.values() if r.form_id == "tumour_assessment")
        with pytest.raises(InvalidValue, match="DXA-001's lesion L1 has 1 lesion measurement form"):
            refuse_orphaning_delete(doxab, path, first)
        with pytest.raises(InvalidValue, match="DXA-001's tumour assessment 2025-01-15 has 3 lesion measurement form"):
            refuse_orphaning_delete(doxab, path, base)
        refuse_orphaning_delete(doxab, path, rows[lone.id])  # nothing measured: may go


def test_the_command_line_refuses_in_one_line_with_exit_2(tmp_path, monkeypatch):
    """The issue's bad input: a node measured by its long axis, a measurement for an undeclared lesion."""
    from sarcotrial.cli.main import app
    from sarcotrial.store.crypto import generate_key

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    url = f"sqlite:///{tmp_path / 'doxab.sqlite'}"
    study, _ = StudyDB.create(url, "doxab", Actor("tester", "test"))
    try:
        subject = enrolled(study)
        lesion(study, subject, "N1", "target", "lymph_node", node=True)
        records.record(study, NURSE, subject, "tumour_assessment",
                       {"assessment_date": BASELINE, "baseline": True, "method": "ct", "new_lesions": "no"})
        before = stored(study, subject)
    finally:
        study.close()
    runner = CliRunner()
    for sets, line in (
            (["lesion_id=N1", "diameter_mm=22", "axis=long"],
             "lesion_measurement.axis: a lymph node is measured by its short axis, not its long axis (RECIST 1.1 "
             "section 3.1) (got 'long')"),
            (["lesion_id=L7", "diameter_mm=22"],
             "lesion_measurement.lesion_id: not a lesion declared on the lesion form for DXA-001 (declared: N1) "
             "(got 'L7')")):
        args = ["record", "lesion_measurement", subject, "--db", url, "--set", f"assessment_date={BASELINE}"]
        for s in sets:
            args += ["--set", s]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert line in text and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) <= 3  # one message (wrapped by the terminal width at most)
    with StudyDB.open(url) as study:
        assert stored(study, subject) == before


def _problems(data: dict) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return info.value.problems


def test_the_protocol_check_names_a_response_form_without_the_fields_recist_reads():
    data = yaml.safe_load(read_protocol("doxab").text)
    forms = {f["id"]: f for f in data["forms"]}
    forms["lesion_measurement"]["fields"] = [f for f in forms["lesion_measurement"]["fields"] if f["id"] != "axis"]
    forms["lesion"]["fields"] = [dict(f, type="text") if f["id"] == "node" else f for f in forms["lesion"]["fields"]]
    data["codelists"]["new_lesions"] = [{"code": "no", "label": "No"}, {"code": "yes", "label": "Yes"}]
    del data["response"]["lesion_form"]
    problems = _problems(data)
    assert ("response.measurement_form: form 'lesion_measurement' has no field 'axis', which RECIST 1.1 reads "
            "(docs/recist.md)") in problems
    assert "forms.tumour_assessment.fields.new_lesions.codelist: codelist 'new_lesions' must have exactly the codes " \
           "no, yes, equivocal (it has no, yes)" in problems
    assert any(p.startswith("response.lesion_form: RECIST 1.1 derives the response from the lesions") for p in problems)


def test_the_shipped_protocol_passes_the_response_check():
    from sarcotrial.protocol import load_protocol
    from sarcotrial.protocol.references import version_problems

    assert version_problems(load_protocol("doxab")) == []
