"""LAMM-Mini end to end. For now: build the LAMM-Mini data and print its summary (train/eval/report come next)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lamm.data.mini import BuildSummary, build_mini

DEFAULT_OUT = "runs/quickstart"
DEFAULT_TRAIN = 500  # instruction samples per 2D task (3D: half as many scenes)
DEFAULT_TEST = 50  # benchmark records per dataset


def build_data(
    out: str | Path = DEFAULT_OUT,
    seed: int = 0,
    *,
    train: int = DEFAULT_TRAIN,
    test: int = DEFAULT_TEST,
    image_size: int = 64,
    with_3d: bool = True,
    progress: bool = True,
) -> BuildSummary:
    """Build LAMM-Mini under ``out/data``; the summary names the instruction files to train on."""
    return build_mini(
        Path(out) / "data", seed=seed, train=train, test=test, image_size=image_size, with_3d=with_3d,
        progress=progress,
    )  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"run folder (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=DEFAULT_TRAIN, help="instruction samples per task")
    parser.add_argument("--test", type=int, default=DEFAULT_TEST, help="benchmark records per dataset")
    parser.add_argument("--no-3d", action="store_true", help="2D only")


def run(args: argparse.Namespace) -> int:
    summary = build_data(args.out, args.seed, train=args.train, test=args.test, with_3d=not args.no_3d)
    print(summary.text())
    print(f"2D instructions: {Path(summary.out) / summary.instruct_2d}")
    if summary.instruct_3d:
        print(f"3D instructions: {Path(summary.out) / summary.instruct_3d}")
    return 0
