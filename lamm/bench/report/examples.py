"""Example records for the per-dataset detail: the first answer scored wrong and the first scored right,
with query, ground truth, the answer, a right/wrong mark and a thumbnail of the image.

Apart from the tables because it reads the raw answer log and the benchmark files, not the scores.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from lamm.bench.report.runs import Run
from lamm.formats.benchmark import load_benchmark, media_file
from lamm.tasks import find_dataset


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
    """A ``size``-pixel PNG of an example's image; ``None`` for a point cloud or an unreadable file."""
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


def answer_text(text: Any) -> str:
    """An answer as shown: per-question answers (LSP joints) one per line."""
    if isinstance(text, dict):
        return "\n".join(f"{k}: {v}" for k, v in text.items())
    return str(text)
