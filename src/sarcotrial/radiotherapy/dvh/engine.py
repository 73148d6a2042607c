"""The engine: structures (and derived expressions) to DVHs, one at a time or many in threads."""

from __future__ import annotations

import math
import weakref
from typing import Callable

import numpy as np

from sarcotrial.errors import InvalidValue, SarcoTrialError
from sarcotrial.radiotherapy.dicomrt import VOLUME_TYPES, DoseGrid, RTFileError, Structure, StructureSet
from sarcotrial.radiotherapy.dvh.contours import (
    PLANE_TOLERANCE_MM, SAMPLE_TARGET, Planes, SampleGrid, make_grid, structure_planes, volume_estimate_mm3,
)
from sarcotrial.radiotherapy.dvh.derived import combine, parse_derived, ring_around
from sarcotrial.radiotherapy.dvh.dicompyler import dicompyler_dvh
from sarcotrial.radiotherapy.dvh.dosegrid import frame_of
from sarcotrial.radiotherapy.dvh.histogram import DVH, DVHResult, Skip, dvh_from_samples
from sarcotrial.radiotherapy.dvh.reconstruction import Solid, build_solid
from sarcotrial.radiotherapy.dvh.sampling import sample

END_CAPS = ("none", "half-slice")
MODES = ("accurate", "dicompyler")


class Engine:
    def __init__(self, structure_set: StructureSet, dose: DoseGrid, end_cap: str, mode: str,
                 derived: dict[str, str] | None = None):
        if end_cap not in END_CAPS:
            raise InvalidValue("end_cap", f"must be one of {', '.join(END_CAPS)}", end_cap)
        if mode not in MODES:
            raise InvalidValue("mode", f"must be one of {', '.join(MODES)}", mode)
        refuse_unusable(structure_set, dose)
        self.ss, self.dose, self.end_cap, self.mode = structure_set, dose, end_cap, mode
        self.frame = frame_of(dose)
        self.derived = dict(derived or {})
        self._planes: dict[int, Planes | Exception] = {}
        self._nominal: float | None = None

    # ---- structures and their planes
    def structure(self, name: str) -> Structure:
        return self.ss.get(name)

    def planes(self, s: Structure) -> Planes:
        key = id(s)
        if key not in self._planes:
            try:
                self._planes[key] = structure_planes(s, self.frame)
            except (Skip, SarcoTrialError) as exc:
                self._planes[key] = exc
        got = self._planes[key]
        if isinstance(got, Exception):
            raise got
        return got

    def nominal_spacing(self) -> float:
        """The structure set's slice spacing: the median gap between all contour planes (computed once per
        structure set and dose grid: it reads every contour)."""
        if self._nominal is None:
            hit = self.frame.nominal_spacings.get(id(self.ss))
            if hit is not None and hit[0]() is self.ss:
                self._nominal = hit[1]
                return self._nominal
            firsts = [p[0] for s in self.ss.structures for (_, p), t in zip(s.contours, s.geometric_types)
                      if t in VOLUME_TYPES and len(p) >= 3]
            ws = self.frame.to_local(np.array(firsts))[:, 2] if firsts else np.zeros(0)
            u = np.unique(np.round(ws, 2))
            gaps = np.diff(u)
            gaps = gaps[gaps > PLANE_TOLERANCE_MM]
            self._nominal = float(np.median(gaps)) if gaps.size else float(self.frame.frame_spacing or 1.0)
            self.frame.nominal_spacings[id(self.ss)] = (weakref.ref(self.ss), self._nominal)
        return self._nominal

    # ---- one structure (base or derived)
    def compute(self, label: str, target: Structure | str) -> DVH:
        """The DVH of a structure, or of a derived expression (text), labelled ``label``."""
        if self.mode == "dicompyler":
            if not isinstance(target, Structure):
                raise InvalidValue("mode", "derived structures are not available in dicompyler-compatible mode", label)
            return dicompyler_dvh(target, self.frame, label)
        tree = ("base", target) if isinstance(target, Structure) else self._tree(target, label, depth=0)
        bases = self._bases(tree)
        pls = [self.planes(s) for s in bases]
        oblique = [p.oblique for p in pls]
        if any(o is not None for o in oblique):
            if len(pls) > 1 and not all(o is not None and np.allclose(o, oblique[0], atol=1e-6) for o in oblique):
                raise InvalidValue("derived", "the structures' contours lie on differently oriented planes", label)
        basis = oblique[0]
        origin = pls[0].origin
        nominal = self.nominal_spacing()
        volume = self._volume_estimate(tree, nominal)
        box = self._bbox(tree)
        if box is None:
            raise Skip("the derived structure is empty")
        grid = make_grid(self.frame, box, volume, 2 * max(self.frame.dcol, self.frame.drow), basis is not None)
        h_iso = (max(volume, 1e-3) / SAMPLE_TARGET) ** (1 / 3)
        hz = max(h_iso, min(grid.hu, grid.hv))
        solid = self._evaluate(tree, grid, nominal, hz)
        if solid.empty:
            raise Skip("no volume" if isinstance(target, Structure) else "the derived structure is empty")
        chunks, total, outside, m = sample(solid, self.frame, basis, origin, hz)
        sampling = {"supersampling": grid.s, "sample_spacing_mm": [grid.hu, grid.hv], "subplanes_max": m,
                    "samples": int(sum(c.dose.size for c in chunks))}
        notes = list(solid.notes)
        if outside > 0 and total > 0:
            notes.append(f"{100 * outside / total:.2f} % of the volume lies outside the dose grid and is left out of "
                         f"the dose statistics")
        return dvh_from_samples(label, chunks, total, outside, self.end_cap, notes, sampling,
                                 (self.frame.min_gy, self.frame.max_gy))

    # ---- expression trees
    def _known(self, name: str) -> bool:
        return name in self.derived or self.ss.find(name) is not None

    def _tree(self, text: str, label: str, depth: int):
        if depth > 20:
            raise InvalidValue("derived", "derived structures refer to each other in a loop", label)
        parsed = parse_derived(text, self._known)
        return self._resolve(parsed, label, depth)

    def _resolve(self, parsed, label, depth):
        kind = parsed[0]
        if kind == "name":
            return self._name_tree(parsed[1], label, depth)
        if kind == "ring":
            return ("ring", self._name_tree(parsed[1], label, depth), parsed[2], parsed[3])
        return (kind, self._name_tree(parsed[1], label, depth), self._name_tree(parsed[2], label, depth))

    def _name_tree(self, name, label, depth):
        if name in self.derived:
            return self._tree(self.derived[name], label, depth + 1)
        return ("base", self.ss.get(name))

    def _bases(self, tree) -> list[Structure]:
        if tree[0] == "base":
            return [tree[1]]
        if tree[0] == "ring":
            return self._bases(tree[1])
        out = self._bases(tree[1])
        out += [s for s in self._bases(tree[2]) if all(s is not o for o in out)]
        return out

    def _bbox(self, tree) -> tuple[float, float, float, float] | None:
        """In-plane bounding box (u, v) of an expression: only where its result can be."""
        if tree[0] == "base":
            return self.planes(tree[1]).bbox
        a = self._bbox(tree[1])
        if tree[0] == "ring":
            return None if a is None else (a[0] - tree[3], a[1] - tree[3], a[2] + tree[3], a[3] + tree[3])
        if tree[0] == "minus":
            return a
        b = self._bbox(tree[2])
        if a is None or b is None:
            return a if tree[0] == "union" and b is None else b if tree[0] == "union" else None
        if tree[0] == "union":
            return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
        box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
        return box if box[0] <= box[2] and box[1] <= box[3] else None

    def _volume_estimate(self, tree, nominal) -> float:
        """About how large the result is (mm3): it sets the sampling density."""
        if tree[0] == "base":
            pl = self.planes(tree[1])
            return volume_estimate_mm3(pl, pl.spacing or nominal)
        if tree[0] == "ring":
            v = self._volume_estimate(tree[1], nominal)
            r = (3 * v / (4 * math.pi)) ** (1 / 3)
            return v * ((1 + tree[3] / max(r, 1e-3)) ** 3 - 1)
        a, b = self._volume_estimate(tree[1], nominal), self._volume_estimate(tree[2], nominal)
        return {"minus": a, "intersection": min(a, b)}.get(tree[0], max(a, b))

    def _evaluate(self, tree, grid: SampleGrid, nominal: float, hz: float) -> Solid:
        if tree[0] == "base":
            s = tree[1]
            return build_solid(self.planes(s), grid, self.end_cap, nominal, hz)
        if tree[0] == "ring":
            return ring_around(self._evaluate(tree[1], grid, nominal, hz), tree[2], tree[3], nominal)
        return combine(self._evaluate(tree[1], grid, nominal, hz), self._evaluate(tree[2], grid, nominal, hz), tree[0])




def unusable(structure_set: StructureSet, dose: DoseGrid) -> list[tuple[str, str]]:
    """What keeps these files from giving any DVH, as (field, problem): frames of reference, dose units
    and type. Empty when a DVH can be computed."""
    problems = []
    fs, fd = structure_set.frame_of_reference_uid, dose.frame_of_reference_uid
    if fs and fd and fs != fd:
        problems.append(("frame_of_reference", f"the structure set ({structure_set.file.name}) and the dose "
                         f"({dose.file.name}) are in different frames of reference ({fs} vs {fd}); no DVH without a "
                         f"registration"))
    if dose.dose_units != "GY":
        problems.append(("dose_units", f"dose units are {dose.dose_units}, not GY: no DVH in Gy can be computed from it"))
    if dose.dose_type not in ("PHYSICAL", "EFFECTIVE"):
        problems.append(("dose_type", f"dose type is {dose.dose_type}, not PHYSICAL or EFFECTIVE: not a dose to report"))
    return problems


def refuse_unusable(structure_set: StructureSet, dose: DoseGrid) -> None:
    """Every problem of :func:`unusable` at once, as one error (nothing when there is none): a problem of
    the dose file alone is an :class:`RTFileError` on that file, anything else an :class:`InvalidValue`."""
    problems = unusable(structure_set, dose)
    if len(problems) == 1 and problems[0][0] != "frame_of_reference":
        raise RTFileError(dose.file, problems[0][1])
    if len(problems) == 1:
        raise InvalidValue(*problems[0], show_value=False)
    if problems:
        texts = [text if field == "frame_of_reference" else f"{dose.file.name}: {text}" for field, text in problems]
        raise InvalidValue("files", "; ".join(texts), show_value=False)



# --------------------------------------------------------------------------- public API
def compute_dvh(structure_set: StructureSet, dose: DoseGrid, name: str, *, end_cap: str = "none",
                mode: str = "accurate") -> DVH:
    """The DVH of one structure (or of a derived expression such as ``"PTV1 outside PTV2"``).

    Raises :class:`InvalidValue` when the structure has no volume (the reason given) or the
    name is unknown, an error naming every reason when the files cannot give a DVH (:func:`refuse_unusable`).
    """
    engine = Engine(structure_set, dose, end_cap, mode)
    s = structure_set.find(name)
    if s is None:
        try:
            parse_derived(name, engine._known)
        except InvalidValue:
            structure_set.get(name)  # raises, naming the structures available
            raise
    try:
        return engine.compute(name, s if s is not None else name)
    except Skip as exc:
        raise InvalidValue("structure", f"{name}: {exc}", show_value=False) from None


def compute_dvhs(structure_set: StructureSet, dose: DoseGrid, names: list[str] | None = None, *,
                 derived: dict[str, str] | None = None, end_cap: str = "none", mode: str = "accurate",
                 progress: Callable[[str], None] | None = None, max_workers: int | None = None) -> DVHResult:
    """DVHs of many structures (default: every structure) plus derived ones, one after another, or in
    ``max_workers`` threads.

    ``names`` may also hold derived expressions or labels of ``derived``. Structures without
    volume (markers, empty ROIs) and structures wholly outside the dose grid are listed in
    ``skipped`` with the reason; the others are still computed. ``progress`` is called with each
    label as it finishes. Two ROIs with the same name are labelled ``"name (ROI n)"`` from the
    second on.
    """
    derived = dict(derived or {})
    engine = Engine(structure_set, dose, end_cap, mode, derived)
    tasks: list[tuple[str, Structure | str]] = []
    if names is None:
        seen: set[str] = set()
        for s in structure_set.structures:
            tasks.append((s.name if s.name not in seen else f"{s.name} (ROI {s.number})", s))
            seen.add(s.name)
    else:
        for n in names:
            if n in derived:
                tasks.append((n, derived[n]))
                continue
            s = structure_set.find(n)
            if s is not None:
                tasks.append((n, s))
                continue
            try:
                parse_derived(n, engine._known)
            except InvalidValue:
                structure_set.get(n)  # raises, naming the structures available
                raise
            tasks.append((n, n))
    for label, expression in derived.items():
        if all(label != t[0] for t in tasks):
            tasks.append((label, expression))
    # check every derived expression before any work starts: a typo is an error, not a skip
    for label, target in tasks:
        if not isinstance(target, Structure):
            engine._tree(target, label, depth=0)

    def run(task):
        label, target = task
        try:
            return label, engine.compute(label, target), None
        except (Skip, SarcoTrialError) as exc:
            return label, None, str(exc)
        finally:
            if progress is not None:
                progress(label)

    engine.nominal_spacing()  # once, before the threads share the engine
    # one at a time by default: the engine works on arrays of a few thousand numbers, where numpy keeps
    # the interpreter lock for most of the time; two threads on two cores took 3-8 % longer for the
    # breast plan's nine structures than one (docs/benchmarks/dvh.md)
    workers = max_workers or 1
    if workers > 1 and len(tasks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, tasks))
    else:
        results = [run(t) for t in tasks]
    dvhs: dict[str, DVH] = {}
    skipped: dict[str, str] = {}
    for label, dvh, reason in results:
        if dvh is not None:
            dvhs[label] = dvh
        else:
            skipped[label] = reason or "no volume"
    return DVHResult(dvhs=dvhs, skipped=skipped, end_cap="full-slab" if mode == "dicompyler" else end_cap, mode=mode)
