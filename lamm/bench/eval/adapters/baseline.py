"""``baseline:trivial[:SEED]``: the trivial answers a model must beat, scored like any model.

Per dataset: the majority label (CIFAR10, UCMerced, CelebA(Hair), CelebA(Smile)), a random option
(multiple choice: SQAimage, AI2D, ScanQA; seeded per record), the mean count (FSC147) and the mean box
(ScanRefer grounding). The majority and the means are taken over the benchmark file itself, which
flatters the baseline. Other datasets have no trivial answer: :data:`DATASETS` lists those it answers.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from lamm.bench.eval.adapters import Adapter, register_adapter
from lamm.formats.benchmark import BenchRecord, load_benchmark
from lamm.metrics.parse import fmt_nums
from lamm.protocol.datasets import DatasetSpec

MAJORITY = {"CIFAR10": "label", "UCMerced": "label", "CelebA(Hair)": "attr", "CelebA(Smile)": "attr"}
CHOICE = ("SQAimage", "AI2D", "ScanQA_multiplechoice")
COUNT = ("FSC147",)
MEAN_BOX = ("ScanRefer",)
DATASETS = (*MAJORITY, *CHOICE, *COUNT, *MEAN_BOX)


class TrivialBaseline(Adapter):
    kind = "baseline"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(f"baseline:trivial:{seed}")
        self.seed = seed
        self._answer: dict[str, str] = {}

    def prepare(self, benchmark_dir: str | Path, specs: list[DatasetSpec]) -> None:
        """Majority label / mean count of each dataset's records."""
        for spec in specs:
            if spec.mode != "common":
                continue
            if spec.name in MAJORITY:
                records = load_benchmark(benchmark_dir, spec)
                top = Counter(str(r.raw[MAJORITY[spec.name]]) for r in records).most_common(1)[0][0]
                if spec.name == "CelebA(Smile)":
                    top = "The person is smiling." if top == "1" else "The person is not smiling."
                self._answer[spec.key] = top
            elif spec.name in COUNT:
                records = load_benchmark(benchmark_dir, spec)
                mean = round(sum(int(r.raw["num"]) for r in records) / max(1, len(records)))
                self._answer[spec.key] = f"There are {mean} objects."
            elif spec.name in MEAN_BOX:
                boxes = [[float(v) for v in r.raw["object"]] for r in load_benchmark(benchmark_dir, spec)]
                mean_box = [sum(col) / max(1, len(boxes)) for col in zip(*boxes)]
                self._answer[spec.key] = fmt_nums(mean_box)

    def replay(self, spec: DatasetSpec, record: BenchRecord) -> str:
        if spec.name in CHOICE and spec.mode == "common":
            digest = hashlib.sha256(f"{self.seed}:{spec.key}:{record.id}".encode()).digest()
            k = digest[0] % len(record.raw["gt_choices"])
            return f"The answer is ({'ABCDEFG'[k]})."
        if spec.key not in self._answer:
            raise ValueError(
                f"the trivial baseline has no answer for {spec.key}; it answers {', '.join(DATASETS)}"
            )
        return self._answer[spec.key]

    def decoding(self) -> dict[str, Any]:
        return {"baseline": "majority label / random option / mean count", "seed": self.seed}


@register_adapter("baseline")
def build(arg: str) -> TrivialBaseline:
    name, _, seed = arg.partition(":")
    if name != "trivial":
        raise ValueError(f"baseline spec must be baseline:trivial[:SEED], got baseline:{arg}")
    return TrivialBaseline(int(seed or 0))
