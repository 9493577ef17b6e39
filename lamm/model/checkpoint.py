"""Checkpoints: trainable weights as safetensors + a manifest that pins the base models.

A checkpoint folder holds ``model.safetensors`` (only parameters with ``requires_grad``: projector,
LoRA A/B, unfrozen parts), ``config.json`` (the resolved ModelConfig), ``manifest.json`` (base LLM and
encoder with fingerprints of their weight files, tokenizer hash, template, versions) and the tokenizer.
Loading onto a base whose fingerprint differs is refused unless ``force`` (the official code silently
loaded deltas onto the wrong Vicuna). The trainer adds its own optimizer/scheduler/RNG files beside these.

Interop: ``export_official`` / ``import_official`` / ``load_official`` convert to, from and run the
official LAMM ``pytorch_model.pt`` key layout (LAMM_FORMATS §5.5).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

import lamm
from lamm.model.config import WEIGHT_SUFFIXES, ModelConfig
from lamm.model.official_args import MODALITIES, OFFICIAL_3D_ENCODER
from lamm.model.template import get_template
from lamm.versions import versions

WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "config.json"
TOKENIZER_DIR = "tokenizer"
_SAMPLE_CHUNKS, _CHUNK = 16, 1 << 20


class CheckpointError(ValueError):
    """A checkpoint does not fit the model/base it is loaded on (names the folder and what differs)."""


# ------------------------------------------------------------------------------------------ fingerprints
def _resolve_local(path_or_id: str, revision: str | None = None) -> Path | None:
    """A local folder for a path or an already-downloaded hub id (never downloads)."""
    p = Path(path_or_id).expanduser()
    if p.exists():
        return p
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path_or_id, revision=revision, local_files_only=True))
    except Exception:  # not cached / not a hub id: no fingerprint, revision only
        return None


def _file_digest(f: Path) -> str:
    """SHA-256 of size + 16 evenly spaced 1 MiB chunks: a full hash of files up to 16 MiB, and for
    multi-GB shards a fingerprint that still differs between any two differently trained models."""
    size = f.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(f, "rb") as fh:
        if size <= _SAMPLE_CHUNKS * _CHUNK:
            h.update(fh.read())
        else:
            step = (size - _CHUNK) // (_SAMPLE_CHUNKS - 1)
            for i in range(_SAMPLE_CHUNKS):
                fh.seek(i * step)
                h.update(fh.read(_CHUNK))
    return h.hexdigest()


_FP_CACHE: dict[tuple[str, float], str] = {}


def weights_fingerprint(path_or_id: str, revision: str | None = None) -> str | None:
    """Fingerprint of a model's weight files (None when the weights are not on this machine)."""
    root = _resolve_local(path_or_id, revision)
    if root is None:
        return None
    files = sorted(f for f in root.rglob("*") if f.is_file() and f.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        return None
    key = (str(root.resolve()), max(f.stat().st_mtime for f in files))
    if key not in _FP_CACHE:
        h = hashlib.sha256()
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + _file_digest(f).encode())
        _FP_CACHE[key] = h.hexdigest()
    return _FP_CACHE[key]


def tokenizer_fingerprint(tokenizer) -> str:
    """SHA-256 of the tokenizer's full definition (vocab, merges, added tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_manifest(model, tokenizer=None) -> dict[str, Any]:
    cfg: ModelConfig = model.config
    enc = cfg.encoder
    enc_path = enc.get("path")
    tpl = get_template(cfg.template)
    return {
        "format": "lamm-checkpoint",
        "format_version": 1,
        "base_llm": {
            "path": cfg.llm,
            "revision": cfg.llm_revision,
            "fingerprint": weights_fingerprint(cfg.llm, cfg.llm_revision),
        },
        "encoder": {
            "type": enc.get("type"),
            "path": enc_path,
            "revision": enc.get("revision"),
            "fingerprint": weights_fingerprint(enc_path, enc.get("revision")) if enc_path else None,
        },
        "tokenizer": {
            "path": cfg.tokenizer or cfg.llm,
            "fingerprint": tokenizer_fingerprint(tokenizer) if tokenizer is not None else None,
        },
        "template": {"name": tpl.name, "version": tpl.version},
        "num_media_tokens": cfg.num_media_tokens,
        "projector": cfg.projector,
        "lora": None if cfg.lora is None else cfg.to_dict()["lora"],
        "versions": versions("torch", "transformers", "peft"),
    }


# ------------------------------------------------------------------------------------------ save/load
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


def _apply_state(
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
    return _apply_state(
        model, load_file(str(f)), str(f), allow_missing=allow_missing, allow_unexpected=allow_unexpected
    )


def read_manifest(directory: str | Path) -> dict[str, Any]:
    f = Path(directory) / MANIFEST_FILE
    if not Path(directory).exists():  # e.g. a mistyped folder or pytorch_model.pt path
        raise CheckpointError(f"{directory}: no such checkpoint folder or official .pt file")
    if not f.is_file():
        raise CheckpointError(f"{directory}: no {MANIFEST_FILE}; not a lamm checkpoint")
    return json.loads(f.read_text("utf-8"))


def check_base(manifest: dict[str, Any], config: ModelConfig, where: str) -> list[str]:
    """Differences between the bases recorded in ``manifest`` and those ``config`` points at."""
    diffs = []
    rec = manifest["base_llm"]
    now = weights_fingerprint(config.llm, config.llm_revision)
    if rec.get("fingerprint") and now and rec["fingerprint"] != now:
        diffs.append(
            f"base LLM {config.llm!r} (fingerprint {now[:12]}) is not the one trained on: "
            f"{rec['path']!r} (fingerprint {rec['fingerprint'][:12]})"
        )
    elif rec.get("revision") and config.llm_revision and rec["revision"] != config.llm_revision:
        diffs.append(f"base LLM revision {config.llm_revision!r} != trained-on {rec['revision']!r}")
    enc = manifest.get("encoder") or {}
    path = config.encoder.get("path")
    now = weights_fingerprint(path, config.encoder.get("revision")) if path else None
    if enc.get("fingerprint") and now and enc["fingerprint"] != now:
        diffs.append(
            f"encoder {path!r} (fingerprint {now[:12]}) is not the one trained on: "
            f"{enc['path']!r} (fingerprint {enc['fingerprint'][:12]})"
        )
    tpl = manifest.get("template", {})
    if tpl.get("name") != config.template:
        diffs.append(f"template {config.template!r} != trained-on {tpl.get('name')!r}")
    return diffs


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


# ------------------------------------------------------------------------------------------ official interop
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
    return _apply_state(
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
