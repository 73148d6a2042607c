"""Who may do what: roles, export rights and the permission of every service action.

One table, :data:`PERMISSIONS`, decides every refusal: :meth:`StudyDB.action` and
:meth:`StudyDB.reading` check the signed-in account's role against the permission the service
names, and ``docs/roles.md`` is generated from the same table (:func:`permissions_markdown`, with a
test that the two agree), so what the documentation promises is what the software does.

Sources: FDA 21 CFR 11.10(d) (access limited to authorised individuals) and 11.10(g) (authority
checks: only authorised individuals sign, alter records or perform the operation at hand); EU GMP
Annex 11 §12.1-12.3 (access by role, changes to rights recorded); ICH E6(R3) (site staff enter and
correct source-verified data, monitors verify it, the investigator signs). The split follows
common EDC practice (REDCap user rights and data access groups; OpenClinica's investigator,
clinical research coordinator, monitor and data manager roles): data are entered and corrected only
at the site, reviewed by people who cannot change them, and accounts are managed by someone who
sees no patient data.

Pure: no I/O.
"""

from __future__ import annotations

ROLES: tuple[str, ...] = ("admin", "investigator", "research_nurse", "data_manager", "monitor", "statistician",
                          "clinician", "pathologist", "radiologist")

ROLE_DESCRIPTIONS: dict[str, str] = {
    "admin": "manages accounts, sites, settings, protocol amendments and reference data; no patient data",
    "investigator": "site investigator: enters and corrects data, answers queries, signs",
    "research_nurse": "site research nurse / coordinator: enters and corrects data, answers queries",
    "data_manager": "reviews data, raises and closes queries, locks and unlocks; never enters data",
    "monitor": "source data verification, raises and closes queries; never enters data",
    "statistician": "pseudonymised data, reports and exports; never identifiers",
    "clinician": "tumour board member (surgeon, oncologist, ...) outside the trial staff: questions and decisions; "
                 "no study form",
    "pathologist": "tumour board pathologist: pathology summaries and second-opinion pathology reviews; no study form",
    "radiologist": "tumour board radiologist: imaging summaries and second-opinion imaging reviews; no study form",
}

#: export rights, widest first: ``full`` may export at any level, identifiers included
EXPORT_RIGHTS: tuple[str, ...] = ("full", "pseudonymised", "deidentified", "none")
#: the levels an export can be made at, widest first (``none`` is a right, not a level)
EXPORT_LEVELS: tuple[str, ...] = ("full", "pseudonymised", "deidentified")

_SITE = frozenset({"investigator", "research_nurse"})
_REVIEW = frozenset({"data_manager", "monitor"})
_BOARD = frozenset({"clinician", "pathologist", "radiologist"})
_ALL = frozenset(ROLES)
_TRIAL = _ALL - _BOARD

# The rationale of each line is the comment beside it.
PERMISSIONS: dict[str, frozenset[str]] = {
    # Everyone signed in to the trial reads pseudonymised study data (their own sites' patients only,
    # when sites are granted): reviewing data is every trial role's work. The board's members who are not
    # trial staff see no study form (access limited to what each role's work needs: 21 CFR 11.10(d),
    # Annex 11 §12.1).
    "read": _TRIAL,
    # One's own account (changing one's password, one's API tokens, the list of accounts and sites): every
    # signed-in person, board members included, who hold no ``read``.
    "account.self": _ALL,
    # Names, dates of birth, hospital numbers: the site staff who treat the patient, and the monitor
    # who compares the CRF with the hospital record (ICH E6 direct access to source documents).
    # Not the data manager or statistician (pseudonymised data suffice), not the admin.
    "read.identifiers": _SITE | {"monitor"},
    # The pathway is run at the site, by the investigator and delegated staff (delegation log).
    "patient.register": _SITE,
    "patient.screen": _SITE,
    "patient.enrol": _SITE,
    # Data entry and its correction stay with the site (ICH E6: changes to CRFs by the investigator
    # or delegated staff); reviewers who could alter data they review would not be independent.
    "record": _SITE,
    "correct": _SITE,
    # Removing a wrongly entered record is a correction of the site's own entry (reason required).
    "delete": _SITE,
    "not_done": _SITE,
    "visit.add": _SITE,
    # Consent is obtained by the investigator or delegated staff, and recorded by them.
    "consent": _SITE,
    "withdraw": _SITE,
    # Queries: raised, closed and reopened by the reviewers (monitor, data manager), answered by
    # the site (REDCap data resolution workflow, OpenClinica discrepancy notes).
    "query.open": _REVIEW,
    "query.respond": _SITE,
    "query.close": _REVIEW,
    "query.reopen": _REVIEW,
    # Source data verification is the monitor's task alone.
    "sdv": frozenset({"monitor"}),
    # The investigator signs the CRFs and the plan QA (responsible for the data at the site,
    # ICH E6 4.9; 21 CFR 11.10(g) authority checks).
    "sign": frozenset({"investigator"}),
    "planqa.store": frozenset({"investigator"}),
    # Locking (a CRF, a patient, the study database) is data management, and so is unlocking.
    "lock": frozenset({"data_manager"}),
    "unlock": frozenset({"data_manager"}),
    "lock.study": frozenset({"data_manager"}),
    "unlock.study": frozenset({"data_manager"}),
    # System administration is kept apart from patient data (Annex 11 §12: rights by role).
    "user.manage": frozenset({"admin"}),
    "site.manage": frozenset({"admin"}),
    "settings.set": frozenset({"admin"}),
    "protocol.amend": frozenset({"admin"}),
    "reference.import": frozenset({"admin"}),
    # The audit trail is reviewed by the admin (access and rights), by the reviewers and by the
    # investigator (their site's data), as ICH E6(R3) asks of audit trail review.
    "audit.read": frozenset({"admin", "investigator", "data_manager", "monitor"}),
    # Reports and exports: the people who analyse and oversee the data. An export is further
    # limited by the account's export right (``export_allowed``).
    "report": frozenset({"investigator", "data_manager", "monitor", "statistician"}),
    "export": frozenset({"investigator", "data_manager", "statistician"}),
    # Replaying the randomisation decrypts the study's seed (the concealed allocation list): the people who
    # check the trial's conduct independently of the site (ICH E9 2.3.2: a reproducible sequence), never the
    # site staff who enrol, nor the admin (no patient data).
    "randomisation.verify": frozenset({"data_manager", "monitor", "statistician"}),
    # The tumour board (docs/tumour-board.md): every patient of the unit is discussed, most in no trial.
    # Its members and the site staff who take part read the board's registry of their sites.
    "board.read": _SITE | _BOARD,
    # Meetings, attendance and the cases put to the board (with their question): the physicians and the
    # research nurse who coordinates the board.
    "board.meeting": _SITE | {"clinician"},
    # Each discipline writes its own part of a case: the radiologist the imaging, the pathologist the pathology.
    "board.imaging": frozenset({"radiologist"}),
    "board.pathology": frozenset({"pathologist"}),
    # The decision is a physician's (the responsible physician is named on it) and so is its signature.
    "board.decide": frozenset({"investigator", "clinician"}),
    "board.sign": frozenset({"investigator", "clinician"}),
    # Second opinions: the request and its documents are registered by the board's staff; the review is
    # written by the discipline asked (a pathologist reviews slides, a radiologist images).
    "second_opinion.request": _SITE | _BOARD,
    "second_opinion.pathology": frozenset({"pathologist"}),
    "second_opinion.imaging": frozenset({"radiologist"}),
    # The registry's documents (docs/tumour-board.md): molecular findings are reported by the pathologist
    # (or entered from the laboratory's report by the physicians and the research nurse); the family
    # history is taken by the physicians and the research nurse; a risk prediction is a physician's tool.
    "registry.molecular": _SITE | {"clinician", "pathologist"},
    "registry.family": _SITE | {"clinician"},
    "registry.predict": _SITE | {"clinician"},
}

PERMISSION_DESCRIPTIONS: dict[str, str] = {
    "read": "read study data (pseudonymised)",
    "account.self": "change one's own password and manage one's own API tokens",
    "read.identifiers": "read a patient's name, date of birth and hospital number",
    "patient.register": "register a referred patient",
    "patient.screen": "screen a patient for eligibility",
    "patient.enrol": "enrol an eligible patient",
    "record": "enter data on a form",
    "correct": "correct data already entered",
    "delete": "delete a record entered in error",
    "not_done": "mark a form or a field not done",
    "visit.add": "add an unscheduled visit",
    "consent": "record consent",
    "withdraw": "record a withdrawal",
    "query.open": "open a query",
    "query.respond": "answer a query",
    "query.close": "close a query",
    "query.reopen": "reopen a query",
    "sdv": "mark data source-verified",
    "sign": "sign a form electronically",
    "lock": "lock a form or a patient",
    "unlock": "unlock a form or a patient",
    "lock.study": "lock the study database",
    "unlock.study": "unlock the study database",
    "user.manage": "create accounts and change their role, sites, export right or password",
    "site.manage": "add sites",
    "settings.set": "change installation settings",
    "audit.read": "read the audit trail",
    "report": "build the study report",
    "export": "export data (at the levels the account's export right allows)",
    "protocol.amend": "bind a protocol amendment",
    "reference.import": "import reference data (CTCAE)",
    "planqa.store": "store a radiotherapy plan QA on a patient",
    "randomisation.verify": "replay every allocation from the study's randomisation seed (the seed is never shown)",
    "board.read": "read the tumour board's meetings, cases, decisions and second opinions",
    "board.meeting": "record a board meeting, who attended, and the cases with their question",
    "board.imaging": "write a case's imaging summary",
    "board.pathology": "write a case's pathology summary",
    "board.decide": "record or correct a board decision",
    "board.sign": "sign a board decision electronically",
    "registry.molecular": "record a registry patient's molecular findings",
    "registry.family": "record a registry patient's family history and germline findings",
    "registry.predict": "predict a registry patient's risk with a loaded risk model",
    "second_opinion.request": "register a second-opinion request and attach its documents",
    "second_opinion.pathology": "write a second-opinion pathology review",
    "second_opinion.imaging": "write a second-opinion imaging review",
}


def allowed(role: str | None, permission: str) -> bool:
    """Whether ``role`` may perform ``permission``. An unknown permission is a programming error."""
    try:
        roles = PERMISSIONS[permission]
    except KeyError:
        raise KeyError(f"unknown permission {permission!r}; known: {', '.join(PERMISSIONS)}") from None
    return role in roles


def export_allowed(right: str, level: str) -> bool:
    """Whether an account with export ``right`` may export at ``level`` (full > pseudonymised > deidentified)."""
    if level not in EXPORT_LEVELS:
        raise KeyError(f"unknown export level {level!r}; known: {', '.join(EXPORT_LEVELS)}")
    if right == "none":
        return False
    return EXPORT_LEVELS.index(level) >= EXPORT_RIGHTS.index(right)


def export_right_rule(role: str, right: str) -> str | None:
    """Why ``right`` cannot go with ``role`` (``None`` when it can)."""
    if right not in EXPORT_RIGHTS:
        return f"must be one of {', '.join(EXPORT_RIGHTS)}"
    if right == "full" and not allowed(role, "read.identifiers"):
        # the full right is the identified export: only for a role that may read identifiers at all
        return (f"a {role.replace('_', ' ')} never receives identifiers (the role does not read them, permission "
                f"read.identifiers): pseudonymised, deidentified or none")
    return None


def default_export_right(role: str) -> str:
    """The export right a new account gets unless one is given: the statistician's work needs pseudonymised data."""
    return "pseudonymised" if role == "statistician" else "none"


def permissions_markdown() -> str:
    """``docs/roles.md``: the permission table as a Markdown page, generated from :data:`PERMISSIONS`."""
    lines = [
        "# Roles and permissions",
        "",
        "Generated from `PERMISSIONS` in `src/sarcotrial/domain/access.py` by `permissions_markdown()`;",
        "a test checks that this page equals its output. Each service action names one permission, and",
        "the study's unit of work refuses it to every role not marked here (FDA 21 CFR 11.10(d) and (g),",
        "EU GMP Annex 11 §12). The reasons for each line are comments beside it in that module.",
        "",
        "## Roles",
        "",
        "| Role | What it is for |",
        "|---|---|",
    ]
    lines += [f"| `{role}` | {ROLE_DESCRIPTIONS[role]} |" for role in ROLES]
    lines += [
        "",
        "An account with sites granted sees and changes only the patients of those sites, in every",
        "listing, report and export; an account with no site is study-wide.",
        "",
        "## Permissions",
        "",
        "| Permission | What it allows | " + " | ".join(f"`{r}`" for r in ROLES) + " |",
        "|---|---|" + "|".join(":-:" for _ in ROLES) + "|",
    ]
    for permission, roles in PERMISSIONS.items():
        marks = " | ".join("yes" if role in roles else "" for role in ROLES)
        lines.append(f"| `{permission}` | {PERMISSION_DESCRIPTIONS[permission]} | {marks} |")
    lines += [
        "",
        "## Export rights",
        "",
        "| Right | May export at |",
        "|---|---|",
    ]
    for right in EXPORT_RIGHTS:
        levels = [level for level in EXPORT_LEVELS if export_allowed(right, level)]
        lines.append(f"| `{right}` | {', '.join(levels) if levels else 'nothing'} |")
    lines += ["", "The right `full` (an identified export) goes only with a role that reads identifiers "
              "(`read.identifiers`): a statistician's or a data manager's right is never `full`, and an identified "
              "export also needs `read.identifiers` at the moment it is made.", ""]
    return "\n".join(lines)
