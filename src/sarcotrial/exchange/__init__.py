"""Data exchange: exports of a study in the formats statisticians, sponsors, registries and other
hospital systems read, and imports from the tools a unit used before.

An export is one call, :func:`run_export`: the read side (:mod:`sarcotrial.services.exchange`) gives a
snapshot at the export level, checked against the user's sites and export right; the format's
writer (a module of this package with ``write(snapshot, folder) -> counts``) writes its files; a
``manifest.json`` lists every file with its size and SHA-256, the format, protocol version, data
cut-off, level and counts; and the export is recorded as an audited record. The writers hold no SQL
and no rules: they lay out what the snapshot holds.

The output folder is created if missing and refused if it holds anything, except (with ``force``)
an earlier export of SarcoTrial, whose files (those its manifest lists) are replaced. A writer that
fails leaves no file behind.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from sarcotrial import __version__
from sarcotrial.errors import InvalidValue

#: format name -> (module of this package, what it writes)
FORMATS: dict[str, tuple[str, str]] = {
    "tables": ("tables", "one CSV and Parquet table per form, derived tables and a data dictionary"),
    "redcap": ("redcap", "REDCap data dictionary, events, instrument-event mapping and records CSV"),
    "odm": ("odm", "CDISC ODM 1.3.2 study.xml: metadata from the protocol, clinical data with audit records"),
    "sdtm": ("sdtm", "CDISC SDTM IG 3.4 datasets (SAS XPT v5 and CSV) with Define-XML 2.1"),
    "fhir": ("fhir", "HL7 FHIR R4 Bundles along mCODE, one per patient"),
}
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    manifest: dict[str, Any]


def prepare_folder(out: Path, force: bool) -> list[Path]:
    """Check ``out`` can take an export; returns the files of an earlier export to replace (``force``)."""
    if out.exists() and not out.is_dir():
        raise InvalidValue("out", f"{out} is a file; an export is written to a folder", str(out))
    if not out.exists():
        return []
    present = sorted(p for p in out.iterdir())
    if not present:
        return []
    if not force:
        raise InvalidValue("out", f"{out} is not empty; choose a new folder, or give --force to replace the earlier "
                           "export in it", str(out))
    manifest = out / MANIFEST
    listed: set[str] = set()
    if manifest.is_file():
        try:
            listed = {f["name"] for f in json.loads(manifest.read_text(encoding="utf-8")).get("files", [])}
        except (ValueError, TypeError, KeyError, AttributeError):
            listed = set()
    held = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())
    others = [name for name in held if name != MANIFEST and name not in listed]
    if not manifest.is_file() or others:
        raise InvalidValue("out", f"{out} holds files that are not an earlier export ("
                           f"{', '.join((others or held or [p.name for p in present])[:5])}); --force replaces only an "
                           "earlier export: choose a new folder", str(out))
    return [out / name for name in sorted(listed)] + [manifest]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def writer(fmt: str) -> Callable:
    if fmt not in FORMATS:
        raise InvalidValue("format", f"must be one of {', '.join(FORMATS)}", fmt)
    return importlib.import_module(f"sarcotrial.exchange.{FORMATS[fmt][0]}").write


def run_export(study, actor, fmt: str, out: Path, *, forms: Iterable[str] | None = None, level: str = "pseudonymised",
               intervals: bool = False, force: bool = False,
               progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export the study in ``fmt`` to the folder ``out`` (see the module docstring)."""
    from sarcotrial.services import exchange

    write = writer(fmt)
    if intervals and fmt != "tables":
        raise InvalidValue("intervals", "days from enrolment are written by the tables export only")
    replace = prepare_folder(out, force)
    snap = exchange.export_snapshot(study, actor, level=level, forms=forms, intervals=intervals)
    if progress:
        progress(f"read {len(snap.patients)} patients")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        counts = dict(write(snap, work, progress) if _takes_progress(write) else write(snap, work))
        files = sorted(p for p in work.rglob("*") if p.is_file())
        manifest = {
            "format": fmt,
            "sarcotrial_version": __version__,
            "protocol": {"acronym": snap.protocol.identification.acronym, "version": snap.protocol.version},
            "data_cutoff": snap.exported_at.isoformat(),
            "exported_by": snap.exported_by,
            "level": snap.level,
            "intervals": snap.intervals,
            "age_at_enrolment_from": snap.age_basis,
            "forms": list(snap.forms),
            "counts": {"patients": len(snap.patients), **counts},
            "files": [{"name": p.relative_to(work).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
                      for p in files],
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        (work / MANIFEST).write_text(text, encoding="utf-8")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        exchange.record_export(study, actor, snap, fmt, digest)
        # in place: the earlier export's files go, the new ones move in
        for old in replace:
            if old.is_file():
                old.unlink()
        for folder in sorted({p.parent for p in replace if p.parent != out}, key=lambda p: -len(p.parts)):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        out.mkdir(parents=True, exist_ok=True)
        for p in sorted(work.rglob("*")):
            if p.is_file():
                target = out / p.relative_to(work)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(p), target)
        return ExportResult(out, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _takes_progress(fn: Callable) -> bool:
    import inspect

    return len(inspect.signature(fn).parameters) >= 3
