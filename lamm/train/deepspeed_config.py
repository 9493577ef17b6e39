"""DeepSpeed for ``lamm train``: the ZeRO config (shipped or the user's, batch sizes, clipping and precision
filled in from the training config: one source of truth) and its one-process group."""

from __future__ import annotations

import json
import os
import socket
from importlib import resources
from pathlib import Path
from typing import Any

import torch.distributed as dist

from lamm.train import distributed as D
from lamm.train.config import Config, ConfigError


def deepspeed_config(cfg: Config, accum: int, precision: str) -> dict[str, Any]:
    """Load a shipped (``zero1``/``zero2``/``zero3``) or user JSON config and fill in the batch sizes,
    clipping and precision from the training config (one source of truth)."""
    name = cfg.train.deepspeed
    path = Path(name) if name.endswith(".json") else None
    if path is None:
        path = Path(str(resources.files("lamm.train.presets").joinpath("deepspeed", f"{name}.json")))
        if not path.is_file():
            raise ConfigError(
                f"train.deepspeed: unknown config {name!r}; use zero1/zero2/zero3 or a .json path"
            )
    try:
        ds = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"train.deepspeed: cannot read {path}: {exc}") from None
    t = cfg.train
    ds["train_batch_size"] = t.global_batch_size
    ds["train_micro_batch_size_per_gpu"] = t.micro_batch_size
    ds["gradient_accumulation_steps"] = accum
    ds["gradient_clipping"] = t.grad_clip
    ds["bf16"] = {"enabled": precision == "bf16"}
    ds["fp16"] = {**ds.get("fp16", {}), "enabled": precision == "fp16"}
    ds.setdefault("zero_allow_untested_optimizer", True)
    ds.setdefault("steps_per_print", 1 << 30)
    ds.setdefault("wall_clock_breakdown", False)
    return ds


def validate_deepspeed_config(ds: dict[str, Any]) -> None:
    """Check a DeepSpeed config with DeepSpeed's own parser (it refuses unknown ZeRO keys)."""
    from deepspeed.runtime.config import DeepSpeedConfig  # optional package: imported only when used

    try:
        DeepSpeedConfig(ds)
    except Exception as exc:  # pydantic ValidationError, AssertionError, ...
        raise ConfigError(f"train.deepspeed: DeepSpeed rejects the config: {exc}") from None


def init_env(cfg: Config) -> D.DistEnv:
    """The run's process environment. DeepSpeed always needs a process group, even for one process:
    there it gets an in-process store (torch's default TCPStore would listen on every interface for
    the whole run)."""
    if not cfg.train.deepspeed or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return D.init_distributed()
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    os.environ["WORLD_SIZE"] = "1"
    env = D.init_distributed()
    if not dist.is_initialized():
        backend = dist.get_default_backend_for_device(env.device)
        dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)
    return D.DistEnv(0, 0, 1, env.device, dist.get_backend())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_engine(model, optimizer, scheduler, cfg: Config, env: D.DistEnv, accum: int, precision: str):
    """Wrap model, optimiser and schedule in a DeepSpeed engine (on the process group ``init_env``
    made); returns ``(engine, optimizer, scheduler, ds_config)``."""
    if env.device.type == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    try:
        import deepspeed  # optional package: imported only for a DeepSpeed run
    except ImportError:
        raise ConfigError(
            "train.deepspeed is set but DeepSpeed is not installed (pip install deepspeed)"
        ) from None
    deepspeed.init_distributed(dist_backend=env.backend)  # wraps the process group we made
    ds = deepspeed_config(cfg, accum, precision)
    validate_deepspeed_config(ds)
    engine, optimizer, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds, dist_init_required=False
    )
    return engine, optimizer, scheduler, ds
