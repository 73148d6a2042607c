"""Dose-volume histograms from an RT Structure Set and an RT Dose.

Why hand-written
----------------
No maintained library does this well enough for trial QA. dicompyler-core (the usual choice) is
slow (a Python-level ``matplotlib`` point-in-polygon test per contour per plane) and inaccurate on
small structures: it counts whole dose voxels whose centres fall inside a contour, so a 7 cc
sphere on a 3 mm grid is some 250 voxels, its D95 can be wrong by 15-20 %, its D99 is often 0, and
its volume is off by several percent (Nelms et al., Med Phys 2015 and the benchmark in
``docs/benchmarks/dvh.md``). The package is vectorised numpy throughout.

Method (mode ``"accurate"``, the default), one module per stage
---------------------------------------------------------------
1. :mod:`.dosegrid` - the dose grid in its own axes (row cosine, column cosine, their cross
   product), its frames and trilinear interpolant.
2. :mod:`.contours` - a structure's contours as polygons per plane in those axes, an in-plane
   sampling grid that subdivides the dose voxels (about :data:`SAMPLE_TARGET` samples), and an
   even-odd scanline fill onto it.
3. :mod:`.reconstruction` - the structure between its contour planes: the surface interpolated
   where neighbouring shapes overlap (a circular arc through each sample's column), end caps
   (``"none"`` or ``"half-slice"``), missing planes and separate parts.
4. :mod:`.sampling` and :mod:`.voxelcentres` - the dose over the solid as weighted samples, each
   standing for a box inside one dual cell of the grid (where the interpolant is one polynomial),
   spread over the dose range of its box; evaluated in single precision, weighed in double.
5. :mod:`.histogram` - the samples as a DVH: exact mean, min, max, and a fine continuous histogram
   for D_x% / D_xcc / V_xGy queries, never snapped to a bin edge.
6. :mod:`.derived` - derived structures (``A minus B``, ``A union B``, ``A intersection B``,
   ``ring A INNER OUTER``), combined on one sampling grid.
7. :mod:`.dicompyler` - mode ``"dicompyler"``, dicompyler-core 0.5.6's own semantics, for comparison.
8. :mod:`.engine` - :func:`compute_dvh` and :func:`compute_dvhs`; :mod:`.notation` - the metric
   notation (D95%, V20Gy, D2cc, Dmean) shared with the protocol and plan QA.

Accuracy (``docs/benchmarks/dvh.md``): on the 60 cases of Nelms et al. on 1 and 2 mm grids the
mean errors are 0.14 % (volume), 0.002 % (Dmean), 0.14 % (D95), 0.04 % (D5); the worst are 0.5 %,
0.03 %, 1.0 % and 0.4 %.

Outside the dose grid
---------------------
A dose grid covers its voxel centres plus half a voxel on each side (nearest-value extrapolation
in that border). Any part of a structure beyond it has no dose: it counts in ``volume_cc`` but is
left out of every dose statistic, which are therefore statistics of the part *inside* the grid;
``outside_grid_percent`` says how much was left out. A structure wholly outside the grid is
skipped with that reason.

The names below are imported from their modules on first use (PEP 562), so that importing
:mod:`.notation` (as the protocol schema does) does not load numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = ["DVH", "DVHResult", "compute_dvh", "compute_dvhs", "END_CAPS", "MODES", "parse_derived"]

# name -> (module, name there). The underscored names are the ones this package had as one module.
_WHERE = {
    "DVH": ("histogram", "DVH"), "DVHResult": ("histogram", "DVHResult"), "FINE_BINS": ("histogram", "FINE_BINS"),
    "compute_dvh": ("engine", "compute_dvh"), "compute_dvhs": ("engine", "compute_dvhs"),
    "END_CAPS": ("engine", "END_CAPS"), "MODES": ("engine", "MODES"), "parse_derived": ("derived", "parse_derived"),
    "SAMPLE_TARGET": ("contours", "SAMPLE_TARGET"), "MAX_SAMPLES": ("contours", "MAX_SAMPLES"),
    "MAX_SUPERSAMPLING": ("contours", "MAX_SUPERSAMPLING"), "PLANE_TOLERANCE_MM": ("contours", "PLANE_TOLERANCE_MM"),
    "PLANARITY_TOLERANCE_MM": ("contours", "PLANARITY_TOLERANCE_MM"), "GAP_FACTOR": ("reconstruction", "GAP_FACTOR"),
    "MAX_SUBPLANES": ("sampling", "MAX_SUBPLANES"), "CUT_TOLERANCE_MM": ("sampling", "CUT_TOLERANCE_MM"),
    "SAMPLE_BLOCK": ("sampling", "SAMPLE_BLOCK"), "SLIVER_MM": ("sampling", "SLIVER_MM"),
    "_Skip": ("histogram", "Skip"), "_Chunk": ("histogram", "Samples"), "_dvh_from_samples": ("histogram", "dvh_from_samples"),
    "_ramp_sums": ("histogram", "_ramp_sums"), "_DoseFrame": ("dosegrid", "DoseFrame"), "_frame_of": ("dosegrid", "frame_of"),
    "_Planes": ("contours", "Planes"), "_structure_planes": ("contours", "structure_planes"),
    "_newell_normal": ("contours", "_newell_normal"), "_volume_estimate_mm3": ("contours", "volume_estimate_mm3"),
    "_Grid": ("contours", "SampleGrid"), "_make_grid": ("contours", "make_grid"), "_rasterize": ("contours", "rasterize"),
    "_Slab": ("reconstruction", "Slab"), "_Interval": ("reconstruction", "Interval"), "_Solid": ("reconstruction", "Solid"),
    "_Boundaries": ("reconstruction", "Boundaries"), "_arc_crossing": ("reconstruction", "_arc_crossing"),
    "_interpolate": ("reconstruction", "interpolate"), "_touch": ("reconstruction", "touch"),
    "_solid": ("reconstruction", "build_solid"), "_core_at": ("derived", "core_at"), "_combine": ("derived", "combine"),
    "_ring": ("derived", "ring_around"), "_unquote": ("derived", "_unquote"), "_spread": ("sampling", "spread"),
    "_pieces": ("sampling", "pieces"), "_sample": ("sampling", "sample"),
    "_sample_dual_cells": ("voxelcentres", "sample_dual_cells"), "_sample_strided": ("voxelcentres", "sample_strided"),
    "_box_table": ("voxelcentres", "_box_table"), "_Engine": ("engine", "Engine"),
    "_refuse_unusable": ("engine", "refuse_unusable"), "_dicompyler_dvh": ("dicompyler", "dicompyler_dvh"),
    "_BINARY": ("derived", "_BINARY"), "_RING": ("derived", "_RING"), "_BOX_FIELDS": ("voxelcentres", "_BOX_FIELDS"),
    "_FRAMES": ("dosegrid", "_FRAMES"), "_FRAMES_LOCK": ("dosegrid", "_FRAMES_LOCK"),
}


def __getattr__(name: str):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where[0]}"), where[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # for type checkers and editors: the public names, imported eagerly
    from sarcotrial.radiotherapy.dvh.derived import parse_derived
    from sarcotrial.radiotherapy.dvh.engine import END_CAPS, MODES, compute_dvh, compute_dvhs
    from sarcotrial.radiotherapy.dvh.histogram import DVH, DVHResult
