"""Tests of sarcotrial.outcomes against R's saved output (tests/oracles/r): R itself never runs here.

The data sets are loaded from the PyPI packages that ship them (lifelines, scikit-survival)
through the same code that wrote the CSV files R read (tests/oracles/r/export_datasets.py), and
their SHA-256 is checked against the one R's input had (datasets.json).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np

ORACLES = Path(__file__).resolve().parents[1] / "oracles" / "r"


@functools.lru_cache(maxsize=None)
def _exporter():
    spec = importlib.util.spec_from_file_location("sarcotrial_oracle_export", ORACLES / "export_datasets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dataset(name: str):
    """A data set exactly as R read it (a fresh copy each call)."""
    return _exporter().load(name).copy()


@functools.lru_cache(maxsize=None)
def oracle(name: str) -> dict:
    """R's saved output, e.g. oracle("km")."""
    return json.loads((ORACLES / f"{name}.json").read_text(encoding="utf-8"))


def arr(values) -> np.ndarray:
    """An R vector from JSON: null -> NaN, "Inf" -> inf."""
    def one(v):
        if v is None:
            return np.nan
        if v == "Inf":
            return np.inf
        if v == "-Inf":
            return -np.inf
        return v
    return np.array([one(v) for v in values], dtype=float)


def assert_r(ours, theirs, rtol: float = 1e-12, atol: float = 1e-14, what: str = "") -> None:
    """Equal to R's value within rtol (relative) or atol (absolute), NaN where R has NA."""
    a = np.asarray(ours, dtype=float)
    b = arr(theirs) if isinstance(theirs, (list, tuple)) else np.asarray(theirs, dtype=float)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != R's {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
