"""The demo's second study: a shipped systemic-therapy protocol beside SPRINT in one database, fed from the
unit's registry.

SYNTHETIC DATA: the patients are the SPRINT demo's synthetic ones; their screening answers for the second
study are invented by the systemic-therapy demo's generator (``demo_systemic``), which builds values meeting
a protocol's eligibility criteria from the criteria themselves.

The tumour board sends a patient with metastases at presentation (or a tumour not resectable) to systemic
therapy (``demo_registry.board_decision``); SPRINT's screening fails them. Such patients are the ones a unit
would screen for its systemic-therapy trial, so the demo adds the first other shipped protocol with arms,
regimens and RECIST 1.1 to the database (``study add``) and screens the first of them for it from the registry
(``registry screen --for``): each is taken into the study with a subject id of its own, the same identity and
what is known filled in; the first two consent and are enrolled and randomised (the allocation seed derived
from the demo's seed, as the systemic-therapy demo's is). Everything goes through the services a user's
actions go through.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from sarcotrial.services.study import Actor, StudyDB

#: how many board patients are screened for the second study, and how many of them are enrolled
SCREENED, ENROLLED = 4, 2


@dataclass
class SecondStudySummary:
    """What the second study holds: its subject ids by the registry patient they are."""

    acronym: str = ""
    taken_in: dict[str, str] = field(default_factory=dict)  # registry subject id -> the second study's
    enrolled: list[str] = field(default_factory=list)


def _histotype_group(histotype: str | None) -> str:
    if histotype and "leiomyosarcoma" in histotype:
        return "leiomyosarcoma"
    if histotype == "synovial_sarcoma":
        return "synovial_sarcoma"
    return "other"


def second_protocol(first: str) -> str | None:
    """The first shipped protocol, other than ``first`` (an acronym), that the systemic-therapy demo serves."""
    from sarcotrial.demo_systemic import serves
    from sarcotrial.protocol import load_protocol
    from sarcotrial.protocol.loader import shipped_protocols

    for name in shipped_protocols():
        protocol = load_protocol(name)
        if protocol.acronym != first and serves(protocol):
            return name
    return None


def build_second_study(study: StudyDB, seed: int, progress: Callable[[str], None] | None = None
                       ) -> SecondStudySummary | None:
    from sarcotrial.demo import demo_password
    from sarcotrial.demo_systemic import _demo_allocation_seed, _SystemicGenerator
    from sarcotrial.domain import histology
    from sarcotrial.services import forms, pathway, randomisation, registry, views

    name = second_protocol(study.protocol.acronym)
    if name is None:
        return None
    progress = progress or (lambda _msg: None)

    def login(user: str) -> Actor:
        return Actor(user, "demo", password=demo_password(seed, user))

    admin, nurse, manager = login("admin"), login("nurse.main"), login("datamanager")
    second = study.add_study(name, admin, synthetic=True)
    p = second.protocol
    summary = SecondStudySummary(acronym=p.acronym)
    randomisation.set_synthetic_seed(second, nurse, _demo_allocation_seed(seed))
    generator = _SystemicGenerator(second, seed, None, SCREENED)
    candidates = []
    for record in views.patients(study, manager):
        if record.status != "screen_failed" or record.site != "MAIN":
            continue
        file = registry.case_file(study, nurse, record.subject_id)
        decided = [case.decision for _, case in file.cases if getattr(case, "decision", None) is not None]
        if decided and decided[-1].strategy == "chemotherapy":
            candidates.append((record, file, max(day for day, _ in file.cases)))
    for number, (record, file, board_day) in enumerate(sorted(candidates, key=lambda c: c[2])[:SCREENED]):
        day = board_day + dt.timedelta(days=7)
        entity = histology.histotype(file.histotype) if file.histotype else generator.histotypes[0][0]
        answers, _ = generator.screening_values(None, day.year - record.year_of_birth, entity)
        answers.pop("age_years", None)  # the age at screening from the date of birth, as the registry reads it
        if "consent_date" in {f.id for f in p.form(p.eligibility.form).fields}:
            answers["consent_date"] = day.isoformat()
        screened = registry.open_screening(study, nurse, record.subject_id, answers, screening_date=day,
                                           for_study=p.acronym)
        subject = pathway.subject_of_screening(second, screened)
        summary.taken_in[record.subject_id] = subject
        if number < ENROLLED:
            if p.consent is not None:
                values = {p.consent.date_field: day.isoformat(), p.consent.version_field: p.consent.current_version}
                if p.consent.data_use_field:
                    values[p.consent.data_use_field] = True
                forms.record(second, nurse, subject, p.consent.form, values)
            pathway.enrol(second, nurse, subject, day + dt.timedelta(days=2))
            summary.enrolled.append(subject)
    return summary
