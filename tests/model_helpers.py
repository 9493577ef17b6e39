"""Tiny model fixtures shared by the model tests: built once per test session, saved to local folders
so the real ``from_pretrained`` loading path runs."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lamm.model.config import LoraSettings, ModelConfig
from lamm.model.tiny import build_tiny

# The tiny models are dispatch-bound: one thread is faster than two, and much faster on a shared machine.
torch.set_num_threads(1)

CORPUS = [
    "What is in the image? A cat sitting on a mat.",
    "How many dogs are there? There are 3 dogs in the picture.",
    "Describe the scene. A red truck is parked next to a small ship.",
    "Where is the chair? The chair is at the left of the room.",
    "Classify the object. It is an airplane. It is a bird. It is a dog.",
] * 20


def tiny_dir(seed: int = 0) -> Path:
    return _tiny_dir(seed)


@functools.cache
def _tiny_dir(seed: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"lamm-tiny{seed}-"))
    build_tiny(
        root, CORPUS, vocab_size=400, seed=seed, image_size=32, patch_size=8, vision_hidden=64, llm_hidden=64
    )
    return root


def tiny_config(seed: int = 0, *, lora: bool = False, **overrides) -> ModelConfig:
    """Config for the cached tiny bases: 16 media tokens (4x4 patches), full FT unless ``lora``."""
    root = tiny_dir(seed)
    cfg = ModelConfig(
        llm=str(root / "llm"),
        encoder={"type": "clip", "path": str(root / "clip"), "feature": "local"},
        num_media_tokens=16,
        lora=LoraSettings(r=4, alpha=8, dropout=0.0) if lora else None,
        freeze_encoder=lora,
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def write_png(path: Path, seed: int, size: tuple[int, int] = (40, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path
