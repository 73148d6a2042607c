"""The REST API's reference, rendered by the application from its own OpenAPI document.

FastAPI's ``/docs`` and ``/redoc`` pages load their assets from a CDN and start with an inline
script, which the Content-Security-Policy forbids, and Swagger UI alone weighs over a megabyte (a
page here stays under 300 KB). So ``/api/docs`` is a plain server-rendered page: every operation
with its parameters, request body, answers and the schemas they use, from ``/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)


def _schema_name(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_name(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items'))}"
    return str(schema.get("type", "object"))


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's operations in path order, each as the page shows it."""
    out = []
    for path, methods in document.get("paths", {}).items():
        for method, op in methods.items():
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            out.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "tags": op.get("tags", []),
                "parameters": [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                                "type": _schema_name(p.get("schema")), "description": p.get("description", "")}
                               for p in op.get("parameters", [])],
                "body": _schema_name(body) if body else "",
                "responses": [(code, r.get("description", "")) for code, r in op.get("responses", {}).items()],
            })
    return out


@router.get("/api/docs")
def api_docs(request: Request):
    document = request.app.openapi()
    schemas = {name: json.dumps(schema, indent=2) for name, schema in
               sorted(document.get("components", {}).get("schemas", {}).items())}
    return render(request, "api_docs.html", title="REST API", info=document.get("info", {}),
                  operations=operations(document), schemas=schemas)
