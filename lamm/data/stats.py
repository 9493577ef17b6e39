"""Statistics of LAMM instruction files: ``lamm data stats FILE... [--out DIR]``.

Counts per task type, source and file; turns and token lengths (with a histogram PNG); and an HTML page
with a few rendered examples next to their images (2D) or a top view of their point clouds (3D), so a
built data set can be eyeballed before anyone trains on it.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from lamm.formats import InstructSample, read_instruct
from lamm.formats.errors import FormatError
from lamm.formats.paths import data_root, media_root, prefer_unions, resolve_media

_WORD = re.compile(r"\w+|[^\w\s]")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, help="instruction meta files (.json) or folders of them")
    p.add_argument("--out", type=Path, default=None, help="where stats.json, lengths.png, examples.html go "
                   "(default: <root>/stats, beside the first file's meta_file/)")  # fmt: skip
    p.add_argument("--root", type=Path, default=None, help="media root (default: the build manifest's data_root, "
                   "else the parent of meta_file/)")  # fmt: skip
    p.add_argument("--examples", type=int, default=8, help="examples rendered in the HTML page")
    p.add_argument("--tokenizer", default=None, help="local Hugging Face tokenizer folder for token counts "
                   "(default: word/punctuation pieces)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = prefer_unions(sorted(p.glob("*.json")) or sorted((p / "meta_file").glob("*.json")))
            if not found:
                raise FormatError(p, "no .json meta files in this folder")
            out += found
        else:
            out.append(p)
    return out


def _counter(tokenizer: str | None):
    if tokenizer is None:
        return lambda text: len(_WORD.findall(text))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def _dist(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values)
    return {"min": int(a.min()), "mean": round(float(a.mean()), 2), "median": float(np.median(a)),
            "p95": float(np.percentile(a, 95)), "max": int(a.max())}  # fmt: skip


def compute(samples: list[tuple[Path, InstructSample]], count_tokens) -> dict[str, Any]:
    turns, tokens, gpt_tokens = [], [], []
    for _, s in samples:
        turns.append(len(s.conversations))
        n = [count_tokens(t["value"].replace("<image>", "")) for t in s.conversations]
        tokens.append(sum(n))
        gpt_tokens.append(sum(k for k, t in zip(n, s.conversations) if t["from"] == "gpt"))
    src = Counter(str(s.extra.get("src_image", s.extra.get("src_dataset", "unknown"))) for _, s in samples)
    return {
        "samples": len(samples),
        "by_file": dict(Counter(str(p) for p, _ in samples)),
        "by_task_type": dict(sorted(Counter(s.task_type for _, s in samples).items())),
        "by_source": dict(sorted(src.items())),
        "by_modality": dict(sorted(Counter(s.media_key for _, s in samples).items())),
        "unique_media": len({(s.media_key, s.media) for _, s in samples}),
        "turns": _dist(turns),
        "rounds_histogram": dict(sorted(Counter(t // 2 for t in turns).items())),
        "tokens": _dist(tokens),
        "gpt_tokens": _dist(gpt_tokens),
        "_tokens": tokens,
        "_turns": turns,
    }


def _histogram_png(stats: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].hist(stats["_tokens"], bins=min(50, max(5, len(set(stats["_tokens"])))), color="#4a7ab5")
    axes[0].set(title="tokens per sample", xlabel="tokens", ylabel="samples")
    rounds = stats["rounds_histogram"]
    axes[1].bar([str(k) for k in rounds], list(rounds.values()), color="#b5804a")
    axes[1].set(title="rounds per sample", xlabel="human/gpt rounds", ylabel="samples")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _thumb(path: Path, key: str) -> str:
    """An inline PNG: the image scaled to 256 px, or an x-y scatter of a point cloud. Empty if unreadable."""
    try:
        buf = io.BytesIO()
        if key == "image":
            from PIL import Image

            with Image.open(path) as im:
                im = im.convert("RGB")
                im.thumbnail((256, 256))
                im.save(buf, format="PNG")
        else:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            pts = np.load(path, allow_pickle=False)
            pts = pts[np.random.default_rng(0).choice(len(pts), min(len(pts), 4000), replace=False)]
            fig, ax = plt.subplots(figsize=(2.6, 2.6))
            ax.scatter(pts[:, 0], pts[:, 1], s=1, c=pts[:, 2], cmap="viridis")
            ax.set_aspect("equal")
            ax.set_axis_off()
            fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
            plt.close(fig)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    except (OSError, ValueError, IndexError):
        return ""


def _html(stats: dict[str, Any], examples: list[tuple[Path, InstructSample]], roots: dict[Path, Path]) -> str:
    e = html.escape

    def table(title: str, d: dict) -> str:
        rows = "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in d.items())
        return f"<h3>{e(title)}</h3><table>{rows}</table>"

    parts = [
        "<!doctype html><meta charset='utf-8'><title>LAMM data stats</title><style>body{font-family:sans-serif;"
        "max-width:1100px;margin:auto}table{border-collapse:collapse}td{border:1px solid #ccc;padding:2px 8px}"
        ".ex{display:flex;gap:16px;border-top:1px solid #999;padding:10px 0}.turn{margin:4px 0;white-space:pre-wrap}"
        ".human{color:#225}.gpt{color:#252}</style>",
        f"<h1>LAMM instruction data: {stats['samples']} samples</h1>",
        "<img src='lengths.png' alt='length histograms'>",
        table("task types", stats["by_task_type"]), table("sources", stats["by_source"]),
        table("files", stats["by_file"]), table("tokens per sample", stats["tokens"]),
        table("turns per sample", stats["turns"]), "<h2>examples</h2>",
    ]  # fmt: skip
    for meta, s in examples:
        try:
            src = _thumb(resolve_media(roots[meta], s.media, source=meta, allow_absolute=True), s.media_key)
        except FormatError:
            src = ""
        img = f"<img src='{src}' alt='{e(s.media)}'>" if src else f"<i>{e(s.media)} (not readable)</i>"
        turns = "".join(
            f"<div class='turn {t['from']}'><b>{t['from']}:</b> {e(t['value'])}</div>"
            for t in s.conversations
        )
        parts.append(
            f"<div class='ex'><div>{img}</div><div><code>{e(s.id)}</code> · <b>{e(s.task_type)}</b> · "
            f"{e(s.media)}{turns}</div></div>"
        )
    return "\n".join(parts)


def format_table(stats: dict[str, Any], n_files: int) -> str:
    """The stats a person reads: counts per task type and modality, then the length distributions."""
    lines = [f"{stats['samples']} samples, {stats['unique_media']} distinct media, {n_files} file(s)"]
    rows = [("task type", "samples")] + [(k, str(v)) for k, v in stats["by_task_type"].items()]
    rows += [(f"({k})", str(v)) for k, v in stats["by_modality"].items()]
    dists = (("tokens/sample", "tokens"), ("gpt tokens", "gpt_tokens"), ("turns/sample", "turns"))
    width = max(len(k) for k in [*(r[0] for r in rows), *(n for n, _ in dists)])
    lines += [f"  {k:<{width}}  {v:>7}" for k, v in rows]
    cols = ("min", "median", "mean", "p95", "max")
    lines.append(f"  {'':<{width}}  " + "".join(f"{c:>8}" for c in cols))
    for name, key in dists:
        d = stats[key]
        lines.append(f"  {name:<{width}}  " + "".join(f"{d.get(c, '-'):>8}" for c in cols))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    files = _files(args.files)
    samples: list[tuple[Path, InstructSample]] = []
    for f in files:
        samples += [(f, s) for s in read_instruct(f)]
    if not samples:
        raise FormatError(files[0], "no instruction samples with an image or pcl")
    stats = compute(samples, _counter(args.tokenizer))
    out = args.out or data_root(files[0]) / "stats"  # beside meta_file/, never inside it
    out.mkdir(parents=True, exist_ok=True)
    _histogram_png(stats, out / "lengths.png")
    rng = random.Random(args.seed)
    examples = rng.sample(samples, min(args.examples, len(samples)))
    roots = {f: media_root(f, args.root) for f in files}
    (out / "examples.html").write_text(_html(stats, examples, roots), "utf-8")
    public = {k: v for k, v in stats.items() if not k.startswith("_")}
    (out / "stats.json").write_text(json.dumps(public, indent=2) + "\n", "utf-8")
    print(format_table(public, len(files)))
    print(f"wrote {out}/stats.json, lengths.png, examples.html")
    return 0
