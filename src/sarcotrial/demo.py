"""A synthetic SPRINT study, built through the same services a user's actions go through.

SYNTHETIC DATA: every person, date and value made here is invented by a seeded random generator;
names carry "(synthetic)" and the study and each patient are flagged synthetic in the database.

About 50 tumour-board referrals are screened (some ineligible, each with the protocol criterion
that excludes them, and one first "not evaluable" for a missing answer, then screened again); 33
are enrolled. The case mix follows the unit's own figures (sites: limbs 60 %, retroperitoneum
15 %, superficial trunk 10 %, head and neck 5 %, visceral 10 %; its list of histotypes). Grades,
stages, R status, EORTC-STBSG response and pCR are derived by the clinical rules from the
simulated biopsy and specimen, never drawn directly. Radiotherapy follows the Italian (Milan)
calendar with a few missed and rescheduled fractions; surgery follows 4-8 weeks after RT;
adverse events, wound complications and up to 36 months of follow-up with relapses and deaths
complete the study. The same seed gives the same study.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from sarcotrial.domain.pathway import age_on
from sarcotrial.domain import histology
from sarcotrial.radiotherapy.calendar import treatment_dates
from sarcotrial.services import access, forms, pathway, queries, review
from sarcotrial.services.study import Actor, StudyDB

if TYPE_CHECKING:  # the systemic-therapy demo imports this module (its sites, accounts and names)
    from sarcotrial.demo_systemic import SystemicDemoSummary

DATA_CUTOFF = dt.date(2026, 6, 30)
#: the study's two sites: the unit itself, and a satellite clinic that refers and follows patients
SITES = (("MAIN", "Soft tissue sarcoma unit (synthetic)"), ("SAT", "Satellite clinic (synthetic)"))
#: the demo's accounts: (user, full name, role, site or None for study-wide)
ACCOUNTS = (
    ("admin", "Alessandra Admin (synthetic)", "admin", None),
    ("inv.main", "Dr Marco Ricci (synthetic)", "investigator", "MAIN"),
    ("nurse.main", "Giulia Conti (synthetic)", "research_nurse", "MAIN"),
    ("inv.sat", "Dr Paola Greco (synthetic)", "investigator", "SAT"),
    ("nurse.sat", "Luca Bruno (synthetic)", "research_nurse", "SAT"),
    ("datamanager", "Sara Colombo (synthetic)", "data_manager", None),
    ("monitor", "Davide Marino (synthetic)", "monitor", None),
    ("statistician", "Elena Romano (synthetic)", "statistician", None),
)
FIRST_REFERRAL = dt.date(2023, 1, 9)
REFERRALS = 50
CALENDAR = "IT-MI"

FIRST_NAMES_F = ["Giulia", "Francesca", "Chiara", "Sara", "Anna", "Elena", "Laura", "Martina", "Paola", "Silvia",
                 "Valentina", "Federica", "Alessandra", "Roberta", "Marta"]
FIRST_NAMES_M = ["Marco", "Luca", "Andrea", "Giuseppe", "Matteo", "Alessandro", "Davide", "Stefano", "Paolo",
                 "Francesco", "Simone", "Roberto", "Fabio", "Lorenzo", "Giorgio"]
LAST_NAMES = ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
              "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti"]

# histotypes by site: (a name the catalogue knows, relative weight); FNCLCC differentiation
# where the histotype does not define one is drawn from 2-3.
HISTOTYPES_BY_SITE = {
    "extremity": [("undifferentiated pleomorphic sarcoma", 25), ("myxoid liposarcoma", 18), ("myxofibrosarcoma", 15),
                  ("synovial sarcoma", 12), ("leiomyosarcoma", 10), ("malignant peripheral nerve sheath tumour", 6),
                  ("pleomorphic liposarcoma", 5), ("epithelioid sarcoma", 3), ("clear cell sarcoma", 2),
                  ("alveolar soft part sarcoma", 2), ("low-grade fibromyxoid sarcoma", 2)],
    "trunk": [("undifferentiated pleomorphic sarcoma", 30), ("myxofibrosarcoma", 20), ("leiomyosarcoma", 15),
              ("dermatofibrosarcoma protuberans, fibrosarcomatous", 10), ("synovial sarcoma", 10), ("angiosarcoma", 15)],
    "retroperitoneum": [("dedifferentiated liposarcoma", 50), ("leiomyosarcoma", 30),
                        ("well-differentiated liposarcoma", 10), ("solitary fibrous tumour", 10)],
    "head-neck": [("synovial sarcoma", 30), ("angiosarcoma", 30), ("undifferentiated pleomorphic sarcoma", 20),
                  ("malignant peripheral nerve sheath tumour", 20)],
    "visceral": [("leiomyosarcoma", 60), ("undifferentiated pleomorphic sarcoma", 25), ("angiosarcoma", 15)],
}

SCREEN_FAILURES = [
    ("previous_rt_to_region", True), ("previous_rt_to_region", True), ("previous_rt_to_region", True),
    ("planned_amputation", True), ("planned_amputation", True), ("planned_amputation", True),
    ("candidate_for_resection", False), ("candidate_for_resection", False), ("candidate_for_resection", False),
    ("disease_status", "metastatic"), ("disease_status", "metastatic"), ("disease_status", "metastatic"),
    ("age_years", 17), ("able_to_consent", False), ("able_to_consent", False),
    ("consent_signed", False), ("consent_signed", False),
]


@dataclass
class DemoSummary:
    referred: int = 0
    screened: int = 0
    screen_failures: Counter = field(default_factory=Counter)
    enrolled: int = 0
    fractions_delivered: int = 0
    fractions_missed: int = 0
    fractions_rescheduled: int = 0
    operated: int = 0
    r0: int = 0
    pcr: int = 0
    adverse_events: int = 0
    major_wound_complications: int = 0
    local_relapses: int = 0
    distant_metastases: int = 0
    deaths: int = 0
    data_cutoff: dt.date = DATA_CUTOFF
    logins: list = field(default_factory=list)
    queries: Counter = field(default_factory=Counter)
    verified_patients: int = 0
    signed_patients: int = 0
    locked_patients: int = 0
    withdrawn: int = 0
    reconsented: int = 0
    not_done: int = 0
    #: the second study the database runs beside it (``demo_second_study``), or None
    second_study: object = None


#: ICD-O-3 topography codes (WHO, ICD-O third edition, C49 "connective, subcutaneous and other soft tissues";
#: C48.0 retroperitoneum) the demo gives each site category
DEMO_TOPOGRAPHY = {"extremity": ("C49.2", "C49.1"), "trunk": ("C49.3", "C49.4", "C49.6"),
                   "retroperitoneum": ("C48.0",), "head-neck": ("C49.0",)}


def add_demo_accounts(study: StudyDB, creator: Actor, seed: int) -> list[dict]:
    """The demo's accounts (:data:`ACCOUNTS`), each with its password from the seed; the first (an admin) is made
    by ``creator`` (the operating-system user, before any account exists), the rest by that admin. Returns the
    logins, as the demo prints and writes them."""
    logins = []
    for user, full_name, role, site in ACCOUNTS:
        password = demo_password(seed, user)
        access.add_user(study, creator, user, full_name=full_name, role=role, password=password,
                        sites=[site] if site else [])
        logins.append({"user": user, "full_name": full_name, "role": role, "site": site, "password": password})
        if role == "admin":
            creator = Actor(user, "demo", password=password)
    return logins


def demo_password(seed: int, user: str) -> str:
    """A demo account's password: derived from the seed, so the same seed gives the same logins."""
    digest = hashlib.sha256(f"sarcotrial-demo:{seed}:{user}".encode()).hexdigest()
    return f"demo-{digest[:12]}"


class _Generator:
    def __init__(self, study: StudyDB, seed: int, progress: Callable[[str], None] | None):
        self.study = study
        self.seed = seed
        self.rng = random.Random(seed)
        self.progress = progress or (lambda _msg: None)
        self.summary = DemoSummary()
        self.staff = {
            "nurse": Actor("research.nurse (synthetic)", "demo"),
            "radonc": Actor("dr.radonc (synthetic)", "demo"),
            "surgeon": Actor("dr.surgeon (synthetic)", "demo"),
            "pathologist": Actor("dr.pathologist (synthetic)", "demo"),
            "datamanager": Actor("data.manager (synthetic)", "demo"),
        }
        mix = histology.site_case_mix()
        self.sites = [site.replace("_", "-") for site in mix]  # the catalogue says head_neck, AJCC head-neck
        self.site_weights = list(mix.values())
        self.histotypes = {site: [(histology.search_histotypes(name).matches[0], w) for name, w in options]
                           for site, options in HISTOTYPES_BY_SITE.items()}
        self.rt = study.protocol.treatment.radiotherapy

    # ------------------------------------------------------------------ helpers
    def pick(self, options):
        items, weights = zip(*options)
        return self.rng.choices(items, weights=weights)[0]

    def days(self, low: int, high: int) -> dt.timedelta:
        return dt.timedelta(days=self.rng.randint(low, high))

    # ------------------------------------------------------------------ the study
    def run(self) -> DemoSummary:
        rng = self.rng
        for code, name in SITES[1:]:  # the first is the study's own site, made with it
            access.add_site(self.study, self.staff["datamanager"], code, name)
        plan = ["eligible"] * 33 + ["fail"] * len(SCREEN_FAILURES)
        rng.shuffle(plan)
        failures = list(SCREEN_FAILURES)
        rng.shuffle(failures)
        not_evaluable_first = rng.choice([i for i, kind in enumerate(plan) if kind == "eligible"])
        spacing = (dt.date(2025, 9, 30) - FIRST_REFERRAL).days / len(plan)
        for index, kind in enumerate(plan):
            referral_date = FIRST_REFERRAL + dt.timedelta(days=int(index * spacing) + rng.randint(0, 6))
            self.progress(f"patient {index + 1} of {len(plan)}")
            failure = failures.pop() if kind == "fail" else None
            self.patient(referral_date, failure, first_not_evaluable=index == not_evaluable_first)
        self.accounts()
        self.data_management()
        from sarcotrial.demo_registry import build_registry_demo  # the board, second opinions and the registry

        self.summary.logins.extend(build_registry_demo(self.study, self.seed, self.progress).logins)
        from sarcotrial.demo_second_study import build_second_study  # a second study fed from the registry

        self.summary.second_study = build_second_study(self.study, self.seed, self.progress)
        return self.summary

    # ------------------------------------------------------------------ people and their work
    def accounts(self) -> None:
        """The demo's accounts; the first (an admin) is made by the operating-system user, the rest by it."""
        self.summary.logins.extend(add_demo_accounts(self.study, self.staff["datamanager"], self.seed))

    def login(self, user: str) -> Actor:
        return Actor(user, "demo", password=demo_password(self.seed, user))

    def data_management(self) -> None:
        """A study in progress: queries at every stage, verified, signed and locked casebooks, a form not
        done, a withdrawal and a re-consent."""
        from sarcotrial.services import views

        rng, s, study = self.rng, self.summary, self.study
        monitor, manager = self.login("monitor"), self.login("datamanager")
        staff = {"MAIN": (self.login("inv.main"), self.login("nurse.main")),
                 "SAT": (self.login("inv.sat"), self.login("nurse.sat"))}
        enrolled = views.patients(study, manager, enrolled_only=True)
        # queries: opened by the monitor at source-data review; answered, closed, reopened by the site
        for number, record in enumerate(enrolled[-8:]):  # the latest patients: their review is under way
            diagnosis = record.first("diagnosis")
            nurse = staff[record.site][1]
            query = queries.open_query(study, monitor, record.subject_id, "diagnosis", "size_cm",
                                       "Size differs from the MRI report in the source: please check",
                                       assign=("nurse.main" if record.site == "MAIN" else "nurse.sat"))
            s.queries["opened"] += 1
            if number % 4 == 0:
                continue  # still open
            if number % 4 == 1:
                queries.respond(study, nurse, query, "confirmed", "MRI report re-read: the size is as entered")
                s.queries["answered"] += 1
                continue
            size = round(diagnosis.values["size_cm"] + rng.choice([-0.5, 0.5]), 1)
            queries.respond(study, nurse, query, "corrected", "Corrected from the MRI report",
                            {"size_cm": size})
            queries.close(study, monitor, query, "Agrees with the source")
            s.queries["closed"] += 1
        # source-data verification, signatures and locks of the first patients who finished treatment
        finished = [r for r in enrolled if r.first("pathology") is not None][:6]
        for index, record in enumerate(finished):
            investigator = staff[record.site][0]
            open_ones = queries.list_queries(study, manager, subject_id=record.subject_id, status="open")
            open_ones += queries.list_queries(study, manager, subject_id=record.subject_id, status="answered")
            for query in open_ones:
                if query.status == "open":
                    queries.respond(study, staff[record.site][1], query.id, "confirmed", "Checked against the source")
                queries.close(study, manager, query.id, "Resolved at review")
                s.queries["closed"] += 1
            for crf in [c for form_crfs in record.forms.values() for c in form_crfs if c.values or c.missing]:
                review.verify_source(study, monitor, record.subject_id, crf.form_id, visit=crf.visit,
                                     instance=crf.instance)
            s.verified_patients += 1
            if index >= 4:
                continue
            review.sign(study, investigator, record.subject_id, demo_password(self.seed, investigator.name),
                        "I have reviewed this casebook and its data are complete and accurate")
            s.signed_patients += 1
            if index < 2:
                review.lock(study, manager, subject_id=record.subject_id)
                s.locked_patients += 1
        # serious adverse events: the site investigator signs each reported one (the last is left to chase)
        from sarcotrial.services import safety

        events = safety.serious_events(study, manager)
        casebooks = {r.subject_id for r in finished[:4]}  # signed above: their events are covered
        chase = next((e for e in reversed(events) if e.subject not in casebooks), None)
        for event in [e for e in events if e is not chase]:
            record = next(r for r in enrolled if r.subject_id == event.subject)
            crf = next(c for c in record.of("adverse_event") if c.id == event.crf_id)
            investigator = staff[record.site][0]
            review.sign(study, investigator, record.subject_id, demo_password(self.seed, investigator.name),
                        "I confirm this serious adverse event as reported", form_id="adverse_event", visit=crf.visit,
                        instance=crf.instance)
        # a form not done: a follow-up visit the patient did not attend (seen at the next one)
        from sarcotrial.services.visits import visits as visits_of

        for record in enrolled[8:]:
            gap = next((v for v in visits_of(study, manager, record.subject_id)
                        if v.visit_id.startswith("follow_up") and v.status == "overdue"), None)
            if gap is not None:
                forms.mark_not_done(study, staff[record.site][1], record.subject_id, "follow_up",
                                    f"{gap.visit_id}:{gap.occurrence}",
                                    "Patient did not attend; seen at the next visit")
                s.not_done += 1
                break
        # a re-consent to the current consent document
        spec = study.protocol.consent
        for due in pathway.reconsent_due(study, manager):
            record = next(r for r in enrolled if r.subject_id == due.subject)
            follow = [c.values["visit_date"] for c in record.of("follow_up")]
            day = (follow[0] if follow else record.enrolment_date + dt.timedelta(days=30))
            forms.record(study, staff[record.site][1], due.subject, spec.form,
                         {"consent_date": day, "document_version": spec.current_version, "data_use": True})
            s.reconsented += 1
        # a withdrawal from follow-up, after the patient's last recorded visit
        alive = [r for r in enrolled if r.death() is None and len(r.of("follow_up")) >= 3
                 and r.subject_id not in {f.subject_id for f in finished[:2]}]
        if alive and study.protocol.withdrawal is not None:
            record = alive[-1]
            last = max(c.values["visit_date"] for c in record.of("follow_up"))
            forms.record(study, staff[record.site][1], record.subject_id, study.protocol.withdrawal.form,
                         {"withdrawal_date": min(DATA_CUTOFF, last + dt.timedelta(days=20)), "kind": "follow_up",
                          "reason": "Moved abroad; follow-up continues with the family doctor"})
            s.withdrawn += 1

    def patient(self, referral_date: dt.date, failure, first_not_evaluable: bool) -> None:
        rng, s = self.rng, self.summary
        sex = rng.choice(["female", "male"])
        age = 17 if failure == ("age_years", 17) else int(min(85, max(19, rng.gauss(58, 14))))
        birthday = referral_date - dt.timedelta(days=365 * age + rng.randint(30, 330))
        first = rng.choice(FIRST_NAMES_F if sex == "female" else FIRST_NAMES_M)
        name = f"{first} {rng.choice(LAST_NAMES)} (synthetic)"
        unit = "SAT" if rng.random() < 0.3 else "MAIN"
        site = rng.choices(self.sites, weights=self.site_weights)[0]
        entity = self.pick(self.histotypes[site])
        board = referral_date + self.days(2, 9)
        patient = pathway.register_patient(
            self.study, self.staff["nurse"], sex=sex, synthetic=True, site_code=unit,
            identifiers=pathway.Identifiers(name, birthday, f"SYN{rng.randint(10**6, 10**7 - 1)}"),
            referral={"referral_date": referral_date, "tumour_board_date": board, "anatomic_site": site,
                      "referring_specialty": rng.choice(["surgery", "oncology", "radiotherapy"]),
                      "suspected_histotype": entity.id, "board_decision": "refer_to_trial"})
        s.referred += 1
        screening_date = board + self.days(3, 10)
        answers = {
            "screening_date": screening_date, "age_years": age_on(birthday, screening_date),
            "histology_confirmed": True, "disease_status": rng.choice(["de_novo"] * 5 + ["locoregional_recurrence"]),
            "candidate_for_resection": True, "previous_rt_to_region": False, "able_to_consent": True,
            "consent_signed": True, "consent_date": screening_date, "planned_amputation": False,
        }
        if failure is not None:
            answers[failure[0]] = failure[1]
            if failure[0] in ("able_to_consent", "consent_signed"):
                answers["consent_date"] = None
        if first_not_evaluable:
            incomplete = dict(answers, previous_rt_to_region=None)
            pathway.screen(self.study, self.staff["nurse"], patient.subject_id, incomplete)
            s.screened += 1
            answers["screening_date"] = screening_date = screening_date + self.days(2, 5)
            answers["consent_date"] = screening_date
            answers["age_years"] = age_on(birthday, screening_date)
        screening = pathway.screen(self.study, self.staff["nurse"], patient.subject_id, answers)
        s.screened += 1
        if screening.decision != "eligible":
            for criterion in screening.criteria:  # as decided and stored, not as the generator intended
                if criterion.result != "not_evaluable" and (criterion.result == "met") != (criterion.kind == "inclusion"):
                    s.screen_failures[criterion.criterion_id] += 1
            return
        enrolment_date = screening_date + self.days(1, 5)
        if self.study.protocol.consent is not None:
            # one patient signed the previous version of the consent document and is asked again later
            version = self.study.protocol.consent.current_version if s.enrolled != 4 else "0.9"
            forms.record(self.study, self.staff["nurse"], patient.subject_id, self.study.protocol.consent.form,
                         {"consent_date": screening_date, "document_version": version, "data_use": True})
        pathway.enrol(self.study, self.staff["datamanager"], patient.subject_id, enrolment_date)
        s.enrolled += 1
        self.treatment(patient.subject_id, site, entity, referral_date, enrolment_date)

    def treatment(self, subject: str, site: str, entity, referral_date: dt.date, enrolment: dt.date) -> None:
        rng, s, study = self.rng, self.summary, self.study
        size = round(min(30.0, max(2.0, rng.lognormvariate(2.1, 0.45))), 1)
        differentiation = entity.fnclcc_differentiation or rng.choice([2, 3, 3])
        diagnosis = {
            "diagnosis_date": referral_date - self.days(5, 25), "histotype": entity.id, "anatomic_site": site,
            "depth": "deep" if rng.random() < 0.85 else "superficial", "size_cm": size,
            "fnclcc_differentiation": differentiation, "mitoses_per_10hpf": int(rng.choice([3, 8, 12, 15, 22, 35])),
            "necrosis_percent": rng.choice([0, 0, 10, 30, 60]), "clinical_n": "N1" if rng.random() < 0.03 else "N0",
            "clinical_m": "M0", "ecog": rng.choice([0, 0, 1]),
        }
        if site == "visceral":
            diagnosis["t_category"] = rng.choice(["T1", "T2a", "T2b"])
        # ICD-O-3 topography and laterality where the protocol collects them (SPRINT 1.2, for FHIR mCODE):
        # chosen from the site and the subject number, drawing nothing, so the rest of the study is unchanged
        fields = {f.id for f in study.protocol.form("diagnosis").fields}
        number = int(subject.rsplit("-", 1)[-1])
        if "topography" in fields and site in DEMO_TOPOGRAPHY:
            diagnosis["topography"] = DEMO_TOPOGRAPHY[site][number % len(DEMO_TOPOGRAPHY[site])]
        if "laterality" in fields:
            diagnosis["laterality"] = ("left", "right")[number % 2] if site == "extremity" else "not_applicable"
        missing, why = {}, None
        if not entity.graded_by_fnclcc:
            # e.g. a solitary fibrous tumour: WHO 2020 assesses its metastatic risk (Demicco), not an FNCLCC
            # grade. The form has no field for the risk model, so the differentiation score is recorded as
            # not applicable (the grade is then GX); mitoses and necrosis stay, as the risk model uses them.
            # (The draw above is kept so that every later draw, and so the rest of the study, stays the same.)
            del diagnosis["fnclcc_differentiation"]
            missing, why = {"fnclcc_differentiation": "NA"}, f"not graded by FNCLCC: {entity.fnclcc_note}"
        forms.record(study, self.staff["radonc"], subject, "diagnosis", diagnosis, missing=missing, reason=why)

        # radiotherapy: planned on the calendar, with the odd missed or rescheduled fraction
        schedule = treatment_dates(enrolment + self.days(7, 20), self.rt.fractions, CALENDAR)
        forms.record(study, self.staff["radonc"], subject, "rt_course",
                       {"planned_start": schedule.dates[0], "calendar": CALENDAR,
                        "concurrent_chemotherapy": rng.random() < 0.35})
        dates = list(schedule.dates)
        disruptions = rng.choices([0, 1, 2], weights=[70, 22, 8])[0]
        extra = treatment_dates(dates[-1] + dt.timedelta(days=1), disruptions + 1, CALENDAR).dates if disruptions else []
        moved: dict[int, tuple[str, str]] = {}
        for _ in range(disruptions):
            number = rng.randint(3, self.rt.fractions - 1)
            kind = rng.choice(["missed", "missed", "rescheduled"])
            reason = {"missed": rng.choice(["linac breakdown", "patient unwell (fever)", "transport strike"]),
                      "rescheduled": "patient request (family event); moved to the end of the course"}[kind]
            moved.setdefault(number, (kind, reason))
        tail = iter(extra)
        delivered_dates = []
        for number, day in enumerate(dates, start=1):
            if number in moved:
                kind, reason = moved[number]
                forms.record(study, self.staff["radonc"], subject, "rt_fraction",
                               {"fraction_number": number, "fraction_date": day, "status": kind, "reason": reason})
                s.fractions_missed += kind == "missed"
                s.fractions_rescheduled += kind == "rescheduled"
                day = next(tail)
            forms.record(study, self.staff["radonc"], subject, "rt_fraction",
                           {"fraction_number": number, "fraction_date": day, "status": "delivered"})
            delivered_dates.append(day)
            s.fractions_delivered += 1
        rt_start, rt_end = min(delivered_dates), max(delivered_dates)

        # acute toxicity
        self.adverse_event(subject, "Dermatitis radiation", rng.choices([1, 2, 3], [50, 38, 12])[0],
                           rt_start + self.days(12, 30), resolution=self.days(20, 60))
        if rng.random() < 0.45:
            self.adverse_event(subject, "Fatigue", rng.choice([1, 1, 2]), rt_start + self.days(7, 25),
                               resolution=self.days(20, 80))

        # surgery and pathology
        surgery_date = rt_end + self.days(28, 56)
        residual = rng.random() < 0.02
        forms.record(study, self.staff["surgeon"], subject, "surgery",
                       {"surgery_date": surgery_date, "procedure": rng.choice(["wide_excision"] * 4 + ["compartmental_resection"]),
                        "macroscopic_residual": residual, "vascular_reconstruction": rng.random() < 0.1,
                        "nerve_resection": rng.random() < 0.05})
        s.operated += 1
        positive = residual or rng.random() < 0.12
        viable = round(rng.uniform(0, 5), 1) if rng.random() < 0.12 else round(rng.uniform(6, 90), 0)
        if rng.random() < 0.05:
            viable = 0.0
        pathology = {"report_date": surgery_date + self.days(7, 14), "microscopic_margin_positive": positive,
                     "viable_percent": viable, "necrosis_percent": round(rng.uniform(0, 100 - viable), 0),
                     "closest_margin_tissue": rng.choice(["fat", "muscle", "fascia", "periosteum", "vessel_sheath",
                                                          "epineurium"])}
        if positive and not residual:
            pathology.update(closest_margin_mm=0.0, planned_positive_margin=rng.random() < 0.5)
        elif not positive:
            pathology["closest_margin_mm"] = round(rng.uniform(0.5, 15.0), 1)
        stored = forms.record(study, self.staff["pathologist"], subject, "pathology", pathology)
        s.r0 += stored.derived.get("r_status") == "R0"
        s.pcr += bool(stored.derived.get("pcr"))

        # wound complications within 120 days of surgery (O'Sullivan 2002: about a third after preoperative RT)
        if rng.random() < 0.32:
            onset = surgery_date + self.days(8, 40)
            flags = {k: False for k in ("secondary_operation", "readmission_for_wound_care",
                                        "invasive_procedure_without_anaesthesia", "deep_packing", "prolonged_dressing")}
            flags[rng.choice(list(flags))] = True
            wound = forms.record(study, self.staff["surgeon"], subject, "wound_complication",
                                   {"onset_date": onset, **flags})
            s.major_wound_complications += bool(wound.derived.get("major"))
            self.adverse_event(subject, "Wound complication", 3 if flags["secondary_operation"] else 2, onset,
                               resolution=self.days(20, 90))

        self.follow_up(subject, site, enrolment, rt_start, surgery_date)

    def adverse_event(self, subject: str, term: str, grade: int, onset: dt.date, resolution: dt.timedelta | None = None,
                      until: dt.date | None = None) -> None:
        if onset > (until or DATA_CUTOFF):
            return
        values = {"term": term, "grade": grade, "onset_date": onset, "serious": grade >= 3,
                  "attribution": self.rng.choice(["probable", "definite", "possible"])}
        if resolution is not None and onset + resolution <= (until or DATA_CUTOFF):
            values["resolution_date"] = onset + resolution
        if values["serious"] and self.study.protocol.safety is not None:
            # the site learns of it within days; reported to the sponsor within the 24 h clock, one in ten late
            aware = dt.datetime.combine(onset + self.days(0, 2), dt.time(self.rng.randint(8, 17), 0),
                                        tzinfo=dt.timezone.utc)
            late = self.rng.random() < 0.1
            values["aware_at"] = aware
            values["reported_at"] = aware + dt.timedelta(hours=self.rng.randint(30, 60) if late else self.rng.randint(2, 20))
            values["seriousness"] = "hospitalisation"
        forms.record(self.study, self.staff["radonc"], subject, "adverse_event", values)
        self.summary.adverse_events += 1

    def follow_up(self, subject: str, site: str, enrolment: dt.date, rt_start: dt.date, surgery: dt.date) -> None:
        rng, s = self.rng, self.summary
        horizon = min(DATA_CUTOFF, enrolment + dt.timedelta(days=36 * 30))
        months = lambda m: dt.timedelta(days=round(m * 30.44))  # noqa: E731
        local = surgery + months(rng.uniform(5, 30)) if rng.random() < 0.09 else None
        distant = surgery + months(rng.uniform(3, 28)) if rng.random() < 0.27 else None
        death, cause = None, None
        if distant is not None and rng.random() < 0.55:
            death, cause = distant + months(rng.uniform(4, 16)), "sarcoma"
        elif rng.random() < 0.04:
            death, cause = surgery + months(rng.uniform(6, 30)), "other"
        if death is not None and death > horizon:
            death = None
        end = death or horizon
        events = sorted((d, kind) for d, kind in ((local, "local_relapse"), (distant, "distant_metastasis"))
                        if d is not None and d <= end)
        late_terms = [("Fibrosis deep connective tissue", [1, 1, 2], 0.30),
                      ("Joint range of motion decreased", [1, 2], 0.15),
                      ("Edema limbs", [1, 2], 0.20 if site == "extremity" else 0.0)]
        for term, grades, chance in late_terms:
            if rng.random() < chance:
                self.adverse_event(subject, term, rng.choice(grades), rt_start + self.days(120, 540), until=end)
        schedule = [surgery + months(m) for m in range(3, 25, 3)] + [surgery + months(m) for m in range(30, 61, 6)]
        pending = list(events)
        status = "ned"
        for visit in schedule:
            visit = visit + self.days(-10, 10)
            if visit > end:
                break
            while pending and pending[0][0] <= visit:
                day, kind = pending.pop(0)
                forms.record(self.study, self.staff["datamanager"], subject, "outcome_event",
                               {"event_type": kind, "event_date": day,
                                "site_detail": "lung" if kind == "distant_metastasis" else "tumour bed"})
                s.local_relapses += kind == "local_relapse"
                s.distant_metastases += kind == "distant_metastasis"
                status = "awd"
            forms.record(self.study, self.staff["datamanager"], subject, "follow_up",
                           {"visit_date": visit, "disease_status": status, "imaging": True})
        for day, kind in pending:
            forms.record(self.study, self.staff["datamanager"], subject, "outcome_event",
                           {"event_type": kind, "event_date": day,
                            "site_detail": "lung" if kind == "distant_metastasis" else "tumour bed"})
            s.local_relapses += kind == "local_relapse"
            s.distant_metastases += kind == "distant_metastasis"
        if death is not None:
            forms.record(self.study, self.staff["datamanager"], subject, "outcome_event",
                           {"event_type": "death", "event_date": death, "death_cause": cause})
            s.deaths += 1


def build_demo_study(study: StudyDB, seed: int = 2026, progress: Callable[[str], None] | None = None, *,
                     patients: int | None = None) -> DemoSummary | SystemicDemoSummary:
    """Fill an empty study database with the synthetic study of its protocol: a protocol with arms, systemic
    regimens and a RECIST 1.1 response section gets the systemic-therapy demo (``demo_systemic``, ``patients``
    enrolled, its default if None), any other the SPRINT demo (:class:`DemoSummary`; its size is fixed)."""
    from sarcotrial import demo_systemic

    if demo_systemic.serves(study.protocol):
        return demo_systemic.build_systemic_demo(study, seed, progress,
                                                 patients if patients is not None else demo_systemic.DEFAULT_PATIENTS)
    require_demo(study.protocol)
    if patients is not None:
        from sarcotrial.errors import InvalidValue

        raise InvalidValue("patients", f"the demo of {study.protocol.acronym} has a fixed size", patients)
    return _Generator(study, seed, progress).run()


def require_demo(protocol) -> None:
    """Refuse (``InvalidValue``) a protocol no demo serves: the systemic-therapy demo's (arms, regimens and RECIST
    1.1), or SPRINT's (preoperative radiotherapy, surgery and pathology)."""
    from sarcotrial import demo_systemic
    from sarcotrial.errors import InvalidValue

    treatment = protocol.treatment
    if demo_systemic.serves(protocol) or (treatment.radiotherapy is not None and treatment.surgery is not None
                                          and protocol.pathology is not None):
        return
    raise InvalidValue("protocol", f"{protocol.acronym} has no demo: a demo is built for a protocol with arms, "
                       "systemic regimens and RECIST 1.1, or with preoperative radiotherapy, surgery and pathology "
                       "(as SPRINT)", show_value=False)


def planned_referrals(protocol, patients: int | None = None) -> int:
    """How many referrals the demo of ``protocol`` screens (a progress bar's total)."""
    from sarcotrial import demo_systemic

    if demo_systemic.serves(protocol):
        return demo_systemic.planned_referrals(patients if patients is not None else demo_systemic.DEFAULT_PATIENTS)
    return REFERRALS

