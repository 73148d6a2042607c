"""Resection margins of soft tissue sarcoma: UICC residual tumour (R) classification.

Standards:

- Brierley JD, Gospodarowicz MK, Wittekind C, eds. UICC TNM Classification of Malignant Tumours,
  8th ed. Wiley-Blackwell; 2017. Residual tumour (R) classification: RX presence of residual
  tumour cannot be assessed; R0 no residual tumour; R1 microscopic residual tumour; R2 macroscopic
  residual tumour.
- Gundle KR, Kafchinski L, Gupta S, et al. Analysis of margin classification systems for assessing
  the risk of local recurrence after soft tissue sarcoma resection. J Clin Oncol
  2018;36(7):704-709. doi:10.1200/JCO.2017.74.6941. In the R classification used there
  "microscopic tumor at inked margin defines R1"; the Toronto Margin Context Classification (TMCC)
  separates positive margins into planned close-but-positive margins at critical structures,
  positive margins after "whoops" re-excision, and inadvertent positive margins. Local recurrence
  after a planned positive margin on a critical structure did not differ from R0 at 10 years.

Decisions encoded here:

- R1 means tumour at the inked margin (not the "R+1 mm" rule), so R0 with a closest margin of
  0 mm and R1 with a closest margin above 0 mm are both contradictions and are refused.
- A macroscopic residual makes R2 whatever the microscopic finding. When it is unknown whether
  macroscopic tumour was left, the result is RX even if the inked margin is microscopically
  positive (R1 and R2 cannot be told apart).
- ``planned_positive_on_critical_structure`` (TMCC) only describes a microscopically positive
  margin: it must be None unless the margin is R1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Literal, get_args

from sarcotrial.errors import InvalidValue

__all__ = [
    "RStatus",
    "R_STATUSES",
    "MarginTissue",
    "MARGIN_TISSUES",
    "ResectionMargin",
    "residual_tumour",
    "resection_margin",
]

RStatus = Literal["R0", "R1", "R2", "RX"]
R_STATUSES: tuple[str, ...] = get_args(RStatus)

MarginTissue = Literal[
    "fat", "muscle", "fascia", "periosteum", "vessel_sheath", "epineurium", "bone", "skin", "other"
]
MARGIN_TISSUES: tuple[str, ...] = get_args(MarginTissue)


@dataclass(frozen=True)
class ResectionMargin:
    """A validated margin record; build it with :func:`resection_margin`."""

    r_status: RStatus
    closest_margin_mm: float | None
    tissue_at_closest_margin: MarginTissue | None
    planned_positive_on_critical_structure: bool | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _optional_bool(field: str, value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidValue(field, "must be true, false or unknown (None)", value)


def residual_tumour(
    macroscopic_residual: bool | None, microscopic_at_margin: bool | None
) -> RStatus:
    """UICC R classification from the surgical and pathological findings.

    R2 if macroscopic tumour was left; otherwise R1 if tumour reaches the inked margin
    microscopically, R0 if it does not; RX when either finding needed for the decision is unknown.
    """
    macro = _optional_bool("macroscopic_residual", macroscopic_residual)
    micro = _optional_bool("microscopic_at_margin", microscopic_at_margin)
    if macro is True:
        return "R2"
    if macro is None or micro is None:
        return "RX"
    return "R1" if micro else "R0"


def resection_margin(
    r_status: RStatus,
    closest_margin_mm: float | None = None,
    tissue_at_closest_margin: MarginTissue | None = None,
    planned_positive_on_critical_structure: bool | None = None,
) -> ResectionMargin:
    """Validate and build a :class:`ResectionMargin`.

    - ``r_status`` is R0, R1, R2 or RX;
    - ``closest_margin_mm`` is None or >= 0; R0 with 0 mm and R1 with more than 0 mm contradict the
      definition of R1 (tumour at the inked margin);
    - ``tissue_at_closest_margin`` is one of :data:`MARGIN_TISSUES` or None;
    - ``planned_positive_on_critical_structure`` (Toronto margin context) is only for R1.
    """
    if r_status not in R_STATUSES:
        raise InvalidValue("r_status", "must be one of " + ", ".join(R_STATUSES), r_status)

    margin: float | None = None
    if closest_margin_mm is not None:
        if not isinstance(closest_margin_mm, Real) or isinstance(closest_margin_mm, bool):
            raise InvalidValue("closest_margin_mm", "must be a number of millimetres",
                               closest_margin_mm)
        margin = float(closest_margin_mm)
        if math.isnan(margin) or math.isinf(margin) or margin < 0:
            raise InvalidValue("closest_margin_mm", "must be 0 mm or more", closest_margin_mm)
        if r_status == "R0" and margin == 0:
            raise InvalidValue(
                "closest_margin_mm",
                "R0 contradicts a closest margin of 0 mm (tumour at the inked margin is R1)",
                closest_margin_mm,
            )
        if r_status == "R1" and margin > 0:
            raise InvalidValue(
                "closest_margin_mm",
                "R1 means tumour at the inked margin, so the closest margin must be 0 mm",
                closest_margin_mm,
            )

    if tissue_at_closest_margin is not None and tissue_at_closest_margin not in MARGIN_TISSUES:
        raise InvalidValue("tissue_at_closest_margin", "must be one of " + ", ".join(MARGIN_TISSUES),
                           tissue_at_closest_margin)

    planned = _optional_bool("planned_positive_on_critical_structure",
                             planned_positive_on_critical_structure)
    if planned is not None and r_status != "R1":
        raise InvalidValue(
            "planned_positive_on_critical_structure",
            f"only applies to a microscopically positive (R1) margin (Toronto margin context "
            f"classification), not to {r_status}",
            planned,
        )

    return ResectionMargin(r_status, margin, tissue_at_closest_margin, planned)  # type: ignore[arg-type]
