"""The visit-schedule engine: anchors, offsets, repeats, windows and visit status.

Where the conventions come from:

- SPRINT's visit schedule, in ``src/sarcotrial/protocol/protocols/sprint.yaml`` (``visits:``).
  ``test_sprint_specs_mirror_the_protocol_file`` checks that the specs below still say what the
  file says. The test maps SPRINT's named anchors to form fields as follows: ``rt_start`` is the
  first *delivered* ``rt_fraction.fraction_date``, ``rt_end`` is the last delivered one, and
  ``surgery`` is ``surgery.surgery_date``.
- Month arithmetic clamps to the last day of the month, as ``dateutil.relativedelta`` does
  (31 Jan + 1 month = 28 Feb, or 29 Feb in a leap year). When months and days are both given, the
  months are added first, as in ``relativedelta(months=m, days=d)``. The property tests use
  ``relativedelta`` as the oracle.
- A visit window is the planned day plus or minus a number of days, both ends included. This is
  the "planned study day" and visit window of CDISC SDTM (TV trial visits, SV subject visits).

Every expected date below was worked out by hand and written out literally. None of them is
computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pytest
import yaml
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from sarcotrial.domain.schedule import (
    AnchorInstance,
    AnchorSpec,
    PlannedOccurrence,
    RepeatSpec,
    VisitSpec,
    add_months,
    anchor_dates,
    plan_schedule,
    plan_visit,
    visit_status,
)

D = dt.date


def targets(planned: list[PlannedOccurrence]) -> list[dt.date]:
    return [p.target for p in planned]


def on(*days: dt.date, **values: object) -> list[AnchorInstance]:
    return [AnchorInstance(day, dict(values)) for day in days]


# --------------------------------------------------------------------------- SPRINT's schedule
DELIVERED = (("status", "delivered"),)
SURGERY = AnchorSpec("surgery", "surgery_date")
RT_START = AnchorSpec("rt_fraction", "fraction_date", "first", DELIVERED)
RT_END = AnchorSpec("rt_fraction", "fraction_date", "last", DELIVERED)

SPRINT_ANCHORS = {
    "referral": AnchorSpec("referral", "referral_date"),
    "enrolment": AnchorSpec("enrolment", "enrolment_date"),
    "rt_start": RT_START,
    "rt_end": RT_END,
    "surgery": SURGERY,
}

SPRINT_VISITS = (
    VisitSpec("screening", "Screening", SPRINT_ANCHORS["referral"], window_after_days=28, forms=("screening",)),
    VisitSpec("baseline", "Baseline", SPRINT_ANCHORS["enrolment"], window_before_days=28, forms=("diagnosis",)),
    VisitSpec(
        "rt_weekly", "Weekly review during radiotherapy", RT_START,
        window_before_days=2, window_after_days=2,
        repeat=RepeatSpec(every_days=7, count=5), forms=("adverse_event",),
    ),
    VisitSpec(
        "pre_operative", "Pre-operative assessment", RT_END, offset_days=21,
        window_before_days=7, window_after_days=7, forms=("adverse_event",),
    ),
    VisitSpec(
        "surgery", "Surgery", RT_END, offset_days=35,
        window_before_days=7, window_after_days=21, forms=("surgery", "pathology"),
    ),
    VisitSpec(
        "wound_check", "Post-operative wound check", SURGERY, offset_days=30,
        window_before_days=7, window_after_days=7,
        repeat=RepeatSpec(every_days=30, until_days=120), forms=("wound_complication", "adverse_event"),
    ),
    VisitSpec(
        "follow_up_early", "Follow-up every 3 months (years 1-2)", SURGERY, offset_months=3,
        window_before_days=14, window_after_days=14,
        repeat=RepeatSpec(every_months=3, until_months=24),
        forms=("follow_up", "adverse_event", "functional_outcome"),  # SPRINT 1.3: MSTS when assessed
    ),
    VisitSpec(
        "follow_up_late", "Follow-up every 6 months (years 3-5)", SURGERY, offset_months=30,
        window_before_days=14, window_after_days=14,
        repeat=RepeatSpec(every_months=6, until_months=60),
        forms=("follow_up", "adverse_event", "functional_outcome"),
    ),
)
SPRINT = {v.id: v for v in SPRINT_VISITS}
SPRINT_ANCHOR_NAMES = {
    "screening": "referral", "baseline": "enrolment", "rt_weekly": "rt_start", "pre_operative": "rt_end",
    "surgery": "rt_end", "wound_check": "surgery", "follow_up_early": "surgery", "follow_up_late": "surgery",
}


def _fractions() -> list[AnchorInstance]:
    """Two missed fractions before the first delivered one (30 and 31 Jan 2025), 25 delivered fractions
    Monday to Friday from Mon 3 Feb 2025 to Fri 7 Mar 2025, and a cancelled record on Mon 10 Mar. The
    records are given out of order."""
    delivered_weeks = [D(2025, 2, 3), D(2025, 2, 10), D(2025, 2, 17), D(2025, 2, 24), D(2025, 3, 3)]
    delivered = [monday + dt.timedelta(days=i) for monday in delivered_weeks for i in range(5)]
    assert delivered[0] == D(2025, 2, 3) and delivered[-1] == D(2025, 3, 7) and len(delivered) == 25
    records = [AnchorInstance(day, {"status": "delivered", "fraction_number": n + 1}) for n, day in enumerate(delivered)]
    records.reverse()
    records.insert(3, AnchorInstance(D(2025, 1, 30), {"status": "missed", "reason": "machine down"}))
    records.append(AnchorInstance(D(2025, 1, 31), {"status": "missed"}))
    records.insert(10, AnchorInstance(D(2025, 3, 10), {"status": "rescheduled"}))
    return records


def test_sprint_specs_mirror_the_protocol_file():
    text = resources.files("sarcotrial.protocol").joinpath("protocols/sprint.yaml").read_text(encoding="utf-8")
    visits = yaml.safe_load(text)["visits"]
    assert [v["id"] for v in visits] == [v.id for v in SPRINT_VISITS]
    for raw in visits:
        spec = SPRINT[raw["id"]]
        if isinstance(raw["anchor"], str):
            assert raw["anchor"] == SPRINT_ANCHOR_NAMES[spec.id]
        for key in ("offset_days", "offset_months", "window_before_days", "window_after_days"):
            assert raw.get(key, 0) == getattr(spec, key), (spec.id, key)
        # the forms collected at the visit, required or optional (the engine plans dates, not forms)
        assert tuple(raw.get("forms", ())) + tuple(raw.get("optional_forms", ())) == spec.forms
        if "repeat" in raw:
            expected = {k: v for k, v in vars(spec.repeat).items() if v is not None}
            assert raw["repeat"] == expected, spec.id
        else:
            assert spec.repeat is None


def test_sprint_rt_weekly_five_reviews_from_the_first_delivered_fraction():
    planned = plan_visit(SPRINT["rt_weekly"], _fractions())
    assert [(p.occurrence, p.anchor_date, p.target, p.window_start, p.window_end) for p in planned] == [
        (1, D(2025, 2, 3), D(2025, 2, 3), D(2025, 2, 1), D(2025, 2, 5)),
        (2, D(2025, 2, 3), D(2025, 2, 10), D(2025, 2, 8), D(2025, 2, 12)),
        (3, D(2025, 2, 3), D(2025, 2, 17), D(2025, 2, 15), D(2025, 2, 19)),
        (4, D(2025, 2, 3), D(2025, 2, 24), D(2025, 2, 22), D(2025, 2, 26)),
        (5, D(2025, 2, 3), D(2025, 3, 3), D(2025, 3, 1), D(2025, 3, 5)),
    ]


def test_sprint_rt_end_is_the_last_delivered_fraction():
    pre_op = plan_visit(SPRINT["pre_operative"], _fractions())
    assert pre_op == [
        PlannedOccurrence("pre_operative", 1, D(2025, 3, 7), D(2025, 3, 28), D(2025, 3, 21), D(2025, 4, 4))
    ]
    surgery = plan_visit(SPRINT["surgery"], _fractions())
    assert surgery == [PlannedOccurrence("surgery", 1, D(2025, 3, 7), D(2025, 4, 11), D(2025, 4, 4), D(2025, 5, 2))]


def test_sprint_wound_checks_until_day_120_inclusive():
    planned = plan_visit(SPRINT["wound_check"], on(D(2025, 4, 17)))
    assert [(p.occurrence, p.target, p.window_start, p.window_end) for p in planned] == [
        (1, D(2025, 5, 17), D(2025, 5, 10), D(2025, 5, 24)),
        (2, D(2025, 6, 16), D(2025, 6, 9), D(2025, 6, 23)),
        (3, D(2025, 7, 16), D(2025, 7, 9), D(2025, 7, 23)),
        (4, D(2025, 8, 15), D(2025, 8, 8), D(2025, 8, 22)),
    ]


def test_sprint_early_follow_up_eight_visits_every_three_months():
    planned = plan_visit(SPRINT["follow_up_early"], on(D(2025, 4, 17)))
    assert [(p.occurrence, p.target) for p in planned] == [
        (1, D(2025, 7, 17)),
        (2, D(2025, 10, 17)),
        (3, D(2026, 1, 17)),
        (4, D(2026, 4, 17)),
        (5, D(2026, 7, 17)),
        (6, D(2026, 10, 17)),
        (7, D(2027, 1, 17)),
        (8, D(2027, 4, 17)),
    ]
    assert (planned[0].window_start, planned[0].window_end) == (D(2025, 7, 3), D(2025, 7, 31))
    assert (planned[-1].window_start, planned[-1].window_end) == (D(2027, 4, 3), D(2027, 5, 1))


def test_sprint_late_follow_up_six_visits_every_six_months():
    planned = plan_visit(SPRINT["follow_up_late"], on(D(2025, 4, 17)))
    assert targets(planned) == [
        D(2027, 10, 17), D(2028, 4, 17), D(2028, 10, 17), D(2029, 4, 17), D(2029, 10, 17), D(2030, 4, 17),
    ]
    assert [p.occurrence for p in planned] == [1, 2, 3, 4, 5, 6]


def test_sprint_whole_schedule_in_date_order():
    records = {
        "referral": on(D(2024, 12, 2)),
        "enrolment": on(D(2025, 1, 13)),
        "rt_fraction": _fractions(),
        "surgery": on(D(2025, 4, 17)),
    }
    planned = plan_schedule(SPRINT_VISITS, records)
    assert [(p.visit_id, p.occurrence, p.target) for p in planned] == [
        ("screening", 1, D(2024, 12, 2)),
        ("baseline", 1, D(2025, 1, 13)),
        ("rt_weekly", 1, D(2025, 2, 3)),
        ("rt_weekly", 2, D(2025, 2, 10)),
        ("rt_weekly", 3, D(2025, 2, 17)),
        ("rt_weekly", 4, D(2025, 2, 24)),
        ("rt_weekly", 5, D(2025, 3, 3)),
        ("pre_operative", 1, D(2025, 3, 28)),
        ("surgery", 1, D(2025, 4, 11)),
        ("wound_check", 1, D(2025, 5, 17)),
        ("wound_check", 2, D(2025, 6, 16)),
        ("wound_check", 3, D(2025, 7, 16)),
        ("follow_up_early", 1, D(2025, 7, 17)),
        ("wound_check", 4, D(2025, 8, 15)),
        ("follow_up_early", 2, D(2025, 10, 17)),
        ("follow_up_early", 3, D(2026, 1, 17)),
        ("follow_up_early", 4, D(2026, 4, 17)),
        ("follow_up_early", 5, D(2026, 7, 17)),
        ("follow_up_early", 6, D(2026, 10, 17)),
        ("follow_up_early", 7, D(2027, 1, 17)),
        ("follow_up_early", 8, D(2027, 4, 17)),
        ("follow_up_late", 1, D(2027, 10, 17)),
        ("follow_up_late", 2, D(2028, 4, 17)),
        ("follow_up_late", 3, D(2028, 10, 17)),
        ("follow_up_late", 4, D(2029, 4, 17)),
        ("follow_up_late", 5, D(2029, 10, 17)),
        ("follow_up_late", 6, D(2030, 4, 17)),
    ]
    assert (planned[0].window_start, planned[0].window_end) == (D(2024, 12, 2), D(2024, 12, 30))
    assert (planned[1].window_start, planned[1].window_end) == (D(2024, 12, 16), D(2025, 1, 13))


def test_anchors_that_do_not_exist_yet_plan_nothing():
    records = {"referral": on(D(2024, 12, 2)), "enrolment": on(D(2025, 1, 13)), "rt_fraction": _fractions()}
    planned = plan_schedule(SPRINT_VISITS, records)
    assert {p.visit_id for p in planned} == {"screening", "baseline", "rt_weekly", "pre_operative", "surgery"}
    assert plan_visit(SPRINT["wound_check"], []) == []
    assert plan_schedule(SPRINT_VISITS, {}) == []
    # Only missed fractions so far: radiotherapy has not started.
    missed = on(D(2025, 1, 30), D(2025, 1, 31), status="missed")
    assert plan_visit(SPRINT["rt_weekly"], missed) == []
    assert plan_visit(SPRINT["pre_operative"], missed) == []


def test_target_follows_a_corrected_anchor():
    before = plan_visit(SPRINT["wound_check"], on(D(2025, 4, 17)))
    after = plan_visit(SPRINT["wound_check"], on(D(2025, 4, 24)))
    assert targets(before) == [D(2025, 5, 17), D(2025, 6, 16), D(2025, 7, 16), D(2025, 8, 15)]
    assert targets(after) == [D(2025, 5, 24), D(2025, 6, 23), D(2025, 7, 23), D(2025, 8, 22)]
    assert {p.anchor_date for p in after} == {D(2025, 4, 24)}


# --------------------------------------------------------------------------- anchors
def test_where_ignores_missed_fractions_and_sorts():
    assert anchor_dates(RT_START, _fractions())[:2] == [D(2025, 2, 3), D(2025, 2, 4)]
    assert len(anchor_dates(RT_START, _fractions())) == 25
    unfiltered = AnchorSpec("rt_fraction", "fraction_date")
    assert anchor_dates(unfiltered, _fractions())[:3] == [D(2025, 1, 30), D(2025, 1, 31), D(2025, 2, 3)]
    assert anchor_dates(unfiltered, _fractions())[-1] == D(2025, 3, 10)


def test_where_needs_every_filter_and_a_present_field():
    spec = AnchorSpec("course", "start_date", where={"role": "induction", "arm": "A"})
    assert spec.where == (("arm", "A"), ("role", "induction"))
    records = [
        AnchorInstance(D(2025, 1, 10), {"role": "induction", "arm": "A"}),
        AnchorInstance(D(2025, 1, 3), {"role": "induction", "arm": "B"}),
        AnchorInstance(D(2025, 1, 1), {"role": "induction"}),
        AnchorInstance(D(2025, 1, 20), {"role": "induction", "arm": "A"}),
    ]
    assert anchor_dates(spec, records) == [D(2025, 1, 10), D(2025, 1, 20)]


def test_where_on_a_missing_field_does_not_match_none():
    spec = AnchorSpec("course", "start_date", where=(("stopped", None),))
    records = [AnchorInstance(D(2025, 1, 1), {}), AnchorInstance(D(2025, 1, 2), {"stopped": None})]
    assert anchor_dates(spec, records) == [D(2025, 1, 2)]


def test_first_and_last():
    records = on(D(2025, 3, 12), D(2025, 1, 5), D(2025, 2, 20))
    first = VisitSpec("v", "V", AnchorSpec("f", "d", "first"), offset_days=10)
    last = VisitSpec("v", "V", AnchorSpec("f", "d", "last"), offset_days=10)
    assert plan_visit(first, records) == [PlannedOccurrence("v", 1, D(2025, 1, 5), D(2025, 1, 15), D(2025, 1, 15), D(2025, 1, 15))]
    assert plan_visit(last, records) == [PlannedOccurrence("v", 1, D(2025, 3, 12), D(2025, 3, 22), D(2025, 3, 22), D(2025, 3, 22))]


def test_last_with_a_repeat_measures_until_from_the_last_date():
    visit = VisitSpec(
        "post_rt", "After radiotherapy", AnchorSpec("f", "d", "last"), offset_days=7,
        repeat=RepeatSpec(every_days=7, until_days=21),
    )
    planned = plan_visit(visit, on(D(2025, 3, 3), D(2025, 3, 7)))
    assert targets(planned) == [D(2025, 3, 14), D(2025, 3, 21), D(2025, 3, 28)]


def test_a_second_protocol_can_anchor_on_cycle_1_day_1():
    c1d1 = AnchorSpec("chemo_course", "start_date", where=(("role", "c1d1"),))
    day8 = VisitSpec("c1_day8", "Cycle 1 day 8 blood count", c1d1, offset_days=7, window_before_days=1, window_after_days=1)
    records = [
        AnchorInstance(D(2025, 6, 2), {"role": "c1d1"}),
        AnchorInstance(D(2025, 5, 26), {"role": "pre_phase"}),
        AnchorInstance(D(2025, 6, 23), {"role": "cycle"}),
    ]
    assert plan_visit(day8, records) == [
        PlannedOccurrence("c1_day8", 1, D(2025, 6, 2), D(2025, 6, 9), D(2025, 6, 8), D(2025, 6, 10))
    ]


def test_a_datetime_anchor_is_reduced_to_its_date():
    record = AnchorInstance(dt.datetime(2025, 4, 17, 23, 30), {})
    assert record.day == D(2025, 4, 17) and type(record.day) is dt.date
    assert targets(plan_visit(SPRINT["wound_check"], [record]))[0] == D(2025, 5, 17)


def test_same_day_records_are_kept():
    assert anchor_dates(AnchorSpec("f", "d"), on(D(2025, 1, 2), D(2025, 1, 2))) == [D(2025, 1, 2), D(2025, 1, 2)]


# --------------------------------------------------------------------------- previous
CYCLE = AnchorSpec("chemotherapy", "cycle_date", "previous", where=(("status", "given"),))


def _chemo(count: int = 6, offset_days: int = 0) -> VisitSpec:
    return VisitSpec(
        "cycle", "Chemotherapy cycle", CYCLE, offset_days=offset_days, window_before_days=3, window_after_days=3,
        repeat=RepeatSpec(every_days=21, count=count),
    )


def test_previous_a_late_cycle_moves_every_later_cycle():
    # C1 given Mon 3 Mar 2025. C2 was due 24 Mar and given 27 Mar (3 days late). A postponed record is ignored.
    records = [
        AnchorInstance(D(2025, 3, 27), {"status": "given"}),
        AnchorInstance(D(2025, 3, 24), {"status": "postponed"}),
        AnchorInstance(D(2025, 3, 3), {"status": "given"}),
    ]
    planned = plan_visit(_chemo(), records)
    assert [(p.occurrence, p.anchor_date, p.target, p.window_start, p.window_end) for p in planned] == [
        (1, D(2025, 3, 3), D(2025, 3, 3), D(2025, 2, 28), D(2025, 3, 6)),
        (2, D(2025, 3, 3), D(2025, 3, 24), D(2025, 3, 21), D(2025, 3, 27)),
        (3, D(2025, 3, 27), D(2025, 4, 17), D(2025, 4, 14), D(2025, 4, 20)),
    ]
    # Once C3 is given on 17 Apr, C4 is planned 21 days later. It is not planned before that.
    planned = plan_visit(_chemo(), records + on(D(2025, 4, 17), status="given"))
    assert targets(planned) == [D(2025, 3, 3), D(2025, 3, 24), D(2025, 4, 17), D(2025, 5, 8)]


def test_previous_plans_at_most_one_more_than_the_records_and_stops_at_count():
    given = on(D(2025, 1, 6), D(2025, 1, 27), D(2025, 2, 17), D(2025, 3, 10), status="given")
    assert len(plan_visit(_chemo(count=6), given)) == 5
    assert targets(plan_visit(_chemo(count=3), given)) == [D(2025, 1, 6), D(2025, 1, 27), D(2025, 2, 17)]
    assert plan_visit(_chemo(), []) == []


def test_previous_offset_applies_to_every_occurrence():
    # A "day 8" check of each 21-day cycle: day 8 of cycle 1, of cycle 2 (expected), of cycle 3 (after the late C2).
    records = on(D(2025, 3, 3), D(2025, 3, 27), status="given")
    planned = plan_visit(_chemo(count=3, offset_days=7), records)
    assert [(p.anchor_date, p.target) for p in planned] == [
        (D(2025, 3, 3), D(2025, 3, 10)),
        (D(2025, 3, 3), D(2025, 3, 31)),
        (D(2025, 3, 27), D(2025, 4, 24)),
    ]


def test_previous_until_is_measured_from_the_first_record():
    # Cycles on day 0, 21, 45 and 66 from Mon 6 Jan 2025. The limit is day 63 = 10 Mar 2025.
    visit = VisitSpec("cycle", "Cycle", CYCLE, repeat=RepeatSpec(every_days=21, until_days=63))
    records = on(D(2025, 1, 6), D(2025, 1, 27), D(2025, 2, 20), D(2025, 3, 13), status="given")
    assert targets(plan_visit(visit, records)) == [D(2025, 1, 6), D(2025, 1, 27), D(2025, 2, 17)]


def test_previous_in_months():
    visit = VisitSpec("infusion", "Monthly infusion", AnchorSpec("inf", "d", "previous"), repeat=RepeatSpec(every_months=1, count=3))
    planned = plan_visit(visit, on(D(2025, 3, 5), D(2025, 1, 31)))
    assert [(p.anchor_date, p.target) for p in planned] == [
        (D(2025, 1, 31), D(2025, 1, 31)),
        (D(2025, 1, 31), D(2025, 2, 28)),
        (D(2025, 3, 5), D(2025, 4, 5)),
    ]


# --------------------------------------------------------------------------- month arithmetic
@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2025, 1, 31), 1, D(2025, 2, 28)),   # non-leap February
        (D(2024, 1, 31), 1, D(2024, 2, 29)),   # leap February
        (D(2024, 2, 29), 1, D(2024, 3, 29)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),  # 29 Feb into a non-leap year
        (D(2024, 2, 29), 48, D(2028, 2, 29)),  # 29 Feb into the next leap year
        (D(2024, 8, 31), 6, D(2025, 2, 28)),   # 31 Aug + 6 months, non-leap
        (D(2023, 8, 31), 6, D(2024, 2, 29)),   # 31 Aug + 6 months, leap
        (D(2025, 10, 31), 1, D(2025, 11, 30)),
        (D(2025, 12, 31), 2, D(2026, 2, 28)),
        (D(2025, 11, 15), 2, D(2026, 1, 15)),  # across a year end
        (D(2025, 3, 31), -1, D(2025, 2, 28)),  # backwards
        (D(2025, 1, 15), -1, D(2024, 12, 15)),
        (D(2025, 4, 17), 0, D(2025, 4, 17)),
        (D(2025, 4, 17), 60, D(2030, 4, 17)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(day, months, expected):
    assert add_months(day, months) == expected


def test_add_months_refuses_dates_outside_the_calendar():
    with pytest.raises(OverflowError):
        add_months(D(9999, 12, 1), 1)
    with pytest.raises(ValueError, match="whole number"):
        add_months(D(2025, 1, 1), 1.5)


def test_repeats_in_months_never_drift():
    # Computed from the anchor each time: 31 Jan -> 28 Feb -> 31 Mar -> 30 Apr -> 31 May.
    # Adding a month to the previous target would give 28 Mar, 28 Apr, 28 May.
    visit = VisitSpec("m", "Monthly", AnchorSpec("f", "d"), offset_months=1, repeat=RepeatSpec(every_months=1, count=4))
    assert targets(plan_visit(visit, on(D(2025, 1, 31)))) == [D(2025, 2, 28), D(2025, 3, 31), D(2025, 4, 30), D(2025, 5, 31)]


def test_months_then_days():
    # 30 Jan + 1 month = 28 Feb, + 2 days = 2 Mar. Days first would give 1 Feb + 1 month = 1 Mar.
    visit = VisitSpec("v", "V", AnchorSpec("f", "d"), offset_months=1, offset_days=2)
    assert targets(plan_visit(visit, on(D(2025, 1, 30)))) == [D(2025, 3, 2)]


def test_days_step_after_a_months_offset():
    visit = VisitSpec("v", "V", AnchorSpec("f", "d"), offset_months=1, repeat=RepeatSpec(every_days=7, count=3))
    assert targets(plan_visit(visit, on(D(2025, 1, 31)))) == [D(2025, 2, 28), D(2025, 3, 7), D(2025, 3, 14)]


def test_until_months_with_clamping_is_inclusive():
    visit = VisitSpec("v", "V", AnchorSpec("f", "d"), offset_months=6, repeat=RepeatSpec(every_months=6, until_months=12))
    assert targets(plan_visit(visit, on(D(2024, 8, 31)))) == [D(2025, 2, 28), D(2025, 8, 31)]


def test_until_months_with_a_days_step():
    # The limit is one month after the anchor, compared as a date.
    visit = VisitSpec("v", "V", AnchorSpec("f", "d"), repeat=RepeatSpec(every_days=30, until_months=1))
    assert targets(plan_visit(visit, on(D(2025, 2, 1)))) == [D(2025, 2, 1)]  # 3 Mar > 1 Mar
    assert targets(plan_visit(visit, on(D(2025, 1, 1)))) == [D(2025, 1, 1), D(2025, 1, 31)]  # 31 Jan <= 1 Feb


def test_negative_offset_before_the_anchor():
    visit = VisitSpec("pre", "Before surgery", SURGERY, offset_days=-14, window_before_days=7)
    assert plan_visit(visit, on(D(2025, 4, 17))) == [
        PlannedOccurrence("pre", 1, D(2025, 4, 17), D(2025, 4, 3), D(2025, 3, 27), D(2025, 4, 3))
    ]


def test_a_visit_without_repeat_has_one_occurrence():
    visit = VisitSpec("once", "Once", AnchorSpec("f", "d", "first"))
    assert targets(plan_visit(visit, on(D(2025, 1, 1), D(2025, 2, 1)))) == [D(2025, 1, 1)]


# --------------------------------------------------------------------------- validation
A = AnchorSpec("surgery", "surgery_date")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeat": RepeatSpec(every_days=7, every_months=1, count=2)}, "exactly one of every_days or every_months"),
        ({"repeat": RepeatSpec(count=2)}, "needs a step"),
        ({"repeat": RepeatSpec(every_days=7)}, "needs a stop rule"),
        ({"repeat": RepeatSpec(every_days=7, count=2, until_days=30)}, "exactly one stop rule"),
        ({"repeat": RepeatSpec(every_days=0, count=2)}, r"every_days: must be at least 1"),
        ({"repeat": RepeatSpec(every_months=-1, count=2)}, r"every_months: must be at least 1"),
        ({"repeat": RepeatSpec(every_days=7, count=0)}, r"count: must be at least 1"),
        ({"repeat": RepeatSpec(every_days=7, until_days=-1)}, r"until_days: cannot be negative"),
        ({"repeat": RepeatSpec(every_days=7.5, count=2)}, r"every_days: must be a whole number"),
        ({"repeat": RepeatSpec(every_days=True, count=2)}, r"every_days: must be a whole number"),
        ({"window_before_days": -1}, r"window_before_days: a window cannot be negative"),
        ({"window_after_days": -3}, r"window_after_days: a window cannot be negative"),
        ({"offset_days": 1.5}, r"offset_days: must be a whole number"),
        ({"offset_days": 150, "repeat": RepeatSpec(every_days=30, until_days=120)}, "after the limit"),
        ({"offset_months": 30, "repeat": RepeatSpec(every_months=6, until_months=24)}, "after the limit"),
        ({"anchor": AnchorSpec("surgery", "surgery_date", "previous")}, "'previous' needs a repeat"),
        ({"anchor": AnchorSpec("surgery", "surgery_date", "latest")}, "instance: must be one of first, last, previous"),
        ({"anchor": AnchorSpec("surgery", "")}, r"anchor.field: must be a non-empty identifier"),
        ({"anchor": AnchorSpec("rt_fraction", "fraction_date", where=(("fraction_date", D(2025, 1, 1)),))}, "not on the anchor field"),
        ({"anchor": AnchorSpec("f", "d", where=(("status", "a"), ("status", "b")))}, "names field 'status' twice"),
        ({"anchor": "surgery"}, "must be an AnchorSpec"),
        ({"forms": "follow_up"}, "not one string"),
        ({"name": ""}, "name: must be a non-empty text"),
    ],
)
def test_invalid_visits_are_refused_naming_the_visit_and_the_rule(kwargs, message):
    arguments = {"id": "wound_check", "name": "Wound check", "anchor": A} | kwargs
    with pytest.raises(ValueError, match=message) as raised:
        VisitSpec(**arguments)
    assert "visits.wound_check" in str(raised.value)


def test_a_where_that_is_not_pairs_is_refused():
    with pytest.raises(ValueError, match="pairs"):
        AnchorSpec("f", "d", where=5)


def test_duplicate_visit_ids_are_refused():
    visit = VisitSpec("fu", "Follow-up", A)
    with pytest.raises(ValueError, match="visits.fu: duplicate visit id"):
        plan_schedule([visit, visit], {})


def test_an_anchor_record_must_be_a_date():
    with pytest.raises(ValueError, match="must be a date"):
        AnchorInstance("2025-04-17", {})


def test_a_date_beyond_the_calendar_is_refused_naming_the_visit():
    visit = VisitSpec("far", "Far", A, offset_months=12)
    with pytest.raises(ValueError, match="visits.far: a planned date falls outside the calendar"):
        plan_visit(visit, on(D(9999, 6, 1)))


# --------------------------------------------------------------------------- visit status
START, END = D(2025, 5, 10), D(2025, 5, 24)


@pytest.mark.parametrize(
    ("window", "states", "today", "expected"),
    [
        ((None, None), ["expected", "expected"], D(2025, 5, 1), "scheduled"),
        ((START, END), ["expected", "expected"], D(2025, 5, 9), "upcoming"),
        ((START, END), ["expected", "expected"], D(2025, 5, 10), "due"),     # first day of the window
        ((START, END), ["expected"], D(2025, 5, 17), "due"),
        ((START, END), ["expected"], D(2025, 5, 24), "due"),                 # last day of the window
        ((START, END), ["expected"], D(2025, 5, 25), "overdue"),
        ((START, END), [], D(2025, 5, 17), "due"),                           # no forms: never complete
        ((START, END), ["complete", "not_done"], D(2025, 5, 17), "complete"),
        ((START, END), ["complete", "complete"], D(2026, 1, 1), "complete"),  # completed late is complete
        ((START, END), ["verified", "signed", "locked"], D(2025, 5, 17), "complete"),
        ((START, END), ["not_done"], D(2025, 5, 17), "complete"),
        ((None, None), ["complete"], D(2025, 5, 1), "complete"),
        ((START, END), ["complete", "expected"], D(2025, 5, 17), "partial"),
        ((START, END), ["incomplete", "incomplete"], D(2025, 5, 17), "partial"),
        ((START, END), ["not_done", "expected"], D(2025, 5, 1), "partial"),  # entered before the window
        ((None, None), ["incomplete"], D(2025, 5, 1), "partial"),
        ((START, END), ["complete", "expected"], D(2025, 5, 25), "overdue"),  # partial after the window
        ((START, END), ["incomplete"], D(2025, 5, 25), "overdue"),
    ],
)
def test_visit_status(window, states, today, expected):
    assert visit_status(window[0], window[1], states, today) == expected


@pytest.mark.parametrize(
    ("start", "end", "states", "message"),
    [
        (START, None, [], "both window_start and window_end"),
        (END, START, [], "is after window_end"),
        (START, END, ["done"], "unknown entry state"),
    ],
)
def test_visit_status_refuses_bad_input(start, end, states, message):
    with pytest.raises(ValueError, match=message):
        visit_status(start, end, states, D(2025, 5, 17))


# --------------------------------------------------------------------------- properties
dates = st.dates(min_value=D(1950, 1, 1), max_value=D(2100, 12, 31))


@settings(deadline=None)
@given(day=dates, months=st.integers(min_value=-600, max_value=600))
def test_add_months_matches_relativedelta(day, months):
    assert add_months(day, months) == day + relativedelta(months=months)


@st.composite
def visits_and_records(draw):
    instance = draw(st.sampled_from(["first", "last", "previous"]))
    offset_days = draw(st.integers(min_value=-60, max_value=400))
    offset_months = draw(st.integers(min_value=0, max_value=36))
    repeat = None
    if instance == "previous" or draw(st.booleans()):
        step = draw(st.sampled_from(["every_days", "every_months"]))
        stop = draw(st.sampled_from(["count", "until_days", "until_months"]))
        values = {step: draw(st.integers(min_value=1, max_value=60 if step == "every_days" else 12))}
        if stop == "count":
            values["count"] = draw(st.integers(min_value=1, max_value=12))
        elif stop == "until_days":
            values["until_days"] = draw(st.integers(min_value=max(0, offset_days) if offset_months == 0 else 0, max_value=2000))
        else:
            values["until_months"] = draw(st.integers(min_value=offset_months if offset_days == 0 else 0, max_value=72))
        repeat = RepeatSpec(**values)
    visit = VisitSpec(
        "v", "V", AnchorSpec("f", "d", instance, (("ok", True),)),
        offset_days=offset_days, offset_months=offset_months,
        window_before_days=draw(st.integers(min_value=0, max_value=30)),
        window_after_days=draw(st.integers(min_value=0, max_value=30)),
        repeat=repeat,
    )
    records = [AnchorInstance(day, {"ok": ok}) for day, ok in draw(st.lists(st.tuples(dates, st.booleans()), max_size=8))]
    return visit, records


@settings(deadline=None, max_examples=300)
@given(visits_and_records())
def test_targets_never_go_back_and_windows_hold_their_target(case):
    visit, records = case
    planned = plan_visit(visit, records)
    kept = sorted(r.day for r in records if r.values["ok"])
    if not kept:
        assert planned == []
        return
    assert [p.occurrence for p in planned] == list(range(1, len(planned) + 1))
    for earlier, later in zip(planned, planned[1:]):
        assert earlier.target <= later.target
    for p in planned:
        assert p.window_start <= p.target <= p.window_end
        assert p.window_end - p.window_start == dt.timedelta(days=visit.window_before_days + visit.window_after_days)
    repeat = visit.repeat
    if repeat is None:
        assert len(planned) == 1
    elif repeat.count is not None:
        assert len(planned) <= repeat.count
    if visit.anchor.instance == "previous":
        assert len(planned) <= len(kept) + 1
    else:
        # Every occurrence is computed from the anchor itself (dateutil as the oracle): no drift.
        anchor = kept[0] if visit.anchor.instance == "first" else kept[-1]
        every_months = (repeat.every_months or 0) if repeat else 0
        every_days = (repeat.every_days or 0) if repeat else 0

        def expected(k: int) -> dt.date:  # occurrence k + 1
            return anchor + relativedelta(months=visit.offset_months + k * every_months, days=visit.offset_days + k * every_days)

        for p in planned:
            assert p.anchor_date == anchor
            assert p.target == expected(p.occurrence - 1)
        if repeat is not None and repeat.count is None:
            # until_* is inclusive and tight: every planned target is within it, the next one is not.
            if repeat.until_days is not None:
                limit = anchor + relativedelta(days=repeat.until_days)
            else:
                limit = anchor + relativedelta(months=repeat.until_months)
            assert all(p.target <= limit for p in planned)
            assert expected(len(planned)) > limit
        elif repeat is not None:
            assert len(planned) == repeat.count
