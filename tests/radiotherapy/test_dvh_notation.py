"""The one parser of DVH metric notation (D95%, V20Gy, D2cc, Dmean), shared by the protocol schema and plan QA."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.dvh import DVH
from sarcotrial.radiotherapy.dvh.notation import METRIC_PATTERN, Metric, first_operand, is_metric, parse_metric

GOOD = {
    "D95%": Metric("D95%", "dose", 95.0, "%"),
    "D0.03cc": Metric("D0.03cc", "dose", 0.03, "cc"),
    "D2cc": Metric("D2cc", "dose", 2.0, "cc"),
    "V20Gy": Metric("V20Gy", "volume", 20.0, "Gy"),
    "V95%": Metric("V95%", "volume", 95.0, "%"),
    "V107.5%": Metric("V107.5%", "volume", 107.5, "%"),
    "Dmean": Metric("Dmean", "mean"),
    "Dmax": Metric("Dmax", "max"),
    "Dmin": Metric("Dmin", "min"),
}
BAD = ["D95", "V20", "D20Gy", "V5cc", "d95%", "Dmedian", "D-5%", "D.5%", "V20 Gy", "95%", "", "Dmean%"]


@pytest.mark.parametrize("text", list(GOOD))
def test_every_form_parses(text):
    assert parse_metric(text) == GOOD[text]
    assert is_metric(text)


@pytest.mark.parametrize("text", BAD)
def test_other_text_is_refused_naming_the_forms(text):
    with pytest.raises(InvalidValue, match=r"metric: expected V<dose>Gy, V<percent>%, D<percent>%, D<volume>cc"):
        parse_metric(text)
    assert not is_metric(text)


@pytest.mark.parametrize("text", list(GOOD) + BAD)
def test_the_schemas_pattern_is_the_parsers_grammar(text):
    # the protocol schema validates with METRIC_PATTERN; plan QA evaluates with parse_metric
    assert (re.fullmatch(METRIC_PATTERN, text) is not None) == is_metric(text)


def test_relative_dose_and_first_operand():
    assert parse_metric("V95%").relative_dose and not parse_metric("V20Gy").relative_dose
    assert not parse_metric("D95%").relative_dose
    assert first_operand("PTV1 outside PTV2") == "PTV1"
    assert first_operand("Lt Lung minus PTV") == "Lt Lung"
    assert first_operand("CTV1") == "CTV1"


def test_importing_the_notation_loads_no_numpy():
    code = ("import sys; import sarcotrial.radiotherapy.dvh.notation, sarcotrial.protocol.schema; "
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_dvh_answers_in_the_notation():
    # a uniform density of 10 cm3 over 0..10 Gy: V(d) = 100 (1 - d / 10) %, D_x% = 10 (1 - x / 100) Gy
    edges = np.linspace(0.0, 10.0, 101)
    dvh = DVH(name="s", end_cap="none", mode="accurate", volume_cc=10.0, outside_grid_cc=0.0, min_gy=0.0, mean_gy=5.0,
              max_gy=10.0, _edges=edges, _counts=np.full(100, 0.1))
    assert dvh.metric("V4Gy") == pytest.approx(60.0)
    assert dvh.metric("V4Gy", volume_cc=True) == pytest.approx(6.0)
    assert dvh.metric("V80%", prescription_gy=5.0) == pytest.approx(60.0)  # 80 % of 5 Gy = 4 Gy
    assert dvh.metric("D95%") == pytest.approx(0.5)
    assert dvh.metric("D2cc") == pytest.approx(8.0)
    assert (dvh.metric("Dmean"), dvh.metric("Dmin"), dvh.metric("Dmax")) == (5.0, 0.0, 10.0)
    with pytest.raises(InvalidValue, match="prescription"):
        dvh.metric("V95%")
