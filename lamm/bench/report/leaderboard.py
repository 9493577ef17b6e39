"""A benchmark group's leaderboard: runs grouped by the benchmark they evaluated, the columns (official
dataset order, a pooled locating column), and the rows (model runs, the trivial baseline, and beside
runs on the real LAMM-Benchmark only, the paper's zero-shot numbers) with 95% intervals in display units.

Everything a renderer needs to draw a table is here (:class:`Row`, :class:`Table`, :func:`best`,
:func:`ci_text`), so the HTML, Markdown and terminal pages and the charts agree on values and highlights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamm.bench.provenance import describe
from lamm.bench.report.baseline import TRIVIAL_NAME, trivial_baseline
from lamm.bench.report.runs import Run
from lamm.metrics.intervals import interval, wilson
from lamm.tasks import all_datasets, lower_is_better, not_a_fraction
from lamm.tasks import reference as paper

LOCATING = paper.LOCATING  # pooled binary locating metric over the locating datasets (v1: correct / total)
LOWER_IS_BETTER = lower_is_better()  # metric names where smaller wins (MAE), from the task files
NOT_A_FRACTION = not_a_fraction()  # lamm score reports MAE raw and BLEU-4 already x100


def reference_rows() -> dict[str, dict[str, float | None]]:
    """The paper's zero-shot numbers, model -> column -> value, from the task files (``reference``)."""
    rows: dict[str, dict[str, float | None]] = {m: {} for m in paper.MODELS}
    for spec in all_datasets():
        for model, value in spec.reference.items():
            rows.setdefault(model, {})[spec.key] = value
    for model, value in paper.LOCATING_REFERENCE.items():
        rows[model][LOCATING] = value
    return rows


REFERENCE = reference_rows()


def display_value(metric: str | None, value: float | None) -> float | None:
    """Percent for ratios (as the paper prints them); MAE and BLEU-4 (already x100) as they are."""
    if value is None or metric is None:
        return None
    return value if metric in NOT_A_FRACTION else 100.0 * value


def locating_counts(datasets: dict[str, Any]) -> tuple[int, int]:
    """(correct, total) pooled over the locating datasets of a ``results.json`` ``datasets`` table."""
    c = t = 0
    for d in datasets.values():
        if d.get("mode") == "locating" and "score" in d:
            c += d["score"].get("correct", 0) or 0
            t += d["score"].get("total", 0) or 0
    return c, t


@dataclass
class Row:
    """One leaderboard line: ``kind`` is ``run``, ``baseline`` (trivial answers) or ``paper``."""

    name: str
    kind: str
    values: dict[str, float | None]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # raw dataset entries (detail tables)
    methods: dict[str, str] = field(default_factory=dict)
    run: Run | None = None
    missing: dict[str, str] = field(default_factory=dict)  # why a cell has no value (shown for "—")

    @property
    def is_reference(self) -> bool:
        return self.kind == "paper"


@dataclass
class Table:
    """A titled table below a group's leaderboard (:mod:`lamm.bench.report.extra_tables`): rows under
    ``(column key, metric)`` columns, drawn by the same cell code as the leaderboard."""

    title: str
    cols: list[tuple[str, str]]
    rows: list[Row]
    note: str = ""
    bold_reference: bool = True  # False: reference rows (another benchmark) never hold the bold best

    @property
    def ranked(self) -> list[Row]:
        """The rows that compete for the best (bold) value of a column."""
        return self.rows if self.bold_reference else [r for r in self.rows if not r.is_reference]


@dataclass
class Group:
    """The runs on one benchmark and their leaderboard."""

    ident: dict[str, Any]
    runs: list[Run]
    cols: list[tuple[str, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    extra: list[Table] = field(default_factory=list)  # shown below the leaderboard, in this order

    @property
    def title(self) -> str:
        return describe(self.ident)

    @property
    def keys(self) -> list[str]:
        return [s.key for s in all_datasets() if any(s.key in r.datasets for r in self.runs)]


def columns(runs: list[Run]) -> list[tuple[str, str]]:
    """(column key, metric) in the official dataset order; a pooled locating column if any run has one."""
    metric: dict[str, str] = {}
    for run in runs:
        for key, d in run.datasets.items():
            if d.get("metric") and d.get("mode") == "common":
                metric.setdefault(key, d["metric"])
    cols = [(s.key, metric[s.key]) for s in all_datasets() if s.key in metric]
    if any(d.get("mode") == "locating" for run in runs for d in run.datasets.values()):
        cols.append((LOCATING, "acc"))
    return cols


def entry_row(name: str, kind: str, datasets: dict[str, Any], cols, samples, run: Run | None = None) -> Row:
    """A row from dataset entries (``results.json`` shape) and a ``key -> samples`` lookup."""
    row = Row(name, kind, {}, run=run, entries=dict(datasets))
    for key, metric in cols:
        if key == LOCATING:
            c, t = locating_counts(datasets)
            row.values[key] = 100.0 * c / t if t else None
            if t:
                lo, hi = wilson(c / t, t)
                row.intervals[key], row.methods[key] = (100.0 * lo, 100.0 * hi), "Wilson"
            continue
        d = datasets.get(key)
        row.values[key] = display_value(metric, d and d.get("value"))
    for key, d in datasets.items():
        ci = interval(d, samples(key)) if d.get("value") is not None else None
        if ci is not None:
            metric = d.get("metric")
            row.intervals[key] = (display_value(metric, ci[0]), display_value(metric, ci[1]))
            row.methods[key] = ci[2]
    return row


def group_runs(runs: list[Run]) -> list[Group]:
    """Runs grouped by benchmark (first-seen order), each with its leaderboard rows: model runs, the
    trivial baseline, and, on the real LAMM-Benchmark only, the paper's rows."""
    groups: dict[Any, Group] = {}
    for run in runs:
        ident = run.benchmark
        key = (ident.get("name"), ident.get("fingerprint") or ident.get("part"))
        groups.setdefault(key, Group(ident, [])).runs.append(run)
    for g in groups.values():
        g.cols = columns(g.runs)
        models = [r for r in g.runs if not r.is_baseline] or g.runs
        for run in models:
            g.rows.append(entry_row(run.name, "run", run.datasets, g.cols, run.samples, run))
        baselines = [r for r in g.runs if r.is_baseline and r not in models]
        for run in baselines:
            name = run.name if "trivial" in run.name else f"{run.name} (trivial baseline)"
            g.rows.append(entry_row(name, "baseline", run.datasets, g.cols, run.samples, run))
        bench = next((r.info.get("benchmark_dir") for r in g.runs if r.info.get("benchmark_dir")), None)
        if not baselines and bench and Path(bench).is_dir():
            try:
                triv = trivial_baseline(
                    bench, [k for k, _ in g.cols], g.runs[0].info.get("protocol") or "lamm"
                )
            except Exception:  # noqa: BLE001 - a benchmark folder that no longer scores: no baseline row
                triv = {}
            if triv:
                samples = {k: d.pop("samples") for k, d in triv.items()}
                g.rows.append(entry_row(TRIVIAL_NAME, "baseline", triv, g.cols, samples.get))
        if g.ident.get("official"):
            for name, ref in REFERENCE.items():
                if any(k in ref for k, _ in g.cols):
                    # a missing key: not evaluated in the paper ("—"); None: reported as failed
                    g.rows.append(Row(f"{name} (paper)", "paper", {k: ref[k] for k, _ in g.cols if k in ref}))
    return list(groups.values())


def table(runs: list[Run]) -> tuple[list[tuple[str, str]], list[Row]]:
    """Columns and rows of a single-benchmark report (the first group's)."""
    g = group_runs(runs)[0]
    return g.cols, g.rows


def best(cols: list[tuple[str, str]], rows: list[Any]) -> dict[str, float]:
    """Best value per column (none when every value is 0: nothing to highlight)."""
    out = {}
    for key, metric in cols:
        vals = [r.values[key] for r in rows if r.values.get(key) is not None]
        if vals and any(vals):
            out[key] = min(vals) if metric in LOWER_IS_BETTER else max(vals)
    return out


def arrow(metric: str) -> str:
    """The column header's direction mark: ↓ where smaller wins (MAE), else ↑."""
    return "↓" if metric in LOWER_IS_BETTER else "↑"


def ci_text(ci: tuple[float, float] | None) -> str:
    """An interval in display units as the leaderboards print it."""
    return "" if ci is None else f"[{ci[0]:.1f}, {ci[1]:.1f}]"
