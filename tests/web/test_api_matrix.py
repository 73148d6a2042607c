"""The REST API's role x endpoint matrix, generated from ``/openapi.json`` and the role table.

For every operation the application documents under ``/api/v1`` and every role of
``sarcotrial.domain.access.ROLES`` (and an anonymous caller), one call with a valid example
request: it must succeed (2xx) exactly when ``access.allowed(role, permission)`` says the role
may, else answer 403 (401 for the anonymous caller); a refused call must leave the audit trail as
it was (nothing written), an allowed change must add to it, and no read writes anything.
:data:`OPERATIONS` gives each operation's permission and example; an operation of the OpenAPI
document missing from it fails the test, so no new route escapes the matrix.

Site isolation runs the same table as ``nurse.sat`` (a research nurse limited to site SAT), with
every example naming a patient of site MAIN: what the role may do answers 404 (a patient of
another site is answered as an unknown subject id, so subject ids of other sites are not
disclosed), listings answer without the MAIN patients, and registering a patient at MAIN is
refused (403); nothing is written by any of these.

Sources: ``docs/roles.md`` (generated from ``domain/access.py``: FDA 21 CFR 11.10(d) and (g),
EU GMP Annex 11 §12); 21 CFR 11.200(a) for the password asked again at signing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from sarcotrial.domain import access as rules
from sarcotrial.services import access, forms, pathway, queries, review, views
from tests.edc_support import password
from tests.helpers import SCREENING
from tests.web.conftest import NAMES, Client

ANONYMOUS = "anonymous"
SITE_USER = "nurse.sat"
MAIN_SUBJECTS = ("SPR-001", "SPR-002")

AE = {"term": "Fatigue", "grade": 1, "onset_date": "2025-06-02"}
REFERRAL = {"referral_date": "2025-01-10", "anatomic_site": "extremity"}


@dataclass
class Ctx:
    """What an example may use: the study, a signed-in actor per role (to arrange with the services),
    the role (or user name) under test, and a counter for unique values."""

    study: Any
    who: str
    counter: list[int] = field(default_factory=lambda: [0])

    @property
    def team(self):
        return self.study.team

    def unique(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    @property
    def username(self) -> str | None:
        if self.who == ANONYMOUS:
            return None
        return NAMES[self.who][0] if self.who in NAMES else self.who


@dataclass(frozen=True)
class Example:
    """A valid request for one operation: path parameters, query, JSON body."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Op:
    """One operation of the matrix: the permission it needs (``None``: public, the sign-in itself),
    how to build a valid example (arranging what it needs through the services), and what it shows
    of a site's patients (``patient``: names a MAIN patient; ``list``: lists patients; ``site``:
    names site MAIN; ``None``: no patient data)."""

    permission: str | None
    example: Callable[[Ctx], Example] = lambda ctx: Example()
    site: str | None = None
    client: str = "own"  # own: the role's signed-in client; fresh: a new client (sign-in, sign-out)
    last: bool = False   # runs after the others (locks would refuse later examples' arranging)


# --------------------------------------------------------------------------- arranging
def _new_ae(ctx: Ctx) -> int:
    crf = forms.record(ctx.study, ctx.team.research_nurse, "SPR-002", "adverse_event", AE)
    return crf.id


def _open_query(ctx: Ctx, field_id: str = "closest_margin_mm") -> int:
    return queries.open_query(ctx.study, ctx.team.monitor, "SPR-001", "pathology", field_id, "please check the report")


def _closed_query(ctx: Ctx) -> int:
    number = _open_query(ctx, "closest_margin_tissue")
    queries.close(ctx.study, ctx.team.monitor, number, "checked")
    return number


def _referred(ctx: Ctx) -> str:
    n = ctx.unique()
    patient = pathway.register_patient(
        ctx.study, ctx.team.research_nurse, sex="male", referral=REFERRAL,
        identifiers=pathway.Identifiers(f"Matrix Patient {n} (synthetic)", dt.date(1960, 5, 1), f"HM{n:04d}"))
    return patient.subject_id


def _eligible(ctx: Ctx) -> str:
    subject = _referred(ctx)
    nurse = ctx.team.research_nurse
    pathway.screen(ctx.study, nurse, subject, {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING})
    forms.record(ctx.study, nurse, subject, "consent", {"consent_date": "2025-01-20", "document_version": "1.0",
                                                        "data_use": True})
    return subject


def _rt_course(ctx: Ctx) -> str:
    forms.record(ctx.study, ctx.team.investigator, "SPR-002", "rt_course", {"planned_start": "2025-02-03",
                                                                             "calendar": "IT-MI"})
    return "SPR-002"


def _own_token(ctx: Ctx) -> int:
    actor = ctx.team.admin if ctx.who == ANONYMOUS else _actor(ctx)
    name = ctx.username or "admin"
    access.create_token(ctx.study, actor, name, "to be revoked")
    return max(t["id"] for t in access.list_tokens(ctx.study, actor, name))


def _actor(ctx: Ctx):
    from tests.edc_support import sign_in_as

    return sign_in_as(ctx.username)


def _signature(ctx: Ctx) -> Example:
    return Example(body={"subject": "SPR-001", "form": "surgery", "meaning": "I have reviewed these data",
                         "password": password(ctx.username) if ctx.username else "not-a-password"})


def _sign_in(ctx: Ctx) -> Example:
    if ctx.username is None:
        return Example(body={"username": "nobody", "password": "wrong-password"})
    return Example(body={"username": ctx.username, "password": password(ctx.username)})


#: every operation of the API: permission and a valid example (keyed by the OpenAPI operation id)
OPERATIONS: dict[str, Op] = {
    # sign-in, sign-out, tokens (web/api/session.py): every role, nobody anonymous
    "sign_in_api_v1_session_post": Op(None, _sign_in, client="fresh"),
    "who_api_v1_session_get": Op("account.self"),
    "sign_out_api_v1_session_delete": Op("account.self", client="fresh"),
    "tokens_api_v1_tokens_get": Op("account.self"),
    "create_token_api_v1_tokens_post": Op("account.self", lambda ctx: Example(body={"label": "matrix script"})),
    "revoke_api_v1_tokens__token_id__delete": Op("account.self", lambda ctx: Example(path={"token_id": _own_token(ctx)})),
    # reads
    "status": Op("read", site="list"),
    "patient_list": Op("read", site="list"),
    "patient_show": Op("read", lambda ctx: Example(path={"subject": "SPR-001"}), site="patient"),
    "visits": Op("read", lambda ctx: Example(path={"subject": "SPR-001"}), site="patient"),
    "due": Op("read", lambda ctx: Example(query={"days": 30}), site="list"),
    "form_records": Op("read", lambda ctx: Example(path={"subject": "SPR-001", "form_id": "surgery"}), site="patient"),
    "query_list": Op("read", lambda ctx: Example(query={"status": "open"}), site="list"),
    "sdv_progress": Op("read", site="list"),
    "signatures": Op("read", lambda ctx: Example(path={"subject": "SPR-001"}), site="patient"),
    "sae": Op("read", site="list"),
    "reconsent": Op("read", site="list"),
    "audit_log": Op("audit.read", lambda ctx: Example(query={"limit": 20}), site="list"),
    "protocol": Op("read"),
    "endpoints": Op("export", site="list"),
    "export_log": Op("export", site="list"),
    "export": Op("export", lambda ctx: Example(path={"format": "tables"}, body={"level": "deidentified",
                                                                              "forms": ["referral", "surgery"]}),
                 site="list"),
    "rt_delivery": Op("read", lambda ctx: Example(path={"subject": _rt_course(ctx)}), site="patient"),
    # changes
    "record": Op("record", lambda ctx: Example(path={"subject": "SPR-002", "form_id": "adverse_event"},
                                               body={"values": AE}), site="patient"),
    "correct": Op("correct", lambda ctx: Example(
        path={"subject": "SPR-002", "form_id": "adverse_event", "record_id": _new_ae(ctx)},
        body={"changes": {"grade": 2}, "reason": "the source says grade 2", "revision": 1}), site="patient"),
    "not_done": Op("not_done", lambda ctx: Example(
        path={"subject": "SPR-001"}, body={"form": "follow_up", "visit": "follow_up_early:2",
                                           "reason": "the patient moved abroad for three months"}), site="patient"),
    "query_open": Op("query.open", lambda ctx: Example(body={
        "subject": "SPR-001", "form": "pathology", "field": "viable_percent", "text": "please confirm"}), site="patient"),
    "query_respond": Op("query.respond", lambda ctx: Example(
        path={"query_id": _open_query(ctx)}, body={"resolution": "confirmed", "text": "as in the report"}),
        site="patient"),
    "query_close": Op("query.close", lambda ctx: Example(path={"query_id": _open_query(ctx)}, body={"text": "fine"}),
                      site="patient"),
    "query_reopen": Op("query.reopen", lambda ctx: Example(path={"query_id": _closed_query(ctx)},
                                                           body={"text": "please look again"}), site="patient"),
    "sdv": Op("sdv", lambda ctx: Example(body={"subject": "SPR-001", "form": "surgery"}), site="patient"),
    "sign": Op("sign", _signature, site="patient"),
    "patient_register": Op("patient.register", lambda ctx: Example(body={
        "full_name": "Api Patient (synthetic)", "date_of_birth": "1970-01-01", "hospital_number": f"HA{ctx.unique():04d}",
        "sex": "female", "site": "MAIN", "referral": REFERRAL}), site="site"),
    "patient_screen": Op("patient.screen", lambda ctx: Example(
        path={"subject": _referred(ctx)},
        body={"values": {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING}}), site="patient"),
    "patient_enrol": Op("patient.enrol", lambda ctx: Example(path={"subject": _eligible(ctx)},
                                                             body={"enrolment_date": "2025-01-22"}), site="patient"),
    "lock": Op("lock", lambda ctx: Example(body={"subject": "SPR-001", "form": "surgery"}), site="patient", last=True),
    "unlock": Op("unlock", lambda ctx: Example(body={"subject": "SPR-001", "form": "pathology", "reason": "a query"}),
                 site="patient", last=True),
}


def _arrange_unlock(ctx: Ctx) -> None:
    review.lock(ctx.study, ctx.team.data_manager, subject_id="SPR-001", form_id="pathology")


ARRANGE_BEFORE = {"unlock": _arrange_unlock}


# --------------------------------------------------------------------------- the sweep
def api_operations(app) -> list[tuple[str, str, str]]:
    """(operation id, method, path) of every operation under /api/v1 in the app's OpenAPI document."""
    spec = Client(app).get("/openapi.json").json()
    out = []
    for path, item in spec["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                out.append((op["operationId"], method, path))
    return out


def audit_length(study) -> int:
    return views.audit_total(study, None)


def audit_tables_since(study, before: int) -> list[str]:
    rows = views.audit_entries(study, None, limit=max(audit_length(study) - before, 1))
    return [r.table_name for r in rows if r.id > before]


def _export_rights(study) -> None:
    """Every role with the permission ``export`` gets an export right reaching pseudonymised data, so that
    the endpoints export is decided by the permission alone (the right itself is tested in test_api.py)."""
    for role in rules.ROLES:
        if rules.allowed(role, "export") and role != "statistician":
            access.grant(study, study.team.admin, NAMES[role][0], export="pseudonymised", reason="matrix")


@dataclass(frozen=True)
class Call:
    op_id: str
    method: str
    path: str
    answer: Any
    written: int         # audit entries the call added
    tables: list[str]    # the tables they name


def sweep(web_app, study, who: str) -> list[Call]:
    """Every operation once as ``who`` (the arranging of each done before its audit count is taken)."""
    _export_rights(study)
    ctx = Ctx(study, who)
    client = Client(web_app) if who == ANONYMOUS else Client(web_app, ctx.username)
    found = api_operations(web_app)
    missing = sorted({op for op, _, _ in found} - set(OPERATIONS))
    assert not missing, f"operations without a row in the matrix table: {missing}"
    stale = sorted(set(OPERATIONS) - {op for op, _, _ in found})
    assert not stale, f"rows of the matrix table for operations the API no longer has: {stale}"
    order = sorted(found, key=lambda f: OPERATIONS[f[0]].last)
    calls = []
    for op_id, method, path in order:
        op = OPERATIONS[op_id]
        if op_id in ARRANGE_BEFORE:
            ARRANGE_BEFORE[op_id](ctx)
        example = op.example(ctx)
        url = path
        for name, value in example.path.items():
            url = url.replace("{" + name + "}", str(value))
        assert "{" not in url, f"{op_id}: the example lacks a path parameter of {path}"
        caller = client
        if op.client == "fresh":
            caller = Client(web_app) if (op_id.startswith("sign_in") or who == ANONYMOUS) else Client(web_app, ctx.username)
        before = audit_length(study)
        kwargs: dict[str, Any] = {"params": example.query} if example.query else {}
        if example.body is not None:
            kwargs["json"] = example.body
        answer = getattr(caller, method)(url, **kwargs)
        after = audit_length(study)
        tables = audit_tables_since(study, before) if after != before else []
        calls.append(Call(op_id, method, path, answer, after - before, tables))
    return calls


def expected_status(op: Op, who: str) -> str:
    """``allowed``, ``refused`` (403) or ``anonymous`` (401)."""
    if who == ANONYMOUS:
        return "anonymous"
    if op.permission is None:
        return "allowed"
    return "allowed" if rules.allowed(who, op.permission) else "refused"


@pytest.mark.parametrize("who", [*rules.ROLES, ANONYMOUS])
def test_role_endpoint_matrix(web_app, web_study, who):
    problems = []
    for call in sweep(web_app, web_study, who):
        op_id, method, path, answer, written = call.op_id, call.method, call.path, call.answer, call.written
        op = OPERATIONS[op_id]
        cell = f"{who} {method.upper()} {path} ({op_id}, permission {op.permission})"
        expect = expected_status(op, who)
        status = answer.status_code
        if expect == "allowed" and not 200 <= status < 300:
            problems.append(f"{cell}: expected allowed, got {status} {answer.text[:200]}")
        elif expect == "refused" and status != 403:
            problems.append(f"{cell}: expected 403, got {status} {answer.text[:200]}")
        elif expect == "anonymous" and status != 401:
            problems.append(f"{cell}: expected 401, got {status} {answer.text[:200]}")
        if status >= 400 and "error" not in answer.json():
            problems.append(f"{cell}: a refusal without its error message: {answer.text[:200]}")
        if op_id.startswith("sign_in") and who == ANONYMOUS:
            # a refused sign-in is itself recorded (lock-out counting, 21 CFR 11.300(d)): its sign-in event, no more
            if set(call.tables) != {"sign_in_event"}:
                problems.append(f"{cell}: a refused sign-in should write its sign-in event alone, wrote {call.tables}")
        elif status >= 400 and written:
            problems.append(f"{cell}: refused with {status} but wrote {written} audit entries ({sorted(set(call.tables))})")
        elif method == "get" and written:
            problems.append(f"{cell}: a read wrote {written} audit entries")
        elif method != "get" and 200 <= status < 300 and not written:
            problems.append(f"{cell}: an accepted change wrote nothing to the audit trail")
    assert not problems, "\n".join(problems)


def _text(answer) -> str:
    """An answer's text; a ZIP (an export) as the text of every file in it."""
    if answer.headers.get("content-type") == "application/zip":
        import io
        import zipfile

        z = zipfile.ZipFile(io.BytesIO(answer.content))
        return "\n".join(z.read(name).decode("utf-8", "replace") for name in z.namelist())
    return answer.text


def test_site_isolation_over_every_operation(web_app, web_study):
    """``nurse.sat`` (research nurse at SAT) through the whole table, every example naming MAIN patients."""
    role = "research_nurse"
    problems = []
    for call in sweep(web_app, web_study, SITE_USER):
        op_id, method, path, answer = call.op_id, call.method, call.path, call.answer
        op = OPERATIONS[op_id]
        cell = f"{SITE_USER} {method.upper()} {path} ({op_id})"
        status = answer.status_code
        may = op.permission is None or rules.allowed(role, op.permission)
        if not may:
            expected = {403}
        elif op.site == "patient":
            expected = {404}
        elif op.site == "site":
            expected = {403}
        else:
            expected = set(range(200, 300))
        if status not in expected:
            problems.append(f"{cell}: expected {sorted(expected)[:3]}, got {status} {answer.text[:200]}")
        if op.site == "list" and 200 <= status < 300:
            shown = [s for s in MAIN_SUBJECTS if s in _text(answer)]
            if shown:
                problems.append(f"{cell}: shows patients of site MAIN: {shown}")
        if status >= 400 and call.written:
            problems.append(f"{cell}: refused with {status} but wrote {call.written} audit entries ({call.tables})")
    assert not problems, "\n".join(problems)
