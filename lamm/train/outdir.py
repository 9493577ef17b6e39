"""What ``lamm train`` may do with its output folder: one writer, no silent overwrite, exact resume.

- one process (or one torchrun launch) writes into ``out_dir``: ``FolderLock`` for the whole run;
- a folder holding an earlier run is continued (``--resume``), replaced (``--overwrite``) or refused;
- a resume runs with the settings the checkpoint was trained with, or is refused naming the changes;
- ``OUT/base`` (the tiny preset's built base) records what built it and is rebuilt when that changed;
- ``checkpoints/latest`` and ``checkpoints/final`` are small pointer folders to a ``step-N`` checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from lamm.train.config import Config, ConfigError, load_config

# settings that change how a run is observed or scheduled on the machine, not what it computes
RESUME_MAY_CHANGE = {
    "out_dir",
    "data.num_workers",
    "train.num_threads",
    "tiny.encoder_pretrain_threads",
    "train.log_every",
    "train.save_every",
    "train.keep_checkpoints",
    "train.tensorboard",
    "train.wandb",
}
RUN_FILES = ("train_log.jsonl", "skipped.jsonl", "config.yaml")
POINTER = "pointer.json"
BASE_FINGERPRINT = "built_with.json"


def earlier_run(out: Path) -> str | None:
    """What in ``out`` shows an earlier training run (None: nothing)."""
    ckpts = out / "checkpoints"
    if ckpts.is_dir() and any(ckpts.glob("step-*")):
        return f"{ckpts} holds checkpoints"
    for name in RUN_FILES:
        if (out / name).is_file():
            return f"{out / name} exists"
    return None


def clear_earlier_run(out: Path) -> None:
    """``--overwrite``: remove the earlier run's checkpoints, logs and config (the built base stays; it is
    checked against its fingerprint)."""
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    shutil.rmtree(out / "tensorboard", ignore_errors=True)
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


def check_fresh_start(out: Path, overwrite: bool) -> None:
    found = earlier_run(out)
    if found is None:
        return
    if not overwrite:
        raise ConfigError(
            f"{out} holds an earlier run ({found}): pass --resume to continue it, --overwrite to replace it, "
            "or choose another --out"
        )
    clear_earlier_run(out)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def resume_changes(checkpoint: Path, cfg: Config) -> list[str]:
    """Settings of ``cfg`` that differ from the ones ``checkpoint`` was trained with (``key: old -> new``)."""
    saved = checkpoint / "train_config.yaml"
    if not saved.is_file():
        raise ConfigError(f"--resume {checkpoint}: no train_config.yaml; not a checkpoint of lamm train")
    old = _flat(load_config(saved).to_dict())
    new = _flat(cfg.to_dict())
    return [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if k not in RESUME_MAY_CHANGE and old.get(k) != new.get(k)
    ]


DATA_FINGERPRINT = "data_fingerprint.json"


def data_fingerprint(cfg: Config) -> list[list[str]]:
    """Per ``data.files`` entry, the SHA-256 of its contents (paths may move; contents may not)."""
    return [[f.path, _sha256(f.path) if os.path.isfile(f.path) else "missing"] for f in cfg.data.files]


def data_changes(checkpoint: Path, cfg: Config) -> list[str]:
    """``data.files`` entries whose contents differ from the ones ``checkpoint`` was trained on (a
    checkpoint written before the fingerprint existed has none to compare)."""
    f = checkpoint / DATA_FINGERPRINT
    if not f.is_file():
        return []
    try:
        old = [h for _, h in json.loads(f.read_text("utf-8"))]
    except (OSError, ValueError, TypeError):
        return [f"{f} is unreadable"]
    new = data_fingerprint(cfg)
    if len(old) != len(new):
        return [f"data.files: {len(old)} file(s) -> {len(new)}"]
    return [
        f"data.files[{i}] {path}: its contents changed"
        for i, (h, (path, n)) in enumerate(zip(old, new))
        if h != n
    ]


def check_resume_settings(checkpoint: Path, cfg: Config) -> None:
    changes = resume_changes(checkpoint, cfg) + data_changes(checkpoint, cfg)
    if changes:
        raise ConfigError(
            f"--resume {checkpoint}: these settings differ from the ones it was trained with: "
            + "; ".join(changes)
            + ". A resume continues the same run: undo those changes, or train into a new --out "
            "(or --overwrite) with the new settings"
        )


# ---------------------------------------------------------------------------------- the tiny base
def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def base_fingerprint(cfg: Config) -> dict[str, Any]:
    """What the tiny base is built from: the ``tiny`` settings and the contents of the files its
    tokenizer (and pre-trained tower) read."""
    tiny = {
        k: v for k, v in cfg.to_dict()["tiny"].items() if k != "encoder_pretrain_threads"
    }  # how fast only
    files = sorted({f.path for f in cfg.data.files} | set(cfg.tiny.encoder_pretrain_files or []))
    return {
        "tiny": tiny,
        "files": sorted(_sha256(p) for p in files if os.path.isfile(p)),
    }  # contents, not paths


def base_mismatch(base: Path, fp: dict[str, Any]) -> list[str]:
    """What differs between what built ``base`` and ``fp`` (empty: the same)."""
    f = base / BASE_FINGERPRINT
    if not f.is_file():
        return [f"{f} is missing (built by an older lamm)"]
    try:
        old = json.loads(f.read_text("utf-8"))
    except (OSError, ValueError):
        return [f"{f} is unreadable"]
    diffs = [
        f"tiny.{k}: {old.get('tiny', {}).get(k)!r} -> {v!r}"
        for k, v in fp["tiny"].items()
        if old.get("tiny", {}).get(k) != v
    ]
    if old.get("files") != fp["files"]:
        diffs.append("the data files its tokenizer was trained on changed")
    return diffs


def write_base_fingerprint(base: Path, fp: dict[str, Any]) -> None:
    tmp = base / (BASE_FINGERPRINT + ".tmp")
    tmp.write_text(json.dumps(fp, indent=1), "utf-8")
    os.replace(tmp, base / BASE_FINGERPRINT)


# ---------------------------------------------------------------------------------- aliases
def write_alias(checkpoints: Path, name: str, target: Path) -> None:
    """``checkpoints/<name>/pointer.json`` naming ``target`` (a sibling ``step-N``): no symlink, so it
    survives copies and archive tools; ``lamm.model.checkpoint.resolve_checkpoint`` follows it."""
    alias = checkpoints / name
    alias.mkdir(parents=True, exist_ok=True)
    tmp = alias / (POINTER + ".tmp")
    tmp.write_text(json.dumps({"checkpoint": f"../{target.name}"}) + "\n", "utf-8")
    os.replace(tmp, alias / POINTER)
