"""Metadata helpers: what the Dagster UI shows next to a materialization or a check.

Markdown tables for things people scan, PNG plots (matplotlib, embedded as base64 Markdown
images) where a picture says more, and table schemas from Arrow.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import dagster as dg
import pyarrow as pa

from jonbu_core.models import iso_z

logger = logging.getLogger(__name__)

_ARROW_TO_DAGSTER = {
    "string": "string",
    "large_string": "string",
    "double": "float",
    "float": "float",
    "int64": "int",
    "int32": "int",
    "bool": "bool",
    "date32[day]": "date",
}


def column_schema(schema: pa.Schema, descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    """A Dagster ``TableSchema`` from an Arrow schema (shown on the asset's overview)."""
    descriptions = descriptions or {}
    cols = []
    for field in schema:
        kind = _ARROW_TO_DAGSTER.get(str(field.type), "timestamp" if pa.types.is_timestamp(field.type) else str(field.type))
        cols.append(
            dg.TableColumn(
                name=field.name,
                type=kind,
                description=descriptions.get(field.name),
                constraints=dg.TableColumnConstraints(nullable=field.nullable),
            )
        )
    return dg.TableSchema(columns=cols)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (dicts)."""
    if not rows:
        return "_(no rows)_"
    cols = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def bars_preview(table: pa.Table, head: int = 5, tail: int = 5) -> str:
    """The first and last bars of ``table`` as a Markdown table (``…`` between them)."""
    cols = [c for c in ("ts", "open", "high", "low", "close", "volume", "trade_count", "vwap") if c in table.column_names]
    n = table.num_rows
    if n <= head + tail:
        return markdown_table(table.select(cols).to_pylist(), cols)
    top = table.slice(0, head).select(cols).to_pylist()
    bottom = table.slice(n - tail, tail).select(cols).to_pylist()
    gap = {c: "…" for c in cols}
    return markdown_table([*top, gap, *bottom], cols)


def price_plot(table: pa.Table, title: str) -> str | None:
    """A close-price line with volume bars below, as a Markdown image (``None`` without matplotlib)."""
    if table.num_rows == 0:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # matplotlib is optional (dev extra)
        return None
    ts = table.column("ts").to_pylist()
    close = table.column("close").to_pylist()
    volume = table.column("volume").to_pylist()
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(7, 3), dpi=80, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        ax1.plot(ts, close, linewidth=0.8, color="#2563eb")
        ax1.set_title(title, fontsize=9)
        ax1.tick_params(labelsize=7)
        ax1.grid(alpha=0.3)
        ax2.bar(ts, volume, width=0.0005 * max(1, len(ts) // 390), color="#94a3b8")
        ax2.tick_params(labelsize=7)
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, *, threshold: float | None = None) -> str | None:
    """A horizontal bar chart (e.g. coverage per symbol) as a Markdown image."""
    if not labels:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    height = max(1.5, 0.25 * len(labels) + 0.8)
    fig, ax = plt.subplots(figsize=(6, height), dpi=80)
    try:
        colors = ["#dc2626" if threshold is not None and v < threshold else "#16a34a" for v in values]
        ax.barh(list(labels), list(values), color=colors)
        if threshold is not None:
            ax.axvline(threshold, color="#111827", linestyle="--", linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.invert_yaxis()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def md(text: str | None) -> dg.MetadataValue | None:
    """``MetadataValue.md`` or ``None``."""
    return dg.MetadataValue.md(text) if text else None


def clean(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values (Dagster rejects them)."""
    return {k: v for k, v in metadata.items() if v is not None}
