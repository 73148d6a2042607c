"""Reading DICOM-RT objects: RT Structure Set, RT Dose and RT Plan.

Each reader returns a small dataclass holding only what the DVH engine and plan QA need, in
millimetres and gray, or refuses with an :class:`RTFileError` that names the file and the
problem in one line (truncated file, not DICOM, the wrong kind of DICOM object, a required
attribute missing). A reader never returns a half-read object and never guesses a number.

References are to DICOM PS3.3 (Information Object Definitions):

- C.8.8.5 Structure Set Module, C.8.8.6 ROI Contour Module (Contour Geometric Type, C.8.8.6.1;
  inner and outer contours, the "keyhole" and XOR techniques, C.8.8.6.3), C.8.8.8 RT ROI
  Observations Module.
- C.8.8.3 RT Dose Module (Dose Units, Dose Type, Dose Summation Type, Dose Grid Scaling; Grid
  Frame Offset Vector, C.8.8.3.2), C.7.6.2 Image Plane Module (Image Position / Orientation
  (Patient), Pixel Spacing), C.8.8.4 RT DVH Module.
- C.8.8.9 RT General Plan Module (Referenced Structure Set Sequence), C.8.8.10 RT Prescription
  Module (Dose Reference Sequence, Target Prescription Dose), C.8.8.13 RT Fraction Scheme Module
  (Number of Fractions Planned).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sarcotrial.errors import InvalidValue, SarcoTrialError

__all__ = [
    "RTFileError", "Structure", "StructureSet", "StoredDVH", "DoseGrid", "Prescription", "Plan",
    "read_rtstruct", "read_rtdose", "read_rtplan", "check_consistency",
]

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
RTDOSE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.2"
RTPLAN_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8")  # RT Plan, RT Ion Plan

VOLUME_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")


class RTFileError(SarcoTrialError):
    """A DICOM-RT file that cannot be used: the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# --------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class Structure:
    """One ROI of a structure set.

    ``contours`` is a list of ``(z, points)`` pairs sorted by plane (``z`` in mm, patient
    coordinates; ``points`` an N x 3 array of x, y, z in mm), so contours lying on the same plane
    are neighbours; ``geometric_types`` gives the Contour Geometric Type of each contour, in the
    same order. :meth:`planes` groups them by plane.
    """

    number: int
    name: str
    contours: list[tuple[float, np.ndarray]]
    geometric_types: list[str]
    interpreted_type: str | None = None
    frame_of_reference_uid: str | None = None
    color: tuple[int, int, int] | None = None

    @property
    def types(self) -> set[str]:
        return set(self.geometric_types)

    @property
    def has_volume(self) -> bool:
        """At least one closed planar contour with three or more points."""
        return any(t in VOLUME_TYPES and len(p) >= 3 for (_, p), t in zip(self.contours, self.geometric_types))

    def planes(self, tolerance_mm: float = 0.01) -> list[tuple[float, list[np.ndarray]]]:
        """The closed contours grouped by plane: ``[(z, [points, ...]), ...]`` in increasing z."""
        out: list[tuple[float, list[np.ndarray]]] = []
        for (z, points), kind in zip(self.contours, self.geometric_types):
            if kind not in VOLUME_TYPES:
                continue
            if out and abs(out[-1][0] - z) <= tolerance_mm:
                out[-1][1].append(points)
            else:
                out.append((z, [points]))
        return out

    def no_volume_reason(self) -> str | None:
        """Why this ROI has no volume (a marker, an empty ROI, open contours), or None."""
        if self.has_volume:
            return None
        kind = f" (RT ROI Interpreted Type {self.interpreted_type})" if self.interpreted_type else ""
        if not self.contours:
            return f"no contours: an empty ROI{kind}"
        types = ", ".join(sorted(self.types))
        if self.types <= {"POINT"}:
            return f"only POINT contours: a point of interest{kind}, not a volume"
        return f"no closed planar contour with 3 or more points (contour types: {types}){kind}"


@dataclass(frozen=True)
class StructureSet:
    """An RT Structure Set (PS3.3 C.8.8.5-C.8.8.8)."""

    file: Path
    frame_of_reference_uid: str | None
    sop_instance_uid: str
    structures: list[Structure]
    label: str | None = None

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.structures]

    def get(self, name: str) -> Structure:
        """The structure called ``name`` (exact, else case-insensitive); InvalidValue if none."""
        for s in self.structures:
            if s.name == name:
                return s
        folded = [s for s in self.structures if s.name.casefold() == name.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        raise InvalidValue("structure", f"no structure of that name in {self.file.name}; it has: {', '.join(self.names)}",
                           name)

    def find(self, name: str) -> Structure | None:
        try:
            return self.get(name)
        except SarcoTrialError:
            return None

    def by_number(self, number: int) -> Structure | None:
        return next((s for s in self.structures if s.number == number), None)


@dataclass(frozen=True)
class StoredDVH:
    """A DVH stored by the planning system in the RTDOSE (RT DVH Module, PS3.3 C.8.8.4).

    ``doses`` are the bin edges the planning system used (cumulative sum of the DVH Data bin
    widths, times DVH Dose Scaling) in ``dose_units`` *as labelled*; ``volumes`` are in
    ``volume_units``. Some systems label percent doses GY: interpret with care.
    """

    roi_number: int | None
    dvh_type: str
    dose_units: str
    dose_type: str
    volume_units: str
    doses: np.ndarray
    volumes: np.ndarray
    minimum_dose: float | None
    maximum_dose: float | None
    mean_dose: float | None

    @property
    def total_volume(self) -> float:
        if self.dvh_type == "CUMULATIVE":
            return float(self.volumes[0]) if len(self.volumes) else 0.0
        return float(self.volumes.sum())


@dataclass(frozen=True)
class DoseGrid:
    """An RT Dose grid (PS3.3 C.8.8.3 and C.7.6.2).

    - ``origin``: Image Position (Patient) of the first frame's first voxel centre (mm);
    - ``orientation``: Image Orientation (Patient), six direction cosines (row, then column);
    - ``pixel_spacing``: (spacing between rows, spacing between columns), mm, as DICOM orders it;
    - ``frame_offsets``: position of each frame along the normal (row cosine x column cosine), mm,
      relative to ``origin`` (an absolute Grid Frame Offset Vector is converted);
    - ``dose``: array (frames, rows, columns) after Dose Grid Scaling, in ``dose_units``
      (gray when DoseUnits is GY).
    """

    file: Path
    frame_of_reference_uid: str | None
    sop_instance_uid: str
    origin: np.ndarray
    orientation: np.ndarray
    pixel_spacing: tuple[float, float]
    frame_offsets: np.ndarray
    dose: np.ndarray
    dose_units: str
    dose_type: str
    dose_summation_type: str
    referenced_plan_uid: str | None = None
    dvhs: list[StoredDVH] = field(default_factory=list)
    slice_thickness: float | None = None

    @property
    def row_cosine(self) -> np.ndarray:
        return self.orientation[:3]

    @property
    def column_cosine(self) -> np.ndarray:
        return self.orientation[3:]

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.dose.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along (columns, rows, frames) in mm; the frame spacing is the median."""
        dz = float(np.median(np.abs(np.diff(self.frame_offsets)))) if len(self.frame_offsets) > 1 else float(
            self.slice_thickness or 0.0)
        return float(self.pixel_spacing[1]), float(self.pixel_spacing[0]), dz

    @property
    def max_gy(self) -> float:
        return float(self.dose.max()) if self.dose.size else 0.0

    def voxel_centres(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patient coordinates (mm) of the voxel centres: three arrays (frames, rows, columns)."""
        f, r, c = self.shape
        dc, dr, _ = self.spacing
        i = np.arange(c) * dc
        j = np.arange(r) * dr
        k = self.frame_offsets
        pts = (self.origin[None, None, None, :] + i[None, None, :, None] * self.row_cosine
               + j[None, :, None, None] * self.column_cosine + k[:, None, None, None] * self.normal)
        return pts[..., 0], pts[..., 1], pts[..., 2]

    def stored_dvh(self, roi_number: int) -> StoredDVH | None:
        return next((d for d in self.dvhs if d.roi_number == roi_number), None)


@dataclass(frozen=True)
class Prescription:
    """One item of the Dose Reference Sequence (PS3.3 C.8.8.10)."""

    number: int | None
    structure_type: str | None
    dose_reference_type: str | None
    description: str | None
    referenced_roi_number: int | None
    target_prescription_dose_gy: float | None
    delivery_maximum_dose_gy: float | None = None


@dataclass(frozen=True)
class Plan:
    """An RT Plan: what the DVH check needs (PS3.3 C.8.8.9, C.8.8.10, C.8.8.13)."""

    file: Path
    sop_instance_uid: str
    referenced_structure_set_uid: str | None
    fractions_planned: int | None
    prescriptions: list[Prescription]
    fraction_groups: list[tuple[int | None, int | None]] = field(default_factory=list)
    label: str | None = None
    frame_of_reference_uid: str | None = None

    def prescription_for(self, roi_number: int) -> Prescription | None:
        return next((p for p in self.prescriptions if p.referenced_roi_number == roi_number), None)


# --------------------------------------------------------------------------- helpers
def _tag_text(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _read_dataset(path: str | Path, what: str):
    """dcmread with every failure turned into one line naming the file."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.exists():
        raise RTFileError(path, f"no such file (expected an {what})")
    if path.is_dir():
        raise RTFileError(path, f"is a folder, not an {what} file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RTFileError(path, f"cannot be read: {exc.strerror}") from None
    if size == 0:
        raise RTFileError(path, f"is empty (0 bytes), not an {what}")
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise RTFileError(path, f"is not a DICOM file (no 'DICM' marker after the 128-byte preamble); expected an {what}") from None
    except PermissionError as exc:
        raise RTFileError(path, f"cannot be read: {exc.strerror}") from None
    except (EOFError, struct.error, OSError, ValueError, TypeError, KeyError, IndexError, OverflowError,
            NotImplementedError, AttributeError) as exc:
        raise RTFileError(path, f"is truncated or damaged: the DICOM data cannot be parsed ({type(exc).__name__}: {exc})") from None
    _check_complete(path, ds, size)
    return ds


_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD), length 0, little endian


def _check_complete(path: Path, ds, size: int) -> None:
    """pydicom reads a cut file without complaint, returning short values: check the last element ends the file.

    A defined-length last element must fit in the file; an undefined-length sequence must end
    with its Sequence Delimitation Item (PS3.5 section 7.5).
    """
    from pydicom.dataelem import RawDataElement

    try:
        tags = list(ds.keys())
    except Exception:  # pragma: no cover - pydicom parses lazily; keys() only lists tags
        return
    if not tags:
        raise RTFileError(path, "is truncated or damaged: the DICOM data set is empty")
    last = ds.get_item(max(tags))
    if not isinstance(last, RawDataElement) or last.value_tell is None:
        return
    if getattr(ds, "is_little_endian", True) is False:
        return
    if last.length == 0xFFFFFFFF:
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 8))
            tail = fh.read(8)
        if tail != _SEQUENCE_DELIMITER:
            raise RTFileError(path, "is truncated: the file ends inside a sequence (no sequence delimiter at its end)")
    elif last.value_tell + last.length > size:
        raise RTFileError(path, f"is truncated: the last attribute needs {last.length} bytes, the file holds "
                                f"{max(0, size - last.value_tell)}")


def _check_kind(path: Path, ds, modality: str, sop_classes: tuple[str, ...], what: str) -> None:
    from pydicom.uid import UID

    sop = str(ds.get("SOPClassUID", "") or "")
    found_modality = str(ds.get("Modality", "") or "")
    if sop in sop_classes:
        return
    if not sop and found_modality == modality:
        return
    name = UID(sop).name if sop else "no SOP Class UID"
    raise RTFileError(path, f"is a DICOM {found_modality or '(no modality)'} object ({name}), not an {what} "
                            f"(expected Modality {modality})")


def _require(path: Path, ds, keywords: list[str], what: str) -> None:
    missing = [k for k in keywords if k not in ds or ds[k].value in (None, "", b"")]
    if missing:
        raise RTFileError(path, f"the {what} lacks required attribute{'s' if len(missing) > 1 else ''} "
                                + ", ".join(_tag_text(k) for k in missing))


def _floats(path: Path, ds, keyword: str, count: int | None = None) -> np.ndarray:
    try:
        value = ds[keyword].value
        if isinstance(value, (str, bytes, int, float)) or not hasattr(value, "__len__"):
            value = [value]
        arr = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError, KeyError) as exc:
        raise RTFileError(path, f"{_tag_text(keyword)} is not a list of numbers ({exc})") from None
    if count is not None and arr.size != count:
        raise RTFileError(path, f"{_tag_text(keyword)} has {arr.size} values, {count} expected")
    if not np.all(np.isfinite(arr)):
        raise RTFileError(path, f"{_tag_text(keyword)} holds a non-finite number")
    return arr


def _contour_points(path: Path, item, roi_number: int) -> np.ndarray:
    """Contour Data as an N x 3 float array, read straight from the raw value when possible."""
    if "ContourData" not in item:
        raise RTFileError(path, f"a contour of ROI {roi_number} lacks {_tag_text('ContourData')}")
    try:
        # the raw element (bytes) when pydicom has not converted it yet: parsing the backslash-separated
        # decimal strings directly is some ten times faster than building one DSfloat per coordinate
        value = item.get_item("ContourData").value
        if isinstance(value, (str, bytes)):
            text = value.decode("ascii", errors="replace") if isinstance(value, bytes) else value
            parts = [v for v in text.replace("\x00", " ").split("\\") if v.strip()]
            arr = np.array(parts, dtype=float) if parts else np.zeros(0)
        elif hasattr(value, "__len__"):
            arr = np.array(value, dtype=float)
        else:
            arr = np.array([float(value)], dtype=float)
    except (TypeError, ValueError) as exc:
        raise RTFileError(path, f"a contour of ROI {roi_number} has unreadable Contour Data ({exc})") from None
    if arr.size % 3 or arr.size == 0:
        raise RTFileError(path, f"a contour of ROI {roi_number} has {arr.size} Contour Data values, not x, y, z triplets")
    if not np.all(np.isfinite(arr)):
        raise RTFileError(path, f"a contour of ROI {roi_number} has non-finite coordinates")
    declared = item.get("NumberOfContourPoints")
    try:
        declared = int(declared) if declared not in (None, "") else None
    except (TypeError, ValueError):
        declared = None
    if declared is not None and declared != arr.size // 3:
        raise RTFileError(path, f"is truncated or damaged: a contour of ROI {roi_number} has {arr.size // 3} points "
                                f"where Number of Contour Points says {declared}")
    return arr.reshape(-1, 3)


def _uid(value) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


# --------------------------------------------------------------------------- RTSTRUCT
def read_rtstruct(path: str | Path) -> StructureSet:
    """Read an RT Structure Set: every ROI with its contours grouped by plane."""
    path = Path(path)
    ds = _read_dataset(path, "RTSTRUCT (RT Structure Set)")
    _check_kind(path, ds, "RTSTRUCT", (RTSTRUCT_SOP_CLASS,), "RTSTRUCT (RT Structure Set)")
    _require(path, ds, ["SOPInstanceUID", "StructureSetROISequence", "ROIContourSequence"], "RT Structure Set")
    try:
        rois = list(ds.StructureSetROISequence)
        contour_items = list(ds.get("ROIContourSequence", []) or [])
        observations = list(ds.get("RTROIObservationsSequence", []) or [])
        frames = list(ds.get("ReferencedFrameOfReferenceSequence", []) or [])
    except (EOFError, struct.error, ValueError, TypeError) as exc:
        raise RTFileError(path, f"is truncated or damaged: a sequence cannot be parsed ({exc})") from None

    interpreted: dict[int, str] = {}
    for obs in observations:
        try:
            interpreted[int(obs.ReferencedROINumber)] = str(obs.get("RTROIInterpretedType", "") or "") or None
        except (AttributeError, TypeError, ValueError):
            continue
    by_number: dict[int, object] = {}
    for item in contour_items:
        try:
            by_number[int(item.ReferencedROINumber)] = item
        except (AttributeError, TypeError, ValueError):
            raise RTFileError(path, f"an item of the ROI Contour Sequence lacks {_tag_text('ReferencedROINumber')}") from None

    set_frame = _uid(frames[0].get("FrameOfReferenceUID")) if frames else None
    set_frame = set_frame or _uid(ds.get("FrameOfReferenceUID"))
    structures: list[Structure] = []
    for roi in rois:
        try:
            number = int(roi.ROINumber)
        except (AttributeError, TypeError, ValueError):
            raise RTFileError(path, f"an item of the Structure Set ROI Sequence lacks {_tag_text('ROINumber')}") from None
        name = str(roi.get("ROIName", "") or f"ROI {number}").strip() or f"ROI {number}"
        roi_frame = _uid(roi.get("ReferencedFrameOfReferenceUID")) or set_frame
        contours: list[tuple[float, np.ndarray]] = []
        types: list[str] = []
        color = None
        item = by_number.get(number)
        if item is not None:
            if "ROIDisplayColor" in item:
                try:
                    color = tuple(int(v) for v in item.ROIDisplayColor)[:3]  # type: ignore[assignment]
                except (TypeError, ValueError):
                    color = None
            for c in item.get("ContourSequence", []) or []:
                points = _contour_points(path, c, number)
                kind = str(c.get("ContourGeometricType", "") or "").strip().upper()
                if not kind:
                    raise RTFileError(path, f"a contour of ROI {number} ({name}) lacks {_tag_text('ContourGeometricType')}")
                contours.append((float(points[0, 2]), points))
                types.append(kind)
        order = sorted(range(len(contours)), key=lambda i: contours[i][0])
        structures.append(Structure(number=number, name=name, contours=[contours[i] for i in order],
                                    geometric_types=[types[i] for i in order], interpreted_type=interpreted.get(number),
                                    frame_of_reference_uid=roi_frame, color=color))
    if set_frame is None:
        set_frame = next((s.frame_of_reference_uid for s in structures if s.frame_of_reference_uid), None)
    return StructureSet(file=path, frame_of_reference_uid=set_frame, sop_instance_uid=str(ds.SOPInstanceUID),
                        structures=structures, label=str(ds.get("StructureSetLabel", "") or "") or None)


# --------------------------------------------------------------------------- RTDOSE
def _frame_offsets(path: Path, ds, frames: int, origin: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """Frame positions along the normal, relative to the origin (PS3.3 C.8.8.3.2)."""
    if frames == 1 and "GridFrameOffsetVector" not in ds:
        return np.zeros(1)
    if "GridFrameOffsetVector" not in ds:
        raise RTFileError(path, f"the RT Dose has {frames} frames but lacks required attribute {_tag_text('GridFrameOffsetVector')}")
    g = _floats(path, ds, "GridFrameOffsetVector")
    if g.size != frames:
        raise RTFileError(path, f"{_tag_text('GridFrameOffsetVector')} has {g.size} values for {frames} frames")
    if frames > 1:
        d = np.diff(g)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise RTFileError(path, f"{_tag_text('GridFrameOffsetVector')} does not vary monotonically (PS3.3 C.8.8.3.2)")
    if g[0] == 0:
        return g  # relative: option (a)
    identity = np.allclose(orientation, [1, 0, 0, 0, 1, 0], atol=1e-4)
    if identity and abs(g[0] - origin[2]) < 1e-3:
        return g - origin[2]  # absolute patient z: option (b)
    raise RTFileError(path, f"{_tag_text('GridFrameOffsetVector')} starts at {g[0]:g}, neither 0 (offsets relative to "
                            f"the first frame) nor the z of Image Position (Patient) {origin[2]:g} with an axial "
                            f"orientation (absolute z): the dose planes cannot be placed (PS3.3 C.8.8.3.2)")


def _stored_dvhs(path: Path, ds) -> list[StoredDVH]:
    out: list[StoredDVH] = []
    for item in ds.get("DVHSequence", []) or []:
        try:
            data = np.array([float(v) for v in item.DVHData], dtype=float)
            scaling = float(item.get("DVHDoseScaling", 1) or 1)
            widths, volumes = data[0::2] * scaling, data[1::2]
            refs = item.get("DVHReferencedROISequence", []) or []
            roi = int(refs[0].ReferencedROINumber) if refs else None

            def opt(kw):
                v = item.get(kw)
                return float(v) if v not in (None, "") else None

            out.append(StoredDVH(roi_number=roi, dvh_type=str(item.get("DVHType", "") or ""),
                                 dose_units=str(item.get("DoseUnits", "") or ""), dose_type=str(item.get("DoseType", "") or ""),
                                 volume_units=str(item.get("DVHVolumeUnits", "") or ""),
                                 doses=np.concatenate([[0.0], np.cumsum(widths)])[:-1], volumes=volumes,
                                 minimum_dose=opt("DVHMinimumDose"), maximum_dose=opt("DVHMaximumDose"),
                                 mean_dose=opt("DVHMeanDose")))
        except (AttributeError, TypeError, ValueError, IndexError) as exc:
            raise RTFileError(path, f"an item of the {_tag_text('DVHSequence')} cannot be read ({exc})") from None
    return out


def read_rtdose(path: str | Path) -> DoseGrid:
    """Read an RT Dose grid: geometry, dose in Gy after Dose Grid Scaling, units, type, summation."""
    path = Path(path)
    ds = _read_dataset(path, "RTDOSE (RT Dose)")
    _check_kind(path, ds, "RTDOSE", (RTDOSE_SOP_CLASS,), "RTDOSE (RT Dose)")
    _require(path, ds, ["SOPInstanceUID", "DoseUnits", "DoseType", "DoseSummationType"], "RT Dose")
    if "PixelData" not in ds:
        raise RTFileError(path, "the RT Dose holds no dose grid (no Pixel Data (7FE0,0010)); it may carry DVHs only")
    _require(path, ds, ["Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
                        "DoseGridScaling"], "RT Dose")
    origin = _floats(path, ds, "ImagePositionPatient", 3)
    orientation = _floats(path, ds, "ImageOrientationPatient", 6)
    spacing = _floats(path, ds, "PixelSpacing", 2)
    r, c = orientation[:3], orientation[3:]
    if abs(np.linalg.norm(r) - 1) > 1e-3 or abs(np.linalg.norm(c) - 1) > 1e-3 or abs(float(r @ c)) > 1e-3:
        raise RTFileError(path, f"{_tag_text('ImageOrientationPatient')} {orientation.tolist()} is not two orthogonal unit vectors")
    orientation = np.concatenate([r / np.linalg.norm(r), c / np.linalg.norm(c)])
    if np.any(spacing <= 0):
        raise RTFileError(path, f"{_tag_text('PixelSpacing')} {spacing.tolist()} must be positive")
    try:
        scaling = float(ds.DoseGridScaling)
    except (TypeError, ValueError):
        raise RTFileError(path, f"{_tag_text('DoseGridScaling')} is not a number") from None
    if not np.isfinite(scaling) or scaling <= 0:
        raise RTFileError(path, f"{_tag_text('DoseGridScaling')} {scaling!r} must be a positive number")
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises several kinds for short or undecodable pixel data
        raise RTFileError(path, f"is truncated or damaged: the dose grid cannot be decoded "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[None, :, :]
    if pixels.shape != (frames, rows, cols):
        raise RTFileError(path, f"the dose grid holds {pixels.shape} values, not frames x rows x columns = "
                                f"({frames}, {rows}, {cols})")
    offsets = _frame_offsets(path, ds, frames, origin, orientation)
    dose = pixels.astype(np.float64) * scaling
    plan_uid = None
    refs = ds.get("ReferencedRTPlanSequence", []) or []
    if refs:
        plan_uid = _uid(refs[0].get("ReferencedSOPInstanceUID"))
    thickness = ds.get("SliceThickness")
    try:
        thickness = float(thickness) if thickness not in (None, "") else None
    except (TypeError, ValueError):
        thickness = None
    return DoseGrid(file=path, frame_of_reference_uid=_uid(ds.get("FrameOfReferenceUID")),
                    sop_instance_uid=str(ds.SOPInstanceUID), origin=origin, orientation=orientation,
                    pixel_spacing=(float(spacing[0]), float(spacing[1])), frame_offsets=offsets, dose=dose,
                    dose_units=str(ds.DoseUnits).strip().upper(), dose_type=str(ds.DoseType).strip().upper(),
                    dose_summation_type=str(ds.DoseSummationType).strip().upper(), referenced_plan_uid=plan_uid,
                    dvhs=_stored_dvhs(path, ds), slice_thickness=thickness)


# --------------------------------------------------------------------------- RTPLAN
def read_rtplan(path: str | Path) -> Plan:
    """Read an RT Plan: referenced structure set, fractions planned, prescriptions per target."""
    path = Path(path)
    ds = _read_dataset(path, "RTPLAN (RT Plan)")
    _check_kind(path, ds, "RTPLAN", RTPLAN_SOP_CLASSES, "RTPLAN (RT Plan)")
    _require(path, ds, ["SOPInstanceUID"], "RT Plan")
    ss_uid = None
    refs = ds.get("ReferencedStructureSetSequence", []) or []
    if refs:
        ss_uid = _uid(refs[0].get("ReferencedSOPInstanceUID"))
    groups: list[tuple[int | None, int | None]] = []
    for g in ds.get("FractionGroupSequence", []) or []:
        try:
            number = int(g.FractionGroupNumber) if g.get("FractionGroupNumber") not in (None, "") else None
            fractions = int(g.NumberOfFractionsPlanned) if g.get("NumberOfFractionsPlanned") not in (None, "") else None
        except (TypeError, ValueError):
            raise RTFileError(path, f"{_tag_text('NumberOfFractionsPlanned')} is not a whole number") from None
        groups.append((number, fractions))
    prescriptions: list[Prescription] = []
    for item in ds.get("DoseReferenceSequence", []) or []:
        def opt_float(kw):
            v = item.get(kw)
            try:
                return float(v) if v not in (None, "") else None
            except (TypeError, ValueError):
                raise RTFileError(path, f"{_tag_text(kw)} in the Dose Reference Sequence is not a number") from None

        def opt_int(kw):
            v = item.get(kw)
            try:
                return int(v) if v not in (None, "") else None
            except (TypeError, ValueError):
                return None

        prescriptions.append(Prescription(
            number=opt_int("DoseReferenceNumber"), structure_type=str(item.get("DoseReferenceStructureType", "") or "") or None,
            dose_reference_type=str(item.get("DoseReferenceType", "") or "") or None,
            description=str(item.get("DoseReferenceDescription", "") or "") or None,
            referenced_roi_number=opt_int("ReferencedROINumber"),
            target_prescription_dose_gy=opt_float("TargetPrescriptionDose"),
            delivery_maximum_dose_gy=opt_float("DeliveryMaximumDose")))
    fractions = groups[0][1] if groups else None
    return Plan(file=path, sop_instance_uid=str(ds.SOPInstanceUID), referenced_structure_set_uid=ss_uid,
                fractions_planned=fractions, prescriptions=prescriptions, fraction_groups=groups,
                label=str(ds.get("RTPlanLabel", "") or "") or None, frame_of_reference_uid=_uid(ds.get("FrameOfReferenceUID")))


# --------------------------------------------------------------------------- consistency
def _grid_box(dose: DoseGrid) -> tuple[np.ndarray, np.ndarray]:
    """Extent of the dose grid in its own (column, row, frame) axes, in mm, voxel edges included."""
    f, r, c = dose.shape
    dc, dr, _ = dose.spacing
    offs = dose.frame_offsets
    half = np.abs(np.diff(offs)).min() / 2 if len(offs) > 1 else (dose.slice_thickness or 0.0) / 2
    lo = np.array([-dc / 2, -dr / 2, offs.min() - half])
    hi = np.array([(c - 0.5) * dc, (r - 0.5) * dr, offs.max() + half])
    return lo, hi


def check_consistency(structure_set: StructureSet, dose: DoseGrid, plan: Plan | None = None) -> list[str]:
    """Problems that make a DVH of these objects wrong or doubtful, in a physicist's words.

    An empty list means no problem was found. The checks: frames of reference, the plan the
    dose was computed for, the structure set the plan was made on, dose units, dose type, dose
    summation, and structures reaching outside the dose grid.
    """
    problems: list[str] = []
    ss_name, dose_name = structure_set.file.name, dose.file.name
    fs, fd = structure_set.frame_of_reference_uid, dose.frame_of_reference_uid
    if fs and fd and fs != fd:
        problems.append(f"The structure set ({ss_name}) and the dose ({dose_name}) are in different frames of reference "
                        f"({fs} vs {fd}): their coordinates cannot be compared without a registration, so no DVH can be trusted.")
    elif not fs or not fd:
        missing = " and ".join(n for n, u in ((ss_name, fs), (dose_name, fd)) if not u)
        problems.append(f"No Frame of Reference UID in {missing}: cannot confirm the structures and the dose share coordinates.")
    other_frames = sorted({s.frame_of_reference_uid for s in structure_set.structures
                           if s.frame_of_reference_uid and fs and s.frame_of_reference_uid != fs})
    if other_frames:
        problems.append(f"Some ROIs of {ss_name} are defined in another frame of reference ({', '.join(other_frames)}).")
    if plan is not None:
        if dose.referenced_plan_uid and dose.referenced_plan_uid != plan.sop_instance_uid:
            problems.append(f"The dose ({dose_name}) was computed for another plan (RT Plan UID {dose.referenced_plan_uid}), "
                            f"not for {plan.file.name} (UID {plan.sop_instance_uid}).")
        if plan.referenced_structure_set_uid and plan.referenced_structure_set_uid != structure_set.sop_instance_uid:
            problems.append(f"The plan ({plan.file.name}) was made on another structure set (UID "
                            f"{plan.referenced_structure_set_uid}), not on {ss_name} (UID {structure_set.sop_instance_uid}).")
        if plan.frame_of_reference_uid and fd and plan.frame_of_reference_uid != fd:
            problems.append(f"The plan ({plan.file.name}) and the dose ({dose_name}) are in different frames of reference.")
        if not plan.prescriptions or all(p.target_prescription_dose_gy is None for p in plan.prescriptions):
            problems.append(f"The plan ({plan.file.name}) states no Target Prescription Dose: percent-of-prescription "
                            f"objectives need the prescription from the protocol.")
    units = dose.dose_units
    if units == "RELATIVE":
        problems.append(f"Dose units of {dose_name} are RELATIVE (dose relative to an implicit reference), not GY: "
                        f"doses in Gy cannot be derived from it.")
    elif units != "GY":
        problems.append(f"Dose units of {dose_name} are {units!r}, not GY (PS3.3 C.8.8.3 allows GY or RELATIVE).")
    if dose.dose_type not in ("PHYSICAL", "EFFECTIVE"):
        meaning = " (a dose calculation error or difference grid)" if dose.dose_type == "ERROR" else ""
        problems.append(f"Dose type of {dose_name} is {dose.dose_type}{meaning}, not PHYSICAL or EFFECTIVE.")
    elif dose.dose_type == "EFFECTIVE":
        problems.append(f"Dose type of {dose_name} is EFFECTIVE (physical dose after a biological correction): "
                        f"physical-dose objectives do not apply as such.")
    if dose.dose_summation_type != "PLAN":
        fx = plan.fractions_planned if plan is not None else None
        detail = {
            "FRACTION": "the dose of one fraction" + (f", so the plan total is {fx} times it" if fx else ""),
            "BEAM": "the dose of one beam, not of the whole plan",
            "BRACHY": "the dose of one brachytherapy application setup",
            "FRACTION_SESSION": "the dose of one fraction session",
            "BEAM_SESSION": "the dose of one beam session",
            "CONTROL_POINT": "the dose of one control point",
            "MULTI_PLAN": "the sum of several plans",
            "RECORD": "the delivered dose of a treatment record",
        }.get(dose.dose_summation_type, "not the dose of the whole plan")
        problems.append(f"Dose summation type of {dose_name} is {dose.dose_summation_type}: {detail}; "
                        f"objectives are written for the PLAN total.")
    if dose.max_gy <= 0:
        problems.append(f"The dose grid of {dose_name} is zero everywhere.")
    # structures reaching outside the dose grid (bounding boxes, in the grid's own axes)
    lo, hi = _grid_box(dose)
    axes = np.stack([dose.row_cosine, dose.column_cosine, dose.normal])
    outside: list[str] = []
    for s in structure_set.structures:
        pts = [p for (_, p), t in zip(s.contours, s.geometric_types) if t in VOLUME_TYPES]
        if not pts:
            continue
        local = (np.concatenate(pts) - dose.origin) @ axes.T
        if np.any(local.min(0) < lo - 1e-6) or np.any(local.max(0) > hi + 1e-6):
            outside.append(s.name)
    if outside:
        problems.append(f"Contours reach outside the dose grid for: {', '.join(outside)}; the part outside gets no dose "
                        f"(it is left out of the dose statistics and reported as a percentage).")
    return problems
