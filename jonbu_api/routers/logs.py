"""``GET /api/v1/logs``: this process's recent log records (the dashboard's log viewer)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from jonbu_api.deps import AdminAccess
from jonbu_api.errors import error_responses
from jonbu_core.logging import RECENT_LOGS

router = APIRouter(prefix="/api/v1", tags=["admin"])


class LogRecordOut(BaseModel):
    """One log record."""

    ts: str
    level: str
    logger: str
    message: str
    request_id: str | None = None


class LogsOut(BaseModel):
    """Recent log records, oldest first."""

    records: list[LogRecordOut]


@router.get("/logs", response_model=LogsOut, summary="Recent log records",
            responses=error_responses(401, 403, 422, 429))
async def get_logs(
    _: AdminAccess,
    limit: Annotated[int, Query(ge=1, le=2000, description="How many records at most.")] = 300,
    level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None,
        Query(description="Minimum level."),
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text the message or logger contains.")] = None,
) -> LogsOut:
    """The newest log records of this API process (INFO and above are kept, 2,000 at most)."""
    return LogsOut(records=[LogRecordOut(**r) for r in RECENT_LOGS.tail(limit, level, q)])
