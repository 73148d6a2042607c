"""``sarcotrial import redcap``: an earlier REDCap database into the study, after a validation report.

Exit status: 0 imported; 1 nothing imported because of problems (the report names each); 2 invalid
arguments (a file missing, unreadable or not UTF-8, an unreadable mapping).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sarcotrial.cli.common import DbOption, JsonOption, UserOption, actor, console, handle_errors, print_json

import_app = typer.Typer(help="Import data from other systems into the study; every import is audited.",
                         no_args_is_help=True)

#: the report printed on the terminal shows this many problems; --report FILE holds them all
SHOWN = 200


@import_app.callback()
def imports() -> None:
    """Import data from other systems into the study; every import is audited."""


@import_app.command("redcap")
@handle_errors
def import_redcap(
    dictionary: Path = typer.Option(..., "--dictionary", help="REDCap data dictionary (CSV)."),
    records: Path = typer.Option(..., "--records", help="REDCap records (CSV, raw codes)."),
    events: Optional[Path] = typer.Option(None, "--events", help="REDCap events (CSV) of a longitudinal project."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Their variable names, codes, events and data "
                                           "access groups -> the protocol's (YAML or CSV; docs/exchange.md)."),
    accept_partial: bool = typer.Option(False, "--accept-partial", help="Import the records without problems "
                                        "even when others have some (default: nothing is written)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the validation report to this CSV file "
                                          "(row, record, field, value, problem)."),
    db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption,
) -> None:
    """Import a REDCap project (dictionary, records, events) into the study: a validation report first;
    nothing written when a record has a problem, unless --accept-partial (then the good records only).

    Exit status: 0 imported; 1 nothing imported because of problems; 2 invalid arguments."""
    from sarcotrial.exchange.redcap_import import build_plan, write_report
    from sarcotrial.services.importing import write_plan
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        plan = build_plan(study.protocol, dictionary, records, events=events, mapping=mapping)
        who = actor(user)
        if as_json:
            result = write_plan(study, who, plan, accept_partial=accept_partial)
        else:
            result = _with_progress(study, who, plan, accept_partial)
    if report is not None:
        write_report(result.problems, report)
    if as_json:
        print_json({**result.as_dict(), "records_sha256": plan.records.sha256})
    else:
        _print(result, plan, report)
    if not result.written:
        raise typer.Exit(1)


def _with_progress(study, who, plan, accept_partial: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sarcotrial.services.importing import write_plan

    with Progress(TextColumn("Importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=max(1, len(plan.patients)))

        def progress(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=max(1, total), description=message)

        return write_plan(study, who, plan, accept_partial=accept_partial, progress=progress)


def _print(result, plan, report: Optional[Path]) -> None:
    from rich.table import Table

    problems = result.problems
    if problems:
        table = Table("row", "record", "field", "value", "problem", title="Validation report", title_justify="left",
                      show_lines=False, expand=False)
        for p in problems[:SHOWN]:
            value = p.value if p.value is None or len(p.value) <= 24 else p.value[:23] + "…"
            table.add_row(p.row, p.record or "", p.field or "", value or "", p.problem)
        table.columns[0].max_width = 14
        table.columns[1].max_width = 12
        table.columns[2].max_width = 20
        table.columns[3].max_width = 16
        table.columns[4].min_width = 24
        console.print(table)
        if len(problems) > SHOWN:
            console.print(f"... and {len(problems) - SHOWN} more" + (f" (all in {report})" if report else
                                                                     " (give --report FILE for all of them)"))
    source = f"{plan.records.name} (sha256 {plan.records.sha256[:12]}...)"
    if result.written:
        held = f"; {len(result.skipped)} held back by problems" if result.skipped else ""
        console.print(f"Imported {len(result.imported)} records ({result.values} values) from {source}{held}.")
        if result.imported:
            pairs = ", ".join(f"{r} -> {s}" for r, s in list(result.imported.items())[:10])
            more = f", ... ({len(result.imported)} in all)" if len(result.imported) > 10 else ""
            console.print(f"Subject ids: {pairs}{more}")
    else:
        count = len({p.record for p in problems if p.record is not None})
        why = f"{len(problems)} problem(s)" + (f" in {count} record(s)" if count else "")
        hint = "" if plan.fatal else "; fix them, or give --accept-partial to import the records without problems"
        console.print(f"Nothing imported from {source}: {why}{hint}.")
