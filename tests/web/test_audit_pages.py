"""The audit trail pages (``/audit``, ``/audit.csv``, ``/audit/verify``) through HTTP.

Sources: ICH E6(R3) (the audit trail is reviewed: who, when, the old and the new value, why) and
EU GMP Annex 11 §9 (the trail is available and convertible to a generally intelligible form: the
CSV); ``docs/roles.md`` (``audit.read``: admin, investigator, data manager, monitor; an account
limited to sites sees only its sites' patients).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from sarcotrial.services import audit_trail, forms
from sarcotrial.services.audit_trail import AuditFilter

REASON = "transcription error: the operative note says 18 April"


@pytest.fixture
def corrected(web_study):
    """Nina (research nurse) corrects SPR-001's surgery date, with a reason."""
    forms.correct(web_study, web_study.team.research_nurse, "SPR-001", "surgery", {"surgery_date": "2025-04-18"}, REASON)
    return web_study


def count_on(page_text: str) -> int:
    match = re.search(r'id="audit-count"[^>]*><strong>(\d+)</strong>', page_text)
    assert match, "the page states how many entries match"
    return int(match.group(1))


def row_ids(page_text: str) -> list[int]:
    return [int(x) for x in re.findall(r'<td class="num muted">(\d+)</td>', page_text)]


def csv_rows(answer) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8"))))


def test_the_record_trail_shows_who_changed_what_from_what_to_what_and_why(corrected, client_as):
    page = client_as("investigator").get("/audit?subject=SPR-001&form=surgery")
    assert page.status_code == 200
    html = page.text
    row = next(r for r in html.split("<tr")[1:] if "data.surgery_date" in r and REASON in r)
    assert "nina" in row
    assert '<del class="old">2025-04-17</del>' in row and '<ins class="new">2025-04-18</ins>' in row
    assert "SPR-001" in row and "surgery" in row


def test_filters_narrow_the_rows_as_the_service_counts_them(corrected, client_as):
    study = corrected
    audit_trail.audit_count(study, study.team.investigator)  # signs the test's actor in (a sign-in is audited)
    ivy = client_as("investigator")
    everything = count_on(ivy.get("/audit").text)
    assert everything == audit_trail.audit_count(study, study.team.investigator)
    today = dt.datetime.now(dt.UTC).date()
    filters = [
        {"user": "nina"},
        {"subject": "SPR-001"},
        {"subject": "SPR-002"},
        {"form": "surgery"},
        {"subject": "SPR-001", "form": "surgery"},
        {"user": "nina", "subject": "SPR-001", "form": "surgery"},
        {"since": today.isoformat(), "until": today.isoformat()},
        {"since": (today + dt.timedelta(days=1)).isoformat()},
        {"until": (today - dt.timedelta(days=1)).isoformat()},
    ]
    for wanted in filters:
        page = ivy.get("/audit", params=wanted)
        assert page.status_code == 200, (wanted, page.text)
        shown = count_on(page.text)
        assert shown == audit_trail.audit_count(study, study.team.investigator, AuditFilter.parse(study, **wanted)), wanted
        if set(wanted) != {"since", "until"}:
            assert shown < everything, f"{wanted} narrows the trail"
    # every entry of the study was written today (UTC): a window of today holds them all, one outside none
    assert count_on(ivy.get("/audit", params={"since": today.isoformat(), "until": today.isoformat()}).text) == everything
    assert count_on(ivy.get("/audit", params={"since": (today + dt.timedelta(days=1)).isoformat()}).text) == 0
    # the user filter keeps that user's entries only; the patient filter that patient's
    assert {r["actor"] for r in csv_rows(ivy.get("/audit.csv", params={"user": "nina"}))} == {"nina"}
    assert {r["subject_id"] for r in csv_rows(ivy.get("/audit.csv", params={"subject": "SPR-002"}))} == {"SPR-002"}
    surgery = csv_rows(ivy.get("/audit.csv", params={"form": "surgery"}))
    assert surgery and {r["form_id"] for r in surgery} == {"surgery"}


def test_bad_filters_are_named_beside_their_field_and_keep_what_was_typed(web_study, client_as):
    ivy = client_as("investigator")
    page = ivy.get("/audit", params={"since": "2025-13-40"})
    assert page.status_code == 422
    assert 'id="err-since"' in page.text and "must be a date YYYY-MM-DD" in page.text
    assert 'value="2025-13-40"' in page.text
    page = ivy.get("/audit", params={"since": "2025-03-02", "until": "2025-03-01"})
    assert page.status_code == 422 and 'id="err-until"' in page.text
    page = ivy.get("/audit", params={"subject": "SPR-999"})
    assert page.status_code == 422 and 'id="err-subject"' in page.text and 'value="SPR-999"' in page.text
    assert ivy.get("/audit.csv", params={"form": "no_such_form"}).status_code == 422


def test_the_csv_holds_the_same_rows_as_the_page_with_a_header(corrected, client_as):
    study = corrected
    audit_trail.audit_count(study, study.team.investigator)  # signs the test's actor in (a sign-in is audited)
    ivy = client_as("investigator")
    wanted = {"subject": "SPR-001", "form": "surgery"}
    page = ivy.get("/audit", params=wanted)
    answer = ivy.get("/audit.csv", params=wanted)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    header = answer.content.decode("utf-8").splitlines()[0]
    assert header.split(",") == list(audit_trail.CSV_COLUMNS)
    rows = csv_rows(answer)
    assert [int(r["id"]) for r in rows] == row_ids(page.text)  # the same entries, newest first
    changed = next(r for r in rows if r["field"] == "data.surgery_date" and r["reason"] == REASON)
    assert (changed["actor"], changed["old_value"], changed["new_value"]) == ("nina", "2025-04-17", "2025-04-18")
    # unfiltered, the CSV holds every page's rows
    everything = csv_rows(ivy.get("/audit.csv"))
    assert len(everything) == audit_trail.audit_count(study, study.team.investigator) > audit_trail.PER_PAGE
    ids = [int(r["id"]) for r in everything]
    assert ids == sorted(ids, reverse=True)


def test_pages_run_newest_first_and_do_not_overlap(web_study, client_as):
    ivy = client_as("investigator")
    first, second = ivy.get("/audit").text, ivy.get("/audit?page=2").text
    one, two = row_ids(first), row_ids(second)
    assert len(one) == audit_trail.PER_PAGE and two
    assert one == sorted(one, reverse=True) and min(one) > max(two)
    assert 'href="/audit?page=2"' in first and 'rel="next"' in first


def test_only_roles_with_audit_read_see_the_trail(web_study, client_as):
    # docs/roles.md: audit.read is the admin's, the investigator's, the data manager's and the monitor's
    for role in ("statistician", "research_nurse", "nurse.sat"):
        client = client_as(role)
        assert client.get("/audit").status_code == 403, role
        assert client.get("/audit.csv").status_code == 403, role
        assert client.get("/audit?subject=SPR-001&form=surgery").status_code == 403, role
        assert client.get("/audit/verify").status_code == 403, role
    for role in ("admin", "investigator", "data_manager", "monitor"):
        assert client_as(role).get("/audit").status_code == 200, role


def test_a_site_limited_reader_sees_their_sites_entries_only(web_study, client_as):
    web_study.team.extra("ivy.sat", "investigator", "Iris Satellite Investigator", sites=("SAT",))
    client = client_as("ivy.sat")
    rows = csv_rows(client.get("/audit.csv"))
    assert rows and {r["subject_id"] for r in rows} == {"SPR-003"}
    page = client.get("/audit")
    assert count_on(page.text) == len(rows)
    assert ">SPR-001<" not in page.text and ">SPR-002<" not in page.text and ">SPR-003<" in page.text
    # another site's patient reads as an unknown subject id, beside the field
    other = client.get("/audit", params={"subject": "SPR-001"})
    assert other.status_code == 422 and "no such subject id" in other.text
    assert client.get("/audit.csv", params={"subject": "SPR-001"}).status_code == 422


def test_the_chain_check_is_shown_to_admins_and_data_managers(web_study, client_as):
    audit_trail.audit_count(web_study, web_study.team.data_manager)  # signs the test's actor in
    dana = client_as("data_manager")
    assert 'hx-get="/audit/verify"' in dana.get("/audit").text
    check = dana.get("/audit/verify")
    assert check.status_code == 200 and "Intact." in check.text
    entries = audit_trail.audit_count(web_study, web_study.team.data_manager)
    assert f"hash chain of {entries} entries" in check.text
    assert 'hx-get="/audit/verify"' in client_as("admin").get("/audit").text
    ivy = client_as("investigator")
    assert 'hx-get="/audit/verify"' not in ivy.get("/audit").text
    assert ivy.get("/audit/verify").status_code == 403


def test_identifiers_appear_as_fingerprints_only(web_study, client_as):
    # SPR-003's name, date of birth and hospital number were registered in the fixture
    rows = csv_rows(client_as("admin").get("/audit.csv", params={"subject": "SPR-003"}))
    secret = [r for r in rows if r["table"] == "patient_identifier" and r["field"].endswith("_enc")]
    assert secret and all(r["new_value"].startswith("[encrypted:") for r in secret)
    text = client_as("admin").get("/audit.csv").text
    assert "Sat Patient" not in text and "H0003" not in text and "1971-03-02" not in text
