"""Protocol schema version 2 and the second shipped protocol (DOXAB): the engine is general.

The rules checked are those of docs/protocol-file.md ("Schema version 2"): version 1 (SPRINT 1.0-1.2)
requires radiotherapy, chemotherapy, surgery, pathology and the wound-complication window and knows none
of version 2's sections; version 2 makes them optional and checks its arms, response and comparison
against the rest of the file. The expected lines are written from the fault put in, not from the output.

DOXAB is modelled on Tap WD et al., Lancet 2016;388:488-497 (doxorubicin 75 mg/m2 day 1 every 21 days for
up to 8 cycles, with or without the antibody 15 mg/kg days 1 and 8; 1:1 by minimisation; PFS primary,
two-sided alpha 0.2, power 0.8).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.protocol import ProtocolError, parse_protocol, read_protocol

SRC = Path(__file__).resolve().parents[2] / "src" / "sarcotrial"
runner = CliRunner()


def _doxab() -> dict:
    return yaml.safe_load(read_protocol("doxab").text)


def _sprint() -> dict:
    """SPRINT 1.2, the last version on schema version 1 (tests/protocols/sprint-1.2.yaml)."""
    return yaml.safe_load((Path(__file__).resolve().parents[1] / "protocols" / "sprint-1.2.yaml").read_text(encoding="utf-8"))


def _problems(data: dict) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return info.value.problems


def test_the_second_protocol_ships_and_loads_on_schema_version_2():
    p = read_protocol("doxab").protocol
    assert p.schema_version == 2
    assert p.treatment.radiotherapy is None and p.treatment.surgery is None and p.pathology is None
    assert [a.id for a in p.arms] == ["doxorubicin", "doxorubicin_antibody"]
    assert p.identification.design.allocation == "randomised"
    assert p.randomisation.method == "minimisation"
    assert p.response.criteria == "RECIST 1.1" and p.response.confirmation is False
    assert p.statistics.primary.kind == "comparison" and p.statistics.primary.endpoint == "pfs"
    assert "progression" in p.endpoint("pfs").events
    doxorubicin = [d for r in p.treatment.systemic.regimens for d in r.drugs if d.drug == "doxorubicin"]
    assert {(d.dose, d.per, tuple(d.days)) for d in doxorubicin} == {(75, "m2", (1,))}


def test_no_code_names_the_second_protocol():
    """Issue: 'nothing in code names it': only its own file says DOXAB."""
    named = [path for path in SRC.rglob("*") if path.is_file() and path.suffix in (".py", ".html", ".js", ".css")
             and re.search(r"doxab|olaratumab", path.read_text(encoding="utf-8", errors="replace"), re.I)]
    assert named == []


def test_version_1_requires_what_it_always_required():
    data = _sprint()
    del data["pathology"]
    del data["treatment"]["surgery"]
    del data["toxicity"]["wound_complication_window_days"]
    problems = _problems(data)
    for path in ("pathology", "treatment.surgery", "toxicity.wound_complication_window_days"):
        assert f"{path}: schema version 1 requires it (or declare schema_version: 2)" in problems


def test_version_1_refuses_the_sections_of_version_2():
    data = _sprint()
    data["arms"] = [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]
    data["endpoints"][2]["events"] = ["progression"]
    problems = _problems(data)
    assert "arms: comes with schema version 2: declare schema_version: 2" in problems
    assert "endpoints.os.events: progression comes with schema version 2" in problems


def test_version_2_checks_its_comparison_against_its_arms():
    data = _doxab()
    data["statistics"]["primary"]["control_arm"] = "placebo"
    data["identification"]["design"]["arms"] = 3
    data["response"]["form"] = "imaging"
    problems = _problems(data)
    assert "statistics.primary.control_arm: unknown arm 'placebo' (arms: doxorubicin, doxorubicin_antibody)" in problems
    assert "identification.design.arms: says 3 arms; the protocol declares 2" in problems
    assert "response.form: unknown form 'imaging'" in problems


def test_a_hazard_ratio_of_one_is_refused():
    data = _doxab()
    data["statistics"]["primary"]["hazard_ratio"] = 1
    assert any(p.startswith("statistics.primary.hazard_ratio: a hazard ratio of 1") for p in _problems(data))


def test_protocol_show_gives_arms_regimens_response_and_the_events_needed():
    """Schoenfeld (Biometrics 1983): D = 4 (z(0.9) + z(0.8))^2 / ln(0.6)^2 for 1:1, two-sided alpha 0.2,
    power 0.8 = 4 x (1.28155 + 0.84162)^2 / 0.26094 = 69.1, rounded up: 70 events."""
    expected = math.ceil(4 * (1.2815516 + 0.8416212) ** 2 / math.log(0.6) ** 2)
    assert expected == 70
    result = runner.invoke(app, ["protocol", "show", "doxab"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Arms: Doxorubicin (doxorubicin, ratio 1), Doxorubicin + antibody (doxorubicin_antibody, ratio 1)" in text
    assert "minimisation (Pocock-Simon)" in text
    assert "olaratumab 15 mg/kg days 1, 8, every 21 days, up to 8 cycles" in text
    assert "Response: RECIST 1.1" in text
    assert f"{expected} events (Schoenfeld)" in text
    assert "fractions" not in text.split("Visit schedule")[0]  # no radiotherapy in this protocol


def test_a_study_runs_the_second_protocol_from_referral_to_enrolment(database_url):
    """init --protocol takes the shipped file; the generic pathway screens and enrols on its own forms,
    and the visit schedule is the protocol's (tumour assessment every 42 days from enrolment)."""
    from sarcotrial.services import forms as records, pathway, visits
    from sarcotrial.services.study import Actor, StudyDB

    nurse = Actor("nurse.test", "test")
    study, _notice = StudyDB.create(database_url, "doxab", Actor("tester", "test"))
    try:
        patient = pathway.register_patient(
            study, nurse, identifiers=pathway.Identifiers("Test Patient (synthetic)", dt.date(1960, 5, 1), "H0001"),
            sex="female", referral={"referral_date": "2025-01-10"})
        assert patient.subject_id == "DXA-001"
        result = pathway.screen(study, nurse, patient.subject_id, {
            "screening_date": "2025-01-20", "age_years": 64, "histology_confirmed": True,
            "disease_extent": "metastatic", "measurable_disease": True, "ecog": 1, "lvef_percent": 60,
            "previous_lines": 0, "previous_anthracycline": False, "histotype_group": "leiomyosarcoma",
            "able_to_consent": True, "consent_signed": True, "consent_date": "2025-01-20"})
        assert result.decision == "eligible"
        records.record(study, nurse, patient.subject_id, "consent",
                       {"consent_date": "2025-01-20", "document_version": "1.0", "data_use": True})
        pathway.enrol(study, nurse, patient.subject_id, dt.date(2025, 1, 22))
        rows = visits.visits(study, nurse, patient.subject_id)
        assessments = [v.target_date for v in rows if v.visit_id == "tumour_assessment"]
        assert assessments[:2] == [dt.date(2025, 3, 5), dt.date(2025, 4, 16)]  # 22 Jan + 42 d, + 84 d
    finally:
        study.close()


def test_the_report_renders_the_second_protocol(tmp_path, monkeypatch):
    """The study report chooses its sections by the protocol: DOXAB (arms compared, systemic therapy) renders,
    exit 0, with its PDF written (README: 0 done), even before the first patient."""
    from sarcotrial.store.crypto import generate_key

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    db = tmp_path / "doxab.sqlite"
    assert runner.invoke(app, ["init", "--protocol", "doxab", "--db", str(db)]).exit_code == 0
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.pdf").exists()


def test_censoring_at_the_last_tumour_assessment_needs_a_response_and_version_2():
    data = _doxab()
    del data["response"]
    problems = _problems(data)
    assert "endpoints.pfs.censor_at: the last tumour assessment needs a response section" in problems
    sprint = _sprint()
    sprint["endpoints"][2]["censor_at"] = "last_response_assessment"
    assert "endpoints.os.censor_at: comes with schema version 2" in _problems(sprint)


def test_pfs_censors_at_the_last_tumour_assessment_not_the_last_contact():
    """FDA, Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics (2018), table of PFS
    censoring: no progression -> censored at the last adequate tumour assessment; none after baseline ->
    censored at randomisation. Enrolment 1 Jan 2025; assessments 12 Feb and 26 Mar; last contact (a visit)
    30 Jun: censored at 26 Mar = 84 days, not 180."""
    import datetime as dt

    from sarcotrial.outcomes.endpoints import PatientCourse, time_to_event

    course = PatientCourse("DXA-001", enrolment=dt.date(2025, 1, 1), last_contact=dt.date(2025, 6, 30),
                           assessments=(dt.date(2024, 12, 20), dt.date(2025, 2, 12), dt.date(2025, 3, 26)))
    pfs = time_to_event(course, "pfs", "enrolment", ["progression", "death_any_cause"],
                        censor_at="last_response_assessment")
    assert (pfs.time_days, pfs.status) == (84, 0)
    assert time_to_event(course, "os", "enrolment", ["death_any_cause"]).time_days == 180
    none = PatientCourse("DXA-002", enrolment=dt.date(2025, 1, 1), last_contact=dt.date(2025, 6, 30))
    assert time_to_event(none, "pfs", "enrolment", ["progression"], censor_at="last_response_assessment").time_days == 0


def test_a_response_codelist_with_a_number_for_a_code_is_refused_by_its_path():
    """A code written as a number in the code list RECIST reads (new_lesions) is named with its path, not
    a stack trace (it once failed joining the codes)."""
    data = _doxab()
    data["codelists"]["new_lesions"][0]["code"] = 0
    problems = _problems(data)
    assert any("new_lesions" in p for p in problems), problems
