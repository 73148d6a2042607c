"""``sarcotrial stats``: one JSON object per command with the keys promised, R's numbers, one-line errors.

The sub-app is mounted here on a bare Typer app (main.py registers it as ``sarcotrial stats``).
"""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from sarcotrial.cli.stats import stats_app
from tests.outcomes import dataset, oracle

app = typer.Typer()
app.add_typer(stats_app, name="stats")


@app.callback()
def _root() -> None:
    """Test host."""


runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["stats", *args])


def cli_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, "exactly one JSON object"
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for name in ("lung", "bmt"):
        dataset(name).to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_km_keys_and_r_values(csvs):
    out = cli_json("km", "--csv", str(csvs / "lung.csv"), "--time", "time", "--event", "status")
    assert {"n", "events", "median", "median_ci", "table", "conf_type"} <= set(out)
    assert (out["n"], out["events"], out["median"], out["median_ci"], out["conf_type"]) == (228, 165, 310, [285, 363], "log")
    row = out["table"][0]
    assert set(row) == {"time", "n_risk", "n_event", "n_censor", "survival", "lower", "upper"}
    assert row["lower"] == pytest.approx(oracle("km")["lung_log"]["lower"][0], rel=1e-13)


def test_km_groups_logrank_and_unreached_limit(csvs):
    out = cli_json("km", "--csv", str(csvs / "lung.csv"), "--time", "time", "--event", "status", "--group", "inst",
                   "--conf-type", "plain")
    assert out["conf_type"] == "plain" and out["n_dropped"] == 1
    by = {g["group"]: g for g in out["groups"]}
    r = oracle("km")["lung_inst_plain"]
    for label, g in by.items():
        assert [g["median"], *g["median_ci"]] == [r[f"inst={label}"][k] for k in ("median", "median_lower", "median_upper")]
    assert any(g["median_ci"][1] is None for g in by.values())
    assert out["logrank"]["df"] == len(by) - 1 and 0 <= out["logrank"]["p_value"] <= 1


def test_km_reverse_is_median_follow_up(csvs):
    out = cli_json("km", "--csv", str(csvs / "lung.csv"), "--time", "time", "--event", "status", "--reverse",
                   "--conf-type", "log-log")
    r = oracle("km")["reverse_lung_log-log"]
    assert out["reverse"] is True and [out["median"], *out["median_ci"]] == [r["median"], r["median_lower"], r["median_upper"]]


def test_cif_keys_values_and_grays_test(csvs):
    out = cli_json("cif", "--csv", str(csvs / "bmt.csv"), "--time", "time", "--status", "status", "--at", "10,50",
                   "--test-group", "dis")
    r = oracle("cuminc")["bmt_dis"]
    group0 = next(g for g in out["groups"] if g["group"] == 0)
    cause2 = next(c for c in group0["causes"] if c["cause"] == 2)
    assert {"times", "cif", "ci", "at"} <= set(cause2)
    i = r["at"]["names"].index("0 2")
    j = r["at"]["times"].index(10)
    assert cause2["at"][0]["cif"] == pytest.approx(r["at"]["est"][i][j], rel=1e-13)
    gray = {t["cause"]: t for t in out["gray_test"]}
    assert gray[2]["statistic"] == pytest.approx(r["tests"]["stat"][1], rel=1e-12)


def test_cif_single_cause_without_groups(csvs):
    out = cli_json("cif", "--csv", str(csvs / "bmt.csv"), "--time", "time", "--status", "status", "--cause", "1",
                   "--at", "5")
    assert [c["cause"] for c in out["causes"]] == [1] and out["causes"][0]["at"][0]["time"] == 5


def test_binomial_and_designs():
    out = cli_json("binomial", "--successes", "7", "--n", "20", "--null", "0.2", "--alternative", "greater")
    case = oracle("binom")["cases"][0]
    assert out["rate"] == 0.35 and out["p_value"] == pytest.approx(case["p_value"], rel=1e-13)
    assert out["ci"] == pytest.approx(case["two_sided_conf_int"], rel=1e-13)
    simon = cli_json("simon", "--p0", "0.7", "--p1", "0.9", "--alpha", "0.05", "--power", "0.8")
    assert [simon["optimal"][k] for k in ("r1", "n1", "r", "n")] == [4, 6, 22, 27]
    assert [simon["minimax"][k] for k in ("r1", "n1", "r", "n")] == [19, 23, 21, 26]
    assert {"en0", "pet0"} <= set(simon["optimal"])
    ahern = cli_json("ahern", "--p0", "0.1", "--p1", "0.2", "--alpha", "0.05", "--power", "0.8")
    assert ahern["n"] == 78


def test_cox_matches_coxph(tmp_path):
    rossi = dataset("rossi")
    rossi.to_csv(tmp_path / "rossi.csv", index=False)
    out = cli_json("cox", "--csv", str(tmp_path / "rossi.csv"), "--time", "week", "--event", "arrest",
                   "--covariates", "fin,age,race,wexp,mar,paro,prio", "--ties", "breslow")
    r = oracle("coxph")["rossi_default_breslow"]
    assert [c["coef"] for c in out["coefficients"]] == pytest.approx(r["coef"], rel=1e-11)
    assert out["likelihood_ratio"]["statistic"] == pytest.approx(r["lr"], rel=1e-10)


def test_readable_output(csvs):
    result = run("km", "--csv", str(csvs / "lung.csv"), "--time", "time", "--event", "status", "--group", "sex")
    assert result.exit_code == 0 and "log-rank" in result.output and "426" in result.output


@pytest.mark.parametrize("args, field", [
    (("km", "--csv", "{lung}", "--time", "tim", "--event", "status"), "time"),
    (("km", "--csv", "{lung}", "--time", "time", "--event", "status", "--conf-type", "logit"), "conf_type"),
    (("km", "--csv", "{lung}", "--time", "time", "--event", "status", "--level", "95"), "level"),
    (("km", "--csv", "/nonexistent.csv", "--time", "time", "--event", "status"), "csv"),
    (("cif", "--csv", "{bmt}", "--time", "time", "--status", "status", "--at", "x"), "at"),
    (("binomial", "--successes", "30", "--n", "20"), "successes"),
    (("binomial", "--successes", "3", "--n", "20", "--alternative", "bigger"), "alternative"),
    (("simon", "--p0", "0.9", "--p1", "0.7", "--alpha", "0.05", "--power", "0.8"), "p1"),
    (("cox", "--csv", "{lung}", "--time", "time", "--event", "status", "--covariates", "age", "--ties", "exact"), "ties"),
])
def test_bad_arguments_one_line_exit_2(csvs, args, field):
    args = [a.format(lung=csvs / "lung.csv", bmt=csvs / "bmt.csv") for a in args]
    result = run(*args)
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert text.startswith("error:") and f"{field}:" in text and len(text.splitlines()) == 1, text
