"""The LAMM 3D metrics (jul23 ``common_eval_3d.py``, LAMM_FORMATS §4.8) and standard 3D mAP.

Boxes are axis-aligned ``(cx, cy, cz, dx, dy, dz)`` in metres. The official IoU does not clamp the per-axis
overlaps (boxes separated on exactly two axes get a positive IoU): ``lamm-v1`` keeps that, the default
``lamm`` protocol clamps each overlap at 0 as ChEF later did.
"""

from __future__ import annotations

import math
from typing import Any

from lamm.metrics import parse as P
from lamm.metrics.metrics2d import V1, Context, Item, Outcome, _div, sample, vqa


def corners(box: tuple[float, ...]) -> tuple[list[float], list[float]]:
    """Min and max corners, ``centre -/+ |extent| / 2``, each rounded to 3 decimals (official)."""
    lo = [round(box[i] - abs(box[i + 3]) / 2, 3) for i in range(3)]
    hi = [round(box[i] + abs(box[i + 3]) / 2, 3) for i in range(3)]
    return lo, hi


def iou3d(a: tuple[float, ...], b: tuple[float, ...], *, clamp: bool = True) -> float:
    """Axis-aligned 3D IoU. ``clamp=False`` is the jul23 bug: the intersection is the product of the
    three *signed* overlaps and only a final IoU outside [0, 1] becomes 0. Zero union -> NaN."""
    (alo, ahi), (blo, bhi) = corners(a), corners(b)
    ov = [min(ahi[i], bhi[i]) - max(alo[i], blo[i]) for i in range(3)]
    if clamp:
        ov = [max(0.0, o) for o in ov]
    inter = ov[0] * ov[1] * ov[2]
    va = (ahi[0] - alo[0]) * (ahi[1] - alo[1]) * (ahi[2] - alo[2])
    vb = (bhi[0] - blo[0]) * (bhi[1] - blo[1]) * (bhi[2] - blo[2])
    union = va + vb - inter
    if union == 0:
        return math.nan
    iou = inter / union
    return 0.0 if iou < 0 or iou > 1 else iou


def _clamp(ctx: Context) -> bool:
    return ctx.protocol != V1


# ----------------------------------------------------------------------------------- standard 3D mAP


def voc_ap(rec: list[float], prec: list[float]) -> float:
    """Area under the precision envelope (VOC 2010+ / VoteNet ``use_07_metric=False``)."""
    mrec = [0.0, *rec, 1.0]
    mpre = [0.0, *prec, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def map3d(
    preds: list[tuple[int, str, tuple[float, ...], float]],
    gts: list[tuple[int, str, tuple[float, ...]]],
    thr: float,
) -> float | None:
    """VoteNet-style mean AP over the classes present in ``gts``: per class, predictions by descending
    confidence (stable), a prediction is a true positive if its best IoU (clamped) with a gt box of that
    class in that scene is > ``thr`` and that box is not taken yet."""
    classes = sorted({c for _, c, _ in gts})
    if not classes:
        return None
    aps = []
    for cls in classes:
        gt_by_img: dict[int, list[tuple[float, ...]]] = {}
        for img, c, box in gts:
            if c == cls:
                gt_by_img.setdefault(img, []).append(box)
        taken = {img: [False] * len(b) for img, b in gt_by_img.items()}
        npos = sum(len(b) for b in gt_by_img.values())
        cand = sorted((p for p in preds if p[1] == cls), key=lambda p: -p[3])
        tp, fp = [], []
        for img, _, box, _ in cand:
            boxes = gt_by_img.get(img, [])
            ious = [iou3d(box, g) for g in boxes]
            ious = [-math.inf if math.isnan(v) else v for v in ious]
            j = max(range(len(ious)), key=ious.__getitem__) if ious else -1
            if j >= 0 and ious[j] > thr and not taken[img][j]:
                taken[img][j] = True
                tp.append(1)
                fp.append(0)
            else:
                tp.append(0)
                fp.append(1)
        ctp = cfp = 0
        rec, prec = [], []
        for t, f in zip(tp, fp):
            ctp, cfp = ctp + t, cfp + f
            rec.append(ctp / npos)
            prec.append(ctp / max(ctp + cfp, 1e-12))
        aps.append(voc_ap(rec, prec))
    return sum(aps) / len(aps)


# --------------------------------------------------------------------------------------------- metrics


def scannet_detection(items: list[Item], ctx: Context) -> Outcome:
    """Per gt object: label matcher on the whole text and any parsed box with IoU > 0.5 (headline) /
    > 0.25; divided by the number of gt objects. Also mAP@0.25/0.5 (a box takes the labels the matcher
    finds in the text written before it, else those of the whole text: ``parse.box_labels``; confidence
    1/(1+k) in parse order)."""
    clamp = _clamp(ctx)
    labels = sorted({o["label"] for it in items for o in it.rec["object"]})
    rows, c50, c25, total = [], 0, 0, 0
    preds, gts = [], []
    for it in items:
        p = P.parse_boxes3d(it.text)
        a50 = a25 = 0
        for obj in it.rec["object"]:
            gts.append((it.index, obj["label"], tuple(obj["bbox"])))
            if not P.parse_label(obj["label"], it.text).value:
                continue
            ious = [iou3d(b, obj["bbox"], clamp=clamp) for b in p.value]
            a50 += any(v > 0.5 for v in ious)
            a25 += any(v > 0.25 for v in ious)
        n = len(it.rec["object"])
        c50, c25, total = c50 + a50, c25 + a25, total + n
        rows.append(sample(it, _div(a50, n), p, correct=a50, correct25=a25, total=n))
        if p.value:
            named = P.box_labels(it.text, labels, dim=3)
            preds += [(it.index, lab, b, 1.0 / (1 + k)) for k, b in enumerate(p.value) for lab in named[k]]
    extra = {
        "recall@0.25": _div(c25, total),
        "correct": c50,
        "correct25": c25,
        "total": total,
        "map@0.25": map3d(preds, gts, 0.25),
        "map@0.5": map3d(preds, gts, 0.5),
    }
    return Outcome("recall@0.5", _div(c50, total), rows, extra)


def gt_box(rec: dict[str, Any]) -> tuple[float, ...]:
    """ScanRefer's one gt box: jul23 ``common_eval_3d.py`` reads ``gt_bbox``, ChEF reads ``object``
    (6 numbers, or a one-element object list); ``gt_bbox`` wins when a record has both (validated meta
    files carry exactly one: ``lamm.formats.benchmark``)."""
    obj = rec["gt_bbox"] if "gt_bbox" in rec else rec["object"]
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        obj = obj[0]["bbox"]
    elif isinstance(obj, dict):
        obj = obj["bbox"]
    return tuple(obj)


def scanrefer_grounding(items: list[Item], ctx: Context) -> Outcome:
    """Only the first parsed box counts; accuracy at IoU > 0.5 (headline, paper) and > 0.25."""
    clamp = _clamp(ctx)
    rows = []
    for it in items:
        p = P.parse_boxes3d(it.text)
        iou = iou3d(p.value[0], gt_box(it.rec), clamp=clamp) if p.value else 0.0
        rows.append(sample(it, float(iou > 0.5), p, iou=None if math.isnan(iou) else iou, hit25=iou > 0.25))
    acc50 = _div(sum(r["score"] for r in rows), ctx.n_meta)
    acc25 = _div(sum(r["hit25"] for r in rows), ctx.n_meta)
    return Outcome("acc@0.5", acc50, rows, {"acc@0.25": acc25})


def scanqa(items: list[Item], ctx: Context) -> Outcome:
    """The multiple-choice matcher with letters A-F (jul23)."""
    return vqa(items, ctx, letters="ABCDEF")
