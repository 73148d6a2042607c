"""``sarcotrial rt``: the fraction calendar and a patient's delivery log."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from sarcotrial.cli.common import DbOption, JsonOption, console, handle_errors, parse_date, print_json
from sarcotrial.errors import InvalidValue

rt_app = typer.Typer(help="Radiotherapy: the fraction calendar, a patient's delivery log and its deviations.",
                     no_args_is_help=True)


@rt_app.command("schedule")
@handle_errors
def schedule(start: str = typer.Option(..., "--start", help="First day wanted, YYYY-MM-DD."),
             fractions: str = typer.Option("25", "--fractions", help="Number of fractions."),
             calendar: str = typer.Option("IT", "--calendar", help="Public holidays: IT (Italy) or IT-MI (Italy, Milan)."),
             closures: Optional[Path] = typer.Option(None, "--closures", help="A file of department closures: one date or date range (YYYY-MM-DD..YYYY-MM-DD) a line."),
             as_json: bool = JsonOption) -> None:
    """Treatment dates Monday to Friday, skipping public holidays and department closures."""
    from sarcotrial.radiotherapy.calendar import read_closures, treatment_dates

    try:
        count = int(fractions)
    except ValueError:
        raise InvalidValue("fractions", "must be a whole number", fractions) from None
    closed = read_closures(closures) if closures else frozenset()
    plan = treatment_dates(parse_date(start, "start"), count, calendar.upper(), closed)
    data = plan.as_dict()
    if as_json:
        print_json(data)
        return
    if plan.moved_reason:
        console.print(f"[yellow]Start moved[/] to {plan.dates[0]:%a %d %b %Y}: {plan.moved_reason}")
    table = Table("fraction", "date", "day")
    for number, day in enumerate(plan.dates, start=1):
        table.add_row(str(number), day.isoformat(), f"{day:%A}")
    console.print(table)
    console.print(f"Last fraction {plan.last:%a %d %b %Y}; overall treatment time {plan.overall_treatment_days} days "
                  f"(first to last fraction, both counted)")


@rt_app.command("delivery")
@handle_errors
def delivery(subject: str = typer.Argument(..., help="Subject id."), db: Optional[str] = DbOption,
             as_json: bool = JsonOption) -> None:
    """A patient's delivery log: fractions, overall treatment time, dose per volume, deviations."""
    from sarcotrial.services import radiotherapy
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        summary = radiotherapy.delivery(study, subject)
    if summary is None:
        raise InvalidValue("patient", f"{subject.upper()} has no radiotherapy course recorded", show_value=False)
    data = summary.as_dict()
    if as_json:
        print_json({"subject_id": subject.upper(), **data})
        return
    console.print(f"{subject.upper()}: {data['delivered']} of {data['planned_fractions']} fractions delivered "
                  f"({data['missed']} missed, {data['rescheduled']} rescheduled), {data['first_fraction']} to {data['last_fraction']}")
    if data["overall_treatment_days"] is not None:
        console.print(f"Overall treatment time {data['overall_treatment_days']} days (planned "
                      f"{data['planned_overall_treatment_days']}, {data['prolongation_days']:+d})")
    for volume, prescribed in data["prescribed_dose_gy"].items():
        console.print(f"  {volume}: {data['delivered_dose_gy'].get(volume, 0):g} of {prescribed:g} Gy")
    for d in data["deviations"]:
        console.print(f"  [bold red]{d['severity']} deviation[/] ({d['category']}): {d['description']}")
    if not data["deviations"]:
        console.print("  no deviation" + ("" if data["complete"] else " so far (course not complete)"))
