"""The CTCAE v5.0 term search by the words clinicians use, and the entry of an adverse event with them.

Source of the expected terms: NCI, Common Terminology Criteria for Adverse Events (CTCAE) v5.0,
27 November 2017, as shipped in ``sarcotrial/domain/data/ctcae_v5_catalogue.csv`` (every expected
name below is a row of that file: "Dermatitis radiation", "Edema limbs", "Lymphedema",
"Neutrophil count decreased", ...). The synonyms are the reviewed list
``sarcotrial/domain/data/ctcae_synonyms.yaml``.
"""

from __future__ import annotations

import pytest

from sarcotrial.domain.ctcae import (
    catalogue,
    ctcae_term,
    find_terms,
    search_terms,
    synonyms,
    validate_grade,
)
from sarcotrial.errors import InvalidValue


def names(query: str, limit: int | None = None) -> list[str]:
    return [m.term.term for m in find_terms(query, limit)]


# --------------------------------------------------------------------------- the search
@pytest.mark.parametrize(("query", "first"), [
    ("radiation dermatitis", "Dermatitis radiation"),     # word order
    ("Dermatitis radiation", "Dermatitis radiation"),
    ("oedema limbs", "Edema limbs"),                      # British spelling
    ("limb oedema", "Edema limbs"),                       # both, and the plural
    ("oedema of the limbs", "Edema limbs"),               # words like "of" and "the" carry nothing
    ("lymphoedema", "Lymphedema"),
    ("anaemia", "Anemia"),
    ("diarrhoea", "Diarrhea"),
    ("oesophagitis", "Esophagitis"),
    ("hair loss", "Alopecia"),                            # synonyms
    ("tiredness", "Fatigue"),
    ("neutropenia", "Neutrophil count decreased"),
    ("low white count", "Neutrophil count decreased"),
    ("thrombocytopenia", "Platelet count decreased"),
    ("skin reaction", "Dermatitis radiation"),
    ("wound infection", "Wound infection"),
    ("radiation derm", "Dermatitis radiation"),           # while typing
    ("10002272", "Anemia"),                               # the MedDRA code
])
def test_the_words_clinicians_use_find_ncis_term_first(query, first):
    assert names(query)[0] == first


def test_haemorrhage_finds_the_hemorrhage_terms():
    found = names("haemorrhage")
    assert found and all("hemorrhage" in n.lower() for n in found)
    assert {"Rectal hemorrhage", "Intracranial hemorrhage", "Postoperative hemorrhage"} <= set(found)
    assert names("haem") == names("hem") and "Hematoma" in names("haematoma")


def test_word_order_does_not_change_what_is_found():
    assert names("limbs edema") == names("edema limbs")
    assert names("radiation dermatitis")[0] == names("dermatitis radiation")[0] == "Dermatitis radiation"


def test_an_ambiguous_phrase_offers_every_term_it_may_mean_in_the_files_order():
    assert names("low white count")[:2] == ["Neutrophil count decreased", "White blood cell decreased"]
    assert names("limb swelling")[:2] == ["Lymphedema", "Edema limbs"]
    match = find_terms("hair loss")[0]
    assert (match.how, match.synonym) == ("synonym", "hair loss")


def test_the_name_ranks_before_terms_that_only_contain_its_words():
    assert names("neutropenia")[:2] == ["Neutrophil count decreased", "Febrile neutropenia"]
    assert names("pain")[0] == "Pain"
    assert names("wound") == ["Wound complication", "Wound dehiscence", "Wound infection"]


def test_unknown_words_find_nothing_and_a_blank_query_is_refused():
    assert find_terms("qqqqzzzz") == []
    assert find_terms("dermatitis qqqqzzzz") == []  # every word must match
    with pytest.raises(InvalidValue):
        find_terms("   ")


def test_limit_and_the_cli_search_agree():
    assert len(find_terms("haemorrhage", 8)) == 8
    assert [t.term for t in search_terms("hair loss")] == names("hair loss") == ["Alopecia"]


def test_every_synonym_names_a_term_of_the_catalogue():
    shipped = catalogue()
    table = synonyms()
    assert table and all(name in shipped for name in table)
    assert all(phrases for phrases in table.values())
    assert "radiation dermatitis" not in {p for ps in table.values() for p in ps}  # word order does that


# --------------------------------------------------------------------------- entry of a term
@pytest.mark.parametrize(("typed", "stored"), [
    ("radiation dermatitis", "Dermatitis radiation"),
    ("oedema limbs", "Edema limbs"),
    ("Limb oedema", "Edema limbs"),
    ("Lymphoedema", "Lymphedema"),
    ("hair loss", "Alopecia"),
    ("Tiredness", "Fatigue"),
    ("neutropenia", "Neutrophil count decreased"),
    ("diarrhoea", "Diarrhea"),
])
def test_entry_accepts_the_clinicians_words_and_gives_ncis_term(typed, stored):
    assert ctcae_term(typed).term == stored
    assert validate_grade(typed, 1).term == stored


@pytest.mark.parametrize(("typed", "candidates"), [
    ("low white count", ["Neutrophil count decreased", "White blood cell decreased"]),
    ("limb swelling", ["Lymphedema", "Edema limbs"]),
    ("skin reaction", ["Dermatitis radiation", "Rash maculo-papular"]),
])
def test_an_ambiguous_entry_is_refused_with_the_candidates(typed, candidates):
    with pytest.raises(InvalidValue) as info:
        ctcae_term(typed)
    assert info.value.field == "term" and info.value.value == typed
    assert "names several CTCAE v5.0 terms; choose one" in info.value.rule
    for name in candidates:
        assert f"'{name}'" in info.value.rule


def test_words_that_are_part_of_many_names_are_refused_with_suggestions():
    with pytest.raises(InvalidValue) as info:
        ctcae_term("haemorrhage")
    assert info.value.rule.startswith("not a CTCAE v5.0 term; did you mean")
    assert "hemorrhage'" in info.value.rule


def test_the_grade_rule_still_applies_to_the_term_found():
    """CTCAE v5.0: Alopecia defines grades 1 and 2 only."""
    with pytest.raises(InvalidValue) as info:
        validate_grade("hair loss", 3)
    assert info.value.rule == "CTCAE v5.0 'Alopecia' allows grades 1, 2 only"
