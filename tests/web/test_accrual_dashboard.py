"""The dashboard's accrual card: the forecast completion (Gajewski, Simon, Carlson, Stat Med 2008;27:2328-2340)
and the accrual plot with its predictive band, for the patients the user may see.

The web study (tests/web/conftest.py): SPR-001 and SPR-002 at MAIN, screened 20 January 2025 and enrolled
22 January 2025; SPR-003 at SAT, referred only. SPRINT plans 33 patients in 3 years (sprint.yaml). Worked by
hand at today's date: day 0 the first screening (20 January 2025); prior Gamma(16.5, 547.875 days), posterior
Gamma(16.5 + 2, 547.875 + t) with t the days from 20 January 2025 to today; 31 patients to go; the median of the
time to the target is the R package accrual's ``accrual.T.inform`` expression b qB / (1 - qB),
qB = qbeta(0.5, 31, 18.5), computed here with scipy's beta distribution. Planned end: 20 January 2025 + 1096
days (3 x 365.25, rounded) = 21 January 2028.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from scipy.stats import beta

from tests.web.test_dashboard import _section


def _median_date(shape: float, days: float, remaining: int, today: dt.date) -> dt.date:
    qb = beta.ppf(0.5, remaining, shape)
    return today + dt.timedelta(days=round(days * qb / (1 - qb)))


def _words(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def test_the_card_states_the_forecast_completion(web_study, client_as):
    page = client_as("statistician").get("/")
    today = dt.date.today()
    assert page.status_code == 200
    card = " ".join(_section(page.text, "h-accrual").split())  # the template's line breaks are spaces
    t = (today - dt.date(2025, 1, 20)).days
    median = _median_date(16.5 + 2, 547.875 + t, 31, today)
    assert f"Forecast: the target of 33 is reached on {_words(median)} (median; 95% predictive interval" in card
    assert "by the planned end (21 January 2028)" in card
    assert "Planned: 33 in 3 years, to 2028-01-21; accrual counted from 2025-01-20 (the first screening)." in card
    assert "with the forecast median and its 95% predictive band and the planned end of enrolment" in card


def test_a_site_with_no_patient_gets_the_prior_alone(web_study, client_as):
    """nurse.sat sees SPR-003 only, never screened: accrual counts from today, the forecast is the prior's
    (Gamma(16.5, 547.875 days)), and the card says the counts are the sites' against the study's target."""
    page = client_as("nurse.sat").get("/")
    today = dt.date.today()
    card = " ".join(_section(page.text, "h-accrual").split())
    median = _median_date(16.5, 547.875, 33, today)
    assert f"reached on {_words(median)} (median;" in card
    assert f"accrual counted from {today.isoformat()} (no screening yet: from the cut-off), your sites' patients " \
           "against the study's target" in card


def test_the_accrual_png_draws_the_band(web_study, client_as):
    """The plot is a PNG about 704 pixels wide (6.4 in at 110 dpi, the card's image width, less the margins that
    ``bbox_inches="tight"`` crops)."""
    from matplotlib import image

    answer = client_as("statistician").get("/dashboard/accrual.png")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    pixels = image.imread(io.BytesIO(answer.content), format="png")
    assert 600 <= pixels.shape[1] <= 720 and pixels.shape[0] > 200
    (Path(__file__).parent / "artefacts").mkdir(exist_ok=True)
    (Path(__file__).parent / "artefacts" / "dashboard-accrual.png").write_bytes(answer.content)
