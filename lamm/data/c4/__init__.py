"""C4 vision-task dialogue from templates: one neutral annotation dict -> one LAMM conversation.

Every response is derived from the annotation alone and written so the official scorers parse it
(boxes/points in ``[...]`` with 2 decimals, counts as a standalone number token, options as ``(B)``,
OCR words in double quotes). The official benchmark query of each task is one entry of its paraphrase
bank, so a model trained on these dialogues has seen the exact benchmark wording.

Annotations (coordinates normalised to 0-1, see docs/architecture.md "C4 templates"):
classification/fine_grained ``{label}``; detection ``{objects: [{label, bbox: [x1, y1, x2, y2]}]}``;
counting ``{label, count[, plural]}``; ocr ``{words}``; keypoints ``{joints: {name: [x, y]}[, max_turns]}``;
locating ``{objects: [{label, point: [x, y]}]}``; vqa / vqa3d ``{question, choices, answer[, rationale]}``
(vqa_answer / vqa3d_answer: the same annotation as the official second inference pass, see ``builders._vqa_answer``);
caption ``{captions}``; facial ``{smile: bool, hair: str}`` (either key may be absent);
detection3d ``{objects: [{label, bbox: [cx, cy, cz, dx, dy, dz]}]}``; grounding3d ``{expression, bbox}``;
classification3d ``{label}``.

``rng`` is a ``numpy.random.Generator`` (or ``random.Random``); the same rng state gives the same
conversation. 2D conversations start with ``"<image>\\n"``; 3D ones carry no placeholder.

Here: the entry point and the task table; ``questions`` (human turns), ``builders`` (gpt turns and
``BUILDERS``), ``draw`` (rng helpers).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from lamm.data.c4.builders import BUILDERS, Turn, human

# C4 task -> official instruction task_type (system message key; LAMM_FORMATS §1.3).
TASK_TYPES: dict[str, str] = {
    "classification": "classification",
    "fine_grained": "classification",
    "facial": "classification",
    "detection": "detection",
    "locating": "detection",
    "counting": "counting",
    "vqa": "VQA",
    "ocr": "VQA",
    "caption": "description",
    "keypoints": "keypoint_detection",
    "classification3d": "classification3d",
    "detection3d": "detection3d",
    "grounding3d": "visual_grounding3d",
    "vqa3d": "VQA3d",
    "vqa_answer": "VQA",
    "vqa3d_answer": "VQA3d",
}
TASKS_3D = ("classification3d", "detection3d", "grounding3d", "vqa3d", "vqa3d_answer")


NUMERIC_KEYS = ("bbox", "point", "points", "count", "keypoints", "box", "center", "size")


def non_finite(value: Any, where: str = "annotation") -> str | None:
    """Where ``value`` (an item's annotation) holds a NaN/inf number or a number given as text in a
    box, point, count or keypoint; None when every number is finite."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value}"
    if isinstance(value, dict):
        for k, v in value.items():
            if k in NUMERIC_KEYS and isinstance(v, str):
                return f"{where}.{k} is text ({v[:40]!r}), not a number"
            if (found := non_finite(v, f"{where}.{k}")) is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if (found := non_finite(v, f"{where}[{i}]")) is not None:
                return found
    return None


def c4_conversation(
    task: str, ann: dict[str, Any], rng: Any, *, placeholder: bool | None = None
) -> list[Turn]:
    """A C4 conversation for ``task`` from the neutral annotation ``ann``, paraphrases drawn from ``rng``.

    ``placeholder`` (default: True for 2D tasks, False for 3D) prefixes the first human turn with
    ``"<image>\\n"`` as the official 2D instruction files do.
    """
    if task not in BUILDERS:
        raise KeyError(f"unknown C4 task {task!r}; known: {sorted(BUILDERS)}")
    if (found := non_finite(ann)) is not None:  # never "nan, 0.04" in training text
        raise ValueError(f"non-finite number: {found}")
    try:
        conv = BUILDERS[task](ann, rng)
    except KeyError as exc:
        raise ValueError(f"C4 task {task!r}: annotation is missing key {exc.args[0]!r}: {ann!r}") from None
    if placeholder is None:
        placeholder = task not in TASKS_3D
    if placeholder:
        conv[0] = human("<image>\n" + conv[0]["value"])
    return conv


def task_type(task: str) -> str:
    """The official instruction ``task_type`` for a C4 task."""
    return TASK_TYPES[task]


def templates_sha256() -> str:
    """SHA-256 over this package's source files (sorted by name): what a build's C4 text depends on, so a
    manifest tells builds made with other templates apart."""
    h = hashlib.sha256()
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()
