"""A 3D model's scores on LAMM-Mini 3D next to trivial baselines, all through ``lamm.bench.score``.

Baselines are written as answer texts and scored by the same scorer as the model, so parsing is identical:
ScanQA_multiplechoice: a random option (mean over 20 seeds; the exact expectation is printed too) and the
most frequent correct letter of the test set (an oracle majority); ScanRefer: the mean box of the
training grounding answers (3D_Instruct) and the mean test box (oracle); ScanNet: every object class of
the test set with the mean test box (oracle), for context.

    lamm eval --model lamm:runs/tiny-3d/final --benchmark-dir LAMM-Mini/3D_Benchmark --out runs/tiny-3d-eval
    .venv/bin/python bench/tiny_3d.py --benchmark-dir LAMM-Mini/3D_Benchmark \
        --instruct LAMM-Mini/3D_Instruct/meta_file --answers runs/tiny-3d-eval/answers
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
from pathlib import Path

from lamm.bench.score import score_dataset
from lamm.formats import load_benchmark
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json_array
from lamm.protocol.prompts import LETTERS, fmt_nums
from lamm.tasks import find_dataset

DATASETS = ("ScanQA_multiplechoice", "ScanRefer", "ScanNet")
_BOX = re.compile(r"\[([^\[\]]+)\]")


def _score(bench: Path, name: str, texts: list[str], records) -> dict:
    answers = [{"id": r.id, "text": t} for r, t in zip(records, texts)]
    res = score_dataset(bench, name, answers)
    return {k: res[k] for k in res if k not in ("samples", "versions", "skipped", "meta_file", "answers")}


def _mean(boxes: list[list[float]]) -> list[float]:
    return [sum(b[i] for b in boxes) / len(boxes) for i in range(6)]


def train_boxes(instruct_dir: Path) -> list[list[float]]:
    """Boxes of the gpt answers of visual_grounding3d training samples."""
    out = []
    for f in sorted(instruct_dir.glob("*.json")):
        for rec in read_json_array(f):
            if rec.get("task_type") != "visual_grounding3d":
                continue
            for turn in rec["conversations"]:
                if turn["from"] == "gpt" and (m := _BOX.search(turn["value"])):
                    nums = [float(x) for x in m.group(1).split(",")]
                    if len(nums) == 6:
                        out.append(nums)
    return out


def baselines(bench: Path, instruct: Path | None) -> dict[str, dict]:
    out: dict[str, dict] = {}
    qa = load_benchmark(bench, find_dataset("ScanQA_multiplechoice"))
    n_opts = [len(r.raw["gt_choices"]) for r in qa]
    runs = []
    for seed in range(20):
        rng = random.Random(seed)
        picks = [rng.randrange(n) for n in n_opts]
        texts = [f"The answer is ({LETTERS[p]}) {r.raw['gt_choices'][p]}." for r, p in zip(qa, picks)]
        runs.append(_score(bench, "ScanQA_multiplechoice", texts, qa)["value"])
    out["ScanQA random option"] = {
        "value": sum(runs) / len(runs),
        "expected": sum(1 / n for n in n_opts) / len(n_opts),
    }
    gold = [
        r.raw["gt_choices"].index(r.raw["gt_choice"])
        if isinstance(r.raw["gt_choice"], str)
        else int(r.raw["gt_choice"])
        for r in qa
    ]
    top = collections.Counter(gold).most_common(1)[0][0]
    texts = [
        f"The answer is ({LETTERS[top]}) {r.raw['gt_choices'][min(top, len(r.raw['gt_choices']) - 1)]}."
        for r in qa
    ]
    out[f"ScanQA majority letter ({LETTERS[top]}, oracle)"] = _score(
        bench, "ScanQA_multiplechoice", texts, qa
    )

    vg = load_benchmark(bench, find_dataset("ScanRefer"))
    test_mean = _mean([[float(x) for x in r.raw["object"]] for r in vg])
    out["ScanRefer mean test box (oracle)"] = _score(bench, "ScanRefer", [fmt_nums(test_mean)] * len(vg), vg)
    if instruct is not None and (boxes := train_boxes(instruct)):
        out[f"ScanRefer mean training box (n={len(boxes)})"] = _score(
            bench, "ScanRefer", [fmt_nums(_mean(boxes))] * len(vg), vg
        )

    det = load_benchmark(bench, find_dataset("ScanNet"))
    objs = [o for r in det for o in r.raw["object"]]
    mean_box = fmt_nums(_mean([[float(x) for x in o["bbox"]] for o in objs]))
    labels = sorted({o["label"] for o in objs})
    text = ", ".join(f"{lab} {mean_box}" for lab in labels)
    out["ScanNet all labels + mean box (oracle)"] = _score(bench, "ScanNet", [text] * len(det), det)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark-dir", type=Path, required=True)
    ap.add_argument(
        "--instruct", type=Path, help="3D_Instruct/meta_file (training boxes for the mean-box baseline)"
    )
    ap.add_argument("--answers", type=Path, help="folder of the model's official answer files (lamm eval)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    table = {"baselines": baselines(args.benchmark_dir, args.instruct), "model": {}}
    if args.answers:
        for name in DATASETS:
            try:
                table["model"][name] = _score_file(args.benchmark_dir, name, args.answers)
            except FormatError as exc:  # e.g. a dataset that was not evaluated
                table["model"][name] = {"error": str(exc)}
    if args.json:
        print(json.dumps(table, indent=1))
        return
    for section, rows in table.items():
        print(f"== {section}")
        for name, res in rows.items():
            extra = {k: v for k, v in res.items() if k not in ("dataset", "mode", "value", "n", "protocol")}
            value = res.get("value")
            print(f"  {name:45s} {value if value is None else round(value, 4)}  {json.dumps(extra)[:200]}")


def _score_file(bench: Path, name: str, answers: Path) -> dict:
    res = score_dataset(bench, name, answers)
    return {k: res[k] for k in res if k not in ("samples", "versions", "skipped", "meta_file")}


if __name__ == "__main__":
    main()
