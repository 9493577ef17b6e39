"""LAMM 3D metrics: the jul23 IoU bug under lamm-v1, the clamped IoU by default, grounding, ScanQA A-F, mAP."""

from __future__ import annotations

import math

import pytest

from lamm.metrics import metrics3d as M
from lamm.metrics.metrics2d import Context, Item


def items(rows):
    return [Item(i, str(i), rec, text) for i, (rec, text) in enumerate(rows)]


def test_corners_abs_extent_and_rounding():
    assert M.corners((0, 0, 0, -2, 2, 2)) == ([-1, -1, -1], [1, 1, 1])
    assert M.corners((0.00049, 0, 0, 0, 0, 0))[0][0] == 0.0  # rounded to 3 decimals


def test_iou3d_values():
    a = (0, 0, 0, 2, 2, 2)
    assert M.iou3d(a, a) == 1.0
    # overlap 1 x 2 x 2 = 4, union 8 + 8 - 4 = 12
    assert M.iou3d(a, (1, 0, 0, 2, 2, 2)) == pytest.approx(4 / 12)
    # separated on one axis: one negative overlap -> negative IoU -> 0 in both versions
    assert M.iou3d(a, (3, 0, 0, 2, 2, 2), clamp=False) == 0.0 and M.iou3d(a, (3, 0, 0, 2, 2, 2)) == 0.0


def test_iou3d_two_axes_separated_bug():
    a, b = (0, 0, 0, 1, 1, 1), (2, 2, 0, 1, 1, 1)
    # jul23: overlaps (-1) * (-1) * 1 = 1 -> union 1 + 1 - 1 = 1 -> IoU 1.0; clamped: 0
    assert M.iou3d(a, b, clamp=False) == 1.0
    assert M.iou3d(a, b) == 0.0
    # a milder case: overlaps -0.5, -0.5, 1 -> inter 0.25, union 1.75 -> 1/7
    assert M.iou3d(a, (1.5, 1.5, 0, 1, 1, 1), clamp=False) == pytest.approx(0.25 / 1.75)


def test_iou3d_zero_union_is_nan():
    assert math.isnan(M.iou3d((0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0)))


SCENE = {
    "object": [
        {"label": "chair", "bbox": [0, 0, 0, 1, 1, 1]},
        {"label": "table", "bbox": [5, 5, 0, 2, 2, 1]},
        {"label": "garbagebin", "bbox": [9, 9, 0, 1, 1, 1]},
    ]
}


def test_scannet_detection_both_protocols():
    # chair box exact; table box 1.7 m apart from the table on x and y: jul23 overlaps -1.7, -1.7, 1
    # -> inter 2.89, union 4 + 4 - 2.89 -> IoU 0.566 > 0.5 (bug); bin never matches (not in WordNet)
    text = "a chair [0, 0, 0, 1, 1, 1] and a table [8.7, 8.7, 0, 2, 2, 1], garbagebin [9, 9, 0, 1, 1, 1]"
    fixed = M.scannet_detection(items([(SCENE, text)]), Context("lamm", 1, 1))
    v1 = M.scannet_detection(items([(SCENE, text)]), Context("lamm-v1", 1, 1))
    assert fixed.value == pytest.approx(1 / 3) and v1.value == pytest.approx(2 / 3)
    assert fixed.extra["recall@0.25"] == pytest.approx(1 / 3)
    assert M.iou3d((5, 5, 0, 2, 2, 1), (8.7, 8.7, 0, 2, 2, 1), clamp=False) == pytest.approx(2.89 / 5.11)
    assert fixed.samples[0]["rule"] == "brackets"


def test_scannet_map_hand_value():
    # one class "chair", 2 gt boxes in one scene; predictions (parse order = confidence):
    # hit gt 1 (TP), miss (FP), hit gt 2 (TP): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    # envelope: 1 up to recall 0.5, then 2/3 -> AP = 0.5 * 1 + 0.5 * 2/3
    rec = {
        "object": [
            {"label": "chair", "bbox": [0, 0, 0, 1, 1, 1]},
            {"label": "chair", "bbox": [4, 4, 0, 1, 1, 1]},
        ]
    }
    text = "chairs [0, 0, 0, 1, 1, 1] [9, 9, 9, 1, 1, 1] [4, 4, 0, 1, 1, 1]"
    out = M.scannet_detection(items([(rec, text)]), Context("lamm", 1, 1))
    assert out.extra["map@0.5"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert out.extra["map@0.25"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert out.value == 1.0


def test_scannet_map_box_takes_the_label_written_before_it():
    rec = {"object": SCENE["object"][:2]}  # chair A = [0, 0, 0, 1, 1, 1], table B = [5, 5, 0, 2, 2, 1]
    exact = "a table [5, 5, 0, 2, 2, 1] and a chair [0, 0, 0, 1, 1, 1]"
    out = M.scannet_detection(items([(rec, exact)]), Context("lamm", 1, 1))
    assert out.extra["map@0.5"] == pytest.approx(1.0)
    # labels only after the boxes: both boxes are detections of both classes; chair: B (conf 1, FP)
    # then A (1/2, TP) -> precision 1/2 at recall 1 -> AP 1/2; table: B (TP) then A (FP) -> AP 1
    after = "[5, 5, 0, 2, 2, 1] [0, 0, 0, 1, 1, 1]: a table and a chair"
    out = M.scannet_detection(items([(rec, after)]), Context("lamm", 1, 1))
    assert out.extra["map@0.5"] == pytest.approx((0.5 + 1.0) / 2)


def test_map3d_duplicate_is_false_positive_and_missing_class():
    gts = [(0, "a", (0, 0, 0, 1, 1, 1)), (0, "b", (5, 5, 5, 1, 1, 1))]
    preds = [(0, "a", (0, 0, 0, 1, 1, 1), 1.0), (0, "a", (0, 0, 0, 1, 1, 1), 0.5)]
    # class a: TP then duplicate FP -> AP 1; class b: no predictions -> AP 0; mean 0.5
    assert M.map3d(preds, gts, 0.5) == pytest.approx(0.5)
    assert M.map3d([], [], 0.5) is None


def test_scanrefer_first_box_only():
    rows = [
        ({"object": [0, 0, 0, 2, 2, 2]}, "[0, 0, 0, 2, 2, 2] [9, 9, 9, 1, 1, 1]"),  # IoU 1
        ({"object": [0, 0, 0, 2, 2, 2]}, "[9, 9, 9, 1, 1, 1] [0, 0, 0, 2, 2, 2]"),  # first misses
        ({"object": [0, 0, 0, 2, 2, 2]}, "[1, 0, 0, 2, 2, 2]"),  # IoU 1/3: > 0.25 only
        ({"object": [0, 0, 0, 2, 2, 2]}, "somewhere"),  # no box -> wrong
    ]
    out = M.scanrefer_grounding(items(rows), Context("lamm", 4, 4))
    assert out.value == 0.25 and out.extra["acc@0.25"] == 0.5
    assert [s["failed"] for s in out.samples] == [False, False, False, True]


def test_scanrefer_v1_bug_changes_grounding():
    rows = [({"object": [0, 0, 0, 1, 1, 1]}, "[2, 2, 0, 1, 1, 1]")]
    assert M.scanrefer_grounding(items(rows), Context("lamm-v1", 1, 1)).value == 1.0
    assert M.scanrefer_grounding(items(rows), Context("lamm", 1, 1)).value == 0.0


def test_scanqa_letters_a_to_f():
    six = ["sofa", "bed", "desk", "lamp", "door", "window"]
    rows = [
        ({"gt_choice": 5, "gt_choices": six}, "Looking around.\n The answer is F."),
        ({"gt_choice": 4, "gt_choices": six}, "(E)"),
        ({"gt_choice": 0, "gt_choices": six}, "a sofa bed"),  # two options named -> wrong
    ]
    out = M.scanqa(items(rows), Context("lamm", 3, 3))
    assert [s["score"] for s in out.samples] == [1.0, 1.0, 0.0]
    assert [s["rule"] for s in out.samples] == ["answer_is", "paren", "text"]


def test_scanrefer_reads_gt_bbox_field_of_jul23():
    rows = [({"gt_bbox": [0, 0, 0, 2, 2, 2], "object": [9, 9, 9, 1, 1, 1]}, "[0, 0, 0, 2, 2, 2]")]
    assert M.scanrefer_grounding(items(rows), Context("lamm", 1, 1)).value == 1.0
