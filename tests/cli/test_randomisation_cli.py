"""``sarcotrial randomisation simulate`` and the protocol file's arms and randomisation sections.

The keys are the issue's: ``{"allocations": [{"patient", "strata": {...}, "arm"}]}`` (plus ``scheme``). The
balance asserted is the permuted-block bound derived in ``tests/domain/test_randomisation.py`` (Schulz & Grimes,
Lancet 2002;359:515: within a stratum, max n/r - min n/r never exceeds the largest block over the sum of the
ratios; 1:1 blocks {2, 4}: 2). The protocol checks are the rules of ``docs/randomisation.md``; ICH E9 (1998)
section 2.3.2 asks that the scheme be stated in the protocol, which ``source`` holds.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.protocol import ProtocolError, parse_protocol

runner = CliRunner()
RANDOMISED = Path(__file__).resolve().parents[1] / "protocols" / "randomised-test.yaml"
TEXT = RANDOMISED.read_text(encoding="utf-8")


def simulate(*args: str):
    return runner.invoke(app, ["randomisation", "simulate", "--protocol", str(RANDOMISED), *args])


def simulate_json(*args: str) -> dict:
    result = simulate(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def variant(tmp_path: Path, change) -> Path:
    """The test protocol with one change made to its data, written to a file."""
    data = yaml.safe_load(TEXT)
    change(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_json_keys_and_values():
    out = simulate_json("--patients", "40", "--seed", "s1", "--sites", "3")
    assert set(out) == {"scheme", "allocations"}
    assert [a["patient"] for a in out["allocations"]] == list(range(1, 41))
    for a in out["allocations"]:
        assert set(a) == {"patient", "strata", "arm"}
        assert a["arm"] in ("doxorubicin", "doxorubicin_antibody")
        assert set(a["strata"]) == {"previous_lines", "ecog", "site"}
        assert a["strata"]["previous_lines"] in ("none", "one", "two_or_more")
        assert a["strata"]["ecog"] in ("0", "1-2") and a["strata"]["site"] in ("S01", "S02", "S03")
    assert out["scheme"]["method"] == "permuted_blocks" and out["scheme"]["block_sizes"] == [2, 4]


def test_balance_within_every_stratum():
    """1:1, blocks {2, 4}: within each stratum, at every allocation, |n_A - n_B| <= 4 / 2 = 2."""
    out = simulate_json("--patients", "300", "--seed", "balance", "--sites", "2")
    counts: dict[str, Counter] = defaultdict(Counter)
    for a in out["allocations"]:
        c = counts[json.dumps(a["strata"], sort_keys=True)]
        c[a["arm"]] += 1
        assert abs(c["doxorubicin"] - c["doxorubicin_antibody"]) <= 2
    assert len(counts) == 3 * 2 * 2  # every stratum drawn


def test_reproducible_from_the_seed():
    first = simulate_json("--patients", "50", "--seed", "same")
    assert simulate_json("--patients", "50", "--seed", "same") == first
    assert simulate_json("--patients", "50", "--seed", "other")["allocations"] != first["allocations"]


def test_readable_output_fits_80_columns():
    result = simulate("--patients", "120", "--seed", "readable", "--sites", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(i for i, line in enumerate(lines) if line.startswith("stratum "))
    assert lines[header - 1].rstrip().endswith("max") and lines[header].rstrip().endswith("imbalance")
    assert any(line.startswith("Overall: doxorubicin ") for line in lines)
    assert "none / 0 / S01" in result.output


def test_minimisation_readable_and_json(tmp_path):
    def to_minimisation(data):
        rand = data["randomisation"]
        rand.pop("block_sizes")
        rand["method"] = "minimisation"
        rand["minimisation"] = {"probability": 0.8, "imbalance": "range", "weights": {"ecog": 2}}
    path = variant(tmp_path, to_minimisation)
    result = runner.invoke(app, ["randomisation", "simulate", "--protocol", str(path), "--patients", "80",
                                 "--seed", "m", "--sites", "2"])
    assert result.exit_code == 0, result.output
    assert "minimisation (Pocock-Simon, range) with probability 0.8" in result.output
    assert "factor level" in result.output and "ecog=1-2" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    out = json.loads(runner.invoke(app, ["randomisation", "simulate", "--protocol", str(path), "--patients", "5",
                                         "--seed", "m", "--json"]).output)
    assert out["scheme"]["weights"] == {"previous_lines": 1.0, "ecog": 2.0, "site": 1.0}
    assert len(out["allocations"]) == 5


def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert len(text.splitlines()) == 1 and text.startswith("error:"), text
    for word in words:
        assert word in text


def test_a_protocol_without_arms_exits_2():
    result = runner.invoke(app, ["randomisation", "simulate", "--protocol", "sprint", "--patients", "5", "--seed", "x"])
    one_line_error(result, "protocol", "no arms")


@pytest.mark.parametrize("patients", ["0", "-3", "x", "1.5", ""])
def test_patients_must_be_a_positive_whole_number(patients):
    one_line_error(simulate("--patients", patients, "--seed", "x"), "patients", "whole number")


def test_sites_need_a_site_stratum(tmp_path):
    path = variant(tmp_path, lambda data: data["randomisation"].update(site=False))
    result = runner.invoke(app, ["randomisation", "simulate", "--protocol", str(path), "--patients", "5",
                                 "--seed", "x", "--sites", "3"])
    one_line_error(result, "sites", "site is false")
    one_line_error(simulate("--patients", "5", "--seed", "x", "--sites", "0"), "sites")


# --------------------------------------------------------------------------- the protocol file
def test_the_test_protocol_validates():
    result = runner.invoke(app, ["protocol", "validate", str(RANDOMISED)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid")


def problems_of(change) -> list[str]:
    data = yaml.safe_load(TEXT)
    change(data)
    with pytest.raises(ProtocolError) as raised:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "variant")
    return raised.value.problems


def _rand(data):
    return data["randomisation"]


def _factor(data, factor_id):
    return next(f for f in data["randomisation"]["factors"] if f["id"] == factor_id)


def _screening_field(data, field_id):
    form = next(f for f in data["forms"] if f["id"] == "screening")
    return next(f for f in form["fields"] if f["id"] == field_id)


CASES = [
    ("duplicate arm", lambda d: d["arms"].append(dict(d["arms"][0])), "arms: duplicate arm id 'doxorubicin'"),
    ("one arm", lambda d: (d["arms"].pop(), d["identification"]["design"].update(arms=1)),
     "arms: a randomisation needs at least 2 arms (1 declared)"),
    ("randomised without a scheme", lambda d: d.pop("randomisation"),
     "randomisation: identification.design.allocation is randomised: the protocol needs a randomisation section"),
    ("a scheme but not randomised", lambda d: d["identification"]["design"].update(allocation="non-randomised"),
     "identification.design.allocation: is 'non-randomised', but the protocol has a randomisation section"),
    ("unknown form", lambda d: _factor(d, "ecog").update(form="baseline"),
     "randomisation.factors.ecog.form: unknown form 'baseline'"),
    ("unknown field", lambda d: _factor(d, "ecog").update(field="whos"),
     "randomisation.factors.ecog.field: form 'screening' has no field 'whos'"),
    ("overlapping levels", lambda d: _factor(d, "ecog").update(levels={"0-1": [0, 1], "1-2": [1, 2]}),
     "randomisation.factors.ecog.levels.1-2: 1 is also in level '0-1': each value belongs to one level"),
    ("value outside the field", lambda d: _factor(d, "ecog").update(levels={"0": [0], "high": [5]}),
     "randomisation.factors.ecog.levels.high: 5 is outside 'ecog''s range 0 to 4"),
    ("unknown code", lambda d: _factor(d, "previous_lines").update(levels={"none": ["none"], "some": ["one", "two"]}),
     "randomisation.factors.previous_lines.levels.some: 'two' is not a code of codelist 'previous_lines'"),
    ("integer without levels", lambda d: _factor(d, "ecog").pop("levels"),
     "randomisation.factors.ecog.levels: 'ecog' is an integer field: group its values into levels"),
    ("a decimal field", lambda d: d["randomisation"]["factors"].append(
        {"id": "size", "form": "diagnosis", "field": "size_cm"}),
     "randomisation.factors.size.field: 'size_cm' is a decimal field"),
    ("an optional field", lambda d: _screening_field(d, "ecog").update(required=False),
     "randomisation.factors.ecog.field: 'screening.ecog' must be required on its form"),
    ("block size and ratio", lambda d: d["arms"][0].update(ratio=2),
     "randomisation.block_sizes: 2 is not a multiple of 3, the sum of the arms' ratios"),
    ("duplicate block size", lambda d: _rand(d).update(block_sizes=[2, 2, 4]),
     "randomisation.block_sizes: duplicate block size '2'"),
    ("blocks missing", lambda d: _rand(d).pop("block_sizes"),
     "randomisation.block_sizes: permuted blocks need block_sizes"),
    ("site as a factor", lambda d: d["randomisation"]["factors"].append(
        {"id": "site", "form": "screening", "field": "previous_lines_group"}),
     "randomisation.factors.site.id: 'site' is the site's own factor: say site: true instead"),
    ("unknown method", lambda d: _rand(d).update(method="urn"),
     "randomisation.method: must be one of permuted_blocks, minimisation (got 'urn')"),
    ("no source", lambda d: _rand(d).pop("source"), "randomisation.source: required key is missing"),
]


@pytest.mark.parametrize("change, expected", [(c, e) for _, c, e in CASES], ids=[name for name, _, _ in CASES])
def test_protocol_problems_are_named_by_path(change, expected):
    problems = problems_of(change)
    assert any(p.startswith(expected) for p in problems), problems


def _minimisation(data, probability=0.8, **extra):
    rand = data["randomisation"]
    rand.pop("block_sizes")
    rand.update(method="minimisation", minimisation={"probability": probability, **extra})


@pytest.mark.parametrize("change, expected", [
    (lambda d: _minimisation(d, 0.5), "randomisation.minimisation.probability: must be greater than 0.5 (got 0.5)"),
    (lambda d: _minimisation(d, 1.2), "randomisation.minimisation.probability: must be at most 1 (got 1.2)"),
    (lambda d: _minimisation(d, weights={"stage": 2}),
     "randomisation.minimisation.weights.stage: 'stage' is not a factor of the scheme"),
    (lambda d: (_minimisation(d), d["arms"][0].update(ratio=2)),
     "arms: minimisation (Pocock and Simon 1975) allocates in equal ratios here"),
    (lambda d: (_minimisation(d), d["randomisation"].update(factors=[], site=False)),
     "randomisation.factors: minimisation needs at least one factor, or site: true"),
    (lambda d: (_minimisation(d), d["randomisation"].update(block_sizes=[2])),
     "randomisation.block_sizes: go with method permuted_blocks, not minimisation"),
])
def test_minimisation_problems(change, expected):
    problems = problems_of(change)
    assert any(p.startswith(expected) for p in problems), problems


def test_minimisation_with_probability_one_is_valid(tmp_path):
    path = variant(tmp_path, lambda d: _minimisation(d, 1))
    assert runner.invoke(app, ["protocol", "validate", str(path)]).exit_code == 0


def test_every_problem_at_once():
    """A problem elsewhere in the file (an unknown visit form) and a randomisation problem are named in one run;
    an invalid randomisation section is reported for itself, never as missing."""
    def two(d):
        d["visits"][0]["forms"].append("nowhere")
        _factor(d, "ecog").update(field="whos")
    problems = problems_of(two)
    assert any("unknown form 'nowhere'" in p for p in problems)
    assert any(p.startswith("randomisation.factors.ecog.field: form 'screening' has no field 'whos'") for p in problems)

    def bad_section(d):
        d["visits"][0]["forms"].append("nowhere")
        _rand(d).update(block_sizes=[0])
    problems = problems_of(bad_section)
    assert any(p.startswith("randomisation.block_sizes") and "at least 2" in p for p in problems), problems
    assert not any("needs a randomisation section" in p for p in problems)


def test_validate_lists_the_problems(tmp_path):
    path = variant(tmp_path, lambda d: _rand(d).update(block_sizes=[3]))
    result = runner.invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2
    assert "randomisation.block_sizes: 3 is not a multiple of 2, the sum of the arms' ratios" in result.output
