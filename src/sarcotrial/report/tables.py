"""The study report's tables, each from :mod:`sarcotrial.report.data` (counted here, never typed).

Percentages are of the population each caption names; a table states in its note what "not
recorded" and a dash mean. Every table whose rows are patients' characteristics adds up to its n.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

import numpy as np

from sarcotrial.domain.response import EORTC_STBSG_TIERS
from sarcotrial.publishing.document import Table
from sarcotrial.report.data import NOT_RECORDED, Compliance, ReportData, SeriousEvent, Specimen, ToxicityRow
from sarcotrial.report.words import count, parameter_label, parameter_order, parameter_value

DASH = "\u2013"

#: the deviation categories the study records, in words
DEVIATION_WORDS = {"rt_prolongation": "Overall treatment time prolonged", "rt_dose": "Dose delivered off prescription",
                   "plan_qa": "Treatment plan quality"}

#: closest-margin classes (descriptive; 1 mm is the "R+1 mm" cut-off discussed by Gundle et al., J Clin Oncol 2018)
#: (upper bound exclusive, label); 0 mm is a class of its own
MARGIN_CLASSES = [(1.0, "> 0 to < 1 mm"), (5.0, "1 to < 5 mm"), (10.0, "5 to < 10 mm"), (float("inf"), "\u2265 10 mm")]
AT_INK = "0 mm (tumour at the inked margin)"


def margin_class(mm: float) -> str:
    if mm <= 0:
        return AT_INK
    return next(label for bound, label in MARGIN_CLASSES if mm < bound)


def n_pct(k: int, n: int) -> str:
    """``5 (15 %)``: a count and its share of ``n``."""
    return f"{k} ({100 * k / n:.0f} %)" if n else str(k)


def baseline(data: ReportData, caption: str) -> Table:
    n = data.consort.enrolled
    return Table(["Characteristic", f"All enrolled (n = {n})"], [[r.label, r.value] for r in data.baseline],
                 caption=caption, indent=[r.indent for r in data.baseline], widths=[3.2, 1.2],
                 note=f"n (%) of the {count(n, 'enrolled patient')} unless stated. {NOT_RECORDED}: no value, or a missing-data "
                      "code (unknown, not done). Age from the year of birth; grade and stage from the pre-treatment "
                      "biopsy and staging.")


def compliance(rc: Compliance, caption: str) -> Table:
    rows = [["Patients who started radiotherapy", str(rc.patients)],
            ["Fractions delivered / planned", f"{rc.fractions_delivered} / {rc.fractions_planned}"],
            ["Fractions missed", str(rc.missed)], ["of which made up later", str(rc.made_up)],
            ["Fractions rescheduled", str(rc.rescheduled)],
            ["Courses with every fraction delivered", f"{rc.complete_courses} / {rc.patients}"],
            ["Overall treatment time, days: median (range)",
             f"{rc.ott_median:.0f} ({rc.ott_range[0]}{DASH}{rc.ott_range[1]})" if rc.ott_range else DASH],
            ["Prolongation beyond the planned calendar, days: median",
             f"{rc.prolongation_median:.0f}" if rc.prolongation_median is not None else DASH],
            ["Protocol deviations: minor / major",
             f"{sum(d[2] == 'minor' for d in rc.deviations)} / {sum(d[2] == 'major' for d in rc.deviations)}"]]
    indent = [1 if row[0] == "of which made up later" else 0 for row in rows]
    return Table(["Measure", "Patients, fractions or days"], rows, caption=caption, widths=[3.2, 1.2], indent=indent,
                 note="A missed fraction is made up when its number is delivered on a later day.")


def deviations(rc: Compliance, caption: str) -> Table:
    rows = [[subject, DEVIATION_WORDS.get(category, category.replace("_", " ").capitalize()), severity.capitalize(),
             description[:1].upper() + description[1:]] for subject, category, severity, description in rc.deviations]
    return Table(["Patient", "Category", "Severity", "Description"], rows, caption=caption,
                 align=["l", "l", "l", "l"], widths=[0.9, 1.9, 0.8, 4.3], nowrap=[True, False, True, False])


def margins(specimens: list[Specimen], protocol, caption: str) -> Table:
    """Surgery and margins of the resected patients: procedure, R status, closest margin and its tissue."""
    n = len(specimens)
    rows: list[list[str]] = []
    indent: list[int] = []

    def head(label: str, value: str = "") -> None:
        rows.append([label, value])
        indent.append(0)

    def sub(label: str, k: int) -> None:
        rows.append([label, n_pct(k, n)])
        indent.append(1)

    def group(label: str, values: list, order: list | None = None, words=lambda v: str(v)) -> None:
        counts = Counter(v for v in values if v is not None)
        head(label)
        keys = [k for k in (order or []) if counts[k]] + [k for k, _ in counts.most_common() if k not in (order or [])]
        for key in keys:
            sub(words(key), counts[key])
        if sum(v is None for v in values):
            sub(NOT_RECORDED, sum(v is None for v in values))

    labels = {c.code: c.label for c in protocol.codelists.get("surgical_procedure", [])}
    tissues = {c.code: c.label for c in protocol.codelists.get("margin_tissue", [])}
    group("Procedure", [s.procedure for s in specimens], words=lambda v: labels.get(v, v))
    group("Residual tumour (UICC R classification)", [s.r_status for s in specimens], order=["R0", "R1", "R2", "RX"],
          words=lambda v: {"R0": "R0 (no residual tumour)", "R1": "R1 (microscopic)", "R2": "R2 (macroscopic)",
                           "RX": "RX (cannot be assessed)"}.get(v, v))
    known = [s.closest_margin_mm for s in specimens if s.closest_margin_mm is not None]
    head("Closest margin, mm: median (range)",
         f"{statistics.median(known):.1f} ({min(known):.1f}{DASH}{max(known):.1f})" if known else DASH)
    classes = Counter(margin_class(m) for m in known)
    for label in [AT_INK] + [label for _, label in MARGIN_CLASSES]:
        if classes[label]:
            sub(label, classes[label])
    if len(known) < n:
        sub(NOT_RECORDED, n - len(known))
    group("Tissue at the closest margin", [s.margin_tissue for s in specimens], words=lambda v: tissues.get(v, v))
    planned = sum(bool(s.planned_positive) for s in specimens if s.r_status == "R1")
    r1 = sum(s.r_status == "R1" for s in specimens)
    if r1:
        head("R1 planned on a critical structure (Toronto classification)", f"{planned} of {r1}")
    return Table(["Surgery and margins", f"Resected patients (n = {n})"], rows, caption=caption, indent=indent,
                 widths=[3.2, 1.2],
                 note=f"n (%) of the {count(n, 'resected patient')}. R1: tumour at the inked margin (UICC 8th edition); "
                      f"margin classes are descriptive. {NOT_RECORDED}: no pathology report or no value.")


def response(specimens: list[Specimen], caption: str) -> Table:
    """The EORTC-STBSG histological response score of the resected specimens (Wardelmann et al. 2016)."""
    n = len(specimens)
    counts = Counter(s.response_score for s in specimens)
    rows = [[f"{tier}: {words[:1].upper() + words[1:]}".replace(">=", "\u2265").replace("<=", "\u2264"),
             n_pct(counts.get(tier, 0), n)]
            for tier, words in EORTC_STBSG_TIERS.items()]
    missing = sum(s.response_score is None for s in specimens)
    if missing:
        rows.append([NOT_RECORDED, n_pct(missing, n)])
    return Table(["Score: stainable tumour cells", f"Resected patients (n = {n})"], rows, caption=caption,
                 widths=[3.2, 1.2],
                 note="Wardelmann E, et al. Eur J Cancer 2016;53:84-95: the share of stainable (viable) tumour "
                      "cells in the resected specimen; necrosis and fibrosis do not enter the score.")


#: why a cumulative incidence of 0 has the interval 0.0-0.0 (the table's note)
ZERO_INCIDENCE_NOTE = ("Before the first event the estimate is 0 % with no variance: its interval is printed as "
                       "(0.0\u20130.0), as the Kaplan-Meier table prints (100.0\u2013100.0) before the first event.")


def incidence_row(name: str, own, times: np.ndarray, landmarks: list[float], cell) -> list[str]:
    """A row of the cumulative-incidence table: a dash beyond the last follow-up (as the Kaplan-Meier table),
    0 % up to it when no event of the endpoint was seen; an estimate of 0 has the degenerate interval 0-0
    (its log(-log) interval is undefined; the figure draws the band as the estimate there too)."""
    last = float(times.max()) if times.size else 0.0
    if own is None:
        return [name, "0"] + [(cell(0.0, 0.0, 0.0) if m <= last else DASH) for m in landmarks]
    at = own.at(landmarks)
    return [name, str(own.events)] + [cell(v, 0.0 if v == 0 else lo, 0.0 if v == 0 else hi)
                                      for v, lo, hi in zip(at.estimate, at.lower, at.upper)]


def worst_grades(toxicity: list[ToxicityRow], phase: str | None, started: int, caption: str) -> Table | None:
    """Worst CTCAE grade per patient and term (``phase``: acute, late, or ``None`` for both)."""
    worst: dict[str, dict[str, int]] = defaultdict(dict)
    for row in toxicity:
        if phase is None or row.phase == phase:
            worst[row.term][row.subject_id] = max(worst[row.term].get(row.subject_id, 0), row.max_grade)
    if not worst:
        return None
    rows = []
    for term in sorted(worst, key=lambda t: (-len(worst[t]), t)):
        grades = list(worst[term].values())
        rows.append([term] + [str(sum(g == k for g in grades)) for k in range(1, 6)] +
                    [n_pct(len(grades), started), n_pct(sum(g >= 3 for g in grades), started)])
    return Table(["CTCAE term", "G1", "G2", "G3", "G4", "G5", "Any grade", "Grade \u2265 3"], rows,
                 widths=[3.2, 0.45, 0.45, 0.45, 0.45, 0.45, 1.05, 1.05], caption=caption)


def organ_classes(toxicity: list[ToxicityRow], started: int, caption: str) -> Table | None:
    """Patients with an adverse event per CTCAE system organ class (MedDRA SOC), worst grade, acute and late."""
    worst: dict[str, dict[str, int]] = defaultdict(dict)
    for row in toxicity:
        soc = row.soc or "System organ class not recorded"
        worst[soc][row.subject_id] = max(worst[soc].get(row.subject_id, 0), row.max_grade)
    if not worst:
        return None
    rows = [[soc, n_pct(len(by), started), n_pct(sum(g >= 3 for g in by.values()), started)]
            for soc, by in sorted(worst.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    return Table(["System organ class", "Any grade", "Grade \u2265 3"], rows, caption=caption, widths=[3.6, 1.0, 1.0],
                 note=f"Patients with at least one adverse event in the class, worst grade, acute and late phases "
                      f"together; % of the {count(started, 'patient')} who started radiotherapy.")


def serious(events: list[SeriousEvent], protocol, caption: str) -> Table:
    criteria = {c.code: c.label for c in protocol.codelists.get("seriousness", [])}
    relation = {c.code: c.label for c in protocol.codelists.get("attribution", [])}
    rows = [[e.subject_id, e.term, str(e.grade) if e.grade is not None else DASH,
             criteria.get(e.seriousness, e.seriousness) if e.seriousness else NOT_RECORDED,
             relation.get(e.attribution, e.attribution) if e.attribution else NOT_RECORDED,
             f"{e.onset:%Y-%m-%d}" if e.onset else DASH]
            for e in sorted(events, key=lambda e: (e.onset is None, e.onset or 0, e.subject_id))]
    return Table(["Patient", "CTCAE term", "Grade", "Seriousness (ICH E2A)", "Relation to radiotherapy", "Onset"], rows,
                 caption=caption, align=["l", "l", "r", "l", "l", "r"], widths=[0.85, 1.9, 0.65, 2.5, 1.25, 1.0],
                 nowrap=[True, False, False, False, False, True])


def parameters(protocol, caption: str) -> Table:
    from sarcotrial.protocol import resolve_parameter

    rows = [[parameter_label(protocol, path), parameter_value(protocol, path, resolve_parameter(protocol, path))]
            for path in parameter_order(protocol, protocol.assumptions)]
    return Table(["Protocol parameter", "Value assumed"], rows, widths=[2.3, 2.4], align=["l", "l"], caption=caption)
