"""``sarcotrial import dicom-rt DIR``: a folder of DICOM-RT plans judged and stored on the study's patients.

The work is :mod:`sarcotrial.services.dicom_import`'s (discovery, grouping by reference, matching by
hospital number or a mapping file, plan QA and storing); this module reads the options, draws the
progress bar and prints the summary: one line per plan (its files, its patient, its verdict or its
problem), then the counts. The mapping file's forms are given by ``--mapping --help`` (``MAPPING_HELP``)
and in full in the service module's docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from sarcotrial.cli.common import DbOption, JsonOption, UserOption, actor, console, handle_errors, print_json
from sarcotrial.report.words import count

_COLOURS = {"per protocol": "green", "minor deviation": "yellow", "major deviation": "red"}
#: how a plan's patient was found (PlanOutcome.matched_by), as the summary line says it
_MATCHED_BY = {"hospital number": "by hospital number", "mapping file (PatientID)": "by the mapping file",
               "mapping file (StudyInstanceUID)": "by the mapping file's StudyInstanceUID"}
MAPPING_HELP = ("Mapping file, CSV or YAML (by extension), UTF-8: DICOM PatientID -> subject id. "
                "CSV: the header patient_id,subject_id, then rows such as 123456,SPR-005. "
                "YAML: lines such as 123456: SPR-005. "
                "A StudyInstanceUID may be mapped too: a CSV column study_instance_uid; in YAML, the keys "
                "patient_id: and study_instance_uid:, each holding such lines. "
                "Without it, the PatientID is looked up as the hospital number.")


@handle_errors
def import_dicom_rt(folder: Path = typer.Argument(..., metavar="DIR", help="Folder of DICOM-RT files (any nesting, any file names)."),
                    mapping: Optional[Path] = typer.Option(None, "--mapping", help=MAPPING_HELP),
                    aliases: Optional[Path] = typer.Option(None, "--aliases", help="YAML: protocol volume -> structure names."),
                    end_cap: str = typer.Option("none", "--end-cap", help="none or half-slice."),
                    db: Optional[str] = DbOption, user: Optional[str] = UserOption,
                    as_json: bool = JsonOption) -> None:
    """Import a folder of plans: each RTDOSE with its RTPLAN and RTSTRUCT (found by their references), matched to a patient by hospital number or --mapping, judged by plan QA and stored on the patient's radiotherapy course.

    Exit status: 0 every plan matched and stored (a deviation is a verdict, not a failure); 1 a plan unmatched or failed (the others stored all the same), or no plan found; 2 invalid arguments (no such folder, a bad mapping or alias file), nothing written.

    A plan stored before (the same result for the same plan and dose) is recognised and not stored again. Files that are not DICOM, and DICOM that is not RT (CT images), are skipped.
    """  # one line per paragraph: the help folds it to the terminal's width
    from sarcotrial.radiotherapy.planqa import load_aliases
    from sarcotrial.services import dicom_import
    from sarcotrial.services.study import StudyDB

    folder = dicom_import.check_arguments(folder, end_cap)
    table = load_aliases(aliases) if aliases is not None else None
    table_of_names = dicom_import.load_mapping(mapping) if mapping is not None else None
    with StudyDB.open(db) as study:
        who = actor(user)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                      transient=True, disable=as_json) as bar:
            tasks: dict[str, object] = {}

            def progress(phase: str, done: int, total: int, label: str) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done, description=f"{phase} {label}"[:60])

            summary = dicom_import.import_plans(study, who, folder, mapping=table_of_names, aliases=table,
                                                end_cap=end_cap, progress=progress)
    if as_json:
        print_json(summary.as_dict())
    else:
        _print_summary(summary)
    if summary.exit_status:
        raise typer.Exit(summary.exit_status)


def _print_summary(summary) -> None:
    from rich.markup import escape

    for plan in summary.plans:
        files = ", ".join(plan.files.values())
        how = _MATCHED_BY.get(plan.matched_by or "", f"by {plan.matched_by}")
        who = (f"{plan.subject_id} (PatientID {plan.patient_id or '(none)'}, {how})" if plan.subject_id
               else f"PatientID {plan.patient_id or '(none)'}")
        if plan.ok:
            colour = _COLOURS.get(plan.verdict or "", "white")
            said = "stored" if plan.status == "stored" else f"already stored (record {plan.stored_id}), not stored again"
            line = f"[bold {colour}]{escape(plan.verdict or '')}[/], {said}"
        else:
            line = f"[bold red]{plan.status}[/]: {escape(plan.problem or '')}"
        console.print(f"{escape(files)}: {escape(who)}: {line}", soft_wrap=True)
        for note in plan.notes:
            console.print(f"  [yellow]note[/]: {escape(note)}", soft_wrap=True)
    if summary.skipped:
        reasons: dict[str, int] = {}
        for s in summary.skipped:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        console.print(f"Skipped {count(len(summary.skipped), 'file')}: "
                      + "; ".join(f"{n} {escape(reason)}" for reason, n in sorted(reasons.items())), soft_wrap=True)
    data = summary.as_dict()
    if not summary.plans:
        console.print(f"[bold red]No plan found[/] in {escape(str(summary.folder))} (no RTDOSE or RTPLAN)")
        return
    console.print(f"{count(len(summary.plans), 'plan')}: {data['matched']} matched ({data['stored']} stored, "
                  f"{data['already_stored']} already stored), {data['unmatched']} unmatched, {data['failed']} failed")
