"""``sarcotrial demo``: a complete synthetic study, built once in its folder and reused (or rebuilt with
``--force``), optionally served in the browser. SPRINT by default; ``--protocol`` names another shipped
protocol (or a protocol file): one with arms, systemic regimens and RECIST 1.1 gets the randomised
systemic-therapy demo (``sarcotrial.demo_systemic``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sarcotrial.cli.common import DbOption, UserOption, actor, console, fail, handle_errors
from sarcotrial.report.words import count
from sarcotrial.cli.study import _build_report, _key_notice
from sarcotrial.errors import SarcoTrialError

if TYPE_CHECKING:  # the services are imported where they are used (start-up time: see cli/common.py)
    from sarcotrial.services.study import StudyDB
    from sarcotrial.store import audit


@handle_errors
def demo(db: Optional[str] = DbOption, seed: int = typer.Option(2026, "--seed", help="Random seed: the same seed gives the same study."),
         protocol: str = typer.Option("sprint", "--protocol", help="The protocol of the demo: a shipped protocol's "
                                      "name ('sarcotrial protocol list') or a protocol file."),
         out: Optional[Path] = typer.Option(None, "--out", help="Folder for the demo's database, key and report "
                                            "[default: sarcotrial-demo for sprint, sarcotrial-demo-<protocol> "
                                            "for another]."),
         user: Optional[str] = UserOption,
         serve: bool = typer.Option(False, "--serve", help="Then serve it in the browser (reusing the demo already "
                                    "built in --out, if any) until Ctrl-C."),
         force: bool = typer.Option(False, "--force", "--rebuild", help="Build the demo again, replacing the one "
                                    "already in --out (without it, a demo that is there is reused)."),
         host: str = typer.Option("127.0.0.1", "--host", help="With --serve: the address to listen on."),
         port: int = typer.Option(8000, "--port", min=0, max=65535, help="With --serve: the port.")) -> None:
    """Build a complete SYNTHETIC study end to end: SPRINT (about 50 referrals, 33 enrolled), or with --protocol a
    protocol with arms, regimens and RECIST 1.1: a randomised systemic-therapy study (56 referrals, 48
    randomised); --serve serves it."""
    from sarcotrial.config import sqlite_path
    from sarcotrial.demo import build_demo_study, planned_referrals, require_demo
    from sarcotrial.protocol import load_protocol
    from sarcotrial.services.study import StudyDB

    require_demo(load_protocol(protocol))  # before any folder or database is made
    name = _demo_name(protocol)
    if out is None:
        out = Path("sarcotrial-demo" if name == "sprint" else f"sarcotrial-demo-{name}")
    if out.exists() and not out.is_dir():
        fail(f"--out: {out} is a file; the demo needs a folder")
    out.mkdir(parents=True, exist_ok=True)
    if db is None:
        path = (out / f"{name}-demo.sqlite").resolve()
        built = [f for f in (path, out / "demo-logins.json") if f.exists()]
        if built and not force:
            reused = _reusable_demo(out, name)
            if reused is None:
                fail(f"--out: {out} holds a demo that cannot be reused ({built[0].name} is incomplete or from another "
                     "version); --force builds the demo again, replacing it")
            console.print("[bold magenta]SYNTHETIC DATA[/]: every patient, date and value in this demo is invented.")
            console.print(f"Reusing the demo study already in {out}/, unchanged (--force builds it again, "
                          "replacing it; e.g. with another --seed).", soft_wrap=True)
            if serve:
                _serve_demo(reused[0], reused[1], host, port)
            else:
                _print_demo_access(sqlite_path(reused[0]), out, reused[1])
            return
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)  # --force, or a first build: the demo's own database is made afresh
        db = f"sqlite:///{path}"
    console.print("[bold magenta]SYNTHETIC DATA[/]: every patient, date and value in this demo is invented.")
    study, notice = StudyDB.create(db, protocol, actor(user), synthetic=True)
    with study:
        _key_notice(notice)
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            task = bar.add_task("Building the synthetic study", total=planned_referrals(study.protocol))
            summary = build_demo_study(study, seed=seed, progress=lambda _msg: bar.advance(task))
        check = _verify(study)
        table = Table(title=f"Synthetic {study.protocol.acronym} study (seed {seed}, data cut-off "
                            f"{summary.data_cutoff})", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        # a failed criterion as it reads in a list of reasons: an exclusion as it stands, an inclusion as not met
        texts = {c.id: c.text if c.kind == "exclusion" else f"Not met: {c.text}"
                 for c in study.protocol.eligibility.criteria}
        failures = "; ".join(f"{texts.get(k, k)}: {v}" for k, v in summary.screen_failures.most_common())
        rows = _systemic_rows(study, summary, failures) if hasattr(summary, "allocated") else [
            ("Referred", f"{count(summary.referred, 'patient')}, {count(summary.screened, 'screening')} "
                         f"({summary.screened - summary.referred} repeated after a missing answer)"),
            ("Not eligible", f"{sum(summary.screen_failures.values())} ({failures})"),
            ("Enrolled", f"{summary.enrolled} of {study.protocol.identification.design.target_accrual}"),
            ("Fractions delivered", f"{summary.fractions_delivered} ({summary.fractions_missed} missed, "
                                    f"{summary.fractions_rescheduled} rescheduled, all made up)"),
            ("Operated; R0", f"{summary.operated}; {summary.r0} R0 ({summary.r0 / max(summary.operated, 1):.0%})"),
            ("pCR", f"{summary.pcr} ({study.protocol.pathology.pcr_max_viable_percent:g} % viable cells or fewer)"),
            ("Adverse events", f"{summary.adverse_events}; major wound complications {summary.major_wound_complications}"),
            ("Local relapses / metastases / deaths", f"{summary.local_relapses} / {summary.distant_metastases} / {summary.deaths}"),
            ("Data management", f"queries {summary.queries['opened']} opened, {summary.queries['closed']} closed; "
                                f"{summary.verified_patients} patients verified, {summary.signed_patients} signed, "
                                f"{summary.locked_patients} locked; {summary.withdrawn} withdrawal, "
                                f"{summary.reconsented} re-consent, {summary.not_done} form not done"),
        ]
        second = getattr(summary, "second_study", None)
        if second is not None:
            rows.append(("Second study", f"{second.acronym} in the same database: {len(second.taken_in)} registry "
                                         f"patients screened for it, {len(second.enrolled)} enrolled "
                                         f"('sarcotrial --study {second.acronym} patient list')"))
        rows.append(("Audit trail", f"{check.entries} entries, chain {'intact' if check.ok else 'BROKEN'}"))
        for label, value in rows:
            table.add_row(label, value)
        console.print(table)
        console.print(f"Audit trail head: {check.head_hash}", soft_wrap=True)  # whole, to be copied
        (out / "SYNTHETIC-DATA.txt").write_text(
            "Everything in this folder was generated by 'sarcotrial demo' from a random seed.\n"
            "No person in it exists; it must never be mixed with real patients' data.\n", encoding="utf-8")
        paths = _build_report(study, out, summary.data_cutoff)
        _write_logins(out, summary.logins)
        console.print(f"Study report: {paths['pdf']} (and {paths['html'].name})")
        if not serve:
            _print_demo_access(sqlite_path(study.url) or study.url, out, summary.logins)
        url = study.url
    if serve:
        _serve_demo(url, summary.logins, host, port)


def _demo_name(protocol: str) -> str:
    """The demo's name in its folder and file names: the shipped protocol's name, or a protocol file's stem."""
    name = Path(protocol).stem if protocol.lower().endswith((".yaml", ".yml")) else protocol
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()) or "protocol"


def _systemic_rows(study: StudyDB, summary, failures: str) -> list[tuple[str, str]]:
    """The summary of a randomised systemic-therapy demo: allocations, cycles, responses, events."""
    names = summary.arms
    scheme = study.protocol.randomisation.method.replace("_", " ") if study.protocol.randomisation else "randomised"

    def by_arm(counts) -> str:
        return ", ".join(f"{names[arm]} {counts.get(arm, 0)}" for arm in names)

    order = ("CR", "PR", "SD", "PD", "NE")
    responses = "; ".join(f"{names[arm]}: " + ", ".join(f"{k} {summary.best_response.get(arm, {}).get(k, 0)}"
                                                          for k in order) for arm in names)
    return [
        ("Referred", f"{count(summary.referred, 'patient')}, {count(summary.screened, 'screening')}"),
        ("Not eligible", f"{sum(summary.screen_failures.values())} ({failures})"),
        ("Randomised", f"{summary.enrolled} (target {study.protocol.identification.design.target_accrual}) by {scheme}: "
                       f"{by_arm(summary.allocated)}"),
        ("Cycles given", f"{by_arm(summary.cycles)}; {summary.reduced_cycles} at a reduced dose, "
                         f"{summary.delayed_cycles} delayed (each with its reason)"),
        ("Tumour assessments", f"{summary.assessments} after baseline (RECIST 1.1), until progression"),
        ("Best response (unconfirmed)", responses),
        ("Progression or death / deaths", f"{by_arm(summary.progressions)} / {by_arm(summary.deaths)}"),
        ("Adverse events", f"{summary.adverse_events} ({summary.serious_adverse_events} serious); "
                           f"{count(summary.withdrawn, 'withdrawal')}"),
        ("Data management", f"{summary.not_done} forms marked not done, each with its reason; "
                            f"{summary.overdue} visits overdue at the cut-off"),
    ]


def _reusable_demo(out: Path, name: str = "sprint") -> tuple[str, list[dict]] | None:
    """The demo already built in ``out`` (its database opens at this schema and its logins are
    there), or None."""
    import json

    from sarcotrial.services.study import StudyDB

    path = (out / f"{name}-demo.sqlite").resolve()
    logins = out / "demo-logins.json"
    if not path.exists() or not logins.exists():
        return None
    url = f"sqlite:///{path}"
    try:
        StudyDB.open(url).close()
        return url, json.loads(logins.read_text(encoding="utf-8"))
    except (SarcoTrialError, ValueError, OSError):
        return None


def _print_demo_access(where, out: Path, logins: list[dict]) -> None:
    """Where the demo's database is, its logins, and one command to try (whole, never wrapped, so
    that it can be copied as it stands)."""
    console.print(f"Database: {where}", soft_wrap=True)
    console.print(f"Logins (also in {out / 'demo-logins.json'}, readable by you only; every command now names its "
                  "user):", soft_wrap=True)
    for login in logins:
        console.print(f"  {login['user']:<13} {login['password']}  {login['role']}"
                      + (f" at {login['site']}" if login.get("site") else " (study-wide)"))
    first = logins[5] if len(logins) > 5 else logins[0]
    console.print("Try:")
    console.print(f"  SARCOTRIAL_PASSWORD={first['password']} sarcotrial status --db {where} --user {first['user']}",
                  soft_wrap=True, markup=False)


def _serve_demo(url: str, logins: list[dict], host: str, port: int) -> None:
    from sarcotrial.web.server import serve as run

    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"Open [bold]http://{shown}:{port}/[/] in a browser and sign in with one of these logins "
                  "(Ctrl-C stops the server):")
    for login in logins:
        console.print(f"  {login['user']:<13} {login['password']}  {login['role']}"
                      + (f" at {login['site']}" if login.get("site") else " (study-wide)"))
    run(url, host, port)


def _write_logins(out: Path, logins: list[dict]) -> Path:
    """The demo's logins as JSON, readable by the owner only (mode 0600)."""
    import json
    import os

    path = out / "demo-logins.json"
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump([{k: login[k] for k in ("user", "full_name", "role", "site", "password")} for login in logins],
                  handle, indent=2)
    return path


def _verify(study: StudyDB) -> audit.AuditReport:
    from sarcotrial.services import views

    return views.verify_audit(study, None)
