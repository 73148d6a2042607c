"""Soft tissue tumour histotypes: the WHO 2020 classification with ICD-O codes, and a search on it.

Standard: WHO Classification of Tumours Editorial Board. Soft tissue and bone tumours. Lyon: IARC;
2020 (WHO Classification of Tumours, 5th ed., vol. 3), soft tissue part: every malignant and
intermediate (locally aggressive / rarely metastasizing) entity of its twelve chapters, with the
ICD-O morphology/behaviour codes WHO prints, which are those of ICD-O-3.2 (IARC, 2019). For each
entity the catalogue also records the FNCLCC tumour differentiation score (Guillou et al., J Clin
Oncol 1997;15:350-62; Coindre, Arch Pathol Lab Med 2006;130:1448-53) and whether the AJCC 8th ed.
soft tissue sarcoma TNM chapters stage it (they exclude desmoid fibromatosis and Kaposi sarcoma;
GIST has its own chapter).

Why hand-written data: no maintained Python library ships the WHO 2020 soft tissue classification
with its ICD-O-3.2 codes (the WHO/IARC books and the ICD-O-3.2 spreadsheet are not distributed as a
package, and general ontologies such as NCIt or OncoTree do not carry the WHO behaviour headings or
the FNCLCC scores). The catalogue is therefore kept as reviewed data in
``data/histotypes.yaml`` (package ``sarcotrial.domain``), each chapter citing its source, and this
module only loads, validates and searches it.

Search (:func:`search_histotypes`) is case-, accent-, hyphen-, apostrophe- and British/American
spelling-insensitive ("haemangio" = "hemangio", "tumour" = "tumor", "oesophag" = "esophag",
"Ewing's" = "Ewing"), ranks exact name/synonym matches first, then prefix, word-prefix and substring
matches, and reports obsolete terms (e.g. "malignant mesenchymoma") with the current entities they
may correspond to.

The same file holds the anatomical site categories (AJCC 8 site chapters) and the unit's case mix
(limbs 60 %, retroperitoneum 15 %, superficial trunk 10 %, head and neck 5 %, visceral 10 %), used by
the demo data generator: :data:`SITES`, :func:`site_case_mix`.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from sarcotrial.errors import InvalidValue

__all__ = [
    "BEHAVIOURS",
    "FAMILIES",
    "SITES",
    "ICDO3_PATTERN",
    "Histotype",
    "ObsoleteTerm",
    "SearchResult",
    "histotypes",
    "histotype",
    "histotype_by_icdo3",
    "chapter_source",
    "obsolete_terms",
    "search_histotypes",
    "site_case_mix",
    "normalize_term",
]

BEHAVIOURS = (
    "malignant",
    "intermediate (locally aggressive)",
    "intermediate (rarely metastasizing)",
)
"""WHO behaviour headings used in the catalogue."""

FAMILIES = (
    "adipocytic tumours",
    "fibroblastic and myofibroblastic tumours",
    "so-called fibrohistiocytic tumours",
    "vascular tumours",
    "pericytic (perivascular) tumours",
    "smooth muscle tumours",
    "skeletal muscle tumours",
    "gastrointestinal stromal tumour",
    "chondro-osseous tumours",
    "peripheral nerve sheath tumours",
    "tumours of uncertain differentiation",
    "undifferentiated small round cell sarcomas of bone and soft tissue",
)
"""The soft tissue chapters of WHO 2020, in the book's order."""

SITES = ("extremity", "trunk", "retroperitoneum", "head_neck", "visceral")
"""Anatomical site categories: extremity, superficial trunk, retroperitoneum, head and neck,
visceral (thoracic and abdominal organs); the AJCC 8 site chapters."""

ICDO3_PATTERN = re.compile(r"^\d{4}/[0-3]$")
"""ICD-O morphology/behaviour code, e.g. ``8850/3``."""

_PACKAGE = "sarcotrial.domain"
_RESOURCE = ("data", "histotypes.yaml")
_SOURCE_NAME = "histotypes.yaml"


@dataclass(frozen=True)
class Histotype:
    """One WHO 2020 soft tissue entity (or a coded subtype of one)."""

    id: str
    name: str
    icdo3: str
    behaviour: str
    family: str
    synonyms: tuple[str, ...]
    fnclcc_differentiation: int | None
    ajcc_staged: bool
    fnclcc_note: str | None = None
    subtype_of: str | None = None
    note: str | None = None

    @property
    def behaviour_code(self) -> int:
        """The ICD-O behaviour digit (0 benign, 1 uncertain/borderline, 3 malignant)."""
        return int(self.icdo3.rsplit("/", 1)[1])

    @property
    def morphology(self) -> str:
        """The four-digit ICD-O morphology code."""
        return self.icdo3.split("/", 1)[0]

    @property
    def graded_by_fnclcc(self) -> bool:
        """False where WHO 2020 grades the histotype by another system than FNCLCC: the catalogue gives
        it no FNCLCC differentiation score and says why (``fnclcc_note``), as for a solitary fibrous
        tumour (a risk model, Demicco et al. 2017)."""
        return not (self.fnclcc_differentiation is None and bool(self.fnclcc_note))

    @property
    def is_malignant(self) -> bool:
        return self.behaviour == "malignant"

    @property
    def fnclcc_not_applicable(self) -> str | None:
        """Why an FNCLCC grade cannot be given to this histotype, or None where it can: the FNCLCC system
        grades sarcomas, malignant tumours (Trojani et al., Int J Cancer 1984; Coindre, Arch Pathol Lab Med
        2006), so a benign or intermediate entity (WHO 2020's heading) has no grade; nor has one WHO grades
        by another system (:attr:`graded_by_fnclcc`)."""
        if not self.graded_by_fnclcc:
            return f"{self.name} is not graded by FNCLCC ({self.fnclcc_note})"
        if not self.is_malignant:
            return f"{self.name} is {self.behaviour} (WHO 2020): the FNCLCC grade is given to malignant tumours only"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "icdo3": self.icdo3,
            "behaviour": self.behaviour,
            "family": self.family,
            "synonyms": list(self.synonyms),
            "fnclcc_differentiation": self.fnclcc_differentiation,
            "ajcc_staged": self.ajcc_staged,
        }


@dataclass(frozen=True)
class ObsoleteTerm:
    """A term with no single WHO 2020 entity, and the entities it may now correspond to."""

    term: str
    note: str
    candidates: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"term": self.term, "note": self.note, "candidates": list(self.candidates)}


@dataclass(frozen=True)
class SearchResult:
    """Entities matching a query, best first, and the obsolete terms the query names."""

    query: str
    matches: list[Histotype] = field(default_factory=list)
    obsolete: list[ObsoleteTerm] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "matches": [h.as_dict() for h in self.matches],
            "obsolete": [o.as_dict() for o in self.obsolete],
        }


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc\u0060\u00b4]")
_POSSESSIVE = re.compile(r"'s\b")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_STOP_WORDS = frozenset({"the"})
# British -> American spelling, applied to every word of both the query and the catalogue, so the
# two only need to agree after the rewrite: haem -> hem, oesophag -> esophag, tumour -> tumor,
# metastasising -> metastasizing, analyse -> analyze.
_SPELLING = (
    (re.compile(r"ae"), "e"),
    (re.compile(r"oe"), "e"),
    (re.compile(r"our$"), "or"),
    (re.compile(r"is(e|ed|es|ing|ation|ations)$"), r"iz\1"),
    (re.compile(r"yse$"), "yze"),
)


def _normalize_word(word: str) -> str:
    # crude plural folding first ("tumours" = "tumour"), kept off -ss/-us/-is endings (glomus,
    # fasciitis, fibromatosis), then the spelling rewrite
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for pattern, replacement in _SPELLING:
        word = pattern.sub(replacement, word)
    return word


def normalize_term(text: str) -> str:
    """The comparison form of a term: no accents, case, apostrophes, hyphens or spelling variants."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = _APOSTROPHES.sub("'", text)
    text = _POSSESSIVE.sub("", text).replace("'", "")
    words = [w for w in _NON_ALNUM.sub(" ", text).split() if w not in _STOP_WORDS]
    return " ".join(_normalize_word(w) for w in words)


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    histotypes: tuple[Histotype, ...]
    by_id: dict[str, Histotype]
    obsolete: tuple[ObsoleteTerm, ...]
    site_shares: dict[str, float]
    sources: dict[str, str]


def _fail(rule: str, value: object = None) -> InvalidValue:
    return InvalidValue(_SOURCE_NAME, rule, value)


def _read_yaml() -> dict[str, Any]:
    text = resources.files(_PACKAGE).joinpath(*_RESOURCE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise _fail("the catalogue must be a mapping")
    return data


def _parse_histotype(raw: dict[str, Any], family: str) -> Histotype:
    ident = raw.get("id")
    if not isinstance(ident, str) or not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", ident):
        raise _fail("histotype id must be snake_case", ident)
    code = raw.get("icdo3")
    if not isinstance(code, str) or not ICDO3_PATTERN.match(code):
        raise _fail(f"{ident}: icdo3 must look like 8850/3", code)
    behaviour = raw.get("behaviour")
    if behaviour not in BEHAVIOURS:
        raise _fail(f"{ident}: behaviour must be one of {', '.join(BEHAVIOURS)}", behaviour)
    score = raw.get("fnclcc_differentiation")
    if score is not None and score not in (1, 2, 3):
        raise _fail(f"{ident}: fnclcc_differentiation must be 1, 2, 3 or null", score)
    staged = raw.get("ajcc_staged")
    if not isinstance(staged, bool):
        raise _fail(f"{ident}: ajcc_staged must be true or false", staged)
    synonyms = raw.get("synonyms") or []
    if not isinstance(synonyms, list) or not all(isinstance(s, str) and s.strip() for s in synonyms):
        raise _fail(f"{ident}: synonyms must be a list of non-empty strings", synonyms)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(f"{ident}: name is required")
    return Histotype(
        id=ident,
        name=name,
        icdo3=code,
        behaviour=behaviour,
        family=family,
        synonyms=tuple(synonyms),
        fnclcc_differentiation=score,
        ajcc_staged=staged,
        fnclcc_note=raw.get("fnclcc_note"),
        subtype_of=raw.get("subtype_of"),
        note=raw.get("note"),
    )


def _parse_sites(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict) or not raw.get("source"):
        raise _fail("sites must cite their source")
    shares: dict[str, float] = {}
    for category in raw.get("categories") or []:
        shares[category["id"]] = float(category["share"])
    if tuple(shares) != SITES:
        raise _fail(f"site categories must be {', '.join(SITES)}", tuple(shares))
    if any(s < 0 for s in shares.values()) or not math.isclose(sum(shares.values()), 1.0, abs_tol=1e-9):
        raise _fail("site shares must be non-negative and sum to 1", shares)
    return shares


@functools.lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    data = _read_yaml()
    entries: list[Histotype] = []
    sources: dict[str, str] = {}
    for chapter in data.get("chapters") or []:
        family = chapter.get("family")
        if family not in FAMILIES:
            raise _fail("unknown chapter", family)
        if not chapter.get("source"):
            raise _fail(f"chapter {family!r} must cite its source")
        sources[family] = chapter["source"]
        entries.extend(_parse_histotype(raw, family) for raw in chapter.get("entities") or [])
    if set(sources) != set(FAMILIES):
        raise _fail("every WHO 2020 chapter must be present", sorted(set(FAMILIES) - set(sources)))
    by_id: dict[str, Histotype] = {}
    for h in entries:
        if h.id in by_id:
            raise _fail("duplicate histotype id", h.id)
        by_id[h.id] = h
    for h in entries:
        if h.subtype_of is not None and h.subtype_of not in by_id:
            raise _fail(f"{h.id}: subtype_of names an unknown histotype", h.subtype_of)
        if h.is_malignant and h.behaviour_code != 3:
            raise _fail(f"{h.id}: a malignant entity must be coded /3", h.icdo3)
    obsolete: list[ObsoleteTerm] = []
    for raw in data.get("obsolete_terms") or []:
        term = ObsoleteTerm(term=raw["term"], note=raw["note"], candidates=tuple(raw["candidates"]))
        unknown = [c for c in term.candidates if c not in by_id]
        if unknown or not term.candidates:
            raise _fail(f"obsolete term {term.term!r} names unknown candidates", unknown)
        obsolete.append(term)
    return _Catalogue(
        histotypes=tuple(entries),
        by_id=by_id,
        obsolete=tuple(obsolete),
        site_shares=_parse_sites(data.get("sites")),
        sources=sources,
    )


# --------------------------------------------------------------------------------------------
# Public lookups
# --------------------------------------------------------------------------------------------


def histotypes() -> list[Histotype]:
    """Every entity of the catalogue, in WHO chapter order."""
    return list(_catalogue().histotypes)


def histotype(id: str) -> Histotype:  # noqa: A002 - the brief's name for the parameter
    """The entity with this id; :class:`InvalidValue` when there is none."""
    try:
        return _catalogue().by_id[id]
    except (KeyError, TypeError):
        import difflib

        # a slip of the keyboard ("leiomyosarcome") is answered with the ids it is nearest to, as a gene is
        near = difflib.get_close_matches(id, list(_catalogue().by_id), n=3, cutoff=0.8) if isinstance(id, str) else []
        rule = "unknown histotype id" + (f"; nearest: {', '.join(near)}" if near else " (see 'sarcotrial rules histotype')")
        raise InvalidValue("histotype", rule, id) from None


def histotype_by_icdo3(code: str) -> list[Histotype]:
    """Entities carrying this ICD-O code (several WHO entities share one, e.g. 8840/3)."""
    return [h for h in _catalogue().histotypes if h.icdo3 == code.strip()]


def obsolete_terms() -> list[ObsoleteTerm]:
    """Terms with no single WHO 2020 entity."""
    return list(_catalogue().obsolete)


def chapter_source(family: str) -> str:
    """The citation of a WHO chapter's data."""
    try:
        return _catalogue().sources[family]
    except KeyError:
        raise InvalidValue("family", "unknown WHO 2020 soft tissue chapter", family) from None


def site_case_mix() -> dict[str, float]:
    """The unit's share of cases by anatomical site category (sums to 1), keyed by :data:`SITES`."""
    return dict(_catalogue().site_shares)


# --------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------

_CODE_QUERY = re.compile(r"^(\d{4})(?:/([0-9]))?$")

# match tiers, best first
_EXACT, _PREFIX, _WORD_SEQUENCE, _ALL_WORDS_ONE_LABEL, _SUBSTRING, _ALL_WORDS_ANY_LABEL = range(6)


@functools.lru_cache(maxsize=1)
def _index() -> tuple[tuple[Histotype, tuple[tuple[str, bool], ...], frozenset[str]], ...]:
    """For each entity: its normalised labels (label, is_name) and all their words."""
    rows = []
    for h in _catalogue().histotypes:
        labels: list[tuple[str, bool]] = [(normalize_term(h.name), True)]
        labels.append((normalize_term(h.id.replace("_", " ")), True))
        labels.extend((normalize_term(s), False) for s in h.synonyms)
        labels = [(label, is_name) for label, is_name in labels if label]
        words = frozenset(w for label, _ in labels for w in label.split())
        rows.append((h, tuple(labels), words))
    return tuple(rows)


def _words_prefix_all(query_words: list[str], label_words: list[str] | frozenset[str]) -> bool:
    return all(any(lw.startswith(qw) for lw in label_words) for qw in query_words)


def _tier(query: str, query_words: list[str], label: str) -> int | None:
    if label == query:
        return _EXACT
    if label.startswith(query):
        return _PREFIX
    if f" {query}" in f" {label}":
        return _WORD_SEQUENCE
    if _words_prefix_all(query_words, label.split()):
        return _ALL_WORDS_ONE_LABEL
    if query in label:
        return _SUBSTRING
    return None


def _obsolete_for(query: str, exact_hit: bool) -> list[ObsoleteTerm]:
    found = []
    for term in _catalogue().obsolete:
        t = normalize_term(term.term)
        if t == query or (len(query) >= 4 and t.startswith(query)) or (not exact_hit and f" {t} " in f" {query} "):
            found.append(term)
    return found


def search_histotypes(query: str) -> SearchResult:
    """Entities whose name, synonyms, id or ICD-O code match ``query``, best first.

    Ranking: exact name/synonym, then the query as the start of a name/synonym, then as a run of
    whole words inside one, then every query word starting a word of one name/synonym, then a plain
    substring, then every query word found across the entity's names. Within a rank, names come
    before synonyms and shorter labels before longer. An ICD-O code ("8850/3", or "8850" for any
    behaviour) matches the entities coded so. ``obsolete`` lists the obsolete terms the query
    names, with their candidate entities.
    """
    if not isinstance(query, str):
        raise InvalidValue("query", "search query must be text", query)
    raw = query.strip()
    code = _CODE_QUERY.match(raw)
    if code:
        morphology, behaviour = code.groups()
        hits = [
            h
            for h in _catalogue().histotypes
            if h.morphology == morphology and (behaviour is None or h.behaviour_code == int(behaviour))
        ]
        return SearchResult(query=query, matches=hits)
    q = normalize_term(raw)
    if not q:
        return SearchResult(query=query)
    q_words = q.split()
    ranked: list[tuple[tuple[int, int, int, int], Histotype]] = []
    for position, (h, labels, all_words) in enumerate(_index()):
        best: tuple[int, int, int, int] | None = None
        for label, is_name in labels:
            tier = _tier(q, q_words, label)
            if tier is None:
                continue
            key = (tier, 0 if is_name else 1, len(label), position)
            if best is None or key < best:
                best = key
        if best is None and _words_prefix_all(q_words, all_words):
            best = (_ALL_WORDS_ANY_LABEL, 1, 0, position)
        if best is not None:
            ranked.append((best, h))
    ranked.sort(key=lambda item: item[0])
    matches = [h for _, h in ranked]
    exact_hit = bool(ranked) and ranked[0][0][0] == _EXACT
    return SearchResult(query=query, matches=matches, obsolete=_obsolete_for(q, exact_hit))
