"""Seeding, image writing and bookkeeping shared by the LAMM-Mini 2D and 3D builders."""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SPLITS = {"train": 1, "test": 2}


def record_rng(seed: int, split: str, stream: str, index: int, attempt: int = 0) -> np.random.Generator:
    """The generator of one record: depends only on (seed, split, stream, index, attempt).

    So a record's content never depends on how many other records or datasets were built.
    """
    return np.random.default_rng([seed, SPLITS[split], zlib.crc32(stream.encode()), index, attempt])


def slug(name: str) -> str:
    """``CelebA(Smile)`` -> ``celeba_smile``: file-name-safe, stable."""
    out = "".join(c.lower() if c.isalnum() else "_" for c in name)
    return "_".join(p for p in out.split("_") if p)


def pixels_hash(img: Image.Image | np.ndarray) -> str:
    data = img.tobytes() if isinstance(img, Image.Image) else np.ascontiguousarray(img).tobytes()
    return hashlib.sha1(data).hexdigest()


def save_png(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", compress_level=1)


def count_label(n: int) -> str:
    """``2000`` -> ``2k``, ``1500`` -> ``1.5k``, ``300`` -> ``300`` (official file names say ``49k``)."""
    return f"{n / 1000:g}k" if n >= 1000 else str(n)


@dataclass
class Stats:
    """What a build wrote: files, records per task_type, media files."""

    files: list[str] = field(default_factory=list)
    records: Counter = field(default_factory=Counter)
    media: int = 0

    def merge(self, other: Stats) -> None:
        self.files += other.files
        self.records.update(other.records)
        self.media += other.media
