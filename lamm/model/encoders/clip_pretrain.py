"""Supervised pre-training of the ``tiny`` preset's small CLIP vision tower on 2D instruction answers.

The paper's model reads a *pre-trained*, frozen CLIP. A tiny tower trained from scratch only through the
LLM's loss learns too slowly for a 5-minute CPU budget (the LLM first learns the answer formats and
ignores the random image features). So, like ``pcl_pretrain`` for 3D, the tower is first trained to
predict, from its mean-pooled patch tokens, which answer words occur in the sample's assistant turns
(multi-label; words that are neither rare nor in most answers: class names, colours, counts, yes/no).
Only the training split's instruction files are read. Output: a CLIPVisionModel folder (safetensors +
``preprocessor_config.json``) usable as ``model.encoder.path=<out>`` with ``model.freeze_encoder=true``.

    python -m lamm.model.encoders.clip_pretrain --data LAMM-Mini --out runs/tiny-encoder
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import CLIPVisionConfig, CLIPVisionModel

from lamm.formats.jsonio import read_json_array
from lamm.formats.paths import data_root, resolve_media
from lamm.model.encoders.clip import CLIP_MEAN, CLIP_STD, ClipPreprocessor

_WORD = re.compile(r"[a-z0-9]+")
# Answer-format words that say nothing about the image.
STOP_WORDS = frozenset(
    "the a an is are there this that it in of image person picture and category scene answer shows has".split()
)


def answer_words(record: dict[str, Any]) -> set[str]:
    """Lower-case words of a record's assistant turns, minus ``STOP_WORDS``."""
    out: set[str] = set()
    for turn in record.get("conversations", []):
        if turn.get("from") == "gpt" and isinstance(turn.get("value"), str):
            out |= {w for w in _WORD.findall(turn["value"].lower()) if w not in STOP_WORDS}
    return out


def word_targets(
    records: list[dict[str, Any]], min_count: int = 10, max_fraction: float = 0.5
) -> tuple[list[str], torch.Tensor]:
    """The target vocabulary (words in at least ``min_count`` and at most ``max_fraction`` of the
    records) and the ``[N, V]`` 0/1 matrix of which record's answers contain which word."""
    words = [answer_words(r) for r in records]
    counts = collections.Counter(w for ws in words for w in ws)
    vocab = sorted(w for w, c in counts.items() if min_count <= c <= max_fraction * len(records))
    index = {w: i for i, w in enumerate(vocab)}
    y = torch.zeros(len(records), len(vocab))
    for i, ws in enumerate(words):
        for w in ws:
            if w in index:
                y[i, index[w]] = 1.0
    return vocab, y


def tiny_clip(tiny: dict[str, Any]) -> CLIPVisionModel:
    """A random CLIP vision tower with the ``tiny`` section's sizes (as ``lamm.model.tiny.build_tiny``)."""
    hidden = int(tiny.get("vision_hidden", 128))
    return CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=hidden,
            intermediate_size=hidden * 4,
            num_hidden_layers=int(tiny.get("vision_layers", 3)),
            num_attention_heads=int(tiny.get("heads", 4)),
            image_size=int(tiny.get("image_size", 64)),
            patch_size=int(tiny.get("patch_size", 8)),
            projection_dim=hidden,
        )
    )


def _load_images(records: list[tuple[Path, Path, dict[str, Any]]], size: int) -> torch.Tensor:
    """Media resolved as the training pipeline resolves them (a file's ``root``, else its data root)."""
    pre = ClipPreprocessor(size)  # the training pipeline's own preprocessing
    return torch.stack(
        [pre(resolve_media(root, r["image"], source=p, allow_absolute=True)) for p, root, r in records]
    )


def pretrain(
    files: list[tuple[Path, list[str] | None, str | None]],
    tiny: dict[str, Any],
    out_dir: str | Path,
    *,
    steps: int = 600,
    batch_size: int = 32,
    lr: float = 2e-3,
    min_count: int = 10,
    seed: int = 0,
    log: bool = True,
) -> dict[str, Any]:
    """Train a tiny CLIP tower on the answer words of ``files`` ((path, task_types or None, media root or
    None) triples; records with an image only) and save it to ``out_dir``; returns a summary (also written to ``pretrain.json``)."""
    torch.manual_seed(seed)
    records = [
        (Path(p), Path(root) if root else data_root(p), r)
        for p, types, root in files
        for r in read_json_array(p)
        if r.get("image") and (types is None or r.get("task_type") in types)
    ]
    if not records:
        raise ValueError(f"no image records to pre-train on in {[str(f[0]) for f in files]}")
    min_count = min(min_count, max(1, len(records) // 100))  # small data sets (smoke runs) keep words
    vocab, y = word_targets([r for _, _, r in records], min_count=min_count)
    if not vocab:
        raise ValueError(
            f"no answer word occurs in {min_count}+ of the {len(records)} records: nothing to predict"
        )
    model = tiny_clip(tiny)
    x = _load_images(records, model.config.image_size)
    head = torch.nn.Sequential(torch.nn.LayerNorm(model.config.hidden_size), torch.nn.Linear(model.config.hidden_size, len(vocab)))  # fmt: skip
    params = [*model.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    t0, ema = time.time(), None
    model.train()
    for step in range(steps):
        idx = torch.randint(len(records), (batch_size,), generator=gen)
        pooled = model(pixel_values=x[idx]).last_hidden_state[:, 1:].mean(1)  # the LLM reads patch tokens
        loss = F.binary_cross_entropy_with_logits(head(pooled), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if log and (step % 100 == 0 or step == steps - 1):
            print(f"[clip-pretrain] step {step} loss (ema) {ema:.4f}", flush=True)
    out = Path(out_dir)
    model.save_pretrained(str(out))
    (out / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD), "crop_size": model.config.image_size}),
        "utf-8",
    )  # fmt: skip
    summary = {
        "images": len(records),
        "vocab": vocab,
        "steps": steps,
        "loss_ema": ema,
        "seconds": round(time.time() - t0, 1),
        "tiny": dict(tiny),
    }
    (out / "pretrain.json").write_text(json.dumps(summary, indent=1), "utf-8")
    return summary


TOWER_KEYS = ("image_size", "patch_size", "vision_layers", "vision_hidden", "heads")


def pretrain_tiny_tower(cfg: Any, out_dir: str | Path, *, steps: int, seed: int = 0) -> dict[str, Any]:
    """Pre-train the tower of a training config's ``tiny`` section on its ``data.files`` (paths already
    resolved; ``task_types`` filters and media roots honoured); the trainer's and the CLI's one way in."""
    tiny = {k: getattr(cfg.tiny, k) for k in TOWER_KEYS}
    files = [(Path(f.path), f.task_types, f.root) for f in cfg.data.files]
    return pretrain(files, tiny, out_dir, steps=steps, seed=seed)


def pretrain_for_preset(
    preset: str, data_dir: str | Path, out_dir: str | Path, *, steps: int | None = None, seed: int = 0
) -> Path:
    """Pre-train ``preset``'s tiny vision tower on its ``data.files`` (``{data}`` = ``data_dir``, the
    preset's ``task_types`` filters honoured) into ``out_dir``; reused when already there. Returns
    ``out_dir`` for ``model.encoder.path``."""
    from lamm.train.cli import resolve_data_paths
    from lamm.train.config import load_config, preset_path

    out = Path(out_dir)
    if (out / "pretrain.json").is_file():
        return out
    cfg = load_config(preset_path(preset))
    if cfg.tiny is None:
        raise ValueError(f"preset {preset!r} has no tiny section: nothing to pre-train")
    cfg.data.files = resolve_data_paths(cfg.data.files, str(data_dir))
    steps = steps or cfg.tiny.encoder_pretrain_steps or 600
    summary = pretrain_tiny_tower(cfg, out, steps=steps, seed=seed)
    print(json.dumps({k: v for k, v in summary.items() if k != "vocab"}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="LAMM-Mini (or any) folder the preset reads")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--preset",
        default="tiny",
        help="training preset (name or .yaml path) whose tiny vision tower is pre-trained",
    )
    ap.add_argument(
        "--steps", type=int, default=None, help="default: the preset's tiny.encoder_pretrain_steps"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pretrain_for_preset(args.preset, args.data, args.out, steps=args.steps, seed=args.seed)


if __name__ == "__main__":
    main()
