"""Write a lamm checkpoint's projector + LoRA as an official LAMM delta (pytorch_model.pt).

``lamm checkpoint export-official CKPT --out DELTA.pt [--dtype fp16|bf16|float32]``: the official save
layout (``llama_proj.*``, ``llama_model.….lora_[AB].default.weight``, fp16 as DeepSpeed saved it), read
from the folder's files alone (no base model is loaded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="a lamm checkpoint folder (LoRA + linear projector)")
    p.add_argument("--out", required=True, type=Path, help="the .pt file to write")
    p.add_argument("--dtype", choices=("fp16", "bf16", "float32"), default="fp16",
                   help="tensor type (official: fp16)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from lamm.model.checkpoint import CheckpointError
    from lamm.model.official_delta import OFFICIAL_DTYPES, export_official_folder

    if args.out.exists():
        print(f"lamm: error: {args.out} exists; choose another --out", file=sys.stderr)
        return 2
    try:
        out = export_official_folder(args.checkpoint, args.out, dtype=OFFICIAL_DTYPES[args.dtype])
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"lamm: error: {exc}", file=sys.stderr)
        return 2
    print(f"lamm checkpoint: {args.checkpoint} -> {out} ({args.dtype})")
    return 0
