"""The synthetic demo study of a seed, built once a test run and copied for each test module that reads it.

A demo takes half a minute to build, and the report, exchange and registry tests read demos of a few seeds.
Each seed's demo is built once for the whole run, by whichever pytest-xdist worker asks first (the others wait
on a file lock), under the run's base temporary folder; every caller gets a copy of its own (a module may
change its copy). A new run has a new base folder, so a demo is never reused from another version of the code.
The demo is built through the services (``build_demo_study``) as ``sarcotrial demo`` builds it; the tests of
the command itself (tests/cli/test_cli.py) run the command.
"""

from __future__ import annotations

import fcntl
import os
import pickle
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest


@dataclass(frozen=True)
class CachedDemo:
    path: Path  # the copy's SQLite file
    key: str  # its identifier key (SARCOTRIAL_KEY)
    summary: object  # what build_demo_study returned


def _root(tmp_path_factory) -> Path:
    """The folder all workers of this run share: the parent of a worker's base folder under pytest-xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def demo_environment(key: str) -> Iterator[None]:
    """The environment a demo is built or read in while the context lasts: its identifier key in
    ``SARCOTRIAL_KEY``, no other key, database or password in the environment, and argon2id at its smallest
    cost (the demo's accounts are many; a hash verifies with any hasher)."""
    from sarcotrial.services import access
    from tests.edc_support import quick_hasher

    mp = pytest.MonkeyPatch()
    try:
        for variable in ("SARCOTRIAL_KEY_FILE", "DATABASE_URL", "SARCOTRIAL_PASSWORD"):
            mp.delenv(variable, raising=False)
        mp.setenv("SARCOTRIAL_KEY", key)
        mp.setattr(access, "PASSWORD_HASHER", quick_hasher())
        yield
    finally:
        mp.undo()


def _build(folder: Path, seed: int) -> None:
    from sarcotrial.demo import build_demo_study
    from sarcotrial.services.study import Actor, StudyDB
    from sarcotrial.store.crypto import generate_key

    key = generate_key()
    with demo_environment(key):
        study, _ = StudyDB.create(f"sqlite:///{folder / 'study.sqlite'}", "sprint", Actor("tester", "test"),
                                  synthetic=True)
        try:
            summary = build_demo_study(study, seed)
        finally:
            study.close()
    (folder / "key").write_text(key, encoding="utf-8")
    (folder / "summary.pickle").write_bytes(pickle.dumps(summary))
    (folder / "done").touch()


def demo_copy(tmp_path_factory, seed: int, name: str) -> CachedDemo:
    """A copy, in a new folder named after ``name``, of the SPRINT demo built with ``seed``."""
    root = _root(tmp_path_factory)
    folder = root / f"demo-cache-{seed}"
    with open(root / f"demo-cache-{seed}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (folder / "done").exists():
                folder.mkdir(exist_ok=True)
                _build(folder, seed)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    from tests.helpers import copy_sqlite

    copy = tmp_path_factory.mktemp(name) / "study.sqlite"
    copy_sqlite(folder / "study.sqlite", copy)
    return CachedDemo(copy, (folder / "key").read_text(encoding="utf-8"),
                      pickle.loads((folder / "summary.pickle").read_bytes()))
