"""Reference data kept in the study database: NCI's CTCAE v5.0 grade definitions.

SarcoTrial ships the factual CTCAE catalogue (term, system organ class, MedDRA code, allowed
grades) so that grading works on a fresh install; the wording of each grade is NCI's, and comes
into a study only when the unit imports NCI's own spreadsheet. The import is one transaction:
it replaces the previous definitions of that version entirely, or leaves them untouched.
"""

from __future__ import annotations

import hashlib
from os import PathLike
from pathlib import Path

from sqlalchemy import delete, select

from sarcotrial.domain.ctcae import (
    CTCAE_SHEET,
    CTCAE_VERSION,
    CtcaeTerm,
    catalogue,
    ctcae_sheet_name,
    parse_ctcae_sheet,
)
from sarcotrial.errors import InvalidValue
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import CtcaeGradeDefinition


def read_ctcae_workbook(path: str | PathLike[str]) -> list[CtcaeTerm]:
    """Parse NCI's CTCAE v5.0 spreadsheet into terms, in the spreadsheet's row order.

    Opens the .xlsx file with openpyxl in read-only mode and reads its sheet "CTCAE v5.0 Clean
    Copy"; the rows become terms by :func:`sarcotrial.domain.ctcae.parse_ctcae_sheet`.

    Raises ``InvalidValue("file", ...)``, naming the file, when the file is missing, is not an
    .xlsx workbook, lacks the sheet or one of the required columns, or holds a malformed row
    (MedDRA code not a whole number, empty term or SOC, duplicated term, no allowed grade).
    """
    from openpyxl import load_workbook  # here: openpyxl is only needed by an import

    file = Path(path)
    if not file.is_file():
        raise InvalidValue("file", f"{file}: no such file")
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, openpyxl's InvalidFileException, KeyError...
        raise InvalidValue("file", f"{file}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    try:
        rows = workbook[ctcae_sheet_name(workbook.sheetnames, file)].iter_rows(values_only=True)
        return parse_ctcae_sheet(next(rows, None), rows, file)
    except InvalidValue:
        raise
    except Exception as exc:  # a damaged sheet part surfaces only while rows are read
        raise InvalidValue("file", f"{file}: sheet '{CTCAE_SHEET}' could not be read ({type(exc).__name__}: {exc})") from exc
    finally:
        workbook.close()


def import_ctcae(study: StudyDB, path: Path, actor: Actor | None = None) -> tuple[int, int]:
    """Load every term's grade definitions; returns (terms, grade definitions)."""
    terms = read_ctcae_workbook(path)
    shipped = catalogue()
    unknown = [t.term for t in terms if t.term not in shipped]
    if unknown:
        raise InvalidValue("file", f"{path} has terms not in CTCAE v{CTCAE_VERSION} as shipped "
                           f"(e.g. {', '.join(unknown[:3])}); is it another CTCAE version?", show_value=False)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    who = (actor.name if actor else "import")
    rows = [CtcaeGradeDefinition(version=CTCAE_VERSION, meddra_code=t.meddra_code, soc=t.soc, term=t.term, grade=g,
                                 definition=text, imported_by=who, source_sha256=digest)
            for t in terms for g, text in sorted(t.grade_definitions.items())]
    # a write: the study's write transaction (serialised with every other writer), not a read's
    unit = (study.action(actor, f"CTCAE v{CTCAE_VERSION} grade definitions imported", permission="reference.import")
            if actor is not None else study._recording(who, "reference import"))
    with unit as session:
        session.execute(delete(CtcaeGradeDefinition).where(CtcaeGradeDefinition.version == CTCAE_VERSION))
        session.add_all(rows)
    return len(terms), len(rows)


def grade_definitions(db_url: str | None, terms: list[str]) -> dict[str, dict[int, str]]:
    """Imported definitions for these terms (empty where none were imported, or no study is reachable)."""
    if not terms:
        return {}
    try:
        study = StudyDB.open(db_url)
    except Exception:
        return {}
    with study, study.reading() as session:
        out: dict[str, dict[int, str]] = {}
        rows = session.scalars(select(CtcaeGradeDefinition).where(CtcaeGradeDefinition.term.in_(terms),
                                                                   CtcaeGradeDefinition.version == CTCAE_VERSION))
        for row in rows:
            out.setdefault(row.term, {})[row.grade] = row.definition
        return out


def term_grades(study: StudyDB, actor: Actor | None, term: str) -> dict[int, str]:
    """NCI's definition of each grade of one CTCAE term, as imported into this study (``sarcotrial
    ctcae import``); empty when the unit has not imported NCI's spreadsheet."""
    with study.reading(actor) as session:
        rows = session.scalars(select(CtcaeGradeDefinition).where(CtcaeGradeDefinition.term == term,
                                                                   CtcaeGradeDefinition.version == CTCAE_VERSION))
        return {row.grade: row.definition for row in rows}
