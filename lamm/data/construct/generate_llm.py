"""C1-C3 by an LLM: prompt with our versioned system message + few-shot examples + the item's context,
parse the reply into a conversation, validate it, re-sample (new seed) a bounded number of times."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lamm.data.construct.context import build_context
from lamm.data.construct.prompts import DESCRIBE_2D, DESCRIBE_3D, PROMPTS
from lamm.data.construct.sources import Item
from lamm.data.construct.validate import check_conversation
from lamm.llm_client import LLMClient, LLMError

ROLE = re.compile(
    r"^\s*[*#]*\s*(human|user|question|gpt|assistant|answer)\s*[*]*\s*:\s*[*]*\s*(.*)$", re.IGNORECASE
)
HUMAN_ROLES = ("human", "user", "question")


class ParseError(ValueError):
    pass


def parse_dialogue(text: str) -> list[dict[str, str]]:
    """``Human:``/``GPT:`` lines (also User/Assistant, Question/Answer) or a JSON turn list -> turns."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            raise ParseError("format: reply looks like JSON but does not parse") from None
        turns = []
        for t in data:
            if not isinstance(t, dict):
                raise ParseError("format: JSON turns must be objects")
            role = str(t.get("from", t.get("role", ""))).lower()
            turns.append(
                {
                    "from": "human" if role in HUMAN_ROLES else "gpt",
                    "value": str(t.get("value", t.get("content", ""))).strip(),
                }
            )
        return turns
    turns: list[dict[str, str]] = []
    for line in stripped.splitlines():
        m = ROLE.match(line)
        if m:
            role = "human" if m.group(1).lower() in HUMAN_ROLES else "gpt"
            turns.append({"from": role, "value": m.group(2).strip()})
        elif turns:
            if line.strip():
                turns[-1]["value"] = (turns[-1]["value"] + "\n" + line.strip()).strip()
        elif line.strip():
            raise ParseError("format: text before the first Human:/GPT: line")
    if not turns:
        raise ParseError("format: no Human:/GPT: turns")
    return turns


def parse_description(text: str) -> str:
    body = text.strip()
    body = re.sub(r"^\s*(?:description|gpt|assistant)\s*:\s*", "", body, flags=re.IGNORECASE)
    if any(ROLE.match(line) for line in body.splitlines()):
        raise ParseError("format: a dialogue where a description was asked for")
    return "\n\n".join(p.strip() for p in re.split(r"\n\s*\n", body) if p.strip())


def to_conversation(kind: str, text: str, item: Item, rng: Any) -> list[dict[str, str]]:
    """Reply text -> LAMM conversation (2D: first human turn starts with ``<image>\\n``)."""
    if kind == "detailed_description":
        bank = DESCRIBE_3D if item.dim == "3d" else DESCRIBE_2D
        conv = [
            {"from": "human", "value": bank[rng.randrange(len(bank))]},
            {"from": "gpt", "value": parse_description(text)},
        ]
    else:
        conv = parse_dialogue(text)
    if item.dim == "2d" and conv and conv[0]["from"] == "human":
        conv[0] = {"from": "human", "value": "<image>\n" + conv[0]["value"]}
    return conv


@dataclass
class Outcome:
    conversation: list[dict[str, str]] | None
    reasons: list[str] = field(default_factory=list)
    final: bool = True  # False: an API failure, worth retrying on --resume


def llm_conversation(
    client: LLMClient,
    kind: str,
    item: Item,
    rng: Any,
    *,
    seed: int,
    format_retries: int,
    params: dict[str, Any],
) -> Outcome:
    """Ask, parse, validate; on a bad reply ask again with the next seed. Every failure is reported."""
    media = "point cloud" if item.dim == "3d" else "image"
    messages = PROMPTS[kind].messages(build_context(item), media)
    reasons: list[str] = []
    for attempt in range(format_retries + 1):
        try:
            reply = client.chat(messages, seed=seed + attempt, **params)
        except LLMError as exc:
            return Outcome(None, reasons + [f"api: {exc}"], final=False)
        try:
            conv = to_conversation(kind, reply.text, item, rng)
        except ParseError as exc:
            reasons.append(str(exc))
            continue
        reason = check_conversation(conv, kind)
        if reason is None:
            return Outcome(conv, reasons)
        reasons.append(reason)
    return Outcome(None, reasons)
