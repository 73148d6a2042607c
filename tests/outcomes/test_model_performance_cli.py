"""``sarcotrial nomogram assess`` on synthetic patients and the synthetic example models.

The command is registered on a small Typer app here (the main app registers it as
``nomogram_app.command("assess")``). Patients are simulated from the synthetic Cox model itself
(exponential baseline through S0(5) = 0.82 at the file's centre), so the model is calibrated on
them by construction; Harrell's C printed is checked against lifelines' ``concordance_index`` of
the engine's predictions, and the observed risk against lifelines' Kaplan-Meier.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sarcotrial.cli.nomogram_assess import assess

REPO = Path(__file__).resolve().parents[2]
COX = REPO / "examples" / "riskmodels" / "synthetic-cox.yaml"
POINTS = REPO / "examples" / "riskmodels" / "synthetic-points.yaml"

pytestmark = pytest.mark.skipif(not (COX.exists() and POINTS.exists()),
                                reason="the synthetic example models (examples/riskmodels/) are not there yet")

app = typer.Typer()
app.command("assess")(assess)


@app.callback()
def _group() -> None:
    """A group, so that ``assess`` is invoked by name as under ``nomogram``."""


runner = CliRunner()


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def cox_patients(tmp_path: Path, n: int = 240, seed: int = 1) -> Path:
    from sarcotrial.riskmodels import load_model

    model = load_model(COX)
    rng = np.random.default_rng(seed)
    rate = -math.log(0.82) / 5
    rows = []
    for _ in range(n):
        x = {"age": int(rng.integers(20, 85)), "size_cm": round(float(rng.uniform(2, 25)), 1),
             "grade": str(rng.integers(1, 4))}
        lp = model.predict(x).linear_predictor
        t = rng.exponential(1 / (rate * math.exp(lp - model.centre)))
        c = rng.uniform(1, 12)
        rows.append({**x, "years": round(min(t, c), 3), "status": int(t <= c)})
    return _write(tmp_path / "patients.csv", rows)


def run(*args: str):
    return runner.invoke(app, ["assess", *map(str, args)], env={"COLUMNS": "80"})


def test_cox_model_json_matches_independent_references(tmp_path):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import concordance_index

    from sarcotrial.riskmodels import load_model

    data = cox_patients(tmp_path)
    result = run(COX, "--data", data, "--time-column", "years", "--event-column", "status", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    rows = list(csv.DictReader(data.open(encoding="utf-8")))
    model = load_model(COX)
    risk = np.array([model.predict({"age": int(r["age"]), "size_cm": float(r["size_cm"]), "grade": r["grade"]}).risk(5)
                     for r in rows])
    time = np.array([float(r["years"]) for r in rows])
    event = np.array([int(r["status"]) for r in rows])
    assert out["horizon"] == 5 and out["n"] == 240 and out["n_dropped"] == 0
    assert out["model"]["id"] == model.id and out["model"]["synthetic"] is True
    assert out["concordance"]["estimate"] == pytest.approx(concordance_index(time, -risk, event), abs=1e-12)
    observed = 1 - float(KaplanMeierFitter().fit(time, event).survival_function_at_times(5.0).iloc[0])
    assert out["observed"] == pytest.approx(observed, abs=1e-12)
    assert out["expected"] == pytest.approx(risk.mean())
    assert out["calibration_slope"]["method"] == "cox"
    assert len(out["calibration"]["groups"]) == 3
    assert out["warnings"]  # under 100 events by 5 years


def test_readable_output_and_plot(tmp_path):
    data = cox_patients(tmp_path)
    plot = tmp_path / "figures" / "calibration.png"
    result = run(COX, "--data", data, "--time-column", "years", "--event-column", "status", "--plot", plot)
    assert result.exit_code == 0, result.output
    for words in ("Harrell's C", "AUC at 5 years", "Calibration at 5 years", "Calibration slope",
                  "Observed/expected", "SYNTHETIC", "estimates unstable below about 100 events"):
        assert words in result.output
    table = [line for line in result.output.splitlines() if line.startswith(("┏", "│", "└"))]
    assert table and max(len(line) for line in table) <= 80
    assert plot.exists() and plot.read_bytes()[:4] == b"\x89PNG"


def test_points_model_with_competing_events(tmp_path):
    from sarcotrial.riskmodels import load_model

    model = load_model(POINTS)
    rng = np.random.default_rng(2)
    rows = []
    for _ in range(200):
        x = {"age": int(rng.integers(20, 85)), "size_cm": round(float(rng.uniform(1, 30)), 1),
             "grade": str(rng.integers(1, 4)), "depth": str(rng.choice(["superficial", "deep"]))}
        p = model.predict(x).risk(5)
        t1 = rng.exponential(5 / -math.log(1 - p))
        t2 = rng.exponential(20)
        c = rng.uniform(2, 12)
        t = min(t1, t2, c)
        rows.append({**x, "fu": round(t, 3), "code": 1 if t == t1 else 2 if t == t2 else 0})
    rows[5]["grade"] = ""  # a missing value: left out and counted
    data = _write(tmp_path / "points.csv", rows)
    result = run(POINTS, "--data", data, "--time-column", "fu", "--event-column", "code", "--horizon", "5",
                 "--groups", "2", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["n"] == 199 and out["n_dropped"] == 1
    assert out["competing_events"] > 0 and out["observed_by"] == "aalen_johansen"
    assert out["calibration_slope"]["method"] == "fine_gray"
    assert out["calibration"]["groups_requested"] == 2


@pytest.mark.parametrize("extra, message", [
    (["--time-column", "yrs", "--event-column", "status"], "time_column: no column 'yrs'"),
    (["--time-column", "years", "--event-column", "status", "--horizon", "7"], "horizon: must be one of the model's"),
    (["--time-column", "years", "--event-column", "status", "--groups", "0"], "groups: must be a whole number"),
    (["--time-column", "years", "--event-column", "status", "--plot", "x.gif"], "plot: must end in"),
])
def test_bad_arguments_one_line_exit_2(tmp_path, extra, message):
    data = cox_patients(tmp_path, n=60)
    result = run(COX, "--data", data, *extra)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_input_outside_the_model_names_the_row(tmp_path):
    rows = [{"age": 50, "size_cm": 5, "grade": "2", "years": 3, "status": 1},
            {"age": 95, "size_cm": 5, "grade": "2", "years": 4, "status": 0}]
    data = _write(tmp_path / "bad.csv", rows)
    result = run(COX, "--data", data, "--time-column", "years", "--event-column", "status")
    assert result.exit_code == 2
    assert "data row 2: age" in result.output and "not extrapolated" in result.output


def test_bad_event_code_names_the_row(tmp_path):
    rows = [{"age": 50, "size_cm": 5, "grade": "2", "years": 3, "status": 1},
            {"age": 60, "size_cm": 5, "grade": "2", "years": 4, "status": 3}]
    data = _write(tmp_path / "bad.csv", rows)
    result = run(COX, "--data", data, "--time-column", "years", "--event-column", "status")
    assert result.exit_code == 2
    assert "status (data row 2)" in result.output


def test_figure_has_both_panels():
    from sarcotrial.outcomes.model_performance import assess_performance
    from sarcotrial.publishing.plotting import plt
    from sarcotrial.report.calibration_figure import calibration_figure

    rng = np.random.default_rng(3)
    lp = rng.normal(size=300)
    t = rng.exponential(1 / (0.2 * np.exp(lp)))
    c = rng.uniform(0, 8, size=300)
    perf = assess_performance(np.minimum(t, c), (t <= c).astype(int), 1 - np.exp(-0.6 * np.exp(lp)), 3.0)
    fig = calibration_figure(perf, "Synthetic")
    try:
        a, b = fig.axes
        assert a.get_xlabel() == "Predicted risk by 3 years"
        assert len(b.get_lines()) >= len(perf.groups)  # one curve per group, the markers, the horizon
        diagonal = a.get_lines()[0]
        assert list(diagonal.get_xdata()) == list(diagonal.get_ydata())
    finally:
        plt.close(fig)


@pytest.mark.parametrize("groups", [3, 6, 10])
def test_figure_texts_do_not_overlap(groups):
    """The model's name, the two panel titles and panel (b)'s legend each keep to their own place: a long
    model name once ran from panel (a)'s title into panel (b)'s legend. Checked on the drawn extents."""
    from sarcotrial.outcomes.model_performance import assess_performance
    from sarcotrial.publishing.plotting import plt
    from sarcotrial.report.calibration_figure import calibration_figure

    rng = np.random.default_rng(5)
    lp = rng.normal(size=600)
    t = rng.exponential(1 / (0.2 * np.exp(lp)))
    c = rng.uniform(0, 8, size=600)
    perf = assess_performance(np.minimum(t, c), (t <= c).astype(int), 1 - np.exp(-0.6 * np.exp(lp)), 3.0,
                              groups=groups)
    name = "Synthetic Cox model of distant metastasis after resection of an extremity sarcoma, 3 years"
    fig = calibration_figure(perf, name)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        a, b = fig.axes
        # the panels' titles are set with loc="left": matplotlib keeps them as the axes' _left_title
        assert a.get_title(loc="left").startswith("(a)") and b.get_title(loc="left").startswith("(b)")
        boxes = {"name": fig.texts[0].get_window_extent(renderer), "title a": a._left_title.get_window_extent(renderer),
                 "title b": b._left_title.get_window_extent(renderer), "legend": b.get_legend().get_window_extent(renderer),
                 "axes a": a.get_window_extent(renderer), "axes b": b.get_window_extent(renderer)}
        names = list(boxes)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                assert not boxes[first].overlaps(boxes[second]), (first, second)
        assert abs(boxes["title a"].y0 - boxes["title b"].y0) < 1  # the panel titles on one line
    finally:
        plt.close(fig)
