"""Instruction-tuning meta files (2D ``image`` / 3D ``pcl``), LAMM_FORMATS §1."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json_array, write_json_official

ROLES = ("human", "gpt")


@dataclass
class InstructSample:
    """One instruction sample. ``media_key`` is ``image`` (2D) or ``pcl`` (3D)."""

    id: str
    media_key: str
    media: str
    conversations: list[dict[str, str]]
    task_type: str = "normal"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"id": self.id, self.media_key: self.media, "conversations": self.conversations}
        rec["task_type"] = self.task_type
        rec.update(self.extra)
        return rec


def check_conversation(
    conv: Any, *, path: str | Path | None = None, index: int | None = None, record_id: Any = None
) -> None:
    """human/gpt turns starting with human, string values, at least one gpt turn.

    Any order after the first human turn is accepted, as the official trainer (``build_one_instance``)
    accepts it: every gpt turn is supervised and every human turn is prompt (see
    :func:`turn_order_note`). A conversation without a gpt turn is refused: the official trainer would
    take it and learn nothing from it."""

    def fail(msg: str) -> None:
        raise FormatError(path, msg, index=index, record_id=record_id, field="conversations")

    if not isinstance(conv, list) or not conv:
        fail("must be a non-empty list of turns")
    for t, turn in enumerate(conv):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            fail(f"turn {t} must be an object with 'from' and 'value'")
        if turn["from"] not in ROLES:
            fail(f"turn {t} has role {turn['from']!r}; only 'human' and 'gpt' are allowed")
        if not isinstance(turn["value"], str):
            fail(f"turn {t} value must be a string")
    if conv[0]["from"] != "human":
        fail("turn 0 is 'gpt' but the first turn must be 'human'")
    if not any(turn["from"] == "gpt" for turn in conv):
        fail("has no gpt turn, so nothing to learn from")


def turn_order_note(conv: list[dict[str, str]]) -> str | None:
    """A warning for a valid conversation whose turns do not alternate human/gpt, else None."""
    roles = [turn["from"] for turn in conv]
    if all(role == ROLES[t % 2] for t, role in enumerate(roles)):
        return None
    return (
        f"turns do not alternate ({', '.join(roles)}); accepted as the official trainer accepts them: "
        "each gpt turn is supervised, each human turn is prompt"
    )


def media_key_of(rec: dict[str, Any]) -> str | None:
    """``image`` (2D) or ``pcl`` (3D); None for entries the official loader skips (no vision key)."""
    return "image" if "image" in rec else "pcl" if "pcl" in rec else None


def check_instruct_record(path: str | Path, index: int, rec: dict[str, Any]) -> InstructSample | None:
    """Validate one instruction record; None when it has no vision key (skipped, as officially)."""
    key = media_key_of(rec)
    if key is None:
        return None
    rid = rec.get("id")
    if rid is not None and not isinstance(rid, (str, int)):
        raise FormatError(path, f"id must be a string, got {rid!r}", index=index, field="id")
    if "conversations" not in rec:
        raise FormatError(path, "missing field", index=index, record_id=rid, field="conversations")
    check_conversation(rec["conversations"], path=path, index=index, record_id=rid)
    if not isinstance(rec[key], str) or not rec[key]:
        raise FormatError(
            path, "media path must be a non-empty string", index=index, record_id=rid, field=key
        )
    task_type = rec.get("task_type", "normal")
    if not isinstance(task_type, str):
        raise FormatError(path, "task_type must be a string", index=index, record_id=rid, field="task_type")
    extra = {k: v for k, v in rec.items() if k not in ("id", key, "conversations", "task_type")}
    return InstructSample(str(rid), key, rec[key], rec["conversations"], task_type, extra)


def read_instruct(path: str | Path) -> list[InstructSample]:
    """Read and validate an instruction meta file. Entries without a vision key are skipped (official)."""
    samples = []
    for i, rec in enumerate(read_json_array(path)):
        sample = check_instruct_record(path, i, rec)
        if sample is not None:
            samples.append(sample)
    return samples


def write_instruct(path: str | Path, samples: list[InstructSample]) -> None:
    write_json_official(path, [s.to_json() for s in samples])
