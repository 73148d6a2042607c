"""The ``sarcotrial`` command."""

from __future__ import annotations

import typer

from sarcotrial import __version__
from sarcotrial.cli import study
from sarcotrial.cli.protocol import protocol_app

app = typer.Typer(
    name="sarcotrial",
    help="SarcoTrial: the soft-tissue-sarcoma unit's pathway and clinical-trial software (protocol SPRINT).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sarcotrial {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version.")) -> None:
    """SarcoTrial: the soft-tissue-sarcoma unit's pathway and clinical-trial software (protocol SPRINT)."""


app.command("init")(study.init)
app.command("demo")(study.demo)
app.command("status")(study.status)
app.command("record")(study.record)
app.command("correct")(study.correct)
app.command("delete")(study.delete)
app.command("upgrade")(study.upgrade)
app.add_typer(protocol_app, name="protocol")
app.add_typer(study.patient_app, name="patient")
app.add_typer(study.audit_app, name="audit")


def run() -> None:
    app()


if __name__ == "__main__":
    run()
