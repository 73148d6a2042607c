"""``sarcotrial rules msts`` and ``rules cirse``: function after limb surgery, complications of interventions.

MSTS: Enneking et al., Clin Orthop Relat Res 1993;286:241-246 (six items 0-5, total /30 and %).
CIRSE: Filippiadis et al., Cardiovasc Intervent Radiol 2017;40:1141-1146 (grades 1-6, the worst
recorded consequence decides). The rules live in :mod:`sarcotrial.domain.function` and
:mod:`sarcotrial.domain.interventional`; this module only reads options and prints.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from sarcotrial.cli.common import JsonOption, console, handle_errors, print_json
from sarcotrial.errors import InvalidValue


def _items(pairs: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidValue("item", "expected name=score, e.g. pain=5", pair)
        name, text = (part.strip() for part in pair.split("=", 1))
        name = name.lower().replace("-", "_").replace(" ", "_")
        if name in out:
            raise InvalidValue(name, "given twice; give each item once", show_value=False)
        try:
            out[name] = int(text)
        except ValueError:
            raise InvalidValue(name, "MSTS item score must be a whole number from 0 to 5", text) from None
    return out


@handle_errors
def msts(limb: str = typer.Option(..., "--limb", help="lower or upper: the MSTS item set."),
         item: List[str] = typer.Option([], "--item", help="name=score (0-5), once per item: lower limb pain, function, "
                                        "emotional-acceptance, supports, walking, gait; upper limb pain, function, "
                                        "emotional-acceptance, hand-positioning, manual-dexterity, lifting-ability."),
         as_json: bool = JsonOption) -> None:
    """MSTS functional score from its six items (Enneking 1993): total out of 30 and percentage."""
    from sarcotrial.domain.function import MSTS_DESCRIPTORS, MSTS_ITEM_LABELS, msts_score

    result = msts_score(limb.strip().lower(), _items(item))
    if as_json:
        print_json(result.as_dict())
        return
    console.print(f"MSTS, {result.limb} limb: [bold]{result.total}/{result.maximum}[/] ({result.percent:g} %)")
    for name, score in result.items.items():
        console.print(f"  {MSTS_ITEM_LABELS[name]}: {score} ({MSTS_DESCRIPTORS[name][score]})")


@handle_errors
def cirse(consequence: List[str] = typer.Option([], "--consequence", help="What the complication led to, once per "
                                                "consequence: solved-in-session, prolonged-observation, "
                                                "additional-therapy, prolonged-stay-over-48h, permanent-mild-sequela, "
                                                "permanent-severe-sequela, death."),
          extra_stay_hours: Optional[str] = typer.Option(None, "--extra-stay-hours",
                                                         help="Hours in hospital beyond the normal post-procedure "
                                                              "course (up to 48: grade 2; more: grade 3)."),
          as_json: bool = JsonOption) -> None:
    """CIRSE complication grade 1-6 (Filippiadis 2017): the worst recorded consequence decides."""
    from sarcotrial.domain.interventional import cirse_grade, consequence_of_stay

    codes = [c.strip().lower().replace("-", "_") for c in consequence]
    if extra_stay_hours is not None:
        try:
            hours = float(extra_stay_hours)
        except ValueError:
            raise InvalidValue("extra_stay_hours", "must be a number of hours", extra_stay_hours) from None
        stay = consequence_of_stay(hours)
        if stay is not None:
            codes.append(stay)
    result = cirse_grade(codes)
    if as_json:
        print_json(result.as_dict())
        return
    console.print(f"CIRSE grade [bold]{result.grade}[/]: {result.definition}")
    console.print(f"  decided by: {result.deciding.replace('_', ' ')}", soft_wrap=True)


# --- ``rules eqd2`` beyond photons: called by the eqd2 command in :mod:`sarcotrial.cli.rules` ---

def eqd2_ldr(*, total_dose: float, alpha_beta: float, dose_rate: Optional[float], half_life_days: Optional[float],
             repair_half_time_h: Optional[float], as_json: bool) -> None:
    """LDR brachytherapy: a temporary implant at a constant dose rate, or a permanent decaying one (Dale 1985)."""
    from sarcotrial.domain.radiobiology import ldr_summary, permanent_implant_summary

    if repair_half_time_h is None:
        raise InvalidValue("repair_half_time_h", "LDR needs the protocol's repair half-time (--repair-half-time-h)",
                           show_value=False)
    if (dose_rate is None) == (half_life_days is None):
        raise InvalidValue("dose_rate_gy_per_h", "give --dose-rate-gy-h (temporary implant) or --half-life-days "
                           "(permanent implant), not both", show_value=False)
    if dose_rate is not None:
        s = ldr_summary(total_dose, dose_rate, alpha_beta, repair_half_time_h)
        data = {"modality": "ldr_temporary", "total_dose_gy": total_dose, "dose_rate_gy_per_h": dose_rate,
                "duration_h": s["duration_h"], "repair_half_time_h": repair_half_time_h, "alpha_beta_gy": alpha_beta,
                "incomplete_repair_factor": s["incomplete_repair_factor"], "bed": s["bed"], "eqd2": s["eqd2"]}
        text = (f"LDR {total_dose:g} Gy at {dose_rate:g} Gy/h ({s['duration_h']:.1f} h)")
    else:
        s = permanent_implant_summary(total_dose, half_life_days, alpha_beta, repair_half_time_h)
        data = {"modality": "ldr_permanent", "total_dose_gy": total_dose, "half_life_days": half_life_days,
                "initial_dose_rate_gy_per_h": s["initial_dose_rate_gy_per_h"], "repair_half_time_h": repair_half_time_h,
                "alpha_beta_gy": alpha_beta, "bed": s["bed"], "eqd2": s["eqd2"]}
        text = (f"Permanent implant {total_dose:g} Gy, half-life {half_life_days:g} d "
                f"(initial {s['initial_dose_rate_gy_per_h']:.4f} Gy/h)")
    if as_json:
        print_json(data)
        return
    console.print(f"{text}, repair half-time {repair_half_time_h:g} h, alpha/beta {alpha_beta:g} Gy: "
                  f"BED [bold]{data['bed']:.2f}[/] Gy, EQD2 [bold]{data['eqd2']:.2f}[/] Gy")


def eqd2_particle(*, particle: str, dose_gy_rbe: Optional[float], physical_dose: Optional[float],
                  rbe_model: Optional[str], fractions: int, alpha_beta: float, as_json: bool) -> None:
    """Protons (fixed RBE 1.1, ICRU 78): Gy(RBE) and its LQ summary; carbon ions: refused (model-dependent RBE)."""
    from sarcotrial.domain.radiobiology import particle_dose, particle_eqd2

    dose = particle_dose(particle.strip().lower(), dose_gy_rbe=dose_gy_rbe, physical_dose_gy=physical_dose,
                         rbe_model=rbe_model)
    lq = particle_eqd2(dose, fractions, alpha_beta)
    data = {**dose.as_dict(), "fractions": fractions, "alpha_beta_gy": alpha_beta, **lq}
    if as_json:
        print_json(data)
        return
    console.print(f"{dose.dose_gy_rbe:g} Gy(RBE) ({dose.rbe_model}) in {fractions} x {lq['dose_per_fraction']:g} "
                  f"Gy(RBE), alpha/beta {alpha_beta:g} Gy: BED [bold]{lq['bed']:.2f}[/] Gy(RBE), "
                  f"EQD2 [bold]{lq['eqd2']:.2f}[/] Gy(RBE)")
