"""The read side: what the CLI, the report and (later) the web application and exports show.

Entry points never query the database themselves: they ask here, and get plain objects named by
the protocol's form and field ids. Every read goes through :meth:`StudyDB.reading` with the
acting user, so the sites a user may see are applied in one place, the same for a listing, the
report and the endpoints.

Missing-data codes travel with the values: a field coded ``UNK`` is ``None`` in ``values`` and
``"UNK"`` in ``missing``, and listings print the code where the value would be.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from sarcotrial.services.forms import CRF, snapshot
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import (
    AuditEntry,
    CRFInstance,
    DataQuery,
    Enrolment,
    Patient,
    PlanQARecord,
    ProtocolDeviation,
    Screening,
    Site,
    VisitOccurrence,
)

#: the columns of a CRF instance a :class:`PatientRecord` reads (``forms.snapshot``)
_CRF_COLUMNS = (CRFInstance.id, CRFInstance.patient_id, CRFInstance.form_id, CRFInstance.instance, CRFInstance.status,
                CRFInstance.revision, CRFInstance.protocol_version, CRFInstance.data, CRFInstance.derived,
                CRFInstance.missing, CRFInstance.verified, CRFInstance.not_done_reason)


@dataclass
class PatientRecord:
    """One patient as the read side gives it: pathway facts and every CRF instance, by form."""

    subject_id: str
    site: str
    sex: str
    year_of_birth: int
    status: str
    enrolment_date: dt.date | None
    consent_date: dt.date | None
    enrolment_sequence: int | None
    forms: dict[str, list[CRF]] = field(default_factory=dict)
    screenings: list[dict[str, Any]] = field(default_factory=list)
    deviations: list[dict[str, Any]] = field(default_factory=list)
    plan_qa: list[dict[str, Any]] = field(default_factory=list)

    def of(self, form_id: str) -> list[CRF]:
        """The entered instances of a form (not those marked not done), in entry order."""
        return [c for c in self.forms.get(form_id, []) if c.status != "not_done" and (c.values or c.missing)]

    def first(self, form_id: str) -> CRF | None:
        rows = self.of(form_id)
        return rows[0] if rows else None

    def missing_notes(self, form_ids: Iterable[str]) -> list[str]:
        """``form.field=CODE`` for every missing-data code in the given forms."""
        return [f"{c.form_id}.{k}={v}" for form_id in form_ids for c in self.of(form_id) for k, v in sorted(c.missing.items())]

    # ---- pathway facts the report and the endpoints read
    def delivered_dates(self) -> list[dt.date]:
        return sorted(c.values["fraction_date"] for c in self.of("rt_fraction")
                      if c.values.get("status") == "delivered" and c.values.get("fraction_date"))

    def death(self) -> CRF | None:
        return next((c for c in self.of("outcome_event") if c.values.get("event_type") == "death"), None)


def _visible(study: StudyDB, session: Session, query):
    visible = study.visible_site_ids(session) if hasattr(study, "visible_site_ids") else None
    return query.where(Patient.site_id.in_(visible)) if visible is not None else query


def load_patients(study: StudyDB, session: Session, *, subject_id: str | None = None,
                  enrolled_only: bool = False, forms: Iterable[str] | None = None,
                  details: bool = True, subject_ids: Iterable[str] | None = None) -> list[PatientRecord]:
    """Patients (all those the user may see, or one) with their forms, in a few queries.

    ``forms``: only these forms' instances are read (every form when ``None``), for a page that
    needs a few; ``details=False`` leaves out the screenings, deviations and plan QA records;
    ``subject_ids``: only these of the patients the user may see (a page of a listing).
    """
    protocol = study.protocol
    sites = {s.id: s.code for s in session.scalars(select(Site))}
    query = select(Patient, Enrolment).outerjoin(Enrolment, Enrolment.patient_id == Patient.id)
    if subject_id is not None:
        patient = study.patient(session, subject_id)
        query = query.where(Patient.id == patient.id)
    if subject_ids is not None:
        query = query.where(Patient.subject_id.in_(list(subject_ids)))
    query = _visible(study, session, query)
    if enrolled_only:
        query = query.where(Enrolment.id.is_not(None)).order_by(Enrolment.sequence)
    else:
        query = query.order_by(Patient.id)
    pairs = session.execute(query).all()
    ids = [p.id for p, _ in pairs]
    out: dict[int, PatientRecord] = {}
    for p, e in pairs:
        out[p.id] = PatientRecord(p.subject_id, sites.get(p.site_id, "?"), p.sex, p.year_of_birth, p.status,
                                  e.enrolment_date if e else None, e.consent_date if e else None,
                                  e.sequence if e else None)
    if not ids:
        return []
    wanted = None if forms is None else list(forms)
    one = subject_id is not None  # one patient: no list of ids to send
    if wanted is None or wanted:
        crf = (select(*_CRF_COLUMNS, VisitOccurrence.visit_id.label("visit_id"),
                      VisitOccurrence.occurrence.label("occurrence"))
               .join(VisitOccurrence, VisitOccurrence.id == CRFInstance.visit_occurrence_id)
               .where(CRFInstance.patient_id == ids[0] if one else CRFInstance.patient_id.in_(ids))
               .order_by(CRFInstance.id))
        if wanted is not None:
            crf = crf.where(CRFInstance.form_id.in_(wanted))
        for row in session.execute(crf):
            record = out.get(row.patient_id)
            if record is not None:
                record.forms.setdefault(row.form_id, []).append(snapshot(protocol, row, row, record.subject_id))
    if not details:
        return [out[i] for i in ids]
    for sc in session.scalars(select(Screening).where(Screening.patient_id.in_(ids))
                              .options(selectinload(Screening.criteria))
                              .order_by(Screening.screening_date, Screening.id)):
        out[sc.patient_id].screenings.append({
            "id": sc.id, "date": sc.screening_date, "decision": sc.decision, "reasons": sc.reasons.splitlines(),
            "criteria": [{"id": c.criterion_id, "kind": c.kind, "result": c.result, "reason": c.reason}
                         for c in sc.criteria]})
    for d in session.scalars(select(ProtocolDeviation).where(ProtocolDeviation.patient_id.in_(ids))
                             .order_by(ProtocolDeviation.id)):
        out[d.patient_id].deviations.append({"category": d.category, "severity": d.severity,
                                             "description": d.description, "detected_on": d.detected_on})
    for q in session.scalars(select(PlanQARecord).where(PlanQARecord.patient_id.in_(ids)).order_by(PlanQARecord.id)):
        out[q.patient_id].plan_qa.append({"evaluated_on": q.evaluated_on, "verdict": q.verdict, "results": q.results,
                                          "rtplan_uid": q.rtplan_uid})
    return [out[i] for i in ids]


def patients(study: StudyDB, actor: Actor | None, *, enrolled_only: bool = False,
             permission: str = "read", forms: Iterable[str] | None = None,
             details: bool = True) -> list[PatientRecord]:
    """Every patient the user may see (``permission``: what the read is for: ``report``, ``export``;
    ``forms`` and ``details``: what of each patient is read, as :func:`load_patients` says)."""
    with study.reading(actor, permission=permission) as session:
        return load_patients(study, session, enrolled_only=enrolled_only, forms=forms, details=details)


def patient(study: StudyDB, actor: Actor | None, subject_id: str) -> PatientRecord:
    with study.reading(actor) as session:
        return load_patients(study, session, subject_id=subject_id)[0]


def patient_and_open_queries(study: StudyDB, actor: Actor | None, subject_id: str) -> tuple[PatientRecord, list]:
    """A patient's record and the queries open on it, in one read (``patient show``: an eligibility
    re-judged after a corrected date of birth stands beside the screening it questions)."""
    from sarcotrial.services.queries import list_queries_in

    with study.reading(actor) as session:
        record = load_patients(study, session, subject_id=subject_id)[0]
        return record, list_queries_in(study, session, status="open", subject_id=subject_id)


def form_instances(study: StudyDB, actor: Actor | None, subject_id: str, form_id: str) -> list[CRF]:
    """A patient's instances of one form (for tests, scripts and the web forms)."""
    return patient(study, actor, subject_id).forms.get(form_id, [])


# --------------------------------------------------------------------------- study-level summaries
def status_counts(study: StudyDB, actor: Actor | None) -> dict[str, Any]:
    """The study at a glance (the patients the user may see)."""
    with study.reading(actor) as session:
        records = load_patients(study, session)
        by_status: dict[str, int] = defaultdict(int)
        for r in records:
            by_status[r.status] += 1
        deviations = sum(len(r.deviations) for r in records)
        queries = _visible(study, session, select(DataQuery.status, func.count()).join(
            Patient, Patient.id == DataQuery.patient_id).group_by(DataQuery.status))
        query_counts = dict(session.execute(queries).all())
        entries = session.scalar(select(func.count(AuditEntry.id)))
        from sarcotrial.services.forms import active_lock

        lock = active_lock(session, None, None)
        study_lock = {"locked_by": lock.locked_by, "locked_at": lock.locked_at.isoformat()} \
            if lock is not None and lock.scope == "study" else None
    return {
        "study_lock": study_lock,
        "patients": len(records), "by_status": dict(sorted(by_status.items())),
        "enrolled": sum(r.enrolment_date is not None for r in records),
        "target_accrual": study.protocol.identification.design.target_accrual,
        "screenings": sum(len(r.screenings) for r in records),
        "fractions_delivered": sum(len(r.delivered_dates()) for r in records),
        "operated": sum(r.first("surgery") is not None for r in records),
        "r0": sum(1 for r in records if r.first("pathology") and r.first("pathology").derived.get("r_status") == "R0"),
        "adverse_events": sum(len(r.of("adverse_event")) for r in records),
        "deaths": sum(r.death() is not None for r in records),
        "protocol_deviations": deviations,
        "queries": {"open": query_counts.get("open", 0), "answered": query_counts.get("answered", 0),
                    "closed": query_counts.get("closed", 0)},
        "audit_entries": entries,
    }


def audit_entries(study: StudyDB, actor: Actor | None, *, subject_id: str | None = None, limit: int = 50) -> list[AuditEntry]:
    """The newest audit entries (of one patient), oldest first; a form's values are named ``data.FIELD``."""
    with study.reading(actor, permission="audit.read") as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if subject_id:
            patient = study.patient(session, subject_id)
            query = query.where(AuditEntry.subject_id == patient.subject_id)
        visible = study.visible_site_ids(session) if hasattr(study, "visible_site_ids") else None
        if visible is not None:  # a site's user reads the trail of the site's patients, nothing else
            subjects = select(Patient.subject_id).where(Patient.site_id.in_(visible))
            query = query.where(AuditEntry.subject_id.in_(subjects))
        rows = list(reversed(session.scalars(query).all()))
        forms = {row_id: form for row_id, form in session.execute(
            select(CRFInstance.id, CRFInstance.form_id).where(
                CRFInstance.id.in_([r.record_id for r in rows if r.table_name == "crf_instance"])))}
        for r in rows:
            session.expunge(r)
            if r.table_name == "crf_instance" and r.record_id in forms:
                r.table_name = f"crf_instance {forms[r.record_id]}"
        return rows


def audit_total(study: StudyDB, actor: Actor | None) -> int:
    with study.reading(actor, permission="audit.read") as session:
        return session.scalar(select(func.count(AuditEntry.id))) or 0


def verify_audit(study: StudyDB, actor: Actor | None, expect_head: str | None = None, progress=None):
    from sarcotrial.store import audit

    # one chain for the whole database: every study's records are replayed against it
    with study.reading(actor, permission="audit.read", unit=True) as session:
        return audit.verify_chain(session, expect_head=expect_head, progress=progress)



def studies_overview(study: StudyDB, actor: Actor | None) -> list[dict[str, Any]]:
    """The studies this database runs (``study list``, the browser's study switch): for each, its
    protocol, how many patients the user sees in it, enrolled against the target, and whether it is
    open for accrual (``services.registry.closed_to_accrual``)."""
    from sarcotrial.services.registry import closed_to_accrual
    from sarcotrial.store.models import Enrolment
    from sarcotrial.store.scoping import ALL_STUDIES

    out = []
    with study.reading(actor, unit=True) as session:
        visible = study.visible_site_ids(session)
        for info in study.studies():
            target = study.sibling(info.id)
            patients = select(func.count(Patient.id)).where(Patient.study_id == info.id)
            enrolled = select(func.count(Enrolment.id)).join(Patient, Patient.id == Enrolment.patient_id) \
                .where(Enrolment.study_id == info.id)
            if visible is not None:  # both counts of the user's sites only
                patients = patients.where(Patient.site_id.in_(visible))
                enrolled = enrolled.where(Patient.site_id.in_(visible))
            closed = closed_to_accrual(target, session)
            out.append({"acronym": info.acronym, "version": info.version, "synthetic": info.synthetic,
                        "current": info.id == study.study_id,
                        "patients": session.scalar(patients.execution_options(**{ALL_STUDIES: True})),
                        "enrolled": session.scalar(enrolled.execution_options(**{ALL_STUDIES: True})),
                        "target_accrual": target.protocol.identification.design.target_accrual,
                        "open_for_accrual": closed is None, "closed": closed})
    return out
