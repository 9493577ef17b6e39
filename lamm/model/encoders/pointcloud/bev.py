"""Bird's-eye-view pooling: group tokens averaged into a fixed g x g grid over the cloud's xy extent."""

from __future__ import annotations

import torch


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
