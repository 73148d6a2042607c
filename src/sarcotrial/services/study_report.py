"""The study report built on request (the web application's report page), kept on disk by a random id.

:func:`build` runs :func:`sarcotrial.report.build.build_document` for the signed-in user (the
report reads through ``views.patients(..., permission="report")``, so it covers the user's sites
only) and writes, into a folder of its own:

- ``report.pdf`` (the same PDF as ``sarcotrial report``) and the figures as PNG;
- ``document.json``: the report's content (sections, paragraphs, tables, figures by name), which
  the web page lays out with its own stylesheet: the report package's ``report.html`` inlines a
  ``<style>`` block and SVG with style attributes, which the web application's Content Security
  Policy forbids;
- ``meta.json``: who built it, for which sites, when.

When the user is limited to sites, the report's title says so ("sites: SAT"), on the page and in
the PDF. The folder lies under :func:`report_root`, which every worker of the installation
finds: ``SARCOTRIAL_REPORT_DIR``, else a folder beside a SQLite database, else the system's
temporary folder. A report is read back only by the person who built it, while their account
keeps the ``report`` permission; folders older than :data:`KEEP_HOURS` are removed at the next build.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sarcotrial.config import sqlite_path
from sarcotrial.errors import InvalidValue
from sarcotrial.services.study import Actor, StudyDB

ENV = "SARCOTRIAL_REPORT_DIR"
KEEP_HOURS = 24
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_FIGURE = re.compile(r"^[a-z0-9_]{1,64}$")


class ReportNotFound(InvalidValue):
    """No report by this id for this user (unknown, removed, or someone else's)."""

    def __init__(self) -> None:
        super().__init__("report", "no such report (reports are kept for a day, for the person who built them)",
                         show_value=False)


def report_root(study: StudyDB) -> Path:
    """Where the reports of this study are kept (see the module)."""
    configured = os.environ.get(ENV, "").strip()
    if configured:
        return Path(configured)
    path = sqlite_path(study.url)
    if path is not None:
        return path.parent / f"{path.stem}-reports"
    digest = hashlib.sha256(study.url.encode()).hexdigest()[:12]
    user = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"sarcotrial-reports-{user}-{digest}"


def _own_folder(root: Path) -> Path:
    """The reports' folder, made readable by this user alone; one someone else made, or that others
    may write to, is refused (a shared temporary folder must not receive patients' reports)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = root.stat()
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        from sarcotrial.errors import SarcoTrialError

        raise SarcoTrialError(f"the reports' folder {root} belongs to another user or others may write to it; "
                              f"set {ENV} to a folder of this server's own")
    return root


@dataclass(frozen=True)
class WebReport:
    id: str
    user: str
    sites: list[str]
    cutoff: str | None
    built_at: str
    seconds: float
    document: dict[str, Any]
    folder: Path


def _blocks(section, folder: Path) -> list[dict[str, Any]]:
    from sarcotrial.publishing.document import Figure, Table
    from sarcotrial.publishing.html import segments

    out: list[dict[str, Any]] = []
    for block in section.blocks:
        if isinstance(block, Table):
            align = block.column_align()
            out.append({"kind": "table", "caption": block.caption, "header": list(block.header),
                        "rows": [[str(c) for c in row] for row in block.rows], "align": list(align),
                        # as report.html: whole columns that never wrap, and in every cell the runs that must not
                        # break (an identifier, a percentage with its interval)
                        "nowrap": list(block.column_nowrap()),
                        "cells": [[[list(run) for run in segments(c)] for c in row] for row in block.rows],
                        "indent": [block.indent[i] if i < len(block.indent) else 0 for i in range(len(block.rows))],
                        "note": block.note})
        elif isinstance(block, Figure):
            out.append({"kind": "figure", "name": Path(block.png).stem, "caption": block.caption})
        else:
            out.append({"kind": "text", "text": str(block)})
    return out


def _tidy(root: Path) -> None:
    """Remove report folders older than :data:`KEEP_HOURS`."""
    if not root.is_dir():
        return
    limit = time.time() - KEEP_HOURS * 3600
    for folder in root.iterdir():
        try:
            if folder.is_dir() and _ID.match(folder.name) and folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def require(study: StudyDB, actor: Actor) -> None:
    """Refuse (AccessDenied) a user whose role may not build the report."""
    with study.reading(actor, permission="report"):
        pass


def build(study: StudyDB, actor: Actor, cutoff: dt.date | None = None) -> WebReport:
    """Build the study report for ``actor``'s sites (permission ``report``) and keep it under a new id."""
    from sarcotrial.publishing import pdf
    from sarcotrial.report.build import build_document

    with study.reading(actor, permission="report") as session:  # refused before anything is written
        principal = study.principal(session)
        sites = sorted(principal.sites) if principal is not None and principal.sites else []
    root = _own_folder(report_root(study))
    _tidy(root)
    report_id = secrets.token_urlsafe(18)
    folder = root / report_id
    folder.mkdir(parents=True, mode=0o700)
    started = time.monotonic()
    try:
        from sarcotrial.publishing.plotting import DRAWING

        with DRAWING:  # pyplot's state is shared by the server's threads
            document = build_document(study, folder, cutoff=cutoff, actor=actor, figure_formats=("png",))
        if sites:
            document.title = f"{document.title} (sites: {', '.join(sites)})"
            document.subtitle = f"Patients of sites {', '.join(sites)} only. {document.subtitle}"
            document.footer = f"{document.footer}; sites: {', '.join(sites)}"
        pdf.render(document, folder / "report.pdf")
        content = {"title": document.title, "subtitle": document.subtitle, "banner": document.banner,
                   "footer": document.footer,
                   "sections": [{"title": s.title, "blocks": _blocks(s, folder)} for s in document.sections]}
        seconds = round(time.monotonic() - started, 1)
        meta = {"id": report_id, "user": principal.username if principal else actor.name, "sites": sites,
                "cutoff": cutoff.isoformat() if cutoff else None,
                "built_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "seconds": seconds}
        (folder / "document.json").write_text(json.dumps(content), encoding="utf-8")
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return WebReport(report_id, meta["user"], sites, meta["cutoff"], meta["built_at"], seconds, content, folder)


def _folder(study: StudyDB, actor: Actor, report_id: str) -> tuple[Path, dict[str, Any]]:
    with study.reading(actor, permission="report") as session:
        principal = study.principal(session)
        username = principal.username if principal is not None else actor.name
        sites_now = sorted(principal.sites) if principal is not None and principal.sites else []
    if not _ID.match(report_id or ""):
        raise ReportNotFound()
    folder = report_root(study) / report_id
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ReportNotFound() from None
    if meta.get("user") != username or sorted(meta.get("sites") or []) != sites_now:
        raise ReportNotFound()  # another person's, or built when the user's sites were others
    return folder, meta


def load(study: StudyDB, actor: Actor, report_id: str) -> WebReport:
    """A report built earlier by ``actor`` (any worker), else :class:`ReportNotFound`."""
    folder, meta = _folder(study, actor, report_id)
    try:
        content = json.loads((folder / "document.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ReportNotFound() from None
    return WebReport(report_id, meta["user"], meta.get("sites", []), meta.get("cutoff"), meta.get("built_at", ""),
                     meta.get("seconds", 0.0), content, folder)


def pdf_path(study: StudyDB, actor: Actor, report_id: str) -> Path:
    folder, _ = _folder(study, actor, report_id)
    path = folder / "report.pdf"
    if not path.is_file():
        raise ReportNotFound()
    return path


def figure_path(study: StudyDB, actor: Actor, report_id: str, name: str) -> Path:
    folder, _ = _folder(study, actor, report_id)
    if not _FIGURE.match(name or ""):
        raise ReportNotFound()
    path = folder / "figures" / f"{name}.png"
    if not path.is_file():
        raise ReportNotFound()
    return path
