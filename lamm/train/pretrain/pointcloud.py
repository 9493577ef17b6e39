"""Supervised pre-training of a small point-cloud encoder on 3D instruction data (e.g. LAMM-Mini).

The paper's 3D model reads a *pre-trained*, frozen EPCL encoder. A tiny encoder trained from scratch only
through the LLM's loss learns far too slowly (its random features reach the LLM as noise), so the
``tiny-3d`` recipe first pre-trains its encoder on the training split's own labels. Every group token
predicts (1) the category of the object its centre lies in ("floor" outside every box), (2) that object's
box (scene tokens inside a box only), read from the ``detection3d`` answers (``label [cx, cy, cz, dx,
dy, dz]``) and ``classification3d`` answers of the instruction file, (3) the mean colour of its own
group's points (self-supervised) and (4) that colour's cluster among ``COLOR_CLUSTERS`` k-means clusters of
all training groups' colours (a label-free stand-in for colour names: with it the tiny-3d LLM answers
colour questions from the cloud, without it it does not), so that a frozen encoder hands the LLM what, where and which colour per
token: scene questions need all three bound per object. Only training data is used. Output: ``<out>/encoder.safetensors`` (our key names),
loadable as ``model.encoder.path=<out>``, and the token heads in ``<out>/heads/token_heads.safetensors``
(``class.*`` over ``pretrain.json``'s classes, ``box.*``, ``rgb.*``, ``colour.*``; for probes such as
``bench/tiny_3d_readout.py``).

    python -m lamm.train.pretrain.pointcloud --data LAMM-Mini --out runs/tiny-3d-encoder
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import save_file

from lamm.formats.jsonio import read_json_array
from lamm.formats.paths import data_root, resolve_media
from lamm.model.encoders import build_encoder
from lamm.model.encoders.pcl_ops import group_points
from lamm.train.config import preset_path
from lamm.train.pretrain.loop import SUMMARY, train_steps, write_summary

COLOR_CLUSTERS = 8  # k of the colour class per group token (use_color encoders; 0 = off)
COLOR_CLUSTER_WEIGHT = 0.3  # its loss weight: 1.0 cost ScanRefer more (0.41 / 0.33 vs 0.47 / 0.45 acc@0.25)
_BOX = re.compile(r"([A-Za-z][A-Za-z ]*?)\s*\[([-0-9., ]+)\]")
FLOOR = "floor"


def token_targets(
    records: list[dict[str, Any]],
) -> dict[str, tuple[str | None, list[tuple[str, list[float]]]]]:
    """pcl path -> (whole-cloud label or None, [(label, box)]) from detection3d / classification3d answers."""
    out: dict[str, tuple[str | None, list]] = {}
    for rec in records:
        task, pcl = rec.get("task_type"), rec.get("pcl")
        answers = [t["value"] for t in rec.get("conversations", []) if t.get("from") == "gpt"]
        if not pcl or not answers:
            continue
        if task == "detection3d":
            boxes = []
            for label, nums in _BOX.findall(answers[0]):
                vals = [float(v) for v in nums.split(",") if v.strip()]
                if len(vals) == 6:
                    boxes.append((label.strip().split()[-1], vals))
            out[pcl] = (None, boxes)
        elif task == "classification3d":
            m = re.search(r"(?:category is|It is an?)\s+([A-Za-z ]+?)\.", answers[0])
            if m:
                out[pcl] = (m.group(1).strip().split()[-1], [])
    return out


def _labels_for(centres: torch.Tensor, target, classes: list[str]) -> torch.Tensor:
    return _targets_for(centres, target, classes)[0]


def _targets_for(
    centres: torch.Tensor, target, classes: list[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per centre: class index ``[G]``, owner box ``[G, 6]`` and whether that box applies ``[G]``."""
    whole, boxes = target
    g = len(centres)
    box = torch.zeros(g, 6)
    has = torch.zeros(g, dtype=torch.bool)
    if whole is not None:
        return torch.full((g,), classes.index(whole), dtype=torch.long), box, has
    lab = torch.full((g,), classes.index(FLOOR), dtype=torch.long)
    for label, vals in boxes:
        cx, cy, cz, dx, dy, dz = vals
        lo = torch.tensor([cx - abs(dx) / 2, cy - abs(dy) / 2, cz - abs(dz) / 2]) - 0.02
        hi = torch.tensor([cx + abs(dx) / 2, cy + abs(dy) / 2, cz + abs(dz) / 2]) + 0.02
        inside = ((centres >= lo) & (centres <= hi)).all(-1)
        lab[inside] = classes.index(label)
        box[inside] = torch.tensor(vals, dtype=torch.float32)
        has |= inside
    return lab, box, has


def pretrain(
    instruct_file: str | Path,
    encoder_cfg: dict[str, Any],
    out_dir: str | Path,
    *,
    steps: int = 200,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    color_clusters: int = COLOR_CLUSTERS,
    log: bool = True,
) -> dict[str, Any]:
    """Train ``encoder_cfg``'s encoder + a linear token head; save the encoder. Returns a summary.

    ``color_clusters: k`` adds a k-way colour class per group token: k-means (seeded) over the groups' mean
    colours of all training clouds, a label-free stand-in for colour names."""
    torch.manual_seed(seed)
    path = Path(instruct_file)
    targets = token_targets(read_json_array(path))
    if not targets:
        raise ValueError(f"{path}: no detection3d / classification3d answers to pre-train on")
    classes = sorted(
        {lab for w, bs in targets.values() for lab in ([w] if w else [b[0] for b in bs])} | {FLOOR}
    )
    enc = build_encoder({**encoder_cfg, "type": "pointcloud", "trainable": True})
    pre = enc.preprocessor()
    root = data_root(path)
    keys = sorted(targets)
    clouds = torch.stack([pre(resolve_media(root, k, source=path)) for k in keys])
    cfg = enc.cfg
    with torch.no_grad():  # FPS from point 0 is deterministic: group every cloud once
        parts = [group_points(c.float(), cfg.num_groups, cfg.group_size) for c in clouds.split(64)]
    all_centres = torch.cat([c for c, _ in parts])
    all_rgb = torch.cat([g[..., 3:6].mean(2) if g.shape[-1] >= 6 else g[..., :0].sum(2) for _, g in parts])
    per = [_targets_for(all_centres[i], targets[k], classes) for i, k in enumerate(keys)]
    all_y, all_box, all_has = (torch.stack(t) for t in zip(*per))
    color_clusters = color_clusters if cfg.use_color else 0  # xyz-only clouds have no colour to cluster
    heads: dict[str, torch.nn.Linear] = {}
    if color_clusters:
        centroids = kmeans(all_rgb.reshape(-1, all_rgb.shape[-1]), color_clusters, seed=seed)
        all_cc = torch.cdist(all_rgb, centroids[None].expand(len(all_rgb), -1, -1)).argmin(-1)
        heads["colour"] = torch.nn.Linear(enc.hidden_size, color_clusters)
    head = torch.nn.Linear(enc.hidden_size, len(classes))
    box_head = torch.nn.Linear(enc.hidden_size, 6)
    rgb_head = torch.nn.Linear(enc.hidden_size, 3)
    heads = {"class": head, "box": box_head, "rgb": rgb_head, **heads}  # per group token
    params = [*enc.parameters(), *(p for h in heads.values() for p in h.parameters())]
    t0, acc = time.time(), 0.0
    enc.train()

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        nonlocal acc
        idx = torch.randint(len(keys), (batch_size,), generator=gen)
        x = clouds[idx]
        feats = enc.encode_groups(x)[1]
        t = feats.shape[1]
        y, box, has, rgb = all_y[idx, :t], all_box[idx, :t], all_has[idx, :t], all_rgb[idx, :t]
        logits = head(feats)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        if has.any():
            loss = loss + F.smooth_l1_loss(box_head(feats)[has], box[has], beta=0.1)
        if cfg.use_color:  # mean (normalised) colour of each group's points
            loss = loss + F.mse_loss(rgb_head(feats), rgb)
        if color_clusters:
            loss = loss + COLOR_CLUSTER_WEIGHT * F.cross_entropy(
                heads["colour"](feats).flatten(0, 1), all_cc[idx, :t].flatten()
            )
        acc = 0.9 * acc + 0.1 * (logits.argmax(-1) == y[:, : logits.shape[1]]).float().mean().item()
        return loss

    train_steps(
        params, batch_loss, steps=steps, lr=lr, seed=seed, tag="pcl-pretrain", log_every=50, log=log,
        note=lambda: f", token acc (ema) {acc:.3f}",
    )  # fmt: skip
    enc.eval()  # fit on (a stride of) the training clouds in eval mode, BatchNorm running statistics
    with torch.no_grad():
        sub = torch.arange(len(keys))[:: max(1, len(keys) // 128)]
        t = enc.cfg.num_groups
        right = head(enc.encode_groups(clouds[sub])[1]).argmax(-1) == all_y[sub, :t]
        on_obj = all_y[sub, :t] != classes.index(FLOOR)
        fit = {
            "token_acc": right.float().mean().item(),
            "object_token_acc": right[on_obj].float().mean().item(),
        }
    if log:
        print(f"[pcl-pretrain] fit on training clouds: {json.dumps(fit)}", flush=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in enc.state_dict().items()}, str(out / "encoder.safetensors"))
    (out / "heads").mkdir(exist_ok=True)  # a sub-folder: model.encoder.path=<out> must hold one weight file
    save_file(
        {f"{n}.{k}": v.contiguous() for n, h in heads.items() for k, v in h.state_dict().items()},
        str(out / "heads" / "token_heads.safetensors"),
    )
    summary = {
        "clouds": len(keys),
        "classes": classes,
        "steps": steps,
        "token_acc_ema": acc,
        "fit": fit,
        "color_clusters": color_clusters,
        "seconds": round(time.time() - t0, 1),
        "encoder": {k: v for k, v in encoder_cfg.items() if k != "type"},
    }
    return write_summary(out, summary)


def kmeans(x: torch.Tensor, k: int, *, seed: int = 0, iters: int = 25) -> torch.Tensor:
    """Lloyd's k-means on rows of ``x`` [N, D] from a seeded k-means++ start; returns centroids [k, D].

    Kept over scipy's ``kmeans2`` (issue 15.6 asked for it): on LAMM-Mini's group colours both find the
    same 8 clusters (mean squared distance 0.00268 each, same sizes) but number them in another order,
    and that alone moved the tiny-3d quickstart from ScanRefer acc@0.5 0.46 / ScanQA 0.54 to 0.34 / 0.50
    (seed 0, 50 records each): the cluster order is part of the pre-trained encoder."""
    gen = torch.Generator().manual_seed(seed)
    centres = x[torch.randint(len(x), (1,), generator=gen)]
    for _ in range(1, k):
        d = torch.cdist(x, centres).min(1).values.square()
        centres = torch.cat([centres, x[torch.multinomial(d / d.sum(), 1, generator=gen)]])
    for _ in range(iters):
        assign = torch.cdist(x, centres).argmin(1)
        for j in range(k):
            if (assign == j).any():
                centres[j] = x[assign == j].mean(0)
    return centres


def pretrain_for_preset(
    preset: str,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    steps: int = 200,
    seed: int = 0,
    color_clusters: int = COLOR_CLUSTERS,
) -> Path:
    """Pre-train ``preset``'s ``model.encoder`` on ``data_dir``'s 3D instruction file into ``out_dir``
    (reused when ``out_dir`` holds a finished one: its summary, written last); returns ``out_dir`` for ``model.encoder.path``.
    ``preset`` is a shipped preset's name or the path of a training config (``.yaml``)."""
    out = Path(out_dir)
    if (
        out / SUMMARY
    ).is_file():  # not the weights: a run killed while saving left them without heads/summary
        return out
    enc_cfg = yaml.safe_load(preset_path(preset).read_text("utf-8"))["model"]["encoder"]
    drop = ("path", "weights_format", "trainable", "cache_outputs")
    enc_cfg = {k: v for k, v in enc_cfg.items() if k not in drop}
    files = sorted((Path(data_dir) / "3D_Instruct" / "meta_file").glob("*.json"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"expected one 3D instruction file under {data_dir}/3D_Instruct/meta_file, found {files}"
        )
    print(json.dumps(pretrain(files[0], enc_cfg, out, steps=steps, seed=seed, color_clusters=color_clusters)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, required=True, help="LAMM-Mini folder (uses 3D_Instruct/meta_file/*.json)"
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--preset",
        default="tiny-3d",
        help="training preset (name or .yaml path) whose model.encoder is pre-trained",
    )
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--color-clusters", type=int, default=COLOR_CLUSTERS,
        help=f"k-way colour class per group token (k-means; default {COLOR_CLUSTERS}, 0: off)",
    )  # fmt: skip
    args = ap.parse_args()
    pretrain_for_preset(
        args.preset, args.data, args.out, steps=args.steps, seed=args.seed, color_clusters=args.color_clusters
    )


if __name__ == "__main__":
    main()
