"""Pages: second opinions entered in the browser: a new request with its documents
(``/board/second-opinions/new``), one request with its documents and review (``/board/second-opinions/{id}``),
and on that page the forms that attach more documents and record (or change) the review.

Every rule is the services' (:mod:`sarcotrial.services.second_opinion`): the kinds and outcomes, the
documents accepted (recognised by their first bytes, no larger than the ``upload_limit_mb`` setting, all
or none stored), the revised WHO 2020 histotype and its FNCLCC grade, the reason asked to change a review,
and who may do what. This module reads the form, calls them, and lays out what they return; a refusal is
shown beside its field with what was typed kept, and a refused permission is the application's 403 page.

A request and its documents are stored together (``new_request`` with ``documents``): a refused field or
document leaves nothing written, and the refusal is shown beside its field. A document is opened from the
request's page (``/board/second-opinions/{id}/documents/{doc}``: sent as an attachment, never cached, with
the recorded SHA-256 in a header; one whose bytes no longer match is refused rather than served).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from sarcotrial.domain import board as board_rules
from sarcotrial.errors import InvalidValue, date_rule
from sarcotrial.services import registry
from sarcotrial.services import second_opinion as opinions
from sarcotrial.web.deps import SignedIn, WebUser, optional_int, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

KIND_LABELS = {"pathology": "Pathology (review of the diagnosis)", "imaging": "Imaging (second reading)"}
OUTCOME_LABELS = {"confirmed": "confirmed", "revised": "revised", "not_assessable": "not assessable"}
#: the types the service recognises, offered by the file chooser (a hint only: the service reads the bytes)
ACCEPT = ".pdf,.png,.jpg,.jpeg,.tif,.tiff,.dcm,application/pdf,image/png,image/jpeg,image/tiff,application/dicom"
DONE = {"registered": "The request is registered.", "documents": "The documents are attached.",
        "reviewed": "The review is recorded.", "changed": "The review is changed; the reason is in the audit trail."}

#: where each refusal of the services is shown: the service's field name -> the form's field
NEW_FIELDS = {"patient": "subject_id", "subject_id": "subject_id", "kind": "kind",
              "referring_centre": "referring_centre", "received_date": "received_date", "question": "question",
              "document": "documents", "filename": "documents"}
ATTACH_FIELDS = {"document": "documents", "filename": "documents"}
REVIEW_FIELDS = {"review": "text", "outcome": "outcome", "histotype": "revised_histotype",
                 "revised_histotype": "revised_histotype", "grade": "grade", "reviewer": "reviewer",
                 "report_date": "report_date", "reason": "reason"}

#: the files chosen; a file input left empty arrives as an empty text part, hence ``str``
Uploads = Annotated[list[UploadFile | str] | None, File()]


def _rule(exc: InvalidValue) -> str:
    return str(exc).removeprefix(f"{exc.field}: ")


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        raise InvalidValue(name, date_rule(text) if (text or "").strip() else "is required",
                           text if (text or "").strip() else None) from None


def _documents(uploads: list[UploadFile | str] | None) -> list[tuple[str, bytes]]:
    """The files chosen, each as (name, bytes); the empty part a browser sends when none is chosen is skipped."""
    out = []
    for upload in uploads or []:
        if isinstance(upload, str):
            if upload:
                raise InvalidValue("document", "must be a file chosen in the form, not text", show_value=False)
            continue
        content = upload.file.read()
        if not (upload.filename or "").strip() and not content:
            continue
        out.append((upload.filename or "", content))
    return out


def _limit_mb(request: Request) -> int:
    """The largest document accepted (the installation setting ``upload_limit_mb``), for the form's help."""
    from sarcotrial.services import access

    return access.setting(study_of(request), "upload_limit_mb")


def _catalogue() -> list[tuple[str, list[Any]]]:
    """The WHO 2020 catalogue for the revised histotype's list, by family, in chapter order."""
    from sarcotrial.domain.histology import histotypes

    families: dict[str, list[Any]] = {}
    for entity in histotypes():
        families.setdefault(entity.family, []).append(entity)
    return list(families.items())


# --------------------------------------------------------------------------- a new request
def _new_page(request: Request, user: WebUser, *, typed: dict[str, str] | None = None,
              errors: dict[str, str] | None = None, general: str | None = None, status_code: int = 200):
    return render(request, "board/second_opinion_new.html", status_code=status_code,
                  title="New second-opinion request",
                  kinds=[(k, KIND_LABELS.get(k, k)) for k in board_rules.OPINION_KINDS],
                  typed=typed or {"received_date": dt.date.today().isoformat()}, errors=errors or {},
                  general=general, accept=ACCEPT, limit_mb=_limit_mb(request))


@router.get("/board/second-opinions/new")
def new_request_form(request: Request, user: SignedIn, subject: str = ""):
    typed = {"received_date": dt.date.today().isoformat()}
    if subject.strip():
        typed["subject_id"] = subject.strip().upper()
    return _new_page(request, user, typed=typed)


@router.post("/board/second-opinions")
def register_request(request: Request, user: SignedIn, subject_id: Annotated[str, Form()] = "",
                     kind: Annotated[str, Form()] = "", referring_centre: Annotated[str, Form()] = "",
                     received_date: Annotated[str, Form()] = "", question: Annotated[str, Form()] = "",
                     documents: Uploads = None):
    study = study_of(request)
    typed = {"subject_id": subject_id, "kind": kind, "referring_centre": referring_centre,
             "received_date": received_date, "question": question}
    try:
        files = _documents(documents)
        if not subject_id.strip():
            raise InvalidValue("subject_id", "is required (the patient's subject id)", show_value=False)
        day = _date(received_date, "received_date")
        opinion_id = opinions.new_request(study, user.actor, subject_id, kind=kind, referring_centre=referring_centre,
                                          received_date=day, question=question, documents=files)
    except InvalidValue as exc:
        place = NEW_FIELDS.get(exc.field)
        return _new_page(request, user, typed=typed, errors={place: _rule(exc)} if place else {},
                         general=None if place else str(exc), status_code=422)
    return RedirectResponse(f"/board/second-opinions/{opinion_id}?done=registered", status_code=303)


# --------------------------------------------------------------------------- one request
def _view(request: Request, user: WebUser, opinion_id: int) -> opinions.OpinionView:
    """The request; an unknown request, or one of another site's, is a 404."""
    try:
        return opinions.opinion(study_of(request), user.actor, opinion_id)
    except InvalidValue as exc:
        if exc.field == "second_opinion":
            raise HTTPException(404, f"{exc.field}: {exc.rule}") from None
        raise


def _review_typed(view: opinions.OpinionView, user: WebUser) -> dict[str, str]:
    """The review form filled with the review recorded (to change it), else with the reviewer and today."""
    if view.outcome is None:
        return {"reviewer": user.full_name, "report_date": dt.date.today().isoformat()}
    return {"text": view.review or "", "outcome": view.outcome, "revised_histotype": view.revised_histotype or "",
            "grade": str(view.revised_grade) if view.revised_grade is not None else "", "reviewer": view.reviewer or "",
            "report_date": view.report_date.isoformat() if view.report_date else ""}


def _opinion_page(request: Request, user: WebUser, opinion_id: int, *,
                  typed: dict[str, dict[str, str]] | None = None, errors: dict[str, dict[str, str]] | None = None,
                  general: dict[str, str] | None = None, status_code: int = 200):
    view = _view(request, user, opinion_id)
    typed = dict(typed or {})
    typed.setdefault("review", _review_typed(view, user))
    return render(request, "board/second_opinion.html", status_code=status_code,
                  title=f"Second opinion #{view.id}", o=view, done=DONE.get(request.query_params.get("done", "")),
                  typed=typed, errors=errors or {}, general=general or {},
                  kind_label=KIND_LABELS.get(view.kind, view.kind), outcomes=list(OUTCOME_LABELS.items()),
                  grades=[(str(g), f"grade {g}") for g in board_rules.FNCLCC_GRADES],
                  catalogue=_catalogue() if view.kind == "pathology" else [],
                  histotype_name=registry.histotype_name(view.revised_histotype), accept=ACCEPT, limit_mb=_limit_mb(request),
                  may_review=user.may(f"second_opinion.{view.kind}"), may_attach=user.may("second_opinion.request"))


@router.get("/board/second-opinions/{opinion_id:int}")
def opinion_page(request: Request, user: SignedIn, opinion_id: int):
    return _opinion_page(request, user, opinion_id)


def _refused(request: Request, user: WebUser, opinion_id: int, key: str, typed: dict[str, str],
             fields: dict[str, str], exc: InvalidValue):
    """A refusal beside its field of the form ``key`` (422), what was typed kept; an unknown request is a 404."""
    if exc.field == "second_opinion" and exc.rule.startswith("no such"):
        raise HTTPException(404, f"{exc.field}: {exc.rule}") from None
    place = fields.get(exc.field)
    return _opinion_page(request, user, opinion_id, typed={key: typed},
                         errors={key: {place: _rule(exc)}} if place else {},
                         general={} if place else {key: str(exc)}, status_code=422)


@router.get("/board/second-opinions/{opinion_id:int}/documents/{document_id:int}")
def download_document(request: Request, user: SignedIn, opinion_id: int, document_id: int):
    """A document's bytes, as a download (never shown inline, never cached); a document whose bytes no longer
    match its recorded SHA-256 is refused (409), not served as if it were the one received."""
    try:
        info, content = opinions.document_content(study_of(request), user.actor, opinion_id, document_id)
    except InvalidValue as exc:
        if exc.field in ("second_opinion", "document"):
            raise HTTPException(404, f"{exc.field}: {exc.rule}") from None
        raise
    if not info.intact:
        raise HTTPException(409, f"document: {info.filename} no longer matches the SHA-256 recorded when it was "
                                 "attached; it is not served")
    safe = "".join(c if c.isalnum() or c in "._- " else "_" for c in info.filename).strip() or f"document-{info.id}"
    return Response(content, media_type=info.media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(info.filename)}",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Document-SHA256": info.sha256})


@router.post("/board/second-opinions/{opinion_id:int}/documents")
def attach_documents(request: Request, user: SignedIn, opinion_id: int, documents: Uploads = None):
    try:
        opinions.attach_documents(study_of(request), user.actor, opinion_id, _documents(documents))
    except InvalidValue as exc:
        return _refused(request, user, opinion_id, "attach", {}, ATTACH_FIELDS, exc)
    return RedirectResponse(f"/board/second-opinions/{opinion_id}?done=documents#documents", status_code=303)


@router.post("/board/second-opinions/{opinion_id:int}/review")
def record_review(request: Request, user: SignedIn, opinion_id: int, text: Annotated[str, Form()] = "",
                  outcome: Annotated[str, Form()] = "", revised_histotype: Annotated[str, Form()] = "",
                  grade: Annotated[str, Form()] = "", reviewer: Annotated[str, Form()] = "",
                  report_date: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = ""):
    typed = {"text": text, "outcome": outcome, "revised_histotype": revised_histotype, "grade": grade,
             "reviewer": reviewer, "report_date": report_date, "reason": reason}
    changing = _view(request, user, opinion_id).outcome is not None  # for the message only: the service decides
    try:
        if not outcome.strip():
            raise InvalidValue("outcome", f"is required (one of {', '.join(OUTCOME_LABELS.values())})",
                               show_value=False)
        day = _date(report_date, "report_date")
        number = optional_int(grade, "grade")
        opinions.review(study_of(request), user.actor, opinion_id, text=text, outcome=outcome, reviewer=reviewer,
                        report_date=day, revised_histotype=revised_histotype or None, grade=number,
                        reason=reason or None)
    except InvalidValue as exc:
        return _refused(request, user, opinion_id, "review", typed, REVIEW_FIELDS, exc)
    return RedirectResponse(f"/board/second-opinions/{opinion_id}?done={'changed' if changing else 'reviewed'}#review",
                            status_code=303)
