"""CTCAE v5.0 terms and the grades each term allows.

Standard: Common Terminology Criteria for Adverse Events (CTCAE) version 5.0, U.S. Department of
Health and Human Services, National Institutes of Health, National Cancer Institute, published
27 November 2017. NCI distributes it as a PDF and as the spreadsheet
``CTCAE_v5.0_2017-11-27.xlsx`` (sheet "CTCAE v5.0 Clean Copy": 837 terms in 26 MedDRA system organ
classes; columns MedDRA Code, MedDRA SOC, CTCAE Term, Grade 1 .. Grade 5, Definition, Navigational
Note, CTCAE v5.0 Change). A grade a term does not allow is written " -" in the spreadsheet, and the
grade headers carry non-breaking spaces ("Grade 1 \\xa0\\xa0").

What SarcoTrial ships and what it does not:

* ``data/ctcae_v5_catalogue.csv`` (package ``sarcotrial.domain``) is the *factual* catalogue
  derived from NCI's spreadsheet: for each term its MedDRA code, MedDRA SOC, CTCAE term name and
  allowed grades (``"1;2;3;5"``). Nothing else: no grade-definition text, no definitions, no
  navigational notes. It is a plain CSV with the header
  ``meddra_code,soc,term,allowed_grades``, in the spreadsheet's row order, regenerated with::

      python -m sarcotrial.domain.ctcae_build CTCAE_v5.0_2017-11-27.xlsx \\
          src/sarcotrial/domain/data/ctcae_v5_catalogue.csv

* The spreadsheet itself is never committed. A site that wants the grade-definition text on
  screen imports its own copy of NCI's file with :func:`read_ctcae_workbook` (the CLI's
  ``sarcotrial ctcae import FILE``); terms loaded from the shipped CSV have empty
  ``grade_definitions``.

CTCAE v6.0 now exists: every recorded toxicity event should carry :data:`CTCAE_VERSION` so that a
later change of version is visible in the data.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import re
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Iterable

from openpyxl import load_workbook

from sarcotrial.domain.histology import normalize_term
from sarcotrial.errors import InvalidValue

__all__ = [
    "CTCAE_VERSION",
    "CTCAE_SHEET",
    "CATALOGUE_COLUMNS",
    "CtcaeTerm",
    "read_ctcae_workbook",
    "write_catalogue",
    "read_catalogue",
    "catalogue",
    "ctcae_term",
    "search_terms",
    "validate_grade",
]

CTCAE_VERSION = "5.0"
"""The CTCAE version this module encodes (NCI, 27 November 2017)."""

CTCAE_SHEET = "CTCAE v5.0 Clean Copy"
"""The sheet of NCI's spreadsheet that holds the terms."""

CATALOGUE_COLUMNS = ("meddra_code", "soc", "term", "allowed_grades")
"""Header of the shipped factual catalogue (CSV)."""

GRADES = (1, 2, 3, 4, 5)

_CATALOGUE_PACKAGE = "sarcotrial.domain"
_CATALOGUE_RESOURCE = ("data", "ctcae_v5_catalogue.csv")

# Spreadsheet header (normalised: no-break spaces to spaces, whitespace collapsed, casefolded)
# -> attribute name. "CTCAE v5.0 Change" is read past: it records the edit history, not a fact
# of the term.
_REQUIRED_HEADERS = {
    "meddra code": "meddra_code",
    "meddra soc": "soc",
    "ctcae term": "term",
    "grade 1": 1,
    "grade 2": 2,
    "grade 3": 3,
    "grade 4": 4,
    "grade 5": 5,
    "definition": "definition",
    "navigational note": "navigational_note",
}


@dataclass(frozen=True)
class CtcaeTerm:
    """One CTCAE v5.0 term.

    ``allowed_grades`` is the sorted tuple of grades (among 1..5) the term defines;
    ``grade_definitions`` maps each allowed grade to NCI's text and is empty for terms loaded from
    the shipped catalogue (which carries facts only). ``definition`` and ``navigational_note`` are
    ``None`` where NCI gives none (or where the term comes from the shipped catalogue).
    """

    meddra_code: int
    soc: str
    term: str
    allowed_grades: tuple[int, ...]
    grade_definitions: dict[int, str] = field(default_factory=dict, hash=False, compare=True)
    definition: str | None = None
    navigational_note: str | None = None

    def allows(self, grade: int) -> bool:
        """Whether CTCAE v5.0 defines ``grade`` for this term."""
        return grade in self.allowed_grades

    def facts(self) -> tuple[int, str, str, tuple[int, ...]]:
        """The facts the shipped catalogue holds: (MedDRA code, SOC, term, allowed grades)."""
        return (self.meddra_code, self.soc, self.term, self.allowed_grades)


# --------------------------------------------------------------------------------------------
# Text normalisation


def _one_line(value: object) -> str:
    """A cell as one line: no-break spaces become spaces, runs of whitespace collapse."""
    if value is None:
        return ""
    return " ".join(str(value).replace("\xa0", " ").split())


def _text(value: object) -> str:
    """A cell as text: each line tidied like :func:`_one_line`, blank lines dropped.

    NCI's cells occasionally use line breaks to separate populations (e.g. "Adult: ...",
    "Infants: ..."), so line breaks are kept.
    """
    if value is None:
        return ""
    lines = (_one_line(line) for line in str(value).replace("\xa0", " ").splitlines())
    return "\n".join(line for line in lines if line)


def _is_not_allowed(cell: str) -> bool:
    """NCI writes a grade a term does not allow as " -" (sometimes other dashes or nothing)."""
    return cell in ("", "-", "\u2013", "\u2014")


def _key(name: str) -> str:
    """Lookup key of a term name: case-insensitive and whitespace-insensitive."""
    return "".join(str(name).replace("\xa0", " ").split()).casefold()


def _format_grades(grades: Iterable[int]) -> str:
    return ";".join(str(g) for g in grades)


def _grades_phrase(grades: tuple[int, ...]) -> str:
    word = "grade" if len(grades) == 1 else "grades"
    return f"{word} {', '.join(str(g) for g in grades)}"


# --------------------------------------------------------------------------------------------
# NCI's spreadsheet


def read_ctcae_workbook(path: str | PathLike[str]) -> list[CtcaeTerm]:
    """Parse NCI's CTCAE v5.0 spreadsheet into terms, in the spreadsheet's row order.

    Reads the sheet "CTCAE v5.0 Clean Copy" with openpyxl in read-only mode. Headers and cells
    are compared after turning no-break spaces into spaces and collapsing whitespace; a grade cell
    holding " -" (or nothing) marks a grade the term does not allow.

    Raises ``InvalidValue("file", ...)``, naming the file, when the file is missing, is not an
    .xlsx workbook, lacks the sheet or one of the required columns, or holds a malformed row
    (MedDRA code not a whole number, empty term or SOC, duplicated term, no allowed grade).
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidValue("file", f"{file}: no such file")

    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, openpyxl's InvalidFileException, KeyError...
        raise InvalidValue(
            "file", f"{file}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})"
        ) from exc

    try:
        sheet_name = _find_sheet(workbook.sheetnames, file)
        rows = workbook[sheet_name].iter_rows(values_only=True)
        header = next(rows, None)
        columns = _map_header(header, file)
        terms = _parse_rows(rows, columns, file)
    except InvalidValue:
        raise
    except Exception as exc:  # a damaged sheet part surfaces only while rows are read
        raise InvalidValue(
            "file", f"{file}: sheet '{CTCAE_SHEET}' could not be read ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        workbook.close()

    if not terms:
        raise InvalidValue("file", f"{file}: sheet '{CTCAE_SHEET}' holds no terms")
    return terms


def _find_sheet(sheetnames: list[str], file: Path) -> str:
    wanted = _one_line(CTCAE_SHEET).casefold()
    for name in sheetnames:
        if _one_line(name).casefold() == wanted:
            return name
    found = ", ".join(repr(n) for n in sheetnames) or "none"
    raise InvalidValue(
        "file",
        f"{file}: sheet '{CTCAE_SHEET}' not found (sheets: {found}); "
        "is this NCI's CTCAE v5.0 spreadsheet?",
    )


def _map_header(header: tuple | None, file: Path) -> dict[str | int, int]:
    """Column index of every required header."""
    positions: dict[str | int, int] = {}
    for index, cell in enumerate(header or ()):
        name = _one_line(cell).casefold()
        if name in _REQUIRED_HEADERS and _REQUIRED_HEADERS[name] not in positions:
            positions[_REQUIRED_HEADERS[name]] = index
    missing = [
        title
        for title, attribute in (
            ("MedDRA Code", "meddra_code"),
            ("MedDRA SOC", "soc"),
            ("CTCAE Term", "term"),
            ("Grade 1", 1),
            ("Grade 2", 2),
            ("Grade 3", 3),
            ("Grade 4", 4),
            ("Grade 5", 5),
            ("Definition", "definition"),
            ("Navigational Note", "navigational_note"),
        )
        if attribute not in positions
    ]
    if missing:
        raise InvalidValue(
            "file",
            f"{file}: sheet '{CTCAE_SHEET}' lacks the column(s) {', '.join(missing)} "
            "in its first row",
        )
    return positions


def _cell(row: tuple, index: int) -> object:
    return row[index] if index < len(row) else None


def _meddra_code(value: object, file: Path, row_number: int) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        code = value
    elif isinstance(value, float) and value.is_integer():
        code = int(value)
    else:
        text = _one_line(value)
        if not re.fullmatch(r"\d+", text):
            raise InvalidValue(
                "file", f"{file}: row {row_number}: MedDRA code {value!r} is not a whole number"
            )
        code = int(text)
    if code <= 0:
        raise InvalidValue("file", f"{file}: row {row_number}: MedDRA code {code} is not positive")
    return code


def _parse_rows(rows: Iterable[tuple], columns: dict[str | int, int], file: Path) -> list[CtcaeTerm]:
    terms: list[CtcaeTerm] = []
    seen: dict[str, int] = {}
    for row_number, row in enumerate(rows, start=2):
        if row is None or all(_one_line(c) == "" for c in row):
            continue  # trailing blank rows of a read-only sheet
        term = _one_line(_cell(row, columns["term"]))
        soc = _one_line(_cell(row, columns["soc"]))
        if not term:
            raise InvalidValue("file", f"{file}: row {row_number}: empty CTCAE Term")
        if not soc:
            raise InvalidValue("file", f"{file}: row {row_number}: '{term}' has no MedDRA SOC")
        code = _meddra_code(_cell(row, columns["meddra_code"]), file, row_number)
        key = _key(term)
        if key in seen:
            raise InvalidValue(
                "file", f"{file}: row {row_number}: term '{term}' repeats row {seen[key]}"
            )
        seen[key] = row_number

        grade_definitions: dict[int, str] = {}
        for grade in GRADES:
            text = _text(_cell(row, columns[grade]))
            if not _is_not_allowed(text):
                grade_definitions[grade] = text
        if not grade_definitions:
            raise InvalidValue("file", f"{file}: row {row_number}: '{term}' allows no grade")

        definition = _text(_cell(row, columns["definition"]))
        note = _text(_cell(row, columns["navigational_note"]))
        terms.append(
            CtcaeTerm(
                meddra_code=code,
                soc=soc,
                term=term,
                allowed_grades=tuple(sorted(grade_definitions)),
                grade_definitions=grade_definitions,
                definition=None if _is_not_allowed(definition) else definition,
                navigational_note=None if _is_not_allowed(note) else note,
            )
        )
    return terms


# --------------------------------------------------------------------------------------------
# The shipped factual catalogue


def write_catalogue(terms: Iterable[CtcaeTerm], path: str | PathLike[str]) -> int:
    """Write the factual catalogue (MedDRA code, SOC, term, allowed grades) as CSV.

    Only facts are written, never grade-definition text. Rows keep the order given. Returns the
    number of terms written.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CATALOGUE_COLUMNS)
    count = 0
    for term in terms:
        writer.writerow(
            (term.meddra_code, term.soc, term.term, _format_grades(term.allowed_grades))
        )
        count += 1
    Path(path).write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return count


def _parse_catalogue(text: str, source: str) -> list[CtcaeTerm]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != CATALOGUE_COLUMNS:
        raise InvalidValue(
            "file", f"{source}: first row must be {','.join(CATALOGUE_COLUMNS)} (got {header!r})"
        )
    terms: list[CtcaeTerm] = []
    seen: set[str] = set()
    for line_number, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(CATALOGUE_COLUMNS):
            raise InvalidValue("file", f"{source}: line {line_number}: expected 4 fields, got {len(row)}")
        code_text, soc, name, grades_text = (c.strip() for c in row)
        try:
            code = int(code_text)
            grades = tuple(sorted(int(g) for g in grades_text.split(";") if g.strip()))
        except ValueError as exc:
            raise InvalidValue("file", f"{source}: line {line_number}: {exc}") from exc
        if not name or not soc or not grades or any(g not in GRADES for g in grades):
            raise InvalidValue("file", f"{source}: line {line_number}: malformed row {row!r}")
        if _key(name) in seen:
            raise InvalidValue("file", f"{source}: line {line_number}: term '{name}' repeated")
        seen.add(_key(name))
        terms.append(CtcaeTerm(meddra_code=code, soc=soc, term=name, allowed_grades=grades))
    return terms


def read_catalogue(path: str | PathLike[str]) -> list[CtcaeTerm]:
    """Read a factual catalogue written by :func:`write_catalogue` (grade text stays empty)."""
    file = Path(path)
    if not file.is_file():
        raise InvalidValue("file", f"{file}: no such file")
    return _parse_catalogue(file.read_text(encoding="utf-8"), str(file))


@functools.cache
def _shipped_terms() -> tuple[CtcaeTerm, ...]:
    resource = resources.files(_CATALOGUE_PACKAGE).joinpath(*_CATALOGUE_RESOURCE)
    text = resource.read_text(encoding="utf-8")
    return tuple(_parse_catalogue(text, "/".join(_CATALOGUE_RESOURCE)))


@functools.cache
def _index() -> dict[str, CtcaeTerm]:
    return {_key(t.term): t for t in _shipped_terms()}


@functools.cache
def _display_names() -> dict[str, str]:
    """Casefolded, whitespace-collapsed name -> official name, for suggestions."""
    return {_one_line(t.term).casefold(): t.term for t in _shipped_terms()}


def catalogue() -> dict[str, CtcaeTerm]:
    """The shipped CTCAE v5.0 catalogue: official term name -> term, in NCI's order.

    Loaded once from ``sarcotrial.domain/data/ctcae_v5_catalogue.csv``; each call returns a new
    dict over the same cached (immutable) terms, so a caller cannot alter the catalogue.
    """
    return {t.term: t for t in _shipped_terms()}


@functools.lru_cache(maxsize=1)
def _spelling_index() -> dict[str, CtcaeTerm]:
    return {normalize_term(t.term): t for t in _shipped_terms()}


def ctcae_term(name: str) -> CtcaeTerm:
    """The CTCAE v5.0 term called ``name`` (case- and whitespace-insensitive).

    An unknown name raises ``InvalidValue("term", "not a CTCAE v5.0 term ...", name)`` whose rule
    offers up to three close names.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("term", "a CTCAE v5.0 term name is required", name)
    found = _index().get(_key(name))
    if found is not None:
        return found
    spelled = _spelling_index().get(normalize_term(name))  # British spelling: "Lymphoedema" is "Lymphedema"
    if spelled is not None:
        return spelled
    names = _display_names()
    close = difflib.get_close_matches(_one_line(name).casefold(), list(names), n=3, cutoff=0.6)
    rule = "not a CTCAE v5.0 term"
    if close:
        rule += "; did you mean " + ", ".join(f"'{names[c]}'" for c in close) + "?"
    raise InvalidValue("term", rule, name)


def search_terms(query: str) -> list[CtcaeTerm]:
    """Terms whose name contains every word of ``query`` (case-insensitive).

    A query of digits also matches the MedDRA code exactly. Results: exact name first, then names
    starting with the query, then the rest, each group alphabetical. An empty query is refused.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidValue("query", "a search text is required", query)
    wanted = _one_line(query).casefold()
    words = normalize_term(wanted).split()  # spelling-insensitive: oedema = edema, haem = hem
    hits: list[tuple[int, str, CtcaeTerm]] = []
    for term in _shipped_terms():
        name = _one_line(term.term).casefold()
        if wanted.isdigit() and int(wanted) == term.meddra_code:
            hits.append((0, name, term))
        elif all(word in normalize_term(name) for word in words):
            rank = 0 if name == wanted else 1 if name.startswith(wanted) else 2
            hits.append((rank, name, term))
    hits.sort(key=lambda hit: (hit[0], hit[1]))
    return [term for _, _, term in hits]


def validate_grade(term: str, grade: int) -> CtcaeTerm:
    """Check that CTCAE v5.0 defines ``grade`` for ``term``; return the term.

    Grades are whole numbers 1..5; a grade the term does not define is refused with a rule such
    as ``CTCAE v5.0 'Alopecia' allows grades 1, 2 only``. An unknown term is refused as by
    :func:`ctcae_term`.
    """
    if isinstance(grade, bool) or not isinstance(grade, int) or grade not in GRADES:
        raise InvalidValue("grade", "a CTCAE grade is a whole number from 1 to 5", grade)
    found = ctcae_term(term)
    if grade not in found.allowed_grades:
        raise InvalidValue(
            "grade",
            f"CTCAE v{CTCAE_VERSION} '{found.term}' allows {_grades_phrase(found.allowed_grades)} only",
            grade,
        )
    return found
