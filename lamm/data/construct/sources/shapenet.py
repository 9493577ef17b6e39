"""ShapeNet-style objects: ``<points>/<synset>_<model>[_<n>].npy`` point clouds with a class label.

The label comes from ``labels`` (JSON ``{id or synset: label}`` or CSV ``id,label``) or, failing that,
from the built-in names of common ShapeNetCore synsets. Optional ``knowledge`` (as for image folders)
feeds C2. Options: ``points`` (default ``points``), ``labels``, ``knowledge``, ``src`` (default ``ShapeNet``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lamm.data.construct.sources import Item, rel_media, require_dir, require_file
from lamm.data.construct.sources.imagefolder import _knowledge
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json

SYNSETS = {
    "02691156": "airplane", "02747177": "trash bin", "02773838": "bag", "02801938": "basket",
    "02808440": "bathtub", "02818832": "bed", "02828884": "bench", "02843684": "birdhouse",
    "02871439": "bookshelf", "02876657": "bottle", "02880940": "bowl", "02924116": "bus",
    "02933112": "cabinet", "02942699": "camera", "02946921": "can", "02954340": "cap", "02958343": "car",
    "03001627": "chair", "03046257": "clock", "03085013": "keyboard", "03207941": "dishwasher",
    "03211117": "display", "03261776": "earphone", "03325088": "faucet", "03337140": "file cabinet",
    "03467517": "guitar", "03513137": "helmet", "03593526": "jar", "03624134": "knife", "03636649": "lamp",
    "03642806": "laptop", "03691459": "loudspeaker", "03710193": "mailbox", "03759954": "microphone",
    "03761084": "microwave", "03790512": "motorbike", "03797390": "mug", "03928116": "piano",
    "03938244": "pillow", "03948459": "pistol", "03991062": "flowerpot", "04004475": "printer",
    "04074963": "remote control", "04090263": "rifle", "04099429": "rocket", "04225987": "skateboard",
    "04256520": "sofa", "04330267": "stove", "04379243": "table", "04401088": "telephone",
    "04460130": "tower", "04468005": "train", "04530566": "watercraft", "04554684": "washer",
}  # fmt: skip


def _labels(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    require_file(path, "labels file")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if rows and not {"id", "label"} <= set(rows[0]):
            raise FormatError(path, "CSV needs 'id' and 'label' columns")
        return {r["id"]: r["label"] for r in rows}
    data = read_json(path)
    if not isinstance(data, dict):
        raise FormatError(path, "labels JSON must map ids or synsets to labels")
    return {str(k): str(v) for k, v in data.items()}


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    pts_dir = require_dir(spec.path("points", "points"), "ShapeNet point clouds")
    lab_path = spec.path("labels", required=False)
    labels = _labels(lab_path)
    know, files = _knowledge(spec.path("knowledge", required=False))
    if lab_path is not None:
        files.append(lab_path)
    items = []
    for f in sorted(pts_dir.glob("*.npy")):
        parts = f.stem.split("_")
        src_id = "_".join(parts[:2])
        label = labels.get(f.stem) or labels.get(src_id) or labels.get(parts[0]) or SYNSETS.get(parts[0])
        if label is None:
            raise FormatError(f, f"no label for {f.stem!r} (add it to the 'labels' file)")
        ann: dict[str, Any] = {"label": label, "src_id": src_id}
        if know.get(label):
            ann["knowledge"] = know[label]
        items.append(
            Item(
                spec.name,
                f.stem,
                rel_media(f, data_root, source=f),
                "3d",
                ann,
                spec.options.get("src", "ShapeNet"),
            )
        )
    if not items:
        raise FormatError(pts_dir, "no .npy point clouds")
    return items, files
