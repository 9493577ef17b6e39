"""Checkpoints of ``lamm train``: ``checkpoints/step-N`` folders holding the trained weights (the model
helper's ``save_trainable``) and everything an exact resume needs (optimiser, scheduler, scaler, every
rank's RNG streams, the data fingerprint); ``COMPLETE`` marks a finished one. Only tensors are read back
(``weights_only``), never pickled code."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lamm.model.checkpoint import load_trainable, resolve_checkpoint, save_trainable
from lamm.train import distributed as D
from lamm.train import outdir as O
from lamm.train.config import ConfigError
from lamm.train.rng_state import rng_state, set_rng_state

if TYPE_CHECKING:  # annotations only: the trainer calls these with itself
    from lamm.train.trainer import Trainer

STATE_FILE = "train_state.pt"
DONE_MARK = "COMPLETE"


def checkpoint_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step-{step:07d}"


def latest_checkpoint(out: Path) -> Path | None:
    root = out / "checkpoints"
    done = sorted(p for p in root.glob("step-*") if (p / DONE_MARK).is_file()) if root.is_dir() else []
    return done[-1] if done else None


def find_resume(out: Path, resume: str | bool | None, is_main: bool) -> Path | None:
    """The checkpoint ``--resume`` (latest under ``out``) or ``--resume-from PATH`` names; None: start fresh."""
    if not resume:
        return None
    if resume is True or resume == "latest":
        ckpt = latest_checkpoint(out)
        if ckpt is None and is_main:
            print(f"[lamm train] no complete checkpoint under {out}/checkpoints; starting fresh")
        return ckpt
    path = resolve_checkpoint(resume)  # checkpoints/final or latest name a step-N folder
    if not path.exists():
        raise ConfigError(f"--resume-from {path}: no such checkpoint folder")
    if not (path / DONE_MARK).is_file():
        raise ConfigError(f"--resume {path}: not a complete checkpoint (no {DONE_MARK} file)")
    return path


def save_checkpoint(tr: Trainer, step: int) -> Path:
    """Trained weights + optimiser/scheduler/RNG/data state of ``tr`` after ``step`` steps (every process)."""
    env = tr.env
    path = checkpoint_dir(tr.out, step)
    if env.is_main:
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
    D.barrier()
    with _gathered(tr):  # ZeRO-3 partitions parameters: gather them (every process) to save
        if env.is_main:
            save_trainable(tr.model, path, tokenizer=tr.tokenizer)
            tr.cfg.save(path / "train_config.yaml")
            if tr.data_fp is None:  # hashed once per run, when the first checkpoint is written
                tr.data_fp = O.data_fingerprint(tr.cfg)
            (path / O.DATA_FINGERPRINT).write_text(json.dumps(tr.data_fp, indent=1), "utf-8")
    D.barrier()
    torch.save(rng_state(), path / f"rng-rank{env.rank}.pt")
    if tr.engine is not None:
        # ZeRO partitions the optimiser state across processes: DeepSpeed's own sharded format.
        tr.engine.save_checkpoint(
            str(path / "deepspeed"), tag="state", save_latest=False, exclude_frozen_parameters=True
        )
    if env.is_main:
        state = {"step": step, "total_steps": tr.total_steps, "world_size": tr.world}
        if tr.engine is None:
            state["optimizer"] = tr.optimizer.state_dict()
            state["scheduler"] = tr.scheduler.state_dict()
            if tr.scaler is not None:
                state["scaler"] = tr.scaler.state_dict()
        torch.save(state, path / STATE_FILE)
    D.barrier()
    if env.is_main:
        (path / DONE_MARK).write_text(f"{step}\n", "utf-8")
        O.write_alias(path.parent, "latest", path)
        if step == tr.total_steps:
            O.write_alias(path.parent, "final", path)
        _prune(tr.out, path, tr.cfg.train.keep_checkpoints)
    D.barrier()
    return path


def load_checkpoint(tr: Trainer, path: Path) -> int:
    """Restore ``tr`` (weights, optimiser, scheduler, scaler, this rank's RNG) from ``path``; returns its step."""
    state = _load_state(path / STATE_FILE)
    if state["total_steps"] != tr.total_steps:
        raise ConfigError(
            f"--resume {path}: the run had {state['total_steps']} steps, this config gives {tr.total_steps}"
        )
    if tr.engine is not None:  # DeepSpeed's checkpoint holds the trainable weights (maybe sharded) too
        with _unreadable(path / "deepspeed"):
            tr.engine.load_checkpoint(str(path / "deepspeed"), tag="state", load_module_strict=False)
    else:
        with _unreadable(path / "model.safetensors"):
            load_trainable(tr.model, path)
        with _unreadable(path / STATE_FILE):
            tr.optimizer.load_state_dict(state["optimizer"])
            tr.scheduler.load_state_dict(state["scheduler"])
            if tr.scaler is not None and "scaler" in state:
                tr.scaler.load_state_dict(state["scaler"])
    rng_file = path / f"rng-rank{tr.env.rank}.pt"
    if state["world_size"] == tr.world and not rng_file.is_file():
        raise ConfigError(
            f"--resume {path}: {rng_file.name} is missing, so the run cannot continue exactly (its "
            "random streams are lost); the checkpoint is damaged: resume from an earlier one"
        )
    if state["world_size"] == tr.world:
        set_rng_state(_load_state(rng_file))
    elif tr.env.is_main:
        print(f"[lamm train] resuming on {tr.world} processes (saved on {state['world_size']}): "
              "RNG streams restart, the data order is unchanged")  # fmt: skip
    step = int(state["step"])
    if tr.env.is_main:
        print(f"[lamm train] resumed from {path} at step {step}")
    return step


def _gathered(tr: Trainer):
    if tr.engine is None or tr.engine.zero_optimization_stage() != 3:
        return nullcontext()
    import deepspeed  # optional package: only a DeepSpeed run gets here

    params = [p for p in tr.model.parameters() if p.requires_grad]
    return deepspeed.zero.GatheredParameters(params, modifier_rank=None)


def _prune(out: Path, keep: Path, n: int) -> None:
    """Keep the newest ``n`` complete checkpoints (and ``keep``)."""
    done = sorted(p for p in (out / "checkpoints").glob("step-*") if (p / DONE_MARK).is_file())
    for old in done[: max(0, len(done) - n)]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _unreadable(path: Path) -> Iterator[None]:
    """Turn a torch/safetensors/pickle failure on a checkpoint file into an error naming the file."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as exc:  # pickle.UnpicklingError, safetensors' SafetensorError, RuntimeError, EOFError
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"--resume: cannot read {path} ({type(exc).__name__}: {reason}). The checkpoint is damaged or was not "
            f"written by lamm train (only tensors are accepted, never pickled code): delete {path.parent} to "
            "resume from the checkpoint before it, or start afresh with --overwrite"
        ) from None


def _load_state(path: Path) -> dict[str, Any]:
    """A trainer-state file (tensors, numbers, lists only: ``weights_only``)."""
    with _unreadable(path):
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ConfigError(f"--resume: {path} holds a {type(state).__name__}, not a lamm trainer state")
    return state
