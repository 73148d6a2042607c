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

Beyond photons
--------------

*HDR brachytherapy* is fractionated irradiation, each fraction delivered in minutes: its BED and
EQD2 are :func:`bed` and :func:`eqd2` with the dose per fraction and the protocol's alpha/beta
(GEC-ESTRO practice: e.g. 4 x 7 Gy at alpha/beta 10 Gy -> EQD2 = 28 x 1.7 / 1.2 = 39.7 Gy).

*LDR brachytherapy* is continuous irradiation during which sublethal damage is repaired. With
mono-exponential repair of rate constant ``mu = ln 2 / T_half`` (per hour; ``T_half`` the repair
half-time, a protocol parameter) the LQ model gives (Dale RG. The application of the
linear-quadratic dose-effect equation to fractionated and protracted radiotherapy. Br J Radiol
1985;58:515-528):

- a temporary implant at constant dose rate ``R`` (Gy/h) for ``T`` hours (``D = R T``):
  ``BED = R T [1 + 2 R / (mu (alpha/beta)) * (1 - (1 - exp(-mu T)) / (mu T))]``
  (:func:`ldr_bed`);
- a permanent implant of a nuclide with decay constant ``lambda = ln 2 / T_phys`` and initial
  dose rate ``R0`` (``D = R0 / lambda`` delivered in full):
  ``BED = (R0 / lambda) [1 + R0 / ((mu + lambda) (alpha/beta))]`` (:func:`permanent_implant_bed`).

Both are the general result ``BED = D + (2 / (alpha/beta)) * integral R(t) integral_0^t R(t')
exp(-mu (t - t')) dt' dt`` for their dose-rate curves; as ``T -> 0`` the temporary formula becomes
one acute fraction ``D (1 + D/(alpha/beta))``, and as ``mu -> infinity`` (instant repair) ``BED -> D``.
EQD2 is ``BED / (1 + 2/(alpha/beta))`` as for external beams. No repopulation term is included.

*Particle therapy* doses are RBE-weighted, in Gy(RBE) (ICRU Report 78, Prescribing, recording and
reporting proton-beam therapy, J ICRU 2007;7(2)): ``Gy(RBE) = physical dose x RBE``. Protons use a
fixed generic RBE of 1.1 (ICRU 78). For carbon ions the RBE varies along the beam and is computed
by a model: the Local Effect Model I (LEM-I; Scholz M, Kellerer AM, et al. Radiat Environ Biophys
1997;36:59-66; used at the European centres) or the (modified) microdosimetric kinetic model (MKM;
Inaniwa T, et al. Phys Med Biol 2010;55:6721-6737; used in Japan). The same prescription in
Gy(RBE) is not the same biological dose under the two models, so a carbon-ion dose is recorded
with its model, doses under different models are never added, and no conversion between models
is made here (published conversions depend on the dose level and the tissue, e.g. Fossati P, et
al. Front Oncol 2012;2:134). An EQD2 is computed for protons (Gy(RBE) with the fixed 1.1) and
refused for carbon ions, whose model-dependent RBE already depends on the dose per fraction.

Hand-written rather than taken from a library: each formula is one line of arithmetic, and no
maintained Python library implements them with the refusals (named field and rule) the forms need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from sarcotrial.errors import InvalidValue

__all__ = [
    "bed",
    "eqd2",
    "lq_summary",
    "gap_corrected_bed",
    "repair_rate_per_hour",
    "ldr_bed",
    "ldr_eqd2",
    "ldr_summary",
    "permanent_implant_bed",
    "permanent_implant_summary",
    "PROTON_RBE",
    "PARTICLES",
    "CARBON_RBE_MODELS",
    "ParticleDose",
    "particle_dose",
    "convert_rbe_model",
    "total_gy_rbe",
    "particle_eqd2",
]


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


# --- LDR brachytherapy: continuous irradiation with incomplete repair (Dale 1985) -------------

def repair_rate_per_hour(repair_half_time_h: float) -> float:
    """``mu = ln 2 / T_half`` in 1/h, from the repair half-time in hours."""
    return math.log(2.0) / _positive("repair_half_time_h", repair_half_time_h)


def _eqd2_from_bed(biological: float, ab: float) -> float:
    return biological / (1.0 + 2.0 / ab)


def _ldr(dose: float, rate: float, ab: float, mu: float) -> tuple[float, float, float]:
    duration = dose / rate
    x = mu * duration
    # 1 - (1 - exp(-x)) / x, written with expm1 so that a short implant (x near 0) keeps its precision
    g = 1.0 + math.expm1(-x) / x
    return dose * (1.0 + 2.0 * rate / (mu * ab) * g), duration, g


def ldr_bed(total_dose_gy: float, dose_rate_gy_per_h: float, alpha_beta_gy: float,
            repair_half_time_h: float) -> float:
    """BED in Gy of a temporary implant at a constant dose rate (Dale 1985): ``D = R T`` delivered
    continuously over ``T = D / R`` hours, repair half-time in hours (a protocol parameter)."""
    return ldr_summary(total_dose_gy, dose_rate_gy_per_h, alpha_beta_gy, repair_half_time_h)["bed"]


def ldr_eqd2(total_dose_gy: float, dose_rate_gy_per_h: float, alpha_beta_gy: float,
             repair_half_time_h: float) -> float:
    """EQD2 in Gy of a temporary LDR implant: :func:`ldr_bed` / (1 + 2/(alpha/beta))."""
    return ldr_summary(total_dose_gy, dose_rate_gy_per_h, alpha_beta_gy, repair_half_time_h)["eqd2"]


def ldr_summary(total_dose_gy: float, dose_rate_gy_per_h: float, alpha_beta_gy: float,
                repair_half_time_h: float) -> dict[str, float]:
    """``{"bed", "eqd2", "duration_h", "incomplete_repair_factor"}`` of a temporary LDR implant.

    ``incomplete_repair_factor`` is ``1 - (1 - exp(-mu T)) / (mu T)``: near 0 for an implant much
    shorter than the repair half-time, near 1 for one much longer.
    """
    dose = _positive("total_dose_gy", total_dose_gy)
    rate = _positive("dose_rate_gy_per_h", dose_rate_gy_per_h)
    ab = _positive("alpha_beta_gy", alpha_beta_gy)
    mu = repair_rate_per_hour(repair_half_time_h)
    biological, duration, g = _ldr(dose, rate, ab, mu)
    return {"bed": biological, "eqd2": _eqd2_from_bed(biological, ab), "duration_h": duration,
            "incomplete_repair_factor": g}


def permanent_implant_bed(total_dose_gy: float, half_life_days: float, alpha_beta_gy: float,
                          repair_half_time_h: float) -> float:
    """BED in Gy of a permanent implant decaying to completion (Dale 1985):
    ``D [1 + R0 / ((mu + lambda) (alpha/beta))]`` with ``R0 = D lambda``."""
    return permanent_implant_summary(total_dose_gy, half_life_days, alpha_beta_gy, repair_half_time_h)["bed"]


def permanent_implant_summary(total_dose_gy: float, half_life_days: float, alpha_beta_gy: float,
                              repair_half_time_h: float) -> dict[str, float]:
    """``{"bed", "eqd2", "initial_dose_rate_gy_per_h"}`` of a permanent implant; the nuclide's
    physical half-life in days (e.g. iodine-125, palladium-103), the repair half-time in hours."""
    dose = _positive("total_dose_gy", total_dose_gy)
    half_life_h = 24.0 * _positive("half_life_days", half_life_days)
    ab = _positive("alpha_beta_gy", alpha_beta_gy)
    mu = repair_rate_per_hour(repair_half_time_h)
    decay = math.log(2.0) / half_life_h
    initial_rate = dose * decay
    biological = dose * (1.0 + initial_rate / ((mu + decay) * ab))
    return {"bed": biological, "eqd2": _eqd2_from_bed(biological, ab), "initial_dose_rate_gy_per_h": initial_rate}


# --- Particle therapy: RBE-weighted dose in Gy(RBE) (ICRU 78) --------------------------------

PROTON_RBE = 1.1
"""The generic, fixed proton RBE (ICRU Report 78, 2007)."""

PARTICLES: dict[str, str] = {"proton": "protons", "carbon": "carbon ions"}

CARBON_RBE_MODELS: dict[str, str] = {
    "LEM-I": "Local Effect Model I (Scholz et al. 1997), European centres",
    "MKM": "microdosimetric kinetic model, as modified for treatment planning (Inaniwa et al. 2010), Japan",
}


@dataclass(frozen=True)
class ParticleDose:
    """An RBE-weighted dose with what it depends on; build it with :func:`particle_dose`."""

    particle: str
    dose_gy_rbe: float
    rbe_model: str
    rbe: float | None
    physical_dose_gy: float | None

    def as_dict(self) -> dict:
        return {"particle": self.particle, "dose_gy_rbe": self.dose_gy_rbe, "rbe_model": self.rbe_model,
                "rbe": self.rbe, "physical_dose_gy": self.physical_dose_gy}


_PROTON_MODEL = "fixed RBE 1.1 (ICRU 78)"


def particle_dose(particle: str, *, dose_gy_rbe: float | None = None, physical_dose_gy: float | None = None,
                  rbe_model: str | None = None) -> ParticleDose:
    """A particle dose in Gy(RBE), recorded with its RBE model.

    Protons: from the physical dose (``x 1.1``) or as Gy(RBE); given both, they must agree.
    Carbon ions: Gy(RBE) as the planning system computed it, with its model (``LEM-I`` or ``MKM``)
    required; a physical dose may be recorded beside it but is not converted (the RBE is not one
    number across the field).
    """
    if particle not in PARTICLES:
        raise InvalidValue("particle", f"unknown; known: {', '.join(PARTICLES)}", particle)
    if particle == "proton":
        if rbe_model is not None:
            raise InvalidValue("rbe_model", "protons use the fixed RBE 1.1 (ICRU 78); no model is chosen", rbe_model)
        if dose_gy_rbe is None and physical_dose_gy is None:
            raise InvalidValue("dose_gy_rbe", "give the dose in Gy(RBE) or the physical dose", show_value=False)
        physical = None if physical_dose_gy is None else _positive("physical_dose_gy", physical_dose_gy)
        weighted = None if dose_gy_rbe is None else _positive("dose_gy_rbe", dose_gy_rbe)
        if physical is not None:
            computed = round(physical * PROTON_RBE, 9)
            if weighted is not None and not math.isclose(weighted, computed, rel_tol=1e-6, abs_tol=1e-9):
                raise InvalidValue("dose_gy_rbe", f"disagrees with the physical dose x 1.1 = {computed:g} Gy(RBE)",
                                   weighted)
            weighted = computed
        return ParticleDose("proton", weighted, _PROTON_MODEL, PROTON_RBE, physical)  # type: ignore[arg-type]
    if rbe_model not in CARBON_RBE_MODELS:
        raise InvalidValue("rbe_model", "a carbon-ion dose in Gy(RBE) depends on the RBE model: record it "
                           f"({', '.join(CARBON_RBE_MODELS)})", rbe_model)
    if dose_gy_rbe is None:
        raise InvalidValue("dose_gy_rbe", "a carbon-ion dose is recorded in Gy(RBE) as planned under its model; "
                           "it is not computed from the physical dose", show_value=False)
    weighted = _positive("dose_gy_rbe", dose_gy_rbe)
    physical = None if physical_dose_gy is None else _positive("physical_dose_gy", physical_dose_gy)
    return ParticleDose("carbon", weighted, rbe_model, None, physical)


def convert_rbe_model(dose: ParticleDose, to_model: str) -> ParticleDose:
    """Refused unless nothing changes: a carbon-ion Gy(RBE) is not converted between RBE models."""
    if dose.rbe_model == to_model:
        return dose
    raise InvalidValue("rbe_model", f"not converted from {dose.rbe_model} to {to_model}: the ratio between models "
                       "varies with dose per fraction, tissue and position in the field; recompute the plan under "
                       "the other model instead", show_value=False)


def total_gy_rbe(doses: "list[ParticleDose] | tuple[ParticleDose, ...]") -> float:
    """The sum of RBE-weighted doses, refused when they were weighted under different RBE models."""
    if not doses:
        raise InvalidValue("doses", "at least one dose is needed", show_value=False)
    models = {d.rbe_model for d in doses}
    if len(models) > 1:
        raise InvalidValue("rbe_model", "doses weighted under different RBE models are not added: "
                           + ", ".join(sorted(models)), show_value=False)
    return sum(d.dose_gy_rbe for d in doses)


def particle_eqd2(dose: ParticleDose, fractions: int, alpha_beta_gy: float) -> dict[str, float]:
    """LQ summary (``bed``, ``eqd2``, ``dose_per_fraction`` in Gy(RBE)) of a proton course;
    refused for carbon ions (their model RBE already depends on the dose per fraction)."""
    if dose.particle != "proton":
        raise InvalidValue("particle", "no EQD2 for carbon ions: the Gy(RBE) of LEM-I or MKM already carries a "
                           "dose-per-fraction dependent RBE, and applying a photon LQ on top of it is not defined "
                           "here", dose.particle)
    return lq_summary(dose.dose_gy_rbe, fractions, alpha_beta_gy)
