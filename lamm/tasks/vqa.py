"""The multiple-choice VQA family (SQAimage, AI2D; ScanQA reuses its pieces): two-pass prompting."""

from collections.abc import Callable
from typing import Any

from lamm.protocol.prompts import vqa_query


def mini_record(question: str) -> Callable[[Any, Any], dict]:
    """LAMM-Mini record from the item's ``question`` method (``sqa_question``, ``ai2d_question``...)."""

    def record(item: Any, rng: Any) -> dict:
        q = getattr(item, question)(rng)
        return {
            "query": vqa_query(q["question"], q["choices"]),
            "gt_choice": q["answer"],
            "gt_choices": q["choices"],
        }

    return record


def oracle(rec: dict, size: Any, answer: Callable) -> str:
    return answer("vqa", {"question": "", "choices": rec["gt_choices"], "answer": rec["gt_choice"]})
