"""Evaluation throughput: the same tiny LAMM model on the same LAMM-Mini records, batch 32 vs batch 1.

Runs ``lamm eval``'s engine twice (the ``lamm:`` adapter's batched, left-padded, KV-cached greedy
generation) and prints samples/s of both and whether every answer is identical.

    .venv/bin/python bench/eval_throughput.py [--records 64] [--max-new-tokens 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    ap.add_argument("--dataset", default="CIFAR10")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from lamm.bench.eval.adapters.lamm import LammAdapter
    from lamm.bench.eval.config import EvalConfig
    from lamm.bench.eval.datasets import select_datasets
    from lamm.bench.eval.runner import evaluate
    from lamm.data.mini import build_mini
    from lamm.model.lamm_model import build_model
    from lamm.model.tiny import build_tiny
    from lamm.train.config import DataFile
    from lamm.train.tiny_base import tokenizer_corpus

    tmp = Path(tempfile.mkdtemp(prefix="lamm-eval-throughput-"))
    build_mini(tmp / "mini", seed=0, train=10, test=args.records, with_3d=False, progress=False)
    bench = tmp / "mini" / "2D_Benchmark"
    # the tiny preset's model: 64 px images, 8 px patches (64 media tokens), 2-layer 256-wide LLaMA, a
    # 2000-token BPE trained on the instruction data and system messages (as `lamm train --preset tiny`)
    files = [
        DataFile(str(p), None, 1.0)
        for p in sorted((tmp / "mini" / "2D_Instruct" / "meta_file").glob("*.json"))
    ]
    cfg = build_tiny(tmp / "base", tokenizer_corpus(files), vocab_size=2000, image_size=64, patch_size=8,
                     vision_layers=2, llm_hidden=256)  # fmt: skip
    torch.manual_seed(0)
    model, tok = build_model(cfg)
    adapter = LammAdapter("tiny-random", model=model, tokenizer=tok, max_new_tokens=args.max_new_tokens)

    rates, answers = {}, {}
    for bs in (args.batch_size, 1):
        out = tmp / f"run-bs{bs}"
        ecfg = EvalConfig("lamm:tiny-random", bench, select_datasets(bench, args.dataset), out,
                          batch_size=bs, score=False)  # fmt: skip
        t0 = time.perf_counter()
        evaluate(ecfg, adapter)
        dt = time.perf_counter() - t0
        rows = [json.loads(line) for line in (out / "answers.jsonl").open()]
        rates[bs], answers[bs] = len(rows) / dt, [r["text"] for r in rows]
        print(f"batch {bs:>2}: {len(rows)} records in {dt:.2f} s = {rates[bs]:.2f} samples/s")
    same = answers[args.batch_size] == answers[1]
    speedup = rates[args.batch_size] / rates[1]
    print(f"speed-up batch {args.batch_size} vs 1: {speedup:.1f}x; identical greedy answers: {same}")
    print(f"example answer: {answers[1][0]!r}")
    return 0 if same and speedup >= 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
