"""Resolve media paths stored in LAMM files, keeping them inside the data root."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lamm.formats.errors import FormatError

# LAMM-Mini's manifest, beside its benchmark and instruct folders: written by `lamm data mini`, read by
# the benchmark's provenance to tell LAMM-Mini from the LAMM-Benchmark.
MINI_MANIFEST = "lamm_mini.json"


def resolve_media(
    root: str | Path, rel: str, *, source: str | Path | None = None, allow_absolute: bool = False
) -> Path:
    """Join a stored media path onto its root; refuse paths that escape the root.

    Official 3D files store ``./scannet_pcls/x.npy``; 2D instruct files may hold absolute paths, which
    are only honoured with ``allow_absolute`` (the instruction loader's official behaviour).
    The check is lexical (``..`` components), so a stored string can never point outside the root,
    while symlinks the user placed inside the root (``coco_images -> /data/coco``) keep working.
    """
    if not isinstance(rel, str) or not rel:
        raise FormatError(source, f"media path must be a non-empty string, got {rel!r}")
    if "\x00" in rel:
        raise FormatError(source, f"media path {rel!r} contains a NUL byte")
    if rel.startswith("/"):
        if allow_absolute:
            return Path(os.path.normpath(rel))
        raise FormatError(source, f"absolute media path {rel!r} not allowed here")
    base = os.path.abspath(root)
    full = os.path.normpath(os.path.join(base, rel))
    if full != base and not full.startswith(base.rstrip(os.sep) + os.sep):
        raise FormatError(source, f"media path {rel!r} escapes the data root {base}")
    return Path(full)


def data_root(meta_file: str | Path) -> Path:
    """The folder a meta file's media paths are relative to: the parent of its ``meta_file/`` folder
    (``2D_Benchmark``, ``3D_Instruct``, ...), or the file's own folder when it sits elsewhere."""
    parent = Path(meta_file).parent
    return parent.parent if parent.name == "meta_file" else parent


def media_root(meta_file: str | Path, override: str | Path | None = None) -> Path:
    """The media root of a meta file: ``override`` if given; for a ``lamm data build`` output (a
    ``manifest.json`` beside ``meta_file/``) the build's ``data_root``; else :func:`data_root`."""
    if override is not None:
        return Path(override)
    root = data_root(meta_file)
    manifest = root / "manifest.json"
    if manifest.is_file():
        try:
            return Path(json.loads(manifest.read_text("utf-8"))["data_root"])
        except (ValueError, KeyError, TypeError):
            pass
    return root


def prefer_unions(files: list[Path]) -> list[Path]:
    """The instruction files of one folder that hold each sample once: where ``LAMM_*instruct*.json``
    unions sit beside the per-kind files (a ``lamm data build`` output, an official download), the
    unions alone."""
    unions = [f for f in files if f.name.startswith("LAMM_") and "instruct" in f.name]
    return unions or files
