"""FNCLCC histological grade of soft tissue sarcoma.

Standard: the French Federation of Cancer Centers Sarcoma Group (Fédération Nationale des Centres de
Lutte Contre le Cancer, FNCLCC) grading system.

- Trojani M, Contesso G, Coindre JM, et al. Soft-tissue sarcomas of adults; study of pathological
  prognostic variables and definition of a histopathological grading system. Int J Cancer
  1984;33(1):37-42.
- Guillou L, Coindre JM, Bonichon F, et al. Comparative study of the National Cancer Institute and
  French Federation of Cancer Centers Sarcoma Group grading systems in a population of 410 adult
  patients with soft tissue sarcoma. J Clin Oncol 1997;15(1):350-362.
- Coindre JM. Grading of soft tissue sarcomas: review and update. Arch Pathol Lab Med
  2006;130(10):1448-1453.
- As adopted by the AJCC Cancer Staging Manual, 8th ed. (2017), "Introduction to soft tissue
  sarcoma" (Pollock & Maki) and the site chapters' "Histologic grade (G)" table.

The three components and the grade (AJCC 8 tables "Determinants of FNCLCC histological grade" and
"Definition of FNCLCC histological grade"):

- tumour differentiation: score 1, 2 or 3 (set by histotype; see the AJCC 8 list);
- mitotic count per 10 high-power fields (1 HPF = 0.1734 mm2): 0-9 -> 1, 10-19 -> 2, >= 20 -> 3;
- tumour necrosis (microscopic, percent of tumour): none -> 0, < 50 % -> 1, >= 50 % -> 2;
- grade from the total: 2-3 -> G1, 4-5 -> G2, 6-8 -> G3; GX when the grade cannot be assessed.

Grading after neoadjuvant treatment is not valid (treatment alters mitoses and necrosis): the grade
comes from the pre-treatment biopsy. This module does not know when a specimen was taken; callers
must pass the pre-treatment values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Literal

from sarcotrial.errors import InvalidValue

__all__ = [
    "DifferentiationScore",
    "MitoticScore",
    "NecrosisScore",
    "FnclccGradeValue",
    "FnclccGrade",
    "mitotic_score",
    "necrosis_score",
    "grade_from_total_score",
    "fnclcc_grade",
]

DifferentiationScore = Literal[1, 2, 3]
MitoticScore = Literal[1, 2, 3]
NecrosisScore = Literal[0, 1, 2]
FnclccGradeValue = Literal[1, 2, 3, "X"]
"""G1, G2, G3, or "X" (GX: grade cannot be assessed)."""


@dataclass(frozen=True)
class FnclccGrade:
    """The FNCLCC grade with its components; a component is None where it was not assessable."""

    differentiation_score: int | None
    mitotic_score: int | None
    necrosis_score: int | None
    score: int | None
    grade: FnclccGradeValue

    def as_dict(self) -> dict[str, int | str | None]:
        return asdict(self)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def mitotic_score(mitoses_per_10hpf: int) -> int:
    """FNCLCC mitotic count score: 0-9 mitoses per 10 HPF -> 1, 10-19 -> 2, >= 20 -> 3.

    A mitotic count is a whole number: a float (even 5.0), a bool or a negative number is refused.
    """
    if not _is_int(mitoses_per_10hpf):
        raise InvalidValue("mitoses_per_10hpf", "must be a whole number of mitoses per 10 HPF",
                           mitoses_per_10hpf)
    if mitoses_per_10hpf < 0:
        raise InvalidValue("mitoses_per_10hpf", "cannot be negative", mitoses_per_10hpf)
    if mitoses_per_10hpf <= 9:
        return 1
    if mitoses_per_10hpf <= 19:
        return 2
    return 3


def necrosis_score(necrosis_percent: float) -> int:
    """FNCLCC tumour necrosis score: no necrosis (0 %) -> 0, > 0 and < 50 % -> 1, >= 50 % -> 2."""
    if not isinstance(necrosis_percent, Real) or isinstance(necrosis_percent, bool):
        raise InvalidValue("necrosis_percent", "must be a number from 0 to 100", necrosis_percent)
    value = float(necrosis_percent)
    if math.isnan(value) or value < 0 or value > 100:
        raise InvalidValue("necrosis_percent", "must be from 0 to 100 %", necrosis_percent)
    if value == 0:
        return 0
    if value < 50:
        return 1
    return 2


def _differentiation(differentiation: int) -> int:
    if not _is_int(differentiation) or differentiation not in (1, 2, 3):
        raise InvalidValue("differentiation", "FNCLCC differentiation score must be 1, 2 or 3",
                           differentiation)
    return differentiation


def grade_from_total_score(score: int) -> Literal[1, 2, 3]:
    """FNCLCC grade from the total score: 2-3 -> 1, 4-5 -> 2, 6-8 -> 3."""
    if not _is_int(score) or not 2 <= score <= 8:
        raise InvalidValue("score", "FNCLCC total score must be a whole number from 2 to 8", score)
    if score <= 3:
        return 1
    if score <= 5:
        return 2
    return 3


def fnclcc_grade(
    differentiation: int | None,
    mitoses_per_10hpf: int | None,
    necrosis_percent: float | None,
) -> FnclccGrade:
    """The FNCLCC grade of a pre-treatment specimen.

    Pass None for a component that cannot be assessed: its score is then None, the total is None
    and the grade is "X" (GX). Components that are given are still validated and scored.
    """
    d = None if differentiation is None else _differentiation(differentiation)
    m = None if mitoses_per_10hpf is None else mitotic_score(mitoses_per_10hpf)
    n = None if necrosis_percent is None else necrosis_score(necrosis_percent)
    if d is None or m is None or n is None:
        return FnclccGrade(d, m, n, None, "X")
    total = d + m + n
    return FnclccGrade(d, m, n, total, grade_from_total_score(total))
