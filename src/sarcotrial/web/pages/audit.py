"""Pages: the audit trail, study-wide or of one record, filtered, paged, and as CSV.

``GET /audit?user=&subject=&form=&since=&until=&page=`` lists the entries newest first;
``GET /audit.csv`` with the same filters downloads every matching entry; ``?subject=S&form=F`` is
the trail of one patient's form that other pages link to. ``GET /audit/verify`` is the hash
chain's check, loaded into the page for admins and data managers. The services decide who may read
(``audit.read``) and which sites' entries a user sees.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from sarcotrial.errors import InvalidValue
from sarcotrial.services import audit_trail
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)
#: the filter's ``user`` parameter (the route's ``user`` is the signed-in person)
Who = Annotated[str | None, Query(alias="user")]


def _typed(user: str | None, subject: str | None, form: str | None, since: str | None, until: str | None) -> dict:
    return {"user": user or "", "subject": subject or "", "form": form or "", "since": since or "",
            "until": until or ""}


@router.get("/audit")
def audit(request: Request, user: SignedIn, who: Who = None, subject: str | None = None,
          form: str | None = None, since: str | None = None, until: str | None = None, page: int = 1):
    study = study_of(request)
    typed = _typed(who, subject, form, since, until)
    actors = audit_trail.audit_actors(study, user.actor)  # refuses a role without audit.read (403)
    forms = [(f.id, f.name) for f in study.protocol.forms]
    common = {"title": "Audit trail", "typed": typed, "actors": actors, "forms": forms,
              "verify": audit_trail.may_verify(user.actor),
              "subject_prefix": study.protocol.identification.subject_id_prefix}
    try:
        wanted = audit_trail.AuditFilter.parse(study, user=who, subject=subject, form=form, since=since, until=until)
        result = audit_trail.audit_page(study, user.actor, wanted, page=page)
    except InvalidValue as exc:
        return render(request, "audit/trail.html", status_code=422, result=None, error=exc, links={}, **common)
    query = wanted.query()
    links = {"csv": "/audit.csv" + (f"?{urlencode(query)}" if query else "")}
    if result.page > 1:
        links["previous"] = "/audit?" + urlencode({**query, "page": result.page - 1})
        links["first"] = "/audit" + (f"?{urlencode(query)}" if query else "")
    if result.page < result.pages:
        links["next"] = "/audit?" + urlencode({**query, "page": result.page + 1})
        links["last"] = "/audit?" + urlencode({**query, "page": result.pages})
    return render(request, "audit/trail.html", result=result, error=None, links=links, filtered=bool(query), **common)


@router.get("/audit.csv")
def audit_csv(request: Request, user: SignedIn, who: Who = None, subject: str | None = None, form: str | None = None,
              since: str | None = None, until: str | None = None):
    study = study_of(request)
    wanted = audit_trail.AuditFilter.parse(study, user=who, subject=subject, form=form, since=since, until=until)  # InvalidValue: 422
    text = "".join(audit_trail.audit_csv(study, user.actor, wanted))
    name = "audit-trail" + "".join(f"-{v}" for v in wanted.query().values()) + ".csv"
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/audit/verify")
def audit_verify(request: Request, user: SignedIn):
    report = audit_trail.audit_integrity(study_of(request), user.actor)
    return render(request, "audit/_verify.html", title="Audit trail check", report=report)
