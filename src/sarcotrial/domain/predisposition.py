"""Hereditary predisposition: the 2015 Chompret criteria for TP53 testing and the 2021 NF1 criteria.

Standards:

- Bougeard G, Renaux-Petel M, Flaman JM, et al. Revisiting Li-Fraumeni syndrome from TP53
  mutation carriers. J Clin Oncol 2015;33(21):2345-2352. doi:10.1200/JCO.2014.59.5728. The "2015
  version of the Chompret criteria": four criteria, any one of which indicates germline TP53
  testing (:data:`CHOMPRET_2015`, texts kept here as data). The LFS tumour spectrum the criteria
  name is premenopausal breast cancer, soft-tissue sarcoma, osteosarcoma, central nervous system
  (CNS) tumour and adrenocortical carcinoma (:data:`LFS_TUMOUR_SPECTRUM`).
- Legius E, Messiaen L, Wolkenstein P, et al. Revised diagnostic criteria for neurofibromatosis
  type 1 and Legius syndrome: an international consensus recommendation. Genet Med
  2021;23(8):1506-1513. doi:10.1038/s41436-021-01170-5. Seven features (:data:`NF1_LEGIUS_2021`);
  two or more make the diagnosis in a person without a parent diagnosed with NF1, one or more in
  the child of a parent who meets the criteria. Footnote a (only cafe-au-lait macules and
  freckling: most likely NF1, exceptionally Legius syndrome; at least one of the two pigmentary
  findings should be bilateral), footnote b (sphenoid wing dysplasia is not a separate criterion
  with an ipsilateral orbital plexiform neurofibroma) and the paper's criteria for mosaic NF1 are
  applied or reported as notes (:data:`NF1_NOTES`).

The criterion texts were checked against two public reproductions, not against the printed
tables: for Chompret 2015 the IARC TP53 database page on Li-Fraumeni syndrome (p53.iarc.fr) and
recommendation 1 of Frebourg T, et al. Guidelines for the Li-Fraumeni and heritable TP53-related
cancer syndromes. Eur J Hum Genet 2020;28:1379-1386 (which repeats the rare-tumour and breast
criteria in the same words); for Legius 2021 the criteria as reproduced on medicalcriteria.com and
the CERENEF page on mosaic forms. The IARC page writes "choroid plexus tumor" where Frebourg 2020
writes "choroid plexus carcinoma"; this module follows "carcinoma" (the wording of the 2020
guideline, written by the same group), so a choroid plexus papilloma does not meet the rare-tumour
criterion (it is still a CNS tumour of the spectrum). No worked family from either paper is
reproduced in the tests: the papers' cases could not be checked here, so the tests check each
criterion at its published boundaries instead.

Readings where the text leaves a choice (each is said again where it is applied):

- Ages are ages at diagnosis in years; "before age 46" is ``age < 46`` (45 meets it, 46 does not),
  likewise 56 and 31.
- "Premenopausal breast cancer" needs the menopausal status at diagnosis: a breast cancer without
  it is *unknown* for the spectrum, never assumed from the age; a man's breast cancer is not
  "premenopausal breast cancer" as written. The "before 31" criterion needs no status.
- Familial presentation: the breast-cancer exclusion applies when the proband has had a breast
  cancer at any age; a relative "with multiple tumours" is one with two or more recorded primary
  tumours of any type at any age (the exclusion is written against the LFS tumour, not against
  that clause). Only first- and second-degree relatives count; their side does not matter.
- Multiple primary tumours: a pair of spectrum tumours that are not both breast cancers, the
  earlier of the pair diagnosed before 46. Every recorded cancer is a separate primary.
- "Tumour spectrum (e.g., ...)": only the five tumour types listed are counted.
- NF1 variant: "heterozygous pathogenic NF1 variant with a variant allele fraction of 50 %": the
  laboratory's call decides whether a VAF is constitutional (``mosaic: false``) or significantly
  below 50 % (``mosaic: true``); no numeric band is invented here. A likely pathogenic variant is
  *unknown* for this criterion (the paper names a pathogenic variant; the weight of a likely
  pathogenic one is the clinical geneticist's).
- Footnote a: when the only features met are pigmentary, at least one of them must be recorded
  bilateral for them to make the diagnosis.

Missing data is *unknown*, never *not met*: a criterion that missing data could still change says
so, and the overall answer is then "cannot be decided" with the fields to record. The result is a
decision aid for referral to genetic counselling; the counsellor decides.

Hand-written because no maintained library implements either set of criteria, and the rules must
answer in three values (met, not met, unknown) with the reason and the missing fields named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence

from sarcotrial.errors import InvalidValue

__all__ = [
    "MET", "NOT_MET", "UNKNOWN",
    "CHOMPRET_2015", "CHOMPRET_SOURCE", "LFS_TUMOUR_SPECTRUM",
    "NF1_LEGIUS_2021", "NF1_SOURCE", "NF1_NOTES",
    "RELATIONSHIPS", "CANCER_TYPES", "RHABDOMYOSARCOMA_SUBTYPES", "CLASSIFICATIONS",
    "NORMAL_TISSUES", "AFFECTED_TISSUES",
    "Cancer", "Proband", "Relative", "Nf1Findings", "GermlineFinding", "Germline", "FamilyHistory",
    "CriterionResult", "CriteriaSetResult", "Referral", "PredispositionResult",
    "relationship_degree", "family_history_from_dict",
    "chompret_2015", "nf1_legius_2021", "genetic_counselling_referral", "assess_predisposition",
]

Verdict = Literal["met", "not_met", "unknown"]
MET: Verdict = "met"
NOT_MET: Verdict = "not_met"
UNKNOWN: Verdict = "unknown"

# --- The published texts, as data --------------------------------------------------------------

CHOMPRET_SOURCE = ("Bougeard G, et al. Revisiting Li-Fraumeni syndrome from TP53 mutation carriers. "
                   "J Clin Oncol 2015;33:2345-2352 (2015 version of the Chompret criteria)")

CHOMPRET_2015: dict[str, dict[str, str]] = {
    "familial_presentation": {
        "name": "Familial presentation",
        "text": ("Proband with a tumor belonging to the LFS tumor spectrum (e.g., premenopausal breast cancer, "
                 "soft-tissue sarcoma, osteosarcoma, CNS tumor, adrenocortical carcinoma) before age 46 years AND "
                 "at least one first- or second-degree relative with an LFS tumor (except breast cancer if the "
                 "proband has breast cancer) before age 56 years or with multiple tumors"),
    },
    "multiple_primary_tumours": {
        "name": "Multiple primary tumours",
        "text": ("Proband with multiple tumors (except multiple breast tumors), two of which belong to the LFS "
                 "tumor spectrum and the first of which occurred before age 46 years"),
    },
    "rare_tumours": {
        "name": "Rare tumours",
        "text": ("Patient with adrenocortical carcinoma, choroid plexus carcinoma, or rhabdomyosarcoma of "
                 "embryonal anaplastic subtype, irrespective of family history"),
    },
    "early_onset_breast_cancer": {
        "name": "Very early-onset breast cancer",
        "text": "Breast cancer before age 31 years",
    },
}
"""The four criteria of the 2015 version (Bougeard et al. 2015), in the paper's order; any one met
indicates TP53 testing."""

LFS_TUMOUR_SPECTRUM: tuple[str, ...] = ("premenopausal breast cancer", "soft-tissue sarcoma", "osteosarcoma",
                                         "CNS tumour", "adrenocortical carcinoma")
"""The LFS tumour spectrum the 2015 criteria name (Bougeard et al. 2015)."""

CHOMPRET_FAMILIAL_PROBAND_AGE = 46   # "before age 46 years"
CHOMPRET_FAMILIAL_RELATIVE_AGE = 56  # "before age 56 years"
CHOMPRET_MULTIPLE_FIRST_AGE = 46     # "the first of which occurred before age 46 years"
CHOMPRET_BREAST_AGE = 31             # "breast cancer before age 31 years"

NF1_SOURCE = ("Legius E, et al. Revised diagnostic criteria for neurofibromatosis type 1 and Legius syndrome: "
              "an international consensus recommendation. Genet Med 2021;23:1506-1513")

NF1_LEGIUS_2021: dict[str, dict[str, str]] = {
    "cafe_au_lait_macules": {
        "name": "Cafe-au-lait macules",
        "text": ("Six or more cafe-au-lait macules over 5 mm in greatest diameter in prepubertal individuals and "
                 "over 15 mm in greatest diameter in postpubertal individuals (a)"),
    },
    "freckling": {"name": "Freckling", "text": "Freckling in the axillary or inguinal region (a)"},
    "neurofibromas": {"name": "Neurofibromas",
                      "text": "Two or more neurofibromas of any type or one plexiform neurofibroma"},
    "optic_pathway_glioma": {"name": "Optic pathway glioma", "text": "Optic pathway glioma"},
    "lisch_nodules_or_choroidal_abnormalities": {
        "name": "Lisch nodules / choroidal abnormalities",
        "text": ("Two or more iris Lisch nodules identified by slit lamp examination or two or more choroidal "
                 "abnormalities (CAs), defined as bright, patchy nodules imaged by optical coherence tomography "
                 "(OCT)/near-infrared reflectance (NIR) imaging"),
    },
    "osseous_lesion": {
        "name": "Distinctive osseous lesion",
        "text": ("A distinctive osseous lesion such as sphenoid dysplasia (b), anterolateral bowing of the tibia, "
                 "or pseudarthrosis of a long bone"),
    },
    "nf1_variant": {
        "name": "Pathogenic NF1 variant",
        "text": ("A heterozygous pathogenic NF1 variant with a variant allele fraction of 50% in apparently normal "
                 "tissue such as white blood cells"),
    },
}
"""Part A of the revised NF1 criteria (Legius et al. 2021), in the paper's order."""

NF1_RULE = {
    "A": ("The diagnostic criteria for NF1 are met in an individual who does not have a parent diagnosed with NF1 "
          "if two or more of the following are present"),
    "B": ("A child of a parent who meets the diagnostic criteria specified in A merits a diagnosis of NF1 if one "
          "or more of the criteria in A are present"),
}

NF1_NOTES = {
    "a": ("If only cafe-au-lait macules and freckling are present, the diagnosis is most likely NF1 but "
          "exceptionally the person might have another diagnosis such as Legius syndrome. At least one of the "
          "two pigmentary findings (cafe-au-lait macules or freckling) should be bilateral."),
    "b": "Sphenoid wing dysplasia is not a separate criterion in case of an ipsilateral orbital plexiform neurofibroma.",
    "mosaic_variant": ("Mosaic NF1: a pathogenic heterozygous NF1 variant with a variant allele fraction significantly "
                       "less than 50% in apparently normal tissue such as white blood cells AND one other NF1 "
                       "diagnostic criterion (except a parent fulfilling diagnostic criteria for NF1)."),
    "mosaic_segmental": ("Mosaic NF1: a clearly segmental distribution of cafe-au-lait macules or cutaneous "
                         "neurofibromas AND another NF1 diagnostic criterion (except a parent fulfilling diagnostic "
                         "criteria for NF1) or a child fulfilling diagnostic criteria for NF1."),
}
"""The footnotes and the mosaic criteria of Legius et al. 2021, as reproduced (see the module text)."""

PIGMENTARY = ("cafe_au_lait_macules", "freckling")

# --- Vocabularies -------------------------------------------------------------------------------

_SIDED_SECOND = {"grandmother": "female", "grandfather": "male", "aunt": "female", "uncle": "male",
                 "half_sister": "female", "half_brother": "male"}
_SIDED_THIRD = {"first_cousin": None, "great_grandmother": "female", "great_grandfather": "male",
                "great_aunt": "female", "great_uncle": "male"}


def _relationships() -> dict[str, tuple[int, Optional[str], Optional[str]]]:
    table: dict[str, tuple[int, Optional[str], Optional[str]]] = {
        "mother": (1, "maternal", "female"), "father": (1, "paternal", "male"),
        "sister": (1, None, "female"), "brother": (1, None, "male"),
        "daughter": (1, None, "female"), "son": (1, None, "male"),
        "niece": (2, None, "female"), "nephew": (2, None, "male"),
        "granddaughter": (2, None, "female"), "grandson": (2, None, "male"),
        "grandniece": (3, None, "female"), "grandnephew": (3, None, "male"),
        "great_granddaughter": (3, None, "female"), "great_grandson": (3, None, "male"),
    }
    for degree, names in ((2, _SIDED_SECOND), (3, _SIDED_THIRD)):
        for name, sex in names.items():
            table[name] = (degree, "unknown", sex)
            table[f"maternal_{name}"] = (degree, "maternal", sex)
            table[f"paternal_{name}"] = (degree, "paternal", sex)
    return table


RELATIONSHIPS: dict[str, tuple[int, Optional[str], Optional[str]]] = _relationships()
"""Relationship to the proband -> (degree, side, sex). Side is ``maternal``/``paternal``, ``unknown``
for a one-sided relative whose side is not given (``aunt``), or ``None`` where the relative is on
neither side alone (siblings, children, nieces and nephews)."""

_RELATIONSHIP_ALIASES = {"cousin": "first_cousin", "maternal_cousin": "maternal_first_cousin",
                         "paternal_cousin": "paternal_first_cousin", "great_niece": "grandniece",
                         "great_nephew": "grandnephew"}

CANCER_TYPES: dict[str, str] = {
    "breast_cancer": "breast cancer",
    "soft_tissue_sarcoma": "soft-tissue sarcoma",
    "rhabdomyosarcoma": "rhabdomyosarcoma",
    "osteosarcoma": "osteosarcoma",
    "other_bone_sarcoma": "bone sarcoma other than osteosarcoma",
    "cns_tumour": "CNS tumour",
    "choroid_plexus_carcinoma": "choroid plexus carcinoma",
    "choroid_plexus_papilloma": "choroid plexus papilloma",
    "choroid_plexus_tumour": "choroid plexus tumour (carcinoma or papilloma not recorded)",
    "adrenocortical_carcinoma": "adrenocortical carcinoma",
    "leukaemia": "leukaemia",
    "lymphoma": "lymphoma",
    "other_cancer": "other cancer",
    "unknown_type": "cancer of unknown type",
}
"""The tumour types a family history records; ``name`` may add the histotype in words."""

_CANCER_ALIASES = {"breast": "breast_cancer", "cns_tumor": "cns_tumour", "choroid_plexus_tumor": "choroid_plexus_tumour",
                   "leukemia": "leukaemia", "other": "other_cancer", "unknown": "unknown_type", "sts": "soft_tissue_sarcoma"}

RHABDOMYOSARCOMA_SUBTYPES = ("embryonal_anaplastic", "embryonal", "alveolar", "spindle_cell_sclerosing", "pleomorphic")
MENOPAUSAL_STATUSES = ("premenopausal", "postmenopausal")
SEXES = ("female", "male")
PUBERTAL_STATUSES = ("prepubertal", "postpubertal")
CLASSIFICATIONS = ("pathogenic", "likely_pathogenic", "uncertain_significance", "likely_benign", "benign")
_CLASSIFICATION_ALIASES = {"vus": "uncertain_significance", "p": "pathogenic", "lp": "likely_pathogenic",
                           "lb": "likely_benign", "b": "benign"}
NORMAL_TISSUES = ("blood", "saliva", "buccal_swab", "skin_fibroblasts")
AFFECTED_TISSUES = ("tumour", "cafe_au_lait_macule", "neurofibroma")

_SPECTRUM_TYPES = {"soft_tissue_sarcoma": "soft-tissue sarcoma", "rhabdomyosarcoma": "soft-tissue sarcoma",
                   "osteosarcoma": "osteosarcoma", "cns_tumour": "CNS tumour",
                   "choroid_plexus_carcinoma": "CNS tumour", "choroid_plexus_papilloma": "CNS tumour",
                   "choroid_plexus_tumour": "CNS tumour", "adrenocortical_carcinoma": "adrenocortical carcinoma"}


# --- The model ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cancer:
    """One primary tumour: its type, the age at diagnosis (years), and what the criteria need."""

    type: str
    age: Optional[float] = None
    name: Optional[str] = None
    subtype: Optional[str] = None              # rhabdomyosarcoma only
    menopausal_status: Optional[str] = None    # breast cancer only
    path: str = field(default="cancer", compare=False)

    def label(self) -> str:
        text = self.name or CANCER_TYPES[self.type]
        if self.type == "rhabdomyosarcoma" and self.subtype and not self.name:
            text += f" ({self.subtype.replace('_', ' ')})"
        if self.menopausal_status:
            text += f", {self.menopausal_status}"
        return text + (f" at {self.age:g}" if self.age is not None else " (age not recorded)")

    def as_dict(self) -> dict:
        return {"type": self.type, "name": self.name, "age": self.age, "subtype": self.subtype,
                "menopausal_status": self.menopausal_status}


@dataclass(frozen=True)
class Proband:
    sex: Optional[str]
    cancers: tuple[Cancer, ...]
    age: Optional[float] = None
    year_of_birth: Optional[int] = None

    def as_dict(self) -> dict:
        return {"sex": self.sex, "age": self.age, "year_of_birth": self.year_of_birth,
                "cancers": [c.as_dict() for c in self.cancers]}


@dataclass(frozen=True)
class Relative:
    """A relative of the proband; degree, side and sex follow from the relationship.

    ``cancers`` is ``None`` when the relative's history is not known (every criterion it could
    decide is then *unknown*); an empty tuple records a relative without cancer."""

    relationship: str
    cancers: Optional[tuple[Cancer, ...]]
    sex: Optional[str] = None
    path: str = field(default="relative", compare=False)

    @property
    def degree(self) -> int:
        return RELATIONSHIPS[self.relationship][0]

    @property
    def side(self) -> Optional[str]:
        return RELATIONSHIPS[self.relationship][1]

    @property
    def known_sex(self) -> Optional[str]:
        """The sex recorded, else the one the relationship implies (``None`` for a cousin)."""
        return self.sex or RELATIONSHIPS[self.relationship][2]

    def label(self) -> str:
        return f"{self.relationship.replace('_', ' ')} ({_ordinal(self.degree)}-degree)"

    def as_dict(self) -> dict:
        return {"relationship": self.relationship, "degree": self.degree, "side": self.side, "sex": self.known_sex,
                "cancers": None if self.cancers is None else [c.as_dict() for c in self.cancers]}


@dataclass(frozen=True)
class Nf1Findings:
    """The proband's recorded NF1 findings; ``None`` is "not examined / not recorded"."""

    pubertal_status: Optional[str] = None
    calm_diameters_mm: Optional[tuple[float, ...]] = None
    calm_bilateral: Optional[bool] = None
    freckling_axillary: Optional[bool] = None
    freckling_inguinal: Optional[bool] = None
    freckling_bilateral: Optional[bool] = None
    neurofibromas: Optional[int] = None              # of any type, plexiform included
    plexiform_neurofibromas: Optional[int] = None
    optic_pathway_glioma: Optional[bool] = None
    lisch_nodules: Optional[int] = None
    choroidal_abnormalities: Optional[int] = None
    sphenoid_dysplasia: Optional[bool] = None
    ipsilateral_orbital_plexiform_neurofibroma: Optional[bool] = None
    anterolateral_tibial_bowing: Optional[bool] = None
    long_bone_pseudarthrosis: Optional[bool] = None
    parent_meets_nf1_criteria: Optional[bool] = None
    segmental_distribution: Optional[bool] = None

    def as_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if self.calm_diameters_mm is not None:
            data["calm_diameters_mm"] = list(self.calm_diameters_mm)
        return data


@dataclass(frozen=True)
class GermlineFinding:
    gene: str
    classification: str
    variant: Optional[str] = None
    vaf_percent: Optional[float] = None
    tissue: Optional[str] = None
    mosaic: Optional[bool] = None
    path: str = field(default="finding", compare=False)

    @property
    def pathogenic_or_likely(self) -> bool:
        return self.classification in ("pathogenic", "likely_pathogenic")

    def label(self) -> str:
        text = f"{self.gene} {self.variant or '(variant not named)'}, {self.classification.replace('_', ' ')}"
        if self.vaf_percent is not None:
            text += f", VAF {self.vaf_percent:g} %"
        return text + (f" in {self.tissue.replace('_', ' ')}" if self.tissue else "")

    def as_dict(self) -> dict:
        return {"gene": self.gene, "variant": self.variant, "classification": self.classification,
                "vaf_percent": self.vaf_percent, "tissue": self.tissue, "mosaic": self.mosaic}


@dataclass(frozen=True)
class Germline:
    genes_tested: tuple[str, ...] = ()
    findings: tuple[GermlineFinding, ...] = ()

    def tested(self, gene: str) -> bool:
        return gene in self.genes_tested or any(f.gene == gene for f in self.findings)

    def as_dict(self) -> dict:
        return {"genes_tested": list(self.genes_tested), "findings": [f.as_dict() for f in self.findings]}


@dataclass(frozen=True)
class FamilyHistory:
    """The proband, the relatives (``None``: family history not recorded), NF1 findings and germline results."""

    proband: Proband
    relatives: Optional[tuple[Relative, ...]] = None
    nf1: Optional[Nf1Findings] = None
    germline: Germline = Germline()


# --- Results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CriterionResult:
    id: str
    name: str
    text: str
    verdict: Verdict
    why: str
    missing: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "text": self.text, "verdict": self.verdict, "why": self.why,
                "missing": list(self.missing)}


@dataclass(frozen=True)
class CriteriaSetResult:
    """One criteria set: each criterion's verdict and the overall one (``met``, ``not_met``,
    ``undecided`` with the missing fields, or ``not_assessed`` when nothing of it was recorded)."""

    name: str
    source: str
    verdict: Literal["met", "not_met", "undecided", "not_assessed"]
    criteria: tuple[CriterionResult, ...]
    why: str
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        if self.verdict == "met":
            return "criteria met"
        if self.verdict == "not_met":
            return "not met"
        if self.verdict == "not_assessed":
            return "not assessed (nothing recorded)"
        return f"cannot be decided (missing: {', '.join(self.missing)})"

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "verdict": self.verdict, "summary": self.summary,
                "why": self.why, "missing": list(self.missing), "notes": list(self.notes),
                "criteria": [c.as_dict() for c in self.criteria]}


@dataclass(frozen=True)
class Referral:
    """The genetic-counselling referral flag: a decision aid, the counsellor decides."""

    refer: bool
    reasons: tuple[str, ...]
    pending: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"refer": self.refer, "reasons": list(self.reasons), "pending": list(self.pending)}


@dataclass(frozen=True)
class PredispositionResult:
    family: FamilyHistory
    chompret: CriteriaSetResult
    nf1: CriteriaSetResult
    referral: Referral

    def as_dict(self) -> dict:
        f = self.family
        return {
            "proband": f.proband.as_dict(),
            "relatives": None if f.relatives is None else [r.as_dict() for r in f.relatives],
            "germline": f.germline.as_dict(),
            "chompret_2015": self.chompret.as_dict(),
            "nf1_legius_2021": self.nf1.as_dict(),
            "referral": self.referral.as_dict(),
        }


# --- Three-valued logic (Kleene): a value with the fields that would decide it -------------------

_V = tuple  # (verdict, missing fields)


def _v(verdict: Verdict, *missing: str) -> _V:
    return (verdict, tuple(missing) if verdict == UNKNOWN else ())


def _and(*parts: _V) -> _V:
    verdicts = [p[0] for p in parts]
    if NOT_MET in verdicts:
        return _v(NOT_MET)
    if all(v == MET for v in verdicts):
        return _v(MET)
    return _v(UNKNOWN, *_dedupe(m for p in parts if p[0] == UNKNOWN for m in p[1]))


def _or(parts: Iterable[_V]) -> _V:
    parts = list(parts)
    verdicts = [p[0] for p in parts]
    if MET in verdicts:
        return _v(MET)
    if all(v == NOT_MET for v in verdicts):
        return _v(NOT_MET)
    return _v(UNKNOWN, *_dedupe(m for p in parts if p[0] == UNKNOWN for m in p[1]))


def _not(part: _V) -> _V:
    return {MET: _v(NOT_MET), NOT_MET: _v(MET)}.get(part[0], part)


def _bool(value: Optional[bool], path: str) -> _V:
    return _v(UNKNOWN, path) if value is None else _v(MET if value else NOT_MET)


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


# --- Chompret 2015 ------------------------------------------------------------------------------

def _before(cancer: Cancer, limit: int) -> _V:
    if cancer.age is None:
        return _v(UNKNOWN, f"{cancer.path}.age")
    return _v(MET if cancer.age < limit else NOT_MET)


def _is_breast(cancer: Cancer) -> _V:
    if cancer.type == "unknown_type":
        return _v(UNKNOWN, f"{cancer.path}.type")
    return _v(MET if cancer.type == "breast_cancer" else NOT_MET)


def _in_spectrum(cancer: Cancer, sex: Optional[str]) -> _V:
    """Whether a tumour belongs to the LFS tumour spectrum of Bougeard 2015."""
    if cancer.type == "breast_cancer":
        if cancer.menopausal_status == "premenopausal":
            return _v(MET)
        if cancer.menopausal_status == "postmenopausal" or sex == "male":
            return _v(NOT_MET)
        return _v(UNKNOWN, f"{cancer.path}.menopausal_status")
    if cancer.type == "unknown_type":
        return _v(UNKNOWN, f"{cancer.path}.type")
    return _v(MET if cancer.type in _SPECTRUM_TYPES else NOT_MET)


def _undecided(value: _V) -> str:
    return "not decided: missing data could decide it"


def _familial(family: FamilyHistory) -> CriterionResult:
    p = family.proband
    proband_parts = [(c, _and(_in_spectrum(c, p.sex), _before(c, CHOMPRET_FAMILIAL_PROBAND_AGE))) for c in p.cancers]
    proband_v = _or(v for _, v in proband_parts)
    proband_has_breast = _or(_is_breast(c) for c in p.cancers)
    hits_p = [c for c, v in proband_parts if v[0] == MET]

    if family.relatives is None:
        relative_v = _v(UNKNOWN, "relatives")
        hits_r: list[str] = []
    else:
        parts, hits_r = [], []
        for r in family.relatives:
            if r.degree > 2:
                continue
            if r.cancers is None:
                parts.append(_v(UNKNOWN, f"{r.path}.cancers"))
                continue
            for c in r.cancers:
                excluded = _and(_is_breast(c), proband_has_breast)
                v = _and(_in_spectrum(c, r.known_sex), _not(excluded), _before(c, CHOMPRET_FAMILIAL_RELATIVE_AGE))
                parts.append(v)
                if v[0] == MET:
                    hits_r.append(f"{r.label()}: {c.label()} (before {CHOMPRET_FAMILIAL_RELATIVE_AGE})")
            multiple = len(r.cancers) >= 2
            parts.append(_v(MET if multiple else NOT_MET))
            if multiple:
                hits_r.append(f"{r.label()}: multiple tumours ({len(r.cancers)})")
        relative_v = _or(parts)

    verdict = _and(proband_v, relative_v)
    spec = CHOMPRET_2015["familial_presentation"]
    if verdict[0] == MET:
        why = (f"proband: {hits_p[0].label()} (before {CHOMPRET_FAMILIAL_PROBAND_AGE}); " + "; ".join(hits_r[:2]))
    elif verdict[0] == UNKNOWN:
        why = _undecided(verdict)
    elif proband_v[0] == NOT_MET:
        why = f"the proband has no LFS-spectrum tumour before {CHOMPRET_FAMILIAL_PROBAND_AGE}"
    else:
        why = (f"no 1st- or 2nd-degree relative with an LFS-spectrum tumour before {CHOMPRET_FAMILIAL_RELATIVE_AGE} "
               "or with multiple tumours")
        if proband_has_breast[0] == MET:
            why += " (relatives' breast cancers do not count: the proband has breast cancer)"
    return CriterionResult("familial_presentation", spec["name"], spec["text"], verdict[0], why, verdict[1])


def _multiple(family: FamilyHistory) -> CriterionResult:
    p = family.proband
    cancers = p.cancers
    spec = CHOMPRET_2015["multiple_primary_tumours"]
    pairs = []
    for i in range(len(cancers)):
        for j in range(i + 1, len(cancers)):
            a, b = cancers[i], cancers[j]
            v = _and(_in_spectrum(a, p.sex), _in_spectrum(b, p.sex), _not(_and(_is_breast(a), _is_breast(b))),
                     _or([_before(a, CHOMPRET_MULTIPLE_FIRST_AGE), _before(b, CHOMPRET_MULTIPLE_FIRST_AGE)]))
            pairs.append(((a, b), v))
    verdict = _or(v for _, v in pairs) if pairs else _v(NOT_MET)
    if verdict[0] == MET:
        a, b = next(pair for pair, v in pairs if v[0] == MET)
        why = f"{a.label()} and {b.label()}: two LFS-spectrum tumours, the first before {CHOMPRET_MULTIPLE_FIRST_AGE}"
    elif verdict[0] == UNKNOWN:
        why = _undecided(verdict)
    elif len(cancers) < 2:
        why = f"the proband has {len(cancers)} recorded tumour{'s' if len(cancers) != 1 else ''}, not multiple"
    else:
        why = (f"no two LFS-spectrum tumours (not both breast) with the first before {CHOMPRET_MULTIPLE_FIRST_AGE}")
    return CriterionResult("multiple_primary_tumours", spec["name"], spec["text"], verdict[0], why, verdict[1])


def _rare_tumour(cancer: Cancer) -> _V:
    if cancer.type in ("adrenocortical_carcinoma", "choroid_plexus_carcinoma"):
        return _v(MET)
    if cancer.type == "rhabdomyosarcoma":
        if cancer.subtype is None:
            return _v(UNKNOWN, f"{cancer.path}.subtype")
        return _v(MET if cancer.subtype == "embryonal_anaplastic" else NOT_MET)
    if cancer.type in ("choroid_plexus_tumour", "unknown_type"):
        return _v(UNKNOWN, f"{cancer.path}.type")
    return _v(NOT_MET)


def _rare(family: FamilyHistory) -> CriterionResult:
    spec = CHOMPRET_2015["rare_tumours"]
    parts = [(c, _rare_tumour(c)) for c in family.proband.cancers]
    verdict = _or(v for _, v in parts)
    if verdict[0] == MET:
        c = next(c for c, v in parts if v[0] == MET)
        why = f"{c.label()}: a rare tumour of the criteria, whatever the family history"
    elif verdict[0] == UNKNOWN:
        why = _undecided(verdict)
    else:
        why = ("no adrenocortical carcinoma, choroid plexus carcinoma or rhabdomyosarcoma of embryonal anaplastic "
               "subtype")
    return CriterionResult("rare_tumours", spec["name"], spec["text"], verdict[0], why, verdict[1])


def _early_breast(family: FamilyHistory) -> CriterionResult:
    spec = CHOMPRET_2015["early_onset_breast_cancer"]
    parts = [(c, _and(_is_breast(c), _before(c, CHOMPRET_BREAST_AGE))) for c in family.proband.cancers]
    verdict = _or(v for _, v in parts)
    if verdict[0] == MET:
        c = next(c for c, v in parts if v[0] == MET)
        why = f"{c.label()} (before {CHOMPRET_BREAST_AGE})"
    elif verdict[0] == UNKNOWN:
        why = _undecided(verdict)
    else:
        why = f"no breast cancer before {CHOMPRET_BREAST_AGE}"
    return CriterionResult("early_onset_breast_cancer", spec["name"], spec["text"], verdict[0], why, verdict[1])


def _overall(name: str, source: str, criteria: Sequence[CriterionResult], verdict: _V, why: str,
             notes: Sequence[str] = ()) -> CriteriaSetResult:
    overall = {MET: "met", NOT_MET: "not_met", UNKNOWN: "undecided"}[verdict[0]]
    return CriteriaSetResult(name, source, overall, tuple(criteria), why, verdict[1], tuple(notes))  # type: ignore[arg-type]


def chompret_2015(family: FamilyHistory) -> CriteriaSetResult:
    """The 2015 Chompret criteria (Bougeard et al., J Clin Oncol 2015): met if any one criterion is met.

    >>> proband = Proband("female", (Cancer("adrenocortical_carcinoma", 50),))
    >>> chompret_2015(FamilyHistory(proband, relatives=())).verdict
    'met'
    """
    criteria = [_familial(family), _multiple(family), _rare(family), _early_breast(family)]
    verdict = _or(_v(c.verdict, *c.missing) for c in criteria)
    met = [c.name for c in criteria if c.verdict == MET]
    if verdict[0] == MET:
        why = "met: " + ", ".join(met) + " (TP53 testing is indicated by the criteria)"
    elif verdict[0] == NOT_MET:
        why = "none of the four criteria is met"
    else:
        why = "no criterion is met and missing data could change that"
    return _overall("Chompret criteria, 2015 version (TP53 testing)", CHOMPRET_SOURCE, criteria, verdict, why)


# --- NF1 (Legius 2021) --------------------------------------------------------------------------

def _at_least(value: Optional[int], n: int, path: str) -> _V:
    return _v(UNKNOWN, path) if value is None else _v(MET if value >= n else NOT_MET)


def _calm(f: Nf1Findings) -> tuple[_V, str]:
    if f.calm_diameters_mm is None:
        return _v(UNKNOWN, "nf1.calm_diameters_mm"), "cafe-au-lait macules not recorded"
    over5 = sum(1 for d in f.calm_diameters_mm if d > 5)
    over15 = sum(1 for d in f.calm_diameters_mm if d > 15)
    counts = f"{over5} over 5 mm, {over15} over 15 mm"
    if f.pubertal_status == "prepubertal":
        return _v(MET if over5 >= 6 else NOT_MET), f"prepubertal: {counts} (six over 5 mm needed)"
    if f.pubertal_status == "postpubertal":
        return _v(MET if over15 >= 6 else NOT_MET), f"postpubertal: {counts} (six over 15 mm needed)"
    if over15 >= 6:
        return _v(MET), f"{counts}: six over 15 mm meet it whatever the pubertal status"
    if over5 < 6:
        return _v(NOT_MET), f"{counts}: fewer than six over 5 mm, whatever the pubertal status"
    return _v(UNKNOWN, "nf1.pubertal_status"), f"{counts}: the pubertal status decides"


def _freckling(f: Nf1Findings) -> tuple[_V, str]:
    v = _or([_bool(f.freckling_axillary, "nf1.freckling_axillary"), _bool(f.freckling_inguinal, "nf1.freckling_inguinal")])
    where = [w for w, x in (("axillary", f.freckling_axillary), ("inguinal", f.freckling_inguinal)) if x]
    why = {MET: f"{' and '.join(where)} freckling", NOT_MET: "no axillary or inguinal freckling",
           UNKNOWN: "axillary or inguinal region not examined"}[v[0]]
    return v, why


def _neurofibromas(f: Nf1Findings) -> tuple[_V, str]:
    plexiform = f.plexiform_neurofibromas
    if plexiform is None and f.neurofibromas == 0:
        plexiform = 0  # the count of any type includes plexiform ones
    v = _or([_at_least(f.neurofibromas, 2, "nf1.neurofibromas"),
             _at_least(plexiform, 1, "nf1.plexiform_neurofibromas")])
    counts = (f"{'?' if f.neurofibromas is None else f.neurofibromas} of any type, "
              f"{'?' if plexiform is None else plexiform} plexiform")
    return v, counts


def _eye(f: Nf1Findings) -> tuple[_V, str]:
    v = _or([_at_least(f.lisch_nodules, 2, "nf1.lisch_nodules"),
             _at_least(f.choroidal_abnormalities, 2, "nf1.choroidal_abnormalities")])
    show = lambda n: "not examined" if n is None else str(n)  # noqa: E731
    return v, f"Lisch nodules {show(f.lisch_nodules)}, choroidal abnormalities {show(f.choroidal_abnormalities)}"


def _osseous(f: Nf1Findings) -> tuple[_V, str, bool]:
    ipsilateral = f.ipsilateral_orbital_plexiform_neurofibroma
    if ipsilateral is None and (f.plexiform_neurofibromas == 0 or f.neurofibromas == 0):
        ipsilateral = False  # no plexiform neurofibroma at all
    sphenoid = (_not(_bool(ipsilateral, "nf1.ipsilateral_orbital_plexiform_neurofibroma"))
                if f.sphenoid_dysplasia else _bool(f.sphenoid_dysplasia, "nf1.sphenoid_dysplasia"))
    v = _or([sphenoid, _bool(f.anterolateral_tibial_bowing, "nf1.anterolateral_tibial_bowing"),
             _bool(f.long_bone_pseudarthrosis, "nf1.long_bone_pseudarthrosis")])
    found = [name for name, x in (("sphenoid dysplasia", f.sphenoid_dysplasia),
                                  ("anterolateral bowing of the tibia", f.anterolateral_tibial_bowing),
                                  ("pseudarthrosis of a long bone", f.long_bone_pseudarthrosis)) if x]
    footnote_b = bool(f.sphenoid_dysplasia) and ipsilateral is True
    if v[0] == MET:
        why = ", ".join(x for x in found if not (footnote_b and x == "sphenoid dysplasia"))
    elif footnote_b:
        why = "sphenoid dysplasia with an ipsilateral orbital plexiform neurofibroma: not a separate criterion (b)"
    elif v[0] == NOT_MET:
        why = "none of sphenoid dysplasia, tibial bowing, long-bone pseudarthrosis"
    else:
        why = "not all recorded"
    return v, why, footnote_b


def _nf1_variant(germline: Germline) -> tuple[_V, str, Optional[GermlineFinding]]:
    findings = [g for g in germline.findings if g.gene == "NF1"]
    pathogenic = [g for g in findings if g.classification == "pathogenic"]
    normal = [g for g in pathogenic if g.tissue in NORMAL_TISSUES]
    constitutional = [g for g in normal if g.mosaic is False]
    if constitutional:
        return _v(MET), constitutional[0].label() + " (heterozygous, constitutional)", constitutional[0]
    parts: list[_V] = []
    for g in pathogenic:
        if g.tissue is None:
            parts.append(_v(UNKNOWN, f"{g.path}.tissue"))
        elif g.tissue in NORMAL_TISSUES and g.mosaic is None:
            parts.append(_v(UNKNOWN, f"{g.path}.mosaic"))
    for g in findings:
        if g.classification == "likely_pathogenic":
            parts.append(_v(UNKNOWN, f"{g.path}.classification"))
    if not germline.tested("NF1"):
        parts.append(_v(UNKNOWN, "germline.genes_tested (NF1)"))
    v = _or(parts) if parts else _v(NOT_MET)
    mosaic = next((g for g in normal if g.mosaic), None)
    if v[0] == UNKNOWN:
        why = ("NF1 not tested" if not germline.tested("NF1") else
               "a variant is recorded but what decides it is not (tissue, laboratory's mosaic call, or a likely "
               "pathogenic classification)")
    elif mosaic is not None:
        why = mosaic.label() + ": mosaic, not the 50 % of the criterion (see the note on mosaic NF1)"
    elif pathogenic:
        why = "the pathogenic NF1 variant was found in affected tissue only, not in apparently normal tissue"
    else:
        why = "NF1 tested: no pathogenic variant"
    return v, why, mosaic


def nf1_legius_2021(family: FamilyHistory) -> CriteriaSetResult:
    """The revised NF1 diagnostic criteria (Legius et al., Genet Med 2021), with their notes.

    Assessed when NF1 findings are recorded or NF1 was tested; otherwise ``not_assessed``.
    """
    name = "NF1 diagnostic criteria, revised 2021"
    germline = family.germline
    if family.nf1 is None and not germline.tested("NF1"):
        return CriteriaSetResult(name, NF1_SOURCE, "not_assessed", (), "no NF1 findings and NF1 not tested")
    f = family.nf1 or Nf1Findings()
    calm, calm_why = _calm(f)
    freckles, freckles_why = _freckling(f)
    nfs, nfs_why = _neurofibromas(f)
    opg = _bool(f.optic_pathway_glioma, "nf1.optic_pathway_glioma")
    opg_why = {MET: "present", NOT_MET: "absent", UNKNOWN: "not examined"}[opg[0]]
    eye, eye_why = _eye(f)
    bone, bone_why, footnote_b = _osseous(f)
    variant, variant_why, mosaic_finding = _nf1_variant(germline)
    values = {"cafe_au_lait_macules": (calm, calm_why), "freckling": (freckles, freckles_why),
              "neurofibromas": (nfs, nfs_why), "optic_pathway_glioma": (opg, opg_why),
              "lisch_nodules_or_choroidal_abnormalities": (eye, eye_why), "osseous_lesion": (bone, bone_why),
              "nf1_variant": (variant, variant_why)}
    criteria = [CriterionResult(key, NF1_LEGIUS_2021[key]["name"], NF1_LEGIUS_2021[key]["text"], v[0], why, v[1])
                for key, (v, why) in values.items()]
    met = [c.id for c in criteria if c.verdict == MET]
    unknown = [c for c in criteria if c.verdict == UNKNOWN]
    parent = _bool(f.parent_meets_nf1_criteria, "nf1.parent_meets_nf1_criteria")

    def by_count(required: int) -> _V:
        if len(met) >= required:
            return _v(MET)
        if len(met) + len(unknown) < required:
            return _v(NOT_MET)
        return _v(UNKNOWN, *_dedupe(m for c in unknown for m in c.missing))

    with_parent, without_parent = by_count(1), by_count(2)
    if parent[0] == MET:
        verdict, rule = with_parent, "B (a parent meets the criteria: one feature suffices)"
    elif parent[0] == NOT_MET:
        verdict, rule = without_parent, "A (no affected parent: two features needed)"
    elif without_parent[0] == MET or with_parent[0] == NOT_MET:
        verdict, rule = without_parent if without_parent[0] == MET else with_parent, "A or B"
    else:
        verdict = _v(UNKNOWN, *_dedupe(("nf1.parent_meets_nf1_criteria", *with_parent[1], *without_parent[1])))
        rule = "A or B (whether a parent meets the criteria decides how many features are needed)"

    notes: list[str] = []
    only_pigmentary = bool(met) and set(met) <= set(PIGMENTARY)
    if only_pigmentary:
        notes.append("Only pigmentary features (cafe-au-lait macules, freckling) are met: " + NF1_NOTES["a"]
                     + " Legius syndrome is caused by SPRED1 variants: consider SPRED1 in the genetic work-up.")
        if verdict[0] == MET:
            bilateral = _or([_bool(f.calm_bilateral, "nf1.calm_bilateral") if "cafe_au_lait_macules" in met
                             else _v(NOT_MET),
                             _bool(f.freckling_bilateral, "nf1.freckling_bilateral") if "freckling" in met
                             else _v(NOT_MET)])
            if bilateral[0] == NOT_MET:
                verdict = _v(UNKNOWN, *_dedupe(m for c in unknown for m in c.missing)) if unknown else _v(NOT_MET)
                notes.append("Neither pigmentary finding is recorded bilateral, so they do not make the diagnosis "
                             "(footnote a).")
            elif bilateral[0] == UNKNOWN:
                verdict = bilateral
                notes.append("Record whether the pigmentary findings are bilateral (footnote a).")
    if footnote_b:
        notes.append(NF1_NOTES["b"])
    others = [c.id for c in criteria if c.verdict == MET and c.id != "nf1_variant"]
    if mosaic_finding is not None:
        state = ("another criterion is met: the paper's criteria for mosaic NF1 are met" if others else
                 "no other criterion is met yet")
        notes.append(f"{NF1_NOTES['mosaic_variant']} Here: {mosaic_finding.label()}, reported mosaic; {state}.")
    if f.segmental_distribution:
        state = ("another criterion is met" if [c for c in others if c != "cafe_au_lait_macules"] else
                 "no other criterion is met yet")
        notes.append(f"{NF1_NOTES['mosaic_segmental']} Here: segmental distribution recorded; {state}.")
    spred1 = [g for g in germline.findings if g.gene == "SPRED1" and g.pathogenic_or_likely]
    if spred1:
        notes.append(f"{spred1[0].label()}: a SPRED1 variant is the genetic criterion of Legius syndrome "
                     "(Legius 2021), not of NF1.")

    names = [NF1_LEGIUS_2021[m]["name"].lower() for m in met]
    if verdict[0] == MET:
        why = f"rule {rule}: {len(met)} feature{'s' if len(met) != 1 else ''} met ({', '.join(names)})"
    elif verdict[0] == NOT_MET:
        why = f"rule {rule}: {len(met)} feature{'s' if len(met) != 1 else ''} met" + (f" ({', '.join(names)})" if names else "")
    else:
        why = f"rule {rule}: {len(met)} met, {len(unknown)} not recorded"
    return _overall(name, NF1_SOURCE, criteria, verdict, why, notes)


# --- Referral and the whole assessment ----------------------------------------------------------

def genetic_counselling_referral(family: FamilyHistory, chompret: CriteriaSetResult,
                                 nf1: CriteriaSetResult) -> Referral:
    """Flag for genetic counselling: the Chompret criteria met, the NF1 criteria met, or a pathogenic
    or likely pathogenic germline variant in any gene. Nothing else raises it (no guideline is cited
    here for other triggers); undecided criteria are listed as pending."""
    reasons, pending = [], []
    if chompret.verdict == "met":
        reasons.append("Chompret criteria (2015) met: " + (
            "TP53 already tested (the result to be discussed in counselling)" if family.germline.tested("TP53")
            else "germline TP53 testing is indicated (Bougeard 2015)"))
    elif chompret.verdict == "undecided":
        pending.append(f"Chompret criteria {chompret.summary}")
    if nf1.verdict == "met":
        reasons.append("NF1 diagnostic criteria met (Legius 2021)")
    elif nf1.verdict == "undecided":
        pending.append(f"NF1 criteria {nf1.summary}")
    for g in family.germline.findings:
        if g.pathogenic_or_likely:
            reasons.append(f"germline {g.label()}")
    return Referral(bool(reasons), tuple(reasons), tuple(pending))


def assess_predisposition(family: FamilyHistory) -> PredispositionResult:
    """Both criteria sets and the referral flag for one family history."""
    chompret = chompret_2015(family)
    nf1 = nf1_legius_2021(family)
    return PredispositionResult(family, chompret, nf1, genetic_counselling_referral(family, chompret, nf1))


def relationship_degree(relationship: str) -> tuple[int, Optional[str]]:
    """Degree (1, 2 or 3) and side of a relationship to the proband, e.g. ``maternal aunt`` -> (2, 'maternal')."""
    key = _relationship_key(relationship, "relationship")
    degree, side, _ = RELATIONSHIPS[key]
    return degree, side


# --- Reading a family-history document ------------------------------------------------------------

def _key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _relationship_key(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(path, "a relationship to the proband is required, e.g. mother, maternal aunt", value)
    key = _key(value)
    key = _RELATIONSHIP_ALIASES.get(key, key)
    for side in ("maternal", "paternal"):
        prefix = f"{side}_"
        if key.startswith(prefix):
            rest = key[len(prefix):]
            key = prefix + _RELATIONSHIP_ALIASES.get(rest, rest)
    if key not in RELATIONSHIPS:
        raise InvalidValue(path, "not a known relationship (e.g. mother, sister, son, maternal aunt, paternal "
                           "grandmother, maternal first cousin, niece)", value)
    return key


def _mapping(value: Any, path: str, allowed: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValue(path, "must be a mapping of field: value", type(value).__name__)
    allowed = tuple(allowed)
    for k in value:
        if k not in allowed:
            raise InvalidValue(f"{path}.{k}" if path else str(k), f"unknown field; expected one of {', '.join(allowed)}",
                               show_value=False)
    return value


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise InvalidValue(path, "must be a list", type(value).__name__)
    return value


def _number(value: Any, path: str, low: float, high: float, rule: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidValue(path, f"must be a number ({rule})", value)
    if not low <= value <= high:
        raise InvalidValue(path, rule, value)
    return value


def _count(value: Any, path: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(path, "must be a whole number from 0 (leave it out if not examined)", value)
    return value


def _flag(value: Any, path: str) -> Optional[bool]:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidValue(path, "must be true or false (leave it out if not examined)", value)


def _choice(value: Any, path: str, choices: Sequence[str], aliases: Mapping[str, str] | None = None) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValue(path, f"must be one of {', '.join(choices)}", value)
    key = _key(value)
    key = (aliases or {}).get(key, key)
    if key not in choices:
        raise InvalidValue(path, f"must be one of {', '.join(choices)}", value)
    return key


def _cancer(data: Any, path: str, max_age: Optional[float]) -> Cancer:
    d = _mapping(data, path, ("type", "name", "age", "subtype", "menopausal_status"))
    if d.get("type") is None:
        raise InvalidValue(f"{path}.type", f"the tumour type is required: one of {', '.join(CANCER_TYPES)}",
                           show_value=False)
    kind = _choice(d["type"], f"{path}.type", tuple(CANCER_TYPES), _CANCER_ALIASES)
    age = _number(d.get("age"), f"{path}.age", 0, 120, "age at diagnosis in years, from 0 to 120")
    if age is not None and max_age is not None and age > max_age:
        raise InvalidValue(f"{path}.age", f"age at diagnosis is after the proband's age ({max_age:g})", age)
    subtype = _choice(d.get("subtype"), f"{path}.subtype", RHABDOMYOSARCOMA_SUBTYPES)
    if subtype is not None and kind != "rhabdomyosarcoma":
        raise InvalidValue(f"{path}.subtype", "a subtype is recorded for rhabdomyosarcoma only", d.get("subtype"))
    status = _choice(d.get("menopausal_status"), f"{path}.menopausal_status", MENOPAUSAL_STATUSES)
    if status is not None and kind != "breast_cancer":
        raise InvalidValue(f"{path}.menopausal_status", "recorded for breast cancer only", d.get("menopausal_status"))
    name = d.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidValue(f"{path}.name", "must be text", name)
    return Cancer(kind, age, name, subtype, status, path)  # type: ignore[arg-type]


def _cancers(value: Any, path: str, max_age: Optional[float] = None) -> tuple[Cancer, ...]:
    return tuple(_cancer(c, f"{path}[{i}]", max_age) for i, c in enumerate(_list(value, path)))


def _nf1(data: Any) -> Nf1Findings:
    d = _mapping(data, "nf1", Nf1Findings.__dataclass_fields__)
    values: dict[str, Any] = {}
    for name in Nf1Findings.__dataclass_fields__:
        value, path = d.get(name), f"nf1.{name}"
        if name == "pubertal_status":
            values[name] = _choice(value, path, PUBERTAL_STATUSES)
        elif name == "calm_diameters_mm":
            if value is not None:
                values[name] = tuple(_number(x, f"{path}[{i}]", 0, 1000, "greatest diameter in mm, from 0")
                                     for i, x in enumerate(_list(value, path)))
        elif name in ("neurofibromas", "plexiform_neurofibromas", "lisch_nodules", "choroidal_abnormalities"):
            values[name] = _count(value, path)
        else:
            values[name] = _flag(value, path)
    if (values.get("neurofibromas") is not None and values.get("plexiform_neurofibromas") is not None
            and values["plexiform_neurofibromas"] > values["neurofibromas"]):
        raise InvalidValue("nf1.plexiform_neurofibromas", "cannot exceed nf1.neurofibromas (the count of any type, "
                           "plexiform included)", values["plexiform_neurofibromas"])
    return Nf1Findings(**values)


def _gene(value: Any, path: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9\-]{2,20}", value.strip()):
        raise InvalidValue(path, "must be a gene symbol (HGNC), e.g. TP53, NF1", value)
    return value.strip().upper()


def _germline(data: Any) -> Germline:
    d = _mapping(data, "germline", ("genes_tested", "findings"))
    genes = tuple(_gene(g, f"germline.genes_tested[{i}]")
                  for i, g in enumerate(_list(d.get("genes_tested") or [], "germline.genes_tested")))
    findings = []
    for i, item in enumerate(_list(d.get("findings") or [], "germline.findings")):
        path = f"germline.findings[{i}]"
        g = _mapping(item, path, ("gene", "variant", "classification", "vaf_percent", "tissue", "mosaic"))
        if g.get("classification") is None:
            raise InvalidValue(f"{path}.classification", f"required: one of {', '.join(CLASSIFICATIONS)}",
                               show_value=False)
        variant = g.get("variant")
        if variant is not None and not isinstance(variant, str):
            raise InvalidValue(f"{path}.variant", "must be the HGVS description as text", variant)
        findings.append(GermlineFinding(
            _gene(g.get("gene"), f"{path}.gene"),
            _choice(g["classification"], f"{path}.classification", CLASSIFICATIONS, _CLASSIFICATION_ALIASES),  # type: ignore[arg-type]
            variant,
            _number(g.get("vaf_percent"), f"{path}.vaf_percent", 0, 100, "variant allele fraction in %, from 0 to 100"),
            _choice(g.get("tissue"), f"{path}.tissue", NORMAL_TISSUES + AFFECTED_TISSUES),
            _flag(g.get("mosaic"), f"{path}.mosaic"),
            path,
        ))
    return Germline(genes, tuple(findings))


def family_history_from_dict(data: Any) -> FamilyHistory:
    """A :class:`FamilyHistory` from a document (as read from YAML or JSON); a bad value is refused
    naming its path in the document, e.g. ``relatives[1].cancers[0].age``."""
    d = _mapping(data, "", ("proband", "relatives", "nf1", "germline"))
    if d.get("proband") is None:
        raise InvalidValue("proband", "required: the person assessed, with sex and cancers", show_value=False)
    p = _mapping(d["proband"], "proband", ("sex", "age", "year_of_birth", "cancers"))
    age = _number(p.get("age"), "proband.age", 0, 120, "the proband's age in years, from 0 to 120")
    yob = p.get("year_of_birth")
    if yob is not None and (isinstance(yob, bool) or not isinstance(yob, int) or not 1880 <= yob <= 2200):
        raise InvalidValue("proband.year_of_birth", "must be a four-digit year", yob)
    if "cancers" not in p:
        raise InvalidValue("proband.cancers", "required: the proband's tumours (an empty list if none)",
                           show_value=False)
    proband = Proband(_choice(p.get("sex"), "proband.sex", SEXES), _cancers(p["cancers"], "proband.cancers", age),
                      age, yob)
    relatives = None
    if d.get("relatives") is not None:
        items = []
        for i, item in enumerate(_list(d["relatives"], "relatives")):
            path = f"relatives[{i}]"
            r = _mapping(item, path, ("relationship", "sex", "cancers", "name"))
            key = _relationship_key(r.get("relationship"), f"{path}.relationship")
            sex = RELATIONSHIPS[key][2]
            given = _choice(r.get("sex"), f"{path}.sex", SEXES)
            if given is not None and sex is not None and given != sex:
                raise InvalidValue(f"{path}.sex", f"a {key.replace('_', ' ')} is {sex}", given)
            cancers = None if r.get("cancers") is None else _cancers(r["cancers"], f"{path}.cancers")
            items.append(Relative(key, cancers, given or sex, path))
        relatives = tuple(items)
    nf1 = None if d.get("nf1") is None else _nf1(d["nf1"])
    germline = Germline() if d.get("germline") is None else _germline(d["germline"])
    return FamilyHistory(proband, relatives, nf1, germline)
