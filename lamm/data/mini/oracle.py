"""Oracle answers for a benchmark: what a perfect model trained on LAMM-Mini would say, from the ground truth.

Each answer is the C4 template response for the record's annotation, so scoring it checks that the
instruction responses and the benchmark ground truth agree with the official scorers (every 2D dataset
should score perfectly). Useful as an upper bound in reports and as a scorer smoke test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lamm.data.c4 import c4_conversation
from lamm.formats.benchmark import BenchRecord, load_benchmark, media_file
from lamm.tasks import DatasetSpec


def _last_answer(task: str, ann: dict, index: int) -> str:
    conv = c4_conversation(task, ann, np.random.default_rng(index))
    return conv[-1]["value"]


def _size(benchmark_dir: Path, rec: BenchRecord) -> tuple[int, int]:
    from PIL import Image

    with Image.open(media_file(benchmark_dir, rec)) as im:
        return im.size


def oracle_text(benchmark_dir: str | Path, spec: DatasetSpec, rec: BenchRecord) -> Any:
    """The ``text`` of a correct answer to ``rec`` (a joint-name -> text object for LSP keypoints),
    from the task file's ``mini.oracle`` given the image size and the C4 last-answer function."""
    if spec.mini is None:
        raise KeyError(f"no oracle for dataset {spec.key!r}")
    size = _size(Path(benchmark_dir), rec) if spec.needs_image_size else None
    return spec.mini.oracle(rec.raw, size, lambda task, ann: _last_answer(task, ann, rec.index))


def oracle_answers(benchmark_dir: str | Path, spec: DatasetSpec) -> list[dict[str, Any]]:
    """Official-format answers (``id``, ``text``) for every record of one dataset, in file order."""
    return [
        {"id": rec.id, "text": oracle_text(benchmark_dir, spec, rec)}
        for rec in load_benchmark(benchmark_dir, spec)
    ]
