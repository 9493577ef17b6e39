"""What pins a checkpoint to its bases: weight and tokenizer fingerprints, the manifest, and the comparison.

A checkpoint's ``manifest.json`` records the base LLM and encoder (path, revision, a fingerprint of their
weight files), the tokenizer's hash and the template; :func:`check_base` names every way the bases a
config points at now differ from those, so loading onto the wrong Vicuna is refused instead of silent.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lamm.model.config import WEIGHT_SUFFIXES, ModelConfig
from lamm.model.template import get_template
from lamm.versions import versions

_SAMPLE_CHUNKS, _CHUNK = 16, 1 << 20


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
