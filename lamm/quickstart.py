"""LAMM-Mini end to end: build the data, train the tiny preset(s), evaluate on every LAMM-Mini benchmark
file, score, compare with the trivial baselines and write the report.

    lamm quickstart [--out runs/quickstart] [--no-3d] [--sequential]

Every step resumes: a rerun reuses the built data, a finished training run and the answers already
written, so an interrupted quickstart continues where it stopped.

The 2D and 3D models are independent and their LLM loops run on one thread each (train.num_threads: 1),
so the 3D pipeline runs in a second process (output in ``OUT/tiny-3d.log``) while this one pre-trains
the 2D tower on one thread, trains the 2D LLM and evaluates it. One thread per process also holds up
on a loaded machine, where a 2-thread tower spent most of its CPU waiting for its other thread. On
one core, or with ``--sequential``, the steps run one after the other (the tower then uses every core).
Each step line reports wall and CPU seconds (this process and its finished children).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lamm.data.mini import BuildSummary, build_mini

DEFAULT_OUT = "runs/quickstart"
# instruction samples per 2D task: AI2D's six question kinds need ~250 each (docs/training.md)
DEFAULT_TRAIN = 1500
DEFAULT_TRAIN_3D = 250  # 3D scenes (5 samples each): ~8 epochs of tiny-3d's 600 steps
DEFAULT_TEST = 50  # benchmark records per dataset
EVAL_BATCH = 32
MAX_NEW_TOKENS = 96  # LAMM-Mini answers are short; the trained model stops at "###" well before this


def build_data(
    out: str | Path = DEFAULT_OUT,
    seed: int = 0,
    *,
    train: int = DEFAULT_TRAIN,
    train_3d: int = DEFAULT_TRAIN_3D,
    test: int = DEFAULT_TEST,
    image_size: int = 64,
    with_3d: bool = True,
    progress: bool = True,
) -> BuildSummary:
    """Build LAMM-Mini under ``out/data``; the summary names the instruction files to train on."""
    return build_mini(
        Path(out) / "data", seed=seed, train=train, train_3d=train_3d, test=test, image_size=image_size,
        with_3d=with_3d, progress=progress,
    )  # fmt: skip


def train_preset(
    preset: str,
    data_dir: Path,
    out: Path,
    *,
    max_steps: int | None = None,
    progress: bool = True,
    overrides: list[str] | None = None,
) -> Path:
    """Train a shipped preset on LAMM-Mini; returns the final checkpoint (reused when already trained)."""
    done = out / "quickstart_checkpoint.json"
    if done.is_file():
        ckpt = Path(json.loads(done.read_text("utf-8"))["checkpoint"])
        if ckpt.is_dir():
            print(f"  reusing trained model {ckpt}")
            return ckpt
    from lamm.train.checkpointing import latest_checkpoint
    from lamm.train.cli import resolve_config_paths
    from lamm.train.config import load_config, preset_path
    from lamm.train.run import train

    overrides = [f"out_dir={out}", *(overrides or [])] + (
        [f"train.max_steps={max_steps}"] if max_steps else []
    )
    cfg = load_config(preset_path(preset), overrides)
    resolve_config_paths(cfg, str(data_dir))
    result = train(cfg, resume="latest", progress=progress)  # continues a killed run, else starts one
    ckpt = result.checkpoint or latest_checkpoint(out)
    if ckpt is None:
        raise RuntimeError(f"training {preset} wrote no checkpoint under {out}")
    done.write_text(json.dumps({"checkpoint": str(ckpt), "steps": result.steps}), "utf-8")
    return ckpt


def evaluate_model(
    model: str,
    bench: Path,
    out: Path,
    *,
    datasets: str = "all",
    mode: str = "all",
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> dict[str, Any]:
    """``lamm eval`` of one model on the benchmark folder's files (resumable)."""
    from lamm.bench.eval.config import EvalConfig
    from lamm.bench.eval.datasets import select_datasets
    from lamm.bench.eval.runner import evaluate

    cfg = EvalConfig(
        model=model, benchmark_dir=bench, datasets=select_datasets(bench, datasets, mode), out=out,
        batch_size=EVAL_BATCH, on_error="skip",
        adapter_options={} if model.startswith("baseline:") else {"max_new_tokens": max_new_tokens},
    )  # fmt: skip
    return evaluate(cfg)


def baseline_comparison(model_runs: list[dict[str, Any]], baseline_runs: list[dict[str, Any]]) -> str:
    """Model vs trivial baseline on every dataset the baseline answers."""
    ours = {k: d for r in model_runs for k, d in r["datasets"].items()}
    rows = [("dataset", "metric", "tiny model", "trivial baseline", "beats it")]
    for run in baseline_runs:
        for key, b in run["datasets"].items():
            m = ours.get(key)
            if not m or m.get("value") is None or b.get("value") is None:
                continue
            lower = b["metric"] == "mae"
            better = m["value"] < b["value"] if lower else m["value"] > b["value"]
            rows.append(
                (key, b["metric"], f"{m['value']:.3f}", f"{b['value']:.3f}", "yes" if better else "NO")
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"run folder (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=DEFAULT_TRAIN, help="instruction samples per task")
    parser.add_argument("--train-3d", type=int, default=DEFAULT_TRAIN_3D, help="3D training scenes")
    parser.add_argument("--test", type=int, default=DEFAULT_TEST, help="benchmark records per dataset")
    parser.add_argument("--no-3d", action="store_true", help="2D only")
    parser.add_argument("--max-steps", type=int, default=None, help="cap training steps (smoke runs)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=MAX_NEW_TOKENS, help="generation length in eval"
    )
    parser.add_argument("--data-only", action="store_true", help="only build LAMM-Mini and print its summary")
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="train and evaluate the 3D model after the 2D one, not beside it",
    )
    parser.add_argument("--only-3d", action="store_true", help=argparse.SUPPRESS)  # the second process


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (DataLoader workers, the 3D process)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Background3D:
    """``lamm quickstart --only-3d`` in a second process: the 3D pipeline on one core while this process
    pre-trains the 2D tower and trains the 2D LLM on the other (every loop there runs on one thread)."""

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.log = out / "tiny-3d.log"
        cmd = [sys.executable, "-m", "lamm.cli", "quickstart", "--only-3d", "--out", str(out),
               "--seed", str(args.seed), "--train", str(args.train), "--train-3d", str(args.train_3d),
               "--test", str(args.test), "--max-new-tokens", str(args.max_new_tokens)]  # fmt: skip
        if args.max_steps is not None:
            cmd += ["--max-steps", str(args.max_steps)]
        env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
        with self.log.open("wb") as log:  # this run's output only (a resumed run redoes no work)
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        print(f"  tiny-3d trains beside the 2D steps (pid {self.proc.pid}; log: {self.log})", flush=True)

    def wait(self) -> None:
        """Wait for it; its failure fails the quickstart, with the end of its log."""
        if self.proc.wait() != 0:
            tail = self.log.read_text("utf-8", errors="replace").splitlines()[-20:]
            raise SystemExit(
                f"lamm quickstart: the 3D process failed (exit {self.proc.returncode}); its log {self.log} "
                "ends:\n" + "\n".join(tail)
            )


def run_3d(args: argparse.Namespace, out: Path, step) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pre-train the point-cloud encoder, train ``tiny-3d``, evaluate it and the 3D trivial baselines."""
    from lamm.train.pretrain.pointcloud import pretrain_for_preset

    data = out / "data"
    step(4, "training the tiny-3d preset")
    pre_steps = 200 if args.max_steps is None else max(1, min(200, args.max_steps))
    enc3 = pretrain_for_preset("tiny-3d", data, out / "tiny-3d-encoder", steps=pre_steps)  # frozen encoder
    ckpt3 = train_preset(
        "tiny-3d", data, out / "tiny-3d", max_steps=args.max_steps, overrides=[f"model.encoder.path={enc3}"]
    )
    step(5, "evaluating it on every LAMM-Mini 3D benchmark file")
    bench3d = data / "3D_Benchmark"
    run = evaluate_model(
        f"lamm:{ckpt3}", bench3d, out / "eval" / "tiny-3d", max_new_tokens=args.max_new_tokens
    )
    base = evaluate_model(
        "baseline:trivial", bench3d, out / "eval" / "trivial-3d", datasets=baseline_sets(bench3d)
    )
    return run, base


def baseline_sets(bench: Path) -> str:
    """The datasets of the benchmark folder the trivial baseline answers, comma-separated (the 3D
    suite's only where its files are there: ``lamm data mini --suite-3d``)."""
    from lamm.bench.eval.adapters.baseline import datasets
    from lamm.formats.benchmark import meta_path
    from lamm.tasks import find_dataset

    return ",".join(k for k in datasets() if meta_path(bench, find_dataset(k)).is_file())


def run(args: argparse.Namespace) -> int:
    from lamm.bench.report.terminal import groups_text
    from lamm.bench.report.write import load_groups, write_report

    out = Path(args.out)
    with_3d = not args.no_3d
    t0, c0 = time.perf_counter(), cpu_seconds()
    steps = 4 + 2 * with_3d

    def step(i: int, text: str) -> None:
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        print(f"\n[quickstart {i}/{steps}, {wall:.0f}s, CPU {cpu:.0f}s] {text}", flush=True)

    if args.only_3d:  # the second process of a parallel quickstart
        import torch

        torch.set_num_threads(1)  # one core each: the 2D process has the other
        run_3d(args, out, step)
        print(f"tiny-3d finished in {time.perf_counter() - t0:.0f}s (CPU {cpu_seconds() - c0:.0f}s)")
        return 0

    data = out / "data"
    step(1, f"LAMM-Mini -> {data}")
    if (data / "lamm_mini.json").is_file():
        print(f"  reusing {data}")
    else:
        summary = build_data(
            out, args.seed, train=args.train, train_3d=args.train_3d, test=args.test, with_3d=with_3d
        )
        print(summary.text())
        print(f"2D instructions: {Path(summary.out) / summary.instruct_2d}")
        if summary.instruct_3d:
            print(f"3D instructions: {Path(summary.out) / summary.instruct_3d}")
    if args.data_only:
        return 0

    parallel = with_3d and not args.sequential and len(os.sched_getaffinity(0)) > 1
    background = None
    pre2d = [] if args.max_steps is None else [f"tiny.encoder_pretrain_steps={min(600, args.max_steps)}"]
    if parallel:
        import torch

        background = Background3D(args, out)
        torch.set_num_threads(1)  # one core here (tower, LLM, eval), the other for the 3D process
        pre2d.append("tiny.encoder_pretrain_threads=1")
    try:
        step(2, "training the tiny preset (2D)")
        ckpt = train_preset("tiny", data, out / "tiny", max_steps=args.max_steps, overrides=pre2d)
        step(3, "evaluating it on every LAMM-Mini 2D benchmark file")
        bench2d = data / "2D_Benchmark"
        runs = {
            "tiny": evaluate_model(
                f"lamm:{ckpt}", bench2d, out / "eval" / "tiny", max_new_tokens=args.max_new_tokens
            )
        }
        baselines = {"trivial": evaluate_model("baseline:trivial", bench2d, out / "eval" / "trivial", datasets=baseline_sets(bench2d), mode="common")}  # fmt: skip
    except BaseException:
        if background is not None:  # no orphan: a rerun resumes the 3D steps where they stopped
            background.proc.terminate()
            background.proc.wait()
        raise
    if background is not None:
        print(f"\n  waiting for tiny-3d (log: {background.log})", flush=True)
        background.wait()
        print(background.log.read_text("utf-8", errors="replace").rstrip())
        bench3d = out / "eval"
        runs["tiny-3d"] = json.loads((bench3d / "tiny-3d" / "results.json").read_text("utf-8"))
        baselines["trivial-3d"] = json.loads((bench3d / "trivial-3d" / "results.json").read_text("utf-8"))
    elif with_3d:
        runs["tiny-3d"], baselines["trivial-3d"] = run_3d(args, out, step)
    step(steps, "report")
    dirs = [out / "eval" / name for name in [*runs, *baselines]]
    loaded = load_groups(dirs)
    report = write_report(dirs, out / "report.html", loaded=loaded)
    write_report(dirs, out / "report.md", loaded=loaded)
    print(groups_text(loaded[1]))
    print("\ntiny model vs trivial baselines (majority label, random option, mean count, mean box):")
    print(baseline_comparison(list(runs.values()), list(baselines.values())))
    print(f"\nreport: {report}  (Markdown: {out / 'report.md'})")
    print(
        f"quickstart finished in {time.perf_counter() - t0:.0f}s (CPU {cpu_seconds() - c0:.0f}s, both processes)"
    )
    return 0
