"""Every LAMM 2D metric on hand-computed cases, both protocols where they differ."""

from __future__ import annotations

import math

import pytest

from lamm.metrics import metrics2d as M
from lamm.metrics.cider import cider_d


def items(rows, size=(100, 50)):
    return [M.Item(i, str(i), rec, text, size) for i, (rec, text) in enumerate(rows)]


def ctx(n, protocol="lamm", n_answers=None):
    return M.Context(protocol, n, n if n_answers is None else n_answers)


def test_iou2d():
    assert M.iou2d((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert M.iou2d((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert math.isnan(M.iou2d((0, 0, 0, 0), (0, 0, 0, 0)))


def test_inside_strict_and_near():
    assert M.inside((0.5, 0.5), (0.1, 0.1, 0.9, 0.9))
    assert not M.inside((0.1, 0.5), (0.1, 0.1, 0.9, 0.9))  # on the edge: outside
    assert M.near((0.0, 0.0), (0.06, 0.06)) and not M.near((0.0, 0.0), (0.1, 0.0))


def test_cifar10_divides_by_answers():
    rows = [({"label": "automobile"}, "a car"), ({"label": "cat"}, "a dog"), ({"label": "frog"}, "toad")]
    out = M.cifar10(items(rows), ctx(3))
    assert out.value == pytest.approx(2 / 3) and [s["score"] for s in out.samples] == [1.0, 0.0, 1.0]
    # lamm-v1 with 4 answers for these 3 paired records (official denominator = number of answers)
    assert M.cifar10(items(rows), ctx(3, "lamm-v1", 4)).value == pytest.approx(2 / 4)


def test_celeba_hair_and_ucmerced():
    assert (
        M.celeba_hair(items([({"attr": "blond"}, "Blonde hair."), ({"attr": "gray"}, "black")]), ctx(2)).value
        == 0.5
    )
    rows = [
        ({"label": "golf course"}, "a golf course"),
        ({"label": "beach"}, "A Beach"),
        ({"label": "river"}, "rivers"),
    ]
    out = M.ucmerced(items(rows), ctx(3))  # raw case-sensitive substring
    assert [s["score"] for s in out.samples] == [1.0, 0.0, 1.0]


def test_celeba_smile():
    rows = [
        ({"attr": "1"}, "Yes, the person is smiling."),
        ({"attr": "-1"}, "No."),
        ({"attr": "-1"}, "The person isn't smiling."),  # n't is not "not": predicted smiling -> wrong
        ({"attr": "-1"}, "not smiling"),
    ]
    out = M.celeba_smile(items(rows), ctx(4))
    assert [s["score"] for s in out.samples] == [1.0, 1.0, 0.0, 1.0] and out.value == 0.75


def test_svt():
    rows = [
        ({"word_list": ["EXIT", "Road"]}, 'The text reads "exit road"'),
        ({"word_list": ["EXIT"]}, "exit, sign"),  # attached comma breaks the match
        ({"word_list": ["Hotel", "Inn", "Bar"]}, 'It says "Hotel" and "bar"'),
    ]
    out = M.svt(items(rows), ctx(3))
    assert [s["score"] for s in out.samples] == [1.0, 0.0, pytest.approx(2 / 3)]
    assert out.value == pytest.approx((1 + 0 + 2 / 3) / 3)


def test_fsc147_mae_and_lt10():
    rows = [
        ({"num": 12}, "There are 12."),
        ({"num": 3}, "three"),
        ({"num": 5}, "I see 7 birds"),
        ({"num": 30}, "many"),
    ]
    out = M.fsc147(items(rows), ctx(4))
    # "12." is not read -> 0 -> error 12; 3 -> 0; |5-7| = 2; unreadable -> 0 -> 30
    assert [s["score"] for s in out.samples] == [12.0, 0.0, 2.0, 30.0]
    assert out.value == 11.0 and out.extra["mae_lt10"] == 1.0 and out.extra["n_lt10"] == 2
    none = M.fsc147(items([({"num": 12}, "12")]), ctx(1, "lamm-v1"))
    assert none.extra["mae_lt10"] is None and "ZeroDivisionError" in none.extra["note"]


def test_vqa():
    ch = ["red", "blue", "green"]
    rows = [
        ({"gt_choice": 1, "gt_choices": ch}, "Because...\n The answer is (B)."),
        ({"gt_choice": 0, "gt_choices": ch}, "The answer is A"),  # no P1 at end; text has no option
        ({"gt_choice": 2, "gt_choices": ch}, "it is green"),
    ]
    out = M.vqa(items(rows), ctx(3))
    assert [(s["score"], s["rule"], s["failed"]) for s in out.samples] == [
        (1.0, "answer_is", False), (0.0, "text", True), (1.0, "text", False),
    ]  # fmt: skip
    assert out.value == pytest.approx(2 / 3)


def test_flickr30k_bleu_hand_value():
    refs = ["the cat sat on the mat.", "a cat is sitting."]
    out = M.flickr30k(items([({"sentences": refs}, "the cat sat on a mat. nothing else")]), ctx(1))
    # piece 1: p1=6/6 ("a" is clipped against ref 2), p2=3/5, p3=2/4, p4=1/3; closest ref length 6 -> BP 1
    expect = (1 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert out.samples[0]["score"] == pytest.approx(expect)
    assert out.value == pytest.approx(100 * expect)
    empty = M.flickr30k(items([({"sentences": refs}, "")]), ctx(1))
    assert empty.value == 0.0 and empty.samples[0]["failed"]


def test_cider_hand_values():
    # identical single-reference captions, every n-gram unique to its image: idf = log 2 everywhere;
    # n=1,2 cosines are 1, n=3,4 have no n-grams (0) -> mean 0.5, x10 = 5
    score, per = cider_d(["a b", "c d"], [["a b"], ["c d"]], pretokenized=True)
    assert per == [pytest.approx(5.0), pytest.approx(5.0)] and score == pytest.approx(5.0)
    # "a" vs "a b": unigram cosine 1/sqrt(2); bigram counts 0 vs 1 -> penalty exp(-1/72)
    score, per = cider_d(["a", "c d"], [["a b"], ["c d"]], pretokenized=True)
    assert per[0] == pytest.approx(10 * (1 / math.sqrt(2)) * math.exp(-1 / 72) / 4)
    # tokenisation: lower-case, punctuation dropped
    assert cider_d(["A B."], [["a b"]])[1][0] == cider_d(["a b"], [["a b"]], pretokenized=True)[1][0]


VOC = {
    "object": [
        {"label": "dog", "bbox": [0.1, 0.1, 0.5, 0.5]},
        {"label": "cat", "bbox": [0.6, 0.6, 0.9, 0.9]},
        {"label": "diningtable", "bbox": [0.0, 0.0, 1.0, 1.0]},
    ]
}


def test_voc_detection_recall_with_label_check():
    rows = [
        (VOC, "A dog [0.1, 0.1, 0.5, 0.5], a cat [0.6, 0.6, 0.7, 0.7], a table [0, 0, 1, 1]"),
        (VOC, "The cat is at [0.6, 0.6, 0.9, 0.9]"),  # the dog has no label match, the cat does
        (VOC, "[dog] [0.1, 0.1, 0.5, 0.5]"),  # buffer glue: no bracket box; regex finds 4 numbers
        (
            {"object": [{"label": "dog", "bbox": [0.1, 0.1, 0.5, 0.5]}]},
            "dog [0.5, 0.1, 0.1, 0.5]",
        ),  # x inverted
    ]
    out = M.voc_detection(items(rows), ctx(4))
    # 1: dog IoU 1 -> yes; cat IoU 0.09/0.09? no: 0.01/0.09 < .5; diningtable never matches -> 1/3
    # 2: cat -> 1/3; 3: dog via regex numbers -> 1/3; 4: box dropped -> 0/1
    assert [s["correct"] for s in out.samples] == [1, 1, 1, 0]
    assert [s["rule"] for s in out.samples] == ["brackets", "brackets", "regex", "brackets/dropped"]
    assert out.value == pytest.approx(3 / 10)
    assert out.samples[3]["failed"] and not out.samples[0]["failed"]
    assert 0 <= out.extra["ap50"] <= 1 and 0 <= out.extra["ap50_agnostic"] <= 1


def test_voc_ap50_hand_value():
    rec = {
        "object": [
            {"label": "dog", "bbox": [0.1, 0.1, 0.5, 0.5]},
            {"label": "dog", "bbox": [0.6, 0.6, 0.9, 0.9]},
        ]
    }
    out = M.voc_detection(items([(rec, "dog [0.1, 0.1, 0.5, 0.5] [0.0, 0.0, 0.05, 0.05]")]), ctx(1))
    # one class, 2 gt; detections TP (score 1) then FP (0.5): recall 0.5 at precision 1 ->
    # COCO 101-point interpolation: 51 of 101 recall points have precision 1
    assert out.extra["ap50"] == pytest.approx(51 / 101) and out.extra["ap50_agnostic"] == pytest.approx(
        51 / 101
    )


A, B, C, D = [0.1, 0.1, 0.4, 0.4], [0.6, 0.6, 0.9, 0.9], [0.0, 0.5, 0.3, 0.9], [0.5, 0.0, 0.9, 0.3]
TWO = [
    {"object": [{"label": "dog", "bbox": A}, {"label": "cat", "bbox": B}]},
    {"object": [{"label": "cat", "bbox": C}, {"label": "dog", "bbox": D}]},
]


def _ap(texts):
    return M.voc_detection(items(list(zip(TWO, texts))), ctx(2)).extra


def test_voc_ap50_each_box_takes_the_label_written_before_it():
    # oracle-style answers, 2 images x 2 classes, all boxes exact -> 1.0 (every box is one TP)
    out = _ap([f"The objects are: dog {A}, cat {B}.", f"cat {C}, dog {D}"])
    assert out["ap50"] == pytest.approx(1.0) and out["ap50_agnostic"] == pytest.approx(1.0)
    # D called a cat: dog gt {A, D} has the TP A only -> 51/101 (recall 0.5 at precision 1);
    # cat dets C (score 1, TP), B (0.5, TP), D (0.5, FP after B: record order) -> recall 1 at precision 1
    out = _ap([f"dog {A}, cat {B}", f"cat {C}, cat {D}"])
    assert out["ap50"] == pytest.approx((51 / 101 + 1.0) / 2) and out["ap50_agnostic"] == pytest.approx(1.0)


def test_voc_ap50_falls_back_to_labels_of_the_whole_text():
    # no label before either box: both boxes are detections of both labels named anywhere
    out = _ap([f"{A} and {B} are a dog and a cat", f"cat {C}, dog {D}"])
    # dog dets: dog@A 1 (TP), dog@B 0.5 (FP), dog@D 0.5 (TP, image 2 after image 1):
    #   precision 1 up to recall 0.5, then 2/3 at recall 1 -> (51 + 50 * 2/3) / 101
    # cat: cat@A 1 (FP), cat@C 1 (TP), cat@B 0.5 (TP) -> recall 0.5 at 1/2, 1.0 at 2/3: envelope 2/3
    want = ((51 + 50 * 2 / 3) / 101 + 2 / 3) / 2
    assert out["ap50"] == pytest.approx(want) and out["ap50_agnostic"] == pytest.approx(1.0)


def lsp_rec(w=100, h=50):
    joints = [[10 * (k + 1), 2 * (k + 1), 1] for k in range(14)]  # pixels
    return {"gt_joints": joints}


def test_lsp_pck_fixed_and_v1():
    rec = lsp_rec()
    # joint k at normalised (0.1(k+1), 0.04(k+1)); answer hits joints 0 and 1, misses 2, rest empty
    text = {f"j{k}": "" for k in range(14)}
    text["j0"] = "[0.1, 0.04]"
    text["j1"] = "at (0.25, 0.08)"  # distance 0.05 -> correct
    text["j2"] = "[0.5, 0.5]"
    out = M.lsp_pck(items([(rec, text)]), ctx(1))
    assert out.samples[0]["correct"] == 2 and out.value == pytest.approx(2 / 14)
    assert out.samples[0]["rule"] == "brackets" and not out.samples[0]["failed"]
    v1 = M.lsp_pck(items([(rec, text)]), ctx(1, "lamm-v1"))
    assert v1.value == 0.0 and v1.extra["pck_fixed"] == pytest.approx(2 / 14)


def test_locating_voc():
    rows = [
        (VOC, "The dog is at [0.3, 0.3]"),  # dog inside, cat not named -> 1 of 3
        (VOC, "no point here"),  # no point: adds 3 to the total
        (VOC, "dog [0.1, 0.3] cat [0.7, 0.7]"),  # dog point on the edge (strict) -> cat only
    ]
    out = M.locating_voc(items(rows), ctx(3))
    assert [s["correct"] for s in out.samples] == [1, 0, 1] and out.extra["total"] == 9
    assert out.value == pytest.approx(2 / 9)


def test_locating_lsp_pixel_box():
    rec = lsp_rec()  # joints span x 10..140? no: x 10..140 px, y 2..28 px; image 100 x 50
    rows = [(rec, "[0.5, 0.2]"), (rec, "[0.05, 0.2]"), (rec, "none")]
    # (50, 10) inside (10, 2, 140, 28); (5, 10) left of x=10
    out = M.locating_lsp(items(rows), ctx(3))
    assert [s["correct"] for s in out.samples] == [1, 0, 0] and out.value == pytest.approx(1 / 3)


def test_locating_fsc147_skips_ge10():
    few = {"points": [[10, 10], [50, 25]]}  # normalised (0.1, 0.2), (0.5, 0.5)
    many = {"points": [[1, 1]] * 10}
    rows = [(few, "[0.12, 0.22] [0.9, 0.9]"), (many, "[0.01, 0.02]")]
    out = M.locating_fsc147(items(rows), ctx(2))
    assert out.extra["total"] == 2 and out.extra["correct"] == 1 and out.value == 0.5
    assert out.samples[1]["score"] is None and out.extra["not_counted_ge10"] == 1


def test_classification_parse_failures():
    rows = [({"label": "cat"}, "a dog"), ({"label": "dog"}, "I cannot tell."), ({"label": "dog"}, "dog")]
    out = M.cifar10(items(rows), ctx(3))
    assert [s["failed"] for s in out.samples] == [False, True, False]
    uc = M.ucmerced(items([({"label": "beach"}, "a river"), ({"label": "river"}, "no idea")]), ctx(2))
    assert [s["failed"] for s in uc.samples] == [False, True]
