"""After generation: filters (length, language), de-duplication, train/val split by media, shuffling.

Deterministic given the seed, so an interrupted-and-resumed build writes the same files as a clean one.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from typing import Any

from lamm.data.construct.recipe import PostSpec

_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def is_language(text: str, language: str) -> bool:
    """``en``: at least 90 % of the letters are Latin (a cheap check against replies in another script)."""
    if not language:
        return True
    if language != "en":
        raise ValueError(f"language filter supports 'en' or '' (off), got {language!r}")
    letters = _LETTER.findall(text)
    return not letters or len(_LATIN.findall(text)) >= 0.9 * len(letters)


def filter_reason(rec: dict[str, Any], post: PostSpec) -> str | None:
    turns = rec["conversations"]
    for t in turns:
        if len(t["value"]) > post.max_chars:
            return "too_long"
        if t["from"] == "gpt" and len(t["value"].strip()) < post.min_chars:
            return "too_short"
    if not is_language(" ".join(t["value"] for t in turns), post.language):
        return "language"
    return None


def _norm(rec: dict[str, Any]) -> str:
    media = rec.get("image", rec.get("pcl"))
    text = "\x1f".join(" ".join(t["value"].lower().split()) for t in rec["conversations"])
    return f"{media}\x1e{rec.get('task_type')}\x1e{text}"


def is_val(media: str, seed: int, ratio: float) -> bool:
    """Held out by a hash of the media path: all samples of an image land on the same side."""
    if ratio <= 0:
        return False
    h = int.from_bytes(hashlib.sha256(f"{seed}|{media}".encode()).digest()[:8], "big")
    return h / 2**64 < ratio


def postprocess(
    records: list[dict[str, Any]], post: PostSpec, seed: int
) -> tuple[list, list, dict[str, Any]]:
    """records (in job order) -> (train, val, report of what was dropped)."""
    dropped: Counter[str] = Counter()
    seen: set[str] = set()
    kept = []
    for rec in records:
        reason = filter_reason(rec, post)
        if reason is None and post.dedup:
            key = _norm(rec)
            reason = "duplicate" if key in seen else None
            seen.add(key)
        if reason:
            dropped[reason] += 1
        else:
            kept.append(rec)
    train = [r for r in kept if not is_val(r.get("image", r.get("pcl")), seed, post.val_ratio)]
    val = [r for r in kept if is_val(r.get("image", r.get("pcl")), seed, post.val_ratio)]
    if post.shuffle:
        random.Random(seed).shuffle(train)
        random.Random(seed + 1).shuffle(val)
    return train, val, {"dropped": dict(sorted(dropped.items()))}
