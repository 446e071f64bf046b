"""Self-checks of the synthetic market (what ``jonbu-ohlcv mock test`` runs).

Each check returns a :class:`CheckResult`; none raises on a failed property, so
the caller sees every result.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from jonbu_core import calendar as cal
from jonbu_core.providers.mock import MockMarket
from jonbu_core.validation import validate_bars


@dataclass(frozen=True)
class CheckResult:
    """One checked property."""

    name: str
    ok: bool
    detail: str


def table_digest(table: pa.Table) -> str:
    """SHA-256 of a table's Arrow IPC bytes (equal tables, equal digests)."""
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _range(days: Sequence[date]) -> tuple[datetime, datetime]:
    lo, _ = cal.day_bounds_utc(days[0])
    _, hi = cal.day_bounds_utc(days[-1])
    return lo, hi


def aggregate_trades(trades: pa.Table) -> pl.DataFrame:
    """1-minute OHLCV bars computed from trades with Polars (an independent reference)."""
    df = pl.from_arrow(trades)
    assert isinstance(df, pl.DataFrame)
    return (
        df.sort("symbol", "ts", maintain_order=True)
        .with_columns(pl.col("ts").dt.truncate("1m").alias("bar"))
        .group_by("symbol", "bar", maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("size").sum().alias("volume"),
            pl.len().cast(pl.Int64).alias("trade_count"),
            ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
        )
        .rename({"bar": "ts"})
    )


def check_market(market: MockMarket, symbols: Sequence[str], start: date, end: date) -> list[CheckResult]:
    """Check determinism, sessions, OHLC invariants, trade/bar agreement and the volume shape.

    Parameters
    ----------
    market : MockMarket
    symbols : sequence of str
    start, end : date
        Inclusive calendar dates; include a weekend to check closed days.
    """
    days = cal.sessions(start, end, market.exchange)
    if not days:
        return [CheckResult("sessions", False, f"no {market.exchange} session between {start} and {end}")]
    lo, hi = _range(days)
    results: list[CheckResult] = []
    bars = pa.concat_tables([pa.Table.from_batches(list(market.bars(s, "1m", lo, hi))) for s in symbols])
    trades = pa.concat_tables([pa.Table.from_batches(list(market.trades(s, lo, hi))) for s in symbols])
    twin = MockMarket(market.seed, market.exchange, market.extended_hours)
    again = pa.concat_tables([pa.Table.from_batches(list(twin.trades(s, lo, hi))) for s in symbols])
    same = table_digest(trades) == table_digest(again)
    results.append(CheckResult("deterministic", same, f"{trades.num_rows:,} trades, sha256 {table_digest(trades)[:12]}"))

    ts = pl.Series(bars.column("ts")).dt.convert_time_zone("America/New_York")
    bar_days = set(ts.dt.date().to_list())
    outside = sorted(d for d in bar_days if d not in set(days))
    bad_minutes = 0
    for d in days:
        o, c = cal.session_bounds(d, market.exchange, extended=market.extended_hours)
        day_ts = pl.Series(bars.column("ts")).filter(ts.dt.date() == d)
        bad_minutes += int(((day_ts < o) | (day_ts >= c)).sum())
    results.append(CheckResult("only in sessions", not outside and bad_minutes == 0,
                               f"{len(days)} sessions; bars on other days: {outside or 'none'}; "
                               f"outside hours: {bad_minutes}"))

    if not market.extended_hours:
        expected = sum(len(cal.session_minutes(d, market.exchange)) for d in days) * len(symbols)
        results.append(CheckResult("every minute has a bar", bars.num_rows == expected,
                                   f"{bars.num_rows:,} bars, {expected:,} expected"))

    v = validate_bars(bars)
    results.append(CheckResult("OHLC invariants", v.n_quarantined == 0,
                               f"{v.n_quarantined} bad rows {v.reasons or ''}".strip()))

    ref = aggregate_trades(trades)
    mine = pl.from_arrow(bars.select(["symbol", "ts", "open", "high", "low", "close", "volume", "trade_count", "vwap"]))
    assert isinstance(mine, pl.DataFrame)
    exact = ["symbol", "ts", "open", "high", "low", "close", "volume", "trade_count"]
    agree = ref.height == mine.height and ref.select(exact).equals(mine.select(exact)) and bool(
        np.allclose(ref.get_column("vwap").to_numpy(), mine.get_column("vwap").to_numpy(), rtol=1e-12, atol=0)
    )
    results.append(CheckResult("1m bars = aggregated trades", agree, f"{mine.height:,} bars vs {ref.height:,}"))

    minute = ts.dt.hour().cast(pl.Int32) * 60 + ts.dt.minute().cast(pl.Int32)
    vol = pl.Series(bars.column("volume")).to_numpy()
    m = minute.to_numpy()
    edge_v = vol[((m >= 9 * 60 + 30) & (m < 10 * 60)) | ((m >= 15 * 60 + 30) & (m < 16 * 60))]
    mid_v = vol[(m >= 12 * 60) & (m < 13 * 60 + 30)]
    edge = float(edge_v.mean()) if len(edge_v) else 0.0
    mid = float(mid_v.mean()) if len(mid_v) else 0.0
    results.append(CheckResult("U-shaped volume", edge > 1.5 * mid > 0,
                               f"mean volume per minute: first/last 30 min {edge:,.0f}, midday {mid:,.0f}"))
    return results


__all__ = ["CheckResult", "aggregate_trades", "check_market", "table_digest"]
