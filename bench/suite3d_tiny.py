"""The tiny-3d preset trained on LAMM-Mini ``--suite-3d`` and scored on the 3D-LLM suite (issue 16): the
trained model next to the same model after its first step (untrained, same tokenizer) and baseline:trivial.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python bench/suite3d_tiny.py --out runs/suite3d-tiny

Every step goes through the CLI a user runs (``lamm data mini --suite-3d``, the quickstart's encoder
pre-training, ``lamm train --preset tiny-3d``, ``lamm eval --datasets ScanQA,SQA3D,Scan2Cap,Multi3DRefer,
ScanRefer``). The one change to the preset is ``data.max_length=160``: its 96 text tokens cut the
Multi3DRefer samples with three boxes (about 125 tokens). Writes ``<out>/suite3d_scores.json`` (scores and
versions) and prints one table; tests/test_suite3d_train.py is the same pipeline, smaller, as a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from lamm.cli import main
from lamm.tasks import find_dataset
from lamm.versions import versions

SUITE = ("ScanQA", "SQA3D", "Scan2Cap", "Multi3DRefer", "ScanRefer")
RUNS = ("trained", "first-step", "trivial")


def _cli(*args: str) -> None:
    if main(list(args)) != 0:
        raise SystemExit(f"lamm {' '.join(args[:2])} failed")


def run(out: Path, seed: int, train_3d: int, test: int, steps: int, points: int = 2048) -> dict:
    """Build, pre-train, train (``points``: the preset's ``num_points``), evaluate the three runs."""
    from lamm.train.pretrain.pointcloud import pretrain_for_preset

    data, bench = out / "data", out / "data" / "3D_Benchmark"
    t0 = time.perf_counter()
    if not (data / "mini_manifest.json").is_file():
        _cli("data", "mini", "--out", str(data), "--seed", str(seed), "--suite-3d", "--train", "1",
             "--train-3d", str(train_3d), "--test", str(test), "--pretrain", "0", "--points", str(points), "--quiet")  # fmt: skip
    enc = pretrain_for_preset("tiny-3d", data, out / "encoder", seed=seed)
    model = out / "model"
    train = ["train", "--preset", "tiny-3d", "--data", str(data), "--out", str(model), "--quiet",
             f"model.encoder.path={enc}", "data.max_length=160", f"train.max_steps={steps}"]  # fmt: skip
    first, final = out / "first-step", model / "checkpoints" / f"step-{steps:07d}"
    if not final.is_dir():
        if not first.is_dir():
            _cli(*train, "--stop-after", "1", "--overwrite")
            shutil.copytree(model / "checkpoints" / "step-0000001", first)
        _cli(*train, "--resume")
    t_train = time.perf_counter() - t0
    models = {"trained": f"lamm:{final}", "first-step": f"lamm:{first}", "trivial": "baseline:trivial"}
    scores = {}
    for name, spec in models.items():
        extra = [] if name == "trivial" else ["--max-new-tokens", "96"]
        _cli("eval", "--benchmark-dir", str(bench), "--datasets", ",".join(SUITE), "--model", spec,
             "--out", str(out / "eval" / name), *extra)  # fmt: skip
        res = json.loads((out / "eval" / name / "results.json").read_text("utf-8"))["datasets"]
        scores[name] = {k: {f: res[k]["score"][f] for _, f, _ in find_dataset(k).columns if f} for k in SUITE}
    log = [json.loads(x) for x in (model / "train_log.jsonl").read_text("utf-8").splitlines()]
    return {
        "settings": {
            "seed": seed,
            "train_3d": train_3d,
            "test": test,
            "points": points,
            "steps": steps,
            "preset": "tiny-3d",
            "overrides": ["data.max_length=160"],
        },  # fmt: skip
        "loss": {"first": log[0]["loss"], "last20": sum(r["loss"] for r in log[-20:]) / len(log[-20:])},
        "seconds": {"build_pretrain_train": round(t_train, 1), "total": round(time.perf_counter() - t0, 1)},
        "versions": versions("torch", "transformers", "numpy", "scipy", "nltk"),
        "scores": scores,
    }


def table(result: dict) -> str:
    rows = [("dataset", "column", *RUNS)]
    for key in SUITE:
        for col, field, _ in find_dataset(key).columns:
            if field:
                rows.append((key, col, *(f"{result['scores'][r][key][field]:.3f}" for r in RUNS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/suite3d-tiny"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-3d", type=int, default=250, help="training scenes (9 samples each)")
    ap.add_argument("--test", type=int, default=50, help="records per suite dataset")
    ap.add_argument("--steps", type=int, default=600)
    a = ap.parse_args()
    result = run(a.out, a.seed, a.train_3d, a.test, a.steps)
    (a.out / "suite3d_scores.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(table(result))
    print(json.dumps({k: result[k] for k in ("settings", "loss", "seconds", "versions")}))


if __name__ == "__main__":
    cli()
