"""Data-parallel evaluation under ``torchrun``: gloo on CPU, NCCL on GPU; a plain run is rank 0 of 1.

Only a barrier is needed: ranks write their own answer files and rank 0 merges them in record order
(see :mod:`lamm.bench.eval.store`). torch is imported only when ``WORLD_SIZE`` > 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0


def init() -> Dist:
    """Join the process group torchrun set up (``RANK``/``WORLD_SIZE`` env), or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Dist(dist.get_rank(), dist.get_world_size(), local, backend)


def barrier(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        if d.backend == "nccl":
            dist.barrier(device_ids=[d.local_rank])
        else:
            dist.barrier()


def close(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def shard(items: list[T], d: Dist) -> list[T]:
    """This rank's share, round-robin: record order is restored when the answers are merged."""
    return items[d.rank :: d.world]


def first_error(d: Dist, error: str | None) -> str | None:
    """Every rank's error (or None) gathered: the first one, the same on all ranks, so that a refusal
    on one rank (the folder lock) stops every rank instead of leaving the others at a barrier."""
    if d.world <= 1:
        return error
    import torch.distributed as dist

    got: list[str | None] = [None] * d.world
    dist.all_gather_object(got, error)
    return next((e for e in got if e), None)
