"""Plan QA on the SIB phantom (tests/radiotherapy/phantoms.py), against SPRINT's objectives.

Expected values are analytic, from the phantom's geometry and dose (see ``sib_phantom``): dose
51 Gy over PTV1 with a 61 Gy boost over x in [11, 39] and 10 Gy ramps over 3 mm; PTV2 spans x
in [9.5, 40.5] (31 mm), so its coldest parts are the 1.5 mm of ramp on each side (56-61 Gy).
- PTV2 V95% (57 Gy): (31 - 2 x 0.3) / 31 = 98.065 %; D2% = 61 Gy = 101.667 % of 60 Gy.
- "PTV1 outside PTV2" D2% = 53.033 Gy = 106.067 % of 50 Gy.
- ICRU 83 HI = (D2 - D98) / D50: PTV2 D98 = 56 + 5 x (0.02 x 31 / 3) = 57.033, D50 = D2 = 61:
  HI = 0.0650; PTV1 (74 % at 51 Gy, PTV2's 25.8 % up to 61): (61 - 51) / 51 = 0.1961.
- Paddick CI (Paddick, J Neurosurg 2000) = TV_PIV^2 / (TV x PIV). For PTV1 at 50 Gy, TV_PIV = TV
  = 432 cc and PIV = the 50 Gy isodose: x where f >= 50 is [-60, 60] plus nothing more (f = 51 on
  PTV1, falling outside), y where 51 h(y) >= 50: |y| <= 32 + 20 x (1/51) = 32.392 mm, over the
  grid's 31 slabs of 2.5 mm (77.5 mm): PIV = 120 x 64.784 x 77.5 mm3 (grid bounds permitting).
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


def test_isodose_volume_against_geometry(phantoms):
    """The 60 Gy isodose: x in [10.7, 39.3], |y| <= 32.328 mm, 31 slabs of 2.5 mm = 143.31 cc."""
    dose = dicomrt.read_rtdose(phantoms["pass"][2])
    assert isodose_volume_cc(dose, 60) == pytest.approx(28.6 * 64.656 * 77.5 / 1000, rel=0.005)


def test_paddick_ci_of_ptv1(results, phantoms):
    """PTV1 lies wholly in its 50 Gy isodose, so CI = TV / PIV exactly."""
    dose = dicomrt.read_rtdose(phantoms["pass"][2])
    piv = isodose_volume_cc(dose, 50)
    assert results["pass"].indices["PTV1"]["paddick_ci"] == pytest.approx(432.0 / piv, rel=1e-3)


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
    assert any("prescribes 50, 60 Gy" in p for p in problems)


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
    PIV = 28.6 x 64.656 x 77.5 mm3 = 143.31 cc; CI = TV_PIV^2 / (TV x PIV) = 0.6628."""
    tv_piv = 111.6 * 28.6 / 31
    piv = 28.6 * 64.656 * 77.5 / 1000
    indices = results["pass"].indices["PTV2"]
    assert indices["tv_piv_cc"] == pytest.approx(tv_piv, rel=1e-3)
    assert indices["paddick_ci"] == pytest.approx(tv_piv ** 2 / (111.6 * piv), rel=5e-3)
