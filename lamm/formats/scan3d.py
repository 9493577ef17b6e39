"""Readers for the 3D-LLM suite's own public files: ScanQA, SQA3D, ScanRefer/Scan2Cap, Multi3DRefer
annotations and ScanNet scenes (mesh ``.ply``, preprocessed ``.npy``, axis alignment, instance boxes).

Field names follow the official releases (checked in the official repositories):

* ScanQA ``ScanQA_v1.0_{train,val,test_w_obj,test_wo_obj}.json`` (ATR-DBI/ScanQA, docs/dataset.md and
  lib/dataset.py @ 6ff5975f): a JSON array of ``{question_id, scene_id, question, answers, object_ids,
  object_names}``; the test files have no ``answers`` (``test_wo_obj`` neither objects).
* SQA3D ``v1_balanced_questions_<split>_scannetv2.json`` (``{"questions": [{scene_id, situation,
  alternative_situation, question, question_id}]}``) and ``v1_balanced_sqa_annotations_<split>_scannetv2.json``
  (``{"annotations": [{scene_id, question_id, answers: [{answer, answer_confidence, answer_id}],
  position: {x, y, z}, rotation: {_x, _y, _z, _w}, ...}]}``), paired by ``question_id``
  (SilongYong/SQA3D, LLM/*.json @ e4e2cecc).
* ScanRefer ``ScanRefer_filtered_{train,val}.json`` (daveredrum/ScanRefer; Scan2Cap uses the same file):
  ``{scene_id, object_id, object_name, ann_id, description, token}``, ids as strings of ints.
* Multi3DRefer ``multi3drefer_{train,val}.json`` (3dlg-hcvc/M3DRef-CLIP,
  m3drefclip/data/dataset/multi3drefer.py @ 0c991698): ScanRefer's fields plus ``object_ids`` (a list,
  empty for zero-target descriptions) and ``eval_type`` (``zt_w_d, zt_wo_d, st_w_d, st_wo_d, mt``,
  m3drefclip/evaluation/multi3drefer_evaluator.py @ b697586f).
* ScanNet scenes: ``<scene>_vh_clean_2.ply`` (vertex x, y, z, red, green, blue) with the axis alignment of
  ``<scene>.txt`` (line ``axisAlignment = m00 m01 ... m33``, a row-major 4x4 matrix applied as
  ``[x y z 1] @ M.T``), or the preprocessed ``<scene>_vert.npy`` (unaligned) / ``<scene>_aligned_vert.npy``
  and ``<scene>_aligned_bbox.npy`` (rows ``[cx, cy, cz, dx, dy, dz, nyu40 label_id, object_id]`` with the
  0-based ScanNet ``objectId`` that ScanRefer's ``object_id`` names), as ScanRefer's
  data/scannet/load_scannet_data.py @ 10f71145 writes them and ScanQA, Scan2Cap, Multi3DRefer and the 3D-LLM
  repositories reuse them.

Every error is a ``FormatError`` naming the file, the record and the field. ``.npy`` is never unpickled.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from lamm.formats.errors import FormatError
from lamm.formats.media import check_points
from lamm.formats.pointcloud import load_points
from lamm.formats.suite3d import MULTI3DREFER_EVAL_TYPES


def _read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "file not found")
    try:
        return json.loads(path.read_text("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise FormatError(
            path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def _records(path: Path, data: Any, key: str | None = None) -> list[dict[str, Any]]:
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            raise FormatError(path, f"expected a JSON object with a {key!r} list", field=key)
        data = data[key]
    if not isinstance(data, list):
        raise FormatError(path, f"expected a JSON array of records, got {type(data).__name__}", field=key)
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise FormatError(path, f"record must be a JSON object, got {type(rec).__name__}", index=i)
    return data


def _field(path: Path, i: int, rec: dict, name: str, rid: Any = None) -> Any:
    if name not in rec:
        raise FormatError(path, "missing field", index=i, record_id=rid, field=name)
    return rec[name]


def _str(path: Path, i: int, rec: dict, name: str, rid: Any = None) -> str:
    v = _field(path, i, rec, name, rid)
    if not isinstance(v, str) or not v.strip():
        raise FormatError(path, f"must be a non-empty string, got {v!r}", index=i, record_id=rid, field=name)
    return v


def _int(path: Path, i: int, rec: dict, name: str, rid: Any = None) -> int:
    """An integer id; the official files store some as strings of digits (ScanRefer ``"3"``)."""
    v = _field(path, i, rec, name, rid)
    if (
        isinstance(v, bool)
        or not isinstance(v, (int, str))
        or (isinstance(v, str) and not v.strip().isdigit())
    ):
        raise FormatError(path, f"must be an integer id, got {v!r}", index=i, record_id=rid, field=name)
    return int(v)


def _int_list(path: Path, i: int, rec: dict, name: str, rid: Any = None) -> list[int]:
    v = _field(path, i, rec, name, rid)
    if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, (int, str)) for x in v):
        raise FormatError(
            path, f"must be a list of integer ids, got {v!r}", index=i, record_id=rid, field=name
        )
    try:
        return [int(x) for x in v]
    except ValueError:
        raise FormatError(
            path, f"must be a list of integer ids, got {v!r}", index=i, record_id=rid, field=name
        ) from None


def _str_list(path: Path, i: int, rec: dict, name: str, rid: Any = None, *, empty: bool = False) -> list[str]:
    v = _field(path, i, rec, name, rid)
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v) or (not empty and not v):
        what = "a list of strings" if empty else "a non-empty list of strings"
        raise FormatError(path, f"must be {what}, got {v!r}", index=i, record_id=rid, field=name)
    return v


def _finite(path: Path, i: int, name: str, values: list[float], rid: Any = None) -> list[float]:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise FormatError(
            path, f"must hold finite numbers, got {values!r}", index=i, record_id=rid, field=name
        )
    return [float(v) for v in values]


# --------------------------------------------------------------------------- annotations
def read_scanqa(path: str | Path) -> list[dict[str, Any]]:
    """ScanQA records: ``question_id, scene_id, question, answers`` (None in the test files),
    ``object_ids`` and ``object_names`` (empty in ``test_wo_obj``)."""
    path = Path(path)
    out = []
    for i, rec in enumerate(_records(path, _read_json(path))):
        qid = _str(path, i, rec, "question_id")
        row = {"question_id": qid, "scene_id": _str(path, i, rec, "scene_id", qid),
               "question": _str(path, i, rec, "question", qid),
               "answers": _str_list(path, i, rec, "answers", qid) if "answers" in rec else None,
               "object_ids": _int_list(path, i, rec, "object_ids", qid) if "object_ids" in rec else [],
               "object_names": _str_list(path, i, rec, "object_names", qid, empty=True) if "object_names" in rec else []}  # fmt: skip
        out.append(row)
    return out


def read_sqa3d(questions: str | Path, annotations: str | Path) -> list[dict[str, Any]]:
    """SQA3D records joined by ``question_id``: ``question_id, scene_id, situation, question, answers``
    (the answer strings), ``position`` ``[x, y, z]`` and ``rotation`` quaternion ``[x, y, z, w]``."""
    qpath, apath = Path(questions), Path(annotations)
    anns: dict[int, tuple[int, dict]] = {}
    for i, a in enumerate(_records(apath, _read_json(apath), "annotations")):
        qid = _int(apath, i, a, "question_id")
        if qid in anns:
            raise FormatError(apath, "question_id given twice", index=i, record_id=qid, field="question_id")
        anns[qid] = (i, a)
    out = []
    for i, q in enumerate(_records(qpath, _read_json(qpath), "questions")):
        qid = _int(qpath, i, q, "question_id")
        if qid not in anns:
            raise FormatError(qpath, f"no annotation with this question_id in {apath}", index=i,
                              record_id=qid, field="question_id")  # fmt: skip
        j, a = anns[qid]
        answers = _field(apath, j, a, "answers", qid)
        if (
            not isinstance(answers, list)
            or not answers
            or not all(isinstance(x, dict) and isinstance(x.get("answer"), str) for x in answers)
        ):
            raise FormatError(apath, "must be a non-empty list of {answer, ...} objects", index=j,
                              record_id=qid, field="answers")  # fmt: skip
        pos, rot = _field(apath, j, a, "position", qid), _field(apath, j, a, "rotation", qid)
        if not (isinstance(pos, dict) and all(k in pos for k in "xyz")):
            raise FormatError(
                apath, f"must be {{x, y, z}}, got {pos!r}", index=j, record_id=qid, field="position"
            )
        if not (isinstance(rot, dict) and all(k in rot for k in ("_x", "_y", "_z", "_w"))):
            raise FormatError(apath, f"must be {{_x, _y, _z, _w}}, got {rot!r}", index=j, record_id=qid,
                              field="rotation")  # fmt: skip
        scene = _str(qpath, i, q, "scene_id", qid)
        if a.get("scene_id", scene) != scene:
            raise FormatError(apath, f"scene_id {a.get('scene_id')!r} differs from the question's {scene!r}",
                              index=j, record_id=qid, field="scene_id")  # fmt: skip
        out.append({"question_id": qid, "scene_id": scene, "situation": _str(qpath, i, q, "situation", qid),
                    "question": _str(qpath, i, q, "question", qid),
                    "answers": [x["answer"] for x in answers],
                    "position": _finite(apath, j, "position", [pos[k] for k in "xyz"], qid),
                    "rotation": _finite(apath, j, "rotation", [rot[k] for k in ("_x", "_y", "_z", "_w")], qid)})  # fmt: skip
    return out


def read_scanrefer(path: str | Path) -> list[dict[str, Any]]:
    """ScanRefer (and Scan2Cap) records: ``scene_id, object_id, object_name, ann_id, description``."""
    path = Path(path)
    out = []
    for i, rec in enumerate(_records(path, _read_json(path))):
        scene = _str(path, i, rec, "scene_id")
        out.append({"scene_id": scene, "object_id": _int(path, i, rec, "object_id", scene),
                    "object_name": _str(path, i, rec, "object_name", scene),
                    "ann_id": _int(path, i, rec, "ann_id", scene),
                    "description": _str(path, i, rec, "description", scene)})  # fmt: skip
    return out


def read_multi3drefer(path: str | Path) -> list[dict[str, Any]]:
    """Multi3DRefer records: ``scene_id, object_ids`` (possibly empty), ``object_name, ann_id,
    description, eval_type``."""
    path = Path(path)
    out = []
    for i, rec in enumerate(_records(path, _read_json(path))):
        scene = _str(path, i, rec, "scene_id")
        ids = _int_list(path, i, rec, "object_ids", scene)
        et = _str(path, i, rec, "eval_type", scene)
        if et not in MULTI3DREFER_EVAL_TYPES:
            raise FormatError(path, f"unknown eval_type {et!r}; known: {', '.join(MULTI3DREFER_EVAL_TYPES)}",
                              index=i, record_id=scene, field="eval_type")  # fmt: skip
        if (
            (et.startswith("zt") and ids)
            or (et.startswith("st") and len(ids) != 1)
            or (et == "mt" and len(ids) < 2)
        ):
            raise FormatError(path, f"eval_type {et!r} does not fit {len(ids)} object_ids", index=i,
                              record_id=scene, field="object_ids")  # fmt: skip
        out.append({"scene_id": scene, "object_ids": ids, "object_name": str(rec.get("object_name", "")),
                    "ann_id": _int(path, i, rec, "ann_id", scene),
                    "description": _str(path, i, rec, "description", scene), "eval_type": et})  # fmt: skip
    return out


# --------------------------------------------------------------------------- scenes
def read_axis_alignment(path: str | Path) -> np.ndarray:
    """The 4x4 ``axisAlignment`` matrix of a ScanNet ``<scene>.txt``; identity when the file has none
    (ScanNet's test scenes), as ScanRefer's loader does."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "scene meta file not found")
    for no, line in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1):
        key, _, rest = line.partition("=")
        if key.strip() != "axisAlignment":
            continue
        try:
            vals = [float(v) for v in rest.split()]
        except ValueError:
            raise FormatError(
                path, f"line {no}: axisAlignment values are not numbers", field="axisAlignment"
            ) from None
        if len(vals) != 16 or not all(math.isfinite(v) for v in vals):
            raise FormatError(path, f"line {no}: axisAlignment needs 16 finite numbers, got {len(vals)}",
                              field="axisAlignment")  # fmt: skip
        return np.array(vals, dtype=np.float64).reshape(4, 4)
    return np.eye(4)


def align_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 4x4 axis alignment to columns 0-2 (``[x y z 1] @ M.T``); other columns are kept."""
    out = points.astype(np.float64, copy=True)
    out[:, :3] = out[:, :3] @ matrix[:3, :3].T + matrix[:3, 3]
    return out.astype(np.float32)


def scene_file(folder: str | Path, scene: str) -> tuple[Path, bool]:
    """The file holding ``scene`` under ``folder`` and whether it is already axis-aligned, preferring
    ``<scene>_aligned_vert.npy``, then ``<scene>_vert.npy``, then ``<scene>_vh_clean_2.ply`` (also in a
    ``<scene>/`` sub-folder, as ScanNet's ``scans/`` holds them)."""
    folder = Path(folder)
    for base in (folder, folder / scene):
        if (base / f"{scene}_aligned_vert.npy").is_file():
            return base / f"{scene}_aligned_vert.npy", True
        for name in (f"{scene}_vert.npy", f"{scene}_vh_clean_2.ply"):
            if (base / name).is_file():
                return base / name, False
    raise FormatError(folder, f"no {scene}_aligned_vert.npy, {scene}_vert.npy or {scene}_vh_clean_2.ply here",
                      record_id=scene)  # fmt: skip


def load_scene(
    folder: str | Path, scene: str, *, align: bool = True, meta_dir: str | Path | None = None
) -> np.ndarray:
    """A scene as float32 (N, 6) xyz + rgb 0..255 in ScanNet's axis-aligned frame. Unaligned files are
    aligned with ``<scene>.txt``, looked for beside the file, then in ``meta_dir`` (ScanNet's ``scans/``:
    ``<scene>/<scene>.txt`` or ``<scene>.txt``); without one they are refused, never left unaligned silently
    (``align=False`` keeps the file's own frame)."""
    path, aligned = scene_file(folder, scene)
    pts = load_points(path)
    if pts.shape[1] < 6:
        raise FormatError(
            path, f"scene needs xyz + rgb vertex colours, got shape {pts.shape}", record_id=scene
        )
    if aligned or not align:
        return pts
    places = [path.parent]
    if meta_dir is not None:
        places += [Path(meta_dir) / scene, Path(meta_dir)]
    for place in places:
        if (place / f"{scene}.txt").is_file():
            return align_points(pts, read_axis_alignment(place / f"{scene}.txt"))
    raise FormatError(
        path,
        f"unaligned scene and no {scene}.txt with its axisAlignment beside it"
        + (f" or under {meta_dir}" if meta_dir is not None else "")
        + " (give ScanNet's scene meta files, or use <scene>_aligned_vert.npy)",
        record_id=scene,
    )


def read_instance_boxes(path: str | Path) -> dict[int, dict[str, Any]]:
    """``<scene>_aligned_bbox.npy``: ``{object_id: {"bbox": [cx, cy, cz, dx, dy, dz], "label_id": int}}``."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "instance box file not found")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise FormatError(path, f"unreadable .npy file ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[1] < 8:
        shape = getattr(arr, "shape", None)
        raise FormatError(
            path, f"boxes must have shape (K, 8) [cx, cy, cz, dx, dy, dz, label_id, object_id], got {shape}"
        )
    check_points(arr.astype(np.float64) if arr.dtype.kind in "iu" else arr, path)
    out: dict[int, dict[str, Any]] = {}
    for k, row in enumerate(arr):
        if (row[3:6] < 0).any():
            raise FormatError(path, f"row {k}: negative box size {row[3:6].tolist()}", field="bbox")
        if not row[3:6].any():  # ScanRefer leaves all-zero placeholder rows for empty instances
            continue
        oid = int(row[7])
        if oid in out:
            raise FormatError(path, f"row {k}: object_id {oid} given twice", field="object_id")
        out[oid] = {"bbox": [round(float(v), 4) for v in row[:6]], "label_id": int(row[6])}
    return out
