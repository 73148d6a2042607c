"""The web application: FastAPI, server-rendered pages (Jinja2) with htmx, and the REST API.

A thin layer over ``services/``: every page and API route calls the same services as the CLI,
which authorise the signed-in user inside their unit of work; no SQL and no rule lives here.
The process keeps no state of its own besides the database connection pool: sessions are rows
of ``web_session`` (``services/access.py``), so several workers may serve one study.

``create_app(db)`` opens the study once per process; ``sarcotrial serve`` runs it under uvicorn.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from sarcotrial import __version__
from sarcotrial.services.study import StudyDB
from sarcotrial.web import security
from sarcotrial.web.deps import csrf_guard, resolve_user

HERE = Path(__file__).parent
log = logging.getLogger("sarcotrial.web")

#: page and API modules, each with a ``router``; their order is the order of the routes
PAGE_MODULES = ("auth", "apidocs", "dashboard", "grid", "patient", "ecrf", "queries", "review", "screening", "radiotherapy",
                "adverse_events", "audit", "report", "exports", "admin", "board", "second_opinion_entry",
                "registry_entry")
API_MODULES = ("session", "data", "exports")


def create_app(db: str | None = None, *, study: StudyDB | None = None) -> FastAPI:
    """The application for one study database (``db`` as on the CLI: URL, SQLite path, or the
    default), or for an already open ``study`` (tests)."""
    import importlib
    from contextlib import asynccontextmanager

    opened = study or StudyDB.open(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if study is None:
            opened.close()

    app = FastAPI(
        lifespan=lifespan,
        title="SarcoTrial",
        version=__version__,
        description=("The REST API of SarcoTrial. Sign in with `POST /api/v1/session` (a session cookie and a "
                     "CSRF token to send as `X-CSRF-Token` on every change) or send a personal API token as "
                     "`Authorization: Bearer st_...`. Data routes answer with the JSON shapes of the CLI's "
                     "`--json`."),
        docs_url=None, redoc_url=None,  # their pages load assets from a CDN; /api/docs is the app's own
        openapi_url="/openapi.json",
        dependencies=[Depends(resolve_user), Depends(csrf_guard)],
    )
    app.state.study = opened
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for name in PAGE_MODULES:
        module = importlib.import_module(f"sarcotrial.web.pages.{name}")
        app.include_router(module.router)
    for name in API_MODULES:
        module = importlib.import_module(f"sarcotrial.web.api.{name}")
        app.include_router(module.router, prefix="/api/v1")
    security.install(app)
    return app
