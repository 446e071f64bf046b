"""Pick and open the configured :class:`~jonbu_core.providers.base.HistoryProvider`."""

from __future__ import annotations

from jonbu_core.errors import ConfigError
from jonbu_core.providers.base import HistoryProvider
from jonbu_core.settings import Settings

PROVIDERS = ("mock", "alpaca")


def open_provider(settings: Settings, name: str | None = None) -> HistoryProvider:
    """Open the provider ``name`` (default ``settings.provider``).

    Parameters
    ----------
    settings : Settings
        Runtime settings (``mock_seed``, ``exchange``, the ``alpaca_*`` fields).
    name : str, optional
        ``mock`` or ``alpaca``; overrides ``JONBU_PROVIDER``.

    Returns
    -------
    HistoryProvider
        Call ``close()`` when done.

    Raises
    ------
    ConfigError
        For an unknown provider name.
    ProviderAuthError
        For ``alpaca`` without credentials.
    """
    chosen = (name or settings.provider).strip().lower()
    if chosen == "mock":
        from jonbu_core.providers.mock import MockProvider

        return MockProvider(settings)
    if chosen == "alpaca":
        from jonbu_core.providers.alpaca import AlpacaProvider

        return AlpacaProvider.from_settings(settings)
    raise ConfigError(f"JONBU_PROVIDER: unknown provider {chosen!r}; expected one of {', '.join(PROVIDERS)}")


__all__ = ["PROVIDERS", "open_provider"]
