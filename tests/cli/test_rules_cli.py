"""``sarcotrial rules``, ``screen`` and ``ctcae``: the keys the issue names, published values, one-line errors.

Expected values come from the published tables (cited per test), never from this code:
- FNCLCC (Coindre, Arch Pathol Lab Med 2006;130:1448, table 1): 3 + 3 + 2 = 8 -> G3.
- AJCC 8th ed. ch. 41 (trunk/extremity): 5.0 cm is T1; T1 N0 M0 G3 is stage II;
  ch. 44 (retroperitoneum): any T N1 M0 is IIIB; ch. 40 head and neck has no stage group.
- EORTC-STBSG (Wardelmann et al., Eur J Cancer 2016): 5 % stainable cells is tier C.
- LQ: 60 Gy in 25 fractions at alpha/beta 4 Gy: BED = 60 (1 + 2.4/4) = 96 Gy, EQD2 = 96/1.5 = 64 Gy.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def cli_process(*args: str) -> subprocess.CompletedProcess:
    """As a user runs it: the real entry point, in its own process."""
    return subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def test_fnclcc_keys_and_values():
    assert cli_json("rules", "fnclcc", "--differentiation", "3", "--mitoses", "22", "--necrosis-percent", "60") == {
        "differentiation_score": 3, "mitotic_score": 3, "necrosis_score": 2, "score": 8, "grade": 3}
    assert cli_json("rules", "fnclcc", "--differentiation", "1", "--mitoses", "9", "--necrosis-percent", "0")["grade"] == 1


@pytest.mark.parametrize("args, expected", [
    (["--site", "extremity", "--size-cm", "5.0", "--grade", "3"], {"t": "T1", "n": "N0", "m": "M0", "grade": 3, "stage": "II"}),
    (["--site", "extremity", "--size-cm", "7", "--grade", "2"], {"t": "T2", "n": "N0", "m": "M0", "grade": 2, "stage": "IIIA"}),
    (["--site", "trunk", "--size-cm", "16", "--grade", "X"], {"t": "T4", "n": "N0", "m": "M0", "grade": "X", "stage": "IB"}),
    (["--site", "extremity", "--size-cm", "3", "--grade", "1", "--n", "N1"], {"t": "T1", "n": "N1", "m": "M0", "grade": 1, "stage": "IV"}),
    (["--site", "retroperitoneum", "--size-cm", "12", "--grade", "1", "--n", "N1"], {"t": "T3", "n": "N1", "m": "M0", "grade": 1, "stage": "IIIB"}),
    (["--site", "head-neck", "--size-cm", "3", "--grade", "2"], {"t": "T2", "n": "N0", "m": "M0", "grade": 2, "stage": None}),
    (["--site", "visceral", "--t", "T2b", "--grade", "3"], {"t": "T2b", "n": "N0", "m": "M0", "grade": 3, "stage": None}),
])
def test_stage_keys_and_values(args, expected):
    assert cli_json("rules", "stage", *args) == expected


def test_response_by_protocol_definition(tmp_path):
    assert cli_json("rules", "response", "--viable-percent", "5") == {
        "score": "C", "pcr": True,
        "pcr_definition": "pCR: at most 5 % stainable (viable) tumour cells in the resected specimen"}
    strict = cli_json("rules", "response", "--viable-percent", "0.5", "--protocol", "tests/protocols/mini.yaml")
    assert strict["score"] == "B" and strict["pcr"] is False  # MINI: pCR only with no stainable cells


def test_eqd2():
    assert cli_json("rules", "eqd2", "--dose", "60", "--fractions", "25", "--alpha-beta", "4") == {
        "bed": pytest.approx(96.0), "eqd2": pytest.approx(64.0), "dose_per_fraction": pytest.approx(2.4)}
    assert cli_json("rules", "eqd2", "--dose", "50", "--fractions", "25")["eqd2"] == pytest.approx(50.0)


def test_histotype_old_names():
    found = cli_json("rules", "histotype", "malignant schwannoma")["matches"][0]
    assert found["name"] == "Malignant peripheral nerve sheath tumour" and found["icdo3"] == "9540/3"
    assert set(found) >= {"name", "icdo3", "behaviour", "family", "synonyms"}
    assert cli_json("rules", "histotype", "haemangiopericytoma")["matches"][0]["name"] == "Solitary fibrous tumour"
    mesenchymoma = cli_json("rules", "histotype", "malignant mesenchymoma")
    assert mesenchymoma["obsolete"] and mesenchymoma["obsolete"][0]["candidates"]


def test_screen_without_database(tmp_path):
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"age_years": 18, "histology_confirmed": True, "disease_status": "de_novo",
                                   "candidate_for_resection": True, "previous_rt_to_region": False,
                                   "able_to_consent": True, "consent_signed": True}))
    out = cli_json("screen", "--protocol", "sprint", "--input", str(answers))
    assert out["decision"] == "ineligible"  # age 18 is not > 18; planned_amputation missing does not matter then
    by_id = {c["id"]: c["result"] for c in out["criteria"]}
    assert by_id["age"] == "not_met" and by_id["amputation"] == "not_evaluable"


@pytest.mark.parametrize("args, message", [
    (["rules", "fnclcc", "--differentiation", "4", "--mitoses", "3", "--necrosis-percent", "0"], "differentiation:"),
    (["rules", "fnclcc", "--differentiation", "2", "--mitoses", "many", "--necrosis-percent", "0"], "mitoses_per_10hpf: must be a whole number"),
    (["rules", "stage", "--site", "elbow", "--size-cm", "3", "--grade", "1"], "site"),
    (["rules", "stage", "--site", "extremity", "--size-cm", "-1", "--grade", "1"], "size_cm"),
    (["rules", "response", "--viable-percent", "120"], "viable_percent"),
    (["rules", "eqd2", "--dose", "-5", "--fractions", "25", "--alpha-beta", "4"], "total_dose_gy"),
    (["rules", "fnclcc", "--differentiation", "2"], "Missing option"),
    (["screen", "--protocol", "nope", "--input", "x.json"], "no shipped protocol named 'nope'"),
])
def test_bad_arguments_one_line_exit_2(args, message):
    result = cli_process(*args)
    assert result.returncode == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.validation
def test_ctcae_import_adds_grade_definitions(shared_data, tmp_path, monkeypatch):
    """NCI CTCAE v5.0 (27 Nov 2017): 837 terms; Alopecia grade 1 is 'Hair loss of <50% of normal ...'."""
    from tests.conftest import shared_file

    xlsx = shared_file(shared_data, "CTCAE_v5.0_2017-11-27.xlsx")
    monkeypatch.setenv("SARCOTRIAL_KEY", __import__("sarcotrial.store.crypto", fromlist=["x"]).generate_key())
    db = str(tmp_path / "s.sqlite")
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0
    before = cli_json("ctcae", "show", "Alopecia", "--db", db)["terms"][0]
    assert before["allowed_grades"] == [1, 2] and before["grade_definitions"] == {}
    result = runner.invoke(app, ["ctcae", "import", str(xlsx), "--db", db])
    assert result.exit_code == 0 and "837 terms" in result.output
    after = cli_json("ctcae", "show", "Alopecia", "--db", db)["terms"][0]
    assert after["grade_definitions"]["1"].startswith("Hair loss of <50% of normal")
    assert set(after["grade_definitions"]) == {"1", "2"}


def test_ctcae_import_refuses_a_non_ctcae_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SARCOTRIAL_KEY", __import__("sarcotrial.store.crypto", fromlist=["x"]).generate_key())
    db = str(tmp_path / "s.sqlite")
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0
    bogus = tmp_path / "x.xlsx"
    bogus.write_text("not a spreadsheet")
    result = runner.invoke(app, ["ctcae", "import", str(bogus), "--db", db])
    assert result.exit_code == 2 and "file:" in result.output


def test_eqd2_for_each_dose_level_of_the_protocol():
    """SPRINT at alpha/beta 4 Gy: CTV1 50 Gy/25 -> BED 75, EQD2 50; CTV2 60 Gy/25 -> BED 96, EQD2 64."""
    out = cli_json("rules", "eqd2")
    levels = {d["volume"]: (d["bed"], d["eqd2"]) for d in out["dose_levels"]}
    assert levels == {"CTV1": (pytest.approx(75.0), pytest.approx(50.0)), "CTV2": (pytest.approx(96.0), pytest.approx(64.0))}


def test_gap_correction_only_where_the_protocol_sets_it():
    """MINI sets Tk 21 d and Dprolif 0.6 Gy/d: 30 Gy/5 fx over 30 days, BED 75 - 0.6 x (30 - 21) = 69.6 Gy."""
    out = cli_json("rules", "eqd2", "--protocol", "tests/protocols/mini.yaml", "--overall-days", "30")
    level = out["dose_levels"][0]
    assert level["gap_corrected_bed"] == pytest.approx(69.6) and level["gap_corrected_eqd2"] == pytest.approx(69.6 / 1.5)
    refused = cli_process("rules", "eqd2", "--overall-days", "40")  # SPRINT: none established for sarcoma
    assert refused.returncode == 2 and "defines no gap correction" in refused.stderr
