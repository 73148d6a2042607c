"""Pages: review of collected data: source-data verification, electronic signatures, locks.

- ``POST /review/sdv``: a field, several fields, or every entered field of a form verified against
  source (posted by the eCRF page's panel and by the table below); back to ``next``.
- ``GET /review``: SDV progress per site and per patient, and the table of which casebooks and forms
  are locked and signed, by whom and when; with ``?subject=`` also that patient's signatures (valid,
  voided, broken) and locks (lifted ones too).
- ``/review/sign``: what is signed, the meaning, the signer's printed name, and the password entered
  again (21 CFR 11.50, 11.200); ``/review/lock`` and ``/review/unlock`` (a reason; unlocking needs one).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import access, review
from sarcotrial.web.deps import SignedIn, WebUser, study_of, optional_int
from sarcotrial.web.pages.auth import safe_next
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

STATE_LABELS = {"": "locked or signed (all casebooks)", "locked": "locked", "unlocked": "not locked",
                "signed": "signed", "unsigned": "not signed", "voided": "signature voided or broken"}


# --------------------------------------------------------------------------- helpers


def target_params(subject: str | None = None, form: str | None = None, visit: str | None = None,
                  instance: int | str | None = None, whole_study: bool = False) -> str:
    """The query string naming what a sign / lock / unlock page acts on."""
    if whole_study:
        return "study=1"
    params = {"subject": subject or ""}
    if form:
        params["form"] = form
        if visit:
            params["visit"] = visit
        if instance not in (None, ""):
            params["instance"] = str(instance)
    return urlencode(params)


def row_params(row: review.BoardRow) -> str:
    if row.scope == "casebook":
        return target_params(row.subject)
    return target_params(row.subject, row.form_id, f"{row.visit_id}:{row.occurrence}", row.instance)


def describe(study, subject: str | None, form: str | None, visit: str | None, instance: int | None,
             whole_study: bool) -> str:
    if whole_study:
        return "the whole study (database lock)"
    if not form:
        return f"the casebook of {subject.upper() if subject else '?'} (every form)"
    name = study.protocol.form(form).name if study.protocol.has_form(form) else form
    where = f" at {visit}" if visit else ""
    number = f" #{instance}" if instance not in (None, 1) else ""
    return f"{name} ({form}){where}{number} of {subject.upper() if subject else '?'}"


def _back(subject: str | None) -> str:
    return f"/review?{urlencode({'subject': subject})}" if subject else "/review"


def site_choices(request: Request, user: WebUser) -> list[str]:
    if user.sites:
        return list(user.sites)
    return [s.code for s in access.list_sites(study_of(request), user.actor)]


# --------------------------------------------------------------------------- source-data verification
@router.post("/review/sdv")
def sdv(request: Request, user: SignedIn, subject: Annotated[str, Form()] = "", form: Annotated[str, Form()] = "",
        visit: Annotated[str, Form()] = "", instance: Annotated[str, Form()] = "",
        record: Annotated[str, Form()] = "", field: Annotated[list[str] | None, Form()] = None,
        next: Annotated[str, Form()] = ""):
    study = study_of(request)
    back = safe_next(next) if next else _back(subject)
    try:
        where_visit, where_instance = visit.strip() or None, optional_int(instance, "instance")
        record_id = optional_int(record, "record")
        if record_id is not None and where_visit is None:
            where_visit, where_instance = review.crf_place(study, user.actor, subject, form, record_id)
        review.verify_fields(study, user.actor, subject, form, [f for f in (field or []) if f.strip()],
                             visit=where_visit, instance=where_instance)
    except InvalidValue as exc:
        return render(request, "review/refused.html", status_code=422, title="Source-data verification",
                      heading=f"Source-data verification of {form or '?'} for {subject.upper() or '?'}", error=exc,
                      back=back)
    return RedirectResponse(back, status_code=303)


# --------------------------------------------------------------------------- the review page
@router.get("/review")
def overview(request: Request, user: SignedIn, subject: str = "", site: str = "", form: str = "", state: str = "",
             signed: str = "", done: str = ""):
    study = study_of(request)
    filters = {"subject": subject.strip(), "site": site, "form": form, "state": state}
    error = None
    progress = review.sdv_progress(study, user.actor)
    board = review.LockSignBoard(None, [], 0, [])
    sigs: list[review.SignatureView] = []
    try:
        board = review.lock_sign_board(study, user.actor, subject_id=filters["subject"] or None, site=site or None,
                                       form_id=form or None, state=state or None, limit=200)
        if filters["subject"]:
            sigs = review.signatures(study, user.actor, filters["subject"])
    except InvalidValue as exc:
        error = exc
    if filters["subject"] and not error:
        progress_shown = [p for p in progress if p.subject == filters["subject"].upper()]
    else:
        progress_shown = [p for p in progress if p.fields_entered and (not site or p.site.upper() == site.upper())]
    just_signed = next((s for s in sigs if str(s.id) == signed), None)
    return render(request, "review/overview.html", status_code=422 if error else 200, title="Locks & signatures",
                  filters=filters, error=error, sites=site_choices(request, user), forms=study.protocol.forms,
                  states=STATE_LABELS, by_site=review.sdv_by_site(progress), progress=progress_shown, board=board,
                  signatures=sigs, row_params=row_params, just_signed=just_signed,
                  done={"lock": "The lock is set.", "unlock": "The lock is lifted."}.get(done),
                  here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                  form_names={f.id: f.name for f in study.protocol.forms})


# --------------------------------------------------------------------------- electronic signatures
def _sign_page(request: Request, user: WebUser, subject: str, form: str | None, visit: str | None,
               instance: int | None, *, meaning: str | None = None, error: InvalidValue | None = None,
               password_error: str | None = None, status_code: int = 200):
    study = study_of(request)
    preview = review.sign_preview(study, user.actor, subject, form_id=form or None, visit=visit or None,
                                  instance=instance)
    return render(request, "review/sign.html", status_code=status_code, title="Sign", preview=preview,
                  meaning=preview.suggested_meaning if meaning is None else meaning, error=error,
                  password_error=password_error, subject=subject, form=form or "", visit=visit or "",
                  instance="" if instance is None else instance,
                  what=describe(study, subject, form, preview.visit or visit, instance, False), back=_back(subject))


@router.get("/review/sign")
def sign_page(request: Request, user: SignedIn, subject: str, form: str = "", visit: str = "", instance: str = ""):
    return _sign_page(request, user, subject, form or None, visit or None, optional_int(instance, "instance"))


@router.post("/review/sign")
def sign(request: Request, user: SignedIn, subject: Annotated[str, Form()], form: Annotated[str, Form()] = "",
         visit: Annotated[str, Form()] = "", instance: Annotated[str, Form()] = "",
         password: Annotated[str, Form()] = "", meaning: Annotated[str, Form()] = ""):
    study = study_of(request)
    number = optional_int(instance, "instance")
    try:
        signature = review.sign(study, user.actor, subject, password, meaning, form_id=form or None,
                                visit=visit or None, instance=number)
    except InvalidValue as exc:
        return _sign_page(request, user, subject, form or None, visit or None, number, meaning=meaning, error=exc,
                          status_code=422)
    except AccessDenied as exc:
        if not user.may("sign"):
            raise  # the role may not sign: 403, whatever the password
        return _sign_page(request, user, subject, form or None, visit or None, number, meaning=meaning,
                          password_error=f"password: {exc}", status_code=422)
    return RedirectResponse(f"/review?{urlencode({'subject': subject.strip().upper(), 'signed': signature})}",
                            status_code=303)


# --------------------------------------------------------------------------- locks
def _lock_page(request: Request, user: WebUser, action: str, subject: str | None, form: str | None,
               visit: str | None, instance: int | None, whole_study: bool, *, reason: str = "",
               error: InvalidValue | None = None, status_code: int = 200):
    study = study_of(request)
    return render(request, "review/lock.html", status_code=status_code, title=f"{action.capitalize()}",
                  action=action, what=describe(study, subject, form, visit, instance, whole_study),
                  subject=subject or "", form=form or "", visit=visit or "", instance="" if instance is None else instance,
                  whole_study=whole_study, reason=reason, error=error, back=_back(subject))


@router.get("/review/lock")
def lock_page(request: Request, user: SignedIn, subject: str = "", form: str = "", visit: str = "",
              instance: str = "", study: str = ""):
    return _lock_page(request, user, "lock", subject or None, form or None, visit or None,
                      optional_int(instance, "instance"), bool(study))


@router.get("/review/unlock")
def unlock_page(request: Request, user: SignedIn, subject: str = "", form: str = "", visit: str = "",
                instance: str = "", study: str = ""):
    return _lock_page(request, user, "unlock", subject or None, form or None, visit or None,
                      optional_int(instance, "instance"), bool(study))


def _lock_post(request: Request, user: WebUser, action: str, subject: str, form: str, visit: str, instance: str,
               study_flag: str, reason: str):
    study = study_of(request)
    whole = bool(study_flag)
    number = None
    try:
        number = optional_int(instance, "instance")
        target = {"subject_id": subject or None, "form_id": form or None, "visit": visit or None,
                  "instance": number, "whole_study": whole}
        if action == "lock":
            review.lock_with_reason(study, user.actor, reason, **target)
        else:
            review.unlock(study, user.actor, reason, **target)
    except InvalidValue as exc:
        return _lock_page(request, user, action, subject or None, form or None, visit or None, number, whole,
                          reason=reason, error=exc, status_code=422)
    back = _back(None if whole else subject.strip().upper())
    return RedirectResponse(f"{back}{'&' if '?' in back else '?'}done={action}", status_code=303)


@router.post("/review/lock")
def lock(request: Request, user: SignedIn, subject: Annotated[str, Form()] = "", form: Annotated[str, Form()] = "",
         visit: Annotated[str, Form()] = "", instance: Annotated[str, Form()] = "",
         study: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = ""):
    return _lock_post(request, user, "lock", subject, form, visit, instance, study, reason)


@router.post("/review/unlock")
def unlock(request: Request, user: SignedIn, subject: Annotated[str, Form()] = "", form: Annotated[str, Form()] = "",
           visit: Annotated[str, Form()] = "", instance: Annotated[str, Form()] = "",
           study: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = ""):
    return _lock_post(request, user, "unlock", subject, form, visit, instance, study, reason)
