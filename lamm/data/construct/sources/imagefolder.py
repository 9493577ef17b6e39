"""Classification images (Bamboo-like): ``images/<class>/*.jpg`` or a CSV ``path,label``.

Options: ``images`` (folder, default ``images``), ``csv`` (optional, paths relative to ``images``),
``knowledge`` (optional per-class text for C2: a JSON ``{class: text}`` or a folder of ``<class>.txt``),
``src`` (default ``bamboo``). Class names have ``_`` turned into spaces.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lamm.data.construct.sources import IMAGE_EXTS, Item, rel_media, require_dir, require_file
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json


def _knowledge(path: Path | None) -> tuple[dict[str, str], list[Path]]:
    if path is None:
        return {}, []
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        return {f.stem: " ".join(f.read_text("utf-8").split()) for f in files}, files
    data = read_json(require_file(path, "knowledge file"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise FormatError(path, "knowledge must map class names to text")
    return {k: " ".join(v.split()) for k, v in data.items()}, [path]


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    img_dir = require_dir(spec.path("images", "images"), "classification images")
    csv_path = spec.path("csv", required=False)
    know, files = _knowledge(spec.path("knowledge", required=False))
    pairs: list[tuple[Path, str]] = []
    if csv_path is not None:
        require_file(csv_path, "classification CSV")
        files.append(csv_path)
        with csv_path.open(newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if not row.get("path") or not row.get("label"):
                    raise FormatError(csv_path, "row needs 'path' and 'label' columns", index=i)
                pairs.append((img_dir / row["path"], row["label"].strip()))
    else:
        for cls_dir in sorted(p for p in img_dir.iterdir() if p.is_dir()):
            for f in sorted(cls_dir.iterdir()):
                if f.suffix.lower() in IMAGE_EXTS:
                    pairs.append((f, cls_dir.name))
        if not pairs:
            raise FormatError(img_dir, "no images found in class sub-folders")
    items = []
    for path, label in pairs:
        ann: dict[str, Any] = {"label": label.replace("_", " ")}
        text = know.get(label) or know.get(ann["label"])
        if text:
            ann["knowledge"] = text
        media = rel_media(path, data_root, source=csv_path or img_dir)
        rel = path.resolve().relative_to(img_dir) if img_dir in path.resolve().parents else Path(path.name)
        rid = rel.with_suffix("").as_posix().replace("/", "_")
        items.append(Item(spec.name, rid, media, "2d", ann, spec.options.get("src", "bamboo")))
    return items, files
