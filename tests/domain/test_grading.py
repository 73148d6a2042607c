"""FNCLCC grade against the published tables.

Sources: Trojani et al., Int J Cancer 1984;33:37-42; Guillou et al., J Clin Oncol 1997;15:350-362;
Coindre, Arch Pathol Lab Med 2006;130:1448-1453; AJCC Cancer Staging Manual 8th ed. (2017),
"Determinants of FNCLCC histological grade" and "Definition of FNCLCC histological grade (G)"
(reproduced in NCI PDQ Soft Tissue Sarcoma Treatment, HP version, Tables 5 and 6).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarcotrial.domain.grading import (
    FnclccGrade,
    fnclcc_grade,
    grade_from_total_score,
    mitotic_score,
    necrosis_score,
)
from sarcotrial.errors import InvalidValue

# AJCC 8 / NCI PDQ Table 5, "Mitotic count": score 1 = 0-9 mitoses per 10 HPF, score 2 = 10-19,
# score 3 = >= 20. Rows: (mitoses per 10 HPF, score), every boundary included.
MITOTIC_TABLE = [
    (0, 1),
    (9, 1),
    (10, 2),
    (19, 2),
    (20, 3),
    (150, 3),
]

# AJCC 8 / NCI PDQ Table 5, "Tumor necrosis": score 0 = no necrosis, 1 = < 50 %, 2 = >= 50 %.
NECROSIS_TABLE = [
    (0, 0),
    (0.0, 0),
    (0.1, 1),
    (49.9, 1),
    (50, 2),
    (50.0, 2),
    (100, 2),
]

# AJCC 8 / NCI PDQ Table 6, "Definition of FNCLCC histological grade": G1 total 2 or 3,
# G2 total 4 or 5, G3 total 6, 7 or 8.
GRADE_TABLE = [
    (2, 1),
    (3, 1),
    (4, 2),
    (5, 2),
    (6, 3),
    (7, 3),
    (8, 3),
]


@pytest.mark.parametrize(("mitoses", "score"), MITOTIC_TABLE)
def test_mitotic_score_table(mitoses, score):
    assert mitotic_score(mitoses) == score


@pytest.mark.parametrize(("percent", "score"), NECROSIS_TABLE)
def test_necrosis_score_table(percent, score):
    assert necrosis_score(percent) == score


@pytest.mark.parametrize(("total", "grade"), GRADE_TABLE)
def test_grade_from_total_score_table(total, grade):
    assert grade_from_total_score(total) == grade


# Whole grades built from components, each total of Table 6 reached at least once, with the
# component boundaries of Table 5: (differentiation, mitoses, necrosis %, expected scores, grade).
COMPONENT_ROWS = [
    (1, 9, 0, (1, 1, 0), 2, 1),       # lowest total: G1
    (1, 10, 0, (1, 2, 0), 3, 1),
    (2, 0, 0.1, (2, 1, 1), 4, 2),
    (2, 19, 0.1, (2, 2, 1), 5, 2),
    (3, 9, 49.9, (3, 1, 1), 5, 2),
    (3, 10, 49.9, (3, 2, 1), 6, 3),
    (3, 19, 50, (3, 2, 2), 7, 3),
    (3, 20, 100, (3, 3, 2), 8, 3),    # highest total: G3
    (1, 20, 50, (1, 3, 2), 6, 3),
]


@pytest.mark.parametrize(("diff", "mitoses", "necrosis", "scores", "total", "grade"), COMPONENT_ROWS)
def test_fnclcc_grade_from_components(diff, mitoses, necrosis, scores, total, grade):
    result = fnclcc_grade(diff, mitoses, necrosis)
    assert (result.differentiation_score, result.mitotic_score, result.necrosis_score) == scores
    assert result.score == total
    assert result.grade == grade


@pytest.mark.parametrize(
    ("diff", "mitoses", "necrosis", "expected"),
    [
        (None, 5, 10, (None, 1, 1)),
        (2, None, 10, (2, None, 1)),
        (2, 5, None, (2, 1, None)),
        (None, None, None, (None, None, None)),
    ],
)
def test_any_component_not_assessable_gives_gx(diff, mitoses, necrosis, expected):
    # AJCC 8 Table 6: GX, grade cannot be assessed.
    result = fnclcc_grade(diff, mitoses, necrosis)
    assert result.grade == "X"
    assert result.score is None
    assert (result.differentiation_score, result.mitotic_score, result.necrosis_score) == expected


def test_as_dict_has_the_five_keys():
    result = fnclcc_grade(3, 20, 50)
    assert isinstance(result, FnclccGrade)
    assert result.as_dict() == {
        "differentiation_score": 3,
        "mitotic_score": 3,
        "necrosis_score": 2,
        "score": 8,
        "grade": 3,
    }
    assert fnclcc_grade(None, 1, 0).as_dict()["grade"] == "X"


def test_result_is_frozen():
    result = fnclcc_grade(1, 1, 0)
    with pytest.raises(AttributeError):
        result.grade = 3  # type: ignore[misc]


@pytest.mark.parametrize("bad", [-1, -20, 9.5, 5.0, "5", True, None])
def test_mitotic_score_refuses_bad_input(bad):
    with pytest.raises(InvalidValue) as info:
        mitotic_score(bad)
    assert info.value.field == "mitoses_per_10hpf"


@pytest.mark.parametrize("bad", [-0.1, -1, 100.1, 150, float("nan"), "10", True, None])
def test_necrosis_score_refuses_bad_input(bad):
    with pytest.raises(InvalidValue) as info:
        necrosis_score(bad)
    assert info.value.field == "necrosis_percent"


@pytest.mark.parametrize("bad", [0, 4, -1, 2.0, "2", True])
def test_differentiation_outside_1_to_3_is_refused(bad):
    with pytest.raises(InvalidValue) as info:
        fnclcc_grade(bad, 5, 0)
    assert info.value.field == "differentiation"


def test_fnclcc_grade_validates_given_components_even_when_another_is_missing():
    with pytest.raises(InvalidValue) as info:
        fnclcc_grade(None, -3, 0)
    assert info.value.field == "mitoses_per_10hpf"
    with pytest.raises(InvalidValue) as info:
        fnclcc_grade(2, None, 120)
    assert info.value.field == "necrosis_percent"


@pytest.mark.parametrize("bad", [1, 9, 0, 3.0])
def test_grade_from_total_score_refuses_impossible_totals(bad):
    with pytest.raises(InvalidValue) as info:
        grade_from_total_score(bad)
    assert info.value.field == "score"


# --- properties -------------------------------------------------------------------------------

differentiations = st.integers(min_value=1, max_value=3)
mitoses = st.integers(min_value=0, max_value=500)
necroses = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(mitoses, mitoses)
def test_more_mitoses_never_lower_the_score(a, b):
    low, high = sorted((a, b))
    assert mitotic_score(low) <= mitotic_score(high)


@given(necroses, necroses)
def test_more_necrosis_never_lowers_the_score(a, b):
    low, high = sorted((a, b))
    assert necrosis_score(low) <= necrosis_score(high)


@given(differentiations, differentiations, mitoses, mitoses, necroses, necroses)
def test_higher_components_never_lower_the_grade(d1, d2, m1, m2, n1, n2):
    low = fnclcc_grade(min(d1, d2), min(m1, m2), min(n1, n2))
    high = fnclcc_grade(max(d1, d2), max(m1, m2), max(n1, n2))
    assert low.score <= high.score
    assert low.grade <= high.grade


@given(differentiations, mitoses, necroses)
def test_grade_always_agrees_with_table_6(d, m, n):
    result = fnclcc_grade(d, m, n)
    assert 2 <= result.score <= 8
    assert result.grade == dict(GRADE_TABLE)[result.score]
