"""The RAG embedder is loaded in the background at startup, never in the way."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

import jonbu_core.rag.embedder as embedder_mod


class _Loaded:
    model_name = "fake"

    def embed_query(self, text: str) -> Any:
        return [0.0]


def test_warmup_does_not_block_startup_or_health(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    release, called = threading.Event(), threading.Event()

    def slow_get_embedder(settings: Any) -> Any:
        called.set()
        assert release.wait(30)  # a model that takes "forever" to load
        return _Loaded()

    monkeypatch.setattr(embedder_mod, "get_embedder", slow_get_embedder)
    with make_client(auth_default=False, warm_rag=True) as c:
        assert called.wait(10)  # the warm-up started...
        assert c.get("/api/v1/health").status_code == 200  # ...and the app serves meanwhile
        thread = c.app.state.jonbu_rag_warmup
        assert thread.is_alive() and thread.daemon
        release.set()
        thread.join(10)
        assert not thread.is_alive()


def test_warmup_failure_only_logs(
    make_client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def missing(settings: Any) -> Any:
        raise FileNotFoundError("no such model")

    monkeypatch.setattr(embedder_mod, "get_embedder", missing)
    with caplog.at_level(logging.WARNING, logger="jonbu_core.rag.embedder"), make_client(auth_default=False, warm_rag=True) as c:
        c.app.state.jonbu_rag_warmup.join(10)
        assert c.get("/api/v1/health").status_code == 200
    assert "embedding model warm-up failed" in caplog.text and "no such model" in caplog.text


def test_warmup_only_when_narratives_were_exported(make_client: Any, settings: Any) -> None:
    with make_client(auth_default=False) as c:
        assert not hasattr(c.app.state, "jonbu_rag_warmup")
    settings.lancedb_dir.mkdir(parents=True)
    from jonbu_api.warmup import rag_enabled

    assert rag_enabled(settings)
