"""Leaderboard reports across ``lamm eval`` runs: HTML (self-contained) or Markdown.

Contents: a leaderboard (runs + the paper's published zero-shot numbers as reference rows), a radar
chart (matplotlib, Agg), per-dataset detail (metric, scored records, parse-failure rate, skipped
records and why), and example answers next to their images.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lamm.formats.benchmark import load_benchmark, media_file
from lamm.protocol.datasets import DATASETS, find_dataset

# Published zero-shot numbers (percent; FSC147 is MAE, lower is better; None = "Failed" in the paper).
# Source: LAMM project documentation, "Comparison of Multimodal Large Language Models on 2D computer
# vision tasks" and "Results of 3D tasks by LAMM" (github.com/OpenLAMM/openlamm.github.io,
# docs/LAMM-Benchmark.md, commit c2b5855), the tables of the LAMM paper (arXiv:2306.06687).
# The paper labels VOC2012 "mAP" and SQAimage "Acc"; the official code computes recall@0.5 / accuracy.
REFERENCE_SOURCE = (
    "LAMM paper (arXiv:2306.06687) as published in the project documentation: "
    "github.com/OpenLAMM/openlamm.github.io docs/LAMM-Benchmark.md (zero-shot)"
)
REFERENCE: dict[str, dict[str, float | None]] = {
    "LLaVA": {
        "CIFAR10": 60.83, "VOC2012": 1.42, "SQAimage": 40.5, "AI2D": 18.13, "flickr30k": 6.65,
        "UCMerced": 47.0, "FSC147": 56.2, "SVT": 37.78, "CelebA(Smile)": None, "CelebA(Hair)": 46.42,
        "LSP": None, "Locating": 14.73,
    },
    "MiniGPT-4": {
        "CIFAR10": 46.22, "VOC2012": 0.92, "SQAimage": 43.43, "AI2D": None, "flickr30k": 5.1,
        "UCMerced": 33.6, "FSC147": None, "SVT": 16.97, "CelebA(Smile)": 66.36, "CelebA(Hair)": 43.47,
        "LSP": None, "Locating": 13.12,
    },
    "mPLUG-Owl": {
        "CIFAR10": 42.5, "VOC2012": 0.158, "SQAimage": 36.39, "AI2D": 19.31, "flickr30k": 2.74,
        "UCMerced": 32.5, "FSC147": 60.67, "SVT": 30.39, "CelebA(Smile)": None, "CelebA(Hair)": 40.93,
        "LSP": None, "Locating": 4.42,
    },
    "LAMM": {
        "CIFAR10": 37.9, "VOC2012": 7.20, "SQAimage": 49.88, "AI2D": 20.92, "flickr30k": 2.56,
        "UCMerced": 18.23, "FSC147": 46.88, "SVT": 29.14, "CelebA(Smile)": 57.60, "CelebA(Hair)": 56.96,
        "LSP": None, "Locating": 36.53, "ScanNet": 8.2, "ScanRefer": None, "ScanQA_multiplechoice": 24.90,
    },
}  # fmt: skip
LOWER_IS_BETTER = {"mae"}
NOT_A_FRACTION = {"mae", "bleu4"}  # lamm score reports MAE raw and BLEU-4 already x100
LOCATING = "Locating"  # pooled binary locating metric over the locating datasets (v1: correct / total)


@dataclass
class Run:
    name: str
    path: Path
    results: dict[str, Any]

    @property
    def datasets(self) -> dict[str, Any]:
        return self.results["datasets"]


def load_runs(paths: list[str | Path]) -> list[Run]:
    runs, seen = [], set()
    for p in map(Path, paths):
        f = p / "results.json"
        if not f.is_file():
            raise FileNotFoundError(f"{p}: no results.json (run `lamm eval` first)")
        name = p.resolve().name
        while name in seen:
            name += "'"
        seen.add(name)
        runs.append(Run(name, p, json.loads(f.read_text("utf-8"))))
    return runs


def display_value(metric: str | None, value: float | None) -> float | None:
    """Percent for ratios (as the paper prints them); MAE and BLEU-4 (already x100) as they are."""
    if value is None or metric is None:
        return None
    return value if metric in NOT_A_FRACTION else 100.0 * value


def locating_value(run: Run) -> float | None:
    c = t = 0
    for d in run.datasets.values():
        if d.get("mode") == "locating" and "score" in d:
            c += d["score"].get("correct", 0) or 0
            t += d["score"].get("total", 0) or 0
    return 100.0 * c / t if t else None


def columns(runs: list[Run]) -> list[tuple[str, str]]:
    """(column key, metric) in the official dataset order; a pooled locating column if any run has one."""
    metric: dict[str, str] = {}
    for run in runs:
        for key, d in run.datasets.items():
            if d.get("metric") and d.get("mode") == "common":
                metric.setdefault(key, d["metric"])
    cols = [(s.key, metric[s.key]) for s in DATASETS if s.key in metric]
    if any(d.get("mode") == "locating" for run in runs for d in run.datasets.values()):
        cols.append((LOCATING, "acc"))
    return cols


def table(runs: list[Run]) -> tuple[list[tuple[str, str]], list[tuple[str, bool, dict[str, float | None]]]]:
    """Columns and rows ``(name, is_reference, {column: display value})``."""
    cols = columns(runs)
    rows = []
    for run in runs:
        vals = {}
        for key, metric in cols:
            d = run.datasets.get(key)
            vals[key] = (
                locating_value(run) if key == LOCATING else display_value(metric, d and d.get("value"))
            )
        rows.append((run.name, False, vals))
    for name, ref in REFERENCE.items():
        if any(k in ref for k, _ in cols):
            # a missing key: not evaluated in the paper ("—"); None: reported as failed
            rows.append((f"{name} (paper)", True, {k: ref[k] for k, _ in cols if k in ref}))
    return cols, rows


def best(cols, rows) -> dict[str, float]:
    """Best value per column (none when every value is 0: nothing to highlight)."""
    out = {}
    for key, metric in cols:
        vals = [r[2][key] for r in rows if r[2].get(key) is not None]
        if vals and any(vals):
            out[key] = min(vals) if metric in LOWER_IS_BETTER else max(vals)
    return out


def radar_png(cols, rows) -> bytes:
    """Radar chart of the leaderboard, each axis scaled to its best row (MAE inverted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    axes = [(k, m) for k, m in cols if any(r[2].get(k) not in (None, 0) for r in rows)]
    fig = plt.figure(figsize=(6.4, 5.2), dpi=100)
    ax = fig.add_subplot(111, polar=True)
    if len(axes) >= 3:
        angles = np.linspace(0, 2 * np.pi, len(axes), endpoint=False).tolist()
        top = best(axes, rows)
        for name, is_ref, vals in rows:
            pts = []
            for k, m in axes:
                v = vals.get(k)
                if v is None or not top.get(k):
                    pts.append(0.0)
                elif m in LOWER_IS_BETTER:
                    pts.append(top[k] / v if v > 0 else 1.0)
                else:
                    pts.append(v / top[k])
            ax.plot(angles + angles[:1], pts + pts[:1], linestyle="--" if is_ref else "-", linewidth=1.5,
                    label=name)  # fmt: skip
            if not is_ref:
                ax.fill(angles + angles[:1], pts + pts[:1], alpha=0.15)
        ax.set_xticks(angles)
        ax.set_xticklabels([k for k, _ in axes], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_yticklabels([])
        ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.1), fontsize=7)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "radar needs 3+ scored datasets", ha="center", transform=ax.transAxes)
    ax.set_title("relative to the best row per dataset (MAE inverted)", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------- examples


def examples(run: Run, key: str, k: int = 2) -> list[dict[str, Any]]:
    """The first ``k`` answered records of a dataset with query, answer and media path."""
    d = run.datasets.get(key)
    bench = run.results["run"].get("benchmark_dir")
    log = run.path / "answers.jsonl"
    if not d or not bench or not log.is_file():
        return []
    spec = find_dataset(d["dataset"], d["mode"])
    rows = {}
    for line in log.open(encoding="utf-8"):
        r = json.loads(line)
        if r["dataset"] == key:
            rows[r["index"]] = r
            if len(rows) >= k:
                break
    if not rows:
        return []
    try:
        records = load_benchmark(bench, spec)
    except Exception:  # noqa: BLE001 - benchmark moved: examples without media
        records = []
    out = []
    for idx, r in sorted(rows.items()):
        rec = records[idx] if idx < len(records) else None
        media = None
        if rec is not None:
            try:
                media = media_file(bench, rec)
            except Exception:  # noqa: BLE001
                media = None
        out.append({"index": idx, "id": r["id"], "query": rec.query if rec else "", "text": r["text"],
                    "media": media, "modality": spec.media_key})  # fmt: skip
    return out


def thumbnail(path: Path | None, size: int = 128) -> bytes | None:
    if path is None or not path.is_file():
        return None
    try:
        from PIL import Image

        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = size / max(im.size)
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.NEAREST)
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            return buf.getvalue()
    except Exception:  # noqa: BLE001 - not an image (point cloud) or unreadable
        return None


def _answer_text(text: Any) -> str:
    if isinstance(text, dict):
        return "\n".join(f"{k}: {v}" for k, v in text.items())
    return str(text)


# ------------------------------------------------------------------------------------------------ write


def _fmt(v: float | None) -> str:
    return "failed" if v is None else f"{v:.2f}"


def _cell(v: float | None, top: float | None, ref: bool) -> str:
    if v is None:
        return "<td class='na'>—</td>" if not ref else "<td class='na'>failed</td>"
    s = f"{v:.2f}"
    return f"<td><b>{s}</b></td>" if top is not None and abs(v - top) < 1e-9 else f"<td>{s}</td>"


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left} tr.ref td{color:#666;font-style:italic;background:#f7f7f7}
td.na{color:#aaa} .small{font-size:12px;color:#555} pre{white-space:pre-wrap;margin:0;font-size:12px}
.ex{display:flex;gap:12px;align-items:flex-start;margin:8px 0;border:1px solid #eee;padding:8px}
.ex img{image-rendering:pixelated;border:1px solid #ccc}
"""


def render_html(runs: list[Run], radar: bytes) -> str:
    cols, rows = table(runs)
    top = best(cols, rows)
    e = html.escape
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>LAMM report</title><style>{CSS}</style>"
           "</head><body>", "<h1>LAMM-Benchmark report</h1>",
           f"<p class='small'>generated {datetime.now(timezone.utc).isoformat(timespec='seconds')}</p>"]  # fmt: skip
    out.append("<h2>Leaderboard</h2><table><tr><th>model</th>")
    for key, metric in cols:
        arrow = "↓" if metric in LOWER_IS_BETTER else "↑"
        out.append(f"<th>{e(key)}<br><span class='small'>{e(metric)} {arrow}</span></th>")
    out.append("</tr>")
    for name, ref, vals in rows:
        out.append(f"<tr class='{'ref' if ref else 'run'}'><td>{e(name)}</td>")
        out.extend(_cell(vals.get(k), top.get(k), ref and k in vals) for k, _ in cols)
        out.append("</tr>")
    out.append("</table>")
    out.append(
        "<p class='small'>Values in percent (MAE for FSC147). Reference rows: " + e(REFERENCE_SOURCE) + "; "
        "'failed' = reported as failed in the paper, '—' = not evaluated. Metrics are the official code's; "
        "where the paper's label differs (VOC2012 'mAP', SQAimage 'Acc', ScanNet 'mAP@0.5') compare with "
        "care.</p>"
    )
    out.append("<h2>Radar</h2>")
    out.append(f"<img alt='radar chart' src='data:image/png;base64,{base64.b64encode(radar).decode()}'>")

    out.append("<h2>Runs</h2><table><tr><th>run</th><th>model</th><th>adapter</th><th>decoding</th>"
               "<th>processes</th><th>git commit</th><th>finished</th></tr>")  # fmt: skip
    for run in runs:
        p = run.results["run"]
        dec = {k: v for k, v in p.get("decoding", {}).items() if k != "retry_report"}
        out.append(
            f"<tr><td>{e(run.name)}</td><td>{e(str(p.get('model')))}</td><td>{e(str(p.get('adapter')))}</td>"
            f"<td><pre>{e(json.dumps(dec))}</pre></td><td>{p.get('processes')}</td>"
            f"<td>{e(str(p.get('git_commit')))}</td><td>{e(str(p.get('finished')))}</td></tr>"
        )
    out.append("</table>")

    keys = [s.key for s in DATASETS if any(s.key in r.datasets for r in runs)]
    out.append("<h2>Per dataset</h2>")
    for key in keys:
        out.append(f"<h3>{e(key)}</h3><table><tr><th>run</th><th>metric</th><th>value</th><th>scored</th>"
                   "<th>parse failures</th><th>skipped</th><th>answered</th></tr>")  # fmt: skip
        for run in runs:
            d = run.datasets.get(key)
            if not d:
                continue
            pfr = d.get("parse_failure_rate")
            n = d.get("score", {}).get("n", "—")
            v = d.get("value")
            out.append(
                f"<tr><td>{e(run.name)}</td><td>{e(str(d.get('metric', '—')))}</td>"
                f"<td>{'—' if v is None else f'{v:.4f}'}</td><td>{n}</td>"
                f"<td>{'—' if pfr is None else f'{100 * pfr:.1f}%'}</td><td>{len(d['skipped'])}</td>"
                f"<td>{d['n_answered']}/{d['n_records']}</td></tr>"
            )
        out.append("</table>")
        for run in runs:
            skipped = run.datasets.get(key, {}).get("skipped", [])
            if skipped:
                items = "".join(
                    f"<li>{s['index']} ({e(str(s['id']))}): {e(s['error'])}</li>" for s in skipped[:20]
                )
                out.append(f"<details><summary class='small'>{e(run.name)}: {len(skipped)} skipped</summary>"
                           f"<ul class='small'>{items}</ul></details>")  # fmt: skip
        for run in runs:
            for ex in examples(run, key):
                png = thumbnail(ex["media"])
                img = (f"<img width='128' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                       if png else f"<span class='small'>{e(str(ex['media'] or ''))}</span>")  # fmt: skip
                out.append(
                    f"<div class='ex'>{img}<div><div class='small'>{e(run.name)} · record {ex['index']} "
                    f"({e(str(ex['id']))})</div><pre><b>Q:</b> {e(ex['query'][:400])}</pre>"
                    f"<pre><b>A:</b> {e(_answer_text(ex['text'])[:600])}</pre></div></div>"
                )
    out.append("</body></html>")
    return "\n".join(out)


def render_markdown(runs: list[Run], radar_name: str, files: Path, rel: str) -> str:
    cols, rows = table(runs)
    top = best(cols, rows)
    lines = ["# LAMM-Benchmark report", "", "## Leaderboard", ""]
    lines.append(
        "| model | " + " | ".join(f"{k} ({m} {'↓' if m in LOWER_IS_BETTER else '↑'})" for k, m in cols) + " |"
    )
    lines.append("|---" * (len(cols) + 1) + "|")
    for name, ref, vals in rows:
        cells = []
        for k, _ in cols:
            v = vals.get(k)
            s = ("failed" if ref and k in vals else "—") if v is None else f"{v:.2f}"
            cells.append(
                f"**{s}**" if v is not None and top.get(k) is not None and abs(v - top[k]) < 1e-9 else s
            )
        lines.append(f"| {'*' + name + '*' if ref else name} | " + " | ".join(cells) + " |")
    lines += ["", f"Values in percent (MAE for FSC147). Reference rows: {REFERENCE_SOURCE}.", "",
              f"![radar]({rel}/{radar_name})", "", "## Per dataset", ""]  # fmt: skip
    for key in [s.key for s in DATASETS if any(s.key in r.datasets for r in runs)]:
        lines += [f"### {key}", "", "| run | metric | value | scored | parse failures | skipped | answered |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for run in runs:
            d = run.datasets.get(key)
            if d:
                pfr, v = d.get("parse_failure_rate"), d.get("value")
                lines.append(
                    f"| {run.name} | {d.get('metric', '—')} | {'—' if v is None else f'{v:.4f}'} | "
                    f"{d.get('score', {}).get('n', '—')} | {'—' if pfr is None else f'{100 * pfr:.1f}%'} | "
                    f"{len(d['skipped'])} | {d['n_answered']}/{d['n_records']} |"
                )
        lines.append("")
        for run in runs:
            for ex in examples(run, key, k=1):
                png = thumbnail(ex["media"])
                if png:
                    name = f"{run.name}_{key}_{ex['index']}.png".replace("(", "_").replace(")", "_")
                    (files / name).write_bytes(png)
                    lines.append(f"![{key} {ex['id']}]({rel}/{name})")
                answer = _answer_text(ex["text"])[:300].replace("\n", " ")
                lines += [
                    f"*{run.name}*, record {ex['index']}: **Q:** {ex['query'][:200]!r} **A:** {answer!r}",
                    "",
                ]
    return "\n".join(lines) + "\n"


def write_report(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write ``out`` (``.html`` self-contained, ``.md`` with a sibling ``<stem>_files/`` folder)."""
    out = Path(out)
    runs = load_runs(run_dirs)
    cols, rows = table(runs)
    radar = radar_png(cols, rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = out.parent / f"{out.stem}_files"
    files.mkdir(exist_ok=True)
    (files / "radar.png").write_bytes(radar)
    if out.suffix == ".html":
        out.write_text(render_html(runs, radar), "utf-8")
    elif out.suffix == ".md":
        out.write_text(render_markdown(runs, "radar.png", files, files.name), "utf-8")
    else:
        raise ValueError(f"report must end in .html or .md, got {out.name}")
    return out


def leaderboard_text(run_dirs: list[str | Path]) -> str:
    """The leaderboard as plain text (for terminals)."""
    cols, rows = table(load_runs(run_dirs))
    head = ["model", *[k for k, _ in cols]]
    body = [
        [
            name,
            *[
                ("failed" if ref and k in vals else "-") if vals.get(k) is None else f"{vals[k]:.2f}"
                for k, _ in cols
            ],
        ]
        for name, ref, vals in rows
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *body])
