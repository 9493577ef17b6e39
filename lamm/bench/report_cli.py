"""Leaderboard report (HTML or Markdown) across ``lamm eval`` runs, with the paper's numbers for reference.

lamm report runs/tiny runs/llava --out report.html
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lamm.bench.report.terminal import groups_text
from lamm.bench.report.write import load_groups, write_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", type=Path, help="run folders written by `lamm eval`")
    p.add_argument("--out", required=True, type=Path, help="PATH.html or PATH.md")


def run(args: argparse.Namespace) -> int:
    if args.out.suffix not in (".html", ".md"):
        raise SystemExit("lamm report: --out must end in .html or .md")
    for r in args.runs:
        if not (r / "results.json").is_file():
            raise SystemExit(f"lamm report: {r} has no results.json (run `lamm eval` first)")
    loaded = load_groups(args.runs)  # once: loading may score a missing trivial baseline
    path = write_report(args.runs, args.out, loaded=loaded)
    print(groups_text(loaded[1]))
    print(f"report: {path}")
    return 0
