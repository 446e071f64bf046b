"""``/api/v1/console``: whitelisted CLI operations for the dashboard (admin scope)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter
from starlette.responses import StreamingResponse

from jonbu_api.console import OPERATIONS, run_line
from jonbu_api.deps import AdminAccess, StateDep
from jonbu_api.errors import error_responses
from jonbu_api.schemas import ConsoleCommand, ConsoleCommandsOut, ConsoleRunIn

router = APIRouter(prefix="/api/v1/console", tags=["console"])

_RUNS = asyncio.Semaphore(2)


@router.get(
    "/commands", response_model=ConsoleCommandsOut, summary="Console commands",
    responses=error_responses(401, 403, 429),
)
async def list_console_commands(_: AdminAccess) -> ConsoleCommandsOut:
    """The operations the console runs (admin scope)."""
    return ConsoleCommandsOut(
        commands=[ConsoleCommand(name=o.name, usage=o.usage, help=o.help) for o in OPERATIONS.values()]
    )


@router.post(
    "",
    summary="Run a console command",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Newline-delimited JSON events: `start`, `line`, `progress`, then one `end` "
            "(`ok`, `exit_code`, `error`).",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 422, 429),
    },
)
async def run_console(body: ConsoleRunIn, _: AdminAccess, state: StateDep) -> StreamingResponse:
    """Run one whitelisted command (``help``, ``health``, ``metrics``, ``symbols``, ``fetch``,
    ``mock``) as a function call — never through a shell — and stream its output.
    A failing command still answers 200; its last event says ``ok: false``. Admin scope.
    """

    async def events() -> AsyncIterator[bytes]:
        async with _RUNS:
            async for event in run_line(state, body.command):
                yield orjson.dumps(event) + b"\n"

    return StreamingResponse(events(), media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})
