"""Fixtures the exchange tests share."""

from tests.edc_support import fast_hashing  # noqa: F401  (a fixture: quick sign-ins)
