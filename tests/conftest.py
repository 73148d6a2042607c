"""Test-wide fixtures.

Public reference data (CTCAE v5.0, Nelms DVH set, a real IMRT plan) lives in ``../shared/data``
beside the checkout and is never copied into the repository. Tests that read it carry the
``validation`` marker and ask for the ``shared_data`` fixture: they skip with a reason where the
folder is absent, and fail instead when ``SARCOTRIAL_REQUIRE_DATA=1`` (as in CI).
"""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.fixture(scope="session")
def postgres_database():
    """A database of this test run's own on the server named by SARCOTRIAL_TEST_PG, dropped at the end.

    Two test runs against one server (two developers, or CI beside a developer) never touch each
    other's tables.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sarcotrial.config import resolve_database_url

    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (a database URL); .ci/run sets it")
    server = make_url(resolve_database_url(os.environ[PG_ENV]))
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


@pytest.fixture
def study(database_url):
    """A new SPRINT study on each database, closed after the test."""
    from sarcotrial.services.study import Actor, StudyDB

    db, _notice = StudyDB.create(database_url, "sprint", Actor("tester", "test"))
    yield db
    db.close()


@pytest.fixture(autouse=True)
def _no_study_chosen():
    """``sarcotrial --study`` sets the study of one invocation; no test inherits another's."""
    from sarcotrial import config

    config.selected_study = None
    yield
    config.selected_study = None
