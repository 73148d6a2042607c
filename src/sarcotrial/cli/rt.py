"""``sarcotrial rt``: the fraction calendar, a patient's delivery log and further courses."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from sarcotrial.cli.common import (DbOption, JsonOption, UserOption, actor, console, handle_errors, parse_date,
                                   print_json)
from sarcotrial.report.words import count
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
             user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """A patient's delivery log: fractions, overall treatment time, dose per volume, deviations."""
    from sarcotrial.services import radiotherapy
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        summary = radiotherapy.delivery(study, subject, actor(user))
    if summary is None:
        raise InvalidValue("patient", f"{subject.upper()} has no radiotherapy course recorded", show_value=False)
    from sarcotrial.services import shapes

    data = summary.as_dict()
    if as_json:
        print_json(shapes.rt_delivery_json(subject, summary))
        return
    span = (f"{data['first_fraction']} to {data['last_fraction']}" if data["first_fraction"]
            else "no fraction delivered yet")
    console.print(f"{subject.upper()}: {data['delivered']} of {data['planned_fractions']} fractions delivered "
                  f"({data['missed']} missed, {data['rescheduled']} rescheduled), {span}")
    planned = data["planned_overall_treatment_days"]
    if data["overall_treatment_days"] is not None and data["complete"] and data["prolongation_days"] is not None:
        console.print(f"Overall treatment time {data['overall_treatment_days']} days (planned {planned}, "
                      f"{data['prolongation_days']:+d})")
    elif data["overall_treatment_days"] is not None:  # a prolongation is judged only once the course is complete
        console.print(f"Overall treatment time so far {count(data['overall_treatment_days'], 'day')}"
                      + (f" (planned {planned} for the whole course)" if planned is not None else ""))
    for volume, prescribed in data["prescribed_dose_gy"].items():
        console.print(f"  {volume}: {data['delivered_dose_gy'].get(volume, 0):g} of {prescribed:g} Gy")
    for d in data["deviations"]:
        console.print(f"  [bold red]{d['severity']} deviation[/] ({d['category']}): {d['description']}")
    if not data["deviations"]:
        console.print("  no deviation" + ("" if data["complete"] else " so far (course not complete)"))


@handle_errors
def plan_qa(protocol: str = typer.Option("sprint", "--protocol", help="A shipped protocol name or a protocol file (with --db: the study's own)."),
            rtstruct: Path = typer.Option(..., "--rtstruct", help="RT Structure Set (DICOM)."),
            rtdose: Path = typer.Option(..., "--rtdose", help="RT Dose (DICOM)."),
            rtplan: Optional[Path] = typer.Option(None, "--rtplan", help="RT Plan (DICOM): its prescription is checked too."),
            aliases: Optional[Path] = typer.Option(None, "--aliases", help="YAML: protocol volume -> structure names."),
            end_cap: str = typer.Option("none", "--end-cap", help="none or half-slice."),
            db: Optional[str] = DbOption, patient: Optional[str] = typer.Option(None, "--patient", help="Store the verdicts on this patient's RT course."),
            user: Optional[str] = UserOption,
            html_out: Optional[Path] = typer.Option(None, "--html", help="Write an HTML report with the DVH plot."),
            as_json: bool = JsonOption) -> None:
    """Judge a DICOM-RT plan against the protocol's objectives: per protocol, minor or major deviation.

    Exit status: 0 per protocol or a minor deviation; 1 a major deviation (a failed check: the table is printed and, with --patient, the verdict stored all the same); 2 invalid input, nothing stored.

    With --patient the verdict is stored once: the same result for the same plan and dose run again is answered from the earlier record, not stored twice.
    """  # one line per paragraph: the help folds it to the terminal's width
    from rich.markup import escape

    from sarcotrial.protocol import load_protocol
    from sarcotrial.radiotherapy.planqa import index_text, load_aliases, unit_text
    from sarcotrial.radiotherapy.planqa import plan_qa as run_plan_qa
    from sarcotrial.services.study import StudyDB

    if db is not None and patient is None:
        raise InvalidValue("db", "--db needs --patient (whose radiotherapy course the verdicts belong to)", show_value=False)
    if end_cap not in ("none", "half-slice"):
        raise InvalidValue("end_cap", "must be none or half-slice", end_cap)
    study = StudyDB.open(db) if patient else None
    try:
        p = study.protocol if study else load_protocol(protocol)
        table = load_aliases(aliases)
        with Progress(TextColumn("DVH {task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                      transient=True, disable=as_json) as bar:
            task = bar.add_task("", total=len(p.treatment.radiotherapy.objectives) + 6)
            qa = run_plan_qa(p, rtstruct, rtdose, rtplan, aliases=table, end_cap=end_cap,
                             progress=lambda name: bar.update(task, advance=1, description=name))
        stored = None
        if study is not None:
            from sarcotrial.services.planqa import result_data, store_plan_qa

            files = {"rtstruct": rtstruct.name, "rtdose": rtdose.name, **({"rtplan": rtplan.name} if rtplan else {})}
            stored = store_plan_qa(study, actor(user), patient, qa, results=result_data(qa, files))
    finally:
        if study is not None:
            study.close()
    prescriptions = {lvl.target: lvl.total_dose_gy for lvl in p.treatment.radiotherapy.dose_levels}
    prescriptions.update({lvl.ptv: lvl.total_dose_gy for lvl in p.treatment.radiotherapy.dose_levels})
    if html_out is not None:
        from sarcotrial.radiotherapy.planqa_report import write_html

        write_html(qa, prescriptions, html_out, f"Plan QA: {rtplan.name if rtplan else rtdose.name}")
    failed = qa.verdict == "major deviation"  # a failed check: exit 1, after printing and storing
    if as_json:
        print_json({**qa.as_dict(), "stored": stored is not None,
                    "already_stored": bool(stored and stored.already_stored),
                    "stored_id": stored.stored_id if stored else None})
        if failed:
            raise typer.Exit(1)
        return
    colour = {"per protocol": "green", "minor deviation": "yellow", "major deviation": "red"}.get(qa.verdict, "white")
    console.print(f"{qa.protocol}: plan verdict [bold {colour}]{qa.verdict.upper()}[/] (end cap: {qa.end_cap})")
    for note in qa.file_notes:  # e.g. a file without the DICOM preamble, read as a bare data set
        console.print(f"  [yellow]warning[/]: {escape(note)}", soft_wrap=True)
    for problem in qa.consistency:
        console.print(f"  [red]file problem[/]: {escape(problem)}")
    # each bound and value with its unit (% of volume, % of the prescription, Gy, cc), as the HTML report;
    # at 80 columns the names and verdicts fold, never a number from its unit
    from rich import box

    rows = []
    for o in qa.objectives:
        unit, sign = unit_text(o.unit), {"<=": "\u2264", ">=": "\u2265"}.get(o.comparator, o.comparator)
        rows.append((escape(o.structure), escape(o.metric), f"{sign} {o.per_protocol:g} {unit}",
                     f"{sign} {o.minor_deviation:g} {unit}", "-" if o.value is None else f"{o.value:.2f} {unit}",
                     o.verdict if o.value is not None else f"{o.verdict}: {escape(o.note)}"))
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False)
    t.add_column("structure", overflow="fold", min_width=6, max_width=9)
    for i, header in enumerate(("metric", "per protocol", "minor", "plan"), start=1):
        width = max([len(header)] + [len(r[i]) for r in rows])  # a number never folds from its unit
        t.add_column(header, justify="left" if i == 1 else "right", no_wrap=True, width=width)
    t.add_column("verdict", min_width=9)
    for row in rows:
        t.add_row(*row)
    console.print(t)
    console.print("  Rx: the prescription dose of the structure's dose level", style="dim")
    for ptv, v in qa.indices.items():
        paddick, icru = f"  {ptv}: Paddick CI {index_text(v, 'paddick_ci')}", f"ICRU 83 HI {index_text(v, 'icru83_hi')}"
        if len(paddick) + len(icru) + 2 <= console.width:
            console.print(f"{paddick}, {icru}")
        else:  # each index on a line of its own rather than a name cut across two
            console.print(f"{paddick},")
            console.print(f"  {' ' * len(ptv)}  {icru}")
    if stored is not None and stored.already_stored:
        console.print(f"Already stored on {stored.subject_id}'s radiotherapy course (record {stored.stored_id}, "
                      f"evaluated {stored.evaluated_on:%Y-%m-%d}): the same result for this plan and dose; not stored again")
    elif stored is not None:
        console.print(f"Stored on {stored.subject_id}'s radiotherapy course (record {stored.stored_id})"
                      + ("; recorded as a major protocol deviation" if failed else ""))
    if html_out is not None:
        console.print(f"HTML report: {html_out}")
    if failed:
        raise typer.Exit(1)


def _dose(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g} {unit}"


@rt_app.command("courses")
@handle_errors
def courses(subject: str = typer.Argument(..., help="Subject id."), db: Optional[str] = DbOption,
            user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """A patient's further radiotherapy courses: modality, prescription (Gy, or Gy(RBE) with the RBE model), EQD2 and BED (for carbon ions why there is none), planned calendar and delivery log."""
    import datetime as dt

    from sarcotrial.services import rt_courses
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = rt_courses.courses(study, subject, actor(user))
    if as_json:
        print_json({"subject_id": subject.upper(), "courses": [c.as_dict() for c in rows]})
        return
    console.print(f"{subject.upper()}: {count(len(rows), 'further radiotherapy course')}"
                  + ("" if rows else " recorded"))
    for course in rows:
        data = course.as_dict()
        what = ", ".join(x for x in (data["intent"], data["site"]) if x)
        console.print(f"[bold]Course {course.number}[/]" + (f" ({what})" if what else "") + f": {data['modality']}")
        if course.problem:
            console.print(f"  [red]cannot be planned[/]: {course.problem}")
            continue
        rx, bio, plan = data["prescription"], data["radiobiology"], data["planned"]
        unit = rx["unit"]
        noun = "implant" if data["modality"] in ("ldr_temporary", "ldr_permanent") else "fraction"
        line = f"  {_dose(rx['total_dose'], unit)} in {count(rx['fractions'] or 0, noun)}"
        if rx["dose_rate_gy_per_h"] is not None:
            line += f" at {rx['dose_rate_gy_per_h']:g} Gy/h"
        if rx["isotope"]:
            line += f" of {rx['isotope']}"
        if rx["dose_per_fraction"] is not None and (rx["fractions"] or 0) > 1:
            line += f" of {_dose(rx['dose_per_fraction'], unit)}"
        if rx["rbe_model"]:
            line += f", RBE: {rx['rbe_model']}"
        if rx["physical_dose_gy"] is not None:
            line += f" (physical {rx['physical_dose_gy']:g} Gy)"
        console.print(line)
        if bio["eqd2_refused"]:
            console.print(f"  {bio['eqd2_refused']}")
        elif bio["eqd2_gy"] is not None:
            duration = f", implant {bio['implant_duration_h']:g} h" if bio["implant_duration_h"] is not None else ""
            console.print(f"  EQD2 {bio['eqd2_gy']:.2f} Gy, BED {bio['bed_gy']:.2f} Gy ({bio['model']}{duration})")
        if plan["dates"]:
            days = [dt.date.fromisoformat(d) for d in plan["dates"]]
            if len(days) <= 8:  # an ablative course's few dates; a long course by its first and last day
                dates = ", ".join([f"{d:%a %d %b}" for d in days[:-1]] + [f"{days[-1]:%a %d %b %Y}"])
            else:
                dates = f"{days[0]:%a %d %b %Y} to {days[-1]:%a %d %b %Y}"
            console.print(f"  planned ({plan['schedule']}, {plan['calendar']} holidays): {dates}; "
                          f"overall time {count(plan['overall_treatment_days'], 'day')}", soft_wrap=True)
        delivery = data["delivery"]
        if delivery is None:
            continue
        span = (f"{delivery['first_fraction']} to {delivery['last_fraction']}" if delivery["first_fraction"]
                else "no fraction delivered yet")
        console.print(f"  delivered {delivery['delivered']} of {delivery['planned_fractions']} "
                      f"({delivery['missed']} missed, {delivery['rescheduled']} rescheduled), {span}")
        if delivery["overall_treatment_days"] is not None:
            if delivery["complete"]:
                console.print(f"  overall time {count(delivery['overall_treatment_days'], 'day')} (planned "
                              f"{plan['overall_treatment_days']}, {delivery['prolongation_days']:+d})")
            else:
                console.print(f"  overall time so far {count(delivery['overall_treatment_days'], 'day')}")
        for d in delivery["deviations"]:
            console.print(f"  [bold red]{d['severity']} deviation[/] ({d['category']}): {d['description']}")
        if not delivery["deviations"]:
            console.print("  no deviation" + ("" if delivery["complete"] else " so far (course not complete)"))
