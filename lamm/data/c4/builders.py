"""The gpt side of C4: one builder per task turns a neutral annotation into turns, answers written so the
official scorers parse them (boxes/points in ``[...]`` with 2 decimals, counts as a standalone number
token, options as ``(B)``, OCR words in double quotes). ``BUILDERS`` is the task table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamm.data.c4.draw import pick, randint, sample
from lamm.data.c4.questions import (
    HAIR_QS,
    SMILE_QS,
    caption_qs,
    classification3d_qs,
    classification_qs,
    counting_qs,
    detection3d_qs,
    detection_qs,
    fine_grained_qs,
    grounding3d_qs,
    keypoint_qs,
    locating_qs,
    ocr_qs,
)
from lamm.protocol.prompts import LETTERS, SECOND_PASS_SUFFIX, fmt_nums, options_text, plural, vqa_query

Turn = dict[str, str]


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def human(value: str) -> Turn:
    return {"from": "human", "value": value}


def gpt(value: str) -> Turn:
    return {"from": "gpt", "value": value}


# --------------------------------------------------------------------------- builders
def _classification(ann: dict, rng: Any) -> list[Turn]:
    label = ann["label"]
    a = pick(
        rng,
        [
            f"The category is {label}.",
            f"It is {article(label)} {label}.",
            f"This image shows {article(label)} {label}.",
        ],
    )
    return [human(pick(rng, classification_qs())), gpt(a)]


def _fine_grained(ann: dict, rng: Any) -> list[Turn]:
    label = ann["label"]
    a = pick(rng, [f"The fine-grained category is {label}.", f"This is a {label} scene.", f"It is {label}."])
    return [human(pick(rng, fine_grained_qs())), gpt(a)]


def _objects_text(parts: list[str]) -> str:
    return ", ".join(parts)


def _detection(ann: dict, rng: Any) -> list[Turn]:
    objs = ann["objects"]
    if not objs:
        return [human(pick(rng, detection_qs())), gpt("There are no objects in the image.")]
    core = _objects_text([f"{o['label']} {fmt_nums(o['bbox'])}" for o in objs])
    a = pick(rng, [core, core, f"The objects are: {core}."])
    return [human(pick(rng, detection_qs())), gpt(a)]


def _locating(ann: dict, rng: Any) -> list[Turn]:
    objs = ann["objects"]
    if not objs:
        return [human(pick(rng, locating_qs())), gpt("There are no objects in the image.")]
    core = _objects_text([f"{o['label']} {fmt_nums(o['point'])}" for o in objs])
    a = pick(rng, [core, core, f"The objects are at: {core}."])
    return [human(pick(rng, locating_qs())), gpt(a)]


def _counting(ann: dict, rng: Any) -> list[Turn]:
    label, n = ann["label"], int(ann["count"])
    pl = ann.get("plural") or plural(label)
    noun = label if n == 1 else pl
    verb = "is" if n == 1 else "are"
    # the number stands alone as a whitespace token: the official reader needs "3", not "3."
    a = pick(
        rng, [f"There {verb} {n} {noun} in the image.", f"There {verb} {n} {noun}.", f"I can see {n} {noun}."]
    )
    return [human(pick(rng, counting_qs(pl))), gpt(a)]


def _ocr(ann: dict, rng: Any) -> list[Turn]:
    words = list(ann["words"])
    quoted = [f'"{w}"' for w in words]
    if len(quoted) == 1:
        listed = quoted[0]
    else:
        listed = ", ".join(quoted[:-1]) + " and " + quoted[-1]
    noun = "word is" if len(words) == 1 else "words are"
    a = pick(rng, [f"The {noun} {listed}.", f"The image contains the text {listed}.", f"{listed}."])
    return [human(pick(rng, ocr_qs())), gpt(a)]


def _keypoints(ann: dict, rng: Any) -> list[Turn]:
    names = list(ann["joints"])
    k = randint(rng, 1, min(int(ann.get("max_turns", 3)), len(names)))
    conv: list[Turn] = []
    for name in sample(rng, names, k):
        pt = fmt_nums(ann["joints"][name])
        conv.append(human(pick(rng, keypoint_qs(name))))
        conv.append(
            gpt(pick(rng, [pt, f"The {name} is at {pt}.", f"The {name} key point is located at {pt}."]))
        )
    return conv


def _vqa_reply(ann: dict, rng: Any) -> str:
    """First-pass VQA answer. With a ``rationale`` (a sentence that ends with the answer's option text,
    e.g. "The cone is green."), that sentence: the official matcher scores it by its text step (the gold
    option and no other named), and the model need not map the answer to a letter. Without one, the
    letter, with or without the option text."""
    choices, ans = list(ann["choices"]), int(ann["answer"])
    if ann.get("rationale"):
        return str(ann["rationale"])
    letter = LETTERS[ans]
    return pick(rng, [f"The answer is ({letter}) {choices[ans]}.", f"The answer is ({letter})."])


def _vqa(ann: dict, rng: Any) -> list[Turn]:
    choices, q = list(ann["choices"]), ann["question"]
    query = pick(
        rng,
        [
            vqa_query(q, choices),
            vqa_query(q, choices),
            f"{q}\nOptions: {options_text(choices)}\n"
            + ("" if ann.get("rationale") else "Answer with the option's letter."),
        ],
    )
    return [human(query), gpt(_vqa_reply(ann, rng))]


def _vqa_answer(ann: dict, rng: Any) -> list[Turn]:
    """The official second VQA pass as a training sample: ``query + first answer + " ###\\nANSWER:"`` ->
    the option text, which the evaluator stores as ``first + "\\n The answer is green"``. Without such
    samples a model meets this layout for the first time at evaluation, and a second answer that differs
    from the first makes the whole answer wrong."""
    choices, q = list(ann["choices"]), ann["question"]
    query = vqa_query(q, choices) + _vqa_reply(ann, rng) + SECOND_PASS_SUFFIX
    return [human(query), gpt(str(choices[int(ann["answer"])]))]


def _caption(ann: dict, rng: Any) -> list[Turn]:
    return [human(pick(rng, caption_qs())), gpt(pick(rng, list(ann["captions"])))]


def _facial(ann: dict, rng: Any) -> list[Turn]:
    parts: list[tuple[str, str]] = []
    if "smile" in ann:
        a = (
            pick(rng, ["Yes, the person is smiling.", "Yes, the person is smiling happily."])
            if ann["smile"]
            else pick(rng, ["No, the person is not smiling.", "No, the person does not smile."])
        )
        parts.append((pick(rng, SMILE_QS), a))
    if "hair" in ann:
        h = ann["hair"]
        parts.append(
            (pick(rng, HAIR_QS), pick(rng, [f"The hair color is {h}.", f"The person has {h} hair."]))
        )
    if not parts:
        raise ValueError("facial annotation needs 'smile' and/or 'hair'")
    if len(parts) == 2 and randint(rng, 0, 1):
        parts.reverse()
    conv: list[Turn] = []
    for q, a in parts:
        conv += [human(q), gpt(a)]
    return conv


def _classification3d(ann: dict, rng: Any) -> list[Turn]:
    label = ann["label"]
    a = pick(rng, [f"The category is {label}.", f"It is {article(label)} {label}."])
    return [human(pick(rng, classification3d_qs())), gpt(a)]


def _detection3d(ann: dict, rng: Any) -> list[Turn]:
    objs = ann["objects"]
    if not objs:
        return [human(pick(rng, detection3d_qs())), gpt("There are no objects in the scene.")]
    core = _objects_text([f"{o['label']} {fmt_nums(o['bbox'])}" for o in objs])
    return [human(pick(rng, detection3d_qs())), gpt(pick(rng, [core, core, f"The objects are: {core}."]))]


def _grounding3d(ann: dict, rng: Any) -> list[Turn]:
    box = fmt_nums(ann["bbox"])
    a = pick(rng, [box, f"The object is at {box}.", f"Its bounding box is {box}."])
    return [human(pick(rng, grounding3d_qs(ann["expression"]))), gpt(a)]


BUILDERS: dict[str, Callable[[dict, Any], list[Turn]]] = {
    "classification": _classification,
    "fine_grained": _fine_grained,
    "detection": _detection,
    "locating": _locating,
    "counting": _counting,
    "ocr": _ocr,
    "keypoints": _keypoints,
    "vqa": _vqa,
    "caption": _caption,
    "facial": _facial,
    "classification3d": _classification3d,
    "detection3d": _detection3d,
    "grounding3d": _grounding3d,
    "vqa3d": _vqa,
    "vqa_answer": _vqa_answer,
    "vqa3d_answer": _vqa_answer,
}
