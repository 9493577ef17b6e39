"""Packed vs padded training batches: real-token fraction and real tokens/s, same model, data and samples.

    lamm data mini --out LAMM-Mini
    python bench/train_throughput.py --data LAMM-Mini [--steps 12] [--repeats 2] [--mix all|preset] [--out runs/bench-tp]

Both modes run the ``tiny`` preset (random tiny CLIP + LLaMA, built once) on the same LAMM-Mini samples
in the same order (length grouping off, so the padded batches are what a plain shuffled loader gives);
only the collation differs: ``padded`` = one sample per row, padded to the longest; ``packed`` = samples
packed first-fit into rows of ``--pack-length`` tokens with block-diagonal attention. Medians over steps
(the first step of each run is dropped); runs alternate (pad, pack, pack, pad, ...) so a change in machine
load hits both. Targets: packed real-token fraction >= 95 %, tokens/s ratio >= 1.3x.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch


def run_mode(args, packing: bool, out: Path) -> dict:
    from lamm.train.cli import build_config
    from lamm.train.run import train

    ns = argparse.Namespace(
        config=None, preset="tiny", data=args.data, out=str(out), max_steps=args.steps, on_error=None,
        overrides=[f"data.packing={str(packing).lower()}", "data.group_by_length=false",
                   f"data.pack_length={args.pack_length}", f"train.global_batch_size={args.batch}",
                   f"train.micro_batch_size={args.batch}", "train.tensorboard=false",
                   f"train.num_threads={args.threads}",
                   "tiny.encoder_pretrain_steps=0"],  # speed does not depend on the tower's weights
    )  # fmt: skip
    if args.mix == "all":  # every C4 task: the length spread of a general model (boxes, keypoints, ...)
        ns.overrides.append(
            "data.files=" + json.dumps([{"path": "{data}/2D_Instruct/meta_file/vision_task_dialogue_*.json"}])
        )
    cfg = build_config(ns)
    base = Path(args.out) / "base"
    if base.is_dir() and not (out / "base").exists():
        out.mkdir(parents=True, exist_ok=True)
        (out / "base").symlink_to(base.resolve())  # same random base for every run
    train(cfg, progress=False)
    log = [json.loads(line) for line in (out / "train_log.jsonl").open()]
    log = log[1:] or log  # the first step pays for warm-up
    return {
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in log),
        "real_token_fraction": statistics.median(r["real_token_fraction"] for r in log),
        "step_s": statistics.median(r["step_time_s"] for r in log),
        "losses": [r["loss"] for r in log],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="LAMM-Mini folder (lamm data mini --out DIR)")
    ap.add_argument("--out", default="runs/bench-throughput")
    ap.add_argument("--steps", type=int, default=12, help="optimiser steps per run")
    ap.add_argument("--repeats", type=int, default=2, help="runs per mode (alternating)")
    ap.add_argument("--batch", type=int, default=32, help="samples per step")
    ap.add_argument(
        "--pack-length", type=int, default=256, help="packed row capacity (tokens; the tiny preset's)"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the tiny preset's 1 by default)")
    ap.add_argument(
        "--mix", choices=("all", "preset"), default="all",
        help="all (default): every LAMM-Mini C4 vision-task sample (boxes, keypoints, captions, ...); "
        "preset: only the tiny preset's short-answer learning subset (little to pack)",
    )  # fmt: skip
    args = ap.parse_args()
    out = Path(args.out)
    if not (out / "base").is_dir():  # build the tiny base once (tokenizer trained on the data's text)
        first = run_mode(argparse.Namespace(**{**vars(args), "steps": 1}), False, out / "warm")
        del first
        (out / "base").symlink_to((out / "warm" / "base").resolve())
    results: dict[str, list[dict]] = {"padded": [], "packed": []}
    order = []
    for r in range(args.repeats):
        order += [False, True] if r % 2 == 0 else [True, False]
    for i, packing in enumerate(order):
        mode = "packed" if packing else "padded"
        results[mode].append(run_mode(args, packing, out / f"{mode}-{i}"))
    summary = {}
    for mode, runs in results.items():
        summary[mode] = {
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs),
            "real_token_fraction": statistics.median(r["real_token_fraction"] for r in runs),
            "step_s": statistics.median(r["step_s"] for r in runs),
        }
    ratio = summary["packed"]["tokens_per_s"] / summary["padded"]["tokens_per_s"]
    same_loss = max(
        abs(a - b) / a for a, b in zip(results["padded"][0]["losses"], results["packed"][0]["losses"])
    )
    report = {"summary": summary, "tokens_per_s_ratio": ratio, "max_rel_loss_diff_packed_vs_padded": same_loss,
              "steps": args.steps, "repeats": args.repeats, "batch": args.batch, "pack_length": args.pack_length,
              "torch": torch.__version__}  # fmt: skip
    (out / "throughput.json").write_text(json.dumps(report, indent=1), "utf-8")
    print(f"{'mode':<8} {'real-token fraction':>20} {'tokens/s':>10} {'step s':>8}")
    for mode, s in summary.items():
        print(f"{mode:<8} {s['real_token_fraction']:>20.3f} {s['tokens_per_s']:>10.0f} {s['step_s']:>8.2f}")
    ok_frac = summary["packed"]["real_token_fraction"] >= 0.95
    print(f"packed/padded tokens/s: {ratio:.2f}x (target >= 1.3x: {'met' if ratio >= 1.3 else 'NOT met'}); "
          f"packed real-token fraction target >= 0.95: {'met' if ok_frac else 'NOT met'}; "
          f"loss packed vs padded max rel diff {same_loss:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
