"""Study commands: init, demo, status, the audit trail, patients and their records."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Optional

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
from sarcotrial.report.words import count as plural
from sarcotrial.errors import SarcoTrialError

if TYPE_CHECKING:  # the services are imported where they are used (start-up time: see cli/common.py)
    from sarcotrial.services.study import KeyNotice, StudyDB


def _key_notice(notice: KeyNotice) -> None:
    if notice.created:
        console.print(f"[yellow]Created the identifier key file {notice.path}[/] (readable by you only). Patients' "
                      "names, dates of birth and hospital numbers are encrypted with it: back it up apart from the "
                      "database; without it they cannot be read.")
    elif notice.path is not None:
        console.print(f"Identifier key: {notice.path} (beside the database)")
    else:
        console.print(f"Identifier key: from {notice.origin}")


# --------------------------------------------------------------------------- init / status (demo: cli/demo.py)
@handle_errors
def init(protocol: str = ProtocolOption, db: Optional[str] = DbOption, user: Optional[str] = UserOption,
         site: str = typer.Option("MAIN", "--site", help="Code of the study site."),
         site_name: str = typer.Option("Soft tissue sarcoma unit", "--site-name")) -> None:
    """Create a study database bound to a protocol and its version."""
    from sarcotrial.config import sqlite_path
    from sarcotrial.services.study import StudyDB

    study, notice = StudyDB.create(db, protocol, actor(user), site_code=site, site_name=site_name)
    with study:
        p = study.protocol
        console.print(f"Created study [bold]{p.acronym}[/] (protocol v{p.version}, {study.loaded.sha256[:12]}) "
                      f"in {sqlite_path(study.url) or study.url}")
        _key_notice(notice)


@handle_errors
def status(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The study at a glance: protocol, accrual, where each patient is."""
    from sarcotrial.services import shapes, views
    from sarcotrial.services.study import StudyDB

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
                  f"({info['patients']} referred; {plural(info['screenings'], 'screening')})")
    console.print("Patients by where each is now (each counted once):")
    for key, value in sorted(by_status.items()):
        console.print(f"  {key.replace('_', ' ')}: {value}")
    # what the protocol treats with: fractions where it has radiotherapy, operations where it has surgery
    treatment = study.protocol.treatment
    done = ([f"Fractions delivered {info['fractions_delivered']}"] if treatment.radiotherapy is not None else []) + \
        ([f"operated {info['operated']} (R0 {info['r0']})"] if treatment.surgery is not None else []) + \
        [f"adverse events {info['adverse_events']}", f"deaths {info['deaths']}",
         f"protocol deviations {info['protocol_deviations']}"]
    line = "; ".join(done)
    console.print(line[0].upper() + line[1:])
    q = info["queries"]
    console.print(f"Queries: {q['open']} open, {q['answered']} answered, {q['closed']} closed")
    console.print(f"Audit entries: {info['audit_entries']}")
    console.print("[dim]Counts are of the patients you may see. Screenings: every screening, repeats included; "
                  "queries: open (awaiting the site), answered (awaiting review), closed.[/]")


# --------------------------------------------------------------------------- audit
audit_app = typer.Typer(help="The audit trail: verify its hash chain, read its entries.", no_args_is_help=True)


@audit_app.command("verify")
@handle_errors
def audit_verify(db: Optional[str] = DbOption, user: Optional[str] = UserOption,
                 expect_head: Optional[str] = typer.Option(None, "--expect-head", help="A head hash recorded earlier (e.g. in the trial master file): the chain must still end exactly there."),
                 as_json: bool = JsonOption) -> None:
    """Recompute the hash chain and replay it against the data; name every tampered entry or record. Exit 1 if any."""
    from sarcotrial.services import shapes, views
    from sarcotrial.services.study import StudyDB

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
    """The newest audit entries: who, when, which record and field, old and new value, why. Exit 1 if none."""
    from rich.padding import Padding

    from sarcotrial.services import shapes, views
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = views.audit_entries(study, actor(user), subject_id=subject, limit=limit)
    if as_json:
        print_json(shapes.audit_entries_json(rows))
    elif not rows:
        console.print("No audit entry matches" + (f" (patient {escape(subject.upper())})." if subject else "."))
    if not rows:
        raise typer.Exit(1)
    if as_json:
        return
    # readable at 80 columns: an entry's number, time (to the minute, UTC), who and what on a first
    # line that is never cut; the field and its change beneath, wrapped, indented; then why
    for r in rows:
        who = f" {r.subject_id}" if r.subject_id else ""
        console.print(f"[dim]#{r.id}[/] {r.at[:16].replace('T', ' ')} {escape(r.actor)} [bold]{r.action}[/]"
                      f"{escape(who)} {escape(r.table_name)} #{r.record_id}", soft_wrap=True)
        change = {"create": f"= {_short(r.new_value)}", "delete": f"was {_short(r.old_value)}"}.get(
            r.action, f"{_short(r.old_value) or '(empty)'} -> {_short(r.new_value) or '(empty)'}")
        console.print(Padding(f"[bold]{escape(r.field)}[/] {escape(change)}", (0, 0, 0, 4), expand=False))
        if r.reason and r.action != "create":
            console.print(Padding(f"[dim]why:[/] {escape(_short(r.reason, 140))}", (0, 0, 0, 4), expand=False))


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
    from sarcotrial.services import pathway
    from sarcotrial.services.study import StudyDB

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
    from sarcotrial.services import pathway, shapes
    from sarcotrial.services.study import StudyDB

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
    from sarcotrial.services import pathway
    from sarcotrial.services.study import StudyDB

    day = parse_date(date, "enrolment_date")
    with StudyDB.open(db) as study:
        who = actor(user)
        row = pathway.enrol(study, who, subject, day)
        arm = None
        from sarcotrial.services import randomisation

        if randomisation.randomises(study.protocol):  # the arm allocated in the enrolment's transaction
            arm = randomisation.arms_by_subject(study, who, subject).get(subject.strip().upper())
    console.print(f"Enrolled {subject.upper()} as patient {row.sequence} of the study"
                  + (f", allocated to {arm}" if arm else ""))


@patient_app.command("list")
@handle_errors
def patient_list(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Every patient with status and key facts (pseudonymised: no identifiers). Exit 1 if none."""
    from sarcotrial.services import randomisation, shapes, views
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        who = actor(user)
        records = views.patients(study, who)
        # a randomised study: each patient's arm once allocated (none before: the allocation is concealed)
        arms = randomisation.arms_by_subject(study, who) if randomisation.randomises(study.protocol) else None
    rows = shapes.patient_list_json(records)["patients"]
    if arms is not None:
        for r in rows:
            r["arm"] = arms.get(r["subject_id"])
    if as_json:
        print_json({"patients": rows})
    elif not rows:
        console.print("No patient is registered (among those you may see).")
    if not rows:
        raise typer.Exit(1)
    if as_json:
        return
    from rich import box

    # readable at 80 columns: every column but the histotype's name keeps to one line, whole; a column no
    # patient has a value in (a systemic-therapy study's grade, stage and margin) is left out
    cells = []
    for r in rows:
        row = {k: "" if r[k] is None else str(r[k]).replace("_", " ") for k in
               ("subject_id", "site", "status", "anatomic_site", "grade", "stage", "r_status")}
        row["arm"] = r.get("arm") or ""
        row["histotype"] = _histotype_name(r["histotype"])
        cells.append(row)
    columns = [("subject", "subject_id"), ("site", "site"), ("status", "status")] + \
        ([("arm", "arm")] if arms is not None else []) + \
        [("anatomic site", "anatomic_site"), ("histotype", "histotype"), ("G", "grade"), ("stage", "stage"),
         ("R", "r_status")]
    shown = [(header, key) for header, key in columns
             if key in ("subject_id", "site", "status", "histotype") or any(row[key] for row in cells)]
    table = Table(*(header for header, _ in shown), box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                  collapse_padding=True)
    for column in table.columns:
        column.no_wrap = column.header != "histotype"
        if column.header == "histotype":
            column.overflow = "fold"
            column.min_width = 16
    for row in cells:
        table.add_row(*(escape(row[key]) for _, key in shown))
    console.print(table)
    legend = {"site": "site: study site", "arm": "arm: the arm allocated at enrolment",
              "anatomic site": "anatomic site: the tumour's (from the diagnosis, else the referral)",
              "G": "G: FNCLCC grade", "stage": "stage: AJCC 8", "R": "R: resection margin"}
    console.print("[dim]" + "; ".join(legend[h] for h, _ in shown if h in legend) + ". All fields: --json[/]")


def _histotype_name(value) -> str:
    """A histotype's WHO 2020 name from the catalogue (a missing-data code or an unknown id as it stands)."""
    from sarcotrial.domain import histology

    if not value:
        return ""
    try:
        return histology.histotype(str(value)).name
    except SarcoTrialError:
        return str(value)


@patient_app.command("show")
@handle_errors
def patient_show(subject: str = typer.Argument(...), db: Optional[str] = DbOption, user: Optional[str] = UserOption,
                 as_json: bool = JsonOption) -> None:
    """One patient's pathway: screening, diagnosis, treatment, pathology, events (pseudonymised)."""
    from sarcotrial.services import shapes, views
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        who = actor(user)
        r, open_queries = views.patient_and_open_queries(study, who, subject)
        protocol = study.protocol
        out = shapes.patient_show_json(study, who, subject, record=r)
    if as_json:
        print_json(out)
        return
    _print_patient(out, _labeller(protocol))
    if open_queries:
        console.print(f"[bold yellow]Open queries[/] ({len(open_queries)}):")
        for q in open_queries:
            console.print(f"  #{q.id} {q.form_id}.{q.field}: {escape(q.text)}", soft_wrap=True)


def _labeller(protocol):
    """``label(form, field, value)``: a coded value as the protocol's code list names it, a histotype by its
    WHO 2020 name; a missing-data code (UNK, NA, ...) and anything else as it stands."""
    def label(form_id: str, field_id: str, value) -> str:
        if value is None:
            return "?"
        if field_id in ("histotype", "suspected_histotype"):
            return _histotype_name(value)
        if protocol.missing_code(str(value)) is not None:
            return str(value)  # where a value would be, its code (as every listing shows it)
        field = protocol.form(form_id).field(field_id) if protocol.has_form(form_id) else None
        if field is not None and field.codelist:
            return next((c.label for c in protocol.codelists.get(field.codelist, []) if c.code == value), str(value))
        return str(value)
    return label


def _print_course(p: dict) -> None:
    """A systemic course and the RECIST 1.1 time points, one line each (only what the protocol has)."""
    course = p.get("systemic_course")
    if course:
        intensity = ", ".join(f"{d['drug']} {d['relative_dose_intensity']:.2f}" for d in course["dose_intensity"])
        cumulative = course.get("cumulative_doxorubicin_equivalent_mg_m2")
        console.print(f"Systemic therapy: {escape(course['regimen'])}, {course['cycles_given']} cycle"
                      f"{'' if course['cycles_given'] == 1 else 's'}"
                      + (f"; relative dose intensity {escape(intensity)}" if intensity else "")
                      + (f"; cumulative doxorubicin-equivalent {cumulative:g} mg/m2" if cumulative is not None else ""))
        if course.get("anthracycline_warning"):
            console.print(f"  [yellow]{escape(course['anthracycline_warning'])}[/]", soft_wrap=False)
    response = p.get("response")
    if response and response["timepoints"]:
        points = [f"{t['date']} " + ("baseline" if t["baseline"] else (t["overall"] or "not evaluable"))
                  + (f" ({t['sum_mm']:g} mm)" if t.get("sum_mm") is not None else "") for t in response["timepoints"]]
        console.print("Tumour assessments (RECIST 1.1): " + "; ".join(points))
        confirmed, unconfirmed = response.get("best_confirmed"), response.get("best_unconfirmed")
        same = confirmed and unconfirmed and (confirmed["response"], confirmed.get("date")) == (
            unconfirmed["response"], unconfirmed.get("date"))
        shown = [("confirmed or not", confirmed)] if same else [("confirmed", confirmed), ("unconfirmed", unconfirmed)]
        for kind, best in shown:
            if best:
                console.print(f"  best overall response ({kind}): [bold]{best['response']}[/]"
                              + (f" from {best['date']}" if best.get("date") else ""))


def _print_patient(p: dict, label) -> None:
    """One patient's pathway as a clinician reads it: one line per step, fractions summarised; codes
    by their labels (``label``: see :func:`_labeller`)."""
    console.rule(f"[bold]{p['subject_id']}[/] ({p['sex']}, born {p['year_of_birth']}) — {p['status'].replace('_', ' ')}")
    for sc in p["screenings"]:
        console.print(f"Screening {sc['date']}: [bold]{sc['decision'].replace('_', ' ')}[/]")
        for reason in sc["reasons"]:
            console.print(f"  {escape(reason)}", soft_wrap=True)
    if p.get("enrolment"):
        console.print(f"Enrolled {p['enrolment']['enrolment_date']} (patient {p['enrolment']['sequence']}; "
                      f"consent {p['enrolment']['consent_date']})")
    if p.get("arm"):
        console.print(f"Allocated to [bold]{escape(p['arm']['name'])}[/] ({escape(p['arm']['id'])})")
    d = p["diagnosis"]
    if d and not any(key in d or key in d["missing"] for key in ("size_cm", "anatomic_site", "fnclcc_differentiation")):
        # a diagnosis form of another shape (a systemic-therapy study's): its own fields, by their labels
        shown = [f"{label('diagnosis', 'histotype', d['histotype'])} ({d.get('icdo3') or '-'})"] \
            if d.get("histotype") else []
        shown += [f"{key.replace('_', ' ')}: {label('diagnosis', key, value)}" for key, value in d.items()
                  if key not in ("diagnosis_date", "histotype", "icdo3", "missing", "crf") and value not in (None, "", [])]
        console.print(f"Diagnosis {d.get('diagnosis_date') or '?'}: " + "; ".join(escape(str(x)) for x in shown))
        d = None
    if d:
        size = f"{d['size_cm']:g} cm" if d.get("size_cm") is not None else f"size {d['missing'].get('size_cm', 'not given')}"
        shown = lambda key: d.get(key) if d.get(key) is not None else d["missing"].get(key, "?")  # noqa: E731
        tnm = f"{d['ajcc_t']} {d['ajcc_n']} {d['ajcc_m']}; stage {d.get('stage') or 'no group'}" \
            if d.get("ajcc_t") else "not staged (a value it needs is missing)"
        graded = ("not graded by FNCLCC (differentiation NA)"
                  if d["missing"].get("fnclcc_differentiation") == "NA" else f"FNCLCC G{d.get('grade') or '?'}")
        depth = f", {label('diagnosis', 'depth', d['depth']).lower()}" if d.get("depth") else ""
        console.print(f"Diagnosis {shown('diagnosis_date')}: {label('diagnosis', 'histotype', shown('histotype'))} "
                      f"({d.get('icdo3') or '-'}), {label('diagnosis', 'anatomic_site', shown('anatomic_site'))}{depth}, "
                      f"{size}; {graded}; {tnm}")
    c = p.get("rt_course")
    if c:
        delivered = sorted((f for f in c["fractions"] if f.get("status") == "delivered"), key=lambda f: f["fraction_date"])
        calendar = label("rt_course", "calendar", c["calendar"]) if c.get("calendar") else "no holiday calendar"
        console.print(f"Radiotherapy planned from {c['planned_start']} ({calendar}): "
                      f"{len(delivered)} of {c['planned_fractions']} fractions delivered"
                      + (f", {delivered[0]['fraction_date']} to {delivered[-1]['fraction_date']}" if delivered else ""))
        for f in c["fractions"]:
            if f.get("status") != "delivered":
                console.print(f"  fraction {f.get('fraction_number')} {label('rt_fraction', 'status', f.get('status'))} "
                              f"on {f.get('fraction_date')}: "
                              f"{escape(f.get('reason') or '')}")
    for qa in p.get("plan_qa", []):
        failing = [f"{o['structure']} {o['metric']} {o['value']}" for o in qa["results"].get("objectives", [])
                   if o["verdict"] in ("minor deviation", "major deviation")]
        console.print(f"Plan QA {qa['evaluated_on']}: [bold]{qa['verdict']}[/]" + (f" ({'; '.join(failing)})" if failing else ""))
    _print_course(p)
    if p["surgery"]:
        s_ = p["surgery"]
        console.print(f"Surgery {s_.get('surgery_date')}: {label('surgery', 'procedure', s_.get('procedure'))}"
                      f"{'; macroscopic residual' if s_.get('macroscopic_residual') else ''}")
    if p["pathology"]:
        q = p["pathology"]
        tissue = label("pathology", "closest_margin_tissue", q["closest_margin_tissue"]) \
            if q.get("closest_margin_tissue") else "tissue not recorded"
        margin = f", closest margin {q['closest_margin_mm']:g} mm ({tissue})" \
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
        # the disease status where the follow-up form has one (SPRINT), else the vital status (a systemic study)
        status_field = "disease_status" if "disease_status" in last else "vital_status"
        console.print(f"Follow-up: {len(visits)} visits, last {last.get('visit_date')} "
                      f"({label('follow_up', status_field, last.get(status_field))})")
    for e in p["events"]:
        shown_cause = e.get("death_cause") or e["missing"].get("death_cause")
        cause = f" (cause: {label('outcome_event', 'death_cause', shown_cause)})" if shown_cause else ""
        console.print(f"[bold]{label('outcome_event', 'event_type', e.get('event_type'))}[/] {e.get('event_date')}{cause}")
    for dev in p["deviations"]:
        console.print(f"[red]{dev['severity']} protocol deviation[/] ({dev['category']}): {escape(dev['description'])}",
                      soft_wrap=True)


@patient_app.command("identify")
@handle_errors
def patient_identify(subject: str = typer.Argument(...), db: Optional[str] = DbOption, user: Optional[str] = UserOption,
                     purpose: Optional[str] = typer.Option(None, "--purpose", help="Why you need the identity (kept in the audit trail).")) -> None:
    """Decrypt one patient's direct identifiers (needs the study's key); the access is audited."""
    from sarcotrial.services import pathway
    from sarcotrial.services.study import StudyDB

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
    from sarcotrial.services import shapes

    shown = shapes.crf_json(crf)
    if as_json:
        print_json(shapes.record_json(crf))
        return
    console.print(f"{verb} {crf.form_id} #{crf.id} for {crf.subject_id} at {crf.visit}"
                  + (f" (instance {crf.instance})" if crf.instance > 1 else "") + f": {crf.status}, revision {crf.revision}")
    console.print_json(data=_rounded(shown), default=str)


def _rounded(value):
    """The readable answer's numbers to 4 significant digits (a BSA of 1.658 m2, not 1.6583123951777); --json
    keeps them whole."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _record_help(ctx: typer.Context, param, value: bool) -> bool:
    """``record FORM --help``: the help, then FORM's fields (cli/formhelp.py)."""
    from sarcotrial.cli.formhelp import help_asked

    return help_asked(ctx, param, value)


def _record_form(ctx: typer.Context, param, value: str | None) -> str | None:
    from sarcotrial.cli.formhelp import form_argument

    return form_argument(ctx, param, value)


@handle_errors
def record(form: Optional[str] = typer.Argument(None, help=FORM_HELP + " Required.", metavar="FORM",
                                               callback=_record_form), subject: str = typer.Argument(..., help="Subject id."),
           values: Optional[list[str]] = typer.Option(None, "--set", help="field=value (repeat)."),
           input_file: Optional[Path] = typer.Option(None, "--input", help="A JSON object of field: value."),
           visit: Optional[str] = VisitOption, instance: Optional[int] = InstanceOption,
           missing: Optional[list[str]] = MissingOption,
           reason: Optional[str] = typer.Option(None, "--reason", help="Why values are missing (with --missing)."),
           db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption,
           _help: bool = typer.Option(False, "--help", is_eager=True, callback=_record_help,
                                      help="Show this message and FORM's fields: types, units, ranges and codes.")) -> None:
    """Enter a form's data for a patient (checked against the protocol; derived values computed).

    `sarcotrial record FORM --help` lists FORM's fields (e.g. record diagnosis --help)."""
    from sarcotrial.services import forms
    from sarcotrial.services.study import StudyDB

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
    from sarcotrial.services import forms
    from sarcotrial.services.study import StudyDB

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
    from sarcotrial.services import forms
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        forms.delete(study, actor(user), subject, form, reason, record_id=record_id, visit=visit, instance=instance)
    console.print(f"Deleted {form} of {subject.upper()}")


@handle_errors
def upgrade(db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Bring a study database's schema up to this SarcoTrial's version (back it up first)."""
    from sarcotrial.services.study import StudyDB
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
    from sarcotrial.services.study import StudyDB
    from sarcotrial.services.endpoints import write_endpoints_csv

    with StudyDB.open(db) as study:
        count = write_endpoints_csv(study, out, parse_date(cutoff, "cutoff") if cutoff else None, actor(user))
    whose = plural(count, "patient's", "patients'")
    console.print(f"Wrote {whose} endpoints to {out}")


@handle_errors
def report(out: Path = typer.Option(Path("sarcotrial-report"), "--out", help="Folder for report.html, report.pdf and figures."),
           cutoff: Optional[str] = typer.Option(None, "--cutoff", help="Data cut-off YYYY-MM-DD (default: the latest recorded contact)."),
           db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """The study report (HTML and PDF): CONSORT, baseline, RT compliance, endpoints, toxicity, accrual."""
    from sarcotrial.services.study import StudyDB

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
    """Correct a patient's name, date of birth or hospital number, with a reason.

    A new date of birth of a screened patient gives the age at screening again and judges eligibility
    with it; a disagreement opens a query on the screening form's age, and is printed."""
    from sarcotrial.services import pathway
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        recheck = pathway.correct_identifiers(study, actor(user), subject, reason, full_name=name,
                                              date_of_birth=parse_date(dob, "date_of_birth") if dob else None,
                                              hospital_number=hospital_number)
    console.print(f"Corrected the identifiers of {subject.upper()}")
    if recheck is None:
        return
    age = f"the corrected date of birth gives age {recheck.age} at screening on {recheck.screening_date}"
    if recheck.consistent:
        console.print(f"Screening: {age}; eligibility unchanged ({recheck.decision.replace('_', ' ')})")
        return
    found = []
    if recheck.entered_age is not None and recheck.entered_age != recheck.age:
        found.append(f"the form says {recheck.entered_age}")
    if recheck.decision != recheck.screened_decision:
        found.append(f"with age {recheck.age} {recheck.subject_id} is {recheck.decision.replace('_', ' ')}, not "
                     f"{recheck.screened_decision.replace('_', ' ')} as screened"
                     + (f" ({'; '.join(recheck.reasons)})" if recheck.reasons else ""))
    query = f"Query {recheck.query_id}" if recheck.query_id else "A query"
    console.print(f"[bold yellow]Eligibility to check[/]: {escape(age)}; {escape('; '.join(found))}. {query} is open "
                  f"on {recheck.field}; the screening decision stands until it is answered.", soft_wrap=True)


# --------------------------------------------------------------------------- the database's studies
studies_app = typer.Typer(help="The studies this database runs beside the unit's registry: list, add.",
                          no_args_is_help=True)


@studies_app.command("list")
@handle_errors
def studies_list(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The studies this database runs, with their accrual; 'sarcotrial --study ACRONYM ...' works in one."""
    from sarcotrial.services import views
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = views.studies_overview(study, actor(user))
    if as_json:
        print_json({"studies": rows})
        return
    table = Table(show_edge=False)
    for name, justify in (("Study", "left"), ("Protocol", "left"), ("Patients", "right"), ("Enrolled", "right"),
                          ("Accrual", "left")):
        table.add_column(name, justify=justify)
    for row in rows:
        mark = " (worked in)" if row["current"] else ""
        table.add_row(f"{escape(row['acronym'])}{mark}", f"v{escape(row['version'])}", str(row["patients"]),
                      f"{row['enrolled']} of {row['target_accrual']}",
                      "open" if row["open_for_accrual"] else f"closed: {escape(row['closed'])}")
    console.print(table)


@studies_app.command("add")
@handle_errors
def studies_add(protocol: str = ProtocolOption, db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Add a study to this database: a further protocol bound beside the others, sharing the unit's registry,
    sites, accounts and identifier key."""
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        added = study.add_study(protocol, actor(user))
        p = added.protocol
    console.print(f"Added study [bold]{p.acronym}[/] (protocol v{p.version}, {added.loaded.sha256[:12]}); work in it "
                  f"with 'sarcotrial --study {p.acronym} ...'")


@patient_app.command("add-to-study")
@handle_errors
def patient_add_to_study(subject: str = typer.Argument(..., help="The patient's subject id in another study of "
                                                       "this database, e.g. SPR-012."),
                         values: Optional[list[str]] = typer.Option(None, "--set", help="A referral form answer "
                                                                    "field=value this study asks and the other did not."),
                         db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Take a registry patient into the study worked in ('sarcotrial --study ACRONYM'): a subject id of this
    study, the same person and identifiers, the referral's answers carried over."""
    from sarcotrial.services import pathway
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        patient = pathway.add_to_study(study, actor(user), subject, parse_assignments(values))
        acronym = study.protocol.acronym
    console.print(f"{subject.strip().upper()} is [bold]{patient.subject_id}[/] in {acronym}")
