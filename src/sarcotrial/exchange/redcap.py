"""The ``redcap`` export: a REDCap project's design and its records, in the files REDCap imports as they are.

Written by hand from REDCap's documented upload formats: REDCap's Python client (PyCap) talks to a
running server's API and writes no project files; these are what that API and REDCap's upload pages take:

- ``dictionary.csv``: the *Data Dictionary* (Project Setup > Data Dictionary > Upload), its 18 columns
  A-R in REDCap's order (:data:`DICTIONARY_COLUMNS`); the first field of the first instrument is the
  record id;
- ``events.csv``: the API's *Import Events* columns (``event_name``, ``arm_num``, ``day_offset``,
  ``offset_min``, ``offset_max``, ``unique_event_name``, ``custom_event_label``);
- ``instrument_event_mapping.csv``: the API's *Import Instrument-Event Mappings* (``arm_num``,
  ``unique_event_name``, ``form``);
- ``repeating_instruments.csv``: the API's *Import Repeating Instruments and Events* (``event_name``
  holding the unique event name, ``form_name``, ``custom_form_label``);
- ``records.csv``: the *flat* records import of a longitudinal project with repeating instruments
  (Data Import Tool, or API *Import Records* ``type=flat``): ``record_id``, ``redcap_event_name``,
  ``redcap_repeat_instrument``, ``redcap_repeat_instance``, ``redcap_data_access_group``, then every
  variable and each instrument's ``<form>_complete`` status (0 Incomplete, 2 Complete); raw values
  (choice codes, dates ``YYYY-MM-DD``, datetimes in UTC ``YYYY-MM-DD HH:MM:SS``, yes/no ``1``/``0``);
- ``missing_data_codes.csv``: the protocol's missing-data codes, for the project's *Missing Data Codes*
  setting (Additional customizations: one ``CODE, Label`` a line);
  a field left missing holds its code in ``records.csv``, as REDCap stores it;
- ``data_access_groups.csv``: the API's *Import DAGs* (``data_access_group_name``,
  ``unique_group_name``): one group per site, named in ``redcap_data_access_group``.

The layout, which the REDCap importer (:mod:`sarcotrial.exchange.redcap_import`) reads back through the
helpers of this module:

- **Variables.** A field's REDCap variable name is its ``redcap_name``, else its id
  (:func:`variable_names`); a protocol written before ``redcap_name`` existed, which uses a field id on
  two forms, has each such field named ``<form id>_<field id>`` instead.
- **Instruments.** One per form (instrument name = form id), after a first instrument
  ``registration`` (:data:`REGISTRATION_FORM`): the record id (the subject id), the patient's sex, age
  at enrolment and enrolment date at every level, and at the identified level the full name, date of
  birth and hospital number (``Identifier?`` y). The site is the record's data access group
  (:func:`dag_name`: the site code lower-cased).
- **Events.** One per visit of the protocol (event name = visit id, so REDCap derives the unique
  name ``<visit id>_arm_1``, :func:`unique_event_name`), after a first event ``registration`` and
  before the event ``unscheduled`` of forms recorded outside the schedule. ``day_offset`` is the
  event's position in the schedule (REDCap orders events by it; the visits' real offsets run from
  anchors of their own, which one day offset cannot express); ``offset_min`` / ``offset_max`` are the
  visit's window before and after. A visit none of whose forms is exported (``--forms``) has no event.
- **Instances.** A form is a repeating instrument of an event where the visit repeats, the event is
  ``unscheduled``, the form repeats, or the data hold more than one instance there (a patient screened
  twice). A repeating instrument's rows are numbered 1, 2, ... per record, event and form in the order
  of (visit occurrence, instance); each instrument's hidden variable ``<form>_visit_occurrence``
  (:func:`occurrence_variable`) holds the visit occurrence, so that the importer puts each instance
  back at its occurrence. A non-repeating instrument's values share the event's
  row (blank ``redcap_repeat_instrument``), at occurrence 1.
- **Codes.** A ``code`` field is a dropdown whose raw codes are the protocol's codes: REDCap's raw
  choice values are letters, digits and underscores, which the protocol's codes mostly are
  (``wide_excision``); any other character (``head-neck``, ``IT-MI``) is written as ``_``
  (:func:`choice_code`; the importer maps such a code back to the protocol's).
- **Not written.** Values the system derives (stage, grade, MedDRA codes: recomputed on import), CRFs
  marked not done (they hold no value), and branching logic (the protocol shows every field of a form).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol import Protocol
from sarcotrial.protocol.schema import Problems, redcap_names
from sarcotrial.services.pathway import SEXES

# --------------------------------------------------------------------------- REDCap's file layouts
#: the Data Dictionary's columns A-R, in REDCap's order and spelling
DICTIONARY_COLUMNS: tuple[str, ...] = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
    "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
    "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
)
#: short names of the dictionary columns this module fills
COL_VARIABLE, COL_FORM, COL_SECTION, COL_TYPE, COL_LABEL, COL_CHOICES, COL_NOTE, COL_VALIDATION, COL_MIN, COL_MAX, \
    COL_IDENTIFIER, COL_BRANCHING, COL_REQUIRED, COL_ALIGNMENT, COL_QUESTION, COL_MATRIX, COL_RANKING, \
    COL_ANNOTATION = DICTIONARY_COLUMNS
EVENT_COLUMNS: tuple[str, ...] = ("event_name", "arm_num", "day_offset", "offset_min", "offset_max",
                                  "unique_event_name", "custom_event_label")
MAPPING_COLUMNS: tuple[str, ...] = ("arm_num", "unique_event_name", "form")
REPEATING_COLUMNS: tuple[str, ...] = ("event_name", "form_name", "custom_form_label")
MISSING_CODE_COLUMNS: tuple[str, ...] = ("code", "label")
DAG_COLUMNS: tuple[str, ...] = ("data_access_group_name", "unique_group_name")

#: the files the export writes
DICTIONARY_FILE = "dictionary.csv"
EVENTS_FILE = "events.csv"
MAPPING_FILE = "instrument_event_mapping.csv"
REPEATING_FILE = "repeating_instruments.csv"
RECORDS_FILE = "records.csv"
MISSING_CODES_FILE = "missing_data_codes.csv"
DAGS_FILE = "data_access_groups.csv"

#: the record id variable (column A of the dictionary's first row) and REDCap's own columns of a flat
#: records file, in REDCap's order
RECORD_ID = "record_id"
EVENT_COLUMN = "redcap_event_name"
REPEAT_INSTRUMENT_COLUMN = "redcap_repeat_instrument"
REPEAT_INSTANCE_COLUMN = "redcap_repeat_instance"
DAG_COLUMN = "redcap_data_access_group"
RECORD_COLUMNS: tuple[str, ...] = (RECORD_ID, EVENT_COLUMN, REPEAT_INSTRUMENT_COLUMN, REPEAT_INSTANCE_COLUMN,
                                   DAG_COLUMN)

#: the one arm of the project
ARM = 1
#: the first instrument and the first event: the patient's registration
REGISTRATION_FORM = "registration"
REGISTRATION_EVENT = "registration"
#: the event of forms recorded outside the schedule (the store's visit ``unscheduled``)
UNSCHEDULED_EVENT = "unscheduled"
#: the registration instrument's variables (every level) and the identifiers (identified level only)
SEX = "sex"
AGE_AT_ENROLMENT = "age_at_enrolment"
ENROLMENT_DATE = "enrolment_date"
FULL_NAME = "full_name"
DATE_OF_BIRTH = "date_of_birth"
HOSPITAL_NUMBER = "hospital_number"
IDENTIFIER_VARIABLES: tuple[str, ...] = (FULL_NAME, DATE_OF_BIRTH, HOSPITAL_NUMBER)
REGISTRATION_VARIABLES: tuple[str, ...] = (SEX, AGE_AT_ENROLMENT, ENROLMENT_DATE)
#: the patient's sex as the pathway records it, with REDCap labels
SEX_CHOICES: tuple[tuple[str, str], ...] = tuple((sex, sex.capitalize()) for sex in SEXES)

#: REDCap's form status (``<form>_complete``): 0 Incomplete, 1 Unverified, 2 Complete
FORM_STATUS_CODES: dict[str, int] = {"expected": 0, "incomplete": 0, "complete": 2}
#: a REDCap form status read back as a CRF's entry status: Unverified is data entered, awaiting review
ENTRY_STATUS_OF_CODE: dict[str, str] = {"0": "incomplete", "1": "complete", "2": "complete"}

#: REDCap's field types and text validations for the protocol's field types
DATE_VALIDATION = "date_ymd"
DATETIME_VALIDATION = "datetime_seconds_ymd"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: REDCap's variable names: lower-case letters, digits and underscores, a letter first, at most 100
_VARIABLE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
#: REDCap's raw choice codes as this export writes them: letters, digits, underscores
_CHOICE_CODE = re.compile(r"^[A-Za-z0-9_]+$")


# --------------------------------------------------------------------------- names
def variable_names(protocol: Protocol) -> dict[tuple[str, str], str]:
    """Each field's REDCap variable name by ``(form id, field id)``, in the protocol's order: its
    ``redcap_name``, else its id; in a protocol that uses one id on several forms and gives no
    ``redcap_name`` (SPRINT 1.0, 1.1), each field whose name is not unique is ``<form id>_<field id>``."""
    try:
        return redcap_names(protocol)
    except Problems:
        pass
    plain = {(form.id, f.id): f.redcap_name or f.id for form in protocol.forms for f in form.fields}
    counts: dict[str, int] = {}
    for name in plain.values():
        counts[name] = counts.get(name, 0) + 1
    names = {key: (f"{key[0]}_{key[1]}" if counts[name] > 1 else name) for key, name in plain.items()}
    _check_unique(names.values())
    return names


def fields_of_variables(protocol: Protocol) -> dict[str, tuple[str, str]]:
    """The inverse of :func:`variable_names`: the ``(form id, field id)`` of each REDCap variable."""
    return {name: key for key, name in variable_names(protocol).items()}


def occurrence_variable(form_id: str) -> str:
    """The hidden variable of a form's instrument that holds the visit occurrence of each instance."""
    return f"{form_id}_visit_occurrence"


def complete_variable(form_id: str) -> str:
    """REDCap's status variable of an instrument (``<form>_complete``)."""
    return f"{form_id}_complete"


def reserved_variables(protocol: Protocol) -> set[str]:
    """The variables this layout adds to the protocol's: the registration's, each instrument's occurrence
    and status variables; none may be a protocol field's name."""
    forms = [REGISTRATION_FORM, *(f.id for f in protocol.forms)]
    return {RECORD_ID, *REGISTRATION_VARIABLES, *IDENTIFIER_VARIABLES, *(complete_variable(f) for f in forms),
            *(occurrence_variable(f.id) for f in protocol.forms)}


def check_layout(protocol: Protocol) -> dict[tuple[str, str], str]:
    """:func:`variable_names`, refused (:class:`InvalidValue`) where a name is not a REDCap variable name,
    is one this layout adds, or where a form is named like the registration instrument."""
    names = variable_names(protocol)
    if protocol.has_form(REGISTRATION_FORM):
        raise InvalidValue("forms", f"a form is named '{REGISTRATION_FORM}', the REDCap export's first instrument")
    taken = reserved_variables(protocol)
    for (form_id, field_id), name in names.items():
        if not _VARIABLE.match(name):
            raise InvalidValue(f"{form_id}.{field_id}", "is not a REDCap variable name: lower-case letters, digits "
                               "and _, a letter first, at most 100 characters; give it a redcap_name", name)
        if name in taken or name.startswith("redcap_"):
            raise InvalidValue(f"{form_id}.{field_id}", "has the REDCap variable name of a variable the export adds "
                               "(or REDCap's own redcap_...); give it a redcap_name", name)
    return names


def _check_unique(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidValue("redcap_name", "two fields have one REDCap variable name; give one a redcap_name", name)
        seen.add(name)


# --------------------------------------------------------------------------- choices
def choice_code(code: str) -> str:
    """A protocol code as a REDCap raw choice value: itself where it is letters, digits and underscores,
    else with each other character written ``_`` (``head-neck`` -> ``head_neck``)."""
    return code if _CHOICE_CODE.match(code) else re.sub(r"[^A-Za-z0-9_]", "_", code)


def choice_codes(protocol: Protocol, codelist: str) -> dict[str, str]:
    """A codelist's REDCap raw values by protocol code; refused where two codes would share one."""
    out = {c.code: choice_code(c.code) for c in protocol.codelists[codelist]}
    if len(set(out.values())) != len(out):
        raise InvalidValue(f"codelists.{codelist}", "two codes have one REDCap raw value (only letters, digits and _ "
                           "are kept)", sorted(out))
    return out


def choices_string(pairs: Iterable[tuple[str, str]]) -> str:
    """REDCap's choices column: ``code, label | code, label`` (a ``|`` in a label written ``/``)."""
    return " | ".join(f"{code}, {label.replace('|', '/').strip()}" for code, label in pairs)


def parse_choices(text: str) -> dict[str, str]:
    """REDCap's ``code, label | code, label`` read back: ``{raw code: label}`` (the label may hold commas);
    raises ValueError for a choice without its comma."""
    out: dict[str, str] = {}
    for part in (text or "").split("|"):
        part = part.strip()
        if not part:
            continue
        if "," not in part:
            raise ValueError(f"choice {part!r} is not 'code, label'")
        code, label = part.split(",", 1)
        out[code.strip()] = label.strip()
    return out


def unique_event_name(event_name: str, arm: int = ARM, taken: Iterable[str] = ()) -> str:
    """The unique event name REDCap derives from an event's name: lower-cased, characters other than
    letters, digits, spaces and ``_`` dropped, its first 18 characters with spaces as ``_``, then
    ``_arm_<n>``; a name another event already has gets ``b``, ``c``, ... after the arm number. (The
    export names its events by visit id, which SPRINT keeps under 18 characters: nothing is cut.)"""
    text = re.sub(r"[^a-z0-9_ ]", "", event_name.strip().lower())[:18].strip().replace(" ", "_") or "event"
    name, taken_set, suffix = f"{text}_arm_{arm}", set(taken), ord("a")
    while name in taken_set:
        suffix += 1
        name = f"{text}_arm_{arm}{chr(suffix)}"
    return name


def event_ids(protocol: Protocol, extra: Iterable[str] = ()) -> list[str]:
    """The export's events by visit id: registration, the protocol's visits, any other visit the data name
    (``extra``: a visit an amendment removed), unscheduled."""
    visits = [v.id for v in protocol.visits]
    others = [v for v in dict.fromkeys(extra) if v not in visits and v not in (REGISTRATION_EVENT, UNSCHEDULED_EVENT)]
    return [REGISTRATION_EVENT, *visits, *others, UNSCHEDULED_EVENT]


def event_names(protocol: Protocol, extra: Iterable[str] = ()) -> dict[str, str]:
    """Each event's unique REDCap name by visit id (``registration`` and ``unscheduled`` included)."""
    out: dict[str, str] = {}
    for visit_id in event_ids(protocol, extra):
        out[visit_id] = unique_event_name(visit_id, ARM, out.values())
    return out


def visits_of_events(protocol: Protocol, extra: Iterable[str] = ()) -> dict[str, str]:
    """The inverse of :func:`event_names`: the visit id of each unique event name."""
    return {name: visit for visit, name in event_names(protocol, extra).items()}


def dag_name(site: str) -> str:
    """A site's REDCap data access group (its unique group name): the site code lower-cased, characters
    other than letters, digits and ``_`` written ``_``."""
    return re.sub(r"[^a-z0-9_]", "_", site.strip().lower())


def repeats_by_protocol(protocol: Protocol, visit_id: str, form_id: str) -> bool:
    """Whether a form is a repeating instrument of an event by the protocol alone: the visit repeats, the
    event is unscheduled, or the form repeats."""
    if visit_id == UNSCHEDULED_EVENT or protocol.form(form_id).repeating:
        return True
    visit = next((v for v in protocol.visits if v.id == visit_id), None)
    return visit is None or visit.repeat is not None


# --------------------------------------------------------------------------- values
def field_layout(field) -> dict[str, str]:
    """A protocol field's dictionary columns that follow from its type: field type, validation, min, max."""
    if field.type in ("integer", "decimal"):
        fmt = _int_text if field.type == "integer" else _number_text
        return {COL_TYPE: "text", COL_VALIDATION: "integer" if field.type == "integer" else "number",
                COL_MIN: "" if field.min is None else fmt(field.min),
                COL_MAX: "" if field.max is None else fmt(field.max)}
    if field.type == "date":
        return {COL_TYPE: "text", COL_VALIDATION: DATE_VALIDATION}
    if field.type == "datetime":
        return {COL_TYPE: "text", COL_VALIDATION: DATETIME_VALIDATION}
    if field.type == "boolean":
        return {COL_TYPE: "yesno"}
    if field.type == "code":
        return {COL_TYPE: "dropdown"}
    return {COL_TYPE: "notes" if field.is_free_text else "text"}


def redcap_value(field, value: Any) -> str:
    """A typed value of a protocol field as REDCap's raw value (``""`` for none)."""
    if value is None:
        return ""
    if field.type == "boolean":
        return "1" if value else "0"
    if field.type == "integer":
        return _int_text(value)
    if field.type == "decimal":
        return _number_text(value)
    if field.type == "datetime" and isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.strftime(DATETIME_FORMAT)
    if field.type == "date" and isinstance(value, dt.date):
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    if field.type == "code":
        return choice_code(str(value))
    return str(value)


def _int_text(value: Any) -> str:
    return str(int(value))


def _number_text(value: Any) -> str:
    text = format(Decimal(repr(float(value))), "f")
    return text.removesuffix(".0")


# --------------------------------------------------------------------------- the dictionary
def _row(**columns: str) -> dict[str, str]:
    row = dict.fromkeys(DICTIONARY_COLUMNS, "")
    row.update(columns)
    return row


def registration_rows(identified: bool) -> list[dict[str, str]]:
    """The registration instrument's dictionary rows: the record id first."""
    form = REGISTRATION_FORM
    rows = [_row(**{COL_VARIABLE: RECORD_ID, COL_FORM: form, COL_TYPE: "text", COL_LABEL: "Subject id"})]
    if identified:
        rows += [
            _row(**{COL_VARIABLE: FULL_NAME, COL_FORM: form, COL_TYPE: "text", COL_LABEL: "Full name",
                    COL_IDENTIFIER: "y", COL_REQUIRED: "y"}),
            _row(**{COL_VARIABLE: DATE_OF_BIRTH, COL_FORM: form, COL_TYPE: "text", COL_LABEL: "Date of birth",
                    COL_VALIDATION: DATE_VALIDATION, COL_IDENTIFIER: "y", COL_REQUIRED: "y"}),
            _row(**{COL_VARIABLE: HOSPITAL_NUMBER, COL_FORM: form, COL_TYPE: "text", COL_LABEL: "Hospital number",
                    COL_IDENTIFIER: "y", COL_REQUIRED: "y"}),
        ]
    rows += [
        _row(**{COL_VARIABLE: SEX, COL_FORM: form, COL_TYPE: "dropdown", COL_LABEL: "Sex",
                COL_CHOICES: choices_string(SEX_CHOICES), COL_REQUIRED: "y"}),
        _row(**{COL_VARIABLE: AGE_AT_ENROLMENT, COL_FORM: form, COL_TYPE: "text", COL_LABEL: "Age at enrolment",
                COL_NOTE: "years", COL_VALIDATION: "integer", COL_MIN: "0", COL_MAX: "130"}),
        _row(**{COL_VARIABLE: ENROLMENT_DATE, COL_FORM: form, COL_TYPE: "text", COL_LABEL: "Date of enrolment",
                COL_VALIDATION: DATE_VALIDATION}),
    ]
    return rows


def field_row(protocol: Protocol, form_id: str, field, name: str) -> dict[str, str]:
    """One protocol field's dictionary row."""
    notes = [n for n in (field.unit, "UTC" if field.type == "datetime" else None, field.help) if n]
    row = _row(**{COL_VARIABLE: name, COL_FORM: form_id, COL_LABEL: field.label, COL_NOTE: "; ".join(notes),
                  COL_IDENTIFIER: "y" if field.identifying else "", COL_REQUIRED: "y" if field.required else ""},
               **field_layout(field))
    if field.type == "code":
        labels = {c.code: c.label for c in protocol.codelists[field.codelist]}
        raws = choice_codes(protocol, field.codelist)
        row[COL_CHOICES] = choices_string((raw, labels[code]) for code, raw in raws.items())
    return row


def occurrence_row(form_id: str) -> dict[str, str]:
    """The hidden variable of an instrument that holds each instance's visit occurrence."""
    return _row(**{COL_VARIABLE: occurrence_variable(form_id), COL_FORM: form_id, COL_TYPE: "text",
                   COL_LABEL: "Visit occurrence", COL_NOTE: "the occurrence of the event's visit (1 for a visit that "
                   "does not repeat)", COL_VALIDATION: "integer", COL_MIN: "1", COL_ANNOTATION: "@HIDDEN"})


def dictionary_rows(snapshot) -> list[dict[str, str]]:
    """The data dictionary of an export: the registration instrument, then each form's fields written at
    the export's level, each form closed by its occurrence variable."""
    protocol = snapshot.protocol
    names = check_layout(protocol)
    rows = registration_rows(snapshot.level == "identified")
    for form_id in snapshot.forms:
        rows += [field_row(protocol, form_id, f, names[(form_id, f.id)]) for f in snapshot.fields(form_id)]
        rows.append(occurrence_row(form_id))
    return rows


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Layout:
    """Where each form goes: the events, their forms, and the (event, form) pairs that repeat."""

    events: dict[str, str]  # visit id -> unique event name, in order
    forms_of_event: dict[str, list[str]]  # visit id -> forms mapped to it, in the protocol's order
    repeating: frozenset[tuple[str, str]]  # (visit id, form id)
    fields: dict[str, list]  # form id -> the fields written at the export's level


def layout(snapshot) -> Layout:
    """The events, instrument-event mapping and repeating instruments of an export: from the protocol,
    and from the data where they place a form elsewhere or hold several instances of it in one event."""
    protocol = snapshot.protocol
    crfs = [c for p in snapshot.patients for rows in p.forms.values() for c in rows if c.status != "not_done"]
    events = event_names(protocol, (c.visit_id for c in crfs))
    wanted = list(snapshot.forms)
    placed: dict[str, set[str]] = {REGISTRATION_EVENT: {REGISTRATION_FORM}, UNSCHEDULED_EVENT: set(wanted)}
    for visit in protocol.visits:
        placed[visit.id] = {f for f in visit.collected if f in wanted}
    repeating = {(v, f) for v in events if v != REGISTRATION_EVENT for f in placed.get(v, ())
                 if repeats_by_protocol(protocol, v, f)}
    for p in snapshot.patients:
        per: dict[tuple[str, str], int] = {}
        for c in (c for rows in p.forms.values() for c in rows if c.status != "not_done"):
            placed.setdefault(c.visit_id, set()).add(c.form_id)
            key = (c.visit_id, c.form_id)
            per[key] = per.get(key, 0) + 1
            if c.occurrence != 1 or per[key] > 1:
                repeating.add(key)
    order = {REGISTRATION_FORM: -1, **{f: i for i, f in enumerate(wanted)}}
    forms_of_event = {v: sorted(placed.get(v, ()), key=lambda f: order.get(f, len(order))) for v in events}
    events = {v: name for v, name in events.items() if forms_of_event[v]}  # a visit none of whose forms is exported
    forms_of_event = {v: forms_of_event[v] for v in events}
    return Layout(events, forms_of_event, frozenset(repeating), {f: snapshot.fields(f) for f in wanted})


def registration_record(snapshot, patient) -> dict[str, str]:
    """A patient's registration row (record id, sex, age and date of enrolment, identifiers if identified)."""
    row = {RECORD_ID: patient.subject_id, EVENT_COLUMN: "", REPEAT_INSTRUMENT_COLUMN: "", REPEAT_INSTANCE_COLUMN: "",
           DAG_COLUMN: dag_name(patient.site), SEX: patient.sex or "",
           AGE_AT_ENROLMENT: "" if patient.age_at_enrolment is None else str(patient.age_at_enrolment),
           ENROLMENT_DATE: _date_text(patient.enrolment_date), complete_variable(REGISTRATION_FORM): "2"}
    if snapshot.level == "identified" and patient.identifiers:
        row[FULL_NAME] = patient.identifiers.get("full_name") or ""
        row[DATE_OF_BIRTH] = _date_text(patient.identifiers.get("date_of_birth"))
        row[HOSPITAL_NUMBER] = patient.identifiers.get("hospital_number") or ""
    return row


def _date_text(day: Any) -> str:
    if day is None:
        return ""
    return day.isoformat() if isinstance(day, dt.date) else str(day)


def crf_values(fields: Iterable, crf, names: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """A CRF instance's variables (``fields``: its form's fields written at the export's level): raw values,
    missing-data codes where a value is missing, its visit occurrence and status."""
    out: dict[str, str] = {}
    for f in fields:
        name = names[(crf.form_id, f.id)]
        if f.id in crf.missing:
            out[name] = crf.missing[f.id]
        else:
            out[name] = redcap_value(f, crf.values.get(f.id))
    out[occurrence_variable(crf.form_id)] = str(crf.occurrence)
    out[complete_variable(crf.form_id)] = str(FORM_STATUS_CODES.get(crf.status, 0))
    return out


def patient_rows(snapshot, patient, plan: Layout, names: Mapping[tuple[str, str], str]) -> list[dict[str, str]]:
    """A patient's rows of ``records.csv``: registration, then per event its non-repeating instruments on
    one row and each instance of a repeating instrument on a row of its own."""
    dag = dag_name(patient.site)
    reg = registration_record(snapshot, patient)
    reg[EVENT_COLUMN] = plan.events[REGISTRATION_EVENT]
    rows = [reg]
    by_event: dict[str, dict[str, list]] = {}
    for crfs in patient.forms.values():
        for c in crfs:
            if c.status != "not_done":
                by_event.setdefault(c.visit_id, {}).setdefault(c.form_id, []).append(c)
    for visit_id, event in plan.events.items():
        forms = by_event.get(visit_id)
        if not forms:
            continue
        base = {RECORD_ID: patient.subject_id, EVENT_COLUMN: event, DAG_COLUMN: dag}
        single: dict[str, str] = {}
        repeated: list[dict[str, str]] = []
        for form_id in plan.forms_of_event[visit_id]:
            crfs = sorted(forms.get(form_id, []), key=lambda c: (c.occurrence, c.instance))
            if not crfs:
                continue
            if (visit_id, form_id) not in plan.repeating:
                single.update(crf_values(plan.fields[form_id], crfs[0], names))
                continue
            repeated += [{**base, REPEAT_INSTRUMENT_COLUMN: form_id, REPEAT_INSTANCE_COLUMN: str(number),
                          **crf_values(plan.fields[form_id], c, names)} for number, c in enumerate(crfs, start=1)]
        if single:
            rows.append({**base, REPEAT_INSTRUMENT_COLUMN: "", REPEAT_INSTANCE_COLUMN: "", **single})
        rows += repeated
    return rows


def record_columns(dictionary: list[dict[str, str]]) -> list[str]:
    """The columns of ``records.csv``: REDCap's own, then each instrument's variables and status, in the
    dictionary's order."""
    columns = list(RECORD_COLUMNS)
    form = None
    for row in dictionary:
        if row[COL_FORM] != form and form is not None:
            columns.append(complete_variable(form))
        form = row[COL_FORM]
        if row[COL_VARIABLE] != RECORD_ID:
            columns.append(row[COL_VARIABLE])
    if form is not None:
        columns.append(complete_variable(form))
    return columns


# --------------------------------------------------------------------------- the files
def _write_csv(path: Path, columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> int:
    columns = list(columns)
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, fieldnames=columns, extrasaction="raise", restval="")
        out.writeheader()
        for row in rows:
            out.writerow(row)
            n += 1
    return n


def write(snapshot, folder: Path) -> dict[str, int]:
    """Write the REDCap files of a snapshot into ``folder``; counts: records (patients), rows of
    ``records.csv``, variables of the dictionary."""
    protocol = snapshot.protocol
    names = check_layout(protocol)
    dictionary = dictionary_rows(snapshot)
    plan = layout(snapshot)
    _write_csv(folder / DICTIONARY_FILE, DICTIONARY_COLUMNS, dictionary)
    windows = {v.id: v for v in protocol.visits}
    events = []
    for position, (visit_id, name) in enumerate(plan.events.items()):
        visit = windows.get(visit_id)
        label = visit.name if visit else ("Registration" if visit_id == REGISTRATION_EVENT else
                                          "Unscheduled" if visit_id == UNSCHEDULED_EVENT else visit_id)
        events.append({"event_name": visit_id, "arm_num": ARM, "day_offset": position,
                       "offset_min": visit.window_before_days if visit else 0,
                       "offset_max": visit.window_after_days if visit else 0,
                       "unique_event_name": name, "custom_event_label": label})
    _write_csv(folder / EVENTS_FILE, EVENT_COLUMNS, events)
    _write_csv(folder / MAPPING_FILE, MAPPING_COLUMNS,
               ({"arm_num": ARM, "unique_event_name": plan.events[v], "form": f}
                for v in plan.events for f in plan.forms_of_event[v]))
    _write_csv(folder / REPEATING_FILE, REPEATING_COLUMNS,
               ({"event_name": plan.events[v], "form_name": f, "custom_form_label": ""}
                for v in plan.events for f in plan.forms_of_event[v] if (v, f) in plan.repeating))
    _write_csv(folder / MISSING_CODES_FILE, MISSING_CODE_COLUMNS,
               ({"code": c.code, "label": c.label} for c in protocol.missing_codes))
    sites = sorted({p.site for p in snapshot.patients})
    _write_csv(folder / DAGS_FILE, DAG_COLUMNS, ({"data_access_group_name": s, "unique_group_name": dag_name(s)}
                                                 for s in sites))
    columns = record_columns(dictionary)
    rows = _write_csv(folder / RECORDS_FILE, columns,
                      (row for p in snapshot.patients for row in patient_rows(snapshot, p, plan, names)))
    return {"records": len(snapshot.patients), "rows": rows, "variables": len(dictionary)}
