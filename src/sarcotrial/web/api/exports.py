"""The REST API's exports (``/api/v1/exports``): ``sarcotrial export FORMAT`` for scripts (a nightly
extract with a personal API token), answered as one ZIP with its manifest, and the export log.

The same service as the CLI and the exports page: the user's sites and export right are checked inside
the unit of work and the export is recorded (audited); a refusal writes nothing.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sarcotrial.services import exchange, shapes
from sarcotrial.web.api.data import BODY_RULES, ERRORS, Shape, Strict
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.pages.exports import export_zip, zip_response

router = APIRouter(tags=["exports"])


class ExportIn(Strict):
    level: Literal["pseudonymised", "deidentified", "identified"] = "pseudonymised"
    forms: list[str] = []
    intervals: bool = False


class ExportLogOut(Shape):
    id: int
    at: str
    by: str | None
    format: str
    level: str
    forms: list[str]
    patients: int
    manifest_sha256: str


@router.post("/exports/{format}", operation_id="export",
             summary="Export the study's data (sarcotrial export FORMAT): one ZIP with manifest.json",
             description="`format`: tables, redcap, odm, sdtm or fhir (docs/exchange.md). Needs the permission "
                         "`export` and an export right reaching the level; the user's sites only; recorded in the "
                         "audit trail. " + BODY_RULES,
             responses={200: {"content": {"application/zip": {}}, "description": "The export as a ZIP"}, **ERRORS})
def export(format: str, body: ExportIn, request: Request, user: SignedIn):
    return zip_response(*export_zip(study_of(request), user.actor, format, body.level, body.forms, body.intervals))


@router.get("/exports", operation_id="export_log", summary="The study's exports, newest first (export log --json)",
            response_model=list[ExportLogOut], responses=ERRORS)
def export_log(request: Request, user: SignedIn):
    return JSONResponse(shapes.jsonable(exchange.exports(study_of(request), user.actor)))
