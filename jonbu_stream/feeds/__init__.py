"""Live feeds behind one protocol (:class:`~jonbu_stream.feeds.base.Feed`) and their factory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jonbu_core.errors import ConfigError, ProviderAuthError
from jonbu_core.settings import Settings
from jonbu_stream.feeds.base import Feed, FeedFatalError, FeedSink

FEEDS = ("mock", "alpaca", "replay")


def feed_kind(settings: Settings, kind: str | None = None) -> str:
    """The feed ``kind`` resolves to (``auto`` follows ``JONBU_PROVIDER``)."""
    chosen = (kind or settings.stream_feed).strip().lower()
    if chosen == "auto":
        chosen = "alpaca" if settings.provider == "alpaca" else "mock"
    if chosen not in FEEDS:
        raise ConfigError(f"JONBU_STREAM_FEED: unknown feed {chosen!r}; expected one of {', '.join(FEEDS)}")
    return chosen


def open_feed(
    settings: Settings,
    kind: str | None = None,
    *,
    symbols: list[str] | None = None,
    store: Any = None,
    start: datetime | None = None,
    end: datetime | None = None,
    speed: float | None = None,
    replay_source: str = "trades",
    start_prices: dict[str, float] | None = None,
) -> Feed:
    """Open a feed.

    Parameters
    ----------
    settings : Settings
        Runtime settings.
    kind : str, optional
        ``mock``, ``alpaca`` or ``replay`` (default ``JONBU_STREAM_FEED``, ``auto``).
    symbols : list of str, optional
        Symbols to stream (default ``settings.symbol_list``).
    store : BarStore, optional
        For ``replay`` of stored bars.
    start, end : datetime, optional
        Range of a ``replay``.
    speed : float, optional
        ``mock``: trades/s (default ``load_mock_speed``); ``replay``: simulated seconds
        per second (default 60, 0 = as fast as possible).
    replay_source : str
        ``trades`` (from the history provider) or ``bars`` (stored 1m bars).
    start_prices : dict, optional
        ``mock``: the price each symbol continues from.

    Raises
    ------
    ConfigError
        Unknown kind, or a replay without a range.
    ProviderAuthError
        ``alpaca`` without credentials.
    """
    chosen = feed_kind(settings, kind)
    syms = list(symbols or settings.symbol_list)
    if chosen == "mock":
        from jonbu_stream.feeds.mock import MockLiveFeed

        return MockLiveFeed(settings, syms, start_prices=start_prices, speed=speed)
    if chosen == "alpaca":
        from jonbu_stream.feeds.alpaca import AlpacaFeed, stream_url

        key = settings.alpaca_api_key_id.get_secret_value() if settings.alpaca_api_key_id else ""
        secret = settings.alpaca_secret_key.get_secret_value() if settings.alpaca_secret_key else ""
        if not key or not secret:
            raise ProviderAuthError("the alpaca feed needs APCA_API_KEY_ID and APCA_API_SECRET_KEY")
        return AlpacaFeed(stream_url(settings.alpaca_stream_url, settings.alpaca_feed), key, secret, syms,
                          source=f"alpaca-{settings.alpaca_feed}", watchdog=settings.stream_watchdog_seconds,
                          exchange=settings.exchange)
    from jonbu_stream.feeds.replay import ReplayFeed

    if start is None or end is None:
        raise ConfigError("the replay feed needs a range: --start and --end")
    if replay_source == "bars":
        if store is None:
            raise ConfigError("replaying stored bars needs a store")

        def chunks(symbol: str, a: datetime, b: datetime) -> Any:
            cursor = None
            while True:
                page = store.read_bars(symbol, "1m", a, b, cursor=cursor)
                yield page.table
                if page.next_cursor is None:
                    return
                cursor = page.next_cursor
    else:
        from jonbu_core.providers.factory import open_provider

        provider = open_provider(settings)

        def chunks(symbol: str, a: datetime, b: datetime) -> Any:
            import pyarrow as pa

            for batch in provider.trades(symbol, a, b):
                yield pa.Table.from_batches([batch])

    return ReplayFeed(chunks, syms, start, end, speed=60.0 if speed is None else speed, source=replay_source)


__all__ = ["FEEDS", "Feed", "FeedFatalError", "FeedSink", "feed_kind", "open_feed"]
