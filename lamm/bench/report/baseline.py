"""The trivial baseline (majority label, random option, mean count, mean box) scored from the benchmark
files, for a benchmark group that came without a ``baseline:trivial`` run.

Apart from the leaderboard because this is scoring (the eval adapter and :mod:`lamm.bench.score`), not
table building.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamm.formats.benchmark import load_benchmark
from lamm.tasks import all_datasets

TRIVIAL_NAME = "trivial baseline"


def trivial_baseline(bench: str | Path, keys: list[str], protocol: str = "lamm") -> dict[str, Any]:
    """Score the trivial baseline (:mod:`lamm.bench.eval.adapters.baseline`) on the datasets of ``keys``
    that have one; ``{key: entry with value, score and samples}``."""
    from lamm.bench.eval.adapters.baseline import TrivialBaseline
    from lamm.bench.score import score_dataset

    specs = [s for s in all_datasets() if s.key in keys and s.mode == "common" and s.baseline]
    base = TrivialBaseline()
    base.prepare(bench, specs)
    out = {}
    for spec in specs:
        answers = [{"id": r.id, "text": base.replay(spec, r)} for r in load_benchmark(bench, spec)]
        score = score_dataset(bench, spec, answers, protocol=protocol, on_error="skip")
        out[spec.key] = {"dataset": spec.name, "mode": spec.mode, "metric": score["metric"],
                         "value": score["value"], "score": score, "samples": score.pop("samples", None)}  # fmt: skip
    return out
