"""``sarcotrial rules predisposition``: the shipped synthetic family, JSON output, one-line refusals.

Expected verdicts are read from the criteria (Bougeard G, et al. J Clin Oncol 2015;33:2345-2352,
2015 Chompret criteria; Legius E, et al. Genet Med 2021;23:1506-1513, revised NF1 criteria):
the synthetic proband has a soft-tissue sarcoma at 30 (LFS spectrum, before 46) and a mother with
premenopausal breast cancer at 50 (first-degree, LFS spectrum, before 56): familial presentation
met. She has six cafe-au-lait macules over 15 mm after puberty, axillary freckling and three
neurofibromas, and no affected parent: three NF1 features, two needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "predisposition" / "family.yaml"


def run(*args: str):
    return runner.invoke(app, ["rules", "predisposition", *args], env={"COLUMNS": "80"})


def test_example_family_json():
    result = run(str(EXAMPLE), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    chompret = {c["id"]: c["verdict"] for c in data["chompret_2015"]["criteria"]}
    assert chompret == {"familial_presentation": "met", "multiple_primary_tumours": "not_met",
                        "rare_tumours": "not_met", "early_onset_breast_cancer": "not_met"}
    assert data["chompret_2015"]["verdict"] == "met"
    assert data["nf1_legius_2021"]["verdict"] == "met"
    nf1 = {c["id"]: c["verdict"] for c in data["nf1_legius_2021"]["criteria"]}
    assert nf1["cafe_au_lait_macules"] == "met" and nf1["lisch_nodules_or_choroidal_abnormalities"] == "unknown"
    assert data["referral"]["refer"] is True and len(data["referral"]["reasons"]) == 2
    # the TP53 VUS is no reason of its own
    assert not any(r.startswith("germline") for r in data["referral"]["reasons"])
    cousin = next(r for r in data["relatives"] if r["relationship"] == "paternal_first_cousin")
    assert (cousin["degree"], cousin["side"]) == (3, "paternal")


def test_example_family_text_is_readable_at_80_columns():
    result = run(str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "Familial presentation" in result.output and "CRITERIA MET" in result.output
    assert "Genetic counselling referral: YES" in result.output and "the counsellor decides" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_json_document_and_undecided(tmp_path):
    doc = {"proband": {"sex": "female", "cancers": [{"type": "rhabdomyosarcoma", "age": 4}]},
           "relatives": []}
    path = tmp_path / "family.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    data = json.loads(run(str(path), "--json").output)
    assert data["chompret_2015"]["verdict"] == "undecided"
    assert data["chompret_2015"]["missing"] == ["proband.cancers[0].subtype"]
    assert data["nf1_legius_2021"]["verdict"] == "not_assessed"
    assert data["referral"] == {"refer": False, "reasons": [],
                                "pending": ["Chompret criteria cannot be decided (missing: proband.cancers[0].subtype)"]}
    text = run(str(path))
    assert "cannot be decided" in text.output and "proband.cancers[0].subtype" in text.output


@pytest.mark.parametrize("body, suffix, expected", [
    ("proband:\n  sex: female\n  cancers: []\nrelatives:\n  - relationship: mother\n    cancers: []\n"
     "  - relationship: sister\n    cancers:\n      - type: osteosarcoma\n        age: -3\n", ".yaml",
     "relatives[1].cancers[0].age:"),
    ("proband:\n  sex: female\n  cancers: []\nrelatives:\n  - relationship: lodger\n", ".yaml",
     "relatives[0].relationship:"),
    ("proband: [unclosed\n", ".yaml", "not valid YAML"),
    ('{"proband": ', ".json", "not valid JSON"),
    ("proband: {}\n", ".txt", ".yaml, .yml or .json"),
    ("relatives: []\n", ".yaml", "proband:"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, body, suffix, expected):
    path = tmp_path / f"family{suffix}"
    path.write_text(body, encoding="utf-8")
    result = run(str(path))
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_missing_file_exits_2(tmp_path):
    result = run(str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2 and "absent.yaml" in result.output


def test_the_germline_result_is_shown_and_a_tested_gene_is_not_asked_for_again():
    """The example's TP53 variant of uncertain significance is shown (docs/predisposition.md: shown, but no
    reason); TP53 being tested, the Chompret reason does not ask for the test again."""
    text = " ".join(run(str(EXAMPLE)).output.split())
    assert "Germline testing: genes tested TP53, NF1" in text
    assert "TP53 NM_000546.6:c.1079A>G (p.Lys360Arg), uncertain significance" in text
    referral = text.split("Genetic counselling referral")[1]
    assert "TP53 already tested" in referral and "TP53 testing is indicated" not in referral
