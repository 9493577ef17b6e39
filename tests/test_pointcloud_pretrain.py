"""Point-cloud encoder pre-training (``lamm.train.pretrain.pointcloud``): token targets from 3D answers, a
short run whose saved encoder and token heads load, and the seeded colour k-means (scipy's kmeans2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lamm.model.encoders import build_encoder

torch.set_num_threads(1)

TINY = {
    "type": "pointcloud", "num_points": 256, "num_groups": 16, "group_size": 8, "hidden_size": 32, "depth": 2,
    "num_heads": 4, "pointnet_dims": [16, 32], "group_dim": 48,
}  # fmt: skip


def test_pretrain_targets_and_saved_encoder_loads(tmp_path):
    import json

    from lamm.train.pretrain.pointcloud import _labels_for, _targets_for, pretrain, token_targets

    recs = [
        {"pcl": "pcls/s0.npy", "task_type": "detection3d", "conversations": [
            {"from": "human", "value": "Find every object."},
            {"from": "gpt", "value": "The objects are: sphere [1.00, 1.00, 0.25, 0.50, 0.50, 0.50], box [-1.00, 0.00, 0.30, 0.40, 0.40, 0.60]."},
        ]},
        {"pcl": "pcls/o0.npy", "task_type": "classification3d", "conversations": [
            {"from": "human", "value": "What object is this?"}, {"from": "gpt", "value": "It is a cone."},
        ]},
        {"pcl": "pcls/s0.npy", "task_type": "VQA3d", "conversations": [
            {"from": "human", "value": "Q"}, {"from": "gpt", "value": "The answer is (A)."},
        ]},
    ]  # fmt: skip
    t = token_targets(recs)
    assert t["pcls/o0.npy"] == ("cone", [])
    assert t["pcls/s0.npy"] == (
        None,
        [("sphere", [1.0, 1.0, 0.25, 0.5, 0.5, 0.5]), ("box", [-1.0, 0.0, 0.3, 0.4, 0.4, 0.6])],
    )
    classes = ["box", "cone", "floor", "sphere"]
    centres = torch.tensor([[1.1, 0.9, 0.3], [-1.0, 0.1, 0.5], [0.0, 0.0, 0.0]])
    assert _labels_for(centres, t["pcls/s0.npy"], classes).tolist() == [3, 0, 2]
    assert _labels_for(centres, t["pcls/o0.npy"], classes).tolist() == [1, 1, 1]
    _, box, has = _targets_for(centres, t["pcls/s0.npy"], classes)  # the owner's box, scene tokens only
    assert has.tolist() == [True, True, False]
    assert box[0].tolist() == pytest.approx([1.0, 1.0, 0.25, 0.5, 0.5, 0.5])
    assert box[1].tolist() == pytest.approx([-1.0, 0.0, 0.3, 0.4, 0.4, 0.6]) and box[2].abs().sum() == 0
    assert not _targets_for(centres, t["pcls/o0.npy"], classes)[2].any()

    root = tmp_path / "3D_Instruct"
    (root / "pcls").mkdir(parents=True)
    (root / "meta_file").mkdir()
    rng = np.random.default_rng(0)
    for name in ("s0", "o0"):
        pts = np.concatenate([rng.random((300, 3)) * 2 - 1, rng.integers(0, 256, (300, 3))], axis=1)
        np.save(root / "pcls" / f"{name}.npy", pts.astype(np.float32))
    (root / "meta_file" / "x.json").write_text(json.dumps(recs))
    cfg = {k: v for k, v in TINY.items() if k != "type"}
    summary = pretrain(root / "meta_file" / "x.json", cfg, tmp_path / "enc", steps=3, batch_size=2, log=False)
    assert summary["clouds"] == 2 and summary["classes"] == classes
    assert 0 <= summary["fit"]["object_token_acc"] <= summary["fit"]["token_acc"] + 1  # both reported
    enc = build_encoder({**TINY, "path": str(tmp_path / "enc"), "strict_weights": True})
    assert enc.load_report.ok and enc.load_report.fmt == "lamm"
    # the token heads are kept beside the encoder (for probes), in a sub-folder so the path loads as above
    from safetensors.torch import load_file

    heads = load_file(str(tmp_path / "enc" / "heads" / "token_heads.safetensors"))
    assert heads["class.weight"].shape == (len(classes), TINY["hidden_size"])
    assert heads["box.weight"].shape == (6, TINY["hidden_size"]) and heads["rgb.weight"].shape[0] == 3
    assert (
        "colour.weight" not in heads and summary["color_clusters"] == 0
    )  # xyz-only encoder: no colour class
    summary = pretrain(
        root / "meta_file" / "x.json", {**cfg, "use_color": True}, tmp_path / "enc_rgb", steps=2, batch_size=2,
        color_clusters=3, log=False,
    )  # fmt: skip
    colour = load_file(str(tmp_path / "enc_rgb" / "heads" / "token_heads.safetensors"))["colour.weight"]
    assert summary["color_clusters"] == 3 and colour.shape == (3, TINY["hidden_size"])

    # a training config given by path (lamm.train.pretrain.pointcloud --preset some.yaml) instead of a preset name
    from lamm.train.pretrain.pointcloud import pretrain_for_preset

    conf = tmp_path / "mine.yaml"
    conf.write_text(json.dumps({"model": {"encoder": {**TINY, "path": "{encoder}", "cache_outputs": 4}}}))
    out = pretrain_for_preset(str(conf), tmp_path, tmp_path / "enc2", steps=2)
    assert build_encoder({**TINY, "path": str(out), "strict_weights": True}).load_report.ok
    # a folder killed while saving (weights, no heads, no summary) is pre-trained again, not reused
    half = tmp_path / "enc_half"
    half.mkdir()
    (half / "encoder.safetensors").write_bytes((out / "encoder.safetensors").read_bytes()[:100])
    assert pretrain_for_preset(str(conf), tmp_path, half, steps=2) == half
    assert (half / "pretrain.json").is_file() and (half / "heads" / "token_heads.safetensors").is_file()
    assert build_encoder({**TINY, "path": str(half), "strict_weights": True}).load_report.ok
    # the command line keeps its flags (15.2 moved it from lamm.model.encoders.pcl_pretrain)
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[1])
    cmd = [sys.executable, "-m", "lamm.train.pretrain.pointcloud", "--data", str(tmp_path), "--out",
           str(tmp_path / "enc3"), "--preset", str(conf), "--steps", "2", "--seed", "1", "--color-clusters", "0"]  # fmt: skip
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": repo}, timeout=300
    )
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["steps"] == 2 and said["color_clusters"] == 0 and said["classes"] == classes
    assert "[pcl-pretrain] step 1 loss (ema)" in done.stdout


def test_kmeans_is_seeded_and_finds_separated_clusters():
    from lamm.train.pretrain.pointcloud import kmeans

    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    x = torch.cat([c + 0.01 * torch.randn(50, 3, generator=gen) for c in centres])
    found = kmeans(x, 3, seed=1)
    assert torch.equal(found, kmeans(x, 3, seed=1))
    assert torch.cdist(centres, found).min(1).values.max() < 0.01  # every true centre recovered
