"""Serving the web application with uvicorn (``sarcotrial serve``, ``sarcotrial demo --serve``)."""

from __future__ import annotations

import os

SERVE_DB_ENV = "SARCOTRIAL_SERVE_DB"


def app_from_env():
    """The application factory uvicorn's workers call (each worker opens the study itself)."""
    from sarcotrial.web.app import create_app

    return create_app(os.environ.get(SERVE_DB_ENV) or None)


def serve(db: str | None, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          forwarded_allow_ips: str | None = None) -> None:
    """Serve until Ctrl-C. The study is opened first, so a wrong ``db`` fails before listening."""
    import uvicorn

    from sarcotrial.config import resolve_database_url
    from sarcotrial.services.study import StudyDB

    url = resolve_database_url(db)
    StudyDB.open(url).close()  # a missing or outdated study is one clear line, not a worker's traceback
    os.environ[SERVE_DB_ENV] = url
    uvicorn.run("sarcotrial.web.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", proxy_headers=forwarded_allow_ips is not None,
                forwarded_allow_ips=forwarded_allow_ips, server_header=False)
