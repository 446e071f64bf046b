"""``jonbu-ohlcv health`` and ``metrics``: ask a running server."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from jonbu_cli.common import console
from jonbu_core.errors import JonbuError

DEFAULT_URL = "http://127.0.0.1:8000"
UrlOption = Annotated[str, typer.Option(help="Base URL of the server (default $JONBU_API_URL or :8000).")]
KeyOption = Annotated[
    str | None, typer.Option(help="API key, if the server wants one for this (default $JONBU_API_KEY).")
]


class ServerError(JonbuError):
    """The server could not be reached or answered with an error."""

    code = "server_error"


def register(app: typer.Typer) -> None:
    """Add the ``health`` and ``metrics`` commands."""
    app.command("health")(health)
    app.command("metrics")(metrics)


def _get(url: str, path: str, api_key: str | None, timeout: float) -> Any:
    import httpx

    headers = {"X-API-Key": api_key} if api_key else {}
    try:
        return httpx.get(url.rstrip("/") + path, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServerError(f"cannot reach {url}: {exc}") from None


def health(
    url: UrlOption = "",
    api_key: KeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the health document as JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.", min=0.1)] = 10.0,
) -> None:
    """Component status of a running server; exit status 1 when it is down."""
    url = url or os.environ.get("JONBU_API_URL", DEFAULT_URL)
    r = _get(url, "/api/v1/health", api_key or os.environ.get("JONBU_API_KEY"), timeout)
    try:
        doc = r.json()
    except ValueError:
        raise ServerError(f"{url} answered {r.status_code} with something that is not JSON") from None
    if "status" not in doc:
        raise ServerError(f"{url} answered {r.status_code}: {doc.get('error', {}).get('message', doc)}")
    if as_json:
        console.print_json(json.dumps(doc))
    else:
        from rich.table import Table

        colour = {"ok": "green", "degraded": "yellow", "down": "red"}.get(doc["status"], "white")
        console.print(f"[bold {colour}]{doc['status']}[/]  {url}  version {doc.get('version', '?')}, "
                      f"up {doc.get('uptime_s', 0):,.0f}s")
        table = Table("component", "status", "details")
        for name, comp in doc.get("components", {}).items():
            details = ", ".join(f"{k}={v}" for k, v in comp.items() if k != "status" and v is not None)
            table.add_row(name, comp.get("status", "?"), details)
        console.print(table)
    if doc["status"] == "down":
        raise typer.Exit(1)


def metrics(
    url: UrlOption = "",
    api_key: KeyOption = None,
    filter: Annotated[str, typer.Option("--filter", help="Only lines containing this text ('' for all).")] = "jonbu_",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.", min=0.1)] = 10.0,
) -> None:
    """Prometheus metrics of a running server (jonbu_* series by default)."""
    url = url or os.environ.get("JONBU_API_URL", DEFAULT_URL)
    r = _get(url, "/metrics", api_key or os.environ.get("JONBU_API_KEY"), timeout)
    if r.status_code != 200:
        raise ServerError(f"{url}/metrics answered {r.status_code}")
    for text in r.text.splitlines():
        if not filter or (filter in text and not text.startswith("#")):
            console.print(text, highlight=False, soft_wrap=True)
