"""Schemathesis against the app's own OpenAPI document (in-process ASGI).

Every operation gets generated requests (valid and invalid) with an admin key; the
answers must never be 5xx and must conform to the document (status codes, content
types, headers, bodies, ``Allow`` on 405, auth enforced). The number of examples is
bounded to keep this fast.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.conftest import SEED_END, SEED_START, make_bars

MAX_EXAMPLES = 12


_DATA = Path(tempfile.mkdtemp(prefix="jonbu-schemathesis-"))
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)


def _build_app() -> Any:
    from jonbu_api.main import create_app
    from jonbu_core.bus.memory import MemoryBus
    from jonbu_core.settings import load_settings

    s = load_settings(data_dir=_DATA, rate_limit="100000/minute")
    # No store passed in: the lifespan (started by Schemathesis) opens the lake under _DATA.
    return create_app(s, bus=MemoryBus(), auth_default=True, frontend_dist=Path("/nonexistent"))


APP = _build_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _seed() -> dict[str, str]:
    """Bars and an admin key in the app's data dir (the app re-reads both)."""
    from jonbu_api.auth import FileKeyStore, key_file
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store

    s = load_settings(data_dir=_DATA)
    store = open_store(s)
    if not store.list_symbols():
        store.add_symbols(["AAPL"])
        store.write_bars(make_bars("AAPL", SEED_START, SEED_END))
    store.close()
    ks = FileKeyStore(key_file(_DATA))
    if not ks.list():
        _, key = ks.create("schemathesis", "admin")
        APP.state.test_key = key
    return {"admin": APP.state.test_key}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_api_conforms(case: Any) -> None:
    # Every check but "schema-valid data must be accepted": cursors are opaque tokens the
    # server issues and ranges have cross-parameter rules (start <= end, a maximum span),
    # which OpenAPI cannot express; such requests rightly get 422.
    case.call_and_validate(
        headers={"X-API-Key": APP.state.test_key},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )


def test_openapi_document_is_complete() -> None:
    spec = APP.openapi()
    ids = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ids.append(op["operationId"])
            assert op.get("summary") and op.get("description"), (method, path)
            assert "200" in op["responses"] or "201" in op["responses"] or "204" in op["responses"]
            if (method, path) not in {("get", "/api/v1/health"), ("get", "/metrics")}:
                for status in ("401", "429"):
                    ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorOut"), (method, path, status)
                assert op.get("security"), (method, path)
            for p in op.get("parameters", []):
                assert p.get("description") or p["in"] == "header", (method, path, p["name"])
    assert len(ids) == len(set(ids))
    assert {"get_health", "get_metrics", "list_symbols", "add_symbols", "remove_symbol", "get_latest",
            "get_history", "get_enriched", "get_narrative", "rag_search", "get_stream_stats",
            "run_console"} <= set(ids)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert {"ApiKey", "Bearer"} <= set(spec["components"]["securitySchemes"])
