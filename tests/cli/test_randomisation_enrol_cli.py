"""``sarcotrial randomisation list`` and ``verify``, and the arm in ``patient show`` / ``patient list``.

Rules (docs/randomisation.md; ICH E9 (1998) 2.3.2; Schulz & Grimes, Lancet 2002;359:614-618): the allocation
is made at enrolment and shown only once made; the seed is never printed; ``verify`` replays every allocation
from the seed and exits 1 on a mismatch (a changed arm is named by its allocation number); a correction of a
stratification factor is flagged, the arm and the strata used stand. Exit codes: 0 done, 1 nothing found or
the check failed, 2 refused. The expected levels are the test protocol's (tests/protocols/randomised-test.yaml:
ECOG 0 -> "0", 1 or 2 -> "1-2").
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.services import access, pathway
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.crypto import generate_key
from sarcotrial.store.models import RandomisationSecret
from tests.helpers import SCREENING, consent

RANDOMISED = Path(__file__).resolve().parents[1] / "protocols" / "randomised-test.yaml"
OS_USER = Actor("tester", "test")
runner = CliRunner()
OUTPUTS: list[str] = []  # everything the commands printed in a test, searched for the seed


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.exit_code, result.output)
    assert "Traceback" not in result.output
    OUTPUTS.append(result.output)
    return result.output


def flat(output: str) -> str:
    return " ".join(output.split())


KEY = generate_key()  # the identifier key of this module's studies


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "SARCOTRIAL_KEY_FILE", "SARCOTRIAL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SARCOTRIAL_KEY", KEY)
    OUTPUTS.clear()
    return tmp_path


def screened(study: StudyDB, number: int, site: str, ecog: int) -> str:
    subject = pathway.register_patient(study, OS_USER, identifiers=pathway.Identifiers(
        "Test Patient (synthetic)", dt.date(1960, 5, 1), f"H{number:04d}"), sex="female",
        referral={"referral_date": "2025-01-10", "anatomic_site": "extremity"}, site_code=site).subject_id
    values = {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING,
              "previous_lines_group": "one", "ecog": ecog}
    assert pathway.screen(study, OS_USER, subject, values).decision == "eligible"
    consent(study, subject)
    return subject


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Six patients of the permuted-block test protocol over 2 sites, enrolled (the last through the command
    line), and a seventh screened but not yet enrolled; built once, copied for each test."""
    path = tmp_path_factory.mktemp("randomised") / "study.sqlite"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DATABASE_URL", "SARCOTRIAL_KEY_FILE", "SARCOTRIAL_PASSWORD"):
            patch.delenv(name, raising=False)
        patch.setenv("SARCOTRIAL_KEY", KEY)
        study, _ = StudyDB.create(f"sqlite:///{path}", str(RANDOMISED), OS_USER)
        access.add_site(study, OS_USER, "S02", "Second site")
        for i in range(6):
            subject = screened(study, i + 1, ("MAIN", "S02")[i % 2], i % 3)
            if i < 5:
                pathway.enrol(study, OS_USER, subject, dt.date(2025, 1, 22))
        screened(study, 7, "MAIN", 0)
        study.close()
        result = runner.invoke(app, ["patient", "enrol", "SPRR-006", "--date", "2025-01-22", "--db", str(path)])
        assert result.exit_code == 0 and "Enrolled SPRR-006 as patient 6" in result.output, result.output
    return path


@pytest.fixture
def db(env, built) -> str:
    copy = env / "study.sqlite"
    shutil.copyfile(built, copy)
    return str(copy)


def test_list_shows_each_allocation_and_verify_passes(db):
    out = json.loads(run("randomisation", "list", "--db", db, "--json"))
    assert set(out) == {"protocol", "method", "arms", "allocations"} and out["method"] == "permuted_blocks"
    rows = out["allocations"]
    assert [r["number"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["subject_id"] for r in rows] == [f"SPRR-00{i}" for i in range(1, 7)]  # SPRR-007: not allocated
    assert [r["site"] for r in rows] == ["MAIN", "S02"] * 3
    # ECOG 0, 1, 2, 0, 1, 2 in the levels "0" and "1-2"; the site is the patient's
    assert [r["strata"] for r in rows] == [{"previous_lines": "one", "ecog": e, "site": s} for e, s in
                                           zip(["0", "1-2", "1-2", "0", "1-2", "1-2"], ["MAIN", "S02"] * 3)]
    assert all(r["arm"] in ("doxorubicin", "doxorubicin_antibody") and r["allocated_on"] == "2025-01-22"
               and r["stratification_errors"] == {} for r in rows)
    readable = run("randomisation", "list", "--db", db)
    for r in rows:
        assert f"{r['subject_id']}" in readable and r["arm"] in readable
    assert "Stratification errors" not in readable
    assert "all 6 allocations match" in flat(run("randomisation", "verify", "--db", db))
    assert json.loads(run("randomisation", "verify", "--db", db, "--json")) == \
        {"allocations": 6, "ok": True, "mismatches": [], "problems": []}


def test_verify_exits_1_and_names_a_tampered_arm(db):
    before = json.loads(run("randomisation", "list", "--db", db, "--json"))["allocations"][2]
    other = "doxorubicin" if before["arm"] == "doxorubicin_antibody" else "doxorubicin_antibody"
    study = StudyDB.open(db)
    with study.engine.begin() as connection:
        connection.execute(text("UPDATE allocation SET arm = :arm WHERE number = 3"), {"arm": other})
    study.close()
    out = flat(run("randomisation", "verify", "--db", db, code=1))
    assert "1 of 6 allocations differ" in out
    assert f"allocation 3 ({before['subject_id']}): stored {other}, the seed gives {before['arm']}" in out
    shown = json.loads(run("randomisation", "verify", "--db", db, "--json", code=1))
    assert shown["ok"] is False and shown["mismatches"] == [{"number": 3, "subject_id": before["subject_id"],
                                                             "stored": other, "expected": before["arm"]}]


def test_a_correction_is_flagged_and_the_arm_stands(db):
    first = json.loads(run("randomisation", "list", "--db", db, "--json"))["allocations"][0]
    run("correct", "screening", "SPRR-001", "--set", "ecog=1", "--reason", "source document: ECOG 1", "--db", db)
    now = json.loads(run("randomisation", "list", "--db", db, "--json"))["allocations"][0]
    assert now["stratification_errors"] == {"ecog": {"used": "0", "now": "1-2"}}
    assert (now["arm"], now["strata"]) == (first["arm"], first["strata"])
    out = flat(run("randomisation", "list", "--db", db))
    assert "Stratification errors (1)" in out and "! SPRR-001: ecog used 0, now 1-2" in out
    run("randomisation", "verify", "--db", db)


def test_the_arm_in_patient_show_and_list_once_allocated(db):
    arms = {r["subject_id"]: r["arm"] for r in
            json.loads(run("randomisation", "list", "--db", db, "--json"))["allocations"]}
    shown = json.loads(run("patient", "show", "SPRR-002", "--db", db, "--json"))
    assert shown["arm"]["id"] == arms["SPRR-002"]
    assert shown["arm"]["name"] == {"doxorubicin": "Doxorubicin",
                                    "doxorubicin_antibody": "Doxorubicin + antibody"}[arms["SPRR-002"]]
    assert f"Allocated to {shown['arm']['name']} ({arms['SPRR-002']})" in flat(run("patient", "show", "SPRR-002",
                                                                                   "--db", db))
    assert json.loads(run("patient", "show", "SPRR-007", "--db", db, "--json"))["arm"] is None  # not yet allocated
    listed = {p["subject_id"]: p["arm"] for p in json.loads(run("patient", "list", "--db", db, "--json"))["patients"]}
    assert listed == {**arms, "SPRR-007": None}
    assert "arm" in run("patient", "list", "--db", db)


def test_the_seed_is_never_printed(db):
    """Every answer about the randomisation, the patients and the audit trail, searched for the seed and its
    ciphertext (the seed is read here as an auditor would, with the study's key)."""
    from tests.services.test_randomisation_enrol import decrypted_seed

    study = StudyDB.open(db)
    seed = decrypted_seed(study)
    with study.reading() as session:
        token = session.scalars(select(RandomisationSecret.seed_enc)).one()
    study.close()
    for args in (["randomisation", "list"], ["randomisation", "list", "--json"], ["randomisation", "verify"],
                 ["randomisation", "verify", "--json"], ["patient", "list", "--json"],
                 ["patient", "show", "SPRR-001", "--json"], ["audit", "log", "--limit", "5000", "--json"],
                 ["status", "--json"]):
        run(*args, "--db", db)
    assert len(OUTPUTS) == 8
    assert not [o for o in OUTPUTS if seed in o or token in o]
    entries = json.loads(OUTPUTS[-2])
    tables = {e["table_name"] for e in next(iter(entries.values()))}
    assert {"allocation", "randomisation_secret", "randomisation_check"} <= tables  # audited, seed not shown


def test_no_allocation_exits_1_and_a_study_without_arms_exits_2(env):
    path = env / "empty.sqlite"
    StudyDB.create(f"sqlite:///{path}", str(RANDOMISED), OS_USER)[0].close()
    assert "No patient is allocated" in run("randomisation", "list", "--db", str(path), code=1)
    assert json.loads(run("randomisation", "list", "--db", str(path), "--json", code=1))["allocations"] == []
    assert "No allocation to verify yet" in flat(run("randomisation", "verify", "--db", str(path), code=1))
    sprint = env / "sprint.sqlite"
    StudyDB.create(f"sqlite:///{sprint}", "sprint", OS_USER)[0].close()
    out = run("randomisation", "list", "--db", str(sprint), code=2)
    assert "protocol: SPRINT v1.3 declares no randomisation" in flat(out)
    assert "protocol: SPRINT declares no randomisation: nothing to verify" in flat(
        run("randomisation", "verify", "--db", str(sprint), code=2))
    assert "arm" not in json.loads(run("patient", "list", "--db", str(sprint), "--json", code=1))
