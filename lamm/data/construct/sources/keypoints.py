"""Human keypoints: LSP ``joints.mat`` (``3x14xN`` or ``14x3xN``, pixels) and COCO person keypoints JSON.

``lsp`` options: ``annotations`` (default ``joints.mat``), ``images`` (default ``images``, files
``im0001.jpg`` ...), ``src``. ``coco_keypoints`` options: ``annotations`` (person_keypoints JSON),
``images``, ``src``. Joints are normalised to 0-1 by the image size; invisible/unlabelled ones dropped.
For COCO the person with most labelled joints is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lamm.data.construct.sources import Item, image_size, norm_point, rel_media, require_dir, require_file
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json

# LSP order (LAMM_FORMATS §2.1)
LSP_JOINTS = (
    "right ankle", "right knee", "right hip", "left hip", "left knee", "left ankle", "right wrist",
    "right elbow", "right shoulder", "left shoulder", "left elbow", "left wrist", "neck", "head top",
)  # fmt: skip


def _lsp(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    import scipy.io

    mat_path = require_file(spec.path("annotations", "joints.mat"), "LSP joints file")
    img_dir = require_dir(spec.path("images", "images"), "LSP images")
    try:
        joints = np.asarray(scipy.io.loadmat(str(mat_path))["joints"], dtype=float)
    except (ValueError, KeyError, OSError) as exc:
        raise FormatError(mat_path, f"cannot read a 'joints' array: {exc}") from None
    if joints.ndim != 3 or 14 not in joints.shape[:2] or 3 not in joints.shape[:2]:
        raise FormatError(mat_path, f"expected joints of shape 3x14xN or 14x3xN, got {joints.shape}")
    if joints.shape[0] == 3:  # original LSP layout; the visibility row is ignored (LAMM_FORMATS §2.1)
        joints = joints.transpose(1, 0, 2)
    items = []
    for n in range(joints.shape[2]):
        fname = f"im{n + 1:04d}.jpg"
        img = img_dir / fname
        if not img.is_file():
            continue
        w, h = image_size(img)
        pts = {
            name: norm_point(joints[j, 0, n], joints[j, 1, n], w, h)
            for j, name in enumerate(LSP_JOINTS)
            if joints[j, 0, n] > 0 or joints[j, 1, n] > 0
        }
        if pts:
            items.append(Item(spec.name, f"im{n + 1:04d}", rel_media(img, data_root, source=mat_path), "2d",
                              {"joints": pts}, spec.options.get("src", "lsp")))  # fmt: skip
    if not items:
        raise FormatError(mat_path, f"no images im0001.jpg ... found in {img_dir}")
    return items, [mat_path]


def _coco(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    path = require_file(spec.path("annotations"), "COCO keypoints file")
    img_dir = require_dir(spec.path("images", "images"), "COCO images")
    data = read_json(path)
    if not isinstance(data, dict) or not data.get("categories"):
        raise FormatError(path, "not a COCO keypoints file: needs 'images', 'annotations', 'categories'")
    names = {c["id"]: [k.replace("_", " ") for k in c.get("keypoints", [])] for c in data["categories"]}
    images = {im["id"]: im for im in data.get("images", [])}
    best: dict[Any, tuple[int, dict[str, list[float]]]] = {}
    for i, a in enumerate(data.get("annotations", [])):
        kp, cat, im = a.get("keypoints"), names.get(a.get("category_id")), images.get(a.get("image_id"))
        if not kp or not cat or im is None:
            continue
        if len(kp) != 3 * len(cat):
            raise FormatError(
                path, f"{len(kp)} keypoint values for {len(cat)} names", index=i, field="keypoints"
            )
        pts = {
            cat[j]: norm_point(kp[3 * j], kp[3 * j + 1], float(im["width"]), float(im["height"]))
            for j in range(len(cat))
            if kp[3 * j + 2] > 0
        }
        if pts and len(pts) > best.get(im["id"], (0, {}))[0]:
            best[im["id"]] = (len(pts), pts)
    items = [
        Item(
            spec.name,
            Path(images[iid]["file_name"]).stem,
            rel_media(img_dir / images[iid]["file_name"], data_root, source=path),
            "2d",
            {"joints": pts},
            spec.options.get("src", "coco2017"),
        )  # fmt: skip
        for iid, (_, pts) in best.items()
    ]
    return items, [path]


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    return _lsp(spec, data_root) if spec.type == "lsp" else _coco(spec, data_root)
