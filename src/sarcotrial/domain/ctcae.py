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

      python -m sarcotrial.services.ctcae_build CTCAE_v5.0_2017-11-27.xlsx \\
          src/sarcotrial/domain/data/ctcae_v5_catalogue.csv

* The spreadsheet itself is never committed. A site that wants the grade-definition text on
  screen imports its own copy of NCI's file (the CLI's ``sarcotrial ctcae import FILE``); terms
  loaded from the shipped CSV have empty ``grade_definitions``. Opening the .xlsx file is the
  import service's work (:func:`sarcotrial.services.reference.read_ctcae_workbook`, with
  openpyxl): this module only turns the sheet's rows into terms (:func:`parse_ctcae_sheet`), as
  ``domain`` reads no files but its own packaged data.

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

from sarcotrial.domain.histology import normalize_term
from sarcotrial.errors import InvalidValue

__all__ = [
    "CTCAE_VERSION",
    "CTCAE_SHEET",
    "CATALOGUE_COLUMNS",
    "CtcaeTerm",
    "GENERAL_GRADES",
    "ctcae_sheet_name",
    "parse_ctcae_sheet",
    "write_catalogue",
    "read_catalogue",
    "catalogue",
    "ctcae_term",
    "search_terms",
    "find_terms",
    "synonyms",
    "TermMatch",
    "validate_grade",
]

CTCAE_VERSION = "5.0"
"""The CTCAE version this module encodes (NCI, 27 November 2017)."""

CTCAE_SHEET = "CTCAE v5.0 Clean Copy"
"""The sheet of NCI's spreadsheet that holds the terms."""

CATALOGUE_COLUMNS = ("meddra_code", "soc", "term", "allowed_grades")
"""Header of the shipped factual catalogue (CSV)."""

GRADES = (1, 2, 3, 4, 5)

GENERAL_GRADES = {
    1: "Mild; asymptomatic or mild symptoms; clinical or diagnostic observations only; intervention not indicated.",
    2: "Moderate; minimal, local or noninvasive intervention indicated; limiting age-appropriate instrumental ADL.",
    3: "Severe or medically significant but not immediately life-threatening; hospitalization or prolongation of "
       "hospitalization indicated; disabling; limiting self care ADL.",
    4: "Life-threatening consequences; urgent intervention indicated.",
    5: "Death related to AE.",
}
"""CTCAE v5.0's general description of each grade (NCI, 27 November 2017, "Grades"), which every
term's own wording specifies; shown where a study has not imported the terms' own definitions."""

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


def ctcae_sheet_name(sheetnames: list[str], file: str | PathLike[str]) -> str:
    """The name of NCI's sheet "CTCAE v5.0 Clean Copy" among a workbook's sheets (compared after
    tidying whitespace and case); ``InvalidValue("file", ...)`` naming the file where it is absent."""
    return _find_sheet(sheetnames, Path(file))


def parse_ctcae_sheet(header: tuple | None, rows: Iterable[tuple], file: str | PathLike[str]) -> list[CtcaeTerm]:
    """Terms from the rows of NCI's sheet (its first row ``header``, then ``rows`` of cell values),
    in the sheet's order.

    Headers and cells are compared after turning no-break spaces into spaces and collapsing
    whitespace; a grade cell holding " -" (or nothing) marks a grade the term does not allow.
    Raises ``InvalidValue("file", ...)``, naming ``file``, when a required column is missing, a
    row is malformed (MedDRA code not a whole number, empty term or SOC, duplicated term, no
    allowed grade) or the sheet holds no term.
    """
    source = Path(file)
    terms = _parse_rows(rows, _map_header(header, source), source)
    if not terms:
        raise InvalidValue("file", f"{source}: sheet '{CTCAE_SHEET}' holds no terms")
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
    """The CTCAE v5.0 term ``name`` stands for, as a clinician may write it.

    Accepted: NCI's name (case- and whitespace-insensitive), its British spelling ("Lymphoedema"
    is "Lymphedema"), its words in another order ("radiation dermatitis" is "Dermatitis
    radiation"), and a common synonym of ``data/ctcae_synonyms.yaml`` that names one term only
    ("hair loss" is "Alopecia"), or its MedDRA code. The term returned carries NCI's name: store
    that.

    Words that stand for several terms equally well ("limb swelling": Lymphedema or Edema limbs)
    raise ``InvalidValue("term", "... names several CTCAE v5.0 terms; choose one: ...", name)``;
    an unknown name raises ``InvalidValue("term", "not a CTCAE v5.0 term ...", name)`` whose rule
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
    ranked = _rank(name)
    best = [hit for hit in ranked if hit.tier == ranked[0].tier] if ranked else []
    if best and best[0].tier <= _TIER_SAME_WORDS:
        if len(best) == 1:
            return best[0].term
        names = ", ".join(f"'{hit.term.term}'" for hit in best[:6])
        raise InvalidValue("term", f"names several CTCAE v{CTCAE_VERSION} terms; choose one: {names}", name)
    rule = "not a CTCAE v5.0 term"
    close = [hit.term.term for hit in ranked[:3]]
    if not close:
        names = _display_names()
        close = [names[c] for c in
                 difflib.get_close_matches(_one_line(name).casefold(), list(names), n=3, cutoff=0.6)]
    if close:
        rule += "; did you mean " + ", ".join(f"'{c}'" for c in close) + "?"
    raise InvalidValue("term", rule, name)


# --------------------------------------------------------------------------------------------
# Search by the words clinicians use

_SYNONYMS_RESOURCE = ("data", "ctcae_synonyms.yaml")

# Words that carry no meaning for the match ("oedema of the limbs" is "Edema limbs").
_SEARCH_STOP_WORDS = frozenset({"of", "the", "and", "in", "a", "an", "to", "with", "on", "or", "at", "after"})

# How a term matches a query, best first.
_TIER_CODE = 0         # the query is the term's MedDRA code
_TIER_NAME = 0         # the query is the term's name (any spelling)
_TIER_SYNONYM = 1      # the query is a synonym of the term
_TIER_SAME_WORDS = 2   # the query has the name's words in another order
_TIER_NAME_START = 3   # the name starts with the query (typing in progress)
_TIER_WORD_START = 4   # every query word starts a word of the name
_TIER_SYNONYM_START = 5  # every query word starts a word of a synonym of the term
_TIER_CONTAINS = 6     # every query word occurs inside the name

TIER_NAMES = {
    0: "name", 1: "synonym", 2: "word order", 3: "name start", 4: "words", 5: "synonym words", 6: "part of a word",
}
"""What each tier of :class:`TermMatch` means, for a listing."""


@dataclass(frozen=True)
class TermMatch:
    """A term found for a query: the term, how it matched (``tier``: lower is better) and, when a
    synonym matched, the clinician's words that led to it."""

    term: CtcaeTerm
    tier: int
    synonym: str | None = None

    @property
    def how(self) -> str:
        return TIER_NAMES[self.tier]


def _search_words(text: str) -> tuple[str, ...]:
    """The words a match compares: spelling-, case-, hyphen- and plural-insensitive, without
    words like "of" or "the" (kept when they are all there is)."""
    words = tuple(normalize_term(text).split())
    kept = tuple(w for w in words if w not in _SEARCH_STOP_WORDS)
    return kept or words


@functools.cache
def synonyms() -> dict[str, tuple[str, ...]]:
    """The shipped synonyms: NCI term name -> the clinicians' phrases for it (file order).

    Read from ``data/ctcae_synonyms.yaml``; a term that is not in the catalogue, a phrase that is
    not text or one repeated under a term raises ``InvalidValue("ctcae_synonyms.yaml", ...)``.
    """
    import yaml

    resource = resources.files(_CATALOGUE_PACKAGE).joinpath(*_SYNONYMS_RESOURCE)
    data = yaml.safe_load(resource.read_text(encoding="utf-8"))
    where = "ctcae_synonyms.yaml"
    if not isinstance(data, dict):
        raise InvalidValue(where, "must map NCI term names to lists of phrases")
    known = _index()
    out: dict[str, tuple[str, ...]] = {}
    for name, phrases in data.items():
        term = known.get(_key(str(name)))
        if term is None or term.term != name:
            raise InvalidValue(where, "not a CTCAE v5.0 term name as NCI spells it", name)
        if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise InvalidValue(where, f"'{name}' must list one or more phrases", phrases)
        forms = [_search_words(p) for p in phrases]
        if len(set(forms)) != len(forms):
            raise InvalidValue(where, f"'{name}' lists a phrase twice", phrases)
        out[name] = tuple(_one_line(p) for p in phrases)
    return out


@dataclass(frozen=True)
class _Entry:
    term: CtcaeTerm
    words: tuple[str, ...]
    joined: str
    phrases: tuple[tuple[str, tuple[str, ...]], ...]  # (phrase as written, its words)


@functools.cache
def _search_index() -> tuple[_Entry, ...]:
    phrases = synonyms()
    entries = []
    for term in _shipped_terms():
        words = _search_words(term.term)
        entries.append(_Entry(term, words, " ".join(words),
                              tuple((p, _search_words(p)) for p in phrases.get(term.term, ()))))
    return tuple(entries)


@functools.cache
def _synonym_order() -> dict[tuple[str, ...], dict[str, int]]:
    """Synonym words -> {term name: its place in the file}: the order ambiguous phrases are offered in."""
    order: dict[tuple[str, ...], dict[str, int]] = {}
    position = 0
    for name, phrases in synonyms().items():
        for phrase in phrases:
            order.setdefault(_search_words(phrase), {})[name] = position
            position += 1
    return order


def _starts_words(query: tuple[str, ...], words: tuple[str, ...]) -> bool:
    """Every query word starts a different word of ``words`` (in any order)."""
    free = list(words)
    for q in sorted(query, key=len, reverse=True):
        match = next((w for w in free if w.startswith(q)), None)
        if match is None:
            return False
        free.remove(match)
    return True


def _match(entry: _Entry, query: tuple[str, ...], joined: str) -> tuple[int, str | None, int] | None:
    """(tier, synonym, place of the synonym) of the best way ``entry`` matches the query, or None."""
    if entry.words == query:
        return _TIER_NAME, None, 0
    order = _synonym_order()
    for phrase, words in entry.phrases:
        if words == query or sorted(words) == sorted(query):
            return _TIER_SYNONYM, phrase, order[words][entry.term.term]
    if sorted(entry.words) == sorted(query):
        return _TIER_SAME_WORDS, None, 0
    if entry.joined.startswith(joined):
        return _TIER_NAME_START, None, 0
    if _starts_words(query, entry.words):
        return _TIER_WORD_START, None, 0
    for phrase, words in entry.phrases:
        if _starts_words(query, words):
            return _TIER_SYNONYM_START, phrase, order[words][entry.term.term]
    compact = entry.joined.replace(" ", "")
    if all(q in compact for q in query):
        return _TIER_CONTAINS, None, 0
    return None


def _rank(query: str) -> list[TermMatch]:
    text = _one_line(query)
    if text.isdigit():
        return [TermMatch(t, _TIER_CODE) for t in _shipped_terms() if t.meddra_code == int(text)]
    words = _search_words(text)
    if not words:
        return []
    joined = " ".join(words)
    hits = []
    for entry in _search_index():
        found = _match(entry, words, joined)
        if found is not None:
            tier, phrase, place = found
            extra = len(entry.words) - len(words)
            hits.append(((tier, place, max(extra, 0), entry.term.term.casefold()), TermMatch(entry.term, tier, phrase)))
    hits.sort(key=lambda hit: hit[0])
    return [match for _, match in hits]


def find_terms(query: str, limit: int | None = None) -> list[TermMatch]:
    """CTCAE v5.0 terms for the words a clinician types, best first (at most ``limit``).

    The query and the names are compared word by word after folding case, hyphens, plurals and
    British spelling ("oedema" = "edema", "haemorrhage" = "hemorrhage"), in any word order, and
    against the common synonyms of ``data/ctcae_synonyms.yaml``. Order: the name itself (or the
    MedDRA code), a synonym (several terms of one phrase in the file's order), the name's words in
    another order, names starting with the query, names with a word starting with each query word,
    synonyms with such words, names holding each query word; within one of these, names with fewer
    other words first, then alphabetical. A blank query is refused; unknown words find nothing.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidValue("query", "a search text is required", query)
    ranked = _rank(query)
    return ranked if limit is None else ranked[:limit]


def search_terms(query: str) -> list[CtcaeTerm]:
    """The terms :func:`find_terms` finds for ``query``, best first (``sarcotrial ctcae show``).

    A query of digits matches the MedDRA code exactly; an empty query is refused.
    """
    return [match.term for match in find_terms(query)]


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
