"""The ``tables`` export: one CSV and one Parquet table per form, the patients, derived tables and a
data dictionary, for statisticians (R, Stata, pandas, SAS all read CSV and Parquet).

Files written into the export folder:

- ``<form>.csv`` / ``<form>.parquet`` for each form of the snapshot, long (one row per CRF instance):
  ``subject_id, site, visit_id, visit_occurrence, instance, crf_status, protocol_version`` then each
  field written at the export's level, in the protocol's order and in its type. The instance's
  lifecycle status is ``crf_status`` (not ``status``): SPRINT's fraction and end-of-study forms have a
  field of their own named ``status``. A field that holds a missing-data code in some row of the export
  gets a companion column ``<field>__missing`` (the code; the value is then empty);
- ``patients.csv`` / ``.parquet``: one row per patient (identifiers at the identified level only);
- ``endpoints``, ``toxicity``, ``rt_delivery`` (:mod:`sarcotrial.services.exchange_derived`), when the
  snapshot holds the forms they are computed from;
- ``dictionary.csv``: one row per column of every table: label, type, unit, codes, the missing-data
  codes a value may be replaced by, and where the column comes from.

Types: Parquet columns are typed by an explicit schema from the protocol (integer int64, decimal
float64, text and code string, date date32, datetime timestamp[us, UTC], boolean bool), never inferred
from the values; with ``--intervals`` dates are int64 whole days and date-times float64 days (to the
minute) from enrolment, or from the first record of a patient never enrolled. CSV is
RFC 4180 as Python's ``csv`` module writes it, UTF-8, ISO 8601 dates, ``true``/``false``, and an empty
cell for no value; a text cell that a spreadsheet would run as a formula (starting with ``= + - @``)
gets a leading apostrophe (OWASP, CSV injection), while the Parquet file keeps the text exactly. The
writer holds no rule: it lays out the snapshot and the derived tables.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from sarcotrial.domain.crf import ENTRY_STATUSES, UNSCHEDULED
from sarcotrial.errors import InvalidValue
from sarcotrial.services.exchange import ExportSnapshot
from sarcotrial.services.exchange_derived import Column, DerivedTable, derived_tables

DICTIONARY = "dictionary.csv"
MISSING_SUFFIX = "__missing"
DICTIONARY_HEADER = ["table", "column", "label", "type", "unit", "codes", "missing_codes", "source"]
#: the columns that place a CRF instance, before its fields
PLACE = ("subject_id", "site", "visit_id", "visit_occurrence", "instance", "crf_status", "protocol_version")
RESERVED = ("patients", "endpoints", "toxicity", "rt_delivery", "dictionary", "manifest")
SEXES = (("female", "female"), ("male", "male"), ("other", "other"))

_ARROW = {"integer": pa.int64(), "decimal": pa.float64(), "text": pa.string(), "code": pa.string(),
          "boolean": pa.bool_(), "date": pa.date32(), "datetime": pa.timestamp("us", tz="UTC")}


def write(snapshot: ExportSnapshot, folder: Path, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the tables of ``snapshot`` into ``folder``; returns the counts for the manifest."""
    clash = [f for f in snapshot.forms if f in RESERVED]
    if clash:
        raise InvalidValue("forms", f"form ids {', '.join(clash)} clash with the tables export's own tables "
                           f"({', '.join(RESERVED)})")
    tables: list[DerivedTable] = [patients_table(snapshot)]
    tables += [form_table(snapshot, form_id) for form_id in snapshot.forms]
    derived, skipped = derived_tables(snapshot)
    tables += derived
    dictionary: list[list[str]] = []
    rows = 0
    for table in tables:
        if progress:
            progress(f"writing {table.name}")
        columns = [_at_level(c, snapshot.intervals) for c in table.columns]
        write_parquet(folder / f"{table.name}.parquet", columns, table.rows)
        write_csv(folder / f"{table.name}.csv", columns, table.rows)
        dictionary += [dictionary_row(snapshot, table.name, c) for c in columns]
        rows += len(table.rows)
    with (folder / DICTIONARY).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(DICTIONARY_HEADER)
        out.writerows(dictionary)
    counts: dict[str, Any] = {"tables": len(tables), "rows": rows}
    if skipped:
        counts["skipped_derived"] = skipped
    return counts


# --------------------------------------------------------------------------- the tables' layout
def patients_table(snapshot: ExportSnapshot) -> DerivedTable:
    cols = [Column("subject_id", "text", "Subject id", "patient"),
            Column("site", "code", "Study site", "patient"),
            Column("sex", "code", "Sex", "patient", codes=SEXES),
            Column("status", "text", "Status in the pathway", "patient"),
            Column("age_at_enrolment", "integer", f"Age at enrolment (from the {snapshot.age_basis}"
                   + ("; over 89 given as 90)" if snapshot.level == "deidentified" else ")"), "patient", unit="years"),
            Column("enrolment_date", "date", "Date of enrolment", "patient"),
            Column("consent_date", "date", "Date of consent", "patient")]
    if snapshot.intervals:
        cols.append(Column("interval_origin", "code", "What the patient's days count from", "patient",
                           codes=(("enrolment", "enrolment"), ("first record", "the first date recorded of a "
                                                                              "patient never enrolled"))))
    identified = snapshot.level == "identified"
    if identified:
        cols += [Column("full_name", "text", "Full name", "patient identifiers"),
                 Column("date_of_birth", "date", "Date of birth", "patient identifiers"),
                 Column("hospital_number", "text", "Hospital number", "patient identifiers")]
    rows = []
    for p in snapshot.patients:
        row = {"subject_id": p.subject_id, "site": p.site, "sex": p.sex, "status": p.status,
               "age_at_enrolment": p.age_at_enrolment, "enrolment_date": p.enrolment_date,
               "consent_date": p.consent_date}
        if snapshot.intervals:
            row["interval_origin"] = p.interval_origin
        if identified:
            row.update({k: (p.identifiers or {}).get(k) for k in ("full_name", "date_of_birth", "hospital_number")})
        rows.append(row)
    return DerivedTable("patients", cols, rows)


def form_table(snapshot: ExportSnapshot, form_id: str) -> DerivedTable:
    """A form, long: one row per CRF instance, its place then its fields (and their missing-data codes)."""
    protocol = snapshot.protocol
    crfs = [(p, c) for p in snapshot.patients for c in p.forms.get(form_id, [])]
    coded = {k for _, c in crfs for k in c.missing}
    visits = tuple((v.id, v.name) for v in protocol.visits)
    if UNSCHEDULED not in {v for v, _ in visits}:
        visits += ((UNSCHEDULED, "Unscheduled visit"),)
    cols = [Column("subject_id", "text", "Subject id", "patient"),
            Column("site", "code", "Study site", "patient"),
            Column("visit_id", "code", "Visit", "visit", codes=visits),
            Column("visit_occurrence", "integer", "Occurrence of the visit (1 for a visit held once)", "visit"),
            Column("instance", "integer", "Instance of the form at the visit", "crf"),
            Column("crf_status", "code", "Entry status of the form", "crf",
                   codes=tuple((s, s.replace("_", " ")) for s in ENTRY_STATUSES)),
            Column("protocol_version", "text", "Protocol version the form was entered under", "crf")]
    missing_codes = tuple((c.code, c.label) for c in protocol.missing_codes)
    fields = snapshot.fields(form_id)
    names = {f.id: (f"{form_id}_{f.id}" if f.id in PLACE else f.id) for f in fields}
    for f in fields:
        codes = tuple((c.code, c.label) for c in protocol.codelists.get(f.codelist, [])) if f.codelist else ()
        cols.append(Column(names[f.id], f.type, f.label, f"{form_id}.{f.id}", unit=f.unit, codes=codes,
                           missing_codes=bool(missing_codes)))
        if f.id in coded:
            cols.append(Column(names[f.id] + MISSING_SUFFIX, "code", f"{f.label}: missing-data code",
                               f"{form_id}.{f.id} (missing-data code)", codes=missing_codes))
    rows = []
    for p, c in crfs:
        row: dict[str, Any] = {"subject_id": p.subject_id, "site": p.site, "visit_id": c.visit_id,
                               "visit_occurrence": c.occurrence, "instance": c.instance, "crf_status": c.status,
                               "protocol_version": c.protocol_version}
        for f in fields:
            row[names[f.id]] = c.values.get(f.id)
            if f.id in coded:
                row[names[f.id] + MISSING_SUFFIX] = c.missing.get(f.id)
        rows.append(row)
    return DerivedTable(form_id, cols, rows)


def _at_level(column: Column, intervals: bool) -> Column:
    """With ``intervals`` a date column holds whole days from the patient's origin (enrolment, or the first
    record of a patient never enrolled: ``patients.interval_origin``), a date-time column days with their
    fraction (to the minute, so a clock of hours survives)."""
    if intervals and column.type == "date":
        return replace(column, type="integer", unit="days from the interval origin")
    if intervals and column.type == "datetime":
        return replace(column, type="decimal", unit="days from the interval origin (fraction: time of day)")
    return column


# --------------------------------------------------------------------------- values in their types
def typed(value: Any, kind: str) -> Any:
    """A value in the column's type (``None`` stays ``None``)."""
    if value is None:
        return None
    if kind == "integer":
        return int(value)
    if kind == "decimal":
        return float(value)
    if kind == "boolean":
        return bool(value)
    if kind == "date":
        return value.date() if isinstance(value, dt.datetime) else value
    if kind == "datetime":
        if not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        # the store keeps date-times in UTC; one without a zone is taken as UTC
        return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return str(value)


def arrow_schema(columns: Iterable[Column]) -> pa.Schema:
    fields = []
    for c in columns:
        meta = {"label": c.label, "source": c.source}
        if c.unit:
            meta["unit"] = c.unit
        fields.append(pa.field(c.name, _ARROW[c.type], nullable=True, metadata=meta))
    return pa.schema(fields)


def write_parquet(path: Path, columns: list[Column], rows: list[dict[str, Any]]) -> None:
    schema = arrow_schema(columns)
    arrays = [pa.array([typed(r.get(c.name), c.type) for r in rows], type=schema.field(c.name).type) for c in columns]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


def csv_text(value: Any) -> str:
    """A value as a CSV cell: empty for none, ISO 8601 for dates, ``true``/``false``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


#: what a spreadsheet would take as the start of a formula (OWASP, "CSV Injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """Free text that a spreadsheet would run as a formula, kept as text by a leading apostrophe (OWASP)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(path: Path, columns: list[Column], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow([c.name for c in columns])
        for r in rows:
            out.writerow([spreadsheet_safe(cell) if c.type == "text" else cell
                          for c, cell in ((c, csv_text(typed(r.get(c.name), c.type))) for c in columns)])


# --------------------------------------------------------------------------- the data dictionary
def dictionary_row(snapshot: ExportSnapshot, table: str, c: Column) -> list[str]:
    missing = " | ".join(f"{m.code}={m.label}" for m in snapshot.protocol.missing_codes) if c.missing_codes else ""
    return [table, c.name, c.label, c.type, c.unit or "", " | ".join(f"{code}={label}" for code, label in c.codes),
            missing, c.source]
