"""``sarcotrial plan-qa`` and ``sarcotrial dvh`` as a physicist runs them."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.store.crypto import generate_key
from tests.radiotherapy.phantoms import sib_phantom

runner = CliRunner()


def _patient_with_course(tmp_path, db: str) -> None:
    """SPR-001 registered, screened, consented, enrolled, with a radiotherapy course to store plan QA on."""
    for args in (["init", "--db", db],
                 ["patient", "register", "--db", db, "--name", "P (synthetic)", "--dob", "1960-01-01",
                  "--hospital-number", "H9", "--sex", "male", "--set", "referral_date=2025-01-10",
                  "--set", "anatomic_site=extremity"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
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


def test_plan_qa_json_html_and_stored_on_the_patient(tmp_path, monkeypatch):
    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "major")
    db = str(tmp_path / "s.sqlite")
    _patient_with_course(tmp_path, db)
    html = tmp_path / "qa.html"
    result = runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose), "--rtplan", str(rtplan),
                                 "--db", db, "--patient", "SPR-001", "--html", str(html), "--json"])
    # a major deviation is a failed check (exit 1), printed and stored all the same
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["verdict"] == "major deviation" and data["stored"] is True and data["end_cap"] == "none"
    assert data["already_stored"] is False
    assert "<svg" in html.read_text() and "major deviation" in html.read_text()
    shown = runner.invoke(app, ["patient", "show", "SPR-001", "--db", db, "--json"])
    assert json.loads(shown.output)["deviations"][0]["category"] == "plan_qa"
    # --patient alone stores on the default study (DATABASE_URL), as every other command reads it;
    # the same plan again is recognised, not stored a second time
    monkeypatch.setenv("DATABASE_URL", db)
    again = runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose), "--rtplan", str(rtplan),
                                "--patient", "SPR-001", "--json"])
    assert again.exit_code == 1, again.output
    repeat = json.loads(again.output)
    assert repeat["stored"] is True and repeat["already_stored"] is True and repeat["stored_id"] == data["stored_id"]
    shown = runner.invoke(app, ["patient", "show", "SPR-001", "--json"])
    assert len(json.loads(shown.output)["plan_qa"]) == 1
    assert "Audit trail intact" in runner.invoke(app, ["audit", "verify", "--db", db]).output


def test_plan_qa_run_twice_stores_once_by_the_rule_of_the_web_upload(tmp_path, database_url):
    """Defect: the same plan run twice with --patient was stored twice (two records, two identical major
    protocol deviations, so the report counted 2 majors). The command line now stores through the
    service function the web upload uses: a repeat is answered from the earlier record, in either
    direction (command line then web, here) and on both databases."""
    from sarcotrial.services import planqa as planqa_service
    from sarcotrial.services.study import Actor, StudyDB

    rtss, rtdose, rtplan = sib_phantom(tmp_path, "major")
    _patient_with_course(tmp_path, database_url)
    args = ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose), "--rtplan", str(rtplan),
            "--db", database_url, "--patient", "SPR-001"]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 1, first.output
    told = " ".join(first.output.split())  # the console's width is fixed when it is first made
    assert "Stored on SPR-001's radiotherapy course" in told and "major protocol deviation" in told
    record = int(re.search(r"\(record (\d+)\)", told).group(1))
    second = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert second.exit_code == 1, second.output
    said = " ".join(second.output.split())
    assert f"Already stored on SPR-001's radiotherapy course (record {record}," in said and "not stored again" in said
    assert "Stored on" not in said
    shown = json.loads(runner.invoke(app, ["patient", "show", "SPR-001", "--db", database_url, "--json"]).output)
    assert len(shown["plan_qa"]) == 1
    assert [d["severity"] for d in shown["deviations"] if d["category"] == "plan_qa"] == ["major"]
    with StudyDB.open(database_url) as study:  # the web's upload of the same files finds the same record
        uploaded = planqa_service.evaluate_upload(
            study, Actor("tester", "test"), "SPR-001", rtstruct=rtss, rtdose=rtdose, rtplan=rtplan, store=True,
            files={"rtstruct": "upload_rtss.dcm", "rtdose": "upload_rtdose.dcm", "rtplan": "upload_rtplan.dcm"})
        assert uploaded.already_stored and uploaded.stored_id == record
        assert planqa_service.stored_plan_qa_count(study, None, "SPR-001") == 1
        # stored from the command line with its curves, the verdict's DVH can be drawn on the web
        assert planqa_service.dvh_png(study, uploaded.results)[:4] == b"\x89PNG"


def test_plan_qa_exit_status_follows_the_verdict(tmp_path):
    """Exit status convention (0 done; 1 a check failed; 2 invalid input): a major deviation is a failed
    check, per protocol and a minor deviation are not; the help says so."""
    for variant, verdict, status in (("pass", "per protocol", 0), ("minor", "minor deviation", 0),
                                     ("major", "major deviation", 1)):
        rtss, rtdose, rtplan = sib_phantom(tmp_path, variant)
        result = runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose),
                                     "--rtplan", str(rtplan), "--json"])
        assert (result.exit_code, json.loads(result.output)["verdict"]) == (status, verdict), result.output
    helped = " ".join(runner.invoke(app, ["plan-qa", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "1 a major deviation" in helped and "2 invalid input" in helped


def test_plan_qa_table_gives_every_bound_and_value_its_unit_at_80_columns(tmp_path):
    """The table printed "per protocol >= 95" and "plan 24.12" without units. SPRINT (src/sarcotrial/protocol/protocols/sprint.yaml,
    objectives) states PTV2 V95% >= 95 % of the volume, PTV2 D2% <= 107 % of the prescription, Bone Dmean <= 37 Gy;
    each bound and value now carries its unit, a number never split from it at 80 columns."""
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "minor")
    result = runner.invoke(app, ["plan-qa", "--rtstruct", str(rtss), "--rtdose", str(rtdose), "--rtplan", str(rtplan)],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    ptv2_d2 = next(line for line in lines if line.startswith("PTV2") and "D2%" in line)
    assert "\u2264 107 % of Rx" in ptv2_d2 and "\u2264 110 % of Rx" in ptv2_d2 and ptv2_d2.count("% of Rx") == 3
    ptv2_v95 = next(line for line in lines if line.startswith("PTV2") and "V95%" in line)
    assert "\u2265 95 %" in ptv2_v95 and "\u2265 90 %" in ptv2_v95 and ptv2_v95.count(" %") == 3
    bone_mean = next(line for line in lines if line.startswith("Bone") and "Dmean" in line)
    assert "\u2264 37 Gy" in bone_mean and "\u2264 40 Gy" in bone_mean and bone_mean.count(" Gy") == 3
    assert "Rx: the prescription dose" in result.output


def test_dvh_json_keys(tmp_path):
    rtss, rtdose, _ = sib_phantom(tmp_path, "pass")
    result = runner.invoke(app, ["dvh", str(rtss), str(rtdose), "--structure", "PTV2", "--json"])
    assert result.exit_code == 0, result.output
    (ptv2,) = json.loads(result.output)
    assert {"name", "volume_cc", "min_gy", "mean_gy", "max_gy", "d98_gy", "d95_gy", "d50_gy", "d2_gy", "end_cap"} <= set(ptv2)
    assert ptv2["volume_cc"] == pytest.approx(31 * 60 * 60 / 1000, rel=1e-6)  # 31 x 60 x 60 mm box


def test_dvh_says_how_the_files_were_read_as_warnings_and_in_json(tmp_path):
    """`dvh` read a structure set without the DICOM preamble (PS3.10 section 7.1) silently, and pydicom's
    "Invalid value for VR UI" leaked as a raw Python warning. Each note is now one `warning:` line on the
    error stream naming its file, and every object of --json carries them as file_notes."""
    import warnings

    import pydicom
    from pydicom.dataset import FileMetaDataset

    rtss, rtdose, _ = sib_phantom(tmp_path, "pass")
    ds = pydicom.dcmread(rtss)
    ds.preamble, ds.file_meta = None, FileMetaDataset()
    bare = tmp_path / "bare_rtss.dcm"
    pydicom.dcmwrite(bare, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    dose = pydicom.dcmread(rtdose)
    # a UID component with a leading zero, which PS3.5 section 9.1 forbids (as pydicom's own rtdose.dcm has)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.0123"
        dose.save_as(tmp_path / "odd_uid_dose.dcm")
    args = ["dvh", str(bare), str(tmp_path / "odd_uid_dose.dcm"), "--structure", "PTV2"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = runner.invoke(app, args, env={"COLUMNS": "200"})
        as_json = runner.invoke(app, [*args, "--json"], env={"COLUMNS": "200"})
    assert [str(w.message) for w in caught] == []  # no raw Python warning
    assert table.exit_code == 0 and as_json.exit_code == 0, table.output
    said = [line for line in " ".join(table.stderr.split()).split("warning: ") if line]
    assert len(said) == 2 and said[0].startswith("bare_rtss.dcm: no preamble / no file meta header")
    assert said[1].strip() == ("odd_uid_dose.dcm: Invalid value for VR UI: '1.2.826.0.1.3680043.8.498.0123' "
                               "(pydicom; the rules of each VR: PS3.5 table 6.2-1)")
    assert "PTV2" in table.stdout
    (ptv2,) = json.loads(as_json.stdout)
    assert [n.split(":")[0] for n in ptv2["file_notes"]] == ["bare_rtss.dcm", "odd_uid_dose.dcm"]
    assert ptv2["volume_cc"] == pytest.approx(31 * 60 * 60 / 1000, rel=1e-6)  # read the same: 31 x 60 x 60 mm box
    assert "file_notes" not in json.loads(runner.invoke(app, ["dvh", str(rtss), str(rtdose), "--structure", "PTV2",
                                                              "--json"]).stdout)[0]


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
    assert result.exit_code == 1, result.output  # half the dose: a major deviation, a failed check
    assert "MAJOR DEVIATION" in result.output
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
    assert result.exit_code == 1, result.output  # a major deviation: a failed check, the report written all the same
    page = html.read_text()
    assert "Tumor Bed Block" in page and "major deviation" in page  # its doses stay below 15 Gy, far from 50 and 60
    png = html.parent / "planqa-breast_figures" / "dvh.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
