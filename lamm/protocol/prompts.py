"""Verbatim LAMM prompt strings (see NOTICE.md), checked against their recorded SHA-256 on first use."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

# Official two-pass VQA inference (LAMM_FORMATS §5.4): the second pass asks ``query + first + SECOND_PASS_SUFFIX``
# and the stored answer is ``first + ANSWER_JOIN + second``. Shared by the eval runner and the C4 templates
# that teach a model this layout.
SECOND_PASS_SUFFIX = " ###\nANSWER:"
ANSWER_JOIN = "\n The answer is "
LETTERS = "ABCDEF"  # option letters of the VQA query (3D multiple choice goes up to F)


@functools.cache
def prompts() -> dict[str, Any]:
    """All prompt groups, e.g. ``prompts()["eval_2d_v1_constants"]["DETECTION_SYS"]``."""
    data = json.loads(resources.files("lamm.protocol").joinpath("prompts.json").read_text("utf-8"))
    for key, (length, digest) in data["_sha256"].items():
        group, name = key.split(".", 1)
        text = data[group][name]
        if len(text) != length or hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
            raise RuntimeError(f"lamm/protocol/prompts.json: string {key!r} does not match its recorded hash")
    return data


def prompt(group: str, name: str) -> str:
    """One verbatim string, e.g. ``prompt("eval_2d_v1_constants", "CNT_QA")``."""
    try:
        return prompts()[group][name]
    except KeyError as exc:
        raise KeyError(f"no LAMM prompt {group}.{name}") from exc


def train_system_message(task_type: str, version: str = "v1") -> str:
    """Training system message for an instruction sample's ``task_type`` (absent -> ``normal``)."""
    table = prompts()[f"train_task_system_messages_{version}"]
    if task_type in table:
        return table[task_type]
    # ChEF-era task types (e.g. keypoint_detection) exist only in the latest table.
    latest = prompts()["train_task_system_messages_latest"]
    if task_type in latest:
        return latest[task_type]
    raise KeyError(f"unknown task_type {task_type!r}; known: {sorted(set(table) | set(latest))}")


# ------------------------------------------------------------------ query layout (benchmark + C4)


def plural(word: str) -> str:
    """English plural of a simple noun (enough for class names: box -> boxes, cross -> crosses)."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def fmt_nums(values: Sequence[float]) -> str:
    """``[0.12, 0.30, 0.45, 0.62]``: the bracket form every official box/point parser reads."""
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def options_text(choices: Sequence[str]) -> str:
    """The official VQA option block: ``(A) red (B) blue``."""
    if len(choices) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} options, got {len(choices)}")
    return " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))


def vqa_query(question: str, choices: Sequence[str]) -> str:
    """Benchmark VQA query shape ``"<question> \\nOptions: (A) .. (B) ..\\n"`` (LAMM_FORMATS §2.1)."""
    return f"{question} \nOptions: {options_text(choices)}\n"
