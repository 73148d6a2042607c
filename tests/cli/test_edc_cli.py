"""The EDC commands as a user meets them: JSON shapes, exit statuses and one-line refusals.

Dates are worked out by hand from ``visits`` in src/sarcotrial/protocol/protocols/sprint.yaml for the
patient of ``tests.helpers.treated`` (25 fractions Mon 3 Feb to Fri 7 Mar 2025, surgery Thu 17 Apr
2025): follow_up_early:1 = surgery + 3 months = 17 Jul 2025, window -14/+14 days; wound_check = surgery
+ 30 days, every 30 days; rt_weekly = first fraction, every 7 days x 5, window -2/+2; pre_operative =
last fraction + 21 days +/- 7; surgery = last fraction + 35 days, -7/+21; baseline = enrolment (22 Jan
2025), window 28 days before.
"""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from tests.cli.support import refused
from sarcotrial.config import cli_user
from sarcotrial.services import forms, queries
from tests.edc_support import PATHOLOGY, operated, password, staff
from tests.helpers import DOCTOR, treated

runner = CliRunner()
VISIT_KEYS = {"visit_id", "occurrence", "name", "target_date", "window_start", "window_end", "actual_date", "status",
              "forms"}
FORM_KEYS = {"form_id", "instance", "status", "verified", "signed", "locked", "open_queries"}


def run(*args: str, code: int = 0, user: str | None = None, stdin: str | None = None):
    """One command; with ``user`` the account signs in with its password (SARCOTRIAL_PASSWORD)."""
    extra = ["--user", user] if user else []
    result = runner.invoke(app, [*args, *extra], input=stdin,
                           env={"SARCOTRIAL_PASSWORD": password(user) if user else None})
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


def as_json(result) -> dict:
    return json.loads(result.output)


def visit(shown: dict, visit_id: str, occurrence: int = 1) -> dict:
    return next(v for v in shown["visits"] if (v["visit_id"], v["occurrence"]) == (visit_id, occurrence))


@pytest.fixture
def db(study, database_url) -> str:
    """The URL of a study (SQLite, and PostgreSQL when configured) with the treated patient SPR-001."""
    treated(study)
    return database_url


@pytest.fixture
def operated_db(study, database_url) -> str:
    """The same with SPR-001 operated on 17 Apr 2025 but no radiotherapy recorded (where the fractions do not matter)."""
    operated(study)
    return database_url


# --------------------------------------------------------------------------- visits
def test_visits_json_shape_and_targets(db):
    shown = as_json(run("visits", "spr-001", "--json", "--db", db))
    assert set(shown) == {"subject", "visits"} and shown["subject"] == "SPR-001"
    for v in shown["visits"]:
        assert set(v) == VISIT_KEYS, v
        for f in v["forms"]:
            assert set(f) == FORM_KEYS, f
    early = visit(shown, "follow_up_early")
    assert (early["target_date"], early["window_start"], early["window_end"], early["actual_date"]) == (
        "2025-07-17", "2025-07-03", "2025-07-31", None)
    assert early["name"] == "Follow-up every 3 months (years 1-2)"
    assert [(f["form_id"], f["instance"], f["status"], f["verified"], f["signed"], f["locked"], f["open_queries"])
            for f in early["forms"]] == [("follow_up", 1, "expected", False, False, False, 0)]
    # adverse events are collected at the visit when they occur (optional_forms): none owed, none shown
    weekly = visit(shown, "rt_weekly")
    assert weekly["forms"] == [] and weekly["status"] == "optional"
    surgery = visit(shown, "surgery")
    assert (surgery["target_date"], surgery["window_start"], surgery["window_end"], surgery["actual_date"]) == (
        "2025-04-11", "2025-04-04", "2025-05-02", "2025-04-17")
    assert [(f["form_id"], f["status"]) for f in surgery["forms"]] == [("surgery", "complete"), ("pathology", "expected")]
    assert "Visits of SPR-001" in run("visits", "SPR-001", "--db", db).output


def test_a_corrected_anchor_moves_the_visit_and_the_move_is_audited(operated_db):
    """Surgery corrected to 24 Apr 2025: follow_up_early:1 moves to 24 Jul (10 Jul to 7 Aug); the audit trail
    holds the update of visit_occurrence.target_date (21 CFR 11.10(e))."""
    run("correct", "surgery", "SPR-001", "--set", "surgery_date=2025-04-24", "--reason", "date of the operating list",
        "--db", operated_db)
    early = visit(as_json(run("visits", "SPR-001", "--json", "--db", operated_db)), "follow_up_early")
    assert (early["target_date"], early["window_start"], early["window_end"]) == ("2025-07-24", "2025-07-10", "2025-08-07")
    log = as_json(run("audit", "log", "--patient", "SPR-001", "--limit", "500", "--json", "--db", operated_db))["entries"]
    moves = [(e["action"], e["old_value"], e["new_value"], e["actor"]) for e in log
             if e["table_name"] == "visit_occurrence" and e["field"] == "target_date" and e["action"] == "update"]
    assert ("update", "2025-07-17", "2025-07-24", cli_user(None)[0]) in moves


def test_placement_in_the_window_or_at_the_named_visit(operated_db):
    placed = as_json(run("record", "follow_up", "SPR-001", "--set", "visit_date=2025-10-20", "--set",
                         "disease_status=ned", "--json", "--db", operated_db))["record"]
    assert placed["crf"]["visit"] == "follow_up_early:2"
    named = as_json(run("record", "follow_up", "SPR-001", "--set", "visit_date=2025-10-22", "--set",
                        "disease_status=ned", "--visit", "follow_up_early:3", "--json", "--db", operated_db))["record"]
    assert named["crf"]["visit"] == "follow_up_early:3"
    third = visit(as_json(run("visits", "SPR-001", "--json", "--db", operated_db)), "follow_up_early", 3)
    assert (third["actual_date"], third["forms"][0]["form_id"], third["forms"][0]["status"]) == (
        "2025-10-22", "follow_up", "complete")
    refused(run("record", "follow_up", "SPR-001", "--set", "visit_date=2025-05-17", "--set", "disease_status=ned",
                "--visit", "wound_check:1", "--db", operated_db, code=2),
            "form 'follow_up' is not collected at visit 'wound_check'")


def test_due_json_on_a_given_day(db):
    shown = as_json(run("due", "--json", "--today", "2025-07-10", "--db", db))
    assert set(shown) == {"due"}
    for row in shown["due"]:
        assert set(row) == {"subject", "visit_id", "occurrence", "window_start", "window_end", "status"}
    assert [(r["visit_id"], r["occurrence"], r["window_start"], r["window_end"], r["status"]) for r in shown["due"]] == [
        ("baseline", 1, "2024-12-25", "2025-01-22", "overdue"),
        ("surgery", 1, "2025-04-04", "2025-05-02", "overdue"),
        ("follow_up_early", 1, "2025-07-03", "2025-07-31", "due")]
    # the weekly reviews, the pre-operative visit and the wound checks collect adverse events and wound
    # complications only when they occur (optional_forms): nothing is owed there, so nothing is chased
    assert {r["subject"] for r in shown["due"]} == {"SPR-001"}
    # with --days 90 the window of follow_up_early:2 (3 Oct to 31 Oct) opens within the horizon
    ahead = as_json(run("due", "--json", "--today", "2025-07-10", "--days", "90", "--db", db))["due"]
    assert ("follow_up_early", 2, "due") in [(r["visit_id"], r["occurrence"], r["status"]) for r in ahead]
    assert ("follow_up_early", 2, "due") not in [(r["visit_id"], r["occurrence"], r["status"]) for r in shown["due"]]
    # nothing due before the referral's patient existed: exit 1
    run("due", "--today", "2024-12-01", "--db", db, code=1)


def test_an_unscheduled_visit_through_the_cli(operated_db):
    assert "Added unscheduled:2 for SPR-001" in run("unscheduled", "SPR-001", "--date", "2025-05-05", "--label",
                                                    "wound review", "--db", operated_db).output
    recorded = as_json(run("record", "adverse_event", "SPR-001", "--set", "term=Wound infection", "--set", "grade=2",
                           "--set", "onset_date=2025-05-05", "--visit", "unscheduled:2", "--json", "--db", operated_db))
    assert recorded["record"]["crf"]["visit"] == "unscheduled:2"
    second = visit(as_json(run("visits", "SPR-001", "--json", "--db", operated_db)), "unscheduled", 2)
    assert (second["target_date"], second["name"], [f["form_id"] for f in second["forms"]]) == (
        "2025-05-05", "Unscheduled visit: wound review", ["adverse_event"])


def test_not_done_through_the_cli(operated_db):
    refused(run("not-done", "SPR-001", "--form", "surgery", "--visit", "surgery", "--reason", "x", "--db", operated_db, code=2),
            "a form with data is corrected or deleted, not marked not done")
    run("not-done", "SPR-001", "--form", "follow_up", "--visit", "follow_up_early", "--reason",
        "patient did not attend; seen at the next visit", "--db", operated_db)
    first = visit(as_json(run("visits", "SPR-001", "--json", "--db", operated_db)), "follow_up_early")
    assert [(f["form_id"], f["status"]) for f in first["forms"]] == [("follow_up", "not_done")]
    assert first["status"] == "complete"  # not done with a reason closes the visit (nothing is chased)


# --------------------------------------------------------------------------- missing-data codes
def test_missing_codes_through_the_cli(operated_db, tmp_path):
    """sprint.yaml missing_codes; CDISC / REDCap missing data codes."""
    base = ["record", "pathology", "SPR-001", "--set", "report_date=2025-04-28", "--set",
            "microscopic_margin_positive=no", "--set", "closest_margin_mm=3", "--db", operated_db]
    refused(run(*base, "--missing", "viable_percent=UNK", code=2), "a missing-data code needs a reason")
    refused(run(*base, "--missing", "viable_percent=GONE", "--reason", "lost", code=2),
            "pathology.viable_percent: not a missing-data code of the protocol (codes: NA Not applicable, UNK Unknown, "
            "ND Not done, NASK Not asked)")
    refused(run(*base, "--set", "viable_percent=3", "--missing", "viable_percent=UNK", "--reason", "?", code=2),
            "pathology.viable_percent: has both a value and a missing-data code")
    recorded = as_json(run(*base, "--missing", "viable_percent=UNK", "--reason", "specimen fragmented", "--json"))
    assert (recorded["record"]["crf"]["status"], recorded["record"]["missing"]) == ("complete", {"viable_percent": "UNK"})
    shown = as_json(run("patient", "show", "SPR-001", "--json", "--db", operated_db))["pathology"]
    assert (shown["missing"], shown.get("viable_percent"), shown["r_status"]) == ({"viable_percent": "UNK"}, None, "R0")
    text = " ".join(run("patient", "show", "SPR-001", "--db", operated_db).output.split())
    assert "UNK stainable cells, EORTC-STBSG not derived; pCR not derived" in text
    out = tmp_path / "endpoints.csv"
    run("endpoints", "--out", str(out), "--db", operated_db)
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert (row["r0_resected"], row["pcr"], row["missing_data"]) == ("1", "", "pathology.viable_percent=UNK")
    visits_shown = visit(as_json(run("visits", "SPR-001", "--json", "--db", operated_db)), "surgery")
    assert [(f["form_id"], f["status"]) for f in visits_shown["forms"]] == [("surgery", "complete"),
                                                                            ("pathology", "complete")]


def test_a_death_of_unknown_cause_shows_its_code(operated_db):
    run("record", "outcome_event", "SPR-001", "--set", "event_type=death", "--set", "event_date=2025-10-01",
        "--missing", "death_cause=UNK", "--reason", "no autopsy, cause not reported", "--db", operated_db)
    assert "Death 2025-10-01 (cause: UNK)" in run("patient", "show", "SPR-001", "--db", operated_db).output
    assert as_json(run("status", "--json", "--db", operated_db))["deaths"] == 1


def test_a_listing_prints_the_code_where_the_value_would_be(operated_db):
    run("record", "diagnosis", "SPR-001", "--set", "diagnosis_date=2025-01-05", "--set",
        "histotype=myxofibrosarcoma", "--set", "size_cm=12", "--set", "clinical_n=N0", "--set", "clinical_m=M0",
        "--missing", "anatomic_site=NASK", "--reason", "not in the referral letter", "--db", operated_db)
    [listed] = as_json(run("patient", "list", "--json", "--db", operated_db))["patients"]
    assert listed["anatomic_site"] == "NASK"


# --------------------------------------------------------------------------- queries
def test_query_list_json_and_a_closed_query_refuses_an_answer(study, operated_db, fast_hashing):
    team = staff(study)
    opened = run("query", "open", "SPR-001", "--form", "surgery", "--field", "surgery_date", "--text",
                 "Check the date against the operating list", "--assign", "nina", "--db", operated_db, user="mona").output
    number = int(opened.split("Opened query ")[1].split()[0])
    listed = as_json(run("query", "list", "--json", "--db", operated_db, user="mona"))
    assert set(listed) == {"queries"}
    [q] = listed["queries"]
    assert {"id", "subject", "form_id", "visit_id", "occurrence", "instance", "field", "status", "text", "opened_by",
            "opened_at", "assigned_to", "age_days", "thread"} <= set(q)
    assert (q["id"], q["subject"], q["form_id"], q["visit_id"], q["occurrence"], q["instance"], q["field"], q["status"],
            q["opened_by"], q["assigned_to"], q["age_days"]) == (number, "SPR-001", "surgery", "surgery", 1, 1,
                                                                 "surgery_date", "open", "mona", "nina", 0)
    assert [m["kind"] for m in q["thread"]] == ["open"]
    run("query", "respond", str(number), "--resolution", "corrected", "--text", "operated on the 18th",
        "--set", "surgery_date=2025-04-18", "--db", operated_db, user="nina")
    surgery = as_json(run("patient", "show", "SPR-001", "--json", "--db", operated_db, user="mona"))["surgery"]
    assert (surgery["surgery_date"], surgery["crf"]["revision"]) == ("2025-04-18", 2)
    run("query", "close", str(number), "--text", "thank you", "--db", operated_db, user="mona")
    refused(run("query", "respond", str(number), "--resolution", "confirmed", "--text", "again", "--db", operated_db,
                user="nina", code=2), f"query {number} is closed; only an open query is answered")
    assert as_json(run("query", "list", "--status", "closed", "--json", "--db", operated_db, user="dana"))["queries"][0]["id"] == number
    run("query", "list", "--status", "open", "--db", operated_db, user="dana", code=1)  # none open: exit 1
    refused(run("query", "close", str(number), "--db", operated_db, user="nina", code=2),
            "nina (research_nurse) may not close a query")
    assert queries.list_queries(study, team.monitor)[0].status == "closed"


# --------------------------------------------------------------------------- SDV, signatures, locks
def test_sdv_and_its_progress_through_the_cli(study, db, fast_hashing):
    """100 fields entered (see tests/services/test_review.py), 5 of them the pathology's."""
    forms.record(study, DOCTOR, "SPR-001", "pathology", PATHOLOGY)
    staff(study)
    assert "Verified pathology of SPR-001: viable_percent" in run(
        "sdv", "SPR-001", "--form", "pathology", "--field", "viable_percent", "--db", db, user="mona").output
    run("sdv", "SPR-001", "--form", "pathology", "--db", db, user="mona")
    refused(run("sdv", "SPR-001", "--form", "surgery", "--db", db, user="nina", code=2),
            "nina (research_nurse) may not mark data source-verified")
    shown = as_json(run("sdv-progress", "--json", "--db", db, user="mona"))
    assert shown == {"patients": [{"subject": "SPR-001", "site": "MAIN", "fields_entered": 100, "fields_verified": 5,
                                   "forms_entered": 31, "forms_verified": 1, "percent": 5.0}],
                     "sites": [{"site": "MAIN", "patients": 1, "fields_entered": 100, "fields_verified": 5,
                                "percent": 5.0}]}
    state = visit(as_json(run("visits", "SPR-001", "--json", "--db", db, user="mona")), "surgery")["forms"][1]
    assert (state["form_id"], state["status"], state["verified"]) == ("pathology", "verified", True)


def test_signing_with_the_password_on_stdin(study, operated_db, fast_hashing):
    """21 CFR 11.200(a)(1): the password again at each signing; 11.50: name, date and time, meaning."""
    forms.record(study, DOCTOR, "SPR-001", "pathology", PATHOLOGY)
    staff(study)
    meaning = "I have reviewed and approve these data"
    wrong = runner.invoke(app, ["sign", "SPR-001", "--form", "pathology", "--meaning", meaning, "--password-stdin",
                                "--user", "ivy", "--db", operated_db], input="not-the-password\n",
                          env={"SARCOTRIAL_PASSWORD": None})
    assert wrong.exit_code == 2 and "sign-in refused: unknown user or wrong password" in wrong.output
    run("signatures", "SPR-001", "--db", operated_db, user="mona", code=1)  # none yet
    signed = runner.invoke(app, ["sign", "SPR-001", "--form", "pathology", "--meaning", meaning, "--password-stdin",
                                 "--user", "ivy", "--db", operated_db], input=password("ivy") + "\n",
                           env={"SARCOTRIAL_PASSWORD": None})
    assert signed.exit_code == 0, signed.output
    assert signed.output.startswith("Signed by Dr Ivy Investigator (ivy) on 20")
    assert f"UTC: {meaning} [pathology at surgery]" in signed.output
    casebook = runner.invoke(app, ["sign", "SPR-001", "--meaning", "I approve this casebook", "--password-stdin",
                                   "--user", "ivy", "--db", operated_db], input=password("ivy") + "\n",
                             env={"SARCOTRIAL_PASSWORD": None})
    assert casebook.exit_code == 0 and "[casebook]" in casebook.output
    run("correct", "pathology", "SPR-001", "--set", "closest_margin_mm=4", "--reason", "re-measured", "--db", operated_db,
        user="nina")
    shown = as_json(run("signatures", "SPR-001", "--json", "--db", operated_db, user="mona"))["signatures"]
    assert [(s["scope"], s["status"], s["printed_name"], s["meaning"]) for s in shown] == [
        ("crf", "voided", "Dr Ivy Investigator", meaning), ("casebook", "voided", "Dr Ivy Investigator",
                                                            "I approve this casebook")]
    assert all(s["voided_reason"].startswith("signature voided by the change of pathology.closest_margin_mm by nina at ")
               for s in shown)
    assert "VOID: signature voided by the change" in run("signatures", "SPR-001", "--db", operated_db, user="mona").output
    no_stdin = runner.invoke(app, ["sign", "SPR-001", "--meaning", meaning, "--user", "ivy", "--db", operated_db], input="",
                             env={"SARCOTRIAL_PASSWORD": None})
    assert no_stdin.exit_code == 2 and "the password is entered at each signing" in no_stdin.output


def test_locks_through_the_cli(study, operated_db, fast_hashing):
    staff(study)
    assert "Locked SPR-001" in run("lock", "SPR-001", "--db", operated_db, user="dana").output
    refused(run("record", "follow_up", "SPR-001", "--set", "visit_date=2025-07-20", "--set", "disease_status=ned",
                "--db", operated_db, user="nina", code=2), "lock: SPR-001 is locked by dana at ")
    shown = as_json(run("visits", "SPR-001", "--json", "--db", operated_db, user="nina"))
    # every form is locked; one never entered still says so (expected, under the lock), not "locked" as if done
    assert {(f["status"], f["locked"]) for v in shown["visits"] for f in v["forms"]} == {("locked", True),
                                                                                        ("expected", True)}
    assert "Missing option '--reason'" in runner.invoke(app, ["unlock", "SPR-001", "--db", operated_db, "--user", "dana"],
                                                        env={"SARCOTRIAL_PASSWORD": password("dana")}).output
    refused(run("unlock", "SPR-001", "--reason", "correction", "--db", operated_db, user="nina", code=2),
            "nina (research_nurse) may not unlock a form or a patient")
    assert "Unlocked SPR-001" in run("unlock", "SPR-001", "--reason", "late correction", "--db", operated_db, user="dana").output
    assert "Locked the study" in run("lock", "--study", "--db", operated_db, user="dana").output
    refused(run("correct", "surgery", "SPR-001", "--set", "nerve_resection=no", "--reason", "added", "--db", operated_db,
                user="nina", code=2), "lock: the study is locked (database lock) by dana at ")


def test_the_same_refusals_through_the_cli(operated_db):
    refused(run("correct", "surgery", "SPR-001", "--set", "surgery_date=2025-04-20", "--reason", "typo",
                "--revision", "0", "--db", operated_db, code=2), "(revision 1; you saw 0)")
    refused(run("record", "adverse_event", "SPR-001", "--set", "term=Wound infection", "--set", "grade=3", "--set",
                "onset_date=2025-05-02", "--set", "serious=yes", "--db", operated_db, code=2),
            "adverse_event.aware_at: is required for a serious adverse event")
