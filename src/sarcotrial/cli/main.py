"""The ``sarcotrial`` command."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperCommand
from typer.exceptions import TyperException

from sarcotrial import __version__
from sarcotrial.cli import access as access_cli
from sarcotrial.cli import demo, edc, rules, study, web
from sarcotrial.cli.dvh import dvh
from sarcotrial.cli.exchange import export_app
from sarcotrial.cli.importing import import_app
from sarcotrial.cli.importing_rt import import_dicom_rt
from sarcotrial.cli.rt import plan_qa, rt_app
from sarcotrial.cli.stats import stats_app
from sarcotrial.cli.common import err_console
from sarcotrial.cli.protocol import protocol_app
from sarcotrial.cli import accrual as accrual_cli
from sarcotrial.cli import local as local_cli
from sarcotrial.cli import recist as recist_cli
from sarcotrial.cli import systemic as systemic_cli
from sarcotrial.cli.randomisation import randomisation_app
from sarcotrial.cli import gist as gist_cli
from sarcotrial.cli import molecular as molecular_cli
from sarcotrial.cli import predisposition as predisposition_cli
from sarcotrial.cli.nomogram import nomogram_app
from sarcotrial.cli.nomogram_assess import assess as assess_model
from sarcotrial.cli.board import board_app, second_opinion_app
from sarcotrial.cli import registry as registry_cli

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


class _RecordCommand(TyperCommand):
    """``record``'s FORM is optional to the parser only so that ``record FORM --help`` can list the
    form's fields (cli/formhelp.py); the usage line shows it required, as it is."""

    def collect_usage_pieces(self, ctx):
        return ["{form}" if piece == "[FORM]" else piece for piece in super().collect_usage_pieces(ctx)]


app.command("init")(study.init)
app.command("demo")(demo.demo)
app.command("status")(study.status)
app.command("record", cls=_RecordCommand)(study.record)
app.command("correct")(study.correct)
app.command("delete")(study.delete)
app.command("upgrade")(study.upgrade)
app.command("endpoints")(study.endpoints)
app.command("report")(study.report)
app.add_typer(protocol_app, name="protocol")
app.add_typer(study.patient_app, name="patient")
app.add_typer(study.audit_app, name="audit")
app.add_typer(rules.rules_app, name="rules")
app.add_typer(rules.ctcae_app, name="ctcae")
rules.rules_app.command("recist")(recist_cli.recist)
rules.rules_app.command("bsa")(systemic_cli.bsa)
rules.rules_app.command("anthracycline")(systemic_cli.anthracycline)
rules.rules_app.command("msts")(local_cli.msts)
rules.rules_app.command("predisposition")(predisposition_cli.predisposition)
rules.rules_app.command("gist-risk")(gist_cli.gist_risk)
rules.rules_app.command("cirse")(local_cli.cirse)
rules.rules_app.command("gene")(molecular_cli.gene)
rules.rules_app.command("molecular")(molecular_cli.molecular)
app.add_typer(randomisation_app, name="randomisation")
app.command("accrual")(accrual_cli.accrual)
app.add_typer(rt_app, name="rt")
app.add_typer(stats_app, name="stats")
app.command("screen")(rules.screen)
app.command("dvh")(dvh)
app.command("plan-qa")(plan_qa)
app.add_typer(access_cli.user_app, name="user")
app.add_typer(access_cli.site_app, name="site")
app.add_typer(access_cli.settings_app, name="settings")
app.command("visits")(edc.visits)
app.command("due")(edc.due)
app.command("unscheduled")(edc.unscheduled)
app.command("not-done")(edc.not_done)
app.add_typer(edc.query_app, name="query")
app.command("sdv")(edc.sdv)
app.command("sdv-progress")(edc.sdv_progress)
app.command("sign")(edc.sign)
app.command("signatures")(edc.signatures)
app.command("lock")(edc.lock)
app.command("unlock")(edc.unlock)
app.command("sae")(edc.sae)
app.command("reconsent")(edc.reconsent)
app.command("serve")(web.serve)
app.add_typer(export_app, name="export")
import_app.command("dicom-rt")(import_dicom_rt)
app.add_typer(import_app, name="import")
nomogram_app.command("assess")(assess_model)
nomogram_app.command("load")(registry_cli.nomogram_load)
nomogram_app.command("loaded")(registry_cli.nomogram_loaded)
nomogram_app.command("study")(registry_cli.nomogram_study)
app.add_typer(nomogram_app, name="nomogram")
app.add_typer(registry_cli.registry_app, name="registry")
app.add_typer(board_app, name="board")
app.add_typer(second_opinion_app, name="second-opinion")


def run() -> None:
    """Entry point: usage errors are one line (and exit status 2), like every other refusal."""
    try:
        code = app(standalone_mode=False)
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
