"""The 3D-LLM suite's benchmark meta files (``3D_Benchmark/meta_file/<Task>_<Dataset>.json``) and the
checks of their ground truth.

Each record carries ``id``, ``pcl`` (``./scannet_pcls/<scene>.npy``), ``query`` and the ORIGINAL ground
truth, so scorers use the datasets' own references (docs/pointcloud.md, "3D suite files"):

* ``VQA_ScanQA.json``: ``question``, ``answers`` (all accepted answers), ``object_ids``, ``object_names``;
* ``VQA_SQA3D.json``: ``situation``, ``question``, ``answers``, optional ``position`` / ``rotation``;
* ``Caption_Scan2Cap.json``: ``object_id``, ``object_name``, ``gt_bbox``, ``descriptions`` (every
  reference for that object), optional ``box`` (the box the query shows, e.g. a detector proposal
  matched to the object; default ``gt_bbox``);
* ``VG_Multi3DRefer.json``: ``description``, ``object_ids``, ``gt_bboxes`` (possibly empty), ``eval_type``;
* ``VG_ScanRefer.json`` is the official LAMM file (``object`` = the gt box), checked by
  ``lamm.formats.benchmark``.

The ``check_<name>_record(rec) -> (field, problem) | None`` functions are the ground-truth checks of the
suite's task files in the dataset registry (``lamm.tasks``), which ``lamm data validate`` runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Problem = tuple[str, str] | None
# Multi3DRefer's description kinds: zero / single target with or without distractors of the same class,
# multiple targets (M3DRef-CLIP's evaluator)
MULTI3DREFER_EVAL_TYPES = ("zt_w_d", "zt_wo_d", "st_w_d", "st_wo_d", "mt")


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _text(x: Any) -> bool:
    return isinstance(x, str) and bool(x.strip())


def _texts(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and all(_text(s) for s in x)


def box_problem(box: Any) -> str | None:
    """None for a finite ``[cx, cy, cz, dx, dy, dz]`` with sizes >= 0, else what is wrong."""
    if not (isinstance(box, list) and len(box) == 6 and all(_num(v) for v in box)):
        return f"must be 6 finite numbers [cx, cy, cz, dx, dy, dz], got {box!r}"
    if any(v < 0 for v in box[3:]):
        return f"box sizes must be >= 0, got {box[3:]!r}"
    return None


def _need(rec: dict, *fields: str) -> Problem:
    for f in fields:
        if f not in rec:
            return f, "missing ground-truth field"
    return None


def _ids(rec: dict, f: str) -> Problem:
    if not (isinstance(rec[f], list) and all(_int(v) for v in rec[f])):
        return f, f"must be a list of integer object ids, got {rec[f]!r}"
    return None


def check_scanqa_record(rec: dict[str, Any]) -> Problem:
    """ScanQA open-ended: ``question`` text, ``answers`` non-empty strings, ``object_ids`` ints."""
    if p := _need(rec, "question", "answers", "object_ids"):
        return p
    if not _text(rec["question"]):
        return "question", "must be a non-empty string"
    if not _texts(rec["answers"]):
        return "answers", f"must be a non-empty list of answer strings, got {rec['answers']!r}"
    return _ids(rec, "object_ids")


def check_sqa3d_record(rec: dict[str, Any]) -> Problem:
    """SQA3D: ``situation`` and ``question`` texts, ``answers`` non-empty strings, finite pose if given."""
    if p := _need(rec, "situation", "question", "answers"):
        return p
    for f in ("situation", "question"):
        if not _text(rec[f]):
            return f, "must be a non-empty string"
    if not _texts(rec["answers"]):
        return "answers", f"must be a non-empty list of answer strings, got {rec['answers']!r}"
    for f, n in (("position", 3), ("rotation", 4)):
        if f in rec and not (isinstance(rec[f], list) and len(rec[f]) == n and all(map(_num, rec[f]))):
            return f, f"must be {n} finite numbers, got {rec[f]!r}"
    return None


def check_scan2cap_record(rec: dict[str, Any]) -> Problem:
    """Scan2Cap: ``object_id`` int, ``gt_bbox`` a box, ``descriptions`` non-empty reference captions."""
    if p := _need(rec, "object_id", "gt_bbox", "descriptions"):
        return p
    if not _int(rec["object_id"]):
        return "object_id", f"must be an integer object id, got {rec['object_id']!r}"
    for f in ("gt_bbox", "box"):
        if f in rec and (p := box_problem(rec[f])):
            return f, p
    if not _texts(rec["descriptions"]):
        return "descriptions", "must be a non-empty list of reference captions"
    return None


def check_multi3drefer_record(rec: dict[str, Any]) -> Problem:
    """Multi3DRefer: ``description``, ``gt_bboxes`` (0..n boxes, one per ``object_ids`` entry), ``eval_type``."""
    if p := _need(rec, "description", "gt_bboxes", "eval_type"):
        return p
    if not _text(rec["description"]):
        return "description", "must be a non-empty string"
    boxes = rec["gt_bboxes"]
    if not isinstance(boxes, list):
        return "gt_bboxes", f"must be a list of boxes (possibly empty), got {type(boxes).__name__}"
    for k, b in enumerate(boxes):
        if p := box_problem(b):
            return "gt_bboxes", f"entry {k} {p}"
    et = rec["eval_type"]
    if et not in MULTI3DREFER_EVAL_TYPES:
        return "eval_type", f"must be one of {', '.join(MULTI3DREFER_EVAL_TYPES)}, got {et!r}"
    n = len(boxes)
    if (et.startswith("zt") and n) or (et.startswith("st") and n != 1) or (et == "mt" and n < 2):
        return "gt_bboxes", f"eval_type {et!r} does not fit {n} gt boxes"
    if "object_ids" in rec:
        if p := _ids(rec, "object_ids"):
            return p
        if len(rec["object_ids"]) != n:
            return "object_ids", f"{len(rec['object_ids'])} object ids for {n} gt boxes"
    return None


_CHECKS: dict[str, Callable[[dict[str, Any]], Problem]] = {
    "VQA_ScanQA.json": check_scanqa_record,
    "VQA_SQA3D.json": check_sqa3d_record,
    "Caption_Scan2Cap.json": check_scan2cap_record,
    "VG_Multi3DRefer.json": check_multi3drefer_record,
}
# meta file name -> (dataset name: the part after ``<Task>_``, record check)
SUITE_FILES: dict[str, tuple[str, Callable[[dict[str, Any]], Problem]]] = {
    meta: (meta[: -len(".json")].split("_", 1)[1], check) for meta, check in _CHECKS.items()
}


def suite_entry(name: str) -> tuple[str, Callable[[dict[str, Any]], Problem]] | None:
    """The suite dataset of a meta (or answer) file name, ``.json`` or ``.jsonl``; None if not one."""
    stem = name.rsplit(".", 1)[0] if name.endswith((".json", ".jsonl")) else name
    return SUITE_FILES.get(stem + ".json")


def check_suite_record(rec: Any, check: Callable[[dict[str, Any]], Problem]) -> Problem:
    """The common fields (``id``, ``pcl``, ``query``), then the dataset's ground truth."""
    if not isinstance(rec, dict):
        return "", f"record must be a JSON object, got {type(rec).__name__}"
    if "id" in rec and not (isinstance(rec["id"], str) or _int(rec["id"])):
        return "id", f"must be a string or an integer, got {rec['id']!r}"
    for f in ("pcl", "query"):
        if f not in rec:
            return f, "missing field"
    if not (isinstance(rec["pcl"], str) and rec["pcl"]):
        return "pcl", "media path must be a non-empty string"
    if not isinstance(rec["query"], str):
        return "query", "query must be a string"
    return check(rec)
