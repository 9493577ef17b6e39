"""The learning-rate schedule of ``lamm train``: warm-up (log or linear), then constant, linear or cosine."""

from __future__ import annotations

import math

from lamm.train.config import Config


def lr_factor(step: int, total: int, warmup: int, schedule: str, shape: str, min_ratio: float = 0.0) -> float:
    """Multiplier of the peak lr for optimiser step ``step`` (0-based).

    Warm-up: ``log`` is DeepSpeed WarmupDecayLR's default (log(step+1)/log(warmup); the paper's),
    ``linear`` is (step+1)/warmup. Then linear/cosine decay to ``min_ratio`` at ``total``.
    """
    if step < warmup:
        if shape == "log":
            return math.log(step + 1) / math.log(warmup) if warmup > 1 else 1.0
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    decay = 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_ratio + (1.0 - min_ratio) * decay


def warmup_steps(cfg: Config, total: int) -> int:
    """``train.warmup_steps`` when set, else ``warmup_ratio`` of the run (at least ``min_warmup_steps``)."""
    t = cfg.train
    if t.warmup_steps is not None:
        return t.warmup_steps
    return min(total, max(t.min_warmup_steps, int(t.warmup_ratio * total)))
