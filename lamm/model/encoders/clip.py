"""CLIP image encoder (transformers ``CLIPVisionModel``) and its worker-side preprocessing.

"local" features are the paper's setting: patch tokens after the last transformer block, *without*
the post-layernorm, class token dropped, first ``num_tokens`` kept. "global" is the projected CLS
embedding (one token, ``CLIPVisionModelWithProjection``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection

from lamm.formats.errors import FormatError
from lamm.model.encoders import MediaEncoder, register_encoder

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ClipPreprocessor:
    """OpenAI CLIP preprocessing: bicubic resize of the shorter side, centre crop, normalise.

    Plain data, so it pickles into DataLoader workers.
    """

    image_size: int
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    def __call__(self, path: str | Path) -> torch.Tensor:
        try:
            with Image.open(path) as img:
                img.load()
                return self.from_image(img)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            raise FormatError(path, f"cannot read image: {exc}") from exc

    def from_image(self, img: Image.Image) -> torch.Tensor:
        """[3, S, S] float32 tensor from a PIL image."""
        img = img.convert("RGB")
        w, h = img.size
        s = self.image_size
        if w <= h:
            size = (s, int(s * h / w))
        else:
            size = (int(s * w / h), s)
        img = img.resize(size, Image.BICUBIC)
        w, h = img.size
        top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
        img = img.crop((left, top, left + s, top + s))
        arr = np.asarray(img, dtype=np.float32) / 255.0
        arr = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


class ClipEncoder(MediaEncoder):
    modality = "image"

    def __init__(
        self,
        model: CLIPVisionModel | CLIPVisionModelWithProjection,
        *,
        feature: str = "local",
        num_tokens: int | None = None,
        pool: int = 1,
        trainable: bool = False,
        mean: tuple[float, ...] = CLIP_MEAN,
        std: tuple[float, ...] = CLIP_STD,
    ) -> None:
        super().__init__()
        cfg = model.config
        self.model = model
        self.feature = feature
        self.pool = pool
        self.image_size = cfg.image_size
        self.mean, self.std = tuple(mean), tuple(std)
        if feature == "global":
            if num_tokens not in (None, 1):
                raise ValueError(f"CLIP 'global' feature gives 1 token, not {num_tokens}")
            self.num_tokens, self.hidden_size = 1, cfg.projection_dim
        elif feature == "local":
            self.grid = grid = cfg.image_size // cfg.patch_size
            if pool < 1 or grid % pool:
                raise ValueError(f"CLIP 'local' pool must divide the {grid} x {grid} patch grid, got {pool}")
            patches = (grid // pool) ** 2
            if num_tokens is None:
                num_tokens = patches
            if not 0 < num_tokens <= patches:
                raise ValueError(
                    f"CLIP 'local' feature has {patches} patch tokens (pool {pool}); asked for {num_tokens}"
                )
            self.num_tokens, self.hidden_size = num_tokens, cfg.hidden_size
        else:
            raise ValueError(f"CLIP feature must be 'local' or 'global', not {feature!r}")
        self.set_trainable(trainable)

    def set_trainable(self, trainable: bool) -> None:
        self.trainable = trainable
        self.model.requires_grad_(trainable)
        self.train(self.training)

    def train(self, mode: bool = True) -> ClipEncoder:
        """A frozen encoder stays in eval mode (no dropout) even when the whole model trains."""
        return super().train(mode and getattr(self, "trainable", True))

    def preprocessor(self) -> ClipPreprocessor:
        return ClipPreprocessor(self.image_size, self.mean, self.std)  # type: ignore[arg-type]

    def forward(self, media: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        media = media.to(dtype)
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            if self.feature == "global":
                return self.model(pixel_values=media).image_embeds.unsqueeze(1)
            hidden = self.model(pixel_values=media).last_hidden_state[:, 1:]
            if self.pool > 1:  # average pool x pool patches: fewer media tokens for the LLM, same mean
                grid = hidden.transpose(1, 2).reshape(len(hidden), -1, self.grid, self.grid)
                hidden = F.avg_pool2d(grid, self.pool).flatten(2).transpose(1, 2)
            return hidden[:, : self.num_tokens]


def _norm_stats(path: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std from a local ``preprocessor_config.json`` when present, else CLIP's."""
    f = Path(path) / "preprocessor_config.json"
    if f.is_file():
        data = json.loads(f.read_text("utf-8"))
        return tuple(data.get("image_mean", CLIP_MEAN)), tuple(data.get("image_std", CLIP_STD))
    return CLIP_MEAN, CLIP_STD


@register_encoder("clip")
def build_clip(cfg: dict[str, Any]) -> ClipEncoder:
    """cfg: ``path`` (local folder or hub id) or ``config`` (a CLIPVisionConfig dict, random weights),
    ``feature`` ("local"|"global"), ``num_tokens``, ``pool`` (local only: average ``pool`` x ``pool``
    patches into one token, e.g. 2 turns a 16 x 16 grid into 64 tokens), ``trainable``, ``revision``,
    ``dtype``."""
    feature = cfg.get("feature", "local")
    cls = CLIPVisionModelWithProjection if feature == "global" else CLIPVisionModel
    dtype = cfg.get("dtype")
    if cfg.get("path"):
        kwargs = {"revision": cfg["revision"]} if cfg.get("revision") else {}
        if dtype is not None:
            kwargs["dtype"] = dtype
        model = cls.from_pretrained(cfg["path"], **kwargs)
        mean, std = _norm_stats(cfg["path"])
    elif cfg.get("config"):
        torch.manual_seed(int(cfg.get("seed", 0)))
        model = cls(CLIPVisionConfig(**cfg["config"]))
        mean, std = CLIP_MEAN, CLIP_STD
    else:
        raise ValueError("clip encoder needs 'path' (folder or hub id) or 'config' (random init)")
    return ClipEncoder(
        model,
        feature=feature,
        num_tokens=cfg.get("num_tokens"),
        pool=int(cfg.get("pool", 1)),
        trainable=bool(cfg.get("trainable", False)),
        mean=mean,
        std=std,
    )
