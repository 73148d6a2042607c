"""``sarcotrial rules gene`` and ``rules molecular``: keys, values, exit codes, one-line errors.

Expected meanings come from the WHO Classification of Soft Tissue and Bone Tumours, 5th ed. (2020):
SS18::SSX2 defines synovial sarcoma; MDM2 amplification defines ALT/WDLPS and dedifferentiated
liposarcoma and so contradicts a recorded pleomorphic liposarcoma. CHOP is a previous name of DDIT3
(HGNC). BRAF V600E (p.Val600Glu): FDA tumour-agnostic approval of dabrafenib + trametinib, 2022.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from sarcotrial.cli.main import app

runner = CliRunner()

DOC = """\
histotype: pleomorphic_liposarcoma
findings:
  - test: FISH
    kind: amplification
    gene: MDM2
    laboratory: Molecular pathology
    date: 2026-03-02
  - test: NGS panel
    kind: mutation
    gene: BRAF
    cdna: c.1799T>A
    protein: p.V600E
    vaf: 0.31
"""


def write(tmp_path, text, name="findings.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_gene_lookup_by_symbol_and_alias():
    data = cli_json("rules", "gene", "SS18")
    assert data["symbol"] == "SS18" and not data["via_alias"] and "SYT" in data["aliases"]
    assert {e["id"] for e in data["diagnostic"]} >= {"ss18_ssx1", "ss18_ssx2", "ss18_ssx4"}
    alias = cli_json("rules", "gene", "chop")
    assert alias["symbol"] == "DDIT3" and alias["via_alias"] and "CHOP" in alias["note"]
    ntrk = cli_json("rules", "gene", "TRKC")
    assert ntrk["symbol"] == "NTRK3"
    assert {"larotrectinib", "entrectinib"} <= {d for e in ntrk["actionable"] for d in e["drugs"]}
    text = runner.invoke(app, ["rules", "gene", "INI1"])
    assert text.exit_code == 0 and "SMARCB1" in text.output and "tazemetostat" in text.output


def test_unknown_gene_exits_1_with_nearest_symbols():
    result = runner.invoke(app, ["rules", "gene", "SS19"])
    assert result.exit_code == 1 and "not found" in result.output and "SS18" in result.output
    result = runner.invoke(app, ["rules", "gene", "SS19", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["found"] is False and "SS18" in data["nearest"]


def test_molecular_json(tmp_path):
    data = cli_json("rules", "molecular", write(tmp_path, DOC))
    assert data["histotype"] == "pleomorphic_liposarcoma" and data["flag_for_board"] is True
    mdm2, braf = data["findings"]
    assert mdm2["relation"] == "contradicts" and "dedifferentiated_liposarcoma" in mdm2["entities"]
    assert mdm2["finding"]["date"] == "2026-03-02"
    assert braf["relation"] == "nothing known" and braf["finding"]["protein"] == "p.Val600Glu"
    [action] = braf["actionable"]
    assert set(action["drugs"]) == {"dabrafenib", "trametinib"} and action["applies"]


def test_molecular_histotype_option_overrides_and_json_documents(tmp_path):
    doc = {"findings": [{"test": "RT-PCR", "kind": "fusion", "fusion": "SYT::SSX2"}]}
    path = write(tmp_path, json.dumps(doc), "findings.json")
    data = cli_json("rules", "molecular", path, "--histotype", "synovial_sarcoma")
    [f] = data["findings"]
    assert (f["relation"], f["level"]) == ("supports", "defining") and f["finding"]["fusion"] == "SS18::SSX2"
    assert any("SYT" in n for n in f["finding"]["notes"])
    assert data["flag_for_board"] is False
    none = cli_json("rules", "molecular", path)
    assert none["histotype"] is None and none["findings"][0]["relation"] == "not assessed"


def test_molecular_text_is_readable_at_80_columns(tmp_path):
    result = runner.invoke(app, ["rules", "molecular", write(tmp_path, DOC)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "contradicts" in result.output and "Flag for the board" in result.output
    assert "dabrafenib" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_bad_findings_exit_2_naming_the_index_and_field(tmp_path):
    cases = [
        (DOC.replace("p.V600E", "V600E"), "findings[1].protein"),
        (DOC.replace("vaf: 0.31", "vaf: 31"), "findings[1].vaf"),
        (DOC.replace("gene: MDM2", "gene: MDM3"), "findings[0].gene"),
        (DOC.replace("test: FISH", "test: IHC"), "findings[0].test"),
        (DOC.replace("pleomorphic_liposarcoma", "pleomorphic_lipo"), "histotype"),
        ("findings: [", "document"),
    ]
    for text, field in cases:
        result = runner.invoke(app, ["rules", "molecular", write(tmp_path, text)])
        assert result.exit_code == 2, (field, result.output)
        assert f"{field}:" in result.output, (field, result.output)
    gene_error = runner.invoke(app, ["rules", "molecular", write(tmp_path, DOC.replace("gene: MDM2", "gene: MDM3"))])
    assert "MDM2" in gene_error.output  # the nearest known symbol


def test_bad_input_is_one_line_without_traceback(tmp_path):
    path = write(tmp_path, DOC.replace("p.V600E", "V600E"))
    proc = subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", "rules", "molecular", path],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "findings[1].protein" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3  # one message, wrapped at most by the terminal width


def test_findings_are_numbered_from_one_and_a_histotype_may_be_named(tmp_path):
    """The readable answer numbers findings as a reader counts (the JSON index stays 0-based), and
    --histotype takes a WHO name as well as an id; an unknown one exits 2 in one line."""
    from typer.testing import CliRunner

    from sarcotrial.cli.main import app

    example = Path(__file__).resolve().parents[2] / "examples" / "molecular" / "findings.yaml"
    runner = CliRunner()
    out = runner.invoke(app, ["rules", "molecular", str(example), "--histotype", "Synovial sarcoma"])
    assert out.exit_code == 0, out.output
    assert "findings 2, 3 contradict" in " ".join(out.output.split())
    bad = runner.invoke(app, ["rules", "molecular", str(example), "--histotype", "synovial sarkoma"])
    assert bad.exit_code == 2 and bad.output.startswith("error: histotype:") and "Traceback" not in bad.output
    empty = runner.invoke(app, ["rules", "gene", " "])
    assert empty.exit_code == 2 and "error: gene" in empty.output


def test_every_bad_finding_in_one_run(tmp_path):
    """Two findings wrong in one file: both named in one run (exit 2), each on its own line."""
    text = DOC.replace("gene: MDM2", "gene: MDM3").replace("vaf: 0.31", "vaf: 31")
    proc = subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", "rules", "molecular", write(tmp_path, text)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: 2 problems")
    assert "findings[0].gene:" in lines[1] and "findings[1].vaf:" in lines[2]
