"""The step before training: the run's ModelConfig, ready for the trainer.

A config without a ``tiny`` section names its model (``model.llm`` ...). The ``tiny`` presets first
build a random base into ``<out>/base`` (``lamm.model.tiny.build_tiny``: BPE tokenizer on the data's
text, CLIP tower, LLaMA) and, with ``tiny.encoder_pretrain_steps``, pre-train its vision tower
(``lamm.train.pretrain.clip``). The base records what built it (``outdir.BASE_FINGERPRINT``): it is
rebuilt when its settings or data changed, and a resume on a changed base is refused.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from lamm.formats.jsonio import read_json_array
from lamm.model.config import ModelConfig
from lamm.model.tiny import build_tiny
from lamm.protocol.prompts import train_system_message
from lamm.train import distributed as D
from lamm.train import outdir as O
from lamm.train.config import Config, ConfigError, DataFile
from lamm.train.pretrain.clip import pretrain_tiny_tower
from lamm.train.rng_state import torch_threads


def model_config(cfg: Config, env: D.DistEnv, resuming: bool = False) -> ModelConfig:
    """The ModelConfig of the run; the ``tiny`` preset first builds its random base into ``<out>/base``
    (again when its ``tiny`` settings or data changed: a resume on a changed base is refused). Every
    process calls it; the main one builds, the others wait and read."""
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
        built = build_base(cfg, base)
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


def build_base(cfg: Config, base: Path) -> ModelConfig:
    """Build the ``tiny`` section's random base into ``base`` and pre-train its tower when asked."""
    t = cfg.tiny
    assert t is not None
    built = build_tiny(
        base, tokenizer_corpus(cfg.data.files), image_size=t.image_size, patch_size=t.patch_size,
        vision_layers=t.vision_layers, vision_hidden=t.vision_hidden, llm_layers=t.llm_layers,
        llm_hidden=t.llm_hidden, heads=t.heads, vocab_size=t.vocab_size, seed=t.seed,
    )  # fmt: skip
    if t.encoder_pretrain_steps:  # a random tower learns too slowly through the LLM alone
        # train.num_threads leaves a core to the DataLoader worker, which does not run yet: use every core
        with torch_threads(t.encoder_pretrain_threads or len(os.sched_getaffinity(0))):
            pretrain_tiny_tower(cfg, base / "clip", steps=t.encoder_pretrain_steps, seed=t.seed)
    return built


def tokenizer_corpus(files: list[DataFile]) -> list[str]:
    """Text the tiny tokenizer is trained on: every turn, plus the system messages of the task types
    present (the template puts them in every sample; unseen words would cost one token per byte)."""
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
