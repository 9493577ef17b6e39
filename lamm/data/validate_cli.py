"""Check LAMM instruction / benchmark / answer files and their images and point clouds."""

from __future__ import annotations

import argparse
import json
import sys

from lamm.data.validate import KINDS, validate_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Validate an instruction meta file (2D image / 3D pcl), a benchmark meta file (dataset told by its "
        "official name <Task>_<Dataset>.json), an answer file, or a folder of them (2D_Benchmark, "
        "3D_Benchmark, 2D_Instruct, an answers folder). Every image / point cloud is fully read: missing, "
        "unreadable and truncated files are reported with file, record index and id. Exit status 1 when "
        "problems are found."
    )
    parser.add_argument("path", help="a .json/.jsonl LAMM file or a folder of them")
    parser.add_argument(
        "--benchmark-dir",
        "--root",
        dest="root",
        metavar="DIR",
        default=None,
        help="media root (default: a lamm data build's manifest data_root, else the parent of "
        "meta_file/); for answer files, the benchmark whose "
        "meta records they must match by position and id",
    )
    parser.add_argument("--kind", choices=KINDS, default="auto", help="file kind (default: detect)")
    parser.add_argument("--no-media", action="store_true", help="check the schema only, not the media files")
    parser.add_argument("--workers", type=int, default=1, help="threads reading media (default 1)")
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="raise (default): any problem makes the exit status 1; skip: problems in single records are "
        "reported as what a skipping run would drop, and only unusable files make the exit status 1",
    )
    parser.add_argument("--max-problems", type=int, default=50, help="problems printed in text mode")
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object (last line)"
    )


def run(args: argparse.Namespace) -> int:
    report = validate_path(
        args.path,
        root=args.root,
        kind=args.kind,
        check_media=not args.no_media,
        workers=args.workers,
        progress=sys.stderr.isatty(),
    )
    summary = report.summary()
    if args.on_error == "skip":
        failed = bool(report.file_problems) or summary["usable_records"] == 0
    else:
        failed = not report.ok
    summary["on_error"] = args.on_error
    summary["exit_status"] = int(failed)
    if args.json:
        print(json.dumps(summary))
    else:
        print(report.format_text(args.max_problems))
    return int(failed)
