"""Predictions from risk-model files, against hand computations and independent implementations.

- Points nomogram: hand-computed examples, the arithmetic written out in each comment (linear
  interpolation on the points knots, then on the curve of each horizon; Kattan et al., J Clin Oncol
  2002;20:791-796, describe reading a nomogram this way).
- Cox model (Cox, J R Stat Soc B 1972;34:187-220): ``1 - S0(t) ** exp(lp - centre)`` against lifelines'
  ``CoxPHFitter.predict_survival_function`` on a model lifelines fitted to simulated data, exported
  to the file format (coefficients, centre = mean covariates times coefficients, baseline survival).
- Restricted cubic splines (Harrell, Regression Modeling Strategies, 2nd ed. 2015, section 2.4.5;
  R Hmisc::rcspline.eval): against Harrell's formula written independently below, against hand
  values, and against formulaic's natural cubic regression spline (mgcv ``cr`` basis): a different
  basis of the same space (natural cubic splines with the same knots), so the two span the same
  columns though they do not match term by term. patsy is not installed; scikit-learn's
  SplineTransformer builds B-splines without the natural (linear-tail) restriction, another space,
  so it is not compared.
- Fine-Gray (Fine and Gray, J Am Stat Assoc 1999;94:496-509): ``1 - (1 - F0(t)) ** exp(lp - centre)``
  against a hand computation.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from sarcotrial.errors import InvalidValue
from sarcotrial.riskmodels import load_model, rcs_terms

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "riskmodels"
POINTS_FILE = EXAMPLES / "synthetic-points.yaml"
COX_FILE = EXAMPLES / "synthetic-cox.yaml"


# --- points nomogram (examples/riskmodels/synthetic-points.yaml) ------------------------------------
# age knots [18, 0], [90, 20]; size knots [1, 0], [10, 30], [40, 60]; grade 1/2/3: 0/40/70;
# depth superficial/deep: 0/15. Curves: 5 y [0, .01] [50, .05] [100, .20] [165, .60];
#                                     10 y [0, .02] [50, .08] [100, .30] [165, .75].

@pytest.mark.parametrize("inputs, points, total, risk5, risk10", [
    # age 54: 20 * 36/72 = 10; 10 cm: 30 (a knot); grade 3: 70; deep: 15. Total 125.
    # 5 y: .20 + .40 * 25/65 = .353846; 10 y: .30 + .45 * 25/65 = .473077
    ({"age": 54, "size_cm": 10, "grade": "3", "depth": "deep"}, {"age": 10, "size_cm": 30, "grade": 70, "depth": 15},
     125, 0.20 + 0.40 * 25 / 65, 0.30 + 0.45 * 25 / 65),
    # age 36: 20 * 18/72 = 5; 4 cm: 30 * 3/9 = 10; grade 1: 0; superficial: 0. Total 15.
    # 5 y: .01 + .04 * 15/50 = .022; 10 y: .02 + .06 * 15/50 = .038
    ({"age": 36, "size_cm": 4, "grade": "1", "depth": "superficial"}, {"age": 5, "size_cm": 10, "grade": 0, "depth": 0},
     15, 0.022, 0.038),
    # the ranges' ends are accepted: age 90: 20; 40 cm: 60; grade 3: 70; deep: 15. Total 165, the curves' end.
    ({"age": 90, "size_cm": 40, "grade": "3", "depth": "deep"}, {"age": 20, "size_cm": 60, "grade": 70, "depth": 15},
     165, 0.60, 0.75),
    # age 18: 0; 1 cm: 0; grade 1; superficial. Total 0, the curves' start: .01 and .02.
    ({"age": 18, "size_cm": 1, "grade": "1", "depth": "superficial"}, {"age": 0, "size_cm": 0, "grade": 0, "depth": 0},
     0, 0.01, 0.02),
    # values given as text, as --set gives them: age 72 -> 15; 25 cm -> 30 + 30 * 15/30 = 45; grade 2 -> 40. Total 100.
    ({"age": "72", "size_cm": "25", "grade": "2", "depth": "superficial"},
     {"age": 15, "size_cm": 45, "grade": 40, "depth": 0}, 100, 0.20, 0.30),
])
def test_points_hand_computed(inputs, points, total, risk5, risk10):
    prediction = load_model(POINTS_FILE).predict(inputs)
    assert prediction.contributions == pytest.approx(points)
    assert prediction.total_points == pytest.approx(total)
    assert prediction.risk(5) == pytest.approx(risk5)
    assert prediction.risk(10) == pytest.approx(risk10)
    assert prediction.risks == pytest.approx({5.0: risk5, 10.0: risk10})


def test_points_survival_axis_and_total_outside_the_curve():
    data = yaml.safe_load(POINTS_FILE.read_text(encoding="utf-8"))
    # the 5-year axis printed as the probability of being free of recurrence, over totals 20 to 120 only
    data["model"]["curves"][0] = {"horizon": 5, "axis": "survival", "knots": [[20, 0.95], [120, 0.55]]}
    data["examples"] = []
    model = load_model(yaml.safe_dump(data))
    # age 54 (10), 4 cm (10), grade 2 (40), superficial (0): total 60; survival .95 - .40 * 40/100 = .79: risk .21
    assert model.predict({"age": 54, "size_cm": 4, "grade": "2", "depth": "superficial"}).risk(5) == pytest.approx(0.21)
    # total 0 is below the 5-year curve (20 to 120): refused, not extrapolated
    with pytest.raises(InvalidValue) as caught:
        model.predict({"age": 18, "size_cm": 1, "grade": "1", "depth": "superficial"})
    assert caught.value.field == "total_points" and "not extrapolated" in caught.value.rule


@pytest.mark.parametrize("inputs, field, rule_part", [
    ({"age": 17.9, "size_cm": 5, "grade": "2", "depth": "deep"}, "age", "must be from 18 to 90 years"),
    ({"age": 50, "size_cm": 40.5, "grade": "2", "depth": "deep"}, "size_cm", "must be from 1 to 40 cm"),
    ({"age": 50, "size_cm": 5, "grade": "4", "depth": "deep"}, "grade", "must be one of 1, 2, 3"),
    ({"age": 50, "size_cm": 5, "grade": "2", "depth": "Deep "}, "depth", "must be one of superficial, deep"),
    ({"age": "fifty", "size_cm": 5, "grade": "2", "depth": "deep"}, "age", "must be a number (years)"),
    ({"age": float("nan"), "size_cm": 5, "grade": "2", "depth": "deep"}, "age", "must be a finite number"),
    ({"age": True, "size_cm": 5, "grade": "2", "depth": "deep"}, "age", "must be a number"),
    ({"age": 50, "size_cm": 5, "grade": "2"}, "depth", "a missing input is refused, never defaulted"),
    ({"age": 50, "size_cm": None, "grade": "2", "depth": "deep"}, "size_cm", "a missing input is refused"),
    ({"age": 50, "grade": "2"}, "size_cm, depth", "a missing input is refused"),
    ({"age": 50, "size_cm": 5, "grade": "2", "depth": "deep", "margin": "R1"}, "margin", "is not an input of this model"),
])
def test_bad_inputs_are_refused_naming_the_input(inputs, field, rule_part):
    with pytest.raises(InvalidValue) as caught:
        load_model(POINTS_FILE).predict(inputs)
    assert caught.value.field == field
    assert rule_part in caught.value.rule


def test_risk_only_at_the_models_horizons():
    prediction = load_model(POINTS_FILE).predict({"age": 54, "size_cm": 10, "grade": "3", "depth": "deep"})
    with pytest.raises(InvalidValue) as caught:
        prediction.risk(7)
    assert caught.value.field == "horizon" and "5, 10 years only" in caught.value.rule


def test_as_dict_is_json_and_carries_the_limits():
    import json

    data = load_model(POINTS_FILE).predict({"age": 54, "size_cm": 10, "grade": "3", "depth": "deep"}).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["model"] == "synthetic_points_local_recurrence" and data["total_points"] == pytest.approx(125)
    assert data["risks"] == pytest.approx({"5": 0.20 + 0.40 * 25 / 65, "10": 0.30 + 0.45 * 25 / 65})
    assert data["inputs"] == {"age": 54, "size_cm": 10, "grade": "3", "depth": "deep"}
    assert data["limits"][0].startswith("SYNTHETIC") and "not validated" in data["limits"]
    cox = load_model(COX_FILE).predict({"age": 61, "size_cm": 12, "grade": "3"}).as_dict()
    assert set(cox) >= {"linear_predictor", "centre", "relative_hazard", "risks", "source", "limits"}


# --- restricted cubic splines -----------------------------------------------------------------------

def harrell_rcs(x: np.ndarray, knots: list[float]) -> np.ndarray:
    """Harrell (2015) eq. 2.25, written independently: for j = 1 .. k-2,
    X_{j+1} = (x - t_j)+^3 - (x - t_{k-1})+^3 (t_k - t_j)/(t_k - t_{k-1}) + (x - t_k)+^3 (t_{k-1} - t_j)/(t_k - t_{k-1}),
    then divided by tau = (t_k - t_1)^2, Hmisc's default normalisation (norm = 2)."""
    t = np.asarray(knots, dtype=float)
    k = len(t)
    pos3 = lambda u: np.where(u > 0, u, 0.0) ** 3  # noqa: E731
    cols = []
    for j in range(k - 2):
        cols.append(pos3(x - t[j]) - pos3(x - t[k - 2]) * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
                    + pos3(x - t[k - 1]) * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2]))
    return np.column_stack(cols) / (t[-1] - t[0]) ** 2


@pytest.mark.parametrize("knots", [[3, 6, 10, 20], [1.5, 4, 7, 12, 30], [0, 1, 2]])
def test_rcs_terms_equal_harrells_formula(knots):
    xs = np.linspace(knots[0] - 2, knots[-1] + 5, 97)
    ours = np.array([rcs_terms(float(x), knots) for x in xs])
    assert ours.shape == (len(xs), len(knots) - 2)
    assert np.allclose(ours, harrell_rcs(xs, knots), rtol=1e-12, atol=1e-12)


def test_rcs_hand_values_and_normalisations():
    # knots 0, 1, 2, 3; x = 2.5; one term per j = 1, 2:
    # j=1: 2.5^3 - 0.5^3 * (3 - 0)/1 + 0 = 15.625 - 0.375 = 15.25
    # j=2: 1.5^3 - 0.5^3 * (3 - 1)/1 + 0 = 3.375 - 0.25 = 3.125
    assert rcs_terms(2.5, [0, 1, 2, 3], norm=0) == pytest.approx([15.25, 3.125])
    assert rcs_terms(2.5, [0, 1, 2, 3], norm=2) == pytest.approx([15.25 / 9, 3.125 / 9])   # / (3 - 0)^2
    assert rcs_terms(2.5, [0, 1, 2, 4], norm=1) == pytest.approx(
        [(2.5 ** 3 - 0.5 ** 3 * 4 / 2) / 8, (1.5 ** 3 - 0.5 ** 3 * 3 / 2) / 8])           # / (4 - 2)^3
    # below the first knot every term is 0; beyond the last knot each term is linear in x
    assert rcs_terms(-1, [0, 1, 2, 3]) == [0.0, 0.0]
    a, b, c = (np.array(rcs_terms(x, [0, 1, 2, 3], norm=0)) for x in (4.0, 5.0, 6.0))
    assert np.allclose(c - b, b - a)


def test_rcs_spans_the_same_space_as_formulaics_natural_cubic_spline():
    from formulaic.transforms.cubic_spline import cubic_spline

    knots = [3, 6, 10, 20]
    xs = np.linspace(3, 20, 200)
    ours = np.column_stack([np.ones_like(xs), xs, np.array([rcs_terms(float(x), knots) for x in xs])])
    theirs = np.column_stack(list(cubic_spline(xs, knots=knots[1:-1], lower_bound=knots[0], upper_bound=knots[-1],
                                               _state={}).values()))
    assert np.linalg.matrix_rank(ours) == np.linalg.matrix_rank(theirs) == 4
    # each basis is an exact linear combination of the other: the same space, not the same columns
    for a, b in ((ours, theirs), (theirs, ours)):
        coef, *_ = np.linalg.lstsq(b, a, rcond=None)
        assert np.allclose(b @ coef, a, atol=1e-8 * np.abs(a).max())
    assert not np.allclose(ours[:, 2:], theirs[:, 2:])


# --- Cox: against lifelines ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lifelines_cox():
    """A Cox model lifelines fits to simulated data (age linear, size by a 4-knot spline, grade by dummies)."""
    import pandas as pd
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(20261206)
    n = 600
    age = rng.uniform(20, 85, n)
    size = rng.uniform(1, 35, n)
    grade = rng.choice(["1", "2", "3"], n, p=[0.3, 0.3, 0.4])
    knots = [3.0, 7.0, 12.0, 25.0]
    spline = harrell_rcs(size, knots)
    lp = 0.02 * age + 0.08 * size - 0.1 * spline[:, 0] + 0.2 * spline[:, 1] + np.select(
        [grade == "2", grade == "3"], [0.5, 1.0], 0.0)
    event_time = rng.exponential(1 / (0.03 * np.exp(lp - lp.mean())))
    censor_time = rng.uniform(2, 15, n)
    frame = pd.DataFrame({"age": age, "size": size, "size_1": spline[:, 0], "size_2": spline[:, 1],
                          "grade_2": (grade == "2").astype(float), "grade_3": (grade == "3").astype(float),
                          "time": np.minimum(event_time, censor_time),
                          "event": (event_time <= censor_time).astype(int)})
    cph = CoxPHFitter().fit(frame.drop(columns="size"), duration_col="time", event_col="event")
    return cph, frame, knots


def _export(cph, knots, horizons) -> dict:
    """The fitted model in the file format: coefficients, the centre (lifelines gives the baseline at the
    covariates' means: centre = mean(X) @ beta) and the baseline survival at each horizon (step function)."""
    beta = cph.params_
    baseline = cph.baseline_survival_.iloc[:, 0]
    data = yaml.safe_load(COX_FILE.read_text(encoding="utf-8"))
    data["metadata"].update(id="lifelines_export", horizons=horizons)
    data["model"] = {
        "kind": "cox",
        "terms": [
            {"input": "age", "coefficient": float(beta["age"])},
            {"input": "size_cm", "coefficient": float(beta.get("size", 0.0)),
             "spline": {"knots": knots, "coefficients": [float(beta["size_1"]), float(beta["size_2"])]}},
            {"input": "grade", "reference": "1",
             "coefficients": {"2": float(beta["grade_2"]), "3": float(beta["grade_3"])}},
        ],
        "centre": float(cph._norm_mean @ beta),
        "baseline": [{"horizon": h, "survival": float(baseline.loc[:h].iloc[-1])} for h in horizons],
    }
    data["examples"] = []
    return data


def test_cox_equals_lifelines_predict_survival_function(lifelines_cox):
    import pandas as pd

    cph, frame, knots = lifelines_cox
    horizons = [2.0, 5.0, 8.0]
    data = _export(cph, knots, horizons)   # fitted without a linear size term: its coefficient is 0
    model = load_model(yaml.safe_dump(data))
    patients = [(61.0, 12.0, "3"), (25.0, 2.0, "1"), (80.0, 30.0, "2"), (45.5, 7.0, "2"), (20.0, 35.0, "3")]
    rows = []
    for age, size, grade in patients:
        s = harrell_rcs(np.array([size]), knots)[0]
        rows.append({"age": age, "size_1": s[0], "size_2": s[1], "grade_2": float(grade == "2"),
                     "grade_3": float(grade == "3")})
    survival = cph.predict_survival_function(pd.DataFrame(rows)[cph.params_.index])
    for i, (age, size, grade) in enumerate(patients):
        prediction = model.predict({"age": age, "size_cm": size, "grade": grade})
        for h in horizons:
            expected = 1.0 - float(survival.iloc[:, i].loc[:h].iloc[-1])
            assert prediction.risk(h) == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert prediction.linear_predictor - model.centre == pytest.approx(
            math.log(float(cph.predict_partial_hazard(pd.DataFrame([rows[i]])[cph.params_.index]).iloc[0])), abs=1e-9)


def test_cox_with_a_linear_size_term_equals_lifelines(lifelines_cox):
    import pandas as pd
    from lifelines import CoxPHFitter

    _, frame, knots = lifelines_cox
    cph = CoxPHFitter().fit(frame, duration_col="time", event_col="event")  # size linear + spline terms
    data = _export(cph, knots, [5.0])
    assert data["model"]["terms"][1]["coefficient"] == float(cph.params_["size"]) != 0.0
    model = load_model(yaml.safe_dump(data))
    s = harrell_rcs(np.array([18.0]), knots)[0]
    row = pd.DataFrame([{"age": 50.0, "size": 18.0, "size_1": s[0], "size_2": s[1], "grade_2": 1.0, "grade_3": 0.0}])
    expected = 1.0 - float(cph.predict_survival_function(row[cph.params_.index]).iloc[:, 0].loc[:5.0].iloc[-1])
    assert model.predict({"age": 50, "size_cm": 18, "grade": "2"}).risk(5) == pytest.approx(expected, rel=1e-9)


def test_cox_synthetic_file_by_hand():
    # examples/riskmodels/synthetic-cox.yaml, written out: spline terms of 12 cm, knots 3, 6, 10, 20:
    # j=1: 9^3 - 2^3 * 17/10 = 729 - 13.6 = 715.4; j=2: 6^3 - 2^3 * 14/10 = 216 - 11.2 = 204.8; / 17^2 = 289
    t1, t2 = 715.4 / 289, 204.8 / 289
    lp = 0.02 * 61 + 0.09 * 12 - 0.12 * t1 + 0.25 * t2 + 0.9
    prediction = load_model(COX_FILE).predict({"age": 61, "size_cm": 12, "grade": "3"})
    assert prediction.linear_predictor == pytest.approx(lp)
    assert prediction.risk(5) == pytest.approx(1 - 0.82 ** math.exp(lp - 2.2))
    assert prediction.risk(10) == pytest.approx(1 - 0.74 ** math.exp(lp - 2.2))
    # the reference category adds nothing: grade 1 vs 3 differs by the grade 3 coefficient
    grade1 = load_model(COX_FILE).predict({"age": 61, "size_cm": 12, "grade": "1"})
    assert prediction.linear_predictor - grade1.linear_predictor == pytest.approx(0.9)


# --- Fine-Gray ----------------------------------------------------------------------------------------

def _fine_gray_model(centre: float = 0.0):
    data = yaml.safe_load(COX_FILE.read_text(encoding="utf-8"))
    data["metadata"]["competing_events"] = ["death without metastasis"]
    data["model"] = {"kind": "fine_gray", "centre": centre,
                     "terms": [{"input": "age", "coefficient": 0.0},
                               {"input": "size_cm", "coefficient": math.log(2) / 10},
                               {"input": "grade", "reference": "1", "coefficients": {"2": 0.0, "3": math.log(3)}}],
                     "baseline": [{"horizon": 5, "cumulative_incidence": 0.10},
                                  {"horizon": 10, "cumulative_incidence": 0.19}]}
    data["examples"] = []
    return load_model(yaml.safe_dump(data))


def test_fine_gray_by_hand():
    model = _fine_gray_model()
    # size 10 cm: lp = ln 2; grade 1. F(5) = 1 - (1 - .10)^2 = 1 - .81 = .19; F(10) = 1 - .81^2 = .3439
    p = model.predict({"age": 40, "size_cm": 10, "grade": "1"})
    assert p.linear_predictor == pytest.approx(math.log(2))
    assert p.risk(5) == pytest.approx(0.19) and p.risk(10) == pytest.approx(0.3439)
    # size 10, grade 3: lp = ln 6. F(5) = 1 - .9^6 = 1 - .531441 = .468559
    assert model.predict({"age": 40, "size_cm": 10, "grade": "3"}).risk(5) == pytest.approx(0.468559)
    # lp equal to the centre gives the baseline itself: centre ln 2, size 10, grade 1
    assert _fine_gray_model(centre=math.log(2)).predict({"age": 40, "size_cm": 10, "grade": "1"}).risk(10) == \
        pytest.approx(0.19)
    assert model.competing_events == ["death without metastasis"]
    assert "competing events: death without metastasis" in model.limits


def test_huge_linear_predictor_gives_certainty_not_an_overflow():
    data = yaml.safe_load(COX_FILE.read_text(encoding="utf-8"))
    data["model"]["terms"][0]["coefficient"] = 20.0  # age 90: lp about 1800
    data["examples"] = []
    model = load_model(yaml.safe_dump(data))
    assert model.predict({"age": 90, "size_cm": 12, "grade": "3"}).risk(5) == 1.0
    data = copy.deepcopy(data)
    data["model"]["terms"][0]["coefficient"] = -20.0
    assert load_model(yaml.safe_dump(data)).predict({"age": 90, "size_cm": 12, "grade": "3"}).risk(5) == \
        pytest.approx(0.0, abs=1e-300)
