"""``sarcotrial rules msts``, ``rules cirse`` and ``rules eqd2`` beyond photons: keys, values, one-line errors.

Expected values are hand computations from the published rules:
- MSTS (Enneking et al., Clin Orthop Relat Res 1993;286:241-246): 5+4+3+5+4+3 = 24/30 = 80 %.
- CIRSE (Filippiadis et al., CVIR 2017;40:1141-1146): additional therapy -> grade 3; the worst
  consequence decides; a stay < 48 h beyond the normal course -> grade 2.
- LDR (Dale, Br J Radiol 1985;58:515-528): permanent I-125 145 Gy, half-life 59.4 d, repair
  half-time 0.27 h, a/b 3.1 -> BED = 145 (1 + 0.070501 / (2.567697 x 3.1)) = 146.284 Gy.
- Protons (ICRU 78): 50 Gy x 1.1 = 55 Gy(RBE); 25 fractions, a/b 4: BED 85.25, EQD2 56.833.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()

LOWER = ["--item", "pain=5", "--item", "function=4", "--item", "emotional-acceptance=3",
         "--item", "supports=5", "--item", "walking=4", "--item", "gait=3"]


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.output


def test_msts_json_and_text():
    data = cli_json("rules", "msts", "--limb", "lower", *LOWER)
    assert (data["total"], data["maximum"], data["percent"]) == (24, 30, 80.0)
    assert data["items"]["emotional_acceptance"] == 3
    text = runner.invoke(app, ["rules", "msts", "--limb", "lower", *LOWER])
    assert text.exit_code == 0 and "24/30" in text.output and "Supports: 5 (none)" in text.output


@pytest.mark.parametrize("items, field", [
    (LOWER[:-2], "gait"),                                    # missing item
    (LOWER[:-2] + ["--item", "gait=6"], "gait"),             # out of range
    (LOWER[:-2] + ["--item", "gait=three"], "gait"),         # not a number
    (LOWER + ["--item", "pain=4"], "pain"),                  # given twice
    (LOWER[:-2] + ["--item", "lifting-ability=3"], "lifting_ability"),   # upper-limb item
])
def test_msts_refusals_name_the_item(items, field):
    assert f"{field}:" in refused("rules", "msts", "--limb", "lower", *items)


def test_cirse():
    data = cli_json("rules", "cirse", "--consequence", "solved-in-session", "--consequence", "additional-therapy")
    assert data["grade"] == 3 and data["deciding_consequence"] == "additional_therapy"
    assert cli_json("rules", "cirse", "--extra-stay-hours", "20")["grade"] == 2
    assert cli_json("rules", "cirse", "--extra-stay-hours", "72", "--consequence", "death")["grade"] == 6
    assert "consequence:" in refused("rules", "cirse")
    assert "consequence:" in refused("rules", "cirse", "--consequence", "grade-3")
    assert "extra_stay_hours:" in refused("rules", "cirse", "--extra-stay-hours", "long")


def test_eqd2_ldr_permanent_and_temporary():
    data = cli_json("rules", "eqd2", "--ldr", "--total-dose", "145", "--half-life-days", "59.4",
                    "--repair-half-time-h", "0.27", "--alpha-beta", "3.1")
    assert data["modality"] == "ldr_permanent" and data["bed"] == pytest.approx(146.284, abs=1e-3)
    # 40 Gy at 0.55 Gy/h: T = 72.73 h; with mu 0.46 /h, a/b 10: BED 49.279 (see the domain tests)
    temp = cli_json("rules", "eqd2", "--ldr", "--dose", "40", "--dose-rate-gy-h", "0.55",
                    "--repair-half-time-h", str(0.6931471805599453 / 0.46), "--alpha-beta", "10")
    assert temp["duration_h"] == pytest.approx(72.727, abs=1e-3) and temp["bed"] == pytest.approx(49.279, abs=1e-3)


@pytest.mark.parametrize("args, field", [
    (["--dose", "40", "--dose-rate-gy-h", "0.55", "--repair-half-time-h", "1.5"], "ldr"),      # no --ldr
    (["--ldr", "--dose", "40", "--dose-rate-gy-h", "0.55"], "repair_half_time_h"),
    (["--ldr", "--dose", "40", "--repair-half-time-h", "1.5"], "dose_rate_gy_per_h"),
    (["--ldr", "--dose", "40", "--dose-rate-gy-h", "0.5", "--half-life-days", "59.4", "--repair-half-time-h", "1"],
     "dose_rate_gy_per_h"),
    (["--ldr", "--dose", "40", "--fractions", "2", "--dose-rate-gy-h", "0.5", "--repair-half-time-h", "1"], "ldr"),
    (["--ldr", "--dose-rate-gy-h", "0.5", "--repair-half-time-h", "1"], "total_dose_gy"),
])
def test_eqd2_ldr_refusals(args, field):
    assert f"{field}:" in refused("rules", "eqd2", *args)


def test_eqd2_protons_and_carbon():
    data = cli_json("rules", "eqd2", "--particle", "proton", "--physical-dose", "50", "--fractions", "25",
                    "--alpha-beta", "4")
    assert data["dose_gy_rbe"] == pytest.approx(55.0) and data["rbe"] == 1.1
    assert data["bed"] == pytest.approx(85.25) and data["eqd2"] == pytest.approx(56.8333, abs=1e-4)
    out = refused("rules", "eqd2", "--particle", "carbon", "--dose", "70.4", "--rbe-model", "LEM-I", "--fractions", "16")
    assert "particle:" in out and "carbon" in out
    assert "rbe_model:" in refused("rules", "eqd2", "--particle", "carbon", "--dose", "70.4", "--fractions", "16")
    assert "particle:" in refused("rules", "eqd2", "--physical-dose", "50")


def test_eqd2_photon_path_unchanged():
    assert cli_json("rules", "eqd2", "--dose", "60", "--fractions", "25", "--alpha-beta", "4") == {
        "bed": pytest.approx(96.0), "eqd2": pytest.approx(64.0), "dose_per_fraction": pytest.approx(2.4)}
    # HDR brachytherapy is fractionated: 4 x 7 Gy at a/b 10 -> EQD2 28 x 1.7 / 1.2 = 39.67 Gy
    assert cli_json("rules", "eqd2", "--dose", "28", "--fractions", "4", "--alpha-beta", "10")["eqd2"] == pytest.approx(
        39.6667, abs=1e-4)
