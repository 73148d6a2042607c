"""RECIST 1.1 time point and best overall response.

Source: Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in solid
tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45(2):228-247. Section numbers
and tables are the paper's; the rows of Tables 1, 2 and 3 are typed below from the paper, not taken
from the module. Clarifications of the RECIST Working Group (recist.eortc.org, "Questions and
clarifications", cited "RECIST FAQ") are used where the paper is silent. Every numeric case shows
its arithmetic.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from sarcotrial.domain.recist import (
    Assessment,
    Lesion,
    TimepointResponse,
    best_overall_response,
    check_recist_data,
    overall_response,
    parse_recist_document,
    recist_timepoints,
)
from sarcotrial.errors import InvalidValue

BASE = dt.date(2024, 1, 1)


def day(n: int) -> dt.date:
    return BASE + dt.timedelta(days=n)


def sums(lesions, *rows, new=False):
    """Time points for target lesions only; each row maps lesion id -> mm, every 42 days."""
    assessments = [Assessment(day(42 * i), i == 0, row, {}, False if i == 0 else new) for i, row in enumerate(rows)]
    return recist_timepoints(lesions, assessments)


ONE = [Lesion("L1", "target")]
TWO = [Lesion("L1", "target"), Lesion("L2", "target")]


# --- Table 1 (section 4.4.1), rows as printed --------------------------------------------------
ANY_T = ["CR", "PR", "SD", "PD", "NE"]
ANY_NT = ["CR", "NON-CR/NON-PD", "PD", "NE"]
NON_PD_OR_NE = ["CR", "NON-CR/NON-PD", "NE"]
TABLE_1_PAPER = [
    # target, non-target, new lesions, overall
    (["CR"], ["CR"], [False], "CR"),
    (["CR"], ["NON-CR/NON-PD"], [False], "PR"),
    (["CR"], ["NE"], [False], "PR"),                      # non-target "not evaluated"
    (["PR"], NON_PD_OR_NE, [False], "PR"),                # "non-PD or not all evaluated"
    (["SD"], NON_PD_OR_NE, [False], "SD"),
    (["NE"], ["CR", "NON-CR/NON-PD"], [False], "NE"),     # target "not all evaluated", non-target "non-PD"
    (["PD"], ANY_NT, [True, False], "PD"),
    (ANY_T, ["PD"], [True, False], "PD"),
    (ANY_T, ANY_NT, [True], "PD"),
]


@pytest.mark.parametrize("targets, non_targets, news, expected", TABLE_1_PAPER,
                         ids=[f"row{i + 1}" for i in range(len(TABLE_1_PAPER))])
def test_table_1_each_row(targets, non_targets, news, expected):
    """Eisenhauer 2009, Table 1: time point response with target (+/- non-target) disease."""
    for t, nt, new in itertools.product(targets, non_targets, news):
        assert overall_response(t, nt, new) == expected, (t, nt, new)


def test_table_1_covers_every_combination():
    """Every target x non-target x new-lesion combination has an answer; the one the printed table
    leaves out (target NE, non-target NE, no new lesion) is NE: nothing was fully evaluated."""
    for t, nt, new in itertools.product(ANY_T, ANY_NT, [True, False]):
        overall_response(t, nt, new)
    assert overall_response("NE", "NE", False) == "NE"


TABLE_2_PAPER = [
    (["CR"], [False], "CR"),
    (["NON-CR/NON-PD"], [False], "NON-CR/NON-PD"),
    (["NE"], [False], "NE"),                               # "not all evaluated"
    (["PD"], [True, False], "PD"),                         # "unequivocal PD"
    (ANY_NT, [True], "PD"),
]


@pytest.mark.parametrize("non_targets, news, expected", TABLE_2_PAPER,
                         ids=[f"row{i + 1}" for i in range(len(TABLE_2_PAPER))])
def test_table_2_each_row(non_targets, news, expected):
    """Eisenhauer 2009, Table 2: time point response with non-target disease only."""
    for nt, new in itertools.product(non_targets, news):
        assert overall_response(None, nt, new) == expected, (nt, new)


def test_equivocal_and_unassessed_new_lesions():
    """Section 4.3.5: an equivocal new lesion is not PD at that time point (read as "no"). New lesions
    not assessed: the assessment is incomplete, NE (section 4.4.2), unless PD on other grounds."""
    assert overall_response("PR", "NON-CR/NON-PD", "equivocal") == "PR"
    assert overall_response(None, "CR", "equivocal") == "CR"
    assert overall_response("PR", "CR", None) == "NE"
    assert overall_response("PD", "CR", None) == "PD"
    assert overall_response("SD", "PD", None) == "PD"


def test_no_non_target_disease_reads_as_non_target_cr():
    """With target lesions only, all of them gone is CR (Table 1 row 1 with nothing non-target)."""
    assert overall_response("CR", None, False) == "CR"
    assert overall_response("PR", None, False) == "PR"


# --- Table 1 rows from lesion data ------------------------------------------------------------
MIXED = [Lesion("L1", "target", organ="lung"), Lesion("X1", "non-target"), Lesion("X2", "non-target")]


def mixed(l1, x1, x2, new=False):
    base = Assessment(day(0), True, {"L1": 40}, {"X1": "present", "X2": "present"})
    follow = Assessment(day(42), False, {"L1": l1}, {"X1": x1, "X2": x2}, new)
    return recist_timepoints(MIXED, [base, follow])[1]


@pytest.mark.parametrize("l1, x1, x2, new, target, non_target, overall", [
    (0, "absent", "absent", False, "CR", "CR", "CR"),                      # row 1
    (0, "absent", "present", False, "CR", "NON-CR/NON-PD", "PR"),          # row 2
    (0, "absent", None, False, "CR", "NE", "PR"),                          # row 3: a non-target not evaluated
    (28, "present", None, False, "PR", "NE", "PR"),                        # row 4: 40 -> 28 = -30 %
    (30, "present", "present", False, "SD", "NON-CR/NON-PD", "SD"),        # row 5: 40 -> 30 = -25 %
    (None, "present", "present", False, "NE", "NON-CR/NON-PD", "NE"),      # row 6
    (48, "present", "present", False, "PD", "NON-CR/NON-PD", "PD"),        # row 7: +8 mm = +20 %
    (20, "unequivocal-progression", "present", False, "PR", "PD", "PD"),   # row 8
    (20, "present", "present", True, "PR", "NON-CR/NON-PD", "PD"),         # row 9
])
def test_table_1_rows_from_measurements(l1, x1, x2, new, target, non_target, overall):
    """Each row of Table 1 reached from lesion data (sections 4.3.1, 4.3.3, 4.3.5)."""
    tp = mixed(l1, x1, x2, new)
    assert (tp.target, tp.non_target, tp.overall) == (target, non_target, overall)


@pytest.mark.parametrize("x1, new, overall", [
    ("absent", False, "CR"), ("present", False, "NON-CR/NON-PD"), (None, False, "NE"),
    ("unequivocal-progression", False, "PD"), ("present", True, "PD"),
])
def test_table_2_rows_from_statuses(x1, new, overall):
    lesions = [Lesion("X1", "non-target")]
    tps = recist_timepoints(lesions, [Assessment(day(0), True, {}, {"X1": "present"}),
                                      Assessment(day(42), False, {}, {"X1": x1}, new)])
    assert tps[1].target is None and tps[1].sum_mm is None and tps[1].overall == overall


# --- target response arithmetic (section 4.3.1) -------------------------------------------------
def test_partial_response_is_a_30_percent_decrease_from_baseline():
    """Baseline 100 mm -> 70 mm: (70 - 100) / 100 = -30 % -> PR; 71 mm: -29 % -> SD."""
    assert [tp.target for tp in sums(ONE, {"L1": 100}, {"L1": 70})][1] == "PR"
    assert [tp.target for tp in sums(ONE, {"L1": 100}, {"L1": 71})][1] == "SD"


def test_exact_arithmetic_on_decimal_sizes():
    """33.3 + 36.7 = 70.0 mm against a baseline of 50.1 + 49.9 = 100.0 mm: exactly -30 % -> PR."""
    tps = sums(TWO, {"L1": 50.1, "L2": 49.9}, {"L1": 33.3, "L2": 36.7})
    assert tps[0].sum_mm == 100 and tps[1].sum_mm == 70 and tps[1].target == "PR"


def test_progression_is_20_percent_and_5_mm_over_the_nadir():
    """Baseline 80, nadir 50 (-37.5 %, PR); 60 mm: (60 - 50) / 50 = +20 % and +10 mm -> PD.
    59 mm: +18 % -> not PD; 59 <= 0.7 x 80 = 56? no -> SD."""
    assert [tp.target for tp in sums(ONE, {"L1": 80}, {"L1": 50}, {"L1": 60})] == [None, "PR", "PD"]
    assert [tp.target for tp in sums(ONE, {"L1": 80}, {"L1": 50}, {"L1": 59})] == [None, "PR", "SD"]


def test_twenty_percent_without_5_mm_is_not_progression():
    """Baseline 10 + 10 = 20 mm; nadir 5 + 5 = 10 mm (-50 %, PR). 6 + 6 = 12 mm: +20 % but only +2 mm -> not PD
    (12 <= 0.7 x 20 = 14 -> still PR). 7.5 + 7.5 = 15 mm: +50 % and +5 mm -> PD."""
    tps = sums(TWO, {"L1": 10, "L2": 10}, {"L1": 5, "L2": 5}, {"L1": 6, "L2": 6}, {"L1": 7.5, "L2": 7.5})
    assert [tp.sum_mm for tp in tps] == [20, 10, 12, 15]
    assert [tp.target for tp in tps] == [None, "PR", "PR", "PD"]


def test_nadir_includes_the_baseline():
    """Section 4.3.1: "this includes the baseline sum if that is the smallest on study". Baseline 50;
    52 (+4 %, SD); 60: +20 % and +10 mm over the baseline 50 -> PD."""
    assert [tp.target for tp in sums(ONE, {"L1": 50}, {"L1": 52}, {"L1": 60})] == [None, "SD", "PD"]


def test_stable_disease_after_a_response_is_measured_from_the_nadir():
    """RECIST FAQ "The definition of SD": 165 mm at baseline, 63 mm at week 8, 65 mm at week 16 is still
    a partial response (65 - 63 = +2 mm, not PD; 65 <= 0.7 x 165 = 115.5)."""
    assert [tp.target for tp in sums(ONE, {"L1": 165}, {"L1": 63}, {"L1": 65})] == [None, "PR", "PR"]


def test_complete_response_with_nodes_keeps_a_sum_above_zero():
    """Sections 4.3.1-4.3.2 and 4.4.4: CR when non-nodal targets have gone and target nodes are
    < 10 mm short axis; the nodes stay in the sum: 0 + 8 = 8 mm at CR. A node at 10 mm is not CR."""
    lesions = [Lesion("L1", "target"), Lesion("N1", "target", node=True)]
    tps = sums(lesions, {"L1": 30, "N1": 20}, {"L1": 0, "N1": 8})
    assert tps[1].sum_mm == 8 and tps[1].target == "CR" and tps[1].overall == "CR"
    tps = sums(lesions, {"L1": 30, "N1": 20}, {"L1": 0, "N1": 10})
    assert tps[1].target == "PR"  # 10 / 50 = -80 %


def test_nodes_growing_below_10_mm_stay_complete_response():
    """RECIST FAQ "Abnormal lymph node": a node < 10 mm is normal; it has reappeared only at >= 10 mm.
    Nodes 20 + 20 mm -> 5 + 5 (CR) -> 9 + 9 = 18 mm (+80 %, +8 mm by the sum, but both nodes normal) -> CR;
    then one node 10 mm after CR -> PD."""
    nodes = [Lesion("N1", "target", node=True), Lesion("N2", "target", node=True, organ="neck")]
    rows = [{"N1": 20, "N2": 20}, {"N1": 5, "N2": 5}, {"N1": 9, "N2": 9}, {"N1": 10, "N2": 9}]
    tps = sums(nodes, *rows)
    assert [tp.target for tp in tps] == [None, "CR", "CR", "PD"]


def test_reappearance_after_complete_response_is_progression():
    """Table 3 footnote a; RECIST FAQ "Does a new lesion always result in PD?": after CR the
    reappearance of a lesion is PD. 20 mm -> 0 (CR) -> 3 mm: by the sum only +3 mm (< 5 mm), yet PD."""
    tps = sums(ONE, {"L1": 20}, {"L1": 0}, {"L1": 3})
    assert [tp.overall for tp in tps] == [None, "CR", "PD"]
    assert "reappeared" in tps[2].note


def test_non_target_reappearing_after_complete_response_is_progression():
    """Table 3 footnote a: a non-nodal non-target lesion present again after an overall CR is PD; a
    non-target node needs unequivocal progression (RECIST FAQ "Abnormal lymph node")."""
    lesions = [Lesion("L1", "target"), Lesion("X1", "non-target"), Lesion("XN", "non-target", node=True)]

    def run(x1, xn):
        rows = [({"L1": 20}, {"X1": "present", "XN": "present"}), ({"L1": 0}, {"X1": "absent", "XN": "absent"}),
                ({"L1": 0}, {"X1": x1, "XN": xn})]
        return recist_timepoints(lesions, [Assessment(day(42 * i), i == 0, m, nt) for i, (m, nt) in enumerate(rows)])

    assert [tp.overall for tp in run("present", "absent")] == [None, "CR", "PD"]
    assert [tp.overall for tp in run("absent", "present")] == [None, "CR", "PR"]  # Table 1 row 2
    assert [tp.overall for tp in run("absent", "unequivocal-progression")] == [None, "CR", "PD"]


def test_too_small_to_measure_counts_5_mm():
    """Section 4.3.2: a lesion present but too small to measure counts 5 mm; gone counts 0.
    30 + 20 = 50 -> TS + 20 = 25 mm (-50 %, PR, not CR: the lesion is present); 0 + 0 -> CR."""
    tps = sums(TWO, {"L1": 30, "L2": 20}, {"L1": "TS", "L2": 20}, {"L1": 0, "L2": 0})
    assert [tp.sum_mm for tp in tps] == [50, 25, 0]
    assert [tp.target for tp in tps] == [None, "PR", "CR"]


def test_a_target_not_assessed_is_not_evaluable_unless_already_progression():
    """Section 4.4.2: "a baseline sum of 50 mm with three measured lesions and at follow-up only two
    lesions were assessed, but those gave a sum of 80 mm, the patient will have achieved PD status".
    Two lesions 15 + 15 = 30 mm with the third missing: NE."""
    three = [Lesion("L1", "target", organ="lung"), Lesion("L2", "target", organ="liver"), Lesion("L3", "target")]
    base = {"L1": 20, "L2": 20, "L3": 10}
    tps = sums(three, base, {"L1": 40, "L2": 40, "L3": None})
    assert tps[0].sum_mm == 50 and tps[1].target == "PD" and tps[1].sum_mm is None and tps[1].overall == "PD"
    tps = sums(three, base, {"L1": 15, "L2": 15})  # L3 missing altogether: not assessed
    assert tps[1].target == "NE" and tps[1].overall == "NE" and "L3" in tps[1].note


def test_equivocal_new_lesion_confirmed_later_dates_progression_back():
    """Section 4.3.5: "If repeat scans confirm there is definitely a new lesion, then progression should
    be declared using the date of the initial scan." SD (equivocal) at day 84, definite at day 126: PD from
    day 84. An equivocal finding that resolves stays what it was."""
    lesions = [Lesion("L1", "target")]
    rows = [(40, False), (36, False), (36, "equivocal"), (36, True)]
    assessments = [Assessment(day(42 * i), i == 0, {"L1": mm}, {}, new) for i, (mm, new) in enumerate(rows)]
    tps = recist_timepoints(lesions, assessments)
    assert [tp.overall for tp in tps] == [None, "SD", "PD", "PD"]
    best = best_overall_response(tps, confirmation=False, sd_min_days=42)
    assert (best.response, best.date) == ("SD", day(42))
    best = best_overall_response(tps, confirmation=False, sd_min_days=60)
    assert (best.response, best.date) == ("PD", day(84))  # not day 126
    rows = [(40, False), (36, "equivocal"), (36, False), (36, True)]
    assessments = [Assessment(day(42 * i), i == 0, {"L1": mm}, {}, new) for i, (mm, new) in enumerate(rows)]
    assert [tp.overall for tp in recist_timepoints(lesions, assessments)] == [None, "SD", "SD", "PD"]


# --- baseline rules (section 3.1, 4.2) ----------------------------------------------------------
@pytest.mark.parametrize("node, mm, ok", [(False, 10, True), (False, 9.9, False),
                                          (True, 15, True), (True, 14.9, False)])
def test_measurable_at_baseline(node, mm, ok):
    """Section 3.1.1: a measurable lesion is >= 10 mm; a pathological node >= 15 mm in short axis."""
    lesions = [Lesion("L1", "target", node=node)]
    assessments = [Assessment(day(0), True, {"L1": mm})]
    if ok:
        check_recist_data(lesions, assessments)
    else:
        with pytest.raises(InvalidValue) as err:
            check_recist_data(lesions, assessments)
        assert err.value.field == "assessments[0].measurements.L1"


def test_five_target_lesions_two_per_organ():
    """Section 4.2: "a maximum of five lesions total (and a maximum of two lesions per organ)"; RECIST FAQ
    "Two target lesions": lymph nodes are one organ."""
    base = Assessment(day(0), True, {f"L{i}": 20 for i in range(6)})
    five = [Lesion(f"L{i}", "target", organ=f"organ{i}") for i in range(5)]
    check_recist_data(five, [Assessment(day(0), True, {f"L{i}": 20 for i in range(5)})])
    with pytest.raises(InvalidValue, match="at most 5 target lesions"):
        check_recist_data(five + [Lesion("L5", "target")], [base])
    lungs = [Lesion(f"L{i}", "target", organ="Lung") for i in range(3)]
    with pytest.raises(InvalidValue, match="at most 2 target lesions per organ") as err:
        check_recist_data(lungs, [base])
    assert err.value.field == "lesions.L2.organ"
    nodes = [Lesion(f"L{i}", "target", node=True, organ=f"chain{i}") for i in range(3)]
    with pytest.raises(InvalidValue, match="lymph nodes count as one organ"):
        check_recist_data(nodes, [base])


# --- best overall response without confirmation (section 4.4.3) ----------------------------------
def tps_of(*overalls, target=True, start=42, step=42):
    """Baseline at day 0, then one time point every ``step`` days from ``start``."""
    out = [TimepointResponse(day(0), True, None, None, None, False, None)]
    for i, overall in enumerate(overalls):
        out.append(TimepointResponse(day(start + step * i), False, None, overall if target else None,
                                     None if target else overall, False, overall))
    return out


def test_best_response_without_confirmation_paper_examples():
    """Section 4.4.3: "a patient who has SD at first assessment, PR at second assessment, and PD on last
    assessment has a best overall response of PR"; "SD at first assessment, PD at second and does not meet
    minimum duration for SD, will have a best response of PD"; "The same patient lost to follow-up after the
    first SD assessment would be considered inevaluable"."""
    best = best_overall_response(tps_of("SD", "PR", "PD"), confirmation=False, sd_min_days=42)
    assert (best.response, best.date, best.confirmed) == ("PR", day(84), False)
    best = best_overall_response(tps_of("SD", "PD", start=35), confirmation=False, sd_min_days=42)
    assert (best.response, best.date) == ("PD", day(77))
    best = best_overall_response(tps_of("SD", start=35), confirmation=False, sd_min_days=42)
    assert (best.response, best.date, best.confirmed) == ("NE", None, None)
    best = best_overall_response(tps_of("SD", start=42), confirmation=False, sd_min_days=42)
    assert (best.response, best.date) == ("SD", day(42))


def test_sd_minimum_counts_from_the_origin_given():
    """Section 4.6.1: the minimum interval for SD is defined in the protocol (from study entry)."""
    tps = tps_of("SD", start=42)
    assert best_overall_response(tps, confirmation=False, sd_min_days=42, origin_date=day(7)).response == "NE"
    assert best_overall_response(tps, confirmation=False, sd_min_days=35, origin_date=day(7)).response == "SD"


def test_responses_after_progression_do_not_count():
    """Section 4.4.3: the best response is recorded until progression."""
    assert best_overall_response(tps_of("PD", "PR", "PR"), confirmation=False, sd_min_days=42).response == "PD"


def test_non_target_disease_only_is_non_cr_non_pd():
    """Table 2 note a: "Non-CR/non-PD" is preferred over "stable disease" for non-target disease."""
    best = best_overall_response(tps_of("NON-CR/NON-PD", target=False), confirmation=False, sd_min_days=42)
    assert best.response == "NON-CR/NON-PD"
    best = best_overall_response(tps_of("CR", "CR", target=False), confirmation=True, sd_min_days=42)
    assert (best.response, best.confirmed) == ("CR", True)


# --- Table 3: best overall response when confirmation is required -------------------------------
TABLE_3_PAPER = [
    # first, subsequent, best if the SD minimum is met, best otherwise
    ("CR", "CR", "CR", "CR"),
    ("CR", "PR", "PR", "PR"),   # paper: "SD, PD or PR" (footnote a); see the test below
    ("CR", "SD", "SD", "PD"),
    ("CR", "PD", "SD", "PD"),
    ("CR", "NE", "SD", "NE"),
    ("PR", "CR", "PR", "PR"),
    ("PR", "PR", "PR", "PR"),
    ("PR", "SD", "SD", None),   # paper: "SD" (the SD minimum is then met)
    ("PR", "PD", "SD", "PD"),
    ("PR", "NE", "SD", "NE"),
    ("NE", "NE", "NE", "NE"),
]


@pytest.mark.parametrize("first, second, met, not_met", TABLE_3_PAPER,
                         ids=[f"{a}-{b}" for a, b, _, _ in TABLE_3_PAPER])
def test_table_3_each_row(first, second, met, not_met):
    """Eisenhauer 2009, Table 3. Time points at day 42 and day 84 (42 >= 28 days apart). "SD provided
    minimum criteria for SD duration met, otherwise, X": met with a 42-day minimum (day 42 >= 42), not
    met with a 90-day minimum (neither day 42 nor day 84)."""
    tps = tps_of(first, second)
    assert best_overall_response(tps, confirmation=True, sd_min_days=42).response == met
    if not_met is not None:
        assert best_overall_response(tps, confirmation=True, sd_min_days=90).response == not_met


def test_table_3_cr_then_pr():
    """Table 3, CR then PR: "SD, PD or PR". Footnote a: if CR was truly met, disease seen later is PD;
    "sometimes 'CR' may be claimed when subsequent scans suggest small lesions were likely still present
    and in fact the patient had PR, not CR at the first time point. Under these circumstances, the original
    CR should be changed to PR and the best response is PR." A time point after a true CR cannot be PR
    (reappearance is PD, see test_reappearance_after_complete_response_is_progression), so a CR followed
    by a PR is read as the second case: a confirmed PR dated at the first time point."""
    best = best_overall_response(tps_of("CR", "PR"), confirmation=True, sd_min_days=42)
    assert best.response in {"SD", "PD", "PR"}
    assert (best.response, best.date, best.confirmed) == ("PR", day(42), True)


def test_confirmation_needs_the_minimum_interval():
    """Section 4.4.3: confirmation "at a subsequent time point as specified in the protocol (generally
    4 weeks later)". PR at day 42, PR at day 56 (14 days): not confirmed, SD; PR again at day 70 (28 days
    after day 42): confirmed."""
    tps = tps_of("PR", "PR", step=14)
    best = best_overall_response(tps, confirmation=True, sd_min_days=42)
    assert (best.response, best.date, best.confirmed) == ("SD", day(42), None)
    tps = tps_of("PR", "PR", "PR", step=14)
    best = best_overall_response(tps, confirmation=True, sd_min_days=42)
    assert (best.response, best.date, best.confirmed) == ("PR", day(42), True)
    assert best_overall_response(tps_of("PR", "PR", step=14), confirmation=True, sd_min_days=42,
                                 confirmation_min_days=14).response == "PR"


def test_a_not_evaluable_scan_between_does_not_break_confirmation():
    """CR at day 42, NE at day 63, CR at day 84: the CR is met again at a later time point 42 days after
    it (section 4.4.3). An SD between a PR and its confirmation breaks it (Table 3, PR then SD: SD)."""
    tps = tps_of("CR", "NE", "CR", step=21)
    assert best_overall_response(tps, confirmation=True, sd_min_days=42).response == "CR"
    tps = tps_of("PR", "SD", "PR", step=21)
    assert best_overall_response(tps, confirmation=True, sd_min_days=42).response == "SD"


def test_unconfirmed_and_confirmed_best_response_of_one_patient():
    """A randomised trial reports both (section 4.6.1): PR at day 42 then PD at day 84 is a best response
    of PR without confirmation (confirmed: no) and SD with it (Table 3, PR then PD, SD minimum 42 days met)."""
    tps = tps_of("PR", "PD")
    unconfirmed = best_overall_response(tps, confirmation=False, sd_min_days=42)
    confirmed = best_overall_response(tps, confirmation=True, sd_min_days=42)
    assert unconfirmed.as_dict() == {"response": "PR", "date": "2024-02-12", "confirmed": False}
    assert confirmed.as_dict() == {"response": "SD", "date": "2024-02-12", "confirmed": None}


def test_parameters_are_checked():
    with pytest.raises(InvalidValue) as err:
        best_overall_response(tps_of("PR"), confirmation=True, sd_min_days=-1)
    assert err.value.field == "sd_min_days"
    with pytest.raises(InvalidValue) as err:
        best_overall_response(tps_of("XX"), confirmation=True, sd_min_days=42)
    assert err.value.field == "timepoints[0].overall"
    with pytest.raises(InvalidValue) as err:
        best_overall_response(tps_of("PR")[1:], confirmation=True, sd_min_days=42)
    assert err.value.field == "origin_date"


# --- the document --------------------------------------------------------------------------------
def document(**changes):
    doc = {
        "lesions": {"L1": {"kind": "target", "node": False, "organ": "lung"}, "N1": {"kind": "target", "node": True},
                    "X1": {"kind": "non-target"}},
        "assessments": [
            {"date": "2024-01-01", "baseline": True, "measurements": {"L1": 42, "N1": {"mm": 18, "axis": "short"}},
             "non_target": {"X1": "present"}, "new_lesions": False},
            {"date": "2024-02-12", "measurements": {"L1": 20, "N1": 12}, "non_target": {"X1": "present"},
             "new_lesions": False},
        ],
    }
    for path, value in changes.items():
        *head, last = path.split("__")
        target = doc
        for key in head:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return doc


_DELETE = object()


def test_document_parses_to_the_dataclasses():
    """Baseline 42 + 18 = 60 mm; 20 + 12 = 32 mm: (32 - 60) / 60 = -46.7 % -> PR."""
    lesions, assessments = parse_recist_document(document())
    assert lesions[1] == Lesion("N1", "target", True, None)
    assert assessments[0].measurements == {"L1": 42, "N1": 18} and assessments[1].baseline is False
    tps = recist_timepoints(lesions, assessments)
    assert [(tp.sum_mm, tp.target, tp.non_target, tp.overall) for tp in tps] == [
        (60, None, None, None), (32, "PR", "NON-CR/NON-PD", "PR")]


@pytest.mark.parametrize("changes, field, rule", [
    ({"assessments__1__measurements__N1": {"mm": 12, "axis": "long"}}, "assessments[1].measurements.N1",
     "short axis"),
    ({"assessments__1__measurements__L1": {"mm": 12, "axis": "short"}}, "assessments[1].measurements.L1",
     "longest diameter"),
    ({"assessments__1__measurements__L9": 12}, "assessments[1].measurements.L9", "not a declared lesion"),
    ({"assessments__1__measurements__X1": 12}, "assessments[1].measurements.X1", "non-target"),
    ({"assessments__1__non_target__L1": "present"}, "assessments[1].non_target.L1", "target lesion"),
    ({"assessments__1__non_target__X1": "gone"}, "assessments[1].non_target.X1", "must be one of"),
    ({"assessments__1__measurements__L1": -3}, "assessments[1].measurements.L1", "must be a size"),
    ({"assessments__1__measurements__L1": "12"}, "assessments[1].measurements.L1", "must be a size"),
    ({"assessments__1__measurements__L1": True}, "assessments[1].measurements.L1", "must be a size"),
    ({"assessments__1__new_lesions": "maybe"}, "assessments[1].new_lesions", "equivocal"),
    ({"assessments__1__new_lesions": 1}, "assessments[1].new_lesions", "equivocal"),
    ({"assessments__1__date": "2023-12-01"}, "assessments[1].date", "later than"),
    ({"assessments__1__date": "12/02/2024"}, "assessments[1].date", "YYYY-MM-DD"),
    ({"assessments__0__baseline": False}, "assessments[0].baseline", "baseline"),
    ({"assessments__1__baseline": True}, "assessments[1].baseline", "baseline"),
    ({"assessments__0__measurements__L1": "TS"}, "assessments[0].measurements.L1", "measured at baseline"),
    ({"assessments__0__measurements__L1": 8}, "assessments[0].measurements.L1", ">= 10 mm"),
    ({"assessments__0__measurements__N1": 12}, "assessments[0].measurements.N1", ">= 15 mm"),
    ({"assessments__0__non_target__X1": "absent"}, "assessments[0].non_target.X1", "present"),
    ({"assessments__0__new_lesions": True}, "assessments[0].new_lesions", "no new lesions at baseline"),
    ({"assessments__1__new_lesion": False}, "assessments[1].new_lesion", "unknown key"),
    ({"lesions__L1__kind": "main"}, "lesions.L1.kind", "'target' or 'non-target'"),
    ({"lesions__L1__node": "no"}, "lesions.L1.node", "true or false"),
    ({"lesions__L1": [1]}, "lesions.L1", "JSON object"),
    ({"lesions": {}}, "lesions", "at least one"),
    ({"assessments": []}, "assessments", "baseline first"),
    ({"lesions": _DELETE}, "lesions", "declare its lesions"),
])
def test_bad_documents_are_refused_naming_field_and_rule(changes, field, rule):
    with pytest.raises(InvalidValue) as err:
        parse_recist_document(document(**changes))
    assert err.value.field == field and rule in err.value.rule, (err.value.field, err.value.rule)


def test_a_document_must_be_an_object():
    with pytest.raises(InvalidValue) as err:
        parse_recist_document([1, 2])
    assert err.value.field == "document"


def test_null_and_missing_mean_not_assessed():
    """A null or omitted measurement, status or new-lesion answer is "not assessed" (section 4.4.2: NE)."""
    lesions, assessments = parse_recist_document(document(assessments__1__measurements__L1=None))
    assert recist_timepoints(lesions, assessments)[1].overall == "NE"
    lesions, assessments = parse_recist_document(document(assessments__1__new_lesions=_DELETE))
    tp = recist_timepoints(lesions, assessments)[1]
    assert tp.target == "PR" and tp.overall == "NE" and "new lesions not assessed" in tp.note
