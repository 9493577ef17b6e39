"""Seeds, the random streams a checkpoint saves (so a resumed run continues exactly), and torch's thread
count (scoped, so training does not leave the caller with its own)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


@contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (None: leave the count as it is) and give the caller its
    own count back afterwards, however the block changed it."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors/ints/lists (loadable with ``weights_only=True``)."""
    py = random.getstate()
    npy = np.random.get_state(legacy=True)
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [npy[0], torch.from_numpy(npy[1].astype(np.int64)), npy[2], npy[3], npy[4]],
        "torch": torch.get_rng_state(),
    }
    if torch.accelerator.is_available():
        idx = torch.accelerator.current_device_index()
        acc = torch.accelerator.current_accelerator().type
        mod = getattr(torch, acc, None)
        if mod is not None and hasattr(mod, "get_rng_state"):
            state["accelerator"] = mod.get_rng_state(idx)
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npy = state["numpy"]
    np.random.set_state((npy[0], npy[1].numpy().astype(np.uint32), npy[2], npy[3], npy[4]))
    torch.set_rng_state(state["torch"])
    if "accelerator" in state and torch.accelerator.is_available():
        acc = torch.accelerator.current_accelerator().type
        getattr(torch, acc).set_rng_state(state["accelerator"], torch.accelerator.current_device_index())
