"""The recipe of one ``lamm train`` run in this process: process group, locked output folder, resume
point, the ready ModelConfig (``tiny_base``: the tiny presets build their base first), then the
Trainer's loop (``lamm.train.trainer``)."""

from __future__ import annotations

from pathlib import Path

import torch

from lamm.formats.lock import FolderLock, FolderLocked
from lamm.train import distributed as D
from lamm.train import outdir as O
from lamm.train.checkpointing import find_resume
from lamm.train.config import Config, ConfigError
from lamm.train.deepspeed_config import init_env
from lamm.train.rng_state import seed_everything, torch_threads
from lamm.train.tiny_base import model_config
from lamm.train.train_log import require_wandb
from lamm.train.trainer import RunResult, Trainer


def resolve_precision(requested: str, device: torch.device) -> str:
    if requested != "auto":
        if requested in ("bf16", "fp16") and device.type == "cpu" and requested == "fp16":
            raise ConfigError("train.precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
        return requested
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def _take_folder(out: Path, env: D.DistEnv, resume: str | bool | None, overwrite: bool) -> FolderLock | None:
    """Lock the output folder for the run (rank 0; the other ranks check it is their launch's) and
    refuse to start afresh over an earlier run unless ``overwrite``."""
    error, lock = None, None
    if env.is_main:
        try:
            lock = FolderLock(out, "lamm train").acquire()
            if not resume:
                O.check_fresh_start(out, overwrite)
        except (FolderLocked, ConfigError) as exc:
            error = (type(exc).__name__, str(exc))
    error = D.broadcast_object(error)
    if error is None and not env.is_main:
        try:
            FolderLock(out, "lamm train").check_shared()
        except FolderLocked as exc:
            error = ("FolderLocked", str(exc))
    if error is not None:
        if lock is not None:
            lock.release()
        raise (FolderLocked if error[0] == "FolderLocked" else ConfigError)(error[1])
    D.barrier()
    return lock


def train(
    cfg: Config,
    *,
    resume: str | bool | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> RunResult:
    """The recipe of one run in this process: process group, locked output folder, resume point, the
    ready ModelConfig (``tiny_base``: the tiny presets build their base first), then the Trainer's
    loop. The caller's torch thread count is restored after (``train.num_threads`` is for the training
    loop, not for what the process does next, e.g. the quickstart's evaluation)."""
    with torch_threads():
        if cfg.train.wandb:
            require_wandb()
        if cfg.train.num_threads:
            torch.set_num_threads(cfg.train.num_threads)
        env = init_env(cfg)
        lock = None
        try:
            precision = resolve_precision(cfg.train.precision, env.device)
            lock = _take_folder(Path(cfg.out_dir), env, resume, overwrite)
            resume_from = find_resume(Path(cfg.out_dir), resume, env.is_main)
            if resume_from is not None:
                O.check_resume_settings(resume_from, cfg)
            seed_everything(cfg.train.seed)
            model_cfg = model_config(cfg, env, resuming=resume_from is not None)
            trainer = Trainer(cfg, model_cfg, env, precision, resume_from=resume_from, progress=progress)
            return trainer.train(stop_after=stop_after)
        finally:
            D.cleanup()
            if lock is not None:
                lock.release()
