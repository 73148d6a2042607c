"""``sarcotrial record FORM --help``: the command's help, then FORM's fields as the protocol defines them.

FORM is an argument, so the fields cannot be part of the static help: the record command declares
its own ``--help``, which only notes that help was asked (it is processed before the arguments);
FORM's callback then prints the help and the form's field table: each field's id, type, unit, range
or codes, and label, required fields starred. Without ``--help``, a missing FORM is the usual
"Missing argument" error. The protocol is the study's (``--db``, else ``DATABASE_URL`` or the
default database); where no study database can be opened, the shipped SPRINT protocol's, and the
help says so.
"""

from __future__ import annotations

from typing import Any

import sys

import typer
from rich.markup import escape
from rich.table import Table

from sarcotrial.cli.common import console, err_console

#: the usual "Missing argument" error of the command-line library typer is built on (click, or typer's copy)
_MissingParameter = sys.modules[typer.BadParameter.__module__].MissingParameter

_ENTRY = {"date": "YYYY-MM-DD", "datetime": "YYYY-MM-DDTHH:MM (UTC or +HH:MM)", "boolean": "yes or no",
          "text": "text"}


def help_asked(ctx: typer.Context, _param: Any, value: bool) -> bool:
    """``--help`` of ``record``: noted, and answered when FORM is processed."""
    if value and not ctx.resilient_parsing:
        ctx.meta["record.help"] = True
    return value


def form_argument(ctx: typer.Context, param: Any, form_id: str | None) -> str | None:
    """FORM of ``record``: with ``--help``, the help and the form's fields; else FORM is required."""
    if not ctx.meta.get("record.help"):
        if form_id is None and not ctx.resilient_parsing:
            raise _MissingParameter(ctx=ctx, param=param)
        return form_id
    typer.echo(ctx.get_help(), nl=False)
    if form_id:
        protocol, where = _protocol(ctx.params.get("db"))
        if not protocol.has_form(form_id):
            known = ", ".join(f.id for f in protocol.forms)
            err_console.print(f"[bold red]error:[/] FORM: protocol {protocol.acronym} v{protocol.version} has no form "
                              f"'{escape(form_id)}' (forms: {known})", soft_wrap=True)
            raise typer.Exit(2)
        console.print(form_table(protocol, form_id, where))
        console.print(f"Enter each value as [bold]--set field=value[/] (or [bold]--input FILE.json[/]); "
                      f"* required. {_missing_codes(protocol)}", soft_wrap=False)
    else:
        console.print("FORM --help lists that form's fields, types, units and codes (e.g. record diagnosis --help).")
    raise typer.Exit(0)


def form_table(protocol: Any, form_id: str, where: str) -> Table:
    """A form's fields: id (``*`` required), type with unit and allowed values, label."""
    form = protocol.form(form_id)
    table = Table("field", "type and values", "meaning", box=None, pad_edge=False, header_style="bold",
                  title=f"Form {form.id}: {form.name} ({where})", title_justify="left")
    for fld in form.fields:
        table.add_row(f"{fld.id}{'*' if fld.required else ''}", escape(field_type(protocol, fld)), escape(fld.label))
    return table


def field_type(protocol: Any, fld: Any) -> str:
    """``decimal, cm, 0.1 to 100``; ``code: extremity, trunk, ...``; ``date YYYY-MM-DD``."""
    if fld.type == "code":
        codes = protocol.codes(fld.codelist) if fld.codelist in protocol.codelists else []
        return "code: " + ", ".join(codes)
    if fld.type in ("integer", "decimal"):
        parts = [fld.type] + ([fld.unit] if fld.unit else [])
        if fld.min is not None and fld.max is not None:
            parts.append(f"{fld.min:g} to {fld.max:g}")
        elif fld.min is not None:
            parts.append(f">= {fld.min:g}")
        elif fld.max is not None:
            parts.append(f"<= {fld.max:g}")
        return ", ".join(parts)
    kind = fld.type if fld.type == "text" else f"{fld.type} {_ENTRY[fld.type]}"
    return kind + (f", {fld.unit}" if fld.unit else "")


def _missing_codes(protocol: Any) -> str:
    if not protocol.missing_codes:
        return ""
    codes = ", ".join(f"{c.code} ({c.label})" for c in protocol.missing_codes)
    return f"A value that cannot be had: --missing field=CODE with --reason; codes: {codes}."


def _protocol(db: str | None) -> tuple[Any, str]:
    """The study's protocol, else the shipped SPRINT (and where it came from)."""
    from sarcotrial.errors import SarcoTrialError
    from sarcotrial.services.study import StudyDB

    try:
        with StudyDB.open(db) as study:
            return study.protocol, f"protocol {study.protocol.acronym} v{study.protocol.version} of the study"
    except SarcoTrialError:
        from sarcotrial.protocol import load_protocol

        protocol = load_protocol("sprint")
        return protocol, f"shipped protocol {protocol.acronym} v{protocol.version}; no study database could be opened"
