"""Serve the built dashboard (``frontend/dist``) at ``/`` with an SPA fallback."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from jonbu_api.errors import error_response

logger = logging.getLogger(__name__)

#: Paths that are never the dashboard's (an unknown one there is a JSON 404).
_RESERVED = ("api/", "ws", "metrics", "docs", "redoc", "openapi.json")


def default_dist() -> Path:
    """``frontend/dist`` of the source tree (or ``$PWD/frontend/dist``)."""
    here = Path(__file__).resolve().parents[1] / "frontend" / "dist"
    return here if here.is_dir() else Path.cwd() / "frontend" / "dist"


def mount_frontend(app: FastAPI, dist: Path) -> bool:
    """Serve ``dist`` at ``/`` when it holds an ``index.html``; ``False`` otherwise.

    Existing files are served as they are (``/assets/*`` with a year of caching, as
    Vite names them by content hash); any other path gets ``index.html`` so the
    dashboard's client-side routes work on reload.
    """
    root = dist.resolve()
    index = root / "index.html"
    if not index.is_file():
        logger.info("no dashboard build at %s (run `make frontend-build`); serving the API only", root)
        return False

    async def frontend(request: Request, path: str = "") -> Response:
        if path.startswith(_RESERVED):
            return error_response(404, "not_found", f"no route {request.url.path}")
        target = (root / path).resolve() if path else index
        if path and target.is_relative_to(root) and target.is_file():
            cache = "public, max-age=31536000, immutable" if path.startswith("assets/") else "no-cache"
            return FileResponse(target, headers={"Cache-Control": cache})
        if path and "." in path.rsplit("/", 1)[-1]:
            return error_response(404, "not_found", f"no file {request.url.path}")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.add_api_route("/", frontend, methods=["GET", "HEAD"], include_in_schema=False, name="frontend_index")
    app.add_api_route(
        "/{path:path}", frontend, methods=["GET", "HEAD"], include_in_schema=False, name="frontend"
    )
    logger.info("serving the dashboard from %s", root)
    return True
