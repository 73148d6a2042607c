"""Benchmark: a synthetic 10,000-patient registry imported, reported and exported.

Run on demand, never in the test suite::

    python bench/registry.py                        # 10,000 patients, a temporary SQLite study
    python bench/registry.py --patients 1000        # smaller
    python bench/registry.py --db postgresql://postgres@127.0.0.1:5432/bench_registry   # an empty database
    python bench/registry.py --db postgresql://postgres@127.0.0.1:5432/bench_registry --create-db  # made, then dropped
    python bench/registry.py --markdown results.md      # also append the results to a Markdown file

SYNTHETIC DATA. The registry is a REDCap project in the layout ``sarcotrial export redcap --identified``
writes (dictionary, events, instrument-event mapping, records): the demo study (``sarcotrial.demo``,
synthetic, seeded) is built in a temporary folder and exported with that command, so every file's
layout comes from the export's own REDCap helpers (``sarcotrial.exchange.redcap``); the registry's
records are then written with those helpers' column order and names, one registry patient a copy of a
demo patient's rows (its values and dates) under a new record id, a new synthetic name marked
``(synthetic)`` and a new hospital number. The mix of a sarcoma unit's registry (most patients referred
to the tumour board and never screened for the trial):

- 5 % enrolled (the demo's enrolled patients: screening, consent, enrolment, radiotherapy, surgery,
  pathology, adverse events, follow-up; about 40 forms each);
- 3 % screened and not enrolled (ineligible, or eligible and not consenting: the demo's screenings);
- the rest referred only (registration and the tumour-board referral form).

SPRINT's target accrual is 33 and enrolment beyond it is refused; a protocol is data, so the benchmark
writes a copy of SPRINT whose target accrual is the registry's number of enrolled patients into its
temporary folder and creates the study from it (``sarcotrial init --protocol FILE``).

Each step runs the real command in a fresh process (``sarcotrial import redcap``, ``audit verify``,
``report --out``, ``export tables|redcap|odm|sdtm|fhir --identified``), timed by wall clock, its peak
memory its ``ru_maxrss`` (GNU time's ``%M``). Goals on a 2-core machine: import < 5 min, report
< 60 s, the five exports < 2 min together, peak memory < 2 GB. Results: docs/benchmarks/registry.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 2026
EXPORTER_PASSWORD = "registry-benchmark-exporter"  # a throwaway account of the temporary template study
ENROLLED_SHARE = 0.05
SCREENED_SHARE = 0.03
GOALS = {"import": 300.0, "report": 60.0, "exports": 120.0, "memory_mb": 2048.0}
EXPORTS = ("tables", "redcap", "odm", "sdtm", "fhir")
FIRST = ["Giulia", "Francesca", "Chiara", "Sara", "Anna", "Elena", "Laura", "Marco", "Luca", "Andrea", "Matteo",
         "Davide", "Stefano", "Paolo", "Simone", "Roberto"]
LAST = ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
        "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa"]


def sarcotrial_command() -> list[str]:
    script = Path(sys.executable).with_name("sarcotrial")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sarcotrial.cli.main"]


# --------------------------------------------------------------------------- the template: the demo's REDCap export
def template_export(folder: Path) -> Path:
    """The demo study built into ``folder`` and exported with ``export redcap --identified`` (by a study-wide
    investigator with the full export right, the role that reads identifiers): the files whose layout the
    registry copies."""
    from argon2 import PasswordHasher
    from typer.testing import CliRunner

    from sarcotrial.cli.main import app
    from sarcotrial.demo import build_demo_study, demo_password
    from sarcotrial.services import access
    from sarcotrial.services.study import Actor, StudyDB

    access.PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # the demo's throwaway accounts
    url = f"sqlite:///{folder / 'template.sqlite'}"
    me = Actor("benchmark", "bench")
    study, _ = StudyDB.create(url, "sprint", me, synthetic=True)
    try:
        build_demo_study(study, SEED)
        admin = Actor("admin", "bench", password=demo_password(SEED, "admin"))
        access.add_user(study, admin, "exporter", full_name="Ivo Exporter (synthetic)", role="investigator",
                        password=EXPORTER_PASSWORD, export="full")
    finally:
        study.close()
    out = folder / "template-export"
    result = CliRunner().invoke(app, ["export", "redcap", "--identified", "--out", str(out), "--db", url,
                                      "--user", "exporter"], env={"SARCOTRIAL_PASSWORD": EXPORTER_PASSWORD})
    if result.exit_code != 0:
        raise SystemExit(f"the template export failed: {result.output}")
    return out


# --------------------------------------------------------------------------- the registry
@dataclass
class Registry:
    folder: Path
    patients: int
    enrolled: int
    screened: int
    referred: int
    rows: int


def _read_records(path: Path) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        by_record: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            by_record.setdefault(row["record_id"], []).append(row)
        return list(reader.fieldnames or []), by_record


def build_registry(template: Path, folder: Path, patients: int) -> Registry:
    """The registry's REDCap files in ``folder``: the template's dictionary, events and mapping as they are,
    and ``patients`` records copied from the template's patients (see the module docstring)."""
    from sarcotrial.exchange import redcap

    folder.mkdir(parents=True, exist_ok=True)
    for name in (redcap.DICTIONARY_FILE, redcap.EVENTS_FILE, redcap.MAPPING_FILE):
        shutil.copyfile(template / name, folder / name)
    with (template / redcap.DICTIONARY_FILE).open(encoding="utf-8", newline="") as f:
        columns = redcap.record_columns(list(csv.DictReader(f)))
    header, by_record = _read_records(template / redcap.RECORDS_FILE)
    if header != columns:
        raise SystemExit("the template's records.csv does not have the dictionary's columns")
    enrolled_t = [rows for rows in by_record.values() if rows[0][redcap.ENROLMENT_DATE]]
    screened_t = [rows for rows in by_record.values() if not rows[0][redcap.ENROLMENT_DATE]]
    referral_event = {"registration_arm_1"}
    enrolled = max(1, round(patients * ENROLLED_SHARE)) if patients >= 20 else min(patients, 1)
    screened = round(patients * SCREENED_SHARE)
    rng = random.Random(SEED)
    kinds = ["enrolled"] * enrolled + ["screened"] * screened + ["referred"] * (patients - enrolled - screened)
    rng.shuffle(kinds)
    rows_written = 0
    with (folder / redcap.RECORDS_FILE).open("w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, fieldnames=columns, extrasaction="raise", restval="")
        out.writeheader()
        for number, kind in enumerate(kinds, start=1):
            if kind == "enrolled":
                source = enrolled_t[number % len(enrolled_t)]
            else:
                source = screened_t[number % len(screened_t)]
            if kind == "referred":  # registration and the referral form only
                source = [r for r in source if r[redcap.EVENT_COLUMN] in referral_event
                          or r[redcap.REPEAT_INSTRUMENT_COLUMN] == "referral"]
            record = f"REG-{number:05d}"
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)} (synthetic)"
            for row in source:
                copy = dict(row)
                copy[redcap.RECORD_ID] = record
                if copy[redcap.EVENT_COLUMN] == "registration_arm_1":
                    copy[redcap.FULL_NAME] = name
                    copy[redcap.HOSPITAL_NUMBER] = f"SYNR{number:07d}"
                out.writerow(copy)
                rows_written += 1
    (folder / "SYNTHETIC-DATA.txt").write_text("Synthetic registry: every name, date and value is invented "
                                               "(copies of the seeded demo study's patients).\n")
    return Registry(folder, patients, enrolled, screened, patients - enrolled - screened, rows_written)


def protocol_copy(folder: Path, target_accrual: int) -> Path:
    """SPRINT's protocol file with the registry's number of enrolled patients as its target accrual."""
    from sarcotrial.protocol import read_protocol

    text = read_protocol("sprint").text
    changed, count = re.subn(r"(?m)^(\s*target_accrual:\s*)\d+\s*$", rf"\g<1>{max(33, target_accrual)}", text)
    if count != 1:
        raise SystemExit("the protocol's target_accrual was not found")
    path = folder / "sprint-registry.yaml"
    path.write_text(changed, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- timing
@dataclass
class Step:
    name: str
    command: str
    seconds: float
    peak_mb: float
    status: int
    tail: str


TIME = Path("/usr/bin/time")


def run(name: str, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Step:
    """One command in a fresh process: wall clock and its peak resident memory.

    The peak is GNU time's ``%M`` (the command's own ``ru_maxrss``): a child started straight from this
    process would report at least this process's size, which Linux carries over to the child's peak when
    it starts a program from a copy of this one. Without /usr/bin/time the child's ``ru_maxrss`` is taken
    as it is (``os.wait4``), an upper bound."""
    argv = sarcotrial_command() + args
    peak_file = log.with_suffix(".peak")
    if TIME.exists():
        argv = [str(TIME), "-f", "%M", "-o", str(peak_file)] + argv
    print(f"... {name}: sarcotrial {' '.join(args)}", flush=True)
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_kb = usage.ru_maxrss
    if peak_file.exists():
        numbers = [line.strip() for line in peak_file.read_text().splitlines() if line.strip().isdigit()]
        peak_kb = int(numbers[-1]) if numbers else peak_kb
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    step = Step(name, shlex.join(["sarcotrial", *args]), seconds, peak_kb / 1024, proc.returncode, " | ".join(tail))
    print(f"    {seconds:8.1f} s  {step.peak_mb:7.0f} MB  exit {proc.returncode}  {step.tail[:200]}", flush=True)
    return step


def _short(text: str, folder: Path) -> str:
    return text.replace(str(folder), "$TMP")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GB RAM"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; Python {platform.python_version()}"


# --------------------------------------------------------------------------- the run
def benchmark(patients: int, db: str | None, keep: bool, create_db: bool = False) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="sarcotrial-registry-"))
    if create_db:
        _postgres_database(db, create=True)
    try:
        return _benchmark(folder, patients, db)
    finally:
        if create_db and not keep:
            _postgres_database(db, create=False)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"kept {folder}")


def _postgres_database(url: str | None, *, create: bool) -> None:
    """Create (refused if it exists) or drop the PostgreSQL database the URL names, through the server's
    ``postgres`` database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if not url or not url.startswith("postgresql"):
        raise SystemExit("--create-db needs --db postgresql://.../NAME")
    target = make_url(url)
    name = target.database
    if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"--create-db: give a database name of letters, digits and _ (not {name!r})")
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if create:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _benchmark(folder: Path, patients: int, db: str | None) -> dict:
    from sarcotrial.exchange import redcap
    from sarcotrial.store.crypto import generate_key

    env = {k: v for k, v in os.environ.items() if k not in ("SARCOTRIAL_KEY_FILE", "DATABASE_URL", "SARCOTRIAL_PASSWORD")}
    env["SARCOTRIAL_KEY"] = generate_key()
    os.environ.update(SARCOTRIAL_KEY=env["SARCOTRIAL_KEY"])
    os.environ.pop("SARCOTRIAL_KEY_FILE", None)
    os.environ.pop("DATABASE_URL", None)
    started = time.perf_counter()
    template = template_export(folder / "template")
    registry = build_registry(template, folder / "registry", patients)
    prepared = time.perf_counter() - started
    print(f"registry: {registry.patients} patients ({registry.enrolled} enrolled, {registry.screened} screened, "
          f"{registry.referred} referred only), {registry.rows} rows, prepared in {prepared:.0f} s", flush=True)
    protocol = protocol_copy(folder, registry.enrolled)
    url = db or f"sqlite:///{folder / 'registry.sqlite'}"
    logs = folder / "logs"
    logs.mkdir()
    steps: list[Step] = []

    def step(name: str, args: list[str]) -> Step:
        log = logs / (name.replace(" ", "-") + ".log")
        s = run(name, args + ["--db", url], env, folder, log)
        steps.append(s)
        if s.status != 0:
            raise SystemExit(f"{name} failed (exit {s.status}): {log.read_text(errors='replace')[-3000:]}")
        return s

    step("init", ["init", "--protocol", str(protocol)])
    step("site", ["site", "add", "SAT", "--name", "Satellite clinic (synthetic)"])
    reg = registry.folder
    step("import", ["import", "redcap", "--dictionary", str(reg / redcap.DICTIONARY_FILE),
                    "--records", str(reg / redcap.RECORDS_FILE), "--events", str(reg / redcap.EVENTS_FILE),
                    "--report", str(folder / "import-report.csv")])
    step("audit verify", ["audit", "verify"])
    step("report", ["report", "--out", str(folder / "report")])
    for fmt in EXPORTS:
        step(f"export {fmt}", ["export", fmt, "--identified", "--out", str(folder / f"export-{fmt}")])
    return {"patients": registry.patients, "enrolled": registry.enrolled, "screened": registry.screened,
            "referred": registry.referred, "rows": registry.rows, "database": "PostgreSQL" if url.startswith("postgres")
            else "SQLite", "machine": machine(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "steps": [{**s.__dict__, "command": _short(s.command.replace(url, "$DB"), folder)} for s in steps]}


def verdicts(result: dict) -> list[tuple[str, str, str, bool]]:
    """(goal, measured, limit, met) for each goal."""
    by = {s["name"]: s for s in result["steps"]}
    exports = sum(by[f"export {f}"]["seconds"] for f in EXPORTS)
    peak = max(s["peak_mb"] for s in result["steps"])
    return [
        ("import", f"{by['import']['seconds']:.0f} s", "< 300 s", by["import"]["seconds"] < GOALS["import"]),
        ("report", f"{by['report']['seconds']:.0f} s", "< 60 s", by["report"]["seconds"] < GOALS["report"]),
        ("all five exports", f"{exports:.0f} s", "< 120 s", exports < GOALS["exports"]),
        ("peak memory of any step", f"{peak:.0f} MB", "< 2048 MB", peak < GOALS["memory_mb"]),
    ]


def markdown(result: dict) -> str:
    lines = [f"### {result['patients']:,} patients, {result['database']} ({result['date']})", "",
             f"Machine: {result['machine']}.", "",
             (f"Registry: {result['patients']:,} patients ({result['enrolled']:,} enrolled, {result['screened']:,} "
              f"screened and not enrolled, {result['referred']:,} referred only), {result['rows']:,} rows of records.csv."),
             "", "| step | command | time | peak memory |", "|---|---|---:|---:|"]
    for s in result["steps"]:
        lines.append(f"| {s['name']} | `{s['command']}` | {s['seconds']:.1f} s | {s['peak_mb']:.0f} MB |")
    lines += ["", "| goal | measured | limit | met |", "|---|---:|---:|---|"]
    for goal, measured, limit, met in verdicts(result):
        lines.append(f"| {goal} | {measured} | {limit} | {'yes' if met else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--db", default=None, help="an empty database URL (default: a temporary SQLite file)")
    parser.add_argument("--create-db", action="store_true", help="create the PostgreSQL database --db names "
                        "(refused if it exists) and drop it at the end (unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (and a created database)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--markdown", type=Path, default=None, help="also append the results to this Markdown file")
    args = parser.parse_args()
    result = benchmark(args.patients, args.db, args.keep, args.create_db)
    text = markdown(result)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
