"""The report's section "Risk models on the study's patients" (``sarcotrial.report.riskmodels``).

The statistics themselves (Harrell's C and its infinitesimal-jackknife CI, the time-dependent AUC of
Uno et al. 2007, the calibration table, slope and O/E of Royston & Altman, BMC Med Res Methodol
2013) are tested against independent implementations in tests/outcomes/test_model_performance.py.
Here: that the section shows exactly the numbers ``services.registry.performance_on_study`` gives
for the demo's loaded SYNTHETIC model (never numbers of its own), that its figure is written, and
that a study without a loaded model gets no section.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sarcotrial.publishing.document import Figure, Table
from sarcotrial.report import riskmodels
from tests.report.conftest import FULL_CUTOFF, demo_key

MODEL = "demo_synthetic_dmfs"


def _section(built):
    found = [s for s in built.document.sections if s.title == riskmodels.TITLE]
    assert len(found) == 1, [s.title for s in built.document.sections]
    return found[0]


@pytest.fixture(scope="module")
def service_numbers(demo_folder):
    """What the service computes for the demo's model at the report's cut-off, at the horizon the section says."""
    from sarcotrial.services import registry
    from sarcotrial.services.study import StudyDB

    with demo_key(demo_folder):
        study = StudyDB.open(str(demo_folder / "sprint-demo.sqlite"))
        try:
            view = next(v for v in registry.model_files(study, None) if v.key == MODEL)
            results = {h: registry.performance_on_study(study, None, MODEL, horizon=h, cutoff=FULL_CUTOFF)
                       for h in view.horizons}
        finally:
            study.close()
    return view, results


def test_the_section_shows_the_services_numbers(full_report, service_numbers):
    view, results = service_numbers
    section = _section(full_report)
    paragraphs = [b for b in section.blocks if isinstance(b, str)]
    tables = [b for b in section.blocks if isinstance(b, Table)]
    # the horizon used: the longest at which the service computes the numbers
    computable = [h for h, r in results.items() if r.performance is not None]
    assert computable, {h: r.problem for h, r in results.items()}
    horizon = max(computable)
    result = results[horizon]
    perf = result.performance
    intro = next(p for p in paragraphs if p.startswith(view.name))
    assert f"Horizon: {horizon:g} years" in intro
    assert "SYNTHETIC model" in intro and "not validated" in intro and "(dmfs)" in intro
    assert f"{len(result.patients)} patients with a prediction" in intro
    events = sum(1 for e in result.event if e == 1)
    assert f"{events} events of the endpoint, {perf.events} of them by the horizon" in intro
    if max(results) != horizon:  # the longer horizon left, with its reason
        assert f"{max(results):g}-year horizon" in intro
    numbers = next(p for p in paragraphs if p.startswith(f"At {horizon:g} years"))
    c, slope = perf.concordance, perf.calibration_slope
    assert f"Harrell's C {c.estimate:.2f} ({c.lower:.2f}\u2013{c.upper:.2f})" in numbers
    assert f"time-dependent AUC {perf.auc:.2f};" in numbers
    joint = " to " if slope.lower < 0 else "\u2013"
    assert f"calibration slope {slope.slope:.2f} ({slope.lower:.2f}{joint}{slope.upper:.2f})" in numbers
    assert f"expected (mean predicted) risk {100 * perf.expected:.1f} %" in numbers
    assert f"observed risk {100 * perf.observed:.1f} %" in numbers
    lo, hi = perf.oe_ci
    assert f"observed/expected (O/E) {perf.oe_ratio:.2f} ({lo:.2f}" in numbers
    # the calibration table: one row per group of the service's table, its numbers
    groups = tables[0].rows
    assert len(groups) == len(perf.groups)
    for row, g in zip(groups, perf.groups):
        assert row[:3] == [str(g.group), str(g.n), str(g.events)]
        assert row[4] == f"{100 * g.predicted:.1f} %"
        assert row[5].startswith(f"{100 * g.observed:.1f} %")
    # fewer than 100 events: the warning is printed
    assert perf.events < 100
    assert any(p.startswith("Warning:") and "unstable below about 100 events" in p for p in paragraphs)


def test_the_calibration_figure_is_written_and_in_the_pdf(full_report):
    section = _section(full_report)
    (figure,) = [b for b in section.blocks if isinstance(b, Figure)]
    assert Path(figure.png).exists() and Path(figure.png).stat().st_size > 10_000
    assert Path(figure.png).name == f"calibration_{MODEL}.png"
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(full_report.pdf))
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert riskmodels.TITLE in text and "Harrell's C" in text


def test_no_section_without_a_loaded_model(study):
    """A study with no loaded model (the fresh study of tests/conftest.py): no section."""
    assert riskmodels.loaded_models(study) == []
    calls = []
    out = riskmodels.section(study, None, None, figure=lambda *a, **k: calls.append(a), table_no=lambda: "Table 1",
                             figure_no=lambda: "Figure 1")
    assert out is None and calls == []


def test_the_intervals_read_as_numbers():
    assert riskmodels._interval(0.52, 0.87) == " (0.52\u20130.87)"
    assert riskmodels._interval(-0.3, 1.89) == " (-0.30 to 1.89)"


def test_the_service_takes_each_enrolled_patients_latest_prediction_and_endpoint(demo_folder, service_numbers):
    """The arrays the statistics get: every enrolled patient with a prediction by the model, their DMFS time
    in years (days / 365.25) and status from the endpoint derivation, and their predicted risk at the
    horizon; enrolled patients without a prediction counted apart."""
    from sarcotrial.services import registry
    from sarcotrial.services.endpoints import derive_endpoints
    from sarcotrial.services.study import StudyDB

    view, results = service_numbers
    horizon = max(h for h, r in results.items() if r.performance is not None)
    result = results[horizon]
    with demo_key(demo_folder):
        study = StudyDB.open(str(demo_folder / "sprint-demo.sqlite"))
        try:
            derived = derive_endpoints(study, FULL_CUTOFF)
            rows = {r.course.subject_id: r.times["dmfs"] for r in derived}
            enrolled_on = {r.course.subject_id: r.course.enrolment for r in derived}
            files = {s: registry.case_file(study, None, s) for s in result.patients}
        finally:
            study.close()
    assert len(result.patients) + result.not_predicted == len(rows)
    for subject, years, status, risk in zip(result.patients, result.time_years, result.event, result.risk):
        assert years == pytest.approx(rows[subject].time_days / 365.25) and status == rows[subject].status
        # the latest prediction made on or before enrolment (SPRINT's time origin): a baseline prediction
        latest = [p for p in files[subject].predictions if p.model.key == MODEL
                  and p.predicted_on <= enrolled_on[subject]][-1]
        assert risk == pytest.approx(latest.risks[horizon])
