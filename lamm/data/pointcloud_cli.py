"""Convert .ply / .pcd / .xyz / .txt point clouds to the official LAMM .npy layout (float32 N×6 or N×3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lamm.formats.errors import FormatError
from lamm.formats.pointcloud import SUFFIXES, load_points, write_points_npy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Convert point clouds to the official .npy layout: float32 rows x, y, z (metres, z up) and, when "
        "the input has colour, r, g, b in 0..255 (N×6; otherwise N×3). Coordinates are not changed. "
        "Outputs are named <input stem>.npy; existing outputs are kept unless --overwrite, so a "
        "killed run resumes."
    )
    parser.add_argument("inputs", nargs="+", help=f"files ({', '.join(SUFFIXES)}) or folders of them")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--xyz-only", action="store_true", help="drop colour, write N×3")
    parser.add_argument("--overwrite", action="store_true", help="rewrite outputs that already exist")
    parser.add_argument(
        "--on-error", choices=("raise", "skip"), default="raise", help="skip: report bad files and go on"
    )


def _expand(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
        else:
            files.append(p)
    return files


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    files = _expand(args.inputs)
    targets: dict[Path, Path] = {}
    for f in files:
        t = out / f"{f.stem}.npy"
        if t in targets.values():
            raise FormatError(f, f"two inputs would both be written to {t}; rename one")
        if f.suffix.lower() == ".npy" and f.resolve() == t.resolve():
            raise FormatError(f, "output would overwrite the input; choose another --out")
        targets[f] = t
    done = kept = 0
    skipped: list[str] = []
    for f, t in targets.items():
        if t.exists() and not args.overwrite:
            print(f"{f} -> {t}: exists, kept (--overwrite to redo)")
            kept += 1
            continue
        try:
            pts = load_points(f)
        except FormatError as exc:
            if args.on_error == "raise":
                raise
            print(f"{f}: skipped: {exc.message}")
            skipped.append(str(f))
            continue
        if args.xyz_only:
            pts = pts[:, :3]
        write_points_npy(t, pts)
        cols = "xyz+rgb" if pts.shape[1] == 6 else "xyz"
        lo, hi = pts[:, :3].min(axis=0), pts[:, :3].max(axis=0)
        extent = ", ".join(f"{a:.3g}..{b:.3g}" for a, b in zip(lo, hi))
        print(f"{f} -> {t}: {len(pts)} points, {cols}, xyz range {extent}")
        done += 1
    print(f"converted {done}, kept {kept}, skipped {len(skipped)} of {len(targets)} file(s)")
    if skipped:
        print("skipped: " + ", ".join(skipped))
    return 0
