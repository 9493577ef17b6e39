"""The LAMM 2D metrics (v1 ``common_eval_2d.py`` and ``locating_eval.py``), one function per dataset.

Each metric takes the paired :class:`Item` list and a :class:`Context` (protocol, official denominators)
and returns an :class:`Outcome`: the headline value in the units the official code prints, extra numbers,
and one sample row per record (score, parse rule, parse failure). Rules and quirks: LAMM_FORMATS §4.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lamm.metrics import parse as P

V1 = "lamm-v1"


@dataclass
class Item:
    """One answer paired with its meta record; ``size`` = (width, height) of the stored image."""

    index: int
    id: str
    rec: dict[str, Any]
    text: Any
    size: tuple[int, int] | None = None


@dataclass
class Context:
    """``n_meta``/``n_answers`` are the official denominators (§7.11); they equal ``len(items)`` unless
    ``lamm-v1`` scores a length-mismatched pair with ``--on-error skip``."""

    protocol: str = "lamm"
    n_meta: int = 0
    n_answers: int = 0


@dataclass
class Outcome:
    metric: str
    value: float | None
    samples: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)


def sample(item: Item, score: float | None, p: P.Parsed, **more: Any) -> dict[str, Any]:
    return {"index": item.index, "id": item.id, "score": score, "rule": p.rule, "failed": p.failed, **more}


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


# ------------------------------------------------------------------------------------------ geometry


def iou2d(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """IoU of two (x1, y1, x2, y2) boxes: overlaps clamped at 0, no +1 pixel, 0/0 -> NaN (never passes)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else math.nan


def inside(pt: tuple[float, ...], box: tuple[float, ...]) -> bool:
    """Strictly inside on all four sides (official)."""
    return box[0] < pt[0] < box[2] and box[1] < pt[1] < box[3]


def near(pt: tuple[float, ...], q: tuple[float, ...]) -> bool:
    """Euclidean distance < 0.1 (normalised coordinates)."""
    return math.hypot(pt[0] - q[0], pt[1] - q[1]) < 0.1


# ----------------------------------------------------------------------------- classification family


def _label_accuracy(items: list[Item], field: str, denominator: int) -> Outcome:
    """Official label matcher(gt ``field``, text) per record, summed over ``denominator``."""
    labels = tuple(sorted({it.rec[field] for it in items}))
    rows = []
    for it in items:
        p = P.parse_label(it.rec[field], it.text, labels)
        rows.append(sample(it, float(p.value), p))
    return Outcome("accuracy", _div(sum(r["score"] for r in rows), denominator), rows)


def cifar10(items: list[Item], ctx: Context) -> Outcome:
    """Label matcher(label, text); divided by the number of answers (§7.11)."""
    return _label_accuracy(items, "label", ctx.n_answers)


def celeba_hair(items: list[Item], ctx: Context) -> Outcome:
    """Label matcher(attr, text); divided by the number of meta records."""
    return _label_accuracy(items, "attr", ctx.n_meta)


def ucmerced(items: list[Item], ctx: Context) -> Outcome:
    """Raw, case-sensitive substring test ``label in text`` (failed: no dataset label in the text)."""
    labels = {it.rec["label"] for it in items}
    rows = []
    for it in items:
        hit = it.rec["label"] in it.text
        failed = not hit and not any(lab in it.text for lab in labels)
        rows.append(sample(it, float(hit), P.Parsed(hit, "substring", failed)))
    return Outcome("accuracy", _div(sum(r["score"] for r in rows), ctx.n_meta), rows)


def celeba_smile(items: list[Item], ctx: Context) -> Outcome:
    rows = []
    for it in items:
        p = P.parse_smile(it.text)
        rows.append(sample(it, float(p.value == it.rec["attr"]), p, pred=p.value))
    return Outcome("accuracy", _div(sum(r["score"] for r in rows), ctx.n_meta), rows)


def svt(items: list[Item], ctx: Context) -> Outcome:
    """Per sample: share of gt words (lower-cased) found among the answer's words."""
    rows = []
    for it in items:
        p = P.parse_words(it.text)
        gt = it.rec["word_list"]
        words = set(p.value)
        score = sum(str(w).lower() in words for w in gt) / len(gt) if gt else 0.0
        rows.append(sample(it, score, p))
    return Outcome("word_accuracy", _div(sum(r["score"] for r in rows), ctx.n_meta), rows)


def fsc147(items: list[Item], ctx: Context) -> Outcome:
    """Absolute count error (the code calls it MSE), unreadable -> 0; mean over all and over gt < 10.

    The official "< 10" divides by zero when no gt < 10; both protocols report ``null`` instead.
    """
    rows = []
    for it in items:
        p = P.parse_count(it.text)
        pred = p.value if p.value is not None else 0
        rows.append(sample(it, float(abs(it.rec["num"] - pred)), p, pred=pred))
    lt10 = [r["score"] for r, it in zip(rows, items) if it.rec["num"] < 10]
    extra: dict[str, Any] = {"mae_lt10": _div(sum(lt10), len(lt10)), "n_lt10": len(lt10)}
    if not lt10 and ctx.protocol == V1:
        extra["note"] = "the official code raises ZeroDivisionError here (no gt < 10)"
    return Outcome("mae", _div(sum(r["score"] for r in rows), ctx.n_meta), rows, extra)


def vqa(items: list[Item], ctx: Context, letters: str = "ABCDE") -> Outcome:
    rows = []
    for it in items:
        p = P.match_option(it.text, it.rec["gt_choice"], it.rec["gt_choices"], letters)
        rows.append(sample(it, float(p.value), p))
    return Outcome("accuracy", _div(sum(r["score"] for r in rows), ctx.n_meta), rows)


# --------------------------------------------------------------------------------------------- caption


def _bleu4(refs: list[list[str]], hyp: list[str]) -> float:
    from nltk.translate.bleu_score import sentence_bleu

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns on zero n-gram overlaps (score ~0, as officially)
        return float(sentence_bleu(refs, hyp, weights=(0.25, 0.25, 0.25, 0.25)))


def flickr30k(items: list[Item], ctx: Context) -> Outcome:
    """BLEU-4 x100: best sentence_bleu over the answer's ``.``-pieces; refs with ``.`` removed.

    Also CIDEr-D (pycocoevalcap's formula, own tokenizer; see ``lamm.metrics.cider``) of the whole
    parsed answer against the references, as the standard caption metric.
    """
    from lamm.metrics.cider import cider_d

    rows, cands, refs_all = [], [], []
    for it in items:
        refs = [s.replace(".", "").split() for s in it.rec["sentences"]]
        p = P.caption_pieces(it.text)
        # an empty piece scores exactly 0 in nltk (no unigram match), so it is not computed
        score = max((_bleu4(refs, piece) for piece in p.value if piece), default=0.0)
        rows.append(sample(it, score, p))
        cands.append(P.parse_sentence(it.text))
        refs_all.append(list(it.rec["sentences"]))
    bleu = _div(100.0 * sum(r["score"] for r in rows), ctx.n_meta)
    cider, _ = cider_d(cands, refs_all) if items else (None, [])
    return Outcome("bleu4", bleu, rows, {"cider": cider})


# ------------------------------------------------------------------------------------------- detection


def voc_detection(items: list[Item], ctx: Context) -> Outcome:
    """Recall@0.5 with a label check: a gt object counts if the label matcher finds its label in the
    whole text and any parsed box has IoU > 0.5 with it; divided by the number of gt objects.

    Also COCO AP@0.5 (``lamm.metrics.coco_ap``): class-aware (a box takes the labels the matcher finds in
    the text written before it, else those of the whole text) and class-agnostic.
    """
    from lamm.metrics.coco_ap import voc_ap50

    rows, correct, total, parsed = [], 0, 0, []
    for it in items:
        p = P.parse_boxes(it.text)
        parsed.append(p.value)
        c = 0
        for obj in it.rec["object"]:
            if P.parse_label(obj["label"], it.text).value and any(
                iou2d(b, obj["bbox"]) > 0.5 for b in p.value
            ):
                c += 1
        n = len(it.rec["object"])
        correct, total = correct + c, total + n
        rows.append(sample(it, _div(c, n), p, correct=c, total=n, boxes=len(p.value)))
    extra = voc_ap50(items, parsed) if items else {"ap50": None, "ap50_agnostic": None}
    return Outcome("recall@0.5", _div(correct, total), rows, {**extra, "correct": correct, "total": total})


# ------------------------------------------------------------------------------------------- keypoints


def _joints_norm(it: Item) -> list[tuple[float, float]]:
    w, h = it.size
    return [(j[0] / w, j[1] / h) for j in it.rec["gt_joints"]]


def lsp_pck(items: list[Item], ctx: Context) -> Outcome:
    """PCK: answer entry k (stored order, names unchecked) vs joint k; correct if a parsed point is < 0.1
    away; per image correct/14; mean over the number of answers. ``lamm-v1`` prints 0.0 (the official
    increment is a no-op); ``pck_fixed`` then carries the intended value."""
    rows = []
    for it in items:
        c, rules, fails = 0, set(), 0
        for gt, ans in zip(_joints_norm(it), it.text.values()):
            p = P.parse_points(ans)
            rules.add(p.rule)
            fails += p.failed
            c += any(near(pt, gt) for pt in p.value)
        n = min(len(it.text), 14)
        rule = "+".join(sorted(rules - {"none"})) or "none"
        rows.append(
            sample(it, c / 14, P.Parsed(None, rule, n == 0 or fails == n), correct=c, failed_joints=fails)
        )
    fixed = _div(sum(r["score"] for r in rows), ctx.n_answers)
    if ctx.protocol == V1:
        return Outcome("pck", 0.0 if items else None, rows, {"pck_fixed": fixed})
    return Outcome("pck", fixed, rows)


# -------------------------------------------------------------------------------------------- locating


def _acc(rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Outcome:
    c = sum(r["correct"] for r in rows)
    t = sum(r["total"] for r in rows)
    return Outcome("acc", _div(c, t), rows, {"correct": c, "total": t, **(extra or {})})


def locating_voc(items: list[Item], ctx: Context) -> Outcome:
    """Per gt object: correct if its label is matched in the text and a parsed point is strictly inside
    its box; answers without any point add their objects to the total."""
    rows = []
    for it in items:
        p = P.parse_points(it.text)
        n = len(it.rec["object"])
        c = 0
        if p.value:
            for obj in it.rec["object"]:
                if P.parse_label(obj["label"], it.text).value and any(
                    inside(pt, obj["bbox"]) for pt in p.value
                ):
                    c += 1
        rows.append(sample(it, _div(c, n), p, correct=c, total=n))
    return _acc(rows)


def locating_lsp(items: list[Item], ctx: Context) -> Outcome:
    """One per image: a parsed point (scaled to pixels) strictly inside the joints' bounding box."""
    rows = []
    for it in items:
        p = P.parse_points(it.text)
        w, h = it.size
        xs = [j[0] for j in it.rec["gt_joints"]]
        ys = [j[1] for j in it.rec["gt_joints"]]
        box = (min(xs), min(ys), max(xs), max(ys))
        c = int(any(inside((x * w, y * h), box) for x, y in p.value))
        rows.append(sample(it, float(c), p, correct=c, total=1))
    return _acc(rows)


def locating_fsc147(items: list[Item], ctx: Context) -> Outcome:
    """Images with >= 10 gt points are not counted; otherwise each gt point (normalised) counts one and
    is correct if a parsed point lies < 0.1 from it."""
    rows = []
    for it in items:
        p = P.parse_points(it.text)
        pts = it.rec["points"]
        if len(pts) >= 10:
            rows.append(sample(it, None, p, correct=0, total=0, counted=False))
            continue
        w, h = it.size
        c = sum(any(near(pt, (x / w, y / h)) for pt in p.value) for x, y in pts)
        rows.append(sample(it, _div(c, len(pts)), p, correct=c, total=len(pts), counted=True))
    return _acc(rows, {"not_counted_ge10": sum(1 for r in rows if r.get("counted") is False)})


# (items, ctx) -> Outcome: what a task file (lamm.tasks) names as its dataset's metric
Metric = Callable[[list[Item], Context], Outcome]
