"""COCO: ``captions_*.json`` and/or ``instances_*.json`` (boxes ``[x, y, w, h]`` in pixels).

Options: ``images`` (folder, default ``images``), ``captions``, ``instances`` (at least one), ``src``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamm.data.construct.sources import Item, norm_box, rel_media, require_dir
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _coco(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise FormatError(path, "not a COCO annotation file: needs an 'images' list")
    if not isinstance(data.get("annotations", []), list):
        raise FormatError(path, "'annotations' must be a list")
    return data


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    images_dir = require_dir(spec.path("images", "images"), "COCO images")
    cap_path = spec.path("captions", required=False)
    ins_path = spec.path("instances", required=False)
    if cap_path is None and ins_path is None:
        raise FormatError(spec.root, f"source {spec.name!r}: coco needs 'captions' and/or 'instances'")
    files = [p for p in (cap_path, ins_path) if p is not None]
    images: dict[int, dict[str, Any]] = {}
    anns: dict[int, dict[str, Any]] = {}
    for path in files:
        data = _coco(path)
        for i, im in enumerate(data["images"]):
            if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
                raise FormatError(path, "image entry needs 'id' and 'file_name'", index=i, field="images")
            images.setdefault(im["id"], im)
        cats = {c["id"]: c["name"] for c in data.get("categories", [])}
        for i, a in enumerate(data.get("annotations", [])):
            iid = a.get("image_id")
            if iid not in images:
                raise FormatError(path, f"annotation refers to unknown image_id {iid!r}", index=i)
            rec = anns.setdefault(iid, {})
            if "caption" in a:
                rec.setdefault("captions", []).append(" ".join(str(a["caption"]).split()))
            elif "bbox" in a:
                if a.get("category_id") not in cats:
                    raise FormatError(path, f"unknown category_id {a.get('category_id')!r}", index=i)
                im = images[iid]
                if "width" not in im or "height" not in im:
                    raise FormatError(path, f"image {iid} lacks width/height", field="images")
                bbox = a["bbox"]
                if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_num(v) for v in bbox):
                    raise FormatError(
                        path, f"bbox must be [x, y, w, h] numbers, got {bbox!r}", index=i, field="bbox"
                    )
                x, y, w, h = (float(v) for v in bbox)
                box = norm_box(x, y, x + w, y + h, float(im["width"]), float(im["height"]))
                rec.setdefault("objects", []).append({"label": cats[a["category_id"]], "bbox": box})
    items = []
    for iid, im in images.items():
        if iid not in anns:
            continue
        media = rel_media(images_dir / im["file_name"], data_root, source=files[0])
        items.append(
            Item(
                spec.name,
                Path(im["file_name"]).stem,
                media,
                "2d",
                anns[iid],
                spec.options.get("src", "coco2017"),
            )
        )
    return items, files
