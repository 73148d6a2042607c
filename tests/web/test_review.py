"""Source-data verification, electronic signatures and locks through HTTP (docs/edc.md; docs/roles.md;
21 CFR 11.50 manifestation, 11.200 password at each signing)."""

from __future__ import annotations

import re

import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.services import forms, queries, review, views
from tests.edc_support import password

PATHOLOGY = {"subject": "SPR-001", "form": "pathology", "visit": "surgery:1", "instance": "1"}


def progress(study, subject="SPR-001"):
    return next(p for p in review.sdv_progress(study, study.team.monitor) if p.subject == subject)


def test_sdv_of_one_field_then_of_the_whole_form(web_study, client_as):
    monitor = client_as("monitor")
    before = progress(web_study)
    assert before.fields_verified == 0
    back = "/patients/SPR-001/forms/pathology?visit=surgery:1#field-viable_percent"
    answer = monitor.post("/review/sdv", data={**PATHOLOGY, "field": "viable_percent", "next": back})
    assert answer.status_code == 303 and answer.headers["location"] == back
    assert progress(web_study).fields_verified == 1

    answer = monitor.post("/review/sdv", data={**PATHOLOGY, "next": "/review"})  # no field: the whole form
    assert answer.status_code == 303
    after = progress(web_study)
    board = review.lock_sign_board(web_study, web_study.team.monitor, subject_id="SPR-001", form_id="pathology")
    [row] = board.rows
    assert row.fields_verified == row.fields_entered > 1
    assert after.fields_verified == row.fields_entered and after.forms_verified == 1

    again = monitor.post("/review/sdv", data={**PATHOLOGY, "field": "viable_percent", "next": back})
    assert again.status_code == 422 and "already verified" in again.text and f'href="{back}"' in again.text


def test_sdv_of_several_fields_is_one_action(web_study, client_as):
    answer = client_as("monitor").post("/review/sdv", data={
        **PATHOLOGY, "field": ["viable_percent", "no_such_field"], "next": "/review"})
    assert answer.status_code == 422 and "no_such_field" in answer.text
    assert progress(web_study).fields_verified == 0  # nothing half-written
    answer = client_as("monitor").post("/review/sdv", data={
        **PATHOLOGY, "field": ["viable_percent", "closest_margin_mm"], "next": "/review"})
    assert answer.status_code == 303 and progress(web_study).fields_verified == 2


def test_the_review_page_shows_the_services_sdv_progress(web_study, client_as):
    review.verify_source(web_study, web_study.team.monitor, "SPR-001", "surgery")
    by_site = {s["site"]: s for s in review.sdv_by_site(review.sdv_progress(web_study, web_study.team.monitor))}
    page = client_as("data_manager").get("/review")
    assert page.status_code == 200
    main = re.search(r'<tr data-site="MAIN">(.*?)</tr>', page.text, re.DOTALL).group(1)
    assert f'<td class="num verified">{by_site["MAIN"]["fields_verified"]}</td>' in main
    assert by_site["MAIN"]["fields_verified"] > 0


def test_signing_with_the_password_makes_a_valid_signature_with_its_meaning(web_study, client_as):
    ivy = client_as("investigator")
    page = ivy.get("/review/sign", params={"subject": "SPR-001", "form": "pathology", "visit": "surgery:1"})
    assert page.status_code == 200
    assert "Dr Ivy Investigator (ivy)" in page.text
    assert 'value="I have reviewed these data"' in page.text  # the meaning offered, editable
    assert '<label for="password">' in page.text and '<label for="meaning">' in page.text

    answer = ivy.post("/review/sign", data={"subject": "SPR-001", "form": "pathology", "visit": "surgery:1",
                                            "password": password("ivy"),
                                            "meaning": "I have reviewed the pathology report"})
    assert answer.status_code == 303
    [signature] = review.signatures(web_study, web_study.team.investigator, "SPR-001")
    assert (signature.status, signature.scope, signature.form_id, signature.signer, signature.meaning) == (
        "valid", "crf", "pathology", "ivy", "I have reviewed the pathology report")
    shown = ivy.get(answer.headers["location"]).text
    assert signature.manifestation() in shown  # printed name, date and time, meaning (21 CFR 11.50)


def test_a_wrong_password_signs_nothing_and_says_so_beside_the_field(web_study, client_as):
    answer = client_as("investigator").post("/review/sign", data={
        "subject": "SPR-001", "password": "not-my-password", "meaning": "I have reviewed this casebook"})
    assert answer.status_code == 422
    assert re.search(r'<p class="error" id="password-error"[^>]*>password: ', answer.text)
    # the signer is signed in: the password is what was wrong, not "unknown user or wrong password"
    assert "signature refused: wrong password" in answer.text and "unknown user" not in answer.text
    assert 'value="I have reviewed this casebook"' in answer.text
    assert review.signatures(web_study, web_study.team.investigator, "SPR-001") == []


def test_signing_what_has_an_open_query_is_refused_with_the_reason(web_study, client_as):
    queries.open_query(web_study, web_study.team.monitor, "SPR-001", "pathology", "viable_percent", "Check")
    ivy = client_as("investigator")
    page = ivy.get("/review/sign", params={"subject": "SPR-001", "form": "pathology"})
    assert "not closed" in page.text  # warned before typing the password
    answer = ivy.post("/review/sign", data={"subject": "SPR-001", "form": "pathology", "password": password("ivy"),
                                            "meaning": "I have reviewed these data"})
    assert answer.status_code == 422 and "not closed" in answer.text
    assert review.signatures(web_study, web_study.team.investigator, "SPR-001") == []


def test_a_monitor_cannot_sign(web_study, client_as):
    answer = client_as("monitor").post("/review/sign", data={"subject": "SPR-001", "password": password("mona"),
                                                             "meaning": "I have reviewed this casebook"})
    assert answer.status_code == 403
    assert review.signatures(web_study, web_study.team.investigator, "SPR-001") == []


def test_lock_refuses_a_correction_and_unlock_needs_a_reason(web_study, client_as):
    dana, team = client_as("data_manager"), web_study.team
    page = dana.get("/review/lock", params=PATHOLOGY)
    assert page.status_code == 200 and '<label for="reason">' in page.text
    answer = dana.post("/review/lock", data={**PATHOLOGY, "reason": "Ready for the interim analysis"})
    assert answer.status_code == 303
    with pytest.raises(InvalidValue, match="locked by dana"):
        forms.correct(web_study, team.research_nurse, "SPR-001", "pathology", {"viable_percent": 4}, "typo",
                      visit="surgery")
    entries = views.audit_entries(web_study, team.data_manager, subject_id="SPR-001", limit=20)
    assert any(e.reason == "crf locked: Ready for the interim analysis" for e in entries)  # the audit keeps it

    table = dana.get("/review?state=locked").text
    rows = re.findall(r'<tr class="crf" data-subject="SPR-001" data-form="pathology".*?</tr>', table, re.DOTALL)
    assert len(rows) == 1 and 'data-locked="yes"' in rows[0] and "by dana" in rows[0]
    assert "Ready for the interim analysis" in rows[0]
    assert 'data-form="surgery"' not in table  # the state filter keeps the locked rows only

    refused = dana.post("/review/unlock", data={**PATHOLOGY, "reason": "  "})
    assert refused.status_code == 422
    assert re.search(r'<p class="error" id="reason-error"[^>]*>reason: unlocking needs a reason', refused.text)
    with pytest.raises(InvalidValue, match="locked"):
        forms.correct(web_study, team.research_nurse, "SPR-001", "pathology", {"viable_percent": 4}, "typo",
                      visit="surgery")
    assert dana.post("/review/unlock", data={**PATHOLOGY, "reason": "Addendum received"}).status_code == 303
    forms.correct(web_study, team.research_nurse, "SPR-001", "pathology", {"viable_percent": 4}, "addendum",
                  visit="surgery")
    history = dana.get("/review?subject=SPR-001").text
    assert "Addendum received" in history and "Ready for the interim analysis" in history


def test_the_whole_study_lock_asks_for_confirmation(web_study, client_as):
    dana = client_as("data_manager")
    page = dana.get("/review/lock?study=1")
    assert page.status_code == 200 and "data-confirm=" in page.text
    assert dana.post("/review/lock", data={"study": "1", "reason": "Database lock"}).status_code == 303
    board = review.lock_sign_board(web_study, web_study.team.data_manager)
    assert board.study_lock is not None and board.study_lock.locked_by == "dana"
    assert 'href="/review/unlock?study=1"' in dana.get("/review").text
    with pytest.raises(InvalidValue, match="the study is locked"):
        forms.correct(web_study, web_study.team.research_nurse, "SPR-001", "surgery", {"procedure": "amputation"},
                      "typo")


def test_the_table_filters_by_site_and_a_site_limited_user_sees_their_site(web_study, client_as):
    review.lock(web_study, web_study.team.data_manager, subject_id="SPR-003")
    review.lock(web_study, web_study.team.data_manager, subject_id="SPR-001", form_id="surgery")
    sat = client_as("data_manager").get("/review?site=SAT").text
    assert 'data-subject="SPR-003"' in sat and 'data-subject="SPR-001"' not in sat
    nurse = client_as("nurse.sat").get("/review").text
    assert 'data-subject="SPR-003"' in nurse and "SPR-001" not in nurse
    assert "/review/lock?" not in nurse and "/review/sign?" not in nurse  # no link the role may not use
    full = client_as("data_manager").get("/review").text
    surgery = re.search(r'<tr class="crf" data-subject="SPR-001" data-form="surgery".*?</tr>', full, re.DOTALL).group(0)
    assert 'data-locked="yes"' in surgery and "/review/unlock?" in surgery


@pytest.mark.parametrize("who, url, data", [
    ("research_nurse", "/review/lock", {**PATHOLOGY, "reason": "x"}),
    ("monitor", "/review/lock", {"study": "1"}),
    ("investigator", "/review/sdv", PATHOLOGY),
    ("data_manager", "/review/sdv", PATHOLOGY),
])
def test_posts_without_the_permission_are_refused_and_write_nothing(web_study, client_as, who, url, data):
    assert client_as(who).post(url, data=data).status_code == 403
    board = review.lock_sign_board(web_study, web_study.team.data_manager, state="locked")
    assert board.rows == [] and board.study_lock is None
    assert progress(web_study).fields_verified == 0


def test_unlock_without_the_permission_or_the_csrf_token_is_refused(web_study, client_as):
    review.lock(web_study, web_study.team.data_manager, subject_id="SPR-001")
    assert client_as("monitor").post("/review/unlock", data={"subject": "SPR-001", "reason": "x"}).status_code == 403
    assert client_as("data_manager").post("/review/unlock", data={"subject": "SPR-001", "reason": "x"},
                                          csrf=False).status_code == 403
    assert client_as("data_manager").post("/review/lock", data={**PATHOLOGY}, csrf=False).status_code == 403
    board = review.lock_sign_board(web_study, web_study.team.data_manager, subject_id="SPR-001")
    assert [h.active for h in board.locks] == [True] and len(board.locks) == 1
