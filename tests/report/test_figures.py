"""The report's figures as a reader sees them: every count in its box, axes that show the data, legends
where no curve runs, numbers at risk under the axis title.

Assertions read the drawn Figure objects (texts, limits, window extents in display pixels); each figure
is also written as PNG to ``tests/web/artefacts/figures/`` (ignored by git) for a person to look at.
Expected counts come from what each test recorded, checked again against the study's own records, never
from the code under test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D

from sarcotrial.outcomes.competing_risks import cumulative_incidence
from sarcotrial.outcomes.kaplan_meier import fit_kaplan_meier
from sarcotrial.report import figures
from sarcotrial.report.build import build_document
from sarcotrial.report.data import gather
from sarcotrial.services import forms, pathway, views
from tests.edc_support import operated
from tests.helpers import DOCTOR, NURSE, SCREENING, enrolled, register

ARTEFACTS = Path(__file__).resolve().parents[1] / "web" / "artefacts" / "figures"


def keep(fig, name: str) -> None:
    """The figure as PNG for a person to look at (the Figure stays open for the assertions)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(ARTEFACTS / f"{name}.png", bbox_inches="tight", dpi=150)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    figures.plt.close("all")


def extent(fig, artist):
    fig.canvas.draw()
    return artist.get_window_extent(fig.canvas.get_renderer())


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


# --------------------------------------------------------------------------- CONSORT
def _screen(study, hospital_number: str, **answers):
    patient = register(study, hospital_number)
    values = {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING, **answers}
    return patient.subject_id, pathway.screen(study, NURSE, patient.subject_id, values)


def _flow_study(study):
    """Five enrolled patients whose follow-up ends five ways, and four screened and not enrolled."""
    died = operated(study, "H0001")
    forms.record(study, DOCTOR, died, "outcome_event",
                 {"event_type": "death", "event_date": "2025-09-01", "death_cause": "sarcoma"})
    lost = operated(study, "H0002")
    forms.record(study, NURSE, lost, "end_of_study", {"status": "lost_to_follow_up", "end_date": "2025-08-01"})
    withdrawn = operated(study, "H0003")
    forms.record(study, NURSE, withdrawn, "withdrawal",
                 {"withdrawal_date": "2025-06-01", "kind": "consent", "reason": "no longer wishes to take part"})
    done = operated(study, "H0004")
    forms.record(study, NURSE, done, "end_of_study", {"status": "completed", "end_date": "2025-12-01"})
    enrolled(study, "H0005")  # still followed, not yet operated
    _screen(study, "H0006", candidate_for_resection=False)  # an inclusion criterion not met
    _screen(study, "H0007", planned_amputation=True)  # an exclusion criterion met
    _screen(study, "H0008", candidate_for_resection=False, planned_amputation=True)  # both
    twice, first = _screen(study, "H0009", previous_rt_to_region=None)  # not evaluable, then screened again
    assert first.decision == "not_evaluable"
    assert pathway.screen(study, NURSE, twice, {"screening_date": "2025-01-27", "consent_date": "2025-01-27",
                                                **SCREENING}).decision == "eligible"  # and not enrolled


def _boxes(fig) -> dict[str, tuple]:
    return {plain(text): (patch, artists) for text, patch, artists in fig.consort_boxes}


def _box_with(boxes, words: str) -> str:
    found = [text for text in boxes if words in text]
    assert len(found) == 1, f"{words!r} in {len(found)} boxes: {list(boxes)}"
    return found[0]


def test_the_consort_flow_counts_every_way_out_and_fits_its_boxes(study):
    """CONSORT 2010 (Schulz et al., BMJ 2010;340:c332, flow diagram): enrolment, exclusions with reasons,
    follow-up lost or discontinued, analysis; here each with the counts recorded above."""
    _flow_study(study)
    # the same counts read back from the study's records, by the forms' own values (not the patient status)
    records = views.patients(study, None)
    deaths = sum(any(c.values.get("event_type") == "death" for c in r.of("outcome_event")) for r in records)
    ends = [c.values["status"] for r in records for c in r.of("end_of_study")]
    withdrawals = [c.values["kind"] for r in records for c in r.of("withdrawal")]
    assert (deaths, ends.count("lost_to_follow_up"), ends.count("completed")) == (1, 1, 1)
    assert [k for k in withdrawals if k in ("follow_up", "consent")] == ["consent"]
    assert sum(len(r.screenings) for r in records) == 10 and sum(bool(r.screenings) for r in records) == 9

    fig = figures.consort(gather(study).consort)
    keep(fig, "consort")
    boxes = _boxes(fig)
    # every way out of follow-up has its count, and the exits add up
    follow = _box_with(boxes, "Follow-up ended early")
    assert follow.splitlines() == ["Follow-up ended early (n = 3)", "\u2022 Died (n = 1)", "\u2022 Lost to follow-up (n = 1)",
                                   "\u2022 Withdrawn from follow-up or consent (n = 1)"]
    assert _box_with(boxes, "data cut-off").splitlines() == [
        "Follow-up to the data cut-off", "still followed (n = 1)", "completed the study (n = 1)"]
    # a repeated screening is said, the patient counted once
    screened = _box_with(boxes, "Screened for eligibility")
    assert screened.splitlines() == ["Screened for eligibility (n = 9)", "10 screenings of 9 patients (1 repeated)"]
    assert "Enrolled (n = 5)" in boxes
    # one wording for the reasons: each criterion's text as the protocol states it, under its kind
    out = _box_with(boxes, "Not enrolled").splitlines()
    assert out[0] == "Not enrolled (n = 4)"
    assert out[1:] == ["Inclusion criteria not met (n = 2)", "\u2022 Candidate for surgical resection (2)",
                       "Exclusion criteria met (n = 2)", "\u2022 Planned amputation (2)",
                       "(a patient may fail more than one criterion)", "Eligible, not enrolled (n = 1)"]
    assert not any("Not met:" in text for text in boxes)
    # every text inside its box; the figure as tall as its boxes
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    patches = []
    for text, (patch, artists) in boxes.items():
        frame = patch.get_window_extent(renderer)
        patches.append(frame)
        for artist in artists:
            inner = artist.get_window_extent(renderer)
            assert frame.x0 <= inner.x0 and inner.x1 <= frame.x1 and frame.y0 <= inner.y0 and inner.y1 <= frame.y1, text
    height = fig.get_size_inches()[1] * fig.dpi
    assert min(p.y0 for p in patches) < 0.15 * fig.dpi and height - max(p.y1 for p in patches) < 0.15 * fig.dpi
    # boxes never overlap
    for i, a in enumerate(patches):
        assert not any(a.overlaps(b) for b in patches[i + 1:])

    # at a cut-off of 1 July 2025 only the withdrawal (1 June) had happened
    early = gather(study, cutoff=dt.date(2025, 7, 1)).consort
    assert (early.died, early.lost_to_follow_up, early.withdrawn, early.completed) == (0, 0, 1, 0)
    assert early.in_follow_up == 4


# --------------------------------------------------------------------------- accrual
def _legend_clear(fig, ax):
    """The legend lies outside the axes (where no data is drawn) and clear of the title."""
    legend = extent(fig, ax.get_legend())
    assert legend.y0 >= ax.get_window_extent().y1 - 0.5
    assert not legend.overlaps(extent(fig, ax.title))
    for artist in [*ax.lines, *ax.collections]:
        if artist.get_visible() and len(getattr(artist, "get_xydata", lambda: [1])()):
            assert not legend.overlaps(extent(fig, artist))


@pytest.mark.parametrize("dates", [
    [dt.date(2025, 3, 3)],                                           # one patient so far
    [dt.date(2025, 3, 3), dt.date(2025, 3, 10), dt.date(2025, 4, 2)],  # one month of accrual
])
def test_a_short_accrual_fills_the_axis_and_the_target_is_still_shown(dates):
    """Report defect 5: a short accrual drew an invisible curve on a four-year axis."""
    fig = figures.accrual(dates, 33, "Accrual")
    keep(fig, f"accrual_{len(dates)}")
    ax = fig.axes[0]
    lo, hi = (d.date() for d in mdates.num2date(ax.get_xlim()))
    assert lo < dates[0] and hi > dates[-1]
    assert (hi - lo).days <= (dates[-1] - dates[0]).days + 30  # a margin, not years
    enrolled_line = next(line for line in ax.lines if line.get_label() == "Enrolled")
    assert max(enrolled_line.get_ydata()) == len(dates)
    assert extent(fig, enrolled_line).height > 5  # a visible rise, in pixels
    target = next(line for line in ax.lines if line.get_label() == "Target (33)")
    assert set(target.get_ydata()) == {33} and ax.get_ylim()[1] > 33
    _legend_clear(fig, ax)


def test_the_accrual_legend_is_not_struck_through_by_the_target_line():
    days = [dt.date(2023, 1, 20) + dt.timedelta(days=30 * k) for k in range(33)]
    fig = figures.accrual(days, 33, title="Accrual: 33 of 33 enrolled")
    keep(fig, "accrual_complete")
    _legend_clear(fig, fig.axes[0])


# --------------------------------------------------------------------------- survival and incidence
TIMES = [1.0, 3.0, 5.0, 7.0, 8.0, 12.0, 14.0, 20.0]
STATUS = [1, 0, 1, 0, 1, 0, 1, 0]
#: patients whose time is at least 0, 6, 12, 18, 24 months (R survfit's n.risk), counted from TIMES by hand
AT_RISK = ["8", "5", "3", "1", "0"]


def _risk_block(fig, ax):
    """The heading and the rows of the numbers at risk, checked to sit below the axis title, a line each."""
    fig.canvas.draw()
    heading = next(t for t in ax.texts if t.get_text() == "Number at risk")
    numbers = [t for t in ax.texts if t.get_text().isdigit()]
    label = extent(fig, ax.xaxis.label)
    head = extent(fig, heading)
    assert head.y1 <= label.y0, "the heading is below the axis title"
    for n in numbers:
        assert extent(fig, n).y1 <= head.y0, "the numbers are on lines of their own under the heading"
    ticks = ax.get_xticks()
    xs = [ax.transData.transform((t, 0))[0] for t in ticks]
    row = sorted(numbers, key=lambda t: extent(fig, t).x0)
    assert [abs((extent(fig, t).x0 + extent(fig, t).x1) / 2 - x) < 1.5 for t, x in zip(row, xs)] == [True] * len(xs)
    return [t.get_text() for t in row]


def test_a_survival_figure_says_what_probability_and_counts_at_risk_below_the_axis_title():
    km = fit_kaplan_meier(TIMES, STATUS)
    fig = figures.survival_curves([("", km)], "Overall survival", xmax=24)
    keep(fig, "km_overall_survival")
    ax = fig.axes[0]
    assert " ".join(ax.get_ylabel().split()) == "Overall survival (probability)"
    assert _risk_block(fig, ax) == AT_RISK
    named = figures.survival_curves([("", km)], "OS", xmax=24, ylabel="Survival without relapse (probability)")
    assert " ".join(named.axes[0].get_ylabel().split()) == "Survival without relapse (probability)"


def test_several_survival_curves_have_a_legend_clear_of_them_and_a_row_at_risk_each():
    a, b = fit_kaplan_meier(TIMES, STATUS), fit_kaplan_meier([2, 4, 9, 15, 22], [1, 1, 0, 1, 0])
    fig = figures.survival_curves([("Extremity", a), ("Trunk", b)], "Overall survival", xmax=24)
    keep(fig, "km_two_groups")
    ax = fig.axes[0]
    _legend_clear(fig, ax)
    labels = [t for t in ax.texts if t.get_text() in ("Extremity", "Trunk")]
    assert len(labels) == 2 and all(extent(fig, t).y1 <= extent(fig, ax.xaxis.label).y0 for t in labels)


def test_an_incidence_reaching_one_is_inside_the_axes():
    """Report defect 5: with every patient having the event the estimate is 1.0 (its log(-log) interval is
    undefined there), and the y axis stopped at 0.2."""
    times, status = np.array([2.0, 4.0, 6.0]), np.array([1, 1, 1])
    ci = cumulative_incidence(times, status, 1)
    assert ci.estimate[-1] == pytest.approx(1.0) and np.isnan(ci.upper[-1])
    fig = figures.incidence_curves([("local relapse", ci)], "Cumulative incidence of local relapse", xmax=12,
                                   times=times)
    keep(fig, "cif_reaching_one")
    ax = fig.axes[0]
    assert ax.get_ylim()[1] >= 1.0
    assert _risk_block(fig, ax) == ["3", "1", "0"]  # times >= 0, 6, 12: all three; 6.0; none


def test_an_incidence_figure_shows_its_upper_limits_counts_at_risk_and_a_legend_off_the_band():
    status = [1, 0, 2, 0, 1, 0, 2, 0]
    own, other = cumulative_incidence(TIMES, status, 1), cumulative_incidence(TIMES, status, 2)
    fig = figures.incidence_curves([("local relapse", own), ("death without local relapse", other)],
                                   "Cumulative incidence of local relapse", xmax=24, times=TIMES)
    keep(fig, "cif_two_causes")
    ax = fig.axes[0]
    upper = max(np.nanmax(own.upper), np.nanmax(other.upper))
    assert ax.get_ylim()[1] >= upper
    assert _risk_block(fig, ax) == AT_RISK
    assert [c for c in ax.collections if isinstance(c, PolyCollection)], "the CI bands are drawn"
    assert [line for line in ax.lines if isinstance(line, Line2D) and line.get_label() == "local relapse"]
    _legend_clear(fig, ax)


# --------------------------------------------------------------------------- captions
def test_event_codes_read_as_words():
    assert figures.event_words(["death_any_cause"]) == "death from any cause"
    assert figures.event_words(["local_relapse", "death_any_cause"]) == "local relapse or death from any cause"


def test_the_report_figures_have_worded_captions_and_every_figure_is_drawn(study, tmp_path):
    subject = operated(study, "H0001", pathology=True)
    forms.record(study, DOCTOR, subject, "outcome_event", {"event_type": "local_relapse", "event_date": "2025-08-01"})
    operated(study, "H0002", pathology=True)
    document = build_document(study, tmp_path, figure_formats=("png",))
    captions = [b.caption for s in document.sections for b in s.blocks if type(b).__name__ == "Figure"]
    assert captions and not any("death any cause" in c or "_" in c for c in captions)
    assert any("Events: death from any cause." in c for c in captions)
    for png in (tmp_path / "figures").glob("*.png"):
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        (ARTEFACTS / f"report_{png.name}").write_bytes(png.read_bytes())
