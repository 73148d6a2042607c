"""Pages: exports of the study's data (``/exports``), as ``sarcotrial export`` makes them.

``GET /exports`` offers the formats, the levels the user's export right reaches, the forms and the
study's earlier exports; ``POST /exports`` runs the export (``sarcotrial.exchange.run_export``: the
user's sites and export right checked inside the unit of work, the export audited) into a private
temporary folder and answers with it as one ZIP file (the manifest inside lists every file's
checksum), removed once sent. Permission ``export``, checked by the services.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.background import BackgroundTask

from sarcotrial.errors import InvalidValue
from sarcotrial.exchange import FORMATS, run_export
from sarcotrial.services import exchange
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

LEVEL_TEXT = {
    "pseudonymised": "Pseudonymised: subject ids, no names, dates of birth or hospital numbers (age at enrolment "
                     "instead), no field the protocol marks identifying.",
    "deidentified": "De-identified: also each patient's dates shifted by an offset of their own, ages over 89 as 90, "
                    "no free text.",
    "identified": "Identified: with names, dates of birth and hospital numbers.",
}


def _page(request: Request, user, status_code: int = 200, error: InvalidValue | None = None, chosen: dict | None = None):
    study = study_of(request)
    levels = exchange.allowed_levels(study, user.actor)  # a role without ``export``: 403
    chosen = chosen or {}
    return render(request, "exports/index.html", status_code=status_code, title="Exports",
                  formats=FORMATS, levels=[(lvl, LEVEL_TEXT[lvl]) for lvl in exchange.LEVELS if lvl in levels],
                  forms=study.protocol.forms, history=exchange.exports(study, user.actor) if levels else [],
                  error=error, chosen={"format": chosen.get("format", "tables"),
                                       "level": chosen.get("level", "pseudonymised"),
                                       "forms": set(chosen.get("forms") or []),
                                       "intervals": bool(chosen.get("intervals"))})


@router.get("/exports")
def exports_page(request: Request, user: SignedIn):
    return _page(request, user)


def export_zip(study, actor, fmt: str, level: str, forms: list[str] | None, intervals: bool) -> tuple[Path, str, Path]:
    """Run the export into a private temporary folder and pack it as one ZIP: (the ZIP, its file name, the
    folder to remove once it is sent). Refusals (:class:`InvalidValue`, :class:`AccessDenied`) leave nothing."""
    work = Path(tempfile.mkdtemp(prefix="sarcotrial-export-"))
    try:
        if fmt not in FORMATS:
            raise InvalidValue("format", f"must be one of {', '.join(FORMATS)}", fmt)
        result = run_export(study, actor, fmt, work / "export", forms=forms or None, level=level, intervals=intervals)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        name = f"{study.protocol.acronym}-{fmt}-{result.manifest['level']}-{stamp}.zip"
        archive = work / name
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for path in sorted(result.folder.rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(result.folder).as_posix())
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return archive, name, work


def zip_response(archive: Path, name: str, work: Path) -> FileResponse:
    return FileResponse(archive, media_type="application/zip", filename=name,
                        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))


@router.post("/exports")
async def exports_run(request: Request, user: SignedIn, format: str = Form("tables"),
                      level: str = Form("pseudonymised"), intervals: str = Form("")):
    study = study_of(request)
    submitted = await request.form()
    forms = [f for f in submitted.getlist("forms") if isinstance(f, str)]
    chosen = {"format": format, "level": level, "forms": forms, "intervals": intervals}
    try:  # in a worker thread: a large export must not hold up every other request
        packed = await run_in_threadpool(export_zip, study, user.actor, format, level, forms, bool(intervals))
    except InvalidValue as exc:
        return _page(request, user, status_code=422, error=exc, chosen=chosen)
    return zip_response(*packed)
