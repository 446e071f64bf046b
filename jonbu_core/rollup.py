"""Roll 1-minute bars up to higher timeframes.

First open, max high, min low, last close (by ts), summed volume, summed
trade_count (null when every input is null), volume-weighted vwap over the rows
that have one. Labels follow :mod:`jonbu_core.timeframe`.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from jonbu_core.models import BAR_SCHEMA
from jonbu_core.timeframe import EXCHANGE_TZ, Timeframe, parse_timeframe


def bucket_expr(tf: Timeframe, col: str = "ts") -> pl.Expr:
    """A Polars expression giving each row's bar label for ``tf`` (UTC, µs)."""
    ts = pl.col(col)
    if tf.is_intraday:
        step = tf.seconds * 1_000_000
        us = ts.dt.cast_time_unit("us").dt.epoch("us")
        return pl.from_epoch(us - us % step, time_unit="us").dt.replace_time_zone("UTC")
    local = ts.dt.convert_time_zone(str(EXCHANGE_TZ))
    day = local.dt.truncate("1w") if tf.name == "1w" else local.dt.truncate("1d")
    return day.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def rollup(bars: pa.Table | pl.DataFrame, timeframe: str | Timeframe) -> pa.Table:
    """Aggregate bars (normally ``1m``) into ``timeframe`` bars.

    Parameters
    ----------
    bars : pa.Table or pl.DataFrame
        Bars of one or more symbols with :data:`BAR_SCHEMA` columns.
    timeframe : str or Timeframe
        The target timeframe.

    Returns
    -------
    pa.Table
        Rolled-up bars with :data:`BAR_SCHEMA`, sorted by (symbol, ts).
    """
    tf = parse_timeframe(timeframe)
    df = bars if isinstance(bars, pl.DataFrame) else pl.from_arrow(bars)
    assert isinstance(df, pl.DataFrame)
    if df.height == 0:
        return BAR_SCHEMA.empty_table()
    has_vwap = pl.col("vwap").is_not_null() & pl.col("volume").is_not_null()
    out = (
        df.sort("symbol", "ts")
        .with_columns(bucket_expr(tf).alias("_b"))
        .group_by("symbol", "_b", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.when(pl.col("trade_count").is_not_null().any())
            .then(pl.col("trade_count").sum())
            .otherwise(None)
            .alias("trade_count"),
            (pl.when(has_vwap).then(pl.col("vwap") * pl.col("volume")).otherwise(0.0).sum()).alias("_pv"),
            (pl.when(has_vwap).then(pl.col("volume")).otherwise(0.0).sum()).alias("_vv"),
            pl.col("source").first(),
        )
        .with_columns(
            pl.when(pl.col("_vv") > 0).then(pl.col("_pv") / pl.col("_vv")).otherwise(None).alias("vwap"),
            pl.lit(tf.name).alias("timeframe"),
        )
        .rename({"_b": "ts"})
        .select(BAR_SCHEMA.names)
    )
    return out.to_arrow().cast(BAR_SCHEMA)
