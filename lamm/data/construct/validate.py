"""Checks every generated conversation passes, LLM-written or template-written (one rule set).

A failure returns a short reason string (its first word is the category counted in the manifest).
"""

from __future__ import annotations

import re
from typing import Any

MAX_TURNS = 20
MAX_TURN_CHARS = 3000
MIN_DESCRIPTION_CHARS = 80

# A bracketed/parenthesised pair of decimals, e.g. [0.12, 0.4 or (0.5, 0.25): raw box or point coordinates.
RAW_COORDS = re.compile(r"[\[(]\s*-?\d*\.\d+\s*,\s*-?\d*\.\d+")
# Phrases that give away that the writer saw annotations rather than the image.
LEAKS = re.compile(
    r"\bannotat(?:ion|ions|ed)\b|\bbounding box(?:es)?\b|\bcoordinates?\b|\bthe (?:given|provided) "
    r"(?:description|captions?|context|information|text)\b|\bdescription (?:i was|you) (?:was )?given\b|"
    r"\b(?:i was|you) (?:were |was )?given\b|\bthe captions?\b|\bthe context\b|\bcategory: |\bknowledge: ",
    re.IGNORECASE,
)


def check_conversation(conv: Any, kind: str) -> str | None:
    """None when ``conv`` is usable for ``kind`` (a recipe kind or ``vision_task``), else the reason."""
    if not isinstance(conv, list) or len(conv) < 2:
        return "structure: fewer than two turns"
    if len(conv) > MAX_TURNS:
        return f"length: more than {MAX_TURNS} turns"
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or turn.get("from") != ("human", "gpt")[i % 2]:
            return f"structure: turn {i} breaks the human/gpt alternation"
        value = turn.get("value")
        if not isinstance(value, str) or not value.replace("<image>", "").strip():
            return f"empty: turn {i} is empty"
        if len(value) > MAX_TURN_CHARS:
            return f"length: turn {i} has {len(value)} characters (max {MAX_TURN_CHARS})"
    if conv[-1]["from"] != "gpt":
        return "structure: ends with a human turn"
    if kind == "vision_task":
        return None
    text = "\n".join(t["value"] for t in conv)
    if kind in ("daily_dialogue", "detailed_description") and RAW_COORDS.search(text):
        return "coordinates: raw coordinates in the text"
    m = LEAKS.search(text)
    if m:
        return f"leak: mentions {m.group(0).strip()!r}"
    if kind == "detailed_description" and len(conv[1]["value"]) < MIN_DESCRIPTION_CHARS:
        return f"length: description shorter than {MIN_DESCRIPTION_CHARS} characters"
    return None
