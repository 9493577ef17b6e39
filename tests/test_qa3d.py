"""ScanQA / SQA3D EM and refined EM as LEO computes them.

Reference: embodied-generalist/embodied-generalist @ 567f2d809cf8b21289d7fb9d3b616ae9c405cba3,
data/data_utils.py ``clean_answer``, evaluator/scanqa_eval.py ``answer_match``, evaluator/sqa3d_eval.py.
The expected strings below are worked by hand from those rules.
"""

from __future__ import annotations

import pytest

from lamm.metrics.captions import caption_metrics
from lamm.metrics.metrics2d import Context, Item
from lamm.metrics.qa3d import answer_match, clean_answer, scanqa_em, sqa3d_em


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("The Brown Chair.", "brown chair"),  # lower, '.' dropped, article + word -> word
        ("  2 chairs  ", "two chairs"),  # stripped, digit -> word
        ("on the letf", "on left"),  # typo fixed, then 'the left' -> 'left'
        ("tv", "TV"),  # upper-cased after lower-casing (theirs)
        ("None", "zero"),
        ("chair2", "chair"),  # a digit glued to a word is dropped
        ("23", "twenty-three"),
        ("12 o' clock", "twelve o'clock"),
        ("a  brown   table", "brown table"),  # runs of spaces collapsed first
        ("it's white!", "it's white"),
        ("Left side of the bed", "left side of bed"),
        ("walking backwards", "walking backward"),
        ("rigth, behine the door", "right, behind door"),
        ("an apple", "apple"),
    ],
)
def test_clean_answer_cases(raw, clean):
    assert clean_answer(raw) == clean


def test_answer_match_em_and_refined():
    assert answer_match("brown", ["brown"]) == (1, 1)
    assert answer_match("brown", ["brown chair"]) == (0, 1)  # pred inside gt
    assert answer_match("brown wooden chair", ["wooden chair"]) == (0, 1)  # gt inside pred
    assert answer_match("brownchair", ["brown chair"]) == (0, 1)  # spaces ignored
    assert answer_match("white", ["black"]) == (0, 0)
    # the first gt that matches either way decides: a later exact match does not upgrade it (LEO)
    assert answer_match("brown", ["dark brown", "brown"]) == (0, 1)
    assert answer_match("", ["anything"]) == (0, 1)  # an empty prediction is a relaxed match


def _items(pairs):
    return [Item(i, str(i), rec, text) for i, (rec, text) in enumerate(pairs)]


def test_scanqa_em_outcome_and_oracle():
    recs = [
        {"answers": ["brown chair", "chair"]},
        {"answers": ["On the left"]},
        {"answers": ["2"]},
        {"answers": ["white"]},
    ]
    texts = ["The brown chair.", "left", "two", "black"]
    out = scanqa_em(_items(zip(recs, texts)), Context(n_meta=4, n_answers=4))
    assert out.metric == "em" and out.value == pytest.approx(2 / 4)  # 'brown chair', 'two'
    assert out.extra["em_refined"] == pytest.approx(3 / 4)  # + 'left' inside 'onleft'
    assert [s["score"] for s in out.samples] == [1.0, 0.0, 1.0, 0.0]
    cleaned = ["brown chair", "left", "two", "black"]
    refs = [["brown chair", "chair"], ["on left"], ["two"], ["white"]]
    corpus, _ = caption_metrics(cleaned, refs, tokenize=False)
    assert out.extra["cider"] == pytest.approx(100 * corpus["cider"]) and out.extra["bleu1"] > 0
    oracle = scanqa_em(_items((r, r["answers"][0]) for r in recs), Context(n_meta=4, n_answers=4))
    assert oracle.value == 1.0 and oracle.extra["em_refined"] == 1.0


def test_sqa3d_em_per_type_and_oracle():
    recs = [
        {"answer": "yes", "question_type": 1},
        {"answer": "table", "question_type": 0},
        {"answer": "two", "question_type": 0},
    ]
    out = sqa3d_em(_items(zip(recs, ["Yes.", "the table", "3"])), Context(n_meta=3, n_answers=3))
    assert out.value == pytest.approx(2 / 3)
    assert out.extra["em_type0"] == pytest.approx(0.5) and out.extra["em_type1"] == 1.0
    oracle = sqa3d_em(_items((r, r["answer"]) for r in recs), Context(n_meta=3, n_answers=3))
    assert oracle.value == 1.0


def test_bad_answers_field_is_named():
    with pytest.raises(ValueError, match="record q7: answers must be strings"):
        scanqa_em(_items([({"question_id": "q7", "answers": [3]}, "x")]), Context(n_meta=1, n_answers=1))


def test_generation_whitespace_is_stripped_as_leo_strips_outputs():
    """A LAMM-style generation keeps the newline before ``###`` (official ``split('###')[0]``); LEO strips
    every generation before scoring (embodied-generalist @ 5e9a876, model/leo_agent.py ``txt.strip()``),
    while ``clean_answer`` alone trims only spaces: the newline must not turn a hit into a miss."""
    assert clean_answer("brown\n") == "brown\n"  # LEO's cleaning alone keeps it
    recs = [{"answers": ["brown"]}, {"answer": "left"}]
    qa = scanqa_em(_items([(recs[0], "Brown\n")]), Context(n_meta=1, n_answers=1))
    sqa = sqa3d_em(_items([(recs[1], "\n left \n")]), Context(n_meta=1, n_answers=1))
    assert (qa.value, qa.extra["em_refined"], sqa.value) == (1.0, 1.0, 1.0)
