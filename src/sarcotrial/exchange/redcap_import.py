"""Reading a REDCap project (data dictionary, records, events) into an import plan for a study.

This is the read side of ``sarcotrial import redcap``: it parses the files, maps REDCap's variable
names and codes to the protocol's forms, fields and codes, checks every value against the
protocol's field (type, range, code list), and gives an :class:`ImportPlan` (one
:class:`PatientPlan` per REDCap record) and the validation report (:class:`Problem`: row, record,
field, value, problem). It writes nothing and holds no SQL: :mod:`sarcotrial.services.importing`
writes a plan through the services. Hand-written because REDCap's file formats are plain CSV and
the mapping to a protocol is this program's own; the ``csv`` module reads the files.

The files (REDCap's own layouts):

- the data dictionary (Project Setup, "Download the current Data Dictionary"), with at least the
  columns ``Variable / Field Name``, ``Form Name``, ``Field Type`` and ``Choices, Calculations, OR
  Slider Labels`` (or their API names ``field_name``, ``form_name``, ``field_type``,
  ``select_choices_or_calculations``); its first variable is the record id. Choices are written
  ``code, label | code, label``;
- the records, exported as CSV "raw" (codes, not labels): the record id, ``redcap_event_name``
  (longitudinal projects), ``redcap_repeat_instrument`` and ``redcap_repeat_instance`` (repeating
  instruments), ``redcap_data_access_group`` (the site), then one column per variable (a checkbox
  as ``variable___code``; ``form_complete`` columns are REDCap's form status and are skipped).
  Dates are ``YYYY-MM-DD``, date-times ``YYYY-MM-DD HH:MM[:SS]`` (UTC unless an offset is given);
  yes/no is ``1``/``0``. A value equal to one of the protocol's missing-data codes (``NA``,
  ``UNK``, ...) is imported as that code (REDCap's own missing data codes);
- the events (``--events``, optional): the events CSV with ``unique_event_name`` (REDCap's layout;
  ``event_name`` and ``custom_event_label`` are read too). With it, a record's event must be one of
  its events.

An event names a visit of the protocol when its ``event_name`` (the export's: the visit id) or its
unique name without the ``_arm_N`` suffix is a visit id (``screening_arm_1``: the first occurrence
of ``screening``), or a visit id and an occurrence (``follow_up_early_5_arm_1``, or
``follow_up_early:5`` in the custom label); a row of a repeating event (``redcap_repeat_instance``
without an instrument) is that occurrence of the visit. The forms of an event that names no visit
(the export's ``registration``, or one the events file lists) are placed by the protocol's
schedule, as a form entered without ``--visit`` is.

Instances: a repeating instrument's ``redcap_repeat_instance`` is the form's instance at its visit;
where the dictionary has the export's hidden variable ``<form>_visit_occurrence``
(:func:`sarcotrial.exchange.redcap.occurrence_variable`), that variable gives the visit occurrence
and the instances are numbered again at each occurrence in the order of the rows (the export numbers
a form's instances across the occurrences of an event, REDCap having one repeat counter per event).

Variables: the identifiers ``full_name``, ``date_of_birth``, ``hospital_number``, and ``sex``
(female, male, other) register the patient; ``enrolment_date`` enrols them (the export's
registration instrument; its ``age_at_enrolment`` is derived again, not imported); every other
variable is a protocol field, found by its REDCap name (the export's
:func:`~sarcotrial.exchange.redcap.fields_of_variables`: the field's ``redcap_name``, else its id),
or by its field id on the form of the same name. Codes: the protocol's code itself, the export's
raw code (``head_neck`` for ``head-neck``), else the code whose label is the choice's label
(``1, Extremity`` -> ``extremity``). Anything else needs the mapping file.

Subject ids are the study's own: each record gets the next free one, in the order the records first
appear in the file (the report lists record -> subject id); the REDCap record id is not kept.

The mapping file (``--mapping``), YAML or CSV, for a database whose names and codes are not the
protocol's. YAML::

    fields:                      # their variable -> the protocol's form.field, a pathway
      sede: diagnosis.anatomic_site    # variable above, or "ignore" (not imported)
      dt_nascita: date_of_birth
      bmi: ignore
    codes:                       # their variable -> {their code: the protocol's code}
      sede: {"1": extremity, "2": trunk, "3": retroperitoneum}
      sesso: {"1": male, "2": female}
    events:                      # their unique event name -> a visit (visit id[:occurrence]),
      visita_basale_arm_1: baseline    # or "none" (forms placed by the schedule)
    sites:                       # their data access group -> a site code of the study
      milano: MAIN

A ``fields`` entry set to ``ignore`` also skips a column the data dictionary lacks (or a checkbox's
columns). A target that names nothing of the protocol (a mistyped form, field or visit) is an invalid
argument, named with the nearest name.

Problems of a file, not of its records, are reported once: a longitudinal project's records without
``redcap_event_name``; records without the identifier columns (a pseudonymised or de-identified export,
which cannot register patients) or the sex column. A date in the layout ``YYYY-MM-DD`` that is not in the
calendar is named as such (``2023-02-30 is not a date (February 2023 has 28 days)``).

CSV: a header ``kind,source,target,code`` and one row per entry: ``field,sede,diagnosis.anatomic_site,``;
``code,sede,extremity,1`` (their code in the last column); ``event,visita_basale_arm_1,baseline,``;
``site,milano,MAIN,``.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import difflib
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from sarcotrial.errors import InvalidValue
from sarcotrial.exchange import redcap
from sarcotrial.protocol.forms import coerce_value
from sarcotrial.protocol.schema import ENROLMENT_FORM, Protocol

# --------------------------------------------------------------------------- REDCap's names
DICTIONARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "variable": ("Variable / Field Name", "field_name"),
    "form": ("Form Name", "form_name"),
    "type": ("Field Type", "field_type"),
    "choices": ("Choices, Calculations, OR Slider Labels", "select_choices_or_calculations"),
}
OPTIONAL_DICTIONARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "label": ("Field Label", "field_label"),
    "validation": ("Text Validation Type OR Show Slider Number", "text_validation_type_or_show_slider_number"),
}
EVENT_NAME = "redcap_event_name"
REPEAT_INSTRUMENT = "redcap_repeat_instrument"
REPEAT_INSTANCE = "redcap_repeat_instance"
DATA_ACCESS_GROUP = "redcap_data_access_group"
SYSTEM_COLUMNS = (EVENT_NAME, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DATA_ACCESS_GROUP, "redcap_survey_identifier")
#: REDCap field types that carry no data of their own
NO_DATA_TYPES = ("descriptive", "calc", "file", "sql")
CHOICE_TYPES = ("radio", "dropdown", "checkbox")
#: the variables of the patient's pathway (not protocol fields): registration and enrolment
IDENTIFIERS = redcap.IDENTIFIER_VARIABLES
PATHWAY_VARIABLES = (*IDENTIFIERS, redcap.SEX, "site", redcap.ENROLMENT_DATE)
#: variables the export writes that the services derive again (not imported)
DERIVED_VARIABLES = (redcap.AGE_AT_ENROLMENT,)
#: the variable of a form's instrument that holds the visit occurrence of each instance
OCCURRENCE = "occurrence"
SEXES = ("female", "male", "other")
IGNORE = "ignore"
_ARM = re.compile(r"^(?P<name>.+?)_arm_(?P<arm>\d+)$")
_OCCURRENCE = re.compile(r"^(?P<visit>.+?)[_:](?P<n>\d+)$")
# UTF-8 read as Latin-1 or Windows-1252 and saved again ("Ã©" for "é", "â€™" for "’"); or a character
# that a decoder could not read (U+FFFD)
_MOJIBAKE = re.compile("[ÃÂ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u2013-\u203a\u20ac\u2122]|â€|\ufffd")


# --------------------------------------------------------------------------- what the plan holds
@dataclass(frozen=True)
class Problem:
    """One line of the validation report. ``row`` is the line in its file (the header is line 1),
    prefixed by the file's name when it is not the records file; ``record`` is the REDCap record id
    (``None``: the problem is the file's, not one record's)."""

    row: str
    record: str | None
    field: str | None
    value: str | None
    problem: str
    #: for a problem of no single record: whether it stops the whole import (a column that only some
    #: records fill holds back those records alone)
    whole: bool = field(default=True, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "record": self.record, "field": self.field, "value": self.value,
                "problem": self.problem}


@dataclass
class FormEntry:
    """One CRF instance to record: the protocol's form, its place and its values in their types."""

    form_id: str
    visit: str | None
    instance: int | None
    values: dict[str, Any]
    missing: dict[str, str]
    row: int
    event: str | None = None


@dataclass
class PatientPlan:
    """One REDCap record: what registers, screens and enrols the patient, and their forms."""

    record: str
    first_row: int
    identifiers: dict[str, Any] = field(default_factory=dict)
    sex: str | None = None
    site: str | None = None
    enrolment_date: dt.date | None = None
    referral: FormEntry | None = None
    screenings: list[FormEntry] = field(default_factory=list)
    forms: list[FormEntry] = field(default_factory=list)
    #: where each pathway value came from: (row, variable)
    sources: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: the pathway variables whose value was refused (the report names the value; it is not also "lacking")
    refused: set[str] = field(default_factory=set)


@dataclass
class SourceFile:
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class ImportPlan:
    """The parsed project: patients to write, the problems found, the files read (with their checksums)."""

    patients: list[PatientPlan]
    problems: list[Problem]
    records: SourceFile
    dictionary: SourceFile
    events: SourceFile | None = None
    #: the problems that concern no single record (a file's): nothing can be imported
    fatal: bool = False
    #: records held back by a problem of a column they have a value in
    blocked: set[str] = field(default_factory=set)
    #: their variable of each protocol field (``form.field``), to name a service's refusal in their terms
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def bad_records(self) -> set[str]:
        return {p.record for p in self.problems if p.record is not None} | self.blocked

    @property
    def audit_reason(self) -> str:
        """The reason every imported value carries in the audit trail: the source and its checksum."""
        return (f"imported from REDCap {self.records.name} sha256 {self.records.sha256} "
                f"(dictionary {self.dictionary.name} sha256 {self.dictionary.sha256[:16]})")


# --------------------------------------------------------------------------- reading the files
def read_csv(path: Path, option: str) -> tuple[list[str], list[tuple[int, list[str]]], SourceFile]:
    """A CSV file's header, its rows (with the line each starts on) and its checksum.

    A file that is missing, unreadable or not UTF-8 is an invalid argument (:class:`InvalidValue`,
    exit status 2): nothing of it can be reported row by row."""
    path = Path(path)
    if not path.is_file():
        raise InvalidValue(option, "no such file" if not path.exists() else "is not a file", str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidValue(option, f"cannot be read ({exc.strerror})", str(path)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidValue(option, f"{path.name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                           "export it again as UTF-8 (REDCap's CSV exports are UTF-8; in a spreadsheet program "
                           "save as 'CSV UTF-8')", show_value=False) from None
    source = SourceFile(path, hashlib.sha256(data).hexdigest())
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        header: list[str] | None = None
        start = 1
        for row in reader:
            if header is None:
                header = [h.strip() for h in row]
            elif any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _Malformed(source, reader.line_num, f"is not a readable CSV file ({exc})") from None
    if not header:
        raise _Malformed(source, 1, "is empty: a header row is expected")
    return header, rows, source


class _Malformed(Exception):
    def __init__(self, source: SourceFile, line: int, problem: str):
        super().__init__(problem)
        self.source, self.line, self.problem = source, line, problem


# --------------------------------------------------------------------------- the mapping file
@dataclass
class Mapping:
    fields: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    sites: dict[str, str] = field(default_factory=dict)


def read_mapping(path: Path | None) -> Mapping:
    """The mapping file (YAML or CSV, see the module docstring); an unreadable one is an invalid argument."""
    if path is None:
        return Mapping()
    path = Path(path)
    if not path.is_file():
        raise InvalidValue("--mapping", "no such file", str(path))
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidValue("--mapping", f"{path.name} is not UTF-8 text", show_value=False) from None
    if path.suffix.lower() == ".csv":
        return _mapping_from_csv(text, path.name)
    import yaml

    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidValue("--mapping", f"{path.name} is not valid YAML ({str(exc).splitlines()[0]})",
                           show_value=False) from None
    if not isinstance(loaded, dict) or set(loaded) - {"fields", "codes", "events", "sites"}:
        raise InvalidValue("--mapping", f"{path.name}: a mapping holds the keys fields, codes, events and sites only",
                           show_value=False)
    out = Mapping()
    for key in ("fields", "events", "sites"):
        part = loaded.get(key) or {}
        if not isinstance(part, dict):
            raise InvalidValue("--mapping", f"{path.name}: '{key}' must map names to names", show_value=False)
        setattr(out, key, {str(k).strip(): str(v).strip() for k, v in part.items()})
    codes = loaded.get("codes") or {}
    if not isinstance(codes, dict) or not all(isinstance(v, dict) for v in codes.values()):
        raise InvalidValue("--mapping", f"{path.name}: 'codes' maps each variable to {{their code: our code}}",
                           show_value=False)
    out.codes = {str(k).strip(): {_code_text(c): str(t).strip() for c, t in v.items()} for k, v in codes.items()}
    return out


def _code_text(code: Any) -> str:
    """A code as REDCap writes it (YAML reads ``1`` as a number, ``yes`` as true)."""
    if isinstance(code, bool):
        return "1" if code else "0"
    return str(code).strip()


def _mapping_from_csv(text: str, name: str) -> Mapping:
    out = Mapping()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if [h.strip() for h in (reader.fieldnames or [])][:3] != ["kind", "source", "target"]:
        raise InvalidValue("--mapping", f"{name}: the header must be kind,source,target,code", show_value=False)
    for row in reader:
        kind, source, target = (row.get("kind") or "").strip(), (row.get("source") or "").strip(), \
            (row.get("target") or "").strip()
        if not kind and not source:
            continue
        if kind == "field":
            out.fields[source] = target or IGNORE
        elif kind == "code":
            out.codes.setdefault(source, {})[(row.get("code") or "").strip()] = target
        elif kind == "event":
            out.events[source] = target
        elif kind == "site":
            out.sites[source] = target
        else:
            raise InvalidValue("--mapping", f"{name} line {reader.line_num}: kind must be field, code, event or site",
                               kind)
    return out


def check_mapping(protocol: Protocol, mapping: Mapping, path: Path | None) -> None:
    """Every ``fields`` and ``events`` entry of the mapping file names something of the protocol: a
    mistyped target is an invalid argument (:class:`InvalidValue`, exit status 2) naming the entry, the
    rule and the nearest name, whether or not the data dictionary has the variable."""
    if path is None:
        return
    wrong = [f"{source}: {target}: {rule}" for source, target in mapping.fields.items()
             if (rule := _field_target_rule(protocol, target))]
    wrong += [f"{source}: {target}: {rule}" for source, target in mapping.events.items()
              if (rule := _event_target_rule(protocol, target))]
    if wrong:
        raise InvalidValue("--mapping", f"in {Path(path).name}, " + "\n  ".join(wrong), show_value=False)


def _nearest(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _field_target_rule(protocol: Protocol, text: str) -> str | None:
    """Why a ``fields`` target names nothing (``None``: it names a field, a pathway variable or ``ignore``)."""
    if _target_of(protocol, text) is not None:
        return None
    text = text.strip()
    if "." not in text:
        return (f"not a form.field, a pathway variable ({', '.join(PATHWAY_VARIABLES)}) nor 'ignore'"
                + _nearest(text, [*PATHWAY_VARIABLES, IGNORE]))
    form_id, field_id = text.split(".", 1)
    if not protocol.has_form(form_id):
        return (f"no form {form_id} in protocol {protocol.identification.acronym} {protocol.version}"
                + _nearest(form_id, [f.id for f in protocol.forms]))
    return f"no field {field_id} on form {form_id}" + _nearest(field_id, [f.id for f in protocol.form(form_id).fields])


def _event_target_rule(protocol: Protocol, text: str) -> str | None:
    """Why an ``events`` target names no visit (``visit`` or ``visit:occurrence``, or ``none``)."""
    text = text.strip()
    if text.lower() in ("none", "", IGNORE):
        return None
    visits = [v.id for v in protocol.visits] + ["unscheduled"]
    visit, _, occurrence = text.partition(":")
    if visit not in visits:
        return "no visit of this name (a visit id[:occurrence], or none)" + _nearest(visit, visits)
    if occurrence and not (occurrence.isdigit() and int(occurrence) >= 1):
        return "the occurrence after ':' is a whole number, 1 or more"
    return None


# --------------------------------------------------------------------------- the dictionary
@dataclass
class Variable:
    name: str
    form: str
    type: str
    choices: dict[str, str]
    row: int
    #: ("field", form id, field id), ("pathway", name), ("ignore",) or None (unknown)
    target: tuple[str, ...] | None = None


def _cell(row: list[str], index: int | None) -> str:
    """A cell of a CSV row, stripped (``""`` beyond the row's end or for a column the file lacks)."""
    return row[index].strip() if index is not None and index < len(row) else ""


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name.lower() in lowered:
            return lowered.index(name.lower())
    return None


def read_dictionary(path: Path, problems: list[Problem]) -> tuple[list[Variable], SourceFile]:
    header, rows, source = read_csv(path, "--dictionary")

    def where(line: int) -> str:
        return f"{source.name}:{line}"

    columns = {key: _column(header, names) for key, names in DICTIONARY_COLUMNS.items()}
    lost = [DICTIONARY_COLUMNS[k][0] for k, v in columns.items() if v is None]
    if lost:
        raise _Malformed(source, 1, "is not a REDCap data dictionary: no column " + ", ".join(f"'{c}'" for c in lost))
    columns.update({key: _column(header, names) for key, names in OPTIONAL_DICTIONARY_COLUMNS.items()})
    out: list[Variable] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        name, form, kind = (_cell(row, columns[k]) for k in ("variable", "form", "type"))
        kind = kind.lower()
        if len(row) != len(header):
            problems.append(Problem(where(line), None, name or None, None,
                                    f"has {len(row)} columns, the header {len(header)}"))
        if not name:
            problems.append(Problem(where(line), None, None, None, "no variable name"))
            continue
        if name in seen:
            problems.append(Problem(where(line), None, name, None, f"variable defined twice (also line {seen[name]})"))
            continue
        seen[name] = line
        choices: dict[str, str] = {}
        if kind in CHOICE_TYPES:
            try:
                choices = redcap.parse_choices(_cell(row, columns["choices"]))
            except ValueError as exc:
                problems.append(Problem(where(line), None, name, _cell(row, columns["choices"])[:60],
                                        f"malformed choices: {exc}"))
        elif kind == "yesno":
            choices = {"1": "Yes", "0": "No"}
        elif kind == "truefalse":
            choices = {"1": "True", "0": "False"}
        out.append(Variable(name, form, kind, choices, line))
    if not out:
        raise _Malformed(source, 1, "defines no variable")
    return out, source


# --------------------------------------------------------------------------- variables -> the protocol
def _protocol_names(protocol: Protocol) -> dict[str, tuple[str, str]]:
    """Each protocol field by its REDCap name: the export's names (``redcap_name``, else the id; the form id
    before it where a protocol without ``redcap_name`` repeats an id), else the names that are unique."""
    try:
        return redcap.fields_of_variables(protocol)
    except InvalidValue:
        pass
    counts: dict[str, int] = {}
    for form in protocol.forms:
        for fld in form.fields:
            name = fld.redcap_name or fld.id
            counts[name] = counts.get(name, 0) + 1
    return {(fld.redcap_name or fld.id): (form.id, fld.id) for form in protocol.forms for fld in form.fields
            if counts[fld.redcap_name or fld.id] == 1}


def resolve_variables(protocol: Protocol, variables: list[Variable], mapping: Mapping, dictionary: SourceFile,
                      problems: list[Problem]) -> None:
    """Give each dictionary variable its target: a protocol field, a pathway variable, or ignored."""
    names = _protocol_names(protocol)
    forms = {f.id for f in protocol.forms}
    for var in variables[1:]:  # the first is the record id
        mapped = mapping.fields.get(var.name)
        if mapped is not None:
            var.target = _target_of(protocol, mapped)
            if var.target is None:
                problems.append(Problem(f"mapping:{var.name}", None, var.name, mapped,
                                        "the mapping names no field of the protocol (form.field), no pathway "
                                        f"variable ({', '.join(PATHWAY_VARIABLES)}) and not 'ignore'"))
            continue
        if var.type == "descriptive" or var.name in DERIVED_VARIABLES:
            var.target = (IGNORE,)
        elif var.name in PATHWAY_VARIABLES:
            var.target = ("pathway", var.name)
        elif var.form in forms and var.name == redcap.occurrence_variable(var.form):
            var.target = (OCCURRENCE, var.form)
        elif var.form in forms and protocol.form(var.form).field(var.name) is not None:
            var.target = ("field", var.form, var.name)
        elif var.name in names:
            var.target = ("field", *names[var.name])
        elif var.type in ("calc",):
            var.target = (IGNORE,)  # REDCap computes it; the services derive their own values
        else:
            problems.append(Problem(f"{dictionary.name}:{var.row}", None, var.name, None,
                                    f"no field of protocol {protocol.identification.acronym} {protocol.version} has "
                                    "this name: map it in --mapping (fields: NAME: form.field, or NAME: ignore)",
                                    whole=False))
    taken: dict[tuple[str, ...], str] = {}
    for var in variables[1:]:
        if var.target is None or var.target[0] in (IGNORE,):
            continue
        if var.target in taken:
            problems.append(Problem(f"{dictionary.name}:{var.row}", None, var.name, None,
                                    f"stands for {'.'.join(var.target[1:])}, as {taken[var.target]} does: map one "
                                    "of them to 'ignore'"))
        taken.setdefault(var.target, var.name)


def _is_ignore(text: str) -> bool:
    return text.strip().lower() in (IGNORE, "none", "")


def _target_of(protocol: Protocol, text: str) -> tuple[str, ...] | None:
    text = text.strip()
    if _is_ignore(text):
        return (IGNORE,)
    if text in PATHWAY_VARIABLES:
        return ("pathway", text)
    if "." in text:
        form_id, field_id = text.split(".", 1)
        if form_id == ENROLMENT_FORM and field_id == "enrolment_date":
            return ("pathway", "enrolment_date")
        if protocol.has_form(form_id) and protocol.form(form_id).field(field_id) is not None:
            return ("field", form_id, field_id)
    return None


# --------------------------------------------------------------------------- events -> visits
def read_events(path: Path | None, problems: list[Problem]) -> tuple[dict[str, list[str]], SourceFile | None]:
    """The events file: each unique event name with its names (``event_name``, ``custom_event_label``)."""
    if path is None:
        return {}, None
    header, rows, source = read_csv(path, "--events")
    unique = _column(header, ("unique_event_name",))
    name = _column(header, ("event_name",))
    label = _column(header, ("custom_event_label",))
    arm = _column(header, ("arm_num",))
    if unique is None and (name is None or arm is None):
        raise _Malformed(source, 1, "is not a REDCap events file: no column 'unique_event_name' (nor event_name "
                                    "and arm_num)")
    out: dict[str, list[str]] = {}
    for line, row in rows:
        def cell(i: int | None, row: list[str] = row) -> str:
            return _cell(row, i)

        key = cell(unique) or redcap.unique_event_name(cell(name), int(cell(arm) or 1) if cell(arm).isdigit() else 1)
        if key in out:
            problems.append(Problem(f"{source.name}:{line}", None, "unique_event_name", key, "event listed twice"))
        out[key] = [n for n in (cell(name), cell(label)) if n]
    return out, source


def event_visit(protocol: Protocol, event: str, names: list[str] | None, mapping: Mapping) -> tuple[bool, str | None]:
    """The visit (``visit[:occurrence]``) an event stands for: (known, visit or ``None`` for "placed by the
    schedule"). ``known`` is false for an event that neither names a visit nor is declared (in the events
    file or the mapping); the export's registration event is known and names no visit."""
    if event in mapping.events:
        target = mapping.events[event]
        return True, None if target.lower() in ("none", "", IGNORE) else target
    visits = {v.id for v in protocol.visits} | {"unscheduled"}
    exported = redcap.visits_of_events(protocol).get(event)
    candidates = [c for c in (exported, *(names or []), _ARM.sub(r"\g<name>", event), event) if c]
    if redcap.REGISTRATION_EVENT in candidates:
        return True, None
    for text in candidates:
        if text in visits:
            return True, text
        match = _OCCURRENCE.match(text)
        if match and match.group("visit") in visits:
            return True, f"{match.group('visit')}:{int(match.group('n'))}"
    return names is not None, None


# --------------------------------------------------------------------------- values
class _Refused(Exception):
    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


_DATE_LAYOUT = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})(?=$|[ T])")


def impossible_date(text: str) -> str | None:
    """Why a value written in the layout ``YYYY-MM-DD`` is no date of the calendar (``None``: it is one, or it
    is not in that layout at all): "2023-02-30 is not a date (February 2023 has 28 days)"."""
    match = _DATE_LAYOUT.match(text.strip())
    if match is None:
        return None
    year, month, day = (int(match.group(k)) for k in ("year", "month", "day"))
    written = match.group(0)
    if year < 1:
        return f"{written} is not a date (there is no year 0000)"
    if not 1 <= month <= 12:
        return f"{written} is not a date (there is no month {match.group('month')}; months are 01 to 12)"
    days = calendar.monthrange(year, month)[1]
    if day == 0:
        return f"{written} is not a date (there is no day 00)"
    if day > days:
        return f"{written} is not a date ({calendar.month_name[month]} {year} has {days} days)"
    return None


def _normal(text: str) -> str:
    return " ".join(text.casefold().replace("_", " ").replace("-", " ").split())


def convert(protocol: Protocol, var: Variable, raw: str, mapping: Mapping) -> tuple[Any, str | None]:
    """One REDCap value in the protocol's terms: (value, None) or (None, missing-data code). Raises
    :class:`_Refused` naming the problem."""
    text = raw.strip()
    if _MOJIBAKE.search(text):
        raise _Refused("looks wrongly encoded (UTF-8 read as another encoding, or an unreadable character): "
                       "export the data again as UTF-8")
    kind = var.target[0]
    if kind == "pathway":
        return _pathway_value(var, text, mapping), None
    _, form_id, field_id = var.target
    fld = protocol.form(form_id).field(field_id)
    if protocol.missing_code(text) is not None:
        return None, text
    if fld.type in ("date", "datetime") and (rule := impossible_date(text)):
        raise _Refused(rule)
    codes = mapping.codes.get(var.name, {})
    if text in codes:
        text = codes[text]
    elif fld.type == "code":
        text = _protocol_code(protocol.codelists[fld.codelist], text, var.choices)
    elif fld.type == "boolean" and var.choices and text in var.choices and text not in ("0", "1"):
        text = var.choices[text]
    try:
        return coerce_value(form_id, fld, text, protocol), None
    except InvalidValue as exc:
        raise _Refused(exc.rule) from None


def _protocol_code(codelist, text: str, choices: dict[str, str]) -> str:
    """Their code as one of the protocol's: the code whose label (or code) is their choice's label, else the
    same code, else the export's raw code of one (``head_neck``). A value that is none of the dictionary's
    choices is refused, as REDCap refuses it (:class:`_Refused`)."""
    if choices and text not in choices:
        raise _Refused(f"unknown code: not one of the dictionary's choices ({', '.join(choices)})")
    label = choices.get(text)
    if label is not None:
        for c in codelist:
            if _normal(label) in (_normal(c.label), _normal(c.code)):
                return c.code
    codes = {c.code for c in codelist}
    if text in codes:
        return text
    exported = {redcap.choice_code(c.code): c.code for c in codelist}
    if text in exported:
        return exported[text]
    if label is None:
        raise _Refused(f"unknown code; allowed: {', '.join(sorted(codes))}")
    raise _Refused(f"unknown code: its label {label!r} is none of the protocol's (map it in --mapping codes)")


def _pathway_value(var: Variable, text: str, mapping: Mapping) -> Any:
    name = var.target[1]
    if name in ("date_of_birth", "enrolment_date"):
        if rule := impossible_date(text):
            raise _Refused(rule)
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise _Refused("must be a date written YYYY-MM-DD") from None
    if name == "sex":
        code = mapping.codes.get(var.name, {}).get(text, text)
        label = var.choices.get(code, code)
        for sex in SEXES:
            if _normal(code) == sex or _normal(label) in (sex, {"female": "f", "male": "m"}.get(sex)):
                return sex
        raise _Refused(f"unknown code for sex; allowed: {', '.join(SEXES)}")
    if name == "site":
        return mapping.sites.get(text, text)
    return text


# --------------------------------------------------------------------------- the records
@dataclass
class _Columns:
    record: int
    event: int | None
    instrument: int | None
    instance: int | None
    dag: int | None
    variables: dict[int, Variable]


def _record_columns(header: list[str], variables: list[Variable], records: SourceFile,
                    problems: list[Problem], mapping: Mapping | None = None) -> tuple[_Columns, dict[int, str]]:
    """The role of each column of the records file; the unknown ones (not in the dictionary) are returned.
    A column the mapping file sets to ``ignore`` (or a checkbox's column whose variable it ignores) is
    skipped, in the dictionary or not."""
    ignored = {k for k, v in (mapping or Mapping()).fields.items() if _is_ignore(v)}
    record_name = variables[0].name
    if record_name not in header:
        raise _Malformed(records, 1, f"has no column '{record_name}', the dictionary's record id (its first variable)")
    by_name = {v.name: v for v in variables}
    checkboxes = {v.name for v in variables if v.type == "checkbox"}
    forms = {v.form for v in variables}
    known: dict[int, Variable] = {}
    unknown: dict[int, str] = {}
    seen: set[str] = set()
    for i, name in enumerate(header):
        if name in seen:
            problems.append(Problem("1", None, name, None, "column given twice"))
            unknown[i] = name
            continue
        seen.add(name)
        if name == record_name or name in SYSTEM_COLUMNS:
            continue
        if name.endswith("_complete") and name[:-len("_complete")] in forms:
            continue  # REDCap's form status
        base = name.split("___", 1)[0]
        if name in ignored or ("___" in name and base in ignored):
            continue
        if name in by_name and by_name[name].type not in NO_DATA_TYPES:
            known[i] = by_name[name]
        elif name in by_name:
            continue
        elif "___" in name and base in checkboxes:
            unknown[i] = name
            problems.append(Problem("1", None, name, None, "a checkbox (several answers): no protocol field takes "
                                                           "several codes; map it to 'ignore' or split it", whole=False))
        else:
            unknown[i] = name
            problems.append(Problem("1", None, name, None, "column not in the data dictionary", whole=False))

    def col(name: str) -> int | None:
        return header.index(name) if name in header else None

    return _Columns(header.index(record_name), col(EVENT_NAME), col(REPEAT_INSTRUMENT), col(REPEAT_INSTANCE),
                    col(DATA_ACCESS_GROUP), known), unknown


def build_plan(protocol: Protocol, dictionary: Path, records: Path, *, events: Path | None = None,
               mapping: Path | None = None) -> ImportPlan:
    """Read the files and check every value: the plan and its validation report.

    Raises :class:`InvalidValue` for an invalid argument (a file missing, unreadable, not UTF-8, an
    unreadable mapping); a malformed file is a problem of the report (``plan.fatal``)."""
    problems: list[Problem] = []
    maps = read_mapping(mapping)
    check_mapping(protocol, maps, mapping)
    try:
        variables, dict_source = read_dictionary(dictionary, problems)
    except _Malformed as exc:
        records_source = read_csv(records, "--records")[2]
        return ImportPlan([], [Problem(f"{exc.source.name}:{exc.line}", None, None, None, exc.problem)],
                          records_source, exc.source, fatal=True)
    try:
        header, rows, records_source = read_csv(records, "--records")
        event_labels, events_source = read_events(events, problems)
    except _Malformed as exc:
        where = str(exc.line) if exc.source.path == Path(records) else f"{exc.source.name}:{exc.line}"
        source = exc.source if exc.source.path == Path(records) else read_csv(records, "--records")[2]
        return ImportPlan([], problems + [Problem(where, None, None, None, exc.problem)], source, dict_source,
                          fatal=True)
    resolve_variables(protocol, variables, maps, dict_source, problems)
    try:
        columns, unknown = _record_columns(header, variables, records_source, problems, maps)
    except _Malformed as exc:
        return ImportPlan([], problems + [Problem(str(exc.line), None, None, None, exc.problem)], records_source,
                          dict_source, events_source, fatal=True)
    plan = ImportPlan([], problems, records_source, dict_source, events_source)
    plan.variables = {".".join(v.target[1:]): v.name for v in variables[1:]
                      if v.target is not None and v.target[0] == "field"}
    if not rows:
        problems.append(Problem("1", None, None, None, f"{records_source.name} holds no record (a header alone)"))
    longitudinal = _longitudinal_without_events(columns, variables, event_labels, events_source, records_source)
    if longitudinal is not None:
        # without its events every row of a record looks like its first: one line, not a flood of duplicates
        problems.append(longitudinal)
        plan.fatal = True
        return plan
    absent = _absent_registration_columns(columns)
    if absent and rows:
        problems.append(_absent_problem(absent, records_source))
    unresolved = {i for i, v in columns.variables.items() if v.target is None}
    _read_rows(protocol, plan, rows, header, columns, unknown, unresolved, maps, event_labels, events is not None,
               absent)
    plan.fatal = any(p.record is None and p.whole for p in problems)
    return plan


def _longitudinal_without_events(columns: _Columns, variables: list[Variable], event_labels: dict[str, list[str]],
                                 events: SourceFile | None, records: SourceFile) -> Problem | None:
    """The records file of a longitudinal project without its ``redcap_event_name`` column: the events file
    lists events, or the dictionary has the export's ``<form>_visit_occurrence`` variables (its longitudinal
    layout). REDCap's raw CSV of a longitudinal project always has the column."""
    if columns.event is not None:
        return None
    if events is not None and event_labels:
        why = f"the events file {events.name} lists {len(event_labels)} events"
    elif any(v.target is not None and v.target[0] == OCCURRENCE for v in variables):
        why = "the dictionary's visit occurrence variables are those of a longitudinal project"
    else:
        return None
    return Problem("1", None, EVENT_NAME, None,
                   f"{records.name} has no column {EVENT_NAME}, but {why}: the project is longitudinal and each row "
                   "needs its event; export the records again (raw CSV, all events)")


def _absent_registration_columns(columns: _Columns) -> list[str]:
    """The variables registering a patient needs (identifiers, sex) that no column of the records holds."""
    present = {v.target[1] for v in columns.variables.values() if v.target is not None and v.target[0] == "pathway"}
    return [name for name in (*IDENTIFIERS, redcap.SEX) if name not in present]


def _absent_problem(absent: list[str], records: SourceFile) -> Problem:
    names = ", ".join(absent)
    if set(absent) & set(IDENTIFIERS):
        rule = (f"{records.name} has no {names} column{'s' if len(absent) > 1 else ''}: registering a patient "
                "needs the name, date of birth, hospital number and sex; a pseudonymised or de-identified export "
                "cannot register patients (export with --identified)")
    else:
        rule = (f"{records.name} has no {names} column: registering a patient needs their sex "
                f"({', '.join(SEXES)}); add the column, or map theirs in --mapping (fields: THEIRS: sex)")
    return Problem("1", None, names, None, rule)


def _read_rows(protocol: Protocol, plan: ImportPlan, rows: list[tuple[int, list[str]]], header: list[str],
               columns: _Columns, unknown: dict[int, str], unresolved: set[int], maps: Mapping,
               event_labels: dict[str, str], have_events: bool, absent: list[str] | None = None) -> None:
    problems = plan.problems
    patients: dict[str, PatientPlan] = {}
    entries: dict[tuple, FormEntry] = {}
    keys: dict[tuple, int] = {}
    repeating = {f.id for f in protocol.forms if f.repeating}
    for line, row in rows:
        def cell(i: int | None, row: list[str] = row) -> str:
            return _cell(row, i)

        record = cell(columns.record)
        if len(row) != len(header):
            problems.append(Problem(str(line), record or None, None, None,
                                    f"has {len(row)} columns, the header {len(header)}", whole=False))
            if not record:
                continue
        if not record:
            problems.append(Problem(str(line), None, header[columns.record], None, "no record id", whole=False))
            continue
        patient = patients.setdefault(record, PatientPlan(record, line))
        event, instrument, instance_text = cell(columns.event), cell(columns.instrument), cell(columns.instance)
        key = (record, event, instrument, instance_text)
        if key in keys:
            problems.append(Problem(str(line), record, None, None, f"duplicate row: the same record, event, "
                                    f"instrument and instance as line {keys[key]}"))
            continue
        keys[key] = line
        instance: int | None = None
        if instance_text:
            if not instance_text.isdigit() or int(instance_text) < 1:
                problems.append(Problem(str(line), record, REPEAT_INSTANCE, instance_text, "must be a whole number, 1 or more"))
                continue
            instance = int(instance_text)
        visit = None
        if event:
            known, visit = event_visit(protocol, event, event_labels.get(event), maps)
            if (have_events and event not in event_labels and event not in maps.events) or not known:
                problems.append(Problem(str(line), record, EVENT_NAME, event,
                                        "unknown event: not in the events file" if have_events else
                                        "unknown event: names no visit of the protocol (give --events, or map it)"))
                continue
        if visit is not None and instance is not None and not instrument and ":" not in visit:
            visit = f"{visit}:{instance}"  # a repeating event: the row is that occurrence of the visit
        dag = cell(columns.dag)
        if dag:
            _set_pathway(patient, "site", maps.sites.get(dag, dag), line, DATA_ACCESS_GROUP, problems)
        for i in unknown:
            if cell(i):
                plan.blocked.add(record)
        occurrences: dict[str, int] = {}
        in_row: dict[str, FormEntry] = {}
        for i, var in columns.variables.items():
            raw = cell(i)
            if not raw:
                continue
            if i in unresolved:
                plan.blocked.add(record)
                continue
            if var.target[0] == IGNORE:
                continue
            if var.target[0] == OCCURRENCE:
                if raw.isdigit() and int(raw) >= 1:
                    occurrences[var.target[1]] = int(raw)
                else:
                    problems.append(Problem(str(line), record, var.name, raw, "a visit occurrence is a whole number, "
                                                                              "1 or more"))
                continue
            try:
                value, code = convert(protocol, var, raw, maps)
            except _Refused as exc:
                problems.append(Problem(str(line), record, var.name, raw, exc.problem))
                if var.target[0] == "pathway":
                    patient.refused.add(var.target[1])
                continue
            if var.target[0] == "pathway":
                _set_pathway(patient, var.target[1], value, line, var.name, problems)
                continue
            _, form_id, field_id = var.target
            if instrument and instrument != var.form and form_id != instrument:
                problems.append(Problem(str(line), record, var.name, raw, f"a value of form '{var.form}' on a row of "
                                        f"the repeating instrument '{instrument}'"))
                continue
            number = instance if (instrument and form_id in repeating) else None
            where = (record, form_id, event, instrument, instance_text)
            entry = entries.get(where)
            if entry is None:
                entry = entries[where] = FormEntry(form_id, visit, number, {}, {}, line, event or None)
                _attach(protocol, patient, entry)
            in_row[form_id] = entry
            if code is not None:
                entry.missing[field_id] = code
            else:
                entry.values[field_id] = value
        for form_id, entry in in_row.items():
            if form_id in occurrences and entry.visit is not None:
                # the export's layout: the instance goes back to its visit occurrence, numbered there in the
                # order of the rows (which follow the instances' order)
                entry.visit = f"{entry.visit.split(':')[0]}:{occurrences[form_id]}"
                entry.instance = None
    plan.patients = list(patients.values())
    for patient in plan.patients:
        _check_patient(protocol, patient, problems, absent or [])


def _set_pathway(patient: PatientPlan, name: str, value: Any, line: int, variable: str,
                 problems: list[Problem]) -> None:
    current = {"sex": patient.sex, "site": patient.site, "enrolment_date": patient.enrolment_date}.get(
        name, patient.identifiers.get(name))
    if current is not None and current != value:
        first = patient.sources[name][0]
        problems.append(Problem(str(line), patient.record, variable, str(value),
                                f"differs from the value on line {first} ({current})"))
        return
    patient.sources.setdefault(name, (line, variable))
    if name in IDENTIFIERS:
        patient.identifiers[name] = value
    else:
        setattr(patient, name, value)


def _attach(protocol: Protocol, patient: PatientPlan, entry: FormEntry) -> None:
    if entry.form_id == "referral":
        patient.referral = entry
    elif entry.form_id == protocol.eligibility.form:
        patient.screenings.append(entry)
    else:
        patient.forms.append(entry)


def _check_patient(protocol: Protocol, patient: PatientPlan, problems: list[Problem], absent: list[str]) -> None:
    """What the services cannot check row by row: registration needs, dates against the date of birth,
    the pathway forms' own limits. A registration variable whose column is absent (one problem of the file
    already) or whose value was refused (named on its row) is not named again as lacking."""
    line = str(patient.first_row)
    lacking = [n for n in IDENTIFIERS if not patient.identifiers.get(n)] + (["sex"] if not patient.sex else [])
    lacking = [n for n in lacking if n not in absent and n not in patient.refused]
    if lacking:
        problems.append(Problem(line, patient.record, ", ".join(lacking), None,
                                "registering a patient needs the name, date of birth, hospital number and sex"))
    if patient.referral is None:
        problems.append(Problem(line, patient.record, "referral", None, "no referral form: registering a patient "
                                "needs its referral (referral_date, anatomic site)"))
    for entry in ([patient.referral] if patient.referral else []) + patient.screenings:
        if entry.missing:
            name = next(iter(entry.missing))
            problems.append(Problem(str(entry.row), patient.record, name, entry.missing[name],
                                    f"a missing-data code is not accepted on the {entry.form_id} form"))
    born = patient.identifiers.get("date_of_birth")
    if isinstance(born, dt.date):
        for entry in _all_entries(patient):
            for name, value in entry.values.items():
                day = value.date() if isinstance(value, dt.datetime) else value
                if isinstance(day, dt.date) and day < born:
                    problems.append(Problem(str(entry.row), patient.record, name, value.isoformat(),
                                            f"is before the date of birth ({born.isoformat()})"))
        if patient.enrolment_date is not None and patient.enrolment_date < born:
            row, variable = patient.sources["enrolment_date"]
            problems.append(Problem(str(row), patient.record, variable, patient.enrolment_date.isoformat(),
                                    f"is before the date of birth ({born.isoformat()})"))


def _all_entries(patient: PatientPlan) -> Iterable[FormEntry]:
    if patient.referral is not None:
        yield patient.referral
    yield from patient.screenings
    yield from patient.forms


# --------------------------------------------------------------------------- the report
REPORT_COLUMNS = ("row", "record", "field", "value", "problem")


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """The report in the files' order: the dictionary's and other files' problems first, then the records'
    by line."""
    def key(p: Problem) -> tuple:
        where, _, line = p.row.rpartition(":")
        return (0 if where else 1, where, int(line) if line.isdigit() else 0)

    return sorted(problems, key=key)


def write_report(problems: list[Problem], path: Path) -> None:
    """The validation report as CSV (row, record, field, value, problem), UTF-8."""
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        for p in problems:
            writer.writerow([p.row, p.record or "", p.field or "", p.value or "", p.problem])


ProgressCallback = Callable[[int, int, str], None]
