"""Validation on a real 4-field breast IMRT plan (from the dicompyler-core 0.5.6 distribution).

References:
- the planning system's own DVHs stored in the RTDOSE (RT DVH Module, PS3.3 C.8.8.4). Their
  doses are labelled GY but are percent of the 14 Gy prescription (Heart mean 4.625 -> 0.6475 Gy),
  and they have no end caps, hence ``end_cap="none"``;
- dicompyler-core 0.5.6's own test (tests/test_dvhcalc.py, ``test_dvh_calculation``) asserts for
  the Heart (ROI 5): volume 440.23124999 cc, max 3.1 Gy, min 0.03 Gy, mean 0.6475329 Gy.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from sarcotrial.radiotherapy.dicomrt import check_consistency, read_rtdose, read_rtplan, read_rtstruct
from sarcotrial.radiotherapy.dvh import compute_dvh, compute_dvhs
from tests.conftest import shared_file

pytestmark = pytest.mark.validation

PRESCRIPTION_GY = 14.0  # the plan's Target Prescription Dose; the stored DVH doses are percent of it


@pytest.fixture(scope="module")
def breast(shared_data):
    folder = "breast-imrt-example"
    ss = read_rtstruct(shared_file(shared_data, f"{folder}/rtss.dcm"))
    dose = read_rtdose(shared_file(shared_data, f"{folder}/rtdose.dcm"))
    plan = read_rtplan(shared_file(shared_data, f"{folder}/rtplan.dcm"))
    return ss, dose, plan


def _wholly_inside(structure, dose) -> bool:
    """Every contour point within the box of the dose grid's voxel centres."""
    f, r, c = dose.shape
    dc, dr, _ = dose.spacing
    axes = np.stack([dose.row_cosine, dose.column_cosine, dose.normal])
    local = (np.concatenate([p for _, p in structure.contours]) - dose.origin) @ axes.T
    lo = np.array([0.0, 0.0, dose.frame_offsets.min()])
    hi = np.array([(c - 1) * dc, (r - 1) * dr, dose.frame_offsets.max()])
    return bool(np.all(local.min(0) >= lo - 1e-6) and np.all(local.max(0) <= hi + 1e-6))


def test_the_plan_is_consistent(breast):
    ss, dose, plan = breast
    assert plan.prescriptions[0].target_prescription_dose_gy == PRESCRIPTION_GY
    assert plan.fractions_planned == 7
    assert check_consistency(ss, dose, plan) == []


def test_matches_the_planning_systems_dvhs(breast):
    ss, dose, _ = breast
    compared = []
    for s in ss.structures:
        stored = dose.stored_dvh(s.number)
        if not s.has_volume or stored is None or stored.total_volume <= 10 or not _wholly_inside(s, dose):
            continue
        dvh = compute_dvh(ss, dose, s.name, end_cap="none")
        tps_mean = stored.mean_dose / 100 * PRESCRIPTION_GY
        assert dvh.mean_gy == pytest.approx(tps_mean, rel=0.01), s.name
        assert dvh.volume_cc == pytest.approx(stored.total_volume, rel=0.02), s.name
        assert dvh.outside_grid_cc == 0
        compared.append(s.name)
    assert compared == ["Breast", "Heart", "Lt Lung", "Tumor Bed", "Tumor Bed Block"]


def test_dicompyler_compatible_mode_reproduces_dicompyler_core(breast):
    ss, dose, _ = breast
    heart = compute_dvh(ss, dose, "Heart", mode="dicompyler")
    assert ss.get("Heart").number == 5
    assert heart.volume_cc == pytest.approx(440.23124999, abs=1e-6)
    assert heart.max_gy == pytest.approx(3.1, abs=1e-9)
    assert heart.min_gy == pytest.approx(0.03, abs=1e-9)
    assert heart.mean_gy == pytest.approx(0.6475329, abs=1e-7)


def test_every_structure_computed_and_the_empty_one_skipped(breast):
    ss, dose, _ = breast
    start = time.perf_counter()
    result = compute_dvhs(ss, dose)
    elapsed = time.perf_counter() - start
    assert result.skipped == {"Areola": "no contours: an empty ROI (RT ROI Interpreted Type AVOIDANCE)"}
    assert set(result.dvhs) == {s.name for s in ss.structures} - {"Areola"}
    assert all(d.end_cap == "none" for d in result.dvhs.values())
    # generous: the benchmark (bench/dvh.py) measures the real figure, under 0.1 s per structure
    assert elapsed < 10
