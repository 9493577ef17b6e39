"""The text an LLM (or the offline template writer) sees about one image or point cloud.

Built only from annotations: captions, objects with normalised boxes, simple spatial relations,
class label + knowledge text, attributes, OCR words, counts, questions. Deterministic for an item.
"""

from __future__ import annotations

from typing import Any

from lamm.data.construct.sources import Item

MAX_OBJECTS = 30
MAX_RELATIONS = 8


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}".rstrip("0").rstrip(".") if v else "0" for v in values) + "]"


def relations(objects: list[dict[str, Any]], limit: int = MAX_RELATIONS) -> list[str]:
    """Plain-language pairwise relations from 2D boxes (centre offsets of clearly separated objects)."""
    out: list[str] = []
    objs = objects[:MAX_OBJECTS]
    for i, a in enumerate(objs):
        for b in objs[i + 1 :]:
            if a["label"] == b["label"]:
                continue
            ax, ay = (a["bbox"][0] + a["bbox"][2]) / 2, (a["bbox"][1] + a["bbox"][3]) / 2
            bx, by = (b["bbox"][0] + b["bbox"][2]) / 2, (b["bbox"][1] + b["bbox"][3]) / 2
            if abs(ax - bx) >= abs(ay - by) and abs(ax - bx) > 0.15:
                out.append(f"the {a['label']} is {'left' if ax < bx else 'right'} of the {b['label']}")
            elif abs(ay - by) > 0.15:
                out.append(f"the {a['label']} is {'above' if ay < by else 'below'} the {b['label']}")
            if len(out) >= limit:
                return out
    return out


def build_context(item: Item) -> str:
    ann, lines = item.ann, []
    if ann.get("captions"):
        lines.append("Captions:")
        lines += [f"- {c}" for c in ann["captions"]]
    if ann.get("label"):
        lines.append(f"Category: {ann['label']}")
    if ann.get("knowledge"):
        lines.append(f"Knowledge: {ann['knowledge']}")
    objs = ann.get("objects") or []
    if objs:
        if item.dim == "3d":
            lines.append(
                "Objects (boxes as [center x, center y, center z, length, width, height] in metres):"
            )
        else:
            lines.append("Objects (boxes as [x1, y1, x2, y2], normalised to 0-1, origin at the top left):")
        lines += [f"- {o['label']}: {_fmt(o['bbox'])}" for o in objs[:MAX_OBJECTS]]
        if len(objs) > MAX_OBJECTS:
            lines.append(f"- ... and {len(objs) - MAX_OBJECTS} more objects")
        if item.dim == "2d":
            rel = relations(objs)
            if rel:
                lines.append("Relations:")
                lines += [f"- {r}" for r in rel]
    if ann.get("points") and not objs:
        lines.append("Object centres ([x, y], normalised to 0-1):")
        lines += [f"- {p['label']}: {_fmt(p['point'])}" for p in ann["points"][:MAX_OBJECTS]]
    if ann.get("count"):
        c = ann["count"]
        lines.append(f"Count: {c['count']} {c['label']}")
    if ann.get("words"):
        lines.append("Text in the image: " + ", ".join(f'"{w}"' for w in ann["words"]))
    if ann.get("qa"):
        lines.append("Questions about the image:")
        lines += [f"- {q['question']} (answer: {q['answer']})" for q in ann["qa"][:5]]
    if ann.get("attributes"):
        lines.append("Attributes: " + ", ".join(ann["attributes"]))
    if "smile" in ann:
        lines.append(f"Smiling: {'yes' if ann['smile'] else 'no'}")
    if ann.get("hair"):
        lines.append(f"Hair colour: {ann['hair']}")
    if ann.get("joints"):
        lines.append("Visible body key points: " + ", ".join(ann["joints"]))
    if ann.get("referring"):
        lines.append("Referring expressions:")
        lines += [f"- {r['expression']}" for r in ann["referring"][:5]]
    if ann.get("vqa"):
        lines.append("Questions:")
        lines += [f"- {q['question']} (answer: {q['choices'][q['answer']]})" for q in ann["vqa"][:5]]
    return "\n".join(lines)
