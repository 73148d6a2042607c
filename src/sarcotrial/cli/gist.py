"""``sarcotrial rules gist-risk``: risk of recurrence of a resected GIST by two published tables.

Modified NIH: Joensuu H, Hum Pathol 2008;39:1411-1419 (table 1). AFIP: Miettinen M, Lasota J,
Semin Diagn Pathol 2006;23:70-83. The rules, and the choices made where the tables leave room,
live in :mod:`sarcotrial.domain.gist`; this module only reads options and prints.
"""

from __future__ import annotations

import textwrap

import typer
from rich.markup import escape
from rich.table import Table

from sarcotrial.cli.common import JsonOption, console, handle_errors, print_json
from sarcotrial.errors import InvalidValue

_AREA_TEXT = {"5mm2": "per 5 mm2", "50hpf": "per 50 HPF"}


def _size(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidValue("size_cm", "must be a number of centimetres", text) from None


def _count(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidValue("mitoses", "must be a whole number of mitoses", text) from None


@handle_errors
def gist_risk(site: str = typer.Option(..., "--site", help="Primary site: stomach, duodenum, jejunum-ileum, colon, "
                                       "rectum, oesophagus or other."),
              size_cm: str = typer.Option(..., "--size-cm", help="Largest tumour dimension, cm."),
              mitoses: str = typer.Option(..., "--mitoses", help="Mitotic count (whole number) over the area given "
                                          "with --mitoses-area."),
              mitoses_area: str = typer.Option(..., "--mitoses-area", help="5mm2 or 50hpf: the area the mitoses "
                                               "were counted over (never converted)."),
              rupture: bool = typer.Option(False, "--rupture", help="The tumour ruptured (before or during surgery)."),
              as_json: bool = JsonOption) -> None:
    """GIST risk of recurrence: modified NIH (Joensuu 2008) and AFIP (Miettinen & Lasota 2006)."""
    from sarcotrial.domain.gist import AFIP_GROUPS, gist_risk as classify

    result = classify(site, _size(size_cm), _count(mitoses), mitoses_area, rupture)
    if as_json:
        print_json(result.as_dict())
        return
    console.print(f"GIST, {result.site}, {result.size_cm:g} cm, {result.mitoses} mitoses "
                  f"{_AREA_TEXT[result.mitoses_area]}, {'ruptured' if result.rupture else 'no rupture'}")
    table = Table("Classification", "Risk", "Decided by")
    table.add_row("Modified NIH (Joensuu 2008)", f"[bold]{result.modified_nih}[/]", escape(result.modified_nih_rule))
    afip = result.afip
    percent = "" if afip.progression_percent is None else f" ({afip.progression_percent:g} %)"
    table.add_row("AFIP (Miettinen & Lasota 2006)", f"[bold]{afip.risk}[/]{percent}",
                  f"group {afip.group}: {escape(AFIP_GROUPS[afip.group])}")
    console.print(table)
    _note("AFIP %: patients with progressive disease (metastasis or tumour-related death) in the table's "
          "follow-up" + ("" if percent else "; the table prints no figure here"))
    for warning in result.warnings:
        _note(f"warning: {warning}")


def _note(text: str) -> None:
    """A line under the table, wrapped to the terminal and indented (no padding to the right)."""
    wrapped = textwrap.fill(text, width=max(40, console.width), initial_indent="  ", subsequent_indent="  ",
                            break_long_words=False, break_on_hyphens=False)
    console.print(escape(wrapped), soft_wrap=True)
