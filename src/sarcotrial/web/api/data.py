"""The REST API's data routes (``/api/v1``): the study's data as the CLI's ``--json`` shows it, and
the same changes the CLI makes.

Every route calls the service the CLI calls, with the signed-in user (``user.actor``); the services
check the permission inside their unit of work, so a refused change writes nothing. Answers are
built by :mod:`sarcotrial.services.shapes`, the module the CLI's ``--json`` uses too.

How errors answer (JSON ``{"error": ...}`` always):

- 401: not signed in (no session cookie, no bearer token); no route gives data to an anonymous caller.
- 403: the role may not do this (``docs/roles.md``), or a change came with the cookie but without
  the session's CSRF token.
- 404: the subject id, query, form or record named does not exist, **or belongs to a site the user
  does not work at** (a site's staff are not told which subject ids exist elsewhere).
- 409: a correction made against a revision that is no longer the form's (someone changed it since);
  the answer names who changed it and when.
- 422: a value breaks a rule: ``{"error", "field", "rule"}``; or the JSON body is not what the route
  takes (a required member missing, a wrong type, an unknown member): ``{"error": "member: problem"}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from sarcotrial.errors import InvalidValue
from sarcotrial.services import forms, pathway, queries, radiotherapy, review, safety, shapes, views
from sarcotrial.services import visits as visit_service
from sarcotrial.web.deps import SignedIn, study_of

#: what every change's documentation says about its JSON body
BODY_RULES = ("The body is one JSON object. A member the route does not take, a required member missing or a "
              "value of the wrong JSON type is refused with 422 `{\"error\": \"member: problem\"}` before anything "
              "is read or written; an empty string is a value and is judged by the study's rules (422 "
              "`{\"error\", \"field\", \"rule\"}` naming the field and the rule it breaks). Nothing is written "
              "unless the whole change is accepted.")


def _not_found(exc: InvalidValue) -> bool:
    """A refusal saying that what the request names is not there (or not among the user's sites)."""
    rule = exc.rule or ""
    return ((exc.field == "patient" and rule.startswith("no such")) or (exc.field == "query" and rule == "no such query")
            or (exc.field == "form" and "no such form" in rule) or (exc.field == "record" and rule.startswith("no ")))


class DataRoute(APIRoute):
    """A data route: a missing subject, query, form or record answers 404, a stale revision 409; every
    other error goes to the application's handlers (``web/security.py``)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request):
            try:
                return await handler(request)
            except InvalidValue as exc:
                if _not_found(exc):
                    return JSONResponse({"error": str(exc)}, status_code=404)
                if exc.field == "revision":
                    return JSONResponse({"error": str(exc), "field": exc.field, "rule": exc.rule}, status_code=409)
                raise

        return route


router = APIRouter(tags=["data"], route_class=DataRoute)


# --------------------------------------------------------------------------- models (for /openapi.json)
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Shape(BaseModel):
    """An answer's documented members; a shape may carry more (the protocol's fields)."""

    model_config = ConfigDict(extra="allow")


class ErrorOut(BaseModel):
    error: str


class InvalidOut(BaseModel):
    error: str
    field: str | None = None
    rule: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Not signed in"},
    403: {"model": ErrorOut, "description": "The role may not do this, or the CSRF token is missing"},
    404: {"model": ErrorOut, "description": "No such subject id, query, form or record (or not at the user's sites)"},
    422: {"model": InvalidOut, "description": "A value breaks a rule, or the body is malformed"},
}
CHANGE_ERRORS = {**ERRORS, 409: {"model": InvalidOut, "description": "Changed meanwhile (stale revision)"}}


class StatusOut(Shape):
    study: str
    protocol_version: str
    protocol_sha256: str
    synthetic: bool
    patients: int
    enrolled: int
    by_status: dict[str, int]
    queries: dict[str, int]
    audit_entries: int


class PatientsOut(Shape):
    patients: list[dict[str, Any]] = Field(description="subject_id, site, status, sex, year_of_birth, anatomic_site, "
                                           "histotype, grade, stage, r_status, response")


class PatientOut(Shape):
    subject_id: str
    site: str
    status: str
    sex: str
    year_of_birth: int
    screenings: list[dict[str, Any]]
    enrolment: dict[str, Any] | None


class VisitsOut(Shape):
    subject: str
    visits: list[dict[str, Any]]


class DueOut(Shape):
    due: list[dict[str, Any]]


class FormRecordsOut(Shape):
    subject_id: str
    form: str
    records: list[dict[str, Any]] = Field(description="each instance: its values by field id, `missing` (codes), "
                                          "`crf` (id, form_id, visit, instance, status, revision, entered_version)")


class RecordOut(Shape):
    form: str
    record: dict[str, Any]


class QueriesOut(Shape):
    queries: list[dict[str, Any]]


class QueryOut(Shape):
    id: int
    subject: str
    form_id: str
    field: str
    status: str


class SdvOut(Shape):
    patients: list[dict[str, Any]]
    sites: list[dict[str, Any]]


class SignaturesOut(Shape):
    signatures: list[dict[str, Any]]


class SignatureOut(Shape):
    id: int
    subject: str
    scope: str
    meaning: str
    status: str
    manifestation: str


class SaeOut(Shape):
    report_within_hours: int | None
    serious_adverse_events: list[dict[str, Any]]


class ReconsentOut(Shape):
    reconsent: list[dict[str, Any]]


class AuditOut(Shape):
    entries: list[dict[str, Any]]


class ProtocolOut(Shape):
    source: str
    sha256: str


class EndpointsOut(Shape):
    cutoff: dt.date | None
    columns: list[str]
    rows: list[dict[str, Any]]


class DeliveryOut(Shape):
    subject_id: str


class ScreeningOut(Shape):
    subject_id: str
    decision: str
    criteria: list[dict[str, Any]]
    reasons: list[str]


class VerifiedOut(Shape):
    subject: str
    form: str
    verified: list[str]


class LockOut(Shape):
    locked: str | None = None
    unlocked: str | None = None


class RecordIn(Strict):
    values: dict[str, Any] = Field(default_factory=dict, description="field id: value (the protocol's form fields)")
    visit: str | None = Field(None, description="visit occurrence VISIT[:N]; default: where the schedule places it")
    instance: int | None = Field(None, ge=1, description="repeat instance of a repeating form")
    missing: dict[str, str] = Field(default_factory=dict, description="field id: missing-data code (needs reason)")
    reason: str | None = Field(None, description="why values are missing")


class CorrectIn(Strict):
    changes: dict[str, Any] = Field(default_factory=dict, description="field id: new value")
    missing: dict[str, str] = Field(default_factory=dict, description="field id: missing-data code")
    reason: str = Field(description="why the data change (kept in the audit trail)")
    revision: int | None = Field(None, description="the revision you saw: refused with 409 if the form changed since")


class NotDoneIn(Strict):
    form: str
    visit: str = Field(description="visit occurrence VISIT[:N]")
    instance: int | None = Field(None, ge=1)
    reason: str


class QueryOpenIn(Strict):
    subject: str
    form: str
    field: str
    text: str
    visit: str | None = None
    instance: int | None = Field(None, ge=1)
    assign: str | None = Field(None, description="a user of the patient's site to answer it")


class QueryRespondIn(Strict):
    resolution: str = Field(description="corrected, confirmed or other")
    text: str
    changes: dict[str, Any] | None = Field(None, description="field id: new value, corrected with the answer")


class QueryCloseIn(Strict):
    text: str | None = None


class QueryReopenIn(Strict):
    text: str


class SdvIn(Strict):
    subject: str
    form: str
    visit: str | None = None
    instance: int | None = Field(None, ge=1)
    field: str | None = Field(None, description="one field (default: every entered field)")


class SignatureIn(Strict):
    subject: str
    form: str | None = Field(None, description="sign one form (default: the patient's whole casebook)")
    visit: str | None = None
    instance: int | None = Field(None, ge=1)
    password: str = Field(max_length=1024, description="your password, entered again at each signature "
                          "(21 CFR 11.200); asked of a script using an API token too")
    meaning: str = Field(description="what the signature means, e.g. 'I have reviewed and approve these data'")


class LockIn(Strict):
    subject: str | None = None
    form: str | None = None
    visit: str | None = None
    instance: int | None = Field(None, ge=1)
    study: bool = Field(False, description="lock the whole study (database lock)")


class UnlockIn(LockIn):
    reason: str


class RegisterIn(Strict):
    full_name: str = Field(max_length=500)
    date_of_birth: dt.date
    hospital_number: str = Field(max_length=200)
    sex: str = Field(description="female, male or other")
    site: str = Field(description="code of the study site")
    referral: dict[str, Any] = Field(default_factory=dict, description="referral form field: value")


class ScreenIn(Strict):
    values: dict[str, Any] = Field(description="screening form field: value")


class EnrolIn(Strict):
    enrolment_date: dt.date


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(shapes.jsonable(data), status_code=status)


def _query(request: Request, user, query_id: int) -> dict[str, Any]:
    rows = [q for q in queries.list_queries(study_of(request), user.actor) if q.id == query_id]
    if not rows:
        raise InvalidValue("query", "no such query", query_id)
    return rows[0].as_dict()


# --------------------------------------------------------------------------- reads
@router.get("/status", operation_id="status", summary="The study at a glance (status --json)",
            response_model=StatusOut, responses=ERRORS)
def status(request: Request, user: SignedIn):
    study = study_of(request)
    return _json(shapes.status_json(study, views.status_counts(study, user.actor)))


@router.get("/patients", operation_id="patient_list", summary="Every patient the user may see (patient list --json)",
            response_model=PatientsOut, responses=ERRORS)
def patient_list(request: Request, user: SignedIn):
    return _json(shapes.patient_list_json(views.patients(study_of(request), user.actor)))


@router.get("/patients/{subject}", operation_id="patient_show", summary="One patient's pathway (patient show --json)",
            response_model=PatientOut, responses=ERRORS)
def patient_show(subject: str, request: Request, user: SignedIn):
    return _json(shapes.patient_show_json(study_of(request), user.actor, subject))


@router.get("/patients/{subject}/visits", operation_id="visits", summary="A patient's visits (visits --json)",
            response_model=VisitsOut, responses=ERRORS)
def visits(subject: str, request: Request, user: SignedIn):
    return _json(shapes.visits_json(subject, visit_service.visits(study_of(request), user.actor, subject)))


@router.get("/due", operation_id="due", summary="Visits due (within `days`) and overdue (due --json)",
            response_model=DueOut, responses=ERRORS)
def due(request: Request, user: SignedIn, days: int = Query(0, ge=0, le=3660, description="also visits whose window "
                                                             "opens within this many days"),
        today: dt.date | None = Query(None, description="pretend today is this date (planning ahead)")):
    return _json(shapes.due_json(visit_service.due(study_of(request), user.actor, days, today)))


@router.get("/patients/{subject}/forms/{form_id}", operation_id="form_records",
            summary="A patient's instances of one protocol form", response_model=FormRecordsOut, responses=ERRORS)
def form_records(subject: str, form_id: str, request: Request, user: SignedIn):
    return _json(shapes.form_records_json(study_of(request), user.actor, subject, form_id))


@router.get("/queries", operation_id="query_list", summary="Queries, oldest first (query list --json)",
            response_model=QueriesOut, responses=ERRORS)
def query_list(request: Request, user: SignedIn,
               status: str | None = Query(None, description="open, answered or closed"),
               patient: str | None = Query(None, description="only this patient's queries"),
               assigned_to: str | None = Query(None, description="only queries assigned to this user")):
    return _json(shapes.queries_json(queries.list_queries(study_of(request), user.actor, status=status,
                                                          subject_id=patient, assigned_to=assigned_to)))


@router.get("/sdv-progress", operation_id="sdv_progress",
            summary="Source-data verification progress per patient and site (sdv-progress --json)",
            response_model=SdvOut, responses=ERRORS)
def sdv_progress(request: Request, user: SignedIn):
    return _json(shapes.sdv_progress_json(review.sdv_progress(study_of(request), user.actor)))


@router.get("/patients/{subject}/signatures", operation_id="signatures",
            summary="A patient's electronic signatures (signatures --json)", response_model=SignaturesOut,
            responses=ERRORS)
def signatures(subject: str, request: Request, user: SignedIn):
    return _json(shapes.signatures_json(review.signatures(study_of(request), user.actor, subject)))


@router.get("/sae", operation_id="sae", summary="Serious adverse events and their reporting clock (sae --json)",
            response_model=SaeOut, responses=ERRORS)
def sae(request: Request, user: SignedIn):
    study = study_of(request)
    rows = safety.serious_events(study, user.actor)
    return _json(shapes.sae_json(study.protocol.safety.report_within_hours if study.protocol.safety else None, rows))


@router.get("/reconsent", operation_id="reconsent",
            summary="Patients to consent again to the current document (reconsent --json)",
            response_model=ReconsentOut, responses=ERRORS)
def reconsent(request: Request, user: SignedIn):
    return _json(shapes.reconsent_json(pathway.reconsent_due(study_of(request), user.actor)))


@router.get("/audit", operation_id="audit_log", summary="The newest audit entries (audit log --json)",
            description="Needs the permission `audit.read`; a site-limited user reads the trail of the site's patients.",
            response_model=AuditOut, responses=ERRORS)
def audit_log(request: Request, user: SignedIn, patient: str | None = Query(None, description="only this patient's"),
              limit: int = Query(50, ge=1, le=10000)):
    return _json(shapes.audit_entries_json(views.audit_entries(study_of(request), user.actor, subject_id=patient,
                                                               limit=limit)))


@router.get("/protocol", operation_id="protocol", summary="The protocol bound to the study (protocol show --json)",
            response_model=ProtocolOut, responses=ERRORS)
def protocol(request: Request, user: SignedIn):
    return _json(shapes.study_protocol_json(study_of(request), user.actor))


@router.get("/endpoints", operation_id="endpoints", summary="Every enrolled patient's derived endpoints",
            description="The rows of `sarcotrial endpoints` (a pseudonymised export): needs the permission `export` "
                        "and an export right reaching `pseudonymised`. Blank CSV cells are `null`.",
            response_model=EndpointsOut, responses=ERRORS)
def endpoints(request: Request, user: SignedIn,
              cutoff: dt.date | None = Query(None, description="data cut-off (default: all data)")):
    return _json(shapes.endpoint_rows_json(study_of(request), user.actor, cutoff))


@router.get("/patients/{subject}/rt", operation_id="rt_delivery",
            summary="A patient's radiotherapy delivery log (rt delivery --json)", response_model=DeliveryOut,
            responses=ERRORS)
def rt_delivery(subject: str, request: Request, user: SignedIn):
    summary = radiotherapy.delivery(study_of(request), subject, user.actor)
    if summary is None:
        return JSONResponse({"error": f"{subject.strip().upper()} has no radiotherapy course recorded"},
                            status_code=404)
    return _json(shapes.rt_delivery_json(subject, summary))


# --------------------------------------------------------------------------- changes
@router.post("/patients/{subject}/forms/{form_id}", operation_id="record", status_code=201,
             summary="Enter a form's data for a patient (record --json)", description=BODY_RULES,
             response_model=RecordOut, responses=CHANGE_ERRORS)
def record(subject: str, form_id: str, body: RecordIn, request: Request, user: SignedIn):
    crf = forms.record(study_of(request), user.actor, subject, form_id, body.values, visit=body.visit,
                       instance=body.instance, missing=body.missing, reason=body.reason)
    return _json(shapes.record_json(crf), 201)


@router.patch("/patients/{subject}/forms/{form_id}/{record_id}", operation_id="correct",
              summary="Correct entered data, with a reason (correct --json)",
              description=BODY_RULES + " A `revision` that is no longer the form's is refused with 409.",
              response_model=RecordOut, responses=CHANGE_ERRORS)
def correct(subject: str, form_id: str, record_id: int, body: CorrectIn, request: Request, user: SignedIn):
    crf = forms.correct(study_of(request), user.actor, subject, form_id, body.changes, body.reason,
                        record_id=record_id, missing=body.missing, revision=body.revision)
    return _json(shapes.record_json(crf))


@router.post("/patients/{subject}/not-done", operation_id="not_done", status_code=201,
             summary="Mark a form expected at a visit as not done, with the reason", description=BODY_RULES,
             response_model=RecordOut, responses=CHANGE_ERRORS)
def not_done(subject: str, body: NotDoneIn, request: Request, user: SignedIn):
    crf = forms.mark_not_done(study_of(request), user.actor, subject, body.form, body.visit, body.reason,
                              instance=body.instance)
    return _json(shapes.record_json(crf), 201)


@router.post("/queries", operation_id="query_open", status_code=201, summary="Open a query on a field of a form",
             description=BODY_RULES, response_model=QueryOut, responses=CHANGE_ERRORS)
def query_open(body: QueryOpenIn, request: Request, user: SignedIn):
    number = queries.open_query(study_of(request), user.actor, body.subject, body.form, body.field, body.text,
                                visit=body.visit, instance=body.instance, assign=body.assign)
    return _json(_query(request, user, number), 201)


@router.post("/queries/{query_id}/respond", operation_id="query_respond",
             summary="Answer an open query (with `changes`, the correction and the answer are one change)",
             description=BODY_RULES, response_model=QueryOut, responses=CHANGE_ERRORS)
def query_respond(query_id: int, body: QueryRespondIn, request: Request, user: SignedIn):
    queries.respond(study_of(request), user.actor, query_id, body.resolution, body.text, body.changes or None)
    return _json(_query(request, user, query_id))


@router.post("/queries/{query_id}/close", operation_id="query_close", summary="Close a query",
             description=BODY_RULES + " The body may be left out.", response_model=QueryOut, responses=CHANGE_ERRORS)
def query_close(query_id: int, request: Request, user: SignedIn, body: QueryCloseIn | None = None):
    queries.close(study_of(request), user.actor, query_id, body.text if body else None)
    return _json(_query(request, user, query_id))


@router.post("/queries/{query_id}/reopen", operation_id="query_reopen", summary="Reopen an answered or closed query",
             description=BODY_RULES, response_model=QueryOut, responses=CHANGE_ERRORS)
def query_reopen(query_id: int, body: QueryReopenIn, request: Request, user: SignedIn):
    queries.reopen(study_of(request), user.actor, query_id, body.text)
    return _json(_query(request, user, query_id))


@router.post("/sdv", operation_id="sdv", summary="Mark a form's fields (or one field) verified against source",
             description=BODY_RULES, response_model=VerifiedOut, responses=CHANGE_ERRORS)
def sdv(body: SdvIn, request: Request, user: SignedIn):
    marked = review.verify_source(study_of(request), user.actor, body.subject, body.form, visit=body.visit,
                                  instance=body.instance, field_id=body.field)
    return _json({"subject": body.subject.strip().upper(), "form": body.form, "verified": marked})


@router.post("/sign", operation_id="sign", status_code=201,
             summary="Sign a form, or a patient's casebook, electronically (the password entered again)",
             description=BODY_RULES + " The password is asked at every signature, also of a script signed in with "
                                      "an API token: a token alone never signs (21 CFR 11.200(a)).",
             response_model=SignatureOut, responses=CHANGE_ERRORS)
def sign(body: SignatureIn, request: Request, user: SignedIn):
    study = study_of(request)
    number = review.sign(study, user.actor, body.subject, body.password, body.meaning, form_id=body.form,
                         visit=body.visit, instance=body.instance)
    shown = [s for s in review.signatures(study, user.actor, body.subject) if s.id == number][0]
    return _json(shown.as_dict(), 201)


@router.post("/lock", operation_id="lock", summary="Lock a form, a patient or the study",
             description=BODY_RULES, response_model=LockOut, responses=CHANGE_ERRORS)
def lock(body: LockIn, request: Request, user: SignedIn):
    what = review.lock(study_of(request), user.actor, subject_id=body.subject, form_id=body.form, visit=body.visit,
                       instance=body.instance, whole_study=body.study)
    return _json({"locked": what})


@router.post("/unlock", operation_id="unlock", summary="Lift a lock, with a reason",
             description=BODY_RULES, response_model=LockOut, responses=CHANGE_ERRORS)
def unlock(body: UnlockIn, request: Request, user: SignedIn):
    what = review.unlock(study_of(request), user.actor, body.reason, subject_id=body.subject, form_id=body.form,
                         visit=body.visit, instance=body.instance, whole_study=body.study)
    return _json({"unlocked": what})


@router.post("/patients", operation_id="patient_register", status_code=201,
             summary="Register a tumour-board referral (the patient gets a pseudonymised subject id)",
             description=BODY_RULES + " The answer is the new patient as `GET /patients/{subject}` gives it "
                                      "(identifiers are stored encrypted and never answered).",
             response_model=PatientOut, responses=CHANGE_ERRORS)
def patient_register(body: RegisterIn, request: Request, user: SignedIn):
    study = study_of(request)
    patient = pathway.register_patient(
        study, user.actor, identifiers=pathway.Identifiers(body.full_name, body.date_of_birth, body.hospital_number),
        sex=body.sex, referral=body.referral, site_code=body.site)
    return _json(shapes.patient_json(views.patient(study, user.actor, patient.subject_id)), 201)


@router.post("/patients/{subject}/screening", operation_id="patient_screen", status_code=201,
             summary="Screen a patient: each eligibility criterion decided with its reason (patient screen --json)",
             description=BODY_RULES, response_model=ScreeningOut, responses=CHANGE_ERRORS)
def patient_screen(subject: str, body: ScreenIn, request: Request, user: SignedIn):
    row = pathway.screen(study_of(request), user.actor, subject, body.values)
    return _json(shapes.screening_json(subject, row), 201)


@router.post("/patients/{subject}/enrolment", operation_id="patient_enrol", status_code=201,
             summary="Enrol an eligible patient", description=BODY_RULES + " The answer is the patient as "
             "`GET /patients/{subject}` gives it.", response_model=PatientOut, responses=CHANGE_ERRORS)
def patient_enrol(subject: str, body: EnrolIn, request: Request, user: SignedIn):
    study = study_of(request)
    pathway.enrol(study, user.actor, subject, body.enrolment_date)
    return _json(shapes.patient_json(views.patient(study, user.actor, subject)), 201)
