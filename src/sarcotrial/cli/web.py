"""``sarcotrial serve``: the web application on this study."""

from __future__ import annotations

from typing import Optional

import typer

from sarcotrial.cli.common import DbOption, console, handle_errors


@handle_errors
def serve(db: Optional[str] = DbOption,
          host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
          port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
          workers: int = typer.Option(1, "--workers", min=1, max=64,
                                      help="Worker processes (sessions live in the database, so any worker serves any user)."),
          forwarded_allow_ips: Optional[str] = typer.Option(
              None, "--forwarded-allow-ips", help="Behind a TLS proxy: the proxy's address, so that cookies are marked Secure.")) -> None:
    """Serve the web application (pages and the REST API under /api/v1) until Ctrl-C."""
    from sarcotrial.web.server import serve as run

    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"SarcoTrial is served at [bold]http://{shown}:{port}/[/] (API: /api/v1, OpenAPI: /openapi.json); "
                  "Ctrl-C stops it.")
    run(db, host, port, workers, forwarded_allow_ips)
