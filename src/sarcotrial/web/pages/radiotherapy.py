"""Pages: a patient's radiotherapy course and the plan QA of its DICOM-RT plan.

- ``GET /patients/{subject}/rt``: the course (the protocol's prescription, the planned start),
  a month calendar of the planned fractions with the public holidays of the course's calendar,
  the fractions recorded (delivered, missed, rescheduled), the delivery log, the overall
  treatment time and the deviations; the stored plan QA verdicts.
- ``POST /patients/{subject}/rt/course`` and ``POST /patients/{subject}/rt/fractions``: the
  protocol's course and fraction forms, recorded through ``services.forms.record``.
- ``GET|POST /patients/{subject}/rt/plan-qa``: upload an RT structure set, an RT dose and an RT
  plan (and an alias table); the plan is judged against the protocol's objectives and, for those
  allowed, stored on the course once.
- ``GET /patients/{subject}/rt/plan-qa/{qa_id}`` (and ``/dvh.png``): a stored verdict.

Uploaded files are written to a temporary folder for the readers and removed after.
"""

from __future__ import annotations

from sarcotrial.radiotherapy import planqa as planqa_units  # the unit words of plan QA's metrics

import base64
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sarcotrial.errors import InvalidValue, SarcoTrialError
from sarcotrial.services import forms as form_service
from sarcotrial.services import planqa as planqa_service
from sarcotrial.services import radiotherapy as rt_service
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

#: the upload form's file fields: (name, label, required)
UPLOADS = (("rtstruct", "RT structure set (RTSTRUCT)", True), ("rtdose", "RT dose (RTDOSE)", True),
           ("rtplan", "RT plan (RTPLAN)", False), ("aliases", "Structure aliases (YAML)", False))
END_CAPS = (("none", "none: structures end at their first and last contour planes"),
            ("half-slice", "half-slice: structures extend half a slice beyond them"))


def _rt_url(subject: str) -> str:
    return f"/patients/{quote(subject.upper())}/rt"


def _field_of(exc: InvalidValue, form_id: str) -> str | None:
    """The form field an error belongs to (``rt_fraction.fraction_date`` -> ``fraction_date``)."""
    prefix = form_id + "."
    return exc.field[len(prefix):] if exc.field.startswith(prefix) else None


def _rule_text(exc: InvalidValue) -> str:
    """The message without the field's name in front (it is shown beside the field)."""
    text = str(exc)
    return text[len(exc.field) + 2:] if text.startswith(exc.field + ": ") else text


# --------------------------------------------------------------------------- the course page
def _no_such_patient(exc: InvalidValue) -> None:
    """An unknown subject id (or another site's) is a page that does not exist."""
    if exc.field == "patient" and "no such subject" in exc.rule:
        raise HTTPException(404, exc.rule) from None


def _course_page(request: Request, user, subject: str, status_code: int = 200, **extra: Any):
    study = study_of(request)
    if study.protocol.treatment.radiotherapy is None:  # a protocol without a radiotherapy course of its own
        raise HTTPException(404, f"{study.protocol.acronym} has no radiotherapy course")
    try:
        view = rt_service.course_page(study, user.actor, subject)
    except InvalidValue as exc:
        _no_such_patient(exc)
        raise
    protocol = study.protocol
    values = {
        "view": view, "rt": protocol.treatment.radiotherapy,
        "course_form": protocol.form(view.course_form), "fraction_form": protocol.form(view.fraction_form),
        "codes": {f.id: protocol.codelists.get(f.codelist, []) for form in (view.course_form, view.fraction_form)
                  for f in protocol.form(form).fields if f.type == "code"},
        "fraction_values": {k: ("" if v is None else str(v)) for k, v in view.next_fraction.items()},
        "fraction_errors": {}, "course_values": {}, "course_errors": {}, "form_error": None, "course_error": None,
        "saved": request.query_params.get("saved"),
    }
    values.update(extra)
    return render(request, "radiotherapy/course.html", status_code=status_code,
                  title=f"{view.subject_id}: radiotherapy", **values)


@router.get("/patients/{subject}/rt")
def course(request: Request, subject: str, user: SignedIn):
    return _course_page(request, user, subject)


async def _submitted(request: Request, form_id: str) -> dict[str, str]:
    data = await request.form()
    fields = study_of(request).protocol.form(form_id).fields
    return {f.id: str(data.get(f.id) or "").strip() for f in fields}


def _record(request: Request, user, subject: str, form_id: str, typed: dict[str, str], prefix: str):
    """Record one protocol form; on a broken rule the page again, the message beside its field (422)."""
    study = study_of(request)
    values = {k: v for k, v in typed.items() if v != ""}
    try:
        form_service.record(study, user.actor, subject, form_id, values)
    except InvalidValue as exc:
        _no_such_patient(exc)
        field = _field_of(exc, form_id)
        errors = {field: _rule_text(exc)} if field in typed else {}
        return _course_page(request, user, subject, status_code=422,
                            **{f"{prefix}_values": typed, f"{prefix}_errors": errors,
                               ("form_error" if prefix == "fraction" else "course_error"): None if errors else str(exc)})
    return RedirectResponse(f"{_rt_url(subject)}?saved={prefix}#{prefix}", status_code=303)


@router.post("/patients/{subject}/rt/course")
async def record_course(request: Request, subject: str, user: SignedIn):
    form_id = rt_service.COURSE_FORM
    typed = await _submitted(request, form_id)
    return await run_in_threadpool(_record, request, user, subject, form_id, typed, "course")


@router.post("/patients/{subject}/rt/fractions")
async def record_fraction(request: Request, subject: str, user: SignedIn):
    form_id = rt_service.FRACTION_FORM
    typed = await _submitted(request, form_id)
    return await run_in_threadpool(_record, request, user, subject, form_id, typed, "fraction")


# --------------------------------------------------------------------------- plan QA
def _upload_page(request: Request, user, subject: str, status_code: int = 200, **extra: Any):
    from sarcotrial.services import views

    try:
        record = views.patient(study_of(request), user.actor, subject)
    except InvalidValue as exc:
        _no_such_patient(exc)
        raise
    values = {"subject_id": record.subject_id, "uploads": UPLOADS, "end_caps": END_CAPS, "errors": {},
              "form_error": None, "end_cap": "none", "store_checked": True}
    values.update(extra)
    return render(request, "radiotherapy/planqa_upload.html", status_code=status_code,
                  title=f"{record.subject_id}: plan QA", **values)


@router.get("/patients/{subject}/rt/plan-qa")
def plan_qa_form(request: Request, subject: str, user: SignedIn):
    return _upload_page(request, user, subject)


_SAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def _safe_name(name: str | None, default: str) -> str:
    base = Path((name or "").replace("\\", "/")).name
    base = _SAFE.sub("_", base).strip(" .")[:100]
    return base or default


OptionalFile = Annotated[UploadFile | None, File()]


@router.post("/patients/{subject}/rt/plan-qa")
def plan_qa_upload(request: Request, subject: str, user: SignedIn,
                   rtstruct: OptionalFile = None, rtdose: OptionalFile = None, rtplan: OptionalFile = None,
                   aliases: OptionalFile = None, end_cap: Annotated[str, Form()] = "none",
                   store: Annotated[str | None, Form()] = None):
    study = study_of(request)
    given = {"rtstruct": rtstruct, "rtdose": rtdose, "rtplan": rtplan, "aliases": aliases}
    wants_store = store is not None and store != ""
    keep = {"end_cap": end_cap, "store_checked": wants_store}
    errors: dict[str, str] = {}
    for name, label, required in UPLOADS:
        upload = given[name]
        if required and (upload is None or not upload.filename):
            errors[name] = f"choose the {label} file"
    if end_cap not in dict(END_CAPS):
        errors["end_cap"] = f"must be one of {', '.join(dict(END_CAPS))}"
    if errors:
        return _upload_page(request, user, subject, status_code=422, errors=errors, **keep)
    folder = Path(tempfile.mkdtemp(prefix="sarcotrial-planqa-"))
    try:
        paths: dict[str, Path] = {}
        names: dict[str, str] = {}
        for name, _label, _required in UPLOADS:
            upload = given[name]
            if upload is None or not upload.filename:
                continue
            names[name] = _safe_name(upload.filename, f"{name}.dcm")
            target = folder / name / names[name]
            target.parent.mkdir()
            with target.open("wb") as out:
                shutil.copyfileobj(upload.file, out, 1024 * 1024)
            paths[name] = target
        try:
            result = planqa_service.evaluate_upload(
                study, user.actor, subject, rtstruct=paths["rtstruct"], rtdose=paths["rtdose"],
                rtplan=paths.get("rtplan"), aliases=paths.get("aliases"), end_cap=end_cap, store=wants_store,
                files=names)
        except SarcoTrialError as exc:
            from sarcotrial.errors import AccessDenied
            from sarcotrial.radiotherapy.dicomrt import RTFileError

            if isinstance(exc, AccessDenied):
                raise
            labels = {name: label for name, label, _ in UPLOADS}
            if isinstance(exc, RTFileError):
                field = exc.path.parent.name if exc.path.parent.parent == folder else None
                if field in labels:
                    errors[field] = f"{names[field]} {exc.problem}"
            elif isinstance(exc, InvalidValue) and exc.field in labels:
                errors[exc.field] = _rule_text(exc).replace(str(folder / exc.field) + "/", "")
            elif not isinstance(exc, InvalidValue) and str(exc).startswith(names["rtstruct"] + ": "):
                errors["rtstruct"] = str(exc)  # a protocol volume not found among the structures
            form_error = None if errors else str(exc).replace(str(folder), "")
            return _upload_page(request, user, subject, status_code=422, errors=errors, form_error=form_error,
                                **keep)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.stored_id is not None:
        note = "again" if result.already_stored else "1"
        return RedirectResponse(f"{_rt_url(result.subject_id)}/plan-qa/{result.stored_id}?stored={note}",
                                status_code=303)
    png = planqa_service.dvh_png(study, result.results)
    return _result_page(request, result.subject_id, result.results, result.verdict, stored=None,
                        evaluated_on=result.evaluated_on, image="data:image/png;base64," + base64.b64encode(png).decode())


def _result_page(request: Request, subject_id: str, results: dict, verdict: str, *, stored: dict | None,
                 evaluated_on, image: str, note: str | None = None):
    return render(request, "radiotherapy/planqa_result.html", title=f"{subject_id}: plan QA {verdict}",
                  subject_id=subject_id, results=results, verdict=verdict, stored=stored, evaluated_on=evaluated_on,
                  image=image, note=note, units=planqa_units.UNITS)




def _stored(request: Request, user, subject: str, qa_id: int) -> dict:
    try:
        return planqa_service.stored_plan_qa(study_of(request), user.actor, subject, qa_id)
    except InvalidValue as exc:
        _no_such_patient(exc)
        if exc.field == "plan_qa":
            raise HTTPException(404, str(exc)) from None
        raise


@router.get("/patients/{subject}/rt/plan-qa/{qa_id}")
def plan_qa_record(request: Request, subject: str, qa_id: int, user: SignedIn):
    record = _stored(request, user, subject, qa_id)
    flag = request.query_params.get("stored")
    note = {"1": "Stored on the radiotherapy course.",
            "again": "This result was already stored on the course (the same plan, dose and result): "
                     "it was not stored twice."}.get(flag or "")
    image = f"{_rt_url(record['subject_id'])}/plan-qa/{record['id']}/dvh.png" \
        if record["results"].get("dvh_curves") else None
    return _result_page(request, record["subject_id"], record["results"], record["verdict"], stored=record,
                        evaluated_on=record["evaluated_on"], image=image, note=note)


@router.get("/patients/{subject}/rt/plan-qa/{qa_id}/dvh.png")
def plan_qa_dvh(request: Request, subject: str, qa_id: int, user: SignedIn):
    study = study_of(request)
    record = _stored(request, user, subject, qa_id)
    return Response(planqa_service.dvh_png(study, record["results"]), media_type="image/png")
