"""What the EDC tests share: patients built through the services, and accounts for every role.

A study has no accounts until the first (admin) one is made; until then the operating-system user
acts alone, unrestricted, which is how ``tests.helpers`` builds patients. Tests that need roles build
their data first, then call :func:`staff` (FDA 21 CFR 11.10(d), 11.100: from the first account on,
every action names a signed-in account).

:func:`operated` is the lightest patient with a surgery (no radiotherapy recorded): enough wherever
the dates of the fractions do not matter, and four times quicker to build than ``treated``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher

from sarcotrial.domain.access import ROLES
from sarcotrial.services import access, forms
from sarcotrial.services.study import Actor, StudyDB
from tests.helpers import DOCTOR, enrolled

OS_USER = Actor("tester", "test")  # who the ``study`` fixture was created by
SURGERY = {"surgery_date": "2025-04-17", "procedure": "wide_excision", "macroscopic_residual": False}
#: tumour-free inked margin, 3 % stainable cells: R0 (UICC), EORTC-STBSG tier C, pCR (SPRINT: at most 5 %)
PATHOLOGY = {"report_date": "2025-04-28", "microscopic_margin_positive": False, "closest_margin_mm": 3,
             "closest_margin_tissue": "fascia", "viable_percent": 3}


def operated(study: StudyDB, hospital_number: str = "H0001", pathology: bool = False) -> str:
    """Enrolled 22 Jan 2025 (``tests.helpers.enrolled``), operated on 17 Apr 2025; with ``pathology``, its report."""
    subject = enrolled(study, hospital_number)
    forms.record(study, DOCTOR, subject, "surgery", SURGERY)
    if pathology:
        forms.record(study, DOCTOR, subject, "pathology", PATHOLOGY)
    return subject
ADMIN_PASSWORD = "admin-password-1"

#: the user name and printed name of each role's account
NAMES = {"admin": ("admin", "Ada Admin"), "investigator": ("ivy", "Dr Ivy Investigator"),
         "research_nurse": ("nina", "Nina Nurse"), "data_manager": ("dana", "Dana Datamanager"),
         "monitor": ("mona", "Mona Monitor"), "statistician": ("stan", "Stan Statistician"),
         "clinician": ("cleo", "Dr Cleo Clinician"), "pathologist": ("pat", "Dr Paula Pathologist"),
         "radiologist": ("ray", "Dr Ray Radiologist")}


@pytest.fixture
def fast_hashing(monkeypatch):
    """argon2id with the smallest cost, so that each sign-in stays quick."""
    monkeypatch.setattr(access, "PASSWORD_HASHER", quick_hasher())


def quick_hasher() -> PasswordHasher:
    """argon2id at its smallest cost (a hash it makes verifies with any hasher, and any hash with it)."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def password(username: str) -> str:
    return ADMIN_PASSWORD if username == "admin" else f"{username}-password-1"


def sign_in_as(username: str) -> Actor:
    return Actor(username, "test", password=password(username))


@dataclass
class Staff:
    """One signed-in actor per role (``staff.monitor``), and :meth:`extra` for a second one."""

    study: StudyDB
    by_role: dict[str, Actor]

    def __getattr__(self, role: str) -> Actor:
        try:
            return self.__dict__["by_role"][role]
        except KeyError:
            raise AttributeError(role) from None

    def extra(self, username: str, role: str, full_name: str, sites=()) -> Actor:
        access.add_user(self.study, self.by_role["admin"], username, full_name=full_name, role=role,
                        password=password(username), sites=sites)
        return sign_in_as(username)


def staff(study: StudyDB, roles=ROLES, sites=()) -> Staff:
    """The first (admin) account, then an account for each other role (with ``sites``, or study-wide)."""
    access.add_user(study, OS_USER, "admin", full_name=NAMES["admin"][1], role="admin", password=ADMIN_PASSWORD)
    admin = sign_in_as("admin")
    out = {"admin": admin}
    for role in roles:
        if role == "admin":
            continue
        username, full_name = NAMES[role]
        access.add_user(study, admin, username, full_name=full_name, role=role, password=password(username),
                        sites=sites)
        out[role] = sign_in_as(username)
    return Staff(study, out)
