"""AJCC 8th edition T categories and stage groups of soft tissue sarcoma, against the published tables.

Sources: AJCC Cancer Staging Manual 8th ed. (2017): ch. 40 head and neck (O'Sullivan et al.,
pp. 499-505), ch. 41 trunk and extremities (Yoon et al., pp. 507-515), ch. 42 abdomen and thoracic
visceral organs (Raut et al., pp. 517-521), ch. 44 retroperitoneum (Pollock et al., pp. 531-537);
as reproduced in NCI PDQ "Soft Tissue Sarcoma Treatment (PDQ) - Health Professional Version",
Table 1 (T), Table 2 (N), Table 3 (M), Table 7 (prognostic stage groups).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarcotrial.domain.grading import fnclcc_grade
from sarcotrial.domain.staging import ALLOWED_T, Ajcc8Stage, ajcc8_stage, ajcc8_t
from sarcotrial.errors import InvalidValue

SIZE_SITES = ["extremity", "trunk", "retroperitoneum"]

# NCI PDQ Table 1, column "Trunk, Extremities, and Retroperitoneum" (AJCC 8 ch. 41 and 44):
# T1 <= 5 cm; T2 > 5 and <= 10 cm; T3 > 10 and <= 15 cm; T4 > 15 cm. Rows: (size cm, T).
TRUNK_EXTREMITY_RETRO_T = [
    (0.1, "T1"),
    (5.0, "T1"),
    (5.01, "T2"),
    (10.0, "T2"),
    (10.01, "T3"),
    (15.0, "T3"),
    (15.01, "T4"),
    (40, "T4"),
]

# NCI PDQ Table 1, column "Head and Neck" (AJCC 8 ch. 40): T1 <= 2 cm; T2 > 2 to <= 4 cm; T3 > 4 cm.
HEAD_NECK_T = [
    (0.5, "T1"),
    (2.0, "T1"),
    (2.01, "T2"),
    (4.0, "T2"),
    (4.01, "T3"),
    (20, "T3"),
]

# NCI PDQ Table 1, column "Abdomen and Thoracic Visceral Organs" (AJCC 8 ch. 42): TX; T1 organ
# confined; T2 extension beyond organ (T2a serosa or visceral peritoneum, T2b beyond serosa,
# mesentery); T3 invades another organ; T4 multifocal (T4a 2 sites, T4b 3-5, T4c > 5).
VISCERAL_T = ["TX", "T1", "T2", "T2a", "T2b", "T3", "T4", "T4a", "T4b", "T4c"]


@pytest.mark.parametrize("site", SIZE_SITES)
@pytest.mark.parametrize(("size", "t"), TRUNK_EXTREMITY_RETRO_T)
def test_trunk_extremity_retroperitoneum_t_by_size(site, size, t):
    assert ajcc8_t(site, size) == t


@pytest.mark.parametrize(("size", "t"), HEAD_NECK_T)
def test_head_neck_t_by_size(size, t):
    assert ajcc8_t("head-neck", size) == t


@pytest.mark.parametrize("site", SIZE_SITES + ["head-neck"])
def test_unknown_size_is_tx(site):
    assert ajcc8_t(site, None) == "TX"


@pytest.mark.parametrize("t", ["T4", "T4a", "T4b"])
@pytest.mark.parametrize("size", [1.0, 3.0, 8.0, None])
def test_head_neck_invasion_categories_override_size(t, size):
    # AJCC 8 ch. 40: T4 "tumor with invasion of adjoining structures", T4a/T4b by structure invaded.
    assert ajcc8_t("head-neck", size, t) == t


@pytest.mark.parametrize("t", VISCERAL_T)
def test_visceral_t_is_given_explicitly(t):
    assert ajcc8_t("visceral", None, t) == t
    assert ajcc8_t("visceral", 12.0, t) == t  # size does not set visceral T


def test_visceral_without_t_is_refused():
    with pytest.raises(InvalidValue) as info:
        ajcc8_t("visceral", 6.0)
    assert info.value.field == "t"


@pytest.mark.parametrize(("size", "t"), [(4.0, "T1"), (5.0, "t1"), (7.5, "T2"), (20.0, "T4")])
def test_explicit_t_agreeing_with_size_is_accepted(size, t):
    assert ajcc8_t("extremity", size, t) == t.upper()


@pytest.mark.parametrize(
    ("site", "size", "t"),
    [
        ("extremity", 5.01, "T1"),
        ("trunk", 5.0, "T2"),
        ("retroperitoneum", 16.0, "T3"),
        ("extremity", 3.0, "TX"),
        ("extremity", 3.0, "T0"),
        ("head-neck", 2.01, "T1"),
        ("head-neck", 4.01, "T2"),
    ],
)
def test_explicit_t_contradicting_size_is_refused(site, size, t):
    with pytest.raises(InvalidValue) as info:
        ajcc8_t(site, size, t)
    assert info.value.field == "t"


@pytest.mark.parametrize(
    ("site", "t"),
    [
        ("extremity", "T4a"),     # trunk/extremity T4 is size only
        ("retroperitoneum", "T4b"),
        ("trunk", "T2a"),
        ("head-neck", "T0"),      # no T0 in the head and neck chapter
        ("head-neck", "T4c"),
        ("visceral", "T0"),
        ("extremity", "T5"),
        ("extremity", "pT2"),
        ("extremity", ""),
    ],
)
def test_t_not_defined_for_site_is_refused(site, t):
    with pytest.raises(InvalidValue) as info:
        ajcc8_t(site, None, t)
    assert info.value.field == "t"


def test_explicit_t_with_unknown_size_is_kept():
    assert ajcc8_t("extremity", None, "T3") == "T3"
    assert ajcc8_t("trunk", None, "T0") == "T0"


@pytest.mark.parametrize("bad", [0, 0.0, -1, float("nan"), float("inf"), "5", True])
def test_bad_size_is_refused(bad):
    with pytest.raises(InvalidValue) as info:
        ajcc8_t("extremity", bad)
    assert info.value.field == "size_cm"


def test_unknown_site_is_refused():
    with pytest.raises(InvalidValue) as info:
        ajcc8_t("bone", 3.0)
    assert info.value.field == "site"


def test_allowed_t_matches_the_chapters():
    assert ALLOWED_T["extremity"] == ("TX", "T0", "T1", "T2", "T3", "T4")
    assert ALLOWED_T["head-neck"] == ("TX", "T1", "T2", "T3", "T4", "T4a", "T4b")
    assert ALLOWED_T["visceral"] == tuple(VISCERAL_T)


# --- stage groups -----------------------------------------------------------------------------

# NCI PDQ Table 7 / AJCC 8 ch. 41 prognostic stage groups, trunk and extremities.
# Rows: (T, N, M, grade, stage). Every group and every T/G value it lists.
TRUNK_EXTREMITY_GROUPS = [
    ("T1", "N0", "M0", 1, "IA"),
    ("T1", "N0", "M0", "X", "IA"),
    ("T2", "N0", "M0", 1, "IB"),
    ("T3", "N0", "M0", 1, "IB"),
    ("T4", "N0", "M0", 1, "IB"),
    ("T2", "N0", "M0", "X", "IB"),
    ("T3", "N0", "M0", "X", "IB"),
    ("T4", "N0", "M0", "X", "IB"),
    ("T1", "N0", "M0", 2, "II"),
    ("T1", "N0", "M0", 3, "II"),
    ("T2", "N0", "M0", 2, "IIIA"),
    ("T2", "N0", "M0", 3, "IIIA"),
    ("T3", "N0", "M0", 2, "IIIB"),
    ("T3", "N0", "M0", 3, "IIIB"),
    ("T4", "N0", "M0", 2, "IIIB"),
    ("T4", "N0", "M0", 3, "IIIB"),
    # any T N1 M0 any G: IV (trunk and extremities)
    ("T1", "N1", "M0", 1, "IV"),
    ("T2", "N1", "M0", "X", "IV"),
    ("T3", "N1", "M0", 2, "IV"),
    ("T4", "N1", "M0", 3, "IV"),
    ("TX", "N1", "M0", 3, "IV"),
    # any T any N M1 any G: IV
    ("T1", "N0", "M1", 1, "IV"),
    ("T2", "N1", "M1", 2, "IV"),
    ("T4", "N0", "M1", "X", "IV"),
    ("TX", "N0", "M1", 3, "IV"),
]

# NCI PDQ Table 7 footnote b / AJCC 8 ch. 44, retroperitoneum: as above except any T N1 M0 is IIIB.
RETROPERITONEUM_GROUPS = [
    ("T1", "N0", "M0", 1, "IA"),
    ("T1", "N0", "M0", "X", "IA"),
    ("T2", "N0", "M0", 1, "IB"),
    ("T3", "N0", "M0", "X", "IB"),
    ("T4", "N0", "M0", 1, "IB"),
    ("T1", "N0", "M0", 2, "II"),
    ("T1", "N0", "M0", 3, "II"),
    ("T2", "N0", "M0", 2, "IIIA"),
    ("T2", "N0", "M0", 3, "IIIA"),
    ("T3", "N0", "M0", 2, "IIIB"),
    ("T4", "N0", "M0", 3, "IIIB"),
    ("T1", "N1", "M0", 1, "IIIB"),
    ("T2", "N1", "M0", "X", "IIIB"),
    ("T4", "N1", "M0", 3, "IIIB"),
    ("TX", "N1", "M0", 2, "IIIB"),
    ("T1", "N0", "M1", 1, "IV"),
    ("T3", "N1", "M1", 3, "IV"),
]


@pytest.mark.parametrize("site", ["extremity", "trunk"])
@pytest.mark.parametrize(("t", "n", "m", "grade", "stage"), TRUNK_EXTREMITY_GROUPS)
def test_trunk_extremity_stage_groups(site, t, n, m, grade, stage):
    result = ajcc8_stage(site, None, grade, n, m, t=t)
    assert (result.t, result.n, result.m, result.grade, result.stage) == (t, n, m, grade, stage)


@pytest.mark.parametrize(("t", "n", "m", "grade", "stage"), RETROPERITONEUM_GROUPS)
def test_retroperitoneum_stage_groups(t, n, m, grade, stage):
    result = ajcc8_stage("retroperitoneum", None, grade, n, m, t=t)
    assert result.stage == stage


# Stage from size at the T boundaries (Table 1 with Table 7), trunk/extremity, high grade.
@pytest.mark.parametrize(
    ("size", "stage"),
    [(5.0, "II"), (5.01, "IIIA"), (10.0, "IIIA"), (10.01, "IIIB"), (15.0, "IIIB"), (15.01, "IIIB")],
)
def test_stage_from_size_boundaries_high_grade(size, stage):
    assert ajcc8_stage("extremity", size, 3, "N0", "M0").stage == stage


@pytest.mark.parametrize(("size", "stage"), [(5.0, "IA"), (5.01, "IB"), (15.01, "IB")])
def test_stage_from_size_boundaries_low_grade(size, stage):
    assert ajcc8_stage("trunk", size, 1, "N0", "M0").stage == stage


@pytest.mark.parametrize(("t", "n", "m"), [("TX", "N0", "M0"), ("T0", "N0", "M0")])
def test_no_group_for_tx_or_t0_without_spread(t, n, m):
    assert ajcc8_stage("extremity", None, 2, n, m, t=t).stage is None


@pytest.mark.parametrize(
    ("site", "size", "t", "n", "m"),
    [
        ("head-neck", 3.0, None, "N0", "M0"),
        ("head-neck", 1.0, "T4b", "N1", "M1"),
        ("visceral", None, "T2a", "N0", "M0"),
        ("visceral", 8.0, "T4c", "N1", "M1"),
    ],
)
def test_head_neck_and_visceral_have_no_stage_group(site, size, t, n, m):
    # NCI PDQ: "There is no recommended prognostic stage grouping for soft tissue sarcoma of the
    # abdomen, thoracic visceral organs, and head and neck."
    result = ajcc8_stage(site, size, 2, n, m, t=t)
    assert result.stage is None
    assert result.n == n and result.m == m


@pytest.mark.parametrize(
    ("given_grade", "grade"),
    [
        (1, 1), (2, 2), (3, 3), ("X", "X"),
        ("1", 1), ("2", 2), ("3", 3), ("G1", 1), ("g3", 3),
        ("GX", "X"), ("gx", "X"), ("x", "X"), (" 2 ", 2),
    ],
)
def test_grade_is_normalised(given_grade, grade):
    assert ajcc8_stage("extremity", 3.0, given_grade, "N0", "M0").grade == grade


def test_fnclcc_grade_result_is_accepted():
    result = ajcc8_stage("extremity", 12.0, fnclcc_grade(3, 25, 60), "N0", "M0")
    assert (result.grade, result.stage) == (3, "IIIB")
    not_assessable = ajcc8_stage("extremity", 12.0, fnclcc_grade(None, 25, 60), "N0", "M0")
    assert (not_assessable.grade, not_assessable.stage) == ("X", "IB")


@pytest.mark.parametrize("bad", [0, 4, "4", "G4", "high", None, True, 2.0])
def test_bad_grade_is_refused(bad):
    with pytest.raises(InvalidValue) as info:
        ajcc8_stage("extremity", 3.0, bad, "N0", "M0")
    assert info.value.field == "grade"


def test_nx_is_recorded_as_n0_with_a_note():
    # AJCC 8 Table 2 (all three site groups): "N0 No regional lymph node metastasis or unknown lymph
    # node status"; UICC TNM 8 soft tissues: unassessed nodes "could be considered N0 instead of NX".
    result = ajcc8_stage("extremity", 7.0, 3, "NX", "M0")
    assert result.n == "N0"
    assert result.stage == "IIIA"
    assert result.notes and "N0" in result.notes[0]
    assert ajcc8_stage("extremity", 7.0, 3, "N0", "M0").notes == ()


@pytest.mark.parametrize("bad", ["N2", "N", "", None, 0, "pN0x"])
def test_bad_n_is_refused(bad):
    with pytest.raises(InvalidValue) as info:
        ajcc8_stage("extremity", 3.0, 1, bad, "M0")
    assert info.value.field == "n"


@pytest.mark.parametrize("bad", ["MX", "M2", "", None, 1])
def test_bad_m_is_refused(bad):
    # AJCC 8 Table 3 defines only M0 and M1.
    with pytest.raises(InvalidValue) as info:
        ajcc8_stage("extremity", 3.0, 1, "N0", bad)
    assert info.value.field == "m"


def test_lower_case_n_and_m_are_normalised():
    result = ajcc8_stage("trunk", 3.0, 1, "n1", "m0")
    assert (result.n, result.m, result.stage) == ("N1", "M0", "IV")


def test_stage_result_shape():
    result = ajcc8_stage("retroperitoneum", 20.0, "GX", "NX", "M0")
    assert isinstance(result, Ajcc8Stage)
    assert result.as_dict() == {
        "site": "retroperitoneum",
        "t": "T4",
        "n": "N0",
        "m": "M0",
        "grade": "X",
        "stage": "IB",
        "notes": [result.notes[0]],
    }
    with pytest.raises(AttributeError):
        result.stage = "IV"  # type: ignore[misc]


def test_stage_refuses_contradictory_t_with_field_name():
    with pytest.raises(InvalidValue) as info:
        ajcc8_stage("extremity", 12.0, 2, "N0", "M0", t="T2")
    assert info.value.field == "t"


# --- properties -------------------------------------------------------------------------------

T_RANK = {"T1": 1, "T2": 2, "T3": 3, "T4": 4}
sizes = st.floats(min_value=0.01, max_value=100, allow_nan=False, allow_infinity=False)


@given(st.sampled_from(SIZE_SITES + ["head-neck"]), sizes, sizes)
def test_larger_size_never_lowers_t(site, a, b):
    small, large = sorted((a, b))
    assert T_RANK[ajcc8_t(site, small)] <= T_RANK[ajcc8_t(site, large)]


STAGE_RANK = {"IA": 1, "IB": 2, "II": 2, "IIIA": 3, "IIIB": 4, "IV": 5}


@given(st.sampled_from(SIZE_SITES), sizes, sizes, st.sampled_from([1, 2, 3]))
def test_larger_size_never_lowers_stage_at_fixed_grade(site, a, b, grade):
    small, large = sorted((a, b))
    low = ajcc8_stage(site, small, grade, "N0", "M0").stage
    high = ajcc8_stage(site, large, grade, "N0", "M0").stage
    assert STAGE_RANK[low] <= STAGE_RANK[high]
