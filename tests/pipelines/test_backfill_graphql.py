"""A backfill of 5 symbols × 20 sessions launched through the GraphQL API, as the UI does.

The backfill daemon's iteration submits the runs (BackfillPolicy.multi_run: 20 partitions per
run), a synchronous run launcher executes them; GraphQL reads back partitions and checks.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from jonbu_core.calendar import sessions
from tests.pipelines.conftest import read_delta_bars

SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA"]

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions }
  }
  assetNodeOrError(assetKey: {path: ["raw_bars_1m"]}) {
    ... on AssetNode {
      partitionStats { numMaterialized numPartitions numFailed }
      assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } }
    }
  }
}
"""


@pytest.mark.timeout(280)
def test_graphql_backfill_of_5_symbols_by_20_sessions(data_dir: Path, tmp_path: Path) -> None:
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.storage.dagster_run import RunsFilter
    from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster_graphql.test.utils import execute_dagster_graphql

    days = sessions(date(2024, 1, 2), date(2024, 2, 15))[:20]
    keys = [f"{d}|{s}" for s in SYMBOLS for d in days]
    home = tmp_path / "home"
    home.mkdir()
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="tests.pipelines.inprocess_defs", attribute="defs",
                             working_directory=str(Path(__file__).parents[2])),
        location_name="jonbu",
    )
    with dg.instance_for_test(temp_dir=str(home), synchronous_run_launcher=True,
                               synchronous_run_coordinator=True) as instance:
        instance.add_dynamic_partitions("symbols", SYMBOLS)
        with WorkspaceProcessContext(instance, InProcessTestWorkspaceLoadTarget(origin)) as process_ctx:
            ctx = process_ctx.create_request_context()
            launched = execute_dagster_graphql(ctx, LAUNCH, variables={"params": {
                "partitionNames": keys, "assetSelection": [{"path": ["raw_bars_1m"]}], "fromFailure": False,
            }})
            payload = launched.data["launchPartitionBackfill"]
            assert payload["__typename"] == "LaunchBackfillSuccess", payload
            backfill_id = payload["backfillId"]

            deadline = time.monotonic() + 200
            status: dict[str, Any] = {}
            while time.monotonic() < deadline:
                list(execute_backfill_iteration(process_ctx, logging.getLogger("backfill-test")))
                status = execute_dagster_graphql(process_ctx.create_request_context(), STATUS,
                                                 variables={"id": backfill_id}).data
                if status["partitionBackfillOrError"]["status"] not in ("REQUESTED",):
                    break
            runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))
            assert status["partitionBackfillOrError"]["status"] == "COMPLETED_SUCCESS", (
                status, [(r.run_id, r.status) for r in runs])
            assert status["partitionBackfillOrError"]["numPartitions"] == 100
            stats = status["assetNodeOrError"]["partitionStats"]
            assert stats["numMaterialized"] == 100 and stats["numFailed"] == 0
            checks = {c["name"]: c["executionForLatestMaterialization"]
                      for c in status["assetNodeOrError"]["assetChecksOrError"]["checks"]}
            assert set(checks) >= {"ohlc_integrity", "no_duplicate_keys", "session_coverage", "freshness"}

        runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(runs) == 5  # 20 partitions per run: one per symbol
        assert all(r.is_success for r in runs)
        mats = instance.fetch_materializations(dg.AssetKey("raw_bars_1m"), limit=200).records
        assert len(mats) == 100
        assert all(m.asset_materialization.metadata["rows"].value > 0 for m in mats)  # type: ignore[union-attr]
    bars = read_delta_bars(data_dir)
    assert bars.num_rows == 100 * 390
