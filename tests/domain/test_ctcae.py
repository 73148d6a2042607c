"""CTCAE v5.0 catalogue, parser and grade rules.

Reference: Common Terminology Criteria for Adverse Events (CTCAE) Version 5.0, U.S. Department of
Health and Human Services, NIH, National Cancer Institute, published 27 November 2017 (PDF and the
spreadsheet CTCAE_v5.0_2017-11-27.xlsx, sheet "CTCAE v5.0 Clean Copy": 837 terms, 26 MedDRA SOCs).
The spot checks below are the terms' rows in that document (MedDRA code, SOC, grades defined).

Tests marked ``validation`` read NCI's spreadsheet from ``../shared/data`` (never copied into the
repository); the others run on the shipped factual catalogue only.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook

from sarcotrial.domain import ctcae
from sarcotrial.domain.ctcae import (
    CATALOGUE_COLUMNS,
    CTCAE_SHEET,
    CTCAE_VERSION,
    CtcaeTerm,
    catalogue,
    ctcae_term,
    read_catalogue,
    search_terms,
    validate_grade,
    write_catalogue,
)
from sarcotrial.errors import InvalidValue
from sarcotrial.services.ctcae_build import main as build_main
from sarcotrial.services.reference import read_ctcae_workbook  # opening the .xlsx is the import service's
from tests.conftest import shared_file

XLSX = "CTCAE_v5.0_2017-11-27.xlsx"
SHIPPED = Path(ctcae.__file__).parent / "data" / "ctcae_v5_catalogue.csv"

# (term, MedDRA code, MedDRA SOC, grades defined) as printed in CTCAE v5.0 (NCI, 27 Nov 2017).
SPOT_CHECKS = [
    ("Anemia", 10002272, "Blood and lymphatic system disorders", (1, 2, 3, 4, 5)),
    ("Alopecia", 10001760, "Skin and subcutaneous tissue disorders", (1, 2)),
    ("Dermatitis radiation", 10061103, "Injury, poisoning and procedural complications", (1, 2, 3, 4, 5)),
    ("Wound complication", 10053692, "Injury, poisoning and procedural complications", (1, 2, 3, 4, 5)),
    ("Wound dehiscence", 10048031, "Injury, poisoning and procedural complications", (1, 2, 3, 4, 5)),
    ("Wound infection", 10048038, "Infections and infestations", (1, 2, 3, 4, 5)),
    ("Seroma", 10040102, "Injury, poisoning and procedural complications", (1, 2, 3)),
    ("Fatigue", 10016256, "General disorders and administration site conditions", (1, 2, 3)),
    ("Lymphedema", 10025233, "Vascular disorders", (1, 2, 3)),
    ("Fibrosis deep connective tissue", 10065799, "Musculoskeletal and connective tissue disorders", (1, 2, 3, 4, 5)),
    ("Neutrophil count decreased", 10029366, "Investigations", (1, 2, 3, 4)),
    ("Death NOS", 10011914, "General disorders and administration site conditions", (5,)),
    ("Eosinophilia", None, "Blood and lymphatic system disorders", (1, 3)),
    ("Vaginal stricture", None, "Reproductive system and breast disorders", (1, 2, 3, 5)),
    ("Asystole", None, "Cardiac disorders", (1, 4, 5)),
]


def _check_spot(term: CtcaeTerm, code, soc, grades) -> None:
    if code is not None:
        assert term.meddra_code == code
    assert term.soc == soc
    assert term.allowed_grades == grades


# ---------------------------------------------------------------------------------------------
# NCI's spreadsheet (validation data)


@pytest.fixture(scope="module")
def nci_terms(shared_data) -> list[CtcaeTerm]:
    return read_ctcae_workbook(shared_file(shared_data, XLSX))


@pytest.mark.validation
def test_spreadsheet_has_837_terms_in_26_socs(nci_terms):
    assert len(nci_terms) == 837
    assert len({t.soc for t in nci_terms}) == 26
    assert len({t.term for t in nci_terms}) == 837
    assert len({t.meddra_code for t in nci_terms}) == 837


@pytest.mark.validation
def test_shipped_catalogue_equals_what_the_parser_derives(nci_terms):
    shipped = list(catalogue().values())
    assert [t.facts() for t in shipped] == [t.facts() for t in nci_terms]


@pytest.mark.validation
def test_shipped_csv_is_byte_identical_to_a_rebuild(nci_terms, tmp_path):
    out = tmp_path / "rebuilt.csv"
    write_catalogue(nci_terms, out)
    assert out.read_bytes() == SHIPPED.read_bytes()


@pytest.mark.validation
def test_build_script_writes_the_shipped_catalogue(shared_data, tmp_path, capsys):
    out = tmp_path / "cat.csv"
    assert build_main([str(shared_file(shared_data, XLSX)), str(out)]) == 0
    assert "837" in capsys.readouterr().out
    assert out.read_bytes() == SHIPPED.read_bytes()


@pytest.mark.validation
@pytest.mark.parametrize(("name", "code", "soc", "grades"), SPOT_CHECKS)
def test_spreadsheet_spot_checks(nci_terms, name, code, soc, grades):
    by_name = {t.term: t for t in nci_terms}
    _check_spot(by_name[name], code, soc, grades)


@pytest.mark.validation
def test_grade_definition_text(nci_terms):
    by_name = {t.term: t for t in nci_terms}
    # CTCAE v5.0, Injury, poisoning and procedural complications: Dermatitis radiation.
    derm = by_name["Dermatitis radiation"]
    assert derm.grade_definitions[1] == "Faint erythema or dry desquamation"
    assert derm.grade_definitions[5] == "Death"
    # Wound complication: grade 3 "Operative intervention indicated".
    wound = by_name["Wound complication"]
    assert wound.grade_definitions == {
        1: "Observation only; topical intervention indicated",
        2: "Bedside local care indicated",
        3: "Operative intervention indicated",
        4: "Life-threatening consequences",
        5: "Death",
    }
    # Alopecia: only grades 1 and 2 carry text; " -" cells are not grades.
    alopecia = by_name["Alopecia"]
    assert set(alopecia.grade_definitions) == {1, 2}
    assert alopecia.grade_definitions[1].startswith("Hair loss of <50% of normal for that individual")
    # Eczema grade 1 has a no-break space inside NCI's cell: normalised to a plain space.
    assert by_name["Eczema"].grade_definitions[1] == (
        "Asymptomatic or mild symptoms; additional medical intervention over baseline not indicated"
    )
    assert all("\xa0" not in text for t in nci_terms for text in t.grade_definitions.values())
    # Definitions: present for Anemia, absent (" -") for the "Other, specify" terms.
    assert by_name["Anemia"].definition.startswith(
        "A disorder characterized by a reduction in the amount of hemoglobin"
    )
    assert by_name["Vascular disorders - Other, specify"].definition is None
    assert by_name["Thromboembolic event"].navigational_note.startswith("Consider Nervous system disorders")


# ---------------------------------------------------------------------------------------------
# The shipped catalogue (no external data)


def test_version():
    assert CTCAE_VERSION == "5.0"


def test_shipped_catalogue_invariants():
    cat = catalogue()
    assert len(cat) == 837
    assert len({t.soc for t in cat.values()}) == 26
    assert len({t.meddra_code for t in cat.values()}) == 837
    assert len({name.casefold() for name in cat}) == 837
    assert len({"".join(name.split()).casefold() for name in cat}) == 837  # lookup keys unique
    for name, term in cat.items():
        assert name == term.term == term.term.strip()
        assert term.allowed_grades, name
        assert set(term.allowed_grades) <= {1, 2, 3, 4, 5}
        assert list(term.allowed_grades) == sorted(set(term.allowed_grades))
        assert term.grade_definitions == {}
        assert term.meddra_code > 0


def test_shipped_csv_holds_facts_only():
    with SHIPPED.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CATALOGUE_COLUMNS
    assert all(len(row) == 4 for row in rows)
    assert len(rows) == 838
    text = SHIPPED.read_text(encoding="utf-8")
    # No grade-definition text from NCI's spreadsheet.
    assert "Faint erythema" not in text and "life-threatening" not in text.lower()


@pytest.mark.parametrize(("name", "code", "soc", "grades"), SPOT_CHECKS)
def test_shipped_spot_checks(name, code, soc, grades):
    _check_spot(ctcae_term(name), code, soc, grades)


def test_catalogue_is_cached_and_not_mutable_through_callers():
    first = catalogue()
    first.clear()
    assert len(catalogue()) == 837
    assert catalogue()["Anemia"] is ctcae_term("anemia")


@pytest.mark.parametrize(
    "spelling",
    ["Wound complication", "wound complication", "WOUND COMPLICATION", "  wound   complication ",
     "wound\xa0complication", "Woundcomplication", "wound\tcomplication\n"],
)
def test_lookup_is_case_and_whitespace_insensitive(spelling):
    assert ctcae_term(spelling).term == "Wound complication"


def test_unknown_term_offers_close_names():
    with pytest.raises(InvalidValue) as info:
        ctcae_term("wound complicaton")
    err = info.value
    assert err.field == "term"
    assert err.value == "wound complicaton"
    assert err.rule.startswith("not a CTCAE v5.0 term")
    assert "'Wound complication'" in err.rule
    assert err.rule.count("'") <= 6  # at most three suggestions


def test_unknown_term_without_close_names():
    with pytest.raises(InvalidValue) as info:
        ctcae_term("qqqqzzzz xxxx")
    assert info.value.rule == "not a CTCAE v5.0 term"


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_blank_term_refused(bad):
    with pytest.raises(InvalidValue) as info:
        ctcae_term(bad)
    assert info.value.field == "term"


def test_search_terms():
    names = [t.term for t in search_terms("wound")]
    assert names == ["Wound complication", "Wound dehiscence", "Wound infection"]
    assert [t.term for t in search_terms("FIBROSIS")] == [
        "Fibrosis deep connective tissue", "Pulmonary fibrosis", "Superficial soft tissue fibrosis",
    ]
    assert search_terms("anemia")[0].term == "Anemia"  # exact name first
    assert [t.term for t in search_terms("dermatitis  radiation")] == ["Dermatitis radiation"]
    assert [t.term for t in search_terms("10053692")] == ["Wound complication"]
    assert search_terms("no such thing at all") == []
    with pytest.raises(InvalidValue):
        search_terms("  ")


@pytest.mark.parametrize(
    ("term", "grade"),
    [("Anemia", 1), ("Anemia", 5), ("Alopecia", 2), ("Death NOS", 5), ("Seroma", 3),
     ("Eosinophilia", 3), ("Vaginal stricture", 5), ("dermatitis radiation", 4)],
)
def test_validate_grade_accepts(term, grade):
    assert validate_grade(term, grade).allows(grade)


@pytest.mark.parametrize(
    ("term", "grade", "message"),
    [
        ("Alopecia", 3, "CTCAE v5.0 'Alopecia' allows grades 1, 2 only"),
        ("alopecia", 5, "CTCAE v5.0 'Alopecia' allows grades 1, 2 only"),
        ("Seroma", 4, "CTCAE v5.0 'Seroma' allows grades 1, 2, 3 only"),
        ("Death NOS", 1, "CTCAE v5.0 'Death NOS' allows grade 5 only"),
        ("Eosinophilia", 2, "CTCAE v5.0 'Eosinophilia' allows grades 1, 3 only"),
        ("Neutrophil count decreased", 5, "CTCAE v5.0 'Neutrophil count decreased' allows grades 1, 2, 3, 4 only"),
    ],
)
def test_validate_grade_refuses_grade_not_defined_for_term(term, grade, message):
    with pytest.raises(InvalidValue) as info:
        validate_grade(term, grade)
    assert info.value.field == "grade"
    assert info.value.rule == message
    assert info.value.value == grade
    assert str(info.value) == f"grade: {message} (got {grade})"


@pytest.mark.parametrize("grade", [0, 6, -1, 2.0, "3", True, None])
def test_validate_grade_refuses_grades_outside_1_to_5(grade):
    with pytest.raises(InvalidValue) as info:
        validate_grade("Anemia", grade)
    assert info.value.field == "grade"


def test_validate_grade_unknown_term():
    with pytest.raises(InvalidValue) as info:
        validate_grade("Alopecea", 1)
    assert info.value.field == "term"
    assert "'Alopecia'" in info.value.rule


def test_catalogue_round_trip(tmp_path):
    out = tmp_path / "cat.csv"
    assert write_catalogue(catalogue().values(), out) == 837
    assert out.read_bytes() == SHIPPED.read_bytes()
    assert [t.facts() for t in read_catalogue(out)] == [t.facts() for t in catalogue().values()]


def test_read_catalogue_refuses_a_wrong_header(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n1,x\n", encoding="utf-8")
    with pytest.raises(InvalidValue) as info:
        read_catalogue(bad)
    assert info.value.field == "file" and "bad.csv" in info.value.rule


# ---------------------------------------------------------------------------------------------
# Spreadsheet parser on workbooks made here

NCI_HEADER = [
    "MedDRA Code", "MedDRA SOC", "CTCAE Term",
    "Grade 1 \xa0\xa0", "Grade 2 \xa0\xa0", "Grade 3 \xa0\xa0", "Grade 4 \xa0\xa0", "Grade 5 \xa0\xa0",
    "Definition", "Navigational Note", "CTCAE v5.0 Change",
]


def _workbook(path: Path, rows: list[list], *, sheet: str = CTCAE_SHEET, header=None) -> Path:
    book = Workbook()
    ws = book.active
    ws.title = sheet
    ws.append(NCI_HEADER if header is None else header)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


GOOD_ROWS = [
    ["10001760", "Skin and subcutaneous tissue disorders", " Alopecia ", "Hair loss of <50%",
     "Hair\xa0loss of >=50%", " -", " -", " -", "A disorder.", None, None],
    [10011914, "General disorders and administration site conditions", "Death NOS", " -", " -", " -",
     " -", "Death", " -", "Consider ...", "Clarification"],
]


def test_parser_on_a_small_nci_like_workbook(tmp_path):
    terms = read_ctcae_workbook(_workbook(tmp_path / "mini.xlsx", GOOD_ROWS + [[None] * 11]))
    assert [t.term for t in terms] == ["Alopecia", "Death NOS"]
    alopecia, death = terms
    assert alopecia.meddra_code == 10001760
    assert alopecia.allowed_grades == (1, 2)
    assert alopecia.grade_definitions == {1: "Hair loss of <50%", 2: "Hair loss of >=50%"}
    assert alopecia.definition == "A disorder." and alopecia.navigational_note is None
    assert death.allowed_grades == (5,) and death.definition is None
    assert death.navigational_note == "Consider ..."


def test_not_an_xlsx_is_refused(tmp_path):
    fake = tmp_path / "CTCAE.xlsx"
    fake.write_text("MedDRA Code,MedDRA SOC\n", encoding="utf-8")
    with pytest.raises(InvalidValue) as info:
        read_ctcae_workbook(fake)
    assert info.value.field == "file"
    assert str(fake) in info.value.rule
    assert "not a readable .xlsx workbook" in info.value.rule


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(InvalidValue) as info:
        read_ctcae_workbook(tmp_path / "absent.xlsx")
    assert info.value.field == "file" and "absent.xlsx" in info.value.rule


def test_missing_sheet_is_refused(tmp_path):
    path = _workbook(tmp_path / "wrong-sheet.xlsx", GOOD_ROWS, sheet="Sheet1")
    with pytest.raises(InvalidValue) as info:
        read_ctcae_workbook(path)
    rule = info.value.rule
    assert info.value.field == "file"
    assert "wrong-sheet.xlsx" in rule and f"sheet '{CTCAE_SHEET}' not found" in rule
    assert "'Sheet1'" in rule


def test_missing_columns_are_refused(tmp_path):
    header = [h for h in NCI_HEADER if not h.startswith("Grade 3")]
    rows = [[c for i, c in enumerate(r) if i != 5] for r in GOOD_ROWS]
    path = _workbook(tmp_path / "no-grade-3.xlsx", rows, header=header)
    with pytest.raises(InvalidValue) as info:
        read_ctcae_workbook(path)
    assert info.value.field == "file"
    assert "no-grade-3.xlsx" in info.value.rule
    assert "lacks the column(s) Grade 3" in info.value.rule


def test_bad_meddra_code_is_refused(tmp_path):
    rows = [["ten", *GOOD_ROWS[0][1:]]]
    with pytest.raises(InvalidValue) as info:
        read_ctcae_workbook(_workbook(tmp_path / "bad-code.xlsx", rows))
    assert "row 2" in info.value.rule and "MedDRA code" in info.value.rule


def test_duplicate_term_and_term_without_grades_are_refused(tmp_path):
    with pytest.raises(InvalidValue) as info:
        read_ctcae_workbook(_workbook(tmp_path / "dup.xlsx", [GOOD_ROWS[0], GOOD_ROWS[0]]))
    assert "repeats row 2" in info.value.rule
    no_grades = [[10001760, "Skin", "Alopecia", " -", " -", " -", " -", " -", None, None, None]]
    with pytest.raises(InvalidValue) as info:
        read_ctcae_workbook(_workbook(tmp_path / "nogrades.xlsx", no_grades))
    assert "allows no grade" in info.value.rule


def test_empty_sheet_is_refused(tmp_path):
    with pytest.raises(InvalidValue) as info:
        read_ctcae_workbook(_workbook(tmp_path / "empty.xlsx", []))
    assert "holds no terms" in info.value.rule


def test_build_script_reports_errors(tmp_path, capsys):
    fake = tmp_path / "x.xlsx"
    fake.write_bytes(b"not a zip")
    assert build_main([str(fake), str(tmp_path / "out.csv")]) == 1
    assert "x.xlsx" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()
    assert build_main([]) == 2
