"""LAMM-Mini's 3D-LLM suite: ScanQA (open-ended), SQA3D, Scan2Cap, Multi3DRefer (and ScanRefer) records
in the layout of ``lamm.formats.suite3d``, each from its own seeded generator.

Every ``<name>_record(index, seed, points) -> (rec, points_array)`` depends only on its arguments, so a
record never changes when others are added. Scenes come from ``world3d.suite_scene`` (colours and shapes
repeat, colour + shape pairs do not). A suite task file names its generator (``Mini.generate``) and
``bench3d`` writes the file with ``--suite-3d``, adding the task's protocol ``query`` (the records here
hold the ground truth and the fields the query is built from). The suite's ScanRefer is LAMM's
``VG_ScanRefer.json`` (``bench3d``'s grounding scenes, lamm/tasks/scanrefer.py says why).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lamm.data.mini import world3d as W3
from lamm.data.mini.common import record_rng

Record = tuple[dict, np.ndarray]


def _start(stream: str, index: int, seed: int, attempt: int = 0) -> tuple[np.random.Generator, dict]:
    rng = record_rng(seed, "test", f"suite3d/{stream}", index, attempt)
    rid = f"{stream}_{index:05d}"
    return rng, {"id": rid, "pcl": f"./scannet_pcls/{rid}.npy", "scene_id": rid}


def _names(objs: list[W3.Obj3D], ids: list[int]) -> list[str]:
    return [objs[i].label for i in ids]


def scanqa_record(index: int, seed: int, points: int) -> Record:
    """Open-ended QA: short answers (colours, shapes, counts), several accepted ``answers``."""
    rng, rec = _start("scanqa", index, seed)
    objs = W3.suite_scene(rng)
    q = W3.open_question(objs, rng)
    rec |= {"question": q["question"], "answers": q["answers"], "object_ids": q["object_ids"],
            "object_names": _names(objs, q["object_ids"])}  # fmt: skip
    return rec, W3.scene_points(rng, objs, points)


def sqa3d_record(index: int, seed: int, points: int) -> Record:
    """Situated QA: a pose sentence plus a question whose answer depends on the pose."""
    for attempt in range(200):
        rng, rec = _start("sqa3d", index, seed, attempt)
        objs = W3.suite_scene(rng, (4, 5))
        q = W3.situated_question(objs, rng)
        if q is not None:
            break
    else:  # pragma: no cover - about a third of draws succeed
        raise RuntimeError(f"no situated question for SQA3D record {index}")
    rec |= {"situation": q["situation"], "question": q["question"], "answers": q["answers"],
            "position": q["position"], "rotation": q["rotation"], "object_ids": q["object_ids"]}  # fmt: skip
    return rec, W3.scene_points(rng, objs, points)


def scan2cap_record(index: int, seed: int, points: int) -> Record:
    """Dense captioning: describe the object in a given box; every template phrasing is a reference."""
    rng, rec = _start("scan2cap", index, seed)
    objs = W3.suite_scene(rng)
    i = int(rng.integers(len(objs)))
    rec |= {"object_id": i, "object_name": objs[i].label, "gt_bbox": objs[i].bbox(),
            "descriptions": W3.dense_captions(objs, i)}  # fmt: skip
    return rec, W3.scene_points(rng, objs, points)


def multi3drefer_record(index: int, seed: int, points: int) -> Record:
    """Multi-object grounding: a description naming 0..n objects, all their boxes as ``gt_bboxes``."""
    rng, rec = _start("multi3drefer", index, seed)
    objs = W3.suite_scene(rng)
    m = W3.multi_refer(objs, rng)
    rec |= {"description": m["description"], "object_ids": m["object_ids"],
            "gt_bboxes": [objs[i].bbox() for i in m["object_ids"]], "eval_type": m["eval_type"]}  # fmt: skip
    return rec, W3.scene_points(rng, objs, points)


# ``Mini.generate`` name -> generator
SUITE_RECORDS: dict[str, Callable[[int, int, int], Record]] = {
    f.__name__: f for f in (scanqa_record, sqa3d_record, scan2cap_record, multi3drefer_record)
}
