"""The eCRF pages through HTTP: any protocol form rendered from the protocol, saved through the
services, refusals beside the field with what was typed kept, stale saves refused with both values,
soft checks opening queries shown on the field, and each field's query/SDV panel.

Sources: the protocol file (``protocol/protocols/sprint.yaml``: forms, code lists, missing-data
codes, ``checks:``); ``docs/edc.md`` (a correction needs a reason; a write against an older revision
is refused, "changed by X at T"; a lock refuses every change); ``docs/roles.md`` (entry and
correction by the site staff only; a site's staff see their site's patients only).
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sarcotrial.services import forms, queries, review, views
from tests.web.conftest import Client

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# --------------------------------------------------------------------------- a small HTML reader
class Element:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, dict(attrs), parent, [], []

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", "".join(p if isinstance(p, str) else p.text for p in self.parts)).strip()

    def iter(self):
        for child in self.children:
            yield child
            yield from child.iter()

    def find_all(self, tag=None, **attrs):
        return [e for e in self.iter() if (tag is None or e.tag == tag)
                and all(e.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag=None, **attrs):
        found = self.find_all(tag, **attrs)
        return found[0] if found else None


class Tree(HTMLParser):
    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.current = self.root
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = Element(tag, [(k, v if v is not None else "") for k, v in attrs], self.current)
        self.current.children.append(element)
        self.current.parts.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.current = self.current.parent

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.parts.append(data)


def dom(answer) -> Element:
    return Tree(answer.text).root


def by_id(root: Element, element_id: str) -> Element:
    found = root.find(id=element_id)
    assert found is not None, f"no element #{element_id}"
    return found


def form_data(root: Element, form_id: str = "entry") -> dict[str, str]:
    """What a browser would submit from a form as it is rendered (text inputs, checked radios, selects)."""
    form = by_id(root, form_id)
    data: dict[str, str] = {}
    for el in form.iter():
        name = el.attrs.get("name")
        if not name or el.attrs.get("form"):
            continue
        if el.tag == "input" and el.attrs.get("type") == "radio" or el.tag == "input" and el.attrs.get("type") == "checkbox":
            if "checked" in el.attrs:
                data[name] = el.attrs.get("value", "")
        elif el.tag == "input":
            data[name] = el.attrs.get("value", "")
        elif el.tag == "select":
            chosen = [o for o in el.find_all("option") if "selected" in o.attrs]
            data[name] = chosen[0].attrs.get("value", "") if chosen else (
                el.find("option").attrs.get("value", "") if el.find("option") else "")
    return data


def url(subject, form_id, **params):
    from urllib.parse import urlencode

    return f"/patients/{subject}/forms/{form_id}" + (f"?{urlencode(params)}" if params else "")


def instances(study, subject, form_id):
    return views.form_instances(study, None, subject, form_id)


DIAGNOSIS = {"diagnosis_date": "2025-01-10", "histotype": "desmoid_fibromatosis", "anatomic_site": "extremity",
             "depth": "deep", "size_cm": "8.5", "clinical_n": "N0", "clinical_m": "M0"}


# --------------------------------------------------------------------------- rendered from the protocol
def test_every_field_of_a_form_is_rendered_from_the_protocol_with_its_label_unit_range_and_codes(web_study, client_as):
    protocol = web_study.protocol
    for form_id in ("diagnosis", "surgery", "adverse_event", "follow_up"):
        form = protocol.form(form_id)
        root = dom(client_as("research_nurse").get(url("SPR-002", form_id)))
        entry = by_id(root, "entry")
        assert entry.attrs.get("data-warn-unsaved") is not None and entry.attrs["method"] == "post"
        for fld in form.fields:
            if fld.type in ("boolean", "code") and (fld.type == "boolean" or len(protocol.codes(fld.codelist)) <= 4):
                group = by_id(root, f"row-{fld.id}").find("fieldset")
                assert fld.label in group.find("legend").text
                radios = group.find_all("input", type="radio")
                if fld.type == "boolean":
                    assert [r.attrs["value"] for r in radios] == ["yes", "no", ""]
                else:
                    assert [r.attrs["value"] for r in radios][:-1] == protocol.codes(fld.codelist)
                for radio in radios:  # every radio labelled
                    assert radio.parent.tag == "label" and radio.parent.text
                continue
            widget = by_id(root, f"f-{fld.id}")
            label = root.find("label", for_=f"f-{fld.id}")
            assert label is not None and fld.label in label.text, fld.id
            if fld.unit:
                assert fld.unit in by_id(root, f"row-{fld.id}").text
            if fld.type == "code":  # a longer code list: a select with each code's label
                options = [(o.attrs["value"], o.text) for o in widget.find_all("option")][1:]
                assert [v for v, _ in options] == protocol.codes(fld.codelist)
                for code in protocol.codelists[fld.codelist]:
                    assert (code.code, f"{code.label} ({code.code})") in options
            else:  # typed as text, so that the server reads what was typed
                assert widget.tag == "input" and widget.attrs["type"] == "text"
            if fld.type == "decimal":
                assert widget.attrs["inputmode"] == "decimal"
            if fld.min is not None and fld.max is not None:
                assert f"{fld.min:g} to {fld.max:g}" in by_id(root, f"h-{fld.id}").text
            missing = by_id(root, f"m-{fld.id}")  # the protocol's missing-data codes, per field
            assert [o.attrs["value"] for o in missing.find_all("option")][1:] == [c.code for c in protocol.missing_codes]
            assert root.find("label", for_=f"m-{fld.id}") is not None


def test_help_text_of_the_protocol_is_shown_under_its_field(database_url, fast_hashing, tmp_path):
    """SPRINT's fields carry no help text: a protocol that gives one shows it under the field."""
    from sarcotrial.services.study import Actor, StudyDB
    from sarcotrial.web.app import create_app
    from tests.edc_support import staff
    from tests.helpers import enrolled

    source = Path(__file__).parents[2] / "src/sarcotrial/protocol/protocols/sprint.yaml"
    text = source.read_text().replace(
        "unit: cm, min: 0.1, max: 100, required: true}",
        "unit: cm, min: 0.1, max: 100, required: true, help: \"Measured on the MRI before treatment\"}", 1)
    assert "Measured on the MRI" in text
    protocol_file = tmp_path / "sprint-help.yaml"
    protocol_file.write_text(text)
    study, _ = StudyDB.create(database_url, str(protocol_file), Actor("tester", "test"))
    try:
        subject = enrolled(study, "H0009")
        staff(study)
        client = Client(create_app(study=study), "nina")
        root = dom(client.get(url(subject, "diagnosis")))
        helptext = by_id(root, "h-size_cm")
        assert "Measured on the MRI before treatment" in helptext.text
        assert "aria-describedby" in by_id(root, "f-size_cm").attrs and "h-size_cm" in by_id(root, "f-size_cm").attrs[
            "aria-describedby"]
    finally:
        study.close()


def test_the_ctcae_term_field_gets_the_search_widget(web_study, client_as):
    answer = client_as("research_nurse").get(url("SPR-002", "adverse_event"))
    assert '<script src="/static/ctcae.js" defer></script>' in answer.text
    assert '<link rel="stylesheet" href="/static/ctcae.css">' in answer.text
    assert ('<input type="text" id="f-term" name="term" value="" autocomplete="off" data-ctcae-search '
            'hx-get="/ctcae/search" hx-trigger="input changed delay:250ms, search" hx-target="#f-term-suggestions" '
            'hx-sync="this:replace">') in answer.text
    assert ('<div id="f-term-suggestions" class="ctcae-suggestions" aria-live="polite"></div>'
            '<div id="f-term-grades" class="ctcae-grades" aria-live="polite"></div>') in answer.text
    other = client_as("research_nurse").get(url("SPR-002", "diagnosis"))
    assert "ctcae.js" not in other.text and "data-ctcae-search" not in other.text


# --------------------------------------------------------------------------- saving and refusing
def test_a_new_form_is_saved_and_shown_with_its_revision_and_who_entered_it(web_study, client_as):
    client = client_as("research_nurse")
    before = instances(web_study, "SPR-002", "diagnosis")
    answer = client.post(url("SPR-002", "diagnosis"), data={**DIAGNOSIS, "revision": "0"})
    assert answer.status_code == 303, answer.text
    stored = instances(web_study, "SPR-002", "diagnosis")
    assert len(stored) == len(before) + 1
    crf = stored[-1]
    assert crf.values["size_cm"] == 8.5 and crf.values["histotype"] == "desmoid_fibromatosis"
    assert answer.headers["location"].startswith(url("SPR-002", "diagnosis", record=crf.id))
    page = client.get(answer.headers["location"])
    root = dom(page)
    assert "Saved" in page.text and by_id(root, "f-size_cm").attrs["value"] == "8.5"
    facts = root.find("dl", **{"class": "facts"}).text
    assert "nina" in facts and crf.protocol_version in facts and str(crf.revision) in facts


@pytest.mark.parametrize("field, typed, rule", [
    ("size_cm", "12,5", "must be a number"),                      # decimal written with a comma
    ("size_cm", "abc", "must be a number"),
    ("size_cm", "1000", "must be at most 100 cm"),                # protocol max
    ("ecog", "2.5", "must be a whole number"),                    # integer
    ("ecog", "9", "must be at most 4"),
    ("diagnosis_date", "2025-13-45", "must be a date written YYYY-MM-DD"),
    ("diagnosis_date", "10/01/2025", "must be a date written YYYY-MM-DD"),
    ("anatomic_site", "elbow", "unknown code"),                    # code not in the code list
    ("histotype", "", "is required"),                              # text, required
])
def test_a_wrong_value_is_refused_beside_its_field_typed_value_kept_nothing_written(web_study, client_as, field, typed,
                                                                                    rule):
    client = client_as("research_nurse")
    answer = client.post(url("SPR-002", "diagnosis"), data={**DIAGNOSIS, field: typed, "revision": "0"})
    assert answer.status_code == 422
    root = dom(answer)
    message = by_id(root, f"e-{field}").text
    label = web_study.protocol.form("diagnosis").field(field).label
    assert rule in message and label in message
    assert by_id(root, f"f-{field}").attrs.get("aria-invalid") == "true"
    if by_id(root, f"f-{field}").tag == "input":
        assert by_id(root, f"f-{field}").attrs["value"] == typed
    else:
        assert [o.attrs["value"] for o in by_id(root, f"f-{field}").find_all("option") if "selected" in o.attrs] == [typed]
    assert by_id(root, "f-size_cm").attrs["value"] == (typed if field == "size_cm" else DIAGNOSIS["size_cm"])
    assert instances(web_study, "SPR-002", "diagnosis") == []


@pytest.mark.parametrize("field, typed, rule", [
    ("aware_at", "yesterday", "must be a date and time"),         # datetime
    ("serious", "maybe", "must be yes or no"),                    # boolean
    ("grade", "abc", "must be a whole number"),
])
def test_wrong_datetime_and_boolean_values_are_refused_beside_the_field(web_study, client_as, field, typed, rule):
    client = client_as("research_nurse")
    data = {"term": "Fatigue", "grade": "1", "onset_date": "2025-02-05", field: typed, "revision": "0"}
    answer = client.post(url("SPR-002", "adverse_event"), data=data)
    assert answer.status_code == 422
    root = dom(answer)
    assert rule in by_id(root, f"e-{field}").text
    if field == "serious":  # the value sent is kept, checked, as what was sent
        assert by_id(root, "f-serious-typed").attrs["value"] == "maybe" and "checked" in by_id(root, "f-serious-typed").attrs
    else:
        assert by_id(root, f"f-{field}").attrs["value"] == typed
    assert instances(web_study, "SPR-002", "adverse_event") == []


def test_several_wrong_fields_are_all_named_at_once(web_study, client_as):
    answer = client_as("research_nurse").post(url("SPR-002", "diagnosis"), data={
        **DIAGNOSIS, "size_cm": "12,5", "ecog": "x", "diagnosis_date": "soon", "revision": "0"})
    assert answer.status_code == 422
    root = dom(answer)
    for field in ("size_cm", "ecog", "diagnosis_date"):
        assert by_id(root, f"e-{field}").text
    assert "3 field(s)" in by_id(root, "form-error").text


def test_a_pathway_rule_of_the_services_is_shown_beside_its_field(web_study, client_as):
    """The diagnosis precedes enrolment (services/forms._derive_diagnosis): the services' message beside the date."""
    answer = client_as("research_nurse").post(url("SPR-002", "diagnosis"),
                                              data={**DIAGNOSIS, "diagnosis_date": "2025-03-01", "revision": "0"})
    assert answer.status_code == 422
    root = dom(answer)
    assert "enrolment" in by_id(root, "e-diagnosis_date").text
    assert by_id(root, "f-diagnosis_date").attrs["value"] == "2025-03-01"
    assert instances(web_study, "SPR-002", "diagnosis") == []


def test_a_missing_data_code_with_a_reason_is_saved_and_without_a_reason_refused(web_study, client_as):
    client = client_as("research_nurse")
    data = {**DIAGNOSIS, "size_cm": "", "missing-size_cm": "ND", "revision": "0"}
    refused = client.post(url("SPR-002", "diagnosis"), data=data)
    assert refused.status_code == 422 and "reason" in by_id(dom(refused), "e-reason").text
    assert instances(web_study, "SPR-002", "diagnosis") == []
    both = client.post(url("SPR-002", "diagnosis"), data={**data, "size_cm": "8", "reason": "x"})
    assert both.status_code == 422 and "both a value and a missing-data code" in by_id(dom(both), "e-size_cm").text
    saved = client.post(url("SPR-002", "diagnosis"), data={**data, "reason": "MRI report not available"})
    assert saved.status_code == 303, saved.text
    crf = instances(web_study, "SPR-002", "diagnosis")[0]
    assert crf.missing == {"size_cm": "ND"} and crf.values.get("size_cm") is None
    page = dom(client.get(saved.headers["location"]))
    assert [o.attrs["value"] for o in by_id(page, "m-size_cm").find_all("option") if "selected" in o.attrs] == ["ND"]


def test_a_correction_needs_a_reason_and_then_is_saved(web_study, client_as):
    client = client_as("research_nurse")
    crf = instances(web_study, "SPR-001", "surgery")[0]
    page = dom(client.get(url("SPR-001", "surgery")))
    data = form_data(page)
    assert data["record"] == str(crf.id) and data["revision"] == str(crf.revision)
    data["vascular_reconstruction"] = "yes"
    refused = client.post(url("SPR-001", "surgery"), data=data)
    assert refused.status_code == 422
    root = dom(refused)
    assert "reason is required" in by_id(root, "e-reason").text
    assert "checked" in by_id(root, "f-vascular_reconstruction-yes").attrs  # what was chosen is kept
    assert instances(web_study, "SPR-001", "surgery")[0].revision == crf.revision
    data["reason"] = "operation note re-read"
    saved = client.post(url("SPR-001", "surgery"), data=data)
    assert saved.status_code == 303, saved.text
    after = instances(web_study, "SPR-001", "surgery")[0]
    assert after.values["vascular_reconstruction"] is True and after.revision == crf.revision + 1
    assert after.values["surgery_date"] == crf.values["surgery_date"]  # untouched fields unchanged


def test_a_stale_save_is_refused_with_who_changed_it_and_both_values(web_study, client_as):
    nina, ivy = client_as("research_nurse"), client_as("investigator")
    first = form_data(dom(nina.get(url("SPR-001", "surgery"))))
    second = form_data(dom(ivy.get(url("SPR-001", "surgery"))))
    first.update(procedure="amputation" if first["procedure"] != "amputation" else "wide_excision",
                 reason="corrected from the operation note")
    procedures = {c.code: c.label for c in web_study.protocol.codelists["surgical_procedure"]}
    first_answer = nina.post(url("SPR-001", "surgery"), data=first)
    assert first_answer.status_code == 303
    stored = instances(web_study, "SPR-001", "surgery")[0]
    second.update(surgery_date="2025-04-18", reason="date from the theatre list")
    stale = ivy.post(url("SPR-001", "surgery"), data=second)
    assert stale.status_code == 409
    root = dom(stale)
    banner = by_id(root, "stale").text
    assert "changed by nina" in banner
    conflict = by_id(root, "c-procedure").text  # theirs (now stored) and yours (typed)
    assert "nina" in conflict and procedures[first["procedure"]] in conflict and procedures[second["procedure"]] in conflict
    date_note = by_id(root, "c-surgery_date").text
    assert "2025-04-17" in date_note and "2025-04-18" in date_note
    assert by_id(root, "f-surgery_date").attrs["value"] == "2025-04-18"  # what was typed is kept
    assert by_id(root, "f-reason").attrs["value"] == "date from the theatre list"
    after = instances(web_study, "SPR-001", "surgery")[0]
    assert after.revision == stored.revision and after.values["surgery_date"].isoformat() == "2025-04-17"
    # having seen both, saving again stores the investigator's values over the nurse's
    again = form_data(root)
    assert again["revision"] == str(stored.revision)
    assert ivy.post(url("SPR-001", "surgery"), data=again).status_code == 303
    assert instances(web_study, "SPR-001", "surgery")[0].values["surgery_date"].isoformat() == "2025-04-18"


def test_two_people_entering_the_same_new_form_the_second_sees_the_first_ones_values(web_study, client_as):
    nina, ivy = client_as("research_nurse"), client_as("investigator")
    first = form_data(dom(nina.get(url("SPR-002", "diagnosis"))))
    second = form_data(dom(ivy.get(url("SPR-002", "diagnosis"))))
    assert nina.post(url("SPR-002", "diagnosis"), data={**first, **DIAGNOSIS}).status_code == 303
    answer = ivy.post(url("SPR-002", "diagnosis"), data={**second, **DIAGNOSIS, "size_cm": "9"})
    assert answer.status_code == 409
    root = dom(answer)
    assert "nina" in by_id(root, "stale").text
    note = by_id(root, "c-size_cm").text
    assert "8.5" in note and "9" in note
    assert len(instances(web_study, "SPR-002", "diagnosis")) == 1


def test_a_soft_check_opens_a_query_shown_on_the_field(web_study, client_as):
    """SPRINT ``checks: ned_after_relapse`` (soft): no evidence of disease on or after a recorded relapse."""
    forms.record(web_study, web_study.team.investigator, "SPR-001", "outcome_event",
                 {"event_type": "local_relapse", "event_date": "2025-06-01"})
    client = client_as("research_nurse")
    answer = client.post(url("SPR-001", "follow_up"), data={"visit_date": "2025-07-20", "disease_status": "ned",
                                                            "revision": "0"})
    assert answer.status_code == 303, answer.text
    crf = instances(web_study, "SPR-001", "follow_up")[0]
    opened = [q for q in queries.list_queries(web_study, web_study.team.data_manager, subject_id="SPR-001")
              if q.origin == "check:ned_after_relapse"]
    assert len(opened) == 1 and opened[0].status == "open"
    assert f"opened={opened[0].id}" in answer.headers["location"]
    root = dom(client.get(answer.headers["location"]))
    row = by_id(root, f"row-{opened[0].field}")
    assert "1 open query" in row.find("a", **{"class": "badge bad query-badge"}).text
    panel = by_id(root, f"field-{opened[0].field}")
    assert panel.tag == "details" and "open" in panel.attrs and opened[0].text in panel.text
    assert f"query #{opened[0].id}" in root.text.lower()
    assert crf.values["disease_status"] == "ned"


# --------------------------------------------------------------------------- who may
def test_a_monitor_may_not_save_403_and_nothing_written(web_study, client_as):
    monitor = client_as("monitor")
    page = dom(monitor.get(url("SPR-002", "diagnosis")))
    assert page.find(id="entry") is not None and page.find("form", id="entry") is None  # read-only
    answer = monitor.post(url("SPR-002", "diagnosis"), data={**DIAGNOSIS, "revision": "0"})
    assert answer.status_code == 403
    assert instances(web_study, "SPR-002", "diagnosis") == []
    crf = instances(web_study, "SPR-001", "surgery")[0]
    change = monitor.post(url("SPR-001", "surgery"), data={
        "record": crf.id, "revision": crf.revision, "surgery_date": "2025-04-20", "procedure": "wide_excision",
        "macroscopic_residual": "no", "reason": "monitor"})
    assert change.status_code == 403
    assert instances(web_study, "SPR-001", "surgery")[0].revision == crf.revision


def test_a_site_limited_nurse_gets_nothing_of_another_sites_patient(web_study, client_as):
    sat = client_as("nurse.sat")
    assert sat.get(url("SPR-001", "surgery")).status_code in (403, 404)
    assert sat.get(url("SPR-002", "diagnosis")).status_code in (403, 404)
    answer = sat.post(url("SPR-002", "diagnosis"), data={**DIAGNOSIS, "revision": "0"})
    assert answer.status_code in (403, 404)
    assert instances(web_study, "SPR-002", "diagnosis") == []
    assert sat.get(url("SPR-003", "diagnosis")).status_code == 200  # their own site's patient


def test_a_post_without_the_csrf_token_is_refused(web_study, client_as):
    answer = client_as("research_nurse").post(url("SPR-002", "diagnosis"), data={**DIAGNOSIS, "revision": "0"},
                                              csrf=False)
    assert answer.status_code == 403
    assert instances(web_study, "SPR-002", "diagnosis") == []


def test_a_locked_form_is_read_only_and_a_save_gets_the_services_refusal(web_study, client_as):
    review.lock(web_study, web_study.team.data_manager, subject_id="SPR-001", form_id="surgery")
    crf = instances(web_study, "SPR-001", "surgery")[0]
    nurse = client_as("research_nurse")
    page = nurse.get(url("SPR-001", "surgery"))
    root = dom(page)
    assert root.find("form", id="entry") is None and "locked by dana" in page.text
    answer = nurse.post(url("SPR-001", "surgery"), data={
        "record": crf.id, "revision": crf.revision, "surgery_date": "2025-04-20", "procedure": "wide_excision",
        "macroscopic_residual": "no", "reason": "late entry"})
    assert answer.status_code == 422 and "this form is locked by dana" in by_id(dom(answer), "form-error").text
    assert instances(web_study, "SPR-001", "surgery")[0].revision == crf.revision
    manager = dom(client_as("data_manager").get(url("SPR-001", "surgery")))
    assert manager.find("a", href="/review/unlock?subject=SPR-001&form=surgery&visit=surgery&instance=1") is not None


# --------------------------------------------------------------------------- queries and SDV on the field
def test_the_field_panel_offers_each_role_its_query_and_sdv_actions(web_study, client_as):
    crf = instances(web_study, "SPR-001", "surgery")[0]
    qid = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "surgery_date",
                             "Date differs from the operation note")
    queries.respond(web_study, web_study.team.research_nurse, qid, "confirmed", "Checked: the note is wrong")
    here = url("SPR-001", "surgery", record=crf.id)
    monitor = dom(client_as("monitor").get(url("SPR-001", "surgery")))
    panel = by_id(monitor, "field-surgery_date")
    assert "Date differs from the operation note" in panel.text and "Checked: the note is wrong" in panel.text
    assert "mona" in panel.text and "answered" in panel.text
    reopen, close, sdv = by_id(monitor, f"qreopen-{qid}"), by_id(monitor, f"qclose-{qid}"), by_id(monitor, "sdv-surgery_date")
    assert reopen.attrs["action"] == f"/queries/{qid}/reopen" and close.attrs["action"] == f"/queries/{qid}/close"
    assert sdv.attrs["action"] == "/review/sdv"
    tied = {(e.attrs["name"], e.attrs.get("value")) for e in monitor.find_all("input", form="sdv-surgery_date")}
    assert {("subject", "SPR-001"), ("form", "surgery"), ("visit", "surgery"), ("instance", "1"),
            ("field", "surgery_date"), ("next", here + "#field-surgery_date")} <= tied
    opening = {(e.attrs["name"], e.attrs.get("value")) for e in monitor.find_all("input", form="qopen-macroscopic_residual")}
    assert ("field", "macroscopic_residual") in opening and ("next", here + "#field-macroscopic_residual") in opening
    assert monitor.find("label", for_="qopen-macroscopic_residual-text") is not None
    assert monitor.find("input", form=f"qrespond-{qid}") is None  # a monitor does not answer
    nurse = dom(client_as("research_nurse").get(url("SPR-001", "surgery")))
    assert nurse.find("input", form="qopen-surgery_date") is None and nurse.find("input", form="sdv-surgery_date") is None
    assert nurse.find("input", form=f"qreopen-{qid}") is None
    queries.reopen(web_study, web_study.team.monitor, qid, "Please send the note")
    nurse = dom(client_as("research_nurse").get(url("SPR-001", "surgery")))
    respond = {e.attrs["name"] for e in nurse.find_all(form=f"qrespond-{qid}") if "name" in e.attrs}
    assert {"resolution", "text", "next", "csrf_token"} <= respond
    assert "1 open query" in by_id(nurse, "row-surgery_date").text


def test_verified_fields_show_who_verified_them(web_study, client_as):
    review.verify_source(web_study, web_study.team.monitor, "SPR-001", "surgery", field_id="surgery_date")
    root = dom(client_as("investigator").get(url("SPR-001", "surgery")))
    panel = by_id(root, "field-surgery_date")
    assert "verified" in panel.text and "mona" in panel.text
    assert "not verified" in by_id(root, "field-procedure").text


def test_a_correction_can_answer_the_open_query_on_it(web_study, client_as):
    qid = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "surgery_date",
                             "Date differs from the operation note")
    client = client_as("research_nurse")
    root = dom(client.get(url("SPR-001", "surgery")))
    assert root.find("input", type="checkbox", name="answers", value=str(qid)) is not None
    data = {**form_data(root), "surgery_date": "2025-04-16", "reason": "operation note: 16 April", "answers": str(qid)}
    assert client.post(url("SPR-001", "surgery"), data=data).status_code == 303
    query = next(q for q in queries.list_queries(web_study, web_study.team.monitor) if q.id == qid)
    assert query.status == "answered"
    assert query.thread[-1]["resolution"] == "corrected" and query.thread[-1]["text"] == "operation note: 16 April"
    assert instances(web_study, "SPR-001", "surgery")[0].values["surgery_date"].isoformat() == "2025-04-16"


def test_form_level_links_follow_the_role(web_study, client_as):
    ivy = client_as("investigator").get(url("SPR-001", "surgery")).text
    assert "/review/sign?subject=SPR-001&amp;form=surgery&amp;visit=surgery&amp;instance=1" in ivy
    assert "/audit?subject=SPR-001&amp;form=surgery" in ivy
    nina = client_as("research_nurse").get(url("SPR-001", "surgery")).text
    assert "/review/sign?" not in nina and "/audit?" not in nina and "/review/lock?" not in nina
    dana = client_as("data_manager").get(url("SPR-001", "surgery")).text
    assert "/review/lock?subject=SPR-001&amp;form=surgery" in dana


# --------------------------------------------------------------------------- repeating forms, not done
def test_a_repeating_form_lists_its_numbered_instances_and_offers_another(web_study, client_as):
    doctor = web_study.team.investigator
    forms.record(web_study, doctor, "SPR-001", "follow_up", {"visit_date": "2025-07-20", "disease_status": "ned"})
    forms.record(web_study, doctor, "SPR-001", "follow_up", {"visit_date": "2025-10-15", "disease_status": "awd"})
    stored = instances(web_study, "SPR-001", "follow_up")
    client = client_as("research_nurse")
    root = dom(client.get(url("SPR-001", "follow_up")))
    table = root.find("table", **{"class": "ecrf-instances"})
    rows = table.find("tbody").find_all("tr")
    assert len(rows) == len(stored) == 2
    for row, crf in zip(rows, stored):
        assert row.find("a").attrs["href"] == url("SPR-001", "follow_up", record=crf.id)
        assert crf.visit in row.text and crf.values["visit_date"].isoformat() in row.text
    assert root.find("form", id="entry").find("input", name="record") is None  # the list comes with a new instance
    second = dom(client.get(url("SPR-001", "follow_up", record=stored[1].id)))
    another = [a for a in second.find_all("a") if a.text.startswith("Add another")]
    assert another and another[0].attrs["href"].startswith(url("SPR-001", "follow_up"))
    assert "record=" not in another[0].attrs["href"]
    assert by_id(second, "f-visit_date").attrs["value"] == "2025-10-15"
    assert second.find("tr", **{"class": "current"}).find("a").text == "2"
    answer = client.post(url("SPR-001", "follow_up"), data={"visit_date": "2026-01-20", "disease_status": "awd",
                                                            "revision": "0"})
    assert answer.status_code == 303
    assert len(instances(web_study, "SPR-001", "follow_up")) == 3


def test_a_form_is_marked_not_done_with_a_reason(web_study, client_as):
    client = client_as("research_nurse")
    refused = client.post(url("SPR-002", "diagnosis") + "/not-done", data={"visit": "baseline", "reason": ""})
    assert refused.status_code == 422 and "Reason" in by_id(dom(refused), "e-nd").text
    assert instances(web_study, "SPR-002", "diagnosis") == []
    answer = client.post(url("SPR-002", "diagnosis") + "/not-done",
                         data={"visit": "baseline", "reason": "biopsy done elsewhere, report unavailable"})
    assert answer.status_code == 303
    stored = instances(web_study, "SPR-002", "diagnosis")
    assert len(stored) == 1 and stored[0].status == "not_done"
    page = client.get(answer.headers["location"]).text
    assert "biopsy done elsewhere, report unavailable" in unescape(page)


def test_unknown_forms_records_and_visits_answer_404(web_study, client_as):
    client = client_as("research_nurse")
    assert client.get(url("SPR-001", "no_such_form")).status_code == 404
    assert client.get(url("SPR-001", "surgery", record=99999)).status_code == 404
    assert client.get(url("SPR-999", "surgery")).status_code == 404
    assert client.get(url("SPR-001", "surgery", visit="Not A Visit")).status_code == 404


def test_a_serious_event_with_its_datetimes_saves_and_reads_back_unchanged(web_study, client_as):
    """``safety:`` in the protocol: a serious event carries when the site became aware of it (UTC)."""
    client = client_as("research_nurse")
    data = {"term": "Fatigue", "grade": "3", "onset_date": "2025-02-05", "serious": "yes",
            "seriousness": "hospitalisation", "aware_at": "2025-02-06 09:15", "reported_at": "2025-02-06T11:00+01:00",
            "revision": "0"}
    missing_aware = client.post(url("SPR-002", "adverse_event"), data={**data, "aware_at": ""})
    assert missing_aware.status_code == 422 and "reporting clock" in by_id(dom(missing_aware), "e-aware_at").text
    answer = client.post(url("SPR-002", "adverse_event"), data=data)
    assert answer.status_code == 303, answer.text
    crf = instances(web_study, "SPR-002", "adverse_event")[0]
    assert crf.values["aware_at"].isoformat() == "2025-02-06T09:15:00+00:00"
    assert crf.values["reported_at"].isoformat() == "2025-02-06T10:00:00+00:00"  # +01:00 kept as UTC
    root = dom(client.get(answer.headers["location"]))
    assert by_id(root, "f-aware_at").attrs["value"] == "2025-02-06 09:15"
    assert "checked" in by_id(root, "f-serious-yes").attrs
    again = {**form_data(root), "reason": "nothing changed"}
    unchanged = client.post(url("SPR-002", "adverse_event"), data=again)
    assert unchanged.status_code == 422 and "no change to save" in by_id(dom(unchanged), "form-error").text
    again["grade"] = "2"
    assert client.post(url("SPR-002", "adverse_event"), data=again).status_code == 303
    after = instances(web_study, "SPR-002", "adverse_event")[0]
    assert after.values["grade"] == 2 and after.values["aware_at"] == crf.values["aware_at"]
    assert after.revision == crf.revision + 1


@pytest.mark.parametrize("role", ["research_nurse", "monitor", "data_manager"])
def test_every_input_of_the_page_is_labelled(web_study, client_as, role):
    qid = queries.open_query(web_study, web_study.team.monitor, "SPR-001", "surgery", "surgery_date", "Check the date")
    queries.respond(web_study, web_study.team.research_nurse, qid, "confirmed", "Checked")
    for page in (url("SPR-001", "surgery"), url("SPR-002", "adverse_event")):
        root = dom(client_as(role).get(page))
        labels = {e.attrs.get("for") for e in root.find_all("label")}
        controls = [e for e in root.iter() if e.tag in ("input", "select", "textarea")
                    and e.attrs.get("type") not in ("hidden", "submit")]
        assert controls or role != "research_nurse"
        for control in controls:
            wrapped = any(a.tag == "label" for a in _ancestors(control))
            assert control.attrs.get("id") in labels or wrapped or control.attrs.get("aria-label"), control.attrs


def _ancestors(element):
    node = element.parent
    while node is not None:
        yield node
        node = node.parent
