"""``/api/v1/ohlcv/{symbol}``: the latest candle and history in four formats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio.to_thread
import pyarrow as pa
from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from jonbu_api.deps import (
    DateQuery,
    ReadAccess,
    StateDep,
    SymbolPath,
    TimeframeQuery,
    resolve_range,
)
from jonbu_api.errors import error_responses
from jonbu_api.formats import EXTENSIONS, MEDIA_TYPES, content_hash, make_encoder
from jonbu_api.schemas import HistoryFormat, HistoryOut, LatestOut
from jonbu_api.state import AppState
from jonbu_core.errors import NotFoundError
from jonbu_core.models import Bar

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/ohlcv", tags=["ohlcv"])

#: Rows encoded per step of a streamed answer.
ENCODE_CHUNK = 25_000
#: Rows read from the store per step of an open (unbounded) range.
READ_PAGE = 50_000
MAX_LIMIT = 100_000
CLOSED_MAX_AGE = 300

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_HISTORY_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    MEDIA_TYPES["arrow"]: _BINARY,
    MEDIA_TYPES["parquet"]: _BINARY,
}


@router.get(
    "/{symbol}",
    response_model=LatestOut,
    summary="Latest candle",
    responses=error_responses(401, 404, 422, 429),
)
async def get_latest(symbol: SymbolPath, _: ReadAccess, state: StateDep, timeframe: TimeframeQuery = "1m") -> LatestOut:
    """The live (still open) bar from the stream when it runs, else the last stored bar.

    ``final`` is false for a live bar. Stored bars are cached for one second.
    """
    try:
        ev = await state.bus.latest(symbol, timeframe)
    except Exception as exc:
        logger.warning("bus latest failed: %s", exc)
        ev = None
    if ev is not None:
        return LatestOut(symbol=symbol, timeframe=timeframe, candle=ev.candle, final=ev.final, source="stream")
    bar = await _stored_latest(state, symbol, timeframe)
    if bar is None:
        raise NotFoundError(f"no {timeframe} bars stored for {symbol}")
    return LatestOut(symbol=symbol, timeframe=timeframe, candle=bar.candle(), final=True, source="store")


async def _stored_latest(state: AppState, symbol: str, timeframe: str) -> Bar | None:
    """The last stored bar, cached for a second; concurrent misses share one store read."""
    key = (symbol, timeframe)
    hit = state.latest_cache.get(key)
    if hit is not None:
        return hit if isinstance(hit, Bar) else None
    pending = state.inflight.get(key)
    if pending is None:
        pending = asyncio.ensure_future(state.run_store("latest_bar", state.store.latest_bar, symbol, timeframe))
        state.inflight[key] = pending
        try:
            bar: Bar | None = await pending
        finally:
            state.inflight.pop(key, None)
        state.latest_cache.put(key, bar if bar is not None else False)
        return bar
    shared: Bar | None = await asyncio.shield(pending)
    return shared


async def _encode(fn: Any, *args: Any) -> bytes:
    out: bytes = await anyio.to_thread.run_sync(fn, *args)
    return out


async def _stream_table(enc: Any, table: pa.Table, next_cursor: str | None) -> AsyncIterator[bytes]:
    yield enc.begin()
    for off in range(0, table.num_rows, ENCODE_CHUNK):
        part = await _encode(enc.chunk, table.slice(off, ENCODE_CHUNK))
        if part:
            yield part
    yield enc.end(next_cursor)


async def _stream_pages(
    state: AppState, enc: Any, first: pa.Table, cursor: str | None, read: Any
) -> AsyncIterator[bytes]:
    yield enc.begin()
    table = first
    while True:
        for off in range(0, table.num_rows, ENCODE_CHUNK):
            part = await _encode(enc.chunk, table.slice(off, ENCODE_CHUNK))
            if part:
                yield part
        if cursor is None:
            break
        page = await state.run_store("read_bars", read, cursor)
        table, cursor = page.table, page.next_cursor
    yield enc.end(None)


@router.get(
    "/{symbol}/history",
    response_model=HistoryOut,
    summary="History of a symbol",
    responses={
        200: {
            "content": _HISTORY_CONTENT,
            "description": "Bars, ascending by ts, in the requested format.",
            "headers": {
                "X-Next-Cursor": {"description": "Cursor of the next page (when there is one).",
                                  "schema": {"type": "string"}},
                "ETag": {"description": "Content hash (closed ranges).", "schema": {"type": "string"}},
                "Cache-Control": {"description": "`max-age` for closed ranges, else `no-cache`.",
                                  "schema": {"type": "string"}},
            },
        },
        304: {"description": "Not modified (the `If-None-Match` ETag still matches)."},
        **error_responses(401, 422, 429),
    },
)
async def get_history(
    request: Request,
    symbol: SymbolPath,
    _: ReadAccess,
    state: StateDep,
    timeframe: TimeframeQuery = "1m",
    start: DateQuery = None,
    end: DateQuery = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="Page size; without it the whole range is returned.")
    ] = None,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=256, description="`next_cursor` of the previous page.")
    ] = None,
    format: Annotated[HistoryFormat, Query(description="Answer format.")] = "json",
) -> Response:
    """Bars of ``[start, end)`` ascending, rolled up from 1m on read where needed.

    ``end`` defaults to now and ``start`` to ``end`` minus the longest span allowed for the
    timeframe (1m: 366 days, 5m/15m: 3 years, 30m: 5 years, 1h/4h: 10 years, 1d/1w: 50
    years). With ``limit``, pages follow ``next_cursor`` (JSON) or the ``X-Next-Cursor``
    header (other formats). ``csv``, ``arrow`` (IPC stream) and ``parquet`` carry the same
    columns and values as JSON; an unknown symbol has no bars. Answers are streamed: a
    closed range (``end`` in the past) is read whole — it is bounded by the maximum span —
    so its strong ``ETag`` (a hash of its content, with ``Cache-Control: max-age``) is
    known before the first byte; an open range is read page by page as it streams.
    """
    rng = resolve_range(timeframe, start, end)
    store = state.store

    def read(cur: str | None, lim: int | None = READ_PAGE) -> Any:
        return store.read_bars(symbol, timeframe, rng.start, rng.end, limit=lim, cursor=cur)

    closed = rng.closed(timeframe, state.settings.allowed_lateness_seconds)
    headers: dict[str, str] = {}
    if format != "json":
        fname = f"{symbol}_{timeframe}_{rng.start:%Y%m%d}_{rng.end:%Y%m%d}.{EXTENSIONS[format]}"
        headers["Content-Disposition"] = f'attachment; filename="{fname}"'
    enc = make_encoder(format, symbol, timeframe)
    if limit is not None or closed:
        page = await state.run_store("read_bars", read, cursor, limit)
        table, next_cursor = page.table, page.next_cursor
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        if closed:
            digest: str = await anyio.to_thread.run_sync(
                content_hash, table, symbol, timeframe, format, next_cursor or ""
            )
            etag = f'"{digest}"'
            privacy = "private" if state.auth_enabled else "public"
            headers["ETag"] = etag
            headers["Cache-Control"] = f"{privacy}, max-age={CLOSED_MAX_AGE}"
            if _etag_matches(request.headers.get("if-none-match"), etag):
                return Response(status_code=304, headers=headers)
        else:
            headers["Cache-Control"] = "no-cache"
        state.metrics.history_rows.labels(format).inc(table.num_rows)
        return StreamingResponse(_stream_table(enc, table, next_cursor), media_type=enc.media_type, headers=headers)
    first = await state.run_store("read_bars", read, cursor)
    headers["Cache-Control"] = "no-cache"
    state.metrics.history_rows.labels(format).inc(first.table.num_rows)
    return StreamingResponse(
        _stream_pages(state, enc, first.table, first.next_cursor, read), media_type=enc.media_type, headers=headers
    )


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == etag for t in header.split(","))
