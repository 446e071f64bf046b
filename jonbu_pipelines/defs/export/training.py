"""The training set: normalised features + future-return targets per (session, symbol)."""

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jonbu_core.enrich.memory import tune_allocator
from jonbu_core.rag.files import day_path
from jonbu_core.rag.training import FEATURE_PREFIX, MANIFEST_NAME, export_training
from jonbu_pipelines.defs.export.common import (
    MAX_PARTITIONS_PER_RUN,
    TrainingConfig,
    partition_keys,
    runs,
    training_dir,
)
from jonbu_pipelines.defs.ingest.assets import raw_bars_1m
from jonbu_pipelines.metadata import clean, markdown_table, md
from jonbu_pipelines.partitions import partition_key, symbol_sessions
from jonbu_pipelines.resources import StoreResource

TRAINING_CHECKS = {
    "features_in_unit_range": "Every feature value of the written rows is in [0, 1] and no target is NaN.",
}


@dg.asset(
    partitions_def=symbol_sessions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    deps=[raw_bars_1m],
    group_name="export",
    kinds={"python", "parquet"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(name, asset="training_dataset", description=desc)
        for name, desc in TRAINING_CHECKS.items()
    ],
)
def training_dataset(
    context: dg.AssetExecutionContext, config: TrainingConfig, store: StoreResource
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Features (normalised to [0, 1], no look-ahead) and future-return targets, as Parquet.

    One file per (symbol, session) under `training/timeframe=TF/symbol=SYM/DAY.parquet`,
    with `_manifest.json` describing every column; re-materializing rewrites the file.
    Targets over the configured horizons use the bars after each candle (the next session's
    when they are stored); rows whose horizons reach past the stored bars are dropped.
    """
    tune_allocator()  # the run worker is a batch process (jonbu_core.enrich.memory)
    bars = store.get()
    settings = store.settings()
    root = training_dir(store.data_dir)
    keys = partition_keys(context)
    total = dropped = 0
    bad = 0
    features = 0
    for symbol, days, start, end in runs(keys, store.exchange):
        summary = export_training(
            settings, [symbol], config.timeframe, start, end, config.horizons, root,
            store=bars, indicators=config.indicators,
        )
        total += summary.rows
        dropped += summary.dropped
        features = max(features, len(summary.feature_names))
        for day in days:
            path = day_path(summary.output, symbol, day)
            rows = 0
            if path.exists():
                table = pq.read_table(path)
                rows = table.num_rows
                for name in table.column_names:
                    col = table.column(name)
                    if name.startswith(FEATURE_PREFIX):
                        lo, hi = pc.min(col).as_py(), pc.max(col).as_py()
                        if lo is not None and (lo < 0.0 or hi > 1.0):
                            bad += 1
                    elif name.startswith("target_return_"):
                        bad += int(pc.sum(pc.is_nan(col)).as_py() or 0)
            context.add_asset_metadata(
                clean({"dagster/row_count": rows, "rows": rows, "path": str(path) if rows else None}),
                partition_key=str(partition_key(day, symbol)),
            )
    manifest = root / f"timeframe={config.timeframe}" / MANIFEST_NAME
    meta = clean({
        "run_rows": total,
        "run_dropped_rows": dropped,
        "features": features,
        "horizons": str(sorted(set(config.horizons))),
        "manifest": str(manifest) if manifest.exists() else None,
        "summary": md(markdown_table([{"timeframe": config.timeframe, "rows": total, "dropped": dropped,
                                       "features": features}])),
    })
    check = dg.AssetCheckResult(check_name="features_in_unit_range", passed=bad == 0,
                                metadata={"violations": bad})
    return dg.MaterializeResult(metadata=meta, check_results=[check])
