"""Plan QA verdicts stored on a patient's radiotherapy course; a major deviation becomes a protocol deviation."""

from __future__ import annotations

import datetime as dt

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.planqa import PlanQA
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import PlanQARecord, ProtocolDeviation


def store_plan_qa(study: StudyDB, actor: Actor, subject_id: str, qa: PlanQA, on: dt.date | None = None) -> PlanQARecord:
    on = on or dt.date.today()
    from sarcotrial.services.forms import Pathway

    with study.action(actor, permission="planqa.store") as session:
        patient = study.patient(session, subject_id)
        course = Pathway(study, session, patient).course
        if course is None:
            raise InvalidValue("patient", f"{patient.subject_id} has no radiotherapy course to attach the plan QA to "
                               "(record rt_course first)", show_value=False)
        data = qa.as_dict()
        data.pop("dvhs", None)
        row = PlanQARecord(patient_id=patient.id, crf_instance_id=course.id, evaluated_on=on, rtplan_uid=qa.plan_uid,
                           rtdose_uid=qa.dose_uid, end_cap=qa.end_cap, verdict=qa.verdict, results=data)
        session.add(row)
        if qa.verdict == "major deviation":
            failing = [f"{o.structure} {o.metric} = {o.value:.2f} (per protocol {o.comparator} {o.per_protocol:g}, "
                       f"minor {o.comparator} {o.minor_deviation:g})" for o in qa.objectives if o.verdict == "major deviation"]
            failing += qa.consistency
            session.add(ProtocolDeviation(patient_id=patient.id, category="plan_qa", severity="major",
                                          description="plan QA: " + "; ".join(failing), detected_on=on))
        session.flush()
        return row
