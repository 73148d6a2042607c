"""A synthetic randomised systemic-therapy study, built through the same services a user's actions go through.

SYNTHETIC DATA: every person, date and value made here is invented by a seeded random generator; names carry
"(synthetic)" and the study and each patient are flagged synthetic in the database.

The generator serves any protocol that declares arms, systemic regimens with their administration form, and
a RECIST 1.1 response section (schema version 2); it is driven by the protocol's data alone:

- **Screening.** Each referral is screened with values built from the eligibility criteria: every rule is
  read from its operator and value (``eq`` ... ``le``, ``in``, ``not_in``, ``is_true``, ``is_false``, and
  ``all`` / ``any`` / ``not`` of rules) and a value is chosen, in the field's own range or code list, that
  meets it; a screen failure breaks one criterion, each criterion in turn. The domain's own eligibility rule
  then judges the values before they are entered, so that the intended verdict is the one stored.
- **Randomisation.** Enrolment allocates the arm (``pathway.enrol`` with ``services.randomisation``); the
  allocation's secret seed is derived from the demo's seed (see :func:`_demo_allocation_seed`), so that the
  same seed gives the same study. A real study's seed is never derived: it is 128 random bits.
- **Treatment.** Each cycle is entered on the form ``treatment.systemic.administration`` names, with the doses
  of the patient's regimen (the regimen of the arm) computed by the domain (Mosteller or DuBois body surface
  area, mg per m2 or per kg), until the regimen's ``max_cycles``, progression, withdrawal or death; a cycle is
  delayed after grade 3-4 toxicity in the cycle before (and 6 % for a logistic reason), and the dose level
  falls by 20 % after febrile neutropenia, grade 4 or non-haematological grade 3 toxicity, each with its
  reason from the form's own code list (chosen by the codes' labels).
- **Response.** Lesions are declared at baseline (up to five targets, two per organ, RECIST 1.1 section 4.2,
  measurable at >= 10 mm, nodes >= 15 mm short axis, section 3.1) and measured every
  ``response.assessment_every_weeks`` until progression, on the fields and with the codes RECIST 1.1 reads
  (``Response.recist_fields``); the response at each time point is derived by the application's RECIST 1.1
  rule, never written here.
- **Data management.** At the data cut-off the data manager marks not done, with the reason, each expected form
  of a visit whose window closed before the cut-off and that the patient's course will never fill
  (``services.forms.mark_not_done``, as ``sarcotrial not-done`` does): the cycles after the treatment stopped
  (at progression, withdrawal from treatment or follow-up, or death; after the regimen's ``max_cycles`` if the
  visit plans more), and the tumour assessments after progression (RECIST 1.1: off study treatment) or before a
  death. The visits of the administration and response forms are found with ``protocol.visits_of_form``; what
  is marked is what ``services.visits`` reads as overdue on the cut-off day (the visits after a death or a
  withdrawal that stops their forms end by themselves, and are not marked). A backlog of
  :data:`OVERDUE_BACKLOG` visits of patients still followed is left overdue, drawn by the seeded generator
  among the most recent, for the dashboard to show.

The course of each patient is simulated (synthetic assumptions, stated here): progression-free
survival is exponential with the control median of ``statistics.primary.median_control_months`` (4.2 months
if the protocol gives none; Tap et al., Lancet 2016;388:488-497: 4.1 months with doxorubicin alone) and a
hazard ratio of :data:`SIMULATED_HAZARD_RATIO` (0.65) for the experimental arm, the synthetic treatment
effect of this demo, not the protocol's design value; survival after progression is exponential with median
:data:`POST_PROGRESSION_MEDIAN_MONTHS`, so that the control arm's median overall survival is about 14 months;
partial responses in about 15-20 % of patients; grade 3-4 neutropenia, febrile neutropenia, nausea,
mucositis, fatigue and alopecia as CTCAE v5.0 terms of the shipped catalogue; a few withdrawals, a few
clinical progressions and deaths without progression; the data cut-off :data:`DATA_CUTOFF`.

Forms the application reads by name whatever the protocol (the referral, the diagnosis, the follow-up and
the outcome events: ``docs/protocol-file.md``, "Clinical forms"; the screening date, the age and the consent
date of the eligibility form, as ``services.pathway`` reads them) are named once, in :data:`ENGINE`; every
other form and field is reached through the protocol's declarations (eligibility, arms, randomisation,
treatment.systemic.administration, response and ``Response.recist_fields``, consent, withdrawal, safety,
visits, statistics) and every code through the protocol's code lists.

Hand-written: a generator of this project's own protocol files and services; the random numbers are the
standard library's (``random.Random``, seeded), the clinical rules the domain's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from sarcotrial.demo import FIRST_NAMES_F, FIRST_NAMES_M, LAST_NAMES, SITES, add_demo_accounts, demo_password
from sarcotrial.protocol.schema import NAMED_ANCHORS, AllOf, AnyOf, FieldCondition, NotOf
from sarcotrial.services.study import Actor, StudyDB

__all__ = ["DATA_CUTOFF", "DEFAULT_PATIENTS", "OVERDUE_BACKLOG", "SIMULATED_HAZARD_RATIO", "SystemicDemoSummary",
           "serves", "planned_referrals", "simulate_course", "Course", "build_systemic_demo"]

DATA_CUTOFF = dt.date(2026, 9, 30)
FIRST_REFERRAL = dt.date(2024, 9, 2)
#: accrual over about 18 months
ACCRUAL_DAYS = 548
#: patients enrolled in the default demo (the brief of a phase II demo: 40-60)
DEFAULT_PATIENTS = 48
#: the synthetic treatment effect on progression-free survival (experimental against control)
SIMULATED_HAZARD_RATIO = 0.65
#: the control median when the protocol gives none (Tap et al. 2016: 4.1 months)
DEFAULT_CONTROL_MEDIAN_MONTHS = 4.2
#: survival after progression: with PFS 4.2 months, overall survival has a median of about 14 months
POST_PROGRESSION_MEDIAN_MONTHS = 7.5
DAYS_PER_MONTH = 30.4375
#: the share of referrals that fail screening (one criterion each, in turn)
SCREEN_FAILURE_SHARE = 0.15
#: how many overdue visits the data manager has not yet dealt with at the cut-off (drawn between the two)
OVERDUE_BACKLOG = (3, 8)
#: the backlog is drawn among the visits whose window closed within this many days of the cut-off, first
BACKLOG_RECENT_DAYS = 182
#: why a tumour assessment after progression is not done
AFTER_PROGRESSION = "no tumour assessment after progression (RECIST 1.1: off study treatment)"

#: the forms and fields the application itself reads by name, whatever the protocol (not a protocol's ids)
ENGINE = {
    "referral": NAMED_ANCHORS["referral"].form, "referral_date": NAMED_ANCHORS["referral"].field,
    "screening_date": NAMED_ANCHORS["screening"].field, "age": "age_years", "consent_date": "consent_date",
    "diagnosis": "diagnosis", "diagnosis_date": "diagnosis_date", "histotype": "histotype",
    "follow_up": "follow_up", "visit_date": "visit_date",
    "outcome_event": "outcome_event", "event_type": "event_type", "event_date": "event_date",
    "death_cause": "death_cause", "adverse_event": "adverse_event", "term": "term", "grade": "grade",
    "onset_date": "onset_date", "resolution_date": "resolution_date", "attribution": "attribution",
    "seriousness": "seriousness",
}
#: the event codes and causes of death the endpoints read (``services.endpoints``, ``outcomes.endpoints``)
PROGRESSION, DEATH, SARCOMA, OTHER = "progression", "death", "sarcoma", "other"

# approximately the case mix of advanced soft tissue sarcoma in first-line anthracycline trials (Tap et al.
# 2016; Judson et al., Lancet Oncol 2014;15:415-423): leiomyosarcoma the most frequent, then undifferentiated
# pleomorphic sarcoma and the liposarcomas; names the WHO 2020 catalogue knows, with relative weights
CASE_MIX = [("leiomyosarcoma", 38), ("undifferentiated pleomorphic sarcoma", 14),
            ("dedifferentiated liposarcoma", 9), ("synovial sarcoma", 8), ("myxofibrosarcoma", 6),
            ("pleomorphic liposarcoma", 5), ("angiosarcoma", 5), ("malignant peripheral nerve sheath tumour", 4),
            ("myxoid liposarcoma", 4), ("epithelioid sarcoma", 3), ("solitary fibrous tumour", 2),
            ("alveolar soft part sarcoma", 2)]

# adverse events of doxorubicin-based chemotherapy (CTCAE v5.0 terms; per patient: the chance of the event
# over the course and the grades drawn): round figures in the range those trials report for doxorubicin,
# synthetic, not a reproduction of their tables
TOXICITY = [("Neutrophil count decreased", 0.55, [2, 3, 3, 4]), ("Nausea", 0.65, [1, 1, 2, 2, 3]),
            ("Fatigue", 0.6, [1, 1, 2, 2]), ("Mucositis oral", 0.35, [1, 2, 2, 3]), ("Alopecia", 0.5, [1, 2]),
            ("Febrile neutropenia", 0.12, [3])]
#: events the site reports as serious (hospitalisation), whatever their grade
SERIOUS_TERMS = {"Febrile neutropenia"}
#: the antibody's own event (per kg dosed drug), in the experimental arm only
INFUSION_REACTION = ("Infusion related reaction", 0.12, [1, 2, 2])
HAEMATOLOGICAL = {"Neutrophil count decreased", "Febrile neutropenia"}


@dataclass
class SystemicDemoSummary:
    """What the demo built: the screening, the allocations, the treatment, the responses and the outcomes."""

    protocol: str = ""
    referred: int = 0
    screened: int = 0
    screen_failures: Counter = field(default_factory=Counter)
    enrolled: int = 0
    arms: dict = field(default_factory=dict)  # arm id -> name, in the protocol's order
    allocated: Counter = field(default_factory=Counter)
    cycles: Counter = field(default_factory=Counter)  # by arm
    reduced_cycles: int = 0
    delayed_cycles: int = 0
    assessments: int = 0
    best_response: dict = field(default_factory=dict)  # arm -> Counter of best overall responses (unconfirmed)
    progressions: Counter = field(default_factory=Counter)  # PFS events by arm (progression or death)
    deaths: Counter = field(default_factory=Counter)
    adverse_events: int = 0
    serious_adverse_events: int = 0
    withdrawn: int = 0
    not_done: int = 0  # forms marked not done by the data manager, each with its reason
    overdue: int = 0  # visits left overdue on the dashboard at the cut-off (the data manager's backlog)
    data_cutoff: dt.date = DATA_CUTOFF
    logins: list = field(default_factory=list)


def serves(protocol: Any) -> bool:
    """Whether this generator builds the demo of ``protocol``: it declares arms, systemic regimens with their
    administration form, and a RECIST 1.1 response section with its lesion and measurement forms."""
    systemic = getattr(getattr(protocol, "treatment", None), "systemic", None)
    response = getattr(protocol, "response", None)
    return bool(getattr(protocol, "arms", None)) and systemic is not None and bool(systemic.regimens) \
        and systemic.administration is not None and response is not None \
        and response.lesion_form is not None and response.measurement_form is not None


def planned_referrals(patients: int = DEFAULT_PATIENTS) -> int:
    """How many referrals the demo screens for ``patients`` enrolled (the progress bar's total)."""
    return patients + _failures(patients)


def _failures(patients: int) -> int:
    return max(1, round(patients * SCREEN_FAILURE_SHARE / (1 - SCREEN_FAILURE_SHARE)))


# --------------------------------------------------------------------------- the simulated course
@dataclass(frozen=True)
class Course:
    """One patient's simulated truth, in days from enrolment: progression (``None``: none before death), death,
    and the best response class the tumour follows (``PR`` or ``SD``; an early progressor has ``PD``)."""

    progression_days: float | None
    death_days: float
    shrinks: bool
    clinical_progression: bool
    death_cause: str


def simulate_course(rng: random.Random, experimental: bool, control_median_months: float,
                    hazard_ratio: float = SIMULATED_HAZARD_RATIO) -> Course:
    """Draw one patient's course: PFS ~ exponential(ln 2 / median, times the hazard ratio in the experimental
    arm); overall survival = PFS + exponential survival after progression; about 3 % die without progression
    (from the treatment or another cause); a partial response in 22 % (control) and 30 % (experimental) of
    patients without progression at the second assessment (about 14 % and 22 % of all patients)."""
    rate = math.log(2) / control_median_months * (hazard_ratio if experimental else 1.0)
    pfs = rng.expovariate(rate) * DAYS_PER_MONTH
    post = rng.expovariate(math.log(2) / POST_PROGRESSION_MEDIAN_MONTHS) * DAYS_PER_MONTH
    shrinks = rng.random() < (0.30 if experimental else 0.22)
    clinical = rng.random() < 0.06
    if rng.random() < 0.03:  # death before any progression
        return Course(None, pfs, False, False, rng.choice(["treatment", OTHER]))
    return Course(pfs, pfs + max(post, 7.0), shrinks and pfs > 84, clinical, SARCOMA)


# --------------------------------------------------------------------------- reproducible allocation
def _demo_allocation_seed(seed: int) -> str:
    """The demo's randomisation seed, derived from the demo's seed (32 hex digits, as ``new_seed`` gives)."""
    return hashlib.sha256(f"sarcotrial-demo-randomisation:{seed}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Stops:
    """What ended a patient's treatment and tumour assessments, as entered: why the cycles stopped (``None``: they
    go on after the cut-off), how many were given, the progression (RECIST 1.1 or clinical) and the death, if
    before the cut-off."""

    treatment: str | None
    given: int
    progression: dt.date | None
    death: dt.date | None


# --------------------------------------------------------------------------- the generator
class _SystemicGenerator:
    def __init__(self, study: StudyDB, seed: int, progress: Callable[[str], None] | None, patients: int):
        from sarcotrial.domain import histology

        self.study = study
        self.protocol = study.protocol
        self.seed = seed
        self.patients = patients
        self.rng = random.Random(seed)
        self.progress = progress or (lambda _msg: None)
        self.summary = SystemicDemoSummary(protocol=self.protocol.acronym,
                                           arms={a.id: a.name for a in self.protocol.arms})
        self.staff = {
            "nurse": Actor("research.nurse (synthetic)", "demo"),
            "oncologist": Actor("dr.oncologist (synthetic)", "demo"),
            "radiologist": Actor("dr.radiologist (synthetic)", "demo"),
            "datamanager": Actor("data.manager (synthetic)", "demo"),
        }
        self.histotypes = [(histology.search_histotypes(name).matches[0], weight) for name, weight in CASE_MIX]
        p = self.protocol
        self.systemic = p.treatment.systemic
        self.spec = self.systemic.administration
        self.response = p.response
        statistics = p.statistics.primary
        self.control = getattr(statistics, "control_arm", None) or p.arms[0].id
        self.median = getattr(statistics, "median_control_months", None) or DEFAULT_CONTROL_MEDIAN_MONTHS
        self.every = (self.response.assessment_every_weeks or 6) * 7
        self.safety_form = p.safety.form if p.safety is not None else ENGINE["adverse_event"]
        self._groups: dict[str, tuple[dict[str, str], str | None]] = {}  # histotype groups, by code list
        self.stops: dict[str, _Stops] = {}  # by subject, for the data manager at the cut-off
        # the repeating visit of the administration form: each cycle is entered at its own occurrence
        self.cycle_visit = next((v for v in p.visits_of_form(self.spec.form) if v.repeat is not None), None)

    # ------------------------------------------------------------------ helpers
    def days(self, low: int, high: int) -> dt.timedelta:
        return dt.timedelta(days=self.rng.randint(low, high))

    def codes(self, codelist: str | None) -> list[str]:
        return self.protocol.codes(codelist) if codelist else []

    def code(self, form_id: str, field_id: str, *words: str) -> Any:
        """The code of a field whose code or label holds one of ``words`` (the first found), else its first code."""
        fld = self.protocol.form(form_id).field(field_id)
        entries = self.protocol.codelists[fld.codelist]
        for word in words:
            for entry in entries:
                if word in entry.code.lower() or word in entry.label.lower():
                    return entry.code
        return entries[0].code

    def complete(self, form_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with every other required field of the form drawn from its type, range or code list."""
        out = dict(values)
        for fld in self.protocol.form(form_id).fields:
            if not fld.required or out.get(fld.id) is not None:
                continue
            if fld.type == "code":
                codes = self.codes(fld.codelist)
                out[fld.id] = self.rng.choices(codes, weights=[len(codes) - i for i in range(len(codes))])[0]
            elif fld.type == "boolean":
                out[fld.id] = False
            elif fld.type in ("integer", "decimal"):
                low, high = fld.min if fld.min is not None else 0, fld.max if fld.max is not None else 100
                out[fld.id] = self.rng.randint(int(low), int(high)) if fld.type == "integer" \
                    else round(self.rng.uniform(low, high), 1)
            elif fld.type == "text":
                out[fld.id] = "Recorded for the synthetic demo (no further detail)"
        return out

    def record(self, actor: Actor, subject: str, form_id: str, values: dict[str, Any], visit: str | None = None):
        from sarcotrial.services import forms

        return forms.record(self.study, actor, subject, form_id, self.complete(form_id, values), visit=visit)

    # ------------------------------------------------------------------ the study
    def run(self) -> SystemicDemoSummary:
        from sarcotrial.services import access

        rng = self.rng
        for code, name in SITES[1:]:  # the first is the study's own site, made with it
            access.add_site(self.study, self.staff["datamanager"], code, name)
        criteria = list(self.protocol.eligibility.criteria)
        failures = [criteria[i % len(criteria)] for i in range(_failures(self.patients))]
        rng.shuffle(failures)
        plan: list[Any] = [None] * self.patients + failures
        rng.shuffle(plan)
        spacing = ACCRUAL_DAYS / len(plan)
        from sarcotrial.services.randomisation import randomises, set_synthetic_seed

        if randomises(self.protocol):  # the same demo seed gives the same arms (a real study's seed is random)
            set_synthetic_seed(self.study, self.staff["datamanager"], _demo_allocation_seed(self.seed))
        for index, failing in enumerate(plan):
            referral = FIRST_REFERRAL + dt.timedelta(days=int(index * spacing) + rng.randint(0, 5))
            self.progress(f"patient {index + 1} of {len(plan)}")
            self.patient(referral, failing)
        self.not_done()
        self.accounts()
        self.read_back()
        return self.summary

    def accounts(self) -> None:
        """The demo's accounts, as the SPRINT demo's."""
        self.summary.logins.extend(add_demo_accounts(self.study, self.staff["datamanager"], self.seed))

    def not_done(self) -> None:
        """At the cut-off, the data manager marks not done, with its reason, each expected form of a visit
        overdue on that day (``services.visits``) that the patient's course will never fill: a cycle after the
        treatment stopped, a tumour assessment after progression or before a death. The visits are the
        administration form's and the repeated ones of the response form (``protocol.visits_of_form``). A
        backlog of :data:`OVERDUE_BACKLOG` overdue visits of patients still followed is left for the dashboard
        (the overdue visits nothing explains counted in it), drawn among the most recent."""
        from sarcotrial.services import forms, visits

        p, rng, manager = self.protocol, self.rng, self.staff["datamanager"]
        treatment = {v.id for v in p.visits_of_form(self.spec.form)}
        assessment = {v.id for v in p.visits_of_form(self.response.form) if v.repeat is not None}
        marks: list[tuple[str, Any, list[tuple[str, str]]]] = []  # (subject, visit, [(form, reason)])
        for subject, stops in self.stops.items():
            for visit in visits.visits(self.study, manager, subject, today=DATA_CUTOFF):
                if visit.status != "overdue":
                    continue
                reasons = [(f.form_id, self._why_not_done(stops, visit, treatment, assessment))
                           for f in visit.forms if f.status == "expected"]
                if reasons and all(why is not None for _form, why in reasons):
                    marks.append((subject, visit, reasons))
        # the dashboard's overdue visits (the patients it chases) on the cut-off day, and the backlog among them
        chased = {(d.subject, d.visit_id, d.occurrence) for d in visits.due(self.study, manager, today=DATA_CUTOFF)
                  if d.status == "overdue"}
        markable = {(subject, v.visit_id, v.occurrence) for subject, v, _reasons in marks}
        wanted = max(0, rng.randint(*OVERDUE_BACKLOG) - len(chased - markable))
        pool = [(subject, v) for subject, v, _reasons in marks if (subject, v.visit_id, v.occurrence) in chased]
        recent = [x for x in pool if (DATA_CUTOFF - x[1].window_end).days <= BACKLOG_RECENT_DAYS]
        left = rng.sample(recent, min(wanted, len(recent)))
        older = [x for x in pool if x not in recent]
        left += rng.sample(older, min(wanted - len(left), len(older)))
        kept = {(subject, v.visit_id, v.occurrence) for subject, v in left}
        for subject, visit, reasons in marks:
            if (subject, visit.visit_id, visit.occurrence) in kept:
                continue
            for form_id, why in reasons:
                forms.mark_not_done(self.study, manager, subject, form_id, f"{visit.visit_id}:{visit.occurrence}",
                                    why)
                self.summary.not_done += 1
        self.summary.overdue = sum(d.status == "overdue" for d in visits.due(self.study, manager, today=DATA_CUTOFF))

    def _why_not_done(self, stops: _Stops, visit, treatment: set[str], assessment: set[str]) -> str | None:
        """Why an expected form of an overdue visit will never be filled, from the patient's course (``None``:
        nothing explains it, the visit is genuinely overdue)."""
        if visit.visit_id in treatment and stops.treatment is not None and visit.occurrence > stops.given:
            return stops.treatment  # the occurrences of the cycles given hold them, wherever they were entered
        if visit.visit_id in assessment:
            if stops.progression is not None and stops.progression <= visit.window_end:
                return AFTER_PROGRESSION
            if stops.death is not None:
                return f"no tumour assessment: the patient died on {stops.death}"
        return None

    def read_back(self) -> None:
        """The responses and the events as the application derives them (RECIST 1.1, the endpoints)."""
        from sarcotrial.services import endpoints, randomisation

        s = self.summary
        manager = Actor("statistician", "demo", password=demo_password(self.seed, "statistician"))
        arms = randomisation.arms_by_subject(self.study, manager)
        s.best_response = {arm: Counter() for arm in s.arms}
        for row in endpoints.response_rows(self.study, manager):
            s.best_response[arms[row.subject_id]][row.best_unconfirmed] += 1
        primary = self.protocol.statistics.primary.endpoint
        for row in endpoints.derive_endpoints(self.study, DATA_CUTOFF, manager):
            arm = arms[row.course.subject_id]
            s.progressions[arm] += row.times[primary].status == 1 if primary in row.times else 0
            s.deaths[arm] += row.course.death is not None

    # ------------------------------------------------------------------ one referral
    def patient(self, referral: dt.date, failing) -> None:
        from sarcotrial.services import pathway, randomisation

        rng, s, p = self.rng, self.summary, self.protocol
        sex = rng.choice(["female", "male"])
        unit = "SAT" if rng.random() < 0.35 else "MAIN"
        entity = rng.choices([h for h, _ in self.histotypes], weights=[w for _, w in self.histotypes])[0]
        screening_date = referral + self.days(3, 14)
        age_wanted = int(min(84, max(19, rng.gauss(57, 13))))
        answers, broken = self.screening_values(failing, age_wanted, entity)
        age = answers.get(ENGINE["age"], age_wanted)
        # 365 x age + 40 to 320 days: at least age full years (leap days included) and fewer than age + 1
        birthday = screening_date - dt.timedelta(days=365 * age + rng.randint(40, 320))
        first = rng.choice(FIRST_NAMES_F if sex == "female" else FIRST_NAMES_M)
        name = f"{first} {rng.choice(LAST_NAMES)} (synthetic)"
        referral_values = self.complete(ENGINE["referral"], {ENGINE["referral_date"]: referral})
        patient = pathway.register_patient(
            self.study, self.staff["nurse"], sex=sex, synthetic=True, site_code=unit,
            identifiers=pathway.Identifiers(name, birthday, f"SYN{rng.randint(10**6, 10**7 - 1)}"),
            referral=referral_values)
        s.referred += 1
        subject = patient.subject_id
        form = p.form(p.eligibility.form)
        answers[ENGINE["screening_date"]] = screening_date
        if form.field(ENGINE["consent_date"]) is not None and self._consented(form, broken):
            answers[ENGINE["consent_date"]] = screening_date
        screening = pathway.screen(self.study, self.staff["nurse"], subject, answers)
        s.screened += 1
        if screening.decision != "eligible":
            for criterion in screening.criteria:  # as decided and stored, not as the generator intended
                failed = (criterion.result == "met") != (criterion.kind == "inclusion")
                if criterion.result != "not_evaluable" and failed:
                    s.screen_failures[criterion.criterion_id] += 1
            return
        enrolment = screening_date + self.days(1, 6)
        if p.consent is not None:
            values = {p.consent.date_field: screening_date, p.consent.version_field: p.consent.current_version}
            if p.consent.data_use_field:
                values[p.consent.data_use_field] = True
            self.record(self.staff["nurse"], subject, p.consent.form, values)
        pathway.enrol(self.study, self.staff["datamanager"], subject, enrolment)
        s.enrolled += 1
        arm = randomisation.arms_by_subject(self.study, self.staff["datamanager"], subject)[subject]
        s.allocated[arm] += 1
        self.treat(subject, sex, arm, entity, referral, enrolment)

    def _consented(self, form, broken: set[str]) -> bool:
        """Whether the consent was signed at screening: not when a field about consent (by its label) was made
        to break the criterion that fails."""
        return not any("consent" in form.field(f).label.lower() for f in broken if form.field(f) is not None)

    # ------------------------------------------------------------------ screening values from the criteria
    def _constrain(self, rule, want: bool, out: dict[str, list], rng: random.Random) -> None:
        """Collect, by field, what its value must satisfy (``(op, value, True)``) or break (``False``)."""
        if isinstance(rule, FieldCondition):
            out.setdefault(rule.field, []).append((rule.op, rule.value, want))
        elif isinstance(rule, AllOf):
            broken = rng.randrange(len(rule.all)) if not want else None
            for i, child in enumerate(rule.all):
                self._constrain(child, i != broken, out, rng)
        elif isinstance(rule, AnyOf):
            kept = rng.randrange(len(rule.any)) if want else None
            for i, child in enumerate(rule.any):
                if not want or i == kept:
                    self._constrain(child, want, out, rng)
        elif isinstance(rule, NotOf):
            self._constrain(rule.not_, not want, out, rng)

    def _candidates(self, fld) -> list[Any]:
        if fld.type == "boolean":
            return [True, False]
        if fld.type == "code":
            return self.codes(fld.codelist)
        if fld.type == "integer":
            low, high = fld.min if fld.min is not None else 0, fld.max if fld.max is not None else 120
            return list(range(int(low), int(high) + 1))
        if fld.type == "decimal":
            low, high = fld.min if fld.min is not None else 0.0, fld.max if fld.max is not None else 100.0
            return [round(low + i * (high - low) / 200, 1) for i in range(201)]
        return []

    @staticmethod
    def _meets(field_id: str, op: str, value: Any, expected: Any) -> bool:
        """Whether ``value`` meets one test, as the domain's eligibility rule judges it."""
        from sarcotrial.domain.eligibility import evaluate_condition

        return evaluate_condition({"field": field_id, "op": op, "value": expected}, {field_id: value})[0] is True

    def screening_values(self, failing, age: int, entity) -> tuple[dict[str, Any], set[str]]:
        """Values of the eligibility form that meet every criterion except ``failing`` (None: every one), as the
        domain's eligibility rule judges them; the other required fields drawn from their ranges and codes. With
        them, the fields made to break ``failing``."""
        from sarcotrial.domain.randomisation import scheme_from_protocol
        from sarcotrial.services.pathway import eligibility

        p, rng = self.protocol, self.rng
        form = p.form(p.eligibility.form)
        factors = {f.field: f for f in scheme_from_protocol(p).factors} if p.randomisation else {}
        for _attempt in range(50):
            wanted: dict[str, list] = {}
            for criterion in p.eligibility.criteria:
                meets = criterion.kind == "inclusion"
                self._constrain(criterion.rule, meets if criterion is not failing else not meets, wanted, rng)
            values: dict[str, Any] = {}
            for fld in form.fields:
                pool = [c for c in self._candidates(fld)
                        if all(self._meets(fld.id, op, c, v) == want for op, v, want in wanted.get(fld.id, []))]
                if not pool:
                    continue
                if fld.id == ENGINE["age"]:
                    values[fld.id] = min(pool, key=lambda c: abs(c - age))
                elif fld.type == "code" and fld.id not in wanted and self._histotype_code(fld, entity) in pool:
                    values[fld.id] = self._histotype_code(fld, entity)
                elif fld.id in factors:
                    values[fld.id] = self._factor_value(factors[fld.id], pool)
                elif fld.required or fld.id in wanted:
                    values[fld.id] = rng.choice(pool)
            decision = eligibility(p, values).decision
            if decision == ("eligible" if failing is None else "ineligible"):
                broken = {f for f, conditions in wanted.items() if any(not want for _op, _v, want in conditions)} \
                    if failing is not None and failing.kind == "inclusion" else set()
                return values, broken
        raise RuntimeError(f"no screening values meet the criteria as intended (criterion "
                           f"{getattr(failing, 'id', None)})")

    def _histotype_code(self, fld, entity) -> str | None:
        """A code field that groups histotypes (its labels name catalogue entities): the code of the patient's
        histotype, or the code for the others."""
        from sarcotrial.domain import histology

        if fld.codelist not in self._groups:
            entries = self.protocol.codelists.get(fld.codelist, [])
            named = {}
            for entry in entries:
                found = histology.search_histotypes(entry.label).matches
                if found and histology.normalize_term(found[0].name) == histology.normalize_term(entry.label):
                    named[found[0].id] = entry.code
            others = [e.code for e in entries if e.code not in named.values()]
            self._groups[fld.codelist] = (named, others[0] if named and others else None)
        named, other = self._groups[fld.codelist]
        return named.get(entity.id, other) if named else None

    def _factor_value(self, factor, pool: list[Any]) -> Any:
        """A stratification factor's value among those allowed (``pool``): its levels in the protocol's order,
        the first likelier (weights 1, 1/2, 1/3...: ECOG 0 more often than 2, no previous line more often
        than one), then within the level its first values likelier (one previous line more often than four)."""
        levels = [[v for v in values if v in pool] for values in factor.levels.values()] if factor.levels else []
        levels = [level for level in levels if level]
        if not levels:
            return self.rng.choice(pool)
        level = self.rng.choices(levels, weights=[1 / (i + 1) for i in range(len(levels))])[0]
        return self.rng.choices(level, weights=[1 / (i + 1) ** 2 for i in range(len(level))])[0]

    # ------------------------------------------------------------------ treatment and response
    def treat(self, subject: str, sex: str, arm: str, entity, referral: dt.date, enrolment: dt.date) -> None:
        """An enrolled patient's diagnosis, simulated course, tumour assessments, cycles, withdrawal, follow-up
        and death, each entered as its form (the assessments before the cycles: the cycles stop at the
        progression the assessments find)."""
        from sarcotrial.services.systemic_entry import regimen_for

        rng, p = self.rng, self.protocol
        doctor = self.staff["oncologist"]
        if p.has_form(ENGINE["diagnosis"]):
            self.record(doctor, subject, ENGINE["diagnosis"], {
                ENGINE["diagnosis_date"]: referral - self.days(30, 500), ENGINE["histotype"]: entity.id})
        course = simulate_course(rng, arm != self.control, self.median)
        death = enrolment + dt.timedelta(days=round(course.death_days))
        progression = (enrolment + dt.timedelta(days=round(course.progression_days))
                       if course.progression_days is not None else None)
        kinds = self._withdrawal_kinds()
        roll = rng.random()
        withdrawal = None  # (what it stops, its date)
        if roll < 0.06 and "treatment" in kinds:
            withdrawal = ("treatment", enrolment + self.days(40, 120))
        elif roll < 0.09 and "follow_up" in kinds:
            withdrawal = ("follow_up", enrolment + self.days(60, 240))
        # followed to the cut-off or a withdrawal from follow-up; the last day of data: then, or the day before death
        followed = min(DATA_CUTOFF, withdrawal[1]) if withdrawal is not None and withdrawal[0] == "follow_up" \
            else DATA_CUTOFF
        observed_death = death if death <= followed else None
        end = min(followed, death - dt.timedelta(days=1))

        lesions = self.baseline(subject, enrolment)
        recist_pd = self.assessments(subject, enrolment, lesions, course, progression, end)
        clinical = progression if course.clinical_progression and recist_pd is None and progression is not None \
            and progression <= end else None
        stop = min(d for d in (recist_pd, clinical, end) if d is not None)
        if withdrawal is not None and withdrawal[0] == "treatment":
            if withdrawal[1] < stop:
                stop = withdrawal[1]
            else:
                withdrawal = None  # treatment had ended before
        regimen = regimen_for(p, arm)
        given = self.cycles(subject, sex, arm, regimen, enrolment, stop)
        # why the cycles stopped, as the data manager reads it from the data entered
        why = None  # the cut-off: the next cycle is still to come
        if withdrawal is not None and withdrawal[0] == "treatment":
            why = f"treatment stopped: withdrawn from study treatment on {withdrawal[1]}"
        elif given >= (regimen.max_cycles or 8):
            why = f"treatment completed: the regimen's {given} cycles given"
        elif recist_pd is not None and stop == recist_pd:
            why = f"treatment stopped at progression (RECIST 1.1) on {recist_pd}"
        elif clinical is not None and stop == clinical:
            why = f"treatment stopped at clinical progression on {clinical}"
        elif observed_death is not None and stop == end == observed_death - dt.timedelta(days=1):
            why = f"treatment stopped: the patient died on {observed_death}"
        elif withdrawal is not None and withdrawal[0] == "follow_up" and stop == end == withdrawal[1]:
            why = f"treatment stopped: withdrawn from follow-up on {withdrawal[1]}"
        self.stops[subject] = _Stops(why, given, recist_pd or clinical, observed_death)
        if withdrawal is not None and withdrawal[1] <= end:
            spec = p.withdrawal
            self.record(self.staff["nurse"], subject, spec.form, {spec.date_field: withdrawal[1],
                                                                 spec.kind_field: kinds[withdrawal[0]]})
            self.summary.withdrawn += 1
        self.follow_up(subject, enrolment, end, clinical, observed_death, course.death_cause)

    def _withdrawal_kinds(self) -> dict[str, str]:
        """The protocol's kinds of withdrawal by what they do: ``treatment`` stops the cycles only, ``follow_up``
        ends the follow-up without withdrawing consent to the data (the kind codes are the protocol's)."""
        spec = self.protocol.withdrawal
        if spec is None:
            return {}
        out = {}
        for kind, stopped in spec.stops.items():
            if stopped == [self.spec.form]:
                out.setdefault("treatment", kind)
            elif kind in spec.ends_follow_up and "*" not in stopped:
                out.setdefault("follow_up", kind)
        return out

    def baseline(self, subject: str, enrolment: dt.date) -> list[dict[str, Any]]:
        """The baseline assessment (up to 28 days before enrolment), its lesions and their measurements."""
        from sarcotrial.domain.recist import MAX_TARGETS, MAX_TARGETS_PER_ORGAN, MIN_MEASURABLE_MM, \
            MIN_MEASURABLE_NODE_MM

        rng, r = self.rng, self.response
        radiologist = self.staff["radiologist"]
        day = enrolment - self.days(2, 21)
        self.record(radiologist, subject, r.form, {"assessment_date": day, "baseline": True,
                                                   "new_lesions": "no"})
        organ_field = self.protocol.form(r.lesion_form).field("organ")
        if organ_field.codelist:  # a code list of organs (or, a text field, the organs' names)
            organs, node_organ = self.codes(organ_field.codelist), self.code(r.lesion_form, "organ", "lymph", "node")
        else:
            organs, node_organ = ["lung", "liver", "soft tissue", "peritoneum", "lymph node"], "lymph node"
        # where advanced soft tissue sarcoma spreads: the lungs first, then liver, soft tissue, peritoneum
        weights = {"lung": 5, "liver": 3, "soft_tissue": 3, "soft tissue": 3, "peritoneum": 2, "lymph_node": 1,
                   "lymph node": 1, "bone": 1, "pleura": 1}
        lesions: list[dict[str, Any]] = []
        per_organ: Counter = Counter()
        for index in range(rng.choice([1, 2, 2, 3, 3, 4, 5])):
            organ = rng.choices(organs, weights=[weights.get(o, 0.5) for o in organs])[0]
            if per_organ[organ] >= MAX_TARGETS_PER_ORGAN or len(lesions) >= MAX_TARGETS:
                continue
            per_organ[organ] += 1
            node = organ == node_organ
            size = MIN_MEASURABLE_NODE_MM + rng.uniform(2, 20) if node \
                else MIN_MEASURABLE_MM + rng.lognormvariate(2.8, 0.6)
            lesions.append({"lesion_id": f"L{len(lesions) + 1}", "kind": "target", "organ": organ, "node": node,
                            "size": round(min(size, 180.0), 1)})
        for index in range(rng.choice([0, 0, 1, 1, 2])):
            lesions.append({"lesion_id": f"N{index + 1}", "kind": "non_target",
                            "organ": rng.choice([o for o in organs if o != node_organ]), "node": False})
        for lesion in lesions:
            self.record(radiologist, subject, r.lesion_form, {k: lesion[k] for k in ("lesion_id", "kind", "organ",
                                                                                      "node")})
        self.measure(subject, day, lesions, 1.0, progression=False)
        return lesions

    def measure(self, subject: str, day: dt.date, lesions: list[dict[str, Any]], factor: float,
                progression: bool) -> None:
        """Each lesion's measurement at an assessment: the target lesions at ``factor`` times their baseline size
        (each within a few per cent, the sum exactly so), the non-target ones present (or progressing)."""
        rng, r = self.rng, self.response
        targets = [x for x in lesions if x["kind"] == "target"]
        spread = 0.05 if factor != 1.0 else 0.0  # the baseline measurements are the lesions' sizes
        sizes = [x["size"] * factor * (1 + rng.uniform(-spread, spread)) for x in targets]
        scale = sum(x["size"] for x in targets) * factor / sum(sizes)
        for lesion, size in zip(targets, sizes):
            self.record(self.staff["radiologist"], subject, r.measurement_form, {
                "assessment_date": day, "lesion_id": lesion["lesion_id"], "diameter_mm": round(size * scale, 1),
                "axis": "short" if lesion["node"] else "long"})
        for lesion in lesions:
            if lesion["kind"] != "target":
                status = "unequivocal_progression" if progression and rng.random() < 0.3 else "present"
                self.record(self.staff["radiologist"], subject, r.measurement_form, {
                    "assessment_date": day, "lesion_id": lesion["lesion_id"], "status": status})

    def assessments(self, subject: str, enrolment: dt.date, lesions, course: Course, progression: dt.date | None,
                    end: dt.date) -> dt.date | None:
        """Tumour assessments every ``assessment_every_weeks`` until progression is seen (its date returned),
        the end of follow-up or the visit's last occurrence; the sum of the target diameters follows the
        patient's course (a partial response shrinks it by 35-60 %; stable disease stays within -25 to +12 %
        of the nadir; progression adds at least 20 % and 5 mm to the nadir, RECIST 1.1 section 4.3.1)."""
        rng, r = self.rng, self.response
        visit = next((v for v in self.protocol.visits_of_form(r.form) if v.repeat is not None), None)
        limit = enrolment + dt.timedelta(days=(visit.repeat.until_days if visit and visit.repeat.until_days else 728))
        baseline_sum = sum(x["size"] for x in lesions if x["kind"] == "target")
        factor, nadir = 1.0, 1.0
        depth = rng.uniform(0.4, 0.65)
        clinical = course.clinical_progression
        for number in range(1, 1000):
            day = enrolment + dt.timedelta(days=number * self.every + rng.randint(0, 5))
            if day > end or day > limit:
                return None
            if clinical and progression is not None and progression < day:
                return None  # progression was clinical, between scans: the scans stop
            progressed = progression is not None and progression <= day
            if progressed:
                factor = max(nadir * rng.uniform(1.25, 1.5), nadir + 6.0 / baseline_sum + 0.01)
            elif course.shrinks:
                factor = max(depth, factor * rng.uniform(0.62, 0.85)) if number <= 3 \
                    else factor * rng.uniform(0.97, 1.03)
                factor = min(factor, nadir * 1.12)
            else:  # stable: never 30 % below the baseline, never 20 % above the nadir
                factor = min(max(0.75, nadir * rng.uniform(0.95, 1.1)), nadir * 1.12)
            new = "yes" if progressed and rng.random() < 0.4 else "no"
            self.record(self.staff["radiologist"], subject, r.form, {"assessment_date": day, "baseline": False,
                                                                     "new_lesions": new})
            self.summary.assessments += 1
            self.measure(subject, day, lesions, factor, progression=progressed)
            nadir = min(nadir, factor)
            if progressed:
                return day
        return None

    def cycles(self, subject: str, sex: str, arm: str, regimen, enrolment: dt.date, stop: dt.date) -> int:
        """The cycles of the regimen until its last, progression, withdrawal or the end of follow-up, with
        their adverse events; grade 3-4 toxicity delays the next cycle, and the dose level falls by 20 % after
        febrile neutropenia, grade 4 or non-haematological grade 3 toxicity. Returns how many were given."""
        from sarcotrial.domain.systemic import body_surface_area, normalise_drug, planned_dose_mg

        rng, spec, s = self.rng, self.spec, self.summary
        height = rng.gauss(176 if sex == "male" else 163, 7)
        weight = max(45.0, rng.gauss(78 if sex == "male" else 66, 12))
        drugs = {normalise_drug(d.drug): d for d in regimen.drugs}
        toxicity = list(TOXICITY)
        if any(d.per == "kg" for d in regimen.drugs):
            toxicity.append(INFUSION_REACTION)
        events = {term: (rng.randint(1, 4), rng.choice(grades)) for term, chance, grades in toxicity
                  if rng.random() < chance}  # term -> (cycle of onset, grade)
        level, reason_reduced = 1.0, None
        day = enrolment + self.days(1, 6)
        limit, given = regimen.max_cycles or 8, 0
        for number in range(1, limit + 1):
            delayed, delay_reason = False, None
            if number > 1:
                day = day + dt.timedelta(days=regimen.cycle_days + rng.choice([0, 0, 0, -1]))
                severe = [t for t, (c, g) in events.items() if c == number - 1 and g >= 3]
                if severe or rng.random() < 0.06:
                    delayed = True
                    day += self.days(4, 10)
                    delay_reason = self._reason(severe)
                    # the next dose level after febrile neutropenia, grade 4 or non-haematological grade 3
                    if any(events[t][1] >= 4 or t in SERIOUS_TERMS or t not in HAEMATOLOGICAL for t in severe):
                        level, reason_reduced = 0.8, self._reason(severe)
            if day >= stop:
                break
            weight = max(40.0, weight + rng.uniform(-1.5, 0.8))
            values: dict[str, Any] = {spec.cycle_field: number, spec.date_field: day}
            if spec.height_field:
                values[spec.height_field] = round(height, 0)
            if spec.weight_field:
                values[spec.weight_field] = round(weight, 1)
            bsa = body_surface_area(round(height, 0), round(weight, 1), self.systemic.bsa_formula)
            for dose in spec.doses:
                entry = drugs.get(normalise_drug(dose.drug))
                if entry is None or dose.day not in entry.days:
                    continue
                planned = planned_dose_mg(entry, bsa, round(weight, 1))
                values[dose.field] = round(planned * level, 0 if planned >= 20 else 1)
            reduced = level < 1.0
            if spec.reduced_field:
                values[spec.reduced_field] = reduced
            if reduced and spec.reduction_reason_field:
                values[spec.reduction_reason_field] = reason_reduced
            if spec.delayed_field:
                values[spec.delayed_field] = delayed
            if delayed and spec.delay_reason_field:
                values[spec.delay_reason_field] = delay_reason
            self.cycle(subject, number, values)
            given += 1
            s.cycles[arm] += 1
            s.reduced_cycles += reduced
            s.delayed_cycles += delayed
            for term, (cycle, grade) in events.items():
                if cycle == number:
                    self.adverse_event(subject, term, grade, day + self.days(3, 12), stop)
        return given

    def cycle(self, subject: str, number: int, values: dict[str, Any]) -> None:
        """Cycle ``number`` entered at its occurrence of the administration form's visit, a delayed cycle too (the
        fifth cycle is the fifth occurrence, whatever its date); the first, which opens that visit (it is its
        anchor), where the schedule places it."""
        visit = self.cycle_visit
        self.record(self.staff["oncologist"], subject, self.spec.form, values,
                    visit=f"{visit.id}:{number}" if visit is not None and number > 1 else None)

    def _reason(self, severe: list[str]) -> str:
        """The code of a dose reduction or delay, by its cause: a haematological toxicity, another toxicity, or
        (no toxicity) a logistic reason, each the code of the form's list whose label says so."""
        spec = self.spec
        field_id = spec.reduction_reason_field or spec.delay_reason_field
        if not severe:
            return self.code(spec.form, field_id, "logistic", "other")
        if any(t in HAEMATOLOGICAL for t in severe):
            return self.code(spec.form, field_id, "haematolog", "hematolog", "toxicity")
        return self.code(spec.form, field_id, "non_haematolog", "non-haematolog", "toxicity")

    def adverse_event(self, subject: str, term: str, grade: int, onset: dt.date, until: dt.date) -> None:
        """One adverse event (CTCAE v5.0 term and grade), resolved within weeks if before ``until``; a serious one
        with the moment the site learnt of it and its report to the sponsor within the protocol's clock."""
        if onset >= min(until, DATA_CUTOFF):
            return
        rng, p = self.rng, self.protocol
        form = self.safety_form
        values: dict[str, Any] = {ENGINE["term"]: term, ENGINE["grade"]: grade, ENGINE["onset_date"]: onset}
        resolution = onset + self.days(4, 21)
        if resolution <= min(until, DATA_CUTOFF):
            values[ENGINE["resolution_date"]] = resolution
        if p.form(form).field(ENGINE["attribution"]) is not None:
            values[ENGINE["attribution"]] = self.code(form, ENGINE["attribution"],
                                                      rng.choice(["possible", "probable", "probable", "definite"]))
        serious = term in SERIOUS_TERMS
        if p.safety is not None:
            values[p.safety.serious_field] = serious
            if serious:
                aware = dt.datetime.combine(onset + self.days(0, 1), dt.time(rng.randint(8, 17), 0),
                                            tzinfo=dt.timezone.utc)
                values[p.safety.aware_field] = aware
                values[p.safety.reported_field] = aware + dt.timedelta(hours=rng.randint(2, 20))
                if p.form(form).field(ENGINE["seriousness"]) is not None:
                    values[ENGINE["seriousness"]] = self.code(form, ENGINE["seriousness"], "hospital")
        self.record(self.staff["oncologist"], subject, form, values)
        self.summary.adverse_events += 1
        self.summary.serious_adverse_events += serious

    def follow_up(self, subject: str, enrolment: dt.date, end: dt.date, clinical: dt.date | None,
                  death: dt.date | None, cause: str) -> None:
        """Contacts every few months (the visit of the follow-up form) until ``end``, a clinical progression as an
        outcome event, and the death with its cause when it is observed before the cut-off."""
        p = self.protocol
        manager = self.staff["datamanager"]
        outcome = ENGINE["outcome_event"]
        if clinical is not None:
            self.record(manager, subject, outcome, {ENGINE["event_type"]: PROGRESSION, ENGINE["event_date"]: clinical})
        if p.has_form(ENGINE["follow_up"]):
            visit = next((v for v in p.visits_of_form(ENGINE["follow_up"]) if v.repeat is not None), None)
            months = (visit.repeat.every_months or 3) if visit else 3
            form = p.form(ENGINE["follow_up"])
            alive = {f.id: self.code(form.id, f.id, "alive", "ned") for f in form.fields
                     if f.required and f.type == "code"}
            for number in range(1, 1000):
                day = enrolment + dt.timedelta(days=round(number * months * DAYS_PER_MONTH)) + self.days(-7, 7)
                if day > end:
                    break
                self.record(manager, subject, form.id, {ENGINE["visit_date"]: day, **alive})
        if death is not None:
            codes = self.codes(p.form(outcome).field(ENGINE["death_cause"]).codelist)
            self.record(manager, subject, outcome, {ENGINE["event_type"]: DEATH, ENGINE["event_date"]: death,
                                                   ENGINE["death_cause"]: cause if cause in codes else OTHER})


def build_systemic_demo(study: StudyDB, seed: int = 2026, progress: Callable[[str], None] | None = None,
                        patients: int = DEFAULT_PATIENTS) -> SystemicDemoSummary:
    """Fill an empty study database, bound to a protocol with arms, systemic regimens and RECIST 1.1
    (:func:`serves`), with a synthetic study of ``patients`` enrolled patients (and the screen failures)."""
    if not serves(study.protocol):
        from sarcotrial.errors import InvalidValue

        raise InvalidValue("protocol", "the systemic-therapy demo needs arms, treatment.systemic with regimens and "
                           "its administration form, and a RECIST 1.1 response section", show_value=False)
    if patients < 2:
        from sarcotrial.errors import InvalidValue

        raise InvalidValue("patients", "at least 2 (one per arm)", patients)
    return _SystemicGenerator(study, seed, progress, patients).run()
