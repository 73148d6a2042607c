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
    for name, _ct, _shift, voxel, gradient, volume, _dmin, _dmax, dmean, d99, d95, d5, _d1, _d003 in rows:
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
        expected = {"volume": volume, "mean": dmean / 100, "d95": d95 / 100, "d5": d5 / 100, "d99": d99 / 100}
        got = {"volume": dvh.volume_cc, "mean": dvh.mean_gy, "d95": dvh.dose_at_volume_percent(95),
               "d5": dvh.dose_at_volume_percent(5), "d99": dvh.dose_at_volume_percent(99)}
        cases.append({"id": f"{name} {gradient} {grid}", "name": name, "gradient": gradient, "expected": expected,
                      "got": got, "end_cap": dvh.end_cap})
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


def test_mean_errors_are_small(nelms_cases):
    """Beyond the 3 % bound: the engine's typical error, per metric (mean of absolute errors)."""
    for metric, bound in (("volume", 0.003), ("mean", 0.0005), ("d95", 0.003), ("d5", 0.001)):
        mean_error = sum(abs(_error(c, metric)) for c in nelms_cases) / len(nelms_cases)
        assert mean_error < bound, (metric, mean_error)
