"""Point-cloud encoder: a Point-BERT / EPCL-style point tokenizer feeding a transformer, pure PyTorch.

Pipeline for a batch ``[B, N, C]`` (xyz first, then optional rgb / height):

1. farthest point sampling to ``num_groups`` centres and ``group_size`` neighbours per centre
   (``pcl_ops``: kNN as Point-BERT, or pointnet2 ball query as EPCL/3DETR), xyz made relative to the centre;
2. a mini-PointNet per group (shared 1x1 convs + max-pool): Point-BERT's two-stage ``encoder``
   (style "pointbert") or a PointNet++ set-abstraction MLP (style "epcl", xyz divided by the radius);
3. an MLP positional embedding of the centres, then a stack of pre-norm ViT blocks;
4. one token per group: ``[B, num_tokens, hidden_size]`` for the projector (CLS / task tokens dropped),
   or, with ``bev_grid: g``, the group tokens averaged into a g x g bird's-eye grid over the cloud's xy
   extent (``g * g`` tokens in a fixed spatial order; an empty cell gives a zero token).

Module names follow Point-BERT, so Point-BERT / ULIP weights load after stripping prefixes, and
``map_state_dict`` renames EPCL checkpoints (3DETR pre-encoder + CLIP ViT blocks). See docs/pointcloud.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lamm.formats.pointcloud import PointCloudPreprocessor
from lamm.model.encoders import MediaEncoder, register_encoder
from lamm.model.encoders.pcl_ops import fps_start_indices, group_points

log = logging.getLogger(__name__)

# Structural defaults of the two styles; any key can still be overridden in the config.
STYLES: dict[str, dict[str, Any]] = {
    # Point-BERT / ULIP PointTransformer (trans_dim 384, depth 12, 6 heads, 64 groups of 32 points).
    "pointbert": {
        "grouping": "knn",
        "tokenizer": "pointbert",
        "pointnet_dims": [128, 256],
        "group_dim": 256,
        "use_cls": True,
        "ln_pre": False,
        "final_norm": True,
        "pos_every_block": True,
        "qkv_bias": False,
        "act": "gelu",
        "num_prompt_tokens": 0,
        "dropout": 0.0,
    },
    # EPCL as used by LAMM: 3DETR set-abstraction pre-encoder + frozen CLIP ViT-L/14 blocks,
    # 19 ScanNet task tokens appended, features taken before ln_post.
    "epcl": {
        "grouping": "ball",
        "radius": 0.2,
        "group_size": 64,
        "tokenizer": "sa",
        "pointnet_dims": [64, 128],
        "use_cls": False,
        "ln_pre": True,
        "final_norm": False,
        "pos_every_block": False,
        "qkv_bias": True,
        "act": "quick_gelu",
        "num_prompt_tokens": 19,
        "dropout": 0.3,
    },
}


@dataclass
class PointCloudEncoderConfig:
    """All knobs of the encoder; ``style`` fills the structural ones (see ``STYLES``)."""

    style: str = "pointbert"
    # input (the preprocessor produces [num_points, 3 + 3*use_color + use_height] float32)
    num_points: int = 40000
    use_color: bool = False
    use_height: bool = False
    sample_seed: int = 0  # point sampling seed (the draw depends on this seed and the file name only)
    color_mode: str = "official"  # see lamm.formats.pointcloud.normalize_color
    # tokenizer
    num_groups: int = 256
    group_size: int = 32
    grouping: str = "knn"  # "knn" | "ball"
    radius: float = 0.2  # ball query radius (metres); also divides the relative xyz in the "sa" tokenizer
    fps_seed: int | None = None  # None: FPS starts at index 0 (as pointnet2); int: seeded start
    tokenizer: str = "pointbert"  # "pointbert" | "sa"
    pointnet_dims: list[int] = field(default_factory=lambda: [128, 256])
    group_xyz_scale: float | None = None  # pointbert tokenizer: group-relative xyz divided by this (metres)
    group_norm: str = "batch"  # mini-PointNet norm: "batch" (Point-BERT) | "layer" (per point; for training)
    group_dim: int | None = None  # mini-PointNet output; None -> hidden_size
    # transformer
    hidden_size: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    qkv_bias: bool = False
    act: str = "gelu"  # "gelu" | "quick_gelu" (CLIP)
    dropout: float = 0.0
    use_cls: bool = True
    ln_pre: bool = False
    final_norm: bool = True
    pos_every_block: bool = True
    num_prompt_tokens: int = 0
    num_tokens: int | None = None  # tokens given to the projector (first ones); None -> num_groups
    bev_grid: int | None = None  # g: mean-pool the group tokens into g x g xy cells -> g * g tokens
    # weights
    path: str | None = None  # pretrained weights: a file, or a folder holding exactly one weight file
    revision: str | None = None  # unused (hub revisions); accepted so checkpoint code can pass it
    weights_format: str = "auto"  # "auto" | "lamm" | "pointbert" | "ulip" | "epcl"
    strict_weights: bool = False
    trainable: bool = False
    cache_outputs: int = 0  # frozen encoder: memoise the output tokens of up to this many clouds
    seed: int = 0  # initialisation seed

    def __post_init__(self) -> None:
        if self.grouping not in ("knn", "ball"):
            raise ValueError(f"grouping must be 'knn' or 'ball', not {self.grouping!r}")
        if self.tokenizer not in ("pointbert", "sa"):
            raise ValueError(f"tokenizer must be 'pointbert' or 'sa', not {self.tokenizer!r}")
        if self.act not in _ACTS:
            raise ValueError(f"act must be one of {sorted(_ACTS)}, not {self.act!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} not divisible by num_heads {self.num_heads}")
        if not 0 < self.num_groups <= self.num_points:
            raise ValueError(f"num_groups {self.num_groups} must be in 1..num_points ({self.num_points})")
        if not 0 < self.group_size <= self.num_points:
            raise ValueError(f"group_size {self.group_size} must be in 1..num_points ({self.num_points})")
        if self.bev_grid is not None:
            if self.bev_grid < 1:
                raise ValueError(f"bev_grid must be >= 1, not {self.bev_grid}")
            if self.num_tokens not in (None, self.bev_grid**2):
                raise ValueError(
                    f"bev_grid {self.bev_grid} gives {self.bev_grid**2} tokens, not num_tokens {self.num_tokens}"
                )
            self.num_tokens = self.bev_grid**2
        elif self.num_tokens is None:
            self.num_tokens = self.num_groups
        if self.bev_grid is None and not 0 < self.num_tokens <= self.num_groups:
            raise ValueError(f"num_tokens {self.num_tokens} must be in 1..num_groups ({self.num_groups})")
        if self.pos_every_block and self.num_prompt_tokens:
            raise ValueError("task prompt tokens (EPCL) need pos_every_block=false")
        if self.weights_format not in WEIGHT_FORMATS:
            raise ValueError(f"weights_format must be one of {WEIGHT_FORMATS}, not {self.weights_format!r}")

    @property
    def in_channels(self) -> int:
        return 3 + 3 * int(self.use_color) + int(self.use_height)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> PointCloudEncoderConfig:
        cfg = {k: v for k, v in cfg.items() if k not in ("type", "dtype")}
        style = cfg.get("style", "pointbert")
        if style not in STYLES:
            raise ValueError(f"pointcloud encoder style must be one of {sorted(STYLES)}, not {style!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown pointcloud encoder keys {unknown}; known: {sorted(known)}")
        return cls(**{**STYLES[style], **cfg})


# --------------------------------------------------------------------------------------------- blocks


class QuickGELU(nn.Module):
    """CLIP's activation: x * sigmoid(1.702 x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


_ACTS = {"gelu": nn.GELU, "quick_gelu": QuickGELU}


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)  # q, k, v stacked (as timm and CLIP's in_proj)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = _ACTS[act]()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (Point-BERT's and CLIP's residual block alike)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, act: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def pointwise(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution applied channels-last (``[..., C_in] -> [..., C_out]``) as one matrix product.

    The modules stay ``Conv1d``/``Conv2d`` so checkpoints keep their shapes; on the CPU a plain matmul
    over channels-last points is several times faster than mkldnn's 1x1 convolution (forward and backward).
    """
    return F.linear(x, conv.weight.flatten(1), conv.bias)


def batchnorm(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over every point of ``x [..., C]`` (the same statistics as on ``[N, C, L]``)."""
    return bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class MiniPointNet(nn.Module):
    """Point-BERT's group encoder: conv-BN-ReLU-conv, max-pool, concat global, conv-BN-ReLU-conv, max-pool."""

    def __init__(self, in_channels: int, dims: list[int], out_dim: int, norm: str = "batch") -> None:
        super().__init__()
        c1, c2 = dims
        if norm not in ("batch", "layer"):
            raise ValueError(f"group_norm must be 'batch' or 'layer', got {norm!r}")
        make = nn.BatchNorm1d if norm == "batch" else nn.LayerNorm  # layer: no batch statistics
        self.first_conv = nn.Sequential(
            nn.Conv1d(in_channels, c1, 1), make(c1), nn.ReLU(inplace=True), nn.Conv1d(c1, c2, 1)
        )
        self.second_conv = nn.Sequential(
            nn.Conv1d(2 * c2, 2 * c2, 1),
            make(2 * c2),
            nn.ReLU(inplace=True),
            nn.Conv1d(2 * c2, out_dim, 1),
        )

    def forward(self, groups: torch.Tensor) -> torch.Tensor:
        """``[B, G, k, C]`` -> ``[B, G, out_dim]`` (channels-last throughout)."""
        conv_a, bn_a, _, conv_b = self.first_conv
        x = pointwise(conv_b, F.relu(_norm(bn_a, pointwise(conv_a, groups))))  # [B, G, k, c2]
        x = torch.cat([x.max(dim=2, keepdim=True).values.expand_as(x), x], dim=-1)
        conv_c, bn_c, _, conv_d = self.second_conv
        return pointwise(conv_d, F.relu(_norm(bn_c, pointwise(conv_c, x)))).max(dim=2).values


def _norm(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return m(x) if isinstance(m, nn.LayerNorm) else batchnorm(m, x)


class ConvBNReLU(nn.Module):
    """pointnet2 ``SharedMLP`` layer: 1x1 Conv2d without bias, BatchNorm, ReLU (applied channels-last)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm1d(cout)  # same parameters and buffers as pointnet2's BatchNorm2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(batchnorm(self.bn, pointwise(self.conv, x)))


class SetAbstraction(nn.Module):
    """PointNet++ set abstraction MLP (3DETR ``PointnetSAModuleVotes``): BN+ReLU after every conv, max-pool.

    Input channels are the relative xyz divided by ``radius`` followed by the extra features.
    """

    def __init__(self, in_channels: int, dims: list[int], out_dim: int, radius: float) -> None:
        super().__init__()
        self.radius = radius
        widths = [in_channels, *dims, out_dim]
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            self.add_module(f"layer{i}", ConvBNReLU(cin, cout))

    def forward(self, groups: torch.Tensor) -> torch.Tensor:
        """``[B, G, k, C]`` -> ``[B, G, D]``."""
        x = torch.cat([groups[..., :3] / self.radius, groups[..., 3:]], dim=-1)
        for layer in self.children():
            x = layer(x)
        return x.max(dim=2).values


class TaskPrompt(nn.Module):
    """EPCL's task-embedding tokens (``te_encoder``): embedding -> Linear-GELU-Linear, appended to the sequence."""

    def __init__(self, num: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num, dim)
        self.trans = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, batch: int) -> torch.Tensor:
        ids = torch.arange(self.embedding.num_embeddings, device=self.embedding.weight.device)
        return self.trans(self.embedding(ids)).unsqueeze(0).expand(batch, -1, -1)


# -------------------------------------------------------------------------------------------- encoder


class PointCloudEncoder(MediaEncoder):
    modality = "pcl"

    def __init__(self, cfg: PointCloudEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        self.in_channels = cfg.in_channels
        self.num_tokens = int(cfg.num_tokens)  # type: ignore[arg-type]
        self.hidden_size = d
        if cfg.tokenizer == "pointbert":
            group_dim = cfg.group_dim or d
            self.encoder = MiniPointNet(self.in_channels, cfg.pointnet_dims, group_dim, cfg.group_norm)
            self.reduce_dim: nn.Module = nn.Linear(group_dim, d)
        else:
            self.sa = SetAbstraction(self.in_channels, cfg.pointnet_dims, d, cfg.radius)
            self.reduce_dim = nn.Identity()
        if cfg.use_cls:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
            self.cls_pos = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, d))
        self.drop = nn.Dropout(cfg.dropout)
        self.ln_pre = nn.LayerNorm(d) if cfg.ln_pre else nn.Identity()
        self.prompt = TaskPrompt(cfg.num_prompt_tokens, d) if cfg.num_prompt_tokens else None
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, cfg.act) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(d) if cfg.final_norm else nn.Identity()
        self._init_weights()
        self.set_trainable(cfg.trainable)

    def _init_weights(self) -> None:
        """ViT-style init (trunc-normal 0.02) for the transformer blocks only. The position MLP and
        ``reduce_dim`` keep PyTorch's fan-in init: with 0.02 the centres' embedding starts ~100x smaller
        than the group features, so a model trained from scratch cannot tell where anything is."""
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.cfg.use_cls:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            nn.init.trunc_normal_(self.cls_pos, std=0.02)

    def set_trainable(self, trainable: bool) -> None:
        """Frozen = no gradients and always eval mode (BatchNorm statistics and dropout stay fixed)."""
        self.trainable = trainable
        self.requires_grad_(trainable)
        self.train(self.training)

    def train(self, mode: bool = True) -> PointCloudEncoder:
        return super().train(mode and getattr(self, "trainable", True))

    def preprocessor(self) -> PointCloudPreprocessor:
        """Seeded sampling to ``num_points`` + feature columns, as ``lamm.formats.pointcloud`` documents."""
        c = self.cfg
        return PointCloudPreprocessor(
            num_points=c.num_points,
            use_color=c.use_color,
            use_height=c.use_height,
            seed=c.sample_seed,
            color_mode=c.color_mode,
        )

    def tokenize(self, media: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, N, C]`` -> centres ``[B, G, 3]`` and group features ``[B, G, hidden]``."""
        c = self.cfg
        with torch.no_grad():  # indices only; the input never needs a gradient
            pts = media.float()
            start = None
            if c.fps_seed is not None:
                start = fps_start_indices(1, pts.shape[1], seed=c.fps_seed).expand(pts.shape[0])
            centres, groups = group_points(
                pts, c.num_groups, c.group_size, method=c.grouping, radius=c.radius, start_idx=start
            )
        dtype = self.pos_embed[0].weight.dtype
        centres, groups = centres.to(dtype), groups.to(dtype)
        if c.tokenizer == "pointbert" and c.group_xyz_scale:  # cm offsets next to colours of ~1
            groups = torch.cat([groups[..., :3] / c.group_xyz_scale, groups[..., 3:]], dim=-1)
        feats = self.encoder(groups) if c.tokenizer == "pointbert" else self.sa(groups)
        return centres, self.reduce_dim(feats)

    def forward(self, media: torch.Tensor) -> torch.Tensor:
        """``[B, N, C]`` -> ``[B, num_tokens, hidden_size]``."""
        if self.cfg.cache_outputs and not self.trainable:
            return self._cached_forward(media)
        return self._forward(media)

    def _cached_forward(self, media: torch.Tensor) -> torch.Tensor:
        """A frozen encoder's tokens depend on its own cloud only (eval mode, per-cloud grouping), so they are
        memoised by a hash of the cloud's bytes: a small training set read for several epochs runs every
        cloud through the encoder once instead of every step. Once ``cache_outputs`` clouds are held, new
        ones are computed but not stored."""
        if not hasattr(self, "_cache"):
            self._cache: dict[bytes, torch.Tensor] = {}
        keys = [
            hashlib.blake2b(m.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).digest()
            for m in media
        ]
        miss = [i for i, k in enumerate(keys) if k not in self._cache]
        fresh: dict[int, torch.Tensor] = {}
        if miss:
            with torch.no_grad():
                fresh = dict(zip(miss, self._forward(media[miss])))
            for i in miss:
                if len(self._cache) < self.cfg.cache_outputs:
                    self._cache[keys[i]] = fresh[i]
        return torch.stack([fresh[i] if i in fresh else self._cache[k] for i, k in enumerate(keys)])

    def _forward(self, media: torch.Tensor) -> torch.Tensor:
        centres, x = self.encode_groups(media)
        if self.cfg.bev_grid is None:
            return x[:, : self.num_tokens]
        return bev_pool(centres, x, self.cfg.bev_grid)

    def encode_groups(self, media: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, N, C]`` -> group centres ``[B, G, 3]`` and one output token per group ``[B, G, hidden]``."""
        if media.dim() != 3 or media.shape[-1] != self.in_channels:
            raise ValueError(
                f"point-cloud encoder expects [B, N, {self.in_channels}] (xyz"
                f"{' + rgb' if self.cfg.use_color else ''}{' + height' if self.cfg.use_height else ''}), "
                f"got {tuple(media.shape)}"
            )
        c = self.cfg
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            centres, x = self.tokenize(media)
            pos = self.pos_embed(centres)
            b = x.shape[0]
            if c.use_cls:
                x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
                pos = torch.cat([self.cls_pos.expand(b, -1, -1), pos], dim=1)
            if c.pos_every_block:  # Point-BERT: the positional embedding is re-added before every block
                for blk in self.blocks:
                    x = blk(x + pos)
            else:  # EPCL: added once, then ln_pre, then the task tokens
                x = self.ln_pre(self.drop(x + pos))
                if self.prompt is not None:
                    x = torch.cat([x, self.prompt(b).to(x.dtype)], dim=1)
                for blk in self.blocks:
                    x = blk(x)
            x = self.norm(x)
            first = 1 if c.use_cls else 0
            return centres, x[:, first : first + c.num_groups]


def bev_cell_index(centres: torch.Tensor, grid: int) -> torch.Tensor:
    """``[B, G]`` cell of each centre ``[B, G, 3]`` in a ``grid`` x ``grid`` split of its cloud's own centre
    xy extent, row-major from (min x, min y)."""
    xy = centres[..., :2].float()
    lo, hi = xy.amin(1, keepdim=True), xy.amax(1, keepdim=True)
    cell = ((xy - lo) / (hi - lo).clamp_min(1e-6) * grid).long().clamp_(0, grid - 1)
    return cell[..., 1] * grid + cell[..., 0]


def bev_pool(centres: torch.Tensor, tokens: torch.Tensor, grid: int) -> torch.Tensor:
    """Mean of the group ``tokens`` [B, G, D] per cell of a ``grid`` x ``grid`` split of each cloud's own
    centre xy extent -> [B, grid * grid, D], row-major from (min x, min y). Why: a small LLM reads a few
    tokens with a fixed spatial meaning (one per floor region) far sooner than many FPS-ordered groups."""
    index = bev_cell_index(centres, grid)
    b, _, d = tokens.shape
    sums = tokens.new_zeros(b, grid * grid, d).scatter_add_(1, index[..., None].expand(-1, -1, d), tokens)
    counts = tokens.new_zeros(b, grid * grid).scatter_add_(
        1, index, torch.ones_like(index, dtype=tokens.dtype)
    )
    return sums / counts.clamp_min(1)[..., None]


# ---------------------------------------------------------------------------------- pretrained weights

WEIGHT_FORMATS = ("auto", "lamm", "pointbert", "ulip", "epcl")

# EPCL (LAMM's epcl_scannet_vit-L-14_256tokens_latest.pth, key "model") -> ours.
_EPCL_RULES: list[tuple[str, str]] = [
    (r"^pre_encoder\.mlp_module\.layer(\d+)\.conv\.", r"sa.layer\1.conv."),
    (r"^pre_encoder\.mlp_module\.layer(\d+)\.bn\.bn\.", r"sa.layer\1.bn."),
    (r"^encoder\.pos_embed\.", "pos_embed."),
    (r"^encoder\.clip_vit\.ln_pre\.", "ln_pre."),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.ln_1\.", r"blocks.\1.norm1."),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.ln_2\.", r"blocks.\1.norm2."),
    (
        r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$",
        r"blocks.\1.attn.qkv.weight",
    ),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.attn\.in_proj_bias$", r"blocks.\1.attn.qkv.bias"),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.", r"blocks.\1.mlp.fc2."),
    (r"^te_encoder\.", "prompt."),
]


def _strip(key: str, prefixes: tuple[str, ...]) -> str:
    changed = True
    while changed:
        changed = False
        for p in prefixes:
            if key.startswith(p):
                key, changed = key[len(p) :], True
    return key


def detect_format(keys: list[str]) -> str:
    """Guess the checkpoint family from its key names."""
    plain = [_strip(k, ("module.",)) for k in keys]
    if any(k.startswith(("pre_encoder.", "encoder.clip_vit.")) for k in plain):
        return "epcl"
    if any(k.startswith("point_encoder.") for k in plain):
        return "ulip"
    if any(k.startswith(("transformer_q.", "base_model.", "blocks.blocks.")) for k in plain):
        return "pointbert"
    return "lamm"


def map_state_dict(
    sd: dict[str, torch.Tensor], fmt: str = "auto"
) -> tuple[dict[str, torch.Tensor], list[str], str]:
    """Rename a checkpoint's keys to this encoder's names.

    Returns ``(mapped, ignored, fmt)``: ``ignored`` are keys known not to belong to the encoder
    (classification heads, Point-BERT's momentum encoder / dVAE, ULIP's text/image towers, CLIP's
    unused patch embedding and ln_post/proj, 3DETR's decoder). Anything else unknown stays in
    ``mapped`` under its original name and is reported as unexpected by ``load_pretrained``.
    """
    if fmt == "auto":
        fmt = detect_format(list(sd))
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for key, value in sd.items():
        k = _strip(key, ("module.",))
        if fmt == "pointbert":
            if k.startswith("transformer_q.cls_head") or k.startswith("cls_head"):
                ignored.append(key)
                continue
            if k.startswith(("transformer_k.", "dvae.", "queue", "lm_head", "mask_token")):
                ignored.append(key)
                continue
            k = _strip(k, ("transformer_q.", "base_model."))
        elif fmt == "ulip":
            if not k.startswith("point_encoder."):
                ignored.append(key)  # text/image towers, pc_projection, logit_scale
                continue
            k = k[len("point_encoder.") :]
            if k.startswith("cls_head"):
                ignored.append(key)
                continue
        elif fmt == "epcl":
            for pattern, repl in _EPCL_RULES:
                new, n = re.subn(pattern, repl, k)
                if n:
                    k = new
                    break
            else:
                ignored.append(key)  # CLIP conv1/class/positional embedding, ln_post, proj; 3DETR heads
                continue
        elif fmt != "lamm":
            raise ValueError(f"unknown weights format {fmt!r}; use one of {WEIGHT_FORMATS}")
        if fmt in ("pointbert", "ulip"):
            k = re.sub(r"^blocks\.blocks\.", "blocks.", k)
        mapped[k] = value
    return mapped, ignored, fmt


@dataclass
class LoadReport:
    """What ``load_pretrained`` did: never silent about missing, unexpected or mis-shaped keys."""

    path: str
    fmt: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        def few(items: list) -> str:
            return ", ".join(map(str, items[:8])) + (f", ... (+{len(items) - 8})" if len(items) > 8 else "")

        lines = [f"{self.path} ({self.fmt}): loaded {len(self.loaded)} tensors, ignored {len(self.ignored)}"]
        if self.missing:
            lines.append(f"  missing ({len(self.missing)}, kept at init): {few(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected ({len(self.unexpected)}): {few(self.unexpected)}")
        if self.mismatched:
            lines.append(
                f"  shape mismatch ({len(self.mismatched)}, not loaded; checkpoint vs model): {few(self.mismatched)}"
            )
        return "\n".join(lines)


WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def weight_file(path: str | Path) -> Path:
    """``path`` itself, or the single weight file in the folder ``path`` (a folder gets a fingerprint in
    the checkpoint manifest, like any base model folder)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.is_file() and f.name.endswith(WEIGHT_SUFFIXES))
        if len(files) != 1:
            raise FileNotFoundError(
                f"point-cloud encoder weights: {path} must hold exactly one of {WEIGHT_SUFFIXES}, found "
                f"{[f.name for f in files]}"
            )
        return files[0]
    if not path.is_file():
        raise FileNotFoundError(f"point-cloud encoder weights not found: {path}")
    return path


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local ``.safetensors`` file or a ``torch.save`` file loaded with ``weights_only=True``.

    Nested checkpoints are unwrapped (``model``, ``state_dict``, ``base_model``). EPCL files carry an
    ``argparse.Namespace`` of training args; that one class is allowed, nothing else is unpickled.
    """
    path = weight_file(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    with torch.serialization.safe_globals([argparse.Namespace]):
        obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "base_model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"{path}: no state dict of tensors found (looked at the top level and model/state_dict/base_model)"
        )
    return obj


def load_pretrained(
    encoder: PointCloudEncoder, path: str | Path, fmt: str = "auto", *, strict: bool = False
) -> LoadReport:
    """Load user weights into ``encoder``; mis-shaped tensors are skipped and reported, not crashed on."""
    mapped, ignored, fmt = map_state_dict(read_checkpoint(path), fmt)
    own = encoder.state_dict()
    report = LoadReport(str(path), fmt, ignored=ignored)
    usable = {}
    for k, v in mapped.items():
        if k not in own:
            report.unexpected.append(k)
        elif tuple(v.shape) != tuple(own[k].shape):
            report.mismatched.append((k, tuple(v.shape), tuple(own[k].shape)))
        else:
            usable[k] = v
    report.loaded = sorted(usable)
    report.missing = sorted(set(own) - set(usable) - {m[0] for m in report.mismatched})
    if not usable:
        raise ValueError(f"no tensor of {path} fits the point-cloud encoder\n{report}")
    if strict and not report.ok:
        raise ValueError(f"point-cloud encoder weights do not match (strict_weights=true)\n{report}")
    encoder.load_state_dict(usable, strict=False)
    (log.info if report.ok else log.warning)("point-cloud encoder weights: %s", report)
    return report


@register_encoder("pointcloud")
def build_pointcloud(cfg: dict[str, Any]) -> PointCloudEncoder:
    """cfg keys: see ``PointCloudEncoderConfig`` (``style`` "pointbert" | "epcl" sets the structure)."""
    conf = PointCloudEncoderConfig.from_dict(cfg)
    if conf.path and "{" in conf.path:
        raise ValueError(
            f"model.encoder.path is the placeholder {conf.path!r}: set model.encoder.path=FILE_OR_FOLDER"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(conf.seed)
        enc = PointCloudEncoder(conf)
    if conf.path:
        enc.load_report = load_pretrained(enc, conf.path, conf.weights_format, strict=conf.strict_weights)
    if cfg.get("dtype"):
        from lamm.model.config import DTYPES

        enc.to(DTYPES[cfg["dtype"]])
    return enc
