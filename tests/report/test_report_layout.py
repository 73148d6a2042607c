"""How the study report is laid out, read back from the PDF it writes (pypdfium2 extracts each page's
text) and from its HTML; and every page of the demo's report rendered to PNG in
``tests/web/artefacts/report/`` (ignored by git) for a person to look at.

The rules are those of a journal's supplement: a table running onto another page repeats its header
and says "(continued)"; no heading (a section's, a table's sub-heading row) stands at the foot of a
page without what follows it; a header sits over its column; an identifier or an interval never
breaks across lines in the HTML.
"""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2
import pytest
from reportlab.lib.enums import TA_RIGHT

from sarcotrial.publishing import html, pdf
from sarcotrial.publishing.document import Document, Figure, Section, Table

ARTEFACTS = Path(__file__).resolve().parents[1] / "web" / "artefacts" / "report"


def page_texts(path: Path) -> list[str]:
    document = pypdfium2.PdfDocument(str(path))
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace("\r", "").split("\n") if x.strip()]


def long_table_document() -> Document:
    rows, indent = [], []
    for g in range(30):
        rows.append([f"Group {g}", ""])
        indent.append(0)
        for j in range(3):
            rows.append([f"item {g}.{j}", f"{g * 3 + j} (1 %)"])
            indent.append(1)
    intro = Section("Introduction").text("A paragraph before the table. " * 40)
    body = Section("Characteristics").table(Table(["Name", "Patients (n = 90)"], rows, caption="Table 1. Groups",
                                                  indent=indent, note="A note under the table."))
    return Document("A report", "subtitle", None, [intro, body], "footer")


def test_a_long_table_repeats_its_caption_continued_and_its_header_and_keeps_sub_headings_with_rows(tmp_path):
    pages = [[x for x in lines(t) if not x.startswith("footer")]  # the page's footer, drawn first
             for t in page_texts(pdf.render(long_table_document(), tmp_path / "t.pdf"))]
    assert len(pages) >= 2
    assert "Table 1. Groups" in pages[0] and not any("(continued)" in x for x in pages[0])
    for page in pages[1:]:
        assert page[0] == "Table 1. Groups (continued)"
        assert page[1].startswith("Name") and "Patients (n = 90)" in page[1]
    for page in pages:
        rows = [x for x in page if re.match(r"(Group|item) \d", x)]
        assert not rows[-1].startswith("Group"), f"a sub-heading row at the foot of a page: {rows[-1]}"
    assert "A note under the table." in pages[-1]
    # every row printed once, in order
    printed = [x.split()[1] for page in pages for x in page if re.match(r"(Group|item) \d", x)]
    assert printed == [r for g in range(30) for r in [str(g)] + [f"{g}.{j}" for j in range(3)]]


def test_a_note_never_goes_over_alone():
    """Where the page ends just before the note, the continuation carries the last rows with it: a
    "(continued)" page that shows only a header and the note says nothing (seen in the demo's Table 1)."""
    rows = [[f"item {i}", f"{i} (1 %)"] for i in range(40)] + [["Group", ""], ["yes", "1"], ["no", "2"]]
    flowable = pdf.table_flowable(Table(["Name", "Patients"], rows, caption="Table 1. Items", note="A note.",
                                        indent=[0] * 41 + [1, 1]))  # ends with a group kept whole, as Table 1
    flowable.wrap(pdf.USABLE_WIDTH, 10_000)
    everything_but_the_note = sum(flowable._rowHeights[:-1]) + 0.5
    first, rest = flowable.split(pdf.USABLE_WIDTH, everything_but_the_note)
    def plain(cell):  # reportlab hands a split part's cells back as tuples of flowables
        return (cell[0] if isinstance(cell, (tuple, list)) else cell).getPlainText()

    continued_rows = [plain(r[0]) for r in rest._cellvalues]
    assert continued_rows[0] == "Table 1. Items (continued)"
    assert len(continued_rows) > 3 and continued_rows[2] != "A note.", continued_rows  # data rows, not the note alone
    assert continued_rows[-1] == "A note."


def test_headers_are_aligned_with_their_columns():
    flowable = pdf.table_flowable(Table(["Population", "R0 / n", "Rate"], [["a", "1 / 2", "50.0 %"]], caption="T"))
    header = flowable._cellvalues[1]
    assert [p.style.alignment for p in header[1:]] == [TA_RIGHT, TA_RIGHT]
    assert header[0].style.alignment != TA_RIGHT


def test_every_section_heading_is_on_the_page_of_what_follows_it(full_report):
    pages = [lines(t) for t in page_texts(full_report.pdf)]
    for section in full_report.document.sections:
        first = section.blocks[0]
        if isinstance(first, Table):
            follows = first.caption
        elif isinstance(first, Figure):
            follows = first.caption[:40]
        else:
            follows = str(first)[:40]
        heading_page = next(i for i, p in enumerate(pages) if section.title in p)
        assert any(follows[:40] in x for x in pages[heading_page]), f"{section.title!r} stranded on page {heading_page + 1}"


def test_the_demo_report_continues_table_1_and_fills_its_pages(full_report):
    pages = [lines(t) for t in page_texts(full_report.pdf)]
    continued = [i for i, p in enumerate(pages) if any(x.startswith("Table 1. Patients and tumours at enrolment (continued)")
                                                        for x in p)]
    assert continued, "Table 1 runs onto a second page and says so"
    assert len(pages) <= 11  # ten pages, and the risk model checked on the study's patients since the registry


def test_html_keeps_identifiers_and_intervals_on_one_line_and_figures_wide(full_report):
    text = full_report.html.read_text()
    assert re.search(r'<td class="l nw"><span class="nw">SPR-\d{3}</span></td>', text)  # a patient's id
    # a KM estimate with its interval, one run (it broke as "100.0 % (100.0–/100.0)" on the web page)
    assert re.search(r'<span class="nw">\d+\.\d % \(\d+\.\d\u2013\d+\.\d\)</span>', text)
    assert "figure svg { display: block; width: 100%" in text
    assert html._text("SPR-012 had 93.9 % (79.8 % \u2013 99.3 %)") == (
        '<span class="nw">SPR-012</span> had <span class="nw">93.9 % (79.8 % \u2013 99.3 %)</span>')


@pytest.mark.parametrize("which", ["full_report", "early_report"])
def test_every_page_of_the_report_is_rendered_for_a_person_to_look_at(which, request):
    built = request.getfixturevalue(which)
    folder = ARTEFACTS / which.replace("_report", "")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("page-*.png"):
        old.unlink()
    document = pypdfium2.PdfDocument(str(built.pdf))
    try:
        count = len(document)
        for i in range(count):
            image = document[i].render(scale=1.5).to_pil()
            image.save(folder / f"page-{i + 1:02d}.png")
            assert image.convert("L").getextrema()[0] < 100, f"page {i + 1} has ink"
    finally:
        document.close()
    assert len(list(folder.glob("page-*.png"))) == count >= 5
