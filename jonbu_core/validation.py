"""Validation of incoming bars: good rows pass, bad rows are quarantined with a reason."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.models import BAR_SCHEMA, QUARANTINE_SCHEMA, SYMBOL_RE, conform_bars
from jonbu_core.timeframe import TIMEFRAMES

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
        Rows that arrived out of ts order (sorted, not rejected).
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


def _f(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype="float64")


def validate_bars(data: pa.Table | pa.RecordBatch, *, tolerance: float = 1e-9) -> ValidationResult:
    """Check a batch of bars and split it into good and quarantined rows.

    Checks (first failing reason wins): required values present, symbol pattern,
    known timeframe, finite numbers, ``high >= low``, open and close within
    ``[low, high]``, non-negative volume and trade count, vwap within
    ``[low, high]`` (with a relative ``tolerance``), ts on the timeframe grid, and
    no duplicate key in the batch (the first occurrence is kept).

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
    reason = np.full(n, -1, dtype="int8")

    def mark(mask: np.ndarray, code: str) -> None:
        idx = REASONS.index(code)
        sel = mask & (reason < 0)
        reason[sel] = idx

    required = ["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "source"]
    missing = np.zeros(n, dtype=bool)
    for name in required:
        col = table.column(name)
        if col.null_count:
            missing |= np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    mark(missing, "missing_value")

    if n:
        syms = table.column("symbol").fill_null("")
        sym_ok = pc.match_substring_regex(syms, SYMBOL_RE.pattern).to_numpy(zero_copy_only=False)
        mark(~np.asarray(sym_ok, dtype=bool), "invalid_symbol")
        tfs = table.column("timeframe").fill_null("")
        tf_ok = pc.is_in(tfs, value_set=pa.array(list(TIMEFRAMES))).to_numpy(zero_copy_only=False)
        mark(~np.asarray(tf_ok, dtype=bool), "invalid_timeframe")

    o, h, lo, c, v = (_f(table, k) for k in ("open", "high", "low", "close", "volume"))
    vw = _f(table, "vwap")
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & np.isfinite(v)
        finite &= np.isfinite(vw) | np.isnan(vw) & np.asarray(
            table.column("vwap").is_null().to_numpy(zero_copy_only=False), dtype=bool
        )
        mark(~finite & ~missing, "non_finite")
        slack = tolerance * np.maximum(np.abs(h), 1.0)
        mark(h < lo - slack, "high_below_low")
        mark((o > h + slack) | (o < lo - slack), "open_outside_range")
        mark((c > h + slack) | (c < lo - slack), "close_outside_range")
        mark(v < 0, "negative_volume")
        tc = table.column("trade_count")
        tcv = np.asarray(tc.fill_null(0).to_numpy(zero_copy_only=False), dtype="int64")
        mark(tcv < 0, "negative_trade_count")
        vw_bad = ~np.isnan(vw) & ((vw > h * (1 + 1e-6) + slack) | (vw < lo * (1 - 1e-6) - slack))
        mark(vw_bad, "vwap_outside_range")

    ts_us = np.asarray(
        table.column("ts").cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype="int64"
    )
    tf_col = np.asarray(table.column("timeframe").fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    off = np.zeros(n, dtype=bool)
    for name in np.unique(tf_col) if n else []:
        tf = TIMEFRAMES.get(str(name))
        if tf is None:
            continue
        sel = tf_col == name
        if tf.is_intraday:
            off[sel] = ts_us[sel] % (tf.seconds * 1_000_000) != 0
        else:
            labels = ts_us[sel]
            expect = np.array(
                [int(tf.bucket(datetime.fromtimestamp(t / 1e6, tz=UTC)).timestamp() * 1e6) for t in labels],
                dtype="int64",
            ) if len(labels) else labels
            off[sel] = labels != expect
    mark(off, "off_grid")

    # Sort by key (stable: first occurrence stays first), then flag duplicates.
    order_idx = np.arange(n)
    out_of_order = 0
    if n:
        sort_idx = pc.sort_indices(
            pa.table({"s": table.column("symbol").fill_null(""), "t": table.column("timeframe").fill_null(""),
                      "ts": table.column("ts").cast(pa.int64()).fill_null(0), "i": pa.array(order_idx)}),
            sort_keys=[("s", "ascending"), ("t", "ascending"), ("ts", "ascending"), ("i", "ascending")],
        ).to_numpy()
        out_of_order = int(np.count_nonzero(sort_idx != order_idx))
        valid_sorted = sort_idx[reason[sort_idx] < 0]
        if len(valid_sorted) > 1:
            ss = np.asarray(table.column("symbol").take(pa.array(valid_sorted)).to_numpy(zero_copy_only=False), dtype=object)
            tt = tf_col[valid_sorted]
            us = ts_us[valid_sorted]
            dup = np.zeros(len(valid_sorted), dtype=bool)
            dup[1:] = (ss[1:] == ss[:-1]) & (tt[1:] == tt[:-1]) & (us[1:] == us[:-1])
            reason[valid_sorted[dup]] = REASONS.index("duplicate_key")
        good_idx = sort_idx[reason[sort_idx] < 0]
    else:
        good_idx = order_idx

    bad_idx = np.flatnonzero(reason >= 0)
    good = table.take(pa.array(good_idx, type=pa.int64())).cast(BAR_SCHEMA)
    counts: dict[str, int] = {}
    if len(bad_idx):
        bad = table.take(pa.array(bad_idx, type=pa.int64()))
        codes = reason[bad_idx]
        reasons = pa.array([REASONS[i] for i in codes], pa.string())
        for i, cnt in zip(*np.unique(codes, return_counts=True), strict=True):
            counts[REASONS[int(i)]] = int(cnt)
        now = pa.array([datetime.now(UTC)] * len(bad_idx), QUARANTINE_SCHEMA.field("quarantined_at").type)
        quarantined = pa.Table.from_arrays(
            [*bad.columns, reasons, now], schema=QUARANTINE_SCHEMA
        )
        logger.warning("quarantined %d of %d bars: %s", len(bad_idx), n, counts)
    else:
        quarantined = QUARANTINE_SCHEMA.empty_table()
    return ValidationResult(good=good, quarantined=quarantined, reasons=counts, out_of_order=out_of_order)
