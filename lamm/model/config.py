"""Model configuration: one plain dataclass, saved in every checkpoint as the resolved config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
DTYPES |= {"float16": torch.float16, "fp16": torch.float16}
# Files that hold model weights: fingerprinted in checkpoint manifests; a point-cloud encoder folder holds one.
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


@dataclass
class LoraSettings:
    """peft LoRA settings; defaults are the paper's (r 32, alpha 32, dropout 0.1, q/k/v/o, no bias)."""

    r: int = 32
    alpha: int = 32
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    bias: str = "none"


@dataclass
class ModelConfig:
    """Everything needed to rebuild a LAMMModel from its base weights.

    ``llm`` / ``encoder["path"]`` are local folders or hub ids (``from_pretrained``). ``lora=None`` means
    full fine-tuning of the LLM (unless ``freeze_llm``, which trains only projector/encoder).
    ``num_media_tokens`` is how many ``<media>`` tokens one media item becomes (paper: 256, CLIP local).
    """

    llm: str
    encoder: dict[str, Any] = field(default_factory=lambda: {"type": "clip", "feature": "local"})
    projector: str = "linear"
    num_media_tokens: int = 256
    lora: LoraSettings | None = field(default_factory=LoraSettings)
    dtype: str = "float32"
    attn_implementation: str = "sdpa"
    template: str = "lamm-v1"
    tokenizer: str | None = None  # default: same as ``llm``
    freeze_encoder: bool = True
    freeze_llm: bool = False  # only meaningful with lora=None (LoRA always freezes the base weights)
    gradient_checkpointing: bool = False
    llm_revision: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            self.lora = LoraSettings(**self.lora)
        if self.dtype not in DTYPES:
            raise ValueError(f"model dtype {self.dtype!r} not in {sorted(DTYPES)}")
        if "type" not in self.encoder:
            raise ValueError("model encoder config needs a 'type' (e.g. 'clip')")
        if "trainable" in self.encoder and bool(self.encoder["trainable"]) == self.freeze_encoder:
            raise ValueError(
                f"encoder.trainable={self.encoder['trainable']} contradicts freeze_encoder={self.freeze_encoder}; "
                "set freeze_encoder only"
            )

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**data)
