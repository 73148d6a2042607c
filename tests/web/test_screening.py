"""The screening pages through HTTP, as the site staff use them: the screening log of the user's sites,
registering a referral, screening against the protocol's eligibility criteria (each criterion's verdict
with the rules engine's reason), consent with the consent document's version, and enrolment.

Expected values come from the services (``pathway.eligibility`` for the engine's reasons, the protocol
for criteria texts and labels, ``views.patient`` for what was written), never from the page code.
Sources of the rules: ``docs/roles.md`` / ``domain/access.py`` (who may register, screen, consent,
enrol; who reads identifiers); ``domain/eligibility.py`` (the verdicts and reasons); the protocol's
``eligibility`` and ``consent`` sections (``protocol/protocols/sprint.yaml``).
"""

from __future__ import annotations

import datetime as dt
from html import unescape
from html.parser import HTMLParser

import pytest

from sarcotrial.services import pathway, views
from tests.helpers import SCREENING

VOID = {"input", "br", "img", "meta", "link", "hr", "col", "area", "base", "source", "wbr"}


class _Find(HTMLParser):
    """The text and the inputs inside the element with a given id (stdlib parser: no extra dependency)."""

    def __init__(self, target: str):
        super().__init__(convert_charrefs=True)
        self.target, self.depth, self.found = target, 0, False
        self.text: list[str] = []
        self.inputs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth:
            if tag not in VOID:
                self.depth += 1
            if tag in ("input", "option", "select"):
                self.inputs.append({"tag": tag, **attrs})
        elif attrs.get("id") == self.target:
            self.found = True
            if tag in VOID:
                self.inputs.append({"tag": tag, **attrs})
            else:
                self.depth = 1

    def handle_endtag(self, tag):
        if self.depth and tag not in VOID:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def element(html: str, element_id: str) -> _Find:
    found = _Find(element_id)
    found.feed(html)
    assert found.found, f"no element with id {element_id!r} in the page"
    return found


def text_of(html: str, element_id: str) -> str:
    return " ".join(" ".join(element(html, element_id).text).split())


def value_of(html: str, input_id: str) -> str:
    return unescape(element(html, input_id).inputs[0].get("value", ""))


def field_error(html: str, name: str, prefix: str = "") -> str:
    """The message shown beside an input (``f-NAME-field`` holds the input and its ``f-NAME-error``)."""
    box = text_of(html, f"f-{prefix}{name}-field")
    assert f'id="f-{prefix}{name}-error"' in html, f"no message beside {name}: {box}"
    return text_of(html, f"f-{prefix}{name}-error")


def screening_form(values: dict) -> dict:
    """Screening answers as the page's form posts them (yes/no radios send true/false)."""
    return {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in values.items()}


#: eligible answers for SPR-003 (born 2 March 1971: 53 at a screening in February 2025)
SAT_SCREENING = {**SCREENING, "age_years": 53}

REFERRAL = {"full_name": "Rosa Referral (synthetic)", "date_of_birth": "1958-04-12", "hospital_number": "HN-7788",
            "sex": "female", "site": "MAIN", "referral_date": "2025-03-03", "anatomic_site": "extremity"}


def count(study, actor) -> int:
    return len(views.patients(study, actor))


# --------------------------------------------------------------------------- the log
def test_log_shows_the_pathway_of_the_users_sites_with_filters(client_as, web_study):
    nurse = client_as("research_nurse")
    page = nurse.get("/screening")
    assert page.status_code == 200
    for subject in ("SPR-001", "SPR-002", "SPR-003"):
        assert f'id="row-{subject}"' in page.text
    assert "Enrolled" in text_of(page.text, "row-SPR-001") and "Referred" in text_of(page.text, "row-SPR-003")
    assert 'href="/screening/new"' in page.text  # a research nurse registers referrals
    only = nurse.get("/screening", params={"status": "referred"}).text
    assert 'id="row-SPR-003"' in only and 'id="row-SPR-001"' not in only
    sat = nurse.get("/screening", params={"site": "SAT"}).text
    assert 'id="row-SPR-003"' in sat and 'id="row-SPR-002"' not in sat
    # a monitor reads the log (pseudonymised) but registers nobody
    monitor = client_as("monitor").get("/screening")
    assert monitor.status_code == 200 and 'href="/screening/new"' not in monitor.text


def test_a_satellite_nurse_sees_and_registers_at_her_site_only(client_as, web_study):
    sat = client_as("nurse.sat")
    log = sat.get("/screening").text
    assert 'id="row-SPR-003"' in log
    assert "SPR-001" not in log and "SPR-002" not in log
    assert sat.get("/screening/SPR-001").status_code == 404  # as if it did not exist
    form = sat.get("/screening/new").text
    options = [o.get("value") for o in element(form, "f-site").inputs if o["tag"] == "option"]
    assert options == ["", "SAT"]
    before = count(web_study, web_study.team.investigator)
    answer = sat.post("/screening/new", data={**REFERRAL, "site": "MAIN"})
    assert answer.status_code == 403
    assert count(web_study, web_study.team.investigator) == before
    assert sat.post("/screening/SPR-001", data=screening_form({"screening_date": "2025-02-10", **SAT_SCREENING})
                    ).status_code == 404
    assert len(views.patient(web_study, web_study.team.investigator, "SPR-001").screenings) == 1


# --------------------------------------------------------------------------- registering a referral
def test_register_a_referral_from_the_protocols_form(client_as, web_study):
    protocol = web_study.protocol
    nurse = client_as("research_nurse")
    form = nurse.get("/screening/new").text
    for fld in protocol.form("referral").fields:  # every field of the protocol's referral form, labelled
        assert f'<label for="f-{fld.id}">{fld.label}' in form
    for code in protocol.codelists["anatomic_site"]:
        assert f'<option value="{code.code}">{code.label}</option>' in form
    answer = nurse.post("/screening/new", data=REFERRAL)
    assert answer.status_code == 303
    subject = answer.headers["location"].split("/")[-1].split("?")[0]
    assert subject == "SPR-004"
    record = views.patient(web_study, web_study.team.research_nurse, subject)
    assert (record.status, record.site, record.sex, record.year_of_birth) == ("referred", "MAIN", "female", 1958)
    assert record.first("referral").values["referral_date"] == dt.date(2025, 3, 3)
    who = pathway.identify(web_study, web_study.team.research_nurse, subject, "test")
    assert (who.full_name, who.hospital_number) == (REFERRAL["full_name"], REFERRAL["hospital_number"])
    shown = nurse.get(answer.headers["location"])
    assert shown.status_code == 200 and "The referral is registered." in shown.text
    # the screening pages are pseudonymised: no name, date of birth or hospital number for anyone
    for role in ("monitor", "statistician", "research_nurse"):
        client = client_as(role)
        for url in ("/screening", f"/screening/{subject}"):
            text = client.get(url).text
            assert "Rosa Referral" not in text and "HN-7788" not in text and "1958-04-12" not in text, (role, url)


def test_register_bad_input_beside_each_field_nothing_written(client_as, web_study):
    nurse = client_as("research_nurse")
    before = count(web_study, web_study.team.investigator)
    answer = nurse.post("/screening/new", data={**REFERRAL, "date_of_birth": "1958-02-30", "anatomic_site": "",
                                                "referral_date": "03/03/2025"})
    assert answer.status_code == 422
    assert "must be a date written YYYY-MM-DD" in field_error(answer.text, "date_of_birth")
    assert "is required" in field_error(answer.text, "anatomic_site")
    assert "must be a date written YYYY-MM-DD" in field_error(answer.text, "referral_date")
    assert value_of(answer.text, "f-full_name") == REFERRAL["full_name"]  # what was typed is kept
    assert value_of(answer.text, "f-referral_date") == "03/03/2025"
    assert 'id="f-full_name-error"' not in answer.text
    assert count(web_study, web_study.team.investigator) == before
    # a rule the service alone knows (the board after the referral) comes back beside its field too
    late = nurse.post("/screening/new", data={**REFERRAL, "tumour_board_date": "2025-03-01"})
    assert late.status_code == 422
    assert "must not be before the referral" in field_error(late.text, "tumour_board_date")
    assert count(web_study, web_study.team.investigator) == before


def test_a_hospital_number_already_registered_is_refused_beside_the_field(client_as, web_study):
    nurse = client_as("research_nurse")
    before = count(web_study, web_study.team.investigator)
    answer = nurse.post("/screening/new", data={**REFERRAL, "hospital_number": "H0001"})
    assert answer.status_code == 422
    assert "already registered, as SPR-001" in field_error(answer.text, "hospital_number")
    assert count(web_study, web_study.team.investigator) == before


# --------------------------------------------------------------------------- screening
def test_a_failed_criterion_shows_as_not_passed_with_the_engines_reason(client_as, web_study):
    protocol = web_study.protocol
    nurse = client_as("research_nurse")
    before = nurse.get("/screening/SPR-003").text
    for criterion in protocol.eligibility.criteria:  # the checklist before any screening: the protocol's criteria
        assert criterion.text in text_of(before, f"criterion-{criterion.id}")
    for fld in protocol.form(protocol.eligibility.form).fields:
        assert fld.label in before
    answers = {"screening_date": "2025-02-10", **SAT_SCREENING, "previous_rt_to_region": True}
    answer = nurse.post("/screening/SPR-003", data=screening_form(answers))
    assert answer.status_code == 303
    page = nurse.get(answer.headers["location"]).text
    expected = pathway.eligibility(protocol, {**answers, "screening_date": dt.date(2025, 2, 10)})
    assert expected.decision == "ineligible"
    failing = [c for c in expected.criteria if c.passes is False]
    assert [c.id for c in failing] == ["previous_rt"]
    for c in expected.criteria:
        row = text_of(page, f"criterion-{c.id}")
        text = next(k.text for k in protocol.eligibility.criteria if k.id == c.id)
        assert text in row and c.reason in row
        assert ("not met" in row) == (c.result == "not_met")
    assert f'id="criterion-{failing[0].id}" class="fails"' in page  # marked as the criterion that excludes
    assert text_of(page, "decision") == "Not eligible"
    log = nurse.get("/screening").text
    assert failing[0].reason in text_of(log, "row-SPR-003") and "Not eligible" in text_of(log, "row-SPR-003")
    assert views.patient(web_study, web_study.team.research_nurse, "SPR-003").status == "screen_failed"


def test_screening_bad_input_beside_each_field_nothing_written(client_as, web_study):
    nurse = client_as("research_nurse")
    answers = screening_form({"screening_date": "2025-02-30", **SAT_SCREENING, "age_years": "abc", "disease_status": "nope"})
    answer = nurse.post("/screening/SPR-003", data=answers)
    assert answer.status_code == 422
    assert "must be a date written YYYY-MM-DD" in field_error(answer.text, "screening_date")
    assert "must be a whole number" in field_error(answer.text, "age_years")
    assert "unknown code" in field_error(answer.text, "disease_status")
    assert value_of(answer.text, "f-age_years") == "abc" and value_of(answer.text, "f-screening_date") == "2025-02-30"
    assert "Nothing was saved." in answer.text
    # a missing required answer the service asks for, and a rule the service alone knows
    missing = nurse.post("/screening/SPR-003", data=screening_form({"screening_date": "", **SAT_SCREENING}))
    assert missing.status_code == 422 and "is required" in field_error(missing.text, "screening_date")
    wrong_age = nurse.post("/screening/SPR-003", data=screening_form({"screening_date": "2025-02-10", **SAT_SCREENING,
                                                                     "age_years": 30}))
    assert wrong_age.status_code == 422
    assert "does not agree with the year of birth 1971" in field_error(wrong_age.text, "age_years")
    assert 'name="histology_confirmed" value="true" checked' in wrong_age.text  # the radios keep the answers
    record = views.patient(web_study, web_study.team.research_nurse, "SPR-003")
    assert record.screenings == [] and record.status == "referred"


def test_a_monitor_may_not_screen_register_consent_or_enrol(client_as, web_study):
    monitor = client_as("monitor")
    page = monitor.get("/screening/SPR-003").text
    assert 'action="/screening/SPR-003"' not in page and 'action="/screening/SPR-003/consent"' not in page
    before = count(web_study, web_study.team.investigator)
    data = screening_form({"screening_date": "2025-02-10", **SAT_SCREENING, "consent_date": "2025-02-10"})
    assert monitor.post("/screening/SPR-003", data=data).status_code == 403
    assert monitor.post("/screening/new", data=REFERRAL).status_code == 403
    assert monitor.post("/screening/SPR-003/consent", data={"consent_date": "2025-02-10", "document_version": "1.0",
                                                            "data_use": "true"}).status_code == 403
    assert monitor.post("/screening/SPR-003/enrol", data={"enrolment_date": "2025-02-12"}).status_code == 403
    record = views.patient(web_study, web_study.team.investigator, "SPR-003")
    assert record.screenings == [] and record.of("consent") == [] and record.status == "referred"
    assert count(web_study, web_study.team.investigator) == before


def test_csrf_token_is_required_to_screen(client_as, web_study):
    nurse = client_as("research_nurse")
    data = screening_form({"screening_date": "2025-02-10", **SAT_SCREENING})
    assert nurse.post("/screening/SPR-003", data=data, csrf=False).status_code == 403
    assert views.patient(web_study, web_study.team.investigator, "SPR-003").screenings == []


# --------------------------------------------------------------------------- consent and enrolment
def test_eligible_then_consent_then_enrolment(client_as, web_study):
    spec = web_study.protocol.consent
    nurse = client_as("nurse.sat")
    answers = {"screening_date": "2025-02-10", "consent_date": "2025-02-10", **SAT_SCREENING}
    assert nurse.post("/screening/SPR-003", data=screening_form(answers)).status_code == 303
    page = nurse.get("/screening/SPR-003").text
    assert text_of(page, "decision") == "Eligible"
    enrolment = text_of(page, "enrol")
    assert "no consent is recorded" in enrolment and 'action="/screening/SPR-003/enrol"' not in page
    # enrolment asked for anyway is refused by the service, with its message
    early = nurse.post("/screening/SPR-003/enrol", data={"enrolment_date": "2025-02-12"})
    assert early.status_code == 422 and "has no consent recorded" in text_of(early.text, "enrol")
    assert views.patient(web_study, web_study.team.research_nurse, "SPR-003").status == "eligible"
    # the consent form offers the protocol's current version of the consent document
    assert value_of(page, f"f-consent-{spec.version_field}") == spec.current_version
    bad = nurse.post("/screening/SPR-003/consent", data={spec.date_field: "2025-02-31", spec.version_field: "",
                                                         "data_use": "true"})
    assert bad.status_code == 422
    assert "must be a date written YYYY-MM-DD" in field_error(bad.text, spec.date_field, "consent-")
    assert "is required" in field_error(bad.text, spec.version_field, "consent-")
    assert views.patient(web_study, web_study.team.research_nurse, "SPR-003").of(spec.form) == []
    done = nurse.post("/screening/SPR-003/consent", data={spec.date_field: "2025-02-10",
                                                          spec.version_field: spec.current_version, "data_use": "true"})
    assert done.status_code == 303
    page = nurse.get("/screening/SPR-003").text
    consents = text_of(page, "consent")
    assert "2025-02-10" in consents and spec.current_version in consents and "current" in consents
    assert 'action="/screening/SPR-003/enrol"' in page
    # a wrong enrolment date beside its field, then the enrolment
    wrong = nurse.post("/screening/SPR-003/enrol", data={"enrolment_date": "2025-02-01"})
    assert wrong.status_code == 422
    assert "must not be before the screening" in field_error(wrong.text, "enrolment_date")
    assert value_of(wrong.text, "f-enrolment_date") == "2025-02-01"
    answer = nurse.post("/screening/SPR-003/enrol", data={"enrolment_date": "2025-02-12"})
    assert answer.status_code == 303 and answer.headers["location"] == "/patients/SPR-003"
    record = views.patient(web_study, web_study.team.research_nurse, "SPR-003")
    assert record.status == "enrolled" and record.enrolment_date == dt.date(2025, 2, 12)
    assert record.enrolment_sequence == 3
    after = nurse.get("/screening/SPR-003").text
    assert 'action="/screening/SPR-003"' not in after  # screening closed once enrolled
    assert "Enrolled" in text_of(nurse.get("/screening").text, "row-SPR-003")


def test_an_unknown_subject_is_not_found(client_as, web_study):
    nurse = client_as("research_nurse")
    assert nurse.get("/screening/SPR-999").status_code == 404
    assert nurse.post("/screening/SPR-999", data={"screening_date": "2025-02-10"}).status_code == 404


@pytest.mark.parametrize("url", ["/screening", "/screening/new", "/screening/SPR-003"])
def test_pages_need_a_signed_in_user(client_as, url):
    answer = client_as(None).get(url)
    assert answer.status_code == 303 and "/signin" in answer.headers["location"]


def test_a_missing_answer_makes_its_criterion_unknown_and_the_decision_not_evaluable(client_as, web_study):
    """domain/eligibility.py: a condition on a field with no value is unknown (Kleene logic); the
    screening service stores such a screening as not evaluable rather than refusing it."""
    protocol = web_study.protocol
    nurse = client_as("research_nurse")
    answers = {"screening_date": "2025-02-10", **SAT_SCREENING}
    del answers["histology_confirmed"]
    assert nurse.post("/screening/SPR-003", data=screening_form(answers)).status_code == 303
    page = nurse.get("/screening/SPR-003").text
    expected = pathway.eligibility(protocol, {**answers, "screening_date": dt.date(2025, 2, 10)})
    assert expected.decision == "not_evaluable"
    unknown = [c for c in expected.criteria if c.result == "not_evaluable"]
    assert [c.id for c in unknown] == ["histology"]
    row = text_of(page, "criterion-histology")
    assert "unknown" in row and unknown[0].reason in row
    assert text_of(page, "decision") == "Not evaluable"
    assert 'action="/screening/SPR-003"' in page  # the patient may be screened again


def test_another_protocol_drives_the_same_pages(database_url, fast_hashing):
    """Protocol as data: the pages render another protocol's referral and screening forms, criteria and codes
    (tests/protocols/mini.yaml: no consent form of its own), with no change in the web code."""
    from pathlib import Path

    from sarcotrial.services.study import Actor, StudyDB
    from sarcotrial.web.app import create_app
    from tests.edc_support import staff
    from tests.web.conftest import Client

    mini = Path(__file__).resolve().parents[1] / "protocols" / "mini.yaml"
    study, _ = StudyDB.create(database_url, str(mini), Actor("tester", "test"))
    try:
        team = staff(study)
        nurse = Client(create_app(study=study), "nina")
        form = nurse.get("/screening/new").text
        for fld in study.protocol.form("referral").fields:
            assert f'<label for="f-{fld.id}">{fld.label}' in form
        answer = nurse.post("/screening/new", data={**REFERRAL, "referral_date": "2025-03-01", "anatomic_site": "trunk"})
        assert answer.status_code == 303 and "/screening/MIN-001" in answer.headers["location"]
        answers = {"screening_date": "2025-03-05", "age_years": "66", "site": "extremity", "size_cm": "16",
                   "pregnant": "false"}
        assert nurse.post("/screening/MIN-001", data=answers).status_code == 303
        page = nurse.get("/screening/MIN-001").text
        expected = pathway.eligibility(study.protocol, {**answers, "age_years": 66, "size_cm": 16.0, "pregnant": False})
        for c in expected.criteria:
            assert c.text in text_of(page, f"criterion-{c.id}") and c.reason in text_of(page, f"criterion-{c.id}")
        assert [c.id for c in expected.criteria if c.passes is False] == ["extremity"]
        assert 'id="consent"' not in page  # this protocol records consent at screening, not on a form of its own
        assert nurse.post("/screening/MIN-001", data={**answers, "size_cm": "12"}).status_code == 303
        done = nurse.post("/screening/MIN-001/enrol", data={"enrolment_date": "2025-03-06"})
        assert done.status_code == 303, done.text
        assert views.patient(study, team.research_nurse, "MIN-001").status == "enrolled"
    finally:
        study.close()
