"""``sarcotrial dvh``: dose-volume histograms of an RT Structure Set on an RT Dose.

Prints a readable table, or with ``--json`` one JSON list: an object per structure (volume,
min, mean, max, D98, D95, D50, D2, the end cap used, and the percentage outside the dose grid
where there is one) and ``{"name": ..., "skipped": reason}`` for structures without a volume;
when a file departs from the standard (written without the DICOM preamble, a value pydicom finds
invalid), every object also carries ``file_notes``, one line per note naming its file, which are
printed as warnings on the error stream too.
Problems with the files' consistency (summation type, contours outside the grid, ...) are
printed as warnings on the error stream, so the JSON stays one list. Files that cannot give any
DVH (different frames of reference, dose units not GY, a dose type not to report) are refused
with one error naming every such problem once (exit 2).

The command answers at once: at module level only Typer and the command line's common helpers
are imported; the DICOM reader, the DVH engine (numpy) and Rich's tables when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sarcotrial.cli.common import JsonOption, console, err_console, handle_errors, print_json
from sarcotrial.errors import InvalidValue

PROGRESS_FROM = 4  # structures: below this, a progress bar is only noise


@handle_errors
def dvh(rtstruct: Path = typer.Argument(..., help="The RT Structure Set (RTSTRUCT) file."),
        rtdose: Path = typer.Argument(..., help="The RT Dose (RTDOSE) file."),
        structure: Optional[str] = typer.Option(None, "--structure", help="One structure, or a derived one such as "
                                                "'PTV1 outside PTV2' (default: every structure)."),
        end_cap: str = typer.Option("none", "--end-cap", help="none: the structure ends at its first and last contour "
                                    "planes (as most planning systems); half-slice: it extends half a slice beyond "
                                    "them (as the Nelms analytical DVHs)."),
        as_json: bool = JsonOption) -> None:
    """DVH statistics of every structure (or one) on a dose grid: volume, min, mean, max, D98, D95, D50, D2."""
    from rich.markup import escape

    from sarcotrial.radiotherapy.dicomrt import check_consistency, read_rtdose, read_rtstruct
    from sarcotrial.radiotherapy.dvh.engine import END_CAPS, compute_dvhs, refuse_unusable

    cap = end_cap.strip().lower()
    if cap not in END_CAPS:
        raise InvalidValue("end_cap", f"must be one of {', '.join(END_CAPS)}", end_cap)
    structure_set = read_rtstruct(rtstruct)
    dose = read_rtdose(rtdose)
    # how the files depart from the standard (no preamble, a value pydicom finds invalid): said before anything
    # else, also before a refusal, one warning line each
    notes = [*structure_set.notes, *dose.notes]
    for note in notes:
        err_console.print(f"[yellow]warning:[/] {escape(note)}", soft_wrap=True)
    # what makes any DVH impossible is refused first, once, as one error; check_consistency words some
    # of the same problems as warnings, which would repeat them
    refuse_unusable(structure_set, dose)
    for problem in check_consistency(structure_set, dose):
        err_console.print(f"[yellow]warning:[/] {escape(problem)}", soft_wrap=True)
    names = [structure] if structure else None
    count = 1 if structure else len(structure_set.structures)
    if as_json or count < PROGRESS_FROM:
        result = compute_dvhs(structure_set, dose, names, end_cap=cap)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("DVH"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("", total=count)
            result = compute_dvhs(structure_set, dose, names, end_cap=cap,
                                  progress=lambda label: bar.update(task, advance=1, description=escape(label)))
    if as_json:
        print_json([{**row, "file_notes": notes} for row in result.as_list()] if notes else result.as_list())
        return
    from rich.table import Table

    rows = [r for r in result.as_list() if "skipped" not in r]
    outside = any(r.get("outside_grid_percent") for r in rows)
    table = Table(title=f"{escape(structure_set.file.name)} on {escape(dose.file.name)}", pad_edge=False)
    widest = max((len(r["name"]) for r in rows), default=9)
    # on a narrow terminal the names fold, never the numbers
    table.add_column("structure", overflow="fold", min_width=min(widest, 10))
    headers = ["\ncc", "min\nGy", "mean\nGy", "max\nGy", "D98\nGy", "D95\nGy", "D50\nGy", "D2\nGy"] \
        + (["outside\ngrid"] if outside else [])
    lines = []
    for row in rows:
        cells = [f"{row['volume_cc']:.2f}"] + [f"{row[k]:.2f}" for k in ("min_gy", "mean_gy", "max_gy", "d98_gy", "d95_gy",
                                                                          "d50_gy", "d2_gy")]
        if outside:
            cells.append(f"{row['outside_grid_percent']:.1f} %" if row.get("outside_grid_percent") else "")
        lines.append((escape(row["name"]), cells))
    for i, header in enumerate(headers):
        table.add_column(header, justify="right", no_wrap=True, min_width=max((len(c[i]) for _, c in lines), default=4))
    for name, cells in lines:
        table.add_row(name, *cells)
    if rows:
        console.print(table)
    for name, reason in result.skipped.items():
        console.print(f"skipped {escape(name)}: {escape(reason)}", soft_wrap=True)
    note = "; doses exclude the part of a structure outside the dose grid" if outside else ""
    console.print(f"end cap: {cap}{note}")
