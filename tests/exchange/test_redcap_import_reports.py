"""``sarcotrial import redcap``: the validation report names each problem once, where it lies, in full.

The inputs are written here by hand in REDCap's documented layouts (the helpers of
``test_redcap_import.py``): the Data Dictionary (``Variable / Field Name``, ``Form Name``, ``Field Type``,
``Choices, Calculations, OR Slider Labels``), the events file (``unique_event_name``) and the records
exported as raw CSV, where a longitudinal project's rows each carry ``redcap_event_name`` and a record has
one row per event (REDCap's Data Dictionary, Data Exports and Data Import Tool help pages). A
pseudonymised or de-identified export leaves out the identifier variables (REDCap's "remove all tagged
Identifier fields" export option; here ``full_name``, ``date_of_birth``, ``hospital_number``). Dates are
``YYYY-MM-DD`` (ISO 8601 calendar dates, REDCap's ``date_ymd`` validation); the days of each month are
those of the Gregorian calendar (February has 28 days, 29 in a leap year: divisible by 4 and, for a
century, by 400). The mapping file's layout is docs/exchange.md "Imports". Exit status (the issue):
0 imported, 1 nothing imported because of problems, 2 invalid arguments.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sarcotrial.services.study import StudyDB
from tests.exchange.test_redcap_import import (
    COLUMNS,
    DICTIONARY,
    TESTER,
    _set,
    read_report,
    run_import,
    stored,
    two_patients,
    write_project,
)


@pytest.fixture
def target(database_url):
    """A fresh SPRINT study (no accounts: the operating-system user acts), closed before the CLI opens it."""
    study, _ = StudyDB.create(database_url, "sprint", TESTER)
    study.close()
    return database_url


#: one problem printed as one line of its own: ``row N, record R, field F: value V: problem``
LINE = re.compile(r"^(?:\S+ )?row \d+(?:, record \S+)?(?:, field [^:]+)?(?:: value .+?)?: .+$")


def _without(columns: list[str], *names: str) -> list[str]:
    return [c for c in columns if c not in names]


def _dictionary_without(*names: str) -> str:
    return "".join(line for line in DICTIONARY.splitlines(keepends=True) if line.split(",", 1)[0] not in names)


def _problem_lines(output: str) -> list[str]:
    """The report's problems as printed: each starts a line with its row; its continuation lines (wrapped at
    the terminal's width) are indented and joined back here."""
    joined: list[str] = []
    for line in output.splitlines():
        if line.startswith("    ") and joined:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return [line for line in joined if LINE.match(line)]


def _import(url: str, folder: Path, rows, *extra: str, events: bool = True, **project):
    files = write_project(folder / "in", rows, **project)
    report = folder / "report.csv"
    result = run_import(url, files, "--report", str(report), *extra, events=events)
    return result, read_report(report)


# --------------------------------------------------------------------------- 1. the event column
def test_records_without_the_event_column_of_a_longitudinal_project_are_one_problem(target, tmp_path):
    """A longitudinal project's raw CSV has ``redcap_event_name`` on every row (a record has a row per
    event): without it the rows of a record are not duplicates, the file lacks a column."""
    rows = [{k: v for k, v in row.items() if k != "redcap_event_name"} for row in two_patients()]
    columns = _without(COLUMNS, "redcap_event_name")
    for extra in ((), ("--accept-partial",)):
        result, problems = _import(target, tmp_path, rows, *extra, columns=columns)
        assert result.exit_code == 1, result.output
        assert len(problems) == 1, problems
        [p] = problems
        assert (p["row"], p["record"], p["field"]) == ("1", "", "redcap_event_name")
        assert "records.csv has no column redcap_event_name" in p["problem"]
        assert "events.csv lists 4 events" in p["problem"] and "longitudinal" in p["problem"]
        assert "duplicate" not in result.output
        assert stored(target) == []


def test_without_an_events_file_the_dictionarys_longitudinal_layout_says_so(target, tmp_path):
    """The export's ``<form>_visit_occurrence`` variable (``sarcotrial.exchange.redcap``) exists only in a
    longitudinal project's dictionary."""
    dictionary = DICTIONARY + "adverse_event_visit_occurrence,adverse_event,,text,Visit occurrence,,\n"
    rows = [{k: v for k, v in row.items() if k != "redcap_event_name"} for row in two_patients()]
    result, problems = _import(target, tmp_path, rows, events=False, dictionary=dictionary,
                               columns=_without(COLUMNS, "redcap_event_name"))
    assert result.exit_code == 1
    assert [(p["row"], p["field"]) for p in problems] == [("1", "redcap_event_name")]
    assert "longitudinal" in problems[0]["problem"]


# --------------------------------------------------------------------------- 2. the mapping file, whole values
def test_a_mistyped_mapping_target_is_an_invalid_argument_naming_the_entry(target, tmp_path):
    """The mapping file is an argument: a target that names no field of the protocol is exit 2, one line
    naming the entry, the rule and the nearest field (docs/exchange.md, "fields: their variable ->
    form.field")."""
    own = DICTIONARY.replace("ref_anatomic_site,referral,,dropdown", "sede,referral,,dropdown")
    columns = ["sede" if c == "ref_anatomic_site" else c for c in COLUMNS]
    rows = [{("sede" if k == "ref_anatomic_site" else k): v for k, v in row.items()} for row in two_patients()]
    files = write_project(tmp_path / "in", rows, dictionary=own, columns=columns)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("fields:\n  sede: referral.anatomic_sit\n", encoding="utf-8")
    result = run_import(target, files, "--mapping", str(mapping))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "sede: referral.anatomic_sit: no field anatomic_sit on form referral; did you mean anatomic_site?" in lines[0]
    assert not result.output.startswith("\n")

    mapping.write_text("fields:\n  sede: referal.anatomic_site\nevents:\n  visita_arm_1: baselin\n", encoding="utf-8")
    result = run_import(target, files, "--mapping", str(mapping))
    assert result.exit_code == 2
    assert "sede: referal.anatomic_site: no form referal" in result.output and "did you mean referral?" in result.output
    assert "visita_arm_1: baselin: no visit of this name" in result.output and "did you mean baseline?" in result.output
    assert stored(target) == []


def test_a_long_value_is_printed_whole_one_problem_a_line_and_the_csv_is_unchanged(target, tmp_path):
    """The value that needs fixing is never cut: each problem is ``row N, record R, field F: value V:
    problem``, wrapped at 80 columns; ``--report`` keeps its CSV columns (row, record, field, value,
    problem) with the whole value."""
    value = "retroperitoneum-and-pelvis-not-a-choice"  # none of the dictionary's choices (1, 2, 3)
    rows = _set(two_patients(), "101", "enrolment_arm_1", ref_anatomic_site=value)
    result, problems = _import(target, tmp_path, rows)
    assert result.exit_code == 1
    assert list(problems[0]) == ["row", "record", "field", "value", "problem"]
    assert [(p["row"], p["record"], p["field"], p["value"]) for p in problems] == \
        [("2", "101", "ref_anatomic_site", value)]
    assert all(len(line) <= 80 for line in result.output.splitlines())
    [line] = _problem_lines(result.output)
    assert line.startswith(f"row 2, record 101, field ref_anatomic_site: value {value}: unknown code")


# --------------------------------------------------------------------------- 3. --accept-partial, every record held
def test_accept_partial_says_why_nothing_could_be_imported_and_how_to_ignore_the_column(target, tmp_path):
    """A column not in the data dictionary that every record fills holds back every record: with
    --accept-partial the summary says so and offers ``bmi: ignore`` in a mapping file, which then works."""
    rows = two_patients()
    for record in ("101", "102"):
        _set(rows, record, "baseline_arm_1", bmi="27.1")
    result, problems = _import(target, tmp_path, rows, "--accept-partial", columns=COLUMNS + ["bmi"])
    assert result.exit_code == 1
    assert [(p["row"], p["field"], p["problem"]) for p in problems] == [("1", "bmi", "column not in the data dictionary")]
    text = " ".join(result.output.split())
    assert "with --accept-partial too" in text and "every record has a problem" in text
    assert "holding back 2 of 2 record(s)" in text
    assert "'bmi: ignore'" in text
    assert "give --accept-partial" not in text
    plain, _ = _import(target, tmp_path, rows, columns=COLUMNS + ["bmi"])  # without --accept-partial
    assert plain.exit_code == 1
    text = " ".join(plain.output.split())
    assert "(--accept-partial would not help)" in text and "'bmi: ignore'" in text
    assert "give --accept-partial" not in text
    mapping = tmp_path / "ignore.yaml"
    mapping.write_text("fields:\n  bmi: ignore\n", encoding="utf-8")
    done = run_import(target, write_project(tmp_path / "in", rows, columns=COLUMNS + ["bmi"]), "--accept-partial",
                      "--mapping", str(mapping))
    assert done.exit_code == 0, done.output
    assert len(stored(target)) == 2


# --------------------------------------------------------------------------- 4. dates that do not exist
@pytest.mark.parametrize("variable, event, value, rule", [
    ("diagnosis_date", "baseline_arm_1", "2023-02-30", "2023-02-30 is not a date (February 2023 has 28 days)"),
    ("diagnosis_date", "baseline_arm_1", "2024-02-30", "2024-02-30 is not a date (February 2024 has 29 days)"),
    ("diagnosis_date", "baseline_arm_1", "2025-04-31", "2025-04-31 is not a date (April 2025 has 30 days)"),
    ("date_of_birth", "enrolment_arm_1", "1960-13-01",
     "1960-13-01 is not a date (there is no month 13; months are 01 to 12)"),
    ("enrolment_date", "enrolment_arm_1", "2025-01-32", "2025-01-32 is not a date (January 2025 has 31 days)"),
])
def test_a_date_in_the_right_layout_that_does_not_exist_is_named_as_such(target, tmp_path, variable, event, value,
                                                                        rule):
    """YYYY-MM-DD is the right layout; the day is not in the Gregorian calendar. One problem, no other
    (a refused date of birth is not also "lacking")."""
    result, problems = _import(target, tmp_path, _set(two_patients(), "101", event, **{variable: value}))
    assert result.exit_code == 1
    assert [(p["record"], p["field"], p["value"], p["problem"]) for p in problems] == [("101", variable, value, rule)]
    assert "YYYY-MM-DD" not in result.output


def test_a_date_in_another_layout_still_asks_for_yyyy_mm_dd(target, tmp_path):
    result, problems = _import(target, tmp_path, _set(two_patients(), "101", "baseline_arm_1", diagnosis_date="30/01/2023"))
    assert result.exit_code == 1
    assert [(p["field"], p["problem"]) for p in problems] == [("diagnosis_date", "must be a date written YYYY-MM-DD")]


# --------------------------------------------------------------------------- 5. a wrongly encoded identifier
def test_a_wrongly_encoded_name_is_one_problem_not_also_a_missing_name(target, tmp_path):
    """UTF-8 "ò", "ü" read as Latin-1 and saved again read "Ã²", "Ã¼": the value is named once, as wrongly
    encoded; the name is there, so registration does not call it missing."""
    rows = _set(two_patients(), "101", "enrolment_arm_1", full_name="NiccolÃ² MÃ¼ller")
    result, problems = _import(target, tmp_path, rows)
    assert result.exit_code == 1
    assert len(problems) == 1, problems
    [p] = problems
    assert (p["row"], p["record"], p["field"], p["value"]) == ("2", "101", "full_name", "NiccolÃ² MÃ¼ller")
    assert p["problem"].startswith("looks wrongly encoded")
    assert "registering a patient needs" not in result.output


# --------------------------------------------------------------------------- 6. the sex column
def test_a_missing_sex_column_is_one_problem_an_empty_sex_one_per_record(target, tmp_path):
    rows = [{k: v for k, v in row.items() if k != "sex"} for row in two_patients()]
    result, problems = _import(target, tmp_path, rows, columns=_without(COLUMNS, "sex"),
                               dictionary=_dictionary_without("sex"))
    assert result.exit_code == 1
    assert [(p["row"], p["record"], p["field"]) for p in problems] == [("1", "", "sex")]
    assert problems[0]["problem"].startswith("records.csv has no sex column")
    assert len(_problem_lines(result.output)) == 1

    rows = _set(two_patients(), "102", "enrolment_arm_1", sex="")  # the column is there, one value is empty
    result, problems = _import(target, tmp_path, rows)
    assert result.exit_code == 1
    assert [(p["row"], p["record"], p["field"]) for p in problems] == [("7", "102", "sex")]
    assert "registering a patient needs" in problems[0]["problem"]


# --------------------------------------------------------------------------- 7. a pseudonymised export
def test_a_pseudonymised_export_is_one_problem_saying_export_with_identified(target, tmp_path):
    """REDCap's de-identified exports leave the identifier fields out, dictionary and records alike."""
    identifiers = ("full_name", "date_of_birth", "hospital_number")
    rows = [{k: v for k, v in row.items() if k not in identifiers} for row in two_patients()]
    for extra in ((), ("--accept-partial",)):
        result, problems = _import(target, tmp_path, rows, *extra, columns=_without(COLUMNS, *identifiers),
                                   dictionary=_dictionary_without(*identifiers))
        assert result.exit_code == 1
        assert len(problems) == 1, problems
        [p] = problems
        assert (p["row"], p["record"]) == ("1", "")
        assert "has no full_name, date_of_birth, hospital_number columns" in p["problem"]
        assert "pseudonymised or de-identified export cannot register patients" in p["problem"]
        assert "export with --identified" in p["problem"]
        assert "registering a patient needs the name, date of birth, hospital number and sex" not in \
            " ".join(result.output.split()).replace(p["problem"], "")
        assert stored(target) == []


# --------------------------------------------------------------------------- 8. no leading blank line
def test_output_and_refusals_start_with_their_first_line(target, tmp_path):
    refused, _ = _import(target, tmp_path / "bad", _set(two_patients(), "101", "baseline_arm_1", size_cm="150"))
    assert refused.exit_code == 1
    assert refused.output.splitlines()[0].startswith("Validation report: 1 problem(s)")
    imported, _ = _import(target, tmp_path / "good", two_patients())
    assert imported.exit_code == 0, imported.output
    assert imported.output.splitlines()[0].startswith("Imported 2 records")
