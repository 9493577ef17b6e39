"""Configuration of the point-cloud encoder: every knob in one dataclass, two styles filling the structure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lamm.model.encoders.pointcloud.blocks import ACTIVATIONS

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


WEIGHT_FORMATS = ("auto", "lamm", "pointbert", "ulip", "epcl")


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
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, not {self.act!r}")
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
