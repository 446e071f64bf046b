"""Jobs of the export domain."""

import dagster as dg

from jonbu_pipelines.defs.export.assets import candle_embeddings, candle_narratives
from jonbu_pipelines.defs.export.training import training_dataset
from jonbu_pipelines.partitions import symbol_sessions

export_job = dg.define_asset_job(
    name="export_job",
    selection=dg.AssetSelection.assets(candle_narratives, candle_embeddings, training_dataset),
    partitions_def=symbol_sessions,
    description=(
        "Narratives, their embeddings in LanceDB and the training set for a (session, symbol) "
        "partition or a range of them (reads the stored raw bars; run ingest_job first)."
    ),
    tags={"domain": "export"},
)
