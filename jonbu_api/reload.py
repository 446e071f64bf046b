"""Configuration reload of a running API (``SIGHUP`` or ``POST /api/v1/admin/reload``).

:func:`jonbu_core.reload.reload_settings` reads the env file again; here the result
is applied to the app: new rate-limit buckets, the new log level, the new settings
for every following request, and the hook of whoever embeds the app (``jonbu-ohlcv
up`` passes the stream daemon's reload, so its symbols follow). Requests in flight
and WebSocket clients are not touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, Field

from jonbu_api.ratelimit import open_rate_limiter
from jonbu_api.state import AppState
from jonbu_core.logging import set_log_level
from jonbu_core.reload import ReloadResult, reload_settings

logger = logging.getLogger(__name__)

ReloadHook = Callable[[ReloadResult], Any]
"""Called after the API applied a reload (sync or async), e.g. the in-process stream's reload."""


class ChangeOut(BaseModel):
    """One setting that changed."""

    old: Any = Field(description="The value before the reload.")
    new: Any = Field(description="The value now in effect.")


class ReloadOut(BaseModel):
    """What a configuration reload applied."""

    changed: dict[str, ChangeOut] = Field(description="Reloadable settings that changed, by field name.")
    restart_required: list[str] = Field(
        description="Variables whose value in the env file differs from the running value but need a restart."
    )
    env_file: str = Field(description="The env file that was read (empty when there is none).")
    reloaded_at: datetime = Field(description="When the reload was applied (UTC).")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="What the embedding process applied (the in-process stream's symbols)."
    )


class Reloader:
    """Applies reloads to one app, one at a time.

    Parameters
    ----------
    hook : callable, optional
        Called with the :class:`~jonbu_core.reload.ReloadResult` after the API applied
        it; a dict it returns is reported in :attr:`ReloadOut.extra`.
    own_limiter : bool
        Whether the app opened its rate limiter (and so closes the one a reload replaces).
    """

    def __init__(self, hook: ReloadHook | None = None, own_limiter: bool = True) -> None:
        self.hook = hook
        self.own_limiter = own_limiter
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def reload(self, state: AppState) -> ReloadOut:
        """Re-read the env file and apply what can change at run time.

        Raises
        ------
        jonbu_core.errors.ConfigError
            When the file holds a bad value (nothing is applied).
        """
        async with self._lock:
            result = await anyio.to_thread.run_sync(reload_settings, state.settings)
            new = result.settings
            if {"rate_limit", "rate_limit_backend"} & result.changed.keys():
                old = state.limiter
                state.limiter = open_rate_limiter(new)
                if self.own_limiter:
                    await old.close()
                self.own_limiter = True
            if "log_level" in result.changed:
                set_log_level(new.log_level)
            state.settings = new
            extra: Any = None
            if self.hook is not None:
                extra = self.hook(result)
                if inspect.isawaitable(extra):
                    extra = await extra
            public = result.public()
            return ReloadOut(
                changed=public["changed"], restart_required=public["restart_required"], env_file=public["env_file"],
                reloaded_at=datetime.now(UTC), extra=extra if isinstance(extra, dict) else {},
            )

    def install_sighup(self, state: AppState) -> bool:
        """Reload on ``SIGHUP`` (only possible from the main thread's event loop).

        Returns
        -------
        bool
            Whether the handler was installed.
        """
        loop = asyncio.get_running_loop()

        def on_hup() -> None:
            task = loop.create_task(self._reload_logged(state))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            loop.add_signal_handler(signal.SIGHUP, on_hup)
        except (ValueError, RuntimeError, NotImplementedError, AttributeError):
            return False  # not the main thread (TestClient), or no SIGHUP on this platform
        return True

    def remove_sighup(self) -> None:
        """Undo :meth:`install_sighup`."""
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError, AttributeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    async def _reload_logged(self, state: AppState) -> None:
        try:
            out = await self.reload(state)
        except Exception as exc:  # a bad file must not take the server down
            logger.error("configuration reload (SIGHUP) failed, nothing changed: %s", exc)
            return
        logger.info("configuration reload (SIGHUP): changed=%s restart_required=%s",
                    sorted(out.changed), out.restart_required)
