"""The ``tables`` export (``sarcotrial export tables --out DIR``), read back by independent readers.

Every Parquet file is read with pyarrow, every CSV with Python's ``csv`` module (RFC 4180) and pandas,
and compared with the read side (``sarcotrial.services.views.patients``), not with the writer's own
numbers. Sources: issue 12 ("tables": one long table per form, derived tables, a data dictionary);
the Apache Parquet logical types (INT64, DOUBLE, STRING, DATE, TIMESTAMP(UTC), BOOLEAN); ISO 8601 dates;
HIPAA Safe Harbor, 45 CFR 164.514(b)(2) (no names, no dates of birth, no record numbers in a
de-identified set, ages over 89 as 90); the endpoints as ``sarcotrial endpoints`` derives them
(``services.endpoints.endpoint_table``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.demo import demo_password
from sarcotrial.errors import SarcoTrialError
from sarcotrial.services import endpoints, exchange, forms, pathway, views
from sarcotrial.services.study import Actor, StudyDB
from tests.exchange.conftest import demo_study

SEED = 11
PLACE = ["subject_id", "site", "visit_id", "visit_occurrence", "instance", "crf_status", "protocol_version"]
#: the Parquet type each protocol field type must have (issue 12; Parquet logical types)
ARROW = {"integer": pa.int64(), "decimal": pa.float64(), "text": pa.string(), "code": pa.string(),
         "boolean": pa.bool_(), "date": pa.date32(), "datetime": pa.timestamp("us", tz="UTC")}
DERIVED = ("endpoints", "toxicity", "rt_delivery")
runner = CliRunner()


def actor(user: str) -> Actor:
    return Actor(user, "test", password=demo_password(SEED, user))


class Demo:
    def __init__(self, url: str, folder: Path):
        self.url = url
        self.folder = folder
        self.coded: tuple[str, str, str] | None = None  # (subject, form, field) given a missing-data code

    def study(self) -> StudyDB:
        return StudyDB.open(self.url)

    def export(self, out: Path, *args: str, user: str = "exporter"):
        return runner.invoke(app, ["export", "tables", "--out", str(out), "--db", self.url, "--user", user, *args],
                             env={"SARCOTRIAL_PASSWORD": demo_password(SEED, user)})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The synthetic demo, built once; a study-wide investigator ("exporter") given the full export right, and one value of a
    MAIN patient's diagnosis replaced by a missing-data code (UNK) through a correction."""
    with demo_study(tmp_path_factory, SEED, "tables-demo") as url:
        d = Demo(url, Path(url.removeprefix("sqlite:///")).parent)
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
            except SarcoTrialError:  # a signed or locked casebook: the next patient
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
        header, rows = endpoints.endpoint_table(study, None, actor("exporter"))
        offsets = {r.subject_id: exchange.date_offset(study, actor("exporter"), r.subject_id) for r in records}
    finally:
        study.close()
    return {"records": records, "idents": idents, "endpoints": (header, rows), "offsets": offsets,
            "protocol": study.protocol}


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
def intervals(demo, tmp_path_factory):
    return _exported(demo, tmp_path_factory, "intervals", "--deidentified", "--intervals")


@pytest.fixture(scope="module")
def identified(demo, tmp_path_factory):
    return _exported(demo, tmp_path_factory, "identified", "--identified")


# --------------------------------------------------------------------------- helpers: independent readings
def parquet_rows(path: Path) -> tuple[pa.Schema, list[dict]]:
    table = pq.read_table(path)
    return table.schema, table.to_pylist()


def csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def parse_cell(cell: str, kind: str):
    """A CSV cell read by its dictionary type (empty: no value)."""
    if cell == "":
        return None
    return {"integer": int, "decimal": float, "text": str, "code": str, "date": dt.date.fromisoformat,
            "datetime": dt.datetime.fromisoformat, "boolean": {"true": True, "false": False}.__getitem__}[kind](cell)


def kept_fields(protocol, form_id: str, level: str):
    """The fields issue 12 says a level writes: no ``identifying`` field below identified, no free text
    when de-identified (a text field is free text unless it says ``free_text: false``)."""
    out = []
    for f in protocol.form(form_id).fields:
        if level != "identified" and f.identifying:
            continue
        free = f.type == "text" if f.free_text is None else f.free_text
        if level == "deidentified" and free:
            continue
        out.append(f)
    return out


def expected_crfs(records, form_id):
    return [(r, c) for r in records for c in r.forms.get(form_id, [])]


def key(row) -> tuple:
    return row["subject_id"], row["visit_id"], row["visit_occurrence"], row["instance"]


# --------------------------------------------------------------------------- the form tables
def test_every_form_table_holds_the_read_sides_rows_and_values_in_their_types(pseudonymised, read_side):
    protocol, records = read_side["protocol"], read_side["records"]
    for form in protocol.forms:
        fields = kept_fields(protocol, form.id, "pseudonymised")
        schema, rows = parquet_rows(pseudonymised / f"{form.id}.parquet")
        header, cells = csv_rows(pseudonymised / f"{form.id}.csv")
        assert header == schema.names
        assert [n for n in schema.names if not n.endswith("__missing")] == PLACE + [f.id for f in fields], form.id
        for f in fields:  # types from the protocol, as issue 12 maps them
            assert schema.field(f.id).type == ARROW[f.type], (form.id, f.id)
        assert schema.field("visit_occurrence").type == pa.int64() and schema.field("instance").type == pa.int64()
        crfs = expected_crfs(records, form.id)
        assert len(rows) == len(cells) == len(crfs), form.id
        by_key = {key(row): (row, cell) for row, cell in zip(rows, cells)}
        assert len(by_key) == len(rows)
        for r, c in crfs:
            row, cell = by_key[(r.subject_id, c.visit_id, c.occurrence, c.instance)]
            assert (row["site"], row["crf_status"], row["protocol_version"]) == (r.site, c.status, c.protocol_version)
            for f in fields:
                assert row[f.id] == c.values.get(f.id), (form.id, f.id, r.subject_id)
                assert parse_cell(cell[f.id], f.type) == c.values.get(f.id), (form.id, f.id, r.subject_id)
        # pandas reads the same number of rows and columns
        frame = pd.read_csv(pseudonymised / f"{form.id}.csv", dtype=str, keep_default_na=False)
        assert frame.shape == (len(crfs), len(header))


def test_a_missing_data_code_has_its_own_column_only_where_the_export_holds_one(pseudonymised, read_side, demo):
    subject, form_id, field_id = demo.coded
    schema, rows = parquet_rows(pseudonymised / f"{form_id}.parquet")
    names = schema.names
    assert names.index(f"{field_id}__missing") == names.index(field_id) + 1
    coded = {row["subject_id"]: row for row in rows if row[f"{field_id}__missing"] is not None}
    assert set(coded) == {r.subject_id for r in read_side["records"] for c in r.forms.get(form_id, [])
                          if c.missing.get(field_id)}
    assert coded[subject][f"{field_id}__missing"] == "UNK" and coded[subject][field_id] is None
    read_codes = {(f, k) for r in read_side["records"] for f, cs in r.forms.items() for c in cs for k in c.missing}
    for form in read_side["protocol"].forms:  # no other form has such a column unless the read side has codes
        missing_cols = {n[:-len("__missing")] for n in pq.read_schema(pseudonymised / f"{form.id}.parquet").names
                        if n.endswith("__missing")}
        assert missing_cols == {k for f, k in read_codes if f == form.id and
                                any(fld.id == k for fld in kept_fields(read_side["protocol"], form.id, "pseudonymised"))}


def test_patients_table_gives_ages_not_identifiers_and_identified_adds_them(pseudonymised, identified, read_side):
    records, idents = read_side["records"], read_side["idents"]
    schema, rows = parquet_rows(pseudonymised / "patients.parquet")
    assert schema.names == ["subject_id", "site", "sex", "status", "age_at_enrolment", "enrolment_date", "consent_date"]
    assert schema.field("age_at_enrolment").type == pa.int64() and schema.field("enrolment_date").type == pa.date32()
    assert [r["subject_id"] for r in rows] == [r.subject_id for r in records]
    for row, r in zip(rows, records):
        assert (row["site"], row["sex"], row["status"], row["enrolment_date"], row["consent_date"]) == \
            (r.site, r.sex, r.status, r.enrolment_date, r.consent_date)
        if r.enrolment_date is None:
            continue
        dob = idents[r.subject_id].date_of_birth  # completed years on the day of enrolment
        age = r.enrolment_date.year - dob.year - ((r.enrolment_date.month, r.enrolment_date.day) < (dob.month, dob.day))
        assert row["age_at_enrolment"] == age
    # the identified level writes the fields marked identifying, which no other level writes
    assert "reason" in pq.read_schema(identified / "rt_fraction.parquet").names
    assert "reason" not in pq.read_schema(pseudonymised / "rt_fraction.parquet").names
    schema, rows = parquet_rows(identified / "patients.parquet")
    assert schema.names[-3:] == ["full_name", "date_of_birth", "hospital_number"]
    for row in rows:
        i = idents[row["subject_id"]]
        assert (row["full_name"], row["date_of_birth"], row["hospital_number"]) == \
            (i.full_name, i.date_of_birth, i.hospital_number)


def test_dictionary_describes_every_column_of_every_table(pseudonymised, read_side):
    protocol = read_side["protocol"]
    header, entries = csv_rows(pseudonymised / "dictionary.csv")
    assert header == ["table", "column", "label", "type", "unit", "codes", "missing_codes", "source"]
    described = [(e["table"], e["column"]) for e in entries]
    assert len(described) == len(set(described))
    written = []
    for path in sorted(pseudonymised.glob("*.parquet")):
        schema = pq.read_schema(path)
        written += [(path.stem, n) for n in schema.names]
        assert csv_rows(path.with_suffix(".csv"))[0] == schema.names
    assert sorted(written) == sorted(described)
    by = {(e["table"], e["column"]): e for e in entries}
    missing = " | ".join(f"{c.code}={c.label}" for c in protocol.missing_codes)
    for form in protocol.forms:
        for f in kept_fields(protocol, form.id, "pseudonymised"):
            e = by[(form.id, f.id)]
            assert (e["label"], e["type"], e["unit"], e["source"]) == (f.label, f.type, f.unit or "", f"{form.id}.{f.id}")
            assert e["missing_codes"] == missing
            if f.codelist:
                assert e["codes"] == " | ".join(f"{c.code}={c.label}" for c in protocol.codelists[f.codelist])
    for table in DERIVED:
        assert all(by[(table, n)]["source"] for n in pq.read_schema(pseudonymised / f"{table}.parquet").names)
    # every parquet column's type is the one the dictionary names
    for (table, column), e in by.items():
        assert pq.read_schema(pseudonymised / f"{table}.parquet").field(column).type == ARROW[e["type"]], (table, column)


# --------------------------------------------------------------------------- de-identification
def _texts(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.csv"))) + \
        "\n".join(str(pq.read_table(p).to_pylist()) for p in sorted(folder.glob("*.parquet")))


def test_deidentified_holds_no_identifier_and_no_free_text(deidentified, intervals, read_side):
    protocol = read_side["protocol"]
    raw = [p.read_bytes() for folder in (deidentified, intervals) for p in sorted(folder.iterdir())]
    texts = _texts(deidentified) + _texts(intervals)
    for i in read_side["idents"].values():
        for needle in (i.full_name, i.hospital_number, i.date_of_birth.isoformat(), i.date_of_birth.strftime("%d/%m/%Y")):
            assert needle not in texts
            assert all(needle.encode() not in b for b in raw)
        for part in i.full_name.replace("(synthetic)", "").split():  # each name, as a word of its own
            if len(part) > 2:
                assert not re.search(rf"\b{re.escape(part)}\b", texts), part
    for folder in (deidentified, intervals):
        for form in protocol.forms:
            names = set(pq.read_schema(folder / f"{form.id}.parquet").names)
            dropped = {f.id for f in form.fields} - {f.id for f in kept_fields(protocol, form.id, "deidentified")}
            assert not names & dropped, (form.id, names & dropped)
            assert all(not f.identifying and not (f.type == "text" and f.free_text is None)
                       for f in form.fields if f.id in names)
        ages = [r["age_at_enrolment"] for r in pq.read_table(folder / "patients.parquet").to_pylist()]
        assert all(a is None or a <= 90 for a in ages)


def test_deidentified_dates_are_shifted_by_each_patients_offset(deidentified, read_side):
    records, offsets = read_side["records"], read_side["offsets"]
    assert any(o != 0 for o in offsets.values())
    for form_id, date_field in (("diagnosis", "diagnosis_date"), ("rt_fraction", "fraction_date"),
                                ("adverse_event", "onset_date")):
        rows = {key(r): r for r in pq.read_table(deidentified / f"{form_id}.parquet").to_pylist()}
        for r, c in expected_crfs(records, form_id):
            original = c.values.get(date_field)
            shifted = rows[(r.subject_id, c.visit_id, c.occurrence, c.instance)][date_field]
            if original is None:
                assert shifted is None
            else:
                assert (shifted - original).days == offsets[r.subject_id]
    aware = {key(r): r for r in pq.read_table(deidentified / "adverse_event.parquet").to_pylist()}
    for r, c in expected_crfs(records, "adverse_event"):
        if c.values.get("aware_at") is not None:
            got = aware[(r.subject_id, c.visit_id, c.occurrence, c.instance)]["aware_at"]
            assert got - c.values["aware_at"] == dt.timedelta(days=offsets[r.subject_id])
    patients = {r["subject_id"]: r for r in pq.read_table(deidentified / "patients.parquet").to_pylist()}
    for r in records:
        if r.enrolment_date is not None:
            assert (patients[r.subject_id]["enrolment_date"] - r.enrolment_date).days == offsets[r.subject_id]
    for row in pq.read_table(deidentified / "endpoints.parquet").to_pylist():
        r = next(x for x in records if x.subject_id == row["subject_id"])
        assert (row["enrolment_date"] - r.enrolment_date).days == offsets[r.subject_id]
    delivery = {row["subject_id"]: row for row in pq.read_table(deidentified / "rt_delivery.parquet").to_pylist()}
    for r in records:
        if r.subject_id in delivery and r.delivered_dates():
            assert (delivery[r.subject_id]["first_fraction_date"] - r.delivered_dates()[0]).days == offsets[r.subject_id]


def test_intervals_are_whole_days_from_enrolment_or_the_first_record(intervals, read_side):
    records = read_side["records"]
    schema, rows = parquet_rows(intervals / "surgery.parquet")
    assert schema.field("surgery_date").type == pa.int64()
    by = {key(r): r for r in rows}
    for r, c in expected_crfs(records, "surgery"):
        assert by[(r.subject_id, c.visit_id, c.occurrence, c.instance)]["surgery_date"] == \
            (c.values["surgery_date"] - r.enrolment_date).days
    patients = {row["subject_id"]: row for row in parquet_rows(intervals / "patients.parquet")[1]}
    for r in records:
        row = patients[r.subject_id]
        # a patient never enrolled counts from the first date recorded of them (the referral, in SPRINT)
        first = min(v for rows in r.forms.values() for c in rows for v in c.values.values()
                    if isinstance(v, dt.date) and not isinstance(v, dt.datetime))
        origin = r.enrolment_date or first
        assert row["interval_origin"] == ("enrolment" if r.enrolment_date else "first record")
        assert row["enrolment_date"] == (0 if r.enrolment_date else None)
        assert row["consent_date"] == ((r.consent_date - origin).days if r.consent_date else None)
    entries = csv_rows(intervals / "dictionary.csv")[1]
    e = next(x for x in entries if (x["table"], x["column"]) == ("surgery", "surgery_date"))
    assert (e["type"], e["unit"]) == ("integer", "days from the interval origin")
    assert not any(x["type"] in ("date", "datetime") for x in entries)


# --------------------------------------------------------------------------- derived tables
def test_endpoints_table_agrees_with_the_endpoints_service_and_carries_baseline_covariates(pseudonymised, read_side):
    header, expected = read_side["endpoints"]
    schema, rows = parquet_rows(pseudonymised / "endpoints.parquet")
    _, cells = csv_rows(pseudonymised / "endpoints.csv")
    assert schema.names[:len(header)] == header
    assert [r["subject_id"] for r in rows] == [e[0] for e in expected]
    for row, cell, want in zip(rows, cells, expected):
        for name, value in zip(header, want):
            got = row[name]
            if name.endswith("_date"):
                assert got.isoformat() == value and cell[name] == value
            elif name == "missing_data":
                assert (got or "") == value
            elif isinstance(value, float):
                assert got == pytest.approx(value) and float(cell[name]) == pytest.approx(value)
            else:
                assert got == value, (row["subject_id"], name)
    records = {r.subject_id: r for r in read_side["records"]}
    for row in rows:
        r = records[row["subject_id"]]
        dx = r.first("diagnosis")
        assert (row["sex"], row["site"]) == (r.sex, r.site)
        assert (row["histotype"], row["size_cm"], row["depth"]) == \
            (dx.values.get("histotype"), dx.values.get("size_cm"), dx.values.get("depth"))
        stage = dx.derived.get("stage")
        assert row["stage"] == (stage if stage else "NA" if dx.values.get("anatomic_site") in ("head-neck", "visceral")
                                else None)
        assert row["grade"] in ("1", "2", "3", "X", "NA")
        if dx.derived.get("grade") in ("1", "2", "3"):
            assert row["grade"] == dx.derived["grade"]
    assert [x for x in pq.read_schema(pseudonymised / "endpoints.parquet").names if x not in header] == \
        ["age_at_enrolment", "sex", "site", "anatomic_site", "histotype", "grade", "stage", "size_cm", "depth"]


def test_toxicity_table_is_the_highest_grade_per_patient_term_and_phase(pseudonymised, read_side):
    best: dict[tuple, int] = {}
    for r in read_side["records"]:
        for c in r.forms.get("adverse_event", []):
            if c.status == "not_done" or c.values.get("grade") is None or c.derived.get("phase") is None:
                continue
            k = (r.subject_id, c.values["term"], c.derived["phase"])
            best[k] = max(best.get(k, 0), c.values["grade"])
    rows = pq.read_table(pseudonymised / "toxicity.parquet").to_pylist()
    assert {(x["subject_id"], x["term"], x["phase"]): x["max_grade"] for x in rows} == best
    assert len(rows) == len(best) and best


def test_rt_delivery_counts_the_fractions_of_the_log(pseudonymised, read_side):
    rows = {x["subject_id"]: x for x in pq.read_table(pseudonymised / "rt_delivery.parquet").to_pylist()}
    courses = [r for r in read_side["records"] if r.first("rt_course") is not None]
    assert set(rows) == {r.subject_id for r in courses} and rows
    for r in courses:
        fx = r.of("rt_fraction")
        delivered = sorted(c.values["fraction_date"] for c in fx if c.values["status"] == "delivered")
        row = rows[r.subject_id]
        assert row["delivered"] == len(delivered)
        assert row["missed"] == sum(c.values["status"] == "missed" for c in fx)
        assert (row["first_fraction_date"], row["last_fraction_date"]) == (delivered[0], delivered[-1])
        assert row["overall_treatment_days"] == (delivered[-1] - delivered[0]).days + 1  # both days counted
        assert row["dose_ctv1_delivered_gy"] == pytest.approx(2.0 * len(delivered))


# --------------------------------------------------------------------------- forms, manifest, folder
def test_forms_option_writes_those_forms_and_skips_the_derived_tables_they_cannot_feed(demo, tmp_path):
    out = tmp_path / "two"
    result = demo.export(out, "--forms", "diagnosis,surgery", "--json")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["diagnosis.csv", "diagnosis.parquet", "surgery.csv", "surgery.parquet", "patients.csv",
                            "patients.parquet", "dictionary.csv", "manifest.json"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["tables"] == 3
    assert sorted(manifest["counts"]["skipped_derived"]) == sorted(DERIVED)
    rows = sum(len(pq.read_table(out / f"{t}.parquet")) for t in ("diagnosis", "surgery", "patients"))
    assert manifest["counts"]["rows"] == rows
    assert {e["table"] for e in csv_rows(out / "dictionary.csv")[1]} == {"diagnosis", "surgery", "patients"}
    # the adverse events alone feed the toxicity table, not the endpoints or the delivery log
    ae = tmp_path / "ae"
    assert demo.export(ae, "--forms", "adverse_event").exit_code == 0
    manifest = json.loads((ae / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["counts"]["skipped_derived"]) == ["endpoints", "rt_delivery"]
    assert (ae / "toxicity.parquet").is_file() and not (ae / "endpoints.csv").exists()


def test_manifest_checksums_match_the_files(pseudonymised):
    manifest = json.loads((pseudonymised / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == {p.name for p in pseudonymised.iterdir()} - {"manifest.json"}
    for name, f in listed.items():
        data = (pseudonymised / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    tables = {p.stem for p in pseudonymised.glob("*.parquet")}
    assert manifest["counts"]["tables"] == len(tables)
    assert manifest["counts"]["rows"] == sum(len(pq.read_table(pseudonymised / f"{t}.parquet")) for t in tables)


def test_a_folder_that_is_not_empty_is_refused_and_force_replaces_an_earlier_export(demo, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    result = demo.export(out)
    assert result.exit_code == 2, result.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]

    again = tmp_path / "again"
    assert demo.export(again).exit_code == 0
    first = {p.name for p in again.iterdir()}
    assert demo.export(again, "--forms", "diagnosis").exit_code == 2  # without --force: refused, untouched
    assert {p.name for p in again.iterdir()} == first
    result = demo.export(again, "--forms", "diagnosis", "--force")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in again.iterdir()) == sorted(["diagnosis.csv", "diagnosis.parquet", "patients.csv",
                                                              "patients.parquet", "dictionary.csv", "manifest.json"])
    manifest = json.loads((again / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["forms"] == ["diagnosis"]


def test_text_a_spreadsheet_would_run_as_a_formula_is_kept_as_text(tmp_path):
    """OWASP "CSV Injection": a text cell starting with = + - @ gets a leading apostrophe in the CSV (a
    spreadsheet then shows it as text); numbers and the Parquet file are left as they are."""
    from sarcotrial.exchange.tables import write_csv
    from sarcotrial.services.exchange_derived import Column

    cols = [Column("note", "text", "Note", "test"), Column("dose", "decimal", "Dose", "test")]
    rows = [{"note": '=HYPERLINK("http://x.example","click")', "dose": -1.5}, {"note": "+1 day", "dose": 2.0},
            {"note": "plain", "dose": None}]
    write_csv(tmp_path / "t.csv", cols, rows)
    _, read = csv_rows(tmp_path / "t.csv")
    assert [r["note"] for r in read] == ['\'=HYPERLINK("http://x.example","click")', "'+1 day", "plain"]
    assert [r["dose"] for r in read] == ["-1.5", "2.0", ""]
