"""GPT-judge ranking of two evaluation runs (the paper's GPT metric), with win rates and 95% CIs.

    lamm judge runs/lamm runs/llava --judge openai:gpt-4o-mini@https://api.openai.com/v1

RUN_A is the model under test (assistant A), RUN_B the comparison; either may be a ``lamm eval`` run
folder or an official answer folder. The key comes from OPENAI_API_KEY or LAMM_API_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from lamm.bench.judge import format_table, judge_runs, sample_sizes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", type=Path, help="run (or answer folder) under test: assistant A")
    p.add_argument("run_b", type=Path, help="comparison run (or answer folder): assistant B")
    p.add_argument("--judge", required=True, help="openai:MODEL@BASE_URL")
    p.add_argument("--benchmark-dir", type=Path, default=None, help="default: the one RUN_A was run on")
    p.add_argument(
        "--datasets", default=None, help=f"comma-separated, default all of {', '.join(sample_sizes())}"
    )
    p.add_argument("--seed", type=int, default=0, help="fixes the sampled records")
    p.add_argument("--buggy-newlines", action="store_true", help="official bug: newline between characters")
    p.add_argument("--cache", type=Path, default=None, help="judge cache folder (default RUN_A/judge_cache)")
    p.add_argument("--out", type=Path, default=None, help="JSON report (default RUN_A/judge_vs_<RUN_B>.json)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--max-retries", type=int, default=5)
    p.add_argument("--refresh", action="store_true", help="ask the judge again instead of using the cache")
    p.add_argument(
        "--max-failures", type=float, default=0.5, metavar="FRACTION",
        help="exit 1 when more than this fraction of judge calls gave no verdict (default 0.5)",
    )  # fmt: skip


def _benchmark_dir(args: argparse.Namespace) -> Path:
    if args.benchmark_dir is not None:
        return args.benchmark_dir
    results = args.run_a / "results.json"
    if results.is_file():
        return Path(json.loads(results.read_text("utf-8"))["run"]["benchmark_dir"])
    raise SystemExit("lamm judge: --benchmark-dir is needed when RUN_A is not a `lamm eval` run folder")


def run(args: argparse.Namespace) -> int:
    from lamm.bench.eval.adapters.openai import ChatClient, parse_target
    from lamm.formats.jsonio import temp_path

    prefix, _, target = args.judge.partition(":")
    if prefix != "openai" or not target:
        raise SystemExit("lamm judge: --judge must be openai:MODEL@BASE_URL")
    for flag, value, rule, ok in (
        ("--concurrency", args.concurrency, ">= 1", args.concurrency >= 1),
        ("--timeout", args.timeout, "> 0 seconds", args.timeout > 0),
        ("--max-retries", args.max_retries, ">= 0", args.max_retries >= 0),  # -1: AssertionError traceback
        ("--max-failures", args.max_failures, "in [0, 1]", 0 <= args.max_failures <= 1),
    ):
        if not ok:
            raise SystemExit(f"lamm judge: {flag} must be {rule}, got {value:g}")
    for run_dir in (args.run_a, args.run_b):
        if not run_dir.is_dir():
            raise SystemExit(f"lamm judge: {run_dir}: run folder not found")
    model, url = parse_target(target)
    client = ChatClient(
        model, url, timeout=args.timeout, max_retries=args.max_retries, concurrency=args.concurrency
    )
    result = judge_runs(
        client,
        _benchmark_dir(args),
        args.run_a,
        args.run_b,
        cache_dir=args.cache or args.run_a / "judge_cache",
        datasets=args.datasets.split(",") if args.datasets else None,
        seed=args.seed,
        buggy_newlines=args.buggy_newlines,
        refresh=args.refresh,
    )
    out = args.out or args.run_a / f"judge_vs_{args.run_b.resolve().name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(out)  # whole or not at all, even with two judges writing one report
    tmp.write_text(json.dumps(result, indent=2), "utf-8")
    os.replace(tmp, out)
    print(f"A = {args.run_a}   B = {args.run_b}   judge = {model}")
    print(format_table(result))
    reasons = Counter(
        s["detail"].split(" (after")[0]
        for d in result["datasets"].values()
        for s in d.get("samples", [])
        if s["status"] == "failed"
    )
    if reasons:
        print(
            "failed judge calls: " + ", ".join(f"{n}x {r}" for r, n in reasons.most_common()), file=sys.stderr
        )
    print(f"report: {out}")
    o = result["overall"]
    if not o["sampled"]:
        print(
            f"lamm judge: error: nothing was judged: no dataset has answers in both runs "
            f"({'; '.join(d['error'] for d in result['datasets'].values() if 'error' in d)})",
            file=sys.stderr,
        )
        return 1
    asked = o["sampled"] - o["missing"]
    lost = o["failed"] + o["unparsed"]
    if asked and lost / asked > args.max_failures:
        print(
            f"lamm judge: error: {lost} of {asked} judge calls gave no verdict ({o['failed']} failed, "
            f"{o['unparsed']} unparseable), more than --max-failures {args.max_failures:g}; the win rates "
            "are not usable. Fix the judge endpoint and rerun (verdicts already given are cached)",
            file=sys.stderr,
        )
        return 1
    return 0
