"""Build the whole LAMM-Mini world and describe what was written."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lamm import __version__
from lamm.data.mini.bench2d import write_benchmark_2d
from lamm.data.mini.common import Stats
from lamm.data.mini.instruct2d import write_instruct_2d
from lamm.formats.paths import MINI_MANIFEST as MANIFEST


@dataclass
class BuildSummary:
    out: str
    seed: int
    train: int
    test: int
    image_size: int
    files: list[str] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    media: int = 0
    seconds: float = 0.0
    instruct_2d: str | None = None
    instruct_3d: str | None = None

    def by_task_type(self) -> dict[str, int]:
        """Instruction records per task_type (2D and 3D)."""
        out: Counter = Counter()
        for k, v in self.records.items():
            if "_Instruct/" in k:
                out[k.split("/", 1)[1]] += v
        return dict(out)

    def text(self) -> str:
        lines = [
            f"LAMM-Mini in {self.out} (seed {self.seed}, {self.train} train samples per task, "
            f"{self.test} test records per dataset, {self.image_size} px images)"
        ]
        for k in sorted(self.records):
            lines.append(f"  {k:<40} {self.records[k]:>7}")
        lines.append(f"  files: {len(self.files)} meta files, {self.media} images/point clouds")
        lines.append(f"  time: {self.seconds:.1f} s")
        return "\n".join(lines)


def build_mini(
    out: str | Path,
    *,
    seed: int = 0,
    train: int = 1000,
    test: int = 100,
    image_size: int = 64,
    with_3d: bool = True,
    points: int = 2048,
    train_3d: int | None = None,
    pretrain: int | None = None,
    suite_3d: bool = False,
    progress: bool = True,
) -> BuildSummary:
    """Write LAMM-Mini under ``out``; same arguments -> byte-identical meta files.

    ``train`` samples per 2D instruction task; 3D gets ``train_3d`` scenes (default ``train // 2``), each
    giving one sample of every 3D scene task, plus as many single-object clouds (classification3d).
    ``pretrain`` scenes form the tiny vision tower's pre-training corpus (``2D_Pretrain``; 0: none;
    default ``min(12000, 24 * train)``: what the ``tiny`` preset needs at the quickstart's 500).
    ``suite_3d`` adds the 3D-LLM suite (the registry's suite datasets from ``bench3d_suite``: ScanQA
    open-ended, SQA3D, Scan2Cap, Multi3DRefer test files, and their training samples); off by default, so the default data is unchanged.
    """
    if train < 1 or test < 1:
        raise ValueError(f"train and test must be >= 1, got train={train}, test={test}")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 px, got {image_size}")
    t0 = time.perf_counter()
    out = Path(out)
    stats = Stats()
    bench, test_hashes = write_benchmark_2d(out, seed=seed, n=test, size=image_size, progress=progress)
    stats.merge(bench)
    stats.merge(
        write_instruct_2d(out, seed=seed, n=train, size=image_size, avoid=test_hashes, progress=progress)
    )
    pretrain = min(12000, 24 * train) if pretrain is None else pretrain
    if pretrain:
        from lamm.data.mini.pretrain2d import write_tower_corpus

        corpus = write_tower_corpus(out, seed=seed, n=pretrain, size=image_size, avoid=test_hashes, progress=progress)  # fmt: skip
        stats.merge(corpus)
    if with_3d:
        from lamm.data.mini.bench3d import write_benchmark_3d
        from lamm.data.mini.instruct3d import write_instruct_3d

        bench3, test3 = write_benchmark_3d(out, seed=seed, n=test, points=points, suite=suite_3d, progress=progress)  # fmt: skip
        stats.merge(bench3)
        n3 = train_3d if train_3d is not None else max(1, train // 2)
        stats.merge(write_instruct_3d(out, seed=seed, n=n3, points=points, avoid=test3, suite=suite_3d, progress=progress))  # fmt: skip
    root = out.resolve()
    rel = [str(Path(f).resolve().relative_to(root)) for f in stats.files]
    summary = BuildSummary(
        str(out), seed, train, test, image_size, rel, dict(sorted(stats.records.items())), stats.media,
        instruct_2d=next((f for f in rel if "2D_Instruct/meta_file/LAMM_instruct_" in f), None),
        instruct_3d=next((f for f in rel if "3D_Instruct/meta_file/LAMM_3dinstruct_" in f), None),
    )  # fmt: skip
    summary.seconds = time.perf_counter() - t0
    manifest = {
        "generator": "lamm-mini", "lamm_version": __version__, "seed": seed, "train": train, "test": test,
        "image_size": image_size, "points": points if with_3d else None, "train_3d": train_3d, "pretrain": pretrain,
        **({"suite_3d": True} if suite_3d else {}), "files": rel,
        "records": summary.records, "instruct_2d": summary.instruct_2d, "instruct_3d": summary.instruct_3d,
    }  # fmt: skip
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return summary
