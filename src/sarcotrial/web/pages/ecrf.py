"""Pages: the eCRF, data entry of any protocol form rendered from the protocol.

``GET /patients/{subject}/forms/{form_id}`` shows one CRF instance (``record=ID``, or
``visit=VISIT[:N]`` and ``instance=N``), empty for a new one; a repeating form lists its
instances. ``POST`` saves it through :mod:`sarcotrial.services.forms` (a new instance with
``record``, an existing one with ``correct`` and a reason for the change), with the revision the
user saw, so a save over someone else's newer one is refused and both values are shown.
``POST .../not-done`` marks the form not done at a visit. Under each field a panel shows its
queries and source-data verification, with the actions the user's role allows (posted to the
query and review pages, which come back here).

Every rule is the services': this module only turns the submitted text into the services'
arguments, and their refusals into messages beside the fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol.schema import FormField
from sarcotrial.services import entry, forms, queries
from sarcotrial.web.deps import SignedIn, WebUser, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

BOOLEAN_CHOICES = (("yes", "Yes"), ("no", "No"), ("", "Not answered"))
RADIO_LIMIT = 4  # a code list this short is shown as radio buttons, a longer one as a list


# --------------------------------------------------------------------------- values as text
def as_text(fld: FormField, value: Any) -> str:
    """A stored value as the input shows it (and as the services read it back unchanged)."""
    if value is None:
        return ""
    if fld.type == "boolean":
        return "yes" if value else "no"
    if fld.type == "datetime" and isinstance(value, dt.datetime):
        moment = value.astimezone(dt.UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%d %H:%M" if not moment.second and not moment.microsecond
                               else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if fld.type == "decimal" and isinstance(value, float):
        short = format(value, "g")
        return short if "e" not in short and float(short) == value else repr(value)
    return str(value)


def shown_text(fld: FormField, text: str, codes: dict[str, str]) -> str:
    """A value as a person reads it (a code with its label)."""
    if text == "":
        return "(blank)"
    if fld.type == "boolean":
        return {"yes": "Yes", "no": "No"}.get(text, text)
    if fld.type == "code" and text in codes:
        return f"{codes[text]} ({text})"
    return text


# --------------------------------------------------------------------------- urls
def form_url(subject: str, form_id: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"/patients/{subject}/forms/{form_id}" + (f"?{query}" if query else "")


def _int(text: str | None) -> int | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def _not_found(request: Request, message: str):
    return render(request, "error.html", status_code=404, status=404, title="Not found", message=message)


# --------------------------------------------------------------------------- the page
def _fields(view: entry.EntryView, protocol, *, typed: dict[str, str] | None, typed_missing: dict[str, str] | None,
            errors: dict[str, str], stale: dict[str, dict[str, str]], term: tuple[str, str] | None) -> list[dict]:
    out = []
    crf = view.crf
    for fld in view.form.fields:
        codes = {c.code: c.label for c in protocol.codelists.get(fld.codelist, [])} if fld.codelist else {}
        stored = as_text(fld, crf.values.get(fld.id)) if crf else ""
        stored_missing = crf.missing.get(fld.id, "") if crf else ""
        value = typed.get(fld.id, "") if typed is not None else stored
        missing = typed_missing.get(fld.id, "") if typed_missing is not None else stored_missing
        widget = {"boolean": "boolean", "code": "radio" if len(codes) <= RADIO_LIMIT else "select"}.get(fld.type, "text")
        if term == (view.form.id, fld.id):
            widget = "ctcae"
        inputmode = {"integer": "numeric", "decimal": "decimal", "date": "numeric"}.get(fld.type)
        placeholder = {"date": "YYYY-MM-DD", "datetime": "YYYY-MM-DD HH:MM"}.get(fld.type)
        rules = []
        if fld.min is not None and fld.max is not None:
            rules.append(f"{fld.min:g} to {fld.max:g}" + (f" {fld.unit}" if fld.unit else ""))
        elif fld.min is not None:
            rules.append(f"at least {fld.min:g}" + (f" {fld.unit}" if fld.unit else ""))
        elif fld.max is not None:
            rules.append(f"at most {fld.max:g}" + (f" {fld.unit}" if fld.unit else ""))
        if fld.type == "integer":
            rules.append("a whole number")
        if fld.type == "date":
            rules.append("written YYYY-MM-DD")
        if fld.type == "datetime":
            rules.append("written YYYY-MM-DD HH:MM, in UTC (or with its offset, e.g. +01:00)")
        field_queries = view.queries.get(fld.id, [])
        out.append({
            "id": fld.id, "label": fld.label, "type": fld.type, "unit": fld.unit, "help": fld.help,
            "required": fld.required, "rules": "; ".join(rules), "codes": list(codes.items()), "widget": widget,
            "inputmode": inputmode, "placeholder": placeholder, "value": value, "missing": missing,
            "stored_text": shown_text(fld, stored, codes) if not stored_missing else
            f"{stored_missing} ({(protocol.missing_code(stored_missing).label if protocol.missing_code(stored_missing) else '')})",
            "has_entry": bool(stored != "" or stored_missing), "error": errors.get(fld.id),
            "stale": stale.get(fld.id), "queries": field_queries,
            "open_queries": [q for q in field_queries if q.status == "open"],
            "verified": view.verified.get(fld.id),
        })
    return out


def _render(request: Request, user: WebUser, view: entry.EntryView, *, status_code: int = 200,
            typed: dict[str, str] | None = None, typed_missing: dict[str, str] | None = None,
            errors: dict[str, str] | None = None, form_error: str | None = None, stale: dict | None = None,
            stale_message: str | None = None, reason: str = "", reason_error: str | None = None,
            visit_error: str | None = None, revision: int | None = None, notice: str | None = None,
            opened: list | None = None, answers: list[int] | None = None, not_done_error: str | None = None,
            not_done_reason: str = "", chosen_visit: str | None = None):
    study = study_of(request)
    protocol = study.protocol
    term = entry.toxicity_term_field(protocol)
    crf = view.crf
    editing = crf is not None and bool(crf.values or crf.missing)
    may_write = user.may("correct") if crf is not None else user.may("record")
    service_form = view.form.id in forms.SERVICE_FORMS
    writable = may_write and not view.locked and not service_form and not (crf is not None and crf.status == "not_done"
                                                                           and not editing)
    self_url = form_url(view.subject_id, view.form.id, record=crf.id) if crf else \
        form_url(view.subject_id, view.form.id, visit=view.visit, instance=view.instance)
    place = {"subject": view.subject_id, "form": view.form.id, "visit": view.visit or "",
             "instance": view.instance or ""}
    values = _fields(view, protocol, typed=typed, typed_missing=typed_missing, errors=errors or {},
                     stale=stale or {}, term=term)
    return render(
        request, "ecrf/form.html", status_code=status_code, title=f"{view.form.name} · {view.subject_id}",
        view=view, form=view.form, crf=crf, fields=values, editing=editing, writable=writable,
        may_write=may_write, service_form=service_form, self_url=self_url, place=place,
        review_query=urlencode({k: v for k, v in place.items() if v != ""}),
        missing_codes=protocol.missing_codes, form_error=form_error, stale_message=stale_message,
        reason=reason, reason_error=reason_error, visit_error=visit_error,
        revision=revision if revision is not None else (crf.revision if crf else 0),
        notice=notice, opened=opened or [], answers=answers or [], resolutions=queries.RESOLUTIONS,
        not_done_error=not_done_error, not_done_reason=not_done_reason,
        chosen_visit=chosen_visit if chosen_visit is not None else (view.visit or ""),
        has_term=term is not None and term[0] == view.form.id,
        new_instance_url=form_url(view.subject_id, view.form.id, visit=view.visit if crf is None else None),
        form_url=form_url, user_may=user.may)


def _view(request: Request, user: WebUser, subject: str, form_id: str, *, visit: str | None = None,
          instance: int | None = None, record: int | None = None) -> entry.EntryView:
    return entry.entry_view(study_of(request), user.actor, subject, form_id, visit=visit or None,
                            instance=instance, record_id=record)


@router.get("/patients/{subject}/forms/{form_id}")
def show_form(request: Request, user: SignedIn, subject: str, form_id: str, visit: str | None = None,
              instance: str | None = None, record: str | None = None, saved: str | None = None,
              opened: str | None = None, notdone: str | None = None):
    try:
        view = _view(request, user, subject, form_id, visit=visit, instance=_int(instance), record=_int(record))
    except InvalidValue as exc:
        return _not_found(request, str(exc))
    notice = None
    if saved and view.crf is not None:
        notice = f"Saved: {view.form.name}, revision {view.crf.revision}."
    if notdone and view.crf is not None and view.crf.status == "not_done":
        notice = f"Marked not done: {view.crf.not_done_reason}"
    wanted = {_int(x) for x in (opened or "").split(",")} - {None}
    shown = [q for qs in view.queries.values() for q in qs if q.id in wanted]
    return _render(request, user, view, notice=notice, opened=shown)


async def _posted(request: Request) -> tuple[dict[str, str], list[tuple[str, str]]]:
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return dict(pairs), pairs


@router.post("/patients/{subject}/forms/{form_id}")
async def save_form(request: Request, user: SignedIn, subject: str, form_id: str):
    data, pairs = await _posted(request)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_save, request, user, subject, form_id, data, pairs)


def _field_of(form_id: str, exc: InvalidValue) -> str | None:
    name = exc.field or ""
    return name.split(".", 1)[1] if name.startswith(form_id + ".") else None


def _save(request: Request, user: WebUser, subject: str, form_id: str, data: dict[str, str],
          pairs: list[tuple[str, str]]):
    study = study_of(request)
    record_id = _int(data.get("record"))
    visit = (data.get("visit") or "").strip() or None
    instance = _int(data.get("instance"))
    revision = _int(data.get("revision"))
    reason = (data.get("reason") or "").strip()
    answers = [a for a in (_int(v) for k, v in pairs if k == "answers") if a is not None]
    try:
        view = _view(request, user, subject, form_id, visit=visit if record_id is None else None,
                     instance=instance if record_id is None else None, record=record_id)
    except InvalidValue as exc:
        if exc.field == "visit" and record_id is None:  # a visit written wrongly: the form again, with the message
            view = _view(request, user, subject, form_id)
            return _render(request, user, view, status_code=422, visit_error=exc.rule, chosen_visit=visit or "")
        return _not_found(request, str(exc))
    form = view.form
    typed = {fld.id: (data.get(fld.id) or "") for fld in form.fields}
    typed_missing = {fld.id: (data.get(f"missing-{fld.id}") or "").strip() for fld in form.fields}
    missing = {k: v for k, v in typed_missing.items() if v}
    again = {"typed": typed, "typed_missing": typed_missing, "reason": reason, "answers": answers, "chosen_visit": visit or ""}
    if record_id is not None and view.crf is None:
        return _not_found(request, f"no {form_id} form #{record_id} for {subject}")

    problems = entry.check_entry(study.protocol, form_id, typed, missing)
    if problems:
        labels = {f.id: f.label for f in form.fields}
        return _render(request, user, view, status_code=422,
                       errors={k: f"{labels[k]}: {exc.rule}" for k, exc in problems.items()},
                       form_error=f"{len(problems)} field(s) to check: nothing was saved.", revision=revision, **again)

    crf = view.crf if record_id is not None else None  # no record named: a new instance is entered
    before = entry.open_query_ids(study, user.actor, subject, crf.id) if crf is not None else set()
    try:
        if crf is None:
            values = {k: v for k, v in typed.items() if v.strip()}
            saved = forms.record(study, user.actor, subject, form_id, values, visit=visit, instance=instance,
                                 missing=missing or None, reason=reason or None)
        else:
            changes: dict[str, str] = {}
            codes: dict[str, str] = {}
            for fld in form.fields:
                stored = as_text(fld, crf.values.get(fld.id))
                stored_code = crf.missing.get(fld.id, "")
                if typed[fld.id].strip() != stored or (stored_code and not typed_missing[fld.id]):
                    changes[fld.id] = typed[fld.id]
                if typed_missing[fld.id] and typed_missing[fld.id] != stored_code:
                    codes[fld.id] = typed_missing[fld.id]
            if not changes and not codes:
                return _render(request, user, view, status_code=422, revision=revision,
                               form_error="Nothing was saved: every value is as stored, there is no change to "
                               "save.", **again)
            saved = entry.correct_and_answer(study, user.actor, subject, form_id, changes, reason, record_id=crf.id,
                                             answers=answers, missing=codes or None, revision=revision)
    except InvalidValue as exc:
        return _refused(request, user, view, exc, new=crf is None, revision=revision, visit=visit, instance=instance,
                        **again)
    after = entry.open_query_ids(study, user.actor, subject, saved.id)
    opened = sorted(after - before)
    url = form_url(subject, form_id, record=saved.id, saved=saved.revision,
                   opened=",".join(str(i) for i in opened) or None)
    return RedirectResponse(url, status_code=303)


def _refused(request: Request, user: WebUser, view: entry.EntryView, exc: InvalidValue, *, new: bool, revision: int | None,
             visit: str | None, instance: int | None, typed: dict[str, str], typed_missing: dict[str, str],
             **again):
    """The services' refusal beside what it names; a save over a newer one: both values, status 409."""
    form = view.form
    crf = view.crf
    stale_entry = False
    if exc.field == form.id and new:  # someone entered this very instance while the user typed
        fresh = _view(request, user, view.subject_id, form.id, visit=visit, instance=instance)
        stale_entry = fresh.crf is not None and not form.repeating or (fresh.crf is not None and instance is not None)
        if stale_entry:
            view = fresh
    if exc.field == "revision" or stale_entry:
        fresh = view if stale_entry else _view(request, user, view.subject_id, form.id, record=crf.id)
        changes = entry.field_changes(study_of(request), user.actor, view.subject_id, fresh.crf.id)
        protocol = study_of(request).protocol
        stale: dict[str, dict[str, str]] = {}
        for fld in form.fields:
            codes = {c.code: c.label for c in protocol.codelists.get(fld.codelist, [])} if fld.codelist else {}
            theirs = as_text(fld, fresh.crf.values.get(fld.id))
            theirs_code = fresh.crf.missing.get(fld.id, "")
            yours, yours_code = typed.get(fld.id, "").strip(), typed_missing.get(fld.id, "")
            if (theirs, theirs_code) != (yours, yours_code):
                who, when = changes.get(fld.id, (fresh.changed_by or "someone", fresh.changed_at or ""))
                stale[fld.id] = {"theirs": theirs_code or shown_text(fld, theirs, codes),
                                 "yours": yours_code or shown_text(fld, yours, codes), "by": who, "at": when}
        who = fresh.changed_by or fresh.entered_by or "someone"
        when = fresh.changed_at or fresh.entered_at or "an unknown time"
        message = (f"This form was changed by {who} at {when} while you were editing it: nothing of yours was saved. "
                   "Both values are shown beside each field that differs; what you typed is kept. Save again to "
                   "store your values over theirs (with a reason), or reload the form to take theirs.")
        return _render(request, user, fresh, status_code=409, typed=typed, typed_missing=typed_missing, stale=stale,
                       stale_message=message, revision=fresh.crf.revision, form_error=None if not stale_entry
                       else f"{form.name} was entered by {fresh.entered_by} at {fresh.entered_at} while you were "
                       "entering it.", **again)
    field = _field_of(form.id, exc)
    kwargs: dict[str, Any] = {}
    if field is not None and form.field(field) is not None:
        kwargs["errors"] = {field: f"{form.field(field).label}: {exc.rule}"}
        kwargs["form_error"] = "Nothing was saved: see the message beside the field."
    elif exc.field == "reason":
        kwargs["reason_error"] = exc.rule
        kwargs["form_error"] = "Nothing was saved: " + str(exc)
    elif exc.field in ("visit", "instance"):
        kwargs["visit_error"] = exc.rule
        kwargs["form_error"] = "Nothing was saved: " + str(exc)
    else:
        kwargs["form_error"] = "Nothing was saved: " + str(exc)
    return _render(request, user, view, status_code=422, typed=typed, typed_missing=typed_missing,
                   revision=revision, **kwargs, **again)


@router.post("/patients/{subject}/forms/{form_id}/not-done")
async def not_done(request: Request, user: SignedIn, subject: str, form_id: str):
    data, _pairs = await _posted(request)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_not_done, request, user, subject, form_id, data)


def _not_done(request: Request, user: WebUser, subject: str, form_id: str, data: dict[str, str]):
    study = study_of(request)
    visit = (data.get("visit") or "").strip()
    instance = _int(data.get("instance"))
    reason = (data.get("reason") or "").strip()
    try:
        view = _view(request, user, subject, form_id, visit=visit or None, instance=instance)
    except InvalidValue as exc:
        if exc.field != "visit":
            return _not_found(request, str(exc))
        view = _view(request, user, subject, form_id)
    try:
        if not visit:
            raise InvalidValue("visit", "choose the visit at which the form is not done", show_value=False)
        saved = forms.mark_not_done(study, user.actor, subject, form_id, visit, reason, instance=instance)
    except InvalidValue as exc:
        return _render(request, user, view, status_code=422, not_done_error=str(exc) if exc.field != "reason"
                       else f"Reason: {exc.rule}", not_done_reason=reason, chosen_visit=visit)
    return RedirectResponse(form_url(subject, form_id, record=saved.id, notdone=1), status_code=303)

