"""WebSocket endpoints: ``/ws`` (subscribe/unsubscribe) and ``/ws/ohlcv/{symbol}``.

Client → server (JSON text frames)::

    {"action": "subscribe", "symbols": ["AAPL"], "timeframes": ["1m", "5m"]}
    {"action": "unsubscribe", "symbols": ["AAPL"], "timeframes": ["5m"]}
    {"action": "pong"}                       # answer to {"type": "ping"}
    {"action": "auth", "api_key": "jk_…"}    # first message, when the key is not in the URL

Server → client: ``{"type": "candle", …}`` (CONTRACT.md), ``{"type": "subscribed" |
"unsubscribed", "symbols", "timeframes"}``, ``{"type": "ping", "ts"}``,
``{"type": "error", "error": {"code", "message"}}`` for a bad message (the connection
stays open). Close codes: 4401 missing/invalid key, 4429 rate limited, 1013 too slow,
4408 idle (no pong), 1008 too many bad messages, 1001 server shutting down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from jonbu_api.deps import Principal, check_access, client_address
from jonbu_api.hub import CLOSE_GOING_AWAY, Client, Key
from jonbu_api.state import AppState
from jonbu_core.errors import AuthError, InvalidInputError, JonbuError, RateLimitedError
from jonbu_core.models import normalize_symbol
from jonbu_core.timeframe import STREAM_TIMEFRAMES, parse_timeframe

logger = logging.getLogger(__name__)

router = APIRouter(tags=["ws"])

CLOSE_UNAUTHORIZED = 4401
CLOSE_RATE_LIMITED = 4429
CLOSE_POLICY = 1008
MAX_MESSAGE = 64 * 1024
MAX_ERRORS = 50
AUTH_TIMEOUT = 10.0
MAX_SYMBOLS = 200


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}


def _as_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        items = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise InvalidInputError(f"{what} must be a list of strings")
    if not items:
        raise InvalidInputError(f"{what} must not be empty")
    return items


def parse_keys(symbols: Any, timeframes: Any) -> tuple[list[str], list[str]]:
    """Validate the symbols and timeframes of a (un)subscribe message."""
    syms = list(dict.fromkeys(normalize_symbol(s) for s in _as_list(symbols, "symbols")))
    if len(syms) > MAX_SYMBOLS:
        raise InvalidInputError(f"at most {MAX_SYMBOLS} symbols per message")
    tfs: list[str] = []
    for t in _as_list(timeframes if timeframes is not None else ["1m"], "timeframes"):
        name = parse_timeframe(t).name
        if name not in STREAM_TIMEFRAMES:
            raise InvalidInputError(
                f"timeframe {name} is not streamed; expected one of {', '.join(STREAM_TIMEFRAMES)}"
            )
        if name not in tfs:
            tfs.append(name)
    return syms, tfs


async def _first_message_key(ws: WebSocket) -> str | None:
    try:
        msg = await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT)
    except TimeoutError:
        return None
    if msg["type"] != "websocket.receive":
        return None
    raw = msg.get("text") or msg.get("bytes") or b""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and data.get("action") == "auth" and isinstance(data.get("api_key"), str):
        return str(data["api_key"])
    return None


async def _authorize(ws: WebSocket, state: AppState) -> Principal | None:
    key = ws.query_params.get("api_key") or ws.headers.get("x-api-key")
    auth = ws.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    if not key and state.auth_enabled:
        key = await _first_message_key(ws)
    try:
        return await check_access(state, key, client_address(ws))
    except RateLimitedError as exc:
        await _reject(ws, exc, CLOSE_RATE_LIMITED)
    except AuthError as exc:
        await _reject(ws, exc, CLOSE_UNAUTHORIZED)
    return None


async def _reject(ws: WebSocket, exc: JonbuError, code: int) -> None:
    try:
        await ws.send_text(orjson.dumps(_error(exc.code, exc.message)).decode())
        await ws.close(code=code, reason=exc.message[:120])
    except Exception as err:  # the peer is gone already
        logger.debug("closing a rejected WebSocket failed: %s", err)


async def _subscribe(state: AppState, client: Client, symbols: Any, timeframes: Any, on: bool) -> None:
    syms, tfs = parse_keys(symbols, timeframes)
    keys: list[Key] = [(s, t) for s in syms for t in tfs]
    hub = state.hub
    if not on:
        hub.unsubscribe(client, keys)
        client.send_control({"type": "unsubscribed", "symbols": syms, "timeframes": tfs})
        return
    new = hub.subscribe(client, keys)
    client.send_control({"type": "subscribed", "symbols": syms, "timeframes": tfs})
    now = time.monotonic()
    for sym, tf in new:  # the current bar right away, when the stream has one
        try:
            ev = await state.bus.latest(sym, tf)
        except Exception:
            ev = None
        if ev is not None and not client.closed:
            client.offer((sym, tf), not ev.final, orjson.dumps(ev.to_message()).decode(), now)


async def _handle(state: AppState, client: Client, raw: str | bytes) -> None:
    if len(raw) > MAX_MESSAGE:
        raise InvalidInputError(f"message too large (over {MAX_MESSAGE} bytes)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInputError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInputError('expected a JSON object like {"action": "subscribe", ...}')
    action = data.get("action")
    if action in ("subscribe", "unsubscribe"):
        if "symbols" not in data:
            raise InvalidInputError(f"{action} needs symbols")
        await _subscribe(state, client, data["symbols"], data.get("timeframes"), action == "subscribe")
    elif action == "pong":
        return
    elif action == "ping":
        client.send_control({"type": "pong", "ts": time.time()})
    elif action == "auth":
        client.send_control({"type": "authenticated"})
    else:
        raise InvalidInputError(
            f"unknown action {action!r}; expected subscribe, unsubscribe, pong, ping or auth"
        )


async def _serve(ws: WebSocket, initial: tuple[str, str] | None) -> None:
    state: AppState = ws.app.state.jonbu
    await ws.accept()
    principal = await _authorize(ws, state)
    if principal is None:
        return
    hub = state.hub
    if hub.shutting_down:
        await ws.close(code=CLOSE_GOING_AWAY, reason="server shutting down")
        return
    client = hub.register(ws, principal.name)
    errors = 0
    try:
        if initial is not None:
            try:
                await _subscribe(state, client, initial[0], initial[1], True)
            except InvalidInputError as exc:
                client.send_control(_error(exc.code, exc.message))
        while not client.closed:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            client.last_recv = time.monotonic()
            state.metrics.ws_received.inc()
            raw = msg.get("text")
            if raw is None:
                raw = msg.get("bytes") or b""
            try:
                await _handle(state, client, raw)
            except JonbuError as exc:
                errors += 1
                client.send_control(_error(exc.code, exc.message))
                if errors >= MAX_ERRORS:
                    hub.drop(client, "bad_messages", CLOSE_POLICY, "too many invalid messages")
                    break
    except Exception as exc:  # a dropped connection mid-receive
        if ws.client_state != WebSocketState.DISCONNECTED:
            logger.debug("websocket ended: %s", exc)
    finally:
        hub.drop(client, "disconnect")
        if client.closing is not None:  # let the close frame (and its code) get out first
            await asyncio.shield(client.closing)


@router.websocket("/ws")
async def ws_stream(websocket: WebSocket) -> None:
    """Live candles: subscribe with ``{"action": "subscribe", "symbols", "timeframes"}``."""
    await _serve(websocket, None)


@router.websocket("/ws/ohlcv/{symbol}")
async def ws_symbol(websocket: WebSocket, symbol: str) -> None:
    """Live candles of one symbol, subscribed at connect (``?timeframes=1m,5m``)."""
    await _serve(websocket, (symbol, websocket.query_params.get("timeframes") or "1m"))
