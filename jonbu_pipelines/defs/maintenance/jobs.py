"""Lake maintenance: compact small files and vacuum unreferenced ones, without stopping anyone.

Delta Lake commits are optimistic: ``optimize.compact`` rewrites small files into bigger ones
in a new table version while readers keep reading the version they opened and writers keep
committing (a conflicting commit is retried by the store). ``vacuum`` only deletes files that
no version younger than ``retention_hours`` references, so a reader that opened the table
before the compaction still finds its files.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from jonbu_pipelines.defs.ingest.assets import raw_bars_1d, raw_bars_1m
from jonbu_pipelines.metadata import markdown_table
from jonbu_pipelines.resources import StoreResource


class MaintenanceConfig(dg.Config):
    """What the maintenance run does."""

    compact: bool = True
    vacuum: bool = True
    retention_hours: int = Field(default=168, ge=1, description="Keep unreferenced files this long (≥ 1 h).")


def table_stats(root: Path) -> dict[str, dict[str, Any]]:
    """Files, bytes and version of every Delta table under ``root``."""
    from deltalake import DeltaTable

    out: dict[str, dict[str, Any]] = {}
    if not root.exists():
        return out
    for path in sorted(p for p in root.iterdir() if (p / "_delta_log").is_dir()):
        dt = DeltaTable(str(path))
        files = dt.file_uris()
        size = sum(Path(f.removeprefix("file://")).stat().st_size for f in files if Path(f.removeprefix("file://")).exists())
        out[path.name] = {"files": len(files), "bytes": size, "version": dt.version()}
    return out


@dg.op(tags={"domain": "maintenance"})
def compact_and_vacuum(context: dg.OpExecutionContext, config: MaintenanceConfig, store: StoreResource) -> dict[str, Any]:
    """Compact and vacuum every Delta table of the lake store (a no-op with a note for Postgres)."""
    bars_store: Any = store.get()  # compact()/vacuum()/root are the lake adapter's, not the protocol's
    if not hasattr(bars_store, "compact") or not hasattr(bars_store, "root"):
        context.log.info("the %s store has no Delta tables: nothing to do", store.kind)
        return {"store": store.kind, "skipped": True}
    root = Path(bars_store.root)
    before = table_stats(root)
    compacted: dict[str, Any] = bars_store.compact() if config.compact else {}
    removed: list[str] = bars_store.vacuum(retention_hours=config.retention_hours) if config.vacuum else []
    after = table_stats(root)
    rows = [
        {
            "table": name,
            "files before": before.get(name, {}).get("files"),
            "files after": stats["files"],
            "MB after": round(stats["bytes"] / 1e6, 2),
            "version": stats["version"],
            "added": (compacted.get(name) or {}).get("numFilesAdded"),
            "removed": (compacted.get(name) or {}).get("numFilesRemoved"),
        }
        for name, stats in after.items()
    ]
    summary = markdown_table(rows)
    context.log.info("lake maintenance:\n%s\nvacuumed %d files", summary, len(removed))
    meta = {
        "tables": dg.MetadataValue.md(summary),
        "files_vacuumed": len(removed),
        "retention_hours": config.retention_hours,
        "bars_files_after": after.get("bars", {}).get("files", 0),
    }
    for key in (raw_bars_1m.key, raw_bars_1d.key):
        context.log_event(dg.AssetObservation(asset_key=key, metadata=meta))
    return {"before": before, "after": after, "vacuumed": len(removed)}


@dg.job(
    name="lake_maintenance_job",
    description="Compact small files and vacuum unreferenced ones in the lake's Delta tables.",
    tags={"domain": "maintenance"},
)
def lake_maintenance_job() -> None:
    """Compaction and vacuum of the Delta tables (safe while readers and writers run)."""
    compact_and_vacuum()
