"""Data-management commands: visits and what is due, forms not done, queries, source-data
verification, electronic signatures and locks. Each calls one service; none holds a rule."""

from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from sarcotrial.cli.common import (
    DbOption,
    JsonOption,
    UserOption,
    actor,
    console,
    fail,
    handle_errors,
    parse_assignments,
    parse_date,
    print_json,
)

VisitOption = typer.Option(None, "--visit", help="Visit occurrence VISIT[:N], e.g. follow_up_early:3.")
InstanceOption = typer.Option(None, "--instance", min=1, help="Repeat instance of a repeating form.")
FormOption = typer.Option(..., "--form", help="Form id of the protocol.")

STATUS_STYLE = {"complete": "green", "verified": "green", "signed": "bold green", "locked": "bold blue",
                "overdue": "bold red", "due": "yellow", "partial": "yellow", "incomplete": "yellow",
                "not_done": "dim", "expected": "", "upcoming": "dim", "scheduled": "dim", "unscheduled": "dim",
                "optional": "dim", "ended": "dim"}


def _styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


# --------------------------------------------------------------------------- visits
@handle_errors
def visits(subject: str = typer.Argument(..., help="Subject id."), db: Optional[str] = DbOption,
           user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """A patient's visits from the protocol's schedule: target, window, actual date, status and each form's state."""
    from sarcotrial.services import shapes, visits as visit_service
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = visit_service.visits(study, actor(user), subject)
    if as_json:
        print_json(shapes.visits_json(subject, rows))
        return
    console.print(f"[bold]Visits of {subject.upper()}[/]")
    labels = [v.visit_id if v.occurrence == 1 else f"{v.visit_id}:{v.occurrence}" for v in rows]
    # the visit column as wide as the longest label (a protocol's visit ids may be long), never run into the date
    width = max([19, *(len(label) + 1 for label in labels)])
    console.print(f"[bold]{'visit':<{width}}{'target':<11}{'window':<10}{'actual':<11}status[/]")
    for v, label in zip(rows, labels):
        window = ""
        if v.window_start and v.window_end and v.target_date:
            window = f"-{(v.target_date - v.window_start).days}/+{(v.window_end - v.target_date).days} d"
        target = f"{v.target_date:%Y-%m-%d}" if v.target_date else ""
        actual = f"{v.actual_date:%Y-%m-%d}" if v.actual_date else ""
        console.print(f"{label:<{width}}{target:<11}{window:<10}{actual:<11}{_styled(v.status)}")
        if v.forms:
            console.print(f"  {_form_summary(v.forms)}", soft_wrap=False)
    console.print("[dim]Form states: expected, incomplete, complete, verified, signed, locked, not_done; (Nq): open "
                  "queries. All details: --json[/]")


def _form_summary(forms_of_visit) -> str:
    """A visit's forms in a few words: one form by name and state; many by count per state."""
    def one(f) -> str:
        lock = " (locked)" if f.locked and f.status != "locked" else ""
        queries_note = f" ({f.open_queries}q)" if f.open_queries else ""
        return f"{f.form_id}{'#' + str(f.instance) if f.instance > 1 else ''} {_styled(f.status)}{lock}{queries_note}"
    if len(forms_of_visit) <= 2:
        return ", ".join(one(f) for f in forms_of_visit)
    counts: dict[str, int] = {}
    for f in forms_of_visit:
        counts[f.status] = counts.get(f.status, 0) + 1
    flagged = sum(f.open_queries for f in forms_of_visit)
    return f"{len(forms_of_visit)} forms: " + ", ".join(f"{n} {_styled(s)}" for s, n in sorted(counts.items())) + \
        (f" ({flagged}q)" if flagged else "")


@handle_errors
def due(days: int = typer.Option(0, "--days", min=0, help="Also visits whose window opens within N days."),
        db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption,
        today: Optional[str] = typer.Option(None, "--today", help="Pretend today is YYYY-MM-DD (planning ahead).")) -> None:
    """Visits due now (or within --days) and overdue, for the patients you may see. Exit 1 if none."""
    from sarcotrial.services import shapes, visits as visit_service
    from sarcotrial.services.study import StudyDB

    day = parse_date(today, "today") if today else None
    with StudyDB.open(db) as study:
        rows = visit_service.due(study, actor(user), days, day)
    if as_json:
        print_json(shapes.due_json(rows))
    else:
        table = Table("subject", "visit", "window", "status", title="Visits due and overdue")
        for r in rows:
            label = r.visit_id if r.occurrence == 1 else f"{r.visit_id}:{r.occurrence}"
            window = f"{r.window_start} to {r.window_end}" if r.window_start else ""
            table.add_row(r.subject, label, window, _styled(r.status))
        console.print(table if rows else "No visit is due or overdue.")
    if not rows:
        raise typer.Exit(1)


@handle_errors
def unscheduled(subject: str = typer.Argument(...), date: str = typer.Option(..., "--date", help="Visit date YYYY-MM-DD."),
                label: Optional[str] = typer.Option(None, "--label", help="What the visit was for."),
                db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Add an unscheduled visit; record forms at it with --visit unscheduled:N."""
    from sarcotrial.services import visits as visit_service
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        ref = visit_service.add_unscheduled_visit(study, actor(user), subject, parse_date(date, "date"), label)
    console.print(f"Added {ref} for {subject.upper()}; record its forms with --visit {ref}")


@handle_errors
def not_done(subject: str = typer.Argument(...), form: str = FormOption,
             visit: str = typer.Option(..., "--visit", help="Visit occurrence VISIT[:N]."),
             instance: Optional[int] = InstanceOption,
             reason: str = typer.Option(..., "--reason", help="Why the form will not be collected."),
             db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Mark a form expected at a visit as not done, with the reason."""
    from sarcotrial.services import forms
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        crf = forms.mark_not_done(study, actor(user), subject, form, visit, reason, instance=instance)
    console.print(f"{crf.form_id} at {crf.visit} of {crf.subject_id}: not done ({escape(reason)})")


# --------------------------------------------------------------------------- queries
query_app = typer.Typer(help="Queries on collected data: open, respond, close, reopen, list.", no_args_is_help=True)


@query_app.command("open")
@handle_errors
def query_open(subject: str = typer.Argument(...), form: str = FormOption, field: str = typer.Option(..., "--field"),
               text: str = typer.Option(..., "--text", help="What the site should check."),
               visit: Optional[str] = VisitOption, instance: Optional[int] = InstanceOption,
               assign: Optional[str] = typer.Option(None, "--assign", help="A user of the site to answer it."),
               db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Open a query on a field of a patient's form."""
    from sarcotrial.services import queries
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        number = queries.open_query(study, actor(user), subject, form, field, text, visit=visit, instance=instance,
                                    assign=assign)
    console.print(f"Opened query {number} on {form}.{field} of {subject.upper()}")


@query_app.command("respond")
@handle_errors
def query_respond(query_id: int = typer.Argument(..., help="Query id."),
                  resolution: str = typer.Option(..., "--resolution", help="corrected, confirmed or other."),
                  text: str = typer.Option(..., "--text", help="The answer."),
                  values: Optional[list[str]] = typer.Option(None, "--set", help="field=new value: the correction, in "
                                                             "the same transaction as the answer."),
                  db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Answer an open query (with --set, the correction and the answer are one change)."""
    from sarcotrial.services import queries
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        queries.respond(study, actor(user), query_id, resolution, text, parse_assignments(values) or None)
    console.print(f"Answered query {query_id} ({resolution})")


@query_app.command("close")
@handle_errors
def query_close(query_id: int = typer.Argument(...), text: Optional[str] = typer.Option(None, "--text"),
                db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Close a query (the one who opened it, or a data manager)."""
    from sarcotrial.services import queries
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        queries.close(study, actor(user), query_id, text)
    console.print(f"Closed query {query_id}")


@query_app.command("reopen")
@handle_errors
def query_reopen(query_id: int = typer.Argument(...), text: str = typer.Option(..., "--text", help="Why it is reopened."),
                 db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Reopen an answered or closed query."""
    from sarcotrial.services import queries
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        queries.reopen(study, actor(user), query_id, text)
    console.print(f"Reopened query {query_id}")


@query_app.command("list")
@handle_errors
def query_list(status: Optional[str] = typer.Option(None, "--status", help="open, answered or closed."),
               subject: Optional[str] = typer.Option(None, "--patient", help="Only this patient's queries."),
               assigned: Optional[str] = typer.Option(None, "--assigned-to", help="Only queries assigned to this user."),
               db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Queries with their age and status, oldest first. Exit 1 if none."""
    from sarcotrial.services import queries, shapes
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = queries.list_queries(study, actor(user), status=status, subject_id=subject, assigned_to=assigned)
    if as_json:
        print_json(shapes.queries_json(rows))
    else:
        table = Table("#", "subject", "form.field", "visit", "status", "age", "text", title="Queries")
        for q in rows:
            table.add_row(str(q.id), q.subject, f"{q.form_id}.{q.field}", queries.visit_label(q), _styled(q.status)
                          if q.status != "open" else "[bold]open[/]", f"{q.age_days} d", escape(q.thread[-1]["text"]
                                                                                               if q.thread else q.text))
        console.print(table if rows else "No query matches.")
    if not rows:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- SDV, signatures, locks
@handle_errors
def sdv(subject: str = typer.Argument(...), form: str = FormOption, visit: Optional[str] = VisitOption,
        instance: Optional[int] = InstanceOption,
        field: Optional[str] = typer.Option(None, "--field", help="One field (default: every entered field)."),
        db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Source-data verification: mark a form's fields (or one field) as verified against source."""
    from sarcotrial.services import review
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        marked = review.verify_source(study, actor(user), subject, form, visit=visit, instance=instance, field_id=field)
    console.print(f"Verified {form} of {subject.upper()}: {', '.join(marked)}")


@handle_errors
def sdv_progress(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Source-data verification progress per patient and per site."""
    from sarcotrial.services import review, shapes
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = review.sdv_progress(study, actor(user))
    shown = shapes.sdv_progress_json(rows)
    sites = shown["sites"]
    if as_json:
        print_json(shown)
        return
    table = Table("site", "patients", "fields", "verified", "%", title="Source-data verification by site")
    for s in sites:
        table.add_row(s["site"], str(s["patients"]), str(s["fields_entered"]), str(s["fields_verified"]),
                      f"{s['percent']:.0f}")
    console.print(table)
    table = Table("subject", "site", "forms", "verified", "fields", "verified", "%")
    for r in rows:
        if r.fields_entered:
            table.add_row(r.subject, r.site, str(r.forms_entered), str(r.forms_verified), str(r.fields_entered),
                          str(r.fields_verified), f"{r.percent:.0f}")
    console.print(table)


@handle_errors
def sign(subject: str = typer.Argument(...), form: Optional[str] = typer.Option(None, "--form", help="Sign one form "
                                                                                "(default: the whole casebook)."),
         visit: Optional[str] = VisitOption, instance: Optional[int] = InstanceOption,
         meaning: str = typer.Option(..., "--meaning", help="What the signature means, e.g. 'I have reviewed and "
                                     "approve these data'."),
         password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
         db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Sign a form, or a patient's casebook, electronically: your password is asked again (21 CFR 11.200)."""
    import getpass

    from sarcotrial.services import review
    from sarcotrial.services.study import StudyDB

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password (signing): ")
    else:
        fail("sign: the password is entered at each signing: on a terminal, or with --password-stdin")
    with StudyDB.open(db) as study:
        who = actor(user)
        who.password = lambda: password  # the signing password also signs the user in (one component each time)
        number = review.sign(study, who, subject, password, meaning, form_id=form, visit=visit, instance=instance)
        shown = [s for s in review.signatures(study, who, subject) if s.id == number][0]
    console.print(escape(shown.manifestation()), soft_wrap=True)


@handle_errors
def signatures(subject: str = typer.Argument(...), db: Optional[str] = DbOption, user: Optional[str] = UserOption,
               as_json: bool = JsonOption) -> None:
    """A patient's electronic signatures: printed name, date and time, meaning, and whether each still holds."""
    from sarcotrial.services import review, shapes
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = review.signatures(study, actor(user), subject)
    if as_json:
        print_json(shapes.signatures_json(rows))
        return
    for s in rows:
        style = "green" if s.status == "valid" else "red"
        console.print(f"[{style}]{escape(s.manifestation())}[/]", soft_wrap=True)
    if not rows:
        console.print(f"{subject.upper()} has no signature.")
        raise typer.Exit(1)


@handle_errors
def lock(subject: Optional[str] = typer.Argument(None, help="Subject id (omit with --study)."),
         form: Optional[str] = typer.Option(None, "--form", help="Lock one form (default: the whole patient)."),
         visit: Optional[str] = VisitOption, instance: Optional[int] = InstanceOption,
         whole_study: bool = typer.Option(False, "--study", help="Lock the whole study (database lock)."),
         db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Lock a form, a patient or the study: no change is accepted until unlocked."""
    from sarcotrial.services import review
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        what = review.lock(study, actor(user), subject_id=subject, form_id=form, visit=visit, instance=instance,
                           whole_study=whole_study)
    console.print(f"Locked {what}")


@handle_errors
def unlock(subject: Optional[str] = typer.Argument(None, help="Subject id (omit with --study)."),
           form: Optional[str] = typer.Option(None, "--form"), visit: Optional[str] = VisitOption,
           instance: Optional[int] = InstanceOption,
           whole_study: bool = typer.Option(False, "--study", help="Lift the database lock."),
           reason: str = typer.Option(..., "--reason", help="Why the data must change again (audited)."),
           db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Lift a lock, with a reason."""
    from sarcotrial.services import review
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        what = review.unlock(study, actor(user), reason, subject_id=subject, form_id=form, visit=visit,
                             instance=instance, whole_study=whole_study)
    console.print(f"Unlocked {what}")


# --------------------------------------------------------------------------- safety and consent
@handle_errors
def sae(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Serious adverse events and their reporting clock (overdue until reported and signed). Exit 1 if none."""
    from sarcotrial.services import safety, shapes
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = safety.serious_events(study, actor(user))
        hours = study.protocol.safety.report_within_hours if study.protocol.safety else None
    if as_json:
        print_json(shapes.sae_json(hours, rows))
    else:
        from rich import box

        table = Table("subject", "event", "aware (UTC)", "reported", "status", box=box.SIMPLE_HEAD,
                      title=f"Serious adverse events: reported within {hours} h of awareness, and signed")
        moment = lambda v: f"{v:%Y-%m-%d %H:%M}" if v else ""  # noqa: E731
        for e in rows:
            style = {"overdue": "bold red", "open": "yellow", "reported late": "magenta"}.get(e.status, "green")
            note = "" if e.signed else ", not signed"
            table.add_row(e.subject, f"{e.term} G{e.grade}", moment(e.aware_at), moment(e.reported_at),
                          f"[{style}]{e.status}[/]{note}")
        console.print(table if rows else "No serious adverse event is recorded.")
    if not rows:
        raise typer.Exit(1)


@handle_errors
def reconsent(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Patients whose latest consent is to an older version of the consent document. Exit 1 if none."""
    from sarcotrial.services import pathway, shapes
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = pathway.reconsent_due(study, actor(user))
    if as_json:
        print_json(shapes.reconsent_json(rows))
    else:
        for r in rows:
            signed = f"version {r.signed_version} on {r.signed_on}" if r.signed_version else "no consent form"
            console.print(f"{r.subject}: signed {signed}; current document {r.current_version}")
        if not rows:
            console.print("Every patient followed has consented to the current consent document.")
    if not rows:
        raise typer.Exit(1)
