"""Run a model on LAMM-Benchmark datasets, write official answer files and score them.

Examples::

    lamm eval --model lamm:runs/tiny/checkpoint --benchmark-dir data/LAMM-Mini/2D_Benchmark --out runs/eval
    torchrun --nproc_per_node 2 -m lamm.cli eval --model hf:llava-hf/llava-1.5-7b-hf ... --out runs/llava
    lamm eval --model openai:gpt-4o@https://api.openai.com/v1 --datasets CIFAR10 --limit 100 --out runs/gpt
    lamm eval --model answers:official_answers/LAMM --out runs/lamm-official   # score answers made elsewhere

Reruns resume: answered records are skipped, whatever the number of processes before and now.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lamm.bench.eval.runner import EvalConfig, RecordFailed, evaluate, select_datasets
from lamm.redact import redact


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True, help="lamm:CKPT | hf:NAME_OR_PATH | openai:MODEL@URL | answers:DIR"
    )
    p.add_argument("--benchmark-dir", required=True, type=Path, help="2D_Benchmark or 3D_Benchmark folder")
    p.add_argument("--datasets", default="all", help="comma-separated dataset names, or 'all' (default)")
    p.add_argument("--mode", default="common", choices=["common", "locating", "all"])
    p.add_argument("--out", required=True, type=Path, help="run folder (answers, results.json)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int, default=None, help="first N records of each dataset")
    p.add_argument("--on-error", choices=["raise", "skip"], default="raise", help="bad records: stop or skip")
    p.add_argument("--max-new-tokens", type=int, default=None, help="generation length (adapter default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--protocol", default="lamm", choices=["lamm", "lamm-v1"], help="scoring protocol")
    p.add_argument("--no-score", action="store_true", help="only generate answers")
    p.add_argument("--concurrency", type=int, default=None, help="openai: requests in flight")
    p.add_argument("--timeout", type=float, default=None, help="openai: seconds per request")
    p.add_argument("--device", default=None, help="lamm/hf: torch device (default: cuda if available)")


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise SystemExit("lamm eval: --batch-size must be >= 1")
    options = {
        k: v
        for k, v in {
            "max_new_tokens": args.max_new_tokens,
            "concurrency": args.concurrency,
            "timeout": args.timeout,
            "device": args.device,
        }.items()
        if v is not None
    }
    cfg = EvalConfig(
        model=args.model,
        benchmark_dir=args.benchmark_dir,
        datasets=select_datasets(args.benchmark_dir, args.datasets, args.mode),
        out=args.out,
        batch_size=args.batch_size,
        limit=args.limit,
        on_error=args.on_error,
        seed=args.seed,
        protocol=args.protocol,
        score=not args.no_score,
        adapter_options=options,
    )
    try:
        results = evaluate(cfg)
    except RecordFailed as exc:
        print(f"lamm: error: {exc} (rerun with --on-error skip to skip such records)", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad spec, unknown dataset, run folder of another model
        print(f"lamm: error: {redact(exc)}", file=sys.stderr)
        return 2
    if results is not None:
        print(format_table(results))
        print(f"results: {args.out / 'results.json'}")
    return 0


def format_table(results: dict) -> str:
    """A plain-text table of the run's datasets: metric, value, parse failures, skipped."""
    rows = [("dataset", "metric", "value", "parse fail", "answered", "skipped")]
    for key, d in results["datasets"].items():
        value = d.get("value")
        pfr = d.get("parse_failure_rate")
        rows.append(
            (
                key,
                str(d.get("metric", "-")),
                "-" if value is None else f"{value:.4g}",
                "-" if pfr is None else f"{100 * pfr:.1f}%",
                f"{d['n_answered']}/{d['n_records']}",
                str(len(d["skipped"])),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)
