"""A cycle of systemic therapy goes to the visit occurrence of its number, whatever the order of entry.

DOXAB's `cycle` visit is anchored on the previous cycle (`instance: previous`, every 21 days, 8 times): cycle k
is occurrence k. Entering cycle 2 before cycle 1, or cycle 6 after a cycle 5 marked not done, must not file it
under another occurrence or the unscheduled visit.
"""

from __future__ import annotations

import datetime as dt

from sarcotrial.services import forms as records, systemic_entry
from tests.services.test_systemic_entry import DAY1, NURSE, cycle, doxab, enrol  # noqa: F401 - fixtures


def test_each_cycle_goes_to_the_occurrence_of_its_number(doxab, monkeypatch):  # noqa: F811
    monkeypatch.setattr(systemic_entry, "patient_arm", lambda session, patient: "doxorubicin")
    subject = enrol(doxab)
    second = records.record(doxab, NURSE, subject, "systemic_cycle", cycle(2, DAY1 + dt.timedelta(days=21)))
    first = records.record(doxab, NURSE, subject, "systemic_cycle", cycle(1, DAY1))
    sixth = records.record(doxab, NURSE, subject, "systemic_cycle", cycle(6, DAY1 + dt.timedelta(days=105)))
    assert [(c.visit_id, c.occurrence) for c in (first, second, sixth)] == [("cycle", 1), ("cycle", 2), ("cycle", 6)]
