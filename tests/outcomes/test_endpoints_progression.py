"""Progression-free survival and the objective response rate of the second protocol (DOXAB) from RECIST 1.1
tumour assessments, on patient records built in memory (the read side's PatientRecord; no database).

Standards: RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247): PD by section 4.3.1, dated back
to an equivocal new lesion by section 4.3.5, confirmation by Table 3; PFS as DOXAB defines it (progression
or death from any cause, origin enrolment; DATECAN, Bellera et al., Ann Oncol 2015). Sums, percentages
and day counts are worked by hand in each docstring.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sarcotrial.protocol import load_protocol
from sarcotrial.services.endpoints import course_of, derive_endpoints, response_rows
from sarcotrial.services.forms import CRF
from sarcotrial.services.views import PatientRecord

DOXAB = load_protocol("doxab")
ENROL = dt.date(2025, 1, 22)
D = dt.date


def crf(form_id: str, values: dict, n: int) -> CRF:
    return CRF(id=n, subject_id="DXA-001", form_id=form_id, visit_id="unscheduled", occurrence=1, instance=n,
               status="complete", revision=1, protocol_version="1.0", entered_version="1.0", values=values,
               derived={}, missing={})


def patient(scans: list[tuple[dt.date, dict, str]], events: list[dict] = (), *, subject: str = "DXA-001") -> PatientRecord:
    """Lesions L1 (lung) and L2 (liver) target, N1 non-target node; ``scans``: (date, {lesion: mm or
    status}, new lesions), the first the baseline."""
    forms: dict[str, list[CRF]] = {"lesion": [
        crf("lesion", {"lesion_id": "L1", "kind": "target", "organ": "lung", "node": False}, 1),
        crf("lesion", {"lesion_id": "L2", "kind": "target", "organ": "liver", "node": False}, 2),
        crf("lesion", {"lesion_id": "N1", "kind": "non_target", "organ": "lymph_node", "node": True}, 3)]}
    for i, (day, sizes, new) in enumerate(scans):
        forms.setdefault("tumour_assessment", []).append(crf("tumour_assessment", {
            "assessment_date": day, "baseline": i == 0, "method": "ct", "new_lesions": new}, 10 + i))
        for lesion_id, value in sizes.items():
            m = {"assessment_date": day, "lesion_id": lesion_id}
            m.update({"status": value} if isinstance(value, str) else {"diameter_mm": value})
            forms.setdefault("lesion_measurement", []).append(crf("lesion_measurement", m, 100 + len(forms.get(
                "lesion_measurement", []))))
    forms["outcome_event"] = [crf("outcome_event", e, 200 + i) for i, e in enumerate(events)]
    return PatientRecord(subject, "S1", "female", 1960, "enrolled", ENROL, ENROL, 1, forms=forms)


BASE = (D(2025, 1, 15), {"L1": 30, "L2": 20, "N1": "present"}, "no")   # sum 50 mm


def pfs(record):
    row = derive_endpoints(SimpleNamespace(protocol=DOXAB), records=[record])[0]
    return row.times["pfs"], row


def test_recist_pd_is_the_pfs_event_at_its_scan():
    """50 -> 34 mm (-32 %, PR) -> 42 mm (+8 mm, +23.5 % over the nadir 34: PD). PD on 16 April 2025, enrolled
    22 January: 9 + 28 + 31 + 16 = 84 days."""
    record = patient([BASE, (D(2025, 3, 5), {"L1": 20, "L2": 14, "N1": "present"}, "no"),
                      (D(2025, 4, 16), {"L1": 26, "L2": 16, "N1": "present"}, "no")])
    assert course_of(record, DOXAB).progressions == [D(2025, 4, 16)]
    t, row = pfs(record)
    assert (t.time_days, t.status, t.reason) == (84, 1, "progression") and row.missing == ()


def test_a_clinical_progression_before_the_pd_scan_is_the_event():
    """outcome_event progression on 1 April 2025 (9 + 28 + 31 + 1 = 69 days) comes before the PD scan of
    16 April: the earliest is the event."""
    record = patient([BASE, (D(2025, 3, 5), {"L1": 20, "L2": 14, "N1": "present"}, "no"),
                      (D(2025, 4, 16), {"L1": 26, "L2": 16, "N1": "present"}, "no")],
                     [{"event_type": "progression", "event_date": D(2025, 4, 1), "progression_basis": "clinical"}])
    assert course_of(record, DOXAB).progressions == [D(2025, 4, 1), D(2025, 4, 16)]
    assert pfs(record)[0].time_days == 69


def test_pd_is_dated_back_to_the_first_equivocal_new_lesion():
    """Section 4.3.5: an equivocal new lesion on 5 March (day 42), confirmed on 16 April: progression is
    dated 5 March: 42 days (9 + 28 + 5). Target sums stay at 50 mm (SD)."""
    record = patient([BASE, (D(2025, 3, 5), {"L1": 30, "L2": 20, "N1": "present"}, "equivocal"),
                      (D(2025, 4, 16), {"L1": 30, "L2": 20, "N1": "present"}, "yes")])
    assert pfs(record)[0].time_days == 42


def test_without_progression_pfs_is_censored_at_the_last_assessment_and_os_at_the_last_contact():
    """Stable disease (50 -> 45 mm, -10 %) on 5 March and 16 April; no event: censored at the last contact,
    the last tumour assessment (84 days)."""
    record = patient([BASE, (D(2025, 3, 5), {"L1": 27, "L2": 18, "N1": "present"}, "no"),
                      (D(2025, 4, 16), {"L1": 27, "L2": 18, "N1": "present"}, "no")])
    t, row = pfs(record)
    assert (t.time_days, t.status) == (84, 0) and row.course.last_contact == D(2025, 4, 16)


def test_an_incomplete_baseline_is_reported_not_guessed():
    """A baseline target lesion not measured: RECIST cannot be evaluated (section 3.1: every target lesion
    is measured at baseline); the row says so and no progression is invented from it."""
    record = patient([(D(2025, 1, 15), {"L1": 30, "N1": "present"}, "no"),
                      (D(2025, 3, 5), {"L1": 60, "L2": 60, "N1": "present"}, "no")])
    t, row = pfs(record)
    assert t.status == 0
    assert row.missing == ("RECIST 1.1 not evaluable: assessments[0].measurements.L2: every target lesion must be "
                           "measured at baseline",)
    assert response_rows(SimpleNamespace(protocol=DOXAB), records=[record])[0].best_unconfirmed == "NE"


def test_orr_counts_a_pr_confirmed_28_days_later():
    """PR on 5 March (34 mm, -32 %) and again on 16 April (35 mm: -30 %, 35 * 10 <= 50 * 7), 42 days apart
    (>= confirmation_min_days 28): confirmed PR (Table 3: PR, PR -> PR). A second patient with no
    assessment counts as NE (not a responder)."""
    confirmed = patient([BASE, (D(2025, 3, 5), {"L1": 20, "L2": 14, "N1": "present"}, "no"),
                         (D(2025, 4, 16), {"L1": 20, "L2": 15, "N1": "present"}, "no")])
    none = PatientRecord("DXA-002", "S1", "male", 1970, "enrolled", ENROL, ENROL, 2, forms={})
    rows = response_rows(SimpleNamespace(protocol=DOXAB), records=[confirmed, none])
    assert [(r.best_unconfirmed, r.date_unconfirmed, r.best_confirmed, r.date_confirmed) for r in rows] == [
        ("PR", D(2025, 3, 5), "PR", D(2025, 3, 5)), ("NE", None, "NE", None)]
    assert [(r.responder_unconfirmed, r.responder_confirmed) for r in rows] == [(1, 1), (0, 0)]
    assert rows[1].note == "no tumour assessment recorded"


def test_a_protocol_without_a_response_section_reads_progression_from_events_only():
    """SPRINT has no response section: its courses are what they were (progression events only)."""
    sprint = load_protocol("sprint")
    record = patient([BASE, (D(2025, 3, 5), {"L1": 60, "L2": 60, "N1": "present"}, "no")])
    assert course_of(record, sprint).progressions == [] and course_of(record).progressions == []
    assert response_rows(SimpleNamespace(protocol=sprint), records=[record]) == []
