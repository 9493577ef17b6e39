"""LAMM-Mini's image-text corpus for pre-training the ``tiny`` preset's vision tower.

The paper's model reads a CLIP pre-trained on hundreds of millions of images; the tiny tower has only
what LAMM-Mini gives it. On the ~2,000 instruction images it memorises them (single-shape test accuracy
0.3-0.4 over 6 shapes); on ~10,000 fresh scenes, with every patch told which shape covers it, it learns
shapes and colours in a few CPU minutes (docs/training.md, session 4). So LAMM-Mini writes such a corpus
beside the instruction data, disjoint from the benchmark images: ``2D_Pretrain/meta_file/tower_pretrain.json``
(official 2D instruction schema, C4 detection layout with relation + colour + shape labels, then the object count)
and ``2D_Pretrain/images/``. Only tower pre-training reads it (``tiny.encoder_pretrain_files``).
"""

from __future__ import annotations

from pathlib import Path

from lamm.data.c4 import c4_conversation
from lamm.data.mini import world2d as W
from lamm.data.mini.common import Stats, pixels_hash, record_rng, save_png
from lamm.formats.jsonio import write_json_official
from lamm.progress import progress_bar

# The scene kinds the benchmark's shape tasks show, in equal parts: single shapes (classification),
# 1-3 shape scenes (detection, SQAimage), outlined diagrams (AI2D) and counting scenes (FSC147).
KINDS = (("single", W.make_single), ("shapes", W.make_shapes), ("diagram", W.make_diagram), ("counting", W.make_counting))  # fmt: skip


def extremes(shapes: list[W.Shape], size: int) -> dict[int, list[str]]:
    """Per shape index, the words that single it out among the others with a clear margin: ``largest``,
    ``smallest`` (radius ratio > 1.2), ``left``, ``right``, ``top``, ``bottom`` (centre 15% of the
    image beyond the next one): the relations AI2D-style questions ask about."""
    out: dict[int, list[str]] = {i: [] for i in range(len(shapes))}
    if len(shapes) < 2:
        return out
    for key, margin, low, high in (
        (lambda s: s.r, lambda a, b: b > 1.2 * a, "smallest", "largest"),
        (lambda s: s.cx, lambda a, b: b - a > 0.15 * size, "left", "right"),
        (lambda s: s.cy, lambda a, b: b - a > 0.15 * size, "top", "bottom"),
    ):
        order = sorted(range(len(shapes)), key=lambda i: key(shapes[i]))
        if margin(key(shapes[order[0]]), key(shapes[order[1]])):
            out[order[0]].append(low)
        if margin(key(shapes[order[-2]]), key(shapes[order[-1]])):
            out[order[-1]].append(high)
    return out


def corpus_record(item: W.Item, sid: str, rng) -> dict:
    """One record: every shape as ``[<relations>] <colour> <shape> [x1, y1, x2, y2]`` (relations from
    :func:`extremes`, e.g. ``largest left red circle``), then how many shapes there are."""
    shapes, size = item.info["shapes"], item.info["size"]
    rel = extremes(shapes, size)
    objects = [
        {"label": " ".join([*rel[i], s.color, s.label]), "bbox": s.bbox(size)} for i, s in enumerate(shapes)
    ]
    n = len(shapes)
    count = "There is 1 object." if n == 1 else f"There are {n} objects."
    conv = c4_conversation("detection", {"objects": objects}, rng) + [
        {"from": "human", "value": "How many objects are there?"},
        {"from": "gpt", "value": count},
    ]
    return {"id": sid, "image": f"images/{sid}.png", "task_type": "detection", "conversations": conv}


FACE_SHARE = 8  # one face scene per 8 shape scenes, on top of them


def face_record(item: W.Item, sid: str, rng) -> dict:
    """A face as boxes: ``<colour> hair``, ``face`` and the mouth as ``open smile`` or ``closed mouth``.
    The patch target is the box's last word, so the mouth patches learn smile vs mouth: on its 1,500
    instruction faces alone the tower's smile feature was too faint for the LLM (docs/training.md)."""
    size, parts = item.info["size"], item.info["parts"]
    labels = {"hair": f"{item.info['hair']} hair", "face": "face",
              "mouth": "open smile" if item.info["smile"] else "closed mouth"}  # fmt: skip
    objects = [
        {"label": labels[k], "bbox": [round(min(max(v / size, 0.0), 1.0), 4) for v in parts[k]]}
        for k in ("hair", "face", "mouth")
    ]
    conv = c4_conversation("detection", {"objects": objects}, rng)
    return {"id": sid, "image": f"images/{sid}.png", "task_type": "detection", "conversations": conv}


def write_tower_corpus(
    out: str | Path, *, seed: int, n: int, size: int, avoid: set[str] = frozenset(), progress: bool = True
) -> Stats:
    """Write ``n`` shape scenes (kinds in turn), then ``n // FACE_SHARE`` faces, and their records under
    ``out/2D_Pretrain``."""
    root = Path(out) / "2D_Pretrain"
    stats, recs = Stats(), []
    for i in progress_bar(range(n), desc="2D tower corpus", unit="image", disable=not progress, leave=False):
        kind, make = KINDS[i % len(KINDS)]
        for attempt in range(100):
            rng = record_rng(seed, "train", f"pretrain/{kind}", i, attempt)
            item = make(rng, size)
            if pixels_hash(item.image) not in avoid:
                break
        else:  # pragma: no cover
            raise RuntimeError(f"tower corpus #{i}: every attempt collided with a test image")
        rec = corpus_record(item, f"pretrain_{i:06d}", rng)
        save_png(item.image, root / rec["image"])
        recs.append(rec)
        stats.records[f"2D_Pretrain/{kind}"] += 1
    for j in range(n // FACE_SHARE):  # appended: the shape scenes above are the same with or without
        for attempt in range(100):
            rng = record_rng(seed, "train", "pretrain/face", j, attempt)
            item = W.make_face(rng, size)
            if pixels_hash(item.image) not in avoid:
                break
        else:  # pragma: no cover
            raise RuntimeError(f"tower corpus face #{j}: every attempt collided with a test image")
        rec = face_record(item, f"pretrain_face_{j:06d}", rng)
        save_png(item.image, root / rec["image"])
        recs.append(rec)
        stats.records["2D_Pretrain/face"] += 1
    path = root / "meta_file" / "tower_pretrain.json"
    write_json_official(path, recs)
    stats.files.append(str(path))
    stats.media = len(recs)
    return stats
