"""Study commands: init, demo, status, the audit trail, patients and their records."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table
from sarcotrial.cli.common import (
    DbOption,
    JsonOption,
    ProtocolOption,
    UserOption,
    actor,
    console,
    fail,
    handle_errors,
    parse_assignments,
    parse_date,
    print_json,
)
from sarcotrial.config import sqlite_path
from sarcotrial.errors import SarcoTrialError
from sarcotrial.services import forms, pathway, shapes, views
from sarcotrial.services.study import KeyNotice, StudyDB
from sarcotrial.store import audit


def _key_notice(notice: KeyNotice) -> None:
    if notice.created:
        console.print(f"[yellow]Created the identifier key file {notice.path}[/] (readable by you only). Patients' "
                      "names, dates of birth and hospital numbers are encrypted with it: back it up apart from the "
                      "database; without it they cannot be read.")
    elif notice.path is not None:
        console.print(f"Identifier key: {notice.path} (beside the database)")
    else:
        console.print(f"Identifier key: from {notice.origin}")


# --------------------------------------------------------------------------- init / demo / status
@handle_errors
def init(protocol: str = ProtocolOption, db: Optional[str] = DbOption, user: Optional[str] = UserOption,
         site: str = typer.Option("MAIN", "--site", help="Code of the study site."),
         site_name: str = typer.Option("Soft tissue sarcoma unit", "--site-name")) -> None:
    """Create a study database bound to a protocol and its version."""
    study, notice = StudyDB.create(db, protocol, actor(user), site_code=site, site_name=site_name)
    with study:
        p = study.protocol
        console.print(f"Created study [bold]{p.acronym}[/] (protocol v{p.version}, {study.loaded.sha256[:12]}) "
                      f"in {sqlite_path(study.url) or study.url}")
        _key_notice(notice)


@handle_errors
def demo(db: Optional[str] = DbOption, seed: int = typer.Option(2026, "--seed", help="Random seed: the same seed gives the same study."),
         out: Path = typer.Option(Path("sarcotrial-demo"), "--out", help="Folder for the demo's database, key and report."),
         user: Optional[str] = UserOption,
         serve: bool = typer.Option(False, "--serve", help="Then serve it in the browser (reusing the demo already "
                                    "built in --out, if any) until Ctrl-C."),
         rebuild: bool = typer.Option(False, "--rebuild", help="With --serve: build the demo again even if one is there."),
         host: str = typer.Option("127.0.0.1", "--host", help="With --serve: the address to listen on."),
         port: int = typer.Option(8000, "--port", min=0, max=65535, help="With --serve: the port.")) -> None:
    """Build a complete SYNTHETIC SPRINT study end to end (about 50 referrals, 33 enrolled); --serve serves it."""
    from sarcotrial.demo import REFERRALS, build_demo_study

    out.mkdir(parents=True, exist_ok=True)
    if serve and db is None and not rebuild:
        reused = _reusable_demo(out)
        if reused is not None:
            console.print("[bold magenta]SYNTHETIC DATA[/]: every patient, date and value in this demo is invented.")
            console.print(f"Reusing the demo study built earlier in {out}/ (--rebuild builds it again).")
            _serve_demo(reused[0], reused[1], host, port)
            return
    if db is None:
        path = (out / "sprint-demo.sqlite").resolve()
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)  # the demo's own database is rebuilt on every run
        db = f"sqlite:///{path}"
    console.print("[bold magenta]SYNTHETIC DATA[/]: every patient, date and value in this demo is invented.")
    study, notice = StudyDB.create(db, "sprint", actor(user), synthetic=True)
    with study:
        _key_notice(notice)
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            task = bar.add_task("Building the synthetic study", total=REFERRALS)
            summary = build_demo_study(study, seed=seed, progress=lambda _msg: bar.advance(task))
        check = _verify(study)
        table = Table(title=f"Synthetic SPRINT study (seed {seed}, data cut-off {summary.data_cutoff})", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        from sarcotrial.report.data import criterion_failure

        texts = {c.id: criterion_failure(c.kind, c.text) for c in study.protocol.eligibility.criteria}
        failures = "; ".join(f"{texts.get(k, k)}: {v}" for k, v in summary.screen_failures.most_common())
        rows = [
            ("Referred", f"{summary.referred} patients, {summary.screened} screenings "
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
            ("Audit trail", f"{check.entries} entries, chain {'intact' if check.ok else 'BROKEN'}; head {check.head_hash}"),
        ]
        for label, value in rows:
            table.add_row(label, value)
        console.print(table)
        (out / "SYNTHETIC-DATA.txt").write_text(
            "Everything in this folder was generated by 'sarcotrial demo' from a random seed.\n"
            "No person in it exists; it must never be mixed with real patients' data.\n", encoding="utf-8")
        paths = _build_report(study, out, summary.data_cutoff)
        where = sqlite_path(study.url) or study.url
        logins = _write_logins(out, summary.logins)
        console.print(f"Study report: {paths['pdf']} (and {paths['html'].name})")
        console.print(f"Database: {where}")
        console.print(f"Logins (also in {logins}, readable by you only; every command now names its user):")
        for login in summary.logins:
            console.print(f"  {login['user']:<13} {login['password']}  {login['role']}"
                          + (f" at {login['site']}" if login["site"] else " (study-wide)"))
        first = summary.logins[5] if len(summary.logins) > 5 else summary.logins[0]
        if not serve:
            console.print(f"Try: SARCOTRIAL_PASSWORD={first['password']} sarcotrial status --db {where} "
                          f"--user {first['user']}")
        url = study.url
    if serve:
        _serve_demo(url, summary.logins, host, port)


def _reusable_demo(out: Path) -> tuple[str, list[dict]] | None:
    """The demo already built in ``out`` (its database opens at this schema and its logins are
    there), or None."""
    import json

    path = (out / "sprint-demo.sqlite").resolve()
    logins = out / "demo-logins.json"
    if not path.exists() or not logins.exists():
        return None
    url = f"sqlite:///{path}"
    try:
        StudyDB.open(url).close()
        return url, json.loads(logins.read_text(encoding="utf-8"))
    except (SarcoTrialError, ValueError, OSError):
        return None


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
    return views.verify_audit(study, None)


@handle_errors
def status(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The study at a glance: protocol, accrual, where each patient is."""
    with StudyDB.open(db) as study:
        counts = views.status_counts(study, actor(user))
        by_status = counts["by_status"]
        info = shapes.status_json(study, counts)
    if as_json:
        print_json(info)
        return
    label = " [bold magenta](SYNTHETIC)[/]" if study.synthetic else ""
    console.print(f"[bold]{info['study']}[/] protocol v{info['protocol_version']}{label}")
    if info["study_lock"]:
        console.print(f"[bold blue]Database locked[/] by {info['study_lock']['locked_by']} at "
                      f"{info['study_lock']['locked_at'][:16].replace('T', ' ')} UTC: no change is accepted")
    console.print(f"Enrolled {info['enrolled']} of {info['target_accrual']} "
                  f"({info['patients']} referred; {info['screenings']} screenings)")
    for key, value in sorted(by_status.items()):
        console.print(f"  {key.replace('_', ' ')}: {value}")
    console.print(f"Fractions delivered {info['fractions_delivered']}; operated {info['operated']} (R0 {info['r0']}); "
                  f"adverse events {info['adverse_events']}; deaths {info['deaths']}; "
                  f"protocol deviations {info['protocol_deviations']}")
    q = info["queries"]
    console.print(f"Queries: {q['open']} open, {q['answered']} answered, {q['closed']} closed")
    console.print(f"Audit entries: {info['audit_entries']}")


# --------------------------------------------------------------------------- audit
audit_app = typer.Typer(help="The audit trail: verify its hash chain, read its entries.", no_args_is_help=True)


@audit_app.command("verify")
@handle_errors
def audit_verify(db: Optional[str] = DbOption, user: Optional[str] = UserOption,
                 expect_head: Optional[str] = typer.Option(None, "--expect-head", help="A head hash recorded earlier (e.g. in the trial master file): the chain must still end exactly there."),
                 as_json: bool = JsonOption) -> None:
    """Recompute the hash chain and replay it against the data; name every tampered entry or record. Exit 1 if any."""
    if expect_head is not None:
        expect_head = expect_head.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{12,64}", expect_head):
            fail(f"--expect-head: a head hash is 12 to 64 hexadecimal characters (got {expect_head!r})")
    with StudyDB.open(db) as study:
        who = actor(user)
        total = views.audit_total(study, who)
        with Progress(TextColumn("Verifying the audit trail"), BarColumn(), MofNCompleteColumn(),
                      console=console, transient=True, disable=as_json) as bar:
            task = bar.add_task("verify", total=total)
            report = views.verify_audit(study, who, expect_head, progress=lambda n: bar.advance(task, n))
    if as_json:
        print_json(shapes.audit_verify_json(report))
    elif report.ok:
        console.print(f"[green]Audit trail intact[/]: {report.entries} entries, every record matches its trail; "
                      f"head {report.head_hash}")
        console.print("Record the head outside the database (e.g. in the trial master file); later, "
                      "--expect-head HEAD proves the trail still contains it.")
    else:
        console.print(f"[bold red]Audit trail BROKEN[/]: {len(report.problems)} problem(s) in {report.entries} entries")
        for problem in report.problems:
            console.print(f"  - {problem}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("log")
@handle_errors
def audit_log(db: Optional[str] = DbOption, subject: Optional[str] = typer.Option(None, "--patient", help="Only this patient's entries."),
              limit: int = typer.Option(50, "--limit", min=1), user: Optional[str] = UserOption,
              as_json: bool = JsonOption) -> None:
    """The newest audit entries: who, when, which record and field, old and new value, why."""
    with StudyDB.open(db) as study:
        rows = views.audit_entries(study, actor(user), subject_id=subject, limit=limit)
    if as_json:
        print_json(shapes.audit_entries_json(rows))
        return
    # one entry a line, its reason beneath: readable at 80 columns, every part whole
    for r in rows:
        who = f"{r.subject_id} " if r.subject_id else ""
        change = {"create": f"= {_short(r.new_value)}", "delete": f"was {_short(r.old_value)}"}.get(
            r.action, f"{_short(r.old_value) or '(empty)'} -> {_short(r.new_value) or '(empty)'}")
        console.print(f"[dim]#{r.id} {r.at[:16].replace('T', ' ')}[/] {escape(r.actor)} {r.action} "
                      f"{escape(who)}{escape(r.table_name)} #{r.record_id} [bold]{escape(r.field)}[/] "
                      f"{escape(change)}", soft_wrap=False)
        if r.reason and r.action != "create":
            console.print(f"    [dim]why:[/] {escape(_short(r.reason, 70))}")


def _short(text: str | None, width: int = 40) -> str:
    if text is None:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- patients
patient_app = typer.Typer(help="Patients: register a referral, screen, enrol, list, show.", no_args_is_help=True)


@patient_app.command("register")
@handle_errors
def patient_register(name: str = typer.Option(..., "--name", help="Full name (encrypted at rest)."),
                     dob: str = typer.Option(..., "--dob", help="Date of birth YYYY-MM-DD (encrypted at rest)."),
                     hospital_number: str = typer.Option(..., "--hospital-number", help="Hospital number (encrypted at rest)."),
                     sex: str = typer.Option(..., "--sex", help="female, male or other."),
                     values: Optional[list[str]] = typer.Option(None, "--set", help="Referral form field=value (referral_date, anatomic_site, ...)."),
                     site: str = typer.Option("MAIN", "--site"),
                     db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Register a tumour-board referral: the patient gets a pseudonymised subject id."""
    birth = parse_date(dob, "date_of_birth")
    with StudyDB.open(db) as study:
        patient = pathway.register_patient(study, actor(user), identifiers=pathway.Identifiers(name, birth, hospital_number),
                                           sex=sex, referral=parse_assignments(values), site_code=site)
    console.print(f"Registered [bold]{patient.subject_id}[/]")


@patient_app.command("screen")
@handle_errors
def patient_screen(subject: str = typer.Argument(..., help="Subject id, e.g. SPR-001."),
                   values: Optional[list[str]] = typer.Option(None, "--set", help="Screening form field=value."),
                   input_file: Optional[Path] = typer.Option(None, "--input", help="A JSON object of screening answers."),
                   db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Screen a patient: each eligibility criterion decided and stored with its reason."""
    with StudyDB.open(db) as study:
        row = pathway.screen(study, actor(user), subject, parse_assignments(values, input_file))
        shown = shapes.screening_json(subject, row)
    if as_json:
        print_json(shown)
        return
    _print_decision(row.decision, shown["criteria"])


def _print_decision(decision: str, criteria: list[dict]) -> None:
    colour = {"eligible": "green", "ineligible": "red", "not_evaluable": "yellow"}[decision]
    console.print(f"Decision: [bold {colour}]{decision.replace('_', ' ').upper()}[/]")
    mark = {"met": "met", "not_met": "not met", "not_evaluable": "not evaluable"}
    for c in criteria:
        console.print(f"  {c['kind']} {c['id']}: {mark[c['result']]} — {escape(c['reason'])}", soft_wrap=True)


@patient_app.command("enrol")
@handle_errors
def patient_enrol(subject: str = typer.Argument(...), date: str = typer.Option(..., "--date", help="Enrolment date YYYY-MM-DD."),
                  db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Enrol an eligible patient."""
    day = parse_date(date, "enrolment_date")
    with StudyDB.open(db) as study:
        row = pathway.enrol(study, actor(user), subject, day)
    console.print(f"Enrolled {subject.upper()} as patient {row.sequence} of the study")


@patient_app.command("list")
@handle_errors
def patient_list(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Every patient with status and key facts (pseudonymised: no identifiers)."""
    with StudyDB.open(db) as study:
        records = views.patients(study, actor(user))
    rows = shapes.patient_list_json(records)["patients"]
    if as_json:
        print_json({"patients": rows})
        return
    from rich import box

    table = Table("subject", "site", "status", "tumour site", "histotype", "G", "stage", "R", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for column in table.columns[:3]:
        column.no_wrap = True
    for r in rows:
        table.add_row(*[str(r[k]).replace("_", " ") if r[k] is not None else "" for k in
                        ("subject_id", "site", "status", "anatomic_site", "histotype", "grade", "stage", "r_status")])
    console.print(table)


@patient_app.command("show")
@handle_errors
def patient_show(subject: str = typer.Argument(...), db: Optional[str] = DbOption, user: Optional[str] = UserOption,
                 as_json: bool = JsonOption) -> None:
    """One patient's pathway: screening, diagnosis, treatment, pathology, events (pseudonymised)."""
    with StudyDB.open(db) as study:
        r = views.patient(study, actor(user), subject)
    out = shapes.patient_json(r)
    if as_json:
        print_json(out)
        return
    _print_patient(out)


def _print_patient(p: dict) -> None:
    """One patient's pathway as a clinician reads it: one line per step, fractions summarised."""
    console.rule(f"[bold]{p['subject_id']}[/] ({p['sex']}, born {p['year_of_birth']}) — {p['status'].replace('_', ' ')}")
    for sc in p["screenings"]:
        console.print(f"Screening {sc['date']}: [bold]{sc['decision'].replace('_', ' ')}[/]")
        for reason in sc["reasons"]:
            console.print(f"  {escape(reason)}", soft_wrap=True)
    if p.get("enrolment"):
        console.print(f"Enrolled {p['enrolment']['enrolment_date']} (patient {p['enrolment']['sequence']}; "
                      f"consent {p['enrolment']['consent_date']})")
    d = p["diagnosis"]
    if d:
        size = f"{d['size_cm']:g} cm" if d.get("size_cm") is not None else f"size {d['missing'].get('size_cm', 'not given')}"
        shown = lambda key: d.get(key) if d.get(key) is not None else d["missing"].get(key, "?")  # noqa: E731
        tnm = f"{d['ajcc_t']} {d['ajcc_n']} {d['ajcc_m']}; stage {d.get('stage') or 'no group'}" \
            if d.get("ajcc_t") else "not staged (a value it needs is missing)"
        console.print(f"Diagnosis {shown('diagnosis_date')}: {shown('histotype')} ({d.get('icdo3') or '-'}), "
                      f"{shown('anatomic_site')}{', ' + d['depth'] if d.get('depth') else ''}, {size}; "
                      f"FNCLCC G{d.get('grade') or '?'}; {tnm}")
    c = p.get("rt_course")
    if c:
        delivered = sorted((f for f in c["fractions"] if f.get("status") == "delivered"), key=lambda f: f["fraction_date"])
        console.print(f"Radiotherapy planned from {c['planned_start']} ({c.get('calendar') or 'no holiday calendar'}): "
                      f"{len(delivered)} of {c['planned_fractions']} fractions delivered"
                      + (f", {delivered[0]['fraction_date']} to {delivered[-1]['fraction_date']}" if delivered else ""))
        for f in c["fractions"]:
            if f.get("status") != "delivered":
                console.print(f"  fraction {f.get('fraction_number')} {f.get('status')} on {f.get('fraction_date')}: "
                              f"{escape(f.get('reason') or '')}")
    for qa in p.get("plan_qa", []):
        failing = [f"{o['structure']} {o['metric']} {o['value']}" for o in qa["results"].get("objectives", [])
                   if o["verdict"] in ("minor deviation", "major deviation")]
        console.print(f"Plan QA {qa['evaluated_on']}: [bold]{qa['verdict']}[/]" + (f" ({'; '.join(failing)})" if failing else ""))
    if p["surgery"]:
        s_ = p["surgery"]
        console.print(f"Surgery {s_.get('surgery_date')}: {(s_.get('procedure') or '').replace('_', ' ')}"
                      f"{'; macroscopic residual' if s_.get('macroscopic_residual') else ''}")
    if p["pathology"]:
        q = p["pathology"]
        margin = f", closest margin {q['closest_margin_mm']:g} mm ({q.get('closest_margin_tissue') or 'tissue not recorded'})" \
            if q.get("closest_margin_mm") is not None else ""
        viable = f"{q['viable_percent']:g} %" if q.get("viable_percent") is not None else q["missing"].get("viable_percent", "?")
        pcr = "not derived" if q.get("pcr") is None else "yes" if q["pcr"] else "no"
        console.print(f"Pathology {q.get('report_date')}: {q.get('r_status')}{margin}; {viable} stainable cells, "
                      f"EORTC-STBSG {q.get('response_score') or 'not derived'}; pCR {pcr}")
    for w in p["wound_complications"]:
        console.print(f"Wound complication {w.get('onset_date')}: {'MAJOR' if w.get('major') else 'minor'}")
    if p["adverse_events"]:
        console.print("Adverse events (CTCAE v5.0):")
        for a in p["adverse_events"]:
            console.print(f"  {a.get('onset_date')} {a.get('term')} grade {a.get('grade')} ({a.get('phase') or 'before RT'})"
                          + (f", resolved {a['resolution_date']}" if a.get("resolution_date") else ""))
    if p["follow_up"]:
        visits = p["follow_up"]
        last = max(visits, key=lambda v: str(v.get("visit_date")))
        console.print(f"Follow-up: {len(visits)} visits, last {last.get('visit_date')} ({last.get('disease_status')})")
    for e in p["events"]:
        shown_cause = e.get("death_cause") or e["missing"].get("death_cause")
        cause = f" (cause: {shown_cause})" if shown_cause else ""
        console.print(f"[bold]{(e.get('event_type') or '?').replace('_', ' ').capitalize()}[/] {e.get('event_date')}{cause}")
    for dev in p["deviations"]:
        console.print(f"[red]{dev['severity']} protocol deviation[/] ({dev['category']}): {escape(dev['description'])}",
                      soft_wrap=True)


@patient_app.command("identify")
@handle_errors
def patient_identify(subject: str = typer.Argument(...), db: Optional[str] = DbOption, user: Optional[str] = UserOption,
                     purpose: Optional[str] = typer.Option(None, "--purpose", help="Why you need the identity (kept in the audit trail).")) -> None:
    """Decrypt one patient's direct identifiers (needs the study's key); the access is audited."""
    with StudyDB.open(db) as study:
        ids = pathway.identify(study, actor(user), subject, purpose)
    console.print(f"{subject.upper()}: {ids.full_name}, born {ids.date_of_birth}, hospital number {ids.hospital_number}")


# --------------------------------------------------------------------------- records
FORM_HELP = "Form id of the protocol (diagnosis, rt_course, rt_fraction, surgery, pathology, adverse_event, ...)."
VisitOption = typer.Option(None, "--visit", help="Visit occurrence VISIT[:N] (e.g. follow_up_early:3); default: the "
                           "schedule's, else unscheduled.")
InstanceOption = typer.Option(None, "--instance", min=1, help="Repeat instance of a repeating form.")
MissingOption = typer.Option(None, "--missing", help="FIELD=CODE: a missing-data code of the protocol (UNK, ND, ...) "
                             "instead of a value; needs --reason (repeat).")


def _missing(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            fail(f"--missing: expected FIELD=CODE, got {pair!r}")
        key, code = pair.split("=", 1)
        if key.strip() in out:
            fail(f"--missing: {key.strip()} is given twice")
        out[key.strip()] = code.strip()
    return out


def _print_crf(verb: str, crf, as_json: bool) -> None:
    shown = shapes.crf_json(crf)
    if as_json:
        print_json(shapes.record_json(crf))
        return
    console.print(f"{verb} {crf.form_id} #{crf.id} for {crf.subject_id} at {crf.visit}"
                  + (f" (instance {crf.instance})" if crf.instance > 1 else "") + f": {crf.status}, revision {crf.revision}")
    console.print_json(data=shown, default=str)


@handle_errors
def record(form: str = typer.Argument(..., help=FORM_HELP), subject: str = typer.Argument(..., help="Subject id."),
           values: Optional[list[str]] = typer.Option(None, "--set", help="field=value (repeat)."),
           input_file: Optional[Path] = typer.Option(None, "--input", help="A JSON object of field: value."),
           visit: Optional[str] = VisitOption, instance: Optional[int] = InstanceOption,
           missing: Optional[list[str]] = MissingOption,
           reason: Optional[str] = typer.Option(None, "--reason", help="Why values are missing (with --missing)."),
           db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Enter a form's data for a patient (checked against the protocol; derived values computed)."""
    with StudyDB.open(db) as study:
        crf = forms.record(study, actor(user), subject, form, parse_assignments(values, input_file), visit=visit,
                           instance=instance, missing=_missing(missing), reason=reason)
    _print_crf("Recorded", crf, as_json)


@handle_errors
def correct(form: str = typer.Argument(..., help=FORM_HELP), subject: str = typer.Argument(...),
            values: Optional[list[str]] = typer.Option(None, "--set", help="field=new value (repeat)."),
            reason: str = typer.Option(..., "--reason", help="Why the data changes (kept in the audit trail)."),
            visit: Optional[str] = VisitOption, instance: Optional[int] = InstanceOption,
            missing: Optional[list[str]] = MissingOption,
            record_id: Optional[int] = typer.Option(None, "--record-id", help="Which CRF instance (its #id)."),
            revision: Optional[int] = typer.Option(None, "--revision", help="The revision you saw: refused if the "
                                                   "form changed since."),
            db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Correct entered data, with a reason; derived values, verification and signatures follow."""
    with StudyDB.open(db) as study:
        crf = forms.correct(study, actor(user), subject, form, parse_assignments(values), reason, record_id=record_id,
                            visit=visit, instance=instance, missing=_missing(missing), revision=revision)
    _print_crf("Corrected", crf, as_json)


@handle_errors
def delete(form: str = typer.Argument(..., help=FORM_HELP), subject: str = typer.Argument(...),
           reason: str = typer.Option(..., "--reason", help="Why the record is removed (kept in the audit trail)."),
           visit: Optional[str] = VisitOption, instance: Optional[int] = InstanceOption,
           record_id: Optional[int] = typer.Option(None, "--record-id"),
           db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Delete a form entered in error (the audit trail keeps its values)."""
    with StudyDB.open(db) as study:
        forms.delete(study, actor(user), subject, form, reason, record_id=record_id, visit=visit, instance=instance)
    console.print(f"Deleted {form} of {subject.upper()}")


@handle_errors
def upgrade(db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Bring a study database's schema up to this SarcoTrial's version (back it up first)."""
    from sarcotrial.config import resolve_database_url
    from sarcotrial.store import db as store_db

    url = resolve_database_url(db)
    engine = store_db.make_engine(url)
    try:
        before = store_db.current_revision(engine)
        store_db.upgrade(engine)
        console.print(f"Schema {before or 'empty'} -> {store_db.current_revision(engine)}")
    finally:
        engine.dispose()
    if before != store_db.head_revision():
        from sarcotrial.services.visits import sync_all

        with StudyDB.open(db) as study:
            planned = sync_all(study, actor(user))
        console.print(f"Visit schedules planned for {planned} patients")




@handle_errors
def endpoints(out: Path = typer.Option(..., "--out", help="CSV file to write."), db: Optional[str] = DbOption,
              user: Optional[str] = UserOption,
              cutoff: Optional[str] = typer.Option(None, "--cutoff", help="Data cut-off date YYYY-MM-DD (default: all data).")) -> None:
    """One row per enrolled patient with every derived endpoint (time, status, censoring reason)."""
    from sarcotrial.services.endpoints import write_endpoints_csv

    with StudyDB.open(db) as study:
        count = write_endpoints_csv(study, out, parse_date(cutoff, "cutoff") if cutoff else None, actor(user))
    console.print(f"Wrote {count} patients' endpoints to {out}")


@handle_errors
def report(out: Path = typer.Option(Path("sarcotrial-report"), "--out", help="Folder for report.html, report.pdf and figures."),
           cutoff: Optional[str] = typer.Option(None, "--cutoff", help="Data cut-off YYYY-MM-DD (default: the latest recorded contact)."),
           db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """The study report (HTML and PDF): CONSORT, baseline, RT compliance, endpoints, toxicity, accrual."""
    if out.exists() and not out.is_dir():
        fail(f"--out: {out} is a file; the report needs a folder")
    with StudyDB.open(db) as study:
        paths = _build_report(study, out, parse_date(cutoff, "cutoff") if cutoff else None, actor(user))
    console.print(f"Report: {paths['pdf']} and {paths['html']}")


def _build_report(study: StudyDB, out: Path, cutoff=None, who=None) -> dict[str, Path]:
    from sarcotrial.report.build import STEPS, build_report

    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("Writing the study report", total=STEPS)
        return build_report(study, out, progress=lambda message: bar.update(task, advance=1, description=f"Report: {message}"),
                            cutoff=cutoff, actor=who)


@patient_app.command("correct-identifiers")
@handle_errors
def patient_correct_identifiers(subject: str = typer.Argument(...),
                                name: Optional[str] = typer.Option(None, "--name"),
                                dob: Optional[str] = typer.Option(None, "--dob", help="Date of birth YYYY-MM-DD."),
                                hospital_number: Optional[str] = typer.Option(None, "--hospital-number"),
                                reason: str = typer.Option(..., "--reason", help="Why the identifiers change (audited)."),
                                db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Correct a patient's name, date of birth or hospital number, with a reason."""
    with StudyDB.open(db) as study:
        pathway.correct_identifiers(study, actor(user), subject, reason, full_name=name,
                                    date_of_birth=parse_date(dob, "date_of_birth") if dob else None,
                                    hospital_number=hospital_number)
    console.print(f"Corrected the identifiers of {subject.upper()}")
