"""Molecular findings: the gene list, histotype-defining alterations and actionable alterations.

Standards:

- Gene symbols: HGNC approved symbols (HUGO Gene Nomenclature Committee, genenames.org), from a
  curated, versioned list shipped in ``data/genes.yaml`` (a few hundred genes of the WHO 2020 soft
  tissue and bone chapters, sarcoma NGS fusion panels and cancer-predisposition genes). The list was
  checked against HGNC symbols as known in 2024; no dated HGNC download was used and no HGNC
  release date is claimed. Previous symbols and aliases map to the approved symbol with a note.
- Gene fusions: the HGNC fusion notation ``GENE1::GENE2``, 5' partner first (Bruford EA et al.
  HUGO Gene Nomenclature Committee (HGNC) recommendations for the designation of gene fusions.
  Leukemia 2021;35:3040-3043).
- Sequence variants: HGVS nomenclature (den Dunnen JT et al. HGVS recommendations for the
  description of sequence variants: 2016 update. Hum Mutat 2016;37:564-569), coding DNA ``c.`` and
  protein ``p.`` descriptions, checked by a strict pattern (substitutions, deletions, duplications,
  insertions, deletion-insertions, frameshifts, nonsense; intronic and UTR positions).
- Diagnostic meaning: WHO Classification of Tumours Editorial Board. Soft tissue and bone tumours.
  Lyon: IARC; 2020 (WHO Classification of Tumours, 5th ed., vol. 3), each entity's chapter, as
  recorded entry by entry in ``data/molecular_catalogue.yaml``.
- Actionability: regulatory approvals (FDA, EU) and, where known, the ESMO Scale for Clinical
  Actionability of molecular Targets (ESCAT; Mateo J et al., Ann Oncol 2018;29:1895-1902), entry by
  entry in the same catalogue. Only facts known with confidence are recorded (see each entry).

Why hand-written: no maintained Python package ships an offline HGNC list together with the WHO
2020 sarcoma fusion catalogue and the regulatory facts; the HGVS libraries on PyPI (``hgvs``) need
sequence databases to validate, which a clinic machine without network does not have, and a
syntax check is what a report entry needs. The data are therefore reviewed YAML, and this module
loads, validates and applies them.

The rules of :func:`interpret`, for a finding and a recorded histotype H:

1. The finding is matched to catalogue entries. A fusion with both partners matches the entries
   naming that pair (either order); only when the pair has no entry of its own is it judged by the
   ``partner_of`` entries of its genes (e.g. ``TPM3::ALK`` by "ALK fusion, any partner"). A
   *rearrangement* (one gene, partner not identified, e.g. EWSR1 break-apart FISH) matches every
   entry involving that gene.
2. H stands with its relatives: the entity H is a coded subtype of, and H's own subtypes
   (``subtype_of`` in histotypes.yaml): ``dermatofibrosarcoma_protuberans_fibrosarcomatous`` is
   supported by COL1A1::PDGFB like DFSP.
3. **Supports** when a matched entry lists H as ``defining_in`` (level *defining*) or
   ``characteristic_in`` (level *characteristic*). A rearrangement supports H as *defining* only if
   every fusion it may be defines H (SS18 break-apart in synovial sarcoma); when some of them belong
   to other entities it is *compatible*, not specific: EWSR1 break-apart is compatible with Ewing
   sarcoma but also with DSRCT, clear cell sarcoma, myxoid liposarcoma, EMC, angiomatoid fibrous
   histiocytoma and others, and so neither confirms Ewing sarcoma nor contradicts those entities.
4. **Contradicts** (flag for the board) when no matched entry knows H, and a matched entry marked
   ``specific`` is *defining* of other entities: the answer names them. MDM2 amplification in a
   tumour recorded as pleomorphic liposarcoma contradicts it (MDM2 amplification defines
   ALT/WDLPS and dedifferentiated liposarcoma, and is not known in pleomorphic liposarcoma), while
   in intimal sarcoma, where it is characteristic, it supports. Alterations seen in many tumours
   (ALK fusions, NF1 loss, CDKN2A deletion, immunohistochemical markers) are not ``specific`` and
   never contradict.
5. **Nothing known** otherwise: no catalogue entry, or an entry that is characteristic of other
   entities only. Absence of an entry is not evidence against the diagnosis.
6. **Actionable** independently of 1-5: each actionable entry whose alteration matches and whose
   histotypes include H (or which is tumour-agnostic) gives the drugs, the level of evidence and
   the source. Without a recorded histotype, histotype-restricted entries are given with the
   histotypes they require.

A contradiction is a decision aid for the multidisciplinary board (a review of the slides or of
the test), never a reclassification: the pathologist decides.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterable, Mapping

import yaml

from sarcotrial.errors import InvalidValue, InvalidValues, date_rule

__all__ = [
    "TESTS",
    "KINDS",
    "EXPRESSION_RESULTS",
    "COPY_NUMBER_CALLS",
    "Gene",
    "GeneMatch",
    "MolecularFinding",
    "CatalogueEntry",
    "ActionableEntry",
    "Actionability",
    "FindingInterpretation",
    "gene_list_version",
    "catalogue_version",
    "genes",
    "lookup_gene",
    "nearest_genes",
    "resolve_gene",
    "parse_fusion",
    "normalise_cdna",
    "normalise_protein",
    "finding_from_dict",
    "findings_from_document",
    "diagnostic_entries",
    "actionable_entries",
    "entries_for_gene",
    "interpret",
]

TESTS = ("NGS panel", "FISH", "IHC", "RT-PCR")
"""The laboratory tests a finding may come from."""

KINDS = ("fusion", "rearrangement", "amplification", "mutation", "deletion", "copy_number", "expression")
"""Kinds of alteration: a fusion names both partners; a rearrangement names one gene whose partner
was not identified (break-apart FISH); a deletion is a (homozygous) deletion or loss of the gene; a
copy number gives the number of copies and the laboratory's call; an expression is an IHC result."""

EXPRESSION_RESULTS = ("positive", "negative", "lost")
"""IHC results: ``lost`` is loss of a normally expressed protein in tumour cells with retained
internal control (SMARCB1/INI1, SDHB); ``negative`` is absence of a marker."""

COPY_NUMBER_CALLS = ("amplification", "gain", "neutral", "loss", "deletion")
"""The laboratory's call for a copy-number result (thresholds differ by assay, so SarcoTrial does
not call amplification from the number itself)."""

_TESTS_FOR_KIND = {
    "fusion": ("NGS panel", "FISH", "RT-PCR"),
    "rearrangement": ("NGS panel", "FISH"),
    "amplification": ("NGS panel", "FISH"),
    "mutation": ("NGS panel",),
    "deletion": ("NGS panel", "FISH"),
    "copy_number": ("NGS panel", "FISH"),
    "expression": ("IHC",),
}

_PACKAGE = "sarcotrial.domain"
_SYMBOL = re.compile(r"^[A-Z0-9][A-Za-z0-9-]*$")
_ENTRY_ID = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")

# --------------------------------------------------------------------------------------------
# The gene list
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gene:
    """One gene of the list: its HGNC approved symbol, previous symbols/aliases and why it is listed."""

    symbol: str
    aliases: tuple[str, ...]
    groups: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "aliases": list(self.aliases), "groups": list(self.groups)}


@dataclass(frozen=True)
class GeneMatch:
    """What a written gene name resolved to: the approved symbol and, for an alias, a note."""

    written: str
    gene: Gene
    via_alias: bool

    @property
    def symbol(self) -> str:
        return self.gene.symbol

    @property
    def note(self) -> str | None:
        if not self.via_alias:
            return None
        listed = next((a for a in self.gene.aliases if a.upper() == self.written.upper()), self.written)
        return f"{listed} is a previous symbol or alias of {self.gene.symbol} (the HGNC approved symbol)"


_GROUPS = ("fusion", "genomic", "ihc", "predisposition")


@dataclass(frozen=True)
class _GeneList:
    version: str
    source: str
    genes: tuple[Gene, ...]
    by_symbol: dict[str, Gene]  # upper-case key
    by_alias: dict[str, Gene]  # upper-case key


def _read(name: str) -> dict[str, Any]:
    text = resources.files(_PACKAGE).joinpath("data", name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InvalidValue(name, "must be a mapping")
    return data


@functools.lru_cache(maxsize=1)
def _gene_list() -> _GeneList:
    name = "genes.yaml"
    data = _read(name)
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise InvalidValue(name, "the gene list must carry a version")
    if not data.get("source"):
        raise InvalidValue(name, "the gene list must name its source")
    genes: list[Gene] = []
    by_symbol: dict[str, Gene] = {}
    for raw in data.get("genes") or []:
        symbol = raw.get("symbol")
        if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
            raise InvalidValue(name, "a gene symbol must be letters, digits and hyphens", symbol)
        groups = tuple(raw.get("groups") or ())
        if not groups or any(g not in _GROUPS for g in groups):
            raise InvalidValue(name, f"{symbol}: groups must be among {', '.join(_GROUPS)}", groups)
        gene = Gene(symbol, tuple(str(a) for a in raw.get("aliases") or ()), groups)
        if symbol.upper() in by_symbol:
            raise InvalidValue(name, "gene listed twice", symbol)
        by_symbol[symbol.upper()] = gene
        genes.append(gene)
    by_alias: dict[str, Gene] = {}
    for gene in genes:
        for alias in gene.aliases:
            key = alias.upper()
            if key in by_symbol:
                raise InvalidValue(name, f"alias {alias} of {gene.symbol} is another gene's approved symbol")
            if key in by_alias and by_alias[key] is not gene:
                raise InvalidValue(name, f"alias {alias} names two genes", (by_alias[key].symbol, gene.symbol))
            by_alias[key] = gene
    return _GeneList(version.strip(), str(data["source"]).strip(), tuple(genes), by_symbol, by_alias)


def gene_list_version() -> str:
    """The version of the shipped gene list (e.g. ``2026.1``)."""
    return _gene_list().version


def genes() -> list[Gene]:
    """Every gene of the list, in the list's order."""
    return list(_gene_list().genes)


def lookup_gene(text: str) -> GeneMatch | None:
    """The gene a symbol or alias names (case-insensitive), or None."""
    written = (text or "").strip()
    key = written.upper()
    gl = _gene_list()
    if key in gl.by_symbol:
        return GeneMatch(written, gl.by_symbol[key], via_alias=False)
    if key in gl.by_alias:
        return GeneMatch(written, gl.by_alias[key], via_alias=True)
    return None


def nearest_genes(text: str, n: int = 5) -> list[str]:
    """The approved symbols nearest to ``text`` (difflib), aliases leading to their gene."""
    gl = _gene_list()
    key = (text or "").strip().upper()
    names = list(gl.by_symbol) + list(gl.by_alias)
    out: list[str] = []
    for name in difflib.get_close_matches(key, names, n=n * 2, cutoff=0.5):
        symbol = (gl.by_symbol.get(name) or gl.by_alias[name]).symbol
        if symbol not in out:
            out.append(symbol)
    if not out and key:  # a prefix of a symbol: "NTRK" -> NTRK1, NTRK2, NTRK3
        out = [g.symbol for g in gl.genes if g.symbol.upper().startswith(key)]
    return out[:n]


def resolve_gene(text: Any, field: str) -> GeneMatch:
    """The gene named by ``text``; :class:`InvalidValue` naming the nearest symbols when unknown."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidValue(field, "a gene symbol is required (HGNC approved symbol, e.g. SS18)", text)
    match = lookup_gene(text)
    if match is None:
        near = nearest_genes(text)
        hint = f"; nearest known: {', '.join(near)}" if near else ""
        raise InvalidValue(field, f"unknown gene symbol in the SarcoTrial gene list v{gene_list_version()}{hint}",
                           text.strip())
    return match


# --------------------------------------------------------------------------------------------
# Notation: fusions and HGVS
# --------------------------------------------------------------------------------------------


def parse_fusion(text: Any, field: str) -> tuple[GeneMatch, GeneMatch]:
    """``GENE1::GENE2`` (HGNC fusion notation, 5' partner first) as two resolved genes."""
    if not isinstance(text, str) or "::" not in text:
        raise InvalidValue(field, "write a fusion as GENE1::GENE2 (HGNC fusion notation, 5' partner first), "
                           "e.g. SS18::SSX2", text)
    parts = [p.strip() for p in text.split("::")]
    if len(parts) != 2 or not all(parts):
        raise InvalidValue(field, "a fusion names exactly two genes, GENE1::GENE2", text)
    five, three = resolve_gene(parts[0], field), resolve_gene(parts[1], field)
    if five.symbol == three.symbol:
        raise InvalidValue(field, "a fusion joins two different genes", text)
    return five, three


_AA3 = ("Ala", "Arg", "Asn", "Asp", "Cys", "Gln", "Glu", "Gly", "His", "Ile", "Leu", "Lys", "Met", "Phe",
        "Pro", "Ser", "Thr", "Trp", "Tyr", "Val", "Sec", "Pyl")
_AA1_TO_3 = dict(zip("ARNDCQEGHILKMFPSTWYVUO", _AA3))


def _protein_pattern(aa: str, stop: str) -> re.Pattern[str]:
    stop = f"(?:{stop})"
    pos = rf"(?:{aa})[1-9]\d*"
    rng = rf"{pos}(?:_{pos})?"
    body = (
        rf"(?:{pos}(?:{aa}|{stop}|=)"                        # missense, nonsense, synonymous
        rf"|{pos}(?:{aa})?fs(?:{stop}(?:[1-9]\d*|\?)?)?"      # frameshift
        rf"|{rng}del"                                         # in-frame deletion
        rf"|{rng}dup"                                         # duplication
        rf"|{pos}_{pos}ins(?:{aa})+"                          # insertion
        rf"|{rng}delins(?:{aa}|{stop})+"                      # deletion-insertion
        rf"|{pos}\?"                                          # unknown consequence, e.g. p.Met1?
        rf"|\?|0|=)"
    )
    return re.compile(rf"^p\.(?:{body}|\({body}\))$")


_AA3_ALT = "|".join(_AA3)
_P3 = _protein_pattern(_AA3_ALT, r"Ter|\*")
_P1 = _protein_pattern("[ACDEFGHIKLMNPQRSTVWYUO]", r"\*")

_NT_POS = r"(?:[1-9]\d*|-[1-9]\d*|\*[1-9]\d*)(?:[+-][1-9]\d*)?"
_NT_RANGE = rf"{_NT_POS}(?:_{_NT_POS})?"
_C = re.compile(
    rf"^c\.(?:{_NT_POS}[ACGT]>[ACGT]"
    rf"|{_NT_RANGE}delins[ACGT]+"
    rf"|{_NT_RANGE}del[ACGT]*"
    rf"|{_NT_RANGE}dup[ACGT]*"
    rf"|{_NT_POS}_{_NT_POS}ins[ACGT]+"
    rf"|{_NT_POS}_{_NT_POS}inv)$"
)

_CDNA_RULE = ("not HGVS coding DNA notation: write c. then the position and the change, e.g. c.1799T>A, "
              "c.1669_1674del, c.1504_1509dup, c.2524-1G>A")
_PROTEIN_RULE = ("not HGVS protein notation: write p. then the amino acid, its position and the change, e.g. "
                 "p.Val600Glu (or p.V600E), p.Trp557_Lys558del, p.Arg213Ter, p.Arg97fs")


def normalise_cdna(text: Any, field: str) -> str:
    """A coding DNA (c.) HGVS description, checked; :class:`InvalidValue` with an example if not."""
    if not isinstance(text, str) or not _C.match(text.strip()):
        raise InvalidValue(field, _CDNA_RULE, text)
    return text.strip()


def normalise_protein(text: Any, field: str) -> str:
    """A protein (p.) HGVS description in three-letter amino acids (one-letter input accepted)."""
    if not isinstance(text, str):
        raise InvalidValue(field, _PROTEIN_RULE, text)
    value = text.strip()
    if _P3.match(value):
        return value.replace("*", "Ter")
    if _P1.match(value):  # one-letter codes: every capital letter is an amino acid, * the stop
        return "p." + re.sub(r"[A-Z]", lambda m: _AA1_TO_3[m.group()], value[2:]).replace("*", "Ter")
    raise InvalidValue(field, _PROTEIN_RULE, text)


def _bare_protein(protein: str | None) -> str | None:
    """``p.(Val600Glu)`` and ``p.Val600Glu`` compare equal."""
    if protein is None:
        return None
    return protein.replace("(", "").replace(")", "")


# --------------------------------------------------------------------------------------------
# A finding
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MolecularFinding:
    """One molecular result of a tumour, as the laboratory reported it (symbols resolved to HGNC)."""

    test: str
    kind: str
    gene: str  # the gene; for a fusion its 5' partner
    partner: str | None = None  # a fusion's 3' partner
    cdna: str | None = None
    protein: str | None = None
    exon: int | None = None
    vaf: float | None = None
    copies: float | None = None
    call: str | None = None
    result: str | None = None
    laboratory: str | None = None
    date: dt.date | None = None
    notes: tuple[str, ...] = ()

    @property
    def fusion(self) -> str | None:
        return f"{self.gene}::{self.partner}" if self.kind == "fusion" else None

    @property
    def label(self) -> str:
        if self.kind == "fusion":
            return f"{self.fusion} fusion"
        if self.kind == "rearrangement":
            return f"{self.gene} rearrangement (partner not identified)"
        if self.kind == "mutation":
            change = " ".join(x for x in (self.protein, f"({self.cdna})" if self.cdna and self.protein else self.cdna) if x)
            exon = f", exon {self.exon}" if self.exon is not None else ""
            vaf = f", VAF {self.vaf:.2f}" if self.vaf is not None else ""
            return f"{self.gene} {change} mutation{exon}{vaf}"
        if self.kind == "copy_number":
            call = f", {self.call}" if self.call else ""
            return f"{self.gene} copy number {self.copies:g}{call}"
        if self.kind == "expression":
            return f"{self.gene} {self.result} (IHC)"
        return f"{self.gene} {self.kind}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"test": self.test, "kind": self.kind, "gene": self.gene}
        for name in ("partner", "fusion", "cdna", "protein", "exon", "vaf", "copies", "call", "result",
                     "laboratory", "date"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, dt.date) else value
        out["label"] = self.label
        out["notes"] = list(self.notes)
        return out


_FIELDS = {"test", "kind", "gene", "fusion", "five_prime", "three_prime", "cdna", "protein", "exon", "vaf",
           "copies", "call", "result", "laboratory", "date"}
_ALLOWED = {
    "fusion": {"fusion", "five_prime", "three_prime"},
    "rearrangement": {"gene"},
    "amplification": {"gene"},
    "mutation": {"gene", "cdna", "protein", "exon", "vaf"},
    "deletion": {"gene"},
    "copy_number": {"gene", "copies", "call"},
    "expression": {"gene", "result"},
}
_COMMON = {"test", "kind", "laboratory", "date"}
_TEST_SPELLINGS = {"ngs": "NGS panel", "ngs panel": "NGS panel", "fish": "FISH", "ihc": "IHC",
                   "rt-pcr": "RT-PCR", "rtpcr": "RT-PCR", "rt pcr": "RT-PCR"}


def _text(raw: Mapping[str, Any], name: str, where: str, *, required: bool = False) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidValue(f"{where}.{name}", "is required")
        return None
    if not isinstance(value, str):
        raise InvalidValue(f"{where}.{name}", "must be text", value)
    return value.strip()


def finding_from_dict(raw: Any, index: int = 0) -> MolecularFinding:
    """A finding from one mapping of a findings document; errors name ``findings[index].field``."""
    where = f"findings[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidValue(where, "each finding must be a mapping of field: value", raw)
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise InvalidValue(f"{where}.{unknown[0]}", f"unknown field; a finding has {', '.join(sorted(_FIELDS))}")
    kind = (_text(raw, "kind", where, required=True) or "").lower().replace("-", "_").replace(" ", "_")
    if kind not in KINDS:
        raise InvalidValue(f"{where}.kind", f"must be one of {', '.join(KINDS)}", raw.get("kind"))
    test_text = _text(raw, "test", where, required=True) or ""
    test = _TEST_SPELLINGS.get(test_text.lower())
    if test is None:
        raise InvalidValue(f"{where}.test", f"must be one of {', '.join(TESTS)}", test_text)
    if test not in _TESTS_FOR_KIND[kind]:
        raise InvalidValue(f"{where}.test", f"a {kind.replace('_', ' ')} is reported by "
                           f"{' or '.join(_TESTS_FOR_KIND[kind])}, not {test}")
    extra = sorted(k for k in set(raw) - _COMMON - _ALLOWED[kind] if raw.get(k) is not None)
    if extra:
        raise InvalidValue(f"{where}.{extra[0]}", f"does not apply to a finding of kind {kind}")
    notes: list[str] = []

    def note(match: GeneMatch) -> str:
        if match.note:
            notes.append(match.note)
        return match.symbol

    gene: str
    partner = cdna = protein = call = result = None
    exon = None
    vaf = copies = None
    if kind == "fusion":
        if raw.get("fusion") is not None:
            if raw.get("five_prime") is not None or raw.get("three_prime") is not None:
                raise InvalidValue(f"{where}.fusion", "give the fusion, or five_prime and three_prime, not both")
            five, three = parse_fusion(raw.get("fusion"), f"{where}.fusion")
        else:
            five = resolve_gene(_text(raw, "five_prime", where, required=True), f"{where}.five_prime")
            three = resolve_gene(_text(raw, "three_prime", where, required=True), f"{where}.three_prime")
            if five.symbol == three.symbol:
                raise InvalidValue(f"{where}.three_prime", "a fusion joins two different genes", three.written)
        gene, partner = note(five), note(three)
    else:
        gene = note(resolve_gene(_text(raw, "gene", where, required=True), f"{where}.gene"))
    if kind == "mutation":
        if raw.get("cdna") is None and raw.get("protein") is None:
            raise InvalidValue(f"{where}.protein", "a mutation needs its HGVS description: cdna (c.) and/or protein (p.)")
        if raw.get("cdna") is not None:
            cdna = normalise_cdna(raw.get("cdna"), f"{where}.cdna")
        if raw.get("protein") is not None:
            protein = normalise_protein(raw.get("protein"), f"{where}.protein")
        if raw.get("exon") is not None:
            exon = raw.get("exon")
            if isinstance(exon, bool) or not isinstance(exon, int) or exon < 1:
                raise InvalidValue(f"{where}.exon", "must be a whole number from 1", exon)
        if raw.get("vaf") is not None:
            vaf = raw.get("vaf")
            if isinstance(vaf, bool) or not isinstance(vaf, (int, float)):
                raise InvalidValue(f"{where}.vaf", "variant allele fraction must be a number from 0 to 1", vaf)
            if not 0 <= vaf <= 1:
                raise InvalidValue(f"{where}.vaf", "variant allele fraction is a fraction from 0 to 1 "
                                   "(write 45 % as 0.45)", vaf)
            vaf = float(vaf)
    if kind == "copy_number":
        copies = raw.get("copies")
        if copies is None:
            raise InvalidValue(f"{where}.copies", "a copy number needs the number of copies")
        if isinstance(copies, bool) or not isinstance(copies, (int, float)) or copies < 0:
            raise InvalidValue(f"{where}.copies", "must be a number of copies, 0 or more", copies)
        copies = float(copies)
        call_text = _text(raw, "call", where)
        if call_text is not None:
            call = call_text.lower()
            if call not in COPY_NUMBER_CALLS:
                raise InvalidValue(f"{where}.call", f"must be one of {', '.join(COPY_NUMBER_CALLS)}", call_text)
    if kind == "expression":
        result_text = _text(raw, "result", where, required=True) or ""
        result = result_text.lower()
        if result not in EXPRESSION_RESULTS:
            raise InvalidValue(f"{where}.result", f"must be one of {', '.join(EXPRESSION_RESULTS)}", result_text)
    date = raw.get("date")
    if date is not None:
        if isinstance(date, dt.datetime):
            date = date.date()
        elif isinstance(date, str):
            try:
                date = dt.date.fromisoformat(date.strip())
            except ValueError:
                raise InvalidValue(f"{where}.date", date_rule(date), date) from None
        elif not isinstance(date, dt.date):
            raise InvalidValue(f"{where}.date", "must be a date written YYYY-MM-DD", date)
    return MolecularFinding(test=test, kind=kind, gene=gene, partner=partner, cdna=cdna, protein=protein,
                            exon=exon, vaf=vaf, copies=copies, call=call, result=result,
                            laboratory=_text(raw, "laboratory", where), date=date, notes=tuple(notes))


def findings_from_document(document: Any) -> tuple[str | None, list[MolecularFinding]]:
    """A findings document: ``{histotype: ID (optional), findings: [...]}`` or a bare list of findings."""
    histotype_id = None
    if isinstance(document, Mapping):
        unknown = sorted(set(document) - {"histotype", "findings"})
        if unknown:
            raise InvalidValue(unknown[0], "unknown field; a findings document has histotype and findings")
        histotype_id = document.get("histotype")
        if histotype_id is not None and not isinstance(histotype_id, str):
            raise InvalidValue("histotype", "must be a histotype id", histotype_id)
        items = document.get("findings")
    else:
        items = document
    if not isinstance(items, list) or not items:
        raise InvalidValue("findings", "must be a non-empty list of findings")
    findings, problems = [], []
    for i, raw in enumerate(items):  # every finding checked, so that every mistake is named at once
        try:
            findings.append(finding_from_dict(raw, i))
        except InvalidValue as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidValues(problems, "the findings (each finding's first)")
    return histotype_id, findings


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """One alteration pattern of an entry."""

    kind: str  # fusion | partner_of | amplification | mutation | loss | expression
    genes: tuple[str, ...]
    protein: str | None = None
    exon: int | None = None
    result: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "fusion":
            return "::".join(self.genes)
        if self.kind == "partner_of":
            return f"{self.genes[0]} fusion (any partner)"
        if self.kind == "mutation":
            what = self.protein or (f"exon {self.exon}" if self.exon is not None else None)
            return f"{self.genes[0]} {what} mutation" if what else f"{self.genes[0]} mutation"
        if self.kind == "expression":
            return f"{self.genes[0]} {self.result} (IHC)"
        return f"{self.genes[0]} {self.kind}"


@dataclass(frozen=True)
class CatalogueEntry:
    """A diagnostic entry: where an alteration is defining or characteristic, and its source."""

    id: str
    specs: tuple[_Spec, ...]
    defining_in: tuple[str, ...]
    characteristic_in: tuple[str, ...]
    specific: bool
    source: str
    note: str | None = None

    @property
    def label(self) -> str:
        return ", ".join(s.label for s in self.specs)

    @property
    def known_in(self) -> tuple[str, ...]:
        return self.defining_in + self.characteristic_in

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "alteration": self.label, "defining_in": list(self.defining_in),
                "characteristic_in": list(self.characteristic_in), "specific": self.specific,
                "source": self.source, "note": self.note}


@dataclass(frozen=True)
class ActionableEntry:
    """An actionable alteration: the drugs, the level of evidence and its source."""

    id: str
    specs: tuple[_Spec, ...]
    histotypes: tuple[str, ...] | None
    drugs: tuple[str, ...]
    level: str
    evidence: str
    source: str
    exclude_protein: tuple[str, ...] = ()
    note: str | None = None

    @property
    def label(self) -> str:
        return ", ".join(s.label for s in self.specs)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "alteration": self.label,
                "histotypes": list(self.histotypes) if self.histotypes is not None else None,
                "drugs": list(self.drugs), "level": self.level, "evidence": self.evidence,
                "source": self.source, "note": self.note}


_LEVELS = ("approved (tumour-agnostic)", "approved (histotype)", "investigational")


@dataclass(frozen=True)
class _Catalogue:
    version: str
    diagnostic: tuple[CatalogueEntry, ...]
    actionable: tuple[ActionableEntry, ...]


def _symbol(name: str, text: Any, where: str) -> str:
    match = lookup_gene(text) if isinstance(text, str) else None
    if match is None or match.via_alias:
        raise InvalidValue(name, f"{where}: not an approved symbol of the gene list", text)
    return match.symbol


def _parse_spec(raw: Any, where: str) -> _Spec:
    name = "molecular_catalogue.yaml"
    if not isinstance(raw, Mapping):
        raise InvalidValue(name, f"{where}: an alteration is a mapping", raw)
    kinds = [k for k in ("fusion", "partner_of", "amplification", "mutation", "loss", "expression") if k in raw]
    if len(kinds) != 1:
        raise InvalidValue(name, f"{where}: an alteration has exactly one kind", raw)
    kind = kinds[0]
    if kind == "fusion":
        parts = str(raw["fusion"]).split("::")
        if len(parts) != 2:
            raise InvalidValue(name, f"{where}: fusion must be GENE1::GENE2", raw["fusion"])
        return _Spec(kind, tuple(_symbol(name, p, where) for p in parts))
    gene = _symbol(name, raw[kind], where)
    if kind == "mutation":
        protein = raw.get("protein")
        exon = raw.get("exon")
        return _Spec(kind, (gene,), protein=normalise_protein(protein, name) if protein else None, exon=exon)
    if kind == "expression":
        if raw.get("result") not in EXPRESSION_RESULTS:
            raise InvalidValue(name, f"{where}: expression result must be one of {', '.join(EXPRESSION_RESULTS)}")
        return _Spec(kind, (gene,), result=raw["result"])
    return _Spec(kind, (gene,))


def _histotype_ids(name: str, values: Any, where: str) -> tuple[str, ...]:
    from sarcotrial.domain.histology import histotype

    if not isinstance(values, list):
        raise InvalidValue(name, f"{where}: must be a list of histotype ids", values)
    for value in values:
        try:
            histotype(value)
        except InvalidValue:
            raise InvalidValue(name, f"{where}: unknown histotype id", value) from None
    return tuple(values)


@functools.lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    name = "molecular_catalogue.yaml"
    data = _read(name)
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise InvalidValue(name, "the catalogue must carry a version")
    seen: set[str] = set()

    def entry_id(raw: Mapping[str, Any]) -> str:
        ident = raw.get("id")
        if not isinstance(ident, str) or not _ENTRY_ID.match(ident) or ident in seen:
            raise InvalidValue(name, "entry ids must be snake_case and unique", ident)
        seen.add(ident)
        if not raw.get("source"):
            raise InvalidValue(name, f"{ident}: every entry must cite its source")
        if not raw.get("alterations"):
            raise InvalidValue(name, f"{ident}: every entry names its alterations")
        return ident

    diagnostic = []
    for raw in data.get("diagnostic") or []:
        ident = entry_id(raw)
        defining = _histotype_ids(name, raw.get("defining_in"), f"{ident}.defining_in")
        characteristic = _histotype_ids(name, raw.get("characteristic_in"), f"{ident}.characteristic_in")
        if not defining and not characteristic:
            raise InvalidValue(name, f"{ident}: an entry names the entities it is known in")
        if not isinstance(raw.get("specific"), bool):
            raise InvalidValue(name, f"{ident}: specific must be true or false")
        diagnostic.append(CatalogueEntry(
            id=ident, specs=tuple(_parse_spec(s, ident) for s in raw["alterations"]), defining_in=defining,
            characteristic_in=characteristic, specific=raw["specific"], source=" ".join(str(raw["source"]).split()),
            note=" ".join(str(raw["note"]).split()) if raw.get("note") else None))
    actionable = []
    for raw in data.get("actionable") or []:
        ident = entry_id(raw)
        histotypes = None if raw.get("histotypes") is None else _histotype_ids(name, raw["histotypes"], ident)
        if raw.get("level") not in _LEVELS:
            raise InvalidValue(name, f"{ident}: level must be one of {', '.join(_LEVELS)}", raw.get("level"))
        if (histotypes is None) != (raw["level"] == "approved (tumour-agnostic)"):
            raise InvalidValue(name, f"{ident}: only a tumour-agnostic approval applies to any histotype")
        if not raw.get("drugs") or not raw.get("evidence"):
            raise InvalidValue(name, f"{ident}: an actionable entry names its drugs and evidence")
        actionable.append(ActionableEntry(
            id=ident, specs=tuple(_parse_spec(s, ident) for s in raw["alterations"]), histotypes=histotypes,
            drugs=tuple(str(d) for d in raw["drugs"]), level=raw["level"],
            evidence=" ".join(str(raw["evidence"]).split()), source=" ".join(str(raw["source"]).split()),
            exclude_protein=tuple(normalise_protein(p, name) for p in raw.get("exclude_protein") or ()),
            note=" ".join(str(raw["note"]).split()) if raw.get("note") else None))
    return _Catalogue(version.strip(), tuple(diagnostic), tuple(actionable))


def catalogue_version() -> str:
    """The version of the shipped molecular catalogue."""
    return _catalogue().version


def diagnostic_entries() -> list[CatalogueEntry]:
    return list(_catalogue().diagnostic)


def actionable_entries() -> list[ActionableEntry]:
    return list(_catalogue().actionable)


def entries_for_gene(symbol: str) -> tuple[list[CatalogueEntry], list[ActionableEntry]]:
    """The diagnostic and actionable entries that name a gene (approved symbol)."""
    cat = _catalogue()
    return ([e for e in cat.diagnostic if any(symbol in s.genes for s in e.specs)],
            [e for e in cat.actionable if any(symbol in s.genes for s in e.specs)])


# --------------------------------------------------------------------------------------------
# Matching and interpretation
# --------------------------------------------------------------------------------------------


def _events(f: MolecularFinding) -> list[tuple[str, str]]:
    """The (kind, gene) events a finding stands for, in catalogue terms."""
    if f.kind in ("amplification", "mutation", "rearrangement", "fusion"):
        return [(f.kind, f.gene)]
    if f.kind == "deletion":
        return [("loss", f.gene)]
    if f.kind == "copy_number":
        if f.call == "amplification":
            return [("amplification", f.gene)]
        if f.call == "deletion":
            return [("loss", f.gene)]
        return []
    if f.kind == "expression":
        return [("loss", f.gene)] if f.result == "lost" else [("expression", f.gene)]
    return []


def _spec_matches(spec: _Spec, f: MolecularFinding, *, exact_pairs: bool) -> bool:
    """Does one alteration pattern match the finding? (fusions: see :func:`_matching`)."""
    for kind, gene in _events(f):
        if kind == "fusion":
            pair = {f.gene, f.partner}
            if spec.kind == "fusion" and set(spec.genes) == pair:
                return True
            if spec.kind == "partner_of" and not exact_pairs and spec.genes[0] in pair:
                return True
        elif kind == "rearrangement":
            if spec.kind in ("fusion", "partner_of") and gene in spec.genes:
                return True
        elif kind == spec.kind and gene == spec.genes[0]:
            if kind == "mutation":
                if spec.protein is not None and _bare_protein(f.protein) != _bare_protein(spec.protein):
                    continue
                if spec.exon is not None and f.exon != spec.exon:
                    continue
                return True
            if kind == "expression":
                return spec.result == f.result
            return True
    return False


def _matching(entries: Iterable[Any], f: MolecularFinding) -> list[Any]:
    entries = list(entries)
    if f.kind == "fusion":
        exact = [e for e in entries if any(_spec_matches(s, f, exact_pairs=True) for s in e.specs)]
        if exact:
            return exact
    return [e for e in entries if any(_spec_matches(s, f, exact_pairs=False) for s in e.specs)]


def _relatives(histotype_id: str) -> set[str]:
    """H, the entity H is a coded subtype of, and H's own coded subtypes."""
    from sarcotrial.domain.histology import histotype, histotypes

    h = histotype(histotype_id)
    related = {h.id}
    if h.subtype_of:
        related.add(h.subtype_of)
    related.update(x.id for x in histotypes() if x.subtype_of == h.id)
    return related


def _names(ids: Iterable[str]) -> str:
    """WHO names as printed, separated by semicolons (some names hold a comma)."""
    from sarcotrial.domain.histology import histotype

    return "; ".join(histotype(i).name for i in ids)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return tuple(out)


@dataclass(frozen=True)
class Actionability:
    """An actionable entry as it applies to a finding."""

    entry: ActionableEntry
    applies: bool  # False: the entry needs a histotype that was not recorded

    def as_dict(self) -> dict[str, Any]:
        data = self.entry.as_dict()
        data["applies"] = self.applies
        return data


SUPPORTS = "supports"
CONTRADICTS = "contradicts"
NOTHING_KNOWN = "nothing known"
NOT_ASSESSED = "not assessed"


@dataclass(frozen=True)
class FindingInterpretation:
    """What one finding means for the recorded histotype, and whether it points to a treatment."""

    index: int
    finding: MolecularFinding
    relation: str  # supports | contradicts | nothing known | not assessed (no histotype)
    level: str | None  # defining | characteristic | compatible (supports only)
    entities: tuple[str, ...]  # supports: the recorded entity (or relative); contradicts: those it defines
    defining_of: tuple[str, ...]  # every entity the matched entries define
    known_in: tuple[str, ...]  # every entity the matched entries know it in
    explanation: str
    sources: tuple[str, ...]
    actionable: tuple[Actionability, ...] = field(default_factory=tuple)

    @property
    def flag_for_board(self) -> bool:
        return self.relation == CONTRADICTS

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "finding": self.finding.as_dict(), "relation": self.relation,
                "level": self.level, "entities": list(self.entities), "defining_of": list(self.defining_of),
                "known_in": list(self.known_in), "flag_for_board": self.flag_for_board,
                "explanation": self.explanation, "sources": list(self.sources),
                "actionable": [a.as_dict() for a in self.actionable]}


def _actionable(f: MolecularFinding, histotype_id: str | None) -> tuple[Actionability, ...]:
    out = []
    related = _relatives(histotype_id) if histotype_id else set()
    for entry in _matching(_catalogue().actionable, f):
        if f.kind == "mutation" and entry.exclude_protein:
            # an entry that excludes a protein change (imatinib: not PDGFRA D842V) applies only when the
            # finding names its protein change: a cDNA alone may be the excluded one (c.2525A>T is D842V)
            if f.protein is None or _bare_protein(f.protein) in {_bare_protein(p) for p in entry.exclude_protein}:
                continue
        if entry.histotypes is None:
            out.append(Actionability(entry, True))
        elif histotype_id is None:
            out.append(Actionability(entry, False))
        elif related & set(entry.histotypes):
            out.append(Actionability(entry, True))
    return tuple(out)


def _interpret_one(index: int, f: MolecularFinding, histotype_id: str | None) -> FindingInterpretation:
    matched: list[CatalogueEntry] = _matching(_catalogue().diagnostic, f)
    actionable = _actionable(f, histotype_id)
    defining_of = _unique(h for e in matched for h in e.defining_in)
    known_in = _unique(h for e in matched for h in e.known_in)
    sources = _unique(e.source for e in matched)
    partner_note = (" Identify the partner (RNA-based sequencing or RT-PCR) to classify."
                    if f.kind == "rearrangement" else "")
    if not matched:
        return FindingInterpretation(index, f, NOT_ASSESSED if histotype_id is None else NOTHING_KNOWN, None, (),
                                     (), (), f"{f.label}: not in the molecular catalogue v{catalogue_version()}; "
                                     "no diagnostic meaning is recorded.", (), actionable)
    if histotype_id is None:
        what = []
        if defining_of:
            what.append(f"defining of {_names(defining_of)}")
        rest = [h for h in known_in if h not in defining_of]
        if rest:
            what.append(f"characteristic of {_names(rest)}")
        return FindingInterpretation(index, f, NOT_ASSESSED, None, (), defining_of, known_in,
                                     f"{f.label}: {'; '.join(what)} (no histotype recorded)." + partner_note,
                                     sources, actionable)
    related = _relatives(histotype_id)
    supporting = [e for e in matched if related & set(e.known_in)]
    recorded = _names([histotype_id])
    if supporting:
        defines_here = [e for e in matched if related & set(e.defining_in)]
        if f.kind == "rearrangement":
            if all(related & set(e.defining_in) for e in matched):
                level = "defining"
            elif all(related & set(e.known_in) for e in matched):
                level = "characteristic"
            else:
                level = "compatible"
        else:
            level = "defining" if defines_here else "characteristic"
        entities = _unique(h for e in supporting for h in e.known_in if h in related)
        others = [h for h in defining_of if h not in related]
        text = f"{f.label}: {'compatible with' if level == 'compatible' else level + ' of'} {_names(entities)}"
        if level == "compatible":
            text += f"; not specific: also found in {_names(h for h in known_in if h not in related)}"
        elif others:
            text += f"; also defining of {_names(others)}"
        text += "." + (partner_note if level == "compatible" else "")
        return FindingInterpretation(index, f, SUPPORTS, level, entities, defining_of, known_in, text,
                                     _unique(e.source for e in supporting), actionable)
    specific = [e for e in matched if e.specific and e.defining_in]
    if specific:
        entities = _unique(h for e in specific for h in e.defining_in)
        text = (f"{f.label} is defining of {_names(entities)} and is not known in {recorded}: "
                f"flag for the board (review the histotype or the test).") + partner_note
        notes = [e.note for e in specific if e.note]
        if notes:
            text += " " + " ".join(notes)
        return FindingInterpretation(index, f, CONTRADICTS, None, entities, defining_of, known_in, text,
                                     _unique(e.source for e in specific), actionable)
    return FindingInterpretation(index, f, NOTHING_KNOWN, None, (), defining_of, known_in,
                                 f"{f.label}: not known in {recorded}; characteristic of {_names(known_in)} "
                                 "but not specific (no contradiction).", sources, actionable)


def interpret(histotype_id: str | None, findings: Iterable[MolecularFinding]) -> list[FindingInterpretation]:
    """Each finding's meaning for the recorded histotype (``None``: none recorded) and its actionability.

    >>> from sarcotrial.domain.molecular import finding_from_dict, interpret
    >>> f = finding_from_dict({"test": "RT-PCR", "kind": "fusion", "fusion": "SS18::SSX2"})
    >>> [(r.relation, r.level) for r in interpret("synovial_sarcoma", [f])]
    [('supports', 'defining')]
    """
    if histotype_id is not None:
        from sarcotrial.domain.histology import histotype

        histotype(histotype_id)  # InvalidValue("histotype", ...) when unknown
    return [_interpret_one(i, f, histotype_id) for i, f in enumerate(findings)]
