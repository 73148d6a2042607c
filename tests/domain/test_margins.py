"""Residual tumour (R) classification and margin records.

Sources: UICC TNM Classification of Malignant Tumours, 8th ed. (2017), residual tumour (R)
classification: RX presence of residual tumour cannot be assessed, R0 no residual tumour,
R1 microscopic residual tumour, R2 macroscopic residual tumour. Gundle KR et al., J Clin Oncol
2018;36(7):704-709: "microscopic tumor at inked margin defines R1"; Toronto Margin Context
Classification (planned positive margins at critical structures).
"""

from __future__ import annotations

import pytest

from sarcotrial.domain.margins import (
    MARGIN_TISSUES,
    ResectionMargin,
    resection_margin,
    residual_tumour,
)
from sarcotrial.errors import InvalidValue

# UICC TNM 8 R classification, with R1 = tumour at the inked margin (Gundle et al. 2018).
# Rows: (macroscopic residual, microscopic tumour at inked margin, R).
R_TABLE = [
    (True, True, "R2"),
    (True, False, "R2"),
    (True, None, "R2"),
    (False, True, "R1"),
    (False, False, "R0"),
    (False, None, "RX"),
    (None, False, "RX"),
    (None, True, "RX"),   # positive margin but R1 vs R2 undecidable
    (None, None, "RX"),
]


@pytest.mark.parametrize(("macro", "micro", "r"), R_TABLE)
def test_residual_tumour_table(macro, micro, r):
    assert residual_tumour(macro, micro) == r


@pytest.mark.parametrize(("field", "args"), [
    ("macroscopic_residual", ("yes", False)),
    ("macroscopic_residual", (1, False)),
    ("microscopic_at_margin", (False, 0)),
])
def test_residual_tumour_refuses_non_booleans(field, args):
    with pytest.raises(InvalidValue) as info:
        residual_tumour(*args)
    assert info.value.field == field


def test_resection_margin_record():
    margin = resection_margin("R0", 2.5, "fascia", None)
    assert isinstance(margin, ResectionMargin)
    assert margin.as_dict() == {
        "r_status": "R0",
        "closest_margin_mm": 2.5,
        "tissue_at_closest_margin": "fascia",
        "planned_positive_on_critical_structure": None,
    }
    with pytest.raises(AttributeError):
        margin.r_status = "R1"  # type: ignore[misc]


@pytest.mark.parametrize("tissue", MARGIN_TISSUES)
def test_every_tissue_is_accepted(tissue):
    assert resection_margin("R0", 1.0, tissue).tissue_at_closest_margin == tissue


def test_tissue_list():
    assert set(MARGIN_TISSUES) >= {"fascia", "periosteum", "vessel_sheath", "epineurium"}


def test_r1_planned_positive_on_critical_structure():
    # Toronto margin context classification: planned close-but-positive margin at a critical
    # structure (Gundle et al. 2018).
    margin = resection_margin("R1", 0, "epineurium", True)
    assert margin.planned_positive_on_critical_structure is True
    assert resection_margin("R1", 0.0, "fat", False).planned_positive_on_critical_structure is False


@pytest.mark.parametrize(("r", "mm"), [("R0", 0.1), ("R0", 10), ("R2", 0), ("R2", 5), ("RX", None),
                                       ("R1", None), ("R1", 0)])
def test_consistent_margins_accepted(r, mm):
    assert resection_margin(r, mm).closest_margin_mm == mm


def test_r0_with_zero_margin_is_contradictory():
    with pytest.raises(InvalidValue) as info:
        resection_margin("R0", 0.0)
    assert info.value.field == "closest_margin_mm"
    assert "R0" in info.value.rule


def test_r1_with_positive_distance_is_contradictory():
    with pytest.raises(InvalidValue) as info:
        resection_margin("R1", 0.5)
    assert info.value.field == "closest_margin_mm"
    assert "R1" in info.value.rule


@pytest.mark.parametrize("bad", [-0.1, -5, float("nan"), float("inf"), "2", True])
def test_bad_closest_margin_is_refused(bad):
    with pytest.raises(InvalidValue) as info:
        resection_margin("R2", bad)
    assert info.value.field == "closest_margin_mm"


@pytest.mark.parametrize("bad", ["R3", "r0", "", None, 0])
def test_bad_r_status_is_refused(bad):
    with pytest.raises(InvalidValue) as info:
        resection_margin(bad, 1.0)
    assert info.value.field == "r_status"


@pytest.mark.parametrize("bad", ["nerve", "Fascia", ""])
def test_bad_tissue_is_refused(bad):
    with pytest.raises(InvalidValue) as info:
        resection_margin("R0", 1.0, bad)
    assert info.value.field == "tissue_at_closest_margin"


@pytest.mark.parametrize(("r", "planned"), [("R0", True), ("R0", False), ("R2", True), ("RX", False)])
def test_planned_positive_only_for_r1(r, planned):
    with pytest.raises(InvalidValue) as info:
        resection_margin(r, None, None, planned)
    assert info.value.field == "planned_positive_on_critical_structure"


def test_planned_positive_must_be_boolean():
    with pytest.raises(InvalidValue) as info:
        resection_margin("R1", 0, None, "yes")
    assert info.value.field == "planned_positive_on_critical_structure"
