"""Run a model on LAMM-Benchmark datasets, write official answer files and score them.

Examples::

    lamm eval --model lamm:runs/tiny/checkpoint --benchmark-dir data/LAMM-Mini/2D_Benchmark --out runs/eval
    torchrun --nproc_per_node 2 -m lamm.cli eval --model hf:llava-hf/llava-1.5-7b-hf ... --out runs/llava
    lamm eval --model openai:gpt-4o@https://api.openai.com/v1 --datasets CIFAR10 --limit 100 --out runs/gpt
    lamm eval --model answers:official_answers/LAMM --out runs/lamm-official   # score answers made elsewhere
    lamm eval --model lamm:lamm_2d/pytorch_model.pt --base-llm vicuna-13b-v0 --encoder openai/clip-vit-large-patch14 \
        --benchmark-dir 2D_Benchmark --out runs/official   # an official delta as it is (3D: --modality pcl)

Reruns resume: answered records are skipped, whatever the number of processes before and now.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lamm.bench.eval.adapters.hf_load import parse_model_args
from lamm.bench.eval.answering import RecordFailed
from lamm.bench.eval.config import EvalConfig
from lamm.bench.eval.datasets import dataset_listing, select_datasets
from lamm.bench.eval.decoding import decoding_options
from lamm.bench.eval.runner import evaluate
from lamm.bench.eval.views import VIEWS
from lamm.model.official_args import (
    add_base_arguments,
    add_modality_arguments,
    missing_base,
    official_options,
    unstated_modality,
)
from lamm.redact import redact


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="(required) lamm:CKPT | hf:NAME_OR_PATH | openai:MODEL@URL | answers:DIR")
    p.add_argument("--benchmark-dir", type=Path, help="2D_Benchmark or 3D_Benchmark folder (required)")
    p.add_argument(
        "--datasets",
        default="all",
        help="comma-separated dataset names, 'all' (default), or 'list' to list them",
    )
    p.add_argument("--mode", default="common", choices=["common", "locating", "all"])
    p.add_argument("--out", type=Path, help="run folder (answers, results.json; required)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int, default=None, help="first N records of each dataset")
    p.add_argument("--on-error", choices=["raise", "skip"], default="raise", help="bad records: stop or skip")
    p.add_argument("--max-new-tokens", type=int, default=None, help="generation length (adapter default)")
    p.add_argument(
        "--decoding",
        default="greedy",
        choices=["greedy", "official"],
        help="greedy (default) or the official v1 sampling: top_p 0.9, temperature 1.0, top_k 50, "
        "400 new tokens for 2D and 800 for 3D; the flags below override single values",
    )
    p.add_argument("--do-sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--top-p", type=float, default=None, help="sampling: nucleus mass (default 0.9)")
    p.add_argument("--top-k", type=int, default=None, help="sampling: top-k, 0 off (default 50; not openai)")
    p.add_argument("--temperature", type=float, default=None, help="sampling: temperature (default 1.0)")
    p.add_argument("--seed", type=int, default=0, help="seeds sampling (and anything else random)")
    p.add_argument(
        "--protocol",
        default="lamm",
        choices=["lamm", "lamm-v1"],
        help="scoring protocol; lamm-v1 also prompts lamm 3D models with <Img> tags, as official inference did",
    )
    p.add_argument(
        "--template", default=None, help="lamm: conversation template to prompt with (e.g. llama2-chat)"
    )
    p.add_argument(
        "--pcl-view",
        default=None,
        choices=list(VIEWS),
        help="3D records for image-only models (hf:, openai:, py:): bev shows each point cloud as a "
        "bird's-eye rendering with metre axes, rendered once into OUT/bev/ (docs/evaluation.md)",
    )
    p.add_argument("--no-score", action="store_true", help="only generate answers")
    p.add_argument("--concurrency", type=int, default=None, help="openai: requests in flight")
    p.add_argument("--timeout", type=float, default=None, help="openai: seconds per request")
    p.add_argument("--device", default=None, help="lamm/hf: torch device (default: cuda if available)")
    p.add_argument(
        "--dtype",
        default=None,
        choices=["fp16", "bf16", "float32"],
        help="lamm: precision to load in (default: an official .pt bf16 on GPU, float32 on CPU; a checkpoint "
        "folder the dtype it records; official inference ran fp16); hf: takes --model-args dtype=...",
    )
    p.add_argument(
        "--model-args",
        default=None,
        help="hf: KEY=VALUE,... e.g. dtype=bfloat16,device_map=auto,attn_implementation=sdpa,max_pixels=200704,"
        "trust_remote_code=true (docs/evaluation.md)",
    )
    add_base_arguments(p)
    add_modality_arguments(p)


# numeric options and what they must be: --limit -2 once evaluated all but the last 2 records (exit 0)
RANGES = (
    ("batch_size", "must be >= 1", lambda v: v >= 1),
    ("limit", "must be >= 1", lambda v: v >= 1),
    ("max_new_tokens", "must be >= 1", lambda v: v >= 1),
    ("concurrency", "must be >= 1", lambda v: v >= 1),
    ("timeout", "must be > 0 seconds", lambda v: v > 0),
    ("top_p", "must be in (0, 1]", lambda v: 0 < v <= 1),
    ("top_k", "must be >= 0", lambda v: v >= 0),
    ("temperature", "must be > 0", lambda v: v > 0),
)


def run(args: argparse.Namespace) -> int:
    for name, rule, ok in RANGES:
        value = getattr(args, name, None)
        if value is not None and not ok(value):
            raise SystemExit(f"lamm eval: --{name.replace('_', '-')} {rule}, got {value:g}")
    if args.datasets.strip() == "list":
        print(dataset_listing())
        return 0
    for flag in ("model", "benchmark_dir", "out"):
        if getattr(args, flag) is None:
            raise SystemExit(f"lamm eval: --{flag.replace('_', '-')} is required")
    try:
        model_args = parse_model_args(args.model_args)
        if model_args and not args.model.startswith("hf:"):
            raise ValueError("--model-args is for hf: models")
        if args.dtype and not args.model.startswith("lamm:"):
            raise ValueError("--dtype applies to lamm: models only (hf: --model-args dtype=...)")
    except ValueError as exc:
        print(f"lamm: error: {exc}", file=sys.stderr)
        return 2
    try:
        datasets = select_datasets(args.benchmark_dir, args.datasets, args.mode)
    except ValueError as exc:  # unknown name, or no meta file of the mode in the folder
        print(f"lamm: error: {exc}\n{dataset_listing()}", file=sys.stderr)
        return 2
    try:
        options = decoding_options(
            args.decoding,
            {s.dim for s in datasets},
            do_sample=args.do_sample,
            top_p=args.top_p,
            top_k=args.top_k,
            temperature=args.temperature,
            max_new_tokens=args.max_new_tokens,
        )
    except ValueError as exc:
        print(f"lamm eval: error: {exc}", file=sys.stderr)
        return 2
    options.update(
        (k, v)
        for k, v in {
            "concurrency": args.concurrency,
            "timeout": args.timeout,
            "device": args.device,
            "template": args.template,
            "dtype": args.dtype,
            "model_args": model_args or None,
        }.items()
        if v is not None
    )
    problem = _official_problem(args, datasets)
    if problem:
        print(f"lamm: error: {problem}", file=sys.stderr)
        return 2
    try:
        options.update(official_options(args))
    except ValueError as exc:  # an --encoder-config that cannot be read
        print(f"lamm: error: {exc}", file=sys.stderr)
        return 2
    cfg = EvalConfig(
        model=args.model,
        benchmark_dir=args.benchmark_dir,
        datasets=datasets,
        out=args.out,
        batch_size=args.batch_size,
        limit=args.limit,
        on_error=args.on_error,
        seed=args.seed,
        protocol=args.protocol,
        score=not args.no_score,
        adapter_options=options,
        pcl_view=args.pcl_view,
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


def _official_problem(args: argparse.Namespace, datasets: list) -> str | None:
    """Why the official-delta options cannot be used as given (before any model is loaded), or None."""
    given = [f for f in ("base_llm", "encoder", "modality", "num_media_tokens", "encoder_config")
             if getattr(args, f) is not None]  # fmt: skip
    prefix, _, arg = args.model.partition(":")
    if prefix != "lamm":
        return f"--{given[0].replace('_', '-')} applies to lamm: models only" if given else None
    if not Path(arg).is_file():
        return None
    if missing_base(args):
        return missing_base(args)
    if args.modality is None and any(s.dim == "3d" for s in datasets):
        return str(unstated_modality(arg))
    if args.modality is None:
        print(f"lamm eval: {arg}: running it as a 2D (image) delta (--modality pcl for 3D)", file=sys.stderr)
    return None


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
