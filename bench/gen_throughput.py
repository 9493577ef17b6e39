"""Data-build throughput: LLM generation concurrency and C4 template speed.

1. C1 samples through the real pipeline pieces (context -> prompt -> ``openai`` client -> parse ->
   validate) against the local OpenAI-compatible stub (tests/servers/chat_stub.py, its own process) with
   100 ms latency per request: concurrency 16 vs sequential, in the same run. Target >= 8x samples/s.
2. C4 template generation (annotation -> task annotation -> templated conversation -> validation ->
   record), no I/O. Target >= 20,000 samples/s.

    .venv/bin/python bench/gen_throughput.py [--repeats 3] [--latency 0.1]

Prints the median of the repeats (and every run).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lamm.data.construct.generate_llm import llm_conversation  # noqa: E402
from lamm.data.construct.jobs import Job, run_template_job  # noqa: E402
from lamm.data.construct.llm import LLMClient  # noqa: E402
from lamm.data.construct.sources import Item  # noqa: E402

LABELS = ["person", "dog", "cat", "car", "chair", "bottle", "bird", "tv"]


def make_items(n: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        objs = []
        for _ in range(rng.randint(1, 6)):
            x, y = rng.random() * 0.7, rng.random() * 0.7
            objs.append(
                {
                    "label": rng.choice(LABELS),
                    "bbox": [round(x, 3), round(y, 3), round(x + 0.2, 3), round(y + 0.25, 3)],
                }
            )
        ann = {"captions": [f"A scene with a {objs[0]['label']} number {i}."], "objects": objs,
               "label": rng.choice(LABELS), "count": {"label": "dog", "count": rng.randint(1, 9)},
               "words": ["OPEN", "24", "HOURS"][: rng.randint(1, 3)]}  # fmt: skip
        items.append(Item("bench", f"{seed}_{i:06d}", f"images/{i}.jpg", "2d", ann, "bench"))
    return items


def llm_rate(url: str, concurrency: int, n: int, seed: int) -> float:
    client = LLMClient(base_url=url, model="stub", concurrency=concurrency, timeout_s=30, cache_dir=None)
    items = make_items(n, seed)
    params = {"temperature": 0.7, "max_tokens": 256}

    def one(it: Item) -> bool:
        out = llm_conversation(
            client, "daily_dialogue", it, random.Random(it.id), seed=0, format_retries=0, params=params
        )
        return out.conversation is not None

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        ok = sum(ex.map(one, items))
    dt = time.perf_counter() - t
    assert ok == n, f"{n - ok} samples failed"
    return n / dt


def c4_rate(n: int, seed: int) -> float:
    tasks = ["detection", "counting", "locating", "classification", "ocr", "caption"]
    items = make_items(max(1, n // len(tasks)), seed)
    jobs = [
        Job(i, f"bench|{it.id}|vision_task|{t}", it, "vision_task", t)
        for i, (it, t) in enumerate((it, t) for it in items for t in tasks)
    ]
    t = time.perf_counter()
    for job in jobs:
        rec, reasons = run_template_job(job, seed)
        assert rec is not None, reasons
    return len(jobs) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--n-seq", type=int, default=24)
    ap.add_argument("--n-conc", type=int, default=192)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--n-c4", type=int, default=30000)
    args = ap.parse_args()

    stub = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/servers/chat_stub.py"), "--latency", str(args.latency)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        url = stub.stdout.readline().strip()
        llm_rate(url, 4, 8, 99)  # warm up connections and imports
        seq, conc = [], []
        for r in range(args.repeats):
            seq.append(llm_rate(url, 1, args.n_seq, 2 * r))
            conc.append(llm_rate(url, args.concurrency, args.n_conc, 2 * r + 1))
            print(
                f"run {r}: sequential {seq[-1]:.2f} samples/s, concurrency {args.concurrency} {conc[-1]:.2f} samples/s"
            )
    finally:
        stub.terminate()
        stub.wait()
    ms, mc = statistics.median(seq), statistics.median(conc)
    print(f"LLM C1 generation, stub latency {args.latency * 1000:.0f} ms: median sequential {ms:.2f} samples/s, "
          f"median concurrency {args.concurrency} {mc:.2f} samples/s, speed-up {mc / ms:.1f}x (target >= 8x)")  # fmt: skip
    rates = [c4_rate(args.n_c4, r) for r in range(args.repeats)]
    print("C4 template runs: " + ", ".join(f"{r:,.0f}" for r in rates) + " samples/s")
    print(f"C4 template generation: median {statistics.median(rates):,.0f} samples/s (target >= 20,000)")


if __name__ == "__main__":
    main()
