"""Request and response models of the REST API (CONTRACT.md shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jonbu_core.enrich.models import EnrichedCandle
from jonbu_core.models import Candle, SymbolInfo

TimeframeName = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
StreamTimeframe = Literal["1m", "5m", "15m", "1h", "1d"]
HistoryFormat = Literal["json", "csv", "arrow", "parquet"]
NarrativeFormat = Literal["text", "markdown", "json"]

SYMBOL_PATTERN = r"^[A-Za-z][A-Za-z0-9.\-]{0,9}$"
DATE_PATTERN = (
    r"^(19[89]\d|2[01]\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?)?$"
)
SYMBOL_DOC = "Ticker symbol: a letter, then up to 9 letters, digits, '.' or '-' (upper-cased)."


class ComponentStatus(BaseModel):
    """Health of one component; more keys depend on the component."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "degraded", "down", "off"]
    detail: str | None = None


class HealthOut(BaseModel):
    """``GET /api/v1/health``."""

    status: Literal["ok", "degraded", "down"]
    components: dict[str, ComponentStatus]
    version: str
    uptime_s: float


class SymbolsOut(BaseModel):
    """The symbol registry."""

    symbols: list[SymbolInfo]


class SymbolsIn(BaseModel):
    """Symbols to track."""

    model_config = ConfigDict(extra="forbid")

    symbols: list[Annotated[str, Field(pattern=SYMBOL_PATTERN)]] = Field(
        min_length=1, max_length=100, description="Symbols to add (upper-cased)."
    )


class LatestOut(BaseModel):
    """The latest candle of a (symbol, timeframe)."""

    symbol: str
    timeframe: str
    candle: Candle
    final: bool = Field(description="False for the live, still-open bar of the stream.")
    source: Literal["stream", "store"] = Field(description="Where the candle came from.")


class HistoryOut(BaseModel):
    """A page of history (``format=json``)."""

    symbol: str
    timeframe: str
    candles: list[Candle] = Field(description="Ascending by ts.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null after the last.")


class EnrichedOut(BaseModel):
    """Enriched candles of a range."""

    symbol: str
    timeframe: str
    candles: list[EnrichedCandle]


class NarrativeOut(BaseModel):
    """A narrative as JSON (``format=json``): every fact of the candle plus the texts."""

    model_config = ConfigDict(extra="allow")

    symbol: str
    timeframe: str
    ts: str = Field(description="Open time of the narrated candle.")
    exact: bool = Field(description="False when no candle contains `at` and the last one before it is narrated.")
    text: str


class SearchResultOut(BaseModel):
    """One semantic-search hit."""

    symbol: str
    timeframe: str
    ts: str
    text: str
    score: float


class SearchOut(BaseModel):
    """``GET /api/v1/rag/search``."""

    results: list[SearchResultOut]


class WsStats(BaseModel):
    """The WebSocket hub of this API process."""

    clients: int
    subscriptions: int
    events: int = Field(description="Bus events received by this process.")
    conflated: int = Field(description="Partial updates replaced by newer ones before being sent.")
    kicked: int = Field(description="Clients closed for being too slow or idle.")
    sent: int = Field(description="Messages sent to WebSocket clients since this process started "
                                  "(clients gone since included), like jonbu_ws_messages_sent_total.")


class StreamStatsOut(BaseModel):
    """``GET /api/v1/stream/stats``: the streaming daemon's status and this process's fan-out."""

    running: bool
    source: Literal["in-process", "bus", "none"]
    stream: dict[str, Any] | None = Field(description="The daemon's status object (throughput, lag…).")
    ws: WsStats
    bus: str


class KeyOut(BaseModel):
    """An API key entry (never the key itself)."""

    name: str
    scope: Literal["read", "admin"]
    prefix: str
    created_at: str
    revoked_at: str | None = None
    active: bool


class KeysOut(BaseModel):
    """API keys."""

    keys: list[KeyOut]


class KeyCreateIn(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@\-]+$")
    scope: Literal["read", "admin"] = "read"


class KeyCreatedOut(KeyOut):
    """A new key: ``key`` is shown this once."""

    key: str


class QuarantineOut(BaseModel):
    """Rows rejected by validation, newest first."""

    rows: list[dict[str, Any]]


class ConsoleCommand(BaseModel):
    """A whitelisted console operation."""

    name: str
    usage: str
    help: str


class ConsoleCommandsOut(BaseModel):
    """What the console can run."""

    commands: list[ConsoleCommand]


class ConsoleRunIn(BaseModel):
    """One console line (split like a shell would, but never run by one)."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=1000, examples=["symbols list"])
