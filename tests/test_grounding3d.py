"""ScanRefer Acc@k, Multi3DRefer F1@k (Hungarian), Scan2Cap IoU-gated caption metrics: hand-computed.

References: 3dlg-hcvc/M3DRef-CLIP @ babfcc4b4f06bb8ce1471513095a1c80acc0edb5
(m3drefclip/evaluation/scanrefer_evaluator.py, multi3drefer_evaluator.py) and daveredrum/Scan2Cap @
b9e9610f458f224176c30595a83948ba0c57f71b (lib/eval_helper.py, ``ious > min_iou``).
Boxes (cx, cy, cz, dx, dy, dz); A = unit-2 cube at the origin, IoU values worked by hand in the comments.
"""

from __future__ import annotations

import pytest

from lamm.metrics.grounding3d import f1_matched, multi3drefer_f1, parse_box_caption, scan2cap, scanrefer_acc
from lamm.metrics.metrics2d import Context, Item


def _pycoco():
    """pycocoevalcap's pure-Python scorers (dev dependency); only the parity tests need them."""
    return tuple(pytest.importorskip(f"pycocoevalcap.{m}.{m}") for m in ("bleu", "cider", "rouge"))


A = (0.0, 0.0, 0.0, 2.0, 2.0, 2.0)
B = (1.0, 0.0, 0.0, 2.0, 2.0, 2.0)  # IoU(A, B) = 4 / 12 = 1/3
C = (0.5, 0.0, 0.0, 2.0, 2.0, 2.0)  # IoU(A, C) = 6 / 10 = 0.6
D = (5.0, 5.0, 5.0, 2.0, 2.0, 2.0)  # disjoint from A, B, C
HALF = (0.0, 0.0, -0.5, 2.0, 2.0, 1.0)  # IoU(A, HALF) = 4 / 8 = 0.5 exactly


def box(b) -> str:
    return "[" + ", ".join(f"{v:g}" for v in b) + "]"


def _items(pairs):
    return [Item(i, str(i), rec, text) for i, (rec, text) in enumerate(pairs)]


def _ctx(n):
    return Context(n_meta=n, n_answers=n)


def test_scanrefer_acc_hand_values_and_oracle():
    texts = [f"It is at {box(C)}.", box(B), box(HALF), "(0, 0, 0, 1, 1, 1)", "no idea"]
    out = scanrefer_acc(_items(({"gt_bbox": list(A)}, t) for t in texts), _ctx(5))
    # hits at 0.5: C (0.6), HALF (0.5, >= counts); at 0.25: + B (1/3); the 1-cube has IoU 1/8
    assert [s["score"] for s in out.samples] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert out.value == pytest.approx(2 / 5) and out.extra["acc@0.25"] == pytest.approx(3 / 5)
    assert out.samples[1]["iou"] == pytest.approx(1 / 3) and out.samples[4]["failed"]
    oracle = scanrefer_acc(_items(({"gt_bbox": list(b)}, box(b)) for b in (A, B, D)), _ctx(3))
    assert oracle.value == 1.0 and oracle.extra["acc@0.25"] == 1.0


def test_f1_matched_hand_values():
    assert f1_matched([C, D], [A, D], 0.5) == 1.0  # C-A 0.6, D-D 1
    assert f1_matched([B], [A, D], 0.25) == pytest.approx(2 / 3)  # 1 TP, 1 pred + 2 gt
    assert f1_matched([B], [A, D], 0.5) == 0.0
    assert f1_matched([D, C, B], [A, D], 0.5) == pytest.approx(4 / 5)  # B is left unmatched
    assert f1_matched([], [A], 0.25) == 0.0
    # zero-target description: 1 if nothing is predicted, else 0 (M3DRef-CLIP evaluate_one_zero_gt_query)
    assert f1_matched([], [], 0.5) == 1.0 and f1_matched([A], [], 0.5) == 0.0


def test_f1_matching_is_hungarian_not_greedy():
    def seg(lo, hi):
        return ((lo + hi) / 2, 0.0, 0.0, hi - lo, 1.0, 1.0)

    g1, g2, p1, p2 = seg(0, 2), seg(1, 3), seg(-0.5, 2.75), seg(-1, 1.5)
    # IoU(p1,g1) = 8/13 (p1's best), IoU(p1,g2) = 0.5, IoU(p2,g1) = 0.5, IoU(p2,g2) = 0.125:
    # greedy p1->g1 leaves p2->g2 (1 TP, F1 0.5); the maximum-IoU assignment p1->g2, p2->g1 has 2 TPs
    assert f1_matched([p1, p2], [g1, g2], 0.5) == 1.0


def test_multi3drefer_outcome_and_oracle():
    recs = [{"gt_bboxes": [list(A), list(D)]}, {"gt_bboxes": []}, {"gt_bboxes": [list(A)]}]
    texts = [f"{box(C)} and {box(D)}", "There is no such object.", box(B)]
    out = multi3drefer_f1(_items(zip(recs, texts)), _ctx(3))
    assert [s["score"] for s in out.samples] == [1.0, 1.0, 0.0]
    assert out.value == pytest.approx(2 / 3) and out.extra["f1@0.25"] == pytest.approx(1.0)
    oracle_texts = [" ".join(box(b) for b in r["gt_bboxes"]) or "none" for r in recs]
    oracle = multi3drefer_f1(_items(zip(recs, oracle_texts)), _ctx(3))
    assert oracle.value == 1.0 and oracle.extra["f1@0.25"] == 1.0
    with pytest.raises(ValueError, match="gt_bboxes must be a list of 6-number boxes"):
        multi3drefer_f1(_items([({"gt_bboxes": [[1, 2]]}, "")]), _ctx(1))


def test_parse_box_caption():
    assert parse_box_caption("[1, 2, 3, 4, 5, 6] a brown chair.").value == (
        (1, 2, 3, 4, 5, 6),
        "a brown chair.",
    )
    p = parse_box_caption("a chair [0.5 -1 2e-1 1 1 1] near  the door")
    assert p.value == ((0.5, -1.0, 0.2, 1.0, 1.0, 1.0), "a chair near the door") and p.rule == "box+caption"
    assert parse_box_caption("[red] [1, 2] [1,2,3,4,5,6] x").value == ((1, 2, 3, 4, 5, 6), "[red] [1, 2] x")
    none = parse_box_caption("just a caption")
    assert none.value == (None, "just a caption") and none.failed


def test_scan2cap_protocol_matches_pycocoevalcap_on_the_official_strings():
    pycoco_bleu, pycoco_cider, pycoco_rouge = _pycoco()
    recs = [
        {"gt_bbox": list(A), "descriptions": ["A brown wooden chair, next to the table."]},
        {"gt_bbox": list(A), "descriptions": ["the white door on the left wall", "a white door"]},
        {"gt_bbox": list(D), "descriptions": ["a black monitor on the desk " + "very " * 40]},
    ]
    texts = [f"{box(C)} a brown chair next to the table", f"{box(B)} a white door", "a black monitor"]
    out = scan2cap(_items(zip(recs, texts)), _ctx(3))
    # Scan2Cap's strings, written by hand: refs wrapped in sos/eos and cut to 30 tokens; the caption of a
    # box with IoU > k wrapped, every other candidate "sos eos" (IoU 0.6, 1/3, no box)
    refs = {
        0: ["sos a brown wooden chair next to the table eos"],
        1: ["sos the white door on the left wall eos", "sos a white door eos"],
        2: ["sos " + " ".join(("a black monitor on the desk " + "very " * 24).split()) + " eos"],
    }
    cand = {0: "sos a brown chair next to the table eos", 1: "sos a white door eos"}
    for k, passed in ((0.5, {0}), (0.25, {0, 1})):
        res = {i: [cand[i] if i in passed else "sos eos"] for i in range(3)}
        cider, per = pycoco_cider.Cider().compute_score(refs, res)
        bleu, _ = pycoco_bleu.Bleu(4).compute_score(refs, res, verbose=0)
        rouge, _ = pycoco_rouge.Rouge().compute_score(refs, res)
        assert out.extra[f"bleu4@{k}"] == pytest.approx(100 * bleu[3], abs=1e-6)
        assert out.extra[f"rouge_l@{k}"] == pytest.approx(100 * rouge, abs=1e-6)
        if k == 0.5:
            assert out.value == pytest.approx(100 * cider, abs=1e-6)
            assert [s["score"] for s in out.samples] == pytest.approx(list(100 * per), abs=1e-6)
            assert per[1] == 0.0 and per[2] == 0.0 and per[0] > 0  # the placeholder scores exactly 0 CIDEr
        else:
            assert out.extra["cider@0.25"] == pytest.approx(100 * cider, abs=1e-6) and per[1] > 0
    assert out.samples[2]["failed"] and out.samples[1]["iou"] == pytest.approx(1 / 3)


def test_scan2cap_oracle():
    recs = [
        {"gt_bbox": list(A), "descriptions": ["a brown wooden chair next to the table"]},
        {"gt_bbox": list(D), "descriptions": ["a black monitor on the desk"]},
    ]
    oracle = scan2cap(_items((r, f"{box(r['gt_bbox'])} {r['descriptions'][0]}") for r in recs), _ctx(2))
    assert oracle.extra["rouge_l@0.5"] == 100.0
    assert oracle.extra["bleu4@0.5"] == pytest.approx(100.0, abs=1e-6)
    assert oracle.value == pytest.approx(1000.0)  # CIDEr-D x10: identical single references score 10
