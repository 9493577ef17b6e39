"""``baseline:trivial[:SEED]``: the trivial answers a model must beat, scored like any model.

Each task file declares its baseline (``DatasetSpec.baseline``, shared builders in ``lamm.tasks.common``):
the majority label (CIFAR10, UCMerced, CelebA(Hair), CelebA(Smile)), a random option (multiple choice:
SQAimage, AI2D, ScanQA; seeded per record), the mean count (FSC147) and the mean box (ScanRefer
grounding). The majority and the means are taken over the benchmark file itself, which flatters the
baseline. Other datasets have no trivial answer: :func:`datasets` lists those it answers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamm.bench.eval.adapters import Adapter, register_adapter
from lamm.formats.benchmark import BenchRecord, load_benchmark
from lamm.tasks import DatasetSpec, all_datasets


def datasets() -> list[str]:
    """The keys of the datasets with a trivial baseline, in registry order."""
    return [s.key for s in all_datasets() if s.baseline is not None and s.mode == "common"]


class TrivialBaseline(Adapter):
    kind = "baseline"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(f"baseline:trivial:{seed}")
        self.seed = seed
        self._answer: dict[str, Callable[[BenchRecord], str]] = {}

    def prepare(self, benchmark_dir: str | Path, specs: list[DatasetSpec]) -> None:
        """Each dataset's answer builder (majority label / mean count over its records...)."""
        for spec in specs:
            if spec.mode == "common" and spec.baseline is not None:
                load = lambda spec=spec: load_benchmark(benchmark_dir, spec)  # noqa: E731
                self._answer[spec.key] = spec.baseline(load, self.seed, spec.key)

    def replay(self, spec: DatasetSpec, record: BenchRecord) -> str:
        if spec.key not in self._answer:
            raise ValueError(
                f"the trivial baseline has no answer for {spec.key}; it answers {', '.join(datasets())}"
            )
        return self._answer[spec.key](record)

    def decoding(self) -> dict[str, Any]:
        return {"baseline": "majority label / random option / mean count", "seed": self.seed}


@register_adapter("baseline")
def build(arg: str) -> TrivialBaseline:
    name, _, seed = arg.partition(":")
    if name != "trivial":
        raise ValueError(f"baseline spec must be baseline:trivial[:SEED], got baseline:{arg}")
    return TrivialBaseline(int(seed or 0))
