"""Validation against the analytical DVHs of Nelms et al., Med Phys 42(8), 2015.

The expected values are the authors' own table (``analytical_data.xlsx``, sheet "Analytical",
doses in cGy); their analytical DVHs include half-slice end caps (``start-here/read-me-first``),
so every case runs with ``end_cap="half-slice"``. Pairing as the README of the shared data says:
X-only shifts go with the anterior-posterior gradient, X+Z shifts with the superior-inferior one
(Nelms' "Z" is DICOM y); the shape is ROI number 2 in every file, beside a contourless marker
POI_1; names inside the files may differ from the file names. Only the 1 and 2 mm dose grids are
in scope (the 0.2 mm grids are not distributed).
"""

from __future__ import annotations

import numpy as np
import pytest

from sarcotrial.radiotherapy.dicomrt import read_rtdose, read_rtstruct
from sarcotrial.radiotherapy.dvh import compute_dvh
from tests.conftest import shared_file

pytestmark = pytest.mark.validation

TOLERANCE = 0.03
GRIDS = {"1": "1mm", "2": "2mm"}


@pytest.fixture(scope="module")
def nelms_cases(shared_data):
    import openpyxl

    book = openpyxl.load_workbook(shared_file(shared_data, "nelms-dvh/analytical_data.xlsx"), read_only=True, data_only=True)
    rows = list(book["Analytical"].iter_rows(values_only=True))
    header, rows = rows[0], rows[1:]
    assert header[:14] == ("Structure name", "CT slice spacing (mm)", "Structure Shift", "Dose Voxel (mm)",
                           "Gradient direction", "Total Volume (cc)", "Dmin", "Dmax", "Dmean", "D99", "D95", "D5", "D1",
                           "D0.03cc")
    doses = {}
    cases = []
    for name, ct, _shift, voxel, gradient, volume, dmin, dmax, dmean, d99, d95, d5, _d1, _d003 in rows:
        grid = GRIDS.get(str(voxel))
        if grid is None:
            continue
        direction = "AntPost" if gradient.startswith("Z") else "SupInf"
        structure_file = shared_data / "nelms-dvh" / "structures" / f"{name}.dcm"
        dose_file = shared_data / "nelms-dvh" / "dose-grids" / f"Linear_{direction}_{grid}_Aligned.dcm"
        if not structure_file.exists() or not dose_file.exists():
            continue
        if dose_file not in doses:
            doses[dose_file] = read_rtdose(dose_file)
        ss = read_rtstruct(structure_file)
        shape = ss.by_number(2)
        assert ss.by_number(1).name == "POI_1" and not ss.by_number(1).has_volume
        dvh = compute_dvh(ss, doses[dose_file], shape.name, end_cap="half-slice")
        expected = {"volume": volume, "mean": dmean / 100, "d95": d95 / 100, "d5": d5 / 100, "d99": d99 / 100,
                    "min": dmin / 100, "max": dmax / 100}
        got = {"volume": dvh.volume_cc, "mean": dvh.mean_gy, "d95": dvh.dose_at_volume_percent(95),
               "d5": dvh.dose_at_volume_percent(5), "d99": dvh.dose_at_volume_percent(99), "min": dvh.min_gy,
               "max": dvh.max_gy}
        # the geometry that bounds Dmin, Dmax and D99 (test_dmin_dmax_d99_within_the_reconstructions_bounds):
        # the gradient (Gy/mm, from the grid itself), the contours' slice spacing (mm, the table's CT
        # slice spacing) and the in-plane sample spacing (mm)
        grid_dose = np.asarray(doses[dose_file].dose, float)
        steps = {"AntPost": (1, doses[dose_file].pixel_spacing[0]), "SupInf": (0, float(np.diff(doses[dose_file].frame_offsets)[0]))}
        axis, step = steps[direction]
        slope = float(np.abs(np.diff(grid_dose, axis=axis)).max()) / step
        cases.append({"id": f"{name} {gradient} {grid}", "name": name, "gradient": gradient, "expected": expected,
                      "got": got, "end_cap": dvh.end_cap, "slope": slope, "slice_mm": float(str(ct).removesuffix("mm")),
                      "sample_mm": max(dvh.sampling["sample_spacing_mm"]), "across": direction == "SupInf"})
    return cases


def _error(case, metric):
    return case["got"][metric] / case["expected"][metric] - 1


def test_every_case_in_scope_was_computed(nelms_cases):
    # 0.2 mm contours on the 1 and 2 mm grids (5 shapes x 2 gradients x 2 grids), 1 mm contours on the
    # 1 mm grid and 2 mm contours on the 2 mm grid (20 rows each in the authors' table)
    assert len(nelms_cases) == 60
    assert {c["end_cap"] for c in nelms_cases} == {"half-slice"}


@pytest.mark.parametrize("metric", ["volume", "mean", "d95", "d5"])
def test_within_3_percent_of_the_analytical_values(nelms_cases, metric):
    failures = []
    for case in nelms_cases:
        error = abs(_error(case, metric))
        if error > TOLERANCE:
            failures.append(f"{case['id']}: {metric} {case['got'][metric]:.4f} vs {case['expected'][metric]:.4f} "
                            f"({100 * error:+.2f} %)")
    assert not failures, "\n".join(failures)


def test_d99_is_never_zero(nelms_cases):
    for case in nelms_cases:
        assert case["expected"]["d99"] > 0
        assert case["got"]["d99"] > 0.5 * case["expected"]["d99"], case["id"]


def test_dmin_dmax_d99_within_the_reconstructions_bounds(nelms_cases):
    """Dmin, Dmax and D99 against the analytical values, within bounds derived from how the shape is
    rebuilt from its contours (not from the errors measured). G is the dose gradient (1 Gy/mm, read
    from the grid), h the in-plane sample spacing, s the contours' slice spacing.

    How far the rebuilt cold (or hot) end can lie *inside* the analytical one, along the gradient:
    - a contour counts only where it holds a sample centre, and a disc narrower than a sample's
      diagonal (sqrt(2) h) may hold none. The sharpest end in the set is a cone's tip (radius 12 mm
      over 24 mm: the width 2 x tan(a) = x at x mm from the tip), narrower than sqrt(2) h over its
      last sqrt(2) h. (A sphere's pole is narrower than that over less than 0.01 mm.)
    - across the planes (superior-inferior gradient), the analytical shapes end half a slice beyond
      their end planes (as ``end_cap="half-slice"``); an end plane too small to hold a sample adds no
      cap, and the surface closes between the last two planes: up to one slice and a half more.
    So Dmin may be higher and Dmax lower by up to G (sqrt(2) h + 1.5 s) across the planes, G sqrt(2) h
    in them. *Outside* the analytical end: a sample's box reaches half a sample beyond its centre,
    which is inside the contours, so by at most G h / 2 in-plane, and across the planes by nothing
    beyond the half-slice cap (bound G h / 2 kept, h < s).

    D99 (the coldest 1 % of a 24 mm shape lies within a few mm of its cold end): displacing the cold
    end's surface by at most d along the gradient moves every dose quantile there by at most G d.
    Away from the very tip (the 1 % holds far more than the tip's sqrt(2) h), d is half a sample
    in-plane plus the sample's own half box (h), and across planes half a slice: the end region
    between the last two planes is interpolated through contours lying on the true surface.
    """
    failures = []
    for case in nelms_cases:
        g, got, exp, h = case["slope"], case["got"], case["expected"], case["sample_mm"]
        tip = 2 ** 0.5 * h
        if case["across"]:
            inward, outward, d99 = tip + 1.5 * case["slice_mm"], 0.5 * h, 0.5 * case["slice_mm"]
        else:
            inward, outward, d99 = tip, 0.5 * h, h
        tiny = 1e-3  # Gy: the grid's own rounding (its gradient is 1 Gy/mm to 1e-6)
        checks = [("min", -g * outward - tiny <= got["min"] - exp["min"] <= g * inward + tiny),
                  ("max", -g * inward - tiny <= got["max"] - exp["max"] <= g * outward + tiny),
                  ("d99", abs(got["d99"] - exp["d99"]) <= g * d99 + tiny)]
        failures += [f"{case['id']}: {m} {got[m]:.3f} vs {exp[m]:.3f}" for m, ok in checks if not ok]
    assert not failures, "\n".join(failures)


def test_mean_errors_are_small(nelms_cases):
    """Beyond the 3 % bound: the engine's typical error, per metric (mean of absolute errors)."""
    for metric, bound in (("volume", 0.003), ("mean", 0.0005), ("d95", 0.003), ("d5", 0.001)):
        mean_error = sum(abs(_error(c, metric)) for c in nelms_cases) / len(nelms_cases)
        assert mean_error < bound, (metric, mean_error)
