"""The training loop: one process, torchrun DDP (gloo/NCCL) or DeepSpeed ZeRO-1/2/3, with exact resume.

Loss normalisation: every optimiser step minimises the mean token cross-entropy over *all* supervised
tokens of the global batch (summed over micro-batches and processes, divided by their total count),
so the update is the same whatever the micro-batch size, the number of processes, or padding vs
packing. (Averaging per-micro-batch means would weight short samples differently per layout.)

``lamm.train.run.train`` is the recipe that makes a Trainer (process group, output folder, resume point,
the ready ModelConfig from ``tiny_base``). The Trainer's parts: ``schedule`` (lr), ``rng_state``,
``deepspeed_config``, ``checkpointing``, ``train_log``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from lamm.model.config import ModelConfig
from lamm.model.lamm_model import build_model
from lamm.progress import progress_bar
from lamm.train import distributed as D
from lamm.train.checkpointing import load_checkpoint, save_checkpoint
from lamm.train.config import Config
from lamm.train.data import Collator, InstructDataset, SkipLog, load_items
from lamm.train.deepspeed_config import init_engine
from lamm.train.rng_state import seed_everything
from lamm.train.sampling import StepSampler
from lamm.train.schedule import lr_factor, warmup_steps
from lamm.train.train_log import Logger


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only (not biases / norms), the usual AdamW practice."""
    decay, no_decay = [], []
    for p in trainable_parameters(model):
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


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
    """Owns the model, data, optimiser and loop of one run (one per process), given a ready ModelConfig."""

    def __init__(
        self, cfg: Config, model_cfg: ModelConfig, env: D.DistEnv, precision: str, *,
        resume_from: Path | None = None, progress: bool = True,
    ) -> None:  # fmt: skip
        self.cfg, self.model_cfg, self.env, self.precision = cfg, model_cfg, env, precision
        self.out = Path(cfg.out_dir)
        self.progress = progress
        self.data_fp: list[list[str]] | None = None  # the data fingerprint, hashed at the first checkpoint
        self.world = env.world_size
        self.accum = cfg.grad_accum(self.world)
        self._build_model()
        self._build_data()
        self._build_optimizer()
        self.start_step = 0 if resume_from is None else load_checkpoint(self, resume_from)
        self.logger = Logger(self.out, cfg, env.is_main, self.start_step)

    # ---------------------------------------------------------------- set-up
    def _build_model(self) -> None:
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
            path = self.out / "skipped.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in self.skip_log.entries), "utf-8")
        cut = [i.id for i in items if i.truncated]
        if env.is_main and cut:  # official behaviour (max_tgt_len), but a cut answer teaches a cut answer
            print(f"[lamm train] {len(cut)} of {len(items)} samples are longer than data.max_length="
                  f"{cfg.data.max_length} text tokens and were cut from the end (e.g. {', '.join(cut[:3])}); "
                  "raise data.max_length to keep them whole", file=sys.stderr)  # fmt: skip

    def _loader(self, start_step: int) -> DataLoader:
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
            self.engine, self.optimizer, self.scheduler, self.ds_config = init_engine(
                self.model, self.optimizer, self.scheduler, self.cfg, self.env, self.accum, self.precision
            )
        elif self.env.distributed:
            ids = [self.env.device.index] if self.env.device.type != "cpu" else None
            unused = any(p.requires_grad for p in self.model.encoder.parameters())  # e.g. CLIP post-norm
            self.ddp = DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=unused)
        if self.precision == "fp16" and self.engine is None:
            self.scaler = torch.amp.GradScaler(self.env.device.type)

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
                result.checkpoint = save_checkpoint(self, step + 1)
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
