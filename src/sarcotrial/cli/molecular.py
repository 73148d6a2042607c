"""``sarcotrial rules gene`` and ``rules molecular``: the gene list and what molecular findings mean.

Gene symbols are HGNC approved symbols from SarcoTrial's curated gene list; fusions are written
``GENE1::GENE2`` (Bruford et al., Leukemia 2021); mutations in HGVS ``c.``/``p.`` notation. The
meaning of a finding (supports, contradicts, actionable) comes from the molecular catalogue, whose
entries cite the WHO Classification of Soft Tissue and Bone Tumours, 5th ed. (2020) and the
regulatory approvals. The rules live in :mod:`sarcotrial.domain.molecular`; this module only
reads, calls and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from sarcotrial.cli.common import JsonOption, console, handle_errors, print_json, read_document
from sarcotrial.errors import InvalidValue


@handle_errors
def gene(query: str = typer.Argument(..., help="A gene symbol, previous symbol or alias (e.g. SS18, SYT, CHOP, INI1)."),
         as_json: bool = JsonOption) -> None:
    """Look a gene up in SarcoTrial's gene list: approved symbol, aliases and catalogue entries. Exit 1 if unknown."""
    from sarcotrial.domain.molecular import entries_for_gene, gene_list_version, lookup_gene, nearest_genes

    if not query.strip():
        raise InvalidValue("gene", "give a gene symbol, previous symbol or alias")
    match = lookup_gene(query)
    if match is None:
        near = nearest_genes(query)
        if as_json:
            print_json({"query": query, "found": False, "nearest": near, "gene_list_version": gene_list_version()})
        else:
            hint = f"; nearest known: {', '.join(near)}" if near else ""
            console.print(f"'{escape(query)}' not found in the SarcoTrial gene list v{gene_list_version()}{escape(hint)}",
                          soft_wrap=True)
        raise typer.Exit(1)
    diagnostic, actionable = entries_for_gene(match.symbol)
    data = {
        "query": query, "found": True, "symbol": match.symbol, "via_alias": match.via_alias, "note": match.note,
        "aliases": list(match.gene.aliases), "groups": list(match.gene.groups),
        "gene_list_version": gene_list_version(),
        "diagnostic": [e.as_dict() for e in diagnostic],
        "actionable": [e.as_dict() for e in actionable],
    }
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{match.symbol}[/] (HGNC approved symbol; gene list v{gene_list_version()})")
    if match.note:
        console.print(f"  note: {escape(match.note)}", soft_wrap=True)
    console.print(f"  aliases: {escape(', '.join(match.gene.aliases)) or 'none listed'}")
    console.print(f"  listed as: {', '.join(match.gene.groups)}")
    if not diagnostic and not actionable:
        console.print("  not named in the molecular catalogue")
    for e in diagnostic:
        where = []
        if e.defining_in:
            where.append("defining of " + ", ".join(e.defining_in))
        if e.characteristic_in:
            where.append("characteristic of " + ", ".join(e.characteristic_in))
        console.print(f"  diagnostic: {escape(e.label)}: {escape('; '.join(where))}")
    for e in actionable:
        console.print(f"  actionable: {escape(e.label)}: {escape(', '.join(e.drugs))} ({escape(e.level)})")


_RELATION_STYLE = {"supports": "green", "contradicts": "bold red", "nothing known": "dim", "not assessed": "dim"}


@handle_errors
def molecular(findings_file: Path = typer.Argument(..., help="A findings document (YAML or JSON): histotype "
                                                   "(optional) and findings; see docs/molecular.md."),
              histotype_id: Optional[str] = typer.Option(None, "--histotype", help="The recorded histotype id "
                                                         "(see 'rules histotype'); overrides the document's."),
              as_json: bool = JsonOption) -> None:
    """What molecular findings mean for the recorded histotype: supports, contradicts (flag for the board), actionable."""
    from rich import box
    from rich.table import Column, Table

    from sarcotrial.domain.molecular import catalogue_version, findings_from_document, gene_list_version, interpret

    doc_histotype, findings = findings_from_document(read_document(findings_file))
    chosen = histotype_id.strip() if histotype_id else doc_histotype
    from sarcotrial.services.forms import resolve_histotype

    recorded = resolve_histotype(chosen, "histotype") if chosen else None
    results = interpret(recorded.id if recorded else None, findings)
    data = {
        "histotype": recorded.id if recorded else None,
        "histotype_name": recorded.name if recorded else None,
        "gene_list_version": gene_list_version(),
        "catalogue_version": catalogue_version(),
        "flag_for_board": any(r.flag_for_board for r in results),
        "findings": [r.as_dict() for r in results],
    }
    if as_json:
        print_json(data)
        return
    head = f"Histotype: [bold]{escape(recorded.name)}[/] ({recorded.id})" if recorded else "No histotype recorded"
    console.print(f"{head}; gene list v{gene_list_version()}, catalogue v{catalogue_version()}")
    table = Table(Column("#", no_wrap=True), Column("finding", max_width=28), Column("meaning", ratio=1),
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for r in results:
        style = _RELATION_STYLE.get(r.relation, "")
        verdict = r.relation + (f" ({r.level})" if r.level else "")
        meaning = f"[{style}]{escape(verdict)}[/]: {escape(r.explanation)}"
        for a in r.actionable:
            cond = "" if a.applies else f" [only in: {', '.join(a.entry.histotypes or ())}]"
            meaning += (f"\n[cyan]actionable[/]: {escape(', '.join(a.entry.drugs))} ({escape(a.entry.level)}): "
                        f"{escape(a.entry.evidence)}{escape(cond)} Source: {escape(a.entry.source)}")
        finding_text = escape(r.finding.label) + f"\n[dim]{r.finding.test}[/]"
        for note in r.finding.notes:
            finding_text += f"\n[dim]{escape(note)}[/]"
        table.add_row(str(r.index + 1), finding_text, meaning)  # numbered from 1 as a reader counts
    console.print(table)
    if data["flag_for_board"]:
        flagged = ", ".join(str(r.index + 1) for r in results if r.flag_for_board)
        many = sum(r.flag_for_board for r in results) > 1
        console.print(f"[bold red]Flag for the board[/]: finding{'s' if many else ''} {flagged} "
                      f"contradict{'' if many else 's'} the recorded histotype (a decision aid: the pathologist "
                      "decides).")
