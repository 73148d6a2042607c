"""``sarcotrial export FORMAT --out DIR``: the study's data in the formats other systems read."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sarcotrial.cli.common import DbOption, JsonOption, UserOption, actor, console, fail, handle_errors, print_json
from sarcotrial.exchange import FORMATS

export_app = typer.Typer(help="Export the study's data: tables (CSV, Parquet), REDCap, CDISC ODM and SDTM, FHIR. "
                              "Default level pseudonymised; every export is audited.", no_args_is_help=True)

OutOption = typer.Option(..., "--out", help="Folder to write (created if missing; refused if not empty unless --force).")
FormsOption = typer.Option(None, "--forms", help="Only these forms, comma-separated form ids (default: every form).")
IdentifiedOption = typer.Option(False, "--identified", help="Add names, dates of birth and hospital numbers "
                                "(needs the full export right).")
DeidentifiedOption = typer.Option(False, "--deidentified", help="Shift each patient's dates by an offset of their "
                                  "own, give ages over 89 as 90, drop free text.")
ForceOption = typer.Option(False, "--force", help="Replace an earlier export in the folder.")


def _level(identified: bool, deidentified: bool) -> str:
    if identified and deidentified:
        fail("--identified and --deidentified: give one level at most")
    return "identified" if identified else "deidentified" if deidentified else "pseudonymised"


def _run(fmt: str, out: Path, forms: Optional[str], identified: bool, deidentified: bool, force: bool,
         db: Optional[str], user: Optional[str], intervals: bool = False, as_json: bool = False) -> None:
    from sarcotrial.exchange import run_export
    from sarcotrial.services.study import StudyDB

    level = _level(identified, deidentified)
    wanted = forms.split(",") if forms is not None else None
    with StudyDB.open(db) as study:
        with console.status(f"Exporting ({fmt}, {level})", spinner="line") as status:
            result = run_export(study, actor(user), fmt, out, forms=wanted, level=level, intervals=intervals,
                                force=force, progress=lambda message: status.update(f"Exporting ({fmt}): {message}"))
    m = result.manifest
    if as_json:
        print_json(m)
        return
    from rich.markup import escape

    from sarcotrial.report.words import count

    console.print(f"Exported {fmt} ({m['level']}): {count(len(m['files']), 'file')} in {escape(str(out))}", soft_wrap=True)
    numbers = {k: v for k, v in m["counts"].items() if not isinstance(v, (list, tuple))}
    console.print("  " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in numbers.items()))
    for k, v in m["counts"].items():
        if isinstance(v, (list, tuple)):
            console.print(f"  {k.replace('_', ' ')}: {', '.join(map(str, v))}")
    if "identifiers" in m:
        console.print(f"  identifiers {escape(m['identifiers'])}", soft_wrap=True)
    console.print(f"  checksums: {escape(str(out / 'manifest.json'))}", soft_wrap=True)


def _command(fmt: str, description: str):
    if fmt == "tables":
        @handle_errors
        def command(out: Path = OutOption, forms: Optional[str] = FormsOption, identified: bool = IdentifiedOption,
                    deidentified: bool = DeidentifiedOption,
                    intervals: bool = typer.Option(False, "--intervals", help="With --deidentified: dates as days "
                                                   "from enrolment (a patient never enrolled: from the first "
                                                   "record) instead of shifted dates."),
                    force: bool = ForceOption, db: Optional[str] = DbOption, user: Optional[str] = UserOption,
                    as_json: bool = JsonOption) -> None:
            _run(fmt, out, forms, identified, deidentified, force, db, user, intervals, as_json)
    else:
        @handle_errors
        def command(out: Path = OutOption, forms: Optional[str] = FormsOption, identified: bool = IdentifiedOption,
                    deidentified: bool = DeidentifiedOption, force: bool = ForceOption, db: Optional[str] = DbOption,
                    user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
            _run(fmt, out, forms, identified, deidentified, force, db, user, False, as_json)
    command.__doc__ = f"Export {description}."
    command.__name__ = f"export_{fmt}"
    return command


for _fmt, (_module, _description) in FORMATS.items():
    export_app.command(_fmt)(_command(_fmt, _description))


@export_app.command("log")
@handle_errors
def export_log(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The study's exports, newest first, with who made each."""
    from rich.table import Table

    from sarcotrial.services import exchange
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = exchange.exports(study, actor(user))
    if as_json:
        print_json(rows)
        if not rows:
            raise typer.Exit(1)
        return
    if not rows:
        console.print("No export yet.")
        raise typer.Exit(1)
    from rich import box

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header, justify in (("#", "right"), ("when (UTC)", "left"), ("by", "left"), ("format", "left"),
                            ("level", "left"), ("patients", "right"), ("forms", "right")):
        table.add_column(header, justify=justify, no_wrap=header != "by")
    for r in rows:
        table.add_row(str(r["id"]), r["at"].strftime("%Y-%m-%d %H:%M"), r["by"] or "", r["format"], r["level"],
                      str(r["patients"]), str(len(r["forms"])))
    console.print(table)


@export_app.command("date-offset")
@handle_errors
def export_date_offset(subject: str = typer.Argument(..., help="Subject id."), db: Optional[str] = DbOption,
                       user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The days a de-identified export added to a patient's dates (subtract them to reverse); needs the key
    and the full export right, and is recorded."""
    from sarcotrial.services import exchange
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        days = exchange.date_offset(study, actor(user), subject)
    if as_json:
        print_json({"subject": subject.strip().upper(), "offset_days": days})
        return
    console.print(f"{subject}: dates shifted by {days:+d} days in de-identified exports")
