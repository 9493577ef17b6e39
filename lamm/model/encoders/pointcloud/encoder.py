"""The point-cloud encoder module: grouping, tokenizer, position embedding, transformer, output tokens."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from lamm.formats.pointcloud import PointCloudPreprocessor
from lamm.model.encoders import MediaEncoder
from lamm.model.encoders.pcl_ops import fps_start_indices, group_points
from lamm.model.encoders.pointcloud.bev import bev_pool
from lamm.model.encoders.pointcloud.blocks import Block, MiniPointNet, SetAbstraction, TaskPrompt
from lamm.model.encoders.pointcloud.config import PointCloudEncoderConfig


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
