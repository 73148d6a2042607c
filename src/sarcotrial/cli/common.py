"""What every command shares: the --db/--user options, one-line errors, JSON output, key=value input."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer
from rich.console import Console

from sarcotrial.errors import AccessDenied, SarcoTrialError

if TYPE_CHECKING:
    from sarcotrial.services.study import Actor

# Start-up time: the command line answers at once (``--help`` under 0.3 s, a rule under 0.5 s,
# bench/cli.py), so this package imports at module level only Typer, Rich and what is light;
# the services, the database layer and the engines are imported inside the command that uses them.

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DbOption = typer.Option(None, "--db", help="Study database URL or SQLite file (default: DATABASE_URL, else the embedded SQLite file).",
                        show_default=False)
UserOption = typer.Option(None, "--user", help="Your account (default: your operating-system user); its password comes "
                          "from SARCOTRIAL_PASSWORD, else a prompt.", show_default=False)
PASSWORD_ENV = "SARCOTRIAL_PASSWORD"
JsonOption = typer.Option(False, "--json", help="Print one JSON object instead of the readable answer.")
ProtocolOption = typer.Option("sprint", "--protocol", help="A shipped protocol's name (see 'protocol list', e.g. sprint) or a protocol file path.")


def fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(func: Callable) -> Callable:
    """Turn SarcoTrial's errors into one clear line and exit status 2 (no traceback for the user)."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SarcoTrialError as exc:
            text = str(exc)
            fail(text)
        except UnicodeDecodeError:
            fail("an input file is not UTF-8 text (save it as UTF-8, e.g. 'CSV UTF-8' in a spreadsheet program)")
        except OSError as exc:  # a folder given for a file, a file given for a folder, no permission, disk full
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}")
        except KeyboardInterrupt:
            fail("interrupted; nothing half-written was kept (each action is one transaction)", 130)

    return wrapper


def actor(user: Optional[str]) -> Actor:
    """The person running the command. Their password is asked for only if the study has accounts.

    A name given with ``--user`` is a claim (refused by a study with no accounts yet), unless it
    is the operating-system user's own.
    """
    from sarcotrial.config import cli_user
    from sarcotrial.services.study import Actor

    name, source = cli_user(user)
    claimed = bool(user) and name != cli_user(None)[0]
    return Actor(name, source, password=password_source(name), claimed=claimed)


def password_source(name: str) -> Callable[[], str]:
    """SARCOTRIAL_PASSWORD, else a prompt on the terminal, else one line saying what is missing."""

    def ask() -> str:
        given = os.environ.get(PASSWORD_ENV)
        if given:
            return given
        if not sys.stdin.isatty():
            raise AccessDenied(f"signing in as {name} needs a password: set {PASSWORD_ENV}, or run the command "
                               "on a terminal to be asked for it")
        try:
            return getpass.getpass(f"Password for {name}: ")
        except EOFError:
            raise AccessDenied(f"signing in as {name} needs a password") from None

    return ask


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=_json_default, ensure_ascii=False) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def parse_date(text: str, field: str) -> dt.date:
    """A date option (YYYY-MM-DD), or the one-line error naming its field."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        from sarcotrial.errors import date_rule

        fail(f"{field}: {date_rule(text)} (got {text!r})")


def parse_assignments(pairs: list[str] | None, input_file: Path | None = None) -> dict[str, Any]:
    """``--set field=value`` pairs, and/or a JSON object from ``--input FILE``."""
    values: dict[str, Any] = {}
    if input_file is not None:
        try:
            loaded = json.loads(input_file.read_text(encoding="utf-8"))
        except OSError as exc:
            fail(f"--input: cannot read {input_file}: {exc.strerror}")
        except json.JSONDecodeError as exc:
            fail(f"--input: {input_file} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
        if not isinstance(loaded, dict):
            fail(f"--input: {input_file} must hold one JSON object of field: value")
        values.update(loaded)
    given: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            fail(f"--set: expected field=value, got {pair!r}")
        key, value = pair.split("=", 1)
        key = key.strip()
        if key in given:  # the last one silently winning would hide a typing slip
            fail(f"--set: {key} is given twice ({given[key]!r} and {value.strip()!r}); give each field once")
        given[key] = value.strip()
        values[key] = value.strip()
    return values


def read_document(path: Path, what: str = "document", *, strict_suffix: bool = False) -> Any:
    """A YAML or JSON document given on the command line (``.json``: JSON; else YAML, which also
    reads JSON), or the one-line error naming the file, the line and the column. ``strict_suffix``:
    a file not named .yaml, .yml or .json is refused."""
    from sarcotrial.errors import InvalidValue

    if strict_suffix and Path(path).suffix.lower() not in (".yaml", ".yml", ".json"):
        raise InvalidValue(what, f"{path} must be a .yaml, .yml or .json file", show_value=False)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidValue(what, f"cannot read {path} ({exc.strerror or exc})", show_value=False) from None
    if Path(path).suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidValue(what, f"{Path(path).name} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                               f"{exc.msg})", show_value=False) from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InvalidValue(what, f"{Path(path).name} is not valid YAML{where}", show_value=False) from None
