"""The RT Dose: the dose grid in patient coordinates, the DVHs stored with it, and the reader.

References (DICOM PS3.3): C.8.8.3 RT Dose Module (Dose Units, Dose Type, Dose Summation Type,
Dose Grid Scaling; Grid Frame Offset Vector, C.8.8.3.2), C.7.6.2 Image Plane Module (Image
Position / Orientation (Patient), Pixel Spacing), C.8.8.4 RT DVH Module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sarcotrial.radiotherapy.dicomrt.files import (RTDOSE, RTFileError, floats, noting_pydicom_warnings, open_rt_object,
                                                   require, tag_text, uid)


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


class _ParsedWhenAsked:
    """A field of :class:`DoseGrid` given either its value or a function returning it.

    The function is called the first time the field is read, and its value kept: the planning
    system's stored DVHs (the RT DVH Module) are parsed only when asked for, the DVH engine never
    asking. A data descriptor, so the frozen dataclass's ``__init__`` stores through it; no value
    (``None``) reads as an empty list.
    """

    def __set_name__(self, owner, name: str) -> None:
        self._slot = "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return None  # the dataclass's default
        value = obj.__dict__[self._slot]
        if callable(value):
            value = value()
            obj.__dict__[self._slot] = value
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self._slot] = [] if value is None else value


@dataclass(frozen=True)
class DoseGrid:
    """An RT Dose grid (PS3.3 C.8.8.3 and C.7.6.2).

    - ``origin``: Image Position (Patient) of the first frame's first voxel centre (mm);
    - ``orientation``: Image Orientation (Patient), six direction cosines (row, then column);
    - ``pixel_spacing``: (spacing between rows, spacing between columns), mm, as DICOM orders it;
    - ``frame_offsets``: position of each frame along the normal (row cosine x column cosine), mm,
      relative to ``origin`` (an absolute Grid Frame Offset Vector is converted);
    - ``dose``: array (frames, rows, columns) after Dose Grid Scaling, in ``dose_units``
      (gray when DoseUnits is GY);
    - ``dvhs``: the DVHs stored with the grid (:class:`StoredDVH`), a list; :func:`read_rtdose`
      parses them the first time they are read.
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
    dvhs: list[StoredDVH] | Callable[[], list[StoredDVH]] | None = _ParsedWhenAsked()
    slice_thickness: float | None = None
    notes: tuple[str, ...] = ()  # how the file departs from PS3.10 (e.g. no preamble), one line each naming it

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



def _frame_offsets(path: Path, ds, frames: int, origin: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """Frame positions along the normal, relative to the origin (PS3.3 C.8.8.3.2)."""
    if frames == 1 and "GridFrameOffsetVector" not in ds:
        return np.zeros(1)
    if "GridFrameOffsetVector" not in ds:
        raise RTFileError(path, f"the RT Dose has {frames} frames but lacks required attribute {tag_text('GridFrameOffsetVector')}")
    g = floats(path, ds, "GridFrameOffsetVector")
    if g.size != frames:
        raise RTFileError(path, f"{tag_text('GridFrameOffsetVector')} has {g.size} values for {frames} frames")
    if frames > 1:
        d = np.diff(g)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise RTFileError(path, f"{tag_text('GridFrameOffsetVector')} does not vary monotonically (PS3.3 C.8.8.3.2)")
    if g[0] == 0:
        return g  # relative: option (a)
    identity = np.allclose(orientation, [1, 0, 0, 0, 1, 0], atol=1e-4)
    if identity and abs(g[0] - origin[2]) < 1e-3:
        return g - origin[2]  # absolute patient z: option (b)
    raise RTFileError(path, f"{tag_text('GridFrameOffsetVector')} starts at {g[0]:g}, neither 0 (offsets relative to "
                            f"the first frame) nor the z of Image Position (Patient) {origin[2]:g} with an axial "
                            f"orientation (absolute z): the dose planes cannot be placed (PS3.3 C.8.8.3.2)")


def _stored_dvhs(path: Path, sequence) -> list[StoredDVH]:
    out: list[StoredDVH] = []
    for item in sequence or []:
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
            raise RTFileError(path, f"an item of the {tag_text('DVHSequence')} cannot be read ({exc})") from None
    return out


@noting_pydicom_warnings
def read_rtdose(path: str | Path) -> DoseGrid:
    """Read an RT Dose grid: geometry, dose in Gy after Dose Grid Scaling, units, type, summation."""
    path = Path(path)
    ds, notes = open_rt_object(path, RTDOSE)
    require(path, ds, ["SOPInstanceUID", "DoseUnits", "DoseType", "DoseSummationType"], "RT Dose")
    if "PixelData" not in ds:
        raise RTFileError(path, "the RT Dose holds no dose grid (no Pixel Data (7FE0,0010)); it may carry DVHs only")
    require(path, ds, ["Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
                        "DoseGridScaling"], "RT Dose")
    origin = floats(path, ds, "ImagePositionPatient", 3)
    orientation = floats(path, ds, "ImageOrientationPatient", 6)
    spacing = floats(path, ds, "PixelSpacing", 2)
    r, c = orientation[:3], orientation[3:]
    if abs(np.linalg.norm(r) - 1) > 1e-3 or abs(np.linalg.norm(c) - 1) > 1e-3 or abs(float(r @ c)) > 1e-3:
        raise RTFileError(path, f"{tag_text('ImageOrientationPatient')} {orientation.tolist()} is not two orthogonal unit vectors")
    orientation = np.concatenate([r / np.linalg.norm(r), c / np.linalg.norm(c)])
    if np.any(spacing <= 0):
        raise RTFileError(path, f"{tag_text('PixelSpacing')} {spacing.tolist()} must be positive")
    try:
        scaling = float(ds.DoseGridScaling)
    except (TypeError, ValueError):
        raise RTFileError(path, f"{tag_text('DoseGridScaling')} is not a number") from None
    if not np.isfinite(scaling) or scaling <= 0:
        raise RTFileError(path, f"{tag_text('DoseGridScaling')} {scaling!r} must be a positive number")
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
        plan_uid = uid(refs[0].get("ReferencedSOPInstanceUID"))
    thickness = ds.get("SliceThickness")
    dvh_sequence = ds.get("DVHSequence")  # parsed when the grid's dvhs are first read
    try:
        thickness = float(thickness) if thickness not in (None, "") else None
    except (TypeError, ValueError):
        thickness = None
    return DoseGrid(file=path, frame_of_reference_uid=uid(ds.get("FrameOfReferenceUID")),
                    sop_instance_uid=str(ds.SOPInstanceUID), origin=origin, orientation=orientation,
                    pixel_spacing=(float(spacing[0]), float(spacing[1])), frame_offsets=offsets, dose=dose,
                    dose_units=str(ds.DoseUnits).strip().upper(), dose_type=str(ds.DoseType).strip().upper(),
                    dose_summation_type=str(ds.DoseSummationType).strip().upper(), referenced_plan_uid=plan_uid,
                    dvhs=functools.partial(_stored_dvhs, path, dvh_sequence), slice_thickness=thickness, notes=tuple(notes))

