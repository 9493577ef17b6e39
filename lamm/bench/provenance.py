"""Where a run's numbers come from: which benchmark it evaluated, and which training run made the model.

Benchmark: LAMM-Mini (lamm's synthetic build) or the LAMM-Benchmark itself.
Scores on different benchmarks are not comparable, so the report groups runs by this identity and shows
the paper's rows only beside runs on the real benchmark. ``lamm eval`` records it in ``results.json``
(``run.benchmark``); the report recomputes it for older runs whose benchmark folder still exists.

A folder is LAMM-Mini when its parent holds LAMM-Mini's manifest (``lamm_mini.json``, written by
``lamm data mini``); any other folder is taken to be the LAMM-Benchmark (or a copy of part of it). The
fingerprint hashes the folder's meta files, so two builds with the same records are one benchmark and a
rebuilt or edited folder is another.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lamm.formats.paths import MINI_MANIFEST

LAMM_MINI = "LAMM-Mini"
LAMM_BENCHMARK = "LAMM-Benchmark"
MINI_KEYS = ("seed", "test", "image_size", "points")  # what shapes a LAMM-Mini benchmark


def meta_fingerprint(benchmark_dir: str | Path) -> str:
    """sha256 (16 hex digits) over the names and bytes of ``meta_file/*.json``."""
    h = hashlib.sha256()
    for f in sorted((Path(benchmark_dir) / "meta_file").glob("*.json")):
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()[:16]


def identify_benchmark(benchmark_dir: str | Path) -> dict[str, Any]:
    """``{name, official, fingerprint, part, [mini: {seed, test, ...}]}`` of a benchmark folder."""
    bench = Path(benchmark_dir).resolve()
    out: dict[str, Any] = {"name": LAMM_BENCHMARK, "official": True, "part": bench.name,
                           "fingerprint": meta_fingerprint(bench)}  # fmt: skip
    manifest = bench.parent / MINI_MANIFEST
    if manifest.is_file():
        try:
            info = json.loads(manifest.read_text("utf-8"))
        except (OSError, ValueError):
            info = {}
        if isinstance(info, dict) and info.get("generator") == "lamm-mini":
            out.update(name=LAMM_MINI, official=False, mini={k: info.get(k) for k in MINI_KEYS})
    return out


def describe(ident: dict[str, Any]) -> str:
    """One line for headings: ``LAMM-Mini 2D_Benchmark (seed 0, 50 records per dataset) · 1a2b...``."""
    text = f"{ident.get('name', 'unknown benchmark')} {ident.get('part', '')}".strip()
    mini = ident.get("mini")
    if mini:
        text += f" (synthetic, seed {mini.get('seed')}, {mini.get('test')} records per dataset)"
    fp = ident.get("fingerprint")
    return f"{text} · meta files {fp}" if fp else text


TRAIN_LOG = "train_log.jsonl"  # lamm.train.train_log.Logger writes it into the run's out_dir


def training_provenance(model: str | None) -> dict[str, Any] | None:
    """For ``lamm:CHECKPOINT`` models: the checkpoint and the ``lamm train`` log that produced it
    (``OUT/checkpoints/step-N`` -> ``OUT/train_log.jsonl``), absolute paths; ``None`` otherwise."""
    if not model or not model.startswith("lamm:"):
        return None
    ckpt = Path(model[len("lamm:") :]).resolve()
    log = next(
        (d / TRAIN_LOG for d in (ckpt, ckpt.parent, ckpt.parent.parent) if (d / TRAIN_LOG).is_file()), None
    )
    return {"checkpoint": str(ckpt), "train_log": str(log) if log else None}
