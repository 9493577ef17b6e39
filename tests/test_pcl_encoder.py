"""Point-cloud encoder: FPS/kNN/ball-query ops against hand-made clouds and loop references, the encoder's
shapes, gradients and frozen mode, and pretrained-weight key mapping (Point-BERT, ULIP, EPCL)."""

from __future__ import annotations

import argparse
import itertools
import pickle

import numpy as np
import pytest
import torch

from lamm.model.encoders import build_encoder
from lamm.model.encoders.pcl_ops import (
    ball_query,
    farthest_point_sample,
    fps_start_indices,
    gather_points,
    group_points,
    knn_indices,
)
from lamm.model.encoders.pointcloud import bev_pool, detect_format, load_pretrained, map_state_dict

torch.set_num_threads(1)

TINY = {
    "type": "pointcloud",
    "num_points": 256,
    "num_groups": 16,
    "group_size": 8,
    "hidden_size": 32,
    "depth": 2,
    "num_heads": 4,
    "pointnet_dims": [16, 32],
    "group_dim": 48,
}
TINY_EPCL = {**TINY, "style": "epcl", "radius": 0.5, "num_prompt_tokens": 3, "group_dim": None}


# ------------------------------------------------------------------------------- loop references


def fps_loop(points: list[list[float]], g: int, start: int) -> list[int]:
    min_d = [float("inf")] * len(points)
    picked, cur = [start], start
    for _ in range(g - 1):
        cx, cy, cz = points[cur]
        best, best_d = -1, -1.0
        for j, (x, y, z) in enumerate(points):
            d = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2
            min_d[j] = min(min_d[j], d)
            if min_d[j] > best_d:
                best, best_d = j, min_d[j]
        picked.append(best)
        cur = best
    return picked


def knn_loop(points: list[list[float]], centre: list[float], k: int) -> list[int]:
    d = [sum((a - b) ** 2 for a, b in zip(p, centre)) for p in points]
    return sorted(range(len(points)), key=lambda j: d[j])[:k]


def ball_loop(points: list[list[float]], centre: list[float], r: float, k: int) -> list[int]:
    found = [j for j, p in enumerate(points) if sum((a - b) ** 2 for a, b in zip(p, centre)) < r * r][:k]
    if not found:
        return [0] * k
    return found + [found[0]] * (k - len(found))


# -------------------------------------------------------------------------------------------- ops


def test_fps_picks_cube_corners_first():
    corners = [list(c) for c in itertools.product([0.0, 1.0], repeat=3)]
    inner = [[0.5, 0.5, 0.5], [0.3, 0.6, 0.4], [0.7, 0.2, 0.5], [0.5, 0.5, 0.9]]
    xyz = torch.tensor([corners + inner])
    idx = farthest_point_sample(xyz, 9, start_idx=torch.tensor([0]))
    # 0=(0,0,0) -> its opposite 7=(1,1,1); then every other corner is at distance 1 from the picked set
    # (first index wins ties), interior points are closer than 1 -> only the 9th pick is interior.
    assert idx[0, :8].tolist() == [0, 7, 1, 2, 3, 4, 5, 6]
    assert idx[0, 8].item() >= 8


def test_fps_on_a_line_and_default_start():
    xyz = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0], [10.0, 0, 0]]])
    assert farthest_point_sample(xyz, 3).tolist() == [[0, 3, 2]]  # default start: index 0 (pointnet2)
    assert farthest_point_sample(xyz, 4, start_idx=torch.tensor([3])).tolist() == [[3, 0, 2, 1]]


def test_fps_seed_is_deterministic_and_matters():
    xyz = torch.rand(3, 500, 3)
    a = farthest_point_sample(xyz, 32, seed=7)
    b = farthest_point_sample(xyz, 32, seed=7)
    assert torch.equal(a, b)
    assert a[:, 0].tolist() == fps_start_indices(3, 500, seed=7).tolist()
    assert not torch.equal(fps_start_indices(3, 500, seed=7), fps_start_indices(3, 500, seed=8))
    state = torch.get_rng_state()
    farthest_point_sample(xyz, 4, seed=1)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is untouched


def test_vectorised_ops_equal_loop_references():
    gen = torch.Generator().manual_seed(0)
    xyz = torch.rand(2, 300, 3, generator=gen, dtype=torch.float64)
    idx = farthest_point_sample(xyz, 20, seed=3)
    centres = gather_points(xyz, idx)
    knn = knn_indices(xyz, centres, 9)
    ball = ball_query(xyz, centres, 0.15, 12)
    for b in range(2):
        pts = xyz[b].tolist()
        assert idx[b].tolist() == fps_loop(pts, 20, int(idx[b, 0]))
        for g in range(20):
            c = centres[b, g].tolist()
            assert knn[b, g].tolist() == knn_loop(pts, c, 9)
            assert ball[b, g].tolist() == ball_loop(pts, c, 0.15, 12)


def test_ball_query_padding_and_empty_ball():
    xyz = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0], [5.0, 0, 0]]])
    centres = torch.tensor([[[0.0, 0, 0], [9.0, 9, 9]]])
    assert ball_query(xyz, centres, 0.5, 4).tolist() == [[[0, 1, 0, 0], [0, 0, 0, 0]]]


def test_group_points_relative_xyz_and_features():
    pts = torch.rand(2, 100, 6)
    centres, groups = group_points(pts, 10, 5, seed=0)
    assert centres.shape == (2, 10, 3) and groups.shape == (2, 10, 5, 6)
    assert torch.allclose(groups[:, :, 0, :3], torch.zeros(2, 10, 3))  # nearest neighbour = the centre
    idx = knn_indices(pts[..., :3].contiguous(), centres, 5)
    assert torch.equal(groups[..., 3:], gather_points(pts[..., 3:], idx))


# ---------------------------------------------------------------------------------------- encoder


@pytest.mark.parametrize("cfg", [TINY, TINY_EPCL, {**TINY, "use_color": True, "use_height": True}])
def test_encoder_shape_and_gradients(cfg):
    enc = build_encoder({**cfg, "trainable": True})
    channels = 3 + 3 * cfg.get("use_color", False) + cfg.get("use_height", False)
    assert enc.modality == "pcl" and enc.num_tokens == 16 and enc.hidden_size == 32
    out = enc(torch.rand(2, 256, channels))
    assert out.shape == (2, 16, 32)
    out.square().mean().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_bev_pool_averages_groups_per_cell_row_major():
    """Cells split each cloud's own centre xy extent; tokens are cell means, x fastest; empty cells are 0."""
    centres = torch.tensor([[[0.0, 0.0, 0.0], [0.1, 0.2, 0.5], [2.0, 0.0, 0.0], [2.0, 2.0, 1.0]]])
    tokens = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [7.0, 1.0]]])
    out = bev_pool(centres, tokens, 2)
    assert out.shape == (1, 4, 2)
    # cell (x0, y0): groups 0 and 1; (x1, y0): group 2; (x0, y1): none; (x1, y1): group 3
    assert torch.equal(out[0], torch.tensor([[2.0, 1.0], [5.0, 5.0], [0.0, 0.0], [7.0, 1.0]]))
    # the split follows each cloud: the same layout shifted and scaled pools the same way
    assert torch.equal(bev_pool(centres * 3 + 1, tokens, 2), out)


def test_encoder_bev_grid_tokens():
    enc = build_encoder({**TINY, "bev_grid": 3, "use_color": True}).eval()
    assert enc.num_tokens == 9
    x = torch.rand(2, 256, 6)
    out = enc(x)
    assert out.shape == (2, 9, 32) and torch.isfinite(out).all()
    centres, groups = enc.encode_groups(x)
    assert centres.shape == (2, 16, 3) and groups.shape == (2, 16, 32)
    assert torch.allclose(out, bev_pool(centres, groups, 3))
    with pytest.raises(ValueError, match="bev_grid 3 gives 9 tokens"):
        build_encoder({**TINY, "bev_grid": 3, "num_tokens": 16})


def test_encoder_deterministic_and_num_tokens():
    enc = build_encoder({**TINY, "num_tokens": 10, "fps_seed": 5}).eval()
    x = torch.rand(2, 256, 3)
    a, b = enc(x), enc(x)
    assert a.shape == (2, 10, 32) and torch.equal(a, b)
    # a sample's features do not depend on its batch neighbours (eval mode, shared FPS start)
    assert torch.allclose(enc(x[1:]), a[1:], atol=1e-5)
    twin = build_encoder({**TINY, "num_tokens": 10, "fps_seed": 5})
    assert all(torch.equal(p, q) for p, q in zip(enc.parameters(), twin.parameters()))  # seeded init


def test_frozen_encoder():
    enc = build_encoder(TINY)  # trainable defaults to False
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training and not enc.encoder.first_conv[1].training
    stats = enc.encoder.first_conv[1].running_mean.clone()
    out = enc(torch.rand(2, 256, 3))
    assert out.grad_fn is None
    assert torch.equal(stats, enc.encoder.first_conv[1].running_mean)
    enc.set_trainable(True)
    enc.train()
    assert enc.training and all(p.requires_grad for p in enc.parameters())


def test_encoder_rejects_wrong_channels():
    enc = build_encoder(TINY)
    with pytest.raises(ValueError, match=r"\[B, N, 3\]"):
        enc(torch.rand(1, 256, 6))
    with pytest.raises(ValueError, match="unknown pointcloud encoder keys"):
        build_encoder({**TINY, "num_group": 3})


def test_preprocessor_pickles_and_loads(tmp_path):
    enc = build_encoder({**TINY, "use_color": True})
    rng = np.random.default_rng(0)
    cloud = np.concatenate([rng.random((500, 3)), rng.integers(0, 256, (500, 3))], axis=1)
    np.save(tmp_path / "s.npy", cloud.astype(np.float32))
    pre = pickle.loads(pickle.dumps(enc.preprocessor()))
    x = pre(tmp_path / "s.npy")
    assert x.dtype == torch.float32 and x.shape == (256, 6)
    assert torch.equal(x, pre(tmp_path / "s.npy"))
    assert enc(x[None]).shape == (1, 16, 32)


# ---------------------------------------------------------------------------------------- weights


def _as_pointbert(sd: dict) -> dict:
    """Our names -> a Point-BERT pre-training checkpoint's (``module.transformer_q.`` + ``blocks.blocks.``)."""
    out = {}
    for k, v in sd.items():
        k = k.replace("blocks.", "blocks.blocks.", 1) if k.startswith("blocks.") else k
        out[f"module.transformer_q.{k}"] = v.clone()
    return out


def test_pointbert_checkpoint_mapping_and_report(tmp_path):
    src = build_encoder({**TINY, "seed": 1}).eval()
    ckpt = _as_pointbert(src.state_dict())
    del ckpt["module.transformer_q.norm.bias"]
    ckpt["module.transformer_q.cls_head_finetune.0.weight"] = torch.zeros(4, 4)
    ckpt["module.transformer_k.cls_token"] = torch.zeros(1, 1, 32)
    ckpt["module.transformer_q.extra.weight"] = torch.zeros(2)
    assert detect_format(list(ckpt)) == "pointbert"
    torch.save({"base_model": ckpt, "epoch": 3}, tmp_path / "pointbert.pth")

    dst = build_encoder({**TINY, "seed": 2}).eval()
    report = load_pretrained(dst, tmp_path / "pointbert.pth")
    assert report.fmt == "pointbert"
    assert report.missing == ["norm.bias"]
    assert report.unexpected == ["extra.weight"]
    assert sorted(report.ignored) == [
        "module.transformer_k.cls_token",
        "module.transformer_q.cls_head_finetune.0.weight",
    ]
    assert "missing (1" in str(report) and "unexpected (1" in str(report)
    for k, v in src.state_dict().items():
        if k != "norm.bias":
            assert torch.equal(dst.state_dict()[k], v), k
    with pytest.raises(ValueError, match="strict_weights"):
        load_pretrained(dst, tmp_path / "pointbert.pth", strict=True)


def test_ulip_checkpoint_via_config_gives_identical_outputs(tmp_path):
    src = build_encoder({**TINY, "seed": 1}).eval()
    pointbert = _as_pointbert(src.state_dict())
    sd = {k.replace("module.transformer_q.", "module.point_encoder."): v for k, v in pointbert.items()}
    sd["module.text_projection"] = torch.zeros(3)
    sd["module.point_encoder.cls_head_finetune.weight"] = torch.zeros(3)
    torch.save({"state_dict": sd}, tmp_path / "ulip.pt")
    dst = build_encoder({**TINY, "seed": 2, "path": str(tmp_path), "strict_weights": True}).eval()
    assert dst.load_report.fmt == "ulip" and dst.load_report.ok
    x = torch.rand(2, 256, 3)
    assert torch.equal(dst(x), src(x))


def test_epcl_checkpoint_mapping_with_args_namespace(tmp_path):
    src = build_encoder({**TINY_EPCL, "seed": 1}).eval()
    inverse = [
        ("sa.layer", "pre_encoder.mlp_module.layer"),
        (".bn.", ".bn.bn."),
        ("pos_embed.", "encoder.pos_embed."),
        ("ln_pre.", "encoder.clip_vit.ln_pre."),
        ("prompt.", "te_encoder."),
        ("blocks.", "encoder.clip_vit.transformer.resblocks."),
        (".norm1.", ".ln_1."),
        (".norm2.", ".ln_2."),
        (".attn.qkv.weight", ".attn.in_proj_weight"),
        (".attn.qkv.bias", ".attn.in_proj_bias"),
        (".attn.proj.", ".attn.out_proj."),
        (".mlp.fc1.", ".mlp.c_fc."),
        (".mlp.fc2.", ".mlp.c_proj."),
    ]
    ckpt = {}
    for k, v in src.state_dict().items():
        for a, b in inverse:
            if k.startswith(a) or (a.startswith(".") and a in k):
                k = k.replace(a, b, 1)
        ckpt[k] = v.clone()
    assert "encoder.clip_vit.transformer.resblocks.1.attn.in_proj_weight" in ckpt
    assert "pre_encoder.mlp_module.layer0.bn.bn.running_mean" in ckpt
    ckpt["encoder.clip_vit.ln_post.weight"] = torch.ones(32)
    ckpt["encoder.clip_vit.conv1.weight"] = torch.ones(32, 3, 14, 14)
    torch.save(
        {"model": ckpt, "args": argparse.Namespace(enc_dim=32, use_color=False)}, tmp_path / "epcl.pth"
    )

    dst = build_encoder({**TINY_EPCL, "seed": 2}).eval()
    report = load_pretrained(dst, tmp_path / "epcl.pth", strict=True)
    assert report.fmt == "epcl" and report.ok
    assert sorted(report.ignored) == ["encoder.clip_vit.conv1.weight", "encoder.clip_vit.ln_post.weight"]
    x = torch.rand(2, 256, 3)
    assert torch.equal(dst(x), src(x))


def test_shape_mismatch_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    src = build_encoder(TINY)
    save_file(src.state_dict(), str(tmp_path / "enc.safetensors"))
    colour = build_encoder({**TINY, "use_color": True})
    report = load_pretrained(colour, tmp_path / "enc.safetensors", "lamm")
    assert report.mismatched == [("encoder.first_conv.0.weight", (16, 3, 1), (16, 6, 1))]
    assert report.missing == [] and report.unexpected == []
    mapped, ignored, fmt = map_state_dict(src.state_dict())
    assert fmt == "lamm" and ignored == [] and set(mapped) == set(src.state_dict())
    with pytest.raises(ValueError, match="no tensor"):
        save_file({"x": torch.zeros(1)}, str(tmp_path / "junk.safetensors"))
        load_pretrained(colour, tmp_path / "junk.safetensors")


@pytest.mark.parametrize("preset", ["tiny-3d", "lamm-13b-3d"])
def test_3d_presets_encoder_sections(preset):
    import yaml

    from lamm.model.encoders.pointcloud import PointCloudEncoderConfig
    from lamm.train.config import load_config, preset_path

    cfg = load_config(preset_path(preset))
    enc = PointCloudEncoderConfig.from_dict(cfg.model["encoder"])
    assert enc.num_tokens == cfg.model["num_media_tokens"]
    if preset == "lamm-13b-3d":  # the paper: EPCL, 256 tokens x 1024, 40,000 xyz points, frozen
        raw = yaml.safe_load(preset_path(preset).read_text())
        assert (enc.style, enc.num_tokens, enc.hidden_size, enc.num_points) == ("epcl", 256, 1024, 40000)
        assert not enc.use_color and raw["model"]["freeze_encoder"] and raw["model"]["lora"]["r"] == 32


def test_trained_batchnorm_statistics_survive_a_checkpoint(tmp_path):
    """A trainable point-cloud encoder changes BatchNorm running stats; the checkpoint must keep them."""
    from model_helpers import tiny_config

    from lamm.model.checkpoint import load_trainable, save_trainable
    from lamm.model.lamm_model import build_model

    cfg = tiny_config(encoder={k: v for k, v in TINY.items()}, freeze_encoder=False)
    model, tok = build_model(cfg)
    model.train()
    model.encoder(torch.rand(4, 256, 3) * 3)  # training-mode forward: running stats move
    bn = "encoder.encoder.first_conv.1.running_mean"
    assert bn in model.trainable_state_dict()
    save_trainable(model, tmp_path / "ckpt", tok)
    fresh, _ = build_model(cfg)
    assert not torch.equal(fresh.state_dict()[bn], model.state_dict()[bn])
    load_trainable(fresh, tmp_path / "ckpt")
    assert torch.equal(fresh.state_dict()[bn], model.state_dict()[bn])
    x = torch.rand(2, 256, 3)
    assert torch.equal(fresh.eval().encoder(x), model.eval().encoder(x))


def test_layer_norm_groups_do_not_depend_on_batch_neighbours():
    """group_norm: layer normalises each point on its own, so a training-mode encoder gives a cloud the same
    tokens whatever else is in the batch (BatchNorm in training mode does not)."""
    torch.manual_seed(0)
    a, b = torch.rand(1, 256, 3), torch.rand(1, 256, 3) * 5
    for norm, same in (("layer", True), ("batch", False)):
        enc = build_encoder({**TINY, "group_norm": norm, "trainable": True}).train()
        alone, mixed = enc(a), enc(torch.cat([a, b]))[:1]
        assert torch.allclose(alone, mixed, atol=1e-5) is same, norm
    with pytest.raises(ValueError, match="group_norm"):
        build_encoder({**TINY, "group_norm": "group"})


def test_group_xyz_scale_divides_the_offsets_only():
    torch.manual_seed(0)
    x = torch.rand(1, 256, 6)
    cfg = {**TINY, "use_color": True}
    plain = build_encoder(cfg).eval()
    scaled = build_encoder({**cfg, "group_xyz_scale": 0.25}).eval()  # same seed: same weights
    centres, groups = group_points(x, 16, 8)
    want = plain.reduce_dim(plain.encoder(torch.cat([groups[..., :3] * 4, groups[..., 3:]], -1)))
    got_centres, feats = scaled.tokenize(x)
    assert torch.equal(got_centres, centres) and torch.allclose(feats, want, atol=1e-5)
    assert not torch.allclose(plain.tokenize(x)[1], want, atol=1e-3)


def test_cached_outputs_equal_fresh_ones():
    """cache_outputs memoises a frozen encoder's tokens per cloud; a trainable encoder never uses it."""
    torch.manual_seed(0)
    x = torch.rand(3, 256, 3)
    want = build_encoder(TINY).eval()(x)
    cached = build_encoder({**TINY, "cache_outputs": 2}).eval()
    assert torch.allclose(cached(x), want, atol=1e-6) and len(cached._cache) == 2  # full: the third not kept
    first = next(iter(cached._cache.values()))
    assert torch.allclose(cached(x[[2, 0]]), want[[2, 0]], atol=1e-6)
    assert torch.equal(cached(x[:1])[0], first)  # served from the cache
    trainable = build_encoder({**TINY, "cache_outputs": 8, "trainable": True})
    trainable(x)
    assert not hasattr(trainable, "_cache")
