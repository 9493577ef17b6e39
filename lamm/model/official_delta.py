"""The official LAMM delta (``pytorch_model.pt``: projector + LoRA, LAMM_FORMATS §5.5): export, import, run.

``export_official`` / ``import_official`` / ``load_official`` convert to, from and run the official key
layout; the file is read with ``torch.load(weights_only=True)``, so no code in it is run.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from lamm.model.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    apply_state,
    read_manifest,
    save_trainable,
)
from lamm.model.config import ModelConfig
from lamm.model.official_args import MODALITIES, OFFICIAL_3D_ENCODER


def _to_official_key(key: str) -> str:
    if key.startswith("projector."):
        return "llama_proj." + key[len("projector.") :]
    if key.startswith("llm."):
        return "llama_model." + key[len("llm.") :]
    raise CheckpointError(f"parameter {key!r} has no place in the official LAMM layout")


def _from_official_key(key: str) -> str:
    if key.startswith("llama_proj."):
        return "projector." + key[len("llama_proj.") :]
    if key.startswith("llama_model."):
        key = "llm." + key[len("llama_model.") :]
        # peft < 0.4 could name LoRA weights without the adapter name
        for ab in ("lora_A", "lora_B"):
            key = key.replace(f".{ab}.weight", f".{ab}.default.weight")
        return key
    return key  # reported as unexpected


def _check_official_compatible(config: ModelConfig) -> None:
    if config.lora is None:
        raise CheckpointError("the official layout holds LoRA deltas; this model is fully fine-tuned")
    if config.projector != "linear":
        raise CheckpointError(f"the official layout has a linear projector, not {config.projector!r}")


OFFICIAL_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "float32": torch.float32}


def _save_official(state: dict[str, torch.Tensor], path: str | Path, dtype: torch.dtype | None) -> Path:
    out = {_to_official_key(k): v.detach().cpu().clone() for k, v in state.items()}
    if dtype is not None:
        out = {k: v.to(dtype) if v.is_floating_point() else v for k, v in out.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
    return path


def export_official(model, path: str | Path, *, dtype: torch.dtype | None = None) -> Path:
    """Write the trainable weights as an official LAMM delta ``pytorch_model.pt`` (projector + LoRA);
    ``dtype`` casts them (the official DeepSpeed fp16 runs saved fp16), ``None`` keeps the model's."""
    _check_official_compatible(model.config)
    return _save_official(model.trainable_state_dict(), path, dtype)


def export_official_folder(
    directory: str | Path, path: str | Path, *, dtype: torch.dtype | None = torch.float16
) -> Path:
    """A lamm checkpoint folder -> official delta, from its files alone (no base model is loaded)."""
    d = Path(directory)
    read_manifest(d)
    config = ModelConfig.from_dict(json.loads((d / CONFIG_FILE).read_text("utf-8")))
    _check_official_compatible(config)
    f = d / WEIGHTS_FILE
    if not f.is_file():
        raise CheckpointError(f"{d}: no {WEIGHTS_FILE}")
    state = load_file(str(f))
    extra = sorted(k for k in state if not k.startswith(("projector.", "llm.")))
    if extra:
        raise CheckpointError(
            f"{d}: {len(extra)} trained tensors have no place in the official layout (it holds the "
            f"projector and LoRA only): {extra[:5]}"
        )
    return _save_official(state, path, dtype)


def _unpickle_reason(exc: Exception) -> str:
    """What torch's weights-only unpickler refused, without its advice to load with weights_only=False."""
    text = str(exc).split("WeightsUnpickler error:", 1)[-1]
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return line.split(". Please use")[0]


def read_official(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an official delta. ``torch.load(weights_only=True)``: no code in the file is run."""
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: not a plain dict of tensors; refusing to unpickle it ({_unpickle_reason(exc)})"
        ) from None
    except (OSError, RuntimeError, EOFError) as exc:  # EOFError: an empty file
        raise CheckpointError(
            f"{path}: not a readable torch.save file ({str(exc) or 'empty file'})"
        ) from None
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(raw).__name__}")
    return raw


def import_official(
    model, path: str | Path, *, allow_missing: bool = False, allow_unexpected: bool = False
) -> dict[str, list[str]]:
    """Load an official LAMM delta checkpoint into ``model`` (built on the matching base with LoRA and a
    linear projector)."""
    _check_official_compatible(model.config)
    state = {_from_official_key(k): v for k, v in read_official(path).items()}
    return apply_state(
        model, state, str(path), allow_missing=allow_missing, allow_unexpected=allow_unexpected
    )


def convert_official(official: str | Path, config: ModelConfig, out_dir: str | Path) -> Path:
    """Official ``pytorch_model.pt`` + the ModelConfig of its bases -> a lamm checkpoint folder (with a
    manifest pinning those bases), usable by ``load_checkpoint`` / ``lamm chat`` / evaluation."""
    from lamm.model.lamm_model import build_model

    model, tokenizer = build_model(config)
    import_official(model, official)
    return save_trainable(model, out_dir, tokenizer=tokenizer)


def official_encoder(modality: str, encoder: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The encoder section an official delta of ``modality`` was trained on: CLIP ViT-L/14 local
    features (2D), or the EPCL-style encoder of the ``lamm-13b-3d`` preset (3D); ``options`` override
    keys of it (e.g. a smaller EPCL)."""
    if modality == "image":
        section: dict[str, Any] = {"type": "clip", "feature": "local"}
    elif modality == "pcl":
        section = dict(OFFICIAL_3D_ENCODER)
    else:
        raise CheckpointError(f"modality must be one of {MODALITIES}, not {modality!r}")
    return {**section, **(options or {}), "path": encoder}


def official_config(
    path: str | Path,
    *,
    base_llm: str,
    encoder: str,
    modality: str,
    num_media_tokens: int = 256,
    lora_alpha: int = 32,
    dtype: str = "float32",
    encoder_options: dict[str, Any] | None = None,
    template: str = "lamm-v1",
) -> ModelConfig:
    """The ModelConfig of an official delta on its bases: LoRA rank and target layers read from the file,
    alpha the paper's 32, the encoder from ``modality`` (see :func:`official_encoder`)."""
    from lamm.model.config import LoraSettings

    raw = read_official(path)
    ranks = {v.shape[0] for k, v in raw.items() if ".lora_A." in k}
    targets = sorted({k.split(".lora_A.")[0].rsplit(".", 1)[-1] for k in raw if ".lora_A." in k})
    if len(ranks) != 1 or not targets:
        raise CheckpointError(f"{path}: no consistent LoRA weights found (ranks {sorted(ranks)})")
    return ModelConfig(
        llm=base_llm,
        encoder=official_encoder(modality, encoder, encoder_options),
        num_media_tokens=num_media_tokens,
        lora=LoraSettings(r=ranks.pop(), alpha=lora_alpha, target_modules=targets),
        dtype=dtype,
        template=template,
    )


def load_official(
    path: str | Path,
    *,
    base_llm: str,
    encoder: str,
    modality: str = "image",
    num_media_tokens: int = 256,
    lora_alpha: int = 32,
    dtype: str = "float32",
    encoder_options: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    template: str = "lamm-v1",
):
    """An official LAMM delta (``pytorch_model.pt``) on its bases, ready to use (see
    :func:`official_config`). Returns (model, tokenizer). Nothing pins the base here (the official
    files carry no manifest): choose it carefully. ``template``: the conversation layout the delta was
    trained with (``llama2-chat`` for the LLaMA-2-chat delta)."""
    from lamm.model.lamm_model import build_model

    config = official_config(
        path,
        base_llm=base_llm,
        encoder=encoder,
        modality=modality,
        num_media_tokens=num_media_tokens,
        lora_alpha=lora_alpha,
        dtype=dtype,
        encoder_options=encoder_options,
        template=template,
    )
    model, tokenizer = build_model(config)
    import_official(model, path)
    if device is not None:
        model.to(device)
    return model.eval(), tokenizer
