"""Checkpoints: trainable weights as safetensors + a manifest that pins the base models.

A checkpoint folder holds ``model.safetensors`` (only parameters with ``requires_grad``: projector,
LoRA A/B, unfrozen parts), ``config.json`` (the resolved ModelConfig), ``manifest.json`` (base LLM and
encoder with fingerprints of their weight files, tokenizer hash, template, versions) and the tokenizer.
Loading onto a base whose fingerprint differs is refused unless ``force`` (the official code silently
loaded deltas onto the wrong Vicuna). The trainer adds its own optimizer/scheduler/RNG files beside these.

Fingerprints and the manifest's contents are :mod:`lamm.model.manifest`; the official LAMM
``pytorch_model.pt`` layout is :mod:`lamm.model.official_delta`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

import lamm
from lamm.model.config import ModelConfig
from lamm.model.manifest import build_manifest, check_base, tokenizer_fingerprint

WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "config.json"
TOKENIZER_DIR = "tokenizer"


class CheckpointError(ValueError):
    """A checkpoint does not fit the model/base it is loaded on (names the folder and what differs)."""


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    os.replace(tmp, path)


def save_trainable(model, directory: str | Path, tokenizer=None) -> Path:
    """Write trainable weights (safetensors), resolved config and manifest (and the tokenizer if given)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.trainable_state_dict().items()}
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "lamm": lamm.__version__})
    os.replace(tmp, out / WEIGHTS_FILE)
    _write_json(out / CONFIG_FILE, model.config.to_dict())
    manifest = build_manifest(model, tokenizer)
    manifest["weights"] = {
        "file": WEIGHTS_FILE,
        "num_tensors": len(state),
        "num_params": sum(v.numel() for v in state.values()),
    }
    for key, path in (("base_llm", model.config.llm), ("encoder", model.config.encoder.get("path"))):
        if path and Path(path).expanduser().exists():  # local: found again when moved along
            manifest[key]["from_checkpoint"] = os.path.relpath(
                Path(path).expanduser().resolve(), out.resolve()
            )
    _write_json(out / MANIFEST_FILE, manifest)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out / TOKENIZER_DIR))
    return out


def apply_state(
    model, state: dict[str, torch.Tensor], where: str, *, allow_missing: bool, allow_unexpected: bool
) -> dict[str, list[str]]:
    """Copy ``state`` into the model's trainable parameters (and the buffers saved with them, e.g.
    BatchNorm statistics; optional, so older checkpoints load); report missing/unexpected/shape errors."""
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    params.update({n: b for n, b in model.named_buffers() if n in state and n not in params})
    missing = sorted(trainable - set(state))
    unexpected = sorted(k for k in state if k not in params)
    bad_shape = sorted(
        f"{k}: {tuple(state[k].shape)} vs {tuple(params[k].shape)}"
        for k in state
        if k in params and state[k].shape != params[k].shape
    )
    problems = []
    if bad_shape:
        problems.append(f"{len(bad_shape)} shape mismatches: {bad_shape[:5]}")
    if missing and not allow_missing:
        problems.append(
            f"{len(missing)} missing keys (model trains them, checkpoint lacks them): {missing[:5]}"
        )
    if unexpected and not allow_unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (not in this model): {unexpected[:5]}")
    if problems:
        raise CheckpointError(f"{where}: " + "; ".join(problems))
    with torch.no_grad():
        for k, v in state.items():
            if k in params:
                params[k].copy_(v.to(params[k].dtype))
    return {"missing": missing, "unexpected": unexpected}


def load_trainable(
    model, directory: str | Path, *, allow_missing: bool = False, allow_unexpected: bool = False
) -> dict[str, list[str]]:
    """Load ``model.safetensors`` of a checkpoint into ``model`` (same architecture). Returns the
    missing/unexpected key lists (non-empty only when allowed)."""
    f = Path(directory) / WEIGHTS_FILE
    if not f.is_file():
        raise CheckpointError(f"{directory}: no {WEIGHTS_FILE}")
    return apply_state(
        model, load_file(str(f)), str(f), allow_missing=allow_missing, allow_unexpected=allow_unexpected
    )


def read_manifest(directory: str | Path) -> dict[str, Any]:
    f = Path(directory) / MANIFEST_FILE
    if not Path(directory).exists():  # e.g. a mistyped folder or pytorch_model.pt path
        raise CheckpointError(f"{directory}: no such checkpoint folder or official .pt file")
    if not f.is_file():
        raise CheckpointError(f"{directory}: no {MANIFEST_FILE}; not a lamm checkpoint")
    return json.loads(f.read_text("utf-8"))


def _looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id ("org/name" has exactly one slash and no leading dot/slash)."""
    return path.startswith(("/", "./", "../", "~")) or path.count("/") != 1


def resolve_checkpoint(directory: str | Path) -> Path:
    """A checkpoint folder, following a ``checkpoints/final`` or ``latest`` pointer (``pointer.json``
    naming a sibling ``step-N`` folder) to the checkpoint it names."""
    d = Path(directory)
    pointer = d / "pointer.json"
    if not (d / MANIFEST_FILE).is_file() and pointer.is_file():
        target = str(json.loads(pointer.read_text("utf-8")).get("checkpoint", ""))
        if not target.startswith("../") or "/" in target[3:] or target[3:] in ("", ".", ".."):
            raise CheckpointError(f"{pointer}: names {target!r}, not a sibling checkpoint folder")
        return d.parent / target[3:]
    return d


def _relocated(path: str | None, manifest_part: dict[str, Any], d: Path) -> str | None:
    """A local base path recorded relative to the training's working directory, found from elsewhere:
    relative to the checkpoint (recorded at save), else below one of the checkpoint's parent folders."""
    if not path or Path(path).expanduser().exists():
        return path
    rel = manifest_part.get("from_checkpoint")
    candidates = [d / rel] if rel else []
    if (rel or _looks_local(path)) and not Path(path).is_absolute():
        candidates += [a / path for a in d.resolve().parents]
    return next((str(c.resolve()) for c in candidates if c.exists()), path)


def load_checkpoint(
    directory: str | Path,
    *,
    base_llm: str | None = None,
    base_encoder: str | None = None,
    force: bool = False,
    allow_missing: bool = False,
    allow_unexpected: bool = False,
    device: str | torch.device | None = None,
    dtype: str | None = None,
):
    """Rebuild the model from its bases (those recorded, or ``base_llm``/``base_encoder`` instead) and
    load the trained weights. Returns ``(LAMMModel, tokenizer)``. ``dtype`` replaces the recorded
    precision (e.g. ``bf16`` for an imported official delta, recorded as float32, on a GPU).

    Refuses (CheckpointError) when a base or the tokenizer differs from the one trained on, unless
    ``force``.
    """
    from lamm.model.lamm_model import build_model, load_tokenizer

    d = resolve_checkpoint(directory)
    manifest = read_manifest(d)
    data = json.loads((d / CONFIG_FILE).read_text("utf-8"))
    config = ModelConfig.from_dict(data)
    if dtype is not None:
        config = ModelConfig.from_dict({**data, "dtype": dtype})
    llm = _relocated(config.llm, manifest.get("base_llm") or {}, d)
    if config.tokenizer == config.llm:
        config.tokenizer = llm
    config.llm = llm
    if config.encoder.get("path"):
        config.encoder = {
            **config.encoder,
            "path": _relocated(config.encoder["path"], manifest.get("encoder") or {}, d),
        }
    if base_llm is not None:
        if config.tokenizer in (None, config.llm):
            config.tokenizer = None
        config.llm = base_llm
    if base_encoder is not None:
        config.encoder = {**config.encoder, "path": base_encoder}
    for what, where, flag, part in (
        (config.llm, "base LLM", "base_llm=PATH (lamm chat --base-llm PATH)", "base_llm"),
        (
            config.encoder.get("path"),
            "encoder",
            "base_encoder=PATH (lamm chat --base-encoder PATH)",
            "encoder",
        ),
    ):
        was_local = _looks_local(what or "") or "from_checkpoint" in (manifest.get(part) or {})
        if what and was_local and not Path(what).expanduser().exists():
            raise CheckpointError(f"{d}: {where} {what!r} not found (moved?); pass {flag}")
    diffs = check_base(manifest, config, str(d))
    tokenizer = load_tokenizer(config)
    tok_fp = manifest["tokenizer"].get("fingerprint")
    if tok_fp and tokenizer_fingerprint(tokenizer) != tok_fp:
        diffs.append(f"tokenizer of {config.tokenizer or config.llm!r} differs from the one trained with")
    if diffs and not force:
        raise CheckpointError(
            f"{d}: refusing to load on a different base: "
            + "; ".join(diffs)
            + " (pass force=True / --force to load anyway)"
        )
    model, tokenizer = build_model(config, tokenizer=tokenizer)
    load_trainable(model, d, allow_missing=allow_missing, allow_unexpected=allow_unexpected)
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer
