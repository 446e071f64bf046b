"""REST routes: status codes, bodies, validation errors, history formats and pagination."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from jonbu_core.bus.base import CandleEvent
from jonbu_core.models import CANDLE_COLUMNS, Candle

H = "/api/v1/ohlcv/AAPL/history"


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


# ---------------------------------------------------------------------- health
def test_health_reports_components(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    doc = r.json()
    assert doc["status"] == "ok"
    assert {"store", "bus", "stream", "ws", "auth"} <= set(doc["components"])
    assert doc["components"]["store"]["status"] == "ok"
    assert doc["components"]["store"]["symbols"] == 2
    assert doc["components"]["stream"]["status"] == "off"


def test_health_is_down_when_the_store_fails(client: TestClient, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "list_symbols", boom)
    r = client.get("/api/v1/health")
    assert r.status_code == 503
    assert r.json()["status"] == "down"
    assert "disk on fire" in r.json()["components"]["store"]["detail"]


def test_health_uses_in_process_stream_status(make_client: Any) -> None:
    with make_client(auth_default=False, stream_status=lambda: {"running": True, "trades_per_s": 12.5}) as c:
        doc = c.get("/api/v1/health").json()
        assert doc["components"]["stream"]["status"] == "ok"
        assert doc["components"]["stream"]["trades_per_s"] == 12.5
        stats = c.get("/api/v1/stream/stats").json()
        assert stats["running"] is True and stats["source"] == "in-process"
        assert stats["stream"]["trades_per_s"] == 12.5


def test_stream_stats_from_the_bus(client: TestClient, bus: Any) -> None:
    assert client.get("/api/v1/stream/stats").json()["source"] == "none"
    client.portal.call(bus.publish_stats, {"running": True, "lag_ms": 3})  # type: ignore[union-attr]
    doc = client.get("/api/v1/stream/stats").json()
    assert doc == {**doc, "running": True, "source": "bus", "bus": "memory"}
    assert doc["stream"]["lag_ms"] == 3
    assert doc["ws"]["clients"] == 0


def test_metrics_text(client: TestClient) -> None:
    client.get("/api/v1/symbols")
    client.get("/api/v1/ohlcv/AAPL")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'jonbu_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/symbols"}' in text
    assert 'route="/api/v1/ohlcv/{symbol}"' in text
    assert "jonbu_ws_clients 0.0" in text
    assert 'jonbu_store_query_duration_seconds_count{op="latest_bar"}' in text


# --------------------------------------------------------------------- headers
def test_request_id_security_headers_and_cors(client: TestClient) -> None:
    r = client.get("/api/v1/symbols", headers={"X-Request-ID": "abc-123", "Origin": "http://example.org"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["access-control-allow-origin"] == "*"
    generated = client.get("/api/v1/symbols", headers={"X-Request-ID": "bad id\nx"}).headers["x-request-id"]
    assert len(generated) == 32 and generated != "bad id\nx"
    pre = client.options(
        "/api/v1/symbols",
        headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "X-API-Key"},
    )
    assert pre.status_code == 200
    assert "x-api-key" in pre.headers["access-control-allow-headers"].lower()


def test_cors_origins_from_settings(make_client: Any, data_dir: Any) -> None:
    from jonbu_core.settings import load_settings

    s = load_settings(cors_origins="http://dash.local")
    with make_client(settings=s, auth_default=False) as c:
        ok = c.get("/api/v1/symbols", headers={"Origin": "http://dash.local"})
        assert ok.headers["access-control-allow-origin"] == "http://dash.local"
        other = c.get("/api/v1/symbols", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_unknown_route_is_json_404(client: TestClient) -> None:
    _error(client.get("/api/v1/nope"), 404, "not_found")
    _error(client.put("/api/v1/symbols"), 405, "method_not_allowed")


# --------------------------------------------------------------------- symbols
def test_symbols_crud(client: TestClient) -> None:
    assert [s["symbol"] for s in client.get("/api/v1/symbols").json()["symbols"]] == ["AAPL", "MSFT"]
    r = client.post("/api/v1/symbols", json={"symbols": ["nvda", "BRK.B", "NVDA"]})
    assert r.status_code == 201
    assert [s["symbol"] for s in r.json()["symbols"]] == ["NVDA", "BRK.B"]
    assert client.delete("/api/v1/symbols/msft").status_code == 204
    listed = {s["symbol"]: s["active"] for s in client.get("/api/v1/symbols").json()["symbols"]}
    assert listed == {"AAPL": True, "BRK.B": True, "MSFT": False, "NVDA": True}
    active = client.get("/api/v1/symbols", params={"active_only": True}).json()["symbols"]
    assert "MSFT" not in {s["symbol"] for s in active}
    _error(client.delete("/api/v1/symbols/ZZZZ"), 404, "not_found")
    _error(client.post("/api/v1/symbols", json={"symbols": ["1BAD"]}), 422, "invalid_input")
    _error(client.post("/api/v1/symbols", json={"symbols": []}), 422, "invalid_input")
    _error(client.post("/api/v1/symbols", json={"nope": 1}), 422, "invalid_input")
    _error(client.post("/api/v1/symbols", content=b"{not json", headers={"content-type": "application/json"}),
           422, "invalid_input")


# ---------------------------------------------------------------------- latest
def test_latest_from_store_then_from_stream(client: TestClient, bus: Any) -> None:
    r = client.get("/api/v1/ohlcv/aapl")
    assert r.status_code == 200
    doc = r.json()
    assert doc["symbol"] == "AAPL" and doc["timeframe"] == "1m" and doc["final"] is True
    assert doc["source"] == "store"
    assert doc["candle"]["ts"] == "2024-01-05T20:59:00Z"
    assert set(doc["candle"]) == set(CANDLE_COLUMNS)
    daily = client.get("/api/v1/ohlcv/AAPL", params={"timeframe": "1d"}).json()
    assert daily["candle"]["ts"] == "2024-01-05T05:00:00Z"  # session label, midnight New York
    live = Candle(ts=datetime(2024, 1, 8, 14, 30, tzinfo=UTC), open=1, high=2, low=0.5, close=1.5, volume=10)
    client.portal.call(bus.publish, CandleEvent("AAPL", "1m", live, final=False))  # type: ignore[union-attr]
    doc = client.get("/api/v1/ohlcv/AAPL").json()
    assert doc["final"] is False and doc["source"] == "stream"
    assert doc["candle"]["ts"] == "2024-01-08T14:30:00Z" and doc["candle"]["close"] == 1.5


def test_latest_errors(client: TestClient) -> None:
    _error(client.get("/api/v1/ohlcv/MSFT"), 404, "not_found")
    _error(client.get("/api/v1/ohlcv/AAPL", params={"timeframe": "2m"}), 422, "invalid_input")
    _error(client.get("/api/v1/ohlcv/TOOLONGSYMBOL"), 422, "invalid_input")
    _error(client.get("/api/v1/ohlcv/9ABC"), 422, "invalid_input")


# --------------------------------------------------------------------- history
def _parse(fmt: str, body: bytes) -> pa.Table:
    if fmt == "csv":
        return pacsv.read_csv(
            io.BytesIO(body),
            convert_options=pacsv.ConvertOptions(
                column_types={"ts": pa.timestamp("us", tz="UTC"), "trade_count": pa.int64(), "vwap": pa.float64()}
            ),
        )
    if fmt == "arrow":
        return ipc.open_stream(body).read_all()
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(body))
    import orjson

    rows = orjson.loads(body)["candles"]
    cols = {c: [r[c] for r in rows] for c in CANDLE_COLUMNS}
    cols["ts"] = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in cols["ts"]]
    return pa.table(cols).cast(pa.schema([(c, t) for c, t in zip(CANDLE_COLUMNS, (
        pa.timestamp("us", tz="UTC"), pa.float64(), pa.float64(), pa.float64(), pa.float64(), pa.float64(),
        pa.int64(), pa.float64()), strict=True)]))


@pytest.mark.parametrize("timeframe", ["1m", "15m", "1d"])
def test_history_identical_across_formats(client: TestClient, store: Any, timeframe: str) -> None:
    params = {"timeframe": timeframe, "start": "2024-01-02", "end": "2024-01-05"}
    tables = {}
    for fmt in ("json", "csv", "arrow", "parquet"):
        r = client.get(H, params={**params, "format": fmt})
        assert r.status_code == 200, r.text
        tables[fmt] = _parse(fmt, r.content).select(list(CANDLE_COLUMNS))
    expected = store.read_bars("AAPL", timeframe, datetime(2024, 1, 2, 5, tzinfo=UTC),
                               datetime(2024, 1, 6, 5, tzinfo=UTC)).table.select(list(CANDLE_COLUMNS))
    assert expected.num_rows == {"1m": 1560, "15m": 4 * 26, "1d": 4}[timeframe]
    assert expected.column("trade_count").null_count > 0 or timeframe != "1m"
    for fmt, t in tables.items():
        assert t.num_rows == expected.num_rows, fmt
        for col in CANDLE_COLUMNS:
            assert t.column(col).to_pylist() == expected.column(col).to_pylist(), (fmt, col)


def test_history_content_types_and_metadata(client: TestClient) -> None:
    p = {"start": "2024-01-02", "end": "2024-01-02"}
    assert client.get(H, params=p).headers["content-type"] == "application/json"
    csv = client.get(H, params={**p, "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == ",".join(CANDLE_COLUMNS)
    assert 'filename="AAPL_1m_' in csv.headers["content-disposition"]
    arrow = client.get(H, params={**p, "format": "arrow"})
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    reader = ipc.open_stream(arrow.content)
    assert reader.schema.metadata[b"symbol"] == b"AAPL"
    assert pq.read_table(io.BytesIO(client.get(H, params={**p, "format": "parquet"}).content)).num_rows == 390


@pytest.mark.parametrize(("fmt", "limit"), [("json", 100), ("json", 389), ("csv", 250), ("arrow", 1000)])
def test_pagination_returns_each_bar_once(client: TestClient, fmt: str, limit: int) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"start": "2024-01-02", "end": "2024-01-05", "limit": limit, "format": fmt}
        if cursor:
            params["cursor"] = cursor
        r = client.get(H, params=params)
        assert r.status_code == 200, r.text
        pages += 1
        table = _parse(fmt, r.content)
        assert table.num_rows <= limit
        seen += [t.isoformat() for t in table.column("ts").to_pylist()]
        cursor = r.json()["next_cursor"] if fmt == "json" else r.headers.get("x-next-cursor")
        if fmt == "json":
            assert r.headers.get("x-next-cursor") == cursor
        if not cursor:
            break
        assert pages < 100
    assert len(seen) == 1560
    assert len(set(seen)) == 1560
    assert seen == sorted(seen)
    assert pages == -(-1560 // limit) or pages == -(-1560 // limit) + 1


def test_history_rollup_pagination(client: TestClient) -> None:
    all_5m = client.get(H, params={"timeframe": "5m", "start": "2024-01-02", "end": "2024-01-05"}).json()["candles"]
    assert len(all_5m) == 4 * 78
    got: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"timeframe": "5m", "start": "2024-01-02", "end": "2024-01-05", "limit": 50}
        if cursor:
            params["cursor"] = cursor
        page = client.get(H, params=params).json()
        got += page["candles"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert got == all_5m


def test_history_open_range_streams_pages(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from jonbu_api.routers import ohlcv

    monkeypatch.setattr(ohlcv, "READ_PAGE", 5)
    monkeypatch.setattr(ohlcv, "ENCODE_CHUNK", 3)
    # no end: an open range, read from the store page by page while streaming
    r = client.get(H, params={"start": "2024-01-02", "timeframe": "1h"})
    assert r.status_code == 200
    assert "etag" not in r.headers and r.headers["cache-control"] == "no-cache"
    doc = r.json()
    closed = client.get(H, params={"start": "2024-01-02", "end": "2024-01-05", "timeframe": "1h"}).json()
    assert len(doc["candles"]) == 4 * 7 and doc["next_cursor"] is None
    assert doc["candles"] == closed["candles"]


def test_history_etag_and_304(client: TestClient) -> None:
    p = {"start": "2024-01-02", "end": "2024-01-03", "format": "csv"}
    r = client.get(H, params=p)
    etag = r.headers["etag"]
    assert etag.startswith('"') and "max-age" in r.headers["cache-control"]
    again = client.get(H, params=p, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(H, params={**p, "format": "json"}, headers={"If-None-Match": etag}).status_code == 200
    assert client.get(H, params={**p, "end": "2024-01-04"}).headers["etag"] != etag


def test_history_empty_and_unknown_symbol(client: TestClient) -> None:
    doc = client.get("/api/v1/ohlcv/ZZZZ/history", params={"start": "2024-01-02", "end": "2024-01-03"}).json()
    assert doc == {"symbol": "ZZZZ", "timeframe": "1m", "candles": [], "next_cursor": None}
    assert client.get("/api/v1/ohlcv/ZZZZ/history", params={"format": "csv", "end": "2024-01-03"}).text == (
        ",".join(CANDLE_COLUMNS) + "\n"
    )
    empty = client.get("/api/v1/ohlcv/ZZZZ/history", params={"format": "parquet", "end": "2024-01-03"})
    assert pq.read_table(io.BytesIO(empty.content)).num_rows == 0


@pytest.mark.parametrize(
    "params",
    [
        {"timeframe": "7m"},
        {"start": "2024-13-45"},
        {"start": "yesterday"},
        {"start": "2024-01-05", "end": "2024-01-02"},
        {"start": "2020-01-01", "end": "2024-01-01"},  # span over 366 days for 1m
        {"limit": 0},
        {"limit": 100_001},
        {"limit": "ten"},
        {"cursor": "not-a-cursor", "end": "2024-01-03"},
        {"format": "xml"},
        {"start": "0001-01-01"},
    ],
)
def test_history_validation(client: TestClient, params: dict[str, Any]) -> None:
    _error(client.get(H, params=params), 422, "invalid_input")


def test_cursor_of_another_timeframe_is_rejected(client: TestClient) -> None:
    page = client.get(H, params={"start": "2024-01-02", "end": "2024-01-03", "limit": 5}).json()
    err = _error(client.get(H, params={"timeframe": "5m", "end": "2024-01-03", "cursor": page["next_cursor"]}),
                 422, "invalid_input")
    assert "timeframe" in err["message"]


def test_long_span_is_fine_for_daily_bars(client: TestClient) -> None:
    r = client.get(H, params={"timeframe": "1d", "start": "2000-01-01", "end": "2024-12-31"})
    assert r.status_code == 200 and len(r.json()["candles"]) == 4


# --------------------------------------------------------------------- rag
def test_rag_search_empty_index(client: TestClient) -> None:
    r = client.get("/api/v1/rag/search", params={"q": "hammer reversal", "symbol": "aapl", "k": 3})
    assert r.status_code == 200, r.text
    assert r.json() == {"results": []}
    _error(client.get("/api/v1/rag/search", params={"q": ""}), 422, "invalid_input")
    _error(client.get("/api/v1/rag/search", params={"q": "x", "k": 0}), 422, "invalid_input")
    _error(client.get("/api/v1/rag/search", params={"q": "x", "timeframe": "2m"}), 422, "invalid_input")
    _error(client.get("/api/v1/rag/search"), 422, "invalid_input")


# ---------------------------------------------------------------------- admin
def test_admin_keys_and_quarantine(client: TestClient, store: Any) -> None:
    created = client.post("/api/v1/admin/keys", json={"name": "dash", "scope": "read"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("jk_") and created.json()["prefix"] == key[:8]
    listed = client.get("/api/v1/admin/keys").json()["keys"]
    assert [k["name"] for k in listed] == ["dash"] and "key" not in listed[0] and "hash" not in listed[0]
    _error(client.post("/api/v1/admin/keys", json={"name": "dash"}), 409, "conflict")
    assert client.delete("/api/v1/admin/keys/dash").status_code == 204
    _error(client.delete("/api/v1/admin/keys/dash"), 404, "not_found")
    assert client.get("/api/v1/admin/keys", params={"include_revoked": True}).json()["keys"][0]["active"] is False
    bad = pa.table({"symbol": ["AAPL"], "timeframe": ["1m"], "ts": [datetime(2024, 1, 2, 15, tzinfo=UTC)],
                    "open": [1.0], "high": [0.5], "low": [1.0], "close": [1.0], "volume": [1.0]})
    assert store.write_bars(bad).quarantined == 1
    rows = client.get("/api/v1/admin/quarantine", params={"symbol": "AAPL"}).json()["rows"]
    assert rows[0]["reason"] == "high_below_low" and rows[0]["ts"] == "2024-01-02T15:00:00Z"


# ------------------------------------------------------- enriched and narrative
def test_enriched_candles(client: TestClient) -> None:
    r = client.get("/api/v1/ohlcv/AAPL/enriched",
                   params={"timeframe": "15m", "start": "2024-01-04", "end": "2024-01-05", "indicators": "rsi:14,sma:20"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["symbol"] == "AAPL" and doc["timeframe"] == "15m"
    candles = doc["candles"]
    assert len(candles) == 2 * 26
    first = candles[0]
    assert {"ohlcv", "indicators", "patterns", "context", "features", "confidence"} <= set(first)
    assert first["ohlcv"]["ts"] == "2024-01-04T14:30:00Z"
    assert {"rsi_14", "sma_20"} <= set(first["indicators"])
    assert 0.0 <= first["confidence"] <= 1.0
    # warm-up is loaded from before the range: values do not depend on where it starts
    later = client.get("/api/v1/ohlcv/AAPL/enriched",
                       params={"timeframe": "15m", "start": "2024-01-05", "end": "2024-01-05",
                               "indicators": "rsi:14,sma:20"}).json()["candles"]
    assert later[0]["ohlcv"] == candles[26]["ohlcv"]
    assert later[0]["indicators"] == candles[26]["indicators"]
    assert r.headers["cache-control"].startswith("private, max-age")


def test_enriched_errors(client: TestClient) -> None:
    _error(client.get("/api/v1/ohlcv/AAPL/enriched", params={"indicators": "nope:3"}), 422, "invalid_input")
    _error(client.get("/api/v1/ohlcv/AAPL/enriched", params={"timeframe": "1m", "start": "2024-01-01",
                                                             "end": "2024-03-01"}), 422, "invalid_input")
    empty = client.get("/api/v1/ohlcv/ZZZZ/enriched", params={"start": "2024-01-02", "end": "2024-01-05"})
    assert empty.status_code == 200 and empty.json()["candles"] == []


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_narrative(client: TestClient, fmt: str) -> None:
    r = client.get("/api/v1/ohlcv/AAPL/narrative",
                   params={"timeframe": "1h", "at": "2024-01-04T15:10:00Z", "format": fmt})
    assert r.status_code == 200, r.text
    assert r.headers["x-candle-ts"] == "2024-01-04T15:00:00Z"
    assert r.headers["x-candle-exact"] == "true"
    if fmt == "json":
        doc = r.json()
        assert doc["symbol"] == "AAPL" and doc["ts"] == "2024-01-04T15:00:00Z" and doc["exact"] is True
        assert "AAPL" in doc["text"]
    else:
        assert r.headers["content-type"].startswith("text/plain" if fmt == "text" else "text/markdown")
        assert "AAPL" in r.text


def test_narrative_latest_and_missing(client: TestClient) -> None:
    r = client.get("/api/v1/ohlcv/AAPL/narrative", params={"timeframe": "1d"})
    assert r.status_code == 200 and r.headers["x-candle-ts"] == "2024-01-05T05:00:00Z"
    after = client.get("/api/v1/ohlcv/AAPL/narrative", params={"timeframe": "1d", "at": "2024-01-08"})
    assert after.headers["x-candle-exact"] == "false"
    _error(client.get("/api/v1/ohlcv/AAPL/narrative", params={"at": "2023-06-01"}), 404, "not_found")
    _error(client.get("/api/v1/ohlcv/MSFT/narrative"), 404, "not_found")
    _error(client.get("/api/v1/ohlcv/AAPL/narrative", params={"format": "pdf"}), 422, "invalid_input")


def test_history_on_the_postgres_store(fresh_pg_url: str, data_dir: Any, bus: Any) -> None:
    """The same routes over the other adapter."""
    from pathlib import Path

    from jonbu_api.main import create_app
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store
    from tests.api.conftest import SEED_END, SEED_START, make_bars

    s = load_settings(store="postgres", database_url=fresh_pg_url)
    pg = open_store(s)
    try:
        pg.add_symbols(["AAPL"])
        pg.write_bars(make_bars("AAPL", SEED_START, SEED_END))
        app = create_app(s, store=pg, bus=bus, auth_default=False, frontend_dist=Path("/nonexistent"))
        with TestClient(app) as c:
            assert c.get("/api/v1/health").json()["components"]["store"]["backend"] == "postgres"
            params = {"start": "2024-01-02", "end": "2024-01-05", "timeframe": "15m"}
            body = c.get(H, params=params).json()
            assert len(body["candles"]) == 4 * 26
            arrow = _parse("arrow", c.get(H, params={**params, "format": "arrow"}).content)
            assert arrow.column("close").to_pylist() == [x["close"] for x in body["candles"]]
            pages, cursor = [], None
            while True:
                page = c.get(H, params={**params, "limit": 30, **({"cursor": cursor} if cursor else {})}).json()
                pages += page["candles"]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert pages == body["candles"]
            assert c.get("/api/v1/ohlcv/AAPL").json()["candle"]["ts"] == "2024-01-05T20:59:00Z"
    finally:
        pg.close()
