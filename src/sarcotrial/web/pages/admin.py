"""Pages: administration: the protocol in force, installation settings, sites, accounts, API
tokens and one's own password.

Everyone sees the protocol in force, their own account, their own API tokens (and may create and
revoke them) and may change their own password; an admin sees and changes everything else. The
services refuse (403, nothing written) whatever the role may not do; a refused value is shown
beside its field (422) with what was typed, never a password.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from sarcotrial.domain import access as rules
from sarcotrial.domain.settings import SETTINGS, parse_setting
from sarcotrial.errors import InvalidValue
from sarcotrial.services import access, administration
from sarcotrial.web.deps import SignedIn, WebUser, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

DONE = {
    "settings": "Settings saved.",
    "site": "Site added.",
    "user": "Account created: it can sign in now.",
    "rights": "Access rights changed.",
    "disabled": "Account disabled: its sessions have ended and its tokens no longer work.",
    "enabled": "Account enabled.",
    "password": "Your password was changed.",
    "revoked": "Token revoked: it no longer works.",
}
#: the fields of the services' refusals, as the forms name them
USER_FIELDS = {"user": "username", "site": "sites", "password": "password"}


def _page(request: Request, user: WebUser, status_code: int = 200, **values: Any):
    """The administration page; ``values`` add a form's errors and typed values, or a new token."""
    study = study_of(request)
    actor = user.actor
    admin = user.may("user.manage")
    context: dict[str, Any] = {
        "protocol": administration.protocol_in_force(study, actor),
        "accounts": administration.visible_accounts(study, actor),
        "tokens": access.list_tokens(study, actor),
        "admin": admin,
        "may_settings": user.may("settings.set"),
        "may_sites": user.may("site.manage"),
        "roles": rules.ROLES, "export_rights": rules.EXPORT_RIGHTS,
        "done": DONE.get(request.query_params.get("done", "")), "done_name": request.query_params.get("name", ""),
        "errors": {}, "typed": {}, "new_token": None, "edit": None,
    }
    if user.may("settings.set"):
        current = access.settings(study)
        context["settings"] = [(key, spec, spec.text(current[key])) for key, spec in SETTINGS.items()]
    if admin or user.may("site.manage"):
        context["sites"] = access.list_sites(study, actor)
    context.update(values)
    return render(request, "admin/index.html", status_code=status_code, title="Administration", **context)


def _done(what: str, name: str = "") -> RedirectResponse:
    from urllib.parse import urlencode

    query = {"done": what, **({"name": name} if name else {})}
    return RedirectResponse("/admin?" + urlencode(query), status_code=303)


@router.get("/admin")
def admin(request: Request, user: SignedIn):
    return _page(request, user)


# --------------------------------------------------------------------------- settings and sites
@router.post("/admin/settings")
async def admin_settings(request: Request, user: SignedIn):
    form = await request.form()
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_save_settings, request, user, {k: str(v) for k, v in form.items()})


def _save_settings(request: Request, user: WebUser, form: dict[str, str]):
    study = study_of(request)
    current = access.settings(study)
    reason = form.get("reason", "").strip() or None
    typed = {key: form.get(key, SETTINGS[key].text(current[key])) for key in SETTINGS}
    changes: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key, text in typed.items():
        try:
            value = parse_setting(key, text)
        except InvalidValue as exc:
            errors[key] = exc.rule
            continue
        if value != current[key]:
            changes[key] = text
    if errors:  # nothing is written unless every value is valid
        administration.require_setting(study, user.actor)  # a role that may not: 403 rather than 422
        return _page(request, user, 422, errors={"settings": errors}, typed={"settings": typed, "reason": reason or ""})
    if not changes:
        administration.require_setting(study, user.actor)
        return _page(request, user, 422, errors={"settings": {"_": "nothing changed: edit a value first"}},
                     typed={"settings": typed, "reason": reason or ""})
    for key, text in changes.items():
        access.set_setting(study, user.actor, key, text, reason)
    return _done("settings")


@router.post("/admin/sites")
async def admin_sites(request: Request, user: SignedIn):
    form = await request.form()
    from starlette.concurrency import run_in_threadpool

    code, name = str(form.get("code", "")), str(form.get("name", ""))

    def add():
        try:
            site = access.add_site(study_of(request), user.actor, code, name)
        except InvalidValue as exc:
            field = "code" if exc.field == "site" else exc.field
            return _page(request, user, 422, errors={"site": {field: exc.rule}}, typed={"site": {"code": code, "name": name}})
        return _done("site", site.code)

    return await run_in_threadpool(add)


# --------------------------------------------------------------------------- accounts
def _new_user_page(request: Request, user: WebUser, status_code: int = 200, errors=None, typed=None):
    study = study_of(request)
    return render(request, "admin/user_new.html", status_code=status_code, title="New account",
                  sites=access.list_sites(study, user.actor), roles=rules.ROLES, export_rights=rules.EXPORT_RIGHTS,
                  errors=errors or {}, typed=typed or {"sites": []})


@router.get("/admin/users/new")
def admin_user_new(request: Request, user: SignedIn):
    administration.require_manage(study_of(request), user.actor)
    return _new_user_page(request, user)


@router.post("/admin/users/new")
async def admin_user_create(request: Request, user: SignedIn):
    form = await request.form()
    from starlette.concurrency import run_in_threadpool

    typed = {"username": str(form.get("username", "")), "full_name": str(form.get("full_name", "")),
             "role": str(form.get("role", "")), "export": str(form.get("export", "")),
             "sites": [str(s) for s in form.getlist("sites")]}
    password, again = str(form.get("password", "")), str(form.get("password_again", ""))

    def create():
        study = study_of(request)
        administration.require_manage(study, user.actor)
        if password != again:
            return _new_user_page(request, user, 422, {"password_again": "must repeat the password exactly"}, typed)
        try:
            account = access.add_user(study, user.actor, typed["username"], full_name=typed["full_name"],
                                      role=typed["role"], password=password, sites=typed["sites"],
                                      export=typed["export"] or None)
        except InvalidValue as exc:
            return _new_user_page(request, user, 422, {USER_FIELDS.get(exc.field, exc.field): exc.rule}, typed)
        return _done("user", account.user)

    return await run_in_threadpool(create)


@router.post("/admin/users/{username}")
async def admin_user_change(request: Request, user: SignedIn, username: str):
    form = await request.form()
    from starlette.concurrency import run_in_threadpool

    action = str(form.get("action", "rights"))
    reason = str(form.get("reason", "")).strip()
    typed = {"role": str(form.get("role", "")), "export": str(form.get("export", "")),
             "sites": [str(s) for s in form.getlist("sites")], "reason": reason}

    def change():
        study = study_of(request)
        try:
            if action in ("disable", "enable"):
                if not reason:
                    raise InvalidValue("reason", "say why the account is " + ("disabled" if action == "disable"
                                                                               else "enabled"))
                (access.disable_user if action == "disable" else access.enable_user)(study, user.actor, username, reason)
                return _done("disabled" if action == "disable" else "enabled", username)
            if action != "rights":
                raise InvalidValue("action", "must be rights, disable or enable", action)
            administration.change_rights(study, user.actor, username, role=typed["role"], export=typed["export"],
                                         sites=typed["sites"], reason=reason)
        except InvalidValue as exc:
            administration.require_manage(study, user.actor)  # a refusal by role comes first: 403
            return _page(request, user, 422, edit={"user": username, "action": action, "field": exc.field,
                                                    "message": exc.rule, "typed": typed})
        return _done("rights", username)

    return await run_in_threadpool(change)


# --------------------------------------------------------------------------- one's own: password, tokens
@router.post("/admin/password")
async def admin_password(request: Request, user: SignedIn):
    form = await request.form()
    from starlette.concurrency import run_in_threadpool

    current, new, again = (str(form.get(k, "")) for k in ("current_password", "new_password", "new_password_again"))

    def change():
        try:
            administration.change_own_password(study_of(request), user.actor, current, new, again)
        except InvalidValue as exc:
            return _page(request, user, 422, errors={"password": {exc.field: exc.rule}})
        return _done("password")

    return await run_in_threadpool(change)


@router.post("/admin/tokens")
async def admin_token_create(request: Request, user: SignedIn):
    form = await request.form()
    from starlette.concurrency import run_in_threadpool

    label = str(form.get("label", ""))

    def create():
        try:
            secret = access.create_token(study_of(request), user.actor, user.username, label)
        except InvalidValue as exc:
            return _page(request, user, 422, errors={"token": {exc.field: exc.rule}}, typed={"token": {"label": label}})
        return _page(request, user, 201, new_token={"secret": secret, "label": " ".join(label.split())})

    return await run_in_threadpool(create)


@router.post("/admin/tokens/{token_id}/revoke")
async def admin_token_revoke(request: Request, user: SignedIn, token_id: int):
    form = await request.form()
    from starlette.concurrency import run_in_threadpool

    reason = str(form.get("reason", "")).strip() or None

    def revoke():
        access.revoke_token(study_of(request), user.actor, token_id, reason or f"token revoked by {user.username}")
        return _done("revoked")

    return await run_in_threadpool(revoke)
