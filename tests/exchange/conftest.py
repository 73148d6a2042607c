"""Fixtures the exchange tests share: the synthetic demo study, built once a run per seed and copied for each
test file (a file may change its copy), and the account that may make an identified export."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from tests.edc_support import fast_hashing  # noqa: F401  (a fixture: quick sign-ins)


def add_exporter(study, admin, password: str, username: str = "exporter"):
    """A study-wide investigator with the full export right: the one kind of demo account that may make an
    identified export (the right ``full`` goes only with a role that reads identifiers, docs/roles.md)."""
    from sarcotrial.services import access

    access.add_user(study, admin, username, full_name="Ivo Exporter (synthetic)", role="investigator",
                    password=password, export="full")


@contextmanager
def demo_study(tmp_path_factory, seed: int, name: str) -> Iterator[str]:
    """The URL of a copy of the demo built with ``seed`` (tests/demo_cache.py: built once a run) with the account
    ``exporter`` added, whose password is ``demo_password(seed, "exporter")``; the environment is set for it
    while the context lasts: its key in ``SARCOTRIAL_KEY``, no other key, database or password in the
    environment, and quick password hashing."""
    from sarcotrial.demo import demo_password
    from sarcotrial.services.study import Actor, StudyDB
    from tests.demo_cache import demo_copy, demo_environment

    demo = demo_copy(tmp_path_factory, seed, name)
    with demo_environment(demo.key):
        url = f"sqlite:///{demo.path}"
        with StudyDB.open(url) as study:
            add_exporter(study, Actor("admin", "test", password=demo_password(seed, "admin")),
                         demo_password(seed, "exporter"))
        yield url
