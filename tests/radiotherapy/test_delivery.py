"""Delivery log: fraction counts, overall treatment time, dose per volume, deviations by the protocol.

SPRINT thresholds (protocol file, assumed): prolongation minor beyond 3 days, major beyond 7;
dose minor beyond 5 %, major beyond 10 %. 23 of 25 fractions of 2 Gy give 46 Gy of 50: 8 % off
(minor); 22 fractions give 44 Gy: 12 % off (major).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from sarcotrial.radiotherapy.calendar import treatment_dates
from sarcotrial.radiotherapy.delivery import FractionRecord, made_up, summarise_delivery
from sarcotrial.services import forms as records, radiotherapy
from sarcotrial.store.models import ProtocolDeviation
from tests.helpers import DOCTOR, enrolled

PLAN = treatment_dates(dt.date(2025, 2, 3), 25, "IT")
RULES = dict(planned_fractions=25, prescribed_dose_gy={"CTV1": 50.0, "CTV2": 60.0},
             planned_overall_treatment_days=PLAN.overall_treatment_days, prolongation_minor_days=3,
             prolongation_major_days=7, dose_minor_percent=5, dose_major_percent=10)
DOSE = {"CTV1": 2.0, "CTV2": 2.4}


def delivered(dates):
    return [FractionRecord(i, d, "delivered", DOSE) for i, d in enumerate(dates, start=1)]


def test_course_as_planned():
    s = summarise_delivery(delivered(PLAN.dates), **RULES)
    assert (s.delivered, s.overall_treatment_days, s.prolongation_days) == (25, 33, 0)
    assert s.delivered_dose_gy == {"CTV1": 50.0, "CTV2": 60.0} and s.deviations == [] and s.complete


@pytest.mark.parametrize("extra_days, severity", [(3, None), (4, "minor"), (7, "minor"), (8, "major")])
def test_prolongation_thresholds(extra_days, severity):
    dates = PLAN.dates[:-1] + [PLAN.dates[-1] + dt.timedelta(days=extra_days)]
    s = summarise_delivery(delivered(dates), **RULES)
    assert s.prolongation_days == extra_days
    assert [d.severity for d in s.deviations] == ([severity] if severity else [])


def test_missed_fraction_made_up_keeps_the_count():
    dates = list(PLAN.dates)
    fractions = delivered(dates[:9]) + [FractionRecord(10, dates[9], "missed", {}, "linac breakdown")]
    fractions += [FractionRecord(i, d, "delivered", DOSE) for i, d in enumerate(dates[10:], start=11)]
    fractions.append(FractionRecord(10, dates[-1] + dt.timedelta(days=1), "delivered", DOSE))
    s = summarise_delivery(fractions, **RULES)
    assert (s.delivered, s.missed, s.made_up, s.prolongation_days) == (25, 1, 1, 1)
    assert s.delivered_dose_gy == {"CTV1": 50.0, "CTV2": 60.0} and s.deviations == []


def test_made_up_counts_a_missed_fraction_delivered_later_under_its_number():
    """A course keeps its fraction count: fraction 3 missed then delivered later is made up; fraction 4
    delivered before the day it was missed is not a make-up; fraction 5 missed and never delivered is not."""
    d = dt.date
    log = [FractionRecord(3, d(2025, 2, 5), "missed"), FractionRecord(3, d(2025, 3, 10), "delivered"),
           FractionRecord(4, d(2025, 2, 6), "missed"), FractionRecord(4, d(2025, 2, 1), "delivered"),
           FractionRecord(5, d(2025, 2, 7), "missed")]
    assert made_up(log) == 1
    never = summarise_delivery(delivered(PLAN.dates[:9]) + [FractionRecord(10, PLAN.dates[9], "missed")], **RULES)
    assert (never.missed, never.made_up) == (1, 0)


@pytest.mark.parametrize("count, severity", [(24, None), (23, "minor"), (22, "major")])
def test_dose_deviation_when_the_course_closes_short(count, severity):
    s = summarise_delivery(delivered(PLAN.dates[:count]), **RULES, closed=True)
    assert [d.severity for d in s.deviations if d.category == "rt_dose"] == ([severity, severity] if severity else [])
    open_course = summarise_delivery(delivered(PLAN.dates[:count]), **RULES)
    assert open_course.deviations == [] and not open_course.complete


def test_deviations_reach_the_trial(study):
    """Through the services: a course prolonged by 8 days becomes a major protocol deviation."""
    subject = enrolled(study)
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03", "calendar": "IT"})
    dates = PLAN.dates[:-1] + [dt.date(2025, 3, 17)]  # last fraction on Mon 17 Mar, planned Fri 7 Mar
    for number, day in enumerate(dates, start=1):
        records.record(study, DOCTOR, subject, "rt_fraction", {"fraction_number": number, "fraction_date": day,
                                                               "status": "delivered"})
    summary = radiotherapy.delivery(study, subject)
    assert summary.prolongation_days == (dt.date(2025, 3, 17) - PLAN.last).days == 10
    with study.reading() as session:
        deviation = session.scalars(select(ProtocolDeviation)).one()
    assert (deviation.category, deviation.severity) == ("rt_prolongation", "major")
    # corrected to the planned date (it was a typo): the deviation follows the log
    records.correct(study, DOCTOR, subject, "rt_fraction", {"fraction_date": "2025-03-07"},
                    reason="date typo", record_id=_last_fraction_id(study))
    with study.reading() as session:
        assert session.scalars(select(ProtocolDeviation)).all() == []


def _last_fraction_id(study):
    from sarcotrial.services import views

    fractions = views.form_instances(study, None, "SPR-001", "rt_fraction")
    return max(fractions, key=lambda f: f.values["fraction_date"]).id


def test_surgery_outside_the_protocol_window_is_a_deviation(study):
    """SPRINT: surgery 4 to 8 weeks after radiotherapy (protocol file, assumed). Last fraction 7 Mar 2025."""
    from tests.helpers import treated

    subject = treated(study)  # surgery on 17 Apr 2025: 5.9 weeks, within the window
    with study.reading() as session:
        assert session.scalars(select(ProtocolDeviation)).all() == []
    records.correct(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-05-23"}, reason="operation postponed")
    with study.reading() as session:
        deviation = session.scalars(select(ProtocolDeviation)).one()
    assert (deviation.category, deviation.severity) == ("surgery_interval", "minor")
    assert "surgery 11.0 weeks after the last fraction (protocol: 4 to 8 weeks)" == deviation.description
    records.correct(study, DOCTOR, subject, "surgery", {"surgery_date": "2025-04-17"}, reason="postponement cancelled")
    with study.reading() as session:
        assert session.scalars(select(ProtocolDeviation)).all() == []
