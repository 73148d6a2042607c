"""Plan QA: a DICOM-RT plan judged against the protocol before the first fraction.

1. The files are checked against each other and against the protocol: the same frame of
   reference, the RTDOSE referencing the RTPLAN, the RTPLAN referencing the RTSTRUCT, absolute
   physical dose for the whole plan, and the RTPLAN's fractions and target prescriptions
   matching the protocol's dose levels.
2. Structure names are mapped to the protocol's volumes (CTV1, CTV2, PTV1, PTV2, organs at risk)
   through an alias table (``data/structure_aliases.yaml``, replaceable with ``--aliases``);
   a target or PTV of the prescription that maps to nothing is an error naming what was found.
3. Every objective of the protocol (``treatment.radiotherapy.objectives``) is evaluated on the
   DVH of its structure (derived structures such as "PTV1 outside PTV2" included) and judged
   *per protocol*, *minor deviation* or *major deviation*. A relative dose (V95%, D2% in % of
   prescription) refers to the structure's own dose level (PTV1: 50 Gy, PTV2: 60 Gy; a derived
   structure takes its first operand's).
4. Each PTV gets the Paddick conformity index, CI = TV_PIV^2 / (TV x PIV) (Paddick, J Neurosurg
   2000), with PIV the volume of the dose grid receiving the PTV's prescription, and the ICRU 83
   homogeneity index, HI = (D2% - D98%) / D50% (ICRU Report 83, 2010).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from sarcotrial.errors import InvalidValue, SarcoTrialError
from sarcotrial.protocol.schema import DoseObjective, Protocol
from sarcotrial.radiotherapy import dicomrt
from sarcotrial.radiotherapy.dvh import DVH, compute_dvhs
from sarcotrial.radiotherapy.dvh.notation import first_operand, parse_metric

VERDICTS = ("per protocol", "minor deviation", "major deviation")

#: an objective's unit as the reports and the command line print it (Rx: the prescription dose)
UNITS = {"percent_volume": "%", "percent_prescription": "% of Rx", "gy": "Gy", "cc": "cc"}


def unit_text(unit: str) -> str:
    return UNITS.get(unit, unit)


class PlanQAError(SarcoTrialError):
    """The plan cannot be judged: a required volume is missing, or the files do not belong together."""


@dataclass(frozen=True)
class ObjectiveResult:
    structure: str
    metric: str
    comparator: str
    per_protocol: float
    minor_deviation: float
    unit: str
    value: float | None
    verdict: str  # per protocol / minor deviation / major deviation / not evaluated
    note: str = ""

    def as_dict(self) -> dict:
        return {"structure": self.structure, "metric": self.metric, "comparator": self.comparator,
                "per_protocol": self.per_protocol, "minor_deviation": self.minor_deviation, "unit": self.unit,
                "value": None if self.value is None else round(self.value, 4), "verdict": self.verdict,
                "note": self.note}


@dataclass
class PlanQA:
    protocol: str
    end_cap: str
    mapping: dict[str, str]
    consistency: list[str]
    objectives: list[ObjectiveResult]
    indices: dict[str, dict[str, float]]
    dvhs: dict[str, DVH] = field(repr=False)
    skipped: dict[str, str] = field(default_factory=dict)
    plan_uid: str | None = None
    dose_uid: str | None = None
    file_notes: list[str] = field(default_factory=list)  # how the files depart from PS3.10 (e.g. no preamble)

    @property
    def verdict(self) -> str:
        judged = [o.verdict for o in self.objectives if o.verdict in VERDICTS]
        if self.consistency:
            judged.append("major deviation")
        return max(judged, key=VERDICTS.index) if judged else "not evaluated"

    def as_dict(self) -> dict:
        return {"protocol": self.protocol, "verdict": self.verdict, "end_cap": self.end_cap, "mapping": self.mapping,
                "consistency_problems": self.consistency, "objectives": [o.as_dict() for o in self.objectives],
                "indices": self.indices, "skipped": self.skipped, "file_notes": self.file_notes,
                "dvhs": [d.as_dict() for d in self.dvhs.values()]}


# --------------------------------------------------------------------------- names
def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def load_aliases(path: Path | None = None) -> dict[str, list[str]]:
    """The alias table: protocol volume -> structure names that mean it."""
    if path is None:
        text = (resources.files("sarcotrial.radiotherapy") / "data" / "structure_aliases.yaml").read_text(encoding="utf-8")
        source = "the shipped alias table"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidValue("aliases", f"cannot read {path}: {exc.strerror}", show_value=False) from None
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidValue("aliases", f"{source} is not valid YAML ({exc})", show_value=False) from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise InvalidValue("aliases", f"{source} must map each protocol volume to a list of structure names",
                           show_value=False)
    return {str(k): [str(x) for x in v] for k, v in data.items()}


def map_structures(names: list[str], volumes: list[str], aliases: dict[str, list[str]]) -> dict[str, str]:
    """protocol volume -> structure name in the file (exact name first, then the aliases)."""
    by_norm = {_norm(n): n for n in names}
    mapping: dict[str, str] = {}
    for volume in volumes:
        for candidate in [volume, *aliases.get(volume, [])]:
            if _norm(candidate) in by_norm:
                mapping[volume] = by_norm[_norm(candidate)]
                break
    return mapping


# --------------------------------------------------------------------------- objectives
def _evaluate(objective: DoseObjective, dvh: DVH, prescription_gy: float | None) -> tuple[float, str]:
    metric, unit = parse_metric(objective.metric), objective.unit
    if metric.quantity == "volume":
        rx = _need(prescription_gy, metric.text) if metric.relative_dose else None
        dose = metric.amount if rx is None else rx * metric.amount / 100
        value = dvh.metric(metric, rx, volume_cc=unit == "cc")
        return value, f"{'%' if unit != 'cc' else 'cc'} of the volume receiving {dose:g} Gy"
    dose = dvh.metric(metric)
    if unit == "percent_prescription":
        return 100 * dose / _need(prescription_gy, metric), f"{dose:.2f} Gy"
    return dose, ""


def _need(prescription: float | None, metric: str) -> float:
    if prescription is None:
        raise PlanQAError(f"{metric} is relative to a prescription, but its structure has no dose level in the protocol")
    return prescription


def _judge(objective: DoseObjective, value: float) -> str:
    v = round(value, 4)
    ok = (lambda bound: v <= bound) if objective.comparator == "<=" else (lambda bound: v >= bound)
    if ok(objective.per_protocol):
        return "per protocol"
    if ok(objective.minor_deviation):
        return "minor deviation"
    return "major deviation"


def _base(structure: str) -> str:
    return first_operand(structure)


# --------------------------------------------------------------------------- the check
def prescription_problems(protocol: Protocol, plan: dicomrt.Plan) -> list[str]:
    rt = protocol.treatment.radiotherapy
    problems = []
    if plan.fractions_planned is not None and plan.fractions_planned != rt.fractions:
        problems.append(f"the RTPLAN plans {plan.fractions_planned} fractions; the protocol prescribes {rt.fractions}")
    stated = [p for p in plan.prescriptions if p.target_prescription_dose_gy is not None]
    planned = sorted(round(p.target_prescription_dose_gy, 3) for p in stated)
    wanted = sorted(round(level.total_dose_gy, 3) for level in rt.dose_levels)
    if planned and planned != wanted:
        problems.append(f"the RTPLAN prescribes {_prescribed(stated)}; the protocol "
                        f"prescribes {', '.join(f'{d:g}' for d in wanted)} Gy")
    return problems


def _prescribed(stated: list[dicomrt.Prescription]) -> str:
    """Each Target Prescription Dose (to 0.01 Gy) with what it is prescribed to, its Dose Reference Description
    (PS3.3 C.8.8.10), else its ROI or Dose Reference Number; highest dose first (then by name), e.g. ``14 Gy to
    Breast and 11.31 Gy to CALC POINT``."""
    def label(p: dicomrt.Prescription) -> str:
        if p.description and p.description.strip():
            return p.description.strip()
        if p.referenced_roi_number is not None:
            return f"ROI {p.referenced_roi_number}"
        return f"dose reference {p.number}" if p.number is not None else "a dose reference"

    items = sorted(((p.target_prescription_dose_gy, label(p)) for p in stated), key=lambda dl: (-dl[0], dl[1]))
    parts = [f"{round(dose, 2):g} Gy to {name}" for dose, name in items]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def plan_qa(protocol: Protocol, rtstruct: Path, rtdose: Path, rtplan: Path | None = None, *,
            aliases: dict[str, list[str]] | None = None, end_cap: str = "none", progress=None) -> PlanQA:
    rt = protocol.treatment.radiotherapy
    structures = dicomrt.read_rtstruct(rtstruct)
    dose = dicomrt.read_rtdose(rtdose)
    plan = dicomrt.read_rtplan(rtplan) if rtplan else None
    consistency = dicomrt.check_consistency(structures, dose, plan)
    if plan is not None:
        consistency += prescription_problems(protocol, plan)
    required = [lvl.target for lvl in rt.dose_levels] + [lvl.ptv for lvl in rt.dose_levels]
    volumes = required + list(rt.organs_at_risk)
    mapping = map_structures(structures.names, volumes, aliases if aliases is not None else load_aliases())
    missing = [v for v in required if v not in mapping]
    if missing:
        raise PlanQAError(f"{rtstruct.name}: no structure found for {', '.join(missing)} (structures in the file: "
                          f"{', '.join(structures.names)}); name them in an alias table (--aliases)")
    prescriptions = {lvl.target: lvl.total_dose_gy for lvl in rt.dose_levels}
    prescriptions.update({lvl.ptv: lvl.total_dose_gy for lvl in rt.dose_levels})

    def in_file(volume_expression: str) -> str:
        out = volume_expression
        for volume, name in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
            out = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(volume)}(?![A-Za-z0-9_])", f'"{name}"' if " " in name else name, out)
        return out

    wanted = {volume: mapping[volume] for volume in volumes if volume in mapping}
    derived = {o.structure: in_file(o.structure) for o in rt.objectives if _base(o.structure) != o.structure
               and _base(o.structure) in mapping}
    result = compute_dvhs(structures, dose, list(wanted.values()), derived=derived, end_cap=end_cap, progress=progress)
    dvhs = {volume: result.dvhs[name] for volume, name in wanted.items() if name in result.dvhs}
    dvhs.update({label: result.dvhs[label] for label in derived if label in result.dvhs})
    objectives = []
    for o in rt.objectives:
        dvh = dvhs.get(o.structure)
        if dvh is None:
            reason = result.skipped.get(wanted.get(o.structure, ""), "structure not in the plan")
            objectives.append(ObjectiveResult(o.structure, o.metric, o.comparator, o.per_protocol, o.minor_deviation,
                                              o.unit, None, "not evaluated", reason))
            continue
        value, note = _evaluate(o, dvh, prescriptions.get(_base(o.structure)))
        objectives.append(ObjectiveResult(o.structure, o.metric, o.comparator, o.per_protocol, o.minor_deviation,
                                          o.unit, value, _judge(o, value), note))
    indices = {}
    for level in rt.dose_levels:
        dvh = dvhs.get(level.ptv)
        if dvh is None:
            continue
        rx = level.total_dose_gy
        piv = isodose_volume_cc(dose, rx)
        tv = dvh.volume_in_grid_cc
        tv_piv = dvh.volume_at_dose_gy(rx, relative=False)
        d50 = dvh.dose_at_volume_percent(50)
        indices[level.ptv] = {
            "paddick_ci": round(tv_piv ** 2 / (tv * piv), 4) if tv > 0 and piv > 0 else None,
            "icru83_hi": round((dvh.dose_at_volume_percent(2) - dvh.dose_at_volume_percent(98)) / d50, 4) if d50 else None,
            "prescription_gy": rx, "piv_cc": round(piv, 3), "tv_piv_cc": round(tv_piv, 3)}
    return PlanQA(protocol=f"{protocol.acronym} v{protocol.version}", end_cap=end_cap, mapping=mapping,
                  consistency=consistency, objectives=objectives, indices=indices, dvhs=dvhs, skipped=result.skipped,
                  plan_uid=plan.sop_instance_uid if plan else None, dose_uid=dose.sop_instance_uid,
                  file_notes=[*structures.notes, *dose.notes, *(plan.notes if plan else ())])


def _upsample(a: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Linear interpolation at ``factor`` sub-cell centres per voxel along one axis (edges held)."""
    n = a.shape[axis]
    pos = (np.arange(n * factor) + 0.5) / factor - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    w = np.clip(pos - np.floor(pos), 0, 1)
    shape = [1] * a.ndim
    shape[axis] = -1
    w = w.reshape(shape)
    return np.take(a, lo, axis=axis) * (1 - w) + np.take(a, hi, axis=axis) * w


def isodose_volume_cc(dose: dicomrt.DoseGrid, level_gy: float, factor: int = 8) -> float:
    """Volume of the dose grid receiving at least ``level_gy``: each frame a slab of the frame spacing,
    sampled in-plane at ``factor`` x ``factor`` sub-cells per voxel with bilinear interpolation."""
    rows, cols = dose.pixel_spacing
    cell_mm3 = rows * cols * _frame_spacing(dose) / (factor * factor)
    count = 0
    for frame in dose.dose:
        fine = _upsample(_upsample(np.asarray(frame, dtype=float), 0, factor), 1, factor)
        count += int((fine >= level_gy).sum())
    return count * cell_mm3 / 1000.0


def _frame_spacing(dose: dicomrt.DoseGrid) -> float:
    offsets = np.asarray(dose.frame_offsets, dtype=float)
    if offsets.size > 1:
        return float(np.median(np.abs(np.diff(offsets))))
    return float(dose.slice_thickness or 1.0)


def index_text(values: dict, key: str) -> str:
    """A conformity or homogeneity index as printed: its value to 3 decimals, or "not defined
    (why)" when its denominator is zero (Paddick 2000: no prescription isodose volume, or no PTV
    volume in the dose grid; ICRU Report 83: a median PTV dose of 0 Gy)."""
    value = values.get(key)
    if value is not None:
        return f"{value:.3f}"
    if key == "paddick_ci":
        if not values.get("piv_cc"):
            return f"not defined (no voxel of the dose grid receives {values.get('prescription_gy', 0):g} Gy)"
        return "not defined (the PTV has no volume inside the dose grid)"
    return "not defined (D50% is 0 Gy: the PTV receives no dose)"
