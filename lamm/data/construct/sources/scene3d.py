"""3D scenes (ScanNet / 3RScan style): per-scene boxes as JSON or VoteNet NPY, point clouds as ``.npy``.

Per scene, either ``<scenes>/<scene>.json``::

    {"objects": [{"label": "chair", "bbox": [cx, cy, cz, dx, dy, dz]}],        # metres, axis-aligned
     "referring": [{"expression": "the chair by the door", "object": 0}],     # or "bbox": [...]
     "vqa": [{"question": "...", "choices": ["a", "b"], "answer": 1}],
     "captions": ["..."]}

or ``<scenes>/<scene>_bbox.npy`` (``N x 7``: box + class index into ``classes``, default the 18 ScanNet
classes). Points: ``<points>/<scene>.npy`` or ``<scene>_vert.npy``. Options: ``scenes`` (default
``scenes``), ``points`` (default ``points``), ``classes``, ``src`` (default ``scannet``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lamm.data.construct.sources import Item, r3, rel_media, require_dir
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json

SCANNET18 = (
    "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture", "counter", "desk",
    "curtain", "refrigerator", "shower curtain", "toilet", "sink", "bathtub", "garbage bin",
)  # fmt: skip


def _box(v: Any, path: Path, where: str) -> list[float]:
    if not isinstance(v, (list, tuple)) or len(v) != 6:
        raise FormatError(path, f"{where}: bbox must be [cx, cy, cz, dx, dy, dz]")
    try:
        b = [float(x) for x in v]
    except (TypeError, ValueError):
        raise FormatError(path, f"{where}: bbox must hold numbers, got {v}") from None
    if not all(math.isfinite(x) for x in b):
        return b  # NaN/inf: the build rejects this item's jobs, naming the field (jobs.check_job)
    if min(b[3:]) <= 0:
        raise FormatError(path, f"{where}: bbox needs positive sizes, got {v}")
    return [r3(x) for x in b]


def _from_json(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("objects", []), list):
        raise FormatError(path, "expected an object with an 'objects' list")
    objects = [
        {"label": str(o["label"]), "bbox": _box(o.get("bbox"), path, f"objects[{i}]")}
        for i, o in enumerate(data.get("objects", []))
    ]
    ann: dict[str, Any] = {"objects": objects}
    refs = []
    for i, r in enumerate(data.get("referring", [])):
        if "object" in r:
            if not 0 <= int(r["object"]) < len(objects):
                raise FormatError(path, f"referring[{i}]: object index {r['object']} out of range")
            box = objects[int(r["object"])]["bbox"]
        else:
            box = _box(r.get("bbox"), path, f"referring[{i}]")
        refs.append({"expression": str(r["expression"]), "bbox": box})
    if refs:
        ann["referring"] = refs
    vqa = []
    for i, q in enumerate(data.get("vqa", [])):
        choices, ans = q.get("choices"), q.get("answer")
        if not isinstance(choices, list) or not isinstance(ans, int) or not 0 <= ans < len(choices) <= 6:
            raise FormatError(path, f"vqa[{i}]: needs 2-6 'choices' and an 'answer' index")
        vqa.append({"question": str(q["question"]), "choices": [str(c) for c in choices], "answer": ans})
    if vqa:
        ann["vqa"] = vqa
    if data.get("captions"):
        ann["captions"] = [str(c) for c in data["captions"]]
    return ann


def _from_npy(path: Path, classes: list[str]) -> dict[str, Any]:
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise FormatError(path, f"cannot read NPY: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] < 7:
        raise FormatError(path, f"expected N x 7 boxes (cx, cy, cz, dx, dy, dz, class), got {arr.shape}")
    objects = []
    for i, row in enumerate(arr):
        c = int(row[6])
        if not 0 <= c < len(classes):
            raise FormatError(path, f"row {i}: class index {c} outside the {len(classes)} classes")
        objects.append({"label": classes[c], "bbox": _box(row[:6].tolist(), path, f"row {i}")})
    return {"objects": objects}


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    scenes = require_dir(spec.path("scenes", "scenes"), "3D scene annotations")
    points = require_dir(spec.path("points", "points"), "point clouds")
    classes = list(spec.options.get("classes", SCANNET18))
    files = sorted(scenes.glob("*.json")) + sorted(scenes.glob("*_bbox.npy"))
    if not files:
        raise FormatError(scenes, "no <scene>.json or <scene>_bbox.npy files")
    items = []
    for f in files:
        scene = f.stem[: -len("_bbox")] if f.suffix == ".npy" else f.stem
        ann = _from_json(f) if f.suffix == ".json" else _from_npy(f, classes)
        pcl = next((p for p in (points / f"{scene}.npy", points / f"{scene}_vert.npy") if p.is_file()), None)
        if pcl is None:
            raise FormatError(f, f"no point cloud {scene}.npy or {scene}_vert.npy in {points}")
        items.append(
            Item(
                spec.name,
                scene,
                rel_media(pcl, data_root, source=f),
                "3d",
                ann,
                spec.options.get("src", "scannet"),
            )
        )
    return items, files
