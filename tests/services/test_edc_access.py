"""Who may do what in the EDC, and which patients each account sees.

Sources: FDA 21 CFR 11.10(d) (access limited to authorised individuals) and 11.10(g) (authority
checks); EU GMP Annex 11 §12 (access by role); ICH E6(R3) (the site enters and corrects data, the
monitor verifies it, the investigator signs). The expected allowed roles of each action are read
from ``sarcotrial.domain.access.PERMISSIONS`` (the table the documentation is generated from), and a
few facts are checked by hand beside it. Site isolation follows REDCap's data access groups: an
account limited to sites sees and changes only those sites' patients, in every listing, the report
and the endpoints.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from sarcotrial.domain.access import PERMISSIONS, ROLES
from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.protocol import read_protocol
from sarcotrial.report.data import gather
from sarcotrial.services import (
    access,
    amend,
    forms,
    pathway,
    queries,
    review,
    safety,
    views,
    visits,
)
from sarcotrial.services.endpoints import derive_endpoints
from tests.edc_support import OS_USER, PATHOLOGY, SURGERY, operated, password, staff
from tests.helpers import DOCTOR, NURSE, SCREENING, consent

MEANING = "I have reviewed these data"


# --------------------------------------------------------------------------- every role against each action
def _opened_by_mona(team, n: int) -> list[int]:
    return [queries.open_query(team.study, team.monitor, team.subject, "surgery", "procedure", f"check {i}")
            for i in range(n)]


def _amendment(tmp_path: Path) -> Path:
    data = yaml.safe_load(read_protocol("sprint").text)
    data["identification"]["version"] = "1.4"  # the study runs the shipped 1.3
    path = tmp_path / "sprint-1.4.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


#: permission -> (what is prepared once, given the team; the action of one role, given the team, the
#: actor, the role's index and what was prepared; what restores the study for the next action). In the
#: order run: the locks are lifted after their step, and the amendment comes last.
ACTIONS = {
    "record": (None, lambda t, a, i, p: forms.record(t.study, a, t.subject, "adverse_event", {
        "term": "Fatigue", "grade": 1, "onset_date": f"2025-05-0{i + 1}"}), None),
    "correct": (None, lambda t, a, i, p: forms.correct(t.study, a, t.subject, "pathology", {"closest_margin_mm": 10 + i},
                                                       reason="re-measured on the slide"), None),
    "not_done": (None, lambda t, a, i, p: forms.mark_not_done(t.study, a, t.subject, "wound_complication",
                                                              f"wound_check:{i + 1}", "no wound problem"), None),
    "delete": (lambda t: [forms.record(t.study, t.research_nurse, t.subject, "adverse_event", {
        "term": "Nausea", "grade": 1, "onset_date": f"2025-05-1{i}"}).id for i in range(len(ROLES))],
               lambda t, a, i, p: forms.delete(t.study, a, t.subject, "adverse_event", "entered in error",
                                               record_id=p[i]), None),
    "query.open": (None, lambda t, a, i, p: queries.open_query(t.study, a, t.subject, "surgery", "procedure", "why?"),
                   None),
    "query.respond": (lambda t: _opened_by_mona(t, len(ROLES)),
                      lambda t, a, i, p: queries.respond(t.study, a, p[i], "confirmed", "as in the operating note"),
                      None),
    "query.close": (lambda t: _opened_by_mona(t, len(ROLES)), lambda t, a, i, p: queries.close(t.study, a, p[i]), None),
    "query.reopen": (lambda t: [queries.close(t.study, t.data_manager, q) or q for q in _opened_by_mona(t, len(ROLES))],
                     lambda t, a, i, p: queries.reopen(t.study, a, p[i], "the answer is missing"), None),
    "sdv": (None, lambda t, a, i, p: review.verify_source(t.study, a, t.subject, "pathology", field_id="report_date"),
            None),
    "sign": (None, lambda t, a, i, p: review.sign(t.study, a, t.subject, password(a.name), MEANING, form_id="pathology"),
             None),
    "lock": (None, lambda t, a, i, p: review.lock(t.study, a, subject_id=t.subject),
             lambda t: review.unlock(t.study, t.data_manager, "lock tried by every role", subject_id=t.subject)),
    "unlock": (lambda t: review.lock(t.study, t.data_manager, subject_id=t.subject),
               lambda t, a, i, p: review.unlock(t.study, a, "a correction is needed", subject_id=t.subject), None),
    "lock.study": (None, lambda t, a, i, p: review.lock(t.study, a, whole_study=True),
                   lambda t: review.unlock(t.study, t.data_manager, "lock tried by every role", whole_study=True)),
    "unlock.study": (lambda t: review.lock(t.study, t.data_manager, whole_study=True),
                     lambda t, a, i, p: review.unlock(t.study, a, "late data", whole_study=True), None),
    "protocol.amend": (lambda t: _amendment(t.tmp_path),
                       lambda t, a, i, p: amend.amend(t.study, a, str(p), "ethics committee approval"), None),
}


@pytest.fixture
def team(study, fast_hashing, tmp_path):
    """An enrolled patient operated on 17 Apr 2025 with a pathology report, then one account per role."""
    subject = operated(study, pathology=True)
    out = staff(study)
    out.subject, out.tmp_path = subject, tmp_path
    return out


def test_every_role_against_the_edc_actions(study, team):
    """Allowed roles pass, every other role is refused with AccessDenied naming the permission; the expectation
    is PERMISSIONS itself (21 CFR 11.10(g)), for every EDC action, on one study."""
    outcome: dict[str, dict[str, str]] = {}
    for permission, (prepare, act, restore) in ACTIONS.items():
        prepared = prepare(team) if prepare else None
        outcome[permission] = {}
        for index, role in enumerate(ROLES):
            try:
                act(team, getattr(team, role), index, prepared)
                outcome[permission][role] = "done"
            except AccessDenied as refused:
                assert f"(permission {permission})" in str(refused), str(refused)
                outcome[permission][role] = "refused"
        if restore:
            restore(team)
    expected = {permission: {role: "done" if role in PERMISSIONS[permission] else "refused" for role in ROLES}
                for permission in ACTIONS}
    assert outcome == expected
    assert all("done" in roles.values() for roles in outcome.values())  # every action was possible to someone


def test_a_few_rights_by_hand(study, team):
    """Checked against the role descriptions, not the table: a monitor verifies but never enters data; a
    statistician reads but never enters data; only an investigator signs; only a data manager locks."""
    review.verify_source(study, team.monitor, team.subject, "pathology")
    with pytest.raises(AccessDenied, match=r"mona \(monitor\) may not enter data on a form"):
        forms.record(study, team.monitor, team.subject, "adverse_event", {"term": "Fatigue", "grade": 1,
                                                                        "onset_date": "2025-05-01"})
    assert [p.subject_id for p in views.patients(study, team.statistician)] == [team.subject]
    assert visits.visits(study, team.statistician, team.subject)
    assert queries.list_queries(study, team.statistician) == []
    with pytest.raises(AccessDenied, match=r"stan \(statistician\) may not enter data on a form"):
        forms.record(study, team.statistician, team.subject, "adverse_event", {"term": "Fatigue", "grade": 1,
                                                                             "onset_date": "2025-05-01"})
    with pytest.raises(AccessDenied, match=r"stan \(statistician\) may not correct data already entered"):
        forms.correct(study, team.statistician, team.subject, "pathology", {"closest_margin_mm": 4}, reason="x")
    assert PERMISSIONS["sign"] == frozenset({"investigator"})
    with pytest.raises(AccessDenied, match=r"dana \(data_manager\) may not sign"):
        review.sign(study, team.data_manager, team.subject, password("dana"), MEANING, form_id="pathology")
    review.sign(study, team.investigator, team.subject, password("ivy"), MEANING, form_id="pathology")
    with pytest.raises(AccessDenied, match=r"admin \(admin\) may not lock"):
        review.lock(study, team.admin, subject_id=team.subject)


# --------------------------------------------------------------------------- site isolation
def operated_at(study, site: str, hospital_number: str) -> str:
    """A patient of ``site``: enrolled 22 Jan 2025, operated 17 Apr 2025, with pathology and a serious adverse event."""
    patient = pathway.register_patient(study, NURSE, identifiers=pathway.Identifiers(
        "Test Patient (synthetic)", dt.date(1960, 5, 1), hospital_number), sex="male",
        referral={"referral_date": "2025-01-10", "anatomic_site": "extremity"}, site_code=site)
    subject = patient.subject_id
    pathway.screen(study, NURSE, subject, {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING})
    consent(study, subject)
    pathway.enrol(study, NURSE, subject, dt.date(2025, 1, 22))
    forms.record(study, DOCTOR, subject, "surgery", SURGERY)
    forms.record(study, DOCTOR, subject, "pathology", PATHOLOGY)
    forms.record(study, DOCTOR, subject, "adverse_event", {
        "term": "Wound infection", "grade": 3, "onset_date": "2025-05-02", "serious": True, "aware_at": "2025-05-03T10:00"})
    return subject


@pytest.fixture
def two_sites(study, fast_hashing):
    """SPR-001 at MAIN, SPR-002 at NORTH and a third patient referred at NORTH; staff of MAIN only, a monitor
    study-wide, a nurse of NORTH."""
    access.add_site(study, OS_USER, "NORTH", "North hospital")
    a = operated_at(study, "MAIN", "H0001")
    b = operated_at(study, "NORTH", "H0002")
    pathway.register_patient(study, NURSE, identifiers=pathway.Identifiers("Other Patient (synthetic)",
                                                                           dt.date(1970, 2, 2), "H0003"),
                             sex="female", referral={"referral_date": "2025-02-10", "anatomic_site": "trunk"},
                             site_code="NORTH")
    team = staff(study, roles=("research_nurse", "investigator"), sites=("MAIN",))
    team.wide = team.extra("walt", "monitor", "Walt Widemonitor")
    team.north = team.extra("norah", "research_nurse", "Norah North", sites=("NORTH",))
    team.a, team.b = a, b
    queries.open_query(study, team.wide, a, "surgery", "procedure", "Check the procedure (MAIN)")
    queries.open_query(study, team.wide, b, "surgery", "procedure", "Check the procedure (NORTH)")
    review.verify_source(study, team.wide, b, "pathology")
    return team


def test_a_site_nurse_sees_only_her_sites_patients(study, two_sites):
    team, nurse = two_sites, two_sites.research_nurse
    assert [p.subject_id for p in views.patients(study, nurse)] == [team.a]
    assert {d.subject for d in visits.due(study, nurse, today=dt.date(2025, 7, 10))} == {team.a}
    assert [(q.subject, q.text) for q in queries.list_queries(study, nurse)] == [(team.a, "Check the procedure (MAIN)")]
    progress = review.sdv_progress(study, nurse)
    assert [(p.subject, p.site, p.fields_verified) for p in progress] == [(team.a, "MAIN", 0)]
    assert [s["site"] for s in review.sdv_by_site(progress)] == ["MAIN"]
    assert [e.subject for e in safety.serious_events(study, nurse)] == [team.a]
    # the endpoints (an export) and the report are not the nurse's: her site's investigator's, of her site alone
    with pytest.raises(AccessDenied, match="permission export"):
        derive_endpoints(study, actor=nurse)
    with pytest.raises(AccessDenied, match="permission report"):
        gather(study, actor=nurse)
    investigator = team.investigator
    assert [e.course.subject_id for e in derive_endpoints(study, actor=investigator)] == [team.a]
    consort = gather(study, actor=investigator).consort
    assert (consort.referred, consort.screened, consort.enrolled, consort.operated) == (1, 1, 1, 1)
    # the study-wide monitor sees both sites: 3 referred, 2 screened and enrolled
    wide = gather(study, actor=team.wide).consort
    assert (wide.referred, wide.screened, wide.enrolled) == (3, 2, 2)
    assert {d.subject for d in visits.due(study, team.wide, today=dt.date(2025, 7, 10))} == {team.a, team.b}
    # referral 2 + screening 10 + consent 3 + surgery 3 + pathology 5 + the serious adverse event 5 = 28 fields;
    # the referred patient's referral (2 fields) awaits verification too
    assert [(p.subject, p.site, p.fields_entered) for p in review.sdv_progress(study, team.wide)] == [
        (team.a, "MAIN", 28), (team.b, "NORTH", 28), ("SPR-003", "NORTH", 2)]


def test_another_sites_patient_does_not_exist_for_the_nurse(study, two_sites):
    team, nurse = two_sites, two_sites.research_nurse
    for attempt in (lambda: views.patient(study, nurse, team.b),
                    lambda: visits.visits(study, nurse, team.b),
                    lambda: forms.record(study, nurse, team.b, "follow_up", {"visit_date": "2025-07-17",
                                                                               "disease_status": "ned"}),
                    lambda: queries.list_queries(study, nurse, subject_id=team.b)):
        with pytest.raises(InvalidValue, match="patient: no such subject id in this study"):
            attempt()
    [north_query] = [q.id for q in queries.list_queries(study, team.wide, subject_id=team.b)]
    with pytest.raises(InvalidValue, match="no such subject id"):
        queries.respond(study, nurse, north_query, "confirmed", "seen")
    with pytest.raises(InvalidValue, match=f"norah does not work on the patients of {team.a}'s site"):
        queries.open_query(study, team.wide, team.a, "surgery", "surgery_date", "Date?", assign="norah")
    assert queries.open_query(study, team.wide, team.b, "surgery", "surgery_date", "Date?", assign="norah")


def test_a_site_user_reads_the_audit_trail_of_the_site_only(study, two_sites):
    """21 CFR 11.10(d), Annex 11 §12: limiting access covers the trail, which holds old and new values.
    Query messages are attributed to their patient, so a thread of another site is not shown either."""
    team = two_sites
    seen = {e.subject_id for e in views.audit_entries(study, team.investigator, limit=100000)}
    assert seen == {team.a}
    everything = views.audit_entries(study, team.wide, limit=100000)
    assert {team.a, team.b} <= {e.subject_id for e in everything}
    messages = [e for e in everything if e.table_name == "query_message"]
    assert messages and all(e.subject_id in (team.a, team.b) for e in messages)


def test_an_export_right_of_none_refuses_the_endpoints_csv(study, two_sites, tmp_path):
    """docs/roles.md: the export right none allows no export, whatever the role's permissions."""
    from sarcotrial.services.endpoints import write_endpoints_csv

    team = two_sites
    with pytest.raises(AccessDenied, match="export right is none"):
        write_endpoints_csv(study, tmp_path / "e.csv", actor=team.investigator)
    assert not (tmp_path / "e.csv").exists()
    access.grant(study, team.admin, "ivy", export="pseudonymised", reason="analysis of the site's patients")
    assert write_endpoints_csv(study, tmp_path / "e.csv", actor=team.investigator) == 1


def test_no_amendment_under_a_database_lock(study, two_sites):
    """A database lock freezes the study; an amendment waits for the unlock (it plans every visit again)."""
    team = two_sites
    review.lock(study, team.extra("dora", "data_manager", "Dora Datamanager"), whole_study=True)
    with pytest.raises(InvalidValue, match="the study is locked"):
        amend.amend(study, team.admin, "sprint", "an amendment")
    assert views.status_counts(study, team.wide)["study_lock"]["locked_by"] == "dora"  # and status says so
