"""GIST risk of recurrence after resection: the modified NIH (Joensuu) and the AFIP (Miettinen) tables.

Standards:

- Joensuu H. Risk stratification of patients diagnosed with gastrointestinal stromal tumor.
  Hum Pathol 2008;39(10):1411-1419, doi:10.1016/j.humpath.2008.06.025, Table 1 (the "modified
  NIH" or "Joensuu" criteria). Tumour size (cm), mitotic count per 50 HPF, primary site (gastric or
  non-gastric) and tumour rupture:

  ============= ========= ================ ===============
  Risk          Size (cm) Mitoses / 50 HPF Site
  ============= ========= ================ ===============
  very low      <2.0      <=5              any
  low           2.1-5.0   <=5              any
  intermediate  2.1-5.0   >5               gastric
                <5.0      6-10             any
                5.1-10.0  <=5              gastric
  high          any       any              tumour rupture
                >10.0     any              any
                any       >10              any
                >5.0      >5               any
                2.1-5.0   >5               non-gastric
                5.1-10.0  <=5              non-gastric
  ============= ========= ================ ===============

- Miettinen M, Lasota J. Gastrointestinal stromal tumors: pathology and prognosis at different
  sites. Semin Diagn Pathol 2006;23(2):70-83, doi:10.1053/j.semdp.2006.09.001: risk of
  progressive disease (metastasis or tumour-related death) by size, mitoses per 50 HPF and site,
  from long-term follow-up of 1055 gastric, 629 jejunal/ileal, 144 duodenal and 111 rectal GISTs
  (the "AFIP" table, :data:`AFIP_TABLE`). Reproduced by Corless CL, Heinrich MC, Annu Rev Pathol
  2008;3:557-586 (in the NCI PDQ "Gastrointestinal Stromal Tumors Treatment", Table 1), by the NCCN
  guidelines and by the WHO Classification of Tumours, Digestive System Tumours, 5th ed., 2019/2020.

Choices made here (each is tested in tests/domain/test_gist.py and shown in docs/gist-risk.md):

1. Size bands. Both tables are read with the upper bound of each band included: 2.0 cm is in the
   first band (<=2 cm; Joensuu prints "<2.0" and then "2.1-5.0", so a tumour of exactly 2.0 cm
   would otherwise fall in no band; Miettinen & Lasota print "<=2 cm"), 5.0 cm in the second,
   10.0 cm in the third; above 10.0 cm is the last. A size between 2.0 and 2.1 (2.05 cm) is in the
   second band (> 2.0), and so on.
2. Mitoses are a whole count: 5 is "<=5", 10 is "6-10", 11 is ">10".
3. Modified NIH, overlapping rows. The rows are sufficient conditions: the category is the
   highest one whose row the tumour meets. So a non-gastric tumour of 2.1-5.0 cm with 6-10
   mitoses, which meets both "<5.0 cm, 6-10, any site" (intermediate) and "2.1-5.0 cm, >5,
   non-gastric" (high), is high; a gastric tumour of 2.1-5.0 cm with >10 mitoses is high ("any
   size, >10"). Every combination of size, mitoses and site falls in at least one row.
4. Modified NIH, <=2 cm with 6-10 mitoses at a non-gastric site. Joensuu's "<5.0 cm, 6-10, any
   site" row makes it intermediate, and so it is here. Some secondary reproductions of the table
   write the non-gastric high-risk row as "<=5.0 cm, >5 mitoses", which would make it high; the
   result carries a warning saying so (the AFIP table, printed beside it, has this cell as group
   4: high at the jejunum/ileum and rectum, insufficient data at the duodenum). Those
   reproductions leave a gastric tumour of this size and count intermediate: only the non-gastric
   cell differs, and only it is warned about.
5. Mitotic count area. Each table is applied to the count as given: nothing is converted. The
   modified NIH table is defined per 50 HPF (Joensuu, like the 2002 NIH consensus, states no field
   area). The AFIP counts are per 50 HPF of Miettinen's microscopes, which Miettinen & Lasota state
   as a total area of 5 mm2; WHO 2020 and AJCC 8 ask for the count per 5 mm2. A modern wide-field
   microscope's 50 HPF cover about 10-12 mm2. The result names the area the count was given in
   and warns where a table was defined on the other area.
6. AFIP sites. The table has columns for the stomach, jejunum/ileum, duodenum and rectum only.
   Colon, oesophagus and other sites get the group (size and mitoses decide it) with risk
   "insufficient data" and no percentage, and a warning: the table holds no data for them, and
   no figure is borrowed from another column. (AJCC staging applies the small-intestinal criteria
   to such sites; that is a staging convention, not a risk of progression measured there.)
7. AFIP column order. The original table's columns are gastric, jejunal/ileal, duodenal, rectal
   (the order of its footnote's case counts). Some reproductions (NCI PDQ, NCCN) head the second
   and third columns "Duodenum | Jejunum/Ileum" over the same values; the values are taken here in
   the original order, which agrees with Miettinen et al.'s jejunal/ileal series (Am J Surg Pathol
   2006;30:477-489: tumours > 10 cm with <= 5 mitoses and tumours <= 5 cm with > 5 mitoses
   metastasised in more than 50 %: 52 % and 73 % in the jejunum/ileum column, against 34 % and
   50 % in the duodenal one).
8. Cells the table prints without a percentage: jejunum/ileum group 4 ("high", small numbers of
   cases) has none (null); stomach group 4 is "none", 0 % as the NCCN prints it (the NCI PDQ prints
   "None"), also marked as small numbers; duodenum and rectum groups 3a and 6a are "insufficient
   data" (null), as is duodenum group 4. The stomach group 3b figure is 10 % as the three
   reproductions read (NCI PDQ, NCCN, Corless & Heinrich).
9. Rupture. The modified NIH table makes any ruptured tumour high risk. The AFIP table does not
   use rupture: its group and percentage are those of size, mitoses and site, with a warning that
   they understate the risk of a ruptured tumour.

Hand-written: these are two small published lookup tables and no maintained library carries
them. The original papers could not be consulted while writing this module: the tables above are
taken from the reproductions named, cross-checked against each other, and the decisions above
are this project's. Rows or figures that the reproductions disagree on are named in 4, 7 and 8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Optional

from sarcotrial.errors import InvalidValue

__all__ = [
    "SITES",
    "MITOSES_AREAS",
    "AFIP_SITES",
    "AFIP_TABLE",
    "MODIFIED_NIH_ROWS",
    "TABLE_AREAS",
    "AfipRisk",
    "GistRisk",
    "afip_group",
    "afip_risk",
    "modified_nih_risk",
    "gist_risk",
]

Site = Literal["stomach", "duodenum", "jejunum-ileum", "colon", "rectum", "oesophagus", "other"]
SITES: tuple[str, ...] = ("stomach", "duodenum", "jejunum-ileum", "colon", "rectum", "oesophagus", "other")
"""Primary sites accepted. Only the stomach is gastric for the modified NIH table."""

MITOSES_AREAS: tuple[str, ...] = ("5mm2", "50hpf")
"""The area over which the mitoses were counted: 5 mm2, or 50 high-power fields of the microscope used."""

TABLE_AREAS = {"modified_nih": "50hpf", "afip": "5mm2"}
"""The area each table was defined on (module docstring, choice 5)."""

AFIP_SITES: tuple[str, ...] = ("stomach", "jejunum-ileum", "duodenum", "rectum")
"""The AFIP table's columns, in the original order (module docstring, choice 7)."""

NIH_CATEGORIES = ("very low", "low", "intermediate", "high")

# (risk, risk of progressive disease in %, or None where the table prints no figure), per group, per
# site, in the AFIP_SITES order: stomach, jejunum-ileum, duodenum, rectum.
_NONE0 = ("none", 0)
_INSUFFICIENT = ("insufficient data", None)
AFIP_TABLE: dict[str, dict[str, tuple[str, Optional[float]]]] = {
    group: dict(zip(AFIP_SITES, cells))
    for group, cells in {
        # size <= 2 cm, mitoses <= 5 / 50 HPF
        "1": (_NONE0, _NONE0, _NONE0, _NONE0),
        # > 2 <= 5 cm, <= 5
        "2": (("very low", 1.9), ("low", 4.3), ("low", 8.3), ("low", 8.5)),
        # > 5 <= 10 cm, <= 5
        "3a": (("low", 3.6), ("moderate", 24), _INSUFFICIENT, _INSUFFICIENT),
        # > 10 cm, <= 5
        "3b": (("moderate", 10), ("high", 52), ("high", 34), ("high", 57)),
        # <= 2 cm, > 5 (stomach and jejunum/ileum: small numbers of cases)
        "4": (_NONE0, ("high", None), _INSUFFICIENT, ("high", 54)),
        # > 2 <= 5 cm, > 5
        "5": (("moderate", 16), ("high", 73), ("high", 50), ("high", 52)),
        # > 5 <= 10 cm, > 5
        "6a": (("high", 55), ("high", 85), _INSUFFICIENT, _INSUFFICIENT),
        # > 10 cm, > 5
        "6b": (("high", 86), ("high", 90), ("high", 86), ("high", 71)),
    }.items()
}
"""Miettinen & Lasota 2006: (risk, % with progressive disease) by group and site."""

AFIP_GROUPS = {
    "1": "<=2 cm, <=5 mitoses", "2": ">2-5 cm, <=5 mitoses", "3a": ">5-10 cm, <=5 mitoses",
    "3b": ">10 cm, <=5 mitoses", "4": "<=2 cm, >5 mitoses", "5": ">2-5 cm, >5 mitoses",
    "6a": ">5-10 cm, >5 mitoses", "6b": ">10 cm, >5 mitoses",
}
_SMALL_NUMBERS = {("4", "stomach"), ("4", "jejunum-ileum")}

# The modified NIH table as rows: (category, size band, mitoses band, site), site one of "any",
# "gastric", "non-gastric". Size bands use the upper bound included (choice 1).
MODIFIED_NIH_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("very low", "<=2.0", "<=5", "any"),
    ("low", "2.1-5.0", "<=5", "any"),
    ("intermediate", "2.1-5.0", ">5", "gastric"),
    ("intermediate", "<5.0", "6-10", "any"),
    ("intermediate", "5.1-10.0", "<=5", "gastric"),
    ("high", ">10.0", "any", "any"),
    ("high", "any", ">10", "any"),
    ("high", ">5.0", ">5", "any"),
    ("high", "2.1-5.0", ">5", "non-gastric"),
    ("high", "5.1-10.0", "<=5", "non-gastric"),
)
"""Joensuu 2008, Table 1, without its rupture row (rupture makes any tumour high risk)."""

_SIZE_BANDS = {
    "any": lambda s: True,
    "<=2.0": lambda s: s <= 2.0,
    "2.1-5.0": lambda s: 2.0 < s <= 5.0,
    "<5.0": lambda s: s <= 5.0,  # 5.0 cm itself: the 2.1-5.0 rows decide it the same way (choice 3)
    "5.1-10.0": lambda s: 5.0 < s <= 10.0,
    ">5.0": lambda s: s > 5.0,
    ">10.0": lambda s: s > 10.0,
}
_MITOSES_BANDS = {
    "any": lambda m: True,
    "<=5": lambda m: m <= 5,
    ">5": lambda m: m > 5,
    "6-10": lambda m: 6 <= m <= 10,
    ">10": lambda m: m > 10,
}


@dataclass(frozen=True)
class AfipRisk:
    """One cell of the AFIP table: the group (size and mitoses), the risk and its percentage."""

    group: str
    risk: str
    progression_percent: Optional[float]

    def as_dict(self) -> dict:
        return {"group": self.group, "risk": self.risk, "progression_percent": self.progression_percent}


@dataclass(frozen=True)
class GistRisk:
    """Both classifications of one resected GIST; build it with :func:`gist_risk`."""

    site: str
    size_cm: float
    mitoses: int
    mitoses_area: str
    rupture: bool
    modified_nih: str
    modified_nih_rule: str
    afip: AfipRisk
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        return {
            "modified_nih": self.modified_nih,
            "afip": self.afip.as_dict(),
            "site": self.site,
            "size_cm": self.size_cm,
            "mitoses": self.mitoses,
            "mitoses_area": self.mitoses_area,
            "table_areas": dict(TABLE_AREAS),
            "rupture": self.rupture,
            "modified_nih_rule": self.modified_nih_rule,
            "warnings": list(self.warnings),
        }


# --- input checks -----------------------------------------------------------------------------

def _site(site: object) -> str:
    text = site.strip().lower().replace("_", "-").replace("/", "-") if isinstance(site, str) else site
    if text not in SITES:
        raise InvalidValue("site", f"must be one of {', '.join(SITES)}", site)
    return text


def _size(size_cm: object) -> float:
    if isinstance(size_cm, bool) or not isinstance(size_cm, (int, float)):
        raise InvalidValue("size_cm", "must be a number of centimetres", size_cm)
    if not math.isfinite(size_cm):
        raise InvalidValue("size_cm", "must be a finite number of centimetres", size_cm)
    if size_cm <= 0:
        raise InvalidValue("size_cm", "tumour size must be more than 0 cm", size_cm)
    return float(size_cm)


def _mitoses(mitoses: object) -> int:
    if isinstance(mitoses, bool) or not isinstance(mitoses, int):
        raise InvalidValue("mitoses", "must be a whole number of mitoses", mitoses)
    if mitoses < 0:
        raise InvalidValue("mitoses", "cannot be negative", mitoses)
    return mitoses


def _area(area: object) -> str:
    text = area.strip().lower().replace(" ", "").replace("²", "2") if isinstance(area, str) else area
    if text not in MITOSES_AREAS:
        raise InvalidValue("mitoses_area", "must be 5mm2 or 50hpf (the area the mitoses were counted over)", area)
    return text


# --- the two tables ---------------------------------------------------------------------------

def modified_nih_risk(site: str, size_cm: float, mitoses: int, rupture: bool = False) -> tuple[str, str]:
    """The modified NIH category (Joensuu 2008) and the row that decided it.

    >>> modified_nih_risk("stomach", 4.0, 7)
    ('intermediate', '2.1-5.0 cm, >5 mitoses per 50 HPF, gastric')
    >>> modified_nih_risk("jejunum-ileum", 4.0, 7)[0]
    'high'
    """
    site, size, count = _site(site), _size(size_cm), _mitoses(mitoses)
    if not isinstance(rupture, bool):
        raise InvalidValue("rupture", "must be true or false", rupture)
    if rupture:
        return "high", "tumour rupture"
    where = "gastric" if site == "stomach" else "non-gastric"
    matches = [row for row in MODIFIED_NIH_ROWS
               if _SIZE_BANDS[row[1]](size) and _MITOSES_BANDS[row[2]](count) and row[3] in ("any", where)]
    category, size_band, mitoses_band, row_site = max(matches, key=lambda row: NIH_CATEGORIES.index(row[0]))
    size_text = "any size" if size_band == "any" else f"{size_band} cm"
    mitoses_text = "any mitoses" if mitoses_band == "any" else f"{mitoses_band} mitoses per 50 HPF"
    return category, f"{size_text}, {mitoses_text}, {'any site' if row_site == 'any' else row_site}"


def afip_group(size_cm: float, mitoses: int) -> str:
    """The AFIP group 1-6b from size and mitoses alone (Miettinen & Lasota 2006).

    >>> afip_group(2.0, 5), afip_group(10.0, 6), afip_group(10.5, 6)
    ('1', '6a', '6b')
    """
    size, count = _size(size_cm), _mitoses(mitoses)
    if size <= 2.0:
        return "1" if count <= 5 else "4"
    if size <= 5.0:
        return "2" if count <= 5 else "5"
    if size <= 10.0:
        return "3a" if count <= 5 else "6a"
    return "3b" if count <= 5 else "6b"


def afip_risk(site: str, size_cm: float, mitoses: int) -> AfipRisk:
    """The AFIP group, risk and percentage with progressive disease; sites without a column get
    "insufficient data" and no percentage (module docstring, choice 6).

    >>> afip_risk("stomach", 4.0, 7).as_dict()
    {'group': '5', 'risk': 'moderate', 'progression_percent': 16}
    """
    site = _site(site)
    group = afip_group(size_cm, mitoses)
    if site not in AFIP_SITES:
        return AfipRisk(group, "insufficient data", None)
    risk, percent = AFIP_TABLE[group][site]
    return AfipRisk(group, risk, percent)


def gist_risk(site: str, size_cm: float, mitoses: int, mitoses_area: str, rupture: bool = False) -> GistRisk:
    """Both classifications of a resected primary GIST, with the warnings the choices call for.

    ``mitoses`` is the count as the pathologist gave it, over ``mitoses_area`` ("5mm2" or "50hpf");
    it is never converted (module docstring, choice 5).

    >>> r = gist_risk("stomach", 4.0, 7, "5mm2")
    >>> r.modified_nih, r.afip.group, r.afip.risk, r.afip.progression_percent
    ('intermediate', '5', 'moderate', 16)
    """
    site, size, count, area = _site(site), _size(size_cm), _mitoses(mitoses), _area(mitoses_area)
    if not isinstance(rupture, bool):
        raise InvalidValue("rupture", "must be true or false", rupture)
    nih, rule = modified_nih_risk(site, size, count, rupture)
    afip = afip_risk(site, size, count)
    warnings: list[str] = []
    if area != TABLE_AREAS["modified_nih"]:
        warnings.append("modified NIH: the table counts mitoses per 50 HPF; the count per 5 mm2 was used as given "
                        "(50 HPF cover about 5 mm2 on older microscopes, 10-12 mm2 on modern wide-field ones)")
    if area != TABLE_AREAS["afip"]:
        warnings.append("AFIP: the table's counts are per 5 mm2; the count per 50 HPF was used as given (50 HPF of "
                        "a modern wide-field microscope cover about 10-12 mm2 and find more mitoses): ask for the "
                        "count per 5 mm2")
    if not rupture and site != "stomach" and size <= 2.0 and 6 <= count <= 10:
        warnings.append("modified NIH: <=2 cm with 6-10 mitoses is intermediate by Joensuu's '<5.0 cm, 6-10, any "
                        "site' row; reproductions that write the non-gastric high-risk row as '<=5.0 cm, >5' make a "
                        "non-gastric tumour high")
    if site not in AFIP_SITES:
        warnings.append(f"AFIP: the table has no column for {site} (stomach, jejunum-ileum, duodenum and rectum "
                        "only): no percentage is given")
    elif afip.risk == "insufficient data":
        warnings.append(f"AFIP: the table has insufficient data for {site} in group {afip.group}")
    if (afip.group, site) in _SMALL_NUMBERS:
        warnings.append(f"AFIP: group {afip.group} at this site rests on small numbers of cases")
    if rupture:
        warnings.append("AFIP: the table does not take tumour rupture into account; its figure understates the "
                        "risk of a ruptured tumour")
    return GistRisk(site=site, size_cm=size, mitoses=count, mitoses_area=area, rupture=rupture, modified_nih=nih,
                    modified_nih_rule=rule, afip=afip, warnings=tuple(warnings))
