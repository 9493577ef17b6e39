"""COCO caption metrics: parity with pycocoevalcap 1.2 (PyPI, the dev dependency) on the same tokenised
strings, hand-computed values, and the tokeniser's PTB conventions.

pycocoevalcap's Bleu, Rouge and Cider scorers are pure Python (only its PTBTokenizer, METEOR and SPICE need
Java): both sides get ``ptb_tokenize``'s output, so any difference is a difference of the scorers.
"""

from __future__ import annotations

import math

import pytest

from lamm.metrics.captions import bleu, caption_metrics, ptb_tokenize, rouge_l
from lamm.metrics.cider import cider_d


def _pycoco():
    """pycocoevalcap's pure-Python scorers (dev dependency); only the parity tests need them."""
    return tuple(pytest.importorskip(f"pycocoevalcap.{m}.{m}") for m in ("bleu", "cider", "rouge"))


# (candidate, references): punctuation, repeated words, multi-sentence, empty candidate, single reference
FIXTURES: list[tuple[str, list[str]]] = [
    (
        "A brown chair next to the table.",
        ["This is a brown chair. It is next to the table.", "a brown chair"],
    ),
    ("the the the the the", ["the cat is on the mat", "there is a cat on the mat"]),
    ("", ["a white door on the left wall"]),
    ("a white door", ["a white door on the left wall"]),
    ("It's a black-and-white TV, isn't it?", ["the tv is black and white.", "A TV (black)."]),
    ("a table with four chairs around it", ["a round table, four chairs around it", "the table is round"]),
    ("chair", ["chair"]),
    ("two chairs. two chairs. two chairs.", ["there are two chairs", "two chairs face each other"]),
    ("the lamp is on the desk", ["a lamp stands on the desk", "the desk lamp", "lamp on the wooden desk"]),
    ("a bed", ["the bed is in the corner of the room next to the window and a small nightstand"]),
    ("this is a long caption that goes on and on about a sofa in the room", ["a sofa"]),
    ("The sink; white, clean: near the mirror!", ["a white sink below the mirror"]),
    ("blue trash can", ["the blue trash can is under the desk", "a blue bin"]),
    ('"a quoted" caption', ["a quoted caption"]),
    ("a cabinet... with doors", ["a cabinet with two doors", "the cabinet has doors"]),
    ("the window", ["the window", "the window", "a window"]),
    ("a shelf -- full of books", ["a book shelf full of books"]),
    ("a monitor on a desk", ["a computer monitor on the desk", "monitor on desk", "a black monitor"]),
    ("kitchen counter", ["the kitchen counter is long", "a counter in the kitchen"]),
    ("a red pillow on the couch", ["a red pillow lies on the couch", "the pillow is red"]),
    ("it is a door. it is brown. it is closed.", ["a brown closed door", "the door is brown and closed"]),
    ("two", ["two"]),
    ("a a a a", ["a a", "a a a a a a"]),
    ("the radiator is under the window", ["a radiator below the window", "the radiator under the window"]),
    ("toilet", ["a white toilet", "toilet next to the sink", "the toilet"]),
    ("...", ["a chair"]),
    ("the armchair's cushion", ["the cushion of the armchair", "an armchair with a cushion"]),
    ("a picture hanging on the wall above the bed", ["a picture above the bed", "the painting on the wall"]),
    ("black office chair with wheels", ["a black office chair", "the office chair has wheels", "chair"]),
    ("a curtain", ["the curtains are closed", "a long curtain"]),
    ("a box on the floor", ["a cardboard box on the floor"]),
    ("a tall bookshelf", ["a tall bookshelf"]),
]


def _tok():
    cands = [ptb_tokenize(c) for c, _ in FIXTURES]
    refs = [[ptb_tokenize(r) for r in rs] for _, rs in FIXTURES]
    return cands, refs


def _dicts(cands, refs):
    return {i: list(r) for i, r in enumerate(refs)}, {i: [c] for i, c in enumerate(cands)}


@pytest.mark.parametrize("subset", [slice(None), slice(0, 1), slice(2, 4), slice(5, 20)])
def test_parity_with_pycocoevalcap(subset):
    pycoco_bleu, pycoco_cider, pycoco_rouge = _pycoco()
    cands, refs = _tok()
    cands, refs = cands[subset], refs[subset]
    gts, res = _dicts(cands, refs)
    ref_b, ref_b_per = pycoco_bleu.Bleu(4).compute_score(gts, res, verbose=0)
    ref_c, ref_c_per = pycoco_cider.Cider().compute_score(gts, res)
    ref_r, ref_r_per = pycoco_rouge.Rouge().compute_score(gts, res)
    b, b_per = bleu(cands, refs)
    c, c_per = cider_d(cands, refs, pretokenized=True)
    r, r_per = rouge_l(cands, refs)
    assert b == pytest.approx(ref_b, abs=1e-6)
    for k in range(4):
        assert b_per[k] == pytest.approx(ref_b_per[k], abs=1e-6)
    assert c == pytest.approx(float(ref_c), abs=1e-6) and c_per == pytest.approx(list(ref_c_per), abs=1e-6)
    assert r == pytest.approx(float(ref_r), abs=1e-6) and r_per == pytest.approx(list(ref_r_per), abs=1e-6)
    if subset == slice(None):  # the full set scores, so the comparison is not 0 == 0 (one image: idf 0)
        assert min(b) > 0 and c > 0.5 and r > 0.3


def test_caption_metrics_tokenises_then_scores():
    pycoco_bleu, pycoco_cider, pycoco_rouge = _pycoco()
    corpus, per = caption_metrics([c for c, _ in FIXTURES], [r for _, r in FIXTURES])
    cands, refs = _tok()
    gts, res = _dicts(cands, refs)
    assert corpus["cider"] == pytest.approx(float(pycoco_cider.Cider().compute_score(gts, res)[0]), abs=1e-6)
    assert corpus["bleu4"] == pytest.approx(
        pycoco_bleu.Bleu(4).compute_score(gts, res, verbose=0)[0][3], abs=1e-6
    )
    assert per["rouge_l"][2] == 0.0  # the empty candidate
    assert len(per["cider"]) == len(FIXTURES)


def test_bleu_and_rouge_hand_values():
    # identical 4-token caption: every precision 1, no brevity penalty
    b, per = bleu(["a b c d"], [["a b c d"]])
    assert b == pytest.approx([1.0] * 4, abs=1e-8) and per[3] == [pytest.approx(1.0, abs=1e-8)]
    # "a b" vs "a c d": p1 = 1/2, ratio 2/3 -> BP = exp(1 - 3/2)
    b, _ = bleu(["a b"], [["a c d"]])
    assert b[0] == pytest.approx(0.5 * math.exp(-0.5), rel=1e-8)
    # closest reference length: 2 tokens vs refs of 1 and 5 -> 1 (no penalty), p1 = 1/2
    b, _ = bleu(["a x"], [["a", "a b c d e"]])
    assert b[0] == pytest.approx(0.5, rel=1e-8)
    # ROUGE-L: LCS("a b c", "a c d e") = 2, P = 2/3, R = 1/2, beta 1.2
    r, _ = rouge_l(["a b c"], [["a c d e"]])
    assert r == pytest.approx(2.44 * (2 / 3) * 0.5 / (0.5 + 1.44 * 2 / 3), rel=1e-12)
    assert rouge_l([""], [["a"]])[0] == 0.0


def test_ptb_tokenize_conventions():
    assert ptb_tokenize("This is a brown chair. It is next to the table.") == (
        "this is a brown chair it is next to the table"
    )
    assert ptb_tokenize("The chair's leg (left) isn't \"broken\"!") == "the chair 's leg left is n't broken"
    assert (
        ptb_tokenize("A black-and-white TV, on a 3.5 m shelf...") == "a black-and-white tv on a 3.5 m shelf"
    )
    assert ptb_tokenize("it is e.g. red; a u.s. flag") == "it is e.g. red a u.s. flag"
    assert ptb_tokenize(" ... ") == ""


def test_oracle_captions_score_one():
    refs = [["a brown wooden chair"], ["the white door on the left"], ["a black monitor on the desk"]]
    corpus, _ = caption_metrics([r[0] for r in refs], refs)
    assert corpus["bleu4"] == pytest.approx(1.0, abs=1e-8) and corpus["rouge_l"] == 1.0
    assert corpus["cider"] == pytest.approx(10.0)  # CIDEr-D's x10: identical single references give 10


def test_bad_pairs_are_refused():
    with pytest.raises(ValueError, match="one non-empty reference list"):
        bleu(["a"], [])
    with pytest.raises(ValueError, match="one non-empty reference list"):
        rouge_l(["a"], [[]])
