"""``sarcotrial plan-qa`` and ``sarcotrial dvh`` as a physicist runs them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.store.crypto import generate_key
from tests.radiotherapy.phantoms import sib_phantom

runner = CliRunner()


def test_plan_qa_json_html_and_stored_on_the_patient(tmp_path, monkeypatch):
    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "major")
    db = str(tmp_path / "s.sqlite")
    for args in (["init", "--db", db],
                 ["patient", "register", "--db", db, "--name", "P (synthetic)", "--dob", "1960-01-01",
                  "--hospital-number", "H9", "--sex", "male", "--set", "referral_date=2025-01-10",
                  "--set", "anatomic_site=extremity"]):
        assert runner.invoke(app, args).exit_code == 0
    screening = tmp_path / "s.json"
    screening.write_text(json.dumps({"screening_date": "2025-01-20", "consent_date": "2025-01-20", "age_years": 65,
                                     "histology_confirmed": True, "disease_status": "de_novo",
                                     "candidate_for_resection": True, "previous_rt_to_region": False,
                                     "able_to_consent": True, "consent_signed": True, "planned_amputation": False}))
    for args in (["patient", "screen", "SPR-001", "--db", db, "--input", str(screening)],
                 ["record", "consent", "SPR-001", "--db", db, "--set", "consent_date=2025-01-20",
                  "--set", "document_version=1.0", "--set", "data_use=yes"],
                 ["patient", "enrol", "SPR-001", "--db", db, "--date", "2025-01-22"],
                 ["record", "rt_course", "SPR-001", "--db", db, "--set", "planned_start=2025-02-03"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    html = tmp_path / "qa.html"
    result = runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose), "--rtplan", str(rtplan),
                                 "--db", db, "--patient", "SPR-001", "--html", str(html), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["verdict"] == "major deviation" and data["stored"] is True and data["end_cap"] == "none"
    assert "<svg" in html.read_text() and "major deviation" in html.read_text()
    shown = runner.invoke(app, ["patient", "show", "SPR-001", "--db", db, "--json"])
    assert json.loads(shown.output)["deviations"][0]["category"] == "plan_qa"
    # --patient alone stores on the default study (DATABASE_URL), as every other command reads it
    monkeypatch.setenv("DATABASE_URL", db)
    again = runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose), "--rtplan", str(rtplan),
                                "--patient", "SPR-001", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["stored"] is True
    shown = runner.invoke(app, ["patient", "show", "SPR-001", "--json"])
    assert len(json.loads(shown.output)["plan_qa"]) == 2
    assert "Audit trail intact" in runner.invoke(app, ["audit", "verify", "--db", db]).output


def test_dvh_json_keys(tmp_path):
    rtss, rtdose, _ = sib_phantom(tmp_path, "pass")
    result = runner.invoke(app, ["dvh", str(rtss), str(rtdose), "--structure", "PTV2", "--json"])
    assert result.exit_code == 0, result.output
    (ptv2,) = json.loads(result.output)
    assert {"name", "volume_cc", "min_gy", "mean_gy", "max_gy", "d98_gy", "d95_gy", "d50_gy", "d2_gy", "end_cap"} <= set(ptv2)
    assert ptv2["volume_cc"] == pytest.approx(31 * 60 * 60 / 1000, rel=1e-6)  # 31 x 60 x 60 mm box


def test_plan_qa_bad_input_is_one_line(tmp_path):
    bogus = tmp_path / "x.dcm"
    bogus.write_text("not dicom")
    result = runner.invoke(app, ["plan-qa", "--rtstruct", str(bogus), "--rtdose", str(bogus)])
    assert result.exit_code == 2 and "x.dcm" in result.output and "Traceback" not in result.output


def test_plan_qa_db_without_patient_is_refused(tmp_path):
    rtss, rtdose, _ = sib_phantom(tmp_path, "pass")
    result = runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose), "--db", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 2 and "--db needs --patient" in result.output


def test_an_undefined_index_is_printed_as_not_defined_with_why(tmp_path):
    """Paddick (J Neurosurg 2000) divides by the prescription isodose volume: where no voxel of the
    dose grid reaches the prescription, the index is not defined. The table and the HTML report say
    so (with why) instead of failing; the plan is still judged."""
    import pydicom

    rtss, rtdose, rtplan = sib_phantom(tmp_path, "pass")
    ds = pydicom.dcmread(rtdose)
    ds.DoseGridScaling = f"{float(ds.DoseGridScaling) * 0.5:.6e}"  # 61 Gy at most -> 30.5 Gy: below 50 Gy
    ds.save_as(rtdose)
    html = tmp_path / "qa.html"
    result = runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose), "--rtplan", str(rtplan),
                                 "--html", str(html)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Paddick CI not defined (no voxel of the dose grid receives 50 Gy)" in " ".join(result.output.split())
    assert "not defined (no voxel of the dose grid receives 50 Gy)" in html.read_text()
