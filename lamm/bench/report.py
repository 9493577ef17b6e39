"""Leaderboard reports across ``lamm eval`` runs: HTML (self-contained) or Markdown.

Runs are grouped by the benchmark they evaluated (:mod:`lamm.bench.provenance`): LAMM-Mini and the real
LAMM-Benchmark never share a leaderboard or a chart, and the paper's published zero-shot numbers are
reference rows only beside runs on the real benchmark. Per benchmark: a leaderboard with 95% confidence
intervals (:mod:`lamm.metrics.intervals`), the trivial baseline of every dataset that has one (a baseline
run of the group, else computed here from the benchmark files), a radar and a bar chart with error bars.
Then the runs' provenance, training curves of models trained by ``lamm train`` (checkpoint ->
``train_log.jsonl``), per-dataset detail (metric, interval, parse failures, skipped records and why) and
example records with their ground truth, the answer and whether it was scored right.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lamm.bench import report_plots as plots
from lamm.bench.provenance import describe, identify_benchmark, training_provenance
from lamm.formats.benchmark import load_benchmark, media_file
from lamm.metrics.intervals import interval, wilson
from lamm.tasks import all_datasets, find_dataset, not_a_fraction
from lamm.tasks import reference as tasks

REFERENCE_SOURCE = tasks.REFERENCE_SOURCE
LOCATING = tasks.LOCATING  # pooled binary locating metric over the locating datasets (v1: correct / total)


def reference_rows() -> dict[str, dict[str, float | None]]:
    """The paper's zero-shot numbers, model -> column -> value, from the task files (``reference``)."""
    rows: dict[str, dict[str, float | None]] = {m: {} for m in tasks.MODELS}
    for spec in all_datasets():
        for model, value in spec.reference.items():
            rows.setdefault(model, {})[spec.key] = value
    for model, value in tasks.LOCATING_REFERENCE.items():
        rows[model][LOCATING] = value
    return rows


REFERENCE = reference_rows()
LOWER_IS_BETTER = plots.LOWER_IS_BETTER
NOT_A_FRACTION = not_a_fraction()  # lamm score reports MAE raw and BLEU-4 already x100


TRIVIAL_NAME = "trivial baseline"


@dataclass
class Run:
    name: str
    path: Path
    results: dict[str, Any]
    _samples: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict, repr=False)

    @property
    def datasets(self) -> dict[str, Any]:
        return self.results["datasets"]

    @property
    def info(self) -> dict[str, Any]:
        return self.results.get("run", {})

    @property
    def is_baseline(self) -> bool:
        return self.info.get("adapter") == "baseline"

    @property
    def benchmark(self) -> dict[str, Any]:
        """The recorded benchmark identity; recomputed for runs made before it was recorded."""
        ident = self.info.get("benchmark")
        if ident:
            return ident
        bench = self.info.get("benchmark_dir")
        if bench and Path(bench).is_dir():
            return identify_benchmark(bench)
        return {"name": "unknown benchmark", "official": False, "part": str(bench), "fingerprint": None}

    def samples(self, key: str) -> list[dict[str, Any]] | None:
        """Per-record scores (``scores/<dataset>.json``, written by ``lamm eval``)."""
        if key not in self._samples:
            f = self.path / "scores" / f"{key}.json"
            self._samples[key] = json.loads(f.read_text("utf-8")) if f.is_file() else None
        return self._samples[key]


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


def locating_counts(datasets: dict[str, Any]) -> tuple[int, int]:
    c = t = 0
    for d in datasets.values():
        if d.get("mode") == "locating" and "score" in d:
            c += d["score"].get("correct", 0) or 0
            t += d["score"].get("total", 0) or 0
    return c, t


def locating_value(run: Run) -> float | None:
    c, t = locating_counts(run.datasets)
    return 100.0 * c / t if t else None


# ------------------------------------------------------------------------------------------ tables


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

    @property
    def is_reference(self) -> bool:
        return self.kind == "paper"


@dataclass
class Group:
    """The runs on one benchmark and their leaderboard."""

    ident: dict[str, Any]
    runs: list[Run]
    cols: list[tuple[str, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

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


def _entry_row(name: str, kind: str, datasets: dict[str, Any], cols, samples, run: Run | None = None) -> Row:
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


def trivial_baseline(bench: str | Path, keys: list[str], protocol: str = "lamm") -> dict[str, Any]:
    """Score the trivial baseline (:mod:`lamm.bench.eval.adapters.baseline`) on the datasets of ``keys``
    that have one; ``{key: entry with value, score and samples}``."""
    from lamm.bench.eval.adapters.baseline import TrivialBaseline
    from lamm.bench.score import score_dataset

    specs = [s for s in all_datasets() if s.key in keys and s.mode == "common" and s.baseline]
    base = TrivialBaseline()
    base.prepare(bench, specs)
    out = {}
    for spec in specs:
        answers = [{"id": r.id, "text": base.replay(spec, r)} for r in load_benchmark(bench, spec)]
        score = score_dataset(bench, spec, answers, protocol=protocol, on_error="skip")
        out[spec.key] = {"dataset": spec.name, "mode": spec.mode, "metric": score["metric"],
                         "value": score["value"], "score": score, "samples": score.pop("samples", None)}  # fmt: skip
    return out


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
            g.rows.append(_entry_row(run.name, "run", run.datasets, g.cols, run.samples, run))
        baselines = [r for r in g.runs if r.is_baseline and r not in models]
        for run in baselines:
            name = run.name if "trivial" in run.name else f"{run.name} (trivial baseline)"
            g.rows.append(_entry_row(name, "baseline", run.datasets, g.cols, run.samples, run))
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
                g.rows.append(_entry_row(TRIVIAL_NAME, "baseline", triv, g.cols, samples.get))
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


best = plots.best


# --------------------------------------------------------------------------------------------- examples


def mark(metric: str | None, sample: dict[str, Any] | None) -> tuple[str, str]:
    """``(css class, text)``: right / wrong for 0/1 scores, the error for MAE, the score otherwise."""
    if not sample or not isinstance(sample.get("score"), (int, float)):
        return "na", "not scored"
    s = sample["score"]
    note = " (unparsed)" if sample.get("failed") else ""
    if metric == "mae":
        return ("right", "✓ exact count") if s == 0 else ("wrong", f"✗ off by {s:g}{note}")
    if s in (0, 1):
        return ("right", "✓ right") if s == 1 else ("wrong", f"✗ wrong{note}")
    return "part", f"score {s:.2f}{note}"


def examples(run: Run, key: str, k: int = 2) -> list[dict[str, Any]]:
    """Up to ``k`` answered records of a dataset (the first scored wrong and the first scored right
    when there are both, else the first ones) with query, answer, ground truth, mark and media path."""
    d = run.datasets.get(key)
    bench = run.info.get("benchmark_dir")
    log = run.path / "answers.jsonl"
    if not d or not bench or not log.is_file():
        return []
    spec = find_dataset(d["dataset"], d["mode"])
    rows = {}
    for line in log.open(encoding="utf-8"):
        r = json.loads(line)
        if r.get("dataset") == key:
            rows.setdefault(r["index"], r)
    if not rows:
        return []
    scored = {s["index"]: s for s in run.samples(key) or [] if "index" in s}
    marks = {i: mark(d.get("metric"), scored.get(i))[0] for i in rows}
    picks = [next((i for i in sorted(rows) if marks[i] == m), None) for m in ("wrong", "right")]
    picks = [i for i in picks if i is not None]
    picks += [i for i in sorted(rows) if i not in picks][: max(0, k - len(picks))]
    try:
        records = load_benchmark(bench, spec)
    except Exception:  # noqa: BLE001 - benchmark moved: examples without media and ground truth
        records = []
    out = []
    for idx in sorted(picks[:k]):
        r, rec = rows[idx], records[idx] if idx < len(records) else None
        media = None
        if rec is not None:
            try:
                media = media_file(bench, rec)
            except Exception:  # noqa: BLE001
                media = None
        cls, text = mark(d.get("metric"), scored.get(idx))
        out.append({"index": idx, "id": r["id"], "query": rec.query if rec else "", "text": r["text"],
                    "media": media, "modality": spec.media_key, "mark": text, "mark_class": cls,
                    "truth": spec.truth_words(rec.raw) if rec else "(benchmark record not found)"})  # fmt: skip
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


# ------------------------------------------------------------------------------------------- training


@dataclass
class Training:
    run: str
    checkpoint: str
    log: str | None
    steps: list[int]
    loss: list[float]
    lr: list[float]


def training(run: Run) -> Training | None:
    """The ``lamm train`` log behind a ``lamm:`` model (recorded by ``lamm eval``, else looked up)."""
    t = run.info.get("training") or training_provenance(run.info.get("model"))
    if not t:
        return None
    steps, loss, lr = [], [], []
    log = t.get("train_log")
    if log and Path(log).is_file():
        for line in Path(log).open(encoding="utf-8"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line of a killed run
            if isinstance(rec.get("loss"), (int, float)):
                steps.append(int(rec.get("step", len(steps) + 1)))
                loss.append(float(rec["loss"]))
                lr.append(float(rec.get("lr") or 0.0))
    return Training(run.name, t.get("checkpoint", ""), log if steps else None, steps, loss, lr)


# ------------------------------------------------------------------------------------------------ write


def _fmt(v: float | None) -> str:
    return "failed" if v is None else f"{v:.2f}"


def _ci_text(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.1f}, {ci[1]:.1f}]"


def _cell(row: Row, key: str, top: float | None) -> str:
    v = row.values.get(key)
    if v is None:
        return (
            "<td class='na'>failed</td>"
            if row.is_reference and key in row.values
            else "<td class='na'>—</td>"
        )
    s = f"{v:.2f}"
    s = f"<b>{s}</b>" if top is not None and abs(v - top) < 1e-9 else s
    ci = row.intervals.get(key)
    return f"<td>{s}<br><span class='ci'>{_ci_text(ci)}</span></td>" if ci else f"<td>{s}</td>"


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd} h3{font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left} tr.paper td{color:#666;font-style:italic;background:#f7f7f7}
tr.baseline td{color:#555;background:#fbf7ea} td.na{color:#aaa} .small{font-size:12px;color:#555}
.ci{font-size:11px;color:#777} pre{white-space:pre-wrap;margin:0;font-size:12px}
.bench{border-left:4px solid #1f77b4;padding-left:12px;margin-top:20px}
.ex{display:flex;gap:12px;align-items:flex-start;margin:8px 0;border:1px solid #eee;padding:8px}
.ex img{image-rendering:pixelated;border:1px solid #ccc} img{max-width:100%}
.right{color:#1a7f37;font-weight:bold} .wrong{color:#c62828;font-weight:bold} .part{color:#a15c00}
"""


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _detail_rows(
    g: Group, key: str
) -> list[tuple[str, str, dict[str, Any], tuple[float, float] | None, str]]:
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


def render_html(groups: list[Group], figures: dict[str, dict[str, bytes]], runs: list[Run],
                trainings: list[Training], curves: bytes | None) -> str:  # fmt: skip
    e = html.escape
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>LAMM report</title><style>{CSS}</style>"
           "</head><body>", "<h1>LAMM-Benchmark report</h1>",
           f"<p class='small'>generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} · "
           f"{len(runs)} run(s) on {len(groups)} benchmark(s). Runs on different benchmarks are never compared: "
           "each benchmark has its own leaderboard and charts; the paper's rows appear only beside runs on the "
           "real LAMM-Benchmark. Brackets: 95% confidence interval over the benchmark's records (Wilson for "
           "accuracies and other proportions, normal mean ± 1.96·s/√n for MAE and other per-record means; none "
           "for corpus metrics such as BLEU-4).</p>"]  # fmt: skip
    for gi, g in enumerate(groups):
        top = best(g.cols, g.rows)
        out.append(f"<div class='bench' id='bench-{gi}'><h2>Leaderboard: {e(g.title)}</h2>")
        if not g.ident.get("official"):
            out.append("<p class='small'>A synthetic benchmark generated by lamm (LAMM-Mini): its numbers are "
                       "not comparable with the paper's, so no paper rows are shown.</p>")  # fmt: skip
        out.append("<table><tr><th>model</th>")
        for key, metric in g.cols:
            arrow = "↓" if metric in LOWER_IS_BETTER else "↑"
            out.append(f"<th>{e(key)}<br><span class='small'>{e(metric)} {arrow}</span></th>")
        out.append("</tr>")
        for row in g.rows:
            out.append(f"<tr class='{row.kind}'><td>{e(row.name)}</td>")
            out.extend(_cell(row, k, top.get(k)) for k, _ in g.cols)
            out.append("</tr>")
        out.append("</table>")
        note = ("Values in percent (MAE for FSC147). Trivial baseline: majority label, random option, mean "
                "count, mean box, scored like a model.")  # fmt: skip
        if g.ident.get("official"):
            note += (f" Reference rows: {REFERENCE_SOURCE}; 'failed' = reported as failed in the paper, '—' = "
                     "not evaluated. Metrics are the official code's; where the paper's label differs (VOC2012 "
                     "'mAP', SQAimage 'Acc', ScanNet 'mAP@0.5') compare with care.")  # fmt: skip
        out.append(f"<p class='small'>{e(note)}</p>")
        out.append(
            "<h3>Scores with 95% confidence intervals</h3>" + _img(figures[str(gi)]["scores"], "scores")
        )
        if "radar" in figures[str(gi)]:
            out.append("<h3>Radar</h3>" + _img(figures[str(gi)]["radar"], "radar chart"))
        out.append("</div>")

    out.append("<h2>Runs</h2><table><tr><th>run</th><th>benchmark</th><th>model</th><th>adapter</th>"
               "<th>decoding</th><th>processes</th><th>git commit</th><th>finished</th></tr>")  # fmt: skip
    for run in runs:
        p = run.info
        dec = {k: v for k, v in p.get("decoding", {}).items() if k != "retry_report"}
        out.append(
            f"<tr><td>{e(run.name)}</td><td>{e(describe(run.benchmark))}</td><td>{e(str(p.get('model')))}</td>"
            f"<td>{e(str(p.get('adapter')))}</td><td><pre>{e(json.dumps(dec))}</pre></td><td>{p.get('processes')}</td>"
            f"<td>{e(str(p.get('git_commit')))}</td><td>{e(str(p.get('finished')))}</td></tr>"
        )
    out.append("</table>")

    if trainings:
        out.append("<h2>Training</h2><table><tr><th>run</th><th>checkpoint</th><th>training log</th>"
                   "<th>steps</th><th>first loss</th><th>last loss</th></tr>")  # fmt: skip
        for t in trainings:
            first = f"{t.loss[0]:.4f}" if t.loss else "—"
            last = f"{t.loss[-1]:.4f}" if t.loss else "—"
            out.append(f"<tr><td>{e(t.run)}</td><td>{e(t.checkpoint)}</td><td>{e(t.log or 'not found')}</td>"
                       f"<td>{t.steps[-1] if t.steps else '—'}</td><td>{first}</td><td>{last}</td></tr>")  # fmt: skip
        out.append("</table>")
        if curves:
            out.append(_img(curves, "training curves"))

    for g in groups:
        out.append(f"<h2>Per dataset: {e(g.title)}</h2>")
        for key in g.keys:
            out.append(f"<h3>{e(key)}</h3><table><tr><th>run</th><th>metric</th><th>value</th><th>95% CI</th>"
                       "<th>scored</th><th>parse failures</th><th>skipped</th><th>answered</th></tr>")  # fmt: skip
            for name, kind, d, ci, method in _detail_rows(g, key):
                pfr = d.get("parse_failure_rate", (d.get("score") or {}).get("parse_failure_rate"))
                n = (d.get("score") or {}).get("n", "—")
                v = d.get("value")
                ci_s = (
                    "—"
                    if ci is None
                    else f"[{ci[0]:.4f}, {ci[1]:.4f}] <span class='small'>{e(method)}</span>"
                )
                skipped = d.get("skipped")
                out.append(
                    f"<tr class='{kind}'><td>{e(name)}</td><td>{e(str(d.get('metric', '—')))}</td>"
                    f"<td>{'—' if v is None else f'{v:.4f}'}</td><td>{ci_s}</td><td>{n}</td>"
                    f"<td>{'—' if pfr is None else f'{100 * pfr:.1f}%'}</td>"
                    f"<td>{len(skipped) if isinstance(skipped, list) else '—'}</td>"
                    f"<td>{d.get('n_answered', '—')}/{d.get('n_records', '—')}</td></tr>"
                )
            out.append("</table>")
            for run in g.runs:
                skipped = run.datasets.get(key, {}).get("skipped", [])
                if skipped:
                    items = "".join(
                        f"<li>{s['index']} ({e(str(s['id']))}): {e(s['error'])}</li>" for s in skipped[:20]
                    )
                    out.append(f"<details><summary class='small'>{e(run.name)}: {len(skipped)} skipped</summary>"
                               f"<ul class='small'>{items}</ul></details>")  # fmt: skip
            for run in g.runs:
                if run.is_baseline:
                    continue
                for ex in examples(run, key):
                    png = thumbnail(ex["media"])
                    img = (f"<img width='128' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                           if png else f"<span class='small'>{e(str(ex['media'] or ''))}</span>")  # fmt: skip
                    out.append(
                        f"<div class='ex'>{img}<div><div class='small'>{e(run.name)} · record {ex['index']} "
                        f"({e(str(ex['id']))}) · <span class='{ex['mark_class']}'>{e(ex['mark'])}</span></div>"
                        f"<pre><b>Q:</b> {e(ex['query'][:400])}</pre>"
                        f"<pre><b>A:</b> {e(_answer_text(ex['text'])[:600])}</pre>"
                        f"<pre><b>Ground truth:</b> {e(ex['truth'][:400])}</pre></div></div>"
                    )
    out.append("</body></html>")
    return "\n".join(out)


def _md_cell(row: Row, key: str, top: float | None) -> str:
    v = row.values.get(key)
    if v is None:
        return "failed" if row.is_reference and key in row.values else "—"
    s = f"{v:.2f}"
    s = f"**{s}**" if top is not None and abs(v - top) < 1e-9 else s
    ci = row.intervals.get(key)
    return f"{s} {_ci_text(ci)}" if ci else s


def render_markdown(groups: list[Group], files: Path, rel: str, trainings: list[Training]) -> str:
    lines = ["# LAMM-Benchmark report", "",
             "Runs on different benchmarks are never compared; the paper's rows appear only beside runs on the "
             "real LAMM-Benchmark. Brackets: 95% confidence interval (Wilson for proportions, normal mean ± "
             "1.96·s/√n for MAE and other per-record means).", ""]  # fmt: skip
    for gi, g in enumerate(groups):
        top = best(g.cols, g.rows)
        lines += [f"## Leaderboard: {g.title}", ""]
        lines.append(
            "| model | "
            + " | ".join(f"{k} ({m} {'↓' if m in LOWER_IS_BETTER else '↑'})" for k, m in g.cols)
            + " |"
        )
        lines.append("|---" * (len(g.cols) + 1) + "|")
        for row in g.rows:
            name = f"*{row.name}*" if row.kind != "run" else row.name
            lines.append(f"| {name} | " + " | ".join(_md_cell(row, k, top.get(k)) for k, _ in g.cols) + " |")
        lines += ["", "Values in percent (MAE for FSC147)."
                  + (f" Reference rows: {REFERENCE_SOURCE}." if g.ident.get("official") else
                     " LAMM-Mini is synthetic: no paper rows."), "",
                  f"![scores]({rel}/scores_{gi}.png)", ""]  # fmt: skip
        if (files / f"radar_{gi}.png").is_file():
            lines += [f"![radar]({rel}/radar_{gi}.png)", ""]
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
            for name, _, d, ci, method in _detail_rows(g, key):
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
                    answer = _answer_text(ex["text"])[:300].replace("\n", " ")
                    lines += [
                        f"*{run.name}*, record {ex['index']}: **Q:** {ex['query'][:200]!r} **A:** {answer!r} "
                        f"**ground truth:** {ex['truth'][:200]!r} — {ex['mark']}",
                        "",
                    ]
    return "\n".join(lines) + "\n"


def write_report(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write ``out`` (``.html`` self-contained, ``.md`` with a sibling ``<stem>_files/`` folder holding
    the figures, which the HTML also embeds)."""
    out = Path(out)
    if out.suffix not in (".html", ".md"):
        raise ValueError(f"report must end in .html or .md, got {out.name}")
    runs = load_runs(run_dirs)
    groups = group_runs(runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = out.parent / f"{out.stem}_files"
    files.mkdir(exist_ok=True)
    figures: dict[str, dict[str, bytes]] = {}
    for gi, g in enumerate(groups):
        radar = plots.radar_png(g.cols, g.rows, g.title)
        figures[str(gi)] = {
            "scores": plots.scores_png(g.cols, g.rows, g.title),
            **({"radar": radar} if radar else {}),
        }
        (files / f"radar_{gi}.png").unlink(missing_ok=True)  # none this time: no stale one from a rerun
        for name, png in figures[str(gi)].items():
            (files / f"{name}_{gi}.png").write_bytes(png)
    trainings = [t for t in (training(r) for r in runs) if t is not None]
    curves = None
    if any(t.loss for t in trainings):
        curves = plots.curves_png([(t.run, t.steps, t.loss, t.lr) for t in trainings if t.loss])
        (files / "training.png").write_bytes(curves)
    if out.suffix == ".html":
        out.write_text(render_html(groups, figures, runs, trainings, curves), "utf-8")
    else:
        out.write_text(render_markdown(groups, files, files.name, trainings), "utf-8")
    return out


def leaderboard_text(run_dirs: list[str | Path]) -> str:
    """The leaderboards as plain text (for terminals), one per benchmark."""
    blocks = []
    for g in group_runs(load_runs(run_dirs)):
        head = ["model", *[k for k, _ in g.cols]]
        body = [
            [
                row.name,
                *[
                    ("failed" if row.is_reference and k in row.values else "-")
                    if row.values.get(k) is None
                    else f"{row.values[k]:.2f}"
                    for k, _ in g.cols
                ],
            ]
            for row in g.rows
        ]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        table_text = "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *body]
        )
        blocks.append(f"{g.title}\n{table_text}")
    return "\n\n".join(blocks)
