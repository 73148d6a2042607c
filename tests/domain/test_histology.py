"""The WHO 2020 soft tissue histotype catalogue and its search.

Sources cited in the tests:
- WHO Classification of Tumours Editorial Board. Soft tissue and bone tumours. Lyon: IARC; 2020
  (5th ed., vol. 3), list "WHO classification of soft tissue tumours" with ICD-O-3.2 codes;
  Sbaraglia M, Bellan E, Dei Tos AP, Pathologica 2021;113:70-84 (review of that classification).
- Coindre JM. Grading of soft tissue sarcomas: review and update. Arch Pathol Lab Med
  2006;130:1448-53, Table 2 (FNCLCC tumour differentiation score by histologic type, updated from
  Guillou et al., J Clin Oncol 1997;15:350-62).
- AJCC Cancer Staging Manual, 8th ed. (2017), soft tissue sarcoma chapters 40-44.
- The unit's own page, /work/shared/seeds/002_54297dd544f01053.txt (isotypes and site shares).
"""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from sarcotrial.domain import histology
from sarcotrial.domain.histology import (
    BEHAVIOURS,
    FAMILIES,
    SITES,
    SearchResult,
    histotype,
    histotypes,
    normalize_term,
    obsolete_terms,
    search_histotypes,
    site_case_mix,
)
from sarcotrial.errors import InvalidValue
from tests.conftest import shared_file

# ---------------------------------------------------------------------------------------------
# The unit's isotypes, copied from /work/shared/seeds/002_54297dd544f01053.txt ("The numerous
# isotypes include ..." and the bulleted lists under "Soft sarcomas also include"), each with the
# entity it must resolve to first; None = a generic name, any entity of the named group will do.
# ---------------------------------------------------------------------------------------------

SEED_ISOTYPES: list[tuple[str, str | None]] = [
    ("liposarcoma", None),
    ("leiomyosarcoma", "leiomyosarcoma"),
    ("synovial sarcoma", "synovial_sarcoma"),
    ("malignant peripheral nerve sheath tumour", "malignant_peripheral_nerve_sheath_tumour"),
    ("haemangioendothelioma", None),
    ("angiosarcoma", "angiosarcoma"),
    ("solitary fibrous tumour", "solitary_fibrous_tumour"),
    ("epithelioid sarcoma", "epithelioid_sarcoma"),
    ("alveolar soft part sarcoma", "alveolar_soft_part_sarcoma"),
    ("Alveolar soft part sarcoma (ASPS)", "alveolar_soft_part_sarcoma"),
    ("ASPS", "alveolar_soft_part_sarcoma"),
    ("pleomorphic sarcoma", "undifferentiated_pleomorphic_sarcoma"),
    ("rhabdomyosarcoma", None),
    ("desmoplastic round cell tumour", "desmoplastic_small_round_cell_tumour"),
    ("dermatofibrosarcoma protuberans", "dermatofibrosarcoma_protuberans"),
    ("Ewing's sarcoma", "ewing_sarcoma"),
    ("aggressive Desmoid-type fibromatosis", "desmoid_fibromatosis"),
    ("Fibromatosis (desmoid tumours)", "desmoid_fibromatosis"),
    ("GIST", "gastrointestinal_stromal_tumour"),
    ("gastrointestinal stromal tumour", "gastrointestinal_stromal_tumour"),
    ("gastrointestinal stromal tumours (GIST)", "gastrointestinal_stromal_tumour"),
    ("fibrosarcoma", "adult_fibrosarcoma"),
    ("dermatofibrosarcoma", "dermatofibrosarcoma_protuberans"),
    ("low grade fibromyxoid sarcoma", "low_grade_fibromyxoid_sarcoma"),
    ("malignant triton tumour", "malignant_peripheral_nerve_sheath_tumour"),
    ("clear cell sarcoma", "clear_cell_sarcoma"),
    ("malignant melanoma of the soft parts", "clear_cell_sarcoma"),
    ("Clear cell sarcoma (malignant melanoma of the soft parts)", "clear_cell_sarcoma"),
    ("undifferentiated soft tissue sarcoma", "undifferentiated_sarcoma"),
    ("haemangiopericytoma", "solitary_fibrous_tumour"),
    ("Haemangiopericytoma (solitary fibrous tumour)", "solitary_fibrous_tumour"),
    ("malignant schwannoma", "malignant_peripheral_nerve_sheath_tumour"),
]

GENERIC_FAMILIES = {
    "liposarcoma": "adipocytic tumours",
    "rhabdomyosarcoma": "skeletal muscle tumours",
    "haemangioendothelioma": "vascular tumours",
}


@pytest.mark.parametrize(("term", "expected"), SEED_ISOTYPES)
def test_every_seed_isotype_is_found(term: str, expected: str | None) -> None:
    result = search_histotypes(term)
    assert result.matches, term
    if expected is not None:
        assert result.matches[0].id == expected
    else:
        assert all(h.family == GENERIC_FAMILIES[term] for h in result.matches[:3])


def test_malignant_mesenchymoma_is_obsolete_with_candidates() -> None:
    result = search_histotypes("Malignant mesenchymoma")
    assert [o.term for o in result.obsolete] == ["malignant mesenchymoma"]
    candidates = set(result.obsolete[0].candidates)
    assert {"dedifferentiated_liposarcoma", "malignant_peripheral_nerve_sheath_tumour"} <= candidates
    assert "undifferentiated_pleomorphic_sarcoma" in candidates


def test_haemangioendothelioma_is_an_umbrella_term_listing_every_type() -> None:
    result = search_histotypes("haemangioendothelioma")
    assert [o.term for o in result.obsolete] == ["haemangioendothelioma"]
    named_types = {c for c in result.obsolete[0].candidates if c.endswith("haemangioendothelioma")}
    assert len(named_types) == 5
    assert {h.id for h in result.matches} >= named_types


def test_a_specific_haemangioendothelioma_is_not_flagged_obsolete() -> None:
    result = search_histotypes("epithelioid hemangioendothelioma")
    assert result.matches[0].id == "epithelioid_haemangioendothelioma"
    assert result.obsolete == []


# ---------------------------------------------------------------------------------------------
# ICD-O codes checked against published sources. "WHO 2020" = the list "WHO classification of soft
# tissue tumours" of the 5th edition (codes of ICD-O-3.2). Where a public page quoting the code was
# read while building the catalogue it is named after the WHO reference.
# ---------------------------------------------------------------------------------------------

ICDO_TABLE: list[tuple[str, str, str]] = [
    ("atypical_lipomatous_tumour", "8850/1", "WHO 2020"),
    ("well_differentiated_liposarcoma", "8850/3", "WHO 2020"),
    ("dedifferentiated_liposarcoma", "8858/3", "WHO 2020"),
    ("myxoid_liposarcoma", "8852/3", "WHO 2020; Univ. Zurich histology course S IX 16 'ICD-O: 8852/3'"),
    ("pleomorphic_liposarcoma", "8854/3", "WHO 2020"),
    ("myxoid_pleomorphic_liposarcoma", "8859/3", "WHO 2020; PathologyOutlines, Perret R, Myxoid pleomorphic liposarcoma"),
    ("desmoid_fibromatosis", "8821/1", "WHO 2020"),
    ("dermatofibrosarcoma_protuberans", "8832/1", "WHO 2020 (ICD-O-3 2000 had 8832/3)"),
    ("dermatofibrosarcoma_protuberans_fibrosarcomatous", "8832/3", "WHO 2020"),
    ("solitary_fibrous_tumour", "8815/1", "WHO 2020"),
    ("infantile_fibrosarcoma", "8814/3", "WHO 2020; PathologyOutlines, Azar P, Warmke L, Infantile fibrosarcoma"),
    ("adult_fibrosarcoma", "8810/3", "WHO 2020; WHO 2002 list 'Fibrosarcoma, NOS 8810/3'"),
    ("myxofibrosarcoma", "8811/3", "WHO 2020; IARC ICD-O online codes.iarc.fr/code/999"),
    ("low_grade_fibromyxoid_sarcoma", "8840/3", "WHO 2020"),
    ("malignant_tenosynovial_giant_cell_tumour", "9252/3", "WHO 2020; IARC ICD-O online codes.iarc.fr/code/3782"),
    ("kaposi_sarcoma", "9140/3", "WHO 2020; SEER Summary Stage 2018 Kaposi sarcoma schema (histology 9140)"),
    ("epithelioid_haemangioendothelioma", "9133/3", "WHO 2020"),
    ("angiosarcoma", "9120/3", "WHO 2020"),
    ("malignant_glomus_tumour", "8711/3", "WHO 2020; WHO 2002 chapter 5 'Malignant glomus tumour 8711/3'"),
    ("ebv_associated_smooth_muscle_tumour", "8897/1", "WHO 2020; PathologyOutlines, Alexiev BA"),
    ("leiomyosarcoma", "8890/3", "WHO 2020"),
    ("embryonal_rhabdomyosarcoma", "8910/3", "WHO 2020"),
    ("alveolar_rhabdomyosarcoma", "8920/3", "WHO 2020"),
    ("gastrointestinal_stromal_tumour", "8936/3", "WHO 2020; Krebsregister Rheinland-Pfalz coding FAQ (ICD-O-3.2)"),
    ("extraskeletal_osteosarcoma", "9180/3", "WHO 2020; ICD-O-3 'Osteosarcoma, NOS 9180/3'"),
    ("mesenchymal_chondrosarcoma", "9240/3", "WHO 2020 bone chapter; WHO 2002 list"),
    ("malignant_peripheral_nerve_sheath_tumour", "9540/3", "WHO 2020"),
    ("synovial_sarcoma", "9040/3", "WHO 2020"),
    ("epithelioid_sarcoma", "8804/3", "WHO 2020"),
    ("alveolar_soft_part_sarcoma", "9581/3", "WHO 2020"),
    ("clear_cell_sarcoma", "9044/3", "WHO 2020"),
    ("desmoplastic_small_round_cell_tumour", "8806/3", "WHO 2020"),
    ("undifferentiated_pleomorphic_sarcoma", "8802/3", "WHO 2020"),
    ("ewing_sarcoma", "9364/3", "WHO 2020"),
    ("cic_rearranged_sarcoma", "9367/3", "WHO 2020"),
    ("bcor_sarcoma", "9368/3", "WHO 2020"),
]


@pytest.mark.parametrize(("ident", "code", "source"), ICDO_TABLE)
def test_icdo_codes_match_published_sources(ident: str, code: str, source: str) -> None:
    # ``source`` names where the code is printed; it documents the row and is not under test
    assert histotype(ident).icdo3 == code


# FNCLCC differentiation scores, Coindre 2006 Table 2 (conventional form where several are given).
FNCLCC_TABLE: list[tuple[str, int]] = [
    ("well_differentiated_liposarcoma", 1),
    ("myxoid_liposarcoma", 2),
    ("pleomorphic_liposarcoma", 3),
    ("dedifferentiated_liposarcoma", 3),
    ("adult_fibrosarcoma", 2),
    ("myxofibrosarcoma", 2),
    ("leiomyosarcoma", 2),
    ("malignant_peripheral_nerve_sheath_tumour", 2),
    ("angiosarcoma", 2),
    ("extraskeletal_myxoid_chondrosarcoma", 2),
    ("embryonal_rhabdomyosarcoma", 3),
    ("alveolar_rhabdomyosarcoma", 3),
    ("pleomorphic_rhabdomyosarcoma", 3),
    ("synovial_sarcoma", 3),
    ("mesenchymal_chondrosarcoma", 3),
    ("extraskeletal_osteosarcoma", 3),
    ("ewing_sarcoma", 3),
    ("epithelioid_malignant_peripheral_nerve_sheath_tumour", 3),
    ("undifferentiated_pleomorphic_sarcoma", 3),
]


@pytest.mark.parametrize(("ident", "score"), FNCLCC_TABLE)
def test_fnclcc_differentiation_scores(ident: str, score: int) -> None:
    assert histotype(ident).fnclcc_differentiation == score


def test_scores_of_variant_forms_are_documented() -> None:
    for ident in ("myxoid_liposarcoma", "adult_fibrosarcoma", "leiomyosarcoma", "angiosarcoma"):
        assert histotype(ident).fnclcc_note
    assert "Triton" in histotype("malignant_peripheral_nerve_sheath_tumour").fnclcc_note


def test_no_fnclcc_score_where_fnclcc_does_not_define_one() -> None:
    for ident in ("desmoid_fibromatosis", "gastrointestinal_stromal_tumour", "kaposi_sarcoma",
                  "dermatofibrosarcoma_protuberans", "solitary_fibrous_tumour"):
        assert histotype(ident).fnclcc_differentiation is None


# AJCC 8th ed.: soft tissue sarcoma staging excludes desmoid fibromatosis and Kaposi sarcoma; GIST
# has its own chapter 43; IMT and PEComa have no AJCC staging system (chapter 42 table).
@pytest.mark.parametrize(
    "ident",
    ["desmoid_fibromatosis", "kaposi_sarcoma", "gastrointestinal_stromal_tumour",
     "inflammatory_myofibroblastic_tumour", "malignant_pecoma"],
)
def test_histotypes_outside_ajcc_soft_tissue_staging(ident: str) -> None:
    assert histotype(ident).ajcc_staged is False


@pytest.mark.parametrize(
    "ident",
    ["dedifferentiated_liposarcoma", "leiomyosarcoma", "undifferentiated_pleomorphic_sarcoma",
     "synovial_sarcoma", "myxofibrosarcoma", "atypical_lipomatous_tumour", "solitary_fibrous_tumour"],
)
def test_common_sarcomas_are_ajcc_staged(ident: str) -> None:
    assert histotype(ident).ajcc_staged is True


# ---------------------------------------------------------------------------------------------
# Structural invariants of the catalogue
# ---------------------------------------------------------------------------------------------

# WHO lists these under an intermediate heading although their ICD-O behaviour digit is /3 or /0.
INTERMEDIATE_CODED_3 = {
    "kaposi_sarcoma",
    "infantile_fibrosarcoma",
    "low_grade_myofibroblastic_sarcoma",
    "dermatofibrosarcoma_protuberans_fibrosarcomatous",
    "epithelioid_inflammatory_myofibroblastic_sarcoma",
}
INTERMEDIATE_CODED_0 = {"solitary_fibrous_tumour_benign", "ossifying_fibromyxoid_tumour", "mixed_tumour", "myoepithelioma"}


def test_ids_are_unique_snake_case() -> None:
    ids = [h.id for h in histotypes()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", i) for i in ids)


def test_codes_have_icdo_format() -> None:
    assert all(re.fullmatch(r"\d{4}/[0-3]", h.icdo3) for h in histotypes())


def test_behaviour_vocabulary() -> None:
    assert {h.behaviour for h in histotypes()} == set(BEHAVIOURS)


def test_behaviour_3_is_malignant_except_whos_listed_intermediates() -> None:
    for h in histotypes():
        if h.behaviour == "malignant":
            assert h.icdo3.endswith("/3"), h.id
        elif h.icdo3.endswith("/3"):
            assert h.id in INTERMEDIATE_CODED_3, h.id
        elif h.icdo3.endswith("/0"):
            assert h.id in INTERMEDIATE_CODED_0, h.id
        else:
            assert h.icdo3.endswith("/1"), h.id
    assert all(histotype(i).behaviour.startswith("intermediate") for i in INTERMEDIATE_CODED_3 | INTERMEDIATE_CODED_0)


def test_every_chapter_is_present_with_a_source() -> None:
    assert {h.family for h in histotypes()} == set(FAMILIES)
    assert len(FAMILIES) == 12
    for family in FAMILIES:
        assert "WHO 2020" in histology.chapter_source(family)


def test_catalogue_size_per_chapter() -> None:
    counts = Counter(h.family for h in histotypes())
    assert counts["adipocytic tumours"] == 6
    assert counts["gastrointestinal stromal tumour"] == 1
    assert counts["undifferentiated small round cell sarcomas of bone and soft tissue"] == 4
    assert sum(counts.values()) == len(histotypes()) >= 80


def test_every_name_and_synonym_resolves_to_its_entity_first() -> None:
    for h in histotypes():
        for label in (h.name, *h.synonyms):
            result = search_histotypes(label)
            assert result.matches and result.matches[0].id == h.id, (label, h.id, [m.id for m in result.matches[:3]])


def test_synonyms_are_not_shared_between_entities() -> None:
    seen: dict[str, str] = {}
    for h in histotypes():
        for label in (h.name, *h.synonyms):
            key = normalize_term(label)
            assert seen.setdefault(key, h.id) == h.id, (label, seen[key], h.id)


def test_every_obsolete_candidate_exists() -> None:
    terms = obsolete_terms()
    assert terms
    for term in terms:
        assert term.note and term.candidates
        for candidate in term.candidates:
            assert histotype(candidate).id == candidate


def test_subtypes_point_to_existing_entities() -> None:
    for h in histotypes():
        if h.subtype_of is not None:
            assert histotype(h.subtype_of).family == h.family


def test_brief_synonyms_are_present() -> None:
    expectations = {
        "malignant_peripheral_nerve_sheath_tumour": ["malignant schwannoma", "neurofibrosarcoma", "malignant triton tumour"],
        "solitary_fibrous_tumour": ["haemangiopericytoma"],
        "ewing_sarcoma": ["Ewing's sarcoma"],
        "desmoid_fibromatosis": ["desmoid", "aggressive fibromatosis"],
        "dermatofibrosarcoma_protuberans": ["DFSP"],
        "undifferentiated_pleomorphic_sarcoma": ["MFH", "malignant fibrous histiocytoma"],
        "clear_cell_sarcoma": ["clear cell sarcoma", "malignant melanoma of soft parts"],
        "alveolar_soft_part_sarcoma": ["ASPS"],
    }
    for ident, synonyms in expectations.items():
        assert set(synonyms) <= set(histotype(ident).synonyms), ident


# ---------------------------------------------------------------------------------------------
# Lookup and search behaviour
# ---------------------------------------------------------------------------------------------


def test_unknown_id_is_refused() -> None:
    with pytest.raises(InvalidValue) as info:
        histotype("malignant_mesenchymoma")
    assert info.value.field == "histotype"
    assert info.value.rule == "unknown histotype id (see 'sarcotrial rules histotype')"
    assert info.value.value == "malignant_mesenchymoma"


def test_a_mistyped_id_is_answered_with_the_nearest():
    """As an unknown gene is: 'leiomyosarcome' gets leiomyosarcoma, a far id gets the search command."""
    with pytest.raises(InvalidValue, match=r"unknown histotype id; nearest: leiomyosarcoma\b"):
        histotype("leiomyosarcome")


def test_as_dict_keys() -> None:
    d = histotype("synovial_sarcoma").as_dict()
    assert set(d) == {"id", "name", "icdo3", "behaviour", "family", "synonyms", "fnclcc_differentiation", "ajcc_staged"}
    assert d["icdo3"] == "9040/3" and isinstance(d["synonyms"], list)


def test_search_result_as_dict() -> None:
    result = search_histotypes("malignant mesenchymoma")
    assert isinstance(result, SearchResult)
    d = result.as_dict()
    assert set(d) == {"matches", "obsolete"}
    assert d["obsolete"][0]["term"] == "malignant mesenchymoma"
    assert isinstance(d["obsolete"][0]["candidates"], list)
    assert search_histotypes("leiomyosarcoma").as_dict()["matches"][0]["id"] == "leiomyosarcoma"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("haemangioendothelioma", "hemangioendothelioma"),
        ("tumour", "tumor"),
        ("oesophageal", "esophageal"),
        ("Ewing's sarcoma", "Ewing sarcoma"),
        ("Ewing’s sarcoma", "ewing sarcoma"),
        ("desmoid-type fibromatosis", "Desmoid type Fibromatosis"),
        ("Kaposi sarcóma", "kaposi sarcoma"),
        ("metastasising", "metastasizing"),
        ("desmoid tumours", "desmoid tumor"),
    ],
)
def test_normalisation_equivalences(a: str, b: str) -> None:
    assert normalize_term(a) == normalize_term(b)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("hemangiopericytoma", "solitary_fibrous_tumour"),
        ("Epithelioid Hemangioendothelioma", "epithelioid_haemangioendothelioma"),
        ("kaposiform hemangioendothelioma", "kaposiform_haemangioendothelioma"),
        ("pigmented villonodular synovitis", "tenosynovial_giant_cell_tumour_diffuse"),
        ("MPNST", "malignant_peripheral_nerve_sheath_tumour"),
        ("DDLPS", "dedifferentiated_liposarcoma"),
        ("desmoplastic small round cell tumor", "desmoplastic_small_round_cell_tumour"),
        ("dedifferentiated lipo", "dedifferentiated_liposarcoma"),
        ("myxoid MFH", "myxofibrosarcoma"),
        ("Malignant Fibrous Histiocytoma", "undifferentiated_pleomorphic_sarcoma"),
        ("neurofibrosarcoma", "malignant_peripheral_nerve_sheath_tumour"),
        ("  synovial   SARCOMA ", "synovial_sarcoma"),
    ],
)
def test_search_ranks_the_intended_entity_first(query: str, expected: str) -> None:
    assert search_histotypes(query).matches[0].id == expected


def test_exact_match_ranks_before_substring_match() -> None:
    ids = [h.id for h in search_histotypes("fibrosarcoma").matches]
    assert ids[0] == "adult_fibrosarcoma"
    assert {"infantile_fibrosarcoma", "sclerosing_epithelioid_fibrosarcoma", "dermatofibrosarcoma_protuberans"} <= set(ids)
    assert ids.index("infantile_fibrosarcoma") < ids.index("dermatofibrosarcoma_protuberans")


def test_search_by_icdo_code() -> None:
    assert {h.id for h in search_histotypes("8840/3").matches} == {"low_grade_fibromyxoid_sarcoma", "sclerosing_epithelioid_fibrosarcoma"}
    assert {h.id for h in search_histotypes("8850").matches} == {"atypical_lipomatous_tumour", "well_differentiated_liposarcoma"}


def test_empty_and_unknown_queries() -> None:
    assert search_histotypes("   ").matches == []
    nothing = search_histotypes("carcinoma of the breast")
    assert nothing.matches == [] and nothing.obsolete == []


# ---------------------------------------------------------------------------------------------
# Sites: the unit's case mix, copied from the seed page (limbs 60 %, retroperitoneum 15 %,
# superficial trunk 10 %, head/neck 5 %, visceral 10 %).
# ---------------------------------------------------------------------------------------------

SEED_SITE_SHARES = {"extremity": 0.60, "retroperitoneum": 0.15, "trunk": 0.10, "head_neck": 0.05, "visceral": 0.10}


def test_site_shares_sum_to_one_and_match_the_seed() -> None:
    mix = site_case_mix()
    assert tuple(mix) == SITES
    assert math.isclose(sum(mix.values()), 1.0)
    assert mix == pytest.approx(SEED_SITE_SHARES)


# ---------------------------------------------------------------------------------------------
# Validation against the seed page itself (skips without ../shared).
# ---------------------------------------------------------------------------------------------

SEED_FILE = "../seeds/002_54297dd544f01053.txt"


def _seed_isotype_lines(text: str) -> list[str]:
    """The comma-separated isotype sentence and the bullets of "Soft tissue sarcomas also include"."""
    names: list[str] = []
    in_list = False
    for line in text.splitlines():
        line = line.strip()
        if "The numerous isotypes include" in line:
            listed = line.split("The numerous isotypes include", 1)[1]
            names.extend(part.strip() for part in listed.split(",") if part.strip())
        elif line.startswith("Soft tissue sarcomas also include"):
            in_list = True
        elif line.startswith("For the majority of these isotypes"):
            in_list = False
        elif in_list and line.startswith("•"):
            names.append(line.lstrip("•").strip())
    return names


@pytest.mark.validation
def test_every_isotype_line_of_the_seed_page_is_found(shared_data) -> None:
    text = shared_file(shared_data, SEED_FILE).read_text(encoding="utf-8")
    names = _seed_isotype_lines(text)
    assert len(names) >= 25
    for name in names:
        result = search_histotypes(name)
        assert result.matches or result.obsolete, name
    assert "60%" in text and "15%" in text and "5%" in text


def test_solitary_fibrous_tumour_is_not_graded_by_fnclcc():
    """WHO 2020 (5th ed., soft tissue) grades the solitary fibrous tumour by a risk model (Demicco et
    al., Mod Pathol 2017), not by FNCLCC; the FNCLCC-graded sarcomas (Coindre 2006 Table 2) are."""
    assert not histology.histotype("solitary_fibrous_tumour").graded_by_fnclcc
    for ident in ("leiomyosarcoma", "myxofibrosarcoma", "synovial_sarcoma", "dedifferentiated_liposarcoma"):
        assert histology.histotype(ident).graded_by_fnclcc, ident
    # a score in the catalogue always means FNCLCC applies
    assert all(h.graded_by_fnclcc for h in histology.histotypes() if h.fnclcc_differentiation is not None)
