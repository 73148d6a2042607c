"""Rendering pages: one Jinja2 environment (autoescaped), the layout's context, the error page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from sarcotrial import __version__

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

#: the navigation: (path, label, permission needed to see the entry or None)
NAV = (
    ("/", "Dashboard", None),
    ("/grid", "Record status", None),
    ("/patients", "Patients", None),
    ("/screening", "Screening", "patient.screen"),
    ("/queries", "Queries", None),
    ("/review", "Locks & signatures", None),
    ("/safety", "Adverse events", None),
    ("/audit", "Audit trail", "audit.read"),
    ("/report", "Report", "report"),
    ("/exports", "Exports", "export"),
    ("/admin", "Administration", None),
)


def _date(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


templates.env.filters["date"] = _date
templates.env.globals["version"] = __version__


def context(request: Request, **values: Any) -> dict[str, Any]:
    user = getattr(request.state, "user", None)
    from sarcotrial.web.deps import study_of

    study = study_of(request)
    nav = [(path, label) for path, label, permission in NAV
           if user is not None and (permission is None or user.may(permission))]
    delegated = user.actor.studies if user is not None else None
    studies = [i.acronym for i in study.studies() if not delegated or i.acronym in delegated] if user is not None else []
    return {"request": request, "user": user, "csrf_token": user.csrf_token if user else "",
            "study_acronym": study.protocol.acronym, "protocol_version": study.protocol_version,
            "studies": studies if len(studies) > 1 else [],
            "subject_prefix": study.protocol.identification.subject_id_prefix,
            "synthetic": study.synthetic, "nav": nav, "path": request.url.path, **values}


def render(request: Request, template: str, status_code: int = 200, **values: Any):
    """A page (or an htmx fragment) rendered with the layout's context."""
    return templates.TemplateResponse(request, template, context(request, **values), status_code=status_code)


def render_error(scope, status: int, title: str, message: str, reference: str | None = None):
    request = Request(scope)
    if not hasattr(request.state, "user"):
        request.state.user = None
    return render(request, "error.html", status_code=status, status=status, title=title, message=message,
                  reference=reference)


def csrf_input(request: Request) -> Markup:
    user = getattr(request.state, "user", None)
    token = user.csrf_token if user is not None and user.csrf_token else ""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(token)
