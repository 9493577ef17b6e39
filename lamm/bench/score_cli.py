"""Score an answer file against a LAMM benchmark dataset, as the official evaluation does.

``lamm score --benchmark-dir DIR --dataset NAME [--mode common|locating] --answers PATH
[--protocol lamm-v1] [--json] [--on-error skip]``. With ``--json`` the last stdout line is one JSON
object ``{"dataset", "mode", "metric", "value", "n", ...}``. ``--dataset all`` scores every 2D dataset of
the mode from a folder of official answer files (or a run log): per dataset only (no pooled ``n``), plus the overall
ACC for ``locating``. ``--answers RUN/answers.jsonl`` (a ``lamm eval`` log) scores that dataset's rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--benchmark-dir", required=True, help="a 2D_Benchmark or 3D_Benchmark folder")
    p.add_argument("--dataset", required=True, help="official dataset name (e.g. CIFAR10, ScanNet) or 'all'")
    p.add_argument("--mode", choices=("common", "locating"), default="common")
    p.add_argument("--answers", required=True, help="answer file (.json/.jsonl) or folder of official names")
    p.add_argument(
        "--protocol",
        choices=("lamm", "lamm-v1"),
        default="lamm",
        help="lamm: official rules with the official bugs fixed (default); lamm-v1: bug for bug",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise")
    p.add_argument("--samples", metavar="PATH", help="also write per-sample rows (JSONL) to PATH")


def _fmt(v: Any) -> str:
    return f"{v:.6f}" if isinstance(v, float) else str(v)


def _human(res: dict[str, Any]) -> None:
    skip = {"samples", "skipped", "versions", "datasets", "dataset", "mode", "metric", "value"}
    from lamm.tasks import unit_notes

    unit = unit_notes().get(res["metric"], "")
    print(f"{res['dataset']} ({res['mode']}, protocol {res['protocol']})")
    print(f"  {res['metric']}: {_fmt(res['value'])}" + (f"  [{unit}]" if unit else ""))
    for k, v in res.items():
        if k not in skip:
            print(f"  {k}: {_fmt(v)}")
    for name, sub in res.get("datasets", {}).items():
        print(f"  - {name}: {sub['metric']} = {_fmt(sub['value'])} (n={sub['n']})")
    if res["skipped"]:
        print(f"  skipped {len(res['skipped'])}:")
        for s in res["skipped"]:
            print(f"    {s}")


def run(args: argparse.Namespace) -> int:
    from lamm.bench.score import resolve_spec, score_all, score_dataset
    from lamm.metrics.labels import WordNetMissing

    try:
        if args.dataset == "all":
            res = score_all(
                args.benchmark_dir, args.answers, args.mode, protocol=args.protocol, on_error=args.on_error
            )
        else:
            spec = resolve_spec(args.dataset, args.mode)
            res = score_dataset(
                args.benchmark_dir, spec, args.answers, protocol=args.protocol, on_error=args.on_error
            )
    except (KeyError, WordNetMissing) as exc:
        print(f"lamm: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    if args.samples:
        with open(args.samples, "w", encoding="utf-8") as fh:
            for r in res.get("samples", []):
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    res = {k: v for k, v in res.items() if k != "samples"}
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
    else:
        _human(res)
    return 0
