"""The rows R read are the rows the tests read: each data set's CSV text hashes to datasets.json."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.outcomes import ORACLES, _exporter


@pytest.mark.parametrize("name", ["lung", "rossi", "veteran", "bmt", "small"])
def test_dataset_is_what_r_read(name):
    manifest = json.loads((ORACLES / "datasets.json").read_text(encoding="utf-8"))
    text = _exporter().csv_text(name)
    assert hashlib.sha256(text.encode()).hexdigest() == manifest[name]["sha256"], (
        f"{name} differs from the rows the R oracles read: rerun tests/oracles/r (see README.md)")


def test_every_oracle_names_its_r_versions():
    for name in ("km", "survdiff", "coxph", "cuminc", "binom"):
        generated = json.loads((ORACLES / f"{name}.json").read_text(encoding="utf-8"))["generated_by"]
        assert generated.startswith("R version") and "survival" in generated
