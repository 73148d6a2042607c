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
