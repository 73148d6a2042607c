"""The JSON shapes of SarcoTrial's answers: what ``--json`` prints on the CLI and what the REST API
(``/api/v1``) answers, defined once here so that the two never drift apart.

Each ``*_json`` function turns what a service returned into plain data (dicts, lists, strings,
numbers, dates); :func:`jsonable` then writes dates and moments as ISO 8601 text, exactly as the
CLI's ``print_json`` does. Values are named by the protocol's form and field ids; a CRF instance
keeps where it stands (id, visit, status, revision) under ``crf``, apart from its values, so a
form's own field called ``status`` or ``visit`` keeps its value.

A few functions at the end read and shape in one call (``study_protocol_json``,
``form_records_json``, ``endpoint_rows_json``): each reads through the services, which check the
acting user's permission in their unit of work, as every read does.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterable

from sarcotrial.services.study import Actor, StudyDB


# --------------------------------------------------------------------------- writing JSON
def json_default(value: Any) -> Any:
    """How JSON writes what it has no type for: dates and moments in ISO 8601, paths as text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(obj: Any) -> str:
    """One JSON text, as the CLI prints it (UTF-8 kept, not escaped)."""
    return json.dumps(obj, default=json_default, ensure_ascii=False)


def jsonable(obj: Any) -> Any:
    """``obj`` with every date written as the CLI writes it: plain JSON data."""
    return json.loads(dumps(obj))


# --------------------------------------------------------------------------- CRF instances
def shown(crf, field: str) -> Any:
    """A value as listings show it: the value, or its missing-data code."""
    if crf is None:
        return None
    return crf.values.get(field) if crf.values.get(field) is not None else crf.missing.get(field)


def crf_json(crf) -> dict[str, Any]:
    """A CRF instance: its values and derived values by field id, its missing-data codes, and where it
    stands under ``crf`` (kept apart, so a form's own field called status or visit keeps its value)."""
    return {**crf.values, **{k: v for k, v in crf.derived.items() if k not in crf.values or crf.values[k] is None},
            "missing": crf.missing,
            "crf": {"id": crf.id, "form_id": crf.form_id, "visit": crf.visit, "instance": crf.instance,
                    "status": crf.status, "revision": crf.revision, "entered_version": crf.entered_version}}


def record_json(crf) -> dict[str, Any]:
    """A CRF instance just recorded, corrected or marked not done (``record --json``, ``correct --json``)."""
    return {"form": crf.form_id, "record": crf_json(crf)}


def form_records_shape(subject_id: str, form_id: str, crfs: Iterable) -> dict[str, Any]:
    """A patient's instances of one form, those marked not done included (with their reason)."""
    return {"subject_id": subject_id, "form": form_id,
            "records": [{**crf_json(c), "not_done_reason": c.not_done_reason} if c.status == "not_done" else crf_json(c)
                        for c in crfs]}


# --------------------------------------------------------------------------- study and patients
def status_json(study: StudyDB, counts: dict[str, Any]) -> dict[str, Any]:
    """``status --json``: the study at a glance (``views.status_counts``)."""
    return {"study": study.protocol.acronym, "protocol_version": study.protocol_version,
            "protocol_sha256": study.loaded.sha256, "synthetic": study.synthetic, **counts}


def patient_row_json(r) -> dict[str, Any]:
    """One patient of ``patient list --json`` (pseudonymised: no identifier)."""
    d, path = r.first("diagnosis"), r.first("pathology")
    return {"subject_id": r.subject_id, "site": r.site, "status": r.status, "sex": r.sex,
            "year_of_birth": r.year_of_birth,
            # the tumour's site: the diagnosis's, else (a patient referred, not yet diagnosed) the referral's
            "anatomic_site": shown(d, "anatomic_site") if d else shown(r.first("referral"), "anatomic_site"),
            "histotype": shown(d, "histotype"),
            "grade": d.derived.get("grade") if d else None, "stage": d.derived.get("stage") if d else None,
            "r_status": path.derived.get("r_status") if path else None,
            "response": path.derived.get("response_score") if path else None}


def patient_list_json(records: Iterable) -> dict[str, Any]:
    """``patient list --json``."""
    return {"patients": [patient_row_json(r) for r in records]}


def patient_show_json(study: StudyDB, actor: Actor | None, subject_id: str, record=None) -> dict[str, Any]:
    """``patient show --json`` and ``GET /patients/{subject}``: :func:`patient_json`, with the arm allocated
    where the protocol randomises (none before allocation: it is concealed), and the systemic course and
    the RECIST 1.1 time points where the protocol has cycles of systemic therapy or a response section, as
    the patient page computes them (``services.overview.patient_page``). ``record``: the patient's
    :class:`~sarcotrial.services.views.PatientRecord` where the caller has it."""
    from sarcotrial.services import randomisation, views
    from sarcotrial.services.systemic_entry import administration_of

    protocol = study.protocol
    out = patient_json(record if record is not None else views.patient(study, actor, subject_id))
    if randomisation.randomises(protocol):
        arm = randomisation.arms_by_subject(study, actor, subject_id).get(out["subject_id"])
        names = {a.id: a.name for a in protocol.arms}
        out["arm"] = {"id": arm, "name": names.get(arm, arm)} if arm else None
    if getattr(protocol, "response", None) is not None or administration_of(protocol) is not None:
        from sarcotrial.services import overview

        panels = overview.patient_page(study, actor, subject_id)[1]
        out["systemic_course"] = panels.course.as_dict() if panels.course is not None else None
        out["response"] = None if not panels.response else {
            "timepoints": [{"date": t.date.isoformat(), "baseline": t.baseline, "sum_mm": t.sum_mm, "overall": t.overall}
                           for t in panels.timepoints],
            "best_unconfirmed": panels.best_unconfirmed.as_dict() if panels.best_unconfirmed else None,
            "best_confirmed": panels.best_confirmed.as_dict() if panels.best_confirmed else None}
    return out


def patient_json(r) -> dict[str, Any]:
    """``patient show --json``: one patient's pathway (pseudonymised)."""
    out: dict[str, Any] = {"subject_id": r.subject_id, "site": r.site, "status": r.status, "sex": r.sex,
                           "year_of_birth": r.year_of_birth, "screenings": r.screenings,
                           "enrolment": {"enrolment_date": r.enrolment_date, "consent_date": r.consent_date,
                                         "sequence": r.enrolment_sequence} if r.enrolment_date else None}
    for key in ("diagnosis", "surgery", "pathology"):
        out[key] = crf_json(r.first(key)) if r.first(key) else None
    course = r.first("rt_course")
    if course:
        out["rt_course"] = {**crf_json(course), "fractions": [crf_json(f) for f in r.of("rt_fraction")]}
    for form_id, key in (("adverse_event", "adverse_events"), ("wound_complication", "wound_complications"),
                         ("follow_up", "follow_up"), ("outcome_event", "events")):
        out[key] = [crf_json(c) for c in r.of(form_id)]
    out["deviations"] = r.deviations
    out["plan_qa"] = r.plan_qa
    return out


def screening_json(subject_id: str, row) -> dict[str, Any]:
    """``patient screen --json``: the decision and each criterion with its reason."""
    return {"subject_id": subject_id.upper(), "decision": row.decision,
            "criteria": [{"id": c.criterion_id, "kind": c.kind, "result": c.result, "reason": c.reason}
                         for c in row.criteria],
            "reasons": row.reasons.splitlines()}


# --------------------------------------------------------------------------- the audit trail
def audit_entries_json(rows: Iterable) -> dict[str, Any]:
    """``audit log --json``: the entries, every field of each and its hash."""
    from sarcotrial.store import audit

    return {"entries": [{k: getattr(r, k) for k in audit.ENTRY_FIELDS + ("hash",)} for r in rows]}


def audit_verify_json(report) -> dict[str, Any]:
    """``audit verify --json``."""
    return {"ok": report.ok, "entries": report.entries, "head_hash": report.head_hash,
            "problems": [{"entry": p.entry_id, "problem": p.problem} for p in report.problems]}


# --------------------------------------------------------------------------- data management
def visits_json(subject_id: str, rows: Iterable) -> dict[str, Any]:
    """``visits --json``."""
    return {"subject": subject_id.strip().upper(), "visits": [v.as_dict() for v in rows]}


def due_json(rows: Iterable) -> dict[str, Any]:
    """``due --json``."""
    return {"due": [r.as_dict() for r in rows]}


def queries_json(rows: Iterable) -> dict[str, Any]:
    """``query list --json``."""
    return {"queries": [q.as_dict() for q in rows]}


def sdv_progress_json(rows: list) -> dict[str, Any]:
    """``sdv-progress --json``: per patient and per site."""
    from sarcotrial.services.review import sdv_by_site

    return {"patients": [r.as_dict() for r in rows], "sites": sdv_by_site(rows)}


def signatures_json(rows: Iterable) -> dict[str, Any]:
    """``signatures --json``."""
    return {"signatures": [s.as_dict() for s in rows]}


def sae_json(hours: int | None, rows: Iterable) -> dict[str, Any]:
    """``sae --json``: serious adverse events and their reporting clock."""
    return {"report_within_hours": hours, "serious_adverse_events": [e.as_dict() for e in rows]}


def reconsent_json(rows: Iterable) -> dict[str, Any]:
    """``reconsent --json``."""
    return {"reconsent": [{"subject": r.subject, "signed_version": r.signed_version,
                           "signed_on": r.signed_on.isoformat() if r.signed_on else None,
                           "current_version": r.current_version} for r in rows]}


def rt_delivery_json(subject_id: str, summary) -> dict[str, Any]:
    """``rt delivery --json``: a patient's delivery log."""
    return {"subject_id": subject_id.upper(), **summary.as_dict()}


def protocol_json(loaded) -> dict[str, Any]:
    """``protocol show --json``: the protocol's source, its SHA-256 and every part of it."""
    return {"source": loaded.source, "sha256": loaded.sha256, **loaded.protocol.model_dump(mode="json", by_alias=True)}


# --------------------------------------------------------------------------- read and shape
def study_protocol_json(study: StudyDB, actor: Actor | None) -> dict[str, Any]:
    """The protocol bound to the study (as ``protocol show --json`` prints a protocol), for a user who may read."""
    with study.reading(actor):
        pass
    return protocol_json(study.loaded)


def form_records_json(study: StudyDB, actor: Actor | None, subject_id: str, form_id: str) -> dict[str, Any]:
    """A patient's instances of one protocol form; an unknown form id is refused naming the known ones."""
    from sarcotrial.errors import InvalidValue
    from sarcotrial.services import views

    if not study.protocol.has_form(form_id):
        raise InvalidValue("form", "no such form in the study's protocol", form_id)
    record = views.patient(study, actor, subject_id)
    return form_records_shape(record.subject_id, form_id, record.forms.get(form_id, []))


def endpoint_rows_json(study: StudyDB, actor: Actor | None, cutoff: dt.date | None = None) -> dict[str, Any]:
    """The endpoints CSV (``sarcotrial endpoints``) as JSON: its columns, and one object a patient with
    the CSV's values (blank cells as ``null``, numbers as numbers; months to four decimals)."""
    from sarcotrial.services.endpoints import endpoint_table

    columns, rows = endpoint_table(study, cutoff, actor)
    months = {name for name in columns if name.endswith("_time_months")}  # four decimals, as in the CSV
    return {"cutoff": cutoff, "columns": columns,
            "rows": [{name: round(value, 4) if name in months and value is not None else value
                      for name, value in zip(columns, row)} for row in rows]}
