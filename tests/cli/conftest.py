"""Fixtures shared by this folder's tests."""

import pytest

from tests.edc_support import fast_hashing  # noqa: F401  (cheap argon2id for the accounts the tests sign in with)


@pytest.fixture
def own_study_env(monkeypatch):
    """No identifier key, key file or database URL inherited from the environment: a test's new study
    makes its own key beside its own file."""
    for name in ("SARCOTRIAL_KEY", "SARCOTRIAL_KEY_FILE", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
