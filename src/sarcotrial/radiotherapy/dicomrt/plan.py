"""The RT Plan: what the DVH check needs (referenced structure set, fractions, prescriptions), and the reader.

References (DICOM PS3.3): C.8.8.9 RT General Plan Module (Referenced Structure Set Sequence),
C.8.8.10 RT Prescription Module (Dose Reference Sequence, Target Prescription Dose), C.8.8.13 RT
Fraction Scheme Module (Number of Fractions Planned).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sarcotrial.radiotherapy.dicomrt.files import (RTPLAN, RTFileError, noting_pydicom_warnings, open_rt_object, require,
                                                   tag_text, uid)


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
    notes: tuple[str, ...] = ()  # how the file departs from PS3.10 (e.g. no preamble), one line each naming it

    def prescription_for(self, roi_number: int) -> Prescription | None:
        return next((p for p in self.prescriptions if p.referenced_roi_number == roi_number), None)



@noting_pydicom_warnings
def read_rtplan(path: str | Path) -> Plan:
    """Read an RT Plan: referenced structure set, fractions planned, prescriptions per target."""
    path = Path(path)
    ds, notes = open_rt_object(path, RTPLAN)
    require(path, ds, ["SOPInstanceUID"], "RT Plan")
    ss_uid = None
    refs = ds.get("ReferencedStructureSetSequence", []) or []
    if refs:
        ss_uid = uid(refs[0].get("ReferencedSOPInstanceUID"))
    groups: list[tuple[int | None, int | None]] = []
    for g in ds.get("FractionGroupSequence", []) or []:
        try:
            number = int(g.FractionGroupNumber) if g.get("FractionGroupNumber") not in (None, "") else None
            fractions = int(g.NumberOfFractionsPlanned) if g.get("NumberOfFractionsPlanned") not in (None, "") else None
        except (TypeError, ValueError):
            raise RTFileError(path, f"{tag_text('NumberOfFractionsPlanned')} is not a whole number") from None
        groups.append((number, fractions))
    prescriptions: list[Prescription] = []
    for item in ds.get("DoseReferenceSequence", []) or []:
        def opt_float(kw):
            v = item.get(kw)
            try:
                return float(v) if v not in (None, "") else None
            except (TypeError, ValueError):
                raise RTFileError(path, f"{tag_text(kw)} in the Dose Reference Sequence is not a number") from None

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
                label=str(ds.get("RTPlanLabel", "") or "") or None, frame_of_reference_uid=uid(ds.get("FrameOfReferenceUID")),
                notes=tuple(notes))

