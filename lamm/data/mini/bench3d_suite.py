"""LAMM-Mini's 3D-LLM suite: ScanQA (open-ended), SQA3D, Scan2Cap, Multi3DRefer (and ScanRefer) records
in the layout of ``lamm.formats.suite3d``, each from its own seeded generator.

Every ``<name>_record(index, seed, points) -> (rec, points_array)`` depends only on its arguments, so a
record never changes when others are added. Scenes come from ``world3d.suite_scene`` (colours and shapes
repeat, colour + shape pairs do not). ``write_benchmark_3d_suite`` writes the four new files beside the
existing 3D benchmark (``VG_ScanRefer.json`` stays ``bench3d``'s; ``scanrefer_record`` is the same task
on the suite's scenes, for the registry to take over). The queries here are plain; the published
prompt per task is the protocol's (docs/pointcloud.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lamm.data.mini import world3d as W3
from lamm.data.mini.bench3d import write_dataset_3d
from lamm.data.mini.common import Stats, record_rng
from lamm.progress import progress_bar
from lamm.protocol.prompts import fmt_nums, prompt

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
    rec |= {"query": q["question"], "question": q["question"], "answers": q["answers"],
            "object_ids": q["object_ids"], "object_names": _names(objs, q["object_ids"])}  # fmt: skip
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
    rec |= {"query": f"{q['situation']} {q['question']}", "situation": q["situation"],
            "question": q["question"], "answers": q["answers"], "position": q["position"],
            "rotation": q["rotation"], "object_ids": q["object_ids"]}  # fmt: skip
    return rec, W3.scene_points(rng, objs, points)


def scan2cap_record(index: int, seed: int, points: int) -> Record:
    """Dense captioning: describe the object in a given box; every template phrasing is a reference."""
    rng, rec = _start("scan2cap", index, seed)
    objs = W3.suite_scene(rng)
    i = int(rng.integers(len(objs)))
    box = objs[i].bbox()
    rec |= {"query": f"Describe the object at {fmt_nums(box)} in the point cloud.", "object_id": i,
            "object_name": objs[i].label, "gt_bbox": box, "descriptions": W3.dense_captions(objs, i)}  # fmt: skip
    return rec, W3.scene_points(rng, objs, points)


def multi3drefer_record(index: int, seed: int, points: int) -> Record:
    """Multi-object grounding: a description naming 0..n objects, all their boxes as ``gt_bboxes``."""
    rng, rec = _start("multi3drefer", index, seed)
    objs = W3.suite_scene(rng)
    m = W3.multi_refer(objs, rng)
    rec |= {"query": prompt("eval_3d_jul2023_constants", "VG3D_QS") + m["description"],
            "description": m["description"], "object_ids": m["object_ids"],
            "gt_bboxes": [objs[i].bbox() for i in m["object_ids"]], "eval_type": m["eval_type"]}  # fmt: skip
    return rec, W3.scene_points(rng, objs, points)


def scanrefer_record(index: int, seed: int, points: int) -> Record:
    """ScanRefer on the suite's scenes: one uniquely named target, ``object`` = its box (LAMM layout)."""
    rng, rec = _start("scanrefer", index, seed)
    objs = W3.suite_scene(rng)
    t = int(rng.integers(len(objs)))
    expr = W3.refer(objs[t], objs[W3.nearest(objs, t)])
    rec |= {"query": prompt("eval_3d_jul2023_constants", "VG3D_QS") + expr, "object": objs[t].bbox(),
            "description": expr, "object_id": t, "object_name": objs[t].label}  # fmt: skip
    return rec, W3.scene_points(rng, objs, points)


# meta file -> generator: the four files ``write_benchmark_3d_suite`` writes
SUITE_RECORDS: dict[str, Callable[[int, int, int], Record]] = {
    "VQA_ScanQA.json": scanqa_record,
    "VQA_SQA3D.json": sqa3d_record,
    "Caption_Scan2Cap.json": scan2cap_record,
    "VG_Multi3DRefer.json": multi3drefer_record,
}


def write_benchmark_3d_suite(
    out: str | Path, *, seed: int, n: int, points: int, progress: bool = True
) -> tuple[Stats, set[str]]:
    """Write the suite's meta files and clouds under ``out/3D_Benchmark``; return stats and cloud hashes."""
    root = Path(out) / "3D_Benchmark"
    stats, hashes = Stats(), set()
    with progress_bar(total=n * len(SUITE_RECORDS), desc="3D suite", unit="rec", disable=not progress,
                      leave=False) as bar:  # fmt: skip
        for meta, make in SUITE_RECORDS.items():
            write_dataset_3d(root, meta, meta[:-5].split("_", 1)[1], make, n=n, seed=seed, points=points,
                             stats=stats, hashes=hashes, bar=bar)  # fmt: skip
    return stats, hashes
