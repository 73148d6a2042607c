"""Data exchange: exports of a study in the formats statisticians, sponsors, registries and other
hospital systems read, and imports from the tools a unit used before.

An export is one call, :func:`run_export`: the read side (:mod:`sarcotrial.services.exchange`) gives a
snapshot at the export level, checked against the user's sites and export right; the format's
writer (a module of this package with ``write(snapshot, folder) -> counts``) writes its files; a
``manifest.json`` lists every file with its size and SHA-256, the format, protocol version, data
cut-off, level and counts; and the export is recorded as an audited record. The writers hold no SQL
and no rules: they lay out what the snapshot holds.

The output folder is created if missing (readable by its owner alone, 0700, its files 0600: they hold
personal data) and refused if it holds anything, except (with ``force``) an earlier export of
SarcoTrial, whose files (those its manifest lists) are replaced. A writer that fails leaves no file
behind.
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
    "odm": ("odm", "CDISC ODM 1.3.2 study.xml: metadata from the protocol, clinical data (with audit records "
                   "for those who read the audit trail)"),
    "sdtm": ("sdtm", "CDISC SDTM IG 3.4 datasets (SAS XPT v5 and CSV) with Define-XML 2.1"),
    "fhir": ("fhir", "HL7 FHIR R4 Bundles along mCODE, one per patient"),
}
MANIFEST = "manifest.json"
#: formats with no place for a subject's name, date of birth and hospital number, and why: at the identified
#: level they carry the identifying fields (and ODM the reasons for change), and the manifest says so
WITHOUT_IDENTIFIERS: dict[str, str] = {
    "odm": "CDISC ODM 1.3.2 knows a subject by its key alone and has no element for the identifiers",
}


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    manifest: dict[str, Any]


def prepare_folder(out: Path, force: bool) -> list[Path]:
    """Check ``out`` can take an export; returns the files of an earlier export to replace (``force``)."""
    if not str(out).strip() or str(out).strip() == ".":
        raise InvalidValue("out", "give a folder for the export (a new one, or an earlier export's with --force)",
                           str(out))
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
    inside = out.resolve()
    strays = [name for name in listed if Path(name).is_absolute() or ".." in Path(name).parts
              or not (out / name).resolve().is_relative_to(inside)]
    if strays:  # a manifest naming files outside its folder is not an earlier export of ours
        raise InvalidValue("out", f"{out / MANIFEST} names files outside {out} ({', '.join(sorted(strays)[:3])}); "
                           "--force replaces only an earlier export: choose a new folder", str(out))
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
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    except OSError as exc:
        raise InvalidValue("out", f"cannot write in {out.parent} ({exc.strerror or exc})", str(out)) from None
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
            "sites": snap.sites if snap.sites is not None else "all",
            **({"identifiers": f"not written: {WITHOUT_IDENTIFIERS[fmt]}"}
               if snap.level == "identified" and fmt in WITHOUT_IDENTIFIERS else {}),
            "age_at_enrolment_from": snap.age_basis,
            "forms": list(snap.forms),
            "counts": {"patients": len(snap.patients), **counts},
            "files": [{"name": p.relative_to(work).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
                      for p in files],
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        (work / MANIFEST).write_text(text, encoding="utf-8")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        # in place: the earlier export's files go, the new ones move in; then the export is recorded (if
        # recording fails, the files moved in are removed again: no export without its record)
        for old in replace:
            if old.is_file():
                old.unlink()
        for folder in sorted({p.parent for p in replace if p.parent != out}, key=lambda p: -len(p.parts)):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if not out.exists():
            out.mkdir(parents=True, mode=0o700)  # personal data: the owner's alone, as the study file
        moved: list[Path] = []
        try:
            for p in sorted(work.rglob("*")):
                if p.is_file():
                    target = out / p.relative_to(work)
                    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    shutil.move(str(p), target)
                    moved.append(target)
                    target.chmod(0o600)
            exchange.record_export(study, actor, snap, fmt, digest)
        except BaseException:
            for target in moved:
                target.unlink(missing_ok=True)
            raise
        return ExportResult(out, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _takes_progress(fn: Callable) -> bool:
    import inspect

    return len(inspect.signature(fn).parameters) >= 3
