"""The end of a run (rank 0): official answer files, their scores and ``results.json`` with the run's provenance."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lamm.bench.eval.adapters import Adapter
from lamm.bench.eval.config import EvalConfig
from lamm.bench.eval.store import AnswerStore
from lamm.bench.provenance import identify_benchmark, training_provenance
from lamm.formats.answers import PLACEHOLDER_REASON, placeholder, write_official_answers
from lamm.formats.benchmark import BenchRecord, load_benchmark
from lamm.formats.jsonio import write_json_official
from lamm.tasks import DatasetSpec
from lamm.versions import versions

RESULTS = "results.json"
OFFICIAL_DIR = "answers"
SCORES_DIR = "scores"
PACKAGES = ("torch", "transformers", "peft", "tokenizers", "numpy", "pillow", "nltk", "openai")


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def provenance(cfg: EvalConfig, adapter: Adapter, world: int, started: str) -> dict[str, Any]:
    return {
        "model": cfg.model,
        "adapter": adapter.kind,
        "decoding": adapter.decoding(),
        "batch_size": cfg.batch_size,
        "processes": world,
        "seed": cfg.seed,
        "limit": cfg.limit,
        "on_error": cfg.on_error,
        "protocol": cfg.protocol,
        "pcl_view": cfg.pcl_view,
        "benchmark_dir": str(Path(cfg.benchmark_dir).resolve()),
        "benchmark": identify_benchmark(cfg.benchmark_dir),  # LAMM-Mini or the real one: never compared
        "training": training_provenance(cfg.model),  # checkpoint -> `lamm train` log (report's curves)
        "datasets": [s.key for s in cfg.datasets],
        "versions": versions(*PACKAGES),
        "git_commit": _git_commit(),
        "command": sys.argv,
        "started": started,
        "finished": utc_now(),
    }


def finish(cfg: EvalConfig, adapter: Adapter, store: AnswerStore, world: int, started: str) -> dict[str, Any]:
    """Official answer files, scores and ``results.json`` from the consolidated log (rank 0)."""
    answers, errors = store.answers(), store.errors()
    results: dict[str, Any] = {"run": provenance(cfg, adapter, world, started), "datasets": {}}
    for spec in cfg.datasets:
        records = load_benchmark(cfg.benchmark_dir, spec)
        if cfg.limit is not None:
            records = records[: cfg.limit]
        rows = [answers.get((spec.key, r.index)) for r in records]
        skipped = [
            {"index": r.index, "id": r.json_id, "error": errors[(spec.key, r.index)]["error"]}
            for r, row in zip(records, rows)
            if row is None and (spec.key, r.index) in errors
        ]
        official = official_rows(spec, records, rows, errors, adapter.delta_path)
        missing = sum(1 for row in rows if row is None)
        entry: dict[str, Any] = {
            "dataset": spec.name,
            "mode": spec.mode,
            "task": spec.task,
            "answer_file": f"{OFFICIAL_DIR}/{spec.answer_file}",
            "n_records": len(records),
            "n_answered": sum(1 for row in rows if row),
            "skipped": skipped,
            "missing": missing,
        }
        write_official_answers(cfg.out / OFFICIAL_DIR, spec, official)
        if cfg.score and any(rows):
            entry.update(score_answers(cfg, spec, official))
        results["datasets"][spec.key] = entry
    write_json_official(cfg.out / RESULTS, results)
    return results


def official_rows(
    spec: DatasetSpec,
    records: list[BenchRecord],
    rows: list[dict[str, Any] | None],
    errors: dict[tuple[str, int], dict[str, Any]],
    delta_path: str,
) -> list[dict[str, Any]]:
    """The official answer file's entries, one per record in meta order: a record without an answer
    gets a placeholder (its error as the reason), so official scorers (``zip``) stay aligned."""
    out = []
    for r, row in zip(records, rows):
        if row:
            out.append({"id": row["id"], "text": row["text"], "delta_path": delta_path})
        else:
            err = errors.get((spec.key, r.index), {}).get("error", "not answered")
            out.append(placeholder(spec, r.json_id, err, delta_path))
    return out


def score_answers(cfg: EvalConfig, spec: DatasetSpec, official: list[dict[str, Any]]) -> dict[str, Any]:
    """Score the official file's entries with ``lamm score``'s code (placeholders are reported as
    skipped, not scored, so ``lamm score`` on the file gives these numbers); per-sample details go to
    ``scores/<dataset>.json``. Records beyond ``--limit`` are reported as unanswered positions."""
    from lamm.bench.score import score_dataset

    score = score_dataset(cfg.benchmark_dir, spec, official, protocol=cfg.protocol, on_error="skip")
    samples = score.pop("samples", None)
    if samples is not None:
        write_json_official(cfg.out / SCORES_DIR / f"{spec.key}.json", samples)
    unscored = score.pop("skipped", [])
    score["n_unscored"] = len(unscored)
    routine = (PLACEHOLDER_REASON, "no answer at this position")
    score["unscored"] = [u for u in unscored if not str(u.get("reason")).startswith(routine)][:50]
    return {"score": score, "metric": score.get("metric"), "value": score.get("value"),
            "parse_failure_rate": score.get("parse_failure_rate")}  # fmt: skip
