"""CelebA attribute list (``list_attr_celeba.txt``: a count line, the 40 attribute names, then
``<file> 1 -1 ...`` rows). Gives ``smile`` (Smiling), ``hair`` (black/blond/brown/gray when exactly one
hair-colour attribute is set) and the set attributes as words for the LLM context.

Options: ``attributes`` (default ``list_attr_celeba.txt``), ``images`` (default ``img_align_celeba``), ``src``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamm.data.construct.sources import Item, rel_media, require_dir, require_file
from lamm.formats.errors import FormatError

HAIR = {"Black_Hair": "black", "Blond_Hair": "blond", "Brown_Hair": "brown", "Gray_Hair": "gray"}


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    path = require_file(spec.path("attributes", "list_attr_celeba.txt"), "CelebA attribute list")
    img_dir = require_dir(spec.path("images", "img_align_celeba"), "CelebA images")
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln.strip()]
    if len(lines) < 2:
        raise FormatError(path, "expected a count line and an attribute-name line")
    names = lines[1].split()
    items = []
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if len(parts) != len(names) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise FormatError(path, f"line {n}: expected a file name and {len(names)} values of 1/-1")
        on = {a for a, v in zip(names, parts[1:]) if v == "1"}
        ann: dict[str, Any] = {"attributes": sorted(a.replace("_", " ").lower() for a in on)}
        if "Smiling" in names:
            ann["smile"] = "Smiling" in on
        hair = [HAIR[a] for a in HAIR if a in on]
        if len(hair) == 1:
            ann["hair"] = hair[0]
        media = rel_media(img_dir / parts[0], data_root, source=path)
        items.append(
            Item(spec.name, Path(parts[0]).stem, media, "2d", ann, spec.options.get("src", "celeba"))
        )
    return items, [path]
