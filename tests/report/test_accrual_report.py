"""The report's accrual: the forecast in the text under Figure 2 and in the methods, and Figure 2 with its predictive band,
the target and the planned end (SPRINT: 33 patients in 3 years, sprint.yaml identification.design).

A small study: three patients screened on 6 January, 3 February and 3 March 2025 and enrolled a week later
each; data cut-off 30 June 2025. Worked by hand: day 0 is the first screening (6 January 2025), t = 175 days to
the cut-off; prior Gamma(0.5 x 33, 0.5 x 1095.75) = Gamma(16.5, 547.875 days); posterior Gamma(19.5,
722.875); 30 patients to go. The completion quantiles are the R package accrual's ``accrual.T.inform`` expression
(b qB / (1 - qB), qB = qbeta(p, 30, 19.5)), computed here with scipy's beta distribution.
"""

from __future__ import annotations

import datetime as dt

import pytest
from scipy.stats import beta

from sarcotrial.services import pathway
from tests.helpers import NURSE, SCREENING, consent, register
from tests.report.test_figures import _legend_clear

CUTOFF = dt.date(2025, 6, 30)
PATIENTS = (("H0001", "2025-01-06", dt.date(2025, 1, 13)), ("H0002", "2025-02-03", dt.date(2025, 2, 10)),
            ("H0003", "2025-03-03", dt.date(2025, 3, 10)))


def enrol_three(study) -> None:
    for number, screened, enrolled in PATIENTS:
        subject = register(study, number, referral_date=screened).subject_id
        pathway.screen(study, NURSE, subject, {"screening_date": screened, "consent_date": screened, **SCREENING})
        consent(study, subject, screened)
        pathway.enrol(study, NURSE, subject, enrolled)


def r_package_date(q: float) -> dt.date:
    a, b, r = 16.5 + 3, 547.875 + 175, 30
    qb = beta.ppf(q, r, a)
    return CUTOFF + dt.timedelta(days=round(b * qb / (1 - qb)))


def words(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


@pytest.fixture
def built(study, tmp_path):
    from sarcotrial.report.build import build_document

    enrol_three(study)
    return build_document(study, tmp_path, cutoff=CUTOFF, figure_formats=("png",)), tmp_path


def _texts(document, title: str) -> str:
    section = next(s for s in document.sections if s.title.startswith(title))
    return "\n".join(b for b in section.blocks if isinstance(b, str))


def test_the_report_gives_the_forecast_its_method_and_figure(built):
    document, folder = built
    text = _texts(document, "Patient flow")  # under Figure 2
    assert "Accrual began with the first screening on 06 January 2025; 3 patients in 5.7 months to the cut-off" in text
    # 3 / 175 days x 30.4375 = 0.52 a month; plan 33 / 1095.75 x 30.4375 = 0.92; planned end 6 Jan 2025 + 1096 days
    assert "0.52 a month; the protocol plans 33 in 3 years (0.92 a month), to 07 January 2028" in text
    assert (f"reached on {words(r_package_date(0.5))} (median; 95% predictive interval {words(r_package_date(0.025))} "
            f"to {words(r_package_date(0.975))})") in text
    methods = _texts(document, "Methods")
    assert "Gajewski, Simon, Carlson, Stat Med 2008;27:2328-2340" in methods and "worth 0.5 x the target's" in methods
    figure = next(b for s in document.sections for b in s.blocks if getattr(b, "caption", "").startswith("Figure 2"))
    assert "planned end of enrolment" in figure.caption and "95% pointwise predictive band" in figure.caption
    assert (folder / "figures" / "accrual.png").stat().st_size > 10_000


def test_the_figure_has_the_band_the_median_the_target_and_the_plan():
    """Drawn from a forecast: the legend names each element; the band starts at the cut-off at the count."""
    from matplotlib.collections import PolyCollection

    from sarcotrial.outcomes.accrual import forecast
    from sarcotrial.report import figures

    dates = [p[2] for p in PATIENTS]
    f = forecast(dates, 33, start=dt.date(2025, 1, 6), cutoff=CUTOFF, planned_years=3)
    with figures.DRAWING:
        fig = figures.accrual(dates, 33, "Accrual", forecast=f)
        try:
            ax = fig.axes[0]
            labels = [t.get_text() for t in ax.get_legend().get_texts()]
            assert labels == ["Enrolled", "95% predictive band", "Forecast median", "Target (33)", "Planned end"]
            band = next(c for c in ax.collections if isinstance(c, PolyCollection))
            assert band.get_paths()[0].vertices[:, 1].min() == 3  # the count at the cut-off
            import matplotlib.dates as mdates

            right = mdates.num2date(ax.get_xlim()[1]).date()
            assert right > f.completion[2]  # the band's end is on the axis
            _legend_clear(fig, ax)  # one row between the title and the axes, as every accrual figure
        finally:
            figures.plt.close(fig)
