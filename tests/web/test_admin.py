"""The administration page (``/admin``) through HTTP: accounts, sites, settings, API tokens, one's
own password, the protocol in force.

Sources: FDA 21 CFR 11.10(d) and (g), 11.300 (unique accounts, authority checks, passwords);
EU GMP Annex 11 §12 (access by role; changes to rights recorded, with a reason); NIST SP 800-63B
§5.1.1.2 (at least 8 characters); ``docs/roles.md`` (``user.manage``, ``site.manage`` and
``settings.set`` are the admin's alone).
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from sarcotrial.services import access, audit_trail
from sarcotrial.services.audit_trail import AuditFilter
from tests.edc_support import password

NEW = {"username": "rita", "full_name": "Rita Research Nurse", "role": "research_nurse", "sites": ["SAT"],
       "export": "", "password": "rita-initial-pass", "password_again": "rita-initial-pass"}


def accounts(study):
    return {a.user: a for a in access.list_users(study, study.team.admin)}


def tokens(study, username):
    return [t for t in access.list_tokens(study, study.team.admin) if t["user"] == username]


def test_an_admin_adds_an_account_that_can_then_sign_in(web_study, client_as, web_app):
    admin = client_as("admin")
    form = admin.get("/admin/users/new")
    assert form.status_code == 200
    for field in ("username", "full_name", "role", "export", "password", "password_again"):
        assert f'<label for="{field}">' in form.text, f"{field} is labelled"
    answer = admin.post("/admin/users/new", data=NEW)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin?done=user")
    rita = accounts(web_study)["rita"]
    assert (rita.full_name, rita.role, rita.sites, rita.export, rita.active) == \
        ("Rita Research Nurse", "research_nurse", ("SAT",), "none", True)
    signed_in = TestClient(web_app).post("/api/v1/session", json={"username": "rita", "password": "rita-initial-pass"})
    assert signed_in.status_code == 201 and signed_in.json()["role"] == "research_nurse"
    listing = admin.get("/admin").text
    assert 'id="user-rita"' in listing


def test_a_duplicate_user_name_is_refused_beside_the_field_keeping_what_was_typed(web_study, client_as):
    admin = client_as("admin")
    before = accounts(web_study)
    answer = admin.post("/admin/users/new", data={**NEW, "username": "nina", "full_name": "Another Nina"})
    assert answer.status_code == 422
    assert 'id="err-username"' in answer.text and "already has an account in this study" in answer.text
    assert 'value="Another Nina"' in answer.text and 'value="nina"' in answer.text
    assert NEW["password"] not in answer.text  # a password is never sent back
    assert accounts(web_study) == before


BAD_NEW = [
    ({"password": "short", "password_again": "short"}, "password", "at least 8 characters"),
    ({"password_again": "something-else"}, "password_again", "must repeat the password exactly"),
    ({"role": "statistician", "export": "full"}, "export", "never receives identifiers"),
    ({"full_name": "  "}, "full_name", "must not be empty"),
    ({"sites": ["NOWHERE"]}, "sites", "no such site"),
    ({"username": "Bad Name!"}, "username", "a user name is 1 to 128 characters"),
]


def test_a_bad_new_account_is_refused_beside_the_field(web_study, client_as):
    admin = client_as("admin")
    for change, field, rule in BAD_NEW:
        answer = admin.post("/admin/users/new", data={**NEW, **change})
        assert answer.status_code == 422, change
        message = re.search(rf'<p class="error" id="err-{field}">([^<]*)</p>', answer.text)
        assert message and rule in message.group(1), (change, answer.text[-3000:])
        assert NEW["password"] not in answer.text
    assert "rita" not in accounts(web_study)


def test_disabling_an_account_ends_its_session_and_is_audited(web_study, client_as):
    nina = client_as("research_nurse")
    assert nina.get("/api/v1/session").status_code == 200
    admin = client_as("admin")
    refused = admin.post("/admin/users/nina", data={"action": "disable", "reason": ""})
    assert refused.status_code == 422 and accounts(web_study)["nina"].active
    answer = admin.post("/admin/users/nina", data={"action": "disable", "reason": "left the unit"})
    assert answer.status_code == 303
    assert not accounts(web_study)["nina"].active
    assert nina.get("/api/v1/session").status_code == 401
    page = nina.get("/admin")
    assert page.status_code == 303 and "ended=disabled" in page.headers["location"]
    rows = list(audit_trail.audit_rows(web_study, web_study.team.admin, AuditFilter(user="admin")))
    assert any(r.table == "app_user" and r.field == "active" and r.new_value == "false" and r.reason == "left the unit"
               for r in rows)
    assert admin.post("/admin/users/nina", data={"action": "enable", "reason": "back"}).status_code == 303
    assert accounts(web_study)["nina"].active


def test_an_admin_changes_an_accounts_role_sites_and_export_right_with_a_reason(web_study, client_as):
    admin = client_as("admin")
    answer = admin.post("/admin/users/ivy", data={"action": "rights", "role": "investigator", "export": "pseudonymised",
                                                 "sites": ["SAT"], "reason": "moved to the satellite"})
    assert answer.status_code == 303
    ivy = accounts(web_study)["ivy"]
    assert (ivy.sites, ivy.export) == (("SAT",), "pseudonymised")
    refused = admin.post("/admin/users/stan", data={"action": "rights", "role": "statistician", "export": "full",
                                                   "sites": [], "reason": "try"})
    assert refused.status_code == 422 and "never receives identifiers" in refused.text
    assert accounts(web_study)["stan"].export == "pseudonymised"
    back = admin.post("/admin/users/ivy", data={"action": "rights", "role": "investigator", "export": "pseudonymised",
                                               "reason": "study-wide again"})
    assert back.status_code == 303 and accounts(web_study)["ivy"].sites == ()


def test_a_token_is_shown_once_works_as_bearer_and_stops_when_revoked(web_study, client_as, web_app):
    ivy = client_as("investigator")
    empty = ivy.post("/admin/tokens", data={"label": "   "})
    assert empty.status_code == 422 and 'id="err-token-label"' in empty.text and not tokens(web_study, "ivy")
    made = ivy.post("/admin/tokens", data={"label": "nightly export"})
    assert made.status_code == 201
    secret = re.search(r'id="new-token-secret" class="admin-token" value="(st_[A-Za-z0-9_-]+)"', made.text).group(1)
    assert "shown only this once" in made.text
    later = ivy.get("/admin").text
    assert secret not in later and "nightly export" in later
    (row,) = tokens(web_study, "ivy")
    bearer = TestClient(web_app)
    who = bearer.get("/api/v1/session", headers={"Authorization": f"Bearer {secret}"})
    assert who.status_code == 200 and who.json()["user"] == "ivy"
    # another account's token is not theirs to revoke
    assert client_as("monitor").post(f"/admin/tokens/{row['id']}/revoke").status_code == 403
    assert ivy.post(f"/admin/tokens/{row['id']}/revoke").status_code == 303
    assert tokens(web_study, "ivy")[0]["revoked_at"] is not None
    assert bearer.get("/api/v1/session", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_everyone_sees_only_their_own_tokens_an_admin_sees_all(web_study, client_as):
    client_as("investigator").post("/admin/tokens", data={"label": "ivy's script"})
    client_as("monitor").post("/admin/tokens", data={"label": "mona's script"})
    assert "mona&#39;s script" not in client_as("investigator").get("/admin").text
    everyone = client_as("admin").get("/admin").text
    assert "ivy&#39;s script" in everyone and "mona&#39;s script" in everyone


def test_a_settings_change_is_audited_and_a_bad_value_writes_nothing(web_study, client_as):
    admin = client_as("admin")
    page = admin.get("/admin").text
    assert '<label for="set-lockout_threshold">' in page
    current = access.settings(web_study)
    bad = admin.post("/admin/settings", data={"lockout_threshold": "0", "lockout_minutes": "45", "reason": "policy"})
    assert bad.status_code == 422
    assert 'id="err-settings-lockout_threshold"' in bad.text and "a whole number from 1 to 20" in bad.text
    assert 'value="0"' in bad.text and 'value="45"' in bad.text
    assert access.settings(web_study) == current  # neither value written
    good = admin.post("/admin/settings", data={"lockout_threshold": "7", "reason": "hospital IT policy"})
    assert good.status_code == 303
    assert access.setting(web_study, "lockout_threshold") == 7
    assert access.setting(web_study, "lockout_minutes") == current["lockout_minutes"]
    rows = list(audit_trail.audit_rows(web_study, web_study.team.admin, AuditFilter(user="admin")))
    assert any(r.table == "setting" and r.new_value == "7" and r.reason == "hospital IT policy" for r in rows)


def test_an_admin_adds_a_site_and_a_duplicate_is_refused_beside_the_field(web_study, client_as):
    admin = client_as("admin")
    assert admin.post("/admin/sites", data={"code": "north", "name": "North hospital"}).status_code == 303
    assert "NORTH" in {s.code for s in access.list_sites(web_study, web_study.team.admin)}
    again = admin.post("/admin/sites", data={"code": "NORTH", "name": "Again"})
    assert again.status_code == 422 and 'id="err-site-code"' in again.text and "already exists" in again.text
    assert 'value="Again"' in again.text


def test_admin_actions_by_anyone_else_are_refused_and_write_nothing(web_study, client_as):
    users, sites, settings = accounts(web_study), access.list_sites(web_study, web_study.team.admin), \
        access.settings(web_study)
    for role in ("investigator", "data_manager", "monitor", "statistician", "nurse.sat"):
        refused_all(client_as(role))
    assert accounts(web_study) == users
    assert access.list_sites(web_study, web_study.team.admin) == sites and access.settings(web_study) == settings


def refused_all(client) -> None:
    assert client.get("/admin/users/new").status_code == 403
    assert client.post("/admin/users/new", data=NEW).status_code == 403
    assert client.post("/admin/users/nina", data={"action": "disable", "reason": "x"}).status_code == 403
    assert client.post("/admin/users/nina", data={"action": "rights", "role": "admin", "export": "none",
                                                 "reason": "x"}).status_code == 403
    assert client.post("/admin/sites", data={"code": "X1", "name": "X"}).status_code == 403
    assert client.post("/admin/settings", data={"lockout_threshold": "9"}).status_code == 403
    assert client.post("/admin/settings", data={"lockout_threshold": "999"}).status_code == 403


def test_without_the_csrf_token_nothing_is_written(web_study, client_as):
    answer = client_as("admin").post("/admin/users/new", data=NEW, csrf=False)
    assert answer.status_code == 403 and "rita" not in accounts(web_study)


def test_a_non_admin_sees_their_own_account_and_the_protocol_only(web_study, client_as):
    page = client_as("monitor").get("/admin")
    assert page.status_code == 200
    text = page.text
    assert 'id="accounts"' not in text and 'id="settings"' not in text and 'id="sites"' not in text
    assert "Mona Monitor" in text and "Dana Datamanager" not in text and "Nina Nurse" not in text
    assert web_study.loaded.sha256 in text and f"v{web_study.protocol.version}" in text
    admin = client_as("admin").get("/admin").text
    assert all(name in admin for name in ("Mona Monitor", "Dana Datamanager", "Nina Nurse", "Sam Satellite Nurse"))
    assert web_study.loaded.sha256 in admin


def test_one_changes_ones_own_password(web_study, client_as, web_app):
    nina = client_as("research_nurse")
    old = password("nina")
    wrong = nina.post("/admin/password", data={"current_password": "not-it-at-all", "new_password": "a-new-passphrase",
                                               "new_password_again": "a-new-passphrase"})
    assert wrong.status_code == 422 and 'id="err-password-current_password"' in wrong.text
    short = nina.post("/admin/password", data={"current_password": old, "new_password": "short",
                                               "new_password_again": "short"})
    assert short.status_code == 422 and "at least 8 characters" in short.text
    differ = nina.post("/admin/password", data={"current_password": old, "new_password": "a-new-passphrase",
                                                "new_password_again": "a-new-passphrase!"})
    assert differ.status_code == 422 and 'id="err-password-new_password_again"' in differ.text
    for answer in (wrong, short, differ):
        assert old not in answer.text and "a-new-passphrase" not in answer.text
    ok = nina.post("/admin/password", data={"current_password": old, "new_password": "a-new-passphrase",
                                            "new_password_again": "a-new-passphrase"})
    assert ok.status_code == 303
    fresh = TestClient(web_app)
    assert fresh.post("/api/v1/session", json={"username": "nina", "password": old}).status_code == 401
    assert fresh.post("/api/v1/session", json={"username": "nina", "password": "a-new-passphrase"}).status_code == 201
