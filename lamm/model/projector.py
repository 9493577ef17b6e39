"""Projector: encoder features -> LLM embedding space."""

from __future__ import annotations

from torch import nn

PROJECTORS = ("linear", "mlp2x_gelu")


def build_projector(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    """``linear`` is the paper's (one ``nn.Linear`` with bias); ``mlp2x_gelu`` is LLaVA-1.5's."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "mlp2x_gelu":
        return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))
    raise ValueError(f"unknown projector {kind!r}; known: {list(PROJECTORS)}")
