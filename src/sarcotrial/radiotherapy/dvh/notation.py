"""The notation of DVH metrics and derived structures, in one place for the protocol and plan QA.

Metrics (as in ICRU Report 83, 2010, section 3.2, and QUANTEC, Bentzen et al., IJROBP 2010)::

    V20Gy   V95%     volume receiving at least 20 Gy / 95 % of the structure's prescription
    D95%    D0.03cc  minimum dose to the hottest 95 % of the volume / hottest 0.03 cm3
    Dmean   Dmax     Dmin

A derived structure's expression (``A minus B`` ...) is described in :mod:`.derived`; here only
its first operand is read, the structure whose prescription a relative metric refers to.

Plain Python (no numpy): the protocol schema imports it. :class:`InvalidValue` is a ValueError, so
the parser serves as a validator too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sarcotrial.errors import InvalidValue

_NUMBER = r"\d+(?:\.\d+)?"
_GRAMMAR = rf"V(?P<level>{_NUMBER})(?P<level_unit>%|Gy)|D(?P<volume>{_NUMBER})(?P<volume_unit>%|cc)|D(?P<stat>mean|max|min)"
_METRIC = re.compile(_GRAMMAR)
#: the same grammar as a whole-string pattern, for a schema's field (pydantic's regex engine reads it too)
METRIC_PATTERN = rf"^(?:{_GRAMMAR})$"
METRIC_FORMS = "V<dose>Gy, V<percent>%, D<percent>%, D<volume>cc, Dmean, Dmax or Dmin"
_OPERATOR = re.compile(r"\s+(?:minus|outside|union|intersection)\s+", re.I)


@dataclass(frozen=True)
class Metric:
    """A parsed metric. ``quantity``: "volume" (V..: volume at a dose), "dose" (D..%/cc: dose at a volume),
    or "mean", "max", "min"; ``amount`` and ``unit`` ("Gy" or "%" for a volume's dose level, "%" or
    "cc" for a dose's volume) for the first two."""

    text: str
    quantity: str
    amount: float | None = None
    unit: str | None = None

    @property
    def relative_dose(self) -> bool:
        """A dose level in % of the prescription (V95%)."""
        return self.quantity == "volume" and self.unit == "%"


def parse_metric(text: str) -> Metric:
    """The metric written ``text`` (e.g. "D95%"); :class:`InvalidValue` (a ValueError) naming the forms
    accepted otherwise."""
    m = _METRIC.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise InvalidValue("metric", f"expected {METRIC_FORMS}", text)
    if m["stat"]:
        return Metric(text.strip(), m["stat"])
    if m["level"]:
        return Metric(text.strip(), "volume", float(m["level"]), m["level_unit"])
    return Metric(text.strip(), "dose", float(m["volume"]), m["volume_unit"])


def is_metric(text: str) -> bool:
    try:
        parse_metric(text)
    except ValueError:
        return False
    return True


def first_operand(expression: str) -> str:
    """The structure a derived expression starts from ("PTV1 outside PTV2" -> "PTV1"); a name is itself."""
    return _OPERATOR.split(expression, maxsplit=1)[0].strip()
