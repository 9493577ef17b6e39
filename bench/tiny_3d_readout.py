"""How fast does the tiny-3d LLM learn to read its media tokens? A standalone loop on LAMM-Mini 3D VQA.

Builds the ``tiny-3d`` model (random LLM from the base of a ``lamm train --preset tiny-3d`` run, the frozen
pre-trained encoder), draws fresh LAMM-Mini scenes with ScanQA-style questions (3 per scene, first pass only),
trains the LLM + projector with AdamW at a constant lr (after 20 warm-up steps) and prints the held-out
accuracy of the answer's first token per question type (= greedy first-pass accuracy) every 100 steps.
``--features`` replaces the media tokens:

* ``encoder`` - the encoder's tokens as the preset feeds them (``bev_grid`` cells);
* ``oracle`` - per 3 x 3 cell a one-hot of colour, shape and "occupied" (x 3), i.e. perfect features;
* ``heads`` - per cell the pre-training heads' object-weighted class probabilities, rgb and occupancy
  (needs ``<encoder>/heads/token_heads.safetensors`` from ``lamm.train.pretrain.pointcloud``).

Session 5 used it to find that lr 2e-3 never learns to read even oracle features (docs/pointcloud.md):

    python bench/tiny_3d_readout.py --run runs/tiny-3d --lr 2e-3 --features oracle
    python bench/tiny_3d_readout.py --run runs/tiny-3d --lr 1.5e-4 --features oracle
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lamm.data.c4 import c4_conversation
from lamm.data.mini import world3d as W3
from lamm.model.checkpoint import CONFIG_FILE
from lamm.model.config import ModelConfig
from lamm.model.encoders.pointcloud import bev_cell_index
from lamm.model.lamm_model import build_model
from lamm.model.template import encode_sample

GRID = 3


def oracle_features(objs: list[W3.Obj3D], dim: int) -> torch.Tensor:
    x = torch.zeros(GRID * GRID, dim)
    for o in objs:  # LAMM-Mini objects stand on the cells of W3.GRID = (-1, 0, 1)
        c = int(round(o.center[1] + 1)) * GRID + int(round(o.center[0] + 1))
        x[c, list(W3.COLORS3D).index(o.color)] = 1
        x[c, 6 + W3.PRIMITIVES.index(o.label)] = 1
        x[c, 11] = 1
    return 3 * x


def heads_forward(enc, encoder_dir: Path):
    """Media tokens from the pre-training heads: per cell [class probs, rgb, occupancy], object-weighted."""
    from safetensors.torch import load_file

    h = load_file(str(encoder_dir / "heads" / "token_heads.safetensors"))
    floor = json.loads((encoder_dir / "pretrain.json").read_text("utf-8"))["classes"].index("floor")

    def forward(media: torch.Tensor) -> torch.Tensor:
        centres, x = enc.encode_groups(media)
        p = torch.softmax(x @ h["class.weight"].T + h["class.bias"], -1)
        rgb = x @ h["rgb.weight"].T + h["rgb.bias"]
        w = (1 - p[..., floor])[..., None]
        f = torch.cat([p * w, rgb * w, w], -1)
        idx = bev_cell_index(centres, GRID)
        b, _, d = f.shape
        sums = f.new_zeros(b, GRID * GRID, d).scatter_add_(1, idx[..., None].expand(-1, -1, d), f)
        weight = f.new_zeros(b, GRID * GRID).scatter_add_(1, idx, w[..., 0])
        feat = sums / weight.clamp_min(1e-3)[..., None]
        feat[..., -1] = weight / 5
        out = x.new_zeros(b, GRID * GRID, x.shape[-1])
        out[..., :d] = 3 * feat
        return out

    return forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--run", required=True, help="a `lamm train --preset tiny-3d` output folder (its base + encoder)"
    )
    ap.add_argument("--encoder", help="pre-trained encoder folder instead of the run's model.encoder.path")
    ap.add_argument("--features", choices=["encoder", "oracle", "heads"], default="encoder")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--scenes", type=int, default=250, help="training scenes (3 questions each)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = sorted((Path(args.run) / "checkpoints").glob("step-*"))[-1]
    config = ModelConfig.from_dict(json.loads((ckpt / CONFIG_FILE).read_text("utf-8")))
    if args.encoder:
        config.encoder = {**config.encoder, "path": args.encoder}
    torch.manual_seed(0)
    model, tok = build_model(config)  # fresh projector; the LLM from the run's random base
    enc = model.encoder
    pre = enc.preprocessor()
    if args.features == "oracle":
        enc.forward = lambda media: media
    elif args.features == "heads":
        enc._forward = heads_forward(enc, Path(config.encoder["path"]))
    rng = np.random.default_rng(args.seed)

    def make(n: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]]:
        out = []
        for i in range(n):
            objs = W3.make_scene(rng)
            pts = W3.scene_points(rng, objs, config.encoder.get("num_points", 2048))
            media = torch.tensor(pre.process(pts, key=f"scene{i}")).float()
            if args.features == "oracle":
                media = oracle_features(objs, enc.hidden_size)
            for _ in range(3):
                q = W3.scanqa_question(objs, rng)
                e = encode_sample(
                    c4_conversation("vqa3d", q, rng), "VQA3d", tok, num_media_tokens=config.num_media_tokens,
                    modality="pcl", template=config.template, max_length=96, sample_id=f"scene{i}",
                )  # fmt: skip
                kind = (
                    "count" if "many" in q["question"] else "color" if "color" in q["question"] else "shape"
                )
                out.append((torch.tensor(e.input_ids), torch.tensor(e.labels), media, kind))
        return out

    train, test = make(args.scenes), make(100)

    def batch(samples):
        n, length = len(samples), max(len(s[0]) for s in samples)
        ids = torch.full((n, length), tok.pad_token_id)
        labels = torch.full((n, length), -100)
        mask = torch.zeros(n, length, dtype=torch.long)
        for j, (i, lab, _, _) in enumerate(samples):
            ids[j, : len(i)], labels[j, : len(lab)], mask[j, : len(i)] = i, lab, 1
        return ids, labels, mask, torch.stack([s[2] for s in samples])

    def evaluate() -> dict[str, float]:
        model.eval()
        right: dict[str, list[int]] = {}
        with torch.no_grad():
            for k in range(0, len(test), 50):
                chunk = test[k : k + 50]
                ids, labels, mask, media = batch(chunk)
                logits = model(ids, attention_mask=mask, media=media).logits
                for j, s in enumerate(chunk):
                    first = int((labels[j] != -100).nonzero()[0])
                    right.setdefault(s[3], []).append(int(logits[j, first - 1].argmax() == labels[j, first]))
        model.train()
        return {k: round(float(np.mean(v)), 2) for k, v in sorted(right.items())}

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.001)
    order = np.random.default_rng(0)
    t0 = time.time()
    print(f"features {args.features}, lr {args.lr}, {len(train)} training questions; chance: colour 0.17, "
          f"shape 0.2, count 0.5")  # fmt: skip
    for step in range(1, args.steps + 1):
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, step / 20)
        ids, labels, mask, media = batch([train[i] for i in order.choice(len(train), 16, replace=False)])
        loss = model(ids, labels=labels, attention_mask=mask, media=media).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 100 == 0:
            print(
                f"step {step} loss {loss.item():.3f} held-out {evaluate()} ({time.time() - t0:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
