"""The command line as a user meets it: answers, one-line errors with exit 2, no tracebacks."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.config import cli_user
from sarcotrial.protocol import read_protocol

runner = CliRunner()


_PASSWORD: dict[str, str] = {}  # set by as_user for the next run only


def run(*args: str, code: int = 0):
    env = {"SARCOTRIAL_PASSWORD": _PASSWORD.pop("password")} if _PASSWORD else None
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr if hasattr(result, "stderr") else "")
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def db(tmp_path, own_study_env) -> str:
    path = tmp_path / "study.sqlite"
    result = run("init", "--protocol", "sprint", "--db", str(path))
    assert "Created study SPRINT (protocol v1.3" in result.output
    assert "Created the identifier key file" in result.output and (tmp_path / "study.sqlite.key").exists()
    return str(path)


def test_protocol_validate_and_show():
    assert "valid" in run("protocol", "validate", "sprint").output
    shown = json.loads(run("protocol", "show", "sprint", "--json").output)
    assert shown["identification"]["design"]["target_accrual"] == 33
    text = run("protocol", "show", "sprint").output
    assert "assumed, to be confirmed by the trial team" in text and "inclusion: Age > 18 years" in text


def test_protocol_validate_names_path_and_rule(tmp_path):
    data = yaml.safe_load(read_protocol("sprint").text)
    data["treatment"]["radiotherapy"]["dose_levels"][0]["total_dose_gy"] = -5
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    result = run("protocol", "validate", str(broken), code=2)
    assert "treatment.radiotherapy.dose_levels[0].total_dose_gy: must be greater than 0 (got -5)" in result.output


def test_init_twice_is_refused(db):
    result = run("init", "--protocol", "sprint", "--db", db, code=2)
    assert "already holds study SPRINT (protocol v1.3)" in result.output


def test_missing_database_is_explained(tmp_path):
    result = run("status", "--db", str(tmp_path / "nowhere.sqlite"), code=2)
    assert "no study database at" in result.output and "sarcotrial init --protocol sprint" in result.output


def test_pathway_through_the_cli(db, tmp_path):
    run("patient", "register", "--db", db, "--name", "Ada Test (synthetic)", "--dob", "1961-04-02",
        "--hospital-number", "H42", "--sex", "female", "--set", "referral_date=2025-01-10",
        "--set", "anatomic_site=extremity")
    answers = tmp_path / "screening.json"
    answers.write_text(json.dumps({"screening_date": "2025-01-20", "age_years": 63, "histology_confirmed": True,
                                   "disease_status": "de_novo", "candidate_for_resection": True,
                                   "previous_rt_to_region": False, "able_to_consent": True, "consent_signed": True,
                                   "planned_amputation": True}))
    screened = json.loads(run("patient", "screen", "SPR-001", "--input", str(answers), "--db", db, "--json").output)
    assert screened["decision"] == "ineligible" and any("Planned amputation" in r for r in screened["reasons"])
    answers.write_text(answers.read_text().replace('"planned_amputation": true', '"planned_amputation": false'))
    assert "ELIGIBLE" in run("patient", "screen", "SPR-001", "--input", str(answers), "--db", db).output
    refused = run("patient", "enrol", "SPR-001", "--date", "2025-01-22", "--db", db, code=2)
    assert "SPR-001 has no consent recorded: record the 'consent' form before enrolment" in refused.output
    run("record", "consent", "SPR-001", "--db", db, "--set", "consent_date=2025-01-20", "--set", "document_version=1.0",
        "--set", "data_use=yes")
    run("patient", "enrol", "SPR-001", "--date", "2025-01-22", "--db", db)
    out = run("record", "diagnosis", "SPR-001", "--db", db, "--json", "--set", "diagnosis_date=2025-01-05",
              "--set", "histotype=myxofibrosarcoma", "--set", "anatomic_site=extremity", "--set", "size_cm=12",
              "--set", "fnclcc_differentiation=2", "--set", "mitoses_per_10hpf=12", "--set", "necrosis_percent=0",
              "--set", "clinical_n=N0", "--set", "clinical_m=M0").output
    record = json.loads(out)["record"]
    # FNCLCC 2 + 2 + 0 = 4 -> G2 (Coindre 2006); AJCC 8 ch. 41: 12 cm is T3; T3 N0 M0 G2 -> IIIB
    assert (record["grade"], record["ajcc_t"], record["stage"]) == ("2", "T3", "IIIB")
    assert record["crf"]["visit"] == "baseline" and record["crf"]["status"] == "complete"
    assert "Ada" not in run("patient", "show", "SPR-001", "--db", db).output
    assert "Ada Test (synthetic), born 1961-04-02, hospital number H42" in run("patient", "identify", "SPR-001", "--db", db).output
    bad = run("record", "diagnosis", "SPR-001", "--db", db, "--set", "size_cm=-5", code=2)
    assert "diagnosis.size_cm: must be at least 0.1 cm (got -5.0)" in bad.output
    no_reason = run("correct", "diagnosis", "SPR-001", "--db", db, "--set", "size_cm=9", "--reason", " ", code=2)
    assert "reason: a reason is required" in no_reason.output
    run("correct", "diagnosis", "SPR-001", "--db", db, "--set", "size_cm=9", "--reason", "measured on MRI")
    log = json.loads(run("audit", "log", "--db", db, "--patient", "SPR-001", "--json").output)["entries"]
    size = [e for e in log if e["field"] == "data.size_cm" and e["action"] == "update"][0]
    assert (size["old_value"], size["new_value"], size["reason"], size["actor"]) == ("12.0", "9.0", "measured on MRI", cli_user(None)[0])
    assert json.loads(run("status", "--db", db, "--json").output)["enrolled"] == 1


def test_audit_verify_detects_tampering(db):
    run("patient", "register", "--db", db, "--name", "B (synthetic)", "--dob", "1970-01-01", "--hospital-number", "H1",
        "--sex", "male", "--set", "referral_date=2025-01-10", "--set", "anatomic_site=trunk")
    assert "Audit trail intact" in run("audit", "verify", "--db", db).output
    with sqlite3.connect(db) as connection:
        connection.execute("DROP TRIGGER audit_entry_no_update")
        connection.execute("UPDATE audit_entry SET new_value = 'female' WHERE field = 'sex'")
    result = run("audit", "verify", "--db", db, code=1)
    assert "Audit trail BROKEN" in result.output and "was edited after it was written" in result.output
    assert "field sex" in result.output


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--out", str(out), "--seed", "7"],
                           env={"SARCOTRIAL_KEY": "", "SARCOTRIAL_KEY_FILE": "", "COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DATA" in result.output and "chain intact" in result.output
    _DEMO_OUTPUT.append(result.output)
    return out


_DEMO_OUTPUT: list[str] = []  # what the demo printed (at 80 columns)


def as_user(demo_db: Path, user: str = "datamanager") -> list[str]:
    """``--user`` for one of the demo's accounts; its password goes in the environment of the next run."""
    logins = {x["user"]: x for x in json.loads((demo_db / "demo-logins.json").read_text())}
    _PASSWORD["password"] = logins[user]["password"]
    return ["--user", user]


def test_demo_writes_its_logins(demo_db):
    """Two sites; an investigator and a research nurse for each; study-wide admin, data manager, monitor and
    statistician; the tumour board's clinician, pathologist and radiologist; the file readable by its owner only."""
    path = demo_db / "demo-logins.json"
    assert path.stat().st_mode & 0o777 == 0o600
    logins = json.loads(path.read_text())
    assert {(x["role"], x["site"]) for x in logins} == {
        ("admin", None), ("data_manager", None), ("monitor", None), ("statistician", None),
        ("investigator", "MAIN"), ("research_nurse", "MAIN"), ("investigator", "SAT"), ("research_nurse", "SAT"),
        ("clinician", None), ("pathologist", None), ("radiologist", None)}
    assert set(logins[0]) == {"user", "full_name", "role", "site", "password"}
    db = str(demo_db / "sprint-demo.sqlite")
    # every command now names an authenticated user: the operating-system user alone is refused
    refused = run("status", "--db", db, code=2)
    assert "error" in refused.output
    users = json.loads(run("user", "list", "--db", db, "--json", *as_user(demo_db, "admin")).output)["users"]
    assert len(users) == 11


def test_demo_builds_the_synthetic_study(demo_db):
    db = str(demo_db / "sprint-demo.sqlite")
    status = json.loads(run("status", "--db", db, "--json", *as_user(demo_db)).output)
    assert status["synthetic"] is True
    # the 50 referrals screened, and the registry's four patients discussed by the board and never screened
    assert status["patients"] == 54 and status["enrolled"] == 33
    assert status["by_status"].get("referred") == 4
    assert status["by_status"].get("screen_failed") == 17
    assert status["fractions_delivered"] == 33 * 25  # every course keeps its 25 fractions
    assert status["operated"] == 33 and status["audit_entries"] > 5000
    assert (demo_db / "SYNTHETIC-DATA.txt").exists()
    assert "Audit trail intact" in run("audit", "verify", "--db", db, *as_user(demo_db)).output
    assert status["queries"]["open"] >= 1 and status["queries"]["closed"] >= 1
    patients = json.loads(run("patient", "list", "--db", db, "--json", *as_user(demo_db)).output)["patients"]
    assert {p["site"] for p in patients} == {"MAIN", "SAT"}
    # a site's nurse sees the patients of that site only
    seen = json.loads(run("patient", "list", "--db", db, "--json", *as_user(demo_db, "nurse.sat")).output)["patients"]
    assert seen and {p["site"] for p in seen} == {"SAT"} and len(seen) < len(patients)
    sites = {p["anatomic_site"] for p in patients if p["anatomic_site"]}
    assert "extremity" in sites and len(sites) >= 3
    assert {p["grade"] for p in patients if p["grade"]} <= {"1", "2", "3", "X"}


def test_demo_is_reproducible_and_rerunnable(demo_db, tmp_path):
    """A plain re-run says a demo is there and reuses it, unchanged; --force (or --rebuild) builds it
    again, and the same seed gives the same study and the same passwords."""
    db = demo_db / "sprint-demo.sqlite"
    first = run("patient", "list", "--db", str(db), "--json", *as_user(demo_db)).output
    logins = (demo_db / "demo-logins.json").read_text()
    env = {"SARCOTRIAL_KEY": "", "SARCOTRIAL_KEY_FILE": "", "COLUMNS": "80"}
    again = runner.invoke(app, ["demo", "--out", str(demo_db), "--seed", "7"], env=env)
    assert again.exit_code == 0, again.output
    assert "Reusing the demo study already in" in again.output and "--force" in again.output
    assert "Synthetic SPRINT study (seed" not in again.output  # nothing built
    assert "SARCOTRIAL_PASSWORD=" in again.output  # how to sign in, as after a build
    # --rebuild is --force's other name (one option: building the demo twice more would prove nothing more)
    import typer

    force = next(p for p in typer.main.get_command(app).commands["demo"].params if p.name == "force")
    assert set(force.opts) == {"--force", "--rebuild"}
    rebuilt = runner.invoke(app, ["demo", "--out", str(demo_db), "--seed", "7", "--rebuild"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Synthetic SPRINT study (seed 7" in rebuilt.output and "Reusing" not in rebuilt.output
    assert run("patient", "list", "--db", str(db), "--json", *as_user(demo_db)).output == first
    assert (demo_db / "demo-logins.json").read_text() == logins  # the same seed, the same passwords


def test_demo_refuses_to_replace_a_demo_it_cannot_reuse(tmp_path):
    """A folder holding an unfinished demo (no logins) is neither reused nor silently replaced."""
    out = tmp_path / "demo"
    out.mkdir()
    (out / "sprint-demo.sqlite").write_bytes(b"")
    result = runner.invoke(app, ["demo", "--out", str(out)], env={"SARCOTRIAL_KEY": "", "SARCOTRIAL_KEY_FILE": ""})
    assert result.exit_code == 2 and "cannot be reused" in result.output and "--force" in result.output
    assert (out / "sprint-demo.sqlite").read_bytes() == b""  # nothing written


def test_demo_output_reads_whole_at_80_columns(demo_db):
    """The closing hint is one command to copy as it stands: no '|' to read as a shell pipe, not
    broken across lines; the audit head is printed whole."""
    output = _DEMO_OUTPUT[0]
    assert "|" not in output
    hint = [line for line in output.splitlines() if "SARCOTRIAL_PASSWORD=" in line]
    assert len(hint) == 1 and "sarcotrial status --db" in hint[0] and hint[0].rstrip().endswith("--user datamanager")
    head = re.search(r"Audit trail head: ([0-9a-f]+)$", output, re.MULTILINE)
    assert head and len(head.group(1)) == 64


def test_demo_does_not_grade_a_solitary_fibrous_tumour_by_fnclcc(demo_db):
    """WHO 2020 (Soft Tissue and Bone Tumours, 5th ed.) assesses a solitary fibrous tumour's risk
    of metastasis (Demicco et al., Mod Pathol 2017) instead of an FNCLCC grade; the protocol's
    diagnosis form has no field for the risk model, so the demo records the FNCLCC
    differentiation as not applicable, and no FNCLCC grade results (GX)."""
    db = str(demo_db / "sprint-demo.sqlite")
    patients = json.loads(run("patient", "list", "--db", db, "--json", *as_user(demo_db)).output)["patients"]
    sft = [p for p in patients if p["histotype"] in ("solitary_fibrous_tumour", "solitary_fibrous_tumour_malignant")]
    assert sft, "seed 7 enrols a solitary fibrous tumour"
    others = [p for p in patients if p["histotype"] and p not in sft]
    assert {p["grade"] for p in sft} == {"X"} and {p["grade"] for p in others} <= {"1", "2", "3"}
    shown = json.loads(run("patient", "show", sft[0]["subject_id"], "--db", db, "--json", *as_user(demo_db)).output)
    assert shown["diagnosis"]["missing"].get("fnclcc_differentiation") == "NA"
    assert shown["diagnosis"].get("fnclcc_differentiation") is None
    text = " ".join(run("patient", "show", sft[0]["subject_id"], "--db", db, *as_user(demo_db)).output.split())
    assert "not graded by FNCLCC (differentiation NA)" in text and "Solitary fibrous tumour" in text


def cli80(*args: str) -> str:
    env = {"COLUMNS": "80", **({"SARCOTRIAL_PASSWORD": _PASSWORD.pop("password")} if _PASSWORD else {})}
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_audit_log_at_80_columns_cuts_no_date_or_id(demo_db):
    db = str(demo_db / "sprint-demo.sqlite")
    entries = json.loads(run("audit", "log", "--db", db, "--limit", "40", "--json", *as_user(demo_db)).output)["entries"]
    text = cli80("audit", "log", "--db", db, "--limit", "40", *as_user(demo_db))
    heads = [line for line in text.splitlines() if line.startswith("#")]
    assert len(heads) >= len(entries) - 2  # sign-in entries of the second run may come after the first's
    for line in heads:
        assert re.match(r"#\d+ \d{4}-\d{2}-\d{2} \d{2}:\d{2} \S+ (create|update|delete)\b", line), line
        assert "…" not in line
    for entry in entries[8:]:  # the second run's window starts a sign-in's entries later
        assert f"#{entry['id']} {entry['at'][:16].replace('T', ' ')} " in text


def test_patient_list_at_80_columns(demo_db):
    """Every column whole at 80 columns: subject ids, statuses, sites, grade, stage and margin on one
    line each, histotype names wrapped but never cut; referred patients show the referral's site."""
    db = str(demo_db / "sprint-demo.sqlite")
    patients = json.loads(run("patient", "list", "--db", db, "--json", *as_user(demo_db)).output)["patients"]
    assert all(p["anatomic_site"] for p in patients)  # screen failures too: from the referral form
    text = cli80("patient", "list", "--db", db, *as_user(demo_db))
    lines = text.splitlines()
    assert "…" not in text and max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["subject", "site", "status", "anatomic", "site", "histotype", "G", "stage", "R"]
    rows = {line.split()[0]: line for line in lines if re.match(r"SPR-\d{3} ", line)}
    assert set(rows) == {p["subject_id"] for p in patients}
    for p in patients:
        row = rows[p["subject_id"]]
        assert row.split()[1] == p["site"] and p["status"].replace("_", " ") in row
        assert p["anatomic_site"] in row
        if p["r_status"]:
            assert row.rstrip().endswith(p["r_status"])
    assert "G: FNCLCC grade" in " ".join(text.split())


def test_user_list_at_80_columns_splits_no_word(demo_db):
    """Every account on its line with its login whole; full names and site lists wrap between words."""
    db = str(demo_db / "sprint-demo.sqlite")
    accounts = json.loads(run("user", "list", "--db", db, "--json", *as_user(demo_db, "admin")).output)["users"]
    text = cli80("user", "list", "--db", db, *as_user(demo_db, "admin"))
    lines = text.splitlines()
    assert "…" not in text and max(len(line) for line in lines) <= 80
    words = set(" ".join(lines).split())
    for a in accounts:
        assert any(line.startswith(a["user"] + " ") and a["role"] in line for line in lines), a["user"]
        assert set(a["full_name"].split()) <= words, a["full_name"]  # no name broken inside a word


def test_patient_show_prints_labels_not_catalogue_ids(demo_db):
    from sarcotrial.domain.histology import histotype

    db = str(demo_db / "sprint-demo.sqlite")
    patients = json.loads(run("patient", "list", "--db", db, "--json", *as_user(demo_db)).output)["patients"]
    treated = next(p for p in patients if p["r_status"] and "_" in p["histotype"])
    text = " ".join(cli80("patient", "show", treated["subject_id"], "--db", db, *as_user(demo_db)).split())
    assert histotype(treated["histotype"]).name in text and treated["histotype"] not in text
    assert "Wide local excision" in text or "Marginal excision" in text or "Compartmental resection" in text \
        or "Amputation" in text


def test_status_says_what_its_counts_mean(demo_db):
    text = " ".join(cli80("status", "--db", str(demo_db / "sprint-demo.sqlite"), *as_user(demo_db)).split())
    assert "Patients by where each is now (each counted once):" in text
    assert "Screenings: every screening, repeats included" in text


def test_demo_writes_the_study_report(demo_db):
    """The report's primary endpoint agrees with the patients' own records and with scipy's exact test."""
    from scipy.stats import binomtest

    html = (demo_db / "report.html").read_text()
    pdf = (demo_db / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 5
    assert "SYNTHETIC DATA" in html
    patients = json.loads(run("patient", "list", "--db", str(demo_db / "sprint-demo.sqlite"), "--json",
                              *as_user(demo_db)).output)["patients"]
    r0 = sum(p["r_status"] == "R0" for p in patients)
    resected = sum(p["r_status"] is not None for p in patients)
    assert f"<td class=\"r\">{r0} / {resected}</td>" in html
    p_value = binomtest(r0, resected, 0.65, alternative="greater").pvalue  # the protocol's one-sided test
    assert f"p = {p_value:.4f}" in html
    ci = binomtest(r0, resected).proportion_ci(0.95, method="exact")
    assert f"{100 * ci.low:.1f} % \u2013 {100 * ci.high:.1f} %" in html
    for figure in ("consort", "accrual", "km_os", "km_dss", "km_lrfs", "km_dmfs", "cif_ci_local_relapse"):
        assert (demo_db / "figures" / f"{figure}.png").exists()


def test_report_command(demo_db, tmp_path):
    result = run("report", "--db", str(demo_db / "sprint-demo.sqlite"), "--out", str(tmp_path / "rep"), *as_user(demo_db))
    assert (tmp_path / "rep" / "report.pdf").exists() and "report.pdf" in result.output


def test_report_checks_the_design_and_monitors_toxicity(demo_db, tmp_path):
    """A'Hern (Stat Med 2001) exact design for 0.65 vs 0.85, alpha 0.05, power 0.80: n = 31, r = 25
    (P(X >= 25 | 31, 0.65) = 0.046 <= 0.05; P(X >= 25 | 31, 0.85) = 0.827 >= 0.80, and no smaller n works);
    the monitor's posterior is Beta(1 + x, 1 + n - x) (closed form, scipy.stats.beta)."""
    import csv
    import html as html_lib

    from scipy.stats import beta, binom

    assert binom.sf(24, 31, 0.65) <= 0.05 and binom.sf(24, 31, 0.85) >= 0.80
    for n in range(1, 31):  # and no smaller n has a cut-off meeting both
        assert not any(binom.sf(r - 1, n, 0.65) <= 0.05 and binom.sf(r - 1, n, 0.85) >= 0.80 for r in range(n + 2))
    text = html_lib.unescape((demo_db / "report.html").read_text())
    assert "needs 31 patients (promising if at least 25 have an R0 resection" in text
    out = tmp_path / "endpoints.csv"
    run("endpoints", "--db", str(demo_db / "sprint-demo.sqlite"), "--out", str(out), *as_user(demo_db, "statistician"))
    rows = list(csv.DictReader(out.open()))
    wounds = [int(r["major_wound_complication"]) for r in rows if r["major_wound_complication"] != ""]
    x, n = sum(wounds), len(wounds)
    assert f"{x} of {n} patients, the posterior probability that the rate exceeds 35% is " \
           f"{beta.sf(0.35, 1 + x, 1 + n - x):.3f}" in text


def test_report_states_its_cutoff_and_reads_exclusions_the_right_way(demo_db):
    text = (demo_db / "report.html").read_text()
    assert "data cut-off 30 June 2026 (given)" in text  # the demo's cut-off
    # an inclusion criterion not met is named under its kind, not as a reason as such (CONSORT figure, SVG text)
    assert "Inclusion criteria not met" in text and "Age &gt; 18 years" in text


@pytest.mark.parametrize("args, message", [
    (["endpoints", "--out", "{tmp}"], "Is a directory"),
    (["stats", "km", "--csv", "{latin1}", "--time", "a", "--event", "b"], "is not UTF-8 text"),
])
def test_file_problems_are_one_line(tmp_path, args, message):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("a,b\n1,Niccol\u00f2\n".encode("latin-1"))
    db = tmp_path / "s.sqlite"
    import os
    os.environ.setdefault("SARCOTRIAL_KEY", __import__("sarcotrial.store.crypto", fromlist=["x"]).generate_key())
    run("init", "--db", str(db))
    filled = [a.format(tmp=tmp_path, latin1=latin1) for a in args] + (["--db", str(db)] if args[0] == "endpoints" else [])
    result = run(*filled, code=2)
    assert message in result.output


def test_a_field_set_twice_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    """The last --set silently winning would hide a slip of the keyboard: refused, exit 2."""
    from typer.testing import CliRunner

    from sarcotrial.cli.main import app
    from sarcotrial.store.crypto import generate_key

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    runner = CliRunner()
    db = str(tmp_path / "s.sqlite")
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0
    result = runner.invoke(app, ["patient", "register", "--db", db, "--name", "P (synthetic)", "--dob", "1960-01-01",
                                 "--hospital-number", "H9", "--sex", "male", "--set", "referral_date=2025-01-10",
                                 "--set", "anatomic_site=extremity", "--set", "referral_date=2025-01-11"])
    assert result.exit_code == 2
    assert "referral_date is given twice ('2025-01-10' and '2025-01-11')" in " ".join(result.output.split())
    listed = runner.invoke(app, ["patient", "list", "--db", db, "--json"])
    assert '"patients": []' in listed.output
