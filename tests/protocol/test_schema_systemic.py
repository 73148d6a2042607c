"""The protocol's systemic-therapy section: regimens, BSA formula, anthracycline limit and their checks.

The regimen used is the second protocol's (Tap WD et al., Lancet 2016;388:488-497): doxorubicin
75 mg/m2 day 1 every 21 days up to 8 cycles, with or without olaratumab 15 mg/kg days 1 and 8.
Each refusal names the path and the rule; the equivalence tables are those of
``domain/data/anthracycline_equivalence.yaml`` (ESC 2022; COG LTFU 6.0 without verified factors
other than doxorubicin's).
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from sarcotrial.protocol import ProtocolError, parse_protocol
from sarcotrial.protocol.schema_systemic import Systemic, systemic_problems

MINI = Path(__file__).resolve().parents[1] / "protocols" / "mini.yaml"

SYSTEMIC = {
    "bsa_formula": "mosteller",
    "anthracycline": {"equivalence": "esc-2022", "warn_cumulative_mg_m2": 450,
                      "source": "doxorubicin labelling: cardiomyopathy 1 % to 20 % at 300 to 500 mg/m2"},
    "regimens": [
        {"id": "doxorubicin", "name": "Doxorubicin", "cycle_days": 21, "max_cycles": 8,
         "drugs": [{"drug": "doxorubicin", "dose": 75, "per": "m2", "days": [1], "route": "iv"}]},
        {"id": "doxorubicin_olaratumab", "name": "Doxorubicin + olaratumab", "cycle_days": 21, "max_cycles": 8,
         "drugs": [{"drug": "doxorubicin", "dose": 75, "per": "m2", "days": [1], "route": "iv"},
                   {"drug": "olaratumab", "dose": 15, "per": "kg", "days": [1, 8], "route": "iv"}]},
    ],
}


def _data(systemic: dict | None = None) -> dict:
    data = yaml.safe_load(MINI.read_text(encoding="utf-8"))
    data["schema_version"] = 2  # the systemic section comes with schema version 2
    data["treatment"]["systemic"] = copy.deepcopy(SYSTEMIC if systemic is None else systemic)
    return data


def _problems(mutate) -> list[str]:
    data = _data()
    mutate(data["treatment"]["systemic"], data)
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "systemic.yaml")
    return info.value.problems


def test_valid_section_parses():
    p = parse_protocol(yaml.safe_dump(_data(), sort_keys=False), "systemic.yaml").protocol
    systemic = p.treatment.systemic
    assert systemic.bsa_formula == "mosteller" and systemic.dose_tolerance_percent == 5
    assert systemic.anthracycline.equivalence == "esc-2022" and systemic.anthracycline.warn_cumulative_mg_m2 == 450
    both = systemic.regimens[1]
    assert (both.cycle_days, both.max_cycles) == (21, 8)
    assert [(d.drug, d.dose, d.per, d.days) for d in both.drugs] == [("doxorubicin", 75, "m2", [1]),
                                                                     ("olaratumab", 15, "kg", [1, 8])]


def test_section_is_optional():
    assert Systemic().regimens == [] and Systemic().bsa_formula == "mosteller"


def _set(path, value):
    def mutate(section, data):
        target = section
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


BROKEN = [
    ("day outside the cycle", _set(["regimens", 1, "drugs", 1, "days"], [1, 22]),
     "treatment.systemic.regimens.doxorubicin_olaratumab.drugs.olaratumab.days: day 22 is outside the 21-day cycle"),
    ("duplicate regimen id", _set(["regimens", 1, "id"], "doxorubicin"),
     "treatment.systemic.regimens: duplicate regimen id 'doxorubicin'"),
    ("unknown table", _set(["anthracycline", "equivalence"], "cog-ltfu-9.9"),
     "treatment.systemic.anthracycline.equivalence: unknown equivalence table 'cog-ltfu-9.9' (known: esc-2022"),
    ("table lacks a factor", _set(["regimens", 0, "drugs", 0, "drug"], "pegylated_liposomal_doxorubicin"),
     "treatment.systemic.anthracycline.equivalence: table esc-2022 gives no doxorubicin-equivalence factor for "
     "pegylated_liposomal_doxorubicin, which regimen doxorubicin gives: choose a table with one"),
    ("anthracycline per kg", _set(["regimens", 0, "drugs", 0, "per"], "kg"),
     "treatment.systemic.regimens.doxorubicin.drugs.doxorubicin.per: an anthracycline is dosed per m2"),
    ("unknown arm", _set(["regimens", 0, "arms"], ["doxorubicin_alone"]),
     "treatment.systemic.regimens.doxorubicin.arms: 'doxorubicin_alone' names no arm of this protocol"),
    ("no anthracycline limit", lambda s, d: s.pop("anthracycline"),
     "treatment.systemic.anthracycline: the regimens give an anthracycline (doxorubicin)"),
    ("zero dose", _set(["regimens", 0, "drugs", 0, "dose"], 0),
     "treatment.systemic.regimens.doxorubicin.drugs[0].dose: must be greater than 0"),
    ("unknown BSA formula", _set(["bsa_formula"], "haycock"), "treatment.systemic.bsa_formula"),
    ("drug listed twice", _set(["regimens", 1, "drugs", 1, "drug"], "doxorubicin"),
     "treatment.systemic.regimens.doxorubicin_olaratumab.drugs: drug 'doxorubicin' is listed twice"),
]


@pytest.mark.parametrize("label, mutate, expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_section_names_path_and_rule(label, mutate, expected):
    problems = _problems(mutate)
    assert any(expected in p for p in problems), problems


def test_table_without_a_factor_says_which_drug():
    """IGHG 2025 makes no recommendation for epirubicin; COG LTFU 6.0's factors are not verified here."""
    def mutate(section, data):
        section["regimens"][0]["drugs"][0]["drug"] = "epirubicin"
        section["anthracycline"]["equivalence"] = "ighg-2025"
    problems = _problems(mutate)
    assert any("table ighg-2025 gives no doxorubicin-equivalence factor for epirubicin, which regimen "
               "doxorubicin gives" in p for p in problems), problems

    def cog(section, data):
        section["regimens"][0]["drugs"][0]["drug"] = "epirubicin"
        section["anthracycline"]["equivalence"] = "cog-ltfu-6.0"
    assert any("table cog-ltfu-6.0 has no verified factor for epirubicin" in p for p in _problems(cog))


def test_doxorubicin_with_cog_table_is_accepted():
    """Doxorubicin is the reference of every table (factor 1), so the Tap regimen may name COG LTFU 6.0."""
    data = _data()
    data["treatment"]["systemic"]["anthracycline"]["equivalence"] = "cog-ltfu-6.0"
    assert parse_protocol(yaml.safe_dump(data, sort_keys=False), "x.yaml").protocol.treatment.systemic


def test_parts_that_did_not_parse_are_not_judged():
    """On the parsed parts of a broken file: no treatment, or arms that did not parse, name nothing."""
    assert systemic_problems(SimpleNamespace(treatment=None)) == []
    section = Systemic.model_validate({**SYSTEMIC, "regimens": [{**SYSTEMIC["regimens"][0], "arms": ["a"]}]})
    parts = SimpleNamespace(treatment=SimpleNamespace(systemic=section), arms=None)
    assert systemic_problems(parts) == []
    parts = SimpleNamespace(treatment=SimpleNamespace(systemic=section), arms=[SimpleNamespace(id="a"), None])
    assert systemic_problems(parts) == []
    parts = SimpleNamespace(treatment=SimpleNamespace(systemic=section), arms=[SimpleNamespace(id="b")])
    assert systemic_problems(parts) == [("treatment.systemic.regimens.doxorubicin.arms",
                                         "'a' names no arm of this protocol (arms: b)")]
