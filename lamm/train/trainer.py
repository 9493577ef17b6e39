"""The training loop: one process, torchrun DDP (gloo/NCCL) or DeepSpeed ZeRO-1/2/3, with exact resume.

Loss normalisation: every optimiser step minimises the mean token cross-entropy over *all* supervised
tokens of the global batch (summed over micro-batches and processes, divided by their total count),
so the update is the same whatever the micro-batch size, the number of processes, or padding vs
packing. (Averaging per-micro-batch means would weight short samples differently per layout.)
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import socket
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lamm.formats.jsonio import JsonlAppender, iter_jsonl
from lamm.formats.lock import FolderLock, FolderLocked
from lamm.train import distributed as D
from lamm.train import outdir as O
from lamm.train.config import Config, ConfigError
from lamm.train.data import Collator, InstructDataset, SkipLog, StepSampler, load_items

STATE_FILE = "train_state.pt"
DONE_MARK = "COMPLETE"


# --------------------------------------------------------------------------- schedule
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
    t = cfg.train
    if t.warmup_steps is not None:
        return t.warmup_steps
    return min(total, max(t.min_warmup_steps, int(t.warmup_ratio * total)))


# --------------------------------------------------------------------------- seeds and RNG state
@contextmanager
def torch_threads(n: int | None = None):
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


# --------------------------------------------------------------------------- DeepSpeed config
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
    from deepspeed.runtime.config import DeepSpeedConfig

    try:
        DeepSpeedConfig(ds)
    except Exception as exc:  # pydantic ValidationError, AssertionError, ...
        raise ConfigError(f"train.deepspeed: DeepSpeed rejects the config: {exc}") from None


# --------------------------------------------------------------------------- model set-up
def resolve_precision(requested: str, device: torch.device) -> str:
    if requested != "auto":
        if requested in ("bf16", "fp16") and device.type == "cpu" and requested == "fp16":
            raise ConfigError("train.precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
        return requested
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def model_config(cfg: Config, env: D.DistEnv, resuming: bool = False):
    """The ModelConfig of the run; the ``tiny`` preset first builds its random base into ``<out>/base``
    (again when its ``tiny`` settings or data changed: a resume on a changed base is refused)."""
    from lamm.model.config import ModelConfig

    if cfg.tiny is None:
        llm = str(cfg.model.get("llm", ""))
        if "{" in llm:
            raise ConfigError(f"model.llm is the placeholder {llm!r}: set model.llm=PATH_OR_HUB_ID")
        return ModelConfig.from_dict(dict(cfg.model))
    base = Path(cfg.out_dir) / "base"
    cfg_file = base / "model_config.json"
    fingerprint = O.base_fingerprint(cfg) if env.is_main else None
    error = None
    if env.is_main and cfg_file.is_file():
        diffs = O.base_mismatch(base, fingerprint)
        recorded = (base / O.BASE_FINGERPRINT).is_file()
        if diffs and resuming and recorded:
            error = f"{base} was built with other settings than this run's ({'; '.join(diffs)}); train into a new --out"
        elif diffs and resuming:  # built before fingerprints: the checkpoint's settings were checked
            O.write_base_fingerprint(base, fingerprint)
        elif diffs:
            print(f"[lamm train] rebuilding {base}: {'; '.join(diffs)}")
            shutil.rmtree(base)
    error = D.broadcast_object(error)
    if error:
        raise ConfigError(error)
    if env.is_main and not cfg_file.is_file():
        from lamm.model.tiny import build_tiny

        texts = tokenizer_corpus(cfg.data.files)
        t = cfg.tiny
        built = build_tiny(
            base, texts, image_size=t.image_size, patch_size=t.patch_size, vision_layers=t.vision_layers,
            vision_hidden=t.vision_hidden, llm_layers=t.llm_layers, llm_hidden=t.llm_hidden, heads=t.heads,
            vocab_size=t.vocab_size, seed=t.seed,
        )  # fmt: skip
        if t.encoder_pretrain_steps:  # a random tower learns too slowly through the LLM alone
            from lamm.train.pretrain.clip import pretrain_tiny_tower

            # train.num_threads leaves a core to the DataLoader worker, which does not run yet: use every core
            with torch_threads(t.encoder_pretrain_threads or len(os.sched_getaffinity(0))):
                pretrain_tiny_tower(cfg, base / "clip", steps=t.encoder_pretrain_steps, seed=t.seed)
        O.write_base_fingerprint(base, fingerprint)
        tmp = cfg_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(built.to_dict(), indent=1), "utf-8")
        os.replace(tmp, cfg_file)
    D.barrier()
    data = json.loads(cfg_file.read_text("utf-8"))
    for key, value in cfg.model.items():  # the preset's choices (lora, projector, ...) win
        if key == "encoder":  # same encoder type: refine the built one; another type (tiny-3d): replace it
            same = value.get("type", data["encoder"].get("type")) == data["encoder"].get("type")
            data["encoder"] = {**data["encoder"], **value} if same else dict(value)
        elif key != "llm":
            data[key] = value
    return ModelConfig.from_dict(data)


def tokenizer_corpus(files) -> list[str]:
    """Text the tiny tokenizer is trained on: every turn, plus the system messages of the task types
    present (the template puts them in every sample; unseen words would cost one token per byte)."""
    from lamm.formats.jsonio import read_json_array
    from lamm.protocol.prompts import train_system_message

    texts, tasks = [], set()
    for f in files:
        for rec in read_json_array(f.path):
            tasks.add(rec.get("task_type", "normal"))
            for turn in rec.get("conversations", []) if isinstance(rec.get("conversations"), list) else []:
                if isinstance(turn, dict) and isinstance(turn.get("value"), str):
                    texts.append(turn["value"])
    for task in sorted(t for t in tasks if isinstance(t, str)):
        try:
            texts += [train_system_message(task)] * 50
        except KeyError:
            pass  # unknown task types are reported when the samples are read
    return texts


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only (not biases / norms), the usual AdamW practice."""
    decay, no_decay = [], []
    for p in trainable_parameters(model):
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# --------------------------------------------------------------------------- logging
class Logger:
    """JSONL every step (main process) plus TensorBoard / W&B when installed and enabled."""

    def __init__(self, out: Path, cfg: Config, enabled: bool, resume_step: int) -> None:
        self.enabled = enabled
        self.path = out / "train_log.jsonl"
        self.tb = self.wandb = None
        if not enabled:
            return
        if resume_step and self.path.is_file():  # drop steps after the checkpoint: they are redone
            kept = [r for r in iter_jsonl(self.path) if r.get("step", 0) <= resume_step]
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), "utf-8")
            os.replace(tmp, self.path)
        elif self.path.is_file():
            self.path.unlink()
        self.jsonl = JsonlAppender(self.path)
        if cfg.train.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except ImportError:
                print("[lamm train] note: TensorBoard logging (train.tensorboard) is off: the tensorboard package "
                      "is not installed (pip install 'lamm[tensorboard]'; train.tensorboard=false hides this); "
                      f"the log is {self.path}", file=sys.stderr)  # fmt: skip
        if cfg.train.wandb:  # the package was checked when the run started
            import wandb

            self.wandb = wandb.init(project=os.environ.get("WANDB_PROJECT", "lamm"), config=cfg.to_dict())

    def log(self, rec: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.jsonl.write(rec)
        for k, v in rec.items():
            if isinstance(v, (int, float)) and k != "step":
                if self.tb is not None:
                    self.tb.add_scalar(f"train/{k}", v, rec["step"])
        if self.wandb is not None:
            self.wandb.log(rec, step=rec["step"])

    def close(self) -> None:
        if not self.enabled:
            return
        self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


# --------------------------------------------------------------------------- checkpoints
def checkpoint_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step-{step:07d}"


def latest_checkpoint(out: Path) -> Path | None:
    root = out / "checkpoints"
    done = sorted(p for p in root.glob("step-*") if (p / DONE_MARK).is_file()) if root.is_dir() else []
    return done[-1] if done else None


@dataclass
class RunResult:
    out_dir: Path
    steps: int
    losses: list[float] = field(default_factory=list)  # mean token loss per optimiser step
    checkpoint: Path | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    real_token_fraction: float = 0.0
    tokens_per_s: float = 0.0
    seconds: float = 0.0


class Trainer:
    """Owns the model, data, optimiser and loop of one run (one per process)."""

    def __init__(
        self, cfg: Config, *, resume: str | bool | None = None, progress: bool = True, overwrite: bool = False
    ) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.progress = progress
        self.lock: FolderLock | None = None
        self._data_fp: list[list[str]] | None = None
        if cfg.train.wandb:
            _require_wandb()
        if cfg.train.num_threads:
            torch.set_num_threads(cfg.train.num_threads)
        self.env = self._init_env()
        self.world = self.env.world_size
        self.accum = cfg.grad_accum(self.world)
        self.precision = resolve_precision(cfg.train.precision, self.env.device)
        self._take_folder(resume, overwrite)
        try:
            self.resume_from = self._find_resume(resume)
            if self.resume_from is not None:
                O.check_resume_settings(self.resume_from, cfg)
            seed_everything(cfg.train.seed)
            self._build_model()
            self._build_data()
            self._build_optimizer()
            self.start_step = 0
            if self.resume_from is not None:
                self._load_checkpoint(self.resume_from)
            self.logger = Logger(self.out, cfg, self.env.is_main, self.start_step)
        except BaseException:
            self.close()  # the folder lock goes with the failed run
            raise

    # ---------------------------------------------------------------- set-up
    def _take_folder(self, resume: str | bool | None, overwrite: bool) -> None:
        """Lock the output folder for the run (rank 0; the other ranks check it is their launch's) and
        refuse to start afresh over an earlier run unless ``overwrite``."""
        error = None
        if self.env.is_main:
            try:
                self.lock = FolderLock(self.out, "lamm train").acquire()
                if not resume:
                    O.check_fresh_start(self.out, overwrite)
            except (FolderLocked, ConfigError) as exc:
                error = (type(exc).__name__, str(exc))
        error = D.broadcast_object(error)
        if error is None and not self.env.is_main:
            try:
                FolderLock(self.out, "lamm train").check_shared()
            except FolderLocked as exc:
                error = ("FolderLocked", str(exc))
        if error is not None:
            self.close()
            raise (FolderLocked if error[0] == "FolderLocked" else ConfigError)(error[1])
        D.barrier()

    def _init_env(self) -> D.DistEnv:
        if self.cfg.train.deepspeed and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            # DeepSpeed always needs a process group, even for one process: an in-process store (torch's
            # default TCPStore would listen on every interface for the whole run)
            os.environ.setdefault("RANK", "0")
            os.environ.setdefault("LOCAL_RANK", "0")
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(_free_port()))
            os.environ["WORLD_SIZE"] = "1"
            env = D.init_distributed()
            import torch.distributed as dist

            if not dist.is_initialized():
                backend = dist.get_default_backend_for_device(env.device)
                dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)
            return D.DistEnv(0, 0, 1, env.device, dist.get_backend())
        return D.init_distributed()

    def _find_resume(self, resume: str | bool | None) -> Path | None:
        if not resume:
            return None
        if resume is True or resume == "latest":
            ckpt = latest_checkpoint(self.out)
            if ckpt is None and self.env.is_main:
                print(f"[lamm train] no complete checkpoint under {self.out}/checkpoints; starting fresh")
            return ckpt
        from lamm.model.checkpoint import resolve_checkpoint

        path = resolve_checkpoint(resume)  # checkpoints/final or latest name a step-N folder
        if not path.exists():
            raise ConfigError(f"--resume-from {path}: no such checkpoint folder")
        if not (path / DONE_MARK).is_file():
            raise ConfigError(f"--resume {path}: not a complete checkpoint (no {DONE_MARK} file)")
        return path

    def _build_model(self) -> None:
        from lamm.model.lamm_model import build_model

        self.model_cfg = model_config(self.cfg, self.env, resuming=self.resume_from is not None)
        if self.cfg.train.gradient_checkpointing:
            self.model_cfg.gradient_checkpointing = True
        seed_everything(self.cfg.train.seed)
        model, self.tokenizer = build_model(self.model_cfg)
        if self.precision in ("bf16", "fp16") and not self.cfg.train.deepspeed:
            for p in trainable_parameters(model):  # fp32 master weights; autocast computes in 16 bit
                p.data = p.data.float()
        self.model = model.to(self.env.device)
        if self.cfg.train.compile:
            self.model.compile_layers()
        self.n_trainable = sum(p.numel() for p in trainable_parameters(model))
        self.n_params = sum(p.numel() for p in model.parameters())
        self.packed_needs_no_mask = self.model.base_llm.config._attn_implementation.startswith("flash")

    def _build_data(self) -> None:
        cfg, env = self.cfg, self.env
        self.skip_log = SkipLog()
        items, per_file = load_items(
            cfg.data, self.tokenizer, num_media_tokens=self.model.num_media_tokens,
            modality=self.model.modality, template=self.model_cfg.template, skip_log=self.skip_log,
            progress=self.progress and env.is_main,
        )  # fmt: skip
        self.items = items
        preprocessor = self.model.encoder.preprocessor()
        self.dataset = InstructDataset(items, preprocessor, cfg.data.on_error)
        t = cfg.train
        sampler = StepSampler(
            [len(i) for i in items], per_file, [f.weight for f in cfg.data.files],
            global_batch=t.global_batch_size, micro_batch=t.micro_batch_size, world_size=self.world,
            rank=env.rank, seed=t.seed, group_by_length=cfg.data.group_by_length,
            group_window=cfg.data.group_window,
        )  # fmt: skip
        self.steps_per_epoch = sampler.steps_per_epoch
        total = max(1, int(t.epochs * sampler.steps_per_epoch))
        if t.max_steps is not None:
            total = min(total, t.max_steps)
        self.total_steps = total
        self.sampler = sampler
        pack_len = cfg.data.pack_length or max(len(i) for i in items)
        self.collator = Collator(self.tokenizer.pad_token_id, packing=cfg.data.packing, pack_length=pack_len)
        if env.is_main and len(self.skip_log):
            print(f"[lamm train] skipped {len(self.skip_log)} samples: {self.skip_log.counts()}")
            _write_jsonl(self.out / "skipped.jsonl", self.skip_log.entries)

    def _loader(self, start_step: int):
        from torch.utils.data import DataLoader

        self.sampler.start_step, self.sampler.total_steps = start_step, self.total_steps
        workers = self.cfg.data.num_workers
        return DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            collate_fn=self.collator,
            num_workers=workers,
            persistent_workers=False,
            prefetch_factor=4 if workers else None,
            pin_memory=self.env.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.cfg.train.seed),  # never touch the global RNG
        )

    def _build_optimizer(self) -> None:
        t = self.cfg.train
        groups = param_groups(self.model, t.weight_decay)
        fused = {"fused": True} if self.env.device.type == "cuda" else {}
        self.optimizer = torch.optim.AdamW(groups, lr=t.lr, betas=t.betas, eps=t.eps, **fused)
        warm = warmup_steps(self.cfg, self.total_steps)
        self.warmup = warm
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(s, self.total_steps, warm, t.schedule, t.warmup_shape, t.min_lr_ratio),
        )
        self.scaler = None
        self.engine = None
        if t.deepspeed:
            self._init_deepspeed()
        elif self.env.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.env.device.index] if self.env.device.type != "cpu" else None
            unused = any(p.requires_grad for p in self.model.encoder.parameters())  # e.g. CLIP post-norm
            self.ddp = DDP(self.model, device_ids=ids, find_unused_parameters=unused)
        if self.precision == "fp16" and self.engine is None:
            self.scaler = torch.amp.GradScaler(self.env.device.type)

    def _init_deepspeed(self) -> None:
        if self.env.device.type == "cpu":
            os.environ.setdefault("DS_ACCELERATOR", "cpu")
        try:
            import deepspeed
        except ImportError:
            raise ConfigError(
                "train.deepspeed is set but DeepSpeed is not installed (pip install deepspeed)"
            ) from None
        deepspeed.init_distributed(dist_backend=self.env.backend)  # wraps the process group we made
        ds = deepspeed_config(self.cfg, self.accum, self.precision)
        validate_deepspeed_config(ds)
        self.ds_config = ds
        self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=self.model, optimizer=self.optimizer, lr_scheduler=self.scheduler, config=ds,
            dist_init_required=False,
        )  # fmt: skip

    # ---------------------------------------------------------------- one step
    def _forward_module(self) -> nn.Module:
        if self.engine is not None:
            return self.engine
        return getattr(self, "ddp", self.model)

    def _autocast(self):
        if self.engine is not None or self.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.env.device.type, dtype=dtype)

    def _micro_step(self, batch: dict[str, Any], scale: float, sync: bool) -> torch.Tensor:
        """Forward + backward of one micro-batch; returns the summed token loss (detached)."""
        module = self._forward_module()
        dev = self.env.device
        if batch["empty"]:  # every sample was bad: still join the gradient all-reduce, with zeros
            loss = sum(p.sum() for p in trainable_parameters(self.model)) * 0.0
            self._backward(loss, sync)
            return torch.zeros((), device=dev)
        mask = batch["attention_mask"]
        if batch["position_ids"] is not None and self.packed_needs_no_mask:
            mask = None  # flash attention finds packed samples from the restarting position_ids
        pos = batch["position_ids"]
        with self._autocast():
            out = module(
                input_ids=batch["input_ids"].to(dev, non_blocking=True),
                labels=batch["labels"].to(dev, non_blocking=True),
                attention_mask=mask.to(dev, non_blocking=True) if mask is not None else None,
                position_ids=pos.to(dev, non_blocking=True) if pos is not None else None,
                media=batch["media"].to(dev, non_blocking=True),
                return_logits=False,  # the LM head only where labels are: same loss, a fraction of the work
            )
        loss_sum = out.loss.float() * out.num_loss_tokens
        self._backward(loss_sum * scale, sync)
        return loss_sum.detach()

    def _backward(self, loss: torch.Tensor, sync: bool) -> None:
        if self.engine is not None:
            self.engine.backward(loss, scale_wrt_gas=False)
            self.engine.step()  # DeepSpeed steps the optimiser itself at the accumulation boundary
            return
        ctx = nullcontext() if sync or not hasattr(self, "ddp") else self.ddp.no_sync()
        with ctx:
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _optimizer_step(self) -> float:
        """Clip, step, schedule; returns the gradient norm before clipping."""
        if self.engine is not None:
            norm = self.engine.get_global_grad_norm()
            return float(norm) if norm is not None else float("nan")
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(trainable_parameters(self.model), self.cfg.train.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return float(norm)

    # ---------------------------------------------------------------- loop
    def train(self, stop_after: int | None = None) -> RunResult:
        """Run to ``total_steps`` (or stop after ``stop_after`` steps, checkpointing there)."""
        cfg, env = self.cfg, self.env
        end = self.total_steps if stop_after is None else min(self.total_steps, stop_after)
        result = RunResult(self.out, self.start_step, skipped=self.skip_log.counts())
        if env.is_main:
            cfg.save(self.out / "config.yaml")
            self._print_header()
        self.model.train()
        bar = None
        if self.progress and env.is_main:
            from lamm.progress import progress_bar

            bar = progress_bar(total=end, initial=self.start_step, desc="train", dynamic_ncols=True)
        it = iter(self._loader(self.start_step))
        real = total = 0
        t_start = time.perf_counter()
        tokens_done = 0
        runtime_skips = 0
        for step in range(self.start_step, end):
            t0 = time.perf_counter()
            micro = [next(it) for _ in range(self.accum)]
            counts = torch.tensor(
                [sum(b.get("loss_tokens", 0) for b in micro), sum(b.get("real_tokens", 0) for b in micro),
                 sum(b.get("total_tokens", 0) for b in micro), sum(len(b["errors"]) for b in micro)],
                dtype=torch.float64, device=env.device,
            )  # fmt: skip
            D.all_reduce_sum(counts)
            n_loss, n_real, n_total, n_err = (float(x) for x in counts.tolist())
            if n_err and env.is_main:
                for b in micro:
                    for e in b["errors"]:
                        print(f"[lamm train] skipped: {e}")
            runtime_skips += int(n_err)
            scale = self.world / max(n_loss, 1.0)
            lr = self._current_lr()  # the lr this update uses (DeepSpeed schedules inside its step)
            loss_sum = torch.zeros((), dtype=torch.float64, device=env.device)
            for k, b in enumerate(micro):
                loss_sum += self._micro_step(b, scale, sync=k == len(micro) - 1).double()
            gnorm = self._optimizer_step()
            D.all_reduce_sum(loss_sum)
            loss = float(loss_sum) / max(n_loss, 1.0)
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss is {loss} at step {step + 1}; lower the lr or check the data")
            dt = time.perf_counter() - t0
            real += n_real
            total += n_total
            tokens_done += n_real
            result.losses.append(loss)
            rec = {
                "step": step + 1, "epoch": round((step + 1) / self.steps_per_epoch, 4), "loss": loss, "lr": lr,
                "grad_norm": gnorm, "tokens_per_s": n_real / dt, "real_token_fraction": n_real / max(n_total, 1),
                "loss_tokens": int(n_loss), "step_time_s": dt,
            }  # fmt: skip
            if step % cfg.train.log_every == 0 or step + 1 == end:
                self.logger.log(rec)
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{n_real / dt:.0f}")
                bar.update(1)
            every = cfg.train.save_every
            if (every and (step + 1) % every == 0) or step + 1 == end:
                result.checkpoint = self.save_checkpoint(step + 1)
        if bar is not None:
            bar.close()
        result.steps = end
        result.seconds = time.perf_counter() - t_start
        result.real_token_fraction = real / max(total, 1)
        result.tokens_per_s = tokens_done / max(result.seconds, 1e-9)
        if runtime_skips:
            result.skipped["bad_media"] = runtime_skips
        self.logger.close()
        if env.is_main:
            print(
                f"[lamm train] {end - self.start_step} steps in {result.seconds:.1f}s, final loss "
                f"{result.losses[-1] if result.losses else float('nan'):.4f}, real-token fraction "
                f"{result.real_token_fraction:.3f}, {result.tokens_per_s:.0f} tokens/s; checkpoint {result.checkpoint}"
            )
        return result

    def _current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _print_header(self) -> None:
        t = self.cfg.train
        print(
            f"[lamm train] device {self.env.device} x {self.world} ({self.env.backend or 'single process'}), "
            f"precision {self.precision}, deepspeed {t.deepspeed or 'off'}; params {self.n_params / 1e6:.2f}M, "
            f"trainable {self.n_trainable / 1e6:.2f}M; {len(self.items)} samples, {self.steps_per_epoch} steps/epoch, "
            f"{self.total_steps} steps (global batch {t.global_batch_size} = micro {t.micro_batch_size} x "
            f"accum {self.accum} x {self.world} procs), warm-up {self.warmup}, packing {self.cfg.data.packing}"
        )

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self, step: int) -> Path:
        """Trained weights (model helper's ``save_trainable``) + optimiser/scheduler/RNG/data state."""
        from lamm.model.checkpoint import save_trainable

        path = checkpoint_dir(self.out, step)
        if self.env.is_main:
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True)
        D.barrier()
        with self._gathered():  # ZeRO-3 partitions parameters: gather them (every process) to save
            if self.env.is_main:
                save_trainable(self.model, path, tokenizer=self.tokenizer)
                self.cfg.save(path / "train_config.yaml")
                if self._data_fp is None:  # hashed once per run, when the first checkpoint is written
                    self._data_fp = O.data_fingerprint(self.cfg)
                (path / O.DATA_FINGERPRINT).write_text(json.dumps(self._data_fp, indent=1), "utf-8")
        D.barrier()
        torch.save(rng_state(), path / f"rng-rank{self.env.rank}.pt")
        if self.engine is not None:
            # ZeRO partitions the optimiser state across processes: DeepSpeed's own sharded format.
            self.engine.save_checkpoint(
                str(path / "deepspeed"), tag="state", save_latest=False, exclude_frozen_parameters=True
            )
        if self.env.is_main:
            state = {"step": step, "total_steps": self.total_steps, "world_size": self.world}
            if self.engine is None:
                state["optimizer"] = self.optimizer.state_dict()
                state["scheduler"] = self.scheduler.state_dict()
                if self.scaler is not None:
                    state["scaler"] = self.scaler.state_dict()
            torch.save(state, path / STATE_FILE)
        D.barrier()
        if self.env.is_main:
            (path / DONE_MARK).write_text(f"{step}\n", "utf-8")
            O.write_alias(path.parent, "latest", path)
            if step == self.total_steps:
                O.write_alias(path.parent, "final", path)
            self._prune_checkpoints(path)
        D.barrier()
        return path

    def _gathered(self):
        if self.engine is None or self.engine.zero_optimization_stage() != 3:
            return nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(trainable_parameters(self.model), modifier_rank=None)

    def _prune_checkpoints(self, keep: Path) -> None:
        n = self.cfg.train.keep_checkpoints
        done = sorted(p for p in (self.out / "checkpoints").glob("step-*") if (p / DONE_MARK).is_file())
        for old in done[: max(0, len(done) - n)]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)

    def _load_checkpoint(self, path: Path) -> None:
        from lamm.model.checkpoint import load_trainable

        state = _load_state(path / STATE_FILE)
        if state["total_steps"] != self.total_steps:
            raise ConfigError(
                f"--resume {path}: the run had {state['total_steps']} steps, this config gives {self.total_steps}"
            )
        if self.engine is not None:  # DeepSpeed's checkpoint holds the trainable weights (maybe sharded) too
            with _unreadable(path / "deepspeed"):
                self.engine.load_checkpoint(str(path / "deepspeed"), tag="state", load_module_strict=False)
        else:
            with _unreadable(path / "model.safetensors"):
                load_trainable(self.model, path)
            with _unreadable(path / STATE_FILE):
                self.optimizer.load_state_dict(state["optimizer"])
                self.scheduler.load_state_dict(state["scheduler"])
                if self.scaler is not None and "scaler" in state:
                    self.scaler.load_state_dict(state["scaler"])
        rng_file = path / f"rng-rank{self.env.rank}.pt"
        if state["world_size"] == self.world and not rng_file.is_file():
            raise ConfigError(
                f"--resume {path}: {rng_file.name} is missing, so the run cannot continue exactly (its "
                "random streams are lost); the checkpoint is damaged: resume from an earlier one"
            )
        if state["world_size"] == self.world:
            set_rng_state(_load_state(rng_file))
        elif self.env.is_main:
            print(f"[lamm train] resuming on {self.world} processes (saved on {state['world_size']}): "
                  "RNG streams restart, the data order is unchanged")  # fmt: skip
        self.start_step = int(state["step"])
        if self.env.is_main:
            print(f"[lamm train] resumed from {path} at step {self.start_step}")

    def close(self) -> None:
        D.cleanup()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _require_wandb() -> None:
    """``train.wandb=true`` without the package is refused up front, not ignored."""
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ConfigError(
            "train.wandb=true needs the wandb package (pip install 'lamm[wandb]'), or set train.wandb=false"
        ) from None


@contextmanager
def _unreadable(path: Path):
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


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(
    cfg: Config,
    *,
    resume: str | bool | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> RunResult:
    """Build a Trainer for this process and run it; the caller's torch thread count is restored after
    (``train.num_threads`` is for the training loop, not for what the process does next, e.g. the
    quickstart's evaluation)."""
    with torch_threads():
        trainer = Trainer(cfg, resume=resume, progress=progress, overwrite=overwrite)
        try:
            return trainer.train(stop_after=stop_after)
        finally:
            trainer.close()
