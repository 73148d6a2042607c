"""BED/EQD2 beyond external photons: HDR and LDR brachytherapy, particle doses in Gy(RBE).

Sources:
- Dale RG. Br J Radiol 1985;58:515-528: with mono-exponential repair (rate mu) the LQ gives
  BED = D + (2/(a/b)) * integral_0^inf R(t) integral_0^t R(t') exp(-mu (t - t')) dt' dt. Its closed
  forms (temporary implant at constant rate; permanent implant decaying with lambda) are checked
  below against that integral evaluated numerically with scipy (an independent reference
  implementation), against hand computations shown in comments, and against the limits
  (T -> 0: one acute fraction; mu -> infinity: BED -> D).
- Long-implant worked example (temporary implant much longer than the repair half-time, where
  1 - (1 - exp(-mu T))/(mu T) ~ 1): 40 Gy at 0.55 Gy/h, mu 0.46 /h, a/b 10 Gy ->
  BED = 40 (1 + 2 x 0.55 / (0.46 x 10)) = 49.6 Gy (rtnotes.wikidot.com, radonc-biology, "change
  from LDR to HDR").
- HDR is fractionated LQ (Fowler 1989): 4 x 7 Gy at a/b 10 -> EQD2 = 28 x 1.7 / 1.2 = 39.67 Gy.
- ICRU Report 78 (2007): proton Gy(RBE) = physical dose x 1.1.
"""

from __future__ import annotations

import math

import pytest
from scipy import integrate

from sarcotrial.domain.radiobiology import (
    PROTON_RBE,
    bed,
    convert_rbe_model,
    eqd2,
    ldr_bed,
    ldr_eqd2,
    ldr_summary,
    particle_dose,
    particle_eqd2,
    permanent_implant_bed,
    permanent_implant_summary,
    total_gy_rbe,
)
from sarcotrial.errors import InvalidValue

LN2 = math.log(2)


def dale_integral_bed(rate, t_end, ab, mu):
    """Reference: D + (2/(a/b)) * double integral of R(t) R(t') exp(-mu (t - t')) over t' < t < t_end,
    evaluated numerically with s = t - t' (the repair kernel is narrow: s up to 60/mu suffices)."""
    dose, _ = integrate.quad(rate, 0, t_end, limit=400)
    inner, _ = integrate.dblquad(lambda s, tp: rate(tp) * rate(tp + s) * math.exp(-mu * s),
                                 0, t_end, 0, lambda tp: min(t_end - tp, 60.0 / mu), epsabs=1e-11, epsrel=1e-10)
    return dose + 2.0 / ab * inner


def test_hdr_is_fractionated_lq():
    # 4 x 7 Gy, a/b 10: BED = 28 x 1.7 = 47.6; EQD2 = 47.6 / 1.2 = 39.667
    assert bed(28, 4, 10) == pytest.approx(47.6)
    assert eqd2(28, 4, 10) == pytest.approx(39.6667, abs=1e-4)


def test_ldr_long_implant_worked_example():
    half_time = LN2 / 0.46                     # mu = 0.46 /h
    s = ldr_summary(40, 0.55, 10, half_time)
    # T = 40 / 0.55 = 72.73 h; mu T = 33.45; g = 1 - (1 - e^-33.45)/33.45 = 0.97011
    assert s["duration_h"] == pytest.approx(72.7273, abs=1e-4)
    assert s["incomplete_repair_factor"] == pytest.approx(0.97011, abs=1e-5)
    # BED = 40 (1 + 0.23913 x 0.97011) = 49.279 Gy: just below the long-implant value 49.6 (g = 1)
    assert s["bed"] == pytest.approx(49.279, abs=1e-3)
    assert s["bed"] < 49.6 and s["bed"] == pytest.approx(49.6, rel=0.01)
    # EQD2 = 49.279 / 1.2 = 41.066
    assert ldr_eqd2(40, 0.55, 10, half_time) == pytest.approx(41.066, abs=1e-3)


@pytest.mark.parametrize("dose, rate, ab, half_time", [
    (40, 0.55, 10, 1.5),     # classic LDR interstitial rate
    (20, 2.0, 3, 0.5),       # 10 h implant, late-responding tissue
    (10, 0.8, 4, 2.0),       # T = 12.5 h, comparable with the repair half-time
])
def test_temporary_implant_against_dale_integral(dose, rate, ab, half_time):
    mu = LN2 / half_time
    reference = dale_integral_bed(lambda t: rate, dose / rate, ab, mu)
    assert ldr_bed(dose, rate, ab, half_time) == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize("dose, half_life_days, ab, half_time", [
    (145, 59.4, 3.1, 0.27),   # iodine-125 prostate prescription
    (125, 17.0, 3.1, 0.27),   # palladium-103
    (60, 9.7, 10, 1.5),       # caesium-131, early-responding tissue
])
def test_permanent_implant_against_dale_integral(dose, half_life_days, ab, half_time):
    decay = LN2 / (24 * half_life_days)
    r0 = dose * decay
    mu = LN2 / half_time
    reference = dale_integral_bed(lambda t: r0 * math.exp(-decay * t), 40 * 24 * half_life_days, ab, mu)
    assert permanent_implant_bed(dose, half_life_days, ab, half_time) == pytest.approx(reference, rel=1e-5)


def test_permanent_implant_hand_computation():
    # I-125: lambda = ln2 / (59.4 x 24 h) = 4.8622e-4 /h; R0 = 145 lambda = 0.070501 Gy/h;
    # mu = ln2 / 0.27 = 2.56721 /h; mu + lambda = 2.567698 /h;
    # BED = 145 (1 + 0.070501 / (2.567698 x 3.1)) = 145 x 1.0088571 = 146.284 Gy
    s = permanent_implant_summary(145, 59.4, 3.1, 0.27)
    assert s["initial_dose_rate_gy_per_h"] == pytest.approx(0.070501, abs=1e-6)
    assert s["bed"] == pytest.approx(146.284, abs=1e-3)


def test_limits():
    # T -> 0 (rate -> infinity at fixed dose): one acute fraction, 8 (1 + 8/4) = 24 Gy
    assert ldr_bed(8, 1e7, 4, 1.5) == pytest.approx(24.0, rel=1e-5)
    # mu -> infinity (instant repair): no dose-rate effect, BED -> D
    assert ldr_bed(40, 0.55, 10, 1e-9) == pytest.approx(40.0, rel=1e-6)
    assert permanent_implant_bed(145, 59.4, 3.1, 1e-9) == pytest.approx(145.0, rel=1e-6)
    # a very long half-life: dose spread over years, BED -> D
    assert permanent_implant_bed(145, 1e7, 3.1, 0.27) == pytest.approx(145.0, rel=1e-6)


@pytest.mark.parametrize("args, field", [
    ((40, 0, 10, 1.5), "dose_rate_gy_per_h"),
    ((40, 0.5, 10, -1), "repair_half_time_h"),
    ((0, 0.5, 10, 1.5), "total_dose_gy"),
    ((40, 0.5, float("nan"), 1.5), "alpha_beta_gy"),
])
def test_ldr_refusals(args, field):
    with pytest.raises(InvalidValue) as err:
        ldr_bed(*args)
    assert err.value.field == field


def test_proton_gy_rbe_is_physical_times_1_1():
    assert PROTON_RBE == 1.1
    dose = particle_dose("proton", physical_dose_gy=50)
    assert dose.dose_gy_rbe == pytest.approx(55.0) and dose.rbe == 1.1  # 50 x 1.1
    assert particle_dose("proton", dose_gy_rbe=55, physical_dose_gy=50).dose_gy_rbe == pytest.approx(55.0)
    with pytest.raises(InvalidValue) as err:
        particle_dose("proton", dose_gy_rbe=60, physical_dose_gy=50)
    assert err.value.field == "dose_gy_rbe"
    with pytest.raises(InvalidValue) as err:
        particle_dose("proton", dose_gy_rbe=55, rbe_model="LEM-I")
    assert err.value.field == "rbe_model"


def test_proton_eqd2_in_gy_rbe():
    # 55 Gy(RBE) / 25 = 2.2 Gy(RBE); BED = 55 (1 + 2.2/4) = 85.25; EQD2 = 85.25 / 1.5 = 56.833
    lq = particle_eqd2(particle_dose("proton", physical_dose_gy=50), 25, 4)
    assert lq["bed"] == pytest.approx(85.25) and lq["eqd2"] == pytest.approx(56.8333, abs=1e-4)


def test_carbon_records_its_model_and_is_never_converted():
    lem = particle_dose("carbon", dose_gy_rbe=70.4, rbe_model="LEM-I")
    mkm = particle_dose("carbon", dose_gy_rbe=64.0, rbe_model="MKM")
    assert lem.rbe is None and lem.rbe_model == "LEM-I"
    assert convert_rbe_model(lem, "LEM-I") is lem
    with pytest.raises(InvalidValue) as err:
        convert_rbe_model(lem, "MKM")
    assert err.value.field == "rbe_model" and "not converted" in err.value.rule
    with pytest.raises(InvalidValue):
        total_gy_rbe([lem, mkm])
    assert total_gy_rbe([lem, lem]) == pytest.approx(140.8)
    with pytest.raises(InvalidValue) as err:
        particle_eqd2(lem, 16, 4)
    assert err.value.field == "particle"


@pytest.mark.parametrize("kwargs, field", [
    (dict(particle="carbon", dose_gy_rbe=70.4), "rbe_model"),
    (dict(particle="carbon", dose_gy_rbe=70.4, rbe_model="LEM-IV"), "rbe_model"),
    (dict(particle="carbon", physical_dose_gy=20, rbe_model="MKM"), "dose_gy_rbe"),
    (dict(particle="helium", dose_gy_rbe=10), "particle"),
    (dict(particle="proton"), "dose_gy_rbe"),
])
def test_particle_refusals(kwargs, field):
    particle = kwargs.pop("particle")
    with pytest.raises(InvalidValue) as err:
        particle_dose(particle, **kwargs)
    assert err.value.field == field
