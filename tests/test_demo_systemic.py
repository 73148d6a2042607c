"""The synthetic demo of a randomised systemic-therapy protocol (``sarcotrial.demo_systemic``), built on SQLite
with a few patients of the shipped protocol with arms, regimens and RECIST 1.1 (DOXAB).

What is checked, and against what (never against numbers the generator produced):

- every enrolled patient has an arm, and the auditor's replay of every allocation from the stored seed finds
  no mismatch (ICH E9 section 2.3.2: the sequence is reproducible; ``docs/randomisation.md``);
- the arms are balanced: with 1:1 minimisation (Pocock SJ, Simon R, Biometrics 1975;31:103-115) taking the
  minimising arm with probability 0.8, the overall difference stays within 2 for these few patients (simple
  randomisation of 5 patients differs by 3 or more with probability 2 x (1 + 5) / 32 = 0.375);
- each cycle's doses are those of the patient's regimen, recomputed here by hand: body surface area by
  Mosteller (N Engl J Med 1987;317:1098: sqrt(height cm x weight kg / 3600)), dose per m2 x BSA or per kg x
  weight, the full dose or the reduced level (80 %), a reduction or a delay always with its reason;
- tumour assessments every 6 weeks (the protocol's ``assessment_every_weeks``; the visit's window of +-7 days)
  until progression; progression checked by hand against RECIST 1.1 (Eisenhauer et al., Eur J Cancer
  2009;45:228-247, section 4.3.1: the sum of target diameters >= 120 % of the nadir and >= 5 mm above it, or
  a new lesion, or unequivocal progression of a non-target lesion);
- the simulated effect: PFS exponential with the control median of 4.2 months (the protocol's
  ``median_control_months``) and hazard ratio 0.65, checked on many draws by the exponential maximum-likelihood
  rate (events / time at risk; median = ln 2 / rate) computed here; overall survival with a median of about
  14 months in the control arm;
- no identifier of a patient (name, date of birth, hospital number) in the progress messages or the logs;
- the same seed gives the same study.
"""

from __future__ import annotations

import json
import logging
import math
import random
import statistics
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sarcotrial import demo_systemic
from sarcotrial.demo import build_demo_study, demo_password, require_demo
from sarcotrial.services import endpoints, pathway, queries, randomisation, views
from sarcotrial.services.response_entry import recist_course
from sarcotrial.services.study import Actor, StudyDB

PATIENTS = 5
SEED = 11


def _build(tmp_path_factory, name: str, seed: int = SEED, patients: int = PATIENTS):
    path = tmp_path_factory.mktemp(name) / "study.sqlite"
    study, _ = StudyDB.create(f"sqlite:///{path}", "doxab", Actor("tester", "test"), synthetic=True)
    messages: list[str] = []
    summary = build_demo_study(study, seed, messages.append, patients=patients)
    return study, summary, messages


@pytest.fixture(scope="module")
def environment():
    """A key of the module's own and quick password hashing, for every study built here."""
    from argon2 import PasswordHasher

    from sarcotrial.services import access
    from sarcotrial.store.crypto import generate_key

    mp = pytest.MonkeyPatch()
    for variable in ("SARCOTRIAL_KEY_FILE", "DATABASE_URL", "SARCOTRIAL_PASSWORD"):
        mp.delenv(variable, raising=False)
    mp.setenv("SARCOTRIAL_KEY", generate_key())
    mp.setattr(access, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    mp.undo()


class _Logs(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def built(environment, tmp_path_factory):
    """The demo of DOXAB with a few patients, and what it wrote to the logs and the progress display."""
    logs = _Logs()
    root, own = logging.getLogger(), logging.getLogger("sarcotrial")
    levels = root.level, own.level
    root.addHandler(logs)
    root.setLevel(logging.INFO)  # every library's messages; the application's own down to DEBUG
    own.setLevel(logging.DEBUG)
    try:
        study, summary, messages = _build(tmp_path_factory, "doxab-demo")
    finally:
        root.removeHandler(logs)
        root.setLevel(levels[0])
        own.setLevel(levels[1])
    yield study, summary, messages, logs.lines
    study.close()


def login(user: str, seed: int = SEED) -> Actor:
    return Actor(user, "demo", password=demo_password(seed, user))


def records(study) -> list:
    return views.patients(study, login("datamanager"), enrolled_only=True)


def test_the_demo_is_the_protocols_own():
    """The generator serves a protocol with arms, regimens and RECIST 1.1, and SPRINT keeps its own demo."""
    from sarcotrial.protocol import load_protocol

    assert demo_systemic.serves(load_protocol("doxab"))
    assert not demo_systemic.serves(load_protocol("sprint"))
    require_demo(load_protocol("sprint"))  # SPRINT's own demo


def test_a_protocol_no_demo_serves_is_refused_in_one_line_before_anything_is_made(tmp_path):
    """A protocol with neither arms, regimens and RECIST 1.1 nor SPRINT's treatment: exit 2, one line naming the
    field and the rule, no folder made."""
    from sarcotrial.cli.main import app

    local = Path(__file__).parent / "protocols" / "local-test.yaml"
    result = CliRunner().invoke(app, ["demo", "--protocol", str(local), "--out", str(tmp_path / "demo")])
    assert result.exit_code == 2
    assert "protocol:" in result.output and "has no demo" in result.output
    assert not (tmp_path / "demo").exists()


def test_every_enrolled_patient_has_an_arm_and_the_replay_agrees(built):
    study, summary, _messages, _logs = built
    enrolled = [r.subject_id for r in records(study)]
    arms = randomisation.arms_by_subject(study, login("datamanager"))
    assert len(enrolled) == PATIENTS == summary.enrolled
    assert set(arms) == set(enrolled) and set(arms.values()) <= {a.id for a in study.protocol.arms}
    check = randomisation.verify(study, login("statistician"))
    assert check.allocations == PATIENTS and check.mismatches == [] and check.problems == []


def test_the_arms_are_balanced(built):
    study, _summary, _messages, _logs = built
    counts = Counter(randomisation.arms_by_subject(study, login("datamanager")).values())
    assert len(counts) == 2 and abs(counts.most_common()[0][1] - counts.most_common()[-1][1]) <= 2


def test_screen_failures_fail_one_criterion_each_and_the_others_are_eligible(built):
    """Each criterion's rule read from its operator and value: the eligible patients meet every one, a
    screen failure is judged ineligible by the application on the criterion the plan broke."""
    study, summary, _messages, _logs = built
    log = pathway.screening_log(study, login("datamanager"))
    failures = demo_systemic.planned_referrals(PATIENTS) - PATIENTS
    assert sum(row.enrolment_date is not None for row in log) == PATIENTS
    assert sum(row.status == "screen_failed" for row in log) == failures
    for row in log:
        assert len(row.last.failed) == (row.status == "screen_failed")  # one criterion each, as the plan broke it
    assert sum(summary.screen_failures.values()) == failures >= 1


def _mosteller(height_cm: float, weight_kg: float) -> float:
    """Mosteller RD. Simplified calculation of body-surface area. N Engl J Med 1987;317:1098."""
    return math.sqrt(height_cm * weight_kg / 3600)


def test_each_cycle_follows_the_patients_regimen(built):
    study, _summary, _messages, _logs = built
    protocol = study.protocol
    spec = protocol.treatment.systemic.administration
    arms = randomisation.arms_by_subject(study, login("datamanager"))
    reductions = delays = 0
    for record in records(study):
        regimen = next(r for r in protocol.treatment.systemic.regimens if arms[record.subject_id] in r.arms)
        cycles = sorted((c.values for c in record.of(spec.form)), key=lambda v: v[spec.cycle_field])
        assert [v[spec.cycle_field] for v in cycles] == list(range(1, len(cycles) + 1))
        assert len(cycles) <= regimen.max_cycles
        first = record.enrolment_date
        for before, after in zip([None] + cycles, cycles):
            gap = (after[spec.date_field] - (before[spec.date_field] if before else first)).days
            if before is None:
                assert 0 <= gap <= 7  # the protocol's check: the first cycle within 7 days of randomisation
            elif after[spec.delayed_field]:
                assert gap > regimen.cycle_days and after[spec.delay_reason_field] is not None
                delays += 1
            else:
                assert regimen.cycle_days - 1 <= gap <= regimen.cycle_days
        for values in cycles:
            bsa = _mosteller(values[spec.height_field], values[spec.weight_field])
            level = 0.8 if values[spec.reduced_field] else 1.0
            if values[spec.reduced_field]:
                assert values[spec.reduction_reason_field] is not None
                reductions += 1
            for dose in spec.doses:
                entry = next((d for d in regimen.drugs if d.drug == dose.drug and dose.day in d.days), None)
                if entry is None:
                    assert values.get(dose.field) is None  # a drug (or day) not in the regimen: left empty
                    continue
                planned = entry.dose * (bsa if entry.per == "m2" else values[spec.weight_field])
                assert values[dose.field] == pytest.approx(planned * level, abs=0.6)
    assert reductions + delays >= 1
    # the first cycle within 7 days (above): no query of a check on the first cycle is left open
    first_only = {f"check:{c.id}" for c in protocol.checks if c.field.instance == "first"}
    assert first_only and not [q for q in queries.list_queries(study, login("datamanager"), status="open")
                               if q.origin in first_only]


def _sum_and_flags(record, response, day):
    lesions = {c.values["lesion_id"]: c.values for c in record.of(response.lesion_form)}
    measured = [c.values for c in record.of(response.measurement_form) if c.values["assessment_date"] == day]
    total = sum(m["diameter_mm"] for m in measured if lesions[m["lesion_id"]]["kind"] == "target")
    progressing = any(m.get("status") == "unequivocal_progression" for m in measured)
    return total, progressing


def test_tumour_assessments_every_six_weeks_until_progression(built):
    study, _summary, _messages, _logs = built
    response = study.protocol.response
    every = response.assessment_every_weeks * 7
    for record in records(study):
        assessments = sorted((c.values for c in record.of(response.form)), key=lambda v: v["assessment_date"])
        assert assessments[0]["baseline"] and not any(a["baseline"] for a in assessments[1:])
        enrolment = record.enrolment_date
        baseline_sum, _ = _sum_and_flags(record, response, assessments[0]["assessment_date"])
        nadir = baseline_sum
        for number, a in enumerate(assessments[1:], start=1):
            day = a["assessment_date"]
            assert abs((day - enrolment).days - number * every) <= 7  # the visit's window
            total, progressing = _sum_and_flags(record, response, day)
            pd = (total >= 1.2 * nadir and total - nadir >= 5) or a["new_lesions"] == "yes" or progressing
            if number < len(assessments) - 1:
                assert not pd, (record.subject_id, day)  # no assessment after progression
            nadir = min(nadir, total)
        points, _unconfirmed, _confirmed = recist_course(study.protocol, record)
        pds = [p.date for p in points if p.overall == "PD"]
        assert pds in ([], [assessments[-1]["assessment_date"]])


def test_progression_free_survival_has_events_in_both_arms(built):
    study, _summary, _messages, _logs = built
    arms = randomisation.arms_by_subject(study, login("statistician"))
    events = Counter(arms[r.course.subject_id] for r in endpoints.derive_endpoints(
        study, demo_systemic.DATA_CUTOFF, login("statistician")) if r.times["pfs"].status == 1)
    assert set(events) == {a.id for a in study.protocol.arms}


def test_the_simulated_effect_is_the_stated_one():
    """Exponential PFS: the maximum-likelihood rate is events / total time (all observed here), the median
    ln 2 / rate. Control median 4.2 months (the protocol), hazard ratio 0.65 (the demo's effect); the
    control arm's median overall survival about 14 months. 4000 draws per arm: the relative standard error
    of a rate is 1 / sqrt(4000) = 1.6 %, so the tolerances below are about 3 standard errors."""
    rng = random.Random(2026)
    months = demo_systemic.DAYS_PER_MONTH

    def arm(experimental):
        courses = [demo_systemic.simulate_course(rng, experimental, 4.2) for _ in range(4000)]
        pfs = [min(c.progression_days or math.inf, c.death_days) / months for c in courses]
        return len(pfs) / sum(pfs), statistics.median(c.death_days / months for c in courses), courses

    control, os_control, courses = arm(False)
    experimental, _os, _ = arm(True)
    assert math.log(2) / control == pytest.approx(4.2, rel=0.05)
    assert experimental / control == pytest.approx(0.65, abs=0.05)
    assert os_control == pytest.approx(14, abs=1.5)
    responders = sum(c.shrinks for c in courses) / len(courses)
    assert 0.10 <= responders <= 0.20  # partial responses in the control arm (Tap et al. 2016: 11.9 %)


def test_no_identifier_of_a_patient_in_the_logs_or_the_progress(built):
    study, summary, messages, logs = built
    investigators = {"MAIN": login("inv.main"), "SAT": login("inv.sat")}  # who may read identifiers, by site
    rows = pathway.screening_log(study, login("datamanager"))
    assert rows and messages
    text = "\n".join(messages + logs + [repr(summary)])
    for row in rows:
        who = pathway.identify(study, investigators[row.site], row.subject_id,
                               purpose="test: no identifier in the demo's logs")
        for secret in (who.full_name, who.full_name.replace(" (synthetic)", ""), who.hospital_number,
                       who.date_of_birth.isoformat()):
            assert secret not in text


@pytest.fixture(scope="module")
def command(environment, tmp_path_factory):
    """``sarcotrial demo --protocol doxab`` run twice in a folder of its own, with the fixture's seed and number
    of patients (the default size is the demo's own: it is set small here)."""
    from sarcotrial.cli.main import app

    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("cwd")
    mp.setattr(demo_systemic, "DEFAULT_PATIENTS", PATIENTS)
    mp.chdir(folder)
    try:
        runner = CliRunner()
        env = {"SARCOTRIAL_KEY": "", "SARCOTRIAL_KEY_FILE": "", "COLUMNS": "100"}
        first = runner.invoke(app, ["demo", "--protocol", "doxab", "--seed", str(SEED)], env=env)
        again = runner.invoke(app, ["demo", "--protocol", "doxab", "--seed", str(SEED)], env=env)
    finally:
        mp.undo()
    return folder / "sarcotrial-demo-doxab", first, again


def test_the_same_seed_gives_the_same_study(built, command):
    """The study the command built with the seed is, form for form and arm for arm, the fixture's."""
    study = built[0]
    folder = command[0]
    key = (folder / "doxab-demo.sqlite.key").read_text(encoding="utf-8").strip()
    mp = pytest.MonkeyPatch()
    mp.setenv("SARCOTRIAL_KEY", key)
    try:
        again = StudyDB.open(f"sqlite:///{folder / 'doxab-demo.sqlite'}")
    finally:
        mp.undo()

    def content(s):
        actor = login("datamanager")
        out = sorted((r.subject_id, f, c.visit_id, c.occurrence, c.instance, repr(sorted(c.values.items())))
                     for r in views.patients(s, actor) for f, crfs in r.forms.items() for c in crfs)
        return out, randomisation.arms_by_subject(s, actor)

    try:
        assert content(study) == content(again)
    finally:
        again.close()


def test_adverse_events_are_ctcae_terms_of_the_catalogue(built):
    from sarcotrial.domain import ctcae

    study, summary, _messages, _logs = built
    terms = [c.values["term"] for r in records(study) for c in r.of(study.protocol.safety.form)]
    assert len(terms) == summary.adverse_events > 0
    assert all(ctcae.ctcae_term(term).term == term for term in terms)


def test_the_demo_command_builds_the_protocols_demo_in_its_own_folder(command):
    """``sarcotrial demo --protocol doxab``: its folder sarcotrial-demo-doxab with the database, the key and the
    report; its summary of arms, cycles and responses; a second run reuses it."""
    folder, first, again = command
    assert first.exit_code == 0, first.output
    assert (folder / "doxab-demo.sqlite").exists() and (folder / "report.html").exists()
    for words in ("Synthetic DOXAB study", "Randomised", "Doxorubicin + antibody", "Cycles given",
                  "Best response", "chain intact"):
        assert words in first.output
    assert again.exit_code == 0 and "Reusing the demo study already in" in again.output


def _overdue_at_cutoff(study):
    from sarcotrial.services import visits

    return [d for d in visits.due(study, login("datamanager"), today=demo_systemic.DATA_CUTOFF)
            if d.status == "overdue"]


def test_forms_a_course_will_never_fill_are_marked_not_done_with_their_reason(built):
    """The data manager's rule (``services.forms.mark_not_done``; ICH E6(R2) 4.9.0: the record says why data are
    missing): every form marked not done has a reason, sits at a visit whose window closed before the cut-off,
    and is a cycle after the last one given (its reason says why the treatment stopped) or a tumour assessment
    after the progression RECIST 1.1 found (Eisenhauer et al. 2009, section 4.3.1) or before a death."""
    from sarcotrial.services import visits

    study, summary, _messages, _logs = built
    protocol = study.protocol
    spec, response = protocol.treatment.systemic.administration, protocol.response
    treatment = {v.id for v in protocol.visits_of_form(spec.form)}
    assessment = {v.id for v in protocol.visits_of_form(response.form) if v.repeat is not None}
    marked = 0
    for record in records(study):
        windows = {(v.visit_id, v.occurrence): v.window_end for v in visits.visits(
            study, login("datamanager"), record.subject_id, today=demo_systemic.DATA_CUTOFF)}
        given = len(record.of(spec.form))
        points, _unconfirmed, _confirmed = recist_course(protocol, record)
        progression = min([p.date for p in points if p.overall == "PD"] + [
            c.values["event_date"] for c in record.of("outcome_event") if c.values.get("event_type") == "progression"],
            default=None)
        for crf in [c for crfs in record.forms.values() for c in crfs if c.status == "not_done"]:
            marked += 1
            assert crf.not_done_reason and crf.not_done_reason.strip()
            assert windows[(crf.visit_id, crf.occurrence)] < demo_systemic.DATA_CUTOFF
            if crf.visit_id in treatment:
                assert crf.occurrence > given and crf.not_done_reason.startswith("treatment ")
            else:
                assert crf.visit_id in assessment and crf.form_id == response.form
                if crf.not_done_reason == demo_systemic.AFTER_PROGRESSION:
                    assert progression is not None and progression <= windows[(crf.visit_id, crf.occurrence)]
                else:
                    assert record.death() is not None and "died" in crf.not_done_reason
    assert marked == summary.not_done > 0


def test_the_dashboard_shows_a_small_backlog_of_overdue_visits_at_the_cutoff(built):
    """At the cut-off the overdue visits of every enrolled patient (``services.visits``) are the backlog the data
    manager left, at most the upper bound of ``OVERDUE_BACKLOG``; the dashboard's (``services.visits.due``, what
    ``overview.dashboard`` lists: the patients still followed) are among them."""
    from sarcotrial.services import visits

    study, summary, _messages, _logs = built
    overdue = {(r.subject_id, v.visit_id, v.occurrence) for r in records(study) for v in visits.visits(
        study, login("datamanager"), r.subject_id, today=demo_systemic.DATA_CUTOFF) if v.status == "overdue"}
    dashboard = {(d.subject, d.visit_id, d.occurrence) for d in _overdue_at_cutoff(study)}
    assert len(overdue) <= demo_systemic.OVERDUE_BACKLOG[1], sorted(overdue)
    assert dashboard <= overdue and len(dashboard) == summary.overdue


def test_patient_list_of_a_systemic_study_shows_its_arms_whole_at_80_columns(built):
    """DOXAB has no grade, stage, margin or anatomic site on its forms: those empty columns are left out, so
    the arm and the histotype read whole at 80 columns (they were folded into pieces: 'doxorubici / n_antibody')."""
    from typer.testing import CliRunner

    from sarcotrial.cli.main import app

    study, _summary, _messages, _logs = built
    runner = CliRunner()
    env = {"SARCOTRIAL_PASSWORD": demo_password(SEED, "datamanager"), "COLUMNS": "80"}
    listed = runner.invoke(app, ["patient", "list", "--db", study.url, "--user", "datamanager", "--json"], env=env)
    patients = json.loads(listed.output)["patients"]
    assert patients and not any(p["grade"] or p["stage"] or p["r_status"] for p in patients)
    text = runner.invoke(app, ["patient", "list", "--db", study.url, "--user", "datamanager"], env=env,
                         terminal_width=80).output
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in text
    assert lines[0].split() == ["subject", "site", "status", "arm", "histotype"]
    arms = {a.id for a in study.protocol.arms}
    for p in patients:
        row = next(line for line in lines if line.startswith(p["subject_id"] + " "))
        if p.get("arm"):
            assert p["arm"] in arms and f" {p['arm']} " in row  # the arm whole on its line
    assert "G: FNCLCC grade" not in text and "arm: the arm allocated at enrolment" in " ".join(text.split())


def test_patient_show_of_a_systemic_study_gives_its_course_and_responses(built):
    """``patient show`` on DOXAB printed SPRINT's diagnosis line ('?, size not given; FNCLCC G?; not staged')
    and neither the cycles nor the RECIST 1.1 assessments: now the diagnosis form's own fields, the course
    (cycles, relative dose intensity) and each time point with the best overall response, as the patient page
    computes them; the same in ``--json``."""
    from typer.testing import CliRunner

    from sarcotrial.cli.main import app

    study, _summary, _messages, _logs = built
    runner = CliRunner()
    env = {"SARCOTRIAL_PASSWORD": demo_password(SEED, "datamanager")}
    treated = [r for r in records(study) if r.of("systemic_cycle")]
    subject = treated[0].subject_id
    shown = json.loads(runner.invoke(app, ["patient", "show", subject, "--db", study.url, "--user", "datamanager",
                                           "--json"], env=env).output)
    course = shown["systemic_course"]
    assert course["cycles_given"] == len(treated[0].of("systemic_cycle"))
    assert {d["drug"] for d in course["dose_intensity"]} >= {"doxorubicin"}
    points = shown["response"]["timepoints"]
    assert points and points[0]["baseline"] and all(p["overall"] for p in points[1:])
    text = " ".join(runner.invoke(app, ["patient", "show", subject, "--db", study.url, "--user", "datamanager"],
                                  env=env, terminal_width=100).output.split())
    assert "FNCLCC G?" not in text and "size not given" not in text and "not staged" not in text
    assert f"{course['cycles_given']} cycle" in text and "relative dose intensity doxorubicin" in text
    assert "Tumour assessments (RECIST 1.1):" in text and f"{points[0]['date']} baseline" in text
    assert "best overall response" in text and "(?)" not in text


def test_the_endpoints_csv_follows_the_protocol(built, tmp_path):
    """``sarcotrial endpoints --out`` on DOXAB had SPRINT's resection, R0, pCR and wound columns (zeros) and
    no arm or best response: now the arm, PFS and OS, and the best overall response (RECIST 1.1), each patient's
    as the response service gives it and the arm as allocated."""
    import csv

    from typer.testing import CliRunner

    from sarcotrial.cli.main import app

    study, _summary, _messages, _logs = built
    out = tmp_path / "endpoints.csv"
    done = CliRunner().invoke(app, ["endpoints", "--out", str(out), "--db", study.url, "--user", "statistician"],
                              env={"SARCOTRIAL_PASSWORD": demo_password(SEED, "statistician")})
    assert done.exit_code == 0, done.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0])
    assert header[:2] == ["subject_id", "arm"] and "pfs_status" in header and "os_status" in header
    assert not {"resected", "r0_resected", "r0_itt", "pcr", "major_wound_complication"} & set(header)
    statistician = login("statistician")
    best = {r.subject_id: r for r in endpoints.response_rows(study, statistician)}
    arms = randomisation.arms_by_subject(study, statistician)
    assert {r["subject_id"] for r in rows} == set(best) == set(arms)
    for row in rows:
        assert row["arm"] == arms[row["subject_id"]]
        assert row["best_response_confirmed"] == best[row["subject_id"]].best_confirmed
        assert int(row["responder_unconfirmed"]) == best[row["subject_id"]].responder_unconfirmed
