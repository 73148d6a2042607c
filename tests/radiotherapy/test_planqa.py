"""Plan QA on the SIB phantom (tests/radiotherapy/phantoms.py), against SPRINT's objectives.

Expected values are analytic, from the phantom's geometry and dose (see ``sib_phantom``): dose
51 Gy over PTV1 with a 61 Gy boost over x in [11, 39] and 10 Gy ramps over 3 mm; PTV2 spans x
in [9.5, 40.5] (31 mm), so its coldest parts are the 1.5 mm of ramp on each side (56-61 Gy).
- PTV2 V95% (57 Gy): (31 - 2 x 0.3) / 31 = 98.065 %; D2% = 61 Gy = 101.667 % of 60 Gy.
- "PTV1 outside PTV2" D2% = 53.033 Gy = 106.067 % of 50 Gy.
- ICRU 83 HI = (D2 - D98) / D50: PTV2 D98 = 56 + 5 x (0.02 x 31 / 3) = 57.033, D50 = D2 = 61:
  HI = 0.0650; PTV1 (74 % at 51 Gy, PTV2's 25.8 % up to 61): (61 - 51) / 51 = 0.1961.
- Paddick CI (Paddick, J Neurosurg 2000) = TV_PIV^2 / (TV x PIV), PIV the volume of the dose grid
  receiving the prescription. The dose is constant along z, so PIV = 77.5 mm (the grid's 31 slabs of
  2.5 mm) x the area where f(x) h(y) >= level. With h(y) = 1 - (|y| - 32) / 20 beyond |y| = 32, that
  area is the integral over {x: f(x) >= level} of 2 (52 - 20 level / f(x)) dx, in closed form on
  each linear piece of f (:func:`isodose_area_mm2`). For 50 Gy the isodose is not a box: it reaches
  |x| = 61 + 1/5.1 = 61.196 mm (f falls 5.1 Gy/mm beyond 61), |y| = 32.392 mm where f = 51 and
  |y| = 35.607 mm over the 61 Gy boost: 8129.4 mm2, PIV = 630.03 cc (an earlier derivation here
  took the box 120 x 64.784 mm, 602.5 cc). PTV1 (|x| <= 60, |y| <= 30) gets >= 51 Gy everywhere,
  so TV_PIV = TV = 432 cc and CI = 432 / 630.03 = 0.6857.
- Tolerance of the isodose volume, from how :func:`isodose_volume_cc` samples it: 8 x 8 sub-cells a
  1 mm voxel, each counted whole by its centre, so along the isodose line the area counted is off
  by at most half a sub-cell (1/16 mm) times the line's projections on x and y (both long sides,
  the end edges and the steps at the boost): 50 Gy: (2 x 122.4 + 2 x 64 + 4 x 3.2) / 16 = 24.1 mm2,
  0.30 %; 60 Gy: (2 x 28.6 + 2 x 64) / 16 = 11.6 mm2, 0.63 %.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sarcotrial.protocol import load_protocol
from sarcotrial.radiotherapy.planqa import PlanQAError, isodose_volume_cc, map_structures, plan_qa
from sarcotrial.radiotherapy import dicomrt
from sarcotrial.services import forms as records
from sarcotrial.services.planqa import store_plan_qa
from sarcotrial.store.models import PlanQARecord, ProtocolDeviation
from tests.helpers import DOCTOR, enrolled
from tests.radiotherapy.phantoms import sib_phantom

SPRINT = load_protocol("sprint")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    out = {}
    for variant in ("pass", "minor", "major"):
        folder = tmp_path_factory.mktemp(variant)
        out[variant] = (folder, *sib_phantom(folder, variant))
    return out


@pytest.fixture(scope="module")
def results(phantoms):
    return {v: plan_qa(SPRINT, *files[1:]) for v, files in phantoms.items()}


def value(qa, structure, metric):
    return next(o for o in qa.objectives if (o.structure, o.metric) == (structure, metric))


@pytest.mark.parametrize("variant, verdict", [("pass", "per protocol"), ("minor", "minor deviation"),
                                              ("major", "major deviation")])
def test_verdicts(results, variant, verdict):
    assert results[variant].verdict == verdict
    assert results[variant].consistency == []


def test_target_objectives_are_analytic(results):
    qa = results["pass"]
    assert value(qa, "PTV1", "V95%").value == pytest.approx(100.0, abs=0.01)
    assert value(qa, "PTV2", "V95%").value == pytest.approx(100 * (31 - 0.6) / 31, abs=0.01)
    assert value(qa, "PTV2", "D2%").value == pytest.approx(100 * 61 / 60, abs=0.01)
    assert value(qa, "PTV1 outside PTV2", "D2%").value == pytest.approx(100 * (51 + 10 * (1.5 - 0.89) / 3) / 50, abs=0.05)


def test_organ_objectives_and_their_bands(results):
    assert value(results["pass"], "Bone", "Dmean").value == pytest.approx(33.15, abs=0.01)
    minor = value(results["minor"], "Bone", "Dmean")
    assert minor.value == pytest.approx(38.25, abs=0.01) and minor.verdict == "minor deviation"
    major = value(results["major"], "SkinStrip", "V20Gy")
    assert major.value == pytest.approx(100 * 3.157 / 5, abs=0.05) and major.verdict == "major deviation"
    absent = value(results["pass"], "Joint", "V50Gy")
    assert absent.verdict == "not evaluated" and absent.value is None


def test_homogeneity_index_icru83(results):
    assert results["pass"].indices["PTV2"]["icru83_hi"] == pytest.approx((61 - (56 + 5 * 0.02 * 31 / 3)) / 61, abs=2e-4)
    assert results["pass"].indices["PTV1"]["icru83_hi"] == pytest.approx(10 / 51, abs=2e-4)


#: the kinks of f(x) (:func:`tests.radiotherapy.phantoms.sib_profile_x`): f is linear between them
SIB_KINKS_X = (-71.0, -61.0, 8.0, 11.0, 39.0, 42.0, 61.0, 71.0)
SIB_F_AT_KINKS = (0.0, 51.0, 51.0, 61.0, 61.0, 51.0, 51.0, 0.0)
SLABS_MM = 31 * 2.5


def isodose_area_mm2(level: float) -> float:
    """Area of {(x, y): f(x) h(y) >= level} in closed form (see the module docstring): on each linear
    piece of f, the part where f >= level, and there the integral of 2 (52 - 20 level / f(x)) dx, using
    the integral of dx / f = L ln(f1 / f0) / (f1 - f0) over a piece of length L from f0 to f1."""
    import math

    area = 0.0
    for (a, b), (fa, fb) in zip(zip(SIB_KINKS_X, SIB_KINKS_X[1:]), zip(SIB_F_AT_KINKS, SIB_F_AT_KINKS[1:])):
        if fa == fb:
            if fa < level:
                continue
            lo, hi, f_lo, f_hi = a, b, fa, fb
        else:
            t = min(1.0, max(0.0, (level - fa) / (fb - fa)))  # where f = level, as a fraction of [a, b]
            lo, hi = (a + t * (b - a), b) if fb > fa else (a, a + t * (b - a))
            if hi <= lo:
                continue
            f_lo, f_hi = (fa + (fb - fa) * (u - a) / (b - a) for u in (lo, hi))
        integral_of_inverse = (hi - lo) / f_lo if f_lo == f_hi else (hi - lo) * math.log(f_hi / f_lo) / (f_hi - f_lo)
        area += 2 * (52 * (hi - lo) - 20 * level * integral_of_inverse)
    return area


def test_isodose_area_derivation_against_brute_force_sampling():
    """The closed form checked by counting points of the phantom's own dose functions (no module code) on
    a 0.05 mm lattice; the counting is off by at most 0.025 mm along the isodose line (~390 mm): 0.12 %."""
    import numpy as np

    from tests.radiotherapy.phantoms import sib_profile_x, sib_profile_y

    step = 0.05
    x = np.arange(-70.5, 70.5, step) + step / 2
    y = np.arange(-55.5, 55.5, step) + step / 2
    dose = sib_profile_y(y)[:, None] * sib_profile_x(x)[None, :]
    for level in (50, 60):
        assert (dose >= level).sum() * step * step == pytest.approx(isodose_area_mm2(level), rel=0.0012)
    assert isodose_area_mm2(50) * SLABS_MM / 1000 == pytest.approx(630.03, abs=0.01)


def test_isodose_volume_against_geometry(phantoms):
    """The 60 Gy isodose: x in [10.7, 39.3], |y| <= 52 - 1200 / f(x) (32.328 mm over the boost), 31 slabs
    of 2.5 mm: 143.29 cc; the 50 Gy one 630.03 cc (module docstring); tolerances from the sub-cell sampling."""
    dose = dicomrt.read_rtdose(phantoms["pass"][2])
    assert isodose_volume_cc(dose, 60) == pytest.approx(isodose_area_mm2(60) * SLABS_MM / 1000, rel=0.0063)
    assert isodose_volume_cc(dose, 50) == pytest.approx(isodose_area_mm2(50) * SLABS_MM / 1000, rel=0.0030)


def test_paddick_ci_of_ptv1(results):
    """PTV1 lies wholly in its 50 Gy isodose, so TV_PIV = TV = 432 cc and CI = 432 / PIV = 432 / 630.03
    = 0.6857, the PIV from the phantom's geometry (module docstring), not from the module under test."""
    piv = isodose_area_mm2(50) * SLABS_MM / 1000
    indices = results["pass"].indices["PTV1"]
    assert indices["tv_piv_cc"] == pytest.approx(432.0, rel=1e-3)
    assert indices["paddick_ci"] == pytest.approx(432.0 / piv, rel=0.0030)
    assert indices["paddick_ci"] == pytest.approx(0.6857, abs=0.0025)


def test_structure_names_through_aliases():
    mapping = map_structures(["PTV_60Gy", "ptv-50", "CTV_boost", "CTV_low", "Femur_R", "BODY"],
                             ["CTV1", "CTV2", "PTV1", "PTV2", "Bone"], {"PTV2": ["PTV_60Gy"], "PTV1": ["PTV_50"],
                                                                      "CTV2": ["CTV_boost"], "CTV1": ["CTV_low"],
                                                                      "Bone": ["Femur_R"]})
    assert mapping == {"CTV1": "CTV_low", "CTV2": "CTV_boost", "PTV1": "ptv-50", "PTV2": "PTV_60Gy", "Bone": "Femur_R"}


def test_missing_required_volume_is_a_clear_error(phantoms, tmp_path):
    import pydicom

    folder, rtss, rtdose, rtplan = phantoms["pass"]
    ds = pydicom.dcmread(rtss)
    for roi in ds.StructureSetROISequence:
        if roi.ROIName == "PTV2":
            roi.ROIName = "Boost volume"
    renamed = tmp_path / "renamed_rtss.dcm"
    ds.save_as(renamed)
    with pytest.raises(PlanQAError, match=r"no structure found for PTV2 \(structures in the file: .*Boost volume"):
        plan_qa(SPRINT, renamed, rtdose, rtplan)
    mapped = plan_qa(SPRINT, renamed, rtdose, rtplan, aliases={"PTV2": ["Boost volume"]})  # an alias table fixes it
    assert mapped.mapping["PTV2"] == "Boost volume" and mapped.verdict == "per protocol"


def test_prescription_checked_against_the_protocol(phantoms):
    mini = load_protocol("tests/protocols/mini.yaml")
    from sarcotrial.radiotherapy.planqa import prescription_problems

    problems = prescription_problems(mini, dicomrt.read_rtplan(phantoms["minor"][3]))
    assert any("plans 25 fractions; the protocol prescribes 5" in p for p in problems)
    assert any("the RTPLAN prescribes 60 Gy to PTV2 and 50 Gy to PTV1" in p for p in problems)


def test_verdicts_are_stored_and_a_major_one_is_a_protocol_deviation(study, results):
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03"})
    store_plan_qa(study, DOCTOR, subject, results["minor"])
    store_plan_qa(study, DOCTOR, subject, results["major"])
    with study.reading() as session:
        stored = session.scalars(select(PlanQARecord).order_by(PlanQARecord.id)).all()
        deviations = session.scalars(select(ProtocolDeviation)).all()
    assert [r.verdict for r in stored] == ["minor deviation", "major deviation"]
    assert [(d.category, d.severity) for d in deviations] == [("plan_qa", "major")]
    assert "SkinStrip V20Gy = 63.14" in deviations[0].description


def test_paddick_ci_of_ptv2_against_geometry(results):
    """PTV2 at 60 Gy: TV = 111.6 cc; TV_PIV = 111.6 x 28.6 / 31 (x in [10.7, 39.3] of [9.5, 40.5]) = 102.96 cc;
    PIV = 143.29 cc (:func:`isodose_area_mm2`); CI = TV_PIV^2 / (TV x PIV) = 0.6629."""
    tv_piv = 111.6 * 28.6 / 31
    piv = isodose_area_mm2(60) * SLABS_MM / 1000
    indices = results["pass"].indices["PTV2"]
    assert indices["tv_piv_cc"] == pytest.approx(tv_piv, rel=1e-3)
    assert indices["paddick_ci"] == pytest.approx(tv_piv ** 2 / (111.6 * piv), rel=5e-3)


# --------------------------------------------------------------------------- the DVH figure of the HTML report
def _drawn(fig):
    """The figure drawn: (axes box, legend box) in display units, the legend's texts, the annotations."""
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend()
    texts = [" ".join(t.get_text().replace("\u00a0", " ").split()) for t in legend.get_texts()]
    numbers = [t.get_text() for t in ax.texts]
    return ax, ax.get_window_extent(), legend.get_window_extent(), texts, numbers


def test_dvh_figure_legend_beside_the_curves_and_every_limit_numbered(results):
    """The legend once lay over the curves and the limit markers had no labels: the legend (with a key
    of the numbered limits) now lies right of the axes, and each drawn limit carries its number."""
    import matplotlib.pyplot as plt

    from sarcotrial.radiotherapy.planqa_report import dvh_figure

    qa = results["major"]
    prescriptions = {"CTV1": 50.0, "PTV1": 50.0, "CTV2": 60.0, "PTV2": 60.0}
    fig = dvh_figure(qa, prescriptions)
    try:
        ax, axes_box, legend_box, texts, numbers = _drawn(fig)
        assert legend_box.x0 >= axes_box.x1  # beside the axes: it can cover no curve
        # the objectives drawn on a volume-percent axis: V..% / V..Gy in % of volume, D..% in % of Rx
        drawn = [o for o in qa.objectives if o.value is not None
                 and (o.unit == "percent_volume" and o.metric.startswith("V")
                      or o.unit == "percent_prescription" and o.metric.startswith("D") and o.metric.endswith("%"))]
        assert len(drawn) == 6
        assert numbers == [str(n) for n in range(1, len(drawn) + 1)]
        for n, o in enumerate(drawn, start=1):
            assert any(t.startswith(f"{n} {o.structure} {o.metric} ") and o.verdict in t for t in texts), (n, texts)
        assert "6 SkinStrip V20Gy \u2264 50 %: 63.1 % (major deviation)" in texts  # the plan value with its unit too
    finally:
        plt.close(fig)


def test_dvh_figure_no_two_curves_alike_with_nine_and_more_structures(results):
    """Nine structures once shared eight colours; every curve now has its own colour and line style."""
    import matplotlib.pyplot as plt

    from sarcotrial.radiotherapy.planqa import PlanQA
    from sarcotrial.radiotherapy.planqa_report import curve_styles, dvh_figure

    some = list(results["pass"].dvhs.values())
    for count in (9, 10, 12, 25):
        names = [f"OAR {k}" for k in range(count - 1)] + ["PTV1 outside PTV2"]
        styles = curve_styles(names)
        assert len(set(styles.values())) == count
        if count <= 10:  # colours alone tell them apart; a derived structure is dashed
            assert len({colour for colour, _ in styles.values()}) == count
            assert styles["PTV1 outside PTV2"][1] == "--" and styles["OAR 0"][1] == "-"
    qa = PlanQA(protocol="x", end_cap="none", mapping={}, consistency=[], objectives=[], indices={},
                dvhs={f"S{k}": some[k % len(some)] for k in range(9)})
    fig = dvh_figure(qa, {})
    try:
        lines = [line for line in fig.axes[0].get_lines() if line.get_label() in qa.dvhs]
        assert len(lines) == 9 and len({(line.get_color(), line.get_linestyle()) for line in lines}) == 9
    finally:
        plt.close(fig)


def test_dvh_figure_draws_volumes_of_one_structure_once(results):
    """Two protocol volumes mapped to one structure of the file (the breast plan: CTV2 and PTV2 are both
    'Tumor Bed') draw one curve, labelled with both and the structure's name, not one hidden under the other."""
    import matplotlib.pyplot as plt

    from sarcotrial.radiotherapy.planqa import PlanQA
    from sarcotrial.radiotherapy.planqa_report import dvh_figure

    ptv2 = results["pass"].dvhs["PTV2"]
    qa = PlanQA(protocol="x", end_cap="none", mapping={"CTV2": "Tumor Bed", "PTV2": "Tumor Bed", "PTV1": "PTV1"},
                consistency=[], objectives=[], indices={},
                dvhs={"CTV2": ptv2, "PTV2": ptv2, "PTV1": results["pass"].dvhs["PTV1"]})
    fig = dvh_figure(qa, {})
    try:
        _, _, _, texts, _ = _drawn(fig)
        assert texts == ["CTV2 = PTV2 (Tumor Bed)", "PTV1"]
    finally:
        plt.close(fig)
