"""Write the public data sets the R oracles read, as CSV, from the PyPI packages that ship them.

R reads exactly these rows, and the tests load the same rows through :func:`load` (from the
packages, not from the CSV files), so a test and its R oracle always see the same data:

* ``lung``    - lifelines.datasets.load_lung() (NCCTG lung cancer; status 1 = dead, 0 = censored)
* ``rossi``   - lifelines.datasets.load_rossi() (recidivism; week, arrest)
* ``veteran`` - sksurv.datasets.load_veterans_lung_cancer() (VA lung cancer trial)
* ``bmt``     - sksurv.datasets.load_bmt() (35 leukaemia patients; status 0 censored, 1 transplant
  related death, 2 relapse; ``dis`` the disease group)
* ``small``   - hand-made cases that exercise the edge rules: heavy ties, events at time 0, a
  Kaplan-Meier curve exactly 0.5 over a flat stretch, and one that stays at 0.5 to the end.

Run ``python tests/oracles/r/export_datasets.py [OUTDIR]`` (default: ``tests/oracles/r/data``).
It also writes ``datasets.json`` beside this file: each data set's row count and SHA-256 of its
CSV text, which the tests check so a changed package data set cannot go unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _small() -> pd.DataFrame:
    rng = np.random.default_rng(20240601)
    n = 60
    ties = pd.DataFrame({
        "case": "ties",
        "time": rng.integers(0, 13, n).astype(float),
        "status": rng.choice([0, 1, 2], size=n, p=[0.3, 0.45, 0.25]),
        "group": rng.choice(["A", "B"], size=n),
        "x": rng.integers(0, 3, n).astype(float),
    })
    # Make sure there are events (of both causes) and a censoring at time 0.
    ties.loc[0:3, ["time", "status"]] = [[0.0, 1], [0.0, 1], [0.0, 2], [0.0, 0]]
    flat = pd.DataFrame({"case": "flat", "time": np.arange(1.0, 11.0), "status": 1, "group": "A", "x": 0.0})
    lastflat = pd.DataFrame({"case": "lastflat", "time": np.arange(1.0, 9.0), "status": [1, 1, 1, 1, 0, 0, 0, 0],
                             "group": "A", "x": 0.0})
    return pd.concat([ties, flat, lastflat], ignore_index=True)


def load(name: str) -> pd.DataFrame:
    """One data set, exactly as written for R."""
    if name == "lung":
        from lifelines.datasets import load_lung

        return load_lung()
    if name == "rossi":
        from lifelines.datasets import load_rossi

        return load_rossi()
    if name == "veteran":
        from sksurv.datasets import load_veterans_lung_cancer

        x, y = load_veterans_lung_cancer()
        return pd.DataFrame({
            "time": y["Survival_in_days"].astype(float), "status": y["Status"].astype(int),
            "trt": (x["Treatment"].astype(str) == "test").astype(int), "celltype": x["Celltype"].astype(str),
            "karno": x["Karnofsky_score"].astype(float), "diagtime": x["Months_from_Diagnosis"].astype(float),
            "age": x["Age_in_years"].astype(float), "prior": (x["Prior_therapy"].astype(str) == "yes").astype(int),
        })
    if name == "bmt":
        from sksurv.datasets import load_bmt

        x, y = load_bmt()
        return pd.DataFrame({"time": y["ftime"].astype(float), "status": y["status"].astype(int),
                             "dis": x["dis"].astype(str).astype(int)})
    if name == "small":
        return _small()
    raise KeyError(name)


NAMES = ("lung", "rossi", "veteran", "bmt", "small")


def csv_text(name: str) -> str:
    return load(name).to_csv(index=False, lineterminator="\n")


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name in NAMES:
        text = csv_text(name)
        (outdir / f"{name}.csv").write_text(text, encoding="utf-8")
        manifest[name] = {"rows": len(load(name)), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    (HERE / "datasets.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "data")
