"""Finding, reading and validating protocol files.

``load_protocol("sprint")`` reads a protocol shipped with SarcoTrial; ``load_protocol("my.yaml")``
reads a file. Either way the text is checked against the schema and every problem is reported
as ``path: rule`` (``identification.design.target_accrual: Input should be greater than or equal
to 1 (got 0)``), all at once, so a trial team fixes the file in one pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sarcotrial.errors import SarcoTrialError
from sarcotrial.protocol.schema import Protocol


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


def parse_protocol(text: str, source: str = "<text>") -> LoadedProtocol:
    try:
        data = yaml.safe_load(text)
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
        raise ProtocolError(source, format_validation_errors(exc, data)) from None
    return LoadedProtocol(protocol=protocol, text=text, source=source)


def format_validation_errors(exc: ValidationError, data: Any = None) -> list[str]:
    """pydantic's errors as ``path: rule (got value)`` lines a trial team can act on."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = _drop_union_tags(error["loc"])
        path = _format_loc(loc)
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against the protocol-file reference)"
        elif error["type"] == "missing":
            message = "required key is missing"
        if error["type"] not in ("missing", "extra_forbidden", "value_error") and "input" in error:
            given = error["input"]
            if not isinstance(given, (dict, list)):
                message += f" (got {given!r})"
        # a message that already carries its own path (cross-references) stands alone
        if error["type"] == "value_error" and ": " in message and not loc:
            lines.extend(part.strip() for part in message.split("; "))
        elif error["type"] == "value_error" and ": " in message and _looks_like_path(message):
            prefix = f"{path}." if path else ""
            lines.extend(prefix + part.strip() for part in message.split("; "))
        else:
            lines.append(f"{path or '(top level)'}: {message}")
    return _dedupe(lines)


def _looks_like_path(message: str) -> bool:
    head = message.split(": ", 1)[0]
    return all(c.isalnum() or c in "._[]" for c in head) and "." in head or "[" in head


def _drop_union_tags(loc: tuple) -> tuple:
    """pydantic names the union member it tried (``FieldCondition``, ``AllOf``); readers need only the path."""
    return tuple(part for part in loc if not (isinstance(part, str) and part[:1].isupper()))


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _dedupe(lines: list[str]) -> list[str]:
    seen: set[str] = set()
    return [line for line in lines if not (line in seen or seen.add(line))]


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
