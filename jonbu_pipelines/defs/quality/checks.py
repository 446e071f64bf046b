"""Asset checks on the raw bars: OHLC integrity, duplicate keys, session coverage, freshness.

Each asset gets one check op (``@multi_asset_check``) that reads the bars once and reports the
four checks. Scope: the partitions of the run the check runs in (a single partition or a
range); a check run on its own covers the active symbols over the last
``JONBU_DAGSTER_LOOKBACK_SESSIONS`` sessions.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pyarrow as pa

from jonbu_core import calendar as cal
from jonbu_core.settings import get_settings
from jonbu_core.stores.base import BarStore
from jonbu_core.timeframe import EXCHANGE_TZ
from jonbu_core.validation import validate_bars
from jonbu_pipelines.defs.ingest.assets import raw_bars_1d, raw_bars_1m
from jonbu_pipelines.metadata import bar_chart, clean, markdown_table, md
from jonbu_pipelines.partitions import (
    days_by_symbol,
    latest_closed_session,
    recent_sessions,
    symbol_sessions,
)
from jonbu_pipelines.resources import StoreResource

CHECKS = {
    "ohlc_integrity": "Every stored bar passes the write-time validation: finite values, high >= low, "
    "open and close within [low, high], non-negative volume, on the timeframe grid.",
    "no_duplicate_keys": "No two stored bars share (symbol, timeframe, ts).",
    "session_coverage": "Each symbol-session has at least JONBU_DAGSTER_COVERAGE_MIN (95%) of the "
    "bars the exchange calendar expects (WARN: thin symbols may trade less).",
    "freshness": "Each symbol's newest bar belongs to the latest closed session (WARN).",
}


def scope_from_tags(tags: dict[str, str], instance: dg.DagsterInstance) -> dict[str, list[date]] | None:
    """``{symbol: sessions}`` of the run's partitions (``None`` for an unpartitioned run)."""
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start and end:
        keys = symbol_sessions.get_partition_keys_in_range(
            dg.PartitionKeyRange(start, end), dynamic_partitions_store=instance
        )
        return days_by_symbol(keys)
    key = tags.get("dagster/partition")
    if key:
        return days_by_symbol([key])
    return None


def default_scope(store: BarStore, exchange: str) -> dict[str, list[date]]:
    """Active symbols × the last lookback sessions."""
    days = recent_sessions(get_settings().dagster_lookback_sessions, datetime.now(UTC), exchange)
    return {i.symbol: days for i in store.list_symbols(active_only=True)} if days else {}


def _read(store: BarStore, symbol: str, timeframe: str, days: list[date]) -> pa.Table:
    start = cal.session_label(days[0])
    end = cal.session_label(days[-1] + timedelta(days=1))
    table = store.read_bars(symbol, timeframe, start, end).table
    if table.num_rows == 0:
        return table
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    local = pl.col("ts").dt.convert_time_zone(str(EXCHANGE_TZ)).dt.date()
    return df.filter(local.is_in(days)).to_arrow()


def _expected(day: date, timeframe: str, exchange: str) -> int:
    return 1 if timeframe == "1d" else len(cal.session_minutes(day, exchange))


def evaluate(
    store: BarStore, timeframe: str, scope: dict[str, list[date]], exchange: str, coverage_min: float
) -> Iterator[dg.AssetCheckResult]:
    """The four check results for ``scope`` (``{symbol: session dates}``)."""
    frames = []
    for symbol, days in scope.items():
        sessions = [d for d in days if cal.is_session(d, exchange)]
        if sessions:
            frames.append((symbol, sessions, _read(store, symbol, timeframe, sessions)))
    scope_text = ", ".join(f"{s} ({len(d)} sessions)" for s, d, _ in frames) or "nothing"

    # OHLC integrity: every stored row must pass the same validation as on write.
    bad_rows: list[dict[str, object]] = []
    reasons: dict[str, int] = {}
    total = 0
    dup_total = 0
    dup_rows: list[dict[str, object]] = []
    for _symbol, _days, table in frames:
        total += table.num_rows
        if not table.num_rows:
            continue
        result = validate_bars(table)
        for reason, n in result.reasons.items():
            if reason == "duplicate_key":
                dup_total += n
            else:
                reasons[reason] = reasons.get(reason, 0) + n
        if result.n_quarantined:
            q = result.quarantined.to_pylist()
            bad_rows += [r for r in q if r["reason"] != "duplicate_key"][:5]
            dup_rows += [r for r in q if r["reason"] == "duplicate_key"][:5]
    n_bad = sum(reasons.values())
    cols = ["symbol", "ts", "open", "high", "low", "close", "volume", "reason"]
    yield dg.AssetCheckResult(
        check_name="ohlc_integrity",
        passed=n_bad == 0,
        description=f"{n_bad} of {total} stored bars break OHLC rules" if n_bad else f"{total} bars, all valid",
        metadata=clean({"bars_checked": total, "violations": n_bad, "scope": scope_text,
                        "reasons": dg.MetadataValue.json(reasons) if reasons else None,
                        "samples": md(markdown_table(bad_rows, cols)) if bad_rows else None}),
    )
    yield dg.AssetCheckResult(
        check_name="no_duplicate_keys",
        passed=dup_total == 0,
        description=f"{dup_total} rows repeat a (symbol, timeframe, ts) key" if dup_total else "keys are unique",
        metadata=clean({"bars_checked": total, "duplicates": dup_total, "scope": scope_text,
                        "samples": md(markdown_table(dup_rows, cols[:-1])) if dup_rows else None}),
    )

    # Coverage: stored bars per session vs the exchange calendar.
    rows: list[dict[str, object]] = []
    per_symbol: dict[str, list[float]] = {}
    for symbol, days, table in frames:
        counts: dict[date, int] = {}
        if table.num_rows:
            df = pl.from_arrow(table.select(["ts"]))
            assert isinstance(df, pl.DataFrame)
            local = df.select(pl.col("ts").dt.convert_time_zone(str(EXCHANGE_TZ)).dt.date().alias("d"))
            counts = {d: int(n) for d, n in local.group_by("d").len().iter_rows()}
        for day in days:
            exp = _expected(day, timeframe, exchange)
            got = counts.get(day, 0)
            cov = min(1.0, got / exp) if exp else 1.0
            per_symbol.setdefault(symbol, []).append(cov)
            rows.append({"symbol": symbol, "session": day, "bars": got, "expected": exp, "coverage": cov})
    low = [r for r in rows if float(str(r["coverage"])) < coverage_min]
    worst = sorted(rows, key=lambda r: float(str(r["coverage"])))[:10]
    for r in worst:
        r["coverage"] = f"{float(str(r['coverage'])):.1%}"
    mean_cov = {s: sum(v) / len(v) for s, v in per_symbol.items()}
    yield dg.AssetCheckResult(
        check_name="session_coverage",
        passed=not low,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(low)} of {len(rows)} symbol-sessions below {coverage_min:.0%} coverage"
                     if low else f"all {len(rows)} symbol-sessions at or above {coverage_min:.0%}"),
        metadata=clean({
            "threshold": coverage_min,
            "symbol_sessions": len(rows),
            "below_threshold": len(low),
            "min_coverage": min((c for v in per_symbol.values() for c in v), default=1.0),
            "worst_sessions": md(markdown_table(worst)) if worst else None,
            "coverage_by_symbol": md(bar_chart(list(mean_cov), list(mean_cov.values()),
                                               f"mean {timeframe} coverage per symbol", threshold=coverage_min)),
        }),
    )

    # Freshness: each symbol's newest bar belongs to the latest closed session (or later).
    latest_session = latest_closed_session(datetime.now(UTC), exchange)
    stale: list[dict[str, object]] = []
    for symbol in scope:
        bar = store.latest_bar(symbol, timeframe)
        last_day = bar.ts.astimezone(EXCHANGE_TZ).date() if bar else None
        if latest_session is not None and (last_day is None or last_day < latest_session):
            stale.append({"symbol": symbol, "latest bar": bar.ts if bar else None, "expected session": latest_session})
    yield dg.AssetCheckResult(
        check_name="freshness",
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(stale)} symbols lack the latest closed session {latest_session}"
                     if stale else f"every symbol has the latest closed session {latest_session}"),
        metadata=clean({"latest_closed_session": str(latest_session), "stale_symbols": len(stale),
                        "stale": md(markdown_table(stale)) if stale else None}),
    )


def _build(asset: dg.AssetsDefinition, timeframe: str) -> dg.AssetChecksDefinition:
    specs = [dg.AssetCheckSpec(name, asset=asset.key, description=text) for name, text in CHECKS.items()]

    @dg.multi_asset_check(specs=specs, name=f"{asset.key.to_python_identifier()}_checks", can_subset=False)
    def _checks(context: dg.AssetCheckExecutionContext, store: StoreResource) -> Iterator[dg.AssetCheckResult]:
        settings = get_settings()
        bars_store = store.get()
        scope = scope_from_tags(dict(context.run.tags), context.instance) or default_scope(bars_store, store.exchange)
        context.log.info("checking %s %s over %s", asset.key.to_user_string(), timeframe, list(scope))
        yield from evaluate(bars_store, timeframe, scope, store.exchange, settings.dagster_coverage_min)

    _checks.__doc__ = (
        f"OHLC integrity, unique keys, session coverage (≥ JONBU_DAGSTER_COVERAGE_MIN) and freshness "
        f"of {asset.key.to_user_string()}."
    )
    return _checks


raw_bars_1m_checks = _build(raw_bars_1m, "1m")
raw_bars_1d_checks = _build(raw_bars_1d, "1d")
