"""A report as a small document model, rendered to HTML and to PDF from the same content.

Sections hold paragraphs, tables and figures; the renderers (:mod:`.html`, :mod:`.pdf`) only lay
them out, so the HTML and the PDF cannot disagree on a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str | None = None
    indent: list[int] = field(default_factory=list)  # per row: 0 or 1 (a sub-row of the one above)
    align: list[str] | None = None  # per column: "l" or "r"
    widths: list[float] | None = None  # per column, fractions of the page width (default: a wide first column)
    note: str | None = None  # a footnote under the table
    nowrap: list[bool] | None = None  # per column: never wrap a cell (default: the right-aligned columns)

    def column_align(self) -> list[str]:
        return self.align or ["l"] + ["r"] * (len(self.header) - 1)

    def column_nowrap(self) -> list[bool]:
        """Columns whose cells must not break (ids, numbers with their intervals): HTML keeps them on one line."""
        return self.nowrap or [a == "r" for a in self.column_align()]


@dataclass
class Figure:
    png: Path
    svg: Path
    caption: str
    width_cm: float = 16.0


@dataclass
class Section:
    title: str
    blocks: list[object] = field(default_factory=list)  # str (a paragraph), Table or Figure

    def text(self, paragraph: str) -> "Section":
        self.blocks.append(paragraph)
        return self

    def table(self, table: Table) -> "Section":
        self.blocks.append(table)
        return self

    def figure(self, figure: Figure) -> "Section":
        self.blocks.append(figure)
        return self


@dataclass
class Document:
    title: str
    subtitle: str
    banner: str | None
    sections: list[Section]
    footer: str
