"""Reading RTSTRUCT, RTDOSE and RTPLAN: values read back, one-line refusals, consistency checks.

DICOM references (PS3.3): Grid Frame Offset Vector C.8.8.3.2 (relative when the first element is
0; absolute patient z only with Image Orientation (1,0,0,0,1,0)); Dose Units GY / RELATIVE, Dose
Type PHYSICAL / EFFECTIVE / ERROR, Dose Summation Type PLAN / FRACTION / BEAM ... (C.8.8.3);
Target Prescription Dose in the Dose Reference Sequence (C.8.8.10); Number of Fractions Planned
(C.8.8.13); Contour Geometric Type (C.8.8.6.1).
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from sarcotrial.errors import InvalidValue, SarcoTrialError
from sarcotrial.radiotherapy.dicomrt import (RTFileError, check_consistency, read_rtdose, read_rtplan,
                                             read_rtstruct)
from sarcotrial.radiotherapy.dvh import compute_dvh, compute_dvhs

from . import phantoms as ph


def _simple(tmp_path, **dose_kw):
    rois = [ph.ROI("Ball", ph.sphere((0, 0, 0), 10, 2.0)), ph.ROI("POI_1", [], kind="MARKER")]
    ss_uid, plan_uid = generate_uid(), generate_uid()
    rtss = ph.write_rtstruct(tmp_path / "rtss.dcm", rois, sop_uid=ss_uid)
    grid = ph.GridSpec.around((-20, -20, -20), (20, 20, 20), 2.0)
    dose_kw.setdefault("plan_uid", plan_uid)
    rtdose = ph.write_rtdose(tmp_path / "rtdose.dcm", grid, ph.sample(grid, lambda x, y, z: 10 + 0 * x), **dose_kw)
    rtplan = ph.write_rtplan(tmp_path / "rtplan.dcm", structure_set_uid=ss_uid, sop_uid=plan_uid,
                             prescriptions=[(1, "Ball", 50.0)], fractions=25)
    return rtss, rtdose, rtplan


# --------------------------------------------------------------------------- values read back
def test_read_the_three_objects(tmp_path):
    rtss, rtdose, rtplan = _simple(tmp_path)
    ss, dose, plan = read_rtstruct(rtss), read_rtdose(rtdose), read_rtplan(rtplan)
    assert ss.frame_of_reference_uid == ph.FRAME_UID == dose.frame_of_reference_uid
    ball = ss.get("ball")  # case-insensitive
    assert ball.number == 1 and ball.has_volume and ball.types == {"CLOSED_PLANAR"}
    zs = [z for z, _ in ball.contours]
    assert zs == sorted(zs) and len(ball.planes()) == len(zs)
    assert all(p.shape[1] == 3 for _, p in ball.contours)
    assert ss.get("POI_1").no_volume_reason().startswith("no contours")
    assert dose.dose_units == "GY" and dose.dose_type == "PHYSICAL" and dose.dose_summation_type == "PLAN"
    assert dose.dose.shape == dose.shape and np.allclose(dose.dose, 10, atol=1e-6)
    assert dose.referenced_plan_uid == plan.sop_instance_uid
    assert plan.referenced_structure_set_uid == ss.sop_instance_uid
    assert plan.fractions_planned == 25
    assert [(p.referenced_roi_number, p.target_prescription_dose_gy) for p in plan.prescriptions] == [(1, 50.0)]
    assert check_consistency(ss, dose, plan) == []


def test_unknown_structure_names_the_ones_available(tmp_path):
    rtss, _, _ = _simple(tmp_path)
    with pytest.raises(InvalidValue, match="it has: Ball, POI_1"):
        read_rtstruct(rtss).get("Heart")


@pytest.mark.parametrize("orientation, normal", [
    ((1, 0, 0, 0, 1, 0), (0, 0, 1)),    # head first supine
    ((-1, 0, 0, 0, 1, 0), (0, 0, -1)),  # feet first supine
    ((0, 1, 0, -1, 0, 0), (0, 0, 1)),   # head first decubitus right
    ((-1, 0, 0, 0, -1, 0), (0, 0, 1)),  # head first prone
])
def test_dose_geometry_follows_the_orientation_cosines(tmp_path, orientation, normal):
    grid = ph.GridSpec.around((-10, -10, -10), (10, 10, 10), 2.0, orientation=orientation)
    path = ph.write_rtdose(tmp_path / "d.dcm", grid, ph.sample(grid, lambda x, y, z: 1 + 0.1 * z + 0.01 * x + 0.05 * (y + 20)))
    dose = read_rtdose(path)
    assert np.allclose(dose.normal, normal)
    x, y, z = dose.voxel_centres()
    assert np.allclose(dose.dose, 1 + 0.1 * z + 0.01 * x + 0.05 * (y + 20), atol=1e-5)


def test_absolute_grid_frame_offsets_are_converted(tmp_path):
    grid = ph.GridSpec.around((-10, -10, -10), (10, 10, 10), 2.0)
    rel = read_rtdose(ph.write_rtdose(tmp_path / "rel.dcm", grid, ph.sample(grid, lambda x, y, z: z + 30)))
    ab = read_rtdose(ph.write_rtdose(tmp_path / "abs.dcm", grid, ph.sample(grid, lambda x, y, z: z + 30),
                                     absolute_offsets=True))
    assert np.allclose(rel.frame_offsets, ab.frame_offsets)
    ds = pydicom.dcmread(tmp_path / "abs.dcm")
    ds.GridFrameOffsetVector = [f"{v + 3.0:.4f}" for v in ds.GridFrameOffsetVector]  # neither relative nor absolute
    ds.save_as(tmp_path / "bad.dcm", enforce_file_format=True)
    with pytest.raises(RTFileError, match=r"bad\.dcm: .*GridFrameOffsetVector.*C\.8\.8\.3\.2"):
        read_rtdose(tmp_path / "bad.dcm")


# --------------------------------------------------------------------------- refusals, one line each
def test_truncated_file(tmp_path):
    _, rtdose, _ = _simple(tmp_path)
    data = rtdose.read_bytes()
    for cut in (len(data) // 2, 300):
        short = tmp_path / f"short{cut}.dcm"
        short.write_bytes(data[:cut])
        with pytest.raises(RTFileError) as err:
            read_rtdose(short)
        text = str(err.value)
        assert text.startswith(str(short)) and "truncated" in text and "\n" not in text


def test_truncated_inside_the_contours(tmp_path):
    """pydicom hands back a short value for a cut file: the reader must notice, not return a smaller contour."""
    rtss, _, _ = _simple(tmp_path)
    data = rtss.read_bytes()
    last = data.rfind(b"\x06\x30\x50\x00")  # the last Contour Data (3006,0050)
    for cut in (last + 100, len(data) - 3):
        short = tmp_path / f"rtss{cut}.dcm"
        short.write_bytes(data[:cut])
        with pytest.raises(RTFileError, match=rf"rtss{cut}\.dcm: is truncated"):
            read_rtstruct(short)


def test_not_dicom(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("Dose 50 Gy in 25 fractions\n" * 20)
    for reader in (read_rtstruct, read_rtdose, read_rtplan):
        with pytest.raises(RTFileError, match="notes.txt: is not a DICOM file"):
            reader(text)
    with pytest.raises(RTFileError, match="no such file"):
        read_rtdose(tmp_path / "missing.dcm")
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(RTFileError, match="is empty"):
        read_rtstruct(empty)


def test_wrong_kind_of_dicom(tmp_path):
    rtss, rtdose, rtplan = _simple(tmp_path)
    ct = ph.write_ct(tmp_path / "ct.dcm")
    with pytest.raises(RTFileError, match=r"ct\.dcm: is a DICOM CT object \(CT Image Storage\), not an RTDOSE"):
        read_rtdose(ct)
    with pytest.raises(RTFileError, match="is a DICOM RTSTRUCT object .* not an RTDOSE"):
        read_rtdose(rtss)
    with pytest.raises(RTFileError, match="is a DICOM RTDOSE object .* not an RTSTRUCT"):
        read_rtstruct(rtdose)
    with pytest.raises(RTFileError, match="not an RTPLAN"):
        read_rtplan(rtss)
    assert isinstance(RTFileError("x", "y"), SarcoTrialError)


@pytest.mark.parametrize("keyword", ["PixelSpacing", "DoseUnits", "ImagePositionPatient", "DoseGridScaling"])
def test_missing_required_attribute_is_named(tmp_path, keyword):
    _, rtdose, _ = _simple(tmp_path)
    ds = pydicom.dcmread(rtdose)
    delattr(ds, keyword)
    ds.save_as(tmp_path / "cut.dcm", enforce_file_format=True)
    tag = pydicom.datadict.tag_for_keyword(keyword)
    with pytest.raises(RTFileError, match=rf"cut\.dcm: the RT Dose lacks required attribute {keyword} "
                                          rf"\({tag >> 16:04X},{tag & 0xFFFF:04X}\)"):
        read_rtdose(tmp_path / "cut.dcm")


def test_missing_contour_data_is_named(tmp_path):
    rtss, _, _ = _simple(tmp_path)
    ds = pydicom.dcmread(rtss)
    del ds.ROIContourSequence[0].ContourSequence[0].ContourData
    ds.save_as(tmp_path / "cut.dcm", enforce_file_format=True)
    with pytest.raises(RTFileError, match=r"a contour of ROI 1 lacks ContourData \(3006,0050\)"):
        read_rtstruct(tmp_path / "cut.dcm")


# --------------------------------------------------------------------------- consistency, in words
def test_mismatched_frames_of_reference(tmp_path):
    rtss, _, _ = _simple(tmp_path)
    grid = ph.GridSpec.around((-20, -20, -20), (20, 20, 20), 2.0)
    other = ph.write_rtdose(tmp_path / "other.dcm", grid, ph.sample(grid, lambda x, y, z: 5 + 0 * x), frame_uid="1.2.3.4")
    ss, dose = read_rtstruct(rtss), read_rtdose(other)
    problems = check_consistency(ss, dose)
    assert any("different frames of reference" in p and "registration" in p for p in problems)
    with pytest.raises(InvalidValue, match="different frames of reference"):
        compute_dvh(ss, dose, "Ball")
    with pytest.raises(InvalidValue, match="different frames of reference"):
        compute_dvhs(ss, dose)


def test_relative_units_wrong_type_and_summation(tmp_path):
    rtss, _, rtplan = _simple(tmp_path)
    ss, plan = read_rtstruct(rtss), read_rtplan(rtplan)
    grid = ph.GridSpec.around((-20, -20, -20), (20, 20, 20), 2.0)
    values = ph.sample(grid, lambda x, y, z: 1 + 0 * x)
    rel = read_rtdose(ph.write_rtdose(tmp_path / "rel.dcm", grid, values, units="RELATIVE", plan_uid=plan.sop_instance_uid))
    assert any("RELATIVE" in p and "not GY" in p for p in check_consistency(ss, rel, plan))
    with pytest.raises(RTFileError, match="rel.dcm: dose units are RELATIVE, not GY"):
        compute_dvh(ss, rel, "Ball")
    err = read_rtdose(ph.write_rtdose(tmp_path / "err.dcm", grid, values, dose_type="ERROR", plan_uid=plan.sop_instance_uid))
    assert any("Dose type of err.dcm is ERROR" in p for p in check_consistency(ss, err, plan))
    with pytest.raises(RTFileError, match="dose type is ERROR"):
        compute_dvh(ss, err, "Ball")
    frac = read_rtdose(ph.write_rtdose(tmp_path / "frac.dcm", grid, values, summation="FRACTION", plan_uid=plan.sop_instance_uid))
    assert any("FRACTION" in p and "25 times" in p for p in check_consistency(ss, frac, plan))
    beam = read_rtdose(ph.write_rtdose(tmp_path / "beam.dcm", grid, values, summation="BEAM", plan_uid=plan.sop_instance_uid))
    assert any("one beam" in p for p in check_consistency(ss, beam, plan))


def test_dose_for_another_plan_and_plan_on_another_structure_set(tmp_path):
    rtss, _, _ = _simple(tmp_path)
    grid = ph.GridSpec.around((-20, -20, -20), (20, 20, 20), 2.0)
    dose = read_rtdose(ph.write_rtdose(tmp_path / "d.dcm", grid, ph.sample(grid, lambda x, y, z: 1 + 0 * x),
                                       plan_uid="1.2.3.999"))
    plan = read_rtplan(ph.write_rtplan(tmp_path / "p.dcm", structure_set_uid="1.2.3.888", prescriptions=[]))
    problems = check_consistency(read_rtstruct(rtss), dose, plan)
    assert any("computed for another plan" in p for p in problems)
    assert any("made on another structure set" in p for p in problems)
    assert any("no Target Prescription Dose" in p for p in problems)


def test_structures_reaching_outside_the_grid_are_reported(tmp_path):
    rois = [ph.ROI("Inside", ph.sphere((0, 0, 0), 5, 2.0)), ph.ROI("Half", ph.sphere((18, 0, 0), 6, 2.0))]
    rtss = ph.write_rtstruct(tmp_path / "rtss.dcm", rois)
    grid = ph.GridSpec(origin=np.array([-16.0, -16.0, -16.0]), orientation=np.array([1, 0, 0, 0, 1, 0], float),
                       pixel_spacing=(2.0, 2.0), shape=(17, 17, 17), frame_offsets=np.arange(17) * 2.0)
    dose = read_rtdose(ph.write_rtdose(tmp_path / "d.dcm", grid, ph.sample(grid, lambda x, y, z: 2 + 0 * x)))
    problems = check_consistency(read_rtstruct(rtss), dose)
    assert problems == ["Contours reach outside the dose grid for: Half; the part outside gets no dose (it is left out "
                        "of the dose statistics and reported as a percentage)."]


# --------------------------------------------------------------------------- files without preamble and file meta header
def _shipped(name: str):
    """One of pydicom's own test files, from inside the installed package (never downloaded)."""
    from pathlib import Path

    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not shipped with the installed pydicom"
    assert Path(path).resolve().is_relative_to(Path(pydicom.__file__).resolve().parent)
    return Path(path)


def _bare(source, target, explicit_vr: bool = False):
    """The data set of ``source`` written without the 128-byte preamble, 'DICM' and the file meta group."""
    from pydicom.dataset import FileMetaDataset

    ds = pydicom.dcmread(source)
    ds.preamble = None
    ds.file_meta = FileMetaDataset()
    pydicom.dcmwrite(target, ds, enforce_file_format=False, implicit_vr=not explicit_vr, little_endian=True)
    data = target.read_bytes()
    assert data[:2] == b"\x08\x00" and data[128:132] != b"DICM"  # it starts with the data set's first element
    return target


def test_pydicoms_structure_set_without_preamble_is_read_with_a_note():
    """pydicom's rtstruct.dcm has no preamble and no file meta header; the values expected are those of
    the dump pydicom ships beside it (rtstruct.dump): ROIs 'patient' (three CLOSED_PLANAR contours of 5, 6
    and 6 points at z = -200, -190, -180 mm) and two isocentres (one POINT each)."""
    from pydicom.errors import InvalidDicomError

    path = _shipped("rtstruct.dcm")
    assert path.read_bytes()[128:132] != b"DICM"
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(path)  # what made it "not a DICOM file" before
    ss = read_rtstruct(path)
    assert ss.names == ["patient", "Isocenter 1", "Isocenter 2"]
    assert ss.frame_of_reference_uid == "1.2.826.0.1.3680043.8.498.2010020400001.2"
    patient = ss.get("patient")
    assert [(z, len(p)) for z, p in patient.contours] == [(-200.0, 5), (-190.0, 6), (-180.0, 6)]
    assert patient.has_volume and patient.color == (220, 160, 120)
    assert ss.get("Isocenter 1").types == {"POINT"} and not ss.get("Isocenter 1").has_volume
    (note,) = ss.notes
    assert note.startswith("rtstruct.dcm: no preamble / no file meta header") and "RT Structure Set" in note


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # rtdose.dcm and rtplan.dcm hold a UID with a leading 0
def test_pydicoms_dose_and_plan_read_with_and_without_preamble(tmp_path):
    """rtdose.dcm and rtplan.dcm have the preamble: read without a note; the same data sets written bare
    (implicit and explicit VR) read to the same values, with the note."""
    dose_file, plan_file = _shipped("rtdose.dcm"), _shipped("rtplan.dcm")
    reference = pydicom.dcmread(dose_file)
    dose = read_rtdose(dose_file)
    assert dose.notes == (UI_NOTE,)  # pydicom's warning about its UID, as a note (next test)
    assert dose.shape == (int(reference.NumberOfFrames), reference.Rows, reference.Columns)
    assert np.array_equal(dose.dose, reference.pixel_array * float(reference.DoseGridScaling))
    for explicit in (False, True):
        bare = read_rtdose(_bare(dose_file, tmp_path / f"dose{explicit}.dcm", explicit_vr=explicit))
        assert np.array_equal(bare.dose, dose.dose) and np.array_equal(bare.frame_offsets, dose.frame_offsets)
        assert bare.notes[0].startswith(f"dose{explicit}.dcm: no preamble / no file meta header")
        assert bare.notes[1:] == (UI_NOTE.replace("rtdose.dcm", f"dose{explicit}.dcm"),)
        assert ("explicit" if explicit else "implicit") + " VR little endian" in bare.notes[0]
    plan = read_rtplan(plan_file)
    reference = pydicom.dcmread(plan_file)
    assert plan.notes == () and plan.fractions_planned == int(reference.FractionGroupSequence[0].NumberOfFractionsPlanned)
    assert [p.target_prescription_dose_gy for p in plan.prescriptions] == [
        float(item.TargetPrescriptionDose) if "TargetPrescriptionDose" in item else None
        for item in reference.DoseReferenceSequence]
    bare = read_rtplan(_bare(plan_file, tmp_path / "plan.dcm"))
    assert bare.prescriptions == plan.prescriptions and bare.fractions_planned == plan.fractions_planned
    assert bare.notes[0].startswith("plan.dcm: no preamble / no file meta header")
    with pytest.raises(RTFileError, match=r"rtplan_truncated\.dcm: is truncated"):  # pydicom's own cut copy
        read_rtplan(_shipped("rtplan_truncated.dcm"))


#: rtdose.dcm's ReferencedSOPInstanceUID (0008,1155) is 1.2.123.456.78.9.0123.4567.89012345678901 (read with
#: pydicom.dcmread); its component "0123" starts with a zero, which PS3.5 section 9.1 forbids ("The first
#: digit of each component shall not be zero unless the component is a single digit")
UI_NOTE = ("rtdose.dcm: Invalid value for VR UI: '1.2.123.456.78.9.0123.4567.89012345678901' "
           "(pydicom; the rules of each VR: PS3.5 table 6.2-1)")


def test_pydicoms_warnings_become_one_note_naming_the_file():
    """pydicom warns "Invalid value for VR UI" (a UserWarning pointing at its own source) when the dose's
    UID is first read; it leaked to the terminal as a raw Python warning. Reading now turns it into one
    note naming the file, and no warning escapes the reader."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dose = read_rtdose(_shipped("rtdose.dcm"))
    assert [str(w.message) for w in caught] == []
    assert dose.notes == (UI_NOTE,)


def test_warnings_not_from_pydicom_pass_on_unchanged(tmp_path):
    """Only pydicom's warnings become notes: a warning of another origin while a file is read (here one
    raised by a reader of this test file) reaches the caller as it was, and the object keeps its notes."""
    import warnings
    from dataclasses import dataclass

    from sarcotrial.radiotherapy.dicomrt.files import noting_pydicom_warnings

    @dataclass(frozen=True)
    class Read:
        notes: tuple[str, ...] = ()

    @noting_pydicom_warnings
    def reader(path):
        warnings.warn("not pydicom's", RuntimeWarning)
        return Read(("a note",))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = reader(tmp_path / "x.dcm")
    assert read.notes == ("a note",)
    assert [(w.category, str(w.message)) for w in caught] == [(RuntimeWarning, "not pydicom's")]


def test_our_own_files_written_bare_read_the_same(tmp_path):
    rtss, rtdose, rtplan = _simple(tmp_path)
    ss, bare_ss = read_rtstruct(rtss), read_rtstruct(_bare(rtss, tmp_path / "bare_rtss.dcm"))
    assert bare_ss.names == ss.names and bare_ss.sop_instance_uid == ss.sop_instance_uid
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ss.get("Ball").contours, bare_ss.get("Ball").contours))
    dose = read_rtdose(_bare(rtdose, tmp_path / "bare_dose.dcm", explicit_vr=True))
    plan = read_rtplan(_bare(rtplan, tmp_path / "bare_plan.dcm"))
    assert np.allclose(dose.dose, 10, atol=1e-6) and plan.fractions_planned == 25
    assert check_consistency(bare_ss, dose, plan) == []  # a missing preamble is a note, not a consistency problem
    assert all(len(o.notes) == 1 and "no preamble / no file meta header" in o.notes[0] for o in (bare_ss, dose, plan))
    assert read_rtstruct(rtss).notes == () and read_rtdose(rtdose).notes == ()


def test_bare_data_set_of_another_kind_or_lacking_attributes_is_refused(tmp_path):
    ct = _bare(ph.write_ct(tmp_path / "ct.dcm"), tmp_path / "bare_ct.dcm")
    with pytest.raises(RTFileError, match=r"bare_ct\.dcm: is a DICOM CT object \(CT Image Storage\), not an RTDOSE"):
        read_rtdose(ct)
    _, rtdose, _ = _simple(tmp_path)
    ds = pydicom.dcmread(rtdose)
    del ds.DoseUnits
    ds.save_as(tmp_path / "cut.dcm", enforce_file_format=True)
    with pytest.raises(RTFileError, match=r"bare_cut\.dcm: the RT Dose lacks required attribute DoseUnits"):
        read_rtdose(_bare(tmp_path / "cut.dcm", tmp_path / "bare_cut.dcm"))


def test_files_that_are_not_dicom_are_still_refused(tmp_path):
    """pydicom's forced read 'parses' any bytes as one nonsense element: such files carry neither a SOP
    Class UID nor a Modality and stay refused, in one line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = tmp_path / "picture.png"
    plt.imsave(png, np.arange(64, dtype=float).reshape(8, 8))
    rng = np.random.default_rng(16)
    noise = tmp_path / "noise.dcm"
    noise.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    zeros = tmp_path / "zeros.dcm"
    zeros.write_bytes(bytes(1000))
    text = tmp_path / "plan.txt"
    text.write_text("RTPLAN\nModality RTPLAN, 50 Gy in 25 fractions\n")
    assert png.read_bytes()[:4] == b"\x89PNG"
    for path in (png, noise, zeros, text):
        for reader in (read_rtstruct, read_rtdose, read_rtplan):
            with pytest.raises(RTFileError) as err:
                reader(path)
            message = str(err.value)
            assert message.startswith(f"{path}: is not a DICOM file") and "\n" not in message
