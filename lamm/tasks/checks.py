"""Small ground-truth field checkers; a task file lists the ones its records need (``gt_checks``).

Each checker is built for one field and returns ``(field, problem)`` or None; ``lamm.formats.benchmark``
turns a problem into a FormatError naming the file, record, id and field.
"""

from __future__ import annotations

import math
from typing import Any

from lamm.tasks.spec import GtCheck

NON_FINITE = "holds a non-finite number (NaN or Infinity); ground truth must be finite"


def is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def non_finite(x: Any) -> bool:
    """Any NaN or Infinity in a (nested) list: JSON readers accept them, and one moves a score silently."""
    if isinstance(x, list):
        return any(non_finite(v) for v in x)
    return isinstance(x, float) and not math.isfinite(x)


def _str_list(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(s, str) for s in x)


def _inverted(box: list[float]) -> str:
    """Which axes of an ``[x1, y1, x2, y2]`` box run backwards ('' when none)."""
    return " and ".join(
        what for what, bad in (("x2 < x1", box[2] < box[0]), ("y2 < y1", box[3] < box[1])) if bad
    )


def boxes(n: int, *, fields: tuple[str, ...] = ("object",), one_box: bool = False) -> GtCheck:
    """A list of ``{label, bbox}`` objects with ``n``-number boxes; ``one_box`` (ScanRefer): one bare box
    or a ``[{bbox}]`` list, label optional. Checks whichever of ``fields`` the record carries.

    A 4-number box is VOC's ``[x1, y1, x2, y2]``: an inverted one (x2 < x1 or y2 < y1) is refused, as the
    official scorers can never find it (they keep only predicted boxes with x1 <= x2 and y1 <= y2, which
    overlap it nowhere, and no point lies strictly inside it); x2 == x1 is a degenerate box but a box.
    A 6-number box ``[cx, cy, cz, dx, dy, dz]`` may hold negative extents: the official 3D IoU
    (``cal_iou_3d``, LAMM ``src/datasets/utils.py``) and ours read ``|dx|`` etc. for ground truth too, so such a box is well defined."""

    def problem(objs: Any) -> str | None:
        if one_box and isinstance(objs, list) and objs and is_num(objs[0]):
            objs = [{"label": "", "bbox": objs}]  # ScanRefer stores one bare box
        if not isinstance(objs, list):
            if one_box:
                return f"must be one box [cx, cy, cz, dx, dy, dz] (or a [{{bbox}}] list), got {objs!r}"
            return f"must be a list of {{label, bbox}} objects, got {type(objs).__name__}"
        for k, o in enumerate(objs):
            if not isinstance(o, dict) or "bbox" not in o:
                return f"entry {k} needs a 'bbox'"
            if "label" in o and not isinstance(o["label"], str):
                return f"entry {k} 'label' must be a string, got {o['label']!r}"
            if not one_box and "label" not in o:
                return f"entry {k} needs a 'label'"
            box = o["bbox"]
            if not (isinstance(box, list) and len(box) == n and all(is_num(v) for v in box)):
                return f"entry {k} 'bbox' must be {n} numbers, got {box!r}"
            if non_finite(box):
                return f"entry {k} 'bbox' {box!r} {NON_FINITE}"
            if n == 4 and (inverted := _inverted(box)):
                return f"entry {k} 'bbox' {box!r} is inverted ({inverted}); VOC boxes are [x1, y1, x2, y2]"
        return None

    def check(rec: dict[str, Any]) -> tuple[str, str] | None:
        for f in fields:
            msg = problem(rec[f]) if f in rec else None
            if msg:
                return f, msg
        return None

    return check


def joints(n: int) -> GtCheck:
    def check(rec: dict[str, Any]) -> tuple[str, str] | None:
        j = rec["gt_joints"]
        ok = isinstance(j, list) and len(j) == n
        if not (ok and all(isinstance(p, list) and len(p) >= 2 and all(map(is_num, p[:2])) for p in j)):
            return "gt_joints", f"must be {n} [x, y, v] rows in pixels (LSP joint order)"
        return ("gt_joints", NON_FINITE) if non_finite(j) else None

    return check


def points(rec: dict[str, Any]) -> tuple[str, str] | None:
    p = rec["points"]
    if not (
        isinstance(p, list) and all(isinstance(q, list) and len(q) == 2 and all(map(is_num, q)) for q in p)
    ):
        return "points", "must be a list of [x, y] pixel positions"
    return ("points", NON_FINITE) if non_finite(p) else None


def choice(max_options: int | None = None) -> GtCheck:
    def check(rec: dict[str, Any]) -> tuple[str, str] | None:
        choices, chosen = rec["gt_choices"], rec["gt_choice"]
        if not _str_list(choices) or not choices:
            return "gt_choices", "must be a non-empty list of option strings"
        if max_options is not None and len(choices) > max_options:
            return "gt_choices", f"3D multiple choice has at most 6 options (A-F), got {len(choices)}"
        if not is_int(chosen):
            return "gt_choice", f"must be an int (0-based option index), got {chosen!r}"
        if not 0 <= chosen < len(choices):
            return "gt_choice", f"{chosen} out of range for {len(choices)} choices"
        return None

    return check


def count(rec: dict[str, Any]) -> tuple[str, str] | None:
    ok = is_int(rec["num"]) and rec["num"] >= 0
    return None if ok else ("num", f"must be a non-negative int, got {rec['num']!r}")


def attr(allowed: tuple[str, ...] = (), name: str = "") -> GtCheck:
    """A CelebA attribute string; ``allowed``: its only values (``name`` is said in the error)."""

    def check(rec: dict[str, Any]) -> tuple[str, str] | None:
        a = rec["attr"]
        if not isinstance(a, str):
            return "attr", f'must be a string (CelebA(Smile) uses "1" / "-1"), got {a!r}'
        if allowed and a not in allowed:
            return "attr", f"{name} attr must be " + " or ".join(f'"{v}"' for v in allowed) + f", got {a!r}"
        return None

    return check


def string(field: str) -> GtCheck:
    def check(rec: dict[str, Any]) -> tuple[str, str] | None:
        return None if isinstance(rec[field], str) else (field, f"must be a string, got {rec[field]!r}")

    return check


def strings(field: str, what: str) -> GtCheck:
    """A non-empty list of strings, e.g. ``strings("sentences", "reference captions")``."""

    def check(rec: dict[str, Any]) -> tuple[str, str] | None:
        ok = _str_list(rec[field]) and rec[field]
        return None if ok else (field, f"must be a non-empty list of {what}")

    return check
