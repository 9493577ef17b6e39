"""Linear probe of a (tiny) CLIP vision tower on LAMM-Mini's shapes: does the tower tell them apart?

Fits a logistic-regression probe on the tower's mean-pooled patch tokens of the single-shape training
images (``2D_Instruct`` classification samples) and reports its accuracy on the CIFAR10-style benchmark
file. This is the number docs/training.md (session 4) uses to compare tower pre-training recipes
(session 3 tower: 0.38-0.43; session 4: 0.995).

    python bench/tower_probe.py --tower runs/tiny/base/clip --data LAMM-Mini
"""

from __future__ import annotations

import argparse
import glob
import json
import platform
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import CLIPVisionModel

from lamm.data.mini.render2d import SHAPES
from lamm.formats.jsonio import read_json_array
from lamm.model.encoders.clip import ClipPreprocessor


def _label(text: str) -> int:
    return next(i for i, s in enumerate(SHAPES) if s in text.lower())


def probe(tower: Path, data: Path, seed: int = 0, steps: int = 300) -> dict:
    torch.manual_seed(seed)
    model = CLIPVisionModel.from_pretrained(str(tower)).eval()
    pre = ClipPreprocessor(model.config.image_size)
    instruct = sorted(glob.glob(str(data / "2D_Instruct/meta_file/vision_task_dialogue_*.json")))
    train = [r for f in instruct for r in read_json_array(f) if r["id"].startswith("classification_")]
    test = read_json_array(data / "2D_Benchmark/meta_file/Classification_CIFAR10.json")
    if not train or not test:
        raise SystemExit(f"{data}: no classification training samples or CIFAR10 records")

    @torch.no_grad()
    def features(paths: list[Path]) -> torch.Tensor:
        x = torch.stack([pre(p) for p in paths])
        return model(pixel_values=x).last_hidden_state[:, 1:].mean(1)

    a = features([data / "2D_Instruct" / r["image"] for r in train])
    b = features([data / "2D_Benchmark" / r["image"] for r in test])
    ya = torch.tensor([_label(r["conversations"][1]["value"]) for r in train])
    yb = torch.tensor([SHAPES.index(r["label"]) for r in test])
    mu, sd = a.mean(0), a.std(0) + 1e-5
    a, b = (a - mu) / sd, (b - mu) / sd
    head = torch.nn.Linear(a.shape[1], len(SHAPES))
    opt = torch.optim.Adam(head.parameters(), 1e-2, weight_decay=1e-3)
    for _ in range(steps):
        loss = F.cross_entropy(head(a), ya)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return {
            "tower": str(tower), "train_images": len(train), "test_records": len(test),
            "train_acc": round((head(a).argmax(1) == ya).float().mean().item(), 4),
            "test_acc": round((head(b).argmax(1) == yb).float().mean().item(), 4),
            "versions": {"torch": torch.__version__, "python": platform.python_version()}, "seed": seed,
        }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--tower", type=Path, required=True, help="CLIPVisionModel folder (e.g. runs/tiny/base/clip)"
    )
    ap.add_argument("--data", type=Path, required=True, help="LAMM-Mini folder")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(json.dumps(probe(args.tower, args.data, args.seed)))


if __name__ == "__main__":
    main()
