"""Fixtures the exchange tests share: the synthetic demo study, built once a session per seed and copied
for each test file (a file may change its copy), and the account that may make an identified export."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.edc_support import fast_hashing  # noqa: F401  (a fixture: quick sign-ins)

#: seed -> (the demo built with it, its identifier key)
_DEMOS: dict[int, tuple[Path, str]] = {}


def add_exporter(study, admin, password: str, username: str = "exporter"):
    """A study-wide investigator with the full export right: the one kind of demo account that may make an
    identified export (the right ``full`` goes only with a role that reads identifiers, docs/roles.md)."""
    from sarcotrial.services import access

    access.add_user(study, admin, username, full_name="Ivo Exporter (synthetic)", role="investigator",
                    password=password, export="full")


@contextmanager
def demo_study(tmp_path_factory, seed: int, name: str) -> Iterator[str]:
    """The URL of a copy of the demo built with ``seed`` (and the account ``exporter``, whose password is
    ``demo_password(seed, "exporter")``), with the environment set for it while the context lasts: its key
    in ``SARCOTRIAL_KEY``, no other key, database or password in the environment, and quick password hashing.
    The demo of a seed is built once a session; each caller gets a copy of its own."""
    from argon2 import PasswordHasher

    from sarcotrial.demo import build_demo_study, demo_password
    from sarcotrial.services import access
    from sarcotrial.services.study import Actor, StudyDB
    from sarcotrial.store.crypto import generate_key

    mp = pytest.MonkeyPatch()
    try:
        for variable in ("SARCOTRIAL_KEY_FILE", "DATABASE_URL", "SARCOTRIAL_PASSWORD"):
            mp.delenv(variable, raising=False)
        mp.setattr(access, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        if seed not in _DEMOS:
            key = generate_key()
            mp.setenv("SARCOTRIAL_KEY", key)
            path = tmp_path_factory.mktemp(f"demo-{seed}") / "study.sqlite"
            study, _ = StudyDB.create(f"sqlite:///{path}", "sprint", Actor("tester", "test"), synthetic=True)
            try:
                build_demo_study(study, seed)
                add_exporter(study, Actor("admin", "test", password=demo_password(seed, "admin")),
                             demo_password(seed, "exporter"))
            finally:
                study.close()
            _DEMOS[seed] = (path, key)
        path, key = _DEMOS[seed]
        mp.setenv("SARCOTRIAL_KEY", key)
        copy = tmp_path_factory.mktemp(name) / "study.sqlite"
        source, target = sqlite3.connect(path), sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        yield f"sqlite:///{copy}"
    finally:
        mp.undo()
