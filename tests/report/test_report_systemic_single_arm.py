"""SPRINT (1.3) allows neoadjuvant anthracycline-based chemotherapy: the report gives the cycles given, the
relative dose intensity and the cumulative doxorubicin-equivalent dose when a patient has cycles recorded, and
no such section when none has (issue: "In the report: cycles given, dose intensity, cumulative anthracycline").

Expected values by hand: 180 cm, 80 kg -> BSA sqrt(180 x 80 / 3600) = 2.00 m2 (Mosteller). The regimen of
SPRINT 1.3: epirubicin 60 mg/m2 days 1-2 + ifosfamide 3 g/m2 days 1-3 every 21 days (Gronchi et al., Lancet
Oncol 2017). Two full cycles: epirubicin 2 x 2 x 120 mg = 480 mg = 240 mg/m2, doxorubicin equivalent x 0.8
(ESC 2022) = 192 mg/m2.
"""

from __future__ import annotations

import datetime as dt

from sarcotrial.report.build import build_document
from sarcotrial.services import forms as records
from tests.helpers import DOCTOR, enrolled


def _cycle(number: int, day: str) -> dict:
    return {"cycle_number": number, "cycle_date": day, "height_cm": 180, "weight_kg": 80,
            "epirubicin_day1_mg": 120, "epirubicin_day2_mg": 120, "ifosfamide_day1_mg": 6000,
            "ifosfamide_day2_mg": 6000, "ifosfamide_day3_mg": 6000, "dose_reduced": False, "delayed": False}


def _text(document) -> str:
    parts = []
    for section in document.sections:
        parts.append(section.title)
        for block in section.blocks:
            for attr in ("caption", "text", "header", "rows"):
                value = getattr(block, attr, None)
                if value is not None:
                    parts.append(str(value))
    return " ".join(parts)


def test_the_report_gives_chemotherapy_when_it_was_given(study, tmp_path):
    subject = enrolled(study)
    assert "Systemic therapy given" not in _text(build_document(study, tmp_path / "before", cutoff=dt.date(2025, 6, 30)))
    records.record(study, DOCTOR, subject, "chemotherapy_cycle", _cycle(1, "2025-01-27"))
    records.record(study, DOCTOR, subject, "chemotherapy_cycle", _cycle(2, "2025-02-17"))
    text = _text(build_document(study, tmp_path / "after", cutoff=dt.date(2025, 6, 30)))
    assert "Systemic therapy given" in text
    assert "All patients (n = 1 treated)" in text
    assert "192 (192)" in text  # cumulative doxorubicin equivalent, median (maximum)
