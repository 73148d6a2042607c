"""Fixtures the exchange tests share."""

from tests.edc_support import fast_hashing  # noqa: F401  (a fixture: quick sign-ins)


def add_exporter(study, admin, password: str, username: str = "exporter"):
    """A study-wide investigator with the full export right: the one kind of demo account that may make an
    identified export (the right ``full`` goes only with a role that reads identifiers, docs/roles.md)."""
    from sarcotrial.services import access

    access.add_user(study, admin, username, full_name="Ivo Exporter (synthetic)", role="investigator",
                    password=password, export="full")
