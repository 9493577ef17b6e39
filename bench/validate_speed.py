"""Time `lamm data validate` media checks: a synthetic 2D benchmark of photo-sized JPEGs + 3D clouds.

    .venv/bin/python bench/validate_speed.py [--images 400] [--clouds 40] [--workers 1 2]

Prints records/s and media files/s per worker count (every image is fully decoded, every cloud loaded).
The JPEGs hold random noise, the slowest case to decode (~7 ms each here; a photo-like 500x375 JPEG ~2 ms).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lamm.data.validate import validate_path


def build(root: Path, n_images: int, n_clouds: int) -> None:
    rng = np.random.default_rng(0)
    b2 = root / "2D_Benchmark"
    (b2 / "meta_file").mkdir(parents=True)
    (b2 / "voc2012_images").mkdir()
    base = rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)
    recs = []
    for i in range(n_images):
        Image.fromarray(np.roll(base, i, axis=1)).save(b2 / "voc2012_images" / f"{i}.jpg", quality=90)
        recs.append({"id": str(i), "image": f"voc2012_images/{i}.jpg", "query": "q",
                     "object": [{"label": "cat", "bbox": [0.1, 0.1, 0.5, 0.5]}]})  # fmt: skip
    (b2 / "meta_file" / "Detection_VOC2012.json").write_text(json.dumps(recs))
    b3 = root / "3D_Benchmark"
    (b3 / "meta_file").mkdir(parents=True)
    (b3 / "scannet_pcls").mkdir()
    recs = []
    for i in range(n_clouds):
        np.save(b3 / "scannet_pcls" / f"s{i}.npy", rng.uniform(0, 5, (50_000, 6)).astype(np.float32))
        recs.append(
            {"id": f"s{i}", "pcl": f"./scannet_pcls/s{i}.npy", "query": "q", "object": [1, 1, 1, 1, 1, 1]}
        )
    (b3 / "meta_file" / "VG_ScanRefer.json").write_text(json.dumps(recs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--clouds", type=int, default=40)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.images, args.clouds)
        print(f"{args.images} JPEGs 500x375, {args.clouds} clouds 50,000x6 float32")
        for w in args.workers:
            t = time.perf_counter()
            rep = validate_path(root, workers=w)
            dt = time.perf_counter() - t
            assert rep.ok, rep.format_text()
            s = rep.summary()
            print(
                f"workers={w}: {dt:.2f} s, {s['records'] / dt:.0f} records/s, {s['media']['checked'] / dt:.0f} media files/s"
            )


if __name__ == "__main__":
    main()
