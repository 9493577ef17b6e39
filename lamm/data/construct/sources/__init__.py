"""Source adapters: each reads one annotation format and yields neutral ``Item`` records.

Coordinates follow LAMM's prompts: 2D boxes ``[x1, y1, x2, y2]`` and points ``[x, y]`` normalised to
0-1 by the image size; 3D boxes ``[cx, cy, cz, dx, dy, dz]`` in metres. Media paths are relative to the
recipe's ``data_root`` and never leave it.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError

# source type -> module exposing ``load(spec, data_root) -> (items, annotation_files)``
SOURCE_TYPES: dict[str, str] = {
    "coco": "lamm.data.construct.sources.coco",
    "voc": "lamm.data.construct.sources.voc",
    "imagefolder": "lamm.data.construct.sources.imagefolder",
    "fsc147": "lamm.data.construct.sources.counting",
    "locount": "lamm.data.construct.sources.counting",
    "textvqa": "lamm.data.construct.sources.textvqa",
    "lsp": "lamm.data.construct.sources.keypoints",
    "coco_keypoints": "lamm.data.construct.sources.keypoints",
    "celeba": "lamm.data.construct.sources.celeba",
    "scene3d": "lamm.data.construct.sources.scene3d",
    "shapenet": "lamm.data.construct.sources.shapenet",
}


@dataclass
class Item:
    """One image or point cloud with everything known about it (a neutral annotation dict)."""

    source: str  # recipe source name
    id: str
    media: str  # posix path relative to data_root
    dim: str  # "2d" | "3d"
    ann: dict[str, Any] = field(default_factory=dict)
    src: str = ""  # written as src_image (2D) / src_dataset (3D)


def load_source(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    """Items of one recipe source (sorted by id) and the annotation files they came from."""
    mod = importlib.import_module(SOURCE_TYPES[spec.type])
    try:
        items, files = mod.load(spec, data_root)
    except FormatError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as exc:  # a value of the wrong type or shape
        raise FormatError(
            spec.root,
            f"source {spec.name!r} ({spec.type}): malformed annotation ({type(exc).__name__}: {exc})",
        ) from None
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise FormatError(
                files[0] if files else spec.root, f"source {spec.name!r}: duplicate id {it.id!r}"
            )
        seen.add(it.id)
    items.sort(key=lambda it: it.id)
    return items, files


def rel_media(path: Path, data_root: Path, *, source: Any = None) -> str:
    """``path`` relative to ``data_root``; refuses files outside it."""
    full, root = path.resolve(), data_root.resolve()
    if root not in full.parents:
        raise FormatError(source, f"media file {path} is outside the data root {root}")
    return full.relative_to(root).as_posix()


def r3(v: float) -> float:
    return round(float(v), 3)


def _unit(v: float, s: float) -> float:
    """``v / s`` clipped to 0-1; a NaN/inf stays NaN (clipping would turn inf into a valid-looking 1.0),
    so the build rejects that item with the reason (``jobs.check_job``)."""
    x = float(v) / float(s)
    return r3(min(max(x, 0.0), 1.0)) if math.isfinite(x) else math.nan


def norm_box(x1: float, y1: float, x2: float, y2: float, w: float, h: float) -> list[float]:
    """Pixel corners -> ``[x1, y1, x2, y2]`` in 0-1, clipped."""
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {w}x{h}")
    return [_unit(x1, w), _unit(y1, h), _unit(x2, w), _unit(y2, h)]


def norm_point(x: float, y: float, w: float, h: float) -> list[float]:
    return [_unit(x, w), _unit(y, h)]


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header (PIL reads no pixels here)."""
    from PIL import Image

    if not path.is_file():
        raise FormatError(path, "image file not found")
    try:
        with Image.open(path) as im:
            return im.size
    except OSError as exc:
        raise FormatError(path, f"cannot read image: {exc}") from None


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FormatError(path, f"{what} not found")
    return path


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FormatError(path, f"{what} folder not found")
    return path


IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
