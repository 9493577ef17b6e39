"""Standard COCO AP@0.5 for VOC2012 detection answers, with faster-coco-eval (pycocotools-compatible).

LAMM answers carry boxes but no per-box class or confidence, so:
* class-aware (``ap50``): a parsed box becomes a detection of each dataset label that the official
  label matcher finds in the text segment that names it (``parse.box_labels``: the text between the
  previous box and this one, e.g. ``"circle "`` and ``", square "`` in ``"circle [..], square [..]"``);
  when its segment names no label, of each label found in the whole answer (labels written only after
  the boxes, or one label for several boxes);
* class-agnostic (``ap50_agnostic``): every box is a detection of one "object" class;
* confidence of the k-th box of an answer (parse order, k = 0, 1, ...) is ``1 / (1 + k)``; ties across
  images keep record order (COCO's stable sort).
Boxes are scaled from normalised to pixel coordinates with the image size; non-finite boxes are ignored.
"""

from __future__ import annotations

import math
from typing import Any


def _xywh(b: tuple[float, ...], w: int, h: int) -> list[float]:
    return [b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h]


def coco_ap50(
    images: list[dict[str, Any]], gts: list[dict[str, Any]], dets: list[dict[str, Any]], n_cats: int
) -> float | None:
    """AP@[IoU=0.5, area=all, maxDets=100] of ``dets`` against ``gts`` (COCO dicts, bbox xywh pixels)."""
    if not gts:
        return None
    if not dets:
        return 0.0
    from faster_coco_eval import COCO, COCOeval_faster

    quiet = lambda *a, **k: None  # noqa: E731
    gt = COCO(
        {
            "images": images,
            "annotations": gts,
            "categories": [{"id": i + 1, "name": str(i + 1)} for i in range(n_cats)],
        },
        print_function=quiet,
    )
    dt = gt.loadRes(dets)
    ev = COCOeval_faster(gt, dt, "bbox", print_function=quiet)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    ap = float(ev.stats[1])
    return None if ap < 0 else ap


def voc_ap50(items: list, boxes: list[list[tuple[float, ...]]]) -> dict[str, float | None]:
    """``ap50`` (class-aware) and ``ap50_agnostic`` for VOC2012 detection items and their boxes, which
    must be ``parse_boxes(item.text).value`` (each box's label is read from its segment of the text)."""
    from lamm.metrics.parse import box_labels

    labels = sorted({o["label"] for it in items for o in it.rec["object"]})
    cat = {lab: i + 1 for i, lab in enumerate(labels)}
    images, gts, dets, dets_agn, gts_agn = [], [], [], [], []
    for img_id, (it, parsed) in enumerate(zip(items, boxes), start=1):
        w, h = it.size
        images.append({"id": img_id, "width": w, "height": h})
        for o in it.rec["object"]:
            box = _xywh(o["bbox"], w, h)
            ann = {"image_id": img_id, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
            gts.append({**ann, "id": len(gts) + 1, "category_id": cat[o["label"]]})
            gts_agn.append({**ann, "id": len(gts_agn) + 1, "category_id": 1})
        named = box_labels(it.text, labels)
        if len(named) != len(parsed):
            raise ValueError(f"{it.id}: boxes were not parsed from this answer's text by parse_boxes")
        finite = [(b, n) for b, n in zip(parsed, named) if all(math.isfinite(v) for v in b)]
        if not finite:
            continue
        for k, (b, found) in enumerate(finite):
            d = {"image_id": img_id, "bbox": _xywh(b, w, h), "score": 1.0 / (1 + k)}
            dets_agn.append({**d, "category_id": 1})
            dets += [{**d, "category_id": cat[lab]} for lab in found]
    return {
        "ap50": coco_ap50(images, gts, dets, len(labels)),
        "ap50_agnostic": coco_ap50(images, gts_agn, dets_agn, 1),
    }
