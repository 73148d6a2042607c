"""The ``sarcotrial`` command.

Each top-level command (or group) is registered by a small function that imports its module only
when it runs. ``app`` registers them all (``--help``, the tests); ``run`` (the console entry point)
registers only the command the line names when it names one, so that ``sarcotrial dvh ...`` neither
imports nor converts the other hundred-odd commands at start-up (Typer builds every registered
command's parser before it parses the line). The parsing, help and errors of a command are the
same either way: it is the same Typer command in an app with the same callback.
"""

from __future__ import annotations

import sys
from typing import Callable

import typer
from typer.exceptions import TyperException

from sarcotrial import __version__

HELP = "SarcoTrial: the soft-tissue-sarcoma unit's pathway and clinical-trial software (protocol SPRINT)."


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sarcotrial {__version__}")
        raise typer.Exit()


def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
          study: str = typer.Option(None, "--study", envvar="SARCOTRIAL_STUDY", metavar="ACRONYM",
                                    help="The study to work in, when the database runs several ('study list'); "
                                         "default: the one it was made with.")) -> None:
    """SarcoTrial: the soft-tissue-sarcoma unit's pathway and clinical-trial software (protocol SPRINT)."""
    from sarcotrial import config

    config.selected_study = study


def _new_app() -> typer.Typer:
    new = typer.Typer(name="sarcotrial", help=HELP, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False)
    new.callback()(_main)
    return new


# --------------------------------------------------------------------------- the commands, in --help order
def _study(name: str) -> Callable[[typer.Typer], None]:
    def register(target: typer.Typer) -> None:
        from sarcotrial.cli import study

        extra = {"cls": _record_command()} if name == "record" else {}
        target.command(name, **extra)(getattr(study, name))
    return register


def _record_command():
    from typer.core import TyperCommand

    class RecordCommand(TyperCommand):
        """``record``'s FORM is optional to the parser only so that ``record FORM --help`` can list the
        form's fields (cli/formhelp.py); the usage line shows it required, as it is."""

        def collect_usage_pieces(self, ctx):
            return ["{form}" if piece == "[FORM]" else piece for piece in super().collect_usage_pieces(ctx)]

    return RecordCommand


def _command(name: str, module: str, attribute: str) -> Callable[[typer.Typer], None]:
    def register(target: typer.Typer) -> None:
        import importlib

        target.command(name)(getattr(importlib.import_module(f"sarcotrial.cli.{module}"), attribute))
    return register


def _group(name: str, module: str, attribute: str) -> Callable[[typer.Typer], None]:
    def register(target: typer.Typer) -> None:
        import importlib

        target.add_typer(getattr(importlib.import_module(f"sarcotrial.cli.{module}"), attribute), name=name)
    return register


COMMANDS: dict[str, Callable[[typer.Typer], None]] = {
    "init": _study("init"),
    "demo": _command("demo", "demo", "demo"),
    "status": _study("status"),
    "record": _study("record"),
    "correct": _study("correct"),
    "delete": _study("delete"),
    "upgrade": _study("upgrade"),
    "endpoints": _study("endpoints"),
    "report": _study("report"),
    "protocol": _group("protocol", "protocol", "protocol_app"),
    "patient": _group("patient", "study", "patient_app"),
    "audit": _group("audit", "study", "audit_app"),
    "rules": _group("rules", "rules", "rules_app"),
    "ctcae": _group("ctcae", "rules", "ctcae_app"),
    "randomisation": _group("randomisation", "randomisation", "randomisation_app"),
    "accrual": _command("accrual", "accrual", "accrual"),
    "rt": _group("rt", "rt", "rt_app"),
    "stats": _group("stats", "stats", "stats_app"),
    "screen": _command("screen", "rules", "screen"),
    "dvh": _command("dvh", "dvh", "dvh"),
    "plan-qa": _command("plan-qa", "rt", "plan_qa"),
    "user": _group("user", "access", "user_app"),
    "site": _group("site", "access", "site_app"),
    "settings": _group("settings", "access", "settings_app"),
    "visits": _command("visits", "edc", "visits"),
    "due": _command("due", "edc", "due"),
    "unscheduled": _command("unscheduled", "edc", "unscheduled"),
    "not-done": _command("not-done", "edc", "not_done"),
    "query": _group("query", "edc", "query_app"),
    "sdv": _command("sdv", "edc", "sdv"),
    "sdv-progress": _command("sdv-progress", "edc", "sdv_progress"),
    "sign": _command("sign", "edc", "sign"),
    "signatures": _command("signatures", "edc", "signatures"),
    "lock": _command("lock", "edc", "lock"),
    "unlock": _command("unlock", "edc", "unlock"),
    "sae": _command("sae", "edc", "sae"),
    "reconsent": _command("reconsent", "edc", "reconsent"),
    "serve": _command("serve", "web", "serve"),
    "export": _group("export", "exchange", "export_app"),
    "import": _group("import", "importing", "import_app"),
    "nomogram": _group("nomogram", "nomogram", "nomogram_app"),
    "registry": _group("registry", "registry", "registry_app"),
    "board": _group("board", "board", "board_app"),
    "study": _group("study", "study", "studies_app"),
    "second-opinion": _group("second-opinion", "board", "second_opinion_app"),
}


def build(only: str | None = None) -> typer.Typer:
    """The command with every command registered, or with only ``only`` (a key of COMMANDS)."""
    target = _new_app()
    for name, register in COMMANDS.items():
        if only is None or name == only:
            register(target)
    return target


_full: typer.Typer | None = None


def __getattr__(name: str):
    """``app``, every command registered, built on first use (``from sarcotrial.cli.main import app``)."""
    global _full
    if name == "app":
        if _full is None:
            _full = build()
        return _full
    raise AttributeError(name)


def run() -> None:
    """Entry point: usage errors are one line (and exit status 2), like every other refusal."""
    from sarcotrial.cli.common import err_console

    words = sys.argv[1:]
    if words[:1] == ["--study"]:  # the root option before the command's name
        words = words[2:]
    elif words and words[0].startswith("--study="):
        words = words[1:]
    named = words[0] if words else None
    command = build(named) if named in COMMANDS else __getattr__("app")
    try:
        code = command(standalone_mode=False)
    except TyperException as exc:
        if isinstance(exc, typer.Abort):
            err_console.print("error: interrupted")
            sys.exit(130)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        err_console.print(f"[bold red]error:[/] {message}{hint}", soft_wrap=True, markup=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    sys.exit(code or 0)


if __name__ == "__main__":
    run()
