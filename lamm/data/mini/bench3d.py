"""LAMM-Mini 3D benchmark: ``Detection_ScanNet``, ``VG_ScanRefer``, ``VQA_ScanQA_multiplechoice``
(LAMM_FORMATS §2.2) with point clouds under ``3D_Benchmark/scannet_pcls/`` stored as ``./scannet_pcls/x.npy``;
with ``suite`` also the 3D-LLM suite's files (the registry's ``Mini(scene="suite")`` datasets, from
``bench3d_suite``'s generators, asked with the task's protocol query)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamm.data.mini import world3d as W3
from lamm.data.mini.common import Stats, pixels_hash, record_rng, slug
from lamm.formats.jsonio import write_json_official
from lamm.progress import progress_bar
from lamm.tasks import DatasetSpec, datasets_3d


@dataclass
class Scene3D:
    """What a 3D task file's ``mini.record(scene, rng)`` reads: the objects (and a grounding target)."""

    objects: list[W3.Obj3D]
    target: W3.Obj3D | None = None
    expression: str = ""

    def question(self, rng: np.random.Generator) -> dict:
        return W3.scanqa_question(self.objects, rng)


# ``Mini.scene`` of a 3D task file -> the world maker
SCENES = {
    "objects": lambda rng: Scene3D(W3.make_scene(rng)),
    "grounding": lambda rng: Scene3D(*W3.grounding_scene(rng)),
}


def bench3d_record(spec: DatasetSpec, index: int, seed: int, points: int) -> tuple[dict, np.ndarray]:
    """Record ``index`` of a 3D dataset (test split) and its point cloud."""
    if spec.mini.scene == "suite":
        from lamm.data.mini.bench3d_suite import SUITE_RECORDS

        raw, pts = SUITE_RECORDS[spec.mini.generate](index, seed, points)
        return spec.with_query(raw), pts
    rng = record_rng(seed, "test", spec.key, index)
    rid = f"{slug(spec.name)}_{index:05d}"
    rec: dict = {"id": rid, "pcl": f"./{spec.mini.folder}/{rid}.npy"}
    scene = SCENES[spec.mini.scene](rng)
    rec.update(spec.mini.record(scene, rng))
    return rec, W3.scene_points(rng, scene.objects, points)


def write_benchmark_3d(
    out: str | Path, *, seed: int, n: int, points: int, suite: bool = False, progress: bool = True
) -> tuple[Stats, set[str]]:
    """Write ``out/3D_Benchmark`` (the 3D suite's files too with ``suite``); return stats and the hashes
    of every test point cloud."""
    root = Path(out) / "3D_Benchmark"
    stats, hashes = Stats(), set()
    specs = [s for s in datasets_3d() if s.mini is not None and (suite or s.mini.scene != "suite")]
    with progress_bar(
        total=n * len(specs), desc="3D benchmark", unit="rec", disable=not progress, leave=False
    ) as bar:
        for spec in specs:
            make = functools.partial(bench3d_record, spec)
            write_dataset_3d(root, spec.meta_file, spec.name, make, n=n, seed=seed, points=points,
                             stats=stats, hashes=hashes, bar=bar)  # fmt: skip
    return stats, hashes


def write_dataset_3d(
    root: Path,
    meta_file: str,
    name: str,
    make: Callable[[int, int, int], tuple[dict, np.ndarray]],
    *,
    n: int,
    seed: int,
    points: int,
    stats: Stats,
    hashes: set[str],
    bar: Any,
) -> None:
    """Records ``make(index, seed, points) -> (record, cloud)`` for ``index < n``: each cloud saved at its
    record's ``pcl`` path, then ``root/meta_file/<meta_file>``; counted in ``stats`` under ``name``."""
    records = []
    for i in range(n):
        rec, pts = make(i, seed, points)
        path = root / rec["pcl"]
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, pts, allow_pickle=False)
        hashes.add(pixels_hash(pts))
        records.append(rec)
        bar.update()
    path = root / "meta_file" / meta_file
    write_json_official(path, records)
    stats.files.append(str(path))
    stats.records[f"3D_Benchmark/{name}"] += n
    stats.media += n
