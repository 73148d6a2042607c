"""Systemic therapy rules: BSA, per-cycle dosing, relative dose intensity, doxorubicin equivalence.

Expected values come from the sources, or from hand computation shown in each test:
- Mosteller RD, N Engl J Med 1987;317:1098: BSA = sqrt(height cm x weight kg / 3600).
- Du Bois D, Du Bois EF, Arch Intern Med 1916;17:863-871: BSA = 0.007184 x W^0.425 x H^0.725.
- Hryniuk W, Bush H, J Clin Oncol 1984;2:1281-1288: dose intensity in mg/m2/week; relative dose
  intensity = received over planned dose intensity.
- Doxorubicin-equivalence factors: Lyon AR et al., 2022 ESC Guidelines on cardio-oncology, Eur Heart J
  2022;43:4229-4361, table "Anthracycline equivalence dose" (doxorubicin 1, epirubicin 0.8,
  daunorubicin 0.6, mitoxantrone 10.5, idarubicin 5; footnote: 125 mg/m2 epirubicin x 0.8 = 100 mg/m2);
  Feijen EAM et al., JAMA Oncol 2019;5:864-871, table 3 (mean ratios: daunorubicin 0.6, epirubicin 0.8,
  mitoxantrone 10.5; idarubicin not estimable); Kouwenberg TW et al. (IGHG), JACC CardioOncol 2025
  (daunorubicin 0.6, mitoxantrone 10.5, no recommendation for epirubicin or idarubicin).
- The second protocol's regimen: Tap WD et al., Lancet 2016;388:488-497: doxorubicin 75 mg/m2 day 1
  every 21 days, up to 8 cycles, with or without olaratumab 15 mg/kg days 1 and 8.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from sarcotrial.domain.systemic import (
    Administration,
    Regimen,
    RegimenDrug,
    anthracycline_warning,
    body_surface_area,
    doxorubicin_equivalent,
    equivalence_table,
    equivalence_tables,
    is_anthracycline,
    planned_cycle_equivalent,
    planned_dose_mg,
    summarise_course,
)
from sarcotrial.errors import InvalidValue

D = dt.date

DOXORUBICIN = RegimenDrug("doxorubicin", 75, "m2", (1,), "iv")
OLARATUMAB = RegimenDrug("olaratumab", 15, "kg", (1, 8), "iv")
#: Tap et al. 2016: the two arms' regimens
DOX = Regimen("doxorubicin", 21, (DOXORUBICIN,), max_cycles=8)
DOX_OLA = Regimen("doxorubicin_olaratumab", 21, (DOXORUBICIN, OLARATUMAB), max_cycles=8)


# --------------------------------------------------------------------------- BSA
def test_mosteller_by_hand():
    """Mosteller 1987: 180 cm x 80 kg = 14 400; / 3600 = 4; sqrt = 2.00 m2. 160 x 90 = 14 400 too.
    170 x 70 = 11 900; / 3600 = 3.3056; sqrt = 1.8181 m2."""
    assert body_surface_area(180, 80) == pytest.approx(2.0, abs=1e-12)
    assert body_surface_area(160, 90, "mosteller") == pytest.approx(2.0, abs=1e-12)
    assert body_surface_area(170, 70) == pytest.approx(1.8181, abs=1e-4)


def test_dubois_by_hand():
    """DuBois 1916 for 180 cm, 80 kg, by common logarithms:
    log10 80 = 1.90309 x 0.425 = 0.80881; log10 180 = 2.25527 x 0.725 = 1.63507; sum 2.44389;
    10^2.44389 = 277.89; x 0.007184 = 1.9964 m2."""
    assert body_surface_area(180, 80, "dubois") == pytest.approx(1.9964, abs=5e-4)
    # and the formula's two exponents: height x 2 multiplies BSA by 2^0.725, weight x 2 by 2^0.425
    assert body_surface_area(200, 50, "dubois") / body_surface_area(100, 50, "dubois") == pytest.approx(2 ** 0.725)
    assert body_surface_area(150, 100, "dubois") / body_surface_area(150, 50, "dubois") == pytest.approx(2 ** 0.425)


@pytest.mark.parametrize("height, weight, field", [
    (1.8, 80, "height_cm"),        # metres typed for centimetres
    (320, 80, "height_cm"),
    (180, 0, "weight_kg"),
    (180, 800, "weight_kg"),       # beyond the 400 kg bound
    (float("nan"), 80, "height_cm"),
    (180, True, "weight_kg"),
    ("180", 80, "height_cm"),
])
def test_bsa_refuses_impossible_values(height, weight, field):
    with pytest.raises(InvalidValue) as info:
        body_surface_area(height, weight)
    assert info.value.field == field


def test_bsa_refuses_unknown_formula():
    with pytest.raises(InvalidValue, match="formula: must be one of mosteller, dubois"):
        body_surface_area(180, 80, "haycock")


# --------------------------------------------------------------------------- planned doses
def test_planned_doses_per_m2_and_per_kg():
    """Tap 2016: doxorubicin 75 mg/m2 at BSA 2.0 = 150 mg; olaratumab 15 mg/kg at 80 kg = 1200 mg."""
    assert planned_dose_mg(DOXORUBICIN, bsa_m2=2.0) == pytest.approx(150)
    assert planned_dose_mg(OLARATUMAB, weight_kg=80) == pytest.approx(1200)
    with pytest.raises(InvalidValue, match="bsa_m2"):
        planned_dose_mg(DOXORUBICIN, weight_kg=80)


# --------------------------------------------------------------------------- course: delays, reductions, RDI
def _course():
    """Three cycles of doxorubicin + olaratumab, BSA 2.0 m2, weight 80 kg:
    C1 2024-01-01: doxorubicin 150 mg, olaratumab 1200 mg days 1 and 8;
    C2 2024-01-29 (planned 01-22, 7 days late, logistics): doxorubicin 120 mg (toxicity), olaratumab
       day 1 1200 mg, day 8 omitted (toxicity);
    C3 2024-02-19 (planned 01-29 + 21 = 02-19, on time): full doses."""
    a = Administration
    return [
        a(1, 1, D(2024, 1, 1), "doxorubicin", 150), a(1, 1, D(2024, 1, 1), "olaratumab", 1200),
        a(1, 8, D(2024, 1, 8), "olaratumab", 1200),
        a(2, 1, D(2024, 1, 29), "doxorubicin", 120, ("logistics", "toxicity")),
        a(2, 1, D(2024, 1, 29), "olaratumab", 1200, ("logistics",)),
        a(2, 8, D(2024, 2, 5), "olaratumab", 0, ("toxicity",)),
        a(3, 1, D(2024, 2, 19), "Doxorubicin", 150), a(3, 1, D(2024, 2, 19), "olaratumab", 1200),
        a(3, 8, D(2024, 2, 26), "olaratumab", 1200),
    ]


def test_delays_and_reductions_per_cycle():
    summary = summarise_course(DOX_OLA, _course(), bsa_m2=2.0, weight_kg=80)
    assert summary.cycles_given == 3
    c1, c2, c3 = summary.cycles
    assert (c1.delay_days, c2.delay_days, c3.delay_days) == (None, 7, 0)
    assert c2.planned_start == D(2024, 1, 22) and c2.delayed and not c3.delayed
    dox2 = next(d for d in c2.drugs if d.drug == "doxorubicin")
    assert (dox2.planned_mg, dox2.given_mg) == (pytest.approx(150), 120)
    assert dox2.percent_of_planned == pytest.approx(80) and dox2.reduced
    ola2 = next(d for d in c2.drugs if d.drug == "olaratumab")
    assert ola2.planned_mg == pytest.approx(2400) and ola2.given_mg == 1200 and ola2.omitted_days == (8,)
    assert set(c2.reasons) == {"logistics", "toxicity"} and c2.missing_reasons == ()
    assert not any(d.reduced for d in c1.drugs + c3.drugs)


def test_relative_dose_intensity_by_hand():
    """Time: 2024-01-01 to 2024-02-19 is 49 days, plus the last cycle's 21 = 70 days = 10 weeks.
    Doxorubicin received 150/2 + 120/2 + 150/2 = 210 mg/m2 -> 21 mg/m2/week; planned 75 mg/m2 per
    3 weeks = 25 mg/m2/week; RDI 21/25 = 0.84.
    Olaratumab received (2400 + 1200 + 2400)/80 = 75 mg/kg -> 7.5 mg/kg/week; planned 30 mg/kg per
    3 weeks = 10 mg/kg/week; RDI 0.75."""
    summary = summarise_course(DOX_OLA, _course(), bsa_m2=2.0, weight_kg=80)
    dox, ola = summary.dose_intensity
    assert (dox.drug, dox.unit, ola.unit) == ("doxorubicin", "mg/m2", "mg/kg")
    assert dox.weeks == pytest.approx(10)
    assert dox.received == pytest.approx(210) and dox.received_per_week == pytest.approx(21)
    assert dox.planned_per_week == pytest.approx(25) and dox.relative == pytest.approx(0.84)
    assert ola.received == pytest.approx(75) and ola.relative == pytest.approx(0.75)


def test_full_doses_on_time_give_rdi_one():
    """Three full cycles exactly 21 days apart: 225 mg/m2 over 63 days (9 weeks) = 25 mg/m2/week = planned."""
    given = [Administration(c, 1, D(2024, 1, 1) + dt.timedelta(days=21 * (c - 1)), "doxorubicin", 150)
             for c in (1, 2, 3)]
    (dox,) = summarise_course(DOX, given, bsa_m2=2.0).dose_intensity
    assert dox.relative == pytest.approx(1.0)


def test_bsa_per_cycle():
    """BSA 2.0 in cycle 1, 1.9 in cycle 2: 150 mg and 142.5 mg are both full doses (75 mg/m2)."""
    given = [Administration(1, 1, D(2024, 1, 1), "doxorubicin", 150),
             Administration(2, 1, D(2024, 1, 22), "doxorubicin", 142.5)]
    summary = summarise_course(DOX, given, bsa_m2={1: 2.0, 2: 1.9})
    assert [d.planned_mg for c in summary.cycles for d in c.drugs] == [pytest.approx(150), pytest.approx(142.5)]
    assert summary.dose_intensity[0].received == pytest.approx(150)


def test_unexplained_reduction_and_delay_are_listed():
    """Cycle 2 planned 1 Jan + 21 days = 22 Jan, given 25 Jan: 3 days late; 100 of 150 mg (66.7 %) is beyond
    the 5 % tolerance; neither has a reason recorded."""
    given = [Administration(1, 1, D(2024, 1, 1), "doxorubicin", 150),
             Administration(2, 1, D(2024, 1, 25), "doxorubicin", 100)]
    c2 = summarise_course(DOX, given, bsa_m2=2.0).cycles[1]
    assert c2.missing_reasons == ("doxorubicin: reduced without a reason", "delayed 3 days without a reason")


def test_tolerances_are_protocol_parameters():
    """143 mg of 150 (95.3 %) is within a 5 % tolerance, a reduction at 0 %; 2 days late is no delay
    within a 3-day tolerance."""
    given = [Administration(1, 1, D(2024, 1, 1), "doxorubicin", 150),
             Administration(2, 1, D(2024, 1, 24), "doxorubicin", 143)]
    c2 = summarise_course(DOX, given, bsa_m2=2.0, delay_tolerance_days=3).cycles[1]
    assert not c2.drugs[0].reduced and not c2.delayed and c2.delay_days == 2
    c2 = summarise_course(DOX, given, bsa_m2=2.0, dose_tolerance_percent=0).cycles[1]
    assert c2.drugs[0].reduced and c2.delayed


def test_scheduled_dose_not_recorded():
    """Olaratumab's day 8 is due but not recorded: 1200 of 2 x 1200 = 2400 mg given (50 %), a reduction."""
    given = [Administration(1, 1, D(2024, 1, 1), "doxorubicin", 150),
             Administration(1, 1, D(2024, 1, 1), "olaratumab", 1200)]
    ola = summarise_course(DOX_OLA, given, bsa_m2=2.0, weight_kg=80).cycles[0].drugs[1]
    assert ola.not_recorded_days == (8,) and ola.given_mg == 1200 and ola.reduced


@pytest.mark.parametrize("given, field, words", [
    (Administration(1, 1, D(2024, 1, 1), "ifosfamide", 5000), "drug", "'ifosfamide' is not in regimen doxorubicin"),
    (Administration(9, 1, D(2024, 1, 1), "doxorubicin", 150), "cycle", "at most 8 cycles"),
    (Administration(0, 1, D(2024, 1, 1), "doxorubicin", 150), "cycle", "from 1"),
    (Administration(1, 8, D(2024, 1, 8), "doxorubicin", 150), "day", "given on day 1"),
    (Administration(1, 1, D(2024, 1, 1), "doxorubicin", -5), "dose_mg", "at least 0"),
    (Administration(1, 1, D(2024, 1, 1), "doxorubicin", 100, ("felt_like_it",)), "reasons", "must be among"),
])
def test_refused_administrations(given, field, words):
    with pytest.raises(InvalidValue) as info:
        summarise_course(DOX, [given], bsa_m2=2.0)
    assert info.value.field == field and words in str(info.value)


def test_same_dose_recorded_twice_is_refused():
    twice = [Administration(1, 1, D(2024, 1, 1), "doxorubicin", 150)] * 2
    with pytest.raises(InvalidValue, match="recorded twice"):
        summarise_course(DOX, twice, bsa_m2=2.0)


# --------------------------------------------------------------------------- doxorubicin equivalence
@pytest.mark.parametrize("table, drug, factor", [
    # ESC 2022, table "Anthracycline equivalence dose", cardiotoxicity dose ratio
    ("esc-2022", "doxorubicin", 1), ("esc-2022", "epirubicin", 0.8), ("esc-2022", "daunorubicin", 0.6),
    ("esc-2022", "mitoxantrone", 10.5), ("esc-2022", "idarubicin", 5),
    # Feijen 2019, table 3, mean ratio
    ("feijen-2019", "daunorubicin", 0.6), ("feijen-2019", "epirubicin", 0.8), ("feijen-2019", "mitoxantrone", 10.5),
    # IGHG 2025 recommendations
    ("ighg-2025", "daunorubicin", 0.6), ("ighg-2025", "mitoxantrone", 10.5),
    # doxorubicin is the reference of every table
    ("cog-ltfu-5.0", "doxorubicin", 1), ("cog-ltfu-6.0", "doxorubicin", 1),
])
def test_equivalence_factors_as_published(table, drug, factor):
    assert equivalence_table(table).factor(drug) == factor


@pytest.mark.parametrize("table, drug", [
    ("feijen-2019", "idarubicin"),                # table 3: not estimable
    ("ighg-2025", "epirubicin"), ("ighg-2025", "idarubicin"),   # no recommendation
    ("esc-2022", "pegylated_liposomal_doxorubicin"),            # not in the table
    ("cog-ltfu-6.0", "epirubicin"),               # not verified against the guideline text: left out
])
def test_drug_without_factor_is_refused_not_guessed(table, drug):
    with pytest.raises(InvalidValue) as info:
        equivalence_table(table).factor(drug)
    assert info.value.field == drug and table in str(info.value)


def test_every_table_names_its_source_version_and_gaps():
    tables = equivalence_tables()
    assert {"esc-2022", "feijen-2019", "ighg-2025", "cog-ltfu-5.0", "cog-ltfu-6.0"} <= set(tables)
    for t in tables.values():
        assert t.source and t.version and t.factors["doxorubicin"] == 1
        assert "liposomal_doxorubicin" in t.no_factor + t.not_verified  # no table here gives one
    assert tables["cog-ltfu-6.0"].lacks(["doxorubicin", "epirubicin", "olaratumab"]) == ["epirubicin"]


def test_esc_worked_example_and_sum():
    """ESC 2022 footnote: 125 mg/m2 epirubicin x 0.8 = 100 mg/m2 doxorubicin. With 300 mg/m2
    doxorubicin and 20 mg/m2 mitoxantrone (x 10.5 = 210): 100 + 300 + 210 = 610 mg/m2."""
    table = equivalence_table("esc-2022")
    assert doxorubicin_equivalent({"epirubicin": 125}, table).total_mg_m2 == pytest.approx(100)
    result = doxorubicin_equivalent({"epirubicin": 125, "Adriamycin": 300, "mitoxantrone": 20}, table)
    assert result.total_mg_m2 == pytest.approx(610)
    assert [p["drug"] for p in result.parts] == ["epirubicin", "doxorubicin", "mitoxantrone"]


def test_non_anthracycline_is_refused():
    assert not is_anthracycline("olaratumab") and is_anthracycline("Daunomycin")
    with pytest.raises(InvalidValue, match="'olaratumab' is not an anthracycline"):
        doxorubicin_equivalent({"olaratumab": 15}, equivalence_table("esc-2022"))


# --------------------------------------------------------------------------- the warning before the crossing cycle
def test_warning_only_before_the_cycle_that_would_cross():
    """Limit 450 mg/m2, 75 mg/m2 a cycle: after 5 cycles (375) the 6th reaches 450 exactly (no warning);
    after 6 (450) the 7th would take it to 525 (warning)."""
    assert anthracycline_warning(375, 75, 450) is None
    message = anthracycline_warning(450, 75, 450)
    assert message and "from 450 to 525 mg/m2" in message and "limit of 450 mg/m2" in message
    assert "already above" in anthracycline_warning(460, 0, 450)
    assert anthracycline_warning(100, 0, 450) is None
    with pytest.raises(InvalidValue, match="limit: must be greater than 0"):
        anthracycline_warning(100, 75, 0)


def test_course_warns_before_cycle_seven_of_tap_regimen():
    """Tap 2016: 8 cycles of 75 mg/m2 = 600 mg/m2 planned. With a 450 mg/m2 limit the warning comes
    after cycle 6 (450 mg/m2 given), before cycle 7, and not after cycle 5 (375)."""
    table = equivalence_table("cog-ltfu-6.0")
    assert planned_cycle_equivalent(DOX, table) * DOX.max_cycles == pytest.approx(600)

    def after(n):
        given = [Administration(c, 1, D(2024, 1, 1) + dt.timedelta(days=21 * (c - 1)), "doxorubicin", 150)
                 for c in range(1, n + 1)]
        return summarise_course(DOX, given, bsa_m2=2.0, table=table, limit_mg_m2=450)

    assert after(5).cumulative_doxorubicin_equivalent == pytest.approx(375) and after(5).anthracycline_warning is None
    assert after(6).cumulative_doxorubicin_equivalent == pytest.approx(450)
    assert "from 450 to 525" in after(6).anthracycline_warning
    assert after(8).anthracycline_warning is None  # no cycle left to give


def test_prior_exposure_counts():
    """200 mg/m2 doxorubicin before the trial plus 4 cycles of 75 = 500, above a 450 limit."""
    given = [Administration(c, 1, D(2024, 1, 1) + dt.timedelta(days=21 * (c - 1)), "doxorubicin", 150)
             for c in range(1, 5)]
    summary = summarise_course(DOX, given, bsa_m2=2.0, table=equivalence_table("esc-2022"),
                               prior_doxorubicin_equivalent=200, limit_mg_m2=450)
    assert summary.cumulative_doxorubicin_equivalent == pytest.approx(500)
    assert "already above" in summary.anthracycline_warning
    assert math.isclose(summary.as_dict()["cumulative_doxorubicin_equivalent_mg_m2"], 500)
