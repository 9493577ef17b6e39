"""Command-line options for running an official LAMM delta (``pytorch_model.pt``): its bases and
modality. Shared by ``lamm eval``, ``lamm chat`` and ``lamm checkpoint import-official``, so the three
accept and explain the same flags. No torch import here (``lamm eval --model answers:`` stays light)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# An official delta records neither its modality nor its encoder, and a 3D delta's projector
# (5120 x 1024) has the shape of a 2D one on CLIP ViT-L/14: the modality is always stated, never guessed.
MODALITIES = ("image", "pcl")
OFFICIAL_3D_PRESET = "lamm-13b-3d"
# The encoder section of that preset (lamm/train/presets/lamm-13b-3d.yaml; a test keeps them equal):
# the EPCL encoder a 3D delta is loaded onto, here so that lamm.model never reads lamm.train.
OFFICIAL_3D_ENCODER: dict[str, Any] = {
    "type": "pointcloud", "style": "epcl", "weights_format": "epcl", "num_points": 40000, "use_color": False,
    "num_groups": 256, "group_size": 64, "radius": 0.2, "hidden_size": 1024, "depth": 24, "num_heads": 16,
    "num_prompt_tokens": 19, "num_tokens": 256,
}  # fmt: skip


def add_base_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-llm", default=None, help="official .pt: the base LLM (Vicuna folder or hub id)")
    p.add_argument(
        "--encoder",
        default=None,
        help="official .pt: the encoder weights (2D: CLIP ViT-L/14 folder or hub id; 3D: the EPCL checkpoint)",
    )
    p.add_argument("--num-media-tokens", type=int, default=None, help="official .pt (paper: 256)")


def add_modality_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--modality",
        choices=MODALITIES,
        default=None,
        help="official .pt: image (2D delta) or pcl (3D delta); never read from the weights",
    )
    p.add_argument(
        "--encoder-config",
        default=None,
        metavar="FILE",
        help=f"official .pt: YAML/JSON keys over the encoder section (3D: {OFFICIAL_3D_PRESET}'s EPCL)",
    )


def missing_local_path(name: str) -> bool:
    """A path-like name (``/``, ``./``, ``../``, ``~``) that does not exist: a missing folder, which
    transformers would take for a malformed hub id."""
    return name.startswith(("/", "./", "../", "~")) and not Path(name).expanduser().exists()


def missing_base(args: argparse.Namespace) -> str | None:
    """A ``--base-llm``/``--encoder`` given as a path that does not exist (said before anything loads;
    transformers would take it for a malformed hub id), or None."""
    for flag in ("base_llm", "encoder"):
        value = getattr(args, flag, None)
        if value and missing_local_path(value):
            return f"--{flag.replace('_', '-')} {value}: no such folder or file"
    return None


def unstated_modality(path: str | Path) -> ValueError:
    """The refusal (a CheckpointError) for a delta whose modality is needed but not stated."""
    from lamm.model.checkpoint import CheckpointError

    return CheckpointError(
        f"{path}: an official delta does not record its modality, and a 3D delta's projector (5120x1024) "
        "has the shape of a 2D one on CLIP ViT-L/14, so lamm never guesses it: pass --modality pcl for a "
        f"3D (point-cloud) delta (loaded onto the EPCL encoder of the {OFFICIAL_3D_PRESET} preset; "
        "--encoder = the EPCL checkpoint) or --modality image for a 2D one"
    )


def read_encoder_config(path: str | None) -> dict[str, Any] | None:
    """The ``--encoder-config`` mapping (YAML, so JSON too), or None."""
    if path is None:
        return None
    import yaml

    from lamm.model.checkpoint import CheckpointError

    try:
        data = yaml.safe_load(Path(path).read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"--encoder-config {path}: cannot read it ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"--encoder-config {path}: expected a mapping of encoder keys")
    return data


def official_options(args: argparse.Namespace) -> dict[str, Any]:
    """The given official-delta options of ``args`` as keyword arguments (unset ones left out)."""
    out = {
        "base_llm": args.base_llm,
        "encoder": args.encoder,
        "modality": args.modality,
        "num_media_tokens": args.num_media_tokens,
        "encoder_options": read_encoder_config(args.encoder_config),
    }
    return {k: v for k, v in out.items() if v is not None}
