"""AJCC TNM classification and stage groups of soft tissue sarcoma, 8th edition.

Standard: Amin MB, Edge SB, Greene FL, et al., eds. AJCC Cancer Staging Manual, 8th ed. New York:
Springer; 2017. Soft tissue sarcoma chapters:

- ch. 40 O'Sullivan B, Maki RG, Agulnik M, et al. Soft tissue sarcoma of the head and neck,
  pp. 499-505;
- ch. 41 Yoon SS, Maki RG, Asare EA, et al. Soft tissue sarcoma of the trunk and extremities,
  pp. 507-515;
- ch. 42 Raut CP, Maki RG, Baldini EH, et al. Soft tissue sarcoma of the abdomen and thoracic
  visceral organs, pp. 517-521;
- ch. 44 Pollock RE, Maki RG, Baldini EH, et al. Soft tissue sarcoma of the retroperitoneum,
  pp. 531-537.

The same tables are reproduced in the NCI PDQ "Soft Tissue Sarcoma Treatment - Health Professional
Version", Tables 1 (T), 2 (N), 3 (M), 6 (G) and 7 (stage groups).

Primary tumour (T):

- trunk and extremities, retroperitoneum: TX; T0 no evidence of primary tumour; T1 <= 5 cm;
  T2 > 5 to <= 10 cm; T3 > 10 to <= 15 cm; T4 > 15 cm (greatest dimension);
- head and neck: TX; T1 <= 2 cm; T2 > 2 to <= 4 cm; T3 > 4 cm; T4 tumour with invasion of
  adjoining structures: T4a orbital invasion, skull base/dural invasion, invasion of central
  compartment viscera, involvement of facial skeleton, or invasion of pterygoid muscles; T4b brain
  parenchymal invasion, carotid artery encasement, prevertebral muscle invasion, or central
  nervous system involvement via perineural spread. T4/T4a/T4b depend on invasion, not on size,
  so they are given explicitly;
- abdomen and thoracic visceral organs: T by extent, never by size: TX; T1 organ confined;
  T2 tumour extension into tissue beyond organ (T2a invades serosa or visceral peritoneum;
  T2b extension beyond serosa (mesentery)); T3 invades another organ; T4 multifocal involvement
  (T4a 2 sites; T4b 3-5 sites; T4c > 5 sites). The T category must be given explicitly.

Regional nodes (N): N0 no regional lymph node metastasis *or unknown lymph node status*; N1 regional
lymph node metastasis. There is no NX in these chapters (UICC TNM 8 likewise: "cases in which nodal
status is not assessed ... could be considered N0 instead of NX"). Decision: "NX" is accepted as an
input and recorded as N0, and the result carries a note saying so.

Distant metastasis (M): M0, M1 only. "MX" is refused.

Grade (G): FNCLCC G1, G2, G3, GX (see :mod:`sarcotrial.domain.grading`).

Prognostic stage groups (trunk/extremities, AJCC 8 ch. 41; retroperitoneum, ch. 44):

====== ========== ==== ==== ========
Stage  T          N    M    G
====== ========== ==== ==== ========
IA     T1         N0   M0   G1, GX
IB     T2, T3, T4 N0   M0   G1, GX
II     T1         N0   M0   G2, G3
IIIA   T2         N0   M0   G2, G3
IIIB   T3, T4     N0   M0   G2, G3
IV     any T      N1   M0   any G    (trunk/extremities; IIIB for retroperitoneum)
IV     any T      any N M1  any G
====== ========== ==== ==== ========

Head and neck and visceral sarcomas have no stage groups in AJCC 8: ``stage`` is None.
With TX or T0 and N0 M0 no group applies either, so ``stage`` is None.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from numbers import Real
from typing import Literal, get_args

from sarcotrial.errors import InvalidValue

__all__ = [
    "AnatomicSite",
    "ANATOMIC_SITES",
    "TCategory",
    "NCategory",
    "MCategory",
    "Grade",
    "StageGroup",
    "ALLOWED_T",
    "INVASION_T",
    "Ajcc8Stage",
    "ajcc8_t",
    "ajcc8_stage",
]

AnatomicSite = Literal["extremity", "trunk", "retroperitoneum", "head-neck", "visceral"]
ANATOMIC_SITES: tuple[str, ...] = get_args(AnatomicSite)

TCategory = Literal["TX", "T0", "T1", "T2", "T2a", "T2b", "T3", "T4", "T4a", "T4b", "T4c"]
NCategory = Literal["N0", "N1"]
MCategory = Literal["M0", "M1"]
Grade = Literal[1, 2, 3, "X"]
StageGroup = Literal["IA", "IB", "II", "IIIA", "IIIB", "IV"]

_SIZE_T = ("TX", "T0", "T1", "T2", "T3", "T4")
ALLOWED_T: dict[str, tuple[str, ...]] = {
    "extremity": _SIZE_T,
    "trunk": _SIZE_T,
    "retroperitoneum": _SIZE_T,
    "head-neck": ("TX", "T1", "T2", "T3", "T4", "T4a", "T4b"),
    "visceral": ("TX", "T1", "T2", "T2a", "T2b", "T3", "T4", "T4a", "T4b", "T4c"),
}
"""T categories each site's AJCC 8 chapter defines."""

INVASION_T: dict[str, tuple[str, ...]] = {
    "extremity": (),
    "trunk": (),
    "retroperitoneum": (),
    "head-neck": ("T4", "T4a", "T4b"),
    "visceral": (),
}
"""Categories of a size-based site that are set by invasion, so may be given whatever the size."""

# Upper bounds (inclusive) of T1, T2, T3 in cm; above the last bound is the next category.
_SIZE_BOUNDS: dict[str, tuple[tuple[float, str], ...]] = {
    "extremity": ((5.0, "T1"), (10.0, "T2"), (15.0, "T3")),
    "trunk": ((5.0, "T1"), (10.0, "T2"), (15.0, "T3")),
    "retroperitoneum": ((5.0, "T1"), (10.0, "T2"), (15.0, "T3")),
    "head-neck": ((2.0, "T1"), (4.0, "T2")),
}
_SIZE_TOP = {"extremity": "T4", "trunk": "T4", "retroperitoneum": "T4", "head-neck": "T3"}

_GROUPED_SITES = ("extremity", "trunk", "retroperitoneum")

NX_NOTE = "NX given: recorded as N0 (AJCC 8: N0 includes unknown lymph node status)"


@dataclass(frozen=True)
class Ajcc8Stage:
    """T, N, M, grade and AJCC 8 prognostic stage group (None where AJCC 8 defines none)."""

    site: AnatomicSite
    t: str
    n: NCategory
    m: MCategory
    grade: Grade
    stage: StageGroup | None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "site": self.site,
            "t": self.t,
            "n": self.n,
            "m": self.m,
            "grade": self.grade,
            "stage": self.stage,
            "notes": list(self.notes),
        }


def _site(site: object) -> str:
    if site not in ANATOMIC_SITES:
        raise InvalidValue("site", "must be one of " + ", ".join(ANATOMIC_SITES), site)
    return site  # type: ignore[return-value]


def _size(size_cm: object) -> float | None:
    if size_cm is None:
        return None
    if not isinstance(size_cm, Real) or isinstance(size_cm, bool):
        raise InvalidValue("size_cm", "must be a number of centimetres", size_cm)
    value = float(size_cm)
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise InvalidValue("size_cm", "must be greater than 0 cm", size_cm)
    return value


_T_PATTERN = re.compile(r"^T([0-4])([ABC]?)$")


def _normalise_t(t: object) -> str:
    if not isinstance(t, str):
        raise InvalidValue("t", "must be a T category such as 'T2' or 'T4a'", t)
    text = t.strip().upper()
    if text == "TX":
        return "TX"
    match = _T_PATTERN.match(text)
    if not match:
        raise InvalidValue("t", "must be a T category such as 'T2' or 'T4a'", t)
    return f"T{match.group(1)}{match.group(2).lower()}"


def _t_from_size(site: str, size: float) -> str:
    for bound, category in _SIZE_BOUNDS[site]:
        if size <= bound:
            return category
    return _SIZE_TOP[site]


def ajcc8_t(site: AnatomicSite, size_cm: float | None, t: str | None = None) -> str:
    """AJCC 8 T category for a soft tissue sarcoma at ``site``.

    Size-based sites (extremity, trunk, retroperitoneum, head-neck): T comes from the greatest
    dimension in cm (boundaries inclusive upward: 5.0 cm is T1, 5.01 cm is T2); TX when the size is
    None and no ``t`` is given. An explicit ``t`` must be one the site defines and must agree with
    the size, unless it is an invasion category (head and neck T4, T4a, T4b).

    Visceral sites: T is by extent only, so ``t`` must be given (TX when it cannot be assessed);
    a size, if given, is validated but does not change T.
    """
    site = _site(site)
    size = _size(size_cm)
    explicit = None if t is None else _normalise_t(t)
    if explicit is not None and explicit not in ALLOWED_T[site]:
        raise InvalidValue("t", f"AJCC 8 {site} sarcoma T must be one of "
                           + ", ".join(ALLOWED_T[site]), t)

    if site == "visceral":
        if explicit is None:
            raise InvalidValue(
                "t",
                "visceral sarcoma T is set by extent, not size (T1 organ confined ... T4c > 5 "
                "sites): give it explicitly, TX if it cannot be assessed",
            )
        return explicit

    derived = None if size is None else _t_from_size(site, size)
    if explicit is None:
        return derived if derived is not None else "TX"
    if derived is None or explicit == derived or explicit in INVASION_T[site]:
        return explicit
    raise InvalidValue(
        "t", f"{explicit} contradicts the size {size_cm} cm, which is {derived} at {site} site", t
    )


_GRADE_STRINGS: dict[str, Grade] = {
    "1": 1, "2": 2, "3": 3, "G1": 1, "G2": 2, "G3": 3, "X": "X", "GX": "X",
}


def _normalise_grade(grade: object) -> Grade:
    # An FnclccGrade result is accepted directly (duck-typed to keep this module independent).
    if hasattr(grade, "grade") and hasattr(grade, "score") and hasattr(grade, "as_dict"):
        grade = grade.grade  # type: ignore[union-attr]
    if isinstance(grade, bool):
        raise InvalidValue("grade", "must be 1, 2, 3 or 'X'", grade)
    if isinstance(grade, int) and grade in (1, 2, 3):
        return grade  # type: ignore[return-value]
    if isinstance(grade, str):
        key = grade.strip().upper()
        if key in _GRADE_STRINGS:
            return _GRADE_STRINGS[key]
    raise InvalidValue("grade", "must be 1, 2, 3 or 'X' (GX: grade cannot be assessed)", grade)


def _normalise_n(n: object) -> tuple[NCategory, tuple[str, ...]]:
    if isinstance(n, str):
        key = n.strip().upper()
        if key in ("N0", "N1"):
            return key, ()  # type: ignore[return-value]
        if key == "NX":
            return "N0", (NX_NOTE,)
    raise InvalidValue("n", "must be N0 or N1 (NX is recorded as N0: AJCC 8 N0 includes unknown "
                       "nodal status)", n)


def _normalise_m(m: object) -> MCategory:
    if isinstance(m, str):
        key = m.strip().upper()
        if key in ("M0", "M1"):
            return key  # type: ignore[return-value]
    raise InvalidValue("m", "must be M0 or M1 (AJCC 8 defines no MX)", m)


def _stage_group(site: str, t: str, n: str, m: str, grade: Grade) -> StageGroup | None:
    if site not in _GROUPED_SITES:
        return None
    if m == "M1":
        return "IV"
    if n == "N1":
        return "IIIB" if site == "retroperitoneum" else "IV"
    low = grade in (1, "X")
    if t == "T1":
        return "IA" if low else "II"
    if t == "T2":
        return "IB" if low else "IIIA"
    if t in ("T3", "T4"):
        return "IB" if low else "IIIB"
    return None  # TX or T0 with N0 M0: no AJCC 8 group applies


def ajcc8_stage(
    site: AnatomicSite,
    size_cm: float | None,
    grade: int | str,
    n: str,
    m: str,
    t: str | None = None,
) -> Ajcc8Stage:
    """AJCC 8 T, N, M, grade and stage group of a soft tissue sarcoma.

    ``grade`` accepts 1, 2, 3, "X" and the strings "1", "2", "3", "G1".."G3", "GX" (any case), or an
    :class:`~sarcotrial.domain.grading.FnclccGrade`. ``n`` accepts N0, N1 and NX (recorded as N0,
    with a note); ``m`` accepts M0 and M1.
    """
    site = _site(site)
    t_category = ajcc8_t(site, size_cm, t)
    g = _normalise_grade(grade)
    n_category, notes = _normalise_n(n)
    m_category = _normalise_m(m)
    stage = _stage_group(site, t_category, n_category, m_category, g)
    return Ajcc8Stage(site, t_category, n_category, m_category, g, stage, notes)  # type: ignore[arg-type]
