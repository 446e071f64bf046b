"""The web console: whitelisted operations as function calls, streamed as NDJSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def run(client: TestClient, command: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    r = client.post("/api/v1/console", json={"command": command}, headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in r.text.splitlines() if line]
    assert events[0] == {"type": "start", "command": command}
    assert events[-1]["type"] == "end"
    return events


def lines(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["type"] == "line"]


def test_commands_listing(client: TestClient) -> None:
    names = [c["name"] for c in client.get("/api/v1/console/commands").json()["commands"]]
    assert names == ["help", "health", "metrics", "symbols", "fetch", "mock"]
    out = lines(run(client, "help"))
    assert any(t.startswith("fetch SYMBOLS") for t in out)


def test_symbols_operations(client: TestClient) -> None:
    assert lines(run(client, "symbols add ibm,'BRK.B'")) == ["tracking IBM, BRK.B"]
    listed = lines(run(client, "symbols list"))
    assert [t.split()[0] for t in listed] == ["AAPL", "BRK.B", "IBM", "MSFT"]
    assert lines(run(client, "symbols remove IBM")) == ["IBM: removed"]
    end = run(client, "symbols remove")[-1]
    assert end["ok"] is False and "needs SYMBOLS" in end["error"]["message"]


def test_health_and_metrics(client: TestClient) -> None:
    out = lines(run(client, "health"))
    assert out[0].startswith("status: ok")
    assert any(t.strip().startswith("store") for t in out)
    client.get("/api/v1/symbols")
    assert any("jonbu_http_requests_total" in t for t in lines(run(client, "metrics jonbu_http")))


def test_errors_and_no_shell(client: TestClient, tmp_path: Path) -> None:
    end = run(client, "rm -rf /")[-1]
    assert end == {"type": "end", "ok": False, "exit_code": 1,
                   "error": {"code": "invalid_input", "message": end["error"]["message"]}}
    assert "unknown command 'rm'" in end["error"]["message"]
    marker = tmp_path / "pwned"
    for line in (f"symbols list; touch {marker}", f"symbols list $(touch {marker})", f"symbols `touch {marker}`",
                 f"health && touch {marker}"):
        assert run(client, line)[-1]["ok"] is False
    assert not marker.exists()
    assert run(client, "symbols 'unclosed")[-1]["error"]["message"].startswith("cannot parse")
    assert run(client, "fetch AAPL")[-1]["error"]["message"] == "fetch: the following arguments are required: --start"
    r = client.post("/api/v1/console", json={"command": ""})
    assert r.status_code == 422


def test_fetch_and_mock(client: TestClient, store: Any, settings: Any) -> None:
    events = run(client, "fetch MSFT --timeframe 1d --start 2024-01-08 --end 2024-01-10 --provider mock")
    assert events[-1]["ok"] is True, events[-1]
    progress = [e for e in events if e["type"] == "progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"]
    assert any(t.startswith("received") for t in lines(events))
    assert store.read_bars("MSFT", "1d").table.num_rows == 3
    assert client.get("/api/v1/ohlcv/MSFT", params={"timeframe": "1d"}).status_code == 200
    out = lines(run(client, "mock speed 50"))
    assert out == ["mock speed set to 50 ticks/s (the live mock feed picks it up)"]
    assert lines(run(client, "mock speed")) == ["mock speed: 50 ticks/s"]
    sample = run(client, "mock test AAPL")
    assert sample[-1]["ok"] is True
    assert lines(sample)[0].startswith("mock market for AAPL")
