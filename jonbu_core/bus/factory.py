"""Pick and open the configured :class:`~jonbu_core.bus.base.EventBus`."""

from __future__ import annotations

from jonbu_core.bus.base import EventBus
from jonbu_core.errors import ConfigError
from jonbu_core.settings import Settings

BUSES = ("memory", "redis")


def open_bus(settings: Settings, name: str | None = None) -> EventBus:
    """Build the bus named by ``name`` (default ``settings.bus``); call ``await bus.start()``.

    Parameters
    ----------
    settings : Settings
        ``bus``, ``redis_url`` and ``redis_prefix`` are used.
    name : str, optional
        ``memory`` or ``redis``; overrides ``JONBU_BUS``.

    Returns
    -------
    EventBus
        A :class:`~jonbu_core.bus.memory.MemoryBus` (one process) or a
        :class:`~jonbu_core.bus.redis.RedisBus` (shared through Redis).

    Raises
    ------
    ConfigError
        For an unknown bus name.
    """
    chosen = (name or settings.bus).strip().lower()
    if chosen == "memory":
        from jonbu_core.bus.memory import MemoryBus

        return MemoryBus()
    if chosen == "redis":
        from jonbu_core.bus.redis import RedisBus

        return RedisBus(settings.redis_url, settings.redis_prefix)
    raise ConfigError(f"JONBU_BUS: unknown bus {chosen!r}; expected one of {', '.join(BUSES)}")


__all__ = ["BUSES", "open_bus"]
