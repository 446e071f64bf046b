"""Fixtures of the Dagster tests: settings-chosen resources on the test's data dir, instances."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

warnings.filterwarnings("ignore", category=Warning, module="dagster")

SYMBOLS = ["AAPL", "MSFT", "NVDA"]


@pytest.fixture
def resources(data_dir: Path) -> dict[str, Any]:
    """The resources ``resources_from_settings`` picks for this test's environment."""
    from jonbu_core.settings import load_settings
    from jonbu_pipelines.resources import resources_from_settings

    return resources_from_settings(load_settings())


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Any]:
    """A persistent (SQLite, temp dir) Dagster instance with the ``symbols`` partitions."""
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        inst.add_dynamic_partitions("symbols", SYMBOLS)
        yield inst


def read_delta_bars(data_dir: Path) -> pa.Table:
    """The raw rows of the lake's Delta table of bars (no store logic), sorted by key."""
    from deltalake import DeltaTable

    table = DeltaTable(str(data_dir / "lake" / "bars")).to_pyarrow_table()
    return table.sort_by([("symbol", "ascending"), ("timeframe", "ascending"), ("ts", "ascending")])
