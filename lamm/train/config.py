"""Training configuration: plain dataclasses read from YAML, with ``section.key=value`` overrides.

One file describes a run completely (model, data, optimisation); the resolved config is saved next to
every checkpoint, so a run can be reproduced or resumed from its output folder alone.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PRESETS_PACKAGE = "lamm.train.presets"


class ConfigError(ValueError):
    """A training config is invalid; the message names the key."""


@dataclass
class DataFile:
    """One instruction meta file. ``root``: where its media paths start (default: see ``data_root``).
    ``weight``: how many times the file is drawn per epoch (0.5 = a fresh random half each epoch)."""

    path: str
    root: str | None = None
    weight: float = 1.0
    task_types: list[str] | None = None  # keep only these task_type values (None: all)
    ids: list[str] | None = None  # keep only records whose id matches one of these fnmatch patterns


@dataclass
class DataConfig:
    files: list[DataFile] = field(default_factory=list)
    max_length: int = 400  # text tokens after the media (BOS, prefix, media not counted; paper: max_tgt_len)
    packing: bool = False  # pack several samples into one row (block-diagonal attention)
    pack_length: int | None = None  # row capacity when packing (default: the longest sample)
    group_by_length: bool = True  # micro-batches of similar length (less padding)
    group_window: int = 8  # length grouping sorts within this many global batches
    num_workers: int = 2  # DataLoader workers that decode and preprocess media
    on_error: str = "raise"  # "raise" | "skip" (bad media / malformed / empty samples)
    system_messages: bool = True  # per-task system message before the media (all released scripts)

    def __post_init__(self) -> None:
        self.files = [
            f if isinstance(f, DataFile) else DataFile(**_as_dict(f, "data.files")) for f in self.files
        ]


@dataclass
class TrainConfig:
    global_batch_size: int = 64  # samples per optimiser step, whatever the number of processes
    micro_batch_size: int = 2  # samples per forward pass per process
    epochs: float = 2.0
    max_steps: int | None = None  # stop early (the schedule still spans ``epochs`` unless set here)
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.001
    schedule: str = "linear"  # "linear" | "cosine" | "constant" decay after warm-up
    warmup_steps: int | None = None  # default: max(min_warmup_steps, warmup_ratio * total)
    warmup_ratio: float = 0.1
    min_warmup_steps: int = 10
    warmup_shape: str = "log"  # "log" (DeepSpeed WarmupDecayLR's default, the paper) | "linear"
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    precision: str = "auto"  # "auto" (bf16 on GPUs that have it, else fp32) | "bf16" | "fp16" | "fp32"
    gradient_checkpointing: bool = False
    compile: bool = False  # torch.compile each LLM decoder layer (GPU: ~1.46x tokens/s on the 7B shape)
    seed: int = 0  # always used (the official code skipped seeding for seed 0)
    num_threads: int | None = None  # torch intra-op CPU threads (None: torch's default)
    deepspeed: str | None = None  # "zero1" | "zero2" | "zero3" | path to a JSON config
    log_every: int = 1
    save_every: int = 0  # optimiser steps between checkpoints; 0 = only at the end
    keep_checkpoints: int = 2
    tensorboard: bool = True  # when tensorboard is installed
    wandb: bool = False  # when wandb is installed (project from WANDB_PROJECT)

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]


@dataclass
class TinyConfig:
    """The ``tiny`` preset's random-initialised base (``lamm.model.tiny.build_tiny``, built once into
    ``<out>/base``): CLIP vision tower, LLaMA and a BPE tokenizer trained on the data's text."""

    vocab_size: int = 2000
    image_size: int = 64
    patch_size: int = 8
    vision_layers: int = 2
    vision_hidden: int = 128
    llm_layers: int = 2
    llm_hidden: int = 256
    heads: int = 4
    seed: int = 0
    # > 0: pre-train the vision tower on the data's answer words and boxes first
    # (lamm.train.pretrain.clip), batches of encoder_pretrain_batch records with boxes
    encoder_pretrain_steps: int = 0
    encoder_pretrain_batch: int = 32
    # extra image-text files (instruction schema) read by the tower pre-training only, like CLIP's own corpus
    encoder_pretrain_files: list[str] = field(default_factory=list)
    # torch threads of the tower pre-training; 0: every core (the quickstart gives it one and trains
    # tiny-3d on the other)
    encoder_pretrain_threads: int = 0


@dataclass
class Config:
    model: dict[str, Any] = field(default_factory=dict)  # lamm.model.config.ModelConfig fields
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tiny: TinyConfig | None = None  # set: build a random tiny base model + tokenizer from the data
    out_dir: str = "runs/lamm"

    def __post_init__(self) -> None:
        if not isinstance(self.data, DataConfig):
            self.data = _build(DataConfig, self.data, "data")
        if not isinstance(self.train, TrainConfig):
            self.train = _build(TrainConfig, self.train, "train")
        if self.tiny is not None and not isinstance(self.tiny, TinyConfig):
            self.tiny = _build(TinyConfig, self.tiny, "tiny")
        self.validate()

    def validate(self) -> None:
        t, d = self.train, self.data
        if t.global_batch_size < 1 or t.micro_batch_size < 1:
            raise ConfigError("train.global_batch_size and train.micro_batch_size must be >= 1")
        if t.global_batch_size % t.micro_batch_size:
            raise ConfigError(
                f"train.global_batch_size {t.global_batch_size} is not a multiple of "
                f"train.micro_batch_size {t.micro_batch_size}"
            )
        if t.max_steps is not None and t.max_steps < 1:  # -3 once "trained" 0 steps and exited 0
            raise ConfigError(f"train.max_steps (--max-steps) must be >= 1, got {t.max_steps}")
        if t.epochs <= 0:
            raise ConfigError(f"train.epochs must be > 0, got {t.epochs}")
        _choice("train.schedule", t.schedule, ("linear", "cosine", "constant"))
        _choice("train.warmup_shape", t.warmup_shape, ("log", "linear"))
        _choice("train.precision", t.precision, ("auto", "bf16", "fp16", "fp32"))
        _choice("data.on_error", d.on_error, ("raise", "skip"))
        if d.max_length < 2:
            raise ConfigError("data.max_length must be >= 2")
        if d.pack_length is not None and d.pack_length < d.max_length:
            raise ConfigError(f"data.pack_length {d.pack_length} must be >= data.max_length {d.max_length}")
        for f in d.files:
            if f.weight < 0:
                raise ConfigError(f"data.files: weight of {f.path} must be >= 0")

    def grad_accum(self, world_size: int) -> int:
        """Micro-batches per process per step, so the global batch is the configured one."""
        per_step = self.train.micro_batch_size * world_size
        if self.train.global_batch_size % per_step:
            raise ConfigError(
                f"train.global_batch_size {self.train.global_batch_size} is not divisible by "
                f"micro_batch_size {self.train.micro_batch_size} x {world_size} processes"
            )
        return self.train.global_batch_size // per_step

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["train"]["betas"] = list(self.train.betas)
        return out

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), "utf-8")


def _as_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _build(cls: type, value: Any, where: str) -> Any:
    data = _as_dict(value, where)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(f'{where}.{k}' for k in unknown)}; known: {sorted(known)}"
        )
    hints = typing.get_type_hints(cls)
    data = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Scalars to their annotated type (YAML reads ``1e-3`` as a string); wrong types -> ConfigError."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else ()
    if value is None:
        if type(None) in args or hint is Any:
            return None
        raise ConfigError(f"{key} must not be empty")
    scalar = next((t for t in (bool, int, float, str) if t is hint or t in args), None)
    if scalar is None or isinstance(value, (dict, list)) and scalar is not str:
        return value
    if scalar is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    try:
        if scalar is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return scalar(value) if not isinstance(value, bool) else _fail(key, value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a {scalar.__name__}, got {value!r}") from None


def _fail(key: str, value: Any) -> Any:
    raise ConfigError(f"{key} must be a number, got {value!r}")


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML: ``1e-3``, ``true``, ``[a, b]``)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {p} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(raw) if raw else None
    return data


def preset_path(name: str | Path) -> Path:
    """A shipped preset's file, or ``name`` itself when it is a ``.yaml``/``.yml`` path."""
    if str(name).endswith((".yaml", ".yml")):
        if not Path(name).is_file():
            raise ConfigError(f"config file {name} not found")
        return Path(name)
    path = Path(str(resources.files(PRESETS_PACKAGE).joinpath(f"{name}.yaml")))
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(list_presets())}")
    return path


def list_presets() -> list[str]:
    root = resources.files(PRESETS_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_config(source: str | Path | dict[str, Any], overrides: list[str] = ()) -> Config:
    """Load a YAML file (or a dict), apply overrides, validate. ``model`` is checked by ModelConfig."""
    if isinstance(source, dict):
        data = yaml.safe_load(yaml.safe_dump(source))  # a deep copy with YAML types only
        where = "<dict>"
    else:
        where = str(source)
        try:
            data = yaml.safe_load(Path(source).read_text("utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:  # missing, a folder, unreadable, not text
            reason = "file not found" if isinstance(exc, FileNotFoundError) else exc.__class__.__name__
            raise ConfigError(f"{source}: cannot read the training config ({reason})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a training config must be a mapping")
    data = apply_overrides(data, list(overrides))
    cfg = _build(Config, data, "config")
    check_model_section(cfg.model, tiny=cfg.tiny is not None)
    return cfg


def check_model_section(model: dict[str, Any], *, tiny: bool = False) -> None:
    """Validate ``model`` with the model package's own dataclass (one definition of its keys).
    With a ``tiny`` section the base LLM is built at start, so ``model.llm`` may be left out."""
    from lamm.model.config import ModelConfig

    model = dict(model)
    if tiny:
        model.setdefault("llm", "<built by the tiny preset>")
    try:
        ModelConfig.from_dict(model)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model: {exc}") from None
