"""The tumour board's pure rules: the quorum, the vocabularies, the second-opinion outcomes, turnaround
and the revision counts.

Sources: the ESMO-EURACAN-GENTURIS guidelines (Gronchi A, et al. Ann Oncol 2021;32:1348-1365) name the
disciplines of the multidisciplinary team (pathology, radiology, surgery, radiation oncology, medical
oncology); the quorum rule is the unit's (each required discipline present at least once), checked here
against its definition by hand-built cases. FNCLCC grades 1-3: Trojani et al., Int J Cancer 1984.
Turnaround in calendar days: counted by hand on a calendar (30 January 2025 is a Thursday).
"""

from __future__ import annotations

import datetime as dt

import pytest

from sarcotrial.domain import board
from sarcotrial.domain.settings import SETTINGS
from sarcotrial.errors import InvalidValue


def test_the_default_quorum_is_the_five_disciplines_and_the_settings_default():
    assert board.DEFAULT_QUORUM == ("surgeon", "radiation_oncologist", "medical_oncologist", "pathologist",
                                    "radiologist")
    assert SETTINGS["tumour_board_quorum"].default == board.DEFAULT_QUORUM
    assert set(board.DEFAULT_QUORUM) <= set(board.DISCIPLINES)


@pytest.mark.parametrize(("present", "met", "missing"), [
    (["surgeon", "radiation_oncologist", "medical_oncologist", "pathologist", "radiologist"], True, ()),
    # two surgeons do not stand in for the missing radiologist
    (["surgeon", "surgeon", "radiation_oncologist", "medical_oncologist", "pathologist"], False, ("radiologist",)),
    # members beyond the rule neither help nor hinder
    (["surgeon", "radiation_oncologist", "medical_oncologist", "pathologist", "radiologist", "psychologist",
      "physiotherapist"], True, ()),
    ([], False, board.DEFAULT_QUORUM),
    # an interventional radiologist is not the diagnostic radiologist the rule asks for
    (["surgeon", "radiation_oncologist", "medical_oncologist", "pathologist", "interventional_radiologist"], False,
     ("radiologist",)),
])
def test_quorum_each_required_discipline_present_at_least_once(present, met, missing):
    held = board.quorum(present, board.DEFAULT_QUORUM)
    assert held.met is met and held.missing == missing


def test_an_empty_rule_is_always_met_and_the_order_is_the_rules():
    assert board.quorum([], ()).met
    held = board.quorum(["pathologist"], ["surgeon", "pathologist", "surgeon"])
    assert held.required == ("surgeon", "pathologist") and held.missing == ("surgeon",)
    assert held.describe() == "no quorum: missing surgeon"
    assert board.decision_flags(False) == ("taken without quorum",) and board.decision_flags(True) == ()


def test_the_strategies_cover_the_boards_families_of_treatment():
    expected = {"surgery_alone", "preoperative_radiotherapy_surgery", "postoperative_radiotherapy",
                "perioperative_chemotherapy", "chemotherapy", "definitive_radiotherapy", "interventional_radiology",
                "follow_up_only", "further_investigations", "best_supportive_care", "referral_elsewhere",
                "trial_screening", "targeted_therapy"}
    assert expected <= set(board.STRATEGIES)
    # adjuvant imatinib for a GIST is no chemotherapy (Casali et al., Ann Oncol 2022): a strategy of its own
    assert board.strategy("targeted_therapy") == "targeted_therapy" != board.strategy("chemotherapy")
    assert board.strategy("Surgery alone") == "surgery_alone"
    with pytest.raises(InvalidValue, match="strategy: must be one of"):
        board.strategy("wait and pray")
    assert board.discipline("Radiation oncologist") == "radiation_oncologist"
    with pytest.raises(InvalidValue, match="discipline: must be one of"):
        board.discipline("")


def test_signed_values_name_the_case_and_the_decision():
    values = board.decision_signed_values(subject_id="SPR-001", meeting_date=dt.date(2025, 1, 15), question="Q?",
                                          imaging_summary=None, pathology_summary="LMS G2", strategy_id="chemotherapy",
                                          rationale="metastatic", responsible_physician="Dr X", screen_for_study=False)
    assert values["meeting_date"] == "2025-01-15" and values["strategy"] == "chemotherapy"
    assert set(values) == {"subject_id", "meeting_date", "question", "imaging_summary", "pathology_summary",
                           "strategy", "rationale", "responsible_physician", "screen_for_study"}


@pytest.mark.parametrize(("kind", "outcome", "histotype", "grade", "message"), [
    ("pathology", "revised", None, None, "names the revised histotype"),
    ("pathology", "confirmed", "leiomyosarcoma", None, "only a revised diagnosis"),
    ("pathology", "not assessable", None, 2, "only a revised diagnosis"),
    ("pathology", "revised", "leiomyosarcoma", 0, "an FNCLCC grade is 1, 2 or 3"),
    ("imaging", "revised", "leiomyosarcoma", None, "an imaging review gives no histotype"),
    ("imaging", "unclear", None, None, "outcome: must be one of confirmed, revised, not_assessable"),
])
def test_second_opinion_outcomes_refused(kind, outcome, histotype, grade, message):
    with pytest.raises(InvalidValue, match=message):
        board.opinion_outcome(kind, outcome, histotype, grade)


def test_second_opinion_outcomes_accepted():
    assert board.opinion_outcome("pathology", "Revised", "leiomyosarcoma", 3) == "revised"
    assert board.opinion_outcome("pathology", "revised", "leiomyosarcoma", None) == "revised"  # grade not given
    assert board.opinion_outcome("pathology", "not-assessable", None, None) == "not_assessable"
    assert board.opinion_outcome("imaging", "revised", None, None) == "revised"
    assert board.opinion_kind(" Imaging ") == "imaging"


@pytest.mark.parametrize(("received", "reported", "days"), [
    (dt.date(2025, 1, 30), dt.date(2025, 1, 30), 0),
    (dt.date(2025, 1, 30), dt.date(2025, 2, 3), 4),     # Thursday to Monday: 4 calendar days
    (dt.date(2024, 2, 28), dt.date(2024, 3, 1), 2),     # across 29 February of a leap year
    (dt.date(2024, 12, 20), dt.date(2025, 1, 10), 21),  # across the year's end
])
def test_turnaround_in_calendar_days(received, reported, days):
    assert board.turnaround_days(received, reported) == days


def test_a_report_before_the_request_is_refused():
    with pytest.raises(InvalidValue, match="report_date: must not be before the request was received"):
        board.turnaround_days(dt.date(2025, 2, 3), dt.date(2025, 2, 2))


def test_revision_counts_leave_not_assessable_out_of_the_denominator():
    counts = board.revision_counts([("B", "confirmed"), ("a", "revised"), ("a", "confirmed"), ("a", "not_assessable"),
                                    ("a", None), ("C", "not_assessable")])
    assert [(c.centre, c.reviews, c.assessed, c.revised, c.not_assessable) for c in counts] == [
        ("a", 3, 2, 1, 1), ("B", 1, 1, 0, 0), ("C", 1, 0, 0, 1)]
    assert counts[0].rate == 0.5 and counts[2].rate is None
