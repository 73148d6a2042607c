"""Synthetic DICOM-RT phantoms written with pydicom: analytic shapes, analytic doses, known DVHs.

Writers: :func:`write_rtstruct`, :func:`write_rtdose`, :func:`write_rtplan`, :func:`write_ct`.
Shapes (contours as ``(z, N x 3 points)``): :func:`sphere`, :func:`cylinder`, :func:`box`,
:func:`box_with_hole`. Dose grids: :class:`GridSpec` (any orientation, shifted origins, absolute
or relative frame offsets) and :func:`sample` (an analytic dose function evaluated at the voxel
centres). :func:`sib_phantom` builds the SPRINT plan-QA phantom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, RTDoseStorage, RTPlanStorage, RTStructureSetStorage,
                         generate_uid)

FRAME_UID = "1.2.826.0.1.3680043.8.498.1001"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1002"

Contour = tuple[float, np.ndarray]


# --------------------------------------------------------------------------- shapes
def circle(cx: float, cy: float, r: float, z: float, n: int = 180) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t), np.full(n, z)])


def rectangle(x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float)


def planes(z0: float, z1: float, spacing: float) -> np.ndarray:
    n = int(round((z1 - z0) / spacing))
    return z0 + spacing * np.arange(n + 1)


def sphere(center: Sequence[float], r: float, spacing: float, n: int = 180) -> list[Contour]:
    """Circles on the planes z = cz + k * spacing inside the sphere (degenerate pole circles left out)."""
    cx, cy, cz = center
    out = []
    k = math.floor(r / spacing)
    for i in range(-k, k + 1):
        z = cz + i * spacing
        rr2 = r * r - (i * spacing) ** 2
        if rr2 > 1e-6:
            out.append((z, circle(cx, cy, math.sqrt(rr2), z, n)))
    return out


def cylinder(cx: float, cy: float, r: float, z0: float, z1: float, spacing: float, n: int = 180) -> list[Contour]:
    return [(z, circle(cx, cy, r, z, n)) for z in planes(z0, z1, spacing)]


def box(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, spacing: float) -> list[Contour]:
    return [(z, rectangle(x0, x1, y0, y1, z)) for z in planes(z0, z1, spacing)]


def box_with_hole(outer: tuple[float, float, float, float], hole: tuple[float, float, float, float],
                  z0: float, z1: float, spacing: float, island: tuple[float, float, float, float] | None = None) -> list[Contour]:
    """An outer rectangle, a hole, and optionally an island inside the hole, as separate contours (XOR rule)."""
    out = []
    for z in planes(z0, z1, spacing):
        out.append((z, rectangle(*outer, z)))
        out.append((z, rectangle(*hole, z)[::-1]))
        if island is not None:
            out.append((z, rectangle(*island, z)))
    return out


# --------------------------------------------------------------------------- dose grids
@dataclass
class GridSpec:
    """A dose grid's geometry: origin (first voxel centre), orientation cosines, spacing, shape, frame offsets."""

    origin: np.ndarray
    orientation: np.ndarray
    pixel_spacing: tuple[float, float]  # (between rows, between columns)
    shape: tuple[int, int, int]  # frames, rows, columns
    frame_offsets: np.ndarray

    @property
    def r(self) -> np.ndarray:
        return self.orientation[:3]

    @property
    def c(self) -> np.ndarray:
        return self.orientation[3:]

    @property
    def n(self) -> np.ndarray:
        return np.cross(self.r, self.c)

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f, rows, cols = self.shape
        i = np.arange(cols) * self.pixel_spacing[1]
        j = np.arange(rows) * self.pixel_spacing[0]
        p = (self.origin + i[None, None, :, None] * self.r + j[None, :, None, None] * self.c
             + self.frame_offsets[:, None, None, None] * self.n)
        return p[..., 0], p[..., 1], p[..., 2]

    @classmethod
    def around(cls, lo: Sequence[float], hi: Sequence[float], spacing: float | Sequence[float],
               orientation: Sequence[float] = (1, 0, 0, 0, 1, 0), shift: Sequence[float] = (0, 0, 0),
               frame_spacing: float | None = None) -> "GridSpec":
        """A grid covering the box [lo, hi] (patient mm), in any orientation; ``shift`` moves the
        grid by a fraction of a voxel along its own (column, row, frame) axes."""
        o = np.asarray(orientation, float)
        r, c = o[:3], o[3:]
        n = np.cross(r, c)
        sp = np.broadcast_to(np.asarray(spacing, float), (2,)) if np.ndim(spacing) else np.array([spacing, spacing], float)
        dz = float(frame_spacing if frame_spacing is not None else sp[0])
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])], float)
        proj = corners @ np.stack([r, c, n]).T
        pmin, pmax = proj.min(0), proj.max(0)
        steps = np.array([sp[1], sp[0], dz])
        pmin = pmin + np.asarray(shift, float) * steps - steps  # one voxel of margin
        counts = np.ceil((pmax - pmin) / steps).astype(int) + 2
        origin = pmin[0] * r + pmin[1] * c + pmin[2] * n
        return cls(origin=origin, orientation=o, pixel_spacing=(float(sp[0]), float(sp[1])),
                   shape=(int(counts[2]), int(counts[1]), int(counts[0])), frame_offsets=np.arange(counts[2]) * dz)


def sample(grid: GridSpec, f: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    x, y, z = grid.points()
    return np.asarray(f(x, y, z), float) * np.ones(grid.shape)


# --------------------------------------------------------------------------- writers
def _base(sop_class: str, modality: str, sop_uid: str | None = None) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "Phantom^SarcoTrial"
    ds.PatientID = "PHANTOM"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = "20260101"
    ds.Manufacturer = "SarcoTrial test phantoms"
    return ds


def _save(ds: Dataset, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _ds(values: Iterable[float]) -> list[str]:
    return [f"{v:.4f}" for v in values]


@dataclass
class ROI:
    name: str
    contours: list[Contour] = field(default_factory=list)
    kind: str = "ORGAN"  # RT ROI Interpreted Type
    geometric_type: str = "CLOSED_PLANAR"
    number: int | None = None


def write_rtstruct(path: Path, rois: Sequence[ROI], *, frame_uid: str = FRAME_UID, sop_uid: str | None = None,
                   label: str = "PHANTOM") -> Path:
    ds = _base(RTStructureSetStorage, "RTSTRUCT", sop_uid)
    ds.StructureSetLabel = label
    ds.StructureSetDate = "20260101"
    ds.StructureSetTime = "120000"
    ref = Dataset()
    ref.FrameOfReferenceUID = frame_uid
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref])
    ds.FrameOfReferenceUID = frame_uid
    rois_seq, contour_seq, obs_seq = [], [], []
    for i, roi in enumerate(rois, start=1):
        number = roi.number or i
        item = Dataset()
        item.ROINumber = number
        item.ReferencedFrameOfReferenceUID = frame_uid
        item.ROIName = roi.name
        item.ROIGenerationAlgorithm = "MANUAL"
        rois_seq.append(item)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ROIDisplayColor = [255, (40 * i) % 256, 0]
        contours = []
        for j, (_, pts) in enumerate(roi.contours, start=1):
            c = Dataset()
            c.ContourNumber = j
            c.ContourGeometricType = roi.geometric_type if len(pts) > 1 else "POINT"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = _ds(np.asarray(pts, float).ravel())
            contours.append(c)
        if contours:
            rc.ContourSequence = DicomSequence(contours)
        contour_seq.append(rc)
        ob = Dataset()
        ob.ObservationNumber = number
        ob.ReferencedROINumber = number
        ob.RTROIInterpretedType = roi.kind
        ob.ROIInterpreter = ""
        obs_seq.append(ob)
    ds.StructureSetROISequence = DicomSequence(rois_seq)
    ds.ROIContourSequence = DicomSequence(contour_seq)
    ds.RTROIObservationsSequence = DicomSequence(obs_seq)
    return _save(ds, path)


def write_rtdose(path: Path, grid: GridSpec, dose: np.ndarray, *, frame_uid: str = FRAME_UID, units: str = "GY",
                 dose_type: str = "PHYSICAL", summation: str = "PLAN", plan_uid: str | None = None,
                 absolute_offsets: bool = False, sop_uid: str | None = None) -> Path:
    dose = np.asarray(dose, float)
    if dose.shape != grid.shape:
        raise ValueError(f"dose shape {dose.shape} != grid shape {grid.shape}")
    if dose.min() < 0:
        raise ValueError("a physical dose grid cannot be negative")
    ds = _base(RTDoseStorage, "RTDOSE", sop_uid)
    ds.FrameOfReferenceUID = frame_uid
    ds.ImagePositionPatient = _ds(grid.origin)
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in grid.orientation]
    ds.PixelSpacing = _ds(grid.pixel_spacing)
    ds.SliceThickness = f"{(grid.frame_offsets[1] - grid.frame_offsets[0]) if len(grid.frame_offsets) > 1 else 1.0:.4f}"
    frames, rows, cols = grid.shape
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    offsets = grid.frame_offsets + (grid.origin[2] if absolute_offsets else 0.0)
    ds.GridFrameOffsetVector = _ds(offsets)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = units
    ds.DoseType = dose_type
    ds.DoseSummationType = summation
    peak = float(dose.max()) or 1.0
    scaling = float(f"{peak / 4.0e9:.6e}")
    ds.DoseGridScaling = f"{scaling:.6e}"
    ds.PixelData = np.round(dose / scaling).astype("<u4").tobytes()
    if plan_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RTPlanStorage
        ref.ReferencedSOPInstanceUID = plan_uid
        ds.ReferencedRTPlanSequence = DicomSequence([ref])
    return _save(ds, path)


def write_rtplan(path: Path, *, structure_set_uid: str, prescriptions: Sequence[tuple[int, str, float]] = (),
                 fractions: int = 25, frame_uid: str = FRAME_UID, sop_uid: str | None = None, label: str = "SIB") -> Path:
    """An RT Plan with a Dose Reference per target ``(roi_number, description, dose_gy)`` and one fraction group."""
    ds = _base(RTPlanStorage, "RTPLAN", sop_uid)
    ds.FrameOfReferenceUID = frame_uid
    ds.RTPlanLabel = label
    ds.RTPlanDate = "20260101"
    ds.RTPlanTime = "120000"
    ds.RTPlanGeometry = "PATIENT"
    ref = Dataset()
    ref.ReferencedSOPClassUID = RTStructureSetStorage
    ref.ReferencedSOPInstanceUID = structure_set_uid
    ds.ReferencedStructureSetSequence = DicomSequence([ref])
    items = []
    for k, (roi, description, dose) in enumerate(prescriptions, start=1):
        item = Dataset()
        item.DoseReferenceNumber = k
        item.DoseReferenceUID = generate_uid()
        item.DoseReferenceStructureType = "VOLUME"
        item.ReferencedROINumber = roi
        item.DoseReferenceDescription = description
        item.DoseReferenceType = "TARGET"
        item.TargetPrescriptionDose = f"{dose:g}"
        items.append(item)
    if items:
        ds.DoseReferenceSequence = DicomSequence(items)
    fg = Dataset()
    fg.FractionGroupNumber = 1
    fg.NumberOfFractionsPlanned = fractions
    fg.NumberOfBeams = 0
    fg.NumberOfBrachyApplicationSetups = 0
    ds.FractionGroupSequence = DicomSequence([fg])
    return _save(ds, path)


def write_ct(path: Path, *, frame_uid: str = FRAME_UID) -> Path:
    """A small CT slice: a DICOM file that is not an RT object."""
    ds = _base(CTImageStorage, "CT")
    ds.FrameOfReferenceUID = frame_uid
    ds.ImagePositionPatient = ["0", "0", "0"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = ["1", "1"]
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.PixelData = np.zeros((8, 8), "<i2").tobytes()
    return _save(ds, path)


# --------------------------------------------------------------------------- analytic DVHs
def sphere_in_linear_gradient_dose_at(percent: float, r: float, d_low: float, gradient: float) -> float:
    """D_x% of a sphere of radius r in a dose rising linearly (gradient Gy/mm) from d_low at its coldest point.

    The cold cap of height h holds pi h^2 (3r - h) / 3; D_x% is where the cap holds (100 - x) %.
    """
    target = (1 - percent / 100) * 4 / 3 * math.pi * r ** 3
    lo, hi = 0.0, 2 * r
    for _ in range(80):
        h = 0.5 * (lo + hi)
        if math.pi * h * h * (3 * r - h) / 3 < target:
            lo = h
        else:
            hi = h
    return d_low + gradient * 0.5 * (lo + hi)


# --------------------------------------------------------------------------- the SPRINT SIB phantom
SIB_SLICE_MM = 2.5
SIB_VARIANTS = ("pass", "minor", "major")


def sib_profile_x(x: np.ndarray) -> np.ndarray:
    """f(x), Gy: 51 Gy over |x| <= 61 mm, a boost ramp 51 -> 61 Gy on x in [8, 11], 61 Gy on [11, 39],
    61 -> 51 Gy on [39, 42], and a fall to 0 between |x| = 61 and 71 mm."""
    x = np.asarray(x, float)
    base = np.interp(np.abs(x), [0, 61, 71], [51, 51, 0])
    boost = np.interp(x, [8, 11, 39, 42], [0, 10, 10, 0], left=0, right=0)
    return base + boost


def sib_profile_y(y: np.ndarray) -> np.ndarray:
    """h(y): 1 for |y| <= 32 mm, falling linearly to 0 at |y| = 52 mm (2.55 Gy/mm under 51 Gy)."""
    return np.interp(np.abs(np.asarray(y, float)), [0, 32, 52], [1, 1, 0])


def sib_dose(x, y, z):
    return sib_profile_x(x) * sib_profile_y(y) * np.ones_like(np.asarray(z, float))


def sib_phantom(tmp_path: Path, variant: str = "pass") -> tuple[Path, Path, Path]:
    """An RTSTRUCT, RTDOSE and RTPLAN for SPRINT plan QA with analytically known DVH values.

    Geometry (mm, head-first supine; boxes contoured every 2.5 mm; use ``end_cap="none"`` so a box
    ends exactly at its first and last planes):

    ============  ==================  ==================  ==============  ==========
    ROI           x                   y                   z               volume cc
    ============  ==================  ==================  ==============  ==========
    CTV1          -55 .. 55           -25 .. 25           -25 .. 25       275.0
    CTV2          14.5 .. 35.5        -25 .. 25           -25 .. 25       52.5
    PTV1          -60 .. 60           -30 .. 30           -30 .. 30       432.0
    PTV2          9.5 .. 40.5         -30 .. 30           -30 .. 30       111.6
    Bone          -50 .. -10          34 .. 44 (minor:    -25 .. 25       20.0
                                      32 .. 42)
    SkinStrip     -50 .. -10          -47 .. -42 (major:  -30 .. 30       12.0
                                      -46 .. -41)
    ============  ==================  ==================  ==============  ==========

    Dose (Gy) = f(x) * h(y), constant along z (:func:`sib_profile_x`, :func:`sib_profile_y`): 51 Gy
    plateau over PTV1, a 61 Gy boost over x in [11, 39] with 10 Gy ramps over 3 mm ([8, 11] and
    [39, 42]), and outside |y| = 32 a linear fall of 2.55 Gy/mm to 0 at |y| = 52. The dose grid is
    1 mm in-plane (voxel centres on whole millimetres), 2.5 mm between frames; every kink of the dose
    lies on a voxel centre, so trilinear interpolation reproduces it exactly.

    Intended DVH values (prescriptions PTV1 50 Gy, PTV2 60 Gy; SPRINT objectives):

    - PTV1 V95% (>= 47.5 Gy) = 100 %; PTV2 V95% (>= 57 Gy) = (31 - 2 x 0.3) / 31 = 98.06 %;
      PTV2 D2% = 61 Gy = 101.67 %; all variants.
    - "PTV1 outside PTV2" (89 mm of PTV1's 120 mm in x): its hottest 2 % (1.78 mm of x, 0.89 mm
      beside each side of PTV2) lies on the ramps: D2% = 51 + 10 (1.5 - 0.89) / 3 = 53.033 Gy =
      106.07 % of 50 Gy (per protocol <= 107 %); all variants.
    - Bone, dose 51 h(y) linear in y, uniform between its two ends:
      pass (y 34..44): 45.9 -> 20.4 Gy, Dmean 33.15 Gy, V40Gy = 5.9 / 25.5 = 23.14 % (both per protocol);
      minor (y 32..42): 51 -> 25.5 Gy, Dmean 38.25 Gy (minor band 37-40), V40Gy = 11 / 25.5 = 43.14 %.
    - SkinStrip, dose >= 20 Gy for |y| <= 32 + 20 (1 - 20/51) = 44.157 mm:
      pass and minor (|y| 42..47): V20Gy = 2.157 / 5 = 43.14 % (per protocol <= 50 %);
      major (|y| 41..46): V20Gy = 3.157 / 5 = 63.14 % (beyond the minor bound 60 %).

    So "pass" meets every objective, "minor" has exactly one objective (Bone Dmean) in the minor
    band, "major" exactly one (SkinStrip V20Gy) beyond it. Returns (rtstruct, rtdose, rtplan).
    """
    if variant not in SIB_VARIANTS:
        raise ValueError(f"variant must be one of {SIB_VARIANTS}")
    tmp_path = Path(tmp_path)
    dz = SIB_SLICE_MM
    bone_y = (32.0, 42.0) if variant == "minor" else (34.0, 44.0)
    skin_y = (-46.0, -41.0) if variant == "major" else (-47.0, -42.0)
    rois = [
        ROI("CTV1", box(-55, 55, -25, 25, -25, 25, dz), kind="CTV"),
        ROI("CTV2", box(14.5, 35.5, -25, 25, -25, 25, dz), kind="CTV"),
        ROI("PTV1", box(-60, 60, -30, 30, -30, 30, dz), kind="PTV"),
        ROI("PTV2", box(9.5, 40.5, -30, 30, -30, 30, dz), kind="PTV"),
        ROI("Bone", box(-50, -10, bone_y[0], bone_y[1], -25, 25, dz), kind="ORGAN"),
        ROI("SkinStrip", box(-50, -10, skin_y[0], skin_y[1], -30, 30, dz), kind="AVOIDANCE"),
    ]
    ss_uid, plan_uid = generate_uid(), generate_uid()
    rtstruct = write_rtstruct(tmp_path / f"sib_{variant}_rtss.dcm", rois, sop_uid=ss_uid, label=f"SIB {variant}")
    rtplan = write_rtplan(tmp_path / f"sib_{variant}_rtplan.dcm", structure_set_uid=ss_uid, sop_uid=plan_uid,
                          prescriptions=[(3, "PTV1", 50.0), (4, "PTV2", 60.0)], fractions=25, label=f"SIB {variant}")
    grid = GridSpec(origin=np.array([-70.0, -55.0, -37.5]), orientation=np.array([1, 0, 0, 0, 1, 0], float),
                    pixel_spacing=(1.0, 1.0), shape=(31, 111, 141), frame_offsets=np.arange(31) * dz)
    rtdose = write_rtdose(tmp_path / f"sib_{variant}_rtdose.dcm", grid, sample(grid, sib_dose), plan_uid=plan_uid)
    return rtstruct, rtdose, rtplan
