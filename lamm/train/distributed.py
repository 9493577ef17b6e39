"""Process group set-up from the environment (``torchrun`` / DeepSpeed launchers), no hard-coded CUDA.

One process without ``WORLD_SIZE`` runs plainly. Under ``torchrun`` the device is the accelerator torch
finds (``cuda:LOCAL_RANK``, ``xpu``, ...) or the CPU, and the backend is torch's default for that device
(NCCL for CUDA, gloo for CPU). ``LAMM_DEVICE=cpu`` forces the CPU (e.g. gloo tests on a GPU box).
Multi-node is the same code: ``torchrun --nnodes N --node_rank R --master_addr HOST ...``.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None  # None: single process, no process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None


def pick_device(local_rank: int = 0) -> torch.device:
    """The accelerator torch reports (one per local rank), else the CPU; ``LAMM_DEVICE`` overrides."""
    forced = os.environ.get("LAMM_DEVICE")
    if forced:
        dev = torch.device(forced)
        if dev.type != "cpu" and dev.index is None:
            dev = torch.device(dev.type, local_rank)
        return dev
    acc = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    if acc is None:
        return torch.device("cpu")
    return torch.device(acc.type, local_rank)


def init_distributed(timeout_s: float = 1800) -> DistEnv:
    """Initialise the default process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(local_rank)
    if device.type != "cpu":
        torch.accelerator.set_device_index(device.index or 0)
    if world <= 1:
        return DistEnv(0, 0, 1, device, None)
    backend = dist.get_default_backend_for_device(device)
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            timeout=datetime.timedelta(seconds=timeout_s),
            device_id=device if device.type != "cpu" else None,
        )
    return DistEnv(rank, local_rank, world, device, backend)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over processes in place (a no-op for one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def broadcast_object(obj: object, src: int = 0) -> object:
    """The main process's value everywhere (e.g. a tokenizer path built once)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
