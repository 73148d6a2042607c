"""The REST API's data routes through HTTP, as a script uses them: the CLI's ``--json`` shapes (compared
with the CLI's own output on the same study), the changes and their refusals (each refusal writes
nothing), not-found and stale-revision answers, signatures with API tokens, CSRF, the OpenAPI
document. The role x endpoint matrix and site isolation are in ``test_api_matrix.py``.

Sources: 21 CFR 11.200(a)(1) (each signing re-enters the password: a token alone never signs);
``docs/roles.md`` (permissions); ``docs/edc.md`` (revisions, queries, locks).
"""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app as cli
from sarcotrial.services import access, forms, queries, review, views
from tests.edc_support import password
from tests.helpers import SCREENING
from tests.web.conftest import Client

AE = {"term": "Fatigue", "grade": 1, "onset_date": "2025-06-02"}
SAE = {"term": "Febrile neutropenia", "grade": 3, "onset_date": "2025-05-01", "serious": True,
       "seriousness": "hospitalisation", "aware_at": "2025-05-02T08:00"}


def audit_length(study) -> int:
    return views.audit_total(study, None)


def run_cli(study, user: str, *args: str) -> dict:
    """A CLI command with ``--json`` on the same study, signed in as ``user``; its JSON."""
    result = CliRunner().invoke(cli, [*args, "--db", study.url, "--user", user],
                                env={"SARCOTRIAL_PASSWORD": password(user)})
    assert result.exit_code in (0, 1), result.output  # 1: an empty listing
    return json.loads(result.output)


# --------------------------------------------------------------------------- the CLI's shapes
def test_reads_answer_what_the_cli_prints(web_study, client_as, tmp_path):
    team = web_study.team
    forms.record(web_study, team.investigator, "SPR-002", "rt_course", {"planned_start": "2025-02-03", "calendar": "IT-MI"})
    forms.record(web_study, team.investigator, "SPR-001", "adverse_event", SAE)
    queries.open_query(web_study, team.monitor, "SPR-001", "pathology", "viable_percent", "please confirm")
    review.sign(web_study, team.investigator, "SPR-001", password("ivy"), "I approve", form_id="surgery")
    access.grant(web_study, team.admin, "dana", export="pseudonymised", reason="analysis")
    dana = client_as("data_manager")
    pairs = [
        (["status", "--json"], "/status"),
        (["patient", "list", "--json"], "/patients"),
        (["patient", "show", "SPR-001", "--json"], "/patients/SPR-001"),
        (["visits", "SPR-001", "--json"], "/patients/SPR-001/visits"),
        (["due", "--days", "30", "--json"], "/due?days=30"),
        (["query", "list", "--json"], "/queries"),
        (["query", "list", "--status", "closed", "--json"], "/queries?status=closed"),
        (["sdv-progress", "--json"], "/sdv-progress"),
        (["signatures", "SPR-001", "--json"], "/patients/SPR-001/signatures"),
        (["sae", "--json"], "/sae"),
        (["reconsent", "--json"], "/reconsent"),
        (["rt", "delivery", "SPR-002", "--json"], "/patients/SPR-002/rt"),
        (["audit", "log", "--limit", "40", "--patient", "SPR-001", "--json"], "/audit?limit=40&patient=SPR-001"),
    ]
    for args, url in pairs:
        printed = run_cli(web_study, "dana", *args)  # the CLI first: its sign-in is in the trail the API then reads
        answer = dana.get("/api/v1" + url)
        assert answer.status_code == 200, (url, answer.text)
        assert answer.json() == printed, url
    assert dana.get("/api/v1/sae").json()["serious_adverse_events"][0]["subject"] == "SPR-001"
    assert dana.get("/api/v1/queries").json()["queries"][0]["field"] == "viable_percent"
    # the protocol: as 'protocol show --json' prints the protocol the study is bound to
    shown = CliRunner().invoke(cli, ["protocol", "show", "sprint", "--json"])
    protocol = dana.get("/api/v1/protocol").json()
    assert protocol["sha256"] == web_study.loaded.sha256 == json.loads(shown.output)["sha256"]
    assert {k: v for k, v in protocol.items() if k != "source"} == \
        {k: v for k, v in json.loads(shown.output).items() if k != "source"}
    # the endpoints: the rows of the CSV 'sarcotrial endpoints' writes, cell by cell
    out = tmp_path / "endpoints.csv"
    result = CliRunner().invoke(cli, ["endpoints", "--out", str(out), "--db", web_study.url, "--user", "dana"],
                                env={"SARCOTRIAL_PASSWORD": password("dana")})
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    answer = dana.get("/api/v1/endpoints").json()
    assert answer["columns"] == table[0]
    assert len(answer["rows"]) == len(table) - 1 == 2
    for row, line in zip(answer["rows"], table[1:]):
        cells = ["" if row[c] is None else f"{row[c]:.4f}" if c.endswith("_time_months") else str(row[c])
                 for c in answer["columns"]]
        assert cells == line


def test_form_records_give_each_instance_with_its_place(web_study, client_as):
    nina = client_as("research_nurse")
    made = nina.post("/api/v1/patients/SPR-002/forms/adverse_event", json={"values": AE})
    assert made.status_code == 201
    body = made.json()
    assert body["form"] == "adverse_event" and body["record"]["term"] == "Fatigue" and body["record"]["grade"] == 1
    assert body["record"]["soc"]  # derived from the CTCAE term by the service
    listed = nina.get("/api/v1/patients/SPR-002/forms/adverse_event").json()
    stored = views.form_instances(web_study, web_study.team.monitor, "SPR-002", "adverse_event")
    assert listed["subject_id"] == "SPR-002" and listed["form"] == "adverse_event"
    assert [r["crf"]["id"] for r in listed["records"]] == [c.id for c in stored] == [body["record"]["crf"]["id"]]
    assert listed["records"][0]["crf"]["revision"] == 1


# --------------------------------------------------------------------------- changes and refusals
def test_correct_with_a_stale_revision_is_409_and_writes_nothing(web_study, client_as):
    nina, ivy = client_as("research_nurse"), client_as("investigator")
    record_id = nina.post("/api/v1/patients/SPR-002/forms/adverse_event", json={"values": AE}).json()["record"]["crf"]["id"]
    url = f"/api/v1/patients/SPR-002/forms/adverse_event/{record_id}"
    first = ivy.patch(url, json={"changes": {"grade": 2}, "reason": "the source says 2", "revision": 1})
    assert first.status_code == 200 and first.json()["record"]["grade"] == 2
    assert first.json()["record"]["crf"]["revision"] == 2
    before = audit_length(web_study)
    stale = nina.patch(url, json={"changes": {"grade": 3}, "reason": "my reading", "revision": 1})
    assert stale.status_code == 409
    assert stale.json()["field"] == "revision" and "changed by ivy" in stale.json()["error"]
    assert audit_length(web_study) == before
    assert views.form_instances(web_study, None, "SPR-002", "adverse_event")[0].values["grade"] == 2


def test_a_value_breaking_a_rule_is_422_naming_field_and_rule_and_writes_nothing(web_study, client_as):
    nina = client_as("research_nurse")
    before = audit_length(web_study)
    answer = nina.post("/api/v1/patients/SPR-002/forms/adverse_event",
                       json={"values": {**AE, "grade": 9}})
    assert answer.status_code == 422
    body = answer.json()
    assert "grade" in body["field"] and body["rule"] and body["field"] in body["error"]
    no_reason = nina.patch("/api/v1/patients/SPR-001/forms/surgery/4", json={"changes": {"procedure": "amputation"},
                                                                            "reason": "  "})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    assert audit_length(web_study) == before


@pytest.mark.parametrize("body, problem", [
    ({}, None),  # no values at all is a well-formed body: the service names the form's required fields missing
    ({"values": {**AE}, "colour": "blue"}, "colour: Extra inputs are not permitted"),
    ({"values": "grade=1"}, "values: Input should be a valid dictionary"),
    ({"values": AE, "instance": 0}, "instance: Input should be greater than or equal to 1"),
])
def test_a_malformed_body_is_422_naming_the_member(web_study, client_as, body, problem):
    nina = client_as("research_nurse")
    before = audit_length(web_study)
    answer = nina.post("/api/v1/patients/SPR-002/forms/adverse_event", json=body)
    assert answer.status_code == 422
    if problem is not None:
        assert answer.json() == {"error": problem}
    else:
        assert answer.json()["field"].startswith("adverse_event") and answer.json()["rule"]
    assert audit_length(web_study) == before


def test_missing_members_and_non_json_bodies(web_study, client_as):
    nina = client_as("research_nurse")
    before = audit_length(web_study)
    assert nina.post("/api/v1/patients/SPR-001/not-done", json={"form": "follow_up"}).json() == \
        {"error": "visit: Field required; reason: Field required"}
    broken = nina.post("/api/v1/patients/SPR-002/forms/adverse_event", content=b"{not json",
                       headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "error" in broken.json()
    assert audit_length(web_study) == before


def test_not_found_is_404(web_study, client_as):
    ivy = client_as("investigator")
    for url in ("/api/v1/patients/SPR-999", "/api/v1/patients/SPR-999/visits", "/api/v1/patients/SPR-001/forms/nope",
                "/api/v1/patients/SPR-001/rt"):
        answer = ivy.get(url)
        assert answer.status_code == 404 and answer.json()["error"], url
    before = audit_length(web_study)
    assert ivy.post("/api/v1/queries/999/respond", json={"resolution": "confirmed", "text": "x"}).status_code == 404
    assert ivy.patch("/api/v1/patients/SPR-001/forms/surgery/999",
                     json={"changes": {"procedure": "amputation"}, "reason": "x"}).status_code == 404
    assert ivy.post("/api/v1/patients/SPR-999/forms/adverse_event", json={"values": AE}).status_code == 404
    assert audit_length(web_study) == before


def test_query_lifecycle_through_the_api(web_study, client_as):
    mona, nina = client_as("monitor"), client_as("research_nurse")
    opened = mona.post("/api/v1/queries", json={"subject": "SPR-001", "form": "pathology", "field": "viable_percent",
                                                "text": "3 % or 30 %?", "assign": "nina"})
    assert opened.status_code == 201
    number = opened.json()["id"]
    assert opened.json()["status"] == "open" and opened.json()["assigned_to"] == "nina"
    answered = nina.post(f"/api/v1/queries/{number}/respond", json={"resolution": "corrected", "text": "30 % in the report",
                                                                   "changes": {"viable_percent": 30}})
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    assert views.patient(web_study, None, "SPR-001").first("pathology").values["viable_percent"] == 30
    assert mona.post(f"/api/v1/queries/{number}/close").json()["status"] == "closed"
    reopened = mona.post(f"/api/v1/queries/{number}/reopen", json={"text": "the margin changed too?"})
    assert reopened.json()["status"] == "open"
    assert [m["kind"] for m in reopened.json()["thread"]] == ["open", "answer", "close", "reopen"]
    assert nina.get("/api/v1/queries?status=open&patient=SPR-001").json()["queries"][0]["id"] == number


def test_referral_screening_and_enrolment_through_the_api(web_study, client_as):
    nina = client_as("research_nurse")
    made = nina.post("/api/v1/patients", json={
        "full_name": "Api Person (synthetic)", "date_of_birth": "1960-05-01", "hospital_number": "H0100",
        "sex": "female", "site": "MAIN", "referral": {"referral_date": "2025-01-10", "anatomic_site": "extremity"}})
    assert made.status_code == 201, made.text
    subject = made.json()["subject_id"]
    assert subject == "SPR-004" and made.json()["status"] == "referred"
    assert "Api Person" not in made.text and "H0100" not in made.text  # identifiers are never answered
    screened = nina.post(f"/api/v1/patients/{subject}/screening",
                         json={"values": {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING}})
    assert screened.status_code == 201 and screened.json()["decision"] == "eligible"
    assert {c["kind"] for c in screened.json()["criteria"]} == {"inclusion", "exclusion"}
    nina.post(f"/api/v1/patients/{subject}/forms/consent",
              json={"values": {"consent_date": "2025-01-20", "document_version": "1.0", "data_use": True}})
    enrolled = nina.post(f"/api/v1/patients/{subject}/enrolment", json={"enrolment_date": "2025-01-22"})
    assert enrolled.status_code == 201
    assert enrolled.json()["enrolment"]["enrolment_date"] == "2025-01-22" and enrolled.json()["status"] == "enrolled"
    duplicate = nina.post("/api/v1/patients", json={
        "full_name": "Someone Else", "date_of_birth": "1961-01-01", "hospital_number": "H0100", "sex": "male",
        "site": "MAIN", "referral": {"referral_date": "2025-01-10", "anatomic_site": "extremity"}})
    assert duplicate.status_code == 422 and duplicate.json()["field"] == "hospital_number"
    assert "H0100" not in duplicate.text


def test_lock_refuses_changes_until_unlocked(web_study, client_as):
    dana, nina = client_as("data_manager"), client_as("research_nurse")
    assert dana.post("/api/v1/lock", json={"subject": "SPR-002"}).json() == {"locked": "SPR-002"}
    before = audit_length(web_study)
    refused = nina.post("/api/v1/patients/SPR-002/forms/adverse_event", json={"values": AE})
    assert refused.status_code in (400, 422) and "lock" in refused.json()["error"]
    assert audit_length(web_study) == before
    assert dana.post("/api/v1/unlock", json={"subject": "SPR-002", "reason": "late adverse event"}).status_code == 200
    assert nina.post("/api/v1/patients/SPR-002/forms/adverse_event", json={"values": AE}).status_code == 201


# --------------------------------------------------------------------------- signatures, tokens, CSRF
def test_a_token_alone_never_signs(web_study, client_as):
    ivy = client_as("investigator")
    token = ivy.post("/api/v1/tokens", json={"label": "signing script"}).json()["token"]
    script = Client(ivy.http.app)
    bearer = {"Authorization": f"Bearer {token}"}
    body = {"subject": "SPR-001", "form": "surgery", "meaning": "I have reviewed these data"}
    before = audit_length(web_study)
    without = script.post("/api/v1/sign", json=body, headers=bearer)
    assert without.status_code == 422 and without.json() == {"error": "password: Field required"}
    empty = script.post("/api/v1/sign", json={**body, "password": ""}, headers=bearer)
    assert empty.status_code == 403 and "password" in empty.json()["error"]
    assert audit_length(web_study) == before
    wrong = script.post("/api/v1/sign", json={**body, "password": "not-ivys-password"}, headers=bearer)
    assert wrong.status_code == 403
    assert review.signatures(web_study, web_study.team.monitor, "SPR-001") == []
    signed = script.post("/api/v1/sign", json={**body, "password": password("ivy")}, headers=bearer)
    assert signed.status_code == 201, signed.text
    shown = signed.json()
    assert shown["signer"] == "ivy" and shown["status"] == "valid" and shown["form_id"] == "surgery"
    assert "Signed by Dr Ivy Investigator (ivy)" in shown["manifestation"]
    assert [s.id for s in review.signatures(web_study, web_study.team.monitor, "SPR-001")] == [shown["id"]]


def test_token_requests_need_no_csrf_but_cookie_requests_do(web_study, client_as):
    nina = client_as("research_nurse")
    before = audit_length(web_study)
    refused = nina.post("/api/v1/patients/SPR-002/forms/adverse_event", json={"values": AE}, csrf=False)
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    assert audit_length(web_study) == before
    token = nina.post("/api/v1/tokens", json={"label": "import"}).json()["token"]
    script = Client(nina.http.app)
    made = script.post("/api/v1/patients/SPR-002/forms/adverse_event", json={"values": AE},
                       headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 201
    entry = views.audit_entries(web_study, None, limit=200)
    assert any(e.actor == "nina" and e.table_name == "crf_instance adverse_event" for e in entry)


def test_endpoints_need_an_export_right(web_study, client_as):
    ivy = client_as("investigator")  # the permission export, but the export right 'none' (the default)
    refused = ivy.get("/api/v1/endpoints")
    assert refused.status_code == 403 and "export right is none" in refused.json()["error"]
    assert client_as("statistician").get("/api/v1/endpoints").status_code == 200


def test_a_site_nurse_sees_and_changes_her_site_only(web_study, client_as):
    sat = client_as("nurse.sat")
    assert [p["subject_id"] for p in sat.get("/api/v1/patients").json()["patients"]] == ["SPR-003"]
    assert sat.get("/api/v1/status").json()["patients"] == 1
    number = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "procedure", "which?")
    assert sat.get("/api/v1/queries").json() == {"queries": []}
    before = audit_length(web_study)
    assert sat.post(f"/api/v1/queries/{number}/respond", json={"resolution": "confirmed", "text": "x"}).status_code == 404
    other_site = sat.post("/api/v1/patients", json={
        "full_name": "Main Person", "date_of_birth": "1960-05-01", "hospital_number": "H0200", "sex": "male",
        "site": "MAIN", "referral": {"referral_date": "2025-01-10", "anatomic_site": "extremity"}})
    assert other_site.status_code == 403 and "SAT" in other_site.json()["error"]
    assert audit_length(web_study) == before
    own = sat.post("/api/v1/patients/SPR-003/screening",
                   json={"values": {"screening_date": "2025-02-10", "age_years": 53, **{k: v for k, v in SCREENING.items()
                                                                                     if k != "age_years"}}})
    assert own.status_code == 201


# --------------------------------------------------------------------------- the OpenAPI document
def test_openapi_documents_every_data_route(web_app):
    spec = Client(web_app).get("/openapi.json").json()
    data = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
            if "data" in op.get("tags", [])]
    assert len(data) >= 29
    for path, method, op in data:
        assert path.startswith("/api/v1/") and op.get("summary"), (path, method)
        assert {"401", "403", "404", "422"} <= set(op["responses"]), (path, method)
        if method in ("post", "patch"):
            assert "422" in op["description"] and "requestBody" in op or path.endswith("/close"), (path, method)
    sign = spec["paths"]["/api/v1/sign"]["post"]
    schema = sign["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert "password" in spec["components"]["schemas"][schema]["required"]
