"""Queries on collected data (REDCap's data resolution workflow, OpenClinica's discrepancy notes).

The rules checked: a query is opened by a monitor or a data manager on one field of one CRF
instance, answered by the site with a resolution, closed by the one who opened it or by a data
manager, and reopened when the answer does not satisfy; each step is a message of the thread and an
audited change (21 CFR 11.10(e); ICH E6(R3): data corrections traceable, with the reason). The roles
are those of ``sarcotrial.domain.access.PERMISSIONS`` (query.open/close/reopen: monitor and data
manager; query.respond: site staff).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import forms, queries, views
from sarcotrial.store.models import AuditEntry
from tests.edc_support import operated, staff


@pytest.fixture
def team(study, fast_hashing):
    """A patient operated on 17 Apr 2025 with a pathology report, then one account per role."""
    subject = operated(study, pathology=True)
    out = staff(study)
    out.subject = subject
    return out


def shown(study, actor, query_id: int) -> queries.QueryView:
    return next(q for q in queries.list_queries(study, actor) if q.id == query_id)


def test_open_answer_close_with_its_thread(study, team):
    number = queries.open_query(study, team.monitor, team.subject, "surgery", "surgery_date",
                                "Please check the date against the operating list", assign="nina")
    q = shown(study, team.monitor, number)
    assert (q.subject, q.form_id, q.visit_id, q.occurrence, q.instance, q.field, q.status, q.origin, q.opened_by,
            q.assigned_to, q.age_days) == (team.subject, "surgery", "surgery", 1, 1, "surgery_date", "open", "manual",
                                           "mona", "nina", 0)
    queries.respond(study, team.research_nurse, number, "confirmed", "Checked: 17 April is on the operating list")
    assert shown(study, team.monitor, number).status == "answered"
    queries.close(study, team.monitor, number, "Thank you")
    q = shown(study, team.monitor, number)
    assert q.status == "closed"
    assert [(m["kind"], m["author"], m["resolution"], m["text"]) for m in q.thread] == [
        ("open", "mona", None, "Please check the date against the operating list"),
        ("answer", "nina", "confirmed", "Checked: 17 April is on the operating list"),
        ("close", "mona", None, "Thank you")]


def test_the_age_of_a_query_in_days(study, team):
    number = queries.open_query(study, team.data_manager, team.subject, "surgery", "procedure", "Compartmental?")
    later = shown(study, team.monitor, number).opened_at + dt.timedelta(days=9, hours=1)
    assert [q.age_days for q in queries.list_queries(study, team.monitor, now=later)] == [9]


def test_each_resolution_is_kept_with_the_answer(study, team):
    numbers = {resolution: queries.open_query(study, team.monitor, team.subject, "pathology", "closest_margin_mm",
                                              f"Margin in mm? ({resolution})") for resolution in queries.RESOLUTIONS}
    forms.correct(study, team.investigator, team.subject, "pathology", {"closest_margin_mm": 4}, "re-measured")
    for resolution, number in numbers.items():
        queries.respond(study, team.investigator, number, resolution, f"answer: {resolution}")
    answers = {resolution: shown(study, team.monitor, number).thread[-1] for resolution, number in numbers.items()}
    assert {r: (a["kind"], a["author"], a["resolution"], a["text"]) for r, a in answers.items()} == {
        "corrected": ("answer", "ivy", "corrected", "answer: corrected"),
        "confirmed": ("answer", "ivy", "confirmed", "answer: confirmed"),
        "other": ("answer", "ivy", "other", "answer: other")}
    with pytest.raises(InvalidValue, match="resolution: must be one of corrected, confirmed, other"):
        queries.respond(study, team.investigator, numbers["other"], "fixed", "x")


def test_an_answer_with_a_correction_is_one_audited_change(study, team):
    """The value corrected with the answer is an audited correction whose reason is the answer (21 CFR 11.10(e))."""
    number = queries.open_query(study, team.monitor, team.subject, "pathology", "closest_margin_mm", "Margin in mm?")
    with pytest.raises(InvalidValue, match="a value changed with the answer makes the resolution 'corrected'"):
        queries.respond(study, team.research_nurse, number, "confirmed", "re-measured", {"closest_margin_mm": 4})
    with pytest.raises(InvalidValue, match="pathology.closest_margin_mm: must be at most 500 mm"):
        queries.respond(study, team.research_nurse, number, "corrected", "re-measured", {"closest_margin_mm": 900})
    assert shown(study, team.monitor, number).status == "open"  # nothing of the refused answers was kept
    queries.respond(study, team.research_nurse, number, "corrected", "re-measured on the slide",
                    {"closest_margin_mm": 4})
    assert views.form_instances(study, team.monitor, team.subject, "pathology")[0].values["closest_margin_mm"] == 4
    with study.reading() as session:
        entry = session.execute(select(AuditEntry.old_value, AuditEntry.new_value, AuditEntry.reason, AuditEntry.actor)
                                .where(AuditEntry.field == "data.closest_margin_mm",
                                       AuditEntry.action == "update")).one()
    assert tuple(entry) == ("3.0", "4.0", f"query {number} answered (corrected): re-measured on the slide", "nina")
    assert shown(study, team.monitor, number).status == "answered"
    report = views.verify_audit(study, team.monitor)
    assert report.ok, report.problems


def test_closed_by_the_opener_or_a_data_manager_only(study, team):
    number = queries.open_query(study, team.monitor, team.subject, "surgery", "surgery_date", "Date?")
    other_monitor = team.extra("moe", "monitor", "Moe Monitor")
    queries.respond(study, team.research_nurse, number, "confirmed", "as in the operating list")
    with pytest.raises(InvalidValue, match=f"query {number} was opened by mona; it is closed by them or by a data "
                                           "manager"):
        queries.close(study, other_monitor, number)
    with pytest.raises(AccessDenied, match=r"nina \(research_nurse\) may not close a query"):
        queries.close(study, team.research_nurse, number)
    queries.close(study, team.data_manager, number, "agreed")
    assert shown(study, team.monitor, number).thread[-1]["author"] == "dana"
    with pytest.raises(InvalidValue, match=f"query {number} is already closed"):
        queries.close(study, team.monitor, number)


def test_reopen_and_answer_again(study, team):
    number = queries.open_query(study, team.monitor, team.subject, "surgery", "surgery_date", "Date?")
    with pytest.raises(InvalidValue, match=f"query {number} is already open"):
        queries.reopen(study, team.monitor, number, "again")
    queries.respond(study, team.research_nurse, number, "other", "will ask the surgeon")
    queries.close(study, team.monitor, number)
    with pytest.raises(InvalidValue, match=f"query {number} is closed; only an open query is answered"):
        queries.respond(study, team.research_nurse, number, "confirmed", "the surgeon confirms")
    with pytest.raises(InvalidValue, match="say why the query is reopened"):
        queries.reopen(study, team.monitor, number, " ")
    queries.reopen(study, team.monitor, number, "the surgeon's answer is still missing")
    assert shown(study, team.monitor, number).status == "open"
    queries.respond(study, team.research_nurse, number, "confirmed", "the surgeon confirms")
    assert [m["kind"] for m in shown(study, team.monitor, number).thread] == ["open", "answer", "close", "reopen",
                                                                              "answer"]


def test_a_query_names_an_existing_form_and_field_and_an_assignee_who_may_answer(study, team):
    with pytest.raises(InvalidValue, match="form 'surgery' has no field 'surgeon'"):
        queries.open_query(study, team.monitor, team.subject, "surgery", "surgeon", "Who?")
    with pytest.raises(InvalidValue, match="no wound_complication form"):
        queries.open_query(study, team.monitor, team.subject, "wound_complication", "onset_date", "When?")
    with pytest.raises(InvalidValue, match=r"assign: stan \(statistician\) may not answer a query"):
        queries.open_query(study, team.monitor, team.subject, "surgery", "surgery_date", "Date?", assign="stan")
    with pytest.raises(InvalidValue, match="assign: no such account in this study"):
        queries.open_query(study, team.monitor, team.subject, "surgery", "surgery_date", "Date?", assign="nobody")
    with pytest.raises(AccessDenied, match=r"nina \(research_nurse\) may not open a query"):
        queries.open_query(study, team.research_nurse, team.subject, "surgery", "surgery_date", "Date?")
    assert queries.list_queries(study, team.monitor) == []


def test_list_filters(study, fast_hashing):
    first = operated(study, pathology=True)
    second = operated(study, "H0002")
    team = staff(study)
    team.subject = first
    d = queries.open_query(study, team.monitor, second, "surgery", "surgery_date", "Date?")
    a = queries.open_query(study, team.monitor, team.subject, "surgery", "surgery_date", "Date?", assign="nina")
    b = queries.open_query(study, team.data_manager, team.subject, "pathology", "viable_percent", "Viable %?")
    c = queries.open_query(study, team.monitor, team.subject, "pathology", "closest_margin_mm", "Margin?",
                           assign="ivy")
    queries.respond(study, team.research_nurse, b, "confirmed", "as reported")
    queries.respond(study, team.research_nurse, c, "confirmed", "as reported")
    queries.close(study, team.monitor, c)
    ids = lambda **kw: [q.id for q in queries.list_queries(study, team.monitor, **kw)]
    assert ids() == [d, a, b, c]
    assert (ids(status="open"), ids(status="answered"), ids(status="closed")) == ([d, a], [b], [c])
    assert (ids(assigned_to="nina"), ids(assigned_to="ivy")) == ([a], [c])
    assert (ids(subject_id=first.lower()), ids(subject_id=second)) == ([a, b, c], [d])
    assert ids(subject_id=second, status="answered") == []
    with pytest.raises(InvalidValue, match="status: must be one of open, answered, closed"):
        queries.list_queries(study, team.monitor, status="pending")


def test_corrected_needs_the_value_changed_since_the_query_was_opened(study, team):
    """ICH E6(R3) 4.2.5 / the audit trail: an answer 'corrected' must point at a change of the field;
    a change made before the query was opened does not count."""
    forms.correct(study, team.investigator, team.subject, "pathology", {"closest_margin_mm": 4}, "re-measured")
    number = queries.open_query(study, team.monitor, team.subject, "pathology", "closest_margin_mm", "Margin?")
    with pytest.raises(InvalidValue, match="'corrected' says the value of closest_margin_mm was changed"):
        queries.respond(study, team.research_nurse, number, "corrected", "fixed it")
    assert shown(study, team.monitor, number).status == "open"
    forms.correct(study, team.investigator, team.subject, "pathology", {"closest_margin_mm": 5}, "slide re-read")
    queries.respond(study, team.research_nurse, number, "corrected", "re-read on the slide")
    assert shown(study, team.monitor, number).status == "answered"
