"""Histological response of soft tissue sarcoma to neoadjuvant treatment: EORTC-STBSG score.

Standard: Wardelmann E, Haas RL, Bovée JVMG, et al. Evaluation of response after neoadjuvant
treatment in soft tissue sarcomas; the European Organization for Research and Treatment of
Cancer-Soft Tissue and Bone Sarcoma Group (EORTC-STBSG) recommendations for pathological
examination and reporting. Eur J Cancer 2016;53:84-95.

Five tiers by the percentage of stainable (viable) tumour cells in the resected specimen:

==== ==========================================================
Tier Stainable tumour cells
==== ==========================================================
A    no stainable tumour cells (0 %)
B    single stainable tumour cells or small clusters (< 1 %)
C    >= 1 % to < 10 %
D    >= 10 % to < 50 %
E    >= 50 %
==== ==========================================================

(Tier boundaries as applied e.g. in Int J Radiat Oncol Biol Phys 2017;98(2):375-383, PMID
28463157: "no residual viable tumor; < 1 %; >= 1 % to < 10 %; >= 10 % to < 50 %; >= 50 %".)
Necrosis and fibrosis/hyalinisation are reported separately and do not enter the score.

Pathological complete response (pCR) has no single definition across sarcoma trials: <= 5 %
viable cells (e.g. Stergioula A, et al. Cancers 2024;16:3449), >= 95 % necrosis, or strictly
tier A (no stainable tumour cells). The threshold is therefore a protocol parameter, and
:func:`describe_pcr` gives the wording to print in every report that uses it.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Literal

from sarcotrial.errors import InvalidValue

__all__ = [
    "EortcStbsgTier",
    "EORTC_STBSG_TIERS",
    "eortc_stbsg_response",
    "is_pcr",
    "describe_pcr",
]

EortcStbsgTier = Literal["A", "B", "C", "D", "E"]

EORTC_STBSG_TIERS: dict[str, str] = {
    "A": "no stainable tumour cells",
    "B": "single stainable tumour cells or small clusters (< 1 %)",
    "C": ">= 1 % to < 10 % stainable tumour cells",
    "D": ">= 10 % to < 50 % stainable tumour cells",
    "E": ">= 50 % stainable tumour cells",
}
"""Wardelmann et al. 2016 tiers, in order from best to worst response."""


def _percent(field: str, value: object) -> float:
    if not isinstance(value, Real) or isinstance(value, bool):
        raise InvalidValue(field, "must be a percentage from 0 to 100", value)
    number = float(value)
    if math.isnan(number) or number < 0 or number > 100:
        raise InvalidValue(field, "must be from 0 to 100 %", value)
    return number


def eortc_stbsg_response(viable_percent: float) -> EortcStbsgTier:
    """EORTC-STBSG response tier from the percentage of stainable (viable) tumour cells."""
    value = _percent("viable_percent", viable_percent)
    if value == 0:
        return "A"
    if value < 1:
        return "B"
    if value < 10:
        return "C"
    if value < 50:
        return "D"
    return "E"


def is_pcr(viable_percent: float, max_viable_percent: float) -> bool:
    """pCR under the protocol's definition: viable tumour cells <= ``max_viable_percent``."""
    value = _percent("viable_percent", viable_percent)
    threshold = _percent("max_viable_percent", max_viable_percent)
    return value <= threshold


def _format_percent(value: float) -> str:
    return f"{value:g}"


def describe_pcr(max_viable_percent: float) -> str:
    """The pCR definition in words, to print in every report that counts pCR."""
    threshold = _percent("max_viable_percent", max_viable_percent)
    if threshold == 0:
        return ("pCR: no stainable (viable) tumour cells in the resected specimen "
                "(EORTC-STBSG response score A)")
    return (f"pCR: at most {_format_percent(threshold)} % stainable (viable) tumour cells "
            "in the resected specimen")
