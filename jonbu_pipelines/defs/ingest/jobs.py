"""Jobs of the ingest domain."""

from __future__ import annotations

import dagster as dg

from jonbu_pipelines.defs.ingest.assets import raw_bars_1d, raw_bars_1m
from jonbu_pipelines.partitions import symbol_sessions

ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=dg.AssetSelection.assets(raw_bars_1m, raw_bars_1d),
    partitions_def=symbol_sessions,
    description=(
        "Raw 1m and 1d bars for a (session, symbol) partition or a range of them; the two "
        "assets run in parallel processes (multiprocess executor, spawn)."
    ),
    tags={"domain": "ingest"},
)
