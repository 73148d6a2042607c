"""``sarcotrial rules predisposition``: hereditary predisposition from a family-history document.

The 2015 Chompret criteria for TP53 testing (Bougeard et al., J Clin Oncol 2015;33:2345-2352) and
the revised NF1 diagnostic criteria (Legius et al., Genet Med 2021;23:1506-1513), with the
genetic-counselling referral flag. The rules live in :mod:`sarcotrial.domain.predisposition`;
this module only reads the document (YAML or JSON) and prints.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from sarcotrial.cli.common import JsonOption, console, handle_errors, print_json, read_document

_VERDICT_STYLE = {"met": "[green]met[/]", "not_met": "not met", "unknown": "[yellow]unknown[/]"}
_OVERALL_STYLE = {"met": "bold green", "not_met": "bold", "undecided": "bold yellow", "not_assessed": "dim"}


def _indented(text: str, prefix: str = "") -> None:
    """A line indented by two spaces that stays indented when it wraps (readable at 80 columns)."""
    from rich.padding import Padding

    console.print(Padding(f"{prefix}{text}", (0, 0, 0, 2)))


def _criteria_table(result) -> None:
    from rich import box
    from rich.table import Column, Table

    table = Table(Column("criterion", no_wrap=False, max_width=24), Column("verdict", no_wrap=True),
                  Column("why"), box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for c in result.criteria:
        why = c.why if c.verdict != "unknown" or not c.missing else f"{c.why}; record: {', '.join(c.missing)}"
        table.add_row(escape(c.name), _VERDICT_STYLE[c.verdict], escape(why))
    console.print(table)


def _criteria_set(result) -> None:
    style = _OVERALL_STYLE[result.verdict]
    summary = result.summary.upper() if result.verdict == "met" else result.summary
    console.print(f"[bold]{escape(result.name)}[/]: [{style}]{escape(summary)}[/]")
    _indented(f"[dim]{escape(result.source)}[/]")
    if result.criteria:
        _criteria_table(result)
    _indented(escape(result.why))
    for note in result.notes:
        _indented(escape(note), "note: ")
    console.print()


@handle_errors
def predisposition(family: Path = typer.Argument(..., help="The family history: a YAML or JSON document with "
                                                 "proband, relatives, nf1 (the proband's NF1 findings) and germline "
                                                 "(genes tested, findings). See docs/predisposition.md."),
                   as_json: bool = JsonOption) -> None:
    """Chompret 2015 (TP53 testing) and NF1 2021 criteria from a family history, with the genetic-counselling flag."""
    from sarcotrial.domain.predisposition import assess_predisposition, family_history_from_dict

    result = assess_predisposition(family_history_from_dict(read_document(family, str(family), strict_suffix=True)))
    if as_json:
        print_json(result.as_dict())
        return
    p = result.family.proband
    who = ", ".join(x for x in (p.sex, f"{p.age:g} years" if p.age is not None else None) if x) or "sex not recorded"
    relatives = ("family history not recorded" if result.family.relatives is None
                 else f"{len(result.family.relatives)} relative{'s' if len(result.family.relatives) != 1 else ''} recorded")
    console.print(f"Proband: {escape(who)}; {len(p.cancers)} tumour{'s' if len(p.cancers) != 1 else ''}; {relatives}")
    console.print()
    _criteria_set(result.chompret)
    _criteria_set(result.nf1)
    germline = result.family.germline
    if germline.genes_tested or germline.findings:
        tested = ", ".join(germline.genes_tested) or "not recorded"
        console.print(f"[bold]Germline testing[/]: genes tested {escape(tested)}")
        for finding in germline.findings:
            _indented(escape(finding.label()), "- ")
        if not germline.findings:
            _indented("no variant reported", "- ")
        console.print()
    r = result.referral
    if r.refer:
        console.print("[bold]Genetic counselling referral: [red]YES[/][/] (a decision aid; the counsellor decides)")
        for reason in r.reasons:
            _indented(escape(reason), "- ")
    else:
        console.print("[bold]Genetic counselling referral: no reason found[/] (a decision aid; the counsellor decides)")
    for item in r.pending:
        _indented(escape(item), "pending: ")
