"""The package's metadata builds with the setuptools of 2027 and later.

setuptools deprecates the ``license = { text = ... }`` table of PEP 621 in favour of a PEP 639 SPDX
expression (``license = "Apache-2.0"``), which it reads from version 77 on, and stops accepting the
table in February 2027; a License :: classifier beside an SPDX expression is refused.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_licence_is_an_spdx_expression_with_a_setuptools_that_reads_it():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in PYPROJECT["project"].get("classifiers", []))
    setuptools = next(r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools"))
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert minimum is not None and int(minimum.group(1)) >= 77, setuptools
