"""Resolve media paths stored in LAMM files, keeping them inside the data root."""

from __future__ import annotations

from pathlib import Path

from lamm.formats.errors import FormatError


def resolve_media(
    root: str | Path, rel: str, *, source: str | Path | None = None, allow_absolute: bool = False
) -> Path:
    """Join a stored media path onto its root; refuse paths that escape the root.

    Official 3D files store ``./scannet_pcls/x.npy``; 2D instruct files may hold absolute paths, which
    are only honoured with ``allow_absolute`` (the instruction loader's official behaviour).
    """
    if not isinstance(rel, str) or not rel:
        raise FormatError(source, f"media path must be a non-empty string, got {rel!r}")
    root = Path(root).resolve()
    if rel.startswith("/"):
        if allow_absolute:
            return Path(rel)
        raise FormatError(source, f"absolute media path {rel!r} not allowed here")
    full = (root / rel).resolve()
    if full != root and root not in full.parents:
        raise FormatError(source, f"media path {rel!r} escapes the data root {root}")
    return full
