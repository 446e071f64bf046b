"""WebSocket: subscribe/unsubscribe, updates from the bus, errors, auth, the hub's queues."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from jonbu_api.hub import CLOSE_TOO_SLOW, Hub, HubOptions
from jonbu_api.metrics import ApiMetrics
from jonbu_core.bus.base import CandleEvent
from jonbu_core.bus.memory import MemoryBus
from jonbu_core.models import Candle

T0 = datetime(2024, 1, 8, 14, 30, tzinfo=UTC)


def ev(symbol: str = "AAPL", tf: str = "1m", close: float = 1.5, final: bool = False, minute: int = 0) -> CandleEvent:
    c = Candle(ts=T0 + timedelta(minutes=minute), open=1.0, high=max(2.0, close), low=0.5, close=close, volume=10.0)
    return CandleEvent(symbol, tf, c, final=final, kind="closed" if final else "partial")


def recv(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    """Receive one JSON frame, failing after ``timeout`` seconds instead of hanging."""

    async def get() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    msg = ws.portal.call(get)
    ws._raise_on_close(msg)
    return dict(json.loads(msg["text"]))


def publish(client: TestClient, bus: MemoryBus, event: CandleEvent) -> None:
    client.portal.call(bus.publish, event)  # type: ignore[union-attr]


def test_subscribe_receive_unsubscribe(client: TestClient, bus: MemoryBus) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"action": "subscribe", "symbols": ["aapl"], "timeframes": ["1m", "5m"]})
        assert recv(ws) == {"type": "subscribed", "symbols": ["AAPL"], "timeframes": ["1m", "5m"]}
        publish(client, bus, ev("MSFT"))  # not subscribed: never delivered
        publish(client, bus, ev(close=1.7))
        msg = recv(ws)
        assert msg == {
            "type": "candle", "symbol": "AAPL", "timeframe": "1m", "final": False, "revision": 0,
            "candle": {"ts": "2024-01-08T14:30:00Z", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.7,
                       "volume": 10.0, "trade_count": None, "vwap": None},
        }
        publish(client, bus, ev(tf="5m", final=True))
        assert recv(ws)["timeframe"] == "5m"
        ws.send_json({"action": "unsubscribe", "symbols": ["AAPL"], "timeframes": ["1m"]})
        assert recv(ws)["type"] == "unsubscribed"
        publish(client, bus, ev(tf="1m", close=1.9))
        publish(client, bus, ev(tf="5m", close=1.8))
        m = recv(ws)
        assert (m["timeframe"], m["candle"]["close"]) == ("5m", 1.8)
        ws.send_json({"action": "ping"})
        assert recv(ws)["type"] == "pong"


def test_snapshot_of_current_bar_on_subscribe(client: TestClient, bus: MemoryBus) -> None:
    publish(client, bus, ev(close=1.25))
    with client.websocket_connect("/ws/ohlcv/aapl?timeframes=1m,5m") as ws:
        assert recv(ws) == {"type": "subscribed", "symbols": ["AAPL"], "timeframes": ["1m", "5m"]}
        snap = recv(ws)
        assert snap["type"] == "candle" and snap["candle"]["close"] == 1.25
        publish(client, bus, ev(tf="5m", close=1.3))
        assert recv(ws)["candle"]["close"] == 1.3


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"action": "dance"}', "unknown action"),
        ('{"action": "subscribe"}', "needs symbols"),
        ('{"action": "subscribe", "symbols": ["1BAD"]}', "invalid symbol"),
        ('{"action": "subscribe", "symbols": "AAPL", "timeframes": ["7m"]}', "unknown timeframe"),
        ('{"action": "subscribe", "symbols": ["AAPL"], "timeframes": ["30m"]}', "not streamed"),
        ('{"action": "subscribe", "symbols": [1, 2]}', "list of strings"),
        ('{"action": "subscribe", "symbols": []}', "must not be empty"),
        ("x" * 70_000, "too large"),
    ],
)
def test_invalid_messages_get_error_frames(client: TestClient, bus: MemoryBus, message: str, needle: str) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_text(message)
        err = recv(ws)
        assert err["type"] == "error" and err["error"]["code"] == "invalid_input"
        assert needle in err["error"]["message"]
        # the connection survives
        ws.send_json({"action": "subscribe", "symbols": ["AAPL"]})
        assert recv(ws)["type"] == "subscribed"
        publish(client, bus, ev())
        assert recv(ws)["type"] == "candle"


def test_too_many_bad_messages_close_the_socket(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        with pytest.raises(WebSocketDisconnect) as exc:
            for _ in range(60):
                ws.send_text("{")
                recv(ws)
        assert exc.value.code == 1008


def test_ws_auth(auth_client: TestClient, bus: MemoryBus, keys: dict[str, str]) -> None:
    with auth_client.websocket_connect("/ws") as ws:  # no key, a first message that is not auth
        ws.send_json({"action": "subscribe", "symbols": ["AAPL"]})
        err = recv(ws)
        assert err["error"]["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect) as exc:
            recv(ws)
        assert exc.value.code == 4401
    with auth_client.websocket_connect("/ws?api_key=jk_wrong") as ws:
        assert recv(ws)["error"]["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect):
            recv(ws)
    with auth_client.websocket_connect(f"/ws/ohlcv/AAPL?api_key={keys['read']}") as ws:
        assert recv(ws)["type"] == "subscribed"
    with auth_client.websocket_connect("/ws") as ws:  # key in the first message
        ws.send_json({"action": "auth", "api_key": keys["read"]})
        ws.send_json({"action": "subscribe", "symbols": ["AAPL"]})
        assert recv(ws)["type"] == "subscribed"
        publish(auth_client, bus, ev())
        assert recv(ws)["type"] == "candle"
    with auth_client.websocket_connect("/ws", headers={"X-API-Key": keys["read"]}) as ws:
        ws.send_json({"action": "subscribe", "symbols": ["AAPL"]})
        assert recv(ws)["type"] == "subscribed"


def test_ws_metrics_and_stats(client: TestClient, bus: MemoryBus) -> None:
    with client.websocket_connect("/ws/ohlcv/AAPL") as ws:
        assert recv(ws)["type"] == "subscribed"
        publish(client, bus, ev(final=True))
        assert recv(ws)["type"] == "candle"
        stats = client.get("/api/v1/stream/stats").json()["ws"]
        assert stats["clients"] == 1 and stats["subscriptions"] == 1 and stats["sent"] >= 2
        text = client.get("/metrics").text
        assert "jonbu_ws_clients 1.0" in text
        assert "jonbu_ws_messages_sent_total" in text
    assert client.get("/api/v1/stream/stats").json()["ws"]["clients"] == 0


def test_heartbeat_ping_and_idle_close(make_client: Any) -> None:
    opts = HubOptions(ping_interval=0.05, idle_timeout=0.5)
    with make_client(auth_default=False, hub_options=opts) as c, c.websocket_connect("/ws") as ws:
        assert recv(ws)["type"] == "ping"
        ws.send_json({"action": "pong"})
        with pytest.raises(WebSocketDisconnect) as exc:
            for _ in range(100):
                assert recv(ws)["type"] == "ping"
        assert exc.value.code == 4408


# ------------------------------------------------------------- hub, unit level
class FakeSocket:
    """A socket whose sends can be held (a slow client) and whose close is recorded."""

    def __init__(self, slow: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        if not slow:
            self.gate.set()
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_slow_client_gets_conflated_then_kicked_without_slowing_others() -> None:
    bus = MemoryBus()
    metrics = ApiMetrics()
    hub = Hub(bus, metrics, HubOptions(max_pending=5, max_lag=60))
    fast, slow = FakeSocket(), FakeSocket(slow=True)
    cf = hub.register(fast, "fast")  # type: ignore[arg-type]
    cs = hub.register(slow, "slow")  # type: ignore[arg-type]
    for c in (cf, cs):
        hub.subscribe(c, [("AAPL", "1m"), ("MSFT", "1m")])
    await _settle()
    # 50 partials of one bar: the slow client keeps only the latest (conflation)
    for i in range(50):
        hub.dispatch(ev(close=1.0 + i / 100))
        await asyncio.sleep(0)
    await _settle()
    assert [m["candle"]["close"] for m in fast.sent][-1] == 1.49
    assert len(fast.sent) == 50
    assert len(cs.queue) <= 1 and hub.conflated >= 48
    # closed bars are never conflated: past max_pending the slow client is kicked
    for i in range(8):
        hub.dispatch(ev(final=True, minute=i))
        hub.dispatch(ev("MSFT", final=True, minute=i))
        await _settle()
    assert cs.closed and cs not in hub.clients
    assert slow.closed is not None and slow.closed[0] == CLOSE_TOO_SLOW
    assert cf in hub.clients and len(fast.sent) == 66
    assert 'jonbu_ws_messages_dropped_total{reason="too_slow"}' in metrics.render().decode()
    assert hub.stats()["kicked"] == 1
    await hub.stop()
    assert fast.closed is not None and fast.closed[0] == 1001


async def test_final_bar_supersedes_unsent_partial() -> None:
    hub = Hub(MemoryBus(), ApiMetrics())
    sock = FakeSocket(slow=True)
    c = hub.register(sock, None)  # type: ignore[arg-type]
    hub.subscribe(c, [("AAPL", "1m")])
    hub.dispatch(ev(close=1.1))
    hub.dispatch(ev(close=1.2, final=True))
    hub.dispatch(ev(close=1.3, minute=1))
    sock.gate.set()
    await _settle()
    assert [(m["final"], m["candle"]["close"]) for m in sock.sent] == [(True, 1.2), (False, 1.3)]
    await hub.stop()


async def test_hub_consumes_the_bus() -> None:
    bus = MemoryBus()
    hub = Hub(bus, ApiMetrics())
    await hub.start()
    sock = FakeSocket()
    c = hub.register(sock, None)  # type: ignore[arg-type]
    hub.subscribe(c, [("AAPL", "5m")])
    await _settle()
    await bus.publish(ev(tf="5m", final=True))
    await _settle()
    assert sock.sent and sock.sent[0]["timeframe"] == "5m"
    assert hub.events == 1
    await hub.stop()


def test_updates_and_stats_over_redis(settings: Any, store: Any, redis_url: str, redis_prefix: str) -> None:
    """The API in its own process setup: its bus is Redis, the stream publishes elsewhere."""
    from pathlib import Path

    from jonbu_api.main import create_app
    from jonbu_core.bus.redis import RedisBus
    from jonbu_core.settings import load_settings

    s = load_settings(data_dir=settings.data_dir, bus="redis", redis_url=redis_url, redis_prefix=redis_prefix)
    app = create_app(s, store=store, auth_default=False, frontend_dist=Path("/nonexistent"))

    async def publish(event: CandleEvent | None, stats: dict[str, Any] | None = None) -> None:
        bus = RedisBus(redis_url, redis_prefix)
        await bus.start()
        try:
            if event is not None:
                await bus.publish(event)
            if stats is not None:
                await bus.publish_stats(stats)
        finally:
            await bus.close()

    with TestClient(app) as c, c.websocket_connect("/ws/ohlcv/AAPL?timeframes=5m") as ws:
        assert recv(ws)["type"] == "subscribed"
        got = None
        for i in range(50):  # until the hub's subscription is live
            asyncio.run(publish(ev(tf="5m", final=True, close=2.0 + i / 100, minute=5 * i)))
            try:
                got = recv(ws, timeout=0.2)
                break
            except TimeoutError:
                continue
        assert got is not None and got["type"] == "candle" and got["final"] is True
        latest = c.get("/api/v1/ohlcv/AAPL", params={"timeframe": "5m"}).json()
        assert latest["source"] == "stream"
        asyncio.run(publish(None, {"status": "ok", "running": True, "lag_s": 0.2}))
        stats = c.get("/api/v1/stream/stats").json()
        assert stats["source"] == "bus" and stats["bus"] == "redis" and stats["stream"]["lag_s"] == 0.2
        assert c.get("/api/v1/health").json()["components"]["bus"]["backend"] == "redis"


def test_stats_sent_counts_messages_of_clients_gone_since(client: TestClient, bus: MemoryBus) -> None:
    """``ws.sent`` is a counter of the process: it used to sum the connected clients only,
    so it fell back to 0 whenever the client that got the updates had disconnected."""
    with client.websocket_connect("/ws/ohlcv/AAPL") as ws:
        assert recv(ws)["type"] == "subscribed"
        publish(client, bus, ev(final=True))
        assert recv(ws)["type"] == "candle"
    stats = client.get("/api/v1/stream/stats").json()["ws"]
    assert stats["clients"] == 0 and stats["sent"] >= 2
    text = client.get("/metrics").text
    assert f"jonbu_ws_messages_sent_total {float(stats['sent'])}" in text


async def test_going_away_closes_clients_with_1001_and_refuses_new_ones() -> None:
    from jonbu_api.hub import CLOSE_GOING_AWAY, going_away

    hub = Hub(MemoryBus(), ApiMetrics())
    await hub.start()
    socks = [FakeSocket(), FakeSocket(slow=True)]
    for s in socks:
        hub.subscribe(hub.register(s, None), [("AAPL", "1m")])  # type: ignore[arg-type]
    hub.dispatch(ev())
    assert await going_away(timeout=1.0) >= 2
    assert [s.closed[0] if s.closed else None for s in socks] == [CLOSE_GOING_AWAY] * 2
    assert hub.shutting_down and not hub.clients
    await hub.stop()


def test_new_connection_during_shutdown_gets_1001(client: TestClient) -> None:
    client.app.state.jonbu.hub.shutting_down = True  # type: ignore[attr-defined]
    with client.websocket_connect("/ws") as ws, pytest.raises(WebSocketDisconnect) as exc:
        recv(ws)
    assert exc.value.code == 1001
