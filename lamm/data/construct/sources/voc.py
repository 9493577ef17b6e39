"""Pascal VOC: one XML per image (``Annotations/*.xml``), images in ``JPEGImages/``.

Options: ``annotations`` (default ``Annotations``), ``images`` (default ``JPEGImages``), ``src``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from lamm.data.construct.sources import Item, norm_box, rel_media, require_dir
from lamm.formats.errors import FormatError


def _num(node: ET.Element, tag: str, path: Path) -> float:
    el = node.find(tag)
    if el is None or el.text is None:
        raise FormatError(path, f"missing <{tag}>")
    try:
        return float(el.text)
    except ValueError:
        raise FormatError(path, f"<{tag}> is not a number: {el.text!r}") from None


def parse_xml(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """(file name, objects with normalised boxes) of one VOC XML file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise FormatError(path, f"malformed XML: {exc}") from None
    size = root.find("size")
    if size is None:
        raise FormatError(path, "missing <size>")
    w, h = _num(size, "width", path), _num(size, "height", path)
    fname = root.findtext("filename") or path.stem + ".jpg"
    objects = []
    for obj in root.findall("object"):
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        if not name or bb is None:
            raise FormatError(path, "an <object> needs <name> and <bndbox>")
        coords = [_num(bb, t, path) for t in ("xmin", "ymin", "xmax", "ymax")]
        objects.append({"label": name, "bbox": norm_box(*coords, w, h)})
    return fname, objects


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    ann_dir = require_dir(spec.path("annotations", "Annotations"), "VOC annotations")
    img_dir = require_dir(spec.path("images", "JPEGImages"), "VOC images")
    files = sorted(ann_dir.glob("*.xml"))
    if not files:
        raise FormatError(ann_dir, "no *.xml annotation files")
    items = []
    for f in files:
        fname, objects = parse_xml(f)
        if objects:
            media = rel_media(img_dir / fname, data_root, source=f)
            items.append(
                Item(
                    spec.name,
                    Path(fname).stem,
                    media,
                    "2d",
                    {"objects": objects},
                    spec.options.get("src", "voc2012"),
                )
            )
    return items, files
