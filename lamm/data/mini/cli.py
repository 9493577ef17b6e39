"""Build LAMM-Mini: a synthetic 2D+3D world in the official LAMM layout (benchmark + instruction data)."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (gets 2D_Benchmark, 2D_Instruct, 3D_...)")
    parser.add_argument("--seed", type=int, default=0, help="same seed -> byte-identical meta files")
    parser.add_argument("--train", type=int, default=1000, help="instruction samples per task")
    parser.add_argument("--test", type=int, default=100, help="benchmark records per dataset file")
    parser.add_argument("--image-size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--points", type=int, default=2048, help="points per 3D scene/object (default 2048)")
    parser.add_argument(
        "--train-3d", type=int, default=None, help="3D training scenes (default: --train / 2)"
    )
    parser.add_argument(
        "--pretrain", type=int, default=None,
        help="scenes in the tiny vision tower's pre-training corpus (2D_Pretrain; 0: none; "
        "default min(12000, 24 x --train))",
    )  # fmt: skip
    parser.add_argument("--no-3d", action="store_true", help="skip the 3D world")
    parser.add_argument(
        "--suite-3d", action="store_true",
        help="also the 3D-LLM suite: ScanQA open-ended, SQA3D, Scan2Cap, Multi3DRefer (test files and training samples)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from lamm.data.mini import build_mini

    summary = build_mini(
        args.out, seed=args.seed, train=args.train, test=args.test, image_size=args.image_size,
        with_3d=not args.no_3d, points=args.points, train_3d=args.train_3d, pretrain=args.pretrain,
        suite_3d=args.suite_3d, progress=not args.quiet,
    )  # fmt: skip
    print(summary.text())
    if args.json:
        print(json.dumps({"out": summary.out, "records": summary.records, "media": summary.media,
                          "seconds": round(summary.seconds, 2), "instruct_2d": summary.instruct_2d,
                          "instruct_3d": summary.instruct_3d}))  # fmt: skip
    return 0
