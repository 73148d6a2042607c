"""Plan QA verdicts stored on a patient's radiotherapy course; a major deviation becomes a protocol deviation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.planqa import PlanQA
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import PlanQARecord, ProtocolDeviation


@dataclass
class StoredPlanQA:
    """A plan's verdict: the result as stored (or as it would be), and where it is."""

    subject_id: str
    results: dict
    verdict: str
    stored_id: int | None       # the stored verdict (``None``: evaluated only)
    already_stored: bool        # the same result was stored before (a repeated run or submission): not stored again
    evaluated_on: dt.date


def store_plan_qa(study: StudyDB, actor: Actor, subject_id: str, qa: PlanQA, on: dt.date | None = None,
                  results: dict | None = None) -> StoredPlanQA:
    """Store a plan's verdict on the patient's radiotherapy course, once.

    ``results`` is what is stored (:func:`result_data`: verdicts, indices, compact DVHs, file
    names; by default the verdicts without DVHs). The same result stored before for the same plan,
    dose and end cap (a repeated run or submission, :func:`_same`) is not stored again: the
    earlier record is answered, with ``already_stored`` set. The command line and the web both
    store through here.
    """
    from sarcotrial.services.forms import Pathway

    on = on or dt.date.today()
    if results is None:
        results = qa.as_dict()
        results.pop("dvhs", None)
    with study.action(actor, permission="planqa.store") as session:
        patient = study.patient(session, subject_id)
        course = Pathway(study, session, patient).course
        if course is None:
            raise InvalidValue("patient", f"{patient.subject_id} has no radiotherapy course to attach the plan QA to "
                               "(record rt_course first)", show_value=False)
        for earlier in session.scalars(select(PlanQARecord).where(
                PlanQARecord.patient_id == patient.id, PlanQARecord.rtdose_uid == qa.dose_uid,
                PlanQARecord.end_cap == qa.end_cap).order_by(PlanQARecord.id)):
            if earlier.rtplan_uid == qa.plan_uid and _same(earlier.results or {}, results):
                return StoredPlanQA(patient.subject_id, dict(earlier.results or {}), earlier.verdict, earlier.id,
                                    True, earlier.evaluated_on)
        row = _add_record(session, patient, course, qa, results, on)
        return StoredPlanQA(patient.subject_id, results, qa.verdict, row.id, False, on)


def _add_record(session, patient, course, qa: PlanQA, results: dict, on: dt.date) -> PlanQARecord:
    """The verdict on the course; a major deviation also as a protocol deviation of the patient."""
    row = PlanQARecord(patient_id=patient.id, crf_instance_id=course.id, evaluated_on=on, rtplan_uid=qa.plan_uid,
                       rtdose_uid=qa.dose_uid, end_cap=qa.end_cap, verdict=qa.verdict, results=results)
    session.add(row)
    if qa.verdict == "major deviation":
        failing = [f"{o.structure} {o.metric} = {o.value:.2f} (per protocol {o.comparator} {o.per_protocol:g}, "
                   f"minor {o.comparator} {o.minor_deviation:g})" for o in qa.objectives if o.verdict == "major deviation"]
        failing += qa.consistency
        session.add(ProtocolDeviation(patient_id=patient.id, category="plan_qa", severity="major",
                                      description="plan QA: " + "; ".join(failing), detected_on=on))
    session.flush()
    return row


# --------------------------------------------------------------------------- plan QA of uploaded files (the web)
#: volume levels (percent) at which a stored DVH keeps its dose, enough to draw the curve again
CURVE_PERCENTS = tuple(range(101))


def compact_dvh(dvh) -> dict:
    """A DVH as stored with a verdict: its statistics and its dose at every whole volume percent."""
    return {**dvh.as_dict(), "volume_in_grid_cc": round(dvh.volume_in_grid_cc, 6),
            "dose_at_percent_gy": [round(dvh.dose_at_volume_percent(p), 3) for p in CURVE_PERCENTS]}


def result_data(qa: PlanQA, files: dict[str, str] | None = None) -> dict:
    """A plan QA as stored on the course: the verdicts, the indices, compact DVHs, the file names."""
    data = qa.as_dict()
    data.pop("dvhs", None)
    data["dvh_curves"] = {name: compact_dvh(d) for name, d in qa.dvhs.items()}
    data["files"] = dict(files or {})
    return data


def _same(a: dict, b: dict) -> bool:
    import json

    def canonical(d: dict) -> str:
        # the file names may differ; an empty file_notes equals none (results stored before notes existed)
        kept = {k: v for k, v in d.items() if k != "files" and not (k == "file_notes" and not v)}
        return json.dumps(kept, sort_keys=True, default=str)

    return canonical(json.loads(json.dumps(a, default=str))) == canonical(json.loads(json.dumps(b, default=str)))


def evaluate_upload(study: StudyDB, actor: Actor, subject_id: str, *, rtstruct: Path, rtdose: Path,
                    rtplan: Path | None = None, aliases: Path | None = None, end_cap: str = "none",
                    store: bool = False, files: dict[str, str] | None = None,
                    on: dt.date | None = None) -> StoredPlanQA:
    """Plan QA of a patient's DICOM-RT files against the protocol's objectives.

    Site staff who enter the patient's data (permission ``record``) may evaluate a plan; storing
    the verdict on the course needs ``planqa.store`` and happens only once the evaluation has
    succeeded, in one action. The same result stored again for the same plan and dose (a repeated
    submission) is not stored twice: the earlier record is answered (:func:`store_plan_qa`, as for
    the command line).
    """
    from sarcotrial.radiotherapy.planqa import load_aliases, plan_qa
    from sarcotrial.services.forms import Pathway

    on = on or dt.date.today()
    if end_cap not in ("none", "half-slice"):
        raise InvalidValue("end_cap", "must be none or half-slice", end_cap)
    with study.reading(actor, permission="record") as session:
        patient = study.patient(session, subject_id)
        subject = patient.subject_id
        if store:
            study.require(session, "planqa.store")
            if Pathway(study, session, patient).course is None:
                raise InvalidValue("patient", f"{subject} has no radiotherapy course to attach the plan QA to "
                                   "(record rt_course first)", show_value=False)
    table = load_aliases(aliases) if aliases is not None else None
    qa = plan_qa(study.protocol, Path(rtstruct), Path(rtdose), Path(rtplan) if rtplan else None, aliases=table,
                 end_cap=end_cap)
    data = result_data(qa, files)
    if not store:
        return StoredPlanQA(subject, data, qa.verdict, None, False, on)
    return store_plan_qa(study, actor, subject, qa, on, results=data)


def stored_plan_qa(study: StudyDB, actor: Actor | None, subject_id: str, qa_id: int) -> dict:
    """One stored verdict of a patient's course: its record and results."""
    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        row = session.get(PlanQARecord, qa_id)
        if row is None or row.patient_id != patient.id:
            raise InvalidValue("plan_qa", f"no such plan QA on {patient.subject_id}'s course", qa_id)
        return {"id": row.id, "subject_id": patient.subject_id, "evaluated_on": row.evaluated_on,
                "verdict": row.verdict, "rtplan_uid": row.rtplan_uid, "rtdose_uid": row.rtdose_uid,
                "end_cap": row.end_cap, "results": dict(row.results or {})}


def stored_plan_qa_count(study: StudyDB, actor: Actor | None, subject_id: str) -> int:
    """How many plan QA verdicts the patient's course holds."""
    from sqlalchemy import func

    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        return session.scalar(select(func.count()).select_from(PlanQARecord)
                              .where(PlanQARecord.patient_id == patient.id)) or 0


class _StoredCurve:
    """A stored compact DVH that draws as a DVH does (:meth:`cumulative`)."""

    def __init__(self, curve: dict):
        self.doses = np.asarray(curve["dose_at_percent_gy"], float)[::-1]  # D100 .. D0: rising dose
        self.percents = np.asarray(CURVE_PERCENTS, float)[::-1]           # 100 .. 0
        self.max_gy = float(curve.get("max_gy", self.doses[-1]))

    def cumulative(self, bin_width_gy: float = 0.05, relative: bool = True):
        doses = np.arange(0.0, self.max_gy + bin_width_gy, bin_width_gy)
        return doses, np.interp(doses, self.doses, self.percents, left=100.0, right=0.0)


#: the web page's DVH figure: about 1,400 px wide at 150 dpi, shown at the content's width (about 1,250 px
#: at a 1280 px window), so that its 7.5 pt legend is about 14 px high on the screen
WEB_DPI = 150


def dvh_png(study: StudyDB, results: dict, dpi: int = WEB_DPI) -> bytes:
    """The DVH plot of a plan QA result (as :func:`result_data` gives or a record stores), as PNG."""
    import io

    from sarcotrial.radiotherapy.planqa import ObjectiveResult
    from sarcotrial.radiotherapy.planqa_report import dvh_figure

    curves = results.get("dvh_curves") or {}
    if not curves:
        raise InvalidValue("plan_qa", "this verdict was stored without its DVH curves; no plot can be drawn", show_value=False)
    qa = PlanQA(protocol=results.get("protocol", ""), end_cap=results.get("end_cap", "none"),
                mapping=results.get("mapping") or {}, consistency=results.get("consistency_problems") or [],
                objectives=[ObjectiveResult(**o) for o in results.get("objectives") or []],
                indices=results.get("indices") or {}, dvhs={k: _StoredCurve(v) for k, v in curves.items()})
    rt = study.protocol.treatment.radiotherapy
    prescriptions = {lvl.target: lvl.total_dose_gy for lvl in rt.dose_levels}
    prescriptions.update({lvl.ptv: lvl.total_dose_gy for lvl in rt.dose_levels})
    import matplotlib.pyplot as plt

    from sarcotrial.publishing.plotting import DRAWING  # one lock for every drawing of the server's threads

    with DRAWING:
        fig = dvh_figure(qa, prescriptions)
        try:
            out = io.BytesIO()
            fig.savefig(out, format="png", dpi=dpi, bbox_inches="tight")
        finally:
            plt.close(fig)
    return out.getvalue()
