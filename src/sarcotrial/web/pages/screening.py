"""Pages: the way into the trial — the screening log, registering a referral, a patient's screening
(the protocol's eligibility checklist with each criterion's verdict and reason), consent and enrolment.

Every form, field, code and criterion comes from the protocol (``study.protocol``); the services
decide and write (``services.pathway`` and, for the consent form, ``services.forms.record``), and
authorise the user inside their unit of work. A refused value comes back beside its field with what
was typed, status 422, nothing written. No identifier is shown here: the pages are pseudonymised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from sarcotrial.errors import InvalidValue, date_rule
from sarcotrial.protocol.schema import Form
from sarcotrial.services import access, pathway
from sarcotrial.services import forms as records
from sarcotrial.web.deps import SignedIn, WebUser, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

#: how the pathway's statuses read in the log (any other status is shown as it is, underscores as spaces)
STATUS_LABELS = {"referred": "Referred", "screening": "Screening not evaluable", "eligible": "Eligible",
                 "screen_failed": "Not eligible", "enrolled": "Enrolled"}
STATUS_BADGES = {"referred": "info", "screening": "warn", "eligible": "ok", "screen_failed": "bad", "enrolled": "ok"}
DECISION_LABELS = {"eligible": "Eligible", "ineligible": "Not eligible", "not_evaluable": "Not evaluable"}
DECISION_BADGES = {"eligible": "ok", "ineligible": "bad", "not_evaluable": "warn"}
RESULT_LABELS = {"met": "met", "not_met": "not met", "not_evaluable": "unknown"}
#: the identifiers asked at registration (encrypted by the services), beside the referral form's fields
IDENTIFIER_FIELDS = ("full_name", "date_of_birth", "hospital_number", "sex", "site")
DONE = {"registered": "The referral is registered.", "screened": "The screening is recorded.",
        "consent": "The consent is recorded."}


# --------------------------------------------------------------------------- fields rendered from the protocol
@dataclass
class Widget:
    """One input as a template renders it: name, label, kind, choices, the value typed, its error."""

    name: str
    label: str
    kind: str  # text, number, decimal, date, datetime, boolean, choice
    required: bool = False
    unit: str | None = None
    help: str | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    value: str = ""
    error: str | None = None


def _text(value: Any) -> str:
    """A stored or typed value as an input shows it."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def protocol_widgets(study, form: Form, typed: Mapping[str, Any], errors: Mapping[str, str]) -> list[Widget]:
    """The inputs of a protocol form: labels, units, help and code lists as the protocol gives them."""
    kinds = {"integer": "number", "decimal": "decimal", "text": "text", "date": "date", "datetime": "datetime",
             "boolean": "boolean", "code": "choice"}
    out = []
    for f in form.fields:
        choices = [(c.code, c.label) for c in study.protocol.codelists[f.codelist]] if f.type == "code" else []
        if f.type == "boolean":
            choices = [("true", "Yes"), ("false", "No")]
        out.append(Widget(f.id, f.label, kinds[f.type], f.required, f.unit, f.help, choices,
                          _text(typed.get(f.id)), errors.get(f.id)))
    return out


def _rule(exc: InvalidValue) -> str:
    """The refusal without the technical field name in front (the label beside it names the field)."""
    return str(exc).removeprefix(f"{exc.field}: ")


def _place_error(exc: InvalidValue, form_id: str | None, names: set[str]) -> str | None:
    """The input a service's refusal belongs beside (``referral.referral_date`` -> ``referral_date``), else None."""
    name = exc.field
    if form_id and name.startswith(form_id + "."):
        name = name[len(form_id) + 1:]
    return name if name in names else None


def _values(form_data, form: Form) -> dict[str, str]:
    """The protocol form's fields as posted (only its own fields; an empty input is an absent answer)."""
    return {f.id: str(form_data.get(f.id, "")).strip() for f in form.fields if f.id in form_data}


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidValue(name, date_rule(text), text) from None


def _not_found(exc: InvalidValue) -> None:
    if exc.field == "patient" and "no such subject" in exc.rule:
        raise HTTPException(404, "no such subject id in this study (or not a patient of your sites)") from None


# --------------------------------------------------------------------------- the screening log
@router.get("/screening")
def screening_log(request: Request, user: SignedIn, status: str = "", site: str = ""):
    study = study_of(request)
    rows = pathway.screening_log(study, user.actor, status=status or None, site=site or None)
    sites = [s for s in access.list_sites(study, user.actor) if not user.sites or s.code in user.sites]
    statuses = list(pathway.PATHWAY_STATUSES) + ([status] if status and status not in pathway.PATHWAY_STATUSES else [])
    return render(request, "screening/log.html", title="Screening log", rows=rows, sites=sites,
                  statuses=[(s, STATUS_LABELS.get(s, s.replace("_", " "))) for s in statuses],
                  status=status, site=site, labels=_labels())


def _labels() -> dict[str, Any]:
    return {"status": STATUS_LABELS, "status_badge": STATUS_BADGES, "decision": DECISION_LABELS,
            "decision_badge": DECISION_BADGES, "result": RESULT_LABELS}


# --------------------------------------------------------------------------- registering a referral
def _register_page(request: Request, user: WebUser, typed: Mapping[str, str], errors: Mapping[str, str],
                   general: str | None = None, status_code: int = 200):
    study = study_of(request)
    sites = [s for s in access.list_sites(study, user.actor) if not user.sites or s.code in user.sites]
    referral = study.protocol.form("referral")
    identifiers = [
        Widget("full_name", "Full name", "text", True, value=typed.get("full_name", ""), error=errors.get("full_name"),
               help="Encrypted at rest; shown only to the roles allowed to read identifiers."),
        Widget("date_of_birth", "Date of birth", "date", True, value=typed.get("date_of_birth", ""),
               error=errors.get("date_of_birth")),
        Widget("hospital_number", "Hospital number", "text", True, value=typed.get("hospital_number", ""),
               error=errors.get("hospital_number")),
        Widget("sex", "Sex", "choice", True, choices=[(s, s.capitalize()) for s in pathway.SEXES],
               value=typed.get("sex", ""), error=errors.get("sex")),
        Widget("site", "Study site", "choice", True, choices=[(s.code, f"{s.code} · {s.name}") for s in sites],
               value=typed.get("site", "") or (sites[0].code if len(sites) == 1 else ""), error=errors.get("site")),
    ]
    return render(request, "screening/register.html", status_code=status_code, title="Register a referral",
                  identifiers=identifiers, referral=protocol_widgets(study, referral, typed, errors),
                  referral_form=referral, general=general, errors=errors)


@router.get("/screening/new")
def register_form(request: Request, user: SignedIn):
    return _register_page(request, user, {}, {})


@router.post("/screening/new")
async def register(request: Request, user: SignedIn):
    form_data = await request.form()
    return await run_in_threadpool(_register, request, user, form_data)


def _register(request: Request, user: WebUser, form_data):
    study = study_of(request)
    referral_form = study.protocol.form("referral")
    typed = {name: str(form_data.get(name, "")).strip() for name in IDENTIFIER_FIELDS}
    referral = _values(form_data, referral_form)
    typed.update(referral)
    names = set(IDENTIFIER_FIELDS) | {f.id for f in referral_form.fields}
    errors: dict[str, str] = {}
    birth = None
    if user.may("patient.register"):  # every problem at once; the service checks again (and authorises)
        for name, label in (("full_name", "full name"), ("hospital_number", "hospital number"), ("sex", "sex"),
                            ("site", "site"), ("date_of_birth", "date of birth")):
            if not typed[name]:
                errors[name] = f"is required (the {label})"
        if typed["date_of_birth"]:
            try:
                birth = _date(typed["date_of_birth"], "date_of_birth")
            except InvalidValue as exc:
                errors["date_of_birth"] = _rule(exc)
        errors.update({k: _rule(v) for k, v in pathway.form_problems(study, "referral", referral, partial=False).items()})
        if errors:
            return _register_page(request, user, typed, errors, status_code=422)
    try:
        if birth is None:
            birth = _date(typed["date_of_birth"], "date_of_birth")
        patient = pathway.register_patient(
            study, user.actor, identifiers=pathway.Identifiers(typed["full_name"], birth, typed["hospital_number"]),
            sex=typed["sex"], referral=referral, site_code=typed["site"] or "")
    except InvalidValue as exc:
        place = _place_error(exc, "referral", names)
        if place is None:
            return _register_page(request, user, typed, {}, general=str(exc), status_code=422)
        return _register_page(request, user, typed, {place: _rule(exc)}, status_code=422)
    return RedirectResponse(f"/screening/{quote(patient.subject_id)}?done=registered", status_code=303)


# --------------------------------------------------------------------------- a patient's screening
def _file(request: Request, user: WebUser, subject: str) -> pathway.ScreeningFile:
    try:
        return pathway.screening_file(study_of(request), user.actor, subject)
    except InvalidValue as exc:
        _not_found(exc)
        raise


def _screening_page(request: Request, user: WebUser, subject: str, *, status_code: int = 200,
                    screen_typed: Mapping[str, Any] | None = None, screen_errors: Mapping[str, str] | None = None,
                    screen_general: str | None = None, consent_typed: Mapping[str, Any] | None = None,
                    consent_errors: Mapping[str, str] | None = None, consent_general: str | None = None,
                    enrol_typed: str | None = None, enrol_error: str | None = None, enrol_general: str | None = None):
    study = study_of(request)
    protocol = study.protocol
    record = _file(request, user, subject)
    screening_form = protocol.form(protocol.eligibility.form)
    criteria = protocol.eligibility.criteria
    last = record.last
    verdicts = {c.id: c for c in last.criteria} if last else {}
    checklist = [{"id": c.id, "kind": c.kind, "text": c.text, "verdict": verdicts.get(c.id)} for c in criteria]
    spec = protocol.consent
    consent_widgets = None
    if spec is not None:
        typed = dict(consent_typed) if consent_typed is not None else {spec.version_field: spec.current_version}
        consent_widgets = protocol_widgets(study, protocol.form(spec.form), typed, consent_errors or {})
    referral_form = protocol.form("referral")
    referral = [(f.label, _shown(study, f, record.referral.get(f.id))) for f in referral_form.fields
                if record.referral.get(f.id) is not None]
    done = DONE.get(request.query_params.get("done", ""))
    return render(
        request, "screening/patient.html", status_code=status_code, title=f"Screening {record.subject_id}",
        record=record, checklist=checklist, last=last, earlier=record.screenings[1:],
        screening_form=screening_form,
        screen_widgets=protocol_widgets(study, screening_form, screen_typed or {}, screen_errors or {}),
        screen_general=screen_general, screen_errors=screen_errors or {},
        consent_spec=spec, consent_form=protocol.form(spec.form) if spec else None, consent_widgets=consent_widgets,
        consent_general=consent_general, consent_errors=consent_errors or {},
        consents=[_consent_row(study, spec, c) for c in record.consents] if spec else [],
        enrol_value=enrol_typed if enrol_typed is not None else dt.date.today().isoformat(),
        enrol_error=enrol_error, enrol_general=enrol_general, referral=referral, done=done, labels=_labels(),
        field_labels={f.id: f.label for f in screening_form.fields})


def _shown(study, f, value: Any) -> str:
    """A stored value as a person reads it: a code's label, yes/no, the unit."""
    if value is None:
        return ""
    if f.type == "code":
        label = next((c.label for c in study.protocol.codelists[f.codelist] if c.code == value), None)
        return f"{label} ({value})" if label else str(value)
    if f.type == "boolean":
        return "yes" if value else "no"
    return _text(value) + (f" {f.unit}" if f.unit else "")


def _consent_row(study, spec, values: Mapping[str, Any]) -> dict[str, Any]:
    form = study.protocol.form(spec.form)
    version = values.get(spec.version_field)
    return {"date": values.get(spec.date_field), "version": version,
            "current": version == spec.current_version,
            "fields": [(f.label, _shown(study, f, values.get(f.id))) for f in form.fields
                       if f.id not in (spec.date_field, spec.version_field) and values.get(f.id) is not None]}


@router.get("/screening/{subject}")
def screening_page(request: Request, user: SignedIn, subject: str):
    return _screening_page(request, user, subject)


@router.post("/screening/{subject}")
async def screen(request: Request, user: SignedIn, subject: str):
    form_data = await request.form()
    return await run_in_threadpool(_screen, request, user, subject, form_data)


def _screen(request: Request, user: WebUser, subject: str, form_data):
    study = study_of(request)
    form_id = study.protocol.eligibility.form
    form = study.protocol.form(form_id)
    values = _values(form_data, form)
    if user.may("patient.screen"):
        _file(request, user, subject)  # an unknown subject is a 404, whatever was typed
        problems = pathway.form_problems(study, form_id, values)
        if problems:
            return _screening_page(request, user, subject, status_code=422, screen_typed=values,
                                   screen_errors={k: _rule(v) for k, v in problems.items()})
    try:
        pathway.screen(study, user.actor, subject, values)
    except InvalidValue as exc:
        _not_found(exc)
        place = _place_error(exc, form_id, {f.id for f in form.fields})
        return _screening_page(request, user, subject, status_code=422, screen_typed=values,
                               screen_errors={place: _rule(exc)} if place else {},
                               screen_general=None if place else str(exc))
    return RedirectResponse(f"/screening/{quote(subject.strip().upper())}?done=screened#checklist", status_code=303)


# --------------------------------------------------------------------------- consent and enrolment
@router.post("/screening/{subject}/consent")
async def consent(request: Request, user: SignedIn, subject: str):
    form_data = await request.form()
    return await run_in_threadpool(_consent, request, user, subject, form_data)


def _consent(request: Request, user: WebUser, subject: str, form_data):
    study = study_of(request)
    spec = study.protocol.consent
    if spec is None:
        raise HTTPException(404, f"protocol {study.protocol.acronym} records no consent form of its own")
    form = study.protocol.form(spec.form)
    values = _values(form_data, form)
    if user.may("consent"):
        _file(request, user, subject)
        problems = pathway.form_problems(study, spec.form, values, partial=False)
        if problems:
            return _screening_page(request, user, subject, status_code=422, consent_typed=values,
                                   consent_errors={k: _rule(v) for k, v in problems.items()})
    try:
        records.record(study, user.actor, subject, spec.form, {k: v for k, v in values.items() if v != ""})
    except InvalidValue as exc:
        _not_found(exc)
        place = _place_error(exc, spec.form, {f.id for f in form.fields})
        return _screening_page(request, user, subject, status_code=422, consent_typed=values,
                               consent_errors={place: _rule(exc)} if place else {},
                               consent_general=None if place else str(exc))
    return RedirectResponse(f"/screening/{quote(subject.strip().upper())}?done=consent#consent", status_code=303)


@router.post("/screening/{subject}/enrol")
async def enrol(request: Request, user: SignedIn, subject: str):
    form_data = await request.form()
    return await run_in_threadpool(_enrol, request, user, subject, str(form_data.get("enrolment_date", "")).strip())


def _enrol(request: Request, user: WebUser, subject: str, typed: str):
    study = study_of(request)
    try:
        if not typed:
            raise InvalidValue("enrolment_date", "is required (the date of enrolment)", show_value=False)
        day = _date(typed, "enrolment_date")
        pathway.enrol(study, user.actor, subject, day)
    except InvalidValue as exc:
        _not_found(exc)
        if exc.field == "enrolment_date":
            return _screening_page(request, user, subject, status_code=422, enrol_typed=typed, enrol_error=_rule(exc))
        return _screening_page(request, user, subject, status_code=422, enrol_typed=typed, enrol_general=str(exc))
    return RedirectResponse(f"/patients/{quote(subject.strip().upper())}", status_code=303)
