"""``sarcotrial rules recist``: RECIST 1.1 response from a lesion document.

RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247): the rules live in
:mod:`sarcotrial.domain.recist`; this command only reads the document, passes the protocol
parameters (confirmation, minimum SD duration) and prints the answer, readable or as one JSON
object. A malformed document gets one line naming the field and the rule, exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import typer

from sarcotrial.cli.common import JsonOption, console, handle_errors, print_json


@handle_errors
def recist(file: Path = typer.Argument(..., help="JSON document: lesions and assessments (see docs/recist.md).",
                                       show_default=False),
           confirm: bool = typer.Option(False, "--confirm/--no-confirm",
                                        help="CR and PR need a confirming scan (RECIST 1.1 section 4.6.1)."),
           sd_min_days: int = typer.Option(42, "--sd-min-days", min=0,
                                           help="Minimum days from baseline for stable disease to count (protocol)."),
           confirm_min_days: int = typer.Option(28, "--confirm-min-days", min=0,
                                                help="Minimum days between a response and its confirmation."),
           as_json: bool = JsonOption) -> None:
    """RECIST 1.1 response per time point and best overall response."""
    import json

    from sarcotrial.domain.recist import best_overall_response, parse_recist_document, recist_timepoints
    from sarcotrial.errors import InvalidValue

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidValue("file", f"cannot read {file}: {exc.strerror or exc}", show_value=False) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValue("file", f"{file} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                           show_value=False) from None
    lesions, assessments = parse_recist_document(document)
    points = recist_timepoints(lesions, assessments)
    best = best_overall_response(points, confirmation=confirm, sd_min_days=sd_min_days,
                                 confirmation_min_days=confirm_min_days)
    if as_json:
        print_json({"timepoints": [tp.as_dict() for tp in points], "best_overall_response": best.as_dict()})
        return
    _print_readable(points, best, confirm, sd_min_days)


def _print_readable(points, best, confirm: bool, sd_min_days: int) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Column, Table

    def word(value) -> str:
        return "-" if value is None else str(value)

    new_words = {True: "yes", False: "no", "equivocal": "equivocal", None: "not assessed"}
    table = Table(Column("date", no_wrap=True), Column("sum mm", justify="right", no_wrap=True),
                  Column("target", no_wrap=True), Column("non-target", no_wrap=True), Column("new"),
                  Column("overall", no_wrap=True), box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for tp in points:
        sum_text = "-" if tp.sum_mm is None else f"{tp.sum_mm:g}"
        if tp.baseline:
            table.add_row(tp.date.isoformat(), sum_text, "baseline", "", "", "")
            continue
        overall = f"[bold]{tp.overall}[/]" + ("*" if tp.note else "")
        table.add_row(tp.date.isoformat(), sum_text, word(tp.target), word(tp.non_target),
                      new_words.get(tp.new_lesions, str(tp.new_lesions)), overall)
    console.print(table)
    for tp in points:
        if tp.note and not tp.baseline:
            console.print(f"* {tp.date.isoformat()}: {escape(tp.note)}")
    setting = "confirmation required" if confirm else "confirmation not required"
    text = f"Best overall response: [bold]{best.response}[/]"
    if best.date is not None:
        text += f" from {best.date.isoformat()}"
    if best.confirmed is not None:
        text += ", confirmed" if best.confirmed else ", not confirmed"
    console.print(text)
    console.print(f"  ({setting}; stable disease counts from day {sd_min_days})")
