"""The study report of a randomised two-arm protocol (the shipped DOXAB: doxorubicin with or without an
antibody): CONSORT with both arms, PFS and OS by arm with the hazard ratio, ORR by RECIST 1.1, toxicity and
systemic therapy by arm, stratification errors.

A small study is built here through the services, as a user enters it (registration, screening, consent,
enrolment with its allocation by minimisation, cycles, RECIST 1.1 lesions and measurements, events, adverse
events), and the builder keeps what it entered (the ground truth). The report's numbers are checked against:

- an independent implementation on the report's own data: lifelines 0.30 (``KaplanMeierFitter``,
  ``CoxPHFitter`` with Efron ties, ``statistics.logrank_test``) and scipy's exact binomial interval
  (``binomtest(...).proportion_ci(method="exact")``, Clopper and Pearson, Biometrika 1934;26:404-413);
- the stratified log-rank test written here from its textbook definition (Collett D. Modelling Survival Data
  in Medical Research, 3rd ed., section 2.6 and 3.x: O - E and the hypergeometric variance summed over strata);
- Schoenfeld's events D = (z_{1-alpha/2} + z_{power})^2 / (p1 p2 (ln HR)^2) (Biometrics 1983;39:499-503) by hand
  with scipy's normal quantiles;
- the builder's ground truth, computed by hand from the RECIST 1.1 rules (Eisenhauer EA et al. Eur J Cancer
  2009;45:228-247, section 4.3.1: PR a decrease of at least 30 % from baseline, PD an increase of at least 20 %
  and 5 mm over the nadir; Table 3 for confirmation at least 28 days later), Mosteller's body surface area
  (N Engl J Med 1987;317:1098) and the Hryniuk-Bush relative dose intensity (J Clin Oncol 1984;2:1281-1288).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ACTOR_NAME = "tester"
START = dt.date(2024, 1, 8)
CUTOFF = dt.date(2025, 6, 30)
TERMS = ["Neutrophil count decreased", "Nausea", "Mucositis oral", "Fatigue", "Anemia"]
DAY = dt.timedelta(days=1)
HEIGHT, WEIGHT = 170, 70
BSA = math.sqrt(HEIGHT * WEIGHT / 3600)  # Mosteller: sqrt(170 x 70 / 3600) = 1.8181 m2
FULL_DOSE = round(75 * BSA, 1)  # 75 mg/m2 of doxorubicin: 136.4 mg
N_PATIENTS = 26
SCREEN_FAILURES = {5: "lvef", 17: "lvef", 11: "anthracycline"}  # 2 inclusion (LVEF < 50 %), 1 exclusion


@dataclass
class Truth:
    """What the builder entered for a patient."""

    arm: str
    enrolled: dt.date
    baseline_mm: int
    scans: list[tuple[dt.date, int]] = field(default_factory=list)  # post-baseline (date, diameter of L1)
    pd_day: dt.date | None = None
    death: dt.date | None = None
    cycles: list[tuple[int, dt.date, float, bool, bool]] = field(default_factory=list)  # number, day 1, dose, reduced, delayed
    aes: list[tuple[str, int]] = field(default_factory=list)
    strata: dict = field(default_factory=dict)


@dataclass
class Built:
    study: object
    truth: dict[str, Truth]
    document: object
    folder: Path


def _build(url: str, seed: int = 11) -> tuple[object, dict[str, Truth]]:
    from sarcotrial.services import access, forms as records, pathway, randomisation
    from sarcotrial.services.study import Actor, StudyDB

    actor = Actor(ACTOR_NAME, "test")
    rnd = random.Random(seed)
    study, _ = StudyDB.create(url, "doxab", actor, synthetic=True)
    # the allocations from a seed of the test's own (a real study's seed is 128 random bits): the same arms, and
    # so the same strata holding both arms, at every run
    randomisation.set_synthetic_seed(study, actor, f"{seed:032x}")
    access.add_site(study, actor, "S02", "Second site")
    control = study.protocol.statistics.primary.control_arm
    truth: dict[str, Truth] = {}

    def rec(subject, form, values, **kw):
        return records.record(study, actor, subject, form, values, **kw)

    for i in range(N_PATIENTS):
        referral = START + dt.timedelta(days=10 * i)
        born = 1950 + i % 30
        subject = pathway.register_patient(study, actor, identifiers=pathway.Identifiers(
            "Test Patient (synthetic)", dt.date(born, 3, 1), f"R{i:04d}"), sex=("female", "male")[i % 3 == 0],
            referral={"referral_date": referral.isoformat()}, site_code=("MAIN", "S02")[i % 2]).subject_id
        screened = referral + 3 * DAY
        values = {"screening_date": screened.isoformat(), "age_years": screened.year - born - 1,
                  "histology_confirmed": True, "disease_extent": "metastatic" if i % 4 else "locally_advanced",
                  "measurable_disease": True, "ecog": (i // 3) % 3,
                  "lvef_percent": 40 if SCREEN_FAILURES.get(i) == "lvef" else 60, "previous_lines": (i // 2) % 2,
                  "previous_anthracycline": SCREEN_FAILURES.get(i) == "anthracycline",
                  "histotype_group": ("leiomyosarcoma", "synovial_sarcoma", "other")[i % 3],
                  "able_to_consent": True, "consent_signed": True, "consent_date": screened.isoformat()}
        if pathway.screen(study, actor, subject, values).decision != "eligible":
            continue
        rec(subject, "consent", {"consent_date": screened.isoformat(), "document_version": "1.0", "data_use": True})
        enrolled = screened + 2 * DAY
        pathway.enrol(study, actor, subject, enrolled)
        arm = randomisation.arms_by_subject(study, actor, subject)[subject]
        experimental = arm != control
        rec(subject, "diagnosis", {"diagnosis_date": (enrolled - 40 * DAY).isoformat(),
                                   "histotype": ("leiomyosarcoma", "synovial_sarcoma",
                                                 "undifferentiated_pleomorphic_sarcoma",
                                                 "dedifferentiated_liposarcoma")[i % 4],
                                   "primary_site": ("extremity", "retroperitoneum", "trunk")[i % 3]})
        # progression: exponential, control median 4.2 months, hazard ratio 0.6 (the protocol's assumption)
        median = 4.2 * 30.44 / (0.6 if experimental else 1.0)
        pfs_days = rnd.expovariate(math.log(2) / median)
        responder = rnd.random() < (0.3 if experimental else 0.15)
        t = truth[subject] = Truth(arm, enrolled, rnd.randint(40, 90))
        rec(subject, "lesion", {"lesion_id": "L1", "kind": "target", "organ": "lung", "node": False})
        baseline = enrolled - 5 * DAY
        form = rec(subject, "tumour_assessment", {"assessment_date": baseline.isoformat(), "baseline": True,
                                                  "method": "ct", "new_lesions": "no"})
        rec(subject, "lesion_measurement", {"assessment_date": baseline.isoformat(), "lesion_id": "L1",
                                            "diameter_mm": t.baseline_mm}, visit=form.visit)
        nadir, k = t.baseline_mm, 1
        while (day := enrolled + dt.timedelta(days=42 * k)) <= CUTOFF:
            if (day - enrolled).days >= pfs_days:
                mm, t.pd_day = max(round(nadir * 1.3), nadir + 6), day
            elif responder:
                mm = round(t.baseline_mm * (0.6 if k > 1 else 0.68))
            else:
                mm = round(t.baseline_mm * rnd.uniform(0.85, 1.1))
                if mm >= nadir * 1.2 and mm - nadir >= 5:  # RECIST 1.1 PD (4.3.1): 20 % and 5 mm over the nadir
                    t.pd_day = day
            nadir = min(nadir, mm)
            form = rec(subject, "tumour_assessment", {"assessment_date": day.isoformat(), "baseline": False,
                                                      "method": "ct", "new_lesions": "no"})
            rec(subject, "lesion_measurement", {"assessment_date": day.isoformat(), "lesion_id": "L1",
                                                "diameter_mm": mm}, visit=form.visit)
            t.scans.append((day, mm))
            k += 1
            if t.pd_day:
                break
        # cycles every 21 days, up to 8, none from progression on; cycle 4 of every 7th patient a week late
        day = enrolled + 3 * DAY
        for c in range(1, 9):
            delayed = c == 4 and i % 7 == 0
            if c > 1:
                day += dt.timedelta(days=21 + (7 if delayed else 0))
            if day > CUTOFF or (t.pd_day and day >= t.pd_day):
                break
            reduced = c >= 3 and i % 5 == 0
            dose = round(FULL_DOSE * 0.8, 1) if reduced else FULL_DOSE
            v = {"cycle_number": c, "cycle_date": day.isoformat(), "height_cm": HEIGHT, "weight_kg": WEIGHT,
                 "doxorubicin_mg": dose, "dose_reduced": reduced, "delayed": delayed}
            if reduced:
                v["reduction_reason"] = "haematological"
            if delayed:
                v["delay_reason"] = "logistic"
            if experimental:
                v.update(olaratumab_day1_mg=15 * WEIGHT, olaratumab_day8_mg=15 * WEIGHT)
            rec(subject, "systemic_cycle", v)
            t.cycles.append((c, day, dose, reduced, delayed))
            if c == 2 and i % 2 == 0:
                term, grade = TERMS[i % 5], 1 + (i % 4)
                rec(subject, "adverse_event", {"term": term, "grade": grade, "onset_date": (day + 5 * DAY).isoformat(),
                                               "serious": False})
                t.aes.append((term, grade))
        if t.pd_day:
            death = t.pd_day + dt.timedelta(days=round(rnd.expovariate(math.log(2) / 200)))
            if death <= CUTOFF:
                rec(subject, "outcome_event", {"event_type": "death", "event_date": death.isoformat(),
                                               "death_cause": "sarcoma"})
                t.death = death
            else:
                rec(subject, "follow_up", {"visit_date": CUTOFF.isoformat(), "vital_status": "alive"})
    # a stratification error: the first patient's ECOG corrected after the allocation
    first = next(iter(truth))
    records.correct(study, actor, first, "screening", {"ecog": 2}, "source document: ECOG 2")
    for view in randomisation.allocations(study, actor):
        truth[view.subject_id].strata = dict(view.strata)
    return study, truth


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    import os

    from sarcotrial.report.build import build_document
    from sarcotrial.store.crypto import generate_key

    folder = tmp_path_factory.mktemp("report-arms")
    saved = {k: os.environ.get(k) for k in ("SARCOTRIAL_KEY", "SARCOTRIAL_KEY_FILE", "DATABASE_URL")}
    os.environ["SARCOTRIAL_KEY"] = generate_key()
    os.environ.pop("SARCOTRIAL_KEY_FILE", None)
    os.environ.pop("DATABASE_URL", None)
    study, truth = _build(f"sqlite:///{folder / 'doxab.sqlite'}")
    try:
        document = build_document(study, folder / "out", cutoff=CUTOFF, figure_formats=("png",))
        yield Built(study, truth, document, folder / "out")
    finally:
        study.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --------------------------------------------------------------------------- reading the report
def _table(document, caption: str):
    found = [b for sec in document.sections for b in sec.blocks
             if getattr(b, "caption", None) and caption in b.caption and hasattr(b, "rows")]
    assert len(found) == 1, [getattr(b, "caption", None) for sec in document.sections for b in sec.blocks]
    return found[0]


def _texts(document) -> list[str]:
    return [b for sec in document.sections for b in sec.blocks if isinstance(b, str)]


def _arm_names(built) -> dict[str, str]:
    return {a.id: a.name for a in built.study.protocol.arms}


def _ordered_arms(built) -> list[str]:
    control = built.study.protocol.statistics.primary.control_arm
    return sorted((a.id for a in built.study.protocol.arms), key=lambda a: a != control)


def _endpoints(built):
    """The report's own data: every randomised patient's endpoint times (services.endpoints, as the report reads)."""
    from sarcotrial.report.data import gather

    data = gather(built.study, CUTOFF)
    return {e.course.subject_id: e for e in data.endpoints}


def _pfs_truth(t: Truth) -> tuple[int, int] | None:
    """(days, event) of PFS for a patient whose event the builder entered: PD at the scan that showed it, else
    death; ``None`` when censored (the censoring date is the last contact, not the builder's to say)."""
    events = [d for d in (t.pd_day, t.death) if d is not None]
    return ((min(events) - t.enrolled).days, 1) if events else None


# --------------------------------------------------------------------------- CONSORT
def test_consort_counts_both_arms_from_assessment_to_analysis(built):
    """CONSORT 2010 (BMJ 2010;340:c332): 26 assessed, 3 excluded with their reasons (LVEF below 50 % in 2, a
    previous anthracycline in 1), 23 randomised; per arm, the builder's allocations, the patients given a cycle,
    those who completed the 8 cycles and those stopped by progression, the deaths; all analysed."""
    from sarcotrial.report import arms as arms_report
    from sarcotrial.report.data import gather

    data = gather(built.study, CUTOFF)
    by_arm = arms_report.gather_arms(built.study, data)
    boxes = arms_report.consort_arm_boxes(data, by_arm, built.study.protocol)
    text = {k: "\n".join(v.lines) for k, v in boxes.items() if k != "arms"}
    assert "Assessed for eligibility (n\u00a0=\u00a026)" in text["assessed"]
    assert "Excluded (n\u00a0=\u00a03)" in text["excluded"]
    assert "Left ventricular ejection fraction at least 50 % (2)" in text["excluded"]
    assert "Previous treatment with an anthracycline (1)" in text["excluded"]
    assert "Randomised (n\u00a0=\u00a023)" in text["randomised"]
    names = _arm_names(built)
    for arm in _ordered_arms(built):
        mine = [t for t in built.truth.values() if t.arm == arm]
        allocation, follow, analysis = (" ".join(" ".join(b.lines).split()) for b in boxes["arms"][arm])
        n = lambda k: f"n = {k}"  # noqa: E731  (the no-break spaces read as spaces once split)
        assert f"Allocated to {names[arm]} ({n(len(mine))})" in allocation
        assert f"received the allocated intervention ({n(sum(bool(t.cycles) for t in mine))})" in allocation
        completed = sum(len(t.cycles) == 8 for t in mine)
        progressed = sum(len(t.cycles) < 8 and t.pd_day is not None for t in mine)
        assert f"Completed the planned treatment ({n(completed)})" in follow
        assert f"Disease progression ({progressed})" in follow
        assert f"Died ({sum(t.death is not None for t in mine)})" in follow
        assert f"Analysed ({n(len(mine))})" in analysis
    fig = arms_report.consort_figure(boxes)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for _text, patch, artists in fig.consort_boxes:  # every text inside its box
        box = patch.get_window_extent(renderer)
        for artist in artists:
            inner = artist.get_window_extent(renderer)
            assert box.x0 <= inner.x0 and inner.x1 <= box.x1 and box.y0 <= inner.y0 and inner.y1 <= box.y1


# --------------------------------------------------------------------------- the primary comparison
def _r_median(kmf) -> float:
    """R's median from lifelines' curve: the first time S(t) < 0.5, or the midpoint of the interval where S(t) is
    exactly 0.5 (survival:::quantile.survfit); lifelines itself takes the first time S(t) <= 0.5."""
    sf = kmf.survival_function_.iloc[:, 0]
    times, values = list(sf.index), list(sf.values)
    for k, (time, value) in enumerate(zip(times, values)):
        if abs(value - 0.5) < 1e-12 and k + 1 < len(times):
            # the horizontal segment at 0.5 ends where the curve next drops (lifelines' index also holds the
            # censoring times, at which it does not), or at the curve's last time
            end = next((times[j] for j in range(k + 1, len(times)) if values[j] < value - 1e-12), times[-1])
            return (time + end) / 2
        if value < 0.5:
            return time
    return float("nan")


def test_pfs_by_arm_medians_landmarks_and_events_match_lifelines(built):
    """Table: PFS by arm. Each arm's events, median (R's rule on lifelines' Kaplan-Meier curve) and 6- and
    12-month estimates (lifelines ``survival_function_at_times``) on the report's own times; each event's time
    the builder's (the scan that showed PD, else death)."""
    from lifelines import KaplanMeierFitter

    eps = _endpoints(built)
    for subject, t in built.truth.items():
        expected = _pfs_truth(t)
        if expected is not None:
            assert (eps[subject].times["pfs"].time_days, eps[subject].times["pfs"].status) == expected
    table = _table(built.document, "Progression-free survival by arm")
    names = _arm_names(built)
    for row, arm in zip(table.rows, _ordered_arms(built)):
        mine = [eps[s] for s, t in built.truth.items() if t.arm == arm]
        kmf = KaplanMeierFitter().fit([e.times["pfs"].time_months for e in mine], [e.times["pfs"].status for e in mine])
        assert row[0] == names[arm] and row[1] == str(len(mine))
        assert row[2] == str(sum(_pfs_truth(built.truth[e.course.subject_id]) is not None for e in mine))
        assert row[3].startswith(f"{_r_median(kmf):.1f} (")
        at = kmf.survival_function_at_times([6, 12]).values
        last = max(e.times["pfs"].time_months for e in mine)
        for cell, value, landmark in zip(row[4:6], at, (6, 12)):  # a dash beyond the last follow-up (as SPRINT's)
            assert cell == "\u2013" if landmark > last else cell.startswith(f"{100 * value:.1f} %")


def _stratified_logrank(time, event, group, strata) -> float:
    """Collett (Modelling Survival Data, 3rd ed., 2.6 and 3.x): in each stratum, at each event time, e = n1 d / n
    and v = n1 n2 d (n - d) / (n^2 (n - 1)); U = sum(O1 - e), V = sum(v) over strata; chi-square U^2 / V."""
    u = v = 0.0
    time, event, group, strata = map(np.asarray, (time, event, group, strata))
    for s in set(strata.tolist()):
        sel = strata == s
        t, e, g = time[sel], event[sel], group[sel]
        for x in sorted(set(t[e == 1].tolist())):
            at = t >= x
            n, n1 = at.sum(), (at & (g == 1)).sum()
            d, d1 = ((t == x) & (e == 1)).sum(), ((t == x) & (e == 1) & (g == 1)).sum()
            u += d1 - n1 * d / n
            if n > 1:
                v += n1 * (n - n1) * d * (n - d) / (n ** 2 * (n - 1))
    return u * u / v


def test_hazard_ratio_and_log_rank_tests_match_lifelines_and_collett(built):
    """The paragraph under the PFS table: the Cox hazard ratio experimental vs control with its 95 % CI (lifelines
    CoxPHFitter, Efron ties), the log-rank chi-square and p (lifelines logrank_test) and the log-rank stratified by
    the three randomisation factors at the levels used (Collett's definition, written here)."""
    import re

    import pandas as pd
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test
    from scipy.stats import chi2

    eps = _endpoints(built)
    control = built.study.protocol.statistics.primary.control_arm
    rows = [(e.times["pfs"].time_months, e.times["pfs"].status, int(built.truth[s].arm != control),
             " / ".join(str(built.truth[s].strata[f]) for f in ("previous_lines", "histotype_group", "ecog")))
            for s, e in eps.items()]
    frame = pd.DataFrame(rows, columns=["time", "event", "experimental", "stratum"])
    cox = CoxPHFitter().fit(frame[["time", "event", "experimental"]], "time", "event")
    hr = float(cox.hazard_ratios_["experimental"])
    lo, hi = np.exp(cox.confidence_intervals_.loc["experimental"].values)
    exp_rows, ctl_rows = frame[frame.experimental == 1], frame[frame.experimental == 0]
    lr = logrank_test(exp_rows.time, ctl_rows.time, exp_rows.event, ctl_rows.event)
    stratified = _stratified_logrank(frame.time, frame.event, frame.experimental, frame.stratum)
    paragraph = next(t for t in _texts(built.document) if t.startswith("Cox proportional hazards model")
                     and "stratified" in t)
    assert f"hazard ratio {hr:.2f} (95% CI {lo:.2f}\u2013{hi:.2f};" in paragraph
    assert f"Log-rank test: chi-square {lr.test_statistic:.2f} on 1 df, p = {lr.p_value:.4f}" in paragraph
    found = re.search(r"stratified by the randomisation factors \((\d+) strata.*chi-square (\d+\.\d+), p = (\d+\.\d+)",
                      paragraph)
    assert found is not None, paragraph
    assert int(found.group(1)) == frame.stratum.nunique()
    assert found.group(2) == f"{stratified:.2f}" and found.group(3) == f"{chi2.sf(stratified, 1):.4f}"


def test_events_observed_against_schoenfeld(built):
    """Schoenfeld (Biometrics 1983): HR 0.6, two-sided alpha 0.2, power 0.8, 1:1: z_0.90 = 1.2816, z_0.80 =
    0.8416, D = (1.2816 + 0.8416)^2 / (0.25 x ln(0.6)^2) = 4.5080 / 0.065236 = 69.1, so 70 events; observed: the
    builder's PFS events."""
    from scipy.stats import norm

    exact = (norm.ppf(0.9) + norm.ppf(0.8)) ** 2 / (0.25 * math.log(0.6) ** 2)
    assert 69 < exact < 70
    observed = sum(_pfs_truth(t) is not None for t in built.truth.values())
    sentence = next(t for t in _texts(built.document) if t.startswith("Events for the analysis"))
    assert sentence.startswith(f"Events for the analysis: {observed} observed of the 70 that Schoenfeld's formula "
                               "needs to detect a hazard ratio of 0.6 with two-sided alpha 0.2 and power 0.8")


def test_overall_survival_by_arm_matches_lifelines(built):
    """OS by arm: deaths are the builder's; medians by R's rule on lifelines' curve; the hazard ratio as lifelines
    CoxPHFitter gives it."""
    import pandas as pd
    from lifelines import CoxPHFitter, KaplanMeierFitter

    eps = _endpoints(built)
    table = _table(built.document, "Overall survival by arm")
    control = built.study.protocol.statistics.primary.control_arm
    for row, arm in zip(table.rows, _ordered_arms(built)):
        mine = [(s, eps[s]) for s, t in built.truth.items() if t.arm == arm]
        assert row[2] == str(sum(built.truth[s].death is not None for s, _ in mine))
        kmf = KaplanMeierFitter().fit([e.times["os"].time_months for _, e in mine], [e.times["os"].status for _, e in mine])
        median = _r_median(kmf)
        assert row[3].startswith("NR" if math.isnan(median) else f"{median:.1f}")
    frame = pd.DataFrame([(e.times["os"].time_months, e.times["os"].status, int(built.truth[s].arm != control))
                          for s, e in eps.items()], columns=["time", "event", "experimental"])
    hr = float(CoxPHFitter().fit(frame, "time", "event").hazard_ratios_["experimental"])
    assert any(t.startswith("Cox proportional hazards model") and f"hazard ratio {hr:.2f} " in t and "stratified" not in t
               for t in _texts(built.document))


# --------------------------------------------------------------------------- response
def _best_response(t: Truth, confirmed: bool) -> str:
    """RECIST 1.1 by hand from the builder's single target lesion: PR when the diameter is at least 30 % below
    baseline, PD when at least 20 % and 5 mm above the nadir; a PR confirmed by a PR at least 28 days later
    (Table 3), an unconfirmed PR followed by PD counting as SD (the first scan is at day 42, SD's minimum)."""
    nadir, calls = t.baseline_mm, []
    for _day, mm in t.scans:
        if mm >= nadir * 1.2 and mm - nadir >= 5:
            calls.append("PD")
        elif mm <= t.baseline_mm * 0.7:
            calls.append("PR")
        else:
            calls.append("SD")
        nadir = min(nadir, mm)
    if not calls:
        return "NE"
    if "PR" in calls:
        if not confirmed:
            return "PR"
        days = [d for (d, _), c in zip(t.scans, calls) if c == "PR"]
        return "PR" if any((b - a).days >= 28 for a in days for b in days) else "SD"
    return "SD" if calls[0] == "SD" else calls[0]


def test_objective_response_by_arm_with_exact_intervals(built):
    """ORR by arm, unconfirmed and confirmed: counts from the builder's measurements by RECIST 1.1 (by hand),
    intervals from scipy's exact (Clopper-Pearson) binomial interval."""
    from scipy.stats import binomtest

    table = _table(built.document, "Best overall response by RECIST 1.1")
    arms = _ordered_arms(built)
    orr_rows = [r for r in table.rows if r[0].startswith("Objective response rate")]
    assert len(orr_rows) == 2
    for row, confirmed in zip(orr_rows, (False, True)):
        for cell, arm in zip(row[1:], arms):
            mine = [t for t in built.truth.values() if t.arm == arm]
            k = sum(_best_response(t, confirmed) in ("CR", "PR") for t in mine)
            ci = binomtest(k, len(mine)).proportion_ci(0.95, method="exact")
            assert cell == f"{k} / {len(mine)}: {100 * k / len(mine):.1f} % ({100 * ci.low:.1f}\u2013{100 * ci.high:.1f})"
    pd_rows = [r for r in table.rows if r[0] == "Progressive disease (PD)"]
    for cell, arm in zip(pd_rows[0][1:], arms):
        assert cell.startswith(f"{sum(_best_response(t, False) == 'PD' for t in built.truth.values() if t.arm == arm)} (")


def test_waterfall_bars_are_each_patients_best_change(built):
    """Figure: the best change of the sum of target diameters, (min post-baseline diameter - baseline) / baseline,
    one bar per patient with a post-baseline scan, largest first, coloured by arm."""
    from sarcotrial.report import arms as arms_report
    from sarcotrial.report.data import gather

    by_arm = arms_report.gather_arms(built.study, gather(built.study, CUTOFF))
    bars = [(p.best_change, p.arm) for p in by_arm.patients if p.best_change is not None]
    fig = arms_report.waterfall(bars, _arm_names(built), "Best change")
    expected = sorted(((100 * (min(mm for _, mm in t.scans) - t.baseline_mm) / t.baseline_mm, t.arm)
                       for t in built.truth.values() if t.scans), key=lambda b: -b[0])
    assert [(round(h, 6), a) for h, a in fig.bars] == [(round(h, 6), a) for h, a in expected]
    assert (built.folder / "figures" / "waterfall.png").exists()


# --------------------------------------------------------------------------- treatment and toxicity
def test_systemic_therapy_by_arm_from_the_cycles_entered(built):
    """Cycles given (median, range), doxorubicin's relative dose intensity (Hryniuk-Bush: mg/m2 received per week,
    from day 1 of the first cycle to the end of the last, over the planned 75 / 3 = 25 mg/m2 a week), reductions,
    delays and the cumulative doxorubicin dose (mg / Mosteller m2, factor 1), by hand from the builder's cycles."""
    import statistics

    table = _table(built.document, "Systemic therapy given, by arm")
    cells = {row[0]: row[1:] for row in table.rows}
    for k, arm in enumerate(_ordered_arms(built)):
        treated = [t for t in built.truth.values() if t.arm == arm and t.cycles]
        given = [len(t.cycles) for t in treated]
        assert cells["Cycles given: median (range)"][k] == \
            f"{statistics.median(given):.0f} ({min(given):.0f}\u2013{max(given):.0f})"
        rdi = []
        cumulative = []
        for t in treated:
            received = sum(dose / BSA for _c, _d, dose, _r, _l in t.cycles)
            weeks = ((t.cycles[-1][1] - t.cycles[0][1]).days + 21) / 7
            rdi.append(100 * received / weeks / 25)
            cumulative.append(received)
        assert cells["Doxorubicin"][k] == f"{statistics.median(rdi):.0f} ({min(rdi):.0f}\u2013{max(rdi):.0f}) %"
        reduced = sum(any(c[3] for c in t.cycles) for t in treated)
        delayed = sum(any(c[4] for c in t.cycles) for t in treated)
        assert cells["Patients with a dose reduction"][k].startswith(f"{reduced} (")
        assert cells["Patients with a delayed cycle"][k].startswith(f"{delayed} (")
        if delayed:
            assert cells["Logistic (holiday, scheduling): cycles"][k] == str(delayed)
        assert cells["Cumulative doxorubicin-equivalent dose, mg/m\u00b2: median (maximum)"][k] == \
            f"{statistics.median(cumulative):.0f} ({max(cumulative):.0f})"
        assert cells["Above the protocol's limit of 450 mg/m\u00b2"][k].startswith(
            f"{sum(c > 450 for c in cumulative)} (")


def test_toxicity_by_arm_worst_grade_per_term(built):
    """Patients with each CTCAE term, any grade and grade >= 3, per arm (of the arm's treated patients), from the
    builder's adverse events."""
    table = _table(built.document, "Worst grade per patient and term")
    arms = _ordered_arms(built)
    treated = {arm: sum(bool(t.cycles) for t in built.truth.values() if t.arm == arm) for arm in arms}
    expected: dict[str, list[str]] = {}
    worst: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for subject, t in built.truth.items():
        for term, grade in t.aes:
            worst[(term, t.arm)][subject] = max(grade, worst[(term, t.arm)].get(subject, 0))
    for term in {term for term, _ in worst}:
        cells = []
        for arm in arms:
            grades = list(worst.get((term, arm), {}).values())
            n = treated[arm]
            cells += [f"{len(grades)} ({100 * len(grades) / n:.0f} %)", f"{sum(g >= 3 for g in grades)} "
                      f"({100 * sum(g >= 3 for g in grades) / n:.0f} %)"]
        expected[term] = cells
    assert {row[0]: row[1:] for row in table.rows} == expected


def test_stratification_error_is_listed_with_the_level_used(built):
    """The first patient's ECOG corrected from 0 to 2 after the allocation: listed with the level used (0) and
    the level now (2); the baseline table keeps the level used."""
    first = next(iter(built.truth))
    table = _table(built.document, "Stratification errors")
    assert table.rows == [[first, _arm_names(built)[built.truth[first].arm], "ECOG performance status", "0", "2"]]
    assert built.truth[first].strata["ecog"] == "0"


def test_single_arm_sections_are_left_out_and_the_pdf_renders(built):
    """DOXAB has no radiotherapy, surgery or pathology: no compliance, R0, pCR or margins section; the document
    renders to PDF (every page drawn)."""
    import pypdfium2

    from sarcotrial.publishing import pdf

    titles = [s.title for s in built.document.sections]
    assert not any("Radiotherapy" in t or "R0" in t or "pathology" in t.lower() for t in titles)
    assert "Primary endpoint: progression-free survival" in titles
    assert "Toxicity by arm (CTCAE v5.0)" in titles
    path = pdf.render(built.document, built.folder / "report.pdf")
    document = pypdfium2.PdfDocument(str(path))
    assert len(document) >= 5
    text = " ".join(" ".join(document[i].get_textpage().get_text_range().split()) for i in range(len(document)))
    assert "Primary endpoint: progression-free survival" in text and "Stratification errors" in text


def test_an_empty_randomised_study_reports_without_patients(tmp_path, monkeypatch):
    """`sarcotrial report` on a DOXAB study with no patient: exit 0, the PDF written (README: 0 done)."""
    from typer.testing import CliRunner

    from sarcotrial.cli.main import app
    from sarcotrial.store.crypto import generate_key

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    db = tmp_path / "doxab.sqlite"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--protocol", "doxab", "--db", str(db)]).exit_code == 0
    result = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "report.pdf").stat().st_size > 0
