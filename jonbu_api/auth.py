"""API keys: created once, shown once, stored only as a SHA-256 hash.

Keys live in ``$JONBU_DATA_DIR/api_keys.json`` (mode 0600), changed under a file
lock (:mod:`filelock`) and replaced atomically, so the CLI (``jonbu-ohlcv keys``)
and running servers can share the file. Servers re-read it when it changes
(its ``mtime``/size), so a revoked key stops working without a restart.

A key is ``jk_`` followed by 43 URL-safe characters (256 random bits); a fast
hash is the right tool for such a secret (nothing to brute-force), and lookups
go by the hash, never by comparing secrets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from filelock import FileLock

from jonbu_api.errors import ConflictError
from jonbu_core.errors import InvalidInputError, NotFoundError

logger = logging.getLogger(__name__)

Scope = Literal["read", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "admin")
KEY_PREFIX = "jk_"
_NAME_MAX = 64


@dataclass(frozen=True)
class KeyInfo:
    """What is stored about a key (never the key itself)."""

    name: str
    scope: Scope
    hash: str
    prefix: str
    """The first characters of the key, to recognise it in a list."""
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """Whether the key is still valid."""
        return self.revoked_at is None

    def allows(self, scope: Scope) -> bool:
        """Whether this key grants ``scope`` (admin implies read)."""
        return self.active and (self.scope == "admin" or scope == "read")

    def public(self) -> dict[str, object]:
        """The entry without its hash (for listings)."""
        d = asdict(self)
        d.pop("hash")
        d["active"] = self.active
        return d


class KeyExistsError(ConflictError):
    """An active key already has this name."""


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def validate_name(name: str) -> str:
    """Check a key name (1-64 characters: letters, digits, ``._-@``)."""
    name = name.strip()
    if not name or len(name) > _NAME_MAX or not all(c.isalnum() or c in "._-@" for c in name):
        raise InvalidInputError(
            f"invalid key name {name!r}: 1-{_NAME_MAX} characters, letters, digits, '.', '_', '-' or '@'"
        )
    return name


def validate_scope(scope: str) -> Scope:
    """Check a scope name."""
    if scope == "read":
        return "read"
    if scope == "admin":
        return "admin"
    raise InvalidInputError(f"invalid scope {scope!r}; expected read or admin")


class KeyStore(Protocol):
    """Where API keys are kept."""

    def create(self, name: str, scope: Scope = "read") -> tuple[KeyInfo, str]:
        """Create a key; returns its entry and the key (shown once)."""
        ...

    def list(self, include_revoked: bool = False) -> list[KeyInfo]:
        """Every key, sorted by name."""
        ...

    def revoke(self, name: str) -> KeyInfo:
        """Revoke the active key called ``name``."""
        ...

    def verify(self, key: str) -> KeyInfo | None:
        """The active entry of ``key``, or ``None``."""
        ...

    def count_active(self) -> int:
        """Number of active keys."""
        ...


class FileKeyStore:
    """:class:`KeyStore` in a JSON file guarded by a file lock.

    Parameters
    ----------
    path : Path
        The file (``$JONBU_DATA_DIR/api_keys.json``); created on first write.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=10)
        self._mem_lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[KeyInfo] = []
        self._by_hash: dict[str, KeyInfo] = {}

    # ------------------------------------------------------------ file i/o
    def _read_file(self) -> list[KeyInfo]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            logger.error("cannot read the API key file %s: %s", self.path, exc)
            return []
        out = []
        for item in raw.get("keys", []):
            try:
                out.append(KeyInfo(**item))
            except TypeError:
                logger.warning("skipping a malformed entry of %s", self.path)
        return out

    def _write_file(self, entries: list[KeyInfo]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        data = json.dumps({"version": 1, "keys": [asdict(e) for e in entries]}, indent=2)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and (stamp is not None or not self._entries):
            return
        with self._mem_lock:
            entries = self._read_file()
            self._entries = entries
            self._by_hash = {e.hash: e for e in entries if e.active}
            self._stamp = stamp

    # ---------------------------------------------------------- operations
    def create(self, name: str, scope: Scope = "read") -> tuple[KeyInfo, str]:
        """Create a key called ``name`` with ``scope``; the key is returned once."""
        name = validate_name(name)
        scope = validate_scope(scope)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        info = KeyInfo(
            name=name, scope=scope, hash=hash_key(key), prefix=key[:8],
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        with self._lock:
            entries = self._read_file()
            if any(e.name == name and e.active for e in entries):
                raise KeyExistsError(f"a key called {name!r} exists; revoke it first")
            entries.append(info)
            self._write_file(entries)
        self._stamp = None
        logger.info("created API key %s (scope %s)", name, scope)
        return info, key

    def list(self, include_revoked: bool = False) -> list[KeyInfo]:
        """Every key (active only unless ``include_revoked``), sorted by name."""
        self._refresh()
        return sorted((e for e in self._entries if include_revoked or e.active), key=lambda e: e.name)

    def revoke(self, name: str) -> KeyInfo:
        """Revoke the active key called ``name``.

        Raises
        ------
        NotFoundError
            If there is no active key with that name.
        """
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        with self._lock:
            entries = self._read_file()
            for i, e in enumerate(entries):
                if e.name == name and e.active:
                    revoked = KeyInfo(**{**asdict(e), "revoked_at": now})
                    entries[i] = revoked
                    self._write_file(entries)
                    break
            else:
                raise NotFoundError(f"no active API key called {name!r}")
        self._stamp = None
        logger.info("revoked API key %s", name)
        return revoked

    def verify(self, key: str) -> KeyInfo | None:
        """The active entry of ``key``, or ``None`` (looked up by hash)."""
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 128:
            return None
        self._refresh()
        return self._by_hash.get(hash_key(key))

    def count_active(self) -> int:
        """Number of active keys."""
        self._refresh()
        return len(self._by_hash)


def key_file(data_dir: Path) -> Path:
    """Where the keys of a data directory are kept."""
    return Path(data_dir) / "api_keys.json"
