"""LAMM-Mini 2D benchmark: every official 2D meta file (11 common + 3 locating) with its images.

Records follow LAMM_FORMATS §2.1: official file and folder names, ``id``/``image``/``query`` plus the
ground-truth fields the scorers read, in their conventions (VOC boxes normalised, LSP joints and FSC147
points in pixels). Each task file's ``mini`` hook (``lamm.tasks``) names the scene kind, the image folder
and builds the record; queries come from the official prompt building blocks (the CelebA queries are
our own wording: the official strings are not public in code).
"""

from __future__ import annotations

from pathlib import Path

from lamm.data.mini import world2d as W
from lamm.data.mini.common import Stats, pixels_hash, record_rng, save_png, slug
from lamm.formats.jsonio import write_json_official
from lamm.progress import progress_bar
from lamm.tasks import DatasetSpec, datasets_2d


def bench_record(spec: DatasetSpec, index: int, seed: int, size: int) -> tuple[dict, W.Item]:
    """Record ``index`` of one benchmark dataset (test split) and its rendered item."""
    rng = record_rng(seed, "test", spec.key, index)
    mini = spec.mini
    item = W.MAKERS[mini.scene](rng, size)
    rid = f"{slug(spec.key)}_{index:05d}"
    rec = {"id": rid, "image": f"{mini.folder}/{rid}.png"}
    rec.update(mini.record(item, rng))
    return rec, item


def write_benchmark_2d(
    out: str | Path, *, seed: int, n: int, size: int, progress: bool = True
) -> tuple[Stats, set[str]]:
    """Write ``out/2D_Benchmark``; return the stats and the pixel hashes of every test image."""
    root = Path(out) / "2D_Benchmark"
    stats, hashes = Stats(), set()
    specs = [s for s in datasets_2d() if s.mini is not None]
    with progress_bar(
        total=n * len(specs), desc="2D benchmark", unit="rec", disable=not progress, leave=False
    ) as bar:
        for spec in specs:
            records = []
            for i in range(n):
                rec, item = bench_record(spec, i, seed, size)
                save_png(item.image, root / rec["image"])
                hashes.add(pixels_hash(item.image))
                records.append(rec)
                bar.update()
            path = root / "meta_file" / spec.meta_file
            write_json_official(path, records)
            stats.files.append(str(path))
            stats.records[f"2D_Benchmark/{spec.key}"] += len(records)
            stats.media += len(records)
    return stats, hashes
