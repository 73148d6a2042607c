"""The report's figures are drawn in the formats that will be shown: the web report (PDF and PNGs)
draws PNG only; the CLI's report (HTML with SVG, and PDF) keeps both."""

from __future__ import annotations

from pathlib import Path

import matplotlib.figure
import pytest

from sarcotrial.report import figures
from sarcotrial.services import study_report
from tests.edc_support import OS_USER, operated


@pytest.fixture
def drawn(monkeypatch) -> list[str]:
    """The suffix of every file a figure is drawn to."""
    seen: list[str] = []
    original = matplotlib.figure.Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        seen.append(Path(fname).suffix if isinstance(fname, (str, Path)) else kwargs.get("format", "?"))
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return seen


def _figure():
    return figures.accrual([], 10, title="Accrual")


def test_save_draws_only_the_formats_asked(tmp_path, drawn):
    paths = figures.save(_figure(), tmp_path, "only_png", ("png",))
    assert set(paths) == {"png"} and drawn == [".png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["only_png.png"]
    both = figures.save(_figure(), tmp_path, "both")
    assert set(both) == {"png", "svg"} and drawn == [".png", ".png", ".svg"]
    assert both["svg"].read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_an_unknown_format_is_refused_and_nothing_is_left_open(tmp_path, drawn):
    fig = _figure()
    with pytest.raises(ValueError, match="pdf"):
        figures.save(fig, tmp_path, "x", ("png", "pdf"))
    assert drawn == [] and not list(tmp_path.iterdir())


def test_the_web_report_draws_png_only(study, tmp_path, monkeypatch, drawn):
    monkeypatch.setenv(study_report.ENV, str(tmp_path / "reports"))
    operated(study, pathology=True)
    report = study_report.build(study, OS_USER)
    figs = report.folder / "figures"
    assert drawn and set(drawn) == {".png"}
    assert not list(figs.glob("*.svg"))
    names = [b["name"] for s in report.document["sections"] for b in s["blocks"] if b["kind"] == "figure"]
    assert names and all((figs / f"{n}.png").is_file() for n in names)
