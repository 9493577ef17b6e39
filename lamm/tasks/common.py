"""Pieces several task files share: trivial baselines and ground-truth words."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from lamm.metrics.metrics3d import gt_box
from lamm.protocol.prompts import fmt_nums

LETTERS = "ABCDEFG"


def choice_words(raw: dict[str, Any]) -> str:
    """The gold option as the official GPT-metric prompt shows it: ``(C) leaf``."""
    k = raw["gt_choice"]
    return f"({LETTERS[k]}) {raw['gt_choices'][k]}"


def majority(
    field: str, words: Callable[[str], str] = str, pick: Callable[[Any], Any] = lambda v: v
) -> Callable:
    """Baseline: the most frequent value of ``field`` (``pick`` of it: the first of a list of answers)
    over the benchmark file (flatters the baseline)."""

    def build(load: Callable[[], Sequence[Any]], seed: int, key: str) -> Callable[[Any], str]:
        top = words(Counter(str(pick(r.raw[field])) for r in load()).most_common(1)[0][0])
        return lambda rec: top

    return build


def first(values: Sequence[Any]) -> Any:
    return values[0]


def answers_words(raw: dict[str, Any]) -> str:
    """The accepted answers of an open-ended QA record (ScanQA, SQA3D), as the judge is shown them."""
    return " | ".join(raw["answers"])


def boxes_text(boxes: Sequence[Sequence[float]]) -> str:
    """Zero or more 3D boxes as an answer writes them: ``[cx, ...], [cx, ...]``, or ``None``."""
    return ", ".join(fmt_nums(b) for b in boxes) or "None"


def constant(text: str) -> Callable:
    """Baseline: the same answer to every record."""
    return lambda load, seed, key: lambda rec: text


def random_choice(load: Callable[[], Sequence[Any]], seed: int, key: str) -> Callable[[Any], str]:
    """Baseline: a random option, fixed per (seed, dataset, record id)."""

    def answer(rec: Any) -> str:
        digest = hashlib.sha256(f"{seed}:{key}:{rec.id}".encode()).digest()
        return f"The answer is ({LETTERS[digest[0] % len(rec.raw['gt_choices'])]})."

    return answer


def mean_count(load: Callable[[], Sequence[Any]], seed: int, key: str) -> Callable[[Any], str]:
    records = load()
    mean = round(sum(int(r.raw["num"]) for r in records) / max(1, len(records)))
    return lambda rec: f"There are {mean} objects."


def mean_box(load: Callable[[], Sequence[Any]], seed: int, key: str) -> Callable[[Any], str]:
    boxes = [[float(v) for v in gt_box(r.raw)] for r in load()]  # any gt form the check accepts
    text = fmt_nums([sum(col) / max(1, len(boxes)) for col in zip(*boxes)])
    return lambda rec: text
