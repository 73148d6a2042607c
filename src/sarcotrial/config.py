"""Where SarcoTrial keeps things, and how a user overrides it.

- The study database: ``--db URL`` on any command, else ``DATABASE_URL``, else the embedded SQLite
  file ``$SARCOTRIAL_HOME/sarcotrial.sqlite`` (``SARCOTRIAL_HOME`` defaults to
  ``$XDG_DATA_HOME/sarcotrial``, i.e. ``~/.local/share/sarcotrial``).
- The identifier key: ``SARCOTRIAL_KEY_FILE`` or ``SARCOTRIAL_KEY``; for a SQLite study without
  either, the key file beside the database (``<database>.key``), created by ``init``/``demo``.
- The audit "who" on the CLI: ``--user NAME``, else the operating-system user.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from sarcotrial.errors import InvalidValue

DATABASE_URL_ENV = "DATABASE_URL"
HOME_ENV = "SARCOTRIAL_HOME"


def sarcotrial_home() -> Path:
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "sarcotrial"


def default_database_path() -> Path:
    """The embedded SQLite file used when neither ``--db`` nor ``DATABASE_URL`` names a database."""
    return sarcotrial_home() / "sarcotrial.sqlite"


def default_database_url() -> str:
    return f"sqlite:///{default_database_path()}"


def resolve_database_url(db: str | None) -> str:
    """``--db`` as given (a URL or a plain path to a SQLite file), else ``DATABASE_URL``, else the default."""
    from sqlalchemy.engine import make_url  # here, not at start-up: the command line answers at once

    url = db or os.environ.get(DATABASE_URL_ENV) or default_database_url()
    if "://" not in url:  # a plain file path means a SQLite file
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    try:
        parsed = make_url(url)
    except Exception:
        raise InvalidValue("db", "not a database URL (sqlite:///path/file.sqlite or postgresql://user@host/db)", url) from None
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    elif not (parsed.drivername.startswith("sqlite") or parsed.drivername.startswith("postgresql")):
        raise InvalidValue("db", "SarcoTrial runs on SQLite or PostgreSQL", parsed.drivername)
    return url


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (``None`` for other databases or in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def default_key_path(url: str) -> Path | None:
    path = sqlite_path(url)
    return path.with_name(path.name + ".key") if path else None


def cli_user(user: str | None) -> tuple[str, str]:
    """The audit actor on the CLI and how it was named: ``--user`` or the operating-system account."""
    if user:
        name = user.strip()
        if not name:
            raise InvalidValue("user", "must not be empty")
        return name, "cli --user"
    try:
        return getpass.getuser(), "cli os-user"
    except Exception:  # no login name (some containers)
        return f"uid-{os.getuid()}", "cli os-user"


#: the study the command line works in (``sarcotrial --study``; ``None``: the database's first),
#: set by the command's root callback for each invocation
selected_study: str | None = None
