"""Supervised pre-training of the ``tiny`` preset's small CLIP vision tower on 2D instruction answers.

The paper's model reads a *pre-trained*, frozen CLIP. A tiny tower trained from scratch only through the
LLM's loss learns too slowly for a 5-minute CPU budget (the LLM first learns the answer formats and
ignores the random image features). So, like ``lamm.train.pretrain.pointcloud`` for 3D, the tower is
first trained (by the shared ``lamm.train.pretrain.loop``) on targets read from the assistant turns
(words that are neither rare nor in most answers: class names, colours, counts, yes/no):

* patch level, for answers with boxes (``red circle [x1, y1, x2, y2]``, the C4 detection layout): each
  patch token predicts, as one softmax, the noun of the smallest box its centre lies in (or none), and,
  down-weighted, every word naming that box. The LLM reads patch tokens, so this teaches every token
  what it shows and where; it is what makes a random ViT learn shapes within minutes (docs/training.md,
  session 4);
* image level, down-weighted when boxes exist: which answer words occur in the sample, from the
  mean-pooled patch tokens (multi-label).

Only training files are read (the preset's ``data.files`` and ``tiny.encoder_pretrain_files``, e.g.
LAMM-Mini's ``2D_Pretrain`` corpus). Output: a CLIPVisionModel folder (safetensors +
``preprocessor_config.json``) usable as ``model.encoder.path=<out>`` with ``model.freeze_encoder=true``.

    python -m lamm.train.pretrain.clip --data LAMM-Mini --out runs/tiny-encoder
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
from lamm.metrics.parse import box_segments, parse_boxes
from lamm.model.encoders.clip import CLIP_MEAN, CLIP_STD, ClipPreprocessor
from lamm.train.cli import resolve_config_paths
from lamm.train.config import Config, load_config, preset_path
from lamm.train.pretrain.loop import SUMMARY, train_steps, write_summary

# Loss weights (docs/training.md, session 4): the per-patch object class (softmax) carries shape learning;
# the multi-label word terms (image level; per patch: colour, relations) at full weight held a CIFAR10
# probe at 0.69-0.74 instead of 0.995 after the same 2,400 steps.
IMAGE_WEIGHT = 0.02
PATCH_WORD_WEIGHT = 0.05
_WORD = re.compile(r"[a-z0-9]+")
_BRACKETS = re.compile(r"\[[^\]]*\]")
# Answer-format words that say nothing about the image.
STOP_WORDS = frozenset(
    "the a an is are there this that it in of image person picture and category scene answer shows has".split()
)


def answer_words(record: dict[str, Any]) -> set[str]:
    """Lower-case words of a record's assistant turns outside ``[...]`` (box and point coordinates: their
    digits are not words, and as targets they crowded out shape learning), minus ``STOP_WORDS``."""
    out: set[str] = set()
    for turn in record.get("conversations", []):
        if turn.get("from") == "gpt" and isinstance(turn.get("value"), str):
            text = _BRACKETS.sub(" ", turn["value"].lower())
            out |= {w for w in _WORD.findall(text) if w not in STOP_WORDS}
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


def box_word_targets(
    record: dict[str, Any], index: dict[str, int], grid: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per patch, from the smallest box (normalised ``[x1, y1, x2, y2]`` in an assistant turn) containing
    its centre: the ``[grid * grid, V]`` 0/1 matrix of the vocabulary words naming that box, and the
    ``[grid * grid]`` vocabulary index of its last word, the object's noun (``-1`` outside every box);
    ``None`` without boxes."""
    boxes: list[tuple[float, tuple[float, ...], list[int]]] = []
    for turn in record.get("conversations", []):
        if turn.get("from") != "gpt" or not isinstance(turn.get("value"), str):
            continue
        text = turn["value"]
        for box, seg in zip(parse_boxes(text).value, box_segments(text)):
            words = [index[w] for w in _WORD.findall(seg.lower()) if w in index]
            if words:
                boxes.append(((box[2] - box[0]) * (box[3] - box[1]), box, words))
    if not boxes:
        return None
    centre = (torch.arange(grid) + 0.5) / grid
    y = torch.zeros(grid, grid, len(index), dtype=torch.bool)
    noun = torch.full((grid, grid), -1, dtype=torch.long)
    for _, (x1, y1, x2, y2), words in sorted(boxes, key=lambda b: b[0]):  # smallest first
        inside = (
            (centre[None, :] >= x1)
            & (centre[None, :] <= x2)
            & (centre[:, None] >= y1)
            & (centre[:, None] <= y2)
        )
        inside &= noun < 0
        for w in words:
            y[..., w] |= inside
        noun[inside] = words[-1]
    return y.flatten(0, 1), noun.flatten()


def tiny_clip(tiny: dict[str, Any]) -> CLIPVisionModel:
    """A random CLIP vision tower with the ``tiny`` section's sizes (``TOWER_KEYS``, as
    ``lamm.model.tiny.build_tiny``; the defaults are ``TinyConfig``'s, not repeated here)."""
    hidden = int(tiny["vision_hidden"])
    return CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=hidden,
            intermediate_size=hidden * 4,
            num_hidden_layers=int(tiny["vision_layers"]),
            num_attention_heads=int(tiny["heads"]),
            image_size=int(tiny["image_size"]),
            patch_size=int(tiny["patch_size"]),
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
    """Train a tiny CLIP tower on the answer words and boxes of ``files`` ((path, task_types or None, media
    root or None) triples; records with an image only) and save it to ``out_dir``; returns a summary (also
    written to ``pretrain.json``)."""
    torch.manual_seed(seed)
    records, seen = [], set()
    for p, types, root in files:
        for r in read_json_array(p):
            key = (str(Path(p).resolve()), r.get("id"))
            if not r.get("image") or (types is not None and r.get("task_type") not in types) or key in seen:
                continue  # no image, not selected, or already read through another data.files entry
            if r.get("id") is not None:
                seen.add(key)
            records.append((Path(p), Path(root) if root else data_root(p), r))
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
    grid = model.config.image_size // model.config.patch_size
    index = {w: i for i, w in enumerate(vocab)}
    dense = [box_word_targets(r, index, grid) for _, _, r in records]
    has_boxes = torch.tensor([d is not None for d in dense])
    none = (torch.zeros(grid * grid, len(vocab), dtype=torch.bool), torch.full((grid * grid,), -1))
    y_dense, nouns = (torch.stack(t) for t in zip(*[none if d is None else d for d in dense]))
    # the nouns as classes: 0 = outside every box, 1.. = the object nouns (shape names in LAMM-Mini)
    noun_vocab = sorted(set(nouns[nouns >= 0].tolist()))
    to_class = torch.zeros(len(vocab) + 1, dtype=torch.long)
    to_class[torch.tensor(noun_vocab, dtype=torch.long)] = torch.arange(1, len(noun_vocab) + 1)
    y_class = to_class[nouns]  # -1 -> the last entry, 0
    hidden = model.config.hidden_size
    head = torch.nn.Sequential(torch.nn.LayerNorm(hidden), torch.nn.Linear(hidden, len(vocab)))
    patch_head = torch.nn.Sequential(torch.nn.LayerNorm(hidden), torch.nn.Linear(hidden, len(vocab)))
    class_head = torch.nn.Sequential(torch.nn.LayerNorm(hidden), torch.nn.Linear(hidden, len(noun_vocab) + 1))
    params = [*model.parameters(), *head.parameters(), *patch_head.parameters(), *class_head.parameters()]
    t0 = time.time()
    model.train()
    # Records with boxes (the per-patch targets) fill every batch; those without add an eighth more for
    # the image term. Mixed uniformly, a corpus that is half boxes got half the patch updates, and the
    # patch task only takes off after ~150k patch-labelled images (docs/training.md, session 4).
    boxed_ids, plain_ids = torch.nonzero(has_boxes).flatten(), torch.nonzero(~has_boxes).flatten()
    if len(boxed_ids) == 0 or len(plain_ids) == 0:
        boxed_ids, plain_ids = torch.arange(len(records)), torch.arange(0)
    n_plain = max(1, batch_size // 8) if len(plain_ids) else 0
    image_weight = IMAGE_WEIGHT if has_boxes.any() else 1.0  # no boxes: the image term is the objective

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        idx = boxed_ids[torch.randint(len(boxed_ids), (batch_size,), generator=gen)]
        if n_plain:
            idx = torch.cat([idx, plain_ids[torch.randint(len(plain_ids), (n_plain,), generator=gen)]])
        patches = model(pixel_values=x[idx]).last_hidden_state[:, 1:]  # the LLM reads patch tokens
        # Word terms: summed over the vocabulary (a few positive words each), averaged over images / patches.
        image = F.binary_cross_entropy_with_logits(head(patches.mean(1)), y[idx], reduction="sum")
        loss = image_weight * image / len(idx)
        boxed = has_boxes[idx]
        if boxed.any():
            boxed_patches = patches[boxed]
            target = y_dense[idx][boxed].float()
            words = F.binary_cross_entropy_with_logits(patch_head(boxed_patches), target, reduction="sum")
            loss = loss + PATCH_WORD_WEIGHT * words / target[..., 0].numel()
            # which object (or none) each patch shows, as one softmax: what makes shapes separate quickly
            loss = loss + F.cross_entropy(
                class_head(boxed_patches).flatten(0, 1), y_class[idx][boxed].flatten()
            )
        return loss

    ema = train_steps(
        params, batch_loss, steps=steps, lr=lr, seed=seed, tag="clip-pretrain", log_every=100, log=log
    )
    out = Path(out_dir)
    model.save_pretrained(str(out))
    (out / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD), "crop_size": model.config.image_size}),
        "utf-8",
    )  # fmt: skip
    summary = {
        "images": len(records),
        "images_with_boxes": int(has_boxes.sum()),
        "patch_classes": ["(none)", *(vocab[i] for i in noun_vocab)],
        "vocab": vocab,
        "steps": steps,
        "loss_ema": ema,
        "seconds": round(time.time() - t0, 1),
        "tiny": dict(tiny),
    }
    return write_summary(out, summary)


TOWER_KEYS = ("image_size", "patch_size", "vision_layers", "vision_hidden", "heads")


def pretrain_tiny_tower(cfg: Config, out_dir: str | Path, *, steps: int, seed: int = 0) -> dict[str, Any]:
    """Pre-train the tower of a training config's ``tiny`` section on its ``data.files`` and
    ``tiny.encoder_pretrain_files`` (paths already resolved; ``task_types`` filters and media roots
    honoured; each record once, whatever the entries' ``weight`` and ``ids``: the tower sees every
    training image alike); the trainer's and the CLI's one way in."""
    tiny = {k: getattr(cfg.tiny, k) for k in TOWER_KEYS}
    files = [(Path(f.path), f.task_types, f.root) for f in cfg.data.files]
    files += [(Path(p), None, None) for p in cfg.tiny.encoder_pretrain_files]
    return pretrain(files, tiny, out_dir, steps=steps, batch_size=cfg.tiny.encoder_pretrain_batch, seed=seed)


def pretrain_for_preset(
    preset: str, data_dir: str | Path, out_dir: str | Path, *, steps: int | None = None, seed: int = 0
) -> Path:
    """Pre-train ``preset``'s tiny vision tower on its ``data.files`` (``{data}`` = ``data_dir``, the
    preset's ``task_types`` filters honoured) into ``out_dir``; reused when already there. Returns
    ``out_dir`` for ``model.encoder.path``."""
    out = Path(out_dir)
    if (out / SUMMARY).is_file():
        return out
    cfg = load_config(preset_path(preset))
    if cfg.tiny is None:
        raise ValueError(f"preset {preset!r} has no tiny section: nothing to pre-train")
    resolve_config_paths(cfg, str(data_dir))
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
