"""Shared fixtures for the training tests: a tiny instruction set with real PNGs and a tiny base model."""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}
TINY = {"image_size": 16, "patch_size": 8, "vision_layers": 1, "vision_hidden": 32, "llm_layers": 1,
        "llm_hidden": 32, "heads": 2, "vocab_size": 1000}  # fmt: skip


def make_instruct(root: Path, n: int = 32, seed: int = 0, name: str = "train.json") -> Path:
    """``root/meta_file/<name>`` with ``n`` colour-naming samples (some multi-turn, lengths vary)."""
    (root / "meta_file").mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        colour = rng.choice(sorted(COLORS))
        img = root / "images" / f"{name[:-5]}_{i}.png"
        Image.new("RGB", (24, 20), COLORS[colour]).save(img)
        conv = [
            {"from": "human", "value": "<image>\nWhat colour is the image?"},
            {"from": "gpt", "value": f"The image is {colour}."},
        ]
        if i % 3 == 0:
            conv += [
                {"from": "human", "value": "Are you sure?"},
                {"from": "gpt", "value": f"Yes, it is {colour}" + " really" * (i % 5) + "."},
            ]
        task = "classification" if i % 2 else "conversation"
        recs.append(
            {
                "id": f"{name[:-5]}-{i}",
                "image": f"images/{img.name}",
                "conversations": conv,
                "task_type": task,
            }
        )
    path = root / "meta_file" / name
    path.write_text(json.dumps(recs), "utf-8")
    return path


def texts_of(path: Path) -> list[str]:
    """The tokenizer corpus the trainer's tiny preset would use (turns + system messages)."""
    from lamm.train.config import DataFile
    from lamm.train.tiny_base import tokenizer_corpus

    return tokenizer_corpus([DataFile(str(path))])


def make_base(out: Path, data: Path, *, seed: int = 0):
    """Build the tiny random base (CLIP + LLaMA + BPE tokenizer) once; returns its ModelConfig dict."""
    from lamm.model.tiny import build_tiny

    cfg = build_tiny(out, texts_of(data), seed=seed, **TINY)
    return cfg.to_dict()
