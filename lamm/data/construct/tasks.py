"""Which C4 tasks an item supports, and the task's annotation dict (``lamm.data.c4`` API) from an item."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lamm.data.c4 import TASKS_3D


def _center(b: list[float]) -> list[float]:
    return [round((b[0] + b[2]) / 2, 3), round((b[1] + b[3]) / 2, 3)]


def task_ann(task: str, ann: dict[str, Any], dim: str, rng: Any) -> dict[str, Any] | None:
    """The neutral annotation for ``task``, or None when ``ann`` cannot support it."""
    if (task in TASKS_3D) != (dim == "3d"):
        return None
    objs = ann.get("objects") or []
    if task in ("classification", "fine_grained", "classification3d"):
        return {"label": ann["label"]} if ann.get("label") else None
    if task in ("detection", "detection3d"):
        return {"objects": objs} if objs else None
    if task == "locating":
        if ann.get("points"):
            return {"objects": ann["points"]}
        return (
            {"objects": [{"label": o["label"], "point": _center(o["bbox"])} for o in objs]} if objs else None
        )
    if task == "counting":
        if ann.get("count"):
            return dict(ann["count"])
        labelled = [p["label"] for p in ann.get("points") or []] or [o["label"] for o in objs]
        if not labelled:
            return None
        label, n = sorted(Counter(labelled).items(), key=lambda kv: (-kv[1], kv[0]))[0]
        return {"label": label, "count": n}
    if task == "ocr":
        return {"words": ann["words"]} if ann.get("words") else None
    if task == "keypoints":
        return {"joints": ann["joints"]} if ann.get("joints") else None
    if task in ("vqa", "vqa3d", "vqa_answer", "vqa3d_answer"):  # *_answer: the second inference pass
        qs = [q for q in ann.get("vqa") or [] if q.get("choices")]
        return dict(qs[rng.randrange(len(qs))]) if qs else None
    if task == "caption":
        return {"captions": ann["captions"]} if ann.get("captions") else None
    if task == "facial":
        out = {k: ann[k] for k in ("smile", "hair") if k in ann}
        return out or None
    if task == "grounding3d":
        refs = ann.get("referring") or []
        return dict(refs[rng.randrange(len(refs))]) if refs else None
    return None
