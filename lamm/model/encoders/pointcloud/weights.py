"""Pretrained weights for the point-cloud encoder: reading files safely, renaming Point-BERT / ULIP /
EPCL keys to ours, and a report of what loaded (never silent about missing or mis-shaped tensors)."""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lamm.model.config import WEIGHT_SUFFIXES
from lamm.model.encoders.pointcloud.config import WEIGHT_FORMATS

log = logging.getLogger("lamm.model.encoders.pointcloud")


# EPCL (LAMM's epcl_scannet_vit-L-14_256tokens_latest.pth, key "model") -> ours.
_EPCL_RULES: list[tuple[str, str]] = [
    (r"^pre_encoder\.mlp_module\.layer(\d+)\.conv\.", r"sa.layer\1.conv."),
    (r"^pre_encoder\.mlp_module\.layer(\d+)\.bn\.bn\.", r"sa.layer\1.bn."),
    (r"^encoder\.pos_embed\.", "pos_embed."),
    (r"^encoder\.clip_vit\.ln_pre\.", "ln_pre."),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.ln_1\.", r"blocks.\1.norm1."),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.ln_2\.", r"blocks.\1.norm2."),
    (
        r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$",
        r"blocks.\1.attn.qkv.weight",
    ),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.attn\.in_proj_bias$", r"blocks.\1.attn.qkv.bias"),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.clip_vit\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.", r"blocks.\1.mlp.fc2."),
    (r"^te_encoder\.", "prompt."),
]


def _strip(key: str, prefixes: tuple[str, ...]) -> str:
    changed = True
    while changed:
        changed = False
        for p in prefixes:
            if key.startswith(p):
                key, changed = key[len(p) :], True
    return key


def detect_format(keys: list[str]) -> str:
    """Guess the checkpoint family from its key names."""
    plain = [_strip(k, ("module.",)) for k in keys]
    if any(k.startswith(("pre_encoder.", "encoder.clip_vit.")) for k in plain):
        return "epcl"
    if any(k.startswith("point_encoder.") for k in plain):
        return "ulip"
    if any(k.startswith(("transformer_q.", "base_model.", "blocks.blocks.")) for k in plain):
        return "pointbert"
    return "lamm"


def map_state_dict(
    sd: dict[str, torch.Tensor], fmt: str = "auto"
) -> tuple[dict[str, torch.Tensor], list[str], str]:
    """Rename a checkpoint's keys to this encoder's names.

    Returns ``(mapped, ignored, fmt)``: ``ignored`` are keys known not to belong to the encoder
    (classification heads, Point-BERT's momentum encoder / dVAE, ULIP's text/image towers, CLIP's
    unused patch embedding and ln_post/proj, 3DETR's decoder). Anything else unknown stays in
    ``mapped`` under its original name and is reported as unexpected by ``load_pretrained``.
    """
    if fmt == "auto":
        fmt = detect_format(list(sd))
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for key, value in sd.items():
        k = _strip(key, ("module.",))
        if fmt == "pointbert":
            if k.startswith("transformer_q.cls_head") or k.startswith("cls_head"):
                ignored.append(key)
                continue
            if k.startswith(("transformer_k.", "dvae.", "queue", "lm_head", "mask_token")):
                ignored.append(key)
                continue
            k = _strip(k, ("transformer_q.", "base_model."))
        elif fmt == "ulip":
            if not k.startswith("point_encoder."):
                ignored.append(key)  # text/image towers, pc_projection, logit_scale
                continue
            k = k[len("point_encoder.") :]
            if k.startswith("cls_head"):
                ignored.append(key)
                continue
        elif fmt == "epcl":
            for pattern, repl in _EPCL_RULES:
                new, n = re.subn(pattern, repl, k)
                if n:
                    k = new
                    break
            else:
                ignored.append(key)  # CLIP conv1/class/positional embedding, ln_post, proj; 3DETR heads
                continue
        elif fmt != "lamm":
            raise ValueError(f"unknown weights format {fmt!r}; use one of {WEIGHT_FORMATS}")
        if fmt in ("pointbert", "ulip"):
            k = re.sub(r"^blocks\.blocks\.", "blocks.", k)
        mapped[k] = value
    return mapped, ignored, fmt


@dataclass
class LoadReport:
    """What ``load_pretrained`` did: never silent about missing, unexpected or mis-shaped keys."""

    path: str
    fmt: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        def few(items: list) -> str:
            return ", ".join(map(str, items[:8])) + (f", ... (+{len(items) - 8})" if len(items) > 8 else "")

        lines = [f"{self.path} ({self.fmt}): loaded {len(self.loaded)} tensors, ignored {len(self.ignored)}"]
        if self.missing:
            lines.append(f"  missing ({len(self.missing)}, kept at init): {few(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected ({len(self.unexpected)}): {few(self.unexpected)}")
        if self.mismatched:
            lines.append(
                f"  shape mismatch ({len(self.mismatched)}, not loaded; checkpoint vs model): {few(self.mismatched)}"
            )
        return "\n".join(lines)


def weight_file(path: str | Path) -> Path:
    """``path`` itself, or the single weight file in the folder ``path`` (a folder gets a fingerprint in
    the checkpoint manifest, like any base model folder)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.is_file() and f.name.endswith(WEIGHT_SUFFIXES))
        if len(files) != 1:
            raise FileNotFoundError(
                f"point-cloud encoder weights: {path} must hold exactly one of {WEIGHT_SUFFIXES}, found "
                f"{[f.name for f in files]}"
            )
        return files[0]
    if not path.is_file():
        raise FileNotFoundError(f"point-cloud encoder weights not found: {path}")
    return path


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local ``.safetensors`` file or a ``torch.save`` file loaded with ``weights_only=True``.

    Nested checkpoints are unwrapped (``model``, ``state_dict``, ``base_model``). EPCL files carry an
    ``argparse.Namespace`` of training args; that one class is allowed, nothing else is unpickled.
    """
    path = weight_file(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    with torch.serialization.safe_globals([argparse.Namespace]):
        obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "base_model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"{path}: no state dict of tensors found (looked at the top level and model/state_dict/base_model)"
        )
    return obj


def load_pretrained(
    encoder: nn.Module, path: str | Path, fmt: str = "auto", *, strict: bool = False
) -> LoadReport:
    """Load user weights into ``encoder``; mis-shaped tensors are skipped and reported, not crashed on."""
    mapped, ignored, fmt = map_state_dict(read_checkpoint(path), fmt)
    own = encoder.state_dict()
    report = LoadReport(str(path), fmt, ignored=ignored)
    usable = {}
    for k, v in mapped.items():
        if k not in own:
            report.unexpected.append(k)
        elif tuple(v.shape) != tuple(own[k].shape):
            report.mismatched.append((k, tuple(v.shape), tuple(own[k].shape)))
        else:
            usable[k] = v
    report.loaded = sorted(usable)
    report.missing = sorted(set(own) - set(usable) - {m[0] for m in report.mismatched})
    if not usable:
        raise ValueError(f"no tensor of {path} fits the point-cloud encoder\n{report}")
    if strict and not report.ok:
        raise ValueError(f"point-cloud encoder weights do not match (strict_weights=true)\n{report}")
    encoder.load_state_dict(usable, strict=False)
    (log.info if report.ok else log.warning)("point-cloud encoder weights: %s", report)
    return report
