"""``/openapi.json`` and the ``/docs`` page of an HTTP edge: Swagger UI from the pinned
``swagger-ui-py`` package's own files, served here (no CDN: it works air-gapped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import swagger_ui
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

ASSETS = Path(next(iter(swagger_ui.__path__))) / "static"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} — API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
    }});
  </script>
</body>
</html>
"""


def docs_routes(document: dict[str, Any]) -> list[BaseRoute]:
    """The routes serving ``document`` and the page that shows it; both open, like /healthz."""
    body = json.dumps(document, separators=(",", ":")).encode()
    page = _PAGE.format(title=document["info"]["title"])

    async def openapi(_: Request) -> Response:
        return Response(body, media_type="application/json")

    async def docs(_: Request) -> Response:
        return HTMLResponse(page)

    return [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/docs/assets", StaticFiles(directory=ASSETS), name="docs-assets"),
    ]
