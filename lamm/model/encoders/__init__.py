"""Modality encoders: a registry, so a new encoder (image, point cloud, ...) is one small file.

An encoder turns a batch of preprocessed media into ``[B, num_tokens, hidden_size]`` features for the
projector. Preprocessing (decode + resize/sample) is a separate, picklable object that runs in
DataLoader workers, never inside ``forward``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn


class Preprocessor(Protocol):
    """Picklable: ``preprocessor(path) -> tensor`` for one media file (runs in DataLoader workers)."""

    def __call__(self, path: str | Path) -> torch.Tensor: ...


class MediaEncoder(nn.Module):
    """Base class. Subclasses set ``modality`` ("image" | "pcl"), ``num_tokens`` and ``hidden_size``."""

    modality: str = "image"
    num_tokens: int
    hidden_size: int

    def preprocessor(self) -> Preprocessor:  # pragma: no cover - interface
        raise NotImplementedError

    def forward(self, media: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


EncoderFactory = Callable[[dict[str, Any]], MediaEncoder]
_REGISTRY: dict[str, EncoderFactory] = {}
# Built-in encoders, imported on first lookup: name -> module that registers it.
_BUILTIN = {"clip": "lamm.model.encoders.clip", "pointcloud": "lamm.model.encoders.pointcloud"}


def register_encoder(name: str) -> Callable[[EncoderFactory], EncoderFactory]:
    def deco(factory: EncoderFactory) -> EncoderFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def build_encoder(cfg: dict[str, Any]) -> MediaEncoder:
    """``cfg["type"]`` selects the encoder; the rest of ``cfg`` goes to its factory."""
    name = cfg.get("type")
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        raise KeyError(f"unknown encoder type {name!r}; known: {sorted(set(_REGISTRY) | set(_BUILTIN))}")
    return _REGISTRY[name]({k: v for k, v in cfg.items() if k != "type"})
