"""An image-only ``py:`` adapter for ``--pcl-view bev`` tests: it refuses anything but a PNG image whose
size the rendering recorded, and answers with what it read from the pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest


def ink_pixels(png: Path) -> int:
    """Pixels that are not white: points, ticks, labels."""
    with Image.open(png) as im:
        return int((np.asarray(im.convert("RGB")) != 255).any(axis=2).sum())


class PngReader(Adapter):
    kind = "png-reader"

    def generate(self, requests: list[GenRequest]) -> list[str | GenFailure]:
        out: list[str | GenFailure] = []
        for r in requests:
            if r.modality != "image" or r.media is None or r.media.suffix != ".png":
                raise ValueError(f"{self.spec}: image-only adapter got {r.modality} media {r.media}")
            with Image.open(r.media) as im:
                assert im.format == "PNG", im.format
                size = list(im.size)
            recorded = json.loads(r.media.with_suffix(".json").read_text("utf-8"))["size"]
            assert size == recorded, (size, recorded)
            out.append(f"(A) {ink_pixels(r.media)} ink pixels of {size[0]}x{size[1]}")
        return out


def make_png_reader(arg: str = "", **_options) -> PngReader:
    return PngReader("py:bev_helpers:make_png_reader")
