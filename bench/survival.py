"""Benchmark: SarcoTrial's survival estimators against lifelines and scikit-survival.

Run on demand, never in the test suite (lifelines' Cox on 10^6 rows takes about a minute)::

    python bench/survival.py                 # 10^6 rows; prints a Markdown table
    python bench/survival.py --rows 200000   # smaller, quicker

Every timing is the best of ``--repeat`` runs for SarcoTrial and of one run for the libraries,
all measured in this one process on the same simulated data, so the ratios compare like with
like. The slow library calls run on fewer rows, and SarcoTrial is timed again on the same rows
for their ratio: lifelines' Aalen-Johansen and scikit-survival's Cox on ``--aj-rows`` (default
10^5), scikit-survival's cumulative incidence on ``--sksurv-cif-rows`` (default 2 x 10^4: its
variance is quadratic in the number of distinct times). Results: docs/benchmarks/survival.md.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def simulate(n: int, seed: int = 20240601):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    beta = np.array([0.5, -0.3, 0.2, 0.0, 0.1])
    event_time = rng.exponential(365 / np.exp(x @ beta))
    censor = rng.uniform(0, 900, n)
    t = np.round(np.minimum(event_time, censor), 1)           # days to 0.1: realistic ties
    e = (event_time <= censor).astype(int)
    cause = np.where(e == 1, rng.choice([1, 2], size=n, p=[0.6, 0.4]), 0)
    return t, e, cause, x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--aj-rows", type=int, default=100_000, help="rows for lifelines' Aalen-Johansen (slow)")
    ap.add_argument("--sksurv-cif-rows", type=int, default=20_000,
                    help="rows for sksurv's cumulative incidence (its variance is quadratic in the distinct times)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-cox-libraries", action="store_true", help="skip lifelines' and sksurv's Cox (slow)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    import lifelines
    import pandas as pd
    import sksurv
    from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter
    from sksurv.nonparametric import cumulative_incidence_competing_risks, kaplan_meier_estimator

    from sarcotrial.outcomes import fit_cox, fit_cumulative_incidence, fit_kaplan_meier

    n = args.rows
    t, e, cause, x = simulate(n)
    rows = []

    # Kaplan-Meier with variance and CI
    ours = best(lambda: fit_kaplan_meier(t, e), args.repeat)
    ll = best(lambda: KaplanMeierFitter().fit(t, e), 1)
    sk = best(lambda: kaplan_meier_estimator(e.astype(bool), t, conf_type="log-log"), 1)
    rows.append(("Kaplan-Meier + Greenwood CI", f"{n:,}", ours, "lifelines KaplanMeierFitter", ll, ll / ours))
    rows.append(("Kaplan-Meier + Greenwood CI", f"{n:,}", ours, "sksurv kaplan_meier_estimator(log-log)", sk, sk / ours))

    # Aalen-Johansen with variance
    ours_d = best(lambda: fit_cumulative_incidence(t, cause, causes=[1]), args.repeat)
    ours_ij = best(lambda: fit_cumulative_incidence(t, cause, causes=[1], variance="ij"), args.repeat)
    rows.append(("Aalen-Johansen + variance (delta)", f"{n:,}", ours_d, "-", float("nan"), float("nan")))
    k = min(args.sksurv_cif_rows, n)
    ours_k = best(lambda: fit_cumulative_incidence(t[:k], cause[:k], causes=[1]), args.repeat)
    sk = best(lambda: cumulative_incidence_competing_risks(cause[:k], t[:k], conf_type="log-log"), 1)
    rows.append(("Aalen-Johansen + variance (delta)", f"{k:,}", ours_k, "sksurv cumulative_incidence_competing_risks", sk,
                 sk / ours_k))
    m = min(args.aj_rows, n)
    t_small, c_small = t[:m], cause[:m]
    ours_small = best(lambda: fit_cumulative_incidence(t_small, c_small, causes=[1]), args.repeat)
    ll = best(lambda: AalenJohansenFitter(calculate_variance=True, seed=1).fit(t_small, c_small, event_of_interest=1), 1)
    rows.append(("Aalen-Johansen + variance (delta)", f"{m:,}", ours_small, "lifelines AalenJohansenFitter (jitters ties)",
                 ll, ll / ours_small))
    rows.append(("Aalen-Johansen + variance (IJ)", f"{n:,}", ours_ij, "-", float("nan"), float("nan")))

    # Cox, 5 covariates
    ours_e = best(lambda: fit_cox(t, e, x, ties="efron"), max(1, args.repeat - 1))
    ours_b = best(lambda: fit_cox(t, e, x, ties="breslow"), max(1, args.repeat - 1))
    if not args.skip_cox_libraries:
        df = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)])
        df["T"], df["E"] = t, e
        ll = best(lambda: CoxPHFitter().fit(df, "T", "E"), 1)
        rows.append(("Cox, Efron ties, 5 covariates", f"{n:,}", ours_e, "lifelines CoxPHFitter (Efron)", ll, ll / ours_e))
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        m2 = min(args.aj_rows, n)
        y = np.empty(m2, dtype=[("e", bool), ("t", float)])
        y["e"], y["t"] = e[:m2].astype(bool), t[:m2]
        ours_e_small = best(lambda: fit_cox(t[:m2], e[:m2], x[:m2], ties="efron"), args.repeat)
        sk = best(lambda: CoxPHSurvivalAnalysis(ties="efron").fit(x[:m2], y), 1)
        rows.append(("Cox, Efron ties, 5 covariates", f"{m2:,}", ours_e_small, "sksurv CoxPHSurvivalAnalysis (Efron)", sk,
                     sk / ours_e_small))
    rows.append(("Cox, Breslow ties, 5 covariates", f"{n:,}", ours_b, "-", float("nan"), float("nan")))

    print(f"Python {platform.python_version()}, numpy {np.__version__}, lifelines {lifelines.__version__}, "
          f"scikit-survival {sksurv.__version__}; {platform.machine()}, one process\n")
    print("| estimator | rows | SarcoTrial (s) | compared with | their time (s) | ratio (theirs / ours) |")
    print("|---|---:|---:|---|---:|---:|")
    for what, nrows, o, lib, theirs, ratio in rows:
        th = "-" if np.isnan(theirs) else f"{theirs:.2f}"
        ra = "-" if np.isnan(ratio) else f"{ratio:.1f}x"
        print(f"| {what} | {nrows} | {o:.3f} | {lib} | {th} | {ra} |")


if __name__ == "__main__":
    main()
