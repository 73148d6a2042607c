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
