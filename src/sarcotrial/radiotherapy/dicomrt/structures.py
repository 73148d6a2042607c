"""The RT Structure Set: its ROIs, their contours grouped by plane, and the reader.

References (DICOM PS3.3): C.8.8.5 Structure Set Module, C.8.8.6 ROI Contour Module (Contour
Geometric Type, C.8.8.6.1; inner and outer contours, the "keyhole" and XOR techniques,
C.8.8.6.3), C.8.8.8 RT ROI Observations Module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sarcotrial.errors import InvalidValue, SarcoTrialError
from sarcotrial.radiotherapy.dicomrt.files import (RTSTRUCT, RTFileError, noting_pydicom_warnings, open_rt_object,
                                                   require, tag_text, uid)

VOLUME_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")


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
    notes: tuple[str, ...] = ()  # how the file departs from PS3.10 (e.g. no preamble), one line each naming it

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



def _contour_points(path: Path, item, roi_number: int) -> np.ndarray:
    """Contour Data as an N x 3 float array, read straight from the raw value when possible."""
    if "ContourData" not in item:
        raise RTFileError(path, f"a contour of ROI {roi_number} lacks {tag_text('ContourData')}")
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


@noting_pydicom_warnings
def read_rtstruct(path: str | Path) -> StructureSet:
    """Read an RT Structure Set: every ROI with its contours grouped by plane."""
    path = Path(path)
    ds, notes = open_rt_object(path, RTSTRUCT)
    require(path, ds, ["SOPInstanceUID", "StructureSetROISequence", "ROIContourSequence"], "RT Structure Set")
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
            raise RTFileError(path, f"an item of the ROI Contour Sequence lacks {tag_text('ReferencedROINumber')}") from None

    set_frame = uid(frames[0].get("FrameOfReferenceUID")) if frames else None
    set_frame = set_frame or uid(ds.get("FrameOfReferenceUID"))
    structures: list[Structure] = []
    for roi in rois:
        try:
            number = int(roi.ROINumber)
        except (AttributeError, TypeError, ValueError):
            raise RTFileError(path, f"an item of the Structure Set ROI Sequence lacks {tag_text('ROINumber')}") from None
        name = str(roi.get("ROIName", "") or f"ROI {number}").strip() or f"ROI {number}"
        roi_frame = uid(roi.get("ReferencedFrameOfReferenceUID")) or set_frame
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
                    raise RTFileError(path, f"a contour of ROI {number} ({name}) lacks {tag_text('ContourGeometricType')}")
                contours.append((float(points[0, 2]), points))
                types.append(kind)
        order = sorted(range(len(contours)), key=lambda i: contours[i][0])
        structures.append(Structure(number=number, name=name, contours=[contours[i] for i in order],
                                    geometric_types=[types[i] for i in order], interpreted_type=interpreted.get(number),
                                    frame_of_reference_uid=roi_frame, color=color))
    if set_frame is None:
        set_frame = next((s.frame_of_reference_uid for s in structures if s.frame_of_reference_uid), None)
    return StructureSet(file=path, frame_of_reference_uid=set_frame, sop_instance_uid=str(ds.SOPInstanceUID),
                        structures=structures, label=str(ds.get("StructureSetLabel", "") or "") or None,
                        notes=tuple(notes))

