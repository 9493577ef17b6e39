"""Counting: FSC147-style points JSON and Locount-style per-image box files.

``fsc147``: ``annotations`` JSON ``{"<file>": {"points": [[x, y], ...]}}`` (pixels), class names from
``classes`` (``<file>\\t<class>`` lines, FSC147's ImageClasses file), images in ``images``.
``locount``: ``annotations`` folder of ``<image stem>.txt`` with lines ``x1,y1,x2,y2,label,count``
(pixels; commas or spaces), images in ``images``. Counts per label are summed over boxes.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from lamm.data.construct.sources import (
    IMAGE_EXTS,
    Item,
    image_size,
    norm_box,
    norm_point,
    rel_media,
    require_dir,
    require_file,
)  # fmt: skip
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json


def _fsc147(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    ann_path = require_file(spec.path("annotations", "annotation_FSC147_384.json"), "FSC147 annotations")
    cls_path = require_file(spec.path("classes", "ImageClasses_FSC147.txt"), "FSC147 class list")
    img_dir = require_dir(spec.path("images", "images_384_VarV2"), "FSC147 images")
    classes = {}
    for n, line in enumerate(cls_path.read_text("utf-8").splitlines()):
        if line.strip():
            parts = line.split("\t") if "\t" in line else line.split(None, 1)
            if len(parts) != 2:
                raise FormatError(cls_path, f"line {n + 1}: expected '<file>\\t<class>'")
            classes[parts[0].strip()] = parts[1].strip()
    data = read_json(ann_path)
    if not isinstance(data, dict):
        raise FormatError(ann_path, "expected an object mapping image files to annotations")
    items = []
    for fname, rec in data.items():
        pts = rec.get("points") if isinstance(rec, dict) else None
        if not isinstance(pts, list):
            raise FormatError(ann_path, "needs a 'points' list", record_id=fname, field="points")
        if fname not in classes:
            raise FormatError(cls_path, f"no class for image {fname!r}")
        w, h = image_size(img_dir / fname)
        label = classes[fname]
        points = [{"label": label, "point": norm_point(float(x), float(y), w, h)} for x, y in pts]
        ann = {"points": points, "count": {"label": label, "count": len(points)}}
        media = rel_media(img_dir / fname, data_root, source=ann_path)
        items.append(Item(spec.name, Path(fname).stem, media, "2d", ann, spec.options.get("src", "fsc147")))
    return items, [ann_path, cls_path]


def _locount(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    ann_dir = require_dir(spec.path("annotations", "annotations"), "Locount annotations")
    img_dir = require_dir(spec.path("images", "images"), "Locount images")
    files = sorted(ann_dir.glob("*.txt"))
    if not files:
        raise FormatError(ann_dir, "no *.txt annotation files")
    items = []
    for f in files:
        img = next((img_dir / (f.stem + e) for e in IMAGE_EXTS if (img_dir / (f.stem + e)).is_file()), None)
        if img is None:
            raise FormatError(f, f"no image named {f.stem}.* in {img_dir}")
        w, h = image_size(img)
        objects, counts = [], Counter()
        for n, line in enumerate(f.read_text("utf-8").splitlines()):
            if not line.strip():
                continue
            parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
            try:
                x1, y1, x2, y2 = (float(p) for p in parts[:4])
                label, cnt = " ".join(parts[4:-1]), int(parts[-1])
            except (ValueError, IndexError):
                raise FormatError(
                    f, f"line {n + 1}: expected 'x1,y1,x2,y2,label,count', got {line!r}"
                ) from None
            if not label or cnt < 0:
                raise FormatError(f, f"line {n + 1}: empty label or negative count")
            objects.append({"label": label, "bbox": norm_box(x1, y1, x2, y2, w, h)})
            counts[label] += cnt
        if not objects:
            continue
        label, n = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        ann = {"objects": objects, "count": {"label": label, "count": n}, "counts": dict(counts)}
        items.append(
            Item(
                spec.name,
                f.stem,
                rel_media(img, data_root, source=f),
                "2d",
                ann,
                spec.options.get("src", "locount"),
            )
        )
    return items, files


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    return _fsc147(spec, data_root) if spec.type == "fsc147" else _locount(spec, data_root)
