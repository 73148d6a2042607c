"""The first day of treatment where a protocol has no radiotherapy: the first cycle of systemic therapy.

An adverse event's phase (acute or late) counts from the first day of treatment (protocol
`toxicity.acute_window_days`; SPRINT: the first delivered fraction). DOXAB (schema version 2) has no
radiotherapy: its window (180 days, an assumed parameter) counts from day 1 of the first cycle, and an
adverse event recorded before the first cycle's form gets its phase when that form is entered.
Expected phases by hand: first cycle 27 Jan 2025; onset 6 Feb = day 10 -> acute; onset 5 Sep 2025 = day
221 -> late (after day 180).
"""

from __future__ import annotations


from sarcotrial.services import forms as records, systemic_entry
from tests.services.test_systemic_entry import DAY1, NURSE, cycle, doxab, enrol  # noqa: F401 - fixtures


def _ae(onset: str) -> dict:
    return {"term": "Nausea", "grade": 2, "onset_date": onset}


def _phases(study, subject) -> list:
    from sarcotrial.services.views import patients

    record = next(r for r in patients(study, NURSE) if r.subject_id == subject)
    return sorted((c.values["onset_date"].isoformat(), c.derived.get("phase")) for c in record.of("adverse_event"))


def test_adverse_events_count_their_phase_from_the_first_cycle(doxab, monkeypatch):  # noqa: F811
    monkeypatch.setattr(systemic_entry, "patient_arm", lambda session, patient: "doxorubicin")
    subject = enrol(doxab)
    records.record(doxab, NURSE, subject, "adverse_event", _ae("2025-02-06"))  # before any cycle is entered
    assert _phases(doxab, subject) == [("2025-02-06", None)]
    records.record(doxab, NURSE, subject, "systemic_cycle", cycle(1, DAY1))
    records.record(doxab, NURSE, subject, "adverse_event", _ae("2025-09-05"))
    assert _phases(doxab, subject) == [("2025-02-06", "acute"), ("2025-09-05", "late")]
