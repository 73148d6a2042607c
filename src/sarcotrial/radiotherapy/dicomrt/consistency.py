"""Do a structure set, a dose grid and a plan belong together? The problems, in a physicist's words.

Frames of reference (PS3.3 C.7.4.1), the plan the dose was computed for and the structure set
the plan was made on (C.8.8.3, C.8.8.9), dose units, type and summation (C.8.8.3), and
structures reaching outside the dose grid.
"""

from __future__ import annotations

import numpy as np

from sarcotrial.radiotherapy.dicomrt.dose import DoseGrid
from sarcotrial.radiotherapy.dicomrt.plan import Plan
from sarcotrial.radiotherapy.dicomrt.structures import VOLUME_TYPES, StructureSet


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

