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


def test_plan_qa_reads_a_structure_set_without_preamble_and_says_so(tmp_path):
    """Defect 16: a structure set written without the 128-byte preamble and file meta header (PS3.10
    section 7.1) was refused as "not a DICOM file"; it is read, with a warning line naming the file."""
    import pydicom
    from pydicom.dataset import FileMetaDataset

    rtss, rtdose, rtplan = sib_phantom(tmp_path, "pass")
    ds = pydicom.dcmread(rtss)
    ds.preamble, ds.file_meta = None, FileMetaDataset()
    bare = tmp_path / "bare_rtss.dcm"
    pydicom.dcmwrite(bare, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert bare.read_bytes()[128:132] != b"DICM"
    args = ["plan-qa", "--rtstruct", str(bare), "--rtdose", str(rtdose), "--rtplan", str(rtplan)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert "PER PROTOCOL" in shown
    assert "warning: bare_rtss.dcm: no preamble / no file meta header" in shown
    data = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert data["verdict"] == "per protocol" and len(data["file_notes"]) == 1
    assert data["file_notes"][0].startswith("bare_rtss.dcm: no preamble / no file meta header")
    assert json.loads(runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose),
                                          "--rtplan", str(rtplan), "--json"]).output)["file_notes"] == []


def test_plan_qa_html_of_the_breast_plan_kept_for_a_person_to_look_at(tmp_path, shared_data):
    """The real breast IMRT plan (dicompyler-core's example) against SPRINT, through an alias table: the
    HTML report and its DVH figure are kept in tests/web/artefacts/ (ignored by git) to be looked at."""
    from pathlib import Path

    folder = shared_data / "breast-imrt-example"
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("CTV1: [Breast]\nCTV2: [Tumor Bed]\nPTV2: [Tumor Bed]\nPTV1: [Tumor Bed Block]\n")
    html = Path(__file__).parents[1] / "web" / "artefacts" / "planqa-breast.html"
    result = runner.invoke(app, ["plan-qa", "--rtstruct", str(folder / "rtss.dcm"), "--rtdose", str(folder / "rtdose.dcm"),
                                 "--rtplan", str(folder / "rtplan.dcm"), "--aliases", str(aliases), "--html", str(html)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "Tumor Bed Block" in page and "major deviation" in page  # its doses stay below 15 Gy, far from 50 and 60
    png = html.parent / "planqa-breast_figures" / "dvh.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
