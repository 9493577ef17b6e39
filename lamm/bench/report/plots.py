"""The report's figures (matplotlib, Agg, PNG bytes): radar, scores with 95% error bars, training curves.

Rows are :class:`~lamm.bench.report.leaderboard.Row` (name, kind, values, intervals); ``kind`` is ``run``,
``baseline`` or ``paper`` (drawn dashed / hatched: they are references, not results of this report).
"""

from __future__ import annotations

import io
import math
from typing import Any

from lamm.bench.report.leaderboard import LOWER_IS_BETTER, arrow

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
BASELINE_COLOR = "#7f7f7f"
PAPER_COLOR = "#c7c7c7"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _color(i: int, kind: str) -> str:
    return (
        BASELINE_COLOR if kind == "baseline" else PAPER_COLOR if kind == "paper" else COLORS[i % len(COLORS)]
    )


def plotted(v: float | None) -> float | None:
    """A leaderboard value as the charts draw it: ``None`` when missing or not finite (nothing to draw),
    0 when below 1e-9 (a BLEU-4 of 1e-230 is no score, not a bar or a spoke of its own)."""
    if v is None or not math.isfinite(v):
        return None
    return 0.0 if abs(v) < 1e-9 else v


def radar_points(axes: list[tuple[str, str]], rows: list[Any]) -> list[list[float]]:
    """Each row's radius per axis, in [0, 1]: its value over the best row's (the best over its value
    where lower is better, MAE). A row equal to the best is at 1, an error of 0 included; where the best
    of a higher-is-better axis is 0 (every row scored 0) every row is at 0; no value is 0."""
    out = [[0.0] * len(axes) for _ in rows]
    for j, (key, metric) in enumerate(axes):
        vals = [plotted(r.values.get(key)) for r in rows]
        present = [v for v in vals if v is not None]
        if not present:
            continue
        lower = metric in LOWER_IS_BETTER
        top = min(present) if lower else max(present)
        for i, v in enumerate(vals):
            if v is None:
                continue
            if lower:
                r = 1.0 if v <= top else top / v  # v > top >= 0 here
            else:
                r = v / top if top > 0 else 0.0
            out[i][j] = min(1.0, max(0.0, r))
    return out


def radar_png(cols: list[tuple[str, str]], rows: list[Any], title: str) -> bytes | None:
    """Radar of one benchmark's leaderboard, each axis scaled to its best row (MAE inverted), an axis
    where every row scores 0 labelled so; ``None`` with fewer than 3 datasets that any row has a value
    for (no polygon to draw)."""
    import numpy as np

    axes = [(k, m) for k, m in cols if any(plotted(r.values.get(k)) is not None for r in rows)]
    if len(axes) < 3:
        return None
    plt = _plt()
    fig = plt.figure(figsize=(6.4, 5.2), dpi=100)
    ax = fig.add_subplot(111, polar=True)
    angles = np.linspace(0, 2 * np.pi, len(axes), endpoint=False).tolist()
    for i, (row, pts) in enumerate(zip(rows, radar_points(axes, rows))):
        ref = row.kind != "run"
        ax.plot(angles + angles[:1], pts + pts[:1], linestyle="--" if ref else "-", linewidth=1.5,
                label=row.name, color=COLORS[i % len(COLORS)] if not ref else None)  # fmt: skip
        if not ref:
            ax.fill(angles + angles[:1], pts + pts[:1], alpha=0.15, color=COLORS[i % len(COLORS)])
    zero = {k for k, _ in axes if not any(plotted(r.values.get(k)) for r in rows)}
    ax.set_xticks(angles)
    ax.set_xticklabels([f"{k}\n(all 0)" if k in zero else k for k, _ in axes], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_yticklabels([])
    ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.1), fontsize=7)
    ax.set_title(f"{title}\nrelative to the best row per dataset (MAE inverted)", fontsize=9)
    return _png(fig)


def scores_png(cols: list[tuple[str, str]], rows: list[Any], title: str) -> bytes:
    """One panel per dataset: a bar per row with its 95% interval as an error bar."""
    plt = _plt()
    n = max(1, len(cols))
    ncols = min(4, n)
    nrows = (n + ncols - 1) // ncols
    fig, axs = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 0.5 + 0.32 * len(rows) * nrows + 0.9 * nrows),
                            dpi=100, squeeze=False)  # fmt: skip
    for ax in axs.flat[n:]:
        ax.set_axis_off()
    for ax, (key, metric) in zip(axs.flat, cols):
        names, vals, lo, hi, colors = [], [], [], [], []
        for i, row in enumerate(rows):
            v = plotted(row.values.get(key))
            if v is None:
                continue
            ci = row.intervals.get(key)
            names.append(row.name)
            vals.append(v)
            lo.append(max(0.0, v - ci[0]) if ci else 0.0)  # max: Wilson's end at 1.0 can round below it
            hi.append(max(0.0, ci[1] - v) if ci else 0.0)
            colors.append(_color(i, row.kind))
        y = list(range(len(vals)))[::-1]
        ax.barh(y, vals, color=colors, xerr=[lo, hi], capsize=3, error_kw={"elinewidth": 1.2})
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=7)
        ax.set_title(f"{key} ({metric} {arrow(metric)})", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        right = max([v + h for v, h in zip(vals, hi)], default=0.0)
        ax.set_xlim(0, right * 1.08 if right > 0 else 1.0)
        if not vals:
            ax.text(0.5, 0.5, "no value", ha="center", transform=ax.transAxes, fontsize=8)
    fig.suptitle(f"{title}: scores with 95% confidence intervals", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def curves_png(curves: list[tuple[str, list[int], list[float], list[float]]]) -> bytes:
    """Training loss (left) and learning rate (right) per step, one line per ``(name, steps, loss, lr)``."""
    plt = _plt()
    fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(10, 3.4), dpi=100)
    for i, (name, steps, loss, lr) in enumerate(curves):
        ax.plot(steps, loss, color=COLORS[i % len(COLORS)], linewidth=1, label=name)
        ax_lr.plot(steps, lr, color=COLORS[i % len(COLORS)], linewidth=1, label=name)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("training loss (mean per token)", fontsize=8)
    ax.set_yscale("log")
    ax_lr.set_xlabel("step", fontsize=8)
    ax_lr.set_ylabel("learning rate", fontsize=8)
    for a in (ax, ax_lr):
        a.tick_params(labelsize=7)
        a.legend(fontsize=7)
        a.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)
