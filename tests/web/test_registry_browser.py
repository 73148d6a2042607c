"""In a real headless Chromium: a clinician of the board adds a molecular finding from the case file and
sees the case file's flag appear, then predicts a risk from the form made of the model's inputs (an input
out of range refused beside it first) and sees the prediction drawn.

Expected values come from outside the pages: MDM2 amplification defines well-differentiated and
dedifferentiated liposarcoma (WHO 2020), so in a recorded synovial sarcoma it is flagged for the board;
the risks from ``sarcotrial.riskmodels.load_model(...).predict`` on the example model file, whose input
ranges the refusal quotes. Screenshots go to ``tests/web/artefacts/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sarcotrial.riskmodels import load_model
from sarcotrial.services import registry
from tests.edc_support import staff
from tests.helpers import register
from tests.web.conftest import shot, sign_in_page

COX = Path(__file__).resolve().parents[2] / "examples" / "riskmodels" / "synthetic-cox.yaml"
SUPPORTING = {"histotype": "synovial_sarcoma", "findings": [{"test": "FISH", "kind": "fusion", "fusion": "SS18::SSX1"}]}


@pytest.fixture
def web_study(study, fast_hashing):  # this module's own study, replacing conftest's
    """A registry patient at MAIN whose molecular report (SS18::SSX1 in a synovial sarcoma) raises no flag,
    an account for every role, and the synthetic Cox model loaded."""
    subject = register(study, "H0101", name="Alpha Patient (synthetic)").subject_id
    team = staff(study)
    registry.record_document(study, team.pathologist, subject, "molecular", SUPPORTING)
    registry.load_model_file(study, team.admin, COX, endpoint="dmfs")
    study.team, study.subject = team, subject
    return study


def test_a_clinician_adds_a_finding_sees_the_flag_and_draws_a_prediction(page, web_study):
    subject = web_study.subject
    sign_in_page(page, "cleo")
    page.goto(f"/board/patients/{subject}")
    assert page.locator("#flags").count() == 0  # the fusion supports the histotype: nothing to flag

    # the molecular page, from the case file's link
    page.locator("#enter-molecular").click()
    page.wait_for_url(f"**/board/patients/{subject}/molecular")
    assert page.locator("table.recorded-findings tbody tr").count() == 1
    page.locator("#add-test").select_option("FISH")
    page.locator("#add-kind").select_option("amplification")
    page.locator("#add-gene").fill("MDM2")
    page.locator("#add-reason").fill("FISH for MDM2 reported")
    page.get_by_role("button", name="Add the finding").click()
    page.wait_for_url("**done=added*")
    rows = page.locator("table.recorded-findings tbody tr")
    assert rows.count() == 2
    assert "MDM2 amplification" in rows.nth(1).inner_text() and "contradicts" in rows.nth(1).inner_text()
    shot(page, "registry-01-molecular-added")

    # back on the case file: the flag for the board
    page.get_by_role("link", name="Back to the case file").click()
    page.wait_for_url(f"**/board/patients/{subject}*")
    flags = page.locator("#flags").inner_text()
    assert "MDM2 amplification contradicts the recorded histotype" in flags
    assert "liposarcoma" in flags.lower()

    # a prediction: an age beyond the model's range refused beside it, then kept and drawn
    model = load_model(COX)
    age = next(spec for spec in model.inputs if spec.name == "age")
    page.locator("#enter-predict").click()
    page.wait_for_url(f"**/board/patients/{subject}/predict")
    page.get_by_label("Age at diagnosis").fill(f"{age.max + 1:g}")
    page.get_by_label("Largest tumour diameter").fill("12")
    page.get_by_label("FNCLCC grade").select_option("3")
    page.get_by_role("button", name="Predict and keep").click()
    page.wait_for_selector("#input-age-error")
    assert f"must be from {age.min:g} to {age.max:g}" in page.locator("#input-age-error").inner_text()
    assert page.get_by_label("Largest tumour diameter").input_value() == "12"  # what was typed is kept
    shot(page, "registry-02-prediction-refused")
    page.get_by_label("Age at diagnosis").fill("61")
    page.get_by_role("button", name="Predict and keep").click()
    page.wait_for_url("**done=predicted*")
    assert "The prediction is recorded" in page.locator("#done").inner_text()
    expected = model.predict({"age": 61, "size_cm": 12, "grade": "3"})
    points = page.locator("#predictions svg.risk-chart circle.risk-point")
    assert points.count() == 1 + len(model.horizons)
    drawn = {float(points.nth(i).get_attribute("data-horizon")): float(points.nth(i).get_attribute("data-risk"))
             for i in range(points.count())}
    assert drawn == pytest.approx({0.0: 0.0, **{h: expected.risk(h) for h in model.horizons}}, abs=1e-4)
    shot(page, "registry-03-prediction-drawn")
