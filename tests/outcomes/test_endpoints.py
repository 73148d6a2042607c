"""Endpoint derivation as SPRINT defines its endpoints (protocol file; DATECAN, Bellera et al.,
Ann Oncol 2015: origin, events, and death as event or competing risk stated per endpoint)."""

from __future__ import annotations

import datetime as dt

import pytest

from sarcotrial.outcomes.endpoints import DAYS_PER_MONTH, PatientCourse, r0_status, time_to_event
from sarcotrial.protocol import load_protocol

SPRINT = load_protocol("sprint")
D = dt.date
ENROL = D(2024, 1, 10)


def derive(course: PatientCourse, endpoint_id: str, cutoff=None):
    e = SPRINT.endpoint(endpoint_id)
    return time_to_event(course, e.id, e.origin, e.events, e.competing_risks, cutoff)


def test_alive_without_event_is_censored_at_last_contact():
    c = PatientCourse("SPR-001", ENROL, last_contact=D(2025, 1, 10))
    for endpoint in ("os", "dss", "lrfs", "dmfs", "ci_local_relapse", "ci_distant_metastasis"):
        t = derive(c, endpoint)
        assert (t.time_days, t.status) == (366, 0) and "alive at last contact" in t.reason
    assert derive(c, "os").time_months == pytest.approx(366 / DAYS_PER_MONTH)


def test_death_from_sarcoma_after_metastasis():
    c = PatientCourse("SPR-002", ENROL, last_contact=D(2025, 6, 1), death=D(2025, 6, 1), death_cause="sarcoma",
                      distant_metastases=[D(2024, 11, 1), D(2025, 2, 1)])
    assert (derive(c, "os").time_days, derive(c, "os").status) == (508, 1)
    assert (derive(c, "dss").status, derive(c, "dss").reason) == (1, "death from sarcoma")
    assert (derive(c, "dmfs").time_days, derive(c, "dmfs").status) == (296, 1)   # first metastasis counts
    assert (derive(c, "lrfs").time_days, derive(c, "lrfs").status) == (508, 1)   # death is an LRFS event
    ci_lr = derive(c, "ci_local_relapse")
    assert (ci_lr.time_days, ci_lr.status) == (508, 2)                          # death competes with relapse
    assert derive(c, "ci_distant_metastasis").status == 1


def test_death_from_another_cause_censors_dss():
    c = PatientCourse("SPR-003", ENROL, last_contact=D(2024, 9, 1), death=D(2024, 9, 1), death_cause="other")
    dss = derive(c, "dss")
    assert (dss.time_days, dss.status) == (235, 0) and dss.reason == "censored at death (other)"
    assert derive(c, "os").status == 1


def test_local_relapse_first():
    c = PatientCourse("SPR-004", ENROL, last_contact=D(2025, 8, 1), local_relapses=[D(2024, 12, 1)])
    assert (derive(c, "lrfs").time_days, derive(c, "lrfs").status) == (326, 1)
    assert derive(c, "ci_local_relapse").status == 1
    assert derive(c, "dmfs").status == 0 and derive(c, "os").status == 0


def test_cutoff_ignores_later_events():
    c = PatientCourse("SPR-005", ENROL, last_contact=D(2025, 8, 1), death=D(2025, 8, 1), death_cause="sarcoma")
    t = derive(c, "os", cutoff=D(2025, 1, 10))
    assert (t.time_days, t.status) == (366, 0)


def test_event_at_time_zero_is_kept():
    c = PatientCourse("SPR-006", ENROL, last_contact=ENROL, death=ENROL, death_cause="other")
    assert (derive(c, "os").time_days, derive(c, "os").status) == (0, 1)


def test_r0_resected_and_intention_to_treat():
    assert r0_status(PatientCourse("a", ENROL, ENROL, surgery=D(2024, 4, 1), r_status="R0")) == (1, 1)
    assert r0_status(PatientCourse("b", ENROL, ENROL, surgery=D(2024, 4, 1), r_status="R1")) == (0, 0)
    assert r0_status(PatientCourse("c", ENROL, ENROL)) == (None, 0)  # not resected: not R0 by ITT
