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

Modules: ``config`` (the dataclass and the two styles), ``blocks`` (transformer blocks, tokenizers, task
tokens), ``encoder`` (the module), ``bev`` (bird's-eye-view pooling), ``weights`` (reading and renaming
pretrained files). This package exports their public names and registers the ``pointcloud`` encoder.
"""

from __future__ import annotations

from typing import Any

import torch

from lamm.model.config import DTYPES, WEIGHT_SUFFIXES
from lamm.model.encoders import register_encoder
from lamm.model.encoders.pointcloud.bev import bev_cell_index, bev_pool
from lamm.model.encoders.pointcloud.blocks import (
    ACTIVATIONS,
    Attention,
    Block,
    ConvBNReLU,
    MiniPointNet,
    Mlp,
    QuickGELU,
    SetAbstraction,
    TaskPrompt,
    batchnorm,
    pointwise,
)
from lamm.model.encoders.pointcloud.config import STYLES, WEIGHT_FORMATS, PointCloudEncoderConfig
from lamm.model.encoders.pointcloud.encoder import PointCloudEncoder
from lamm.model.encoders.pointcloud.weights import (
    LoadReport,
    detect_format,
    load_pretrained,
    map_state_dict,
    read_checkpoint,
    weight_file,
)

__all__ = [
    "ACTIVATIONS", "STYLES", "WEIGHT_FORMATS", "WEIGHT_SUFFIXES", "Attention", "Block", "ConvBNReLU",
    "LoadReport", "MiniPointNet", "Mlp", "PointCloudEncoder", "PointCloudEncoderConfig", "QuickGELU",
    "SetAbstraction", "TaskPrompt", "batchnorm", "bev_cell_index", "bev_pool", "build_pointcloud",
    "detect_format", "load_pretrained", "map_state_dict", "pointwise", "read_checkpoint", "weight_file",
]  # fmt: skip


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
        enc.to(DTYPES[cfg["dtype"]])
    return enc
