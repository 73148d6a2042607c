"""Pages: the queries listing (filters, ageing) and the query actions (open, respond, close, reopen).

The actions are posted by the listing and by the query panel beside each field of the eCRF page;
each answers with a redirect to ``next`` (a local path), or, when the services refuse the input,
with a small page holding the message beside the text box and what was typed (422).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from sarcotrial.errors import InvalidValue
from sarcotrial.services import access, queries, review
from sarcotrial.web.deps import SignedIn, WebUser, study_of, optional_int
from sarcotrial.web.pages.auth import safe_next
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

STATUS_CHOICES = ("all",) + queries.STATUSES
ORDER_LABELS = {"oldest": "open longest first", "newest": "newest first", "id": "by number"}


def field_link(q: queries.QueryView) -> str:
    """The field a query is about, on its form in the eCRF page."""
    params = {"visit": f"{q.visit_id}:{q.occurrence}", "instance": str(q.instance)}  # a repeating form's instance too
    return f"/patients/{q.subject}/forms/{q.form_id}?{urlencode(params)}#field-{q.field}"


def site_choices(request: Request, user: WebUser) -> list[str]:
    if user.sites:
        return list(user.sites)
    return [s.code for s in access.list_sites(study_of(request), user.actor)]


@router.get("/queries")
def listing(request: Request, user: SignedIn, status: str = "all", site: str = "", subject: str = "", form: str = "",
            age: str = "", opened_by: str = "", order: str = "oldest"):
    study = study_of(request)
    filters = {"status": status, "site": site, "subject": subject.strip(), "form": form, "age": age,
               "opened_by": opened_by.strip(), "order": order}
    error = None
    rows: list[queries.QueryRow] = []
    try:
        rows = queries.query_listing(study, user.actor, status=None if status in ("all", "") else status,
                                     site=site or None, subject_id=filters["subject"] or None, form_id=form or None,
                                     age=age or None, opened_by=filters["opened_by"] or None, order=order)
    except InvalidValue as exc:
        error = exc
    openers = sorted({r.query.opened_by for r in rows} | ({filters["opened_by"]} if filters["opened_by"] else set()))
    flipped = {**dict(request.query_params), "order": "newest" if order == "oldest" else "oldest"}
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(request, "queries/listing.html", status_code=422 if error else 200, title="Queries", rows=rows,
                  filters=filters, error=error, statuses=STATUS_CHOICES, sites=site_choices(request, user),
                  forms=study.protocol.forms, ages=queries.AGE_BUCKETS, orders=ORDER_LABELS, openers=openers,
                  resolutions=queries.RESOLUTIONS, field_link=field_link, here=here,
                  visit_label=queries.visit_label, age_sort_url=f"/queries?{urlencode(flipped)}")


def _refused(request: Request, exc: InvalidValue, *, action: str, heading: str, next: str, text: str,
             hidden: dict[str, str], resolution: str | None = None):
    """The small page of a refused query action: the message beside the box, the typed text kept."""
    return render(request, "queries/refused.html", status_code=422, title=heading, heading=heading, action=action,
                  error=exc, next=safe_next(next) if next else "/queries", text=text, hidden=hidden, resolution=resolution,
                  resolutions=queries.RESOLUTIONS)


def _done(next: str | None) -> RedirectResponse:
    target = safe_next(next) if next else "/queries"
    return RedirectResponse(target, status_code=303)




@router.post("/queries/open")
def open_query(request: Request, user: SignedIn, subject: Annotated[str, Form()] = "",
               form: Annotated[str, Form()] = "", field: Annotated[str, Form()] = "",
               visit: Annotated[str, Form()] = "", instance: Annotated[str, Form()] = "",
               record: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "",
               assign: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""):
    hidden = {"subject": subject, "form": form, "field": field, "visit": visit, "instance": instance,
              "record": record, "assign": assign}
    study = study_of(request)
    try:
        where_visit, where_instance = visit.strip() or None, optional_int(instance, "instance")
        record_id = optional_int(record, "record")
        if record_id is not None and where_visit is None:
            where_visit, where_instance = review.crf_place(study, user.actor, subject, form, record_id)
        queries.open_query(study, user.actor, subject, form, field, text, visit=where_visit,
                           instance=where_instance, assign=assign.strip() or None)
    except InvalidValue as exc:
        return _refused(request, exc, action="/queries/open", heading=f"Open a query on {form}.{field}",
                        next=next, text=text, hidden=hidden)
    return _done(next)


@router.post("/queries/{query_id}/respond")
def respond(request: Request, user: SignedIn, query_id: int, resolution: Annotated[str, Form()] = "",
            text: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""):
    try:
        queries.respond(study_of(request), user.actor, query_id, resolution, text)
    except InvalidValue as exc:
        return _refused(request, exc, action=f"/queries/{query_id}/respond", heading=f"Answer query #{query_id}",
                        next=next, text=text, hidden={}, resolution=resolution)
    return _done(next)


@router.post("/queries/{query_id}/close")
def close(request: Request, user: SignedIn, query_id: int, text: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = ""):
    try:
        queries.close(study_of(request), user.actor, query_id, text)
    except InvalidValue as exc:
        return _refused(request, exc, action=f"/queries/{query_id}/close", heading=f"Close query #{query_id}",
                        next=next, text=text, hidden={})
    return _done(next)


@router.post("/queries/{query_id}/reopen")
def reopen(request: Request, user: SignedIn, query_id: int, text: Annotated[str, Form()] = "",
           next: Annotated[str, Form()] = ""):
    try:
        queries.reopen(study_of(request), user.actor, query_id, text)
    except InvalidValue as exc:
        return _refused(request, exc, action=f"/queries/{query_id}/reopen", heading=f"Reopen query #{query_id}",
                        next=next, text=text, hidden={})
    return _done(next)
