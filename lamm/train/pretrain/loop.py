"""The one loop both encoder pre-trainings run: AdamW, a one-cycle schedule, seeded batches, an EMA
of the loss printed as it goes, and the ``pretrain.json`` summary beside the saved weights."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

SUMMARY = "pretrain.json"  # written last: its presence marks a finished pre-training


def one_cycle(opt: torch.optim.Optimizer, lr: float, steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """The pre-trainings' one-cycle schedule (10% warm-up). torch divides by ``pct_start * steps - 1``,
    zero at 10 steps (the documented smoke run): there the warm-up is 2 steps; other counts unchanged."""
    pct = 0.1 if abs(0.1 * steps - 1.0) > 1e-9 else 2.0 / steps
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=pct)


def train_steps(
    params: Iterable[torch.nn.Parameter],
    batch_loss: Callable[[torch.Generator], torch.Tensor],
    *,
    steps: int,
    lr: float,
    seed: int,
    tag: str,
    log_every: int,
    log: bool = True,
    note: Callable[[], str] | None = None,
) -> float | None:
    """Minimise ``batch_loss(gen)`` (it draws its batch from ``gen``, seeded with ``seed``) for ``steps``
    AdamW steps under :func:`one_cycle`; prints ``[tag] step N loss (ema) X`` (plus ``note()``) every
    ``log_every`` steps and at the last; returns the loss EMA (0.9 decay; None after 0 steps)."""
    opt = torch.optim.AdamW(list(params), lr=lr, weight_decay=0.01)
    sched = one_cycle(opt, lr, steps)
    gen = torch.Generator().manual_seed(seed)
    ema: float | None = None
    for step in range(steps):
        loss = batch_loss(gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if log and (step % log_every == 0 or step == steps - 1):
            print(f"[{tag}] step {step} loss (ema) {ema:.4f}{note() if note else ''}", flush=True)
    return ema


def write_summary(out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Write ``pretrain.json`` (after the weights, so a half-written folder is not taken as done)."""
    (out / SUMMARY).write_text(json.dumps(summary, indent=1), "utf-8")
    return summary
