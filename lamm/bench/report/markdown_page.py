"""The Markdown page: the same sections as the HTML one, figures and example thumbnails written beside it
(``<stem>_files/``) and linked by relative path."""

from __future__ import annotations

from pathlib import Path

from lamm.bench.report.detail import detail_rows
from lamm.bench.report.examples import answer_text, examples, thumbnail
from lamm.bench.report.leaderboard import Group, Row, arrow, best, ci_text
from lamm.bench.report.training import Training
from lamm.tasks.reference import REFERENCE_SOURCE


def _md_cell(row: Row, key: str, top: float | None) -> str:
    v = row.values.get(key)
    if v is None:
        return "failed" if row.is_reference and key in row.values else row.missing.get(key, "—")
    s = f"{v:.2f}"
    s = f"**{s}**" if top is not None and abs(v - top) < 1e-9 else s
    ci = row.intervals.get(key)
    return f"{s} {ci_text(ci)}" if ci else s


def table_markdown(
    cols: list[tuple[str, str]], rows: list[Row], ranked: list[Row] | None = None
) -> list[str]:
    """A leaderboard-style table: a column per ``(key, metric)``, the best value per column of ``ranked``
    (default: every row) bold, reference and baseline rows in italics."""
    top = best(cols, rows if ranked is None else ranked)
    lines = [
        "| model | " + " | ".join(f"{k} ({m} {arrow(m)})" for k, m in cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    for row in rows:
        name = f"*{row.name}*" if row.kind != "run" else row.name
        lines.append(f"| {name} | " + " | ".join(_md_cell(row, k, top.get(k)) for k, _ in cols) + " |")
    return lines


def render_markdown(groups: list[Group], files: Path, rel: str, trainings: list[Training]) -> str:
    lines = ["# LAMM-Benchmark report", "",
             "Runs on different benchmarks are never compared; the paper's rows appear only beside runs on the "
             "real LAMM-Benchmark. Brackets: 95% confidence interval (Wilson for proportions, normal mean ± "
             "1.96·s/√n for MAE and other per-record means).", ""]  # fmt: skip
    for gi, g in enumerate(groups):
        lines += [f"## Leaderboard: {g.title}", ""]
        lines += table_markdown(g.cols, g.rows)
        lines += ["", "Values in percent (MAE for FSC147)."
                  + (f" Reference rows: {REFERENCE_SOURCE}." if g.ident.get("official") else
                     " LAMM-Mini is synthetic: no paper rows."), "",
                  f"![scores]({rel}/scores_{gi}.png)", ""]  # fmt: skip
        if (files / f"radar_{gi}.png").is_file():
            lines += [f"![radar]({rel}/radar_{gi}.png)", ""]
        for t in g.extra:
            lines += [f"### {t.title}", "", *table_markdown(t.cols, t.rows, t.ranked), ""]
            lines += [t.note, ""] if t.note else []
    if trainings:
        lines += [
            "## Training",
            "",
            "| run | checkpoint | training log | steps | last loss |",
            "|---|---|---|---|---|",
        ]
        for t in trainings:
            last = f"{t.loss[-1]:.4f}" if t.loss else "—"
            lines.append(f"| {t.run} | {t.checkpoint} | {t.log or 'not found'} | "
                         f"{t.steps[-1] if t.steps else '—'} | {last} |")  # fmt: skip
        if any(t.loss for t in trainings):
            lines += ["", f"![training curves]({rel}/training.png)"]
        lines.append("")
    for g in groups:
        lines += [f"## Per dataset: {g.title}", ""]
        for key in g.keys:
            lines += [f"### {key}", "", "| run | metric | value | 95% CI | scored | parse failures | skipped | answered |",
                      "|---|---|---|---|---|---|---|---|"]  # fmt: skip
            for name, _, d, ci, method in detail_rows(g, key):
                pfr, v = d.get("parse_failure_rate"), d.get("value")
                ci_s = "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}] {method}"
                skipped = d.get("skipped")
                lines.append(
                    f"| {name} | {d.get('metric', '—')} | {'—' if v is None else f'{v:.4f}'} | {ci_s} | "
                    f"{(d.get('score') or {}).get('n', '—')} | {'—' if pfr is None else f'{100 * pfr:.1f}%'} | "
                    f"{len(skipped) if isinstance(skipped, list) else '—'} | "
                    f"{d.get('n_answered', '—')}/{d.get('n_records', '—')} |"
                )
            lines.append("")
            for run in g.runs:
                if run.is_baseline:
                    continue
                for ex in examples(run, key, k=1):
                    png = thumbnail(ex["media"])
                    if png:
                        name = f"{run.name}_{key}_{ex['index']}.png".replace("(", "_").replace(")", "_")
                        (files / name).write_bytes(png)
                        lines.append(f"![{key} {ex['id']}]({rel}/{name})")
                    answer = answer_text(ex["text"])[:300].replace("\n", " ")
                    lines += [
                        f"*{run.name}*, record {ex['index']}: **Q:** {ex['query'][:200]!r} **A:** {answer!r} "
                        f"**ground truth:** {ex['truth'][:200]!r} — {ex['mark']}",
                        "",
                    ]
    return "\n".join(lines) + "\n"
