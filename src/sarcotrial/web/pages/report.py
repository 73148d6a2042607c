"""Pages: the study report, built on request for the signed-in user's sites.

``GET /report`` asks for the data cut-off (optional); ``POST /report`` builds the report (the
figures, the PDF and the content, in a folder named by a random id that any worker finds, see
:mod:`sarcotrial.services.study_report`) and redirects to ``GET /report/{id}``, which lays the
report out with the application's stylesheet (figures as PNG served by
``GET /report/{id}/figures/{name}.png``); ``GET /report/{id}.pdf`` downloads the PDF. Permission
``report``, checked by the services.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.exceptions import HTTPException

from sarcotrial.errors import InvalidValue
from sarcotrial.services import study_report
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)


def _refuse_unknown(call, *args):
    try:
        return call(*args)
    except study_report.ReportNotFound as exc:
        raise HTTPException(404, str(exc.rule)) from None


@router.get("/report")
def report_form(request: Request, user: SignedIn):
    study_report.require(study_of(request), user.actor)  # a role without ``report``: 403
    return render(request, "report/form.html", title="Study report", cutoff="", error=None)


@router.post("/report")
def report_build(request: Request, user: SignedIn, cutoff: str = Form("")):
    study = study_of(request)
    typed = (cutoff or "").strip()
    try:
        date = None
        if typed:
            try:
                date = dt.date.fromisoformat(typed)
            except ValueError:
                raise InvalidValue("cutoff", "must be a date YYYY-MM-DD", typed) from None
        built = study_report.build(study, user.actor, date)
    except InvalidValue as exc:
        return render(request, "report/form.html", status_code=422, title="Study report", cutoff=typed, error=exc)
    return RedirectResponse(f"/report/{built.id}", status_code=303)


@router.get("/report/{report_id}.pdf")
def report_pdf(request: Request, user: SignedIn, report_id: str):
    path = _refuse_unknown(study_report.pdf_path, study_of(request), user.actor, report_id)
    acronym = study_of(request).protocol.acronym
    return FileResponse(path, media_type="application/pdf", filename=f"{acronym}-study-report.pdf")


@router.get("/report/{report_id}/figures/{name}.png")
def report_figure(request: Request, user: SignedIn, report_id: str, name: str):
    path = _refuse_unknown(study_report.figure_path, study_of(request), user.actor, report_id, name)
    return FileResponse(path, media_type="image/png")


@router.get("/report/{report_id}")
def report_view(request: Request, user: SignedIn, report_id: str):
    built = _refuse_unknown(study_report.load, study_of(request), user.actor, report_id)
    return render(request, "report/view.html", title=built.document["title"], report=built)
