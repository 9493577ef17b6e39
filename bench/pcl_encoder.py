"""Benchmark: vectorised FPS + kNN grouping (lamm.model.encoders.pcl_ops) vs a plain Python-loop version.

The paper-sized setting: one scene of 40,000 points -> 256 farthest-point centres -> 32 nearest
neighbours each. Both implementations run in the same process on the same cloud and start point; the
script checks they pick the same centres (and reports how many neighbour lists agree) and prints
points/s (input points grouped per second, median of --runs) and the speed-up.

    .venv/bin/python bench/pcl_encoder.py                 # CPU, 1 thread
    .venv/bin/python bench/pcl_encoder.py --device cuda   # vectorised side on the GPU
"""

from __future__ import annotations

import argparse
import heapq
import json
import platform
import statistics
import time

import numpy as np
import torch

from lamm.model.encoders.pcl_ops import farthest_point_sample, fps_start_indices, gather_points, knn_indices


def loop_fps(points: list[list[float]], num: int, start: int) -> list[int]:
    """Textbook FPS: for every pick, one pass over all points updating the nearest-picked distance."""
    min_d = [float("inf")] * len(points)
    picked, cur = [start], start
    for _ in range(num - 1):
        cx, cy, cz = points[cur]
        best, best_d = -1, -1.0
        for j, (x, y, z) in enumerate(points):
            d = (x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz)
            if d < min_d[j]:
                min_d[j] = d
            if min_d[j] > best_d:
                best, best_d = j, min_d[j]
        picked.append(best)
        cur = best
    return picked


def loop_knn(points: list[list[float]], centres: list[int], k: int) -> list[list[int]]:
    """For each centre, distances to every point and the k smallest (heapq)."""
    out = []
    for c in centres:
        cx, cy, cz = points[c]
        dist = [(x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz) for x, y, z in points]
        out.append(heapq.nsmallest(k, range(len(points)), key=dist.__getitem__))
    return out


def run_vectorised(
    xyz: torch.Tensor, groups: int, k: int, start: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    idx = farthest_point_sample(xyz, groups, start_idx=start)
    nbr = knn_indices(xyz, gather_points(xyz, idx), k)
    if xyz.is_cuda:
        torch.cuda.synchronize()
    return idx, nbr


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=40000)
    ap.add_argument("--groups", type=int, default=256)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--runs", type=int, default=5, help="vectorised runs (median)")
    ap.add_argument("--loop-runs", type=int, default=3, help="Python-loop runs (median)")
    ap.add_argument("--seed", type=int, default=0, help="cloud and FPS start-point seed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(args.seed)
    cloud = (rng.random((args.points, 3)) * np.array([8.0, 6.0, 3.0])).astype(np.float32)  # a room, metres
    xyz = torch.from_numpy(cloud)[None].to(args.device)
    start = fps_start_indices(1, args.points, seed=args.seed, device=args.device)

    run_vectorised(xyz, args.groups, args.k, start)  # warm-up (allocator, kernels)
    vec_t, (idx, nbr) = timed(lambda: run_vectorised(xyz, args.groups, args.k, start), args.runs)
    again, _ = run_vectorised(xyz, args.groups, args.k, start)
    assert torch.equal(idx, again), "vectorised FPS is not deterministic for a fixed seed"

    points = cloud.tolist()

    def loop() -> tuple[list[int], list[list[int]]]:
        centres = loop_fps(points, args.groups, int(start[0]))
        return centres, loop_knn(points, centres, args.k)

    loop_t, (loop_idx, loop_nbr) = timed(loop, args.loop_runs)

    assert idx[0].tolist() == loop_idx, "vectorised and loop FPS picked different centres"
    same_nbrs = sum(a == b for a, b in zip(nbr[0].tolist(), loop_nbr)) / args.groups
    result = {
        "points": args.points,
        "groups": args.groups,
        "k": args.k,
        "seed": args.seed,
        "device": str(xyz.device) + (f" ({torch.cuda.get_device_name()})" if xyz.is_cuda else ""),
        "threads": args.threads,
        "vectorised_s": round(vec_t, 5),
        "loop_s": round(loop_t, 3),
        "vectorised_points_per_s": round(args.points / vec_t),
        "loop_points_per_s": round(args.points / loop_t),
        "speedup": round(loop_t / vec_t, 1),
        "same_centres": True,
        "same_neighbour_lists": same_nbrs,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    print(
        f"FPS + kNN, {args.points} points -> {args.groups} groups x {args.k} "
        f"(median of {args.runs} / {args.loop_runs} runs, {result['device']}, {args.threads} thread(s))\n"
        f"  vectorised : {vec_t * 1e3:9.1f} ms  {result['vectorised_points_per_s']:>12,} points/s\n"
        f"  python loop: {loop_t * 1e3:9.1f} ms  {result['loop_points_per_s']:>12,} points/s\n"
        f"  speed-up   : {result['speedup']}x; same centres: yes; identical neighbour lists: {same_nbrs:.1%}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
