"""dbt over the lake: 5m/15m/1h/1d rollups and the daily quality mart, with dbt tests as checks.

The dbt project lives in ``dbt/`` (dbt-duckdb). It reads the lake's Delta table of bars
through the ``delta`` plugin, keeps its DuckDB file to itself under ``$JONBU_DATA_DIR/dbt`` and
writes every model other processes read as Parquet under ``$JONBU_DATA_DIR/dbt/marts``. dbt
tests (unique keys, not null, accepted ranges, high >= low) become Dagster asset checks.
"""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from jonbu_pipelines.metadata import bar_chart, bars_preview, clean, markdown_table, md
from jonbu_pipelines.project import dbt_project, ensure_manifest
from jonbu_pipelines.resources import JonbuDbtResource

DBT_GROUP = "transform"
# Parsed here when missing or stale (also under `dagster dev`, whose own prepare_if_dev would
# look for `dbt` on PATH, which an unactivated venv lacks).
DBT_MANIFEST = ensure_manifest(dbt_project)


class JonbuDbtTranslator(DagsterDbtTranslator):
    """Model name as asset key, one group, the dbt description in the UI."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return DBT_GROUP

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        text = (dbt_resource_props.get("description") or "").strip()
        return text or super().get_description(dbt_resource_props)


def parquet_summary(name: str, path: Path) -> dict[str, Any]:
    """Row count, location and a preview (or, for the quality mart, a per-symbol summary)."""
    import pyarrow.parquet as pq

    if not path.exists():
        return {}
    rows = pq.read_metadata(path).num_rows
    meta: dict[str, Any] = {"dagster/row_count": rows, "parquet": dg.MetadataValue.path(str(path))}
    if rows == 0:
        return meta
    table = pq.read_table(path)
    if name == "daily_quality":
        import polars as pl

        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        per_symbol = (
            df.group_by("symbol")
            .agg(
                pl.len().alias("sessions"),
                pl.col("bars").sum().alias("bars"),
                pl.col("coverage").mean().round(4).alias("mean coverage"),
                pl.col("coverage").min().round(4).alias("min coverage"),
                pl.col("gaps").sum().alias("gaps"),
                pl.col("ohlc_violations").sum().alias("ohlc violations"),
                pl.col("duplicate_bars").sum().alias("duplicates"),
            )
            .sort("symbol")
        )
        meta["by_symbol"] = md(markdown_table(per_symbol.to_dicts()))
        meta["coverage_chart"] = md(
            bar_chart(per_symbol["symbol"].to_list(), per_symbol["mean coverage"].to_list(),
                      "mean session coverage per symbol", threshold=0.95)
        )
        meta["sessions_below_95pct"] = int(df.filter(pl.col("coverage") < 0.95).height)
    elif "ts" in table.column_names:
        meta["preview"] = md(bars_preview(table))
        meta["symbols"] = len(set(table.column("symbol").to_pylist()))
    return clean(meta)


@dbt_assets(
    manifest=DBT_MANIFEST,
    project=dbt_project,
    dagster_dbt_translator=JonbuDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True)
    ),
    name="lake_dbt_models",
    pool="dbt_duckdb",
)
def lake_dbt_models(context: dg.AssetExecutionContext, dbt: JonbuDbtResource) -> Iterator[Any]:
    """Run `dbt build` on the selected models: rollups and the quality mart, with their tests."""
    data_dir = dbt.data_path()
    lake_bars = data_dir / "lake" / "bars"
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(str(lake_bars)):
        raise dg.Failure(
            description=f"no lake table at {lake_bars}: materialize some raw_bars_1m partitions first",
        )
    marts = data_dir / "dbt" / "marts"
    for event in dbt.cli(["build"], context=context).stream():
        if isinstance(event, dg.Output):
            key = context.asset_key_for_output(event.output_name)
            extra = parquet_summary(key.path[-1], marts / f"{key.path[-1]}.parquet")
            if extra:
                event = event.with_metadata({**event.metadata, **extra})
        yield event


dbt_job = dg.define_asset_job(
    name="dbt_job",
    selection=dg.AssetSelection.assets(lake_dbt_models),
    description="dbt build of the rollups and the quality mart over the lake.",
    tags={"domain": "transform"},
)
