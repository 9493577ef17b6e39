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
from lamm.protocol.datasets import LSP_JOINTS, DatasetSpec


def _last_answer(task: str, ann: dict, index: int) -> str:
    conv = c4_conversation(task, ann, np.random.default_rng(index))
    return conv[-1]["value"]


def _size(benchmark_dir: Path, rec: BenchRecord) -> tuple[int, int]:
    from PIL import Image

    with Image.open(media_file(benchmark_dir, rec)) as im:
        return im.size


def oracle_text(benchmark_dir: str | Path, spec: DatasetSpec, rec: BenchRecord) -> Any:
    """The ``text`` of a correct answer to ``rec`` (a joint-name -> text object for LSP keypoints)."""
    r, i = rec.raw, rec.index
    key = spec.key
    if key == "CIFAR10":
        return _last_answer("classification", {"label": r["label"]}, i)
    if key == "UCMerced":
        return _last_answer("fine_grained", {"label": r["label"]}, i)
    if key == "VOC2012":
        return _last_answer("detection", {"objects": r["object"]}, i)
    if key == "Locating_VOC2012":
        objs = [
            {
                "label": o["label"],
                "point": [(o["bbox"][0] + o["bbox"][2]) / 2, (o["bbox"][1] + o["bbox"][3]) / 2],
            }
            for o in r["object"]
        ]
        return _last_answer("locating", {"objects": objs}, i)
    if key in ("SQAimage", "AI2D", "ScanQA_multiplechoice"):
        return _last_answer("vqa", {"question": "", "choices": r["gt_choices"], "answer": r["gt_choice"]}, i)
    if key == "flickr30k":
        return r["sentences"][0]
    if key == "FSC147":
        return _last_answer("counting", {"label": "object", "count": r["num"]}, i)
    if key == "SVT":
        return _last_answer("ocr", {"words": r["word_list"]}, i)
    if key == "CelebA(Smile)":
        return _last_answer("facial", {"smile": r["attr"] == "1"}, i)
    if key == "CelebA(Hair)":
        return _last_answer("facial", {"hair": r["attr"]}, i)
    w, h = _size(Path(benchmark_dir), rec) if spec.dim == "2d" else (1, 1)
    if key == "LSP":
        joints = {n: [j[0] / w, j[1] / h] for n, j in zip(LSP_JOINTS, r["gt_joints"])}
        return {n: _last_answer("keypoints", {"joints": {n: joints[n]}}, i) for n in LSP_JOINTS}
    if key == "Locating_LSP":
        j = {n: p for n, p in zip(LSP_JOINTS, r["gt_joints"])}
        hip = [(j["right hip"][0] + j["left hip"][0]) / 2 / w, (j["right hip"][1] + j["left hip"][1]) / 2 / h]
        return _last_answer("keypoints", {"joints": {"hip": hip}}, i)
    if key == "Locating_FSC147":
        return _last_answer(
            "locating", {"objects": [{"label": "object", "point": [x / w, y / h]} for x, y in r["points"]]}, i
        )
    if key == "ScanNet":
        return _last_answer("detection3d", {"objects": r["object"]}, i)
    if key == "ScanRefer":
        return _last_answer("grounding3d", {"expression": "", "bbox": r["object"]}, i)
    raise KeyError(f"no oracle for dataset {key!r}")


def oracle_answers(benchmark_dir: str | Path, spec: DatasetSpec) -> list[dict[str, Any]]:
    """Official-format answers (``id``, ``text``) for every record of one dataset, in file order."""
    return [
        {"id": rec.id, "text": oracle_text(benchmark_dir, spec, rec)}
        for rec in load_benchmark(benchmark_dir, spec)
    ]
