"""Engines, sessions and migrations.

SQLite is the embedded default; PostgreSQL serves a multi-user site. On SQLite every write
transaction starts with ``BEGIN IMMEDIATE`` (the recipe in SQLAlchemy's pysqlite notes), so two
writers never interleave and the audit chain never forks; a transaction that only reads
(:func:`read_only`) starts ``BEGIN DEFERRED`` and so never waits behind a writer. Foreign keys are
enforced and a busy database is waited for rather than failed. The schema is made and changed only by Alembic
migrations, which ship inside the package.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from sarcotrial.errors import SarcoTrialError
from sarcotrial.store import audit


class DatabaseError(SarcoTrialError):
    """The database cannot be reached, or is not a SarcoTrial study."""


#: execution option of a connection that only reads (:func:`read_only`)
READ_ONLY = "sarcotrial_read_only"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
            dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # pragma: no cover
            if connection.get_execution_options().get(READ_ONLY):
                connection.exec_driver_sql("BEGIN DEFERRED")  # a read: its snapshot from its first read on
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            _create_private(Path(path))
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def _create_private(path: Path) -> None:
    """Create a new SQLite study file readable and writable by its owner only (mode 0600), as the
    identifier key beside it is: the database holds the pseudonymised clinical data. SQLite gives
    the files it adds beside it (``-wal``, ``-shm``, ``-journal``) the database file's own mode.
    An existing file keeps the mode its owner gave it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)  # an empty file is an empty SQLite database


def read_only(engine: Engine) -> Engine:
    """The engine for transactions that only read (``StudyDB.reading``): on SQLite they begin
    ``BEGIN DEFERRED``, so readers take no write lock and neither wait for a writer nor hold one up;
    in WAL mode each still reads one consistent snapshot, from its first read to its end. Writes keep
    ``BEGIN IMMEDIATE``. The engine is made once per engine (it shares the engine's pool)."""
    bound = engine.__dict__.get("_sarcotrial_read_only")
    if bound is None:
        bound = engine.execution_options(**{READ_ONLY: True})
        engine.__dict__["_sarcotrial_read_only"] = bound
    return bound


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=audit.AuditedSession, expire_on_commit=False)


# --------------------------------------------------------------------------- migrations
def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("sarcotrial.store") / "migrations"))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except DBAPIError as exc:
        raise DatabaseError(f"cannot open the database: {_reason(exc)}") from None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate an empty database or a SarcoTrial one; never another application's database."""
    if not is_empty(engine) and current_revision(engine) is None:
        raise DatabaseError("this database holds tables that are not a SarcoTrial study; SarcoTrial will not touch it")
    try:
        command.upgrade(alembic_config(engine), revision)
    except DBAPIError as exc:
        raise DatabaseError(f"cannot migrate the database: {_reason(exc)}") from None
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:  # a migration's own refusal or fault
        raise DatabaseError(f"the migration to {revision} stopped ({exc}); each revision is one transaction: "
                            "the database keeps the last revision that completed") from None


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)


def is_empty(engine: Engine) -> bool:
    try:
        return not set(inspect(engine).get_table_names()) - {"alembic_version"}  # left by a full downgrade
    except DBAPIError as exc:
        raise DatabaseError(f"cannot open the database: {_reason(exc)}") from None


def _reason(exc: DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if "file is not a database" in text:
        return "the file is not a SQLite database"
    return text
