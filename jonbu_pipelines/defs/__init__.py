"""Dagster definitions, one folder per domain.

``jonbu_pipelines.definitions`` loads every module below this package (assets, checks,
schedules, sensors, jobs), so a new file in a domain folder is picked up without editing
anything else.

* ``ingest``      raw bars per (session, symbol) from the provider into the store
* ``transform``   dbt rollups and the quality mart over the lake
* ``quality``     asset checks on the raw bars
* ``export``      narratives, embeddings and training sets (RAG)
* ``maintenance`` Delta Lake compaction and vacuum
"""
