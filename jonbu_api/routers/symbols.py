"""``/api/v1/symbols``: the symbol registry (listing needs read, changes need admin)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response

from jonbu_api.deps import AdminAccess, ReadAccess, StateDep, SymbolPath
from jonbu_api.errors import error_responses
from jonbu_api.schemas import SymbolsIn, SymbolsOut
from jonbu_core.errors import NotFoundError
from jonbu_core.models import parse_symbols

router = APIRouter(prefix="/api/v1/symbols", tags=["symbols"])


@router.get("", response_model=SymbolsOut, summary="List symbols", responses=error_responses(401, 422, 429))
async def list_symbols(
    _: ReadAccess,
    state: StateDep,
    active_only: bool = Query(False, description="Only symbols that are tracked now."),
) -> SymbolsOut:
    """The symbol registry, sorted by symbol."""
    symbols = await state.run_store("list_symbols", state.store.list_symbols, active_only)
    return SymbolsOut(symbols=symbols)


@router.post(
    "",
    response_model=SymbolsOut,
    status_code=201,
    summary="Track symbols",
    responses=error_responses(401, 403, 422, 429),
)
async def add_symbols(body: SymbolsIn, _: AdminAccess, state: StateDep) -> SymbolsOut:
    """Track symbols (re-activates removed ones); answers 201 with their entries. Admin scope."""
    wanted = parse_symbols(body.symbols)
    added = await state.run_store("add_symbols", state.store.add_symbols, wanted)
    return SymbolsOut(symbols=added)


@router.delete(
    "/{symbol}",
    status_code=204,
    response_class=Response,
    summary="Stop tracking a symbol",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def remove_symbol(symbol: SymbolPath, _: AdminAccess, state: StateDep) -> Response:
    """Mark a symbol inactive (its stored bars stay). 404 when it is not tracked. Admin scope."""
    found = await state.run_store("deactivate_symbol", state.store.deactivate_symbol, symbol)
    if not found:
        raise NotFoundError(f"symbol {symbol} is not tracked")
    return Response(status_code=204)
