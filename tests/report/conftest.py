"""One synthetic demo study per test session, and its report built twice: at the demo's own data
cut-off (follow-up of years) and at an early cut-off (31 October 2023: follow-up of months)."""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.edc_support import fast_hashing  # noqa: F401  (cheap argon2id for the demo's accounts)

EARLY_CUTOFF = dt.date(2023, 10, 31)
FULL_CUTOFF = dt.date(2026, 6, 30)  # the demo's own data cut-off


@contextmanager
def demo_key(folder: Path):
    """The demo's own key file (a key set for another test's study must not be used to read it)."""
    saved = {k: os.environ.get(k) for k in ("SARCOTRIAL_KEY", "SARCOTRIAL_KEY_FILE")}
    os.environ.pop("SARCOTRIAL_KEY", None)
    os.environ["SARCOTRIAL_KEY_FILE"] = str(folder / "sprint-demo.sqlite.key")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Built:
    folder: Path
    document: object  # publishing.document.Document
    pdf: Path
    html: Path
    records: list  # services.views.PatientRecord, every patient, read through the services (not the report)


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory) -> Path:
    """A folder as ``sarcotrial demo --out`` leaves it for the report: the demo of seed 7 (tests/demo_cache.py,
    built once a run) and its key file."""
    from tests.demo_cache import demo_copy

    demo = demo_copy(tmp_path_factory, 7, "report-demo")
    demo.path.rename(demo.path.with_name("sprint-demo.sqlite"))
    key = demo.path.with_name("sprint-demo.sqlite.key")
    key.write_text(demo.key, encoding="utf-8")
    key.chmod(0o600)
    return demo.path.parent


def _build(folder: Path, out: Path, cutoff: dt.date | None) -> Built:
    from sarcotrial.publishing import html, pdf
    from sarcotrial.report.build import build_document
    from sarcotrial.services.study import StudyDB
    from sarcotrial.services.views import patients

    with demo_key(folder):
        study = StudyDB.open(str(folder / "sprint-demo.sqlite"))
        try:
            document = build_document(study, out, cutoff=cutoff)
            records = patients(study, None, permission="report")
        finally:
            study.close()
    return Built(out, document, pdf.render(document, out / "report.pdf"), html.render(document, out / "report.html"),
                 records)


@pytest.fixture(scope="session")
def full_report(demo_folder, tmp_path_factory) -> Built:
    return _build(demo_folder, tmp_path_factory.mktemp("report-full"), FULL_CUTOFF)


@pytest.fixture(scope="session")
def early_report(demo_folder, tmp_path_factory) -> Built:
    return _build(demo_folder, tmp_path_factory.mktemp("report-early"), EARLY_CUTOFF)
