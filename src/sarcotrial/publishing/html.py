"""The report as one self-contained HTML file (figures inlined as SVG)."""

from __future__ import annotations

import html
import re
from pathlib import Path

from sarcotrial.publishing.document import Document, Figure, Table

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ccc; margin-top: 2rem; }
.subtitle { color: #555; } .banner { background: #fce8ec; border: 1px solid #c0504d; padding: .5rem 1rem; font-weight: bold; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .88rem; } table.wide { width: 100%; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #e2e2e2; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #555; } td.r, th.r { text-align: right; } tr.sub td:first-child { padding-left: 1.8rem; }
td.r, .nw { white-space: nowrap; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: .3rem; }
figure { margin: 1rem 0; } figcaption { font-size: .85rem; color: #444; } figure svg { display: block; width: 100%; max-width: 100%; height: auto; }
p.note { font-size: .8rem; color: #555; margin-top: -.4rem; }
footer { margin-top: 3rem; font-size: .8rem; color: #666; }
"""


#: what must not break across lines: an identifier (SPR-002), a number with its unit (93.9 %), an interval
#: (20.5–32.9, 79.8 % – 99.3 %, "(81.2–100.0)"), an estimate with its interval ("100.0 % (100.0–100.0)")
_UNBREAKABLE = re.compile(
    r"\b[A-Z][A-Z0-9]*-\d+\b"
    r"|(?:\d+(?:\.\d+)?(?: ?%)?|NR) \((?:\d+(?:\.\d+)?(?: ?%)?|NR) ?\u2013 ?(?:\d+(?:\.\d+)?(?: ?%)?|NR)\)"  # with its CI
    r"|\d+ \(\d+(?:\.\d+)? %\)"  # a count with its share: 5 (15 %)
    r"|\(?\d+(?:\.\d+)?(?: ?%)?(?: ?\u2013 ?\d+(?:\.\d+)?(?: ?%)?)\)?"
    r"|\d+(?:\.\d+)? %")


def segments(value) -> list[tuple[str, bool]]:
    """``value`` as runs of text, each with whether it must stay on one line (an identifier, a number with
    its unit, an interval); the report page of the web application lays cells out from these."""
    out: list[tuple[str, bool]] = []
    last = 0
    text = str(value)
    for match in _UNBREAKABLE.finditer(text):
        if match.start() > last:
            out.append((text[last:match.start()], False))
        out.append((match.group(), True))
        last = match.end()
    if last < len(text) or not out:
        out.append((text[last:], False))
    return out


def _text(value) -> str:
    """Escaped text with identifiers, numbers with units and intervals kept on one line."""
    return "".join(f'<span class="nw">{html.escape(part)}</span>' if keep else html.escape(part)
                   for part, keep in segments(value))


def _table(t: Table) -> str:
    align = t.column_align()
    nowrap = t.column_nowrap()
    out = ["<table class='wide'>" if t.widths else "<table>"]
    if t.caption:
        out.append(f"<caption>{html.escape(t.caption)}</caption>")
    if t.widths:  # the PDF's share of the width for each column
        out.append("<colgroup>" + "".join(f"<col style='width: {100 * w / sum(t.widths):.1f}%'>" for w in t.widths)
                   + "</colgroup>")
    out.append("<tr>" + "".join(f'<th class="{a}">{html.escape(h)}</th>' for h, a in zip(t.header, align)) + "</tr>")
    for i, row in enumerate(t.rows):
        sub = t.indent[i] if i < len(t.indent) else 0
        cells = "".join(f'<td class="{a}{" nw" if nw and a != "r" else ""}">{_text(c)}</td>'
                        for c, a, nw in zip(row, align, nowrap))
        out.append(f'<tr class="{"sub" if sub else ""}">{cells}</tr>')
    out.append("</table>")
    if t.note:
        out.append(f"<p class='note'>{html.escape(t.note)}</p>")
    return "\n".join(out)


def _figure(f: Figure) -> str:
    svg = f.svg.read_text(encoding="utf-8")
    svg = svg[svg.index("<svg"):]  # drop the XML prologue for inlining
    share = min(100, round(100 * f.width_cm / 16))  # of the column, as the PDF's share of its text width
    return f"<figure style='max-width: {share}%'>{svg}<figcaption>{_text(f.caption)}</figcaption></figure>"


def render(doc: Document, path: Path) -> Path:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(doc.title)}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{html.escape(doc.title)}</h1>",
             f"<p class='subtitle'>{html.escape(doc.subtitle)}</p>"]
    if doc.banner:
        parts.append(f"<p class='banner'>{html.escape(doc.banner)}</p>")
    for section in doc.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(_table(block))
            elif isinstance(block, Figure):
                parts.append(_figure(block))
            else:
                parts.append(f"<p>{_text(block)}</p>")
    parts.append(f"<footer>{html.escape(doc.footer)}</footer></body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
