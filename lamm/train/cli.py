"""Train a LAMM model from a YAML config or a preset (one process, torchrun, or DeepSpeed).

Examples::

    lamm train my_run.yaml train.lr=1e-4 data.packing=true
    lamm train --preset tiny --data LAMM-Mini --out runs/tiny
    torchrun --nproc_per_node 8 -m lamm.cli train --preset lamm-13b --data /data/LAMM --out runs/13b
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML training config (or use --preset)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.lr=1e-4")
    parser.add_argument("--preset", help="a shipped config: tiny, lamm-7b, lamm-13b")
    parser.add_argument("--data", help="data folder substituted for {data} in the config's file paths")
    parser.add_argument("--out", help="output folder (overrides out_dir)")
    parser.add_argument("--max-steps", type=int, help="train at most this many optimiser steps")
    parser.add_argument(
        "--resume", action="store_true",
        help="continue from the latest complete checkpoint under the output folder (same settings)",
    )  # fmt: skip
    parser.add_argument("--resume-from", metavar="PATH", help="continue from this complete checkpoint")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="train into an output folder that holds an earlier run, deleting its checkpoints and logs",
    )  # fmt: skip
    parser.add_argument(
        "--stop-after", type=int, help="stop (with a checkpoint) after this many steps; the schedule still "
        "spans the whole run, so --resume continues it exactly (for time-limited jobs)",
    )  # fmt: skip
    parser.add_argument(
        "--on-error", choices=["raise", "skip"], help="bad samples: stop (default) or skip+count"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def resolve_data_paths(cfg_files: list, data_dir: str | None) -> list:
    """Substitute ``{data}`` and expand globs (sorted) in ``data.files`` paths."""
    from lamm.train.config import ConfigError, DataFile

    out = []
    for f in cfg_files:
        path = f.path
        if "{data}" in path:
            if not data_dir:
                raise ConfigError(f"data file {path!r} needs --data DIR")
            path = path.replace("{data}", str(Path(data_dir)))
        root = f.root.replace("{data}", str(Path(data_dir))) if f.root and data_dir else f.root
        matches = sorted(glob.glob(path)) if any(c in path for c in "*?[") else [path]
        if not matches:
            raise ConfigError(f"no instruction file matches {path!r}")
        out += [DataFile(m, root, f.weight, f.task_types, f.ids) for m in matches]
    return out


def resolve_config_paths(cfg, data_dir: str | None) -> None:
    """Resolve ``{data}`` and globs in ``data.files`` and (when the tower is pre-trained)
    ``tiny.encoder_pretrain_files`` in place."""
    from lamm.train.config import ConfigError, DataFile

    cfg.data.files = resolve_data_paths(cfg.data.files, data_dir)
    if cfg.tiny is not None and cfg.tiny.encoder_pretrain_files and cfg.tiny.encoder_pretrain_steps:
        extra = resolve_data_paths([DataFile(p) for p in cfg.tiny.encoder_pretrain_files], data_dir)
        missing = [f.path for f in extra if not Path(f.path).is_file()]
        if missing:
            raise ConfigError(
                f"tiny.encoder_pretrain_files: {missing[0]} does not exist (LAMM-Mini builds it as "
                "2D_Pretrain: `lamm data mini`; or set tiny.encoder_pretrain_files=[] to pre-train on data.files only)"
            )
        cfg.tiny.encoder_pretrain_files = [f.path for f in extra]


def build_config(args: argparse.Namespace):
    from lamm.train.config import ConfigError, load_config, preset_path

    overrides = list(args.overrides)
    for item in overrides:
        if "=" not in item:
            hint = (
                " (a checkpoint to resume from is given with --resume-from PATH)"
                if Path(item).is_dir()
                else ""
            )
            raise ConfigError(f"{item!r} is not a section.key=value override{hint}")
    if args.config and "=" in args.config and not args.preset:
        raise ConfigError(f"{args.config!r} is an override: give the config file (or --preset) first")
    if args.preset and args.config:
        if "=" not in args.config:
            raise ConfigError("give either a config file or --preset, not both")
        overrides.insert(0, args.config)  # `lamm train --preset tiny train.lr=1e-3`
        source = preset_path(args.preset)
    elif args.preset:
        source = preset_path(args.preset)
    elif args.config:
        source = args.config
    else:
        raise ConfigError("lamm train needs a config file or --preset NAME")
    if args.out:
        overrides.append(f"out_dir={args.out}")
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.on_error:
        overrides.append(f"data.on_error={args.on_error}")
    cfg = load_config(source, overrides)
    resolve_config_paths(cfg, args.data)
    return cfg


def run(args: argparse.Namespace) -> int:
    from lamm.formats.lock import FolderLocked
    from lamm.train.config import ConfigError

    if args.resume and args.resume_from:
        print("lamm train: error: give --resume or --resume-from PATH, not both", file=sys.stderr)
        return 2
    if args.overwrite and (args.resume or args.resume_from):
        print(
            "lamm train: error: --overwrite starts afresh; it cannot be combined with --resume",
            file=sys.stderr,
        )
        return 2
    try:
        cfg = build_config(args)
    except ConfigError as exc:
        print(f"lamm train: error: {exc}", file=sys.stderr)
        return 2
    from lamm.train.run import train

    resume = args.resume_from or ("latest" if args.resume else None)
    try:
        train(
            cfg, resume=resume, stop_after=args.stop_after, progress=not args.quiet, overwrite=args.overwrite
        )
    except (ConfigError, FolderLocked) as exc:
        print(f"lamm train: error: {exc}", file=sys.stderr)
        return 2
    return 0
