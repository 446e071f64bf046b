"""Domain errors.

Every layer raises these; the API maps them to HTTP in one place
(``jonbu_api.errors``) and the CLI prints them as one line.
"""

from __future__ import annotations


class JonbuError(Exception):
    """Base class of every domain error.

    Attributes
    ----------
    code : str
        A stable, machine-readable error code (``not_found``, ``invalid_input``…).
    """

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(JonbuError, ValueError):
    """Bad input from a user or a caller (a symbol, a timeframe, a date range…)."""

    code = "invalid_input"


class NotFoundError(JonbuError, LookupError):
    """A requested thing (symbol, bar, narrative…) does not exist."""

    code = "not_found"


class ConfigError(JonbuError):
    """A setting is missing or has a bad value."""

    code = "config_error"


class StoreError(JonbuError):
    """The store failed (connection, conflict that could not be retried…)."""

    code = "store_error"


class ProviderError(JonbuError):
    """A market-data provider failed after its retries."""

    code = "provider_error"


class ProviderAuthError(ProviderError):
    """A provider refused our credentials (bad keys, feed not allowed)."""

    code = "provider_auth"


class AuthError(JonbuError):
    """Missing or invalid API key."""

    code = "unauthorized"


class ForbiddenError(JonbuError):
    """Valid API key without the scope the operation needs."""

    code = "forbidden"


class RateLimitedError(JonbuError):
    """Too many requests; ``retry_after`` is in seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
