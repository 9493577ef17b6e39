"""C4 templates: every response parses back to the annotation it came from, for many paraphrase draws."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from lamm.data.c4 import TASK_TYPES, c4_conversation
from lamm.data.c4.builders import BUILDERS
from lamm.formats.instruct import check_conversation
from lamm.protocol import prompt
from lamm.protocol.prompts import plural, vqa_query

NUM = r"-?\d+\.\d+"


def brackets(text: str) -> list[list[float]]:
    return [[float(v) for v in m.split(", ")] for m in re.findall(r"\[([^\]]*)\]", text)]


def labelled(text: str) -> list[tuple[str, list[float]]]:
    return [
        (lab, [float(v) for v in nums.split(", ")]) for lab, nums in re.findall(r"(\w+) \[([^\]]*)\]", text)
    ]


ANNS = {
    "classification": {"label": "circle"},
    "fine_grained": {"label": "forest"},
    "detection": {
        "objects": [
            {"label": "circle", "bbox": [0.125, 0.3, 0.45, 0.625]},
            {"label": "star", "bbox": [0.5, 0.1, 0.9, 0.4]},
        ]
    },
    "locating": {
        "objects": [{"label": "square", "point": [0.25, 0.4]}, {"label": "cross", "point": [0.7, 0.55]}]
    },
    "counting": {"label": "cross", "count": 3},
    "ocr": {"words": ["open", "exit"]},
    "keypoints": {"joints": {"right ankle": [0.41, 0.88], "head top": [0.5, 0.05], "neck": [0.5, 0.2]}},
    "vqa": {"question": "What color is the circle?", "choices": ["red", "blue", "green"], "answer": 1},
    "caption": {"captions": ["A red circle on a gray background.", "A gray picture with a red circle."]},
    "facial": {"smile": False, "hair": "blond"},
    "classification3d": {"label": "cone"},
    "detection3d": {"objects": [{"label": "box", "bbox": [0.5, -1.25, 0.3, 0.4, 0.4, 0.6]}]},
    "grounding3d": {
        "expression": "the red sphere left of the blue box.",
        "bbox": [-1.0, 0.5, 0.25, 0.5, 0.5, 0.5],
    },
    "vqa3d": {
        "question": "What shape is left of the cone?",
        "choices": ["box", "sphere", "cylinder", "cone", "pyramid", "torus"],
        "answer": 5,
    },
}
ANNS["vqa_answer"] = ANNS["vqa"]
ANNS["vqa3d_answer"] = ANNS["vqa3d"]


@pytest.mark.parametrize("task", sorted(BUILDERS))
def test_responses_parse_back(task: str) -> None:
    ann = ANNS[task]
    seen_queries = set()
    for seed in range(40):
        conv = c4_conversation(task, ann, np.random.default_rng(seed))
        check_conversation(conv)
        first = conv[0]["value"]
        assert first.startswith("<image>\n") == (
            task not in ("classification3d", "detection3d", "grounding3d", "vqa3d", "vqa3d_answer")
        )
        seen_queries.add(first)
        answers = [t["value"] for t in conv if t["from"] == "gpt"]
        text = " ".join(answers)
        if task in ("classification", "classification3d", "fine_grained"):
            assert re.search(rf"\b{ann['label']}\b", text)
        elif task in ("detection", "detection3d"):
            got = labelled(text)
            assert got == [(o["label"], pytest.approx(o["bbox"], abs=0.0051)) for o in ann["objects"]]
        elif task == "locating":
            assert labelled(text) == [
                (o["label"], pytest.approx(o["point"], abs=0.0051)) for o in ann["objects"]
            ]
        elif task == "counting":
            # the official reader: first whitespace token that isdigit
            tok = next(t for t in text.split() if t.isdigit())
            assert int(tok) == 3 and "crosses" in text
        elif task == "ocr":
            assert text.split('"')[1::2] == ann["words"]
        elif task == "keypoints":
            for q, a in zip(conv[0::2], conv[1::2]):
                name = next(n for n in ann["joints"] if n in q["value"])
                assert brackets(a["value"]) == [pytest.approx(ann["joints"][name], abs=0.0051)]
        elif task in ("vqa", "vqa3d"):
            m = re.findall(r"The answer is \(?([A-F])\)?\W", text + " ")
            assert m == ["BF"[task == "vqa3d"]]
        elif task in ("vqa_answer", "vqa3d_answer"):
            # the query is the first pass's query + its answer + the official second-pass suffix
            assert first.endswith(" ###\nANSWER:") and "Options: (A) " in first
            assert text == ann["choices"][ann["answer"]]
        elif task == "caption":
            assert text in ann["captions"]
        elif task == "facial":
            assert len(answers) == 2
            smile_a = next(a for a in answers if "smil" in a)
            assert smile_a.startswith("No") and " not " in smile_a
            assert any(re.search(r"\bblond\b", a) for a in answers)
        elif task == "grounding3d":
            assert brackets(text) == [pytest.approx(ann["bbox"], abs=0.0051)]
            assert ann["expression"] in first or "red sphere" in first
    assert len(seen_queries) >= 2, "paraphrases should vary with the rng"


def test_official_queries_are_in_the_banks() -> None:
    e = "eval_2d_v1_constants"
    qs = set()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        qs.add(c4_conversation("classification", ANNS["classification"], rng)[0]["value"])
        qs.add(c4_conversation("counting", {"label": "circle", "count": 2}, rng)[0]["value"])
        qs.add(c4_conversation("detection", ANNS["detection"], rng)[0]["value"])
    assert "<image>\n" + prompt(e, "CLASSIFICATION_QS") in qs
    assert "<image>\n" + prompt(e, "CNT_QA").format("circles") + " " + prompt(e, "CNT_INS") in qs
    assert "<image>\n" + prompt(e, "DETECTION_QS") + prompt(e, "DETECTION_INS") in qs


def test_deterministic_and_random_module_rng() -> None:
    a = c4_conversation("keypoints", ANNS["keypoints"], np.random.default_rng(7))
    b = c4_conversation("keypoints", ANNS["keypoints"], np.random.default_rng(7))
    assert a == b
    c = c4_conversation("keypoints", ANNS["keypoints"], random.Random(7))
    check_conversation(c)


def test_counting_singular_and_smile_yes() -> None:
    for seed in range(10):
        conv = c4_conversation("counting", {"label": "box", "count": 1}, np.random.default_rng(seed))
        assert " 1 box" in conv[1]["value"]
        conv = c4_conversation("facial", {"smile": True}, np.random.default_rng(seed))
        assert conv[1]["value"].startswith("Yes") and " not " not in conv[1]["value"]


def test_helpers_and_errors() -> None:
    assert [plural(w) for w in ["box", "cross", "circle", "body"]] == [
        "boxes",
        "crosses",
        "circles",
        "bodies",
    ]
    assert vqa_query("Q?", ["a", "b"]) == "Q? \nOptions: (A) a (B) b\n"
    assert set(TASK_TYPES) == set(BUILDERS)
    with pytest.raises(KeyError, match="unknown C4 task"):
        c4_conversation("nope", {}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="missing key 'label'"):
        c4_conversation("classification", {}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at most 6 options"):
        vqa_query("Q?", list("abcdefg"))


def test_official_parsers_read_every_response() -> None:
    """The project's implementation of the official parsers recovers the annotation from each response."""
    from lamm.metrics import parse as P

    for seed in range(30):
        rng = np.random.default_rng(seed)

        def answer(task: str, ann: dict, rng: np.random.Generator = rng) -> str:
            return c4_conversation(task, ann, rng)[-1]["value"]

        boxes = P.parse_boxes(answer("detection", ANNS["detection"]))
        assert not boxes.failed
        assert [list(b) for b in boxes.value] == [
            pytest.approx(o["bbox"], abs=0.0051) for o in ANNS["detection"]["objects"]
        ]
        pts = P.parse_points(answer("locating", ANNS["locating"])).value
        assert [list(p) for p in pts] == [
            pytest.approx(o["point"], abs=0.0051) for o in ANNS["locating"]["objects"]
        ]
        for n in (0, 1, 4, 6, 12):
            assert P.parse_count(answer("counting", {"label": "star", "count": n})).value == n
        assert P.parse_words(answer("ocr", ANNS["ocr"])).value == ["open", "exit"]
        vqa = answer("vqa", ANNS["vqa"])
        assert P.match_option(vqa, 1, ANNS["vqa"]["choices"]).value is True
        assert P.match_option(vqa, 0, ANNS["vqa"]["choices"]).value is False
        vqa3d = answer("vqa3d", ANNS["vqa3d"])
        assert P.match_option(vqa3d, 5, ANNS["vqa3d"]["choices"], letters="ABCDEF").value is True
        assert P.parse_smile(answer("facial", {"smile": True})).value == "1"
        assert P.parse_smile(answer("facial", {"smile": False})).value == "-1"
        b3 = P.parse_boxes3d(answer("detection3d", ANNS["detection3d"])).value
        assert [list(b) for b in b3] == [pytest.approx(ANNS["detection3d"]["objects"][0]["bbox"], abs=0.0051)]
        g3 = P.parse_boxes3d(answer("grounding3d", ANNS["grounding3d"])).value
        assert [list(b) for b in g3] == [pytest.approx(ANNS["grounding3d"]["bbox"], abs=0.0051)]
        kp = c4_conversation("keypoints", {"joints": {"neck": [0.5, 0.2]}}, rng)[1]["value"]
        assert [list(p) for p in P.parse_points(kp).value] == [pytest.approx([0.5, 0.2])]


@pytest.mark.parametrize("dataset", ["SQAimage", "ScanQA_multiplechoice"])
def test_vqa_two_pass_training_layout_scores_as_official(dataset: str) -> None:
    """The first-pass reply (a rationale naming the option) and the second-pass sample, put through the
    eval runner's own two-pass prompt code, give the exact second prompt and a stored answer the official
    matcher scores by its text step: right for the gold option, wrong for any other."""
    from lamm.bench.eval.prompts import assemble, second_prompts
    from lamm.formats.benchmark import BenchRecord
    from lamm.metrics.parse import Parsed, match_option
    from lamm.tasks import find_dataset

    is3d = dataset.startswith("Scan")
    ann = {"question": "What color is the cone?", "choices": ["red", "blue", "green", "white"], "answer": 2,
           "rationale": "The cone is green."}  # fmt: skip
    first_task, second_task = ("vqa3d", "vqa3d_answer") if is3d else ("vqa", "vqa_answer")
    reply = c4_conversation(first_task, ann, np.random.default_rng(0))[1]["value"]
    assert reply == "The cone is green."
    second = c4_conversation(second_task, ann, np.random.default_rng(0), placeholder=False)
    spec = find_dataset(dataset)
    record = BenchRecord(0, "0", "x.png", vqa_query(ann["question"], ann["choices"]), {})
    assert second[0]["value"] == second_prompts(spec, record, [reply])[0].query
    stored = assemble(spec, [reply], [second[1]["value"]])
    assert stored == "The cone is green.\n The answer is green"
    letters = "ABCDEF" if is3d else "ABCDE"
    assert match_option(stored, 2, ann["choices"], letters) == Parsed(True, "text", False)
    assert match_option(stored, 1, ann["choices"], letters).value is False
    # without a rationale the reply keeps the letter, and the stored answer still names one option
    plain = {k: v for k, v in ann.items() if k != "rationale"}
    reply = c4_conversation(first_task, plain, np.random.default_rng(0))[1]["value"]
    second = c4_conversation(second_task, plain, np.random.default_rng(0), placeholder=False)[1]["value"]
    assert match_option(assemble(spec, [reply], [second]), 2, ann["choices"], letters).value is True
