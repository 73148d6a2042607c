"""The report's wording and counts where a small or unusual study showed faults: the FNCLCC grade a
tumour lacks (not assessed, or not applicable to its histotype), missed fractions never made up, singular
and plural with one patient, a cumulative incidence of 0 and its interval, one y scale for the
incidence figures, and the assumed parameters in the protocol's order with their units.

Sources: WHO Classification of Tumours, Soft tissue and bone tumours, 5th ed. (2020): solitary fibrous
tumour by a metastatic-risk model (Demicco et al.), not FNCLCC; Coindre, Arch Pathol Lab Med
2006;130:1448-53 (FNCLCC grade, GX where a component cannot be assessed); SPIRIT 2013 (the order of a
protocol's sections); ICRU 83 (dose-volume objectives: V95% in % of the volume, Dmean in Gy).
"""

from __future__ import annotations

import datetime as dt
import re

from sarcotrial.publishing.document import Table

DASH = "\u2013"


def _texts(document) -> str:
    out = []
    for s in document.sections:
        out.append(s.title)
        for b in s.blocks:
            if isinstance(b, Table):
                out += [b.caption or "", b.note or ""] + [" ".join(r) for r in b.rows]
            elif isinstance(b, str):
                out.append(b)
            else:
                out.append(b.caption)
    return "\n".join(out + [document.title, document.subtitle])


def test_a_missing_fnclcc_grade_is_not_assessed_unless_the_histotype_is_graded_otherwise():
    from sarcotrial.report.data import _baseline
    from sarcotrial.services.forms import CRF
    from sarcotrial.services.views import PatientRecord

    def patient(subject, histotype):
        diagnosis = CRF(1, subject, "diagnosis", "baseline", 1, 1, "complete", 1, "1.1", "1.1",
                        {"histotype": histotype, "anatomic_site": "extremity", "size_cm": 6.0}, {"grade": "X"}, {})
        return PatientRecord(subject, "MAIN", "male", 1960, "enrolled", dt.date(2025, 1, 1), None, 1,
                             forms={"diagnosis": [diagnosis]})

    rows = [(r.label, r.value) for r in _baseline([patient("A", "myxofibrosarcoma"),
                                                   patient("B", "solitary_fibrous_tumour"),
                                                   patient("C", "myxofibrosarcoma")])]
    grade = rows[[r[0] for r in rows].index("FNCLCC grade (pre-treatment biopsy)") + 1:][:2]
    # a myxofibrosarcoma is graded by FNCLCC: without mitoses or necrosis its grade was not assessed
    assert grade == [("GX: not assessed", "2 (67 %)"),
                     ("Not applicable (graded by another system, e.g. solitary fibrous tumour)", "1 (33 %)")]
    assert not any("FNCLCC not applicable" in r[0] for r in rows)


def _one_patient_study(study):
    """One patient, enrolled 22 January 2025; 25 fractions planned, fraction 3 missed and never made up."""
    from sarcotrial.radiotherapy.calendar import treatment_dates
    from sarcotrial.services import forms as records
    from tests.helpers import DOCTOR, enrolled

    subject = enrolled(study, "H0001")
    records.record(study, DOCTOR, subject, "rt_course", {"planned_start": "2025-02-03", "calendar": "IT-MI"})
    days = treatment_dates(dt.date(2025, 2, 3), 25, "IT-MI").dates
    for number, day in enumerate(days, start=1):
        status = "missed" if number == 3 else "delivered"
        records.record(study, DOCTOR, subject, "rt_fraction",
                       {"fraction_number": number, "fraction_date": day, "status": status,
                        **({"reason": "linac breakdown"} if status == "missed" else {})})
    return subject


def test_a_one_patient_study_reads_in_the_singular_and_a_missed_fraction_is_not_made_up(study, tmp_path):
    from sarcotrial.report.build import build_document

    _one_patient_study(study)
    document = build_document(study, tmp_path, figure_formats=("png",))
    text = _texts(document)
    assert "1 patient was enrolled on 22 January 2025, " in text
    assert not re.search(r"\b1 (patients|screenings|events|fractions)\b", text), \
        re.findall(r".{30}\b1 (?:patients|screenings)\b.{10}", text)
    assert "between 22 January 2025 and 22 January 2025" not in text
    compliance = next(t for s in document.sections for t in s.blocks
                      if isinstance(t, Table) and t.caption and "Delivery of radiotherapy" in t.caption)
    rows = {r[0]: r[1] for r in compliance.rows}
    assert rows["Fractions missed"] == "1"
    assert rows["of which made up later"] == "0"  # fraction 3 was never delivered on a later day
    assert rows["Fractions delivered / planned"] == "24 / 25"
    assert not any("(made up later)" in r[0] for r in compliance.rows)


def test_a_cumulative_incidence_of_zero_prints_its_interval_as_kaplan_meier_does():
    import numpy as np

    from sarcotrial.outcomes.competing_risks import cumulative_incidence
    from sarcotrial.report.build import _pct_ci
    from sarcotrial.report.tables import ZERO_INCIDENCE_NOTE, incidence_row

    times = np.array([2.0, 5.0, 13.0, 14.0, 20.0, 26.0])
    status = np.array([0, 0, 0, 1, 0, 0])  # the first event at 14 months
    own = cumulative_incidence(times, status, 1, conf_level=0.95)
    row = incidence_row("CI", own, times, [12, 24], _pct_ci)
    assert row[2] == f"0.0 % (0.0{DASH}0.0)"  # no event by 12 months: 0 %, no variance
    assert re.fullmatch(r"\d+\.\d % \(\d+\.\d\u2013\d+\.\d\)", row[3])
    assert incidence_row("CI", None, times, [12, 36], _pct_ci) == ["CI", "0", f"0.0 % (0.0{DASH}0.0)", DASH]
    assert "(0.0\u20130.0)" in ZERO_INCIDENCE_NOTE


def test_the_parameters_follow_the_protocols_sections_and_dose_objectives_have_units():
    from sarcotrial.protocol.loader import load_protocol
    from sarcotrial.report.tables import parameters
    from sarcotrial.report.words import SECTION_ORDER, parameter_order

    protocol = load_protocol("sprint")
    order = parameter_order(protocol, protocol.assumptions)
    assert sorted(order) == sorted(protocol.assumptions)
    areas = [SECTION_ORDER.index(p.split(".")[0]) for p in order]
    assert areas == sorted(areas)
    expected = ["identification", "treatment", "visits", "endpoints", "statistics"]
    firsts = [next(i for i, p in enumerate(order) if p.startswith(a + ".")) for a in expected]
    assert firsts == sorted(firsts)
    visits = [v.id for v in protocol.visits]
    seen = [visits.index(p.split(".")[1]) for p in order if p.startswith("visits.")]
    assert seen == sorted(seen)  # visits in the protocol's own order
    rows = {r[0]: r[1] for r in parameters(protocol, "x").rows}
    objectives = rows["Radiotherapy: dose-volume objectives"]
    assert "PTV1 V95% \u2265 95 %" in objectives and "Bone Dmean \u2264 37 Gy" in objectives
    assert "PTV2 D2% \u2264 107 % of the prescription" in objectives


def test_the_cumulative_incidence_figures_of_a_report_share_one_y_scale(demo_folder, tmp_path, monkeypatch):
    """Figures 7 and 8 (local relapse, distant metastasis) were drawn to different heights: one scale now,
    the higher of the two."""
    from sarcotrial.report import figures
    from sarcotrial.report.build import build_document
    from sarcotrial.services.study import StudyDB
    from tests.report.conftest import FULL_CUTOFF, demo_key

    drawn = []
    original = figures.incidence_curves

    def spy(curves, title, **kw):
        fig = original(curves, title, **kw)
        drawn.append((title, fig.axes[0].get_ylim(), figures.incidence_top(curves)))
        return fig

    monkeypatch.setattr(figures, "incidence_curves", spy)
    with demo_key(demo_folder):
        study = StudyDB.open(str(demo_folder / "sprint-demo.sqlite"))
        try:
            build_document(study, tmp_path, cutoff=FULL_CUTOFF, figure_formats=("png",))
        finally:
            study.close()
    assert len(drawn) == 2, drawn
    (_, first, top1), (_, second, top2) = drawn
    assert top1 != top2  # the two endpoints' own heights differ, and yet
    assert first == second
    assert first[1] >= max(top1, top2)
