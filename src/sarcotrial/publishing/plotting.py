"""The figures' common ground (matplotlib, Agg): one style, one palette, one lock, one way to save.

pyplot keeps its figures in shared state, so a web server that draws from several threads (the
report, the dashboard's accrual, a plan's DVH) holds :data:`DRAWING` from figure to file.
"""

from __future__ import annotations

import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: one lock for every drawing of the server's threads, held from figure to file
DRAWING = threading.RLock()

plt.rcParams.update({
    "font.family": "DejaVu Sans", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.color": "#dddddd", "grid.linewidth": 0.6, "savefig.dpi": 200,
})

COLOURS = ["#1f4e79", "#c0504d", "#4f8f3a", "#7f6084", "#d08c28", "#2a9d9d", "#8c564b", "#e377c2"]

#: the formats :func:`save` draws a figure in: PNG for the PDF and the web page, SVG for the HTML report
FORMATS = ("png", "svg")


def save(fig, folder: Path, name: str, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """Write the figure in each of ``formats`` (PNG and SVG by default; a caller that shows only the
    PNGs asks for ``("png",)`` and spares the drawing of the SVG); returns the paths by format."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"figure formats are {', '.join(FORMATS)}; got {', '.join(formats) or 'none'}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"{name}.{fmt}" for fmt in formats}
    try:
        for path in paths.values():
            fig.savefig(path, bbox_inches="tight")
    finally:
        plt.close(fig)
    return paths
