"""Shared helpers of the benchmark scripts: one result format, one writer.

Each ``bench/<name>.py`` measures our code and a baseline in the same run, on the same
data, and calls :func:`write_result`. ``bench/report.py`` turns every
``bench/results/*.json`` into ``bench/README.md`` with a table and a chart.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: tuple[str, float] | None = None,
    target: tuple[str, float] | None = None,
    higher_is_better: bool = True,
    note: str | None = None,
) -> dict[str, Any]:
    """One measured figure.

    Parameters
    ----------
    name : str
        What was measured (``"lake write, 1M 1m bars"``).
    value : float
        The measurement.
    unit : str
        Its unit (``"rows/s"``, ``"ms"``…).
    baseline : (str, float), optional
        The floor or reference measured in the same run, in the same unit.
    target : (op, float), optional
        ``(">=", 1e6)`` or ``("<=", 12.0)``; with op ``"x<="`` the target is a ratio
        to the baseline (``("x<=", 2.0)``: at most 2× the baseline).
    higher_is_better : bool
        Direction of the figure (for the chart and the ratio).
    note : str, optional
        Anything a reader needs to interpret it.
    """
    passed: bool | None = None
    if target is not None:
        op, bound = target
        if op == ">=":
            passed = value >= bound
        elif op == "<=":
            passed = value <= bound
        elif op == "x<=" and baseline is not None and baseline[1] > 0:
            passed = value <= bound * baseline[1]
        elif op == "x>=" and baseline is not None and baseline[1] > 0:
            passed = value >= bound * baseline[1]
    return {
        "name": name,
        "value": float(value),
        "unit": unit,
        "baseline": {"name": baseline[0], "value": float(baseline[1])} if baseline else None,
        "target": {"op": target[0], "value": float(target[1])} if target else None,
        "passed": passed,
        "higher_is_better": higher_is_better,
        "note": note,
    }


def write_result(bench: str, figures: list[dict[str, Any]], **meta: Any) -> Path:
    """Write ``bench/results/<bench>.json`` and print a short summary."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "bench": bench,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "figures": figures,
        "meta": meta,
    }
    path = RESULTS / f"{bench}.json"
    path.write_text(json.dumps(doc, indent=2, default=str))
    for f in figures:
        base = f" (baseline {f['baseline']['name']}: {f['baseline']['value']:,.4g})" if f["baseline"] else ""
        ok = {True: " PASS", False: " MISS", None: ""}[f["passed"]]
        print(f"{bench}: {f['name']}: {f['value']:,.4g} {f['unit']}{base}{ok}")
    return path
