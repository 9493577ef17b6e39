"""Convert an official LAMM delta (pytorch_model.pt) into a lamm checkpoint folder with a manifest.

``lamm checkpoint import-official DELTA.pt --base-llm LLM --encoder ENC --modality image|pcl --out DIR``:
the bases are loaded once, their fingerprints pinned in the manifest, and the folder then runs like any
``lamm train`` output (``lamm eval --model lamm:DIR``, ``lamm chat --checkpoint DIR``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lamm.model.official_args import (
    add_base_arguments,
    add_modality_arguments,
    missing_base,
    official_options,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("delta", type=Path, help="official pytorch_model.pt (projector + LoRA)")
    add_base_arguments(p)
    add_modality_arguments(p)
    p.add_argument(
        "--template",
        default="lamm-v1",
        help="the conversation template the delta was trained with (llama2-chat for the LLaMA-2-chat delta)",
    )
    p.add_argument("--out", required=True, type=Path, help="new lamm checkpoint folder")


def run(args: argparse.Namespace) -> int:
    from lamm.model.checkpoint import CheckpointError
    from lamm.model.official_args import unstated_modality
    from lamm.model.official_delta import convert_official, official_config
    from lamm.model.template import get_template

    try:
        if not (args.base_llm and args.encoder):
            raise CheckpointError(f"{args.delta}: import-official needs --base-llm and --encoder")
        if missing_base(args):
            raise CheckpointError(missing_base(args))
        if args.modality is None:  # the folder records it for good: stated, for 2D deltas too
            raise unstated_modality(args.delta)
        if not args.delta.is_file():
            raise CheckpointError(f"{args.delta}: no such file")
        if (args.out / "manifest.json").exists():
            raise CheckpointError(f"{args.out} already holds a checkpoint; choose another --out")
        try:
            get_template(args.template)
        except KeyError as exc:
            raise ValueError(f"--template: {exc.args[0]}") from None
        config = official_config(args.delta, **official_options(args), template=args.template)
        out = convert_official(args.delta, config, args.out)
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"lamm: error: {exc}", file=sys.stderr)
        return 2
    print(f"lamm checkpoint: {args.delta} -> {out} ({args.modality}, LoRA r={config.lora.r})")
    return 0
