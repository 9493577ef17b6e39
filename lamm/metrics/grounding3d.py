"""3D grounding and dense captioning as the 3D-LLM literature reports them: ScanRefer Acc@0.25/0.5,
Multi3DRefer F1@0.25/0.5, Scan2Cap CIDEr/BLEU-4/ROUGE-L@0.5 (IoU-gated).

Boxes are axis-aligned ``(cx, cy, cz, dx, dy, dz)`` (metres), IoU is :func:`lamm.metrics.metrics3d.iou3d`
(per-axis overlaps clamped; corners rounded to 1 mm as LAMM does). Answer formats (``docs/scoring.md``):

* ScanRefer: one box, ``[cx, cy, cz, dx, dy, dz]``; the first box in the text counts
  (:func:`lamm.metrics.parse.parse_boxes3d`). Record field ``gt_bbox`` (6 numbers; or LAMM's ``object``).
* Multi3DRefer: zero or more such boxes in the text (no box = "no such object"). Record field
  ``gt_bboxes``: a list of 6-number boxes, empty for a zero-target description.
* Scan2Cap: a box, then the caption: ``[cx, cy, cz, dx, dy, dz] a brown chair next to the table.``
  (:func:`parse_box_caption`), scored by :func:`scan2cap`; or, as the suite's ``Caption_Scan2Cap.json``
  asks it (the box is in the query), the caption alone, gated by the query's box
  (:func:`scan2cap_query_box`). Record fields ``gt_bbox`` and ``descriptions`` (the object's ScanRefer
  descriptions, the references), optional ``box`` (the query's box, default ``gt_bbox``).

References (read, not copied):
* 3dlg-hcvc/M3DRef-CLIP @ babfcc4b4f06bb8ce1471513095a1c80acc0edb5, ``m3drefclip/evaluation/
  scanrefer_evaluator.py`` (a hit is IoU >= k) and ``multi3drefer_evaluator.py``: the IoU matrix of
  predicted x gt boxes, zero-padded to a square, ``linear_sum_assignment`` maximising IoU; a matched pair
  is a true positive if IoU >= k; F1 = 2 TP / (#pred + #gt) per description, averaged over descriptions;
  a zero-target description scores 1 if nothing is predicted, else 0.
* daveredrum/Scan2Cap @ b9e9610f458f224176c30595a83948ba0c57f71b, ``lib/eval_helper.py`` (the same
  protocol in ch3cook-fdu/Vote2Cap-DETR @ 90d56dc46d51c240b5e1f10861785ae45a600d2f ``engine.py``): per gt
  object the candidate is the caption of a box with IoU > k (``good_bbox_masks = ious > min_iou``, k = 0.5)
  else the placeholder ``"sos eos"``; every reference (cut to 30 tokens, ``MAX_DES_LEN``) and candidate is
  wrapped in ``sos ... eos``; pycocoevalcap's corpus BLEU-4, mean CIDEr-D and mean ROUGE-L over all gt
  objects. The placeholder's CIDEr is exactly 0 (``sos``/``eos`` occur in every reference: idf 0), so
  CIDEr@k is the paper's m@kIoU = (1/N) sum_i m_i [IoU_i > k]; its BLEU/ROUGE are small but not 0, as
  officially. Tokens: :func:`lamm.metrics.captions.ptb_tokenize` on both sides (Scan2Cap scores
  ScanRefer's own token lists, punctuation tokens included, against its decoder's tokens).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from lamm.metrics import parse as P
from lamm.metrics.captions import caption_metrics, ptb_tokenize
from lamm.metrics.metrics2d import Context, Item, Outcome, _div, sample
from lamm.metrics.metrics3d import gt_box, iou3d
from lamm.protocol.suite3d import query_box

THRESHOLDS = (0.25, 0.5)
MAX_DES_LEN = 30  # Scan2Cap CONF.TRAIN.MAX_DES_LEN: references are cut to 30 tokens
PLACEHOLDER = "sos eos"  # the candidate of a gt object without a box of IoU > k
_BOX = re.compile(r"\[([^\[\]]*)\]")


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    v = iou3d(tuple(a), tuple(b))
    return 0.0 if math.isnan(v) else v


# ------------------------------------------------------------------------------------------- ScanRefer


def scanrefer_acc(items: list[Item], ctx: Context) -> Outcome:
    """Acc@0.5 (headline) and Acc@0.25: the first parsed box has IoU >= k with the gt box (fractions)."""
    rows = []
    for it in items:
        p = P.parse_boxes3d(str(it.text))
        iou = _iou(p.value[0], gt_box(it.rec)) if p.value else 0.0
        rows.append(sample(it, float(iou >= 0.5), p, iou=iou, hit25=float(iou >= 0.25)))
    return Outcome(
        "acc@0.5",
        _div(sum(r["score"] for r in rows), ctx.n_meta),
        rows,
        {"acc@0.25": _div(sum(r["hit25"] for r in rows), ctx.n_meta)},
    )


# ----------------------------------------------------------------------------------------- Multi3DRefer


def f1_matched(pred: list[tuple[float, ...]], gt: list[tuple[float, ...]], k: float) -> float:
    """Multi3DRefer's F1 of one description at IoU threshold ``k`` (M3DRef-CLIP's evaluate_one_query /
    evaluate_one_zero_gt_query)."""
    from scipy.optimize import linear_sum_assignment  # here: every registry import reaches this module

    if not gt:
        return 1.0 if not pred else 0.0
    size = max(len(pred), len(gt))
    m = np.zeros((size, size))
    for i, a in enumerate(pred):
        for j, b in enumerate(gt):
            m[i, j] = _iou(a, b)
    rows, cols = linear_sum_assignment(-m)
    tp = sum(1 for i in range(len(pred)) if m[rows[i], cols[i]] >= k)
    return 2.0 * tp / (len(pred) + len(gt))


def _gt_boxes(rec: dict[str, Any]) -> list[tuple[float, ...]]:
    boxes = rec["gt_bboxes"]
    if not isinstance(boxes, list) or any(not isinstance(b, list) or len(b) != 6 for b in boxes):
        raise ValueError(f"record {rec.get('id', '?')}: gt_bboxes must be a list of 6-number boxes")
    return [tuple(float(x) for x in b) for b in boxes]


def multi3drefer_f1(items: list[Item], ctx: Context) -> Outcome:
    """F1@0.5 (headline) and F1@0.25, Hungarian-matched, averaged over descriptions (fractions)."""
    rows = []
    for it in items:
        p = P.parse_boxes3d(str(it.text))
        gt = _gt_boxes(it.rec)
        f50, f25 = (f1_matched(p.value, gt, k) for k in (0.5, 0.25))
        # no box is a valid answer ("no such object"), not a parse failure
        rows.append(sample(it, f50, P.Parsed(p.value, p.rule), f1_25=f25, n_pred=len(p.value), n_gt=len(gt)))
    return Outcome(
        "f1@0.5",
        _div(sum(r["score"] for r in rows), ctx.n_meta),
        rows,
        {"f1@0.25": _div(sum(r["f1_25"] for r in rows), ctx.n_meta)},
    )


# ---------------------------------------------------------------------------------------------- Scan2Cap


def parse_box_caption(text: str) -> P.Parsed:
    """``[cx, cy, cz, dx, dy, dz] caption``: the first ``[...]`` group holding exactly 6 numbers is the
    box, the text around it (that group removed) the caption. ``value`` = ``(box | None, caption)``;
    rule ``box+caption`` | ``caption`` (no box: the whole text is the caption, failed)."""
    for m in _BOX.finditer(text):
        try:
            nums = [float(t) for t in re.split(r"[,\s]+", m.group(1).strip())]
        except ValueError:
            continue
        if len(nums) == 6 and all(math.isfinite(v) for v in nums):
            caption = " ".join((text[: m.start()] + " " + text[m.end() :]).split())
            return P.Parsed((tuple(nums), caption), "box+caption")
    return P.Parsed((None, " ".join(text.split())), "caption", True)


def _wrap(text: str, limit: int | None = None) -> str:
    return " ".join(["sos", *ptb_tokenize(text).split()[:limit], "eos"])


def scan2cap(items: list[Item], ctx: Context) -> Outcome:
    """CIDEr@0.5 (headline), BLEU-4@0.5, ROUGE-L@0.5 (x100), and the same @0.25 (Scan2Cap protocol);
    the candidate box is the first box of the answer."""
    return _scan2cap(items, [parse_box_caption(str(it.text)) for it in items])


def scan2cap_query_box(items: list[Item], ctx: Context) -> Outcome:
    """:func:`scan2cap` where the query named the object by its box (:func:`query_box`): the whole answer
    is the caption, the query's box the one gated by IoU with the gt box."""
    captions = [" ".join(str(it.text).split()) for it in items]
    boxes = [tuple(float(v) for v in query_box(it.rec)) for it in items]
    return _scan2cap(items, [P.Parsed((b, c), "caption", not c) for b, c in zip(boxes, captions)])


def _scan2cap(items: list[Item], parsed: list[P.Parsed]) -> Outcome:
    ious = [_iou(p.value[0], gt_box(it.rec)) if p.value[0] else 0.0 for p, it in zip(parsed, items)]
    refs = [[_wrap(r, MAX_DES_LEN) for r in it.rec["descriptions"]] for it in items]
    extra: dict[str, Any] = {}
    per_cider: dict[float, list[float]] = {}
    for k in THRESHOLDS if items else ():
        cands = [_wrap(p.value[1]) if iou > k else PLACEHOLDER for p, iou in zip(parsed, ious)]
        corpus, per = caption_metrics(cands, refs, tokenize=False)
        extra.update({f"{m}@{k}": 100.0 * corpus[m] for m in ("cider", "bleu4", "rouge_l")})
        per_cider[k] = per["cider"]
    rows = [
        sample(it, 100.0 * per_cider[0.5][i], p, iou=ious[i], **{"cider@0.25": 100.0 * per_cider[0.25][i]})
        for i, (it, p) in enumerate(zip(items, parsed))
    ]
    value = extra.pop("cider@0.5", None)
    return Outcome("cider@0.5", value, rows, extra)
