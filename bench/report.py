"""Render ``bench/README.md`` (a table) and ``bench/results/*.png`` (charts) from the results.

Reads every ``bench/results/*.json``. Files written with ``bench/_common.write_result``
get the full table (value, baseline, ratio, target, pass); any other JSON is listed
as its numeric leaves so nothing measured is hidden.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:.3g}"


def _leaves(obj: Any, prefix: str = "") -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _leaves(v, f"{prefix}[{i}]")
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        out.append((prefix, float(obj)))
    return out


def _chart(bench: str, figures: list[dict[str, Any]]) -> str | None:
    paired = [f for f in figures if f.get("baseline") and f["baseline"]["value"]]
    if not paired:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(paired)))
    labels, ratios, colors = [], [], []
    for f in paired:
        r = f["value"] / f["baseline"]["value"]
        labels.append(f"{f['name']}\nvs {f['baseline']['name']}")
        ratios.append(r)
        good = (r >= 1) if f.get("higher_is_better", True) else (r <= 1)
        colors.append("#2e7d32" if good else "#c62828")
    ax.barh(range(len(paired)), ratios, color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(paired)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ours / baseline (same run, same data)")
    ax.set_title(f"{bench}: ratio to baseline")
    fig.tight_layout()
    path = RESULTS / f"{bench}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def main() -> None:
    """Write bench/README.md from bench/results/*.json."""
    lines = [
        "# Benchmarks",
        "",
        "`make bench` runs every `bench/*.py`; each compares our code with a baseline measured",
        "in the same run on the same data and writes `bench/results/<name>.json`; this page",
        "is generated from those files by `bench/report.py`.",
        "",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        doc = json.loads(path.read_text())
        bench = doc.get("bench", path.stem)
        lines += [f"## {bench}", ""]
        if doc.get("when"):
            lines += [f"Measured {doc['when']} on {doc.get('machine', {}).get('cpus', '?')} CPUs.", ""]
        figures = doc.get("figures")
        if isinstance(figures, list) and figures and isinstance(figures[0], dict) and "value" in figures[0]:
            lines += ["| figure | value | baseline | ratio | target | |", "|---|---|---|---|---|---|"]
            for f in figures:
                b = f.get("baseline")
                ratio = f"{f['value'] / b['value']:.2f}×" if b and b["value"] else ""
                base = f"{_fmt(b['value'])} ({b['name']})" if b else ""
                t = f.get("target")
                tgt = f"{t['op']} {_fmt(t['value'])}" if t else ""
                mark = {True: "✅", False: "❌", None: ""}[f.get("passed")]
                lines.append(f"| {f['name']} | {_fmt(f['value'])} {f['unit']} | {base} | {ratio} | {tgt} | {mark} |")
            png = _chart(bench, figures)
            if png:
                lines += ["", f"![{bench}](results/{png})"]
        else:
            lines += ["| metric | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in _leaves(doc)]
        lines.append("")
    (HERE / "README.md").write_text("\n".join(lines))
    print(f"wrote {HERE / 'README.md'}")


if __name__ == "__main__":
    main()
