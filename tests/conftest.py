"""Test-wide fixtures.

Public reference data (CTCAE v5.0, Nelms DVH set, a real IMRT plan) lives in ``../shared/data``
beside the checkout and is never copied into the repository. Tests that read it carry the
``validation`` marker and ask for the ``shared_data`` fixture: they skip with a reason where the
folder is absent, and fail instead when ``SARCOTRIAL_REQUIRE_DATA=1`` (as in CI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SARCOTRIAL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _require_data() -> bool:
    return os.environ.get("SARCOTRIAL_REQUIRE_DATA", "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of public validation data; skip (or fail, in CI) when it is absent."""
    if not SHARED_DATA.is_dir():
        reason = f"public validation data not found at {SHARED_DATA}"
        if _require_data():
            pytest.fail(reason + " and SARCOTRIAL_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(reason)
    return SHARED_DATA


def shared_file(shared_data: Path, relative: str) -> Path:
    """One file of the shared data, with the same skip-or-fail rule when it is missing."""
    path = shared_data / relative
    if not path.exists():
        reason = f"validation file {path} is missing"
        if _require_data():
            pytest.fail(reason + " and SARCOTRIAL_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(reason)
    return path


def pytest_collection_modifyitems(config, items):
    """Tests that need the shared data must say so with the ``validation`` marker."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("validation"):
            item.add_marker(pytest.mark.validation)


# --------------------------------------------------------------------------- study databases
PG_ENV = "SARCOTRIAL_TEST_PG"


def _database_params():
    params = [pytest.param("sqlite", id="sqlite")]
    params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    return params


def _server_url():
    """The PostgreSQL server's own database, named by SARCOTRIAL_TEST_PG (a SQLAlchemy URL)."""
    from sqlalchemy.engine import make_url

    from sarcotrial.config import resolve_database_url

    return make_url(resolve_database_url(os.environ[PG_ENV]))


@pytest.fixture(scope="session")
def postgres_database():
    """A database of this test run's own on the server named by SARCOTRIAL_TEST_PG, dropped at the end.

    Two test runs against one server (two developers, or CI beside a developer) never touch each
    other's tables.
    """
    from sqlalchemy import create_engine, text

    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (a database URL); .ci/run sets it")
    server = _server_url()
    name = f"sarcotrial_test_{os.getpid()}_{os.urandom(3).hex()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fresh_postgres_url(url: str) -> str:
    """The run's PostgreSQL database emptied for the next test."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(params=_database_params())
def database_url(request, tmp_path, monkeypatch) -> str:
    """An empty database: a SQLite file always; PostgreSQL when SARCOTRIAL_TEST_PG names a server.

    Every test that uses it also gets a fresh identifier key in the environment (PostgreSQL
    refuses to start without one).
    """
    from sarcotrial.store.crypto import generate_key

    monkeypatch.setenv("SARCOTRIAL_KEY", generate_key())
    monkeypatch.delenv("SARCOTRIAL_KEY_FILE", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.sqlite'}"
    return _fresh_postgres_url(request.getfixturevalue("postgres_database"))


@dataclass(frozen=True)
class _Template:
    url: str
    key: str


def _new_sprint_study(url: str, key: str) -> None:
    """``StudyDB.create(url, "sprint")`` by the operating-system user ``tester``, with ``key`` its identifier key."""
    from sarcotrial.services.study import Actor, StudyDB

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("SARCOTRIAL_KEY", key)
        mp.delenv("SARCOTRIAL_KEY_FILE", raising=False)
        db, _notice = StudyDB.create(url, "sprint", Actor("tester", "test"))
        db.close()
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def _sqlite_study_template(tmp_path_factory) -> _Template:
    """A new SPRINT study made once a test process, copied for each test (making one runs every migration)."""
    from sarcotrial.store.crypto import generate_key

    template = _Template(f"sqlite:///{tmp_path_factory.mktemp('study-template') / 'study.sqlite'}", generate_key())
    _new_sprint_study(template.url, template.key)
    return template


@pytest.fixture(scope="session")
def _postgres_study_template(postgres_database) -> Iterator[_Template]:
    """The same on PostgreSQL: a database of its own, the template of each test's database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sarcotrial.store.crypto import generate_key

    server = make_url(postgres_database)
    name = f"{server.database}_template"
    # on the server's own database: each test drops and makes again the run's database
    admin = create_engine(_server_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    template = _Template(server.set(database=name).render_as_string(hide_password=False), generate_key())
    _new_sprint_study(template.url, template.key)
    yield template
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _copy_of(template: _Template, url: str) -> None:
    """The database at ``url`` made a copy of the template's (SQLite: its pages; PostgreSQL: CREATE DATABASE
    ... TEMPLATE, the server's own copy)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sarcotrial.config import sqlite_path

    source = sqlite_path(template.url)
    if source is not None:
        from tests.helpers import copy_sqlite

        copy_sqlite(source, sqlite_path(url))
        return
    target = make_url(url)  # the server's own database: a template in use by a connection cannot be copied
    admin = create_engine(_server_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{target.database}" TEMPLATE "{make_url(template.url).database}"'))
    finally:
        admin.dispose()


@pytest.fixture
def study(request, database_url, monkeypatch):
    """A new SPRINT study on each database, closed after the test: a copy of one made once a test process by
    ``StudyDB.create(url, "sprint", Actor("tester", "test"))``, with its identifier key in ``SARCOTRIAL_KEY``."""
    from sarcotrial.services.study import StudyDB

    kind = "_sqlite_study_template" if database_url.startswith("sqlite") else "_postgres_study_template"
    template = request.getfixturevalue(kind)
    _copy_of(template, database_url)
    monkeypatch.setenv("SARCOTRIAL_KEY", template.key)
    db = StudyDB.open(database_url)
    yield db
    db.close()


@pytest.fixture(autouse=True)
def _no_study_chosen():
    """``sarcotrial --study`` sets the study of one invocation; no test inherits another's."""
    from sarcotrial import config

    config.selected_study = None
    yield
    config.selected_study = None
