"""``import dicom-rt``: a folder of DICOM-RT plans grouped by reference, matched to patients, judged and stored.

The plans are the SPRINT plan-QA phantoms of :mod:`tests.radiotherapy.phantoms`, whose verdicts are
known analytically (its ``sib_phantom`` docstring: "pass" meets every objective, "minor" has exactly
one objective in the minor band). The references followed are those of DICOM PS3.3: RT Dose's
Referenced RT Plan Sequence (C.8.8.3) and RT Plan's Referenced Structure Set Sequence (C.8.8.9).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
import typer
from typer.testing import CliRunner

from sarcotrial.cli.importing_rt import import_dicom_rt
from sarcotrial.services import forms as records
from sarcotrial.services.planqa import stored_plan_qa, stored_plan_qa_count
from tests.helpers import DOCTOR, enrolled
from tests.radiotherapy.phantoms import sib_phantom, write_ct

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("dicom-rt")(import_dicom_rt)

    @app.callback()
    def main() -> None:  # a group, so that the command is called by its name as under ``import``
        """Imports."""

    return app


APP = _app()


def _run(*args: str):
    return runner.invoke(APP, ["dicom-rt", *args], env={"COLUMNS": "250"})


def _with_course(study, hospital_number: str) -> str:
    subject = enrolled(study, hospital_number)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03", "calendar": "IT-MI"})
    return subject


def _set(path: Path, target: Path, *, bare: bool = False, drop: tuple[str, ...] = (), **values) -> Path:
    """Copy an RT file to ``target`` with some attributes changed or removed; ``bare``: without preamble and
    file meta header (PS3.10 section 7.1), as some older systems write it."""
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    for keyword in drop:
        delattr(ds, keyword)
    target.parent.mkdir(parents=True, exist_ok=True)
    if bare:
        ds.preamble = None
        del ds.file_meta
        pydicom.dcmwrite(target, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    else:
        ds.save_as(target, enforce_file_format=True)
    return target


def _plan(tmp_path: Path, folder: Path, variant: str, patient_id: str, names: tuple[str, str, str], *,
          bare_plan: bool = False, dose_drop: tuple[str, ...] = ()) -> dict[str, Path]:
    """One phantom plan written under ``folder`` as (rtstruct, rtdose, rtplan) file names, with its PatientID."""
    source = tmp_path / "sources" / f"{variant}-{patient_id}"
    rtss, rtdose, rtplan = sib_phantom(source, variant)
    return {"rtstruct": _set(rtss, folder / names[0], PatientID=patient_id),
            "rtdose": _set(rtdose, folder / names[1], PatientID=patient_id, drop=dose_drop),
            "rtplan": _set(rtplan, folder / names[2], PatientID=patient_id, bare=bare_plan)}


@pytest.fixture
def plans(tmp_path):
    """Two patients' plans in nested folders, file names with odd or no extensions, one RTPLAN written without
    its preamble, beside a CT slice and a text file."""
    root = tmp_path / "export"
    first = _plan(tmp_path, root / "H0001" / "2025-02" / "plan", "pass", "H0001", ("RS.1", "RD.1", "RP.1"))
    second = _plan(tmp_path, root / "batch" / "deep" / "er", "minor", "H0002", ("struct.DCM", "dose", "plan.bin"),
                   bare_plan=True)
    write_ct(root / "H0001" / "ct" / "CT.0001")
    (root / "README.txt").write_text("Exported from the planning system.\n", encoding="utf-8")
    return root, first, second


def _outcomes(result) -> list[dict]:
    assert result.output.strip(), result.output
    return json.loads(result.output)["plans"]


def test_two_patients_plans_matched_by_hospital_number_stored_once(study, database_url, plans):
    """Both plans found by their references (PS3.3 C.8.8.3 and C.8.8.9) among nested files with any names,
    matched by the hospital number = PatientID, judged as the phantoms' analytic DVHs say (pass: per protocol;
    minor: minor deviation) and stored; the CT slice and the text file skipped; a second run stores nothing."""
    root, first, second = plans
    a, b = _with_course(study, "H0001"), _with_course(study, "H0002")
    result = _run(str(root), "--db", database_url, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_patient = {p["patient_id"]: p for p in data["plans"]}
    assert set(by_patient) == {"H0001", "H0002"}
    one, two = by_patient["H0001"], by_patient["H0002"]
    assert (one["subject_id"], one["matched_by"], one["status"], one["verdict"]) == (a, "hospital number", "stored",
                                                                                     "per protocol")
    assert (two["subject_id"], two["status"], two["verdict"]) == (b, "stored", "minor deviation")
    assert one["files"] == {k: p.relative_to(root).as_posix() for k, p in first.items()}
    assert two["files"] == {k: p.relative_to(root).as_posix() for k, p in second.items()}
    assert any("preamble" in note for note in two["notes"])  # the bare RTPLAN read, and said so
    skipped = {s["file"]: s["reason"] for s in data["skipped"]}
    assert skipped.keys() == {"README.txt", "H0001/ct/CT.0001"}
    assert skipped["README.txt"] == "not DICOM" and "CT Image Storage" in skipped["H0001/ct/CT.0001"]
    assert (data["matched"], data["unmatched"], data["failed"]) == (2, 0, 0)
    assert stored_plan_qa_count(study, None, a) == 1 and stored_plan_qa_count(study, None, b) == 1
    # the stored verdict keeps the files' base names only: RT export folders are often named after the patient
    stored = stored_plan_qa(study, None, a, one["stored_id"])["results"]["files"]
    assert stored == {k: p.name for k, p in first.items()}

    again = _run(str(root), "--db", database_url, "--json")
    assert again.exit_code == 0, again.output
    repeat = {p["patient_id"]: p for p in _outcomes(again)}
    assert {p["status"] for p in repeat.values()} == {"already stored"}
    assert repeat["H0001"]["stored_id"] == one["stored_id"] and repeat["H0002"]["stored_id"] == two["stored_id"]
    assert stored_plan_qa_count(study, None, a) == 1 and stored_plan_qa_count(study, None, b) == 1


def test_readable_summary_one_line_per_plan(study, database_url, plans):
    root, _, _ = plans
    _with_course(study, "H0001"), _with_course(study, "H0002")
    result = _run(str(root), "--db", database_url)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "H0001/2025-02/plan/RS.1, H0001/2025-02/plan/RD.1, H0001/2025-02/plan/RP.1: SPR-001" in text
    assert "per protocol, stored" in text and "minor deviation, stored" in text
    assert "Skipped 2 files" in text
    assert "2 plans: 2 matched (2 stored, 0 already stored), 0 unmatched, 0 failed" in text


def test_unknown_patient_id_is_unmatched_then_matched_by_a_mapping_file(study, database_url, plans, tmp_path):
    """A plan whose PatientID is no study patient's hospital number is reported unmatched (exit 1), the others
    stored all the same; a mapping file (CSV by PatientID, YAML by StudyInstanceUID) then matches it."""
    root, _, _ = plans
    a = _with_course(study, "H0001")
    _with_course(study, "H0002")
    c = _with_course(study, "H0003")
    _plan(tmp_path, root / "outside", "pass", "EXT-77", ("a", "b", "c"))
    result = _run(str(root), "--db", database_url, "--json")
    assert result.exit_code == 1, result.output
    by_patient = {p["patient_id"]: p for p in _outcomes(result)}
    assert by_patient["EXT-77"]["status"] == "unmatched" and by_patient["EXT-77"]["subject_id"] is None
    assert "EXT-77" in by_patient["EXT-77"]["problem"]
    assert {by_patient[h]["status"] for h in ("H0001", "H0002")} == {"stored"}
    assert stored_plan_qa_count(study, None, c) == 0

    mapping = tmp_path / "mapping.csv"
    mapping.write_text("patient_id,study_instance_uid,subject_id\nEXT-77,,spr-003\n", encoding="utf-8")
    mapped = _run(str(root), "--db", database_url, "--mapping", str(mapping), "--json")
    assert mapped.exit_code == 0, mapped.output
    by_patient = {p["patient_id"]: p for p in _outcomes(mapped)}
    assert (by_patient["EXT-77"]["subject_id"], by_patient["EXT-77"]["status"]) == (c, "stored")
    assert by_patient["EXT-77"]["matched_by"] == "mapping file (PatientID)"
    assert by_patient["H0001"]["status"] == "already stored"
    assert stored_plan_qa_count(study, None, c) == 1 and stored_plan_qa_count(study, None, a) == 1


def test_mapping_by_study_instance_uid_in_yaml(study, database_url, tmp_path):
    """The phantoms' StudyInstanceUID (tests/radiotherapy/phantoms.py STUDY_UID) mapped to a subject in YAML."""
    from tests.radiotherapy.phantoms import STUDY_UID

    subject = _with_course(study, "H0009")
    root = tmp_path / "in"
    _plan(tmp_path, root, "pass", "RT-1", ("s", "d", "p"))
    mapping = tmp_path / "m.yaml"
    mapping.write_text(f'study_instance_uid:\n  "{STUDY_UID}": {subject}\n', encoding="utf-8")
    result = _run(str(root), "--db", database_url, "--mapping", str(mapping), "--json")
    assert result.exit_code == 0, result.output
    (plan,) = _outcomes(result)
    assert (plan["subject_id"], plan["matched_by"], plan["verdict"]) == (subject, "mapping file (StudyInstanceUID)",
                                                                         "per protocol")


def test_missing_reference_falls_back_to_the_frame_of_reference_and_says_so(study, database_url, tmp_path):
    """An RTDOSE without its Referenced RT Plan Sequence is given the RTPLAN of its Frame of Reference and
    PatientID (the other patient's plan in the same frame is not taken), with a note; an RTPLAN referring to
    a structure set not in the folder fails its plan, naming the UID, while the other plan is stored."""
    subject = _with_course(study, "H0001")
    _with_course(study, "H0002")
    root = tmp_path / "in"
    first = _plan(tmp_path, root / "one", "pass", "H0001", ("s", "d", "p"), dose_drop=("ReferencedRTPlanSequence",))
    second = _plan(tmp_path, root / "two", "pass", "H0002", ("s", "d", "p"))
    second["rtstruct"].unlink()
    result = _run(str(root), "--db", database_url, "--json")
    assert result.exit_code == 1, result.output
    by_patient = {p["patient_id"]: p for p in _outcomes(result)}
    one, two = by_patient["H0001"], by_patient["H0002"]
    assert one["status"] == "stored" and one["files"]["rtplan"] == "one/p"
    assert any("has no ReferencedRTPlanSequence" in n and "one/p" in n and "Frame of Reference" in n
               for n in one["notes"]), one["notes"]
    assert stored_plan_qa_count(study, None, subject) == 1
    plan_ds = pydicom.dcmread(first["rtplan"])
    assert plan_ds.SOPInstanceUID  # the plan found is the one written for this patient
    wanted = pydicom.dcmread(second["rtplan"]).ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID
    assert two["status"] == "failed" and "not in the folder" in two["problem"] and wanted in two["problem"]

    text = _run(str(root), "--db", database_url)
    assert text.exit_code == 1 and "failed" in text.output and "note" in text.output


def test_invalid_arguments_exit_2_and_write_nothing(study, database_url, plans, tmp_path):
    """Exit status 2 for invalid arguments (no such folder, a file for a folder, a bad mapping file, an end cap
    other than none or half-slice), with nothing stored."""
    root, _, _ = plans
    a = _with_course(study, "H0001")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("hospital,who\nH0001,SPR-001\n", encoding="utf-8")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("patient_id:\n  H0001: SPR-404\n", encoding="utf-8")
    twice = tmp_path / "twice.csv"
    twice.write_text("patient_id,subject_id\nH1,SPR-001\nH1,SPR-002\n", encoding="utf-8")
    for args, said in (([str(tmp_path / "nowhere")], "no such folder"),
                       ([str(bad_csv)], "not a folder"),
                       ([str(root), "--mapping", str(bad_csv)], "subject_id"),
                       ([str(root), "--mapping", str(unknown)], "not patients of this study: SPR-404"),
                       ([str(root), "--mapping", str(twice)], "both"),
                       ([str(root), "--mapping", str(tmp_path / "absent.csv")], "no such file"),
                       ([str(root), "--end-cap", "full"], "end_cap")):
        result = _run(*args, "--db", database_url)
        assert result.exit_code == 2, (args, result.output)
        assert said in " ".join(result.output.split()), (args, result.output)
    assert stored_plan_qa_count(study, None, a) == 0


def test_a_folder_without_plans_is_a_failed_check(study, database_url, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    write_ct(tmp_path / "empty" / "sub" / "ct")
    result = _run(str(tmp_path / "empty"), "--db", database_url)
    assert result.exit_code == 1 and "No plan found" in result.output


def test_patient_without_course_fails_with_the_reason(study, database_url, tmp_path):
    subject = enrolled(study, "H0001")
    root = tmp_path / "in"
    _plan(tmp_path, root, "pass", "H0001", ("s", "d", "p"))
    result = _run(str(root), "--db", database_url, "--json")
    assert result.exit_code == 1
    (plan,) = _outcomes(result)
    assert plan["subject_id"] == subject and plan["status"] == "failed" and "rt_course" in plan["problem"]


@pytest.mark.validation
def test_the_real_breast_plan_imported_from_files_without_extensions(study, database_url, shared_data, tmp_path):
    """The breast IMRT example (dicompyler-core's test plan; PatientID 123456): the RTDOSE refers to the RTPLAN,
    which refers to the RTSTRUCT, whose frame of reference is given only in its Referenced Frame of Reference
    Sequence (PS3.3 C.8.8.5); its CT slice is skipped. Its doses stay far below SPRINT's 50 and 60 Gy, so the
    stored verdict is a major deviation (as tests/cli/test_planqa_cli.py finds for the same plan)."""
    from tests.conftest import shared_file

    root = tmp_path / "export" / "patient"
    root.mkdir(parents=True)
    for name, target in (("rtss.dcm", "a/RS"), ("rtdose.dcm", "b/RD"), ("rtplan.dcm", "b/RP"), ("ct.0.dcm", "c/CT1")):
        (root / target).parent.mkdir(exist_ok=True)
        shutil.copy(shared_file(shared_data, f"breast-imrt-example/{name}"), root / target)
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("CTV1: [Breast]\nCTV2: [Tumor Bed]\nPTV2: [Tumor Bed]\nPTV1: [Tumor Bed Block]\n")
    subject = _with_course(study, "123456")
    result = _run(str(tmp_path / "export"), "--db", database_url, "--aliases", str(aliases), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (plan,) = data["plans"]
    assert plan["files"] == {"rtstruct": "patient/a/RS", "rtdose": "patient/b/RD", "rtplan": "patient/b/RP"}
    assert (plan["subject_id"], plan["status"], plan["verdict"]) == (subject, "stored", "major deviation")
    assert [s["file"] for s in data["skipped"]] == ["patient/c/CT1"]
    assert stored_plan_qa_count(study, None, subject) == 1
    # its Dose Reference Sequence (PS3.3 C.8.8.10): 1 "Breast" 14 Gy, 2 "CALC POINT" 11.3113869239676 Gy
    assert any("the RTPLAN prescribes 14 Gy to Breast and 11.31 Gy to CALC POINT;" in n for n in plan["notes"]), \
        plan["notes"]


def test_grouping_rules_without_a_study(tmp_path):
    """Grouping alone (services.dicom_import.group): an RTPLAN without ReferencedStructureSetSequence gets the one
    RTSTRUCT of its Frame of Reference and PatientID; two candidates are a problem, not a guess; a per-beam dose
    (DoseSummationType BEAM, PS3.3 C.8.8.3) of a plan that has its PLAN dose is set aside; an RTPLAN no dose
    refers to fails (nothing to judge)."""
    from sarcotrial.services.dicom_import import discover, group

    root = tmp_path / "in"
    one = _plan(tmp_path, root / "one", "pass", "P1", ("s", "d", "p"))
    _set(one["rtplan"], one["rtplan"], drop=("ReferencedStructureSetSequence",))
    _set(one["rtdose"], root / "one" / "beam", SOPInstanceUID=pydicom.uid.generate_uid(), DoseSummationType="BEAM")
    plans_found, aside = group(discover(root))
    (plan,) = plans_found
    assert plan.problem is None and plan.rtstruct.path == one["rtstruct"] and plan.rtdose.path == one["rtdose"]
    assert any("has no ReferencedStructureSetSequence" in n for n in plan.notes)
    assert [(s.path.name, "BEAM" in s.reason) for s in aside] == [("beam", True)]

    _set(one["rtstruct"], root / "one" / "s2", SOPInstanceUID=pydicom.uid.generate_uid())  # a second candidate
    lonely = _plan(tmp_path, root / "two", "pass", "P2", ("s", "d", "p"))
    lonely["rtdose"].unlink()
    plans_found, aside = group(discover(root))
    problems = {p.lead.patient_id: p.problem for p in plans_found}
    assert "2 RTSTRUCTs share its Frame of Reference UID and PatientID" in problems["P1"]
    assert "no RTDOSE" in problems["P2"]
    assert not any(s.path == lonely["rtstruct"] for s in aside)  # the lonely plan refers to it


def test_only_the_investigator_stores_verdicts(study, database_url, plans, fast_hashing):
    """Storing plan QA is the investigator's (domain/access.py PERMISSIONS["planqa.store"]): a research nurse is
    refused before anything is read or written (exit 2), the investigator's run stores both plans."""
    from tests.edc_support import password, staff

    root, _, _ = plans
    a = _with_course(study, "H0001")
    _with_course(study, "H0002")
    staff(study)
    refused = runner.invoke(APP, ["dicom-rt", str(root), "--db", database_url, "--user", "nina"],
                            env={"COLUMNS": "200", "SARCOTRIAL_PASSWORD": password("nina")})
    assert refused.exit_code == 2, refused.output
    assert "planqa.store" in refused.output
    assert stored_plan_qa_count(study, None, a) == 0
    done = runner.invoke(APP, ["dicom-rt", str(root), "--db", database_url, "--user", "ivy", "--json"],
                         env={"COLUMNS": "200", "SARCOTRIAL_PASSWORD": password("ivy")})
    assert done.exit_code == 0, done.output
    assert {p["status"] for p in _outcomes(done)} == {"stored"}
    assert stored_plan_qa_count(study, None, a) == 1


# --------------------------------------------------------------------------- the mapping file's simple forms
def test_simple_yaml_and_csv_mappings_match_by_patient_id(study, database_url, tmp_path):
    """The simplest mapping files, PatientID -> subject id: the YAML ``123456: SPR-005`` (a number-like key, kept
    as written) and the CSV with the header ``patient_id,subject_id`` (RFC 4180: the first record a header); the
    readable line names the patient, the PatientID and the mapping file once each."""
    subject = _with_course(study, "H0009")
    root = tmp_path / "in"
    _plan(tmp_path, root, "pass", "123456", ("s", "d", "p"))
    as_yaml = tmp_path / "m.yaml"
    as_yaml.write_text(f"123456: {subject.lower()}\n", encoding="utf-8")
    result = _run(str(root), "--db", database_url, "--mapping", str(as_yaml))
    assert result.exit_code == 0, result.output
    assert f"s, d, p: {subject} (PatientID 123456, by the mapping file): " in result.output
    assert result.output.count("123456") == 1 and "mapping file (" not in result.output
    as_csv = tmp_path / "m.csv"
    as_csv.write_text(f"patient_id,subject_id\n123456,{subject}\n", encoding="utf-8")
    again = _run(str(root), "--db", database_url, "--mapping", str(as_csv), "--json")
    assert again.exit_code == 0, again.output
    (plan,) = _outcomes(again)
    assert (plan["subject_id"], plan["matched_by"], plan["status"]) == (subject, "mapping file (PatientID)",
                                                                        "already stored")


def test_yaml_mapping_forms_read_as_written(tmp_path):
    """YAML 1.1 would read 007 as the integer 7 and 0123 as octal 83 (yaml.org/type/int.html); PatientIDs are
    strings (PS3.5 VR LO), so the keys are kept as written. The full form still reads; a mix of the forms, or a
    record written as ``patient_id: ...`` / ``subject_id: ...``, is refused naming the expected forms."""
    from sarcotrial.errors import InvalidValue
    from sarcotrial.services.dicom_import import load_mapping

    simple = tmp_path / "simple.yml"
    simple.write_text("007: SPR-001\n0123: spr-002\n1.50: SPR-003\n", encoding="utf-8")
    assert load_mapping(simple).by_patient_id == {"007": "SPR-001", "0123": "SPR-002", "1.50": "SPR-003"}
    full = tmp_path / "full.yaml"
    full.write_text("patient_id:\n  007: SPR-001\nstudy_instance_uid:\n  1.2.3.4: SPR-002\n", encoding="utf-8")
    mapping = load_mapping(full)
    assert (mapping.by_patient_id, mapping.by_study_uid) == ({"007": "SPR-001"}, {"1.2.3.4": "SPR-002"})
    for text, said in (("patient_id:\n  H1: SPR-001\nH2: SPR-002\n", "H2: neither patient_id nor"),
                       ("patient_id: H1\nsubject_id: SPR-001\n", "patient_id, subject_id is a column name"),
                       ("H1: [SPR-001, SPR-002]\n", "an identifier maps to one subject id"),
                       ("- H1\n", "must be a YAML mapping"),
                       ("H1:\n", "no subject id for H1")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidValue, match=said) as refused:
            load_mapping(bad)
        if "no subject id" not in said:
            assert '"123456: SPR-005"' in str(refused.value)  # the simple form, shown
    headerless = tmp_path / "bad.csv"
    headerless.write_text("123456,SPR-005\n", encoding="utf-8")
    with pytest.raises(InvalidValue, match="header row patient_id,subject_id and rows such as 123456,SPR-005"):
        load_mapping(headerless)


def test_the_mapping_formats_are_in_the_help():
    """``--help`` gives both files' simple forms with an example, and the StudyInstanceUID keys."""
    result = runner.invoke(APP, ["dicom-rt", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    for shown in ("CSV: the header patient_id,subject_id, then rows such as 123456,SPR-005",
                  "YAML: lines such as 123456: SPR-005", "study_instance_uid"):
        assert shown in text, text


def test_another_sites_patient_is_refused_in_truthful_words(study, fast_hashing):
    """A mapping naming a patient of another site is refused as a subject id unknown at the user's sites (the other
    site's ids are not disclosed: StudyDB.patient answers them as unknown), and the words say "at your sites";
    for a user of every site the words are "of this study"."""
    import datetime as dt

    from sarcotrial.errors import InvalidValue
    from sarcotrial.services import access, pathway
    from sarcotrial.services.dicom_import import Mapping, check_mapping_subjects
    from tests.edc_support import OS_USER, staff
    from tests.helpers import NURSE

    access.add_site(study, OS_USER, "NORTH", "North hospital")
    north = pathway.register_patient(study, NURSE, identifiers=pathway.Identifiers(
        "North Patient (synthetic)", dt.date(1970, 2, 2), "H0007"), sex="female",
        referral={"referral_date": "2025-02-10", "anatomic_site": "trunk"}, site_code="NORTH").subject_id
    team = staff(study, roles=("investigator",), sites=("MAIN",))
    team.wide = team.extra("walt", "monitor", "Walt Widemonitor")
    mapping = Mapping({"123456": north}, {}, "m.yaml")
    with pytest.raises(InvalidValue) as refused:
        check_mapping_subjects(study, team.investigator, mapping)
    assert str(refused.value) == f"mapping: m.yaml names subject ids that are not patients of this study at your " \
                                 f"sites: {north}"
    check_mapping_subjects(study, team.wide, mapping)  # seen from every site, the patient is there
    with pytest.raises(InvalidValue, match="not patients of this study: SPR-404$"):
        check_mapping_subjects(study, team.wide, Mapping({"1": "SPR-404"}, {}, "m.yaml"))


# --------------------------------------------------------------------------- the prescription note
def test_the_prescription_note_names_each_dose_and_its_target(tmp_path):
    """Each Target Prescription Dose with its Dose Reference Description, else its Referenced ROI Number (PS3.3
    C.8.8.10), highest first whatever the file's order, to 0.01 Gy; compared with SPRINT's 50 and 60 Gy."""
    from sarcotrial.protocol import load_protocol
    from sarcotrial.radiotherapy import dicomrt
    from sarcotrial.radiotherapy.planqa import prescription_problems
    from tests.radiotherapy.phantoms import write_rtplan

    path = write_rtplan(tmp_path / "rp.dcm", structure_set_uid="1.2.3", prescriptions=(
        (3, "", 7.5), (1, "CALC POINT", 11.3113869239676), (2, "PTV1", 50.0)))
    problems = prescription_problems(load_protocol("sprint"), dicomrt.read_rtplan(path))
    assert ("the RTPLAN prescribes 50 Gy to PTV1, 11.31 Gy to CALC POINT and 7.5 Gy to ROI 3; the protocol "
            "prescribes 50, 60 Gy") in problems, problems

