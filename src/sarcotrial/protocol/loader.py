"""Finding, reading and validating protocol files.

``load_protocol("sprint")`` reads a protocol shipped with SarcoTrial; ``load_protocol("my.yaml")``
reads a file. Either way the text is checked against the schema and every problem is reported
as ``path: rule`` (``identification.design.target_accrual: must be at least 1 (got 0)``,
``forms.pathology.fields.margin.codelist: unknown codelist 'margins'``), all at once, so a trial
team fixes the file in one pass.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import types
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, Tag, TypeAdapter, ValidationError

from sarcotrial.errors import SarcoTrialError
from sarcotrial.protocol.references import Unparsed, cross_reference_problems
from sarcotrial.protocol.schema import (Anchor, CheckedEntry, Criterion, Eligibility, Partial, PartialList, Problems,
                                        Protocol)
from sarcotrial.validation_messages import IDENTIFIER_WORDS, FileTerms, dedupe, join_path, line


class ProtocolError(SarcoTrialError):
    """A protocol that cannot be found, parsed or validated; ``problems`` lists each ``path: rule``."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"protocol {source}: {problems[0]}")
        else:
            listed = "\n".join(f"  - {p}" for p in problems)
            super().__init__(f"protocol {source} is not valid ({len(problems)} problems):\n{listed}")


@dataclass(frozen=True)
class LoadedProtocol:
    """A validated protocol with the exact text it was read from (kept with the study database)."""

    protocol: Protocol
    text: str
    source: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def shipped_protocols() -> list[str]:
    """Names of the protocols that ship with SarcoTrial (``sprint``, ...)."""
    folder = resources.files("sarcotrial.protocol") / "protocols"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_protocol(ref: str | Path) -> LoadedProtocol:
    """Read and validate a protocol given by shipped name or by file path."""
    text, source = _read_text(ref)
    return parse_protocol(text, source)


def load_protocol(ref: str | Path) -> Protocol:
    """The validated :class:`Protocol` for a shipped name or a file path."""
    return read_protocol(ref).protocol


#: PyYAML's safe loader, in its C version where the wheel has it (the same data, seven times faster on SPRINT)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_protocol(text: str, source: str = "<text>") -> LoadedProtocol:
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProtocolError(source, [f"{where}not valid YAML ({problem})"]) from None
    if not isinstance(data, dict):
        raise ProtocolError(source, ["the file must hold a mapping of protocol sections (identification, eligibility, ...)"])
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(source, protocol_problems(exc, data)) from None
    return LoadedProtocol(protocol=protocol, text=text, source=source)


def protocol_problems(exc: ValidationError, data: dict) -> list[str]:
    """Every problem of a protocol file: the schema's, each entry's checks across its own fields on what
    parsed of it, and the cross-references among the parts that parsed (the model runs an entry's
    checks only once all of its fields are valid, and the cross-references once every section is)."""
    lines = format_validation_errors(exc, data)
    # an unknown key leaves its entry unparsed: validate the file without the unknown keys too, so that
    # the cross-references among the entries are checked (and a file whose only fault is such a key
    # gets every other problem named in the same run)
    cleaned = _without(data, [e["loc"] for e in exc.errors(include_url=False) if e["type"] == "extra_forbidden"])
    if cleaned is not data:
        try:
            Protocol.model_validate(cleaned)
            return dedupe(lines)
        except ValidationError as again:
            exc, data = again, cleaned
            lines += format_validation_errors(again, cleaned)
    lines += [line(path, rule) for path, rule in entry_problems(data)]
    if not any(error["loc"] == () for error in exc.errors(include_url=False)):
        parts, unparsed = parsed_parts(data)
        lines += [line(path, rule) for path, rule in cross_reference_problems(parts, unparsed)]
    return dedupe(lines)


def _without(data: dict, locations: list[tuple]) -> dict:
    """A copy of the file's data without the keys at ``locations`` (``data`` itself if there are none)."""
    if not locations:
        return data
    cleaned = copy.deepcopy(data)
    for loc in locations:
        parent = cleaned
        for part in loc[:-1]:
            if isinstance(parent, dict) and part in parent:
                parent = parent[part]
            elif isinstance(parent, list) and isinstance(part, int) and 0 <= part < len(parent):
                parent = parent[part]
            elif part in _KIND_TAGS:
                continue
            else:
                parent = None
                break
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)
    return cleaned


def parsed_parts(data: dict) -> tuple[SimpleNamespace, Unparsed]:
    """Each section of a protocol that parses on its own (``None`` where it does not); in the lists
    (forms, visits, endpoints, checks, criteria, code lists) each entry that parses, ``None`` for the
    others, whose ids are kept in ``Unparsed`` so that references to them are not called unknown."""
    parts: dict[str, Any] = {}
    unparsed = Unparsed()
    for name, info in Protocol.model_fields.items():
        if name not in data:
            if info.is_required():
                unparsed.sections.add(name)
            parts[name] = None if info.is_required() else info.get_default(call_default_factory=True)
            continue
        raw = data[name]
        try:
            parts[name] = _adapter(info.annotation).validate_python(raw)
            continue
        except ValidationError:
            pass
        if name in _LISTS and isinstance(raw, list):
            item = _adapter(get_args(info.annotation)[0])
            parts[name] = [_parsed(item, entry) for entry in raw]
            unparsed.partial.add(name)
            failed = [entry for entry, got in zip(raw, parts[name]) if got is None]
            unparsed.failed_ids[name] = [e["id"] for e in failed if isinstance(e, dict) and isinstance(e.get("id"), str)]
            unparsed.ids[name] = set(unparsed.failed_ids[name])
            if any(not (isinstance(e, dict) and isinstance(e.get("id"), str)) for e in failed):
                unparsed.anonymous.add(name)
        elif name == "codelists" and isinstance(raw, dict):
            codes = _adapter(get_args(info.annotation)[1])
            parts[name] = {key: _parsed(codes, value) for key, value in raw.items() if isinstance(key, str)}
            unparsed.ids[name] = {key for key, value in parts[name].items() if value is None}
            unparsed.partial.add(name)
        elif name == "eligibility" and isinstance(raw, dict):
            criteria = raw.get("criteria") if isinstance(raw.get("criteria"), list) else []
            form = raw.get("form") if isinstance(raw.get("form"), str) else None
            parts[name] = Eligibility.model_construct(form=form, criteria=[_parsed(_adapter(Criterion), c) for c in criteria])
            unparsed.partial.add(name)
        else:
            parts[name] = None
            unparsed.sections.add(name)
    return SimpleNamespace(**parts), unparsed


_LISTS = ("forms", "visits", "endpoints", "checks", "missing_codes")


def entry_problems(data: dict) -> list[tuple[str, str]]:
    """The checks of each entry across its own fields (``CheckedEntry.entry_problems``: a dose that adds up,
    bounds in order, an operator given the value it needs), run on what parsed of every entry that did
    not validate, so that they name their problems beside the file's other problems. An entry that
    validated has had its checks run by the schema; a field that did not parse is not judged."""
    out: list[tuple[str, str]] = []
    _walk_entry(Protocol, data, (), data, out)
    return out


_FAILED = object()


def _walk_entry(model: type[BaseModel], raw: Any, loc: tuple, data: dict, out: list) -> Any:
    """What parsed of one entry, as a ``Partial``, after running its checks (and those of the entries
    within it) on it; ``_FAILED`` where it is not a mapping."""
    if not isinstance(raw, dict):
        return _FAILED
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in raw:
            if not info.is_required():
                values[name] = info.get_default(call_default_factory=True)
            continue
        value = _walk(_field_annotation(model, name), raw[key], loc + (key,), data, out)
        if value is not _FAILED:
            values[name] = value
    entry = Partial(**values)
    if issubclass(model, CheckedEntry):
        out.extend((join_path(PROTOCOL_FILE.path(loc, data), rel), rule) for rel, rule in model.entry_problems(entry))
    return entry


def _walk(annotation: Any, raw: Any, loc: tuple, data: dict, out: list) -> Any:
    """A value as its annotation parses it; where it does not, what parsed of the entries within it."""
    try:
        return _adapter_of(annotation).validate_python(raw)
    except ValidationError:
        pass
    metadata: tuple = ()
    if get_origin(annotation) is Annotated:
        annotation, metadata = get_args(annotation)[0], annotation.__metadata__
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _walk_entry(annotation, raw, loc, data, out)
    if origin is list and isinstance(raw, list) and _holds_entries(get_args(annotation)[0]):
        entries = [_walk(get_args(annotation)[0], entry, loc + (i,), data, out) for i, entry in enumerate(raw)]
        if not any(isinstance(e, Partial) or e is _FAILED for e in entries):
            return _FAILED  # every entry valid: the list itself is not (too short)
        return PartialList(None if e is _FAILED else e for e in entries)
    if origin in (Union, types.UnionType):
        member = _member(annotation, metadata, raw)
        return _FAILED if member is None else _walk_entry(member, raw, loc, data, out)
    return _FAILED


def _holds_entries(annotation: Any) -> bool:
    """Whether values of the annotation are entries (a model, or a choice among models)."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_holds_entries(member) for member in get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _member(union: Any, metadata: tuple, raw: Any) -> type[BaseModel] | None:
    """The model among a union's members that a value is meant to be: the one its discriminator names,
    or the only model (``Repeat | None``)."""
    models: dict[str | None, type[BaseModel]] = {}
    for member in get_args(union):
        tag = None
        if get_origin(member) is Annotated:
            tag = next((m.tag for m in member.__metadata__ if isinstance(m, Tag)), None)
            member = get_args(member)[0]
        if isinstance(member, type) and issubclass(member, BaseModel):
            models[tag] = member
    discriminator = next((m for m in metadata if isinstance(m, Discriminator)), None)
    if discriminator is not None and callable(discriminator.discriminator):
        return models.get(discriminator.discriminator(raw))
    return next(iter(models.values())) if len(models) == 1 else None


@functools.cache
def _field_annotation(model: type[BaseModel], name: str) -> Any:
    """A field's type with its constraints (``Field(gt=0)``), as one annotation."""
    info = model.model_fields[name]
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


_ADAPTERS: dict[int, tuple[Any, TypeAdapter]] = {}


def _adapter_of(annotation: Any) -> TypeAdapter:
    """A validator for an annotation (kept with the annotation, which need not be hashable)."""
    if id(annotation) not in _ADAPTERS:
        _ADAPTERS[id(annotation)] = (annotation, TypeAdapter(annotation))
    return _ADAPTERS[id(annotation)][1]


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation)


def _parsed(adapter: TypeAdapter, value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


#: the names the schema gives the kinds of a rule and of a visit anchor, which are not written in a file
_KIND_TAGS = frozenset({"FieldCondition", "AllOf", "AnyOf", "NotOf", "Anchor", "AnchorRef", "PrimaryAnalysis",
                        "ComparisonAnalysis"})

#: how a protocol file's problems are worded (:mod:`sarcotrial.validation_messages`)
PROTOCOL_FILE = FileTerms(
    reference="the protocol-file reference",
    patterns={**IDENTIFIER_WORDS,
              r"^[A-Z][A-Z0-9]{1,7}$": "must be 2 to 8 capital letters or digits, beginning with a letter"},
    key_patterns={"metric": "must be a DVH metric: V<dose>Gy, V<percent>%, D<percent>%, D<volume>cc, Dmean, Dmax "
                            "or Dmin"},
    error_types={"rule_kind": "a rule is a mapping: {field, op, value}, or all / any / not of rules",
                 "anchor_kind": f"an anchor is one of {', '.join(get_args(Anchor))}, or a mapping {{form, field}}"},
    schema_names=_KIND_TAGS,
    entries_by_id=True,
    problems_type=Problems,
)


def format_validation_errors(exc: ValidationError, data: Any = None) -> list[str]:
    """pydantic's errors as ``path: rule (got value)`` lines in the protocol's terms: the path as the
    file is written (a list entry by its id where it has one: ``forms.pathology.fields.margin``), the
    rule as the protocol-file reference states it, no names of the validation library's internals."""
    return dedupe(line(path, rule) for path, rule in PROTOCOL_FILE.problems(exc, data))


def _read_text(ref: str | Path) -> tuple[str, str]:
    ref_str = str(ref)
    path = Path(ref_str).expanduser()
    if path.suffix.lower() in (".yaml", ".yml") or path.exists() or "/" in ref_str or "\\" in ref_str:
        if not path.exists():
            raise ProtocolError(ref_str, [f"no such file: {path}"])
        if path.is_dir():
            raise ProtocolError(ref_str, [f"{path} is a folder, not a protocol file"])
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ProtocolError(ref_str, [f"cannot read {path}: {exc}"]) from None
    name = ref_str.lower()
    if name not in shipped_protocols():
        known = ", ".join(shipped_protocols())
        raise ProtocolError(ref_str, [f"no shipped protocol named '{ref_str}' and no such file (shipped: {known})"])
    text = (resources.files("sarcotrial.protocol") / "protocols" / f"{name}.yaml").read_text(encoding="utf-8")
    return text, f"{name} (shipped)"
