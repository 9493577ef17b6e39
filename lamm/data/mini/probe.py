"""Learnability probe: can a tiny CNN read the LAMM-Mini labels from the pixels?

Trains a small CNN from scratch (CPU, seconds) per classification-like task on training-split images and
measures accuracy on the benchmark records of a LAMM-Mini build. It is a sanity check of the world
(answers are visible in the pixels at 64 px), not a LAMM model.

    python -m lamm.data.mini.probe --bench DIR/2D_Benchmark [--train 1500] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from lamm.data.mini.instruct2d import instruct_sample
from lamm.formats import load_benchmark
from lamm.tasks import DatasetSpec, datasets_2d


def probe_specs() -> dict[str, DatasetSpec]:
    """The datasets whose task file declares a probe (``Mini.probe``): classification-like ones."""
    return {s.key: s for s in datasets_2d("common") if s.mini and s.mini.probe}


def _net(n_classes: int):
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(64 * 16, n_classes),
    )  # fmt: skip


def probe(bench: str | Path, dataset: str, *, n_train: int, steps: int, seed: int = 0) -> dict:
    import torch
    from PIL import Image

    spec = probe_specs()[dataset]
    task, item_label = spec.mini.probe
    field = spec.gt_fields[0]
    recs = load_benchmark(bench, spec)
    size = Image.open(Path(bench) / recs[0].media).size[0]
    xs, ys = [], []
    for i in range(n_train):
        _, item = instruct_sample(task, i, seed, size)
        xs.append(np.asarray(item.image.convert("RGB")))
        ys.append(item_label(item))
    classes = sorted(set(ys) | {str(r.raw[field]) for r in recs})
    tx = [np.asarray(Image.open(Path(bench) / r.media).convert("RGB")) for r in recs]
    ty = [classes.index(str(r.raw[field])) for r in recs]

    def tensor(a):
        return torch.tensor(np.stack(a), dtype=torch.float32).permute(0, 3, 1, 2) / 255.0

    X, Y = tensor(xs), torch.tensor([classes.index(y) for y in ys])
    TX, TY = tensor(tx), torch.tensor(ty)
    torch.manual_seed(seed)
    net = _net(len(classes))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(len(X), (32,), generator=g)
        loss = torch.nn.functional.cross_entropy(net(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (net(TX).argmax(1) == TY).float().mean().item()
    chance = max(np.bincount(ty)) / len(ty)
    return {"dataset": dataset, "accuracy": round(acc, 4), "majority_baseline": round(float(chance), 4),
            "n_train": n_train, "n_test": len(recs), "steps": steps, "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True, help="a LAMM-Mini 2D_Benchmark folder")
    ap.add_argument("--train", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0, help="the seed the LAMM-Mini build used")
    ap.add_argument("--datasets", nargs="*", default=list(probe_specs()))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for name in args.datasets:
        print(
            json.dumps(probe(args.bench, name, n_train=args.train, steps=args.steps, seed=args.seed)),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
