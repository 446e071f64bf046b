"""Validation of incoming bars: good rows pass, bad rows are quarantined with a reason."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa

from jonbu_core.models import BAR_SCHEMA, QUARANTINE_SCHEMA, SYMBOL_RE, conform_bars
from jonbu_core.timeframe import EXCHANGE_TZ, TIMEFRAMES

logger = logging.getLogger(__name__)

#: Reasons, in the order they are checked (a row gets the first that applies).
REASONS: tuple[str, ...] = (
    "missing_value",
    "invalid_symbol",
    "invalid_timeframe",
    "non_finite",
    "high_below_low",
    "open_outside_range",
    "close_outside_range",
    "negative_volume",
    "negative_trade_count",
    "vwap_outside_range",
    "off_grid",
    "duplicate_key",
)


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_bars`.

    Attributes
    ----------
    good : pa.Table
        Valid rows with :data:`BAR_SCHEMA`, sorted by (symbol, timeframe, ts).
    quarantined : pa.Table
        Rejected rows with :data:`QUARANTINE_SCHEMA` (a ``reason`` each).
    reasons : dict[str, int]
        Count of rejected rows per reason.
    out_of_order : int
        Valid rows that arrived before a row with a smaller key (they are sorted, not rejected).
    """

    good: pa.Table
    quarantined: pa.Table
    reasons: dict[str, int] = field(default_factory=dict)
    out_of_order: int = 0

    @property
    def n_good(self) -> int:
        """Number of valid rows."""
        return int(self.good.num_rows)

    @property
    def n_quarantined(self) -> int:
        """Number of rejected rows."""
        return int(self.quarantined.num_rows)


def _strictly_ascending(df: pl.DataFrame) -> bool:
    """Whether the (symbol, timeframe, ts) keys strictly increase row by row."""
    if df.height < 2:
        return True
    sym, tf, ts = pl.col("symbol"), pl.col("timeframe"), pl.col("ts")
    later = (sym > sym.shift(1)) | (
        (sym == sym.shift(1)) & ((tf > tf.shift(1)) | ((tf == tf.shift(1)) & (ts > ts.shift(1))))
    )
    return bool(df.select(later.slice(1).all()).item())


def validate_bars(data: pa.Table | pa.RecordBatch, *, tolerance: float = 1e-9) -> ValidationResult:
    """Check a batch of bars and split it into good and quarantined rows.

    Checks (first failing reason wins): required values present, symbol pattern,
    known timeframe, finite numbers, ``high >= low``, open and close within
    ``[low, high]``, non-negative volume and trade count, vwap within
    ``[low, high]`` (with a relative ``tolerance``), ts on the timeframe grid, and
    no duplicate key in the batch (the first occurrence is kept).

    Vectorised with Polars; sorted, duplicate-free batches skip the sort.

    Parameters
    ----------
    data : pa.Table or pa.RecordBatch
        Bars with at least the columns of :data:`BAR_SCHEMA` minus the optional ones.
    tolerance : float
        Relative slack for the range checks (floating-point rounding of providers).

    Returns
    -------
    ValidationResult
    """
    table = conform_bars(data)
    n = table.num_rows
    if n == 0:
        return ValidationResult(good=BAR_SCHEMA.empty_table(), quarantined=QUARANTINE_SCHEMA.empty_table())
    df = pl.from_arrow(table, rechunk=False)
    assert isinstance(df, pl.DataFrame)
    df = df.with_row_index("_i")
    o, h, lo, c, v, vw = (pl.col(k) for k in ("open", "high", "low", "close", "volume", "vwap"))
    required = ["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "source"]
    slack = tolerance * pl.max_horizontal(h.abs(), pl.lit(1.0))
    tf = pl.col("timeframe")
    steps = {name: t.seconds * 1_000_000 for name, t in TIMEFRAMES.items() if t.is_intraday}
    step = tf.replace_strict(steps, default=None, return_dtype=pl.Int64)
    # Daily/weekly labels need a time-zone conversion: compute them on those rows only.
    daily = df.filter(tf.is_in(["1d", "1w"]) & pl.col("ts").is_not_null())
    off_daily = pl.lit(False)
    if daily.height:
        local = pl.col("ts").dt.convert_time_zone(str(EXCHANGE_TZ))
        label = (
            pl.when(tf == "1d").then(local.dt.truncate("1d")).otherwise(local.dt.truncate("1w"))
            .dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        )
        bad_daily = daily.filter(pl.col("ts") != label).get_column("_i")
        off_daily = pl.col("_i").is_in(bad_daily.implode())
    off_grid = pl.when(step.is_not_null()).then((pl.col("ts").dt.epoch("us") % step) != 0).otherwise(off_daily)
    symbols = df.get_column("symbol").drop_nulls().unique().to_list()
    good_symbols = pl.Series([sym for sym in symbols if SYMBOL_RE.match(sym)], dtype=pl.String)
    checks: list[tuple[str, pl.Expr]] = [
        ("missing_value", pl.any_horizontal([pl.col(k).is_null() for k in required])),
        ("invalid_symbol", ~pl.col("symbol").is_in(good_symbols.implode())),
        ("invalid_timeframe", ~tf.is_in(list(TIMEFRAMES))),
        (
            "non_finite",
            ~pl.all_horizontal([x.is_finite() for x in (o, h, lo, c, v)]) | (vw.is_not_null() & ~vw.is_finite()),
        ),
        ("high_below_low", h < lo - slack),
        ("open_outside_range", (o > h + slack) | (o < lo - slack)),
        ("close_outside_range", (c > h + slack) | (c < lo - slack)),
        ("negative_volume", v < 0),
        ("negative_trade_count", pl.col("trade_count").fill_null(0) < 0),
        (
            "vwap_outside_range",
            vw.is_not_null() & ((vw > h * (1 + 1e-6) + slack) | (vw < lo * (1 - 1e-6) - slack)),
        ),
        ("off_grid", off_grid),
    ]
    # One pass of boolean flags; reason codes are only worked out for the (few) bad rows.
    flags = df.select(*(cond.fill_null(False).alias(code) for code, cond in checks))
    bad_mask = flags.select(pl.any_horizontal(pl.all())).to_series()
    reason = pl.Series("_r", np.full(n, -1, dtype="int8"))
    if bad_mask.any():
        first = np.argmax(flags.filter(bad_mask).to_numpy(), axis=1).astype("int8")
        codes = np.array([REASONS.index(code) for code, _ in checks], dtype="int8")[first]
        r = np.full(n, -1, dtype="int8")
        r[bad_mask.to_numpy()] = codes
        reason = pl.Series("_r", r, dtype=pl.Int8)
    df = df.with_columns(reason)

    valid = df.filter(pl.col("_r") < 0)
    if _strictly_ascending(valid):  # the usual case: sorted and without duplicates
        good_df = valid
        dups = pl.Series("_i", [], dtype=pl.UInt32)
    else:
        valid = valid.sort(["symbol", "timeframe", "ts", "_i"], maintain_order=True)
        valid = valid.with_columns((~pl.struct("symbol", "timeframe", "ts").is_first_distinct()).alias("_dup"))
        good_df = valid.filter(~pl.col("_dup")).drop("_dup")
        dups = valid.filter(pl.col("_dup")).get_column("_i")
    out_of_order = int((good_df.get_column("_i").diff().fill_null(1) < 0).sum()) if good_df.height else 0
    good = good_df.drop("_i", "_r").to_arrow().cast(BAR_SCHEMA)
    if dups.len():
        df = df.with_columns(
            pl.when(pl.col("_i").is_in(dups.implode())).then(pl.lit(REASONS.index("duplicate_key"), pl.Int8))
            .otherwise(pl.col("_r")).alias("_r")
        )
    bad_df = df.filter(pl.col("_r") >= 0)
    counts: dict[str, int] = {}
    if bad_df.height:
        codes = bad_df.get_column("_r").to_list()
        for code in codes:
            counts[REASONS[code]] = counts.get(REASONS[code], 0) + 1
        bad = table.take(pa.array(bad_df.get_column("_i").to_numpy(), type=pa.int64()))
        reasons = pa.array([REASONS[code] for code in codes], pa.string())
        now = pa.array([datetime.now(UTC)] * bad_df.height, QUARANTINE_SCHEMA.field("quarantined_at").type)
        quarantined = pa.Table.from_arrays([*bad.columns, reasons, now], schema=QUARANTINE_SCHEMA)
        logger.warning("quarantined %d of %d bars: %s", bad_df.height, n, counts)
    else:
        quarantined = QUARANTINE_SCHEMA.empty_table()
    return ValidationResult(good=good, quarantined=quarantined, reasons=counts, out_of_order=out_of_order)
