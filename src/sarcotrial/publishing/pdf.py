"""The report as a PDF (reportlab: pure Python, no system libraries), A4, journal-like layout."""

from __future__ import annotations

from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table as RLTable, TableStyle
from xml.sax.saxutils import escape

from sarcotrial.publishing.document import Document, Figure, Table

_styles = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontName="Helvetica", fontSize=9.5, leading=13, alignment=TA_LEFT)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=8.3, leading=10.2)
H1 = ParagraphStyle("h1", parent=_styles["Title"], fontName="Helvetica-Bold", fontSize=17, leading=21, alignment=TA_LEFT)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], fontName="Helvetica-Bold", fontSize=12.5, spaceBefore=12, spaceAfter=5,
                    keepWithNext=1)
CAPTION = ParagraphStyle("caption", parent=SMALL, textColor=colors.HexColor("#444444"), spaceBefore=2, spaceAfter=8)
BANNER = ParagraphStyle("banner", parent=BODY, backColor=colors.HexColor("#fce8ec"), borderColor=colors.HexColor("#c0504d"),
                        borderWidth=0.8, borderPadding=5, fontName="Helvetica-Bold", spaceBefore=6, spaceAfter=10)

USABLE_WIDTH = A4[0] - 4 * cm


def _table(t: Table):
    align = t.align or ["l"] + ["r"] * (len(t.header) - 1)
    data = [[Paragraph(f"<b>{escape(h)}</b>", CELL) for h in t.header]]
    for i, row in enumerate(t.rows):
        sub = t.indent[i] if i < len(t.indent) else 0
        cells = []
        for j, value in enumerate(row):
            text = escape(str(value))
            if j == 0 and sub:
                text = "&nbsp;&nbsp;&nbsp;&nbsp;" + text
            style = ParagraphStyle(f"c{j}", parent=CELL, alignment=2 if align[j] == "r" else 0)
            cells.append(Paragraph(text, style))
        data.append(cells)
    if t.widths:
        widths = [USABLE_WIDTH * w / sum(t.widths) for w in t.widths]
    else:
        first = 0.46 if len(t.header) > 2 else 0.7
        widths = [USABLE_WIDTH * first] + [USABLE_WIDTH * (1 - first) / (len(t.header) - 1)] * (len(t.header) - 1)
    table = RLTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("LINEABOVE", (0, 0), (-1, 0), 0.9, colors.black), ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ("LINEBELOW", (0, -1), (-1, -1), 0.9, colors.black), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]))
    flow = [table]
    if t.caption:
        flow.insert(0, Paragraph(f"<b>{escape(t.caption)}</b>", SMALL))
    if t.note:
        flow.append(Paragraph(escape(t.note), CAPTION))
    if len(t.rows) <= 12:  # a short table stays on one page with its caption
        return [KeepTogether(flow)]
    return flow


def _figure(f: Figure):
    from PIL import Image as PILImage

    with PILImage.open(f.png) as im:
        w, h = im.size
    width = min(f.width_cm * cm, USABLE_WIDTH)
    return KeepTogether([Image(str(f.png), width=width, height=width * h / w), Paragraph(escape(f.caption), CAPTION)])


def render(doc: Document, path: Path) -> Path:
    def footer(canvas, document):
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(2 * cm, 1.2 * cm, doc.footer[:150])
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"page {document.page}")
        canvas.restoreState()

    story = [Paragraph(escape(doc.title), H1), Paragraph(escape(doc.subtitle), BODY)]
    if doc.banner:
        story.append(Paragraph(escape(doc.banner), BANNER))
    for section in doc.sections:
        story.append(Paragraph(escape(section.title), H2))
        for block in section.blocks:
            if isinstance(block, Table):
                story += _table(block) + [Spacer(1, 6)]
            elif isinstance(block, Figure):
                story.append(_figure(block))
            else:
                story.append(Paragraph(escape(str(block)), BODY))
                story.append(Spacer(1, 3))
    template = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=1.8 * cm,
                                 bottomMargin=2 * cm, title=doc.title, author="SarcoTrial")
    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return path
