"""A corrected date of birth against the patient's screening: the age at screening derived again,
eligibility judged again with it, and any disagreement reported.

The screening form holds the age the site entered (``age_years``), judged against the protocol's
criteria (SPRINT: age > 18 years, sprint.yaml eligibility.criteria ``age``). When
``patient correct-identifiers --dob`` changes the date of birth, the age on the screening date is
derived again from it; where it no longer agrees with the entered age, or the criteria give another
decision with it, a query is opened on the screening form's age (``check:age_eligibility``), as
the study's other re-checks do, and the command says so. The stored decision stays as screened
until the site answers: an enrolled patient found ineligible is a matter for the trial team, not
for an automatic change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from sarcotrial.domain.pathway import age_on
from sarcotrial.protocol.forms import validate_form
from sarcotrial.services.pathway import eligibility, screening_values
from sarcotrial.services.study import StudyDB
from sarcotrial.store.models import DataQuery, Patient, Screening


@dataclass(frozen=True)
class AgeRecheck:
    """A corrected date of birth against the latest screening: the age at screening derived again from
    it, and the eligibility decision the criteria give with that age."""

    subject_id: str
    field: str                    # the screening form's age, form.field (screening.age_years)
    screening_date: dt.date
    age: int                      # completed years on the screening date, from the corrected date of birth
    entered_age: Any              # the age the screening form holds
    decision: str                 # eligible / ineligible / not_evaluable with the derived age
    screened_decision: str        # the decision stored at screening
    reasons: list[str]            # why, with the derived age, the patient is not eligible
    problems: list[str]           # each disagreement, as the query states it
    query_id: int | None          # the query on the screening form's age (open or answered), if any

    @property
    def consistent(self) -> bool:
        return not self.problems


AGE_QUERY = "check:age_eligibility"


def recheck_eligibility_age(study: StudyDB, session, patient: Patient, date_of_birth: dt.date) -> AgeRecheck | None:
    """A corrected date of birth: the age at the latest screening is derived again and eligibility judged
    again with it; where the answer changes, or the entered age no longer agrees, a query is opened on
    the screening form's age (the decision itself stays as screened until the site answers). ``None``
    when the patient has not been screened or the screening form has no ``age_years``."""
    from sarcotrial.services.queries import open_system_query

    latest = session.scalars(select(Screening).where(Screening.patient_id == patient.id)
                             .order_by(Screening.screening_date.desc(), Screening.id.desc())).first()
    if latest is None:
        return None
    values = screening_values(session, latest)
    form_id = study.protocol.eligibility.form
    form = study.protocol.form(form_id)
    age_field = next((f.id for f in form.fields if f.id == "age_years"), None)
    if age_field is None:
        return None
    age = age_on(date_of_birth, latest.screening_date)
    clean = validate_form(study.protocol, form_id, {**values, age_field: age}, partial=True)
    decision = eligibility(study.protocol, clean)
    entered = values.get(age_field)
    problems = []
    if entered is not None and entered != age:
        problems.append(f"the entered age {entered} does not agree with the corrected date of birth (age {age} at "
                        f"screening on {latest.screening_date})")
    if decision.decision != latest.decision:
        problems.append(f"with age {age} the patient is {decision.decision.replace('_', ' ')}, not "
                        f"{latest.decision.replace('_', ' ')} as screened"
                        + (f" ({'; '.join(decision.reasons)})" if decision.reasons else ""))
    query_id = None
    if problems:
        opened = open_system_query(session, patient, latest.crf_instance_id, age_field, AGE_QUERY,
                                   "; ".join(problems) + ": please check the date of birth and the screening answers")
        if opened is None:  # the same check's query is still open or answered
            opened = session.scalars(select(DataQuery).where(
                DataQuery.crf_instance_id == latest.crf_instance_id, DataQuery.field_id == age_field,
                DataQuery.origin == AGE_QUERY, DataQuery.status != "closed")).first()
        query_id = opened.id if opened is not None else None
    return AgeRecheck(patient.subject_id, f"{form_id}.{age_field}", latest.screening_date, age, entered, decision.decision, latest.decision,
                      list(decision.reasons), problems, query_id)
