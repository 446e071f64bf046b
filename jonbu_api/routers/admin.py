"""``/api/v1/admin``: API keys, the quarantine and configuration reload (admin scope)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from jonbu_api.deps import AdminAccess, StateDep, SymbolQuery
from jonbu_api.errors import error_responses
from jonbu_api.reload import Reloader, ReloadOut
from jonbu_api.schemas import KeyCreatedOut, KeyCreateIn, KeyOut, KeysOut, QuarantineOut
from jonbu_core.errors import ConfigError, InvalidInputError

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/keys", response_model=KeysOut, summary="List API keys", responses=error_responses(401, 403, 422, 429))
async def list_keys(
    _: AdminAccess,
    state: StateDep,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = False,
) -> KeysOut:
    """API keys (names, scopes, prefixes — never the keys)."""
    keys = await state.run_blocking(state.keys.list, include_revoked)
    return KeysOut(keys=[KeyOut(**k.public()) for k in keys])  # type: ignore[arg-type]


@router.post(
    "/keys", response_model=KeyCreatedOut, status_code=201, summary="Create an API key",
    responses=error_responses(401, 403, 409, 422, 429),
)
async def create_key(body: KeyCreateIn, _: AdminAccess, state: StateDep) -> KeyCreatedOut:
    """Create a key; the answer is the only time the key is shown (409 if the name is taken)."""
    info, key = await state.run_blocking(state.keys.create, body.name, body.scope)
    return KeyCreatedOut(key=key, **info.public())  # type: ignore[arg-type]


@router.delete(
    "/keys/{name}", status_code=204, response_class=Response, summary="Revoke an API key",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def revoke_key(
    name: Annotated[
        str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@\-]+$", description="The key's name.")
    ],
    _: AdminAccess,
    state: StateDep,
) -> Response:
    """Revoke the active key called ``name`` (404 when there is none)."""
    await state.run_blocking(state.keys.revoke, name)
    return Response(status_code=204)


@router.get(
    "/quarantine", response_model=QuarantineOut, summary="Quarantined rows",
    responses=error_responses(401, 403, 422, 429),
)
async def list_quarantine(
    _: AdminAccess,
    state: StateDep,
    symbol: SymbolQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Rows to return.")] = 100,
) -> QuarantineOut:
    """Rows rejected by validation, newest first, with their reason."""
    table = await state.run_store(
        "read_quarantine", state.store.read_quarantine, symbol.upper() if symbol else None, limit
    )
    rows: list[dict[str, Any]] = []
    for row in table.to_pylist():
        rows.append({k: (v.isoformat().replace("+00:00", "Z") if hasattr(v, "isoformat") else _clean(v))
                     for k, v in row.items()})
    return QuarantineOut(rows=rows)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@router.post(
    "/reload", response_model=ReloadOut, summary="Reload the configuration",
    responses=error_responses(401, 403, 422, 429),
)
async def reload_config(_: AdminAccess, state: StateDep, request: Request) -> ReloadOut:
    """Re-read the env file (``.env`` or ``$JONBU_ENV_FILE``) and apply what can change at run time.

    Symbols, rate limits and the log level change without dropping a connection (the
    in-process stream subscribes to added symbols); other changed variables are listed
    in ``restart_required``. Same as sending ``SIGHUP`` to the process. A bad value in
    the file answers 422 and changes nothing.
    """
    reloader: Reloader = request.app.state.jonbu_reloader
    try:
        return await reloader.reload(state)
    except ConfigError as exc:
        raise InvalidInputError(f"configuration not reloaded: {exc}") from None
