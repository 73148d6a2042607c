"""The DVH engine's speed-ups of 2026-12-06 (second pass) against the engine before them, within proven bounds.

Reference: ``dvh_engine_reference.json`` beside this file, the results of the engine as it stood before
these changes (the breast IMRT plan's nine structures with both end caps; every Nelms et al., Med Phys
42(8) 2015, structure on every dose grid with half-slice end caps). It is not a validation reference
(the validation against the planning system's DVHs and the analytical values is in
``test_dvh_breast.py`` and ``test_dvh_nelms.py``, unchanged and passing): it pins how far the changes
may move the engine's answers. Three changes move them (docs/benchmarks/dvh.md, 2026-12-06):

1. *Single precision.* The samplers evaluate the interpolant on the dose grid rounded to single
   precision (relative rounding 2**-24, 6e-8) with some ten single-precision operations per sample:
   each sample's dose and the ends of its spread move by less than ``EPS_REL`` (1e-6) of the grid's
   largest dose. The mean, a weighted mean of the samples' doses, moves by no more; the cumulative DVH
   at any dose is monotone in every sample's low and high end, so it lies between the old one shifted
   by that much either way, and every D_x moves by no more either.
2. *Slivers* (``sampling.SLIVER_MM``, 0.01 mm). A slab is no longer cut at a dose frame within 0.01 mm of
   its end (the breast plan's contour planes lie 0.0007 mm from its frames): the sliver is sampled with
   the rest of the slab, on the frame interval next to it, extended. Volumes are untouched (the slab
   keeps its ends; the grid's own ends are still cut). Along a sample's column the interpolant is
   linear in w within a frame interval and continuous at the frame, so the merged sample's dose times
   its volume is the old main sample's plus the sliver's, but for the sliver being evaluated on the
   next interval's line: off by at most (change of slope at the frame) x (sliver / 2) x (sliver's
   volume), the change of slope at most twice ``G``, the grid's steepest slope between frames (Gy/mm,
   from the grid). A sliver is at most 0.01 mm of a piece at least 0.05 mm thick (a thin slab is at
   least half the in-plane sample spacing, 0.1 mm at the finest supersampling of a 1 mm grid, or a
   whole 0.2 mm contour interval), so the mean moves by at most ``G`` x 0.01 mm x 0.2 = 0.002 ``G``.
   The sliver's own samples (its share of the volume) move by at most 2 ``G`` x the sliver's
   thickness: 0.003 Gy on the breast plan (``G`` 2.23 Gy/mm), nothing on the Nelms et al. grids (a
   dose linear along w: no change of slope at any frame).
3. *The body contour's coarse samples* (every second voxel centre, ``voxelcentres.sample_strided``)
   spread within the dose range of the frames their sub-plane spans but a sliver, as every other
   sampler's, and take the slope along w of that frame interval: each sample's dose is unchanged, so
   are the mean and the volume; a spread can only shrink (it reached 0.0007 mm into the next frame
   interval, and its range took in that frame's doses whole). How far the D_x of such a structure move
   is measured, not derived: BODY's D2 by 0.011 Gy (4.2701 to 4.2807 Gy), D1 by 0.0045 Gy, the others
   by less; within the coarse sampling's own error, against BODY sampled at every voxel centre (818,577
   exact boxes; ``contours.MAX_SAMPLES`` raised): D2 4.2753 Gy, D1 9.1991 Gy (9.2473 before, 9.2428
   now), D5 2.3514 Gy (2.3559, 2.3550), D10 1.2702 Gy (1.2731, 1.2735). ``COARSE_D_BOUND_GY``.

Bounds asserted (the validation tolerances are 0.7 % of volume and 0.1 % of mean dose against the
planning system, 0.014 Gy at the plan's 14 Gy, and 3 % against the Nelms et al. analytical values):

- volume and the volume outside the grid: the same to 1e-12 (relative);
- mean dose: within ``EPS_REL`` of the grid's largest dose plus 0.002 ``G`` (1 and 2; 0.0045 Gy on the
  breast plan; 4e-5 Gy and 0.002 Gy on the Nelms grids, G 0 and 1 Gy/mm; measured at most 5e-7 Gy);
- D99, D98, D95, D50, D5, D2: within ``D_BOUND_GY`` (0.002 Gy): 1 moves them by at most 1.5e-5 Gy (breast)
  and 4e-5 Gy (Nelms), 2 only the slivers' samples (a 0.02 % share of the breast plan's volume) by at
  most 0.003 Gy; measured at most 6e-6 Gy. For structures sampled at every q-th voxel centre (BODY),
  ``COARSE_D_BOUND_GY`` (0.02 Gy, 0.14 % of the prescription): 3, measured at 0.011 Gy;
- minimum and maximum dose (the spread samples' extremes): they can only move inwards, but for the
  bounds of 1 and 2 (here 2 ``G`` x 0.01 mm). The removed sliver samples, whose spreads reached into
  the next frame interval, held some of the extremes: Scar's minimum rose by 0.074 Gy (0.80 to 0.87 Gy;
  its D99 1.77 Gy before and after), Tumor Bed Block's maximum fell by 0.004 Gy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sarcotrial.radiotherapy.dicomrt import read_rtdose, read_rtstruct
from sarcotrial.radiotherapy.dvh import compute_dvh
from sarcotrial.radiotherapy.dvh.sampling import SLIVER_MM
from tests.conftest import shared_file

pytestmark = pytest.mark.validation

REFERENCE = Path(__file__).with_name("dvh_engine_reference.json")
EPS_REL = 1e-6
D_BOUND_GY = 0.002
COARSE_D_BOUND_GY = 0.02
PERCENTS = (99, 98, 95, 50, 5, 2)
SLIVER_SHARE = 0.2  # a sliver (at most SLIVER_MM) of a piece at least 0.05 mm thick


def _steepest_w_slope(dose) -> float:
    """The grid's largest dose change between neighbouring frames per mm (Gy/mm)."""
    data = np.asarray(dose.dose, float)
    order = np.argsort(dose.frame_offsets)
    gaps = np.diff(np.asarray(dose.frame_offsets, float)[order])
    if data.shape[0] < 2:
        return 0.0
    return float((np.abs(np.diff(data[order], axis=0)).max(axis=(1, 2)) / gaps).max())


def _check(case: str, got, want: dict, dose) -> None:
    dmax = float(np.max(dose.dose))
    eps = EPS_REL * dmax
    sliver = SLIVER_MM * 2 * _steepest_w_slope(dose)
    assert got.volume_cc == pytest.approx(want["volume_cc"], rel=1e-12, abs=1e-12), case
    assert got.outside_grid_cc == pytest.approx(want["outside_grid_cc"], rel=1e-12, abs=1e-12), case
    assert abs(got.mean_gy - want["mean_gy"]) <= eps + _steepest_w_slope(dose) * SLIVER_MM * SLIVER_SHARE, case
    coarse = got.sampling["supersampling"] == 1 and got.sampling["sample_spacing_mm"][0] > dose.pixel_spacing[1] + 1e-9
    for p in PERCENTS:
        bound = COARSE_D_BOUND_GY if coarse else D_BOUND_GY
        assert abs(got.dose_at_volume_percent(p) - want[f"d{p}_gy"]) <= bound, (case, p)
    assert got.min_gy >= want["min_gy"] - eps - sliver, case
    assert got.max_gy <= want["max_gy"] + eps + sliver, case
    assert got.min_gy <= got.dose_at_volume_percent(99) and got.max_gy >= got.dose_at_volume_percent(2), case


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text())["cases"]


def test_the_breast_plan_within_the_bounds(shared_data, reference):
    folder = "breast-imrt-example"
    ss = read_rtstruct(shared_file(shared_data, f"{folder}/rtss.dcm"))
    dose = read_rtdose(shared_file(shared_data, f"{folder}/rtdose.dcm"))
    checked = 0
    for s in ss.structures:
        if not s.has_volume:
            continue
        for cap in ("none", "half-slice"):
            _check(f"{s.name} {cap}", compute_dvh(ss, dose, s.name, end_cap=cap), reference[f"breast/{s.name}/{cap}"],
                   dose)
            checked += 1
    assert checked == 18


def test_only_the_body_contour_is_sampled_coarsely(shared_data):
    # COARSE_D_BOUND_GY applies to BODY alone on the breast plan
    folder = "breast-imrt-example"
    ss = read_rtstruct(shared_file(shared_data, f"{folder}/rtss.dcm"))
    dose = read_rtdose(shared_file(shared_data, f"{folder}/rtdose.dcm"))
    coarse = [s.name for s in ss.structures if s.has_volume
              and compute_dvh(ss, dose, s.name).sampling["sample_spacing_mm"][0] > dose.pixel_spacing[1] + 1e-9]
    assert coarse == ["BODY"]


def test_the_nelms_set_within_the_bounds(shared_data, reference):
    structures = sorted((shared_file(shared_data, "nelms-dvh/structures")).glob("*.dcm"))
    grids = sorted((shared_file(shared_data, "nelms-dvh/dose-grids")).glob("*_Aligned.dcm"))
    assert len(structures) >= 40 and len(grids) == 6
    doses = {g: read_rtdose(g) for g in grids}
    checked = 0
    for sf in structures:
        ss = read_rtstruct(sf)
        shape = ss.by_number(2)
        for g in grids:
            want = reference[f"nelms/{sf.stem}/{g.stem}"]
            _check(f"{sf.stem} {g.stem}", compute_dvh(ss, doses[g], shape.name, end_cap="half-slice"), want, doses[g])
            checked += 1
    assert checked == len(reference) - 18


def test_a_frame_within_a_sliver_of_a_slabs_end_does_not_cut_it():
    # a frame 0.0007 mm inside a slab's end (contour planes a rounding away from the frames, as on the
    # breast plan) leaves one piece; one 0.5 mm inside still cuts; the grid's own ends are always cut
    from types import SimpleNamespace

    from sarcotrial.radiotherapy.dvh.sampling import pieces

    wpos = [0.0, 3.0, 6.0, 9.0]
    frame = SimpleNamespace(cut_list=[-1.5, *wpos, 10.5], wpos_list=wpos, nf=4, w_lo=-1.5, w_hi=10.5)
    assert pieces(frame, 0.0007, 3.0007) == [(0.0007, 3.0007, 0, 1, True)]
    assert pieces(frame, 2.9993, 6.0) == [(2.9993, 6.0, 1, 2, True)]
    assert [p[:2] for p in pieces(frame, 0.5, 3.5)] == [(0.5, 3.0), (3.0, 3.5)]
    assert [p[:2] for p in pieces(frame, 10.4995, 12.0)] == [(10.4995, 10.5), (10.5, 12.0)]
    assert pieces(frame, 10.4995, 12.0)[1][4] is False  # beyond the grid
