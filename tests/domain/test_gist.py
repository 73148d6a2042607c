"""GIST risk of recurrence: every cell of both published tables, every boundary, rupture, refusals.

Expected values are typed here from the published tables, never taken from the module:

- Modified NIH: Joensuu H. Risk stratification of patients diagnosed with gastrointestinal stromal
  tumor. Hum Pathol 2008;39:1411-1419, Table 1 (rows: very low <2.0 cm/<=5; low 2.1-5.0/<=5;
  intermediate 2.1-5.0/>5 gastric, <5.0/6-10 any, 5.1-10.0/<=5 gastric; high rupture, >10 cm, >10
  mitoses, >5.0 cm and >5, 2.1-5.0/>5 non-gastric, 5.1-10.0/<=5 non-gastric). The grid below is
  the hand reading of those rows, the highest matching row deciding (src/sarcotrial/domain/gist.py
  docstring, choice 3).
- AFIP: Miettinen M, Lasota J. Semin Diagn Pathol 2006;23:70-83, the table of risk of progressive
  disease, as reproduced by Corless & Heinrich (Annu Rev Pathol 2008;3:557-586; NCI PDQ GIST
  treatment, Table 1) and NCCN, in the original column order stomach, jejunum/ileum, duodenum,
  rectum (choice 7 of the module docstring says why).
The original papers were not at hand: the values come from those reproductions (see the module).
"""

from __future__ import annotations

import math

import pytest

from sarcotrial.domain.gist import (
    AFIP_SITES,
    SITES,
    afip_group,
    afip_risk,
    gist_risk,
    modified_nih_risk,
)
from sarcotrial.errors import InvalidValue

# --- the AFIP table, typed from the publication: group -> (stomach, jejunum-ileum, duodenum, rectum)
ID = ("insufficient data", None)
PUBLISHED_AFIP = {
    "1": (("none", 0), ("none", 0), ("none", 0), ("none", 0)),
    "2": (("very low", 1.9), ("low", 4.3), ("low", 8.3), ("low", 8.5)),
    "3a": (("low", 3.6), ("moderate", 24), ID, ID),
    "3b": (("moderate", 10), ("high", 52), ("high", 34), ("high", 57)),
    "4": (("none", 0), ("high", None), ID, ("high", 54)),
    "5": (("moderate", 16), ("high", 73), ("high", 50), ("high", 52)),
    "6a": (("high", 55), ("high", 85), ID, ID),
    "6b": (("high", 86), ("high", 90), ("high", 86), ("high", 71)),
}
# One size and count inside each group's band (groups: size <=2, >2-5, >5-10, >10 cm; mitoses <=5, >5 per 50 HPF)
GROUP_EXAMPLE = {"1": (1.5, 2), "2": (3.0, 4), "3a": (7.0, 1), "3b": (15.0, 5), "4": (1.0, 9), "5": (4.0, 6),
                 "6a": (8.0, 30), "6b": (20.0, 12)}
AFIP_CASES = [(group, site, *GROUP_EXAMPLE[group], *PUBLISHED_AFIP[group][i])
              for group in PUBLISHED_AFIP for i, site in enumerate(("stomach", "jejunum-ileum", "duodenum", "rectum"))]


@pytest.mark.parametrize("group, site, size, mitoses, risk, percent", AFIP_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in AFIP_CASES])
def test_every_cell_of_the_afip_table(group, site, size, mitoses, risk, percent):
    result = afip_risk(site, size, mitoses)
    assert (result.group, result.risk, result.progression_percent) == (group, risk, percent)
    assert gist_risk(site, size, mitoses, "5mm2").afip == result


def test_afip_table_has_32_cells_and_four_columns():
    assert len(AFIP_CASES) == 32 and set(AFIP_SITES) == {"stomach", "jejunum-ileum", "duodenum", "rectum"}


@pytest.mark.parametrize("site", ["colon", "oesophagus", "other"])
@pytest.mark.parametrize("group", list(GROUP_EXAMPLE))
def test_afip_sites_without_a_column_give_insufficient_data_and_no_figure(site, group):
    result = gist_risk(site, *GROUP_EXAMPLE[group], "5mm2")
    assert result.afip.as_dict() == {"group": group, "risk": "insufficient data", "progression_percent": None}
    assert any("no column for " + site in w for w in result.warnings)


@pytest.mark.parametrize("size, mitoses, group", [
    (2.0, 5, "1"), (2.0, 6, "4"), (2.01, 5, "2"), (2.01, 6, "5"),
    (5.0, 5, "2"), (5.0, 6, "5"), (5.01, 5, "3a"), (5.01, 6, "6a"),
    (10.0, 5, "3a"), (10.0, 6, "6a"), (10.01, 5, "3b"), (10.01, 6, "6b"),
    (0.1, 0, "1"), (0.1, 500, "4"),
])
def test_afip_boundaries(size, mitoses, group):
    """Miettinen & Lasota: <=2, >2 <=5, >5 <=10, >10 cm; <=5 and >5 mitoses: upper bounds included."""
    assert afip_group(size, mitoses) == group


# --- the modified NIH table: hand reading of Joensuu's rows on a grid of sizes, counts and sites
SIZE_EXAMPLES = {"<=2": 1.0, "2.1-5": 3.0, "5.1-10": 7.0, ">10": 12.0}
COUNT_EXAMPLES = {"<=5": 3, "6-10": 8, ">10": 15}
PUBLISHED_NIH = {  # (size band, count band): (gastric, non-gastric)
    ("<=2", "<=5"): ("very low", "very low"),
    ("<=2", "6-10"): ("intermediate", "intermediate"),   # "<5.0 cm, 6-10, any site"
    ("<=2", ">10"): ("high", "high"),                    # "any size, >10"
    ("2.1-5", "<=5"): ("low", "low"),
    ("2.1-5", "6-10"): ("intermediate", "high"),         # "2.1-5.0, >5": gastric / non-gastric
    ("2.1-5", ">10"): ("high", "high"),                  # "any size, >10" above the gastric row
    ("5.1-10", "<=5"): ("intermediate", "high"),         # "5.1-10.0, <=5": gastric / non-gastric
    ("5.1-10", "6-10"): ("high", "high"),                # ">5.0 cm, >5"
    ("5.1-10", ">10"): ("high", "high"),
    (">10", "<=5"): ("high", "high"),                    # ">10 cm, any"
    (">10", "6-10"): ("high", "high"),
    (">10", ">10"): ("high", "high"),
}
NON_GASTRIC = [s for s in SITES if s != "stomach"]
NIH_CASES = [(site, size_band, count_band, cells[0] if site == "stomach" else cells[1])
             for (size_band, count_band), cells in PUBLISHED_NIH.items() for site in SITES]


@pytest.mark.parametrize("site, size_band, count_band, expected", NIH_CASES,
                         ids=[f"{c[0]}-{c[1]}cm-{c[2]}" for c in NIH_CASES])
def test_every_combination_of_the_modified_nih_table(site, size_band, count_band, expected):
    size, count = SIZE_EXAMPLES[size_band], COUNT_EXAMPLES[count_band]
    assert modified_nih_risk(site, size, count)[0] == expected
    assert gist_risk(site, size, count, "50hpf").modified_nih == expected


@pytest.mark.parametrize("site, size, mitoses, expected", [
    ("stomach", 2.0, 5, "very low"),       # 2.0 cm is in the first band (Joensuu prints <2.0 then 2.1-5.0)
    ("jejunum-ileum", 2.0, 5, "very low"),
    ("stomach", 2.05, 5, "low"),           # above 2.0: second band
    ("stomach", 5.0, 5, "low"),
    ("stomach", 5.0, 6, "intermediate"),   # 2.1-5.0, >5, gastric
    ("duodenum", 5.0, 6, "high"),          # 2.1-5.0, >5, non-gastric
    ("stomach", 5.01, 5, "intermediate"),  # 5.1-10.0, <=5, gastric
    ("rectum", 5.01, 5, "high"),
    ("stomach", 10.0, 5, "intermediate"),
    ("stomach", 10.01, 0, "high"),         # >10 cm
    ("stomach", 10.0, 6, "high"),          # >5.0 cm and >5
    ("stomach", 5.01, 6, "high"),
    ("stomach", 2.0, 6, "intermediate"),   # <5.0, 6-10
    ("stomach", 1.0, 10, "intermediate"),  # 10 is in 6-10
    ("stomach", 1.0, 11, "high"),          # >10
    ("stomach", 3.0, 10, "intermediate"),
    ("stomach", 3.0, 11, "high"),
    ("colon", 3.0, 6, "high"),             # overlap of "<5.0, 6-10, any" and "2.1-5.0, >5, non-gastric"
    ("oesophagus", 3.0, 5, "low"),
    ("other", 0.5, 0, "very low"),
])
def test_modified_nih_boundaries(site, size, mitoses, expected):
    assert modified_nih_risk(site, size, mitoses)[0] == expected


def test_small_non_gastric_tumour_with_6_to_10_mitoses_is_intermediate_with_a_warning():
    """The combination secondary reproductions disagree on (module docstring, choice 4)."""
    result = gist_risk("jejunum-ileum", 1.5, 8, "5mm2")
    assert result.modified_nih == "intermediate"
    assert result.modified_nih_rule == "<5.0 cm, 6-10 mitoses per 50 HPF, any site"
    assert any("<=2 cm with 6-10 mitoses" in w for w in result.warnings)
    assert (result.afip.group, result.afip.risk) == ("4", "high")  # the AFIP cell, beside it
    gastric = gist_risk("stomach", 1.5, 8, "5mm2")
    assert gastric.modified_nih == "intermediate" and not any("<=2 cm with 6-10" in w for w in gastric.warnings)
    assert not any("<=2 cm with 6-10" in w for w in gist_risk("colon", 1.5, 11, "5mm2").warnings)


@pytest.mark.parametrize("site", SITES)
def test_rupture_makes_any_tumour_high_risk_by_nih_and_leaves_afip_alone(site):
    ruptured = gist_risk(site, 1.0, 0, "5mm2", rupture=True)
    assert ruptured.modified_nih == "high" and ruptured.modified_nih_rule == "tumour rupture"
    intact = gist_risk(site, 1.0, 0, "5mm2")
    assert intact.modified_nih == "very low"
    assert ruptured.afip == intact.afip
    assert any("rupture" in w for w in ruptured.warnings)
    assert not any("rupture" in w for w in intact.warnings)


def test_each_table_warns_when_the_count_was_given_over_the_other_area():
    per_5mm2 = gist_risk("stomach", 4.0, 7, "5mm2")
    assert per_5mm2.mitoses_area == "5mm2"
    assert [w for w in per_5mm2.warnings if w.startswith("modified NIH: the table counts")]
    assert not [w for w in per_5mm2.warnings if w.startswith("AFIP: the table's counts")]
    per_50hpf = gist_risk("stomach", 4.0, 7, "50hpf")
    assert per_50hpf.mitoses_area == "50hpf"
    assert [w for w in per_50hpf.warnings if w.startswith("AFIP: the table's counts")]
    assert not [w for w in per_50hpf.warnings if w.startswith("modified NIH: the table counts")]
    # the count is never converted: the same count gives the same categories over either area
    assert (per_5mm2.modified_nih, per_5mm2.afip) == (per_50hpf.modified_nih, per_50hpf.afip)
    assert per_5mm2.as_dict()["table_areas"] == {"modified_nih": "50hpf", "afip": "5mm2"}


def test_small_numbers_and_insufficient_data_are_said():
    assert any("small numbers" in w for w in gist_risk("stomach", 1.0, 8, "5mm2").warnings)
    assert any("insufficient data for duodenum in group 3a" in w
               for w in gist_risk("duodenum", 7.0, 2, "5mm2").warnings)


def test_as_dict_shape():
    data = gist_risk("Stomach", 4, 7, "5MM2").as_dict()
    assert data["modified_nih"] == "intermediate"
    assert data["afip"] == {"group": "5", "risk": "moderate", "progression_percent": 16}
    assert data["site"] == "stomach" and data["mitoses_area"] == "5mm2" and data["size_cm"] == 4.0
    assert isinstance(data["warnings"], list)


@pytest.mark.parametrize("kwargs, field", [
    ({"size_cm": -1.0}, "size_cm"),
    ({"size_cm": 0}, "size_cm"),
    ({"size_cm": math.nan}, "size_cm"),
    ({"size_cm": math.inf}, "size_cm"),
    ({"size_cm": "4"}, "size_cm"),
    ({"size_cm": True}, "size_cm"),
    ({"mitoses": 7.5}, "mitoses"),
    ({"mitoses": 7.0}, "mitoses"),
    ({"mitoses": "7"}, "mitoses"),
    ({"mitoses": True}, "mitoses"),
    ({"mitoses": -1}, "mitoses"),
    ({"site": "liver"}, "site"),
    ({"site": "gastric"}, "site"),
    ({"site": None}, "site"),
    ({"mitoses_area": "10hpf"}, "mitoses_area"),
    ({"mitoses_area": "hpf"}, "mitoses_area"),
    ({"mitoses_area": None}, "mitoses_area"),
    ({"rupture": "yes"}, "rupture"),
])
def test_invalid_input_is_refused_naming_the_field(kwargs, field):
    args = {"site": "stomach", "size_cm": 4.0, "mitoses": 7, "mitoses_area": "5mm2", "rupture": False, **kwargs}
    with pytest.raises(InvalidValue) as caught:
        gist_risk(**args)
    assert caught.value.field == field


def test_a_size_that_is_not_finite_is_refused_as_such():
    with pytest.raises(InvalidValue, match="finite"):
        gist_risk(site="stomach", size_cm=math.nan, mitoses=3, mitoses_area="5mm2", rupture=False)
