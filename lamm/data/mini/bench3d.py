"""LAMM-Mini 3D benchmark: ``Detection_ScanNet``, ``VG_ScanRefer``, ``VQA_ScanQA_multiplechoice``
(LAMM_FORMATS §2.2) with point clouds under ``3D_Benchmark/scannet_pcls/`` stored as ``./scannet_pcls/x.npy``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamm.data.c4 import vqa_query
from lamm.data.mini import world3d as W3
from lamm.data.mini.common import Stats, pixels_hash, record_rng, slug
from lamm.formats.jsonio import write_json_official
from lamm.progress import progress_bar
from lamm.protocol.datasets import DatasetSpec, datasets_3d
from lamm.protocol.prompts import prompt

E3D = "eval_3d_jul2023_constants"


def bench3d_record(spec: DatasetSpec, index: int, seed: int, points: int) -> tuple[dict, np.ndarray]:
    """Record ``index`` of a 3D dataset (test split) and its point cloud."""
    rng = record_rng(seed, "test", spec.key, index)
    rid = f"{slug(spec.name)}_{index:05d}"
    rec: dict = {"id": rid, "pcl": f"./scannet_pcls/{rid}.npy"}
    if spec.name == "ScanNet":
        objs = W3.make_scene(rng)
        rec["query"] = prompt(E3D, "DETECTION3D_QS") + prompt(E3D, "DETECTION3D_INS")
        rec["object"] = [{"label": o.label, "bbox": o.bbox()} for o in objs]
    elif spec.name == "ScanRefer":
        objs, target, expr = W3.grounding_scene(rng)
        rec["query"] = prompt(E3D, "VG3D_QS") + expr
        rec["object"] = target.bbox()
        rec["description"] = expr
    else:
        objs = W3.make_scene(rng)
        q = W3.scanqa_question(objs, rng)
        rec["query"] = vqa_query(q["question"], q["choices"])
        rec["gt_choice"], rec["gt_choices"] = q["answer"], q["choices"]
    return rec, W3.scene_points(rng, objs, points)


def write_benchmark_3d(
    out: str | Path, *, seed: int, n: int, points: int, progress: bool = True
) -> tuple[Stats, set[str]]:
    """Write ``out/3D_Benchmark``; return stats and the hashes of every test point cloud."""
    root = Path(out) / "3D_Benchmark"
    stats, hashes = Stats(), set()
    specs = datasets_3d()
    with progress_bar(
        total=n * len(specs), desc="3D benchmark", unit="rec", disable=not progress, leave=False
    ) as bar:
        for spec in specs:
            records = []
            for i in range(n):
                rec, pts = bench3d_record(spec, i, seed, points)
                path = root / rec["pcl"]
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, pts, allow_pickle=False)
                hashes.add(pixels_hash(pts))
                records.append(rec)
                bar.update()
            path = root / "meta_file" / spec.meta_file
            write_json_official(path, records)
            stats.files.append(str(path))
            stats.records[f"3D_Benchmark/{spec.name}"] += n
            stats.media += n
    return stats, hashes
