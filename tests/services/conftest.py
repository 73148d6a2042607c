"""Fixtures shared by this folder's tests."""

from tests.edc_support import fast_hashing  # noqa: F401  (cheap argon2id for the accounts the tests sign in with)
