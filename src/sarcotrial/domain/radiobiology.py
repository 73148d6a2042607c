"""Linear-quadratic (LQ) model: biologically effective dose (BED) and EQD2.

Standards:

- Fowler JF. The linear-quadratic formula and progress in fractionated radiotherapy. Br J Radiol
  1989;62(740):679-694.
- Joiner MC, van der Kogel AJ, eds. Basic Clinical Radiobiology, 5th ed. CRC Press; 2018
  (chapters on the linear-quadratic approach and on time factors).

Formulae, for ``n`` fractions of ``d`` Gy (total dose ``D = n d``) and a tissue's alpha/beta in Gy:

- ``BED = n d (1 + d / (alpha/beta))``
- ``EQD2 = BED / (1 + 2 / (alpha/beta))`` (the dose in 2 Gy fractions with the same effect)
- with repopulation after a kick-off time ``Tk`` in an overall time ``T`` (days):
  ``BED_T = BED - Dprolif * max(0, T - Tk)``, ``Dprolif`` in Gy (of BED) per day.

SPRINT check values: CTV2 60 Gy / 25 fractions at alpha/beta 4 Gy -> BED 96.0 Gy, EQD2 64.0 Gy;
CTV1 50 Gy / 25 fractions (2 Gy) -> EQD2 50.0 Gy at any alpha/beta.

Alpha/beta of soft tissue sarcoma is uncertain and must be a protocol parameter, not a constant:

- 4 Gy is the conventional planning value for sarcoma;
- in vitro, 14 sarcoma cell lines gave a median alpha/beta of 4.9 Gy, six of them below 4 Gy
  (Haas RL, Floot BGJ, Scholten AN, et al. Cellular radiosensitivity of soft tissue sarcoma.
  Radiat Res 2021. doi:10.1667/RADE-20-00226.1);
- clinical and experimental estimates span about 0.4 Gy (a value attributed to Thames & Suit,
  Int J Radiat Oncol Biol Phys 1986, for liposarcoma; not checked here against the primary paper)
  to 6 Gy and more (see van Leeuwen CM, et al. The alfa and beta of tumours: a review of
  parameters of the linear-quadratic model, derived from clinical radiotherapy studies. Radiat
  Oncol 2018;13:96).

No repopulation kick-off time or Dprolif is established for soft tissue sarcoma:
:func:`gap_corrected_bed` takes them only as explicit arguments, and the protocol decides whether
and how to use it.
"""

from __future__ import annotations

import math
from numbers import Real

from sarcotrial.errors import InvalidValue

__all__ = ["bed", "eqd2", "lq_summary", "gap_corrected_bed"]


def _real(field: str, value: object) -> float:
    if not isinstance(value, Real) or isinstance(value, bool):
        raise InvalidValue(field, "must be a number", value)
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise InvalidValue(field, "must be a finite number", value)
    return number


def _positive(field: str, value: object) -> float:
    number = _real(field, value)
    if number <= 0:
        raise InvalidValue(field, "must be greater than 0", value)
    return number


def _non_negative(field: str, value: object) -> float:
    number = _real(field, value)
    if number < 0:
        raise InvalidValue(field, "cannot be negative", value)
    return number


def _fractions(fractions: object) -> int:
    if not isinstance(fractions, int) or isinstance(fractions, bool):
        raise InvalidValue("fractions", "must be a whole number of fractions", fractions)
    if fractions < 1:
        raise InvalidValue("fractions", "must be at least 1", fractions)
    return fractions


def _checked(total_dose_gy: object, fractions: object, alpha_beta_gy: object
             ) -> tuple[float, int, float]:
    return (
        _positive("total_dose_gy", total_dose_gy),
        _fractions(fractions),
        _positive("alpha_beta_gy", alpha_beta_gy),
    )


def _bed(dose: float, n: int, ab: float) -> float:
    return dose * (1.0 + (dose / n) / ab)


def bed(total_dose_gy: float, fractions: int, alpha_beta_gy: float) -> float:
    """Biologically effective dose in Gy: ``D (1 + d / (alpha/beta))``."""
    dose, n, ab = _checked(total_dose_gy, fractions, alpha_beta_gy)
    return _bed(dose, n, ab)


def eqd2(total_dose_gy: float, fractions: int, alpha_beta_gy: float) -> float:
    """Equivalent dose in 2 Gy fractions in Gy: ``BED / (1 + 2 / (alpha/beta))``."""
    dose, n, ab = _checked(total_dose_gy, fractions, alpha_beta_gy)
    return _bed(dose, n, ab) / (1.0 + 2.0 / ab)


def lq_summary(total_dose_gy: float, fractions: int, alpha_beta_gy: float) -> dict[str, float]:
    """``{"bed", "eqd2", "dose_per_fraction"}`` in Gy for one schedule."""
    dose, n, ab = _checked(total_dose_gy, fractions, alpha_beta_gy)
    biological = _bed(dose, n, ab)
    return {
        "bed": biological,
        "eqd2": biological / (1.0 + 2.0 / ab),
        "dose_per_fraction": dose / n,
    }


def gap_corrected_bed(
    total_dose_gy: float,
    fractions: int,
    alpha_beta_gy: float,
    overall_time_days: float,
    kickoff_days: float,
    dprolif_gy_per_day: float,
) -> float:
    """BED less repopulation: ``BED - Dprolif * max(0, T - Tk)``.

    ``overall_time_days`` (T) and ``kickoff_days`` (Tk) are >= 0; ``dprolif_gy_per_day`` is the
    BED lost per day beyond Tk (>= 0). None of these is established for soft tissue sarcoma: the
    protocol must supply them.
    """
    dose, n, ab = _checked(total_dose_gy, fractions, alpha_beta_gy)
    overall = _non_negative("overall_time_days", overall_time_days)
    kickoff = _non_negative("kickoff_days", kickoff_days)
    dprolif = _non_negative("dprolif_gy_per_day", dprolif_gy_per_day)
    return _bed(dose, n, ab) - dprolif * max(0.0, overall - kickoff)
