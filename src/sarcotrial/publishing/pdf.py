"""The report as a PDF (reportlab: pure Python, no system libraries), A4, journal-like layout.

Layout rules a journal's supplement keeps, applied here to every table and figure:

- a table's caption is its first row: it never stands apart from the table; a table that runs onto
  the next page repeats its caption, marked "(continued)", and its header row there;
- a sub-heading row of a table (a row with indented rows under it) stays with its first rows, a
  short group with all of them, and a table of at most :data:`SHORT_TABLE` rows is not split;
- a figure and its caption are one block; a section's heading stays with what follows it;
- a header is aligned like its column (a right-aligned number under a right-aligned header);
- a number and its unit (``93.9 %``) never break across lines.
"""

from __future__ import annotations

from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import CondPageBreak, Image, Paragraph, SimpleDocTemplate, Spacer, Table as RLTable, TableStyle
from xml.sax.saxutils import escape

from sarcotrial.publishing.document import Document, Figure, Table

_styles = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontName="Helvetica", fontSize=9.5, leading=13, alignment=TA_LEFT)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=8.3, leading=10.2)
CELL_RIGHT = ParagraphStyle("cell_right", parent=CELL, alignment=TA_RIGHT)
H1 = ParagraphStyle("h1", parent=_styles["Title"], fontName="Helvetica-Bold", fontSize=17, leading=21, alignment=TA_LEFT)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], fontName="Helvetica-Bold", fontSize=12.5, spaceBefore=12, spaceAfter=5)
CAPTION = ParagraphStyle("caption", parent=SMALL, textColor=colors.HexColor("#444444"), spaceBefore=2, spaceAfter=8)
NOTE = ParagraphStyle("note", parent=SMALL, textColor=colors.HexColor("#444444"))
BANNER = ParagraphStyle("banner", parent=BODY, backColor=colors.HexColor("#fce8ec"), borderColor=colors.HexColor("#c0504d"),
                        borderWidth=0.8, borderPadding=5, fontName="Helvetica-Bold", spaceBefore=6, spaceAfter=10)

USABLE_WIDTH = A4[0] - 4 * cm
SHORT_TABLE = 14  # rows: a table this short is kept on one page
GROUP_KEPT_WHOLE = 8  # rows under a sub-heading row: a group this short is kept on one page

CONTINUED = " (continued)"


def _text(value: str) -> str:
    """Escaped for a paragraph, with a number kept on the line of its unit."""
    return escape(str(value)).replace(" %", "\u00a0%")


class _CaptionedTable(RLTable):
    """A table whose first row is its caption; the part on a following page shows it "(continued)"."""

    continued: Paragraph | None = None
    last_data: int | None = None  # index of the last data row when a note row follows it

    def split(self, availWidth, availHeight):
        parts = super().split(availWidth, availHeight)
        if len(parts) == 2 and self.last_data is not None and len(parts[1]._cellvalues) <= self.repeatRows + 1:
            # only the note would go over (reportlab may break a NOSPLIT run when nothing else fits): take the
            # last two data rows with it, so the next page continues the table rather than show a lone note
            moved = sum(self._rowHeights[self.last_data - 1:self.last_data + 1])
            parts = super().split(availWidth, availHeight - moved) or parts
        if self.continued is not None and len(parts) == 2:
            for part in parts:
                part.continued = self.continued
            row = parts[1]._cellvalues[0]  # the repeated caption row, shared with the first part: a copy
            parts[1]._cellvalues[0] = [self.continued] + list(row[1:])
        return parts


def _continued_caption(caption: str) -> str:
    text = caption + CONTINUED
    return text if len(text) <= 95 else caption.split(". ")[0] + CONTINUED  # one line, as the row it replaces


def _groups(indent: list[int], n: int) -> list[tuple[int, int]]:
    """(first, last) data rows of each sub-heading row and the indented rows under it."""
    out, i = [], 0
    while i < n:
        level = indent[i] if i < len(indent) else 0
        j = i + 1
        while j < n and (indent[j] if j < len(indent) else 0) > level:
            j += 1
        if j > i + 1:
            out.append((i, j - 1))
        i = j
    return out


def table_flowable(t: Table) -> RLTable:
    """One reportlab table: caption row (if any), header row, data rows, note row (if any)."""
    columns = len(t.header)
    align = t.align or ["l"] + ["r"] * (columns - 1)
    top = 1 if t.caption else 0  # rows before the header
    data: list[list] = []
    if t.caption:
        data.append([Paragraph(f"<b>{escape(t.caption)}</b>", SMALL)] + [""] * (columns - 1))
    data.append([Paragraph(f"<b>{_text(h)}</b>", CELL_RIGHT if a == "r" else CELL) for h, a in zip(t.header, align)])
    for i, row in enumerate(t.rows):
        sub = t.indent[i] if i < len(t.indent) else 0
        cells = []
        for j, value in enumerate(row):
            text = _text(value)
            if j == 0 and sub:
                text = "&nbsp;" * (4 * sub) + text
            cells.append(Paragraph(text, CELL_RIGHT if align[j] == "r" else CELL))
        data.append(cells)
    if t.note:
        data.append([Paragraph(_text(t.note), NOTE)] + [""] * (columns - 1))
    if t.widths:
        widths = [USABLE_WIDTH * w / sum(t.widths) for w in t.widths]
    else:
        first = 0.46 if columns > 2 else 0.7
        widths = [USABLE_WIDTH * first] + [USABLE_WIDTH * (1 - first) / (columns - 1)] * (columns - 1)
    header = top
    first_data, last_data = top + 1, top + len(t.rows)
    style = [
        ("LINEABOVE", (0, header), (-1, header), 0.9, colors.black),
        ("LINEBELOW", (0, header), (-1, header), 0.6, colors.black),
        ("LINEBELOW", (0, last_data), (-1, last_data), 0.9, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if t.caption:
        style += [("SPAN", (0, 0), (-1, 0)), ("LEFTPADDING", (0, 0), (-1, 0), 0), ("BOTTOMPADDING", (0, 0), (-1, 0), 2.5)]
    if t.note:
        style += [("SPAN", (0, last_data + 1), (-1, last_data + 1)), ("TOPPADDING", (0, last_data + 1), (-1, last_data + 1), 3)]
    if len(t.rows) <= SHORT_TABLE:
        style.append(("NOSPLIT", (0, 0), (-1, -1)))
    else:
        style.append(("NOSPLIT", (0, 0), (-1, min(first_data + 2, last_data))))  # caption and header with rows
        style.append(("NOSPLIT", (0, max(first_data, last_data - 1)), (-1, -1)))  # the last rows with the note
        for a, b in _groups(t.indent, len(t.rows)):
            end = b if b - a <= GROUP_KEPT_WHOLE else min(b, a + 2)
            style.append(("NOSPLIT", (0, first_data + a), (-1, first_data + end)))
    table = _CaptionedTable(data, colWidths=widths, repeatRows=top + 1, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    if t.caption:
        table.continued = Paragraph(f"<b>{escape(_continued_caption(t.caption))}</b>", SMALL)
    if t.note and len(t.rows) >= 2:
        table.last_data = last_data
    return table


def figure_flowable(f: Figure) -> RLTable:
    """A figure and its caption as one block (a one-column table that is never split)."""
    from PIL import Image as PILImage

    with PILImage.open(f.png) as im:
        w, h = im.size
    width = min(f.width_cm * cm, USABLE_WIDTH)
    block = RLTable([[Image(str(f.png), width=width, height=width * h / w)], [Paragraph(escape(f.caption), CAPTION)]],
                    colWidths=[USABLE_WIDTH], hAlign="LEFT")
    block.setStyle(TableStyle([("NOSPLIT", (0, 0), (-1, -1)), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 0),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 0), ("ALIGN", (0, 0), (-1, -1), "LEFT")]))
    return block


def _first_piece(flowable) -> float:
    """The height that must follow a heading on its page: a figure or a table that is not split whole,
    a long table's caption, header and first rows, a paragraph's first lines."""
    _, height = flowable.wrap(USABLE_WIDTH, A4[1])
    if isinstance(flowable, RLTable):
        if any(cmd[0] == "NOSPLIT" and cmd[1] == (0, 0) and cmd[2] == (-1, -1) for cmd in flowable._nosplitCmds):
            return height
        return sum(flowable._rowHeights[:5])
    return min(height, 4 * BODY.leading)


def story(doc: Document) -> list:
    """The document as reportlab flowables (public for the tests, which lay them out). A heading is
    preceded by a conditional page break: it starts a page rather than stand at the foot of one
    without what follows it."""
    flow = [Paragraph(escape(doc.title), H1), Paragraph(escape(doc.subtitle), BODY)]
    if doc.banner:
        flow.append(Paragraph(escape(doc.banner), BANNER))
    for section in doc.sections:
        heading = Paragraph(escape(section.title), H2)
        blocks = []
        for block in section.blocks:
            if isinstance(block, Table):
                blocks += [table_flowable(block), Spacer(1, 8)]
            elif isinstance(block, Figure):
                blocks += [figure_flowable(block), Spacer(1, 6)]  # the next caption does not touch this one
            else:
                blocks += [Paragraph(_text(block), BODY), Spacer(1, 3)]
        _, height = heading.wrap(USABLE_WIDTH, A4[1])
        need = height + H2.spaceBefore + H2.spaceAfter + (_first_piece(blocks[0]) if blocks else 0)
        flow += [CondPageBreak(need), heading] + blocks
    return flow


def render(doc: Document, path: Path) -> Path:
    def footer(canvas, document):
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(2 * cm, 1.2 * cm, doc.footer[:150])
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"page {document.page}")
        canvas.restoreState()

    template = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=1.8 * cm,
                                 bottomMargin=2 * cm, title=doc.title, author="SarcoTrial")
    template.build(story(doc), onFirstPage=footer, onLaterPages=footer)
    return path
