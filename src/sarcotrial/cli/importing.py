"""``sarcotrial import redcap``: an earlier REDCap database into the study, after a validation report.

The report is printed one problem a line (``row N, record R, field F: value V: problem``), wrapped at
the terminal's width with nothing cut (``--report FILE`` writes the same problems as CSV), then one
line saying what was imported, or why nothing was and what to do about it.

Exit status: 0 imported; 1 nothing imported because of problems (the report names each); 2 invalid
arguments (a file missing, unreadable or not UTF-8, an unreadable mapping or one naming no field).
"""

from __future__ import annotations

import textwrap
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
        if as_json or not _worth_a_bar(plan):
            result = write_plan(study, who, plan, accept_partial=accept_partial)
        else:
            result = _with_progress(study, who, plan, accept_partial)
    if report is not None:
        write_report(result.problems, report)
    if as_json:
        print_json({**result.as_dict(), "records_sha256": plan.records.sha256})
    else:
        _print(result, plan, report, accept_partial)
    if not result.written:
        raise typer.Exit(1)


def _worth_a_bar(plan) -> bool:
    """A progress bar on a terminal only, and only when some record is to be written (a bar drawn on a pipe,
    or for nothing, leaves an empty line before the report)."""
    if not console.is_terminal or plan.fatal:
        return False
    return any(p.record not in plan.bad_records for p in plan.patients)


def _with_progress(study, who, plan, accept_partial: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sarcotrial.services.importing import write_plan

    with Progress(TextColumn("Importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=max(1, len(plan.patients)))

        def progress(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=max(1, total), description=message)

        return write_plan(study, who, plan, accept_partial=accept_partial, progress=progress)


def problem_line(p) -> str:
    """One problem of the report as one line: ``row N, record R, field F: value V: problem`` (the parts it has;
    the value is left out where the problem already quotes it)."""
    where, _, line = p.row.rpartition(":")
    parts = [f"{where} row {line}" if where else f"row {p.row}"]
    if p.record:
        parts.append(f"record {p.record}")
    if p.field:
        parts.append(f"field {p.field}")
    text = ", ".join(parts)
    if p.value and p.value not in p.problem:
        text += f": value {p.value}"
    return f"{text}: {p.problem}"


def _say(text: str) -> None:
    """A line of output wrapped at the terminal's width, never cut (a long value stays whole)."""
    width = max(40, console.width)
    for line in textwrap.wrap(text, width, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _holding_columns(problems) -> list[str]:
    """The columns whose problem holds back every record that fills them (not one record's, not the file's)."""
    return list(dict.fromkeys(p.field for p in problems if p.record is None and not p.whole and p.field))


def _print(result, plan, report: Optional[Path], accept_partial: bool = False) -> None:
    problems = result.problems
    if problems:
        _say(f"Validation report: {len(problems)} problem(s)")
        for p in problems[:SHOWN]:
            _say(problem_line(p))
        if len(problems) > SHOWN:
            _say(f"... and {len(problems) - SHOWN} more" + (f" (all in {report})" if report else
                                                             " (give --report FILE for all of them)"))
    source = f"{plan.records.name} (sha256 {plan.records.sha256[:12]}...)"
    if result.written:
        held = f"; {len(result.skipped)} held back by problems" if result.skipped else ""
        _say(f"Imported {len(result.imported)} records ({result.values} values) from {source}{held}.")
        if result.imported:
            pairs = ", ".join(f"{r} -> {s}" for r, s in list(result.imported.items())[:10])
            more = f", ... ({len(result.imported)} in all)" if len(result.imported) > 10 else ""
            _say(f"Subject ids: {pairs}{more}")
        return
    _say(_nothing_imported(result, plan, source, accept_partial))


def _nothing_imported(result, plan, source: str, accept_partial: bool) -> str:
    """Why nothing was imported, and what to do: fix the files' problems; else give --accept-partial; else
    (given already: every record has a problem) ignore the columns that hold every record back."""
    problems = result.problems
    held = {p.record for p in problems if p.record is not None} | set(plan.bad_records)
    total = len(plan.patients)
    why = f"{len(problems)} problem(s)" + (f" holding back {len(held)} of {total} record(s)" if held else "")
    columns = _holding_columns(problems)
    ignore = ""
    if columns:
        names = ", ".join(columns)
        which = f"Column {names} holds back every record that fills it" if len(columns) == 1 else \
            f"Columns {names} hold back every record that fills them"
        ignore = (f" {which}: to import without {'it' if len(columns) == 1 else 'them'}, give --mapping FILE "
                  f"with 'fields:' and '{columns[0]}: ignore'" + (" (a line for each)" if len(columns) > 1 else "")
                  + ".")
    if plan.fatal:
        return f"Nothing imported from {source}: {why}; the files' problems stop the whole import, --accept-partial or not: fix them."
    if accept_partial or (total and len(held) >= total):
        every = "every record has a problem" if total else "the file holds no record"
        return (f"Nothing imported from {source}{', with --accept-partial too' if accept_partial else ''}: {why}; "
                f"{every}, so none could be imported{'' if accept_partial else ' (--accept-partial would not help)'}."
                f"{ignore}")
    return (f"Nothing imported from {source}: {why}; fix them, or give --accept-partial to import the records "
            f"without problems.{ignore}")


# the DICOM-RT import is a module of its own (it reads files with pydicom, imported when it runs)
from sarcotrial.cli.importing_rt import import_dicom_rt  # noqa: E402

import_app.command("dicom-rt")(import_dicom_rt)
