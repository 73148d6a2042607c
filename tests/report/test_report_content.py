"""What the study report says: every row a journal's supplement expects, counted from the patients'
own records (read here through the services, not through the report), and worded for a reader.

Sources: CONSORT 2010 item 15 (a table of baseline characteristics, with missing data stated);
Wardelmann et al., Eur J Cancer 2016;53:84-95 (EORTC-STBSG response score, tiers A-E); UICC TNM 8th
edition (residual tumour R0-R2, RX); CTCAE v5.0 (terms graded within MedDRA system organ classes);
ICH E2A (serious adverse events and their seriousness criteria).
"""

from __future__ import annotations

import re
from collections import Counter

from sarcotrial.publishing.document import Table

from tests.report.conftest import EARLY_CUTOFF, FULL_CUTOFF

DASH = "\u2013"


def tables(document) -> list[Table]:
    return [b for s in document.sections for b in s.blocks if isinstance(b, Table)]


def table(document, words: str) -> Table:
    found = [t for t in tables(document) if t.caption and words in t.caption]
    assert len(found) == 1, f"one table captioned with {words!r}: {[t.caption for t in tables(document)]}"
    return found[0]


def groups(t: Table) -> dict[str, list[list[str]]]:
    """A table's sub-heading rows with the indented rows under each."""
    out: dict[str, list[list[str]]] = {}
    current = None
    for row, indent in zip(t.rows, t.indent):
        if indent == 0:
            current = row[0]
            out[current] = []
        else:
            out[current].append(row)
    return out


def count(cell: str) -> int:
    return int(cell.split()[0])


def enrolled(records, cutoff=None):
    return [r for r in records if r.enrolment_date is not None and (cutoff is None or r.enrolment_date <= cutoff)]


def test_table_1_has_ecog_chemotherapy_and_each_group_adds_up_to_the_enrolled(full_report):
    t = table(full_report.document, "Patients and tumours at enrolment")
    patients = enrolled(full_report.records)
    n = len(patients)
    by_group = groups(t)
    ecog = Counter(r.first("diagnosis").values.get("ecog") for r in patients)
    assert {row[0]: count(row[1]) for row in by_group["ECOG performance status"]} == \
        {("Not recorded" if k is None else str(k)): v for k, v in ecog.items()}
    chemo = Counter(r.first("rt_course").values.get("concurrent_chemotherapy") if r.first("rt_course") else None
                    for r in patients)
    assert {row[0]: count(row[1]) for row in by_group["Concurrent anthracycline-based chemotherapy"]} == \
        {{True: "Yes", False: "No", None: "Not recorded"}[k]: v for k, v in chemo.items()}
    for title, rows in by_group.items():
        if rows and title not in ("Patients",) and not title.endswith("median (range)"):
            assert sum(count(r[1]) for r in rows) == n, f"{title} adds up to {n}"
    # the site does not contradict the depth: "trunk" is the trunk wall, its depth is the Depth row's
    labels = [row[0] for row in t.rows]
    assert "Trunk wall" in labels and not any("superficial)" in x for x in labels)
    assert "Not recorded" in t.note


def test_table_1_says_not_recorded_where_a_value_is_missing():
    """A patient without ECOG, with the depth coded unknown, and one without a diagnosis form at all."""
    import datetime as dt

    from sarcotrial.report.data import _baseline
    from sarcotrial.services.forms import CRF
    from sarcotrial.services.views import PatientRecord

    def diagnosis(subject, values, missing=None):
        return CRF(1, subject, "diagnosis", "baseline", 1, 1, "complete", 1, "1.1", "1.1", values,
                   {"grade": "2", "stage": "II"}, missing or {})

    def patient(subject, forms):
        return PatientRecord(subject, "MAIN", "female", 1960, "enrolled", dt.date(2025, 1, 1), None, 1, forms=forms)

    rows = _baseline([
        patient("A", {"diagnosis": [diagnosis("A", {"ecog": 0, "depth": "deep", "anatomic_site": "trunk", "size_cm": 5.0})]}),
        patient("B", {"diagnosis": [diagnosis("B", {"anatomic_site": "extremity", "size_cm": 7.0}, {"depth": "UNK"})]}),
        patient("C", {})])
    text = [(r.label, r.value, r.indent) for r in rows]
    ecog = text[[x[0] for x in text].index("ECOG performance status") + 1:][:2]
    assert ecog == [("0", "1 (33 %)", 1), ("Not recorded", "2 (67 %)", 1)]
    depth = text[[x[0] for x in text].index("Depth relative to the superficial fascia") + 1:][:2]
    assert depth == [("Deep", "1 (33 %)", 1), ("Not recorded", "2 (67 %)", 1)]
    size = [x for x in text if x[0].startswith("Largest tumour dimension")][0]
    assert size[1] == "6.0 (5.0\u20137.0)"
    assert ("Not recorded", "1 (33 %)", 1) in text[text.index(size) + 1:text.index(size) + 2]


def test_margins_and_eortc_stbsg_tables_count_the_pathology_reports(full_report):
    resected = [r for r in enrolled(full_report.records) if r.first("surgery") is not None]
    n = len(resected)
    path = [r.first("pathology") for r in resected]
    margins = groups(table(full_report.document, "Surgery and resection margins"))
    r_status = Counter(p.derived.get("r_status") if p else None for p in path)
    assert {row[0].split()[0]: count(row[1]) for row in margins["Residual tumour (UICC R classification)"]} == \
        {("Not" if k is None else k): v for k, v in r_status.items()}
    closest = [p.values.get("closest_margin_mm") for p in path if p and p.values.get("closest_margin_mm") is not None]
    classes = {row[0]: count(row[1]) for row in margins["Closest margin, mm: median (range)"]}
    assert classes.get("\u2265 10 mm", 0) == sum(m >= 10 for m in closest)
    assert classes.get("0 mm (tumour at the inked margin)", 0) == sum(m == 0 for m in closest)
    assert sum(classes.values()) == n
    response = table(full_report.document, "EORTC-STBSG")
    tiers = Counter(p.derived.get("response_score") for p in path if p)
    assert [row[0][0] for row in response.rows[:5]] == list("ABCDE")
    for row in response.rows[:5]:
        assert count(row[1]) == tiers.get(row[0][0], 0)
    assert ">=" not in " ".join(r[0] for r in response.rows)  # "\u2265 10 %", as printed


def test_toxicity_tables_give_grade_3_with_percent_organ_classes_and_serious_events(full_report):
    doc = full_report.document
    acute = table(doc, "Worst grade per patient, acute")
    started = int(re.search(r"n = (\d+) patients who started RT", acute.caption).group(1))
    for row in acute.rows:
        k = count(row[-1])
        assert row[-1] == f"{k} ({100 * k / started:.0f} %)"  # grade >= 3 as n (%), as any grade
    soc = table(doc, "system organ class")
    assert soc.header == ["System organ class", "Any grade", "Grade \u2265 3"]
    assert {row[0] for row in soc.rows} >= {"Injury, poisoning and procedural complications"}
    serious = [(r.subject_id, ae.values["term"]) for r in enrolled(full_report.records, FULL_CUTOFF)
               for ae in r.of("adverse_event") if ae.values.get("serious") and ae.values["onset_date"] <= FULL_CUTOFF]
    sae = table(doc, "Serious adverse events")
    assert sorted((row[0], row[1]) for row in sae.rows) == sorted(serious) and serious
    assert all(row[3] == "Requires or prolongs hospitalisation" for row in sae.rows)  # the codelist's words


def test_methods_speak_in_words_not_in_the_protocol_file_keys(full_report):
    params = table(full_report.document, "Parameters assumed")
    text = " ".join(" ".join(row) for row in params.rows)
    assert not re.search(r"\b[a-z_]+\.[a-z_]+\b", text), "a dotted key of the protocol file"
    assert "every 30 days until day 120" in text and "every days" not in text
    assert "every 7 days, 5 times" in text and "every 6 months until month 60" in text
    assert "_" not in text  # no code with underscores (death_any_cause, rt_course...)
    assert "local relapse or death from any cause" in text


def test_cumulative_incidence_prints_a_dash_beyond_the_last_follow_up_as_kaplan_meier_does(early_report):
    """At 31 October 2023 the first patient (16 February 2023) has 8.5 months of follow-up: no estimate at
    12, 24 or 36 months exists, so both tables print a dash there, never "0.0 %"."""
    first = min(r.enrolment_date for r in enrolled(early_report.records))
    assert (EARLY_CUTOFF - first).days / 30.44 < 12
    km = table(early_report.document, "Time-to-event endpoints")
    cif = table(early_report.document, "Cumulative incidences")
    for t, first_landmark in ((km, 3), (cif, 2)):
        for row in t.rows:
            assert row[first_landmark:] == [DASH] * 3, row
    assert cif.note and "dash" in cif.note


def test_incidence_row_is_zero_up_to_the_last_follow_up_and_a_dash_after():
    import numpy as np

    from sarcotrial.report.tables import incidence_row

    from sarcotrial.report.build import _pct_ci

    row = incidence_row("CI", None, np.array([2.0, 5.5, 13.0]), [12, 24], _pct_ci)
    assert row == ["CI", "0", f"0.0 % (0.0{DASH}0.0)", DASH]  # the interval as the KM table prints 100.0-100.0


def test_an_early_cutoff_reports_the_study_as_it_stood(early_report):
    """Patients enrolled after the cut-off are not in it; no later form is counted (no share above 100 %)."""
    n = len(enrolled(early_report.records, EARLY_CUTOFF))
    assert 0 < n < len(enrolled(early_report.records))
    t1 = table(early_report.document, "Patients and tumours at enrolment")
    assert t1.header[1] == f"All enrolled (n = {n})"
    by_cutoff = {r.subject_id for r in enrolled(early_report.records, EARLY_CUTOFF)}
    for t in tables(early_report.document):
        for row in t.rows:
            for cell in row:
                for pct in re.findall(r"\((\d+) %\)", cell):
                    assert int(pct) <= 100, (t.caption, row)
                for subject in re.findall(r"\bSPR-\d{3}\b", cell):
                    assert subject in by_cutoff, (t.caption, row)  # a deviation or an SAE of a later patient
