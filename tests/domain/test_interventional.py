"""CIRSE complication classification and the interventional treatment record.

Source: Filippiadis DK, Binkert C, Pellerin O, et al. Cardiovasc Intervent Radiol
2017;40:1141-1146 (grades as summarised by Filippiadis et al., CVIR 2026;49:2-6: "Grade 1:
complication could be solved within the same procedure, Grade 2: unplanned prolonged
hospitalization < 48 h without an additional therapy, Grade 3: additional therapies needed or
hospitalization > 48 h, but no sequelae, Grade 4: mild sequelae beyond hospitalization, Grade 5:
severe sequelae requiring assistance in daily life, and Grade 6: death"). Thermal ablation
techniques: Ahmed M, et al. Radiology 2014;273:241-260. TACE: Lucatelli P, et al. CVIR
2021;44:1851-1867.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sarcotrial.domain.interventional import (
    ABLATION_TECHNIQUES,
    CIRSE_GRADES,
    cirse_grade,
    consequence_of_stay,
    intervention_record,
)
from sarcotrial.errors import InvalidValue


@pytest.mark.parametrize("consequence, grade", [
    ("solved_in_session", 1),          # solved within the same procedure
    ("prolonged_observation", 2),      # prolonged stay < 48 h, no additional therapy
    ("additional_therapy", 3),         # additional therapy needed
    ("prolonged_stay_over_48h", 3),    # hospitalisation > 48 h
    ("permanent_mild_sequela", 4),
    ("permanent_severe_sequela", 5),
    ("death", 6),
])
def test_each_consequence_has_its_published_grade(consequence, grade):
    assert cirse_grade([consequence]).grade == grade


def test_the_worst_consequence_decides():
    result = cirse_grade(["solved_in_session", "additional_therapy", "prolonged_observation"])
    assert result.grade == 3 and result.deciding == "additional_therapy"
    assert cirse_grade(["prolonged_stay_over_48h", "death"]).grade == 6
    assert cirse_grade(["additional_therapy", "additional_therapy"]).consequences == ("additional_therapy",)


def test_grades_one_to_six_defined():
    assert sorted(CIRSE_GRADES) == [1, 2, 3, 4, 5, 6]
    assert CIRSE_GRADES[6] == "death"


@pytest.mark.parametrize("hours, consequence", [
    (0, None), (12, "prolonged_observation"), (48, "prolonged_observation"),   # "< 48 h" / not "> 48 h"
    (48.5, "prolonged_stay_over_48h"), (72, "prolonged_stay_over_48h"),
])
def test_stay_beyond_normal_course(hours, consequence):
    assert consequence_of_stay(hours) == consequence


def test_refusals():
    with pytest.raises(InvalidValue) as err:
        cirse_grade([])
    assert err.value.field == "consequence"
    with pytest.raises(InvalidValue):
        cirse_grade(["grade_3"])
    with pytest.raises(InvalidValue) as err:
        consequence_of_stay(-1)
    assert err.value.field == "extra_stay_hours"


def test_ablation_techniques():
    assert set(ABLATION_TECHNIQUES) == {"rfa", "mwa", "cryoablation"}  # Ahmed et al. 2014


def test_intervention_record_with_complications():
    record = intervention_record("thermal_ablation", "mwa", "lung metastasis, right lower lobe", dt.date(2027, 3, 2),
                                 approach="percutaneous", guidance="ct",
                                 complications=[("pneumothorax, chest drain", ["additional_therapy"]),
                                                ("minor bleeding", ["solved_in_session"])])
    assert record.worst_cirse_grade == 3
    data = record.as_dict()
    assert data["date"] == "2027-03-02" and data["complications"][0]["grade"] == 3
    assert intervention_record("chemoembolisation", "deb_tace", "liver S7", dt.date(2027, 3, 2)).worst_cirse_grade is None


@pytest.mark.parametrize("kwargs, field", [
    (dict(kind="chemoembolisation", technique="cryoablation"), "technique"),
    (dict(kind="radioembolisation", technique="rfa"), "kind"),
    (dict(kind="chemoembolisation", technique="ctace", approach="percutaneous"), "approach"),
    (dict(kind="thermal_ablation", technique="rfa", target_lesion=" "), "target_lesion"),
    (dict(kind="thermal_ablation", technique="rfa", guidance="pet"), "guidance"),
])
def test_record_refusals(kwargs, field):
    args = dict(target_lesion="T1", date=dt.date(2027, 1, 4)) | kwargs
    with pytest.raises(InvalidValue) as err:
        intervention_record(**args)
    assert err.value.field == field
