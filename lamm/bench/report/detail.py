"""The per-dataset detail table's rows (metric, value, interval, parse failures, skipped, answered) of
one benchmark group, shared by the HTML and Markdown pages so both print the same intervals."""

from __future__ import annotations

from typing import Any

from lamm.bench.report.leaderboard import NOT_A_FRACTION, Group
from lamm.metrics.intervals import interval


def detail_rows(g: Group, key: str) -> list[tuple[str, str, dict[str, Any], tuple[float, float] | None, str]]:
    """(row name, kind, dataset entry, interval in metric units, method) of every row that has the key."""
    out = []
    for row in g.rows:
        d = row.entries.get(key)
        if not d:
            continue
        ci = interval(d, row.run.samples(key) if row.run else None) if row.run else None
        if row.run is None and key in row.intervals:  # computed baseline: intervals already in display units
            metric = d.get("metric")
            lo, hi = row.intervals[key]
            scale = 1.0 if metric in NOT_A_FRACTION else 100.0
            ci = (lo / scale, hi / scale, row.methods.get(key, ""))
        out.append((row.name, row.kind, d, ci[:2] if ci else None, ci[2] if ci else ""))
    return out
