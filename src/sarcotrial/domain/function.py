"""Limb surgery for sarcoma and the function it leaves: the MSTS score, Enneking margins, reconstruction.

Standards:

- Enneking WF, Dunham W, Gebhardt MC, Malawar M, Pritchard DJ. A system for the functional
  evaluation of reconstructive procedures after surgical treatment of tumors of the
  musculoskeletal system. Clin Orthop Relat Res 1993;(286):241-246 (the MSTS score, adopted by
  the Musculoskeletal Tumor Society and ISOLS). Six items, each scored 0-5: pain, function and
  emotional acceptance for either limb; supports, walking and gait for the lower limb; hand
  positioning, manual dexterity and lifting ability for the upper limb. The total is out of 30 and
  is also given as a percentage of 30 (item names as in the paper's abstract). The paper defines
  the scores 5, 3, 1 and 0 of each item by a descriptor; 4 and 2 are intermediate values chosen by
  the examiner between the two neighbouring descriptors (they have no descriptor of their own).
- Enneking WF, Spanier SS, Goodman MA. A system for the surgical staging of musculoskeletal
  sarcoma. Clin Orthop Relat Res 1980;(153):106-120: surgical margins by the plane of dissection
  relative to the tumour, its reactive zone and its anatomical compartment (intralesional,
  marginal, wide, radical).

The descriptors below follow the 1993 table as it is commonly reproduced; their wording was not
checked here against the printed table (validation studies of the score: Uehara K, et al. Clin
Orthop Relat Res 2017;475:2253-2259, upper limb; Rebolledo DCS, et al. Clin Orthop Relat Res
2013;471:4020-4026, lower limb). A form shows them; the score itself depends only on the six
numbers.

Hand-written because the rule is a sum of six bounded integers; no maintained library implements
the MSTS score, and the refusals (a missing or unknown item, a score outside 0-5) must name the item.

The surgical vocabularies (:data:`SURGERY_TYPES`, :data:`ENNEKING_MARGINS`,
:data:`RECONSTRUCTIONS`, :data:`RESECTED_STRUCTURES`) are importable data for the forms; the
Enneking margin is a surgical description and is separate from the pathological R status
(:mod:`sarcotrial.domain.margins`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from sarcotrial.errors import InvalidValue

__all__ = [
    "Limb",
    "LIMBS",
    "MSTS_ITEMS",
    "MSTS_ITEM_LABELS",
    "MSTS_DESCRIPTORS",
    "MSTS_MAX_ITEM",
    "MstsScore",
    "msts_score",
    "SURGERY_TYPES",
    "ENNEKING_MARGINS",
    "RECONSTRUCTIONS",
    "RESECTED_STRUCTURES",
    "STRUCTURE_RECONSTRUCTIONS",
]

Limb = Literal["lower", "upper"]
LIMBS: tuple[str, ...] = ("lower", "upper")

MSTS_MAX_ITEM = 5

MSTS_ITEMS: dict[str, tuple[str, ...]] = {
    "lower": ("pain", "function", "emotional_acceptance", "supports", "walking", "gait"),
    "upper": ("pain", "function", "emotional_acceptance", "hand_positioning", "manual_dexterity", "lifting_ability"),
}
"""The six items of each limb's MSTS set, in the paper's order (Enneking et al. 1993)."""

MSTS_ITEM_LABELS: dict[str, str] = {
    "pain": "Pain",
    "function": "Function",
    "emotional_acceptance": "Emotional acceptance",
    "supports": "Supports",
    "walking": "Walking",
    "gait": "Gait",
    "hand_positioning": "Hand positioning",
    "manual_dexterity": "Manual dexterity",
    "lifting_ability": "Lifting ability",
}

def _item(five: str, three: str, one: str, zero: str) -> dict[int, str]:
    return {5: five, 4: f"intermediate between '{five}' and '{three}'", 3: three,
            2: f"intermediate between '{three}' and '{one}'", 1: one, 0: zero}


MSTS_DESCRIPTORS: dict[str, dict[int, str]] = {
    "pain": _item("none", "modest, not disabling", "moderate, disabling", "severe, continuously disabling"),
    "function": _item("no restriction", "recreational restriction", "partial occupational restriction",
                      "total occupational restriction"),
    "emotional_acceptance": _item("enthused", "satisfied", "accepts", "dislikes"),
    "supports": _item("none", "brace", "one cane or crutch", "two canes or crutches"),
    "walking": _item("unlimited", "limited", "inside only", "not independently"),
    "gait": _item("normal", "minor cosmetic", "major cosmetic, minor handicap", "major handicap"),
    "hand_positioning": _item("unlimited", "not above shoulder or no pronation/supination", "not above waist",
                              "none"),
    "manual_dexterity": _item("normal", "loss of fine movements", "cannot pinch", "cannot grasp"),
    "lifting_ability": _item("normal load", "limited", "helping only", "cannot help"),
}
"""Each item's descriptor per score (5, 3, 1, 0 defined; 4 and 2 intermediate)."""


@dataclass(frozen=True)
class MstsScore:
    """An MSTS score computed from its six items; build it with :func:`msts_score`."""

    limb: Limb
    items: dict[str, int]
    total: int
    maximum: int
    percent: float

    def as_dict(self) -> dict:
        return {"limb": self.limb, "items": dict(self.items), "total": self.total, "maximum": self.maximum,
                "percent": self.percent}


def _score(item: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValue(item, "MSTS item score must be a whole number from 0 to 5", value)
    if not 0 <= value <= MSTS_MAX_ITEM:
        raise InvalidValue(item, "MSTS item score must be from 0 to 5", value)
    return value


def msts_score(limb: str, items: Mapping[str, int]) -> MstsScore:
    """The MSTS total (out of 30) and percentage from the six items of the limb's set.

    Every item of the set is required (a missing item is refused, naming it: the total is not
    defined without it), and an item of the other limb's set or an unknown name is refused.
    The percentage is ``100 * total / 30``, rounded to one decimal.
    """
    if limb not in LIMBS:
        raise InvalidValue("limb", "must be 'lower' or 'upper'", limb)
    expected = MSTS_ITEMS[limb]
    for name in items:
        if name not in expected:
            other = "upper" if limb == "lower" else "lower"
            rule = (f"belongs to the {other}-limb MSTS set, not the {limb}" if name in MSTS_ITEMS[other]
                    else f"not an MSTS item; the {limb}-limb items are {', '.join(expected)}")
            raise InvalidValue(name, rule, show_value=False)
    missing = [name for name in expected if name not in items]
    if missing:
        raise InvalidValue(missing[0], f"MSTS item missing: the {limb}-limb score needs all six items "
                           f"({', '.join(missing)} not given)", show_value=False)
    scores = {name: _score(name, items[name]) for name in expected}
    total = sum(scores.values())
    maximum = MSTS_MAX_ITEM * len(expected)
    return MstsScore(limb, scores, total, maximum, round(100.0 * total / maximum, 1))  # type: ignore[arg-type]


# --- The surgical record's vocabularies ------------------------------------------------------

SURGERY_TYPES: dict[str, str] = {
    "limb_sparing": "limb-sparing (limb-salvage) resection",
    "amputation": "amputation or disarticulation",
}

ENNEKING_MARGINS: dict[str, str] = {
    "intralesional": "the plane of dissection passes through the tumour (macroscopic tumour left)",
    "marginal": "the plane of dissection passes through the reactive zone (pseudocapsule) around the tumour",
    "wide": "the plane of dissection passes through normal tissue beyond the reactive zone, within the compartment",
    "radical": "the tumour is removed with the whole of the anatomical compartment(s) it involves",
}
"""Enneking, Spanier & Goodman 1980, from the least to the most extensive margin."""

RECONSTRUCTIONS: dict[str, str] = {
    "primary_closure": "primary (direct) closure",
    "split_skin_graft": "split-skin (split-thickness) graft",
    "local_flap": "local or pedicled flap",
    "free_flap": "free (microvascular) flap",
}
"""Soft-tissue cover of the wound, from the simplest to the most complex."""

RESECTED_STRUCTURES: dict[str, str] = {
    "vascular": "major vessel resected en bloc (artery and/or vein)",
    "bone": "bone resected en bloc (cortex, segment or joint)",
    "nerve": "major nerve resected en bloc",
}

STRUCTURE_RECONSTRUCTIONS: dict[str, dict[str, str]] = {
    "vascular": {"none": "ligation, not reconstructed", "autologous_graft": "autologous vein graft",
                 "prosthetic_graft": "prosthetic graft", "direct_anastomosis": "end-to-end anastomosis"},
    "bone": {"none": "not reconstructed", "endoprosthesis": "modular endoprosthesis",
             "allograft": "allograft", "autograft": "autograft (vascularised or not)",
             "allograft_prosthesis_composite": "allograft-prosthesis composite", "osteosynthesis": "osteosynthesis only"},
    "nerve": {"none": "not reconstructed", "nerve_graft": "nerve graft", "nerve_transfer": "nerve or tendon transfer"},
}
"""How a resected structure was reconstructed ('none' when it was not)."""
