"""Installation settings: their defaults and the rule each value must meet.

Settings belong to the installation (how long a lock-out lasts, the upload limit), not to the
protocol: they are kept in the study database's ``setting`` table, changed by an admin with
``sarcotrial settings set`` and audited like study data. A key never set has its default.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from sarcotrial.errors import InvalidValue


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    rule: str
    description: str
    parse: Callable[[str], Any]  # text -> typed value; raises ValueError with no message needed

    def text(self, value: Any) -> str:
        """The stored text of a typed value."""
        if isinstance(value, tuple):
            return ",".join(value)
        return str(value)


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if not low <= value <= high:
            raise ValueError
        return value

    return parse


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _name_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(","))
    if not names or any(not _NAME.match(name) for name in names) or len(set(names)) != len(names):
        raise ValueError
    return names


SETTINGS: dict[str, SettingSpec] = {spec.key: spec for spec in (
    SettingSpec("lockout_threshold", 5, "a whole number from 1 to 20",
                "consecutive failed sign-ins that lock an account", _int_between(1, 20)),
    SettingSpec("lockout_minutes", 15, "a whole number of minutes from 1 to 1440",
                "how long a lock-out lasts", _int_between(1, 1440)),
    SettingSpec("idle_signout_minutes", 30, "a whole number of minutes from 1 to 1440",
                "the web application signs out a session idle this long", _int_between(1, 1440)),
    SettingSpec("upload_limit_mb", 500, "a whole number of megabytes from 1 to 10000",
                "the largest file the web application accepts", _int_between(1, 10000)),
    SettingSpec("tumour_board_quorum",
                ("surgeon", "radiation_oncologist", "medical_oncologist", "pathologist", "radiologist"),
                "a comma-separated list of distinct specialty names (lower case, letters, digits, _)",
                "the specialties a tumour board needs present to decide", _name_list),
)}


def parse_setting(key: str, text: str) -> Any:
    """The typed value of ``text`` for ``key``, or the one-line refusal naming the key and its rule."""
    spec = SETTINGS.get(key)
    if spec is None:
        raise InvalidValue("setting", f"unknown key; the keys are {', '.join(SETTINGS)}", key)
    try:
        return spec.parse(str(text))
    except ValueError:
        raise InvalidValue(key, f"must be {spec.rule}", text) from None
