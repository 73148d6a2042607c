"""The ``redcap`` export (``sarcotrial export redcap --out DIR``), read back with ``csv`` and pandas.

Checked against REDCap's documented import formats, not against the writer's own numbers:

- the Data Dictionary (REDCap Help & FAQ, "Data Dictionary"; the template a project downloads): 18
  columns A-R in a fixed order and spelling; the first field of the first instrument is the record id;
  variable names of lower-case letters, digits and underscores, beginning with a letter, at most 100
  characters, unique in the project; field types ``text``, ``notes``, ``dropdown``, ``radio``,
  ``checkbox``, ``yesno``, ``truefalse``, ``calc``, ``file``, ``slider``, ``descriptive``, ``sql``;
  choices ``raw, label | raw, label``; ``Identifier?`` and ``Required Field?`` ``y`` or blank;
- the API's Import Events (``event_name``, ``arm_num``, ``day_offset``, ``offset_min``, ``offset_max``,
  ``unique_event_name`` derived by REDCap as ``<event name>_arm_<arm>``), Import Instrument-Event
  Mappings (``arm_num``, ``unique_event_name``, ``form``), Import Repeating Instruments and Events
  (``event_name``, ``form_name``, ``custom_form_label``) and Import DAGs;
- the flat records import of a longitudinal project with repeating instruments (REDCap API Import
  Records, ``type=flat``): ``record_id``, ``redcap_event_name``, ``redcap_repeat_instrument``,
  ``redcap_repeat_instance``, ``redcap_data_access_group``; a non-repeating row per record and event,
  a row per repeating instance; raw values (yes/no ``1``/``0``, dates ``YYYY-MM-DD``, datetimes
  ``YYYY-MM-DD HH:MM:SS``); ``<instrument>_complete`` 0 Incomplete, 1 Unverified, 2 Complete;
  project-level missing data codes stored as the value.

Values are compared with the read side (``services.views.patients``); identifiers with
``services.pathway.identify``; HIPAA Safe Harbor, 45 CFR 164.514(b)(2), for the de-identified export.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.demo import demo_password
from sarcotrial.exchange import redcap
from sarcotrial.protocol import load_protocol
from sarcotrial.services import forms, pathway, views
from sarcotrial.services.study import Actor, StudyDB
from tests.exchange.conftest import demo_study

SEED = 11
runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]

#: REDCap's Data Dictionary columns A-R, as in the template REDCap gives for download
REDCAP_DICTIONARY = [
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
    "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
    "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
]
REDCAP_FIELD_TYPES = {"text", "notes", "dropdown", "radio", "checkbox", "yesno", "truefalse", "calc", "file", "slider",
                      "descriptive", "sql"}
#: REDCap's variable name rule
VARIABLE = re.compile(r"^[a-z][a-z0-9_]*$")
#: REDCap's raw choice values: letters, digits and underscores
RAW_CODE = re.compile(r"^[A-Za-z0-9_]+$")
#: the issue's mapping of protocol field types to REDCap field type and text validation
EXPECTED_TYPE = {"integer": ("text", "integer"), "decimal": ("text", "number"), "date": ("text", "date_ymd"),
                 "datetime": ("text", "datetime_seconds_ymd"), "boolean": ("yesno", ""), "code": ("dropdown", "")}
REDCAP_COLUMNS = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
                  "redcap_data_access_group"]


def actor(user: str) -> Actor:
    return Actor(user, "test", password=demo_password(SEED, user))


class Demo:
    def __init__(self, url: str):
        self.url = url
        self.coded: tuple[str, str, str] | None = None  # (subject, form, field) given a missing-data code

    def study(self) -> StudyDB:
        return StudyDB.open(self.url)

    def export(self, out: Path, *args: str, user: str = "exporter"):
        return runner.invoke(app, ["export", "redcap", "--out", str(out), "--db", self.url, "--user", user, *args],
                             env={"SARCOTRIAL_PASSWORD": demo_password(SEED, user)})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The synthetic demo, built once; a study-wide investigator ("exporter") given the full export right, and the ECOG of one
    patient's diagnosis replaced by the missing-data code UNK through a correction."""
    with demo_study(tmp_path_factory, SEED, "redcap-demo") as url:
        d = Demo(url)
        yield from _code_one_ecog(d)


def _code_one_ecog(d):
    study = StudyDB.open(d.url)
    try:
        for r in views.patients(study, actor("inv.main")):
            dx = r.first("diagnosis")
            if dx is None or dx.values.get("ecog") is None:
                continue
            try:
                forms.correct(study, actor("inv.main"), r.subject_id, "diagnosis", {}, "ECOG not in the clinic letter",
                              missing={"ecog": "UNK"})
            except Exception:  # a signed or locked casebook: the next patient
                continue
            d.coded = (r.subject_id, "diagnosis", "ecog")
            break
    finally:
        study.close()
    assert d.coded is not None
    yield d


@pytest.fixture(scope="module")
def read_side(demo):
    study = demo.study()
    try:
        records = views.patients(study, actor("exporter"), permission="export")
        idents = {r.subject_id: pathway.identify(study, actor("monitor"), r.subject_id, "test") for r in records}
    finally:
        study.close()
    return {"records": records, "idents": idents, "protocol": study.protocol}


def _exported(demo, tmp_path_factory, name, *args):
    out = tmp_path_factory.mktemp(name) / "out"
    result = demo.export(out, *args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def pseudonymised(demo, tmp_path_factory):
    return _exported(demo, tmp_path_factory, "pseudo")


@pytest.fixture(scope="module")
def deidentified(demo, tmp_path_factory):
    return _exported(demo, tmp_path_factory, "deid", "--deidentified")


@pytest.fixture(scope="module")
def identified(demo, tmp_path_factory):
    return _exported(demo, tmp_path_factory, "identified", "--identified")


# --------------------------------------------------------------------------- independent readings
def csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def records_frame(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "records.csv", dtype=str, keep_default_na=False)


def parse_choices(text: str) -> dict[str, str]:
    """REDCap's choices column: ``raw, label`` pairs separated by ``|``."""
    out = {}
    for part in text.split("|"):
        raw, sep, label = part.partition(",")
        assert sep, f"choice without a comma: {part!r}"
        assert raw.strip() not in out, f"raw code {raw!r} given twice"
        out[raw.strip()] = label.strip()
    return out


def dictionary(folder: Path) -> tuple[list[str], list[dict[str, str]]]:
    return csv_rows(folder / "dictionary.csv")


def variables_of(folder: Path) -> dict[str, dict[str, str]]:
    return {row["Variable / Field Name"]: row for row in dictionary(folder)[1]}


def redcap_cell(cell: str, f) -> object:
    """A raw REDCap value read as the protocol type (codes stay raw; empty: None)."""
    if cell == "":
        return None
    if f.type == "boolean":
        return {"1": True, "0": False}[cell]
    if f.type == "integer":
        return int(cell)
    if f.type == "decimal":
        return float(cell)
    if f.type == "date":
        return dt.date.fromisoformat(cell)
    if f.type == "datetime":
        return dt.datetime.strptime(cell, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return cell


# --------------------------------------------------------------------------- the data dictionary
def test_dictionary_has_redcaps_columns_and_the_record_id_first(pseudonymised, read_side):
    header, rows = dictionary(pseudonymised)
    assert header == REDCAP_DICTIONARY
    first = rows[0]
    assert (first["Variable / Field Name"], first["Field Type"]) == ("record_id", "text")
    assert first["Form Name"] == rows[1]["Form Name"] == "registration"
    names = [r["Variable / Field Name"] for r in rows]
    assert len(names) == len(set(names))
    for row in rows:
        name = row["Variable / Field Name"]
        assert VARIABLE.match(name) and len(name) <= 100, name
        assert VARIABLE.match(row["Form Name"]), row["Form Name"]
        assert row["Field Type"] in REDCAP_FIELD_TYPES, row
        assert row["Identifier?"] in ("", "y") and row["Required Field?"] in ("", "y")
        assert row["Branching Logic (Show field only if...)"] == ""  # the protocol shows every field
    # an instrument's fields are contiguous (REDCap refuses an instrument split in two)
    forms_in_order = [r["Form Name"] for r in rows]
    blocks = [f for i, f in enumerate(forms_in_order) if i == 0 or forms_in_order[i - 1] != f]
    assert len(blocks) == len(set(blocks))
    assert blocks == ["registration"] + [f.id for f in read_side["protocol"].forms]


def test_every_protocol_field_is_a_variable_of_its_type(pseudonymised, read_side):
    protocol = read_side["protocol"]
    variables = variables_of(pseudonymised)
    by_field = {}
    for form in protocol.forms:
        for f in form.fields:
            name = f.redcap_name or f.id
            if f.identifying:  # not written below the identified level
                assert name not in variables, name
                continue
            row = variables[name]
            by_field[(form.id, f.id)] = name
            assert row["Form Name"] == form.id and row["Field Label"] == f.label
            assert row["Required Field?"] == ("y" if f.required else "")
            if f.type == "text":
                assert row["Field Type"] in ("text", "notes")
            else:
                assert (row["Field Type"], row["Text Validation Type OR Show Slider Number"]) == EXPECTED_TYPE[f.type]
            if f.min is not None:
                assert float(row["Text Validation Min"]) == f.min
            if f.max is not None:
                assert float(row["Text Validation Max"]) == f.max
            if f.unit:
                assert f.unit in row["Field Note"]
            if f.type == "code":
                choices = parse_choices(row["Choices, Calculations, OR Slider Labels"])
                assert all(RAW_CODE.match(raw) for raw in choices), choices
                assert sorted(choices.values()) == sorted(c.label for c in protocol.codelists[f.codelist])
    assert len(set(by_field.values())) == len(by_field)


def test_sprint_1_1_without_redcap_names_still_gets_unique_variables():
    """A protocol that uses one field id on several forms (SPRINT 1.1) and names no REDCap variable: the
    documented rule ``<form>_<field>`` for those fields keeps every name unique and valid."""
    protocol = load_protocol(REPO / "tests" / "protocols" / "sprint-1.1.yaml")
    names = redcap.variable_names(protocol)
    assert len(set(names.values())) == len(names) == sum(len(f.fields) for f in protocol.forms)
    assert all(VARIABLE.match(n) and len(n) <= 100 for n in names.values())
    assert names[("diagnosis", "anatomic_site")] == "diagnosis_anatomic_site"
    assert names[("diagnosis", "size_cm")] == "size_cm"
    assert redcap.fields_of_variables(protocol)["pathology_necrosis_percent"] == ("pathology", "necrosis_percent")


def test_unique_event_names_and_choice_codes_follow_redcaps_rules():
    assert redcap.unique_event_name("Follow up, month 3") == "follow_up_month_3_arm_1"
    assert redcap.unique_event_name("a_long_visit_identifier") == "a_long_visit_ident_arm_1"
    assert redcap.unique_event_name("baseline", taken=["baseline_arm_1"]) == "baseline_arm_1b"
    assert redcap.choice_code("head-neck") == "head_neck" and redcap.choice_code("wide_excision") == "wide_excision"
    assert redcap.parse_choices(redcap.choices_string([("a", "Yes, really"), ("b", "No")])) == {"a": "Yes, really",
                                                                                               "b": "No"}


# --------------------------------------------------------------------------- events, mapping, repeats
def test_events_mapping_and_repeating_instruments_agree_with_the_records(pseudonymised, read_side):
    protocol = read_side["protocol"]
    header, events = csv_rows(pseudonymised / "events.csv")
    assert header[:6] == ["event_name", "arm_num", "day_offset", "offset_min", "offset_max", "unique_event_name"]
    unique = [e["unique_event_name"] for e in events]
    assert len(unique) == len(set(unique))
    for e in events:  # REDCap derives the unique name from the event name and the arm
        assert e["unique_event_name"] == f"{e['event_name']}_arm_{e['arm_num']}"
    assert [e["event_name"] for e in events] == ["registration"] + [v.id for v in protocol.visits] + ["unscheduled"]
    assert [int(e["day_offset"]) for e in events] == sorted(int(e["day_offset"]) for e in events)
    header, mapping = csv_rows(pseudonymised / "instrument_event_mapping.csv")
    assert header == ["arm_num", "unique_event_name", "form"]
    pairs = {(m["unique_event_name"], m["form"]) for m in mapping}
    instruments = {r["Form Name"] for r in dictionary(pseudonymised)[1]}
    assert {f for _, f in pairs} <= instruments and {e for e, _ in pairs} <= set(unique)
    for visit in protocol.visits:  # each visit collects its forms
        assert {(f"{visit.id}_arm_1", f) for f in visit.collected} <= pairs
    _, repeats = csv_rows(pseudonymised / "repeating_instruments.csv")
    repeating = {(r["event_name"], r["form_name"]) for r in repeats}
    assert repeating <= pairs

    variables = variables_of(pseudonymised)
    frame = records_frame(pseudonymised)
    keys = frame[["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]]
    assert not keys.duplicated().any()
    assert set(frame["redcap_event_name"]) <= set(unique)
    for _, row in frame.iterrows():
        event, instrument = row["redcap_event_name"], row["redcap_repeat_instrument"]
        if instrument:
            assert (event, instrument) in repeating and int(row["redcap_repeat_instance"]) >= 1
            used = {instrument}
        else:
            assert row["redcap_repeat_instance"] == ""
            used = {variables[c]["Form Name"] for c in frame.columns if c in variables and c != "record_id" and row[c]}
            used |= {c[:-len("_complete")] for c in frame.columns if c.endswith("_complete") and row[c]}
            assert not used & {f for e, f in repeating if e == event}
        assert {(event, f) for f in used} <= pairs, (event, used)


# --------------------------------------------------------------------------- records
def test_records_columns_are_variables_and_values_fit_their_fields(pseudonymised, read_side):
    protocol = read_side["protocol"]
    header, _ = csv_rows(pseudonymised / "records.csv")
    variables = variables_of(pseudonymised)
    instruments = {r["Form Name"] for r in variables.values()}
    assert header[:5] == REDCAP_COLUMNS
    for column in header[5:]:
        assert column in variables or (column.endswith("_complete") and column[:-9] in instruments), column
    instrument_order = dict.fromkeys(r["Form Name"] for r in variables.values())
    assert [c for c in header if c.endswith("_complete")] == [f"{f}_complete" for f in instrument_order]
    _, codes = csv_rows(pseudonymised / "missing_data_codes.csv")
    missing = {c["code"] for c in codes}
    assert missing == {c.code for c in protocol.missing_codes}
    frame = records_frame(pseudonymised)
    for name, row in variables.items():
        if name not in frame.columns:
            continue
        cells = {c for c in frame[name] if c != ""}
        kind, validation = row["Field Type"], row["Text Validation Type OR Show Slider Number"]
        if kind == "dropdown":
            assert cells <= set(parse_choices(row["Choices, Calculations, OR Slider Labels"])) | missing, name
        elif kind == "yesno":
            assert cells <= {"0", "1"} | missing, name
        elif validation == "date_ymd":
            for c in cells - missing:
                dt.date.fromisoformat(c)
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", c)
        elif validation == "datetime_seconds_ymd":
            for c in cells - missing:
                dt.datetime.strptime(c, "%Y-%m-%d %H:%M:%S")
        elif validation in ("integer", "number"):
            for c in cells - missing:
                value = int(c) if validation == "integer" else float(c)
                if row["Text Validation Min"]:
                    assert value >= float(row["Text Validation Min"]), (name, c)
                if row["Text Validation Max"]:
                    assert value <= float(row["Text Validation Max"]), (name, c)
    for column in header:
        if column.endswith("_complete"):
            assert set(frame[column]) <= {"", "0", "1", "2"}


def _crfs(records):
    return [(r, c) for r in records for rows in r.forms.values() for c in rows if c.status != "not_done"]


def test_records_hold_the_read_sides_values(pseudonymised, read_side):
    """Every entered CRF instance of every patient is a row (repeating) or part of one (non-repeating) of its
    visit's event, with each value, its visit occurrence and its status."""
    protocol = read_side["protocol"]
    variables = variables_of(pseudonymised)
    frame = records_frame(pseudonymised)
    rows_of: dict[tuple, list] = {}
    for _, row in frame.iterrows():
        place = (row["record_id"], row["redcap_event_name"], row["redcap_repeat_instrument"])
        rows_of.setdefault(place, []).append(row)
    crfs = _crfs(read_side["records"])
    assert len(crfs) > 1000
    grouped: dict[tuple, list] = {}
    for r, c in crfs:
        grouped.setdefault((r.subject_id, c.visit_id, c.form_id), []).append(c)
    checked = 0
    for (subject, visit, form_id), instances in grouped.items():
        event = f"{visit}_arm_1"
        instances.sort(key=lambda c: (c.occurrence, c.instance))
        rows = rows_of.get((subject, event, form_id))
        if rows is None:  # a non-repeating instrument: on the event's shared row
            assert len(instances) == 1
            rows = rows_of[(subject, event, "")]
        else:
            rows = sorted(rows, key=lambda row: int(row["redcap_repeat_instance"]))
            assert [int(row["redcap_repeat_instance"]) for row in rows] == list(range(1, len(instances) + 1))
        assert len(rows) == len(instances), (subject, visit, form_id)
        for c, row in zip(instances, rows, strict=True):
            assert row[f"{form_id}_visit_occurrence"] == str(c.occurrence)
            assert row[f"{form_id}_complete"] == {"complete": "2", "incomplete": "0"}[c.status]
            for f in protocol.form(form_id).fields:
                name = f.redcap_name or f.id
                if f.identifying:
                    continue
                cell = row[name]
                if f.id in c.missing:
                    assert cell == c.missing[f.id]
                elif f.type == "code" and c.values.get(f.id) is not None:
                    # the raw code's label in the dictionary is the label of the read side's code
                    label = parse_choices(variables[name]["Choices, Calculations, OR Slider Labels"])[cell]
                    assert label == next(x.label for x in protocol.codelists[f.codelist] if x.code == c.values[f.id])
                else:
                    assert redcap_cell(cell, f) == c.values.get(f.id), (subject, form_id, f.id, cell)
                checked += 1
    assert checked > 5000


def test_a_missing_data_code_is_the_value(pseudonymised, demo):
    subject, _form, field_id = demo.coded
    frame = records_frame(pseudonymised)
    row = frame[(frame.record_id == subject) & (frame.redcap_event_name == "baseline_arm_1")]
    assert list(row[field_id]) == ["UNK"]


def test_registration_gives_sex_site_and_enrolment_and_identifiers_only_when_identified(pseudonymised, identified,
                                                                                         read_side):
    records, idents = read_side["records"], read_side["idents"]
    for folder in (pseudonymised, identified):
        frame = records_frame(folder)
        reg = frame[frame.redcap_event_name == "registration_arm_1"].set_index("record_id")
        assert sorted(reg.index) == sorted(r.subject_id for r in records)
        for r in records:
            row = reg.loc[r.subject_id]
            assert row["sex"] == r.sex
            assert row["redcap_data_access_group"] == r.site.lower()
            assert row["enrolment_date"] == (r.enrolment_date.isoformat() if r.enrolment_date else "")
            # the DAG is the record's on every row
            assert set(frame[frame.record_id == r.subject_id]["redcap_data_access_group"]) == {r.site.lower()}
    _, dags = csv_rows(identified / "data_access_groups.csv")
    assert {d["unique_group_name"] for d in dags} == {r.site.lower() for r in records}
    assert "full_name" not in variables_of(pseudonymised)
    variables = variables_of(identified)
    for name in ("full_name", "date_of_birth", "hospital_number"):
        assert variables[name]["Identifier?"] == "y" and variables[name]["Form Name"] == "registration"
    reg = records_frame(identified).query("redcap_event_name == 'registration_arm_1'").set_index("record_id")
    for subject, ident in idents.items():
        row = reg.loc[subject]
        assert (row["full_name"], row["date_of_birth"], row["hospital_number"]) == (
            ident.full_name, ident.date_of_birth.isoformat(), ident.hospital_number)
    # identifying free text is written at the identified level only, marked as an identifier
    assert variables["wd_reason"]["Identifier?"] == "y"
    assert "wd_reason" not in variables_of(pseudonymised)


def test_manifest_counts_agree_with_the_files(pseudonymised, read_side):
    manifest = json.loads((pseudonymised / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "redcap"
    counts = manifest["counts"]
    assert counts["records"] == counts["patients"] == len(read_side["records"])
    assert counts["rows"] == len(records_frame(pseudonymised))
    assert counts["variables"] == len(dictionary(pseudonymised)[1])
    listed = {f["name"] for f in manifest["files"]}
    assert {"dictionary.csv", "events.csv", "instrument_event_mapping.csv", "records.csv"} <= listed


def test_deidentified_export_holds_no_identifier_and_no_free_text(deidentified, read_side):
    """HIPAA Safe Harbor: no names, no dates of birth, no medical record numbers; free text dropped."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(deidentified.iterdir()) if p.is_file())
    for ident in read_side["idents"].values():
        surname = ident.full_name.replace(" (synthetic)", "").split()[-1]
        assert ident.full_name not in text and ident.hospital_number not in text
        assert ident.date_of_birth.isoformat() not in text
        assert not re.search(rf"\b{re.escape(surname)}\b", text), surname
    variables = variables_of(deidentified)
    assert all(row["Identifier?"] == "" for row in variables.values())
    assert all(row["Field Type"] != "notes" for row in variables.values())
    frame = records_frame(deidentified)
    reg = frame[frame.redcap_event_name == "registration_arm_1"]
    assert all(a == "" or int(a) <= 90 for a in reg["age_at_enrolment"])
    # dates are shifted: enrolment dates differ from the read side's
    enrolled = {r.subject_id: r.enrolment_date for r in read_side["records"] if r.enrolment_date}
    shifted = reg.set_index("record_id")["enrolment_date"]
    assert all(shifted[s] != d.isoformat() for s, d in enrolled.items())


def test_forms_asked_for_are_the_only_instruments(demo, tmp_path, read_side):
    """``--forms`` narrows the project: only the registration and the forms asked for, only the events that
    collect them (and unscheduled), every row one of theirs."""
    out = tmp_path / "out"
    result = demo.export(out, "--forms", "diagnosis,adverse_event")
    assert result.exit_code == 0, result.output
    instruments = list(dict.fromkeys(r["Form Name"] for r in dictionary(out)[1]))
    assert instruments == ["registration", "diagnosis", "adverse_event"]
    _, mapping = csv_rows(out / "instrument_event_mapping.csv")
    assert {m["form"] for m in mapping} == set(instruments)
    _, events = csv_rows(out / "events.csv")
    protocol = read_side["protocol"]
    expected = ["registration"] + [v.id for v in protocol.visits
                                   if {"diagnosis", "adverse_event"} & set(v.collected)] + ["unscheduled"]
    assert [e["event_name"] for e in events] == expected
    frame = records_frame(out)
    assert set(frame["redcap_repeat_instrument"]) <= {"", "adverse_event", "diagnosis"}
    n_ae = sum(1 for r in read_side["records"] for c in r.forms.get("adverse_event", []) if c.status != "not_done")
    assert (frame["redcap_repeat_instrument"] == "adverse_event").sum() == n_ae
