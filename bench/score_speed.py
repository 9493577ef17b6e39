"""Time ``lamm score`` on a full-size synthetic 2D benchmark: 62,439 answers over the 11 common datasets.

Per-dataset sizes follow the LAMM 2D benchmark (62,439 samples in all; per-file counts are not published,
so they are estimates from the public test splits: CIFAR10 10,000 test images; VOC2012 4,952; SQAimage
2,017 ScienceQA test questions with images; AI2D 3,088; flickr30k 1,000 Karpathy test; UCMerced 420 (20 %
of 2,100); FSC147 1,190 test; SVT 249 test; CelebA(Smile) 19,962 test; LSP 1,000 test; CelebA(Hair) the
remaining 18,561). Every record gets its own tiny PNG (all 2D scorers open every image, as officially) and
a template answer with random content, so answer texts are nearly all distinct (no cache shortcut).

    .venv/bin/python bench/score_speed.py [--workdir DIR] [--runs 3] [--scale 1.0]

Run 1 is cold (WordNet load, empty caches); later runs clear the image and per-text caches but keep the
per-word WordNet caches (as one long ``lamm eval`` process would). Prints samples/s; target < 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

SIZES = {
    "CIFAR10": 10000, "VOC2012": 4952, "SQAimage": 2017, "AI2D": 3088, "flickr30k": 1000,
    "UCMerced": 420, "FSC147": 1190, "SVT": 249, "CelebA(Smile)": 19962, "CelebA(Hair)": 18561, "LSP": 1000,
}  # fmt: skip
CIFAR = "airplane automobile bird cat deer dog frog horse ship truck".split()
VOC = ("aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse motorbike person "
       "pottedplant sheep sofa train tvmonitor").split()  # fmt: skip
UCM = ["agricultural", "airplane", "baseball diamond", "beach", "buildings", "chaparral", "dense residential",
       "forest", "freeway", "golf course", "harbor", "intersection", "medium residential", "mobile home park",
       "overpass", "parking lot", "river", "runway", "sparse residential", "storage tanks", "tennis court"]  # fmt: skip
HAIR = ["black", "blond", "brown", "gray"]
WORDS = ("a the man woman dog cat street red blue green small large walking running sitting near under "
         "beside tree car house water field ball child girl boy old young bright dark two three").split()  # fmt: skip
ADJ = ("small large bright dark red blue green old young tiny huge shiny dull wooden metal striped "
       "plain fluffy busy quiet").split()  # fmt: skip


def _box(rng: random.Random) -> list[float]:
    x1, y1 = rng.random() * 0.6, rng.random() * 0.6
    return [
        round(x1, 3),
        round(y1, 3),
        round(x1 + 0.1 + rng.random() * 0.3, 3),
        round(y1 + 0.1 + rng.random() * 0.3, 3),
    ]


def _sent(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_record(name: str, i: int, rng: random.Random, size: tuple[int, int]) -> tuple[dict, object]:
    """One meta record (without id/image/query) and a plausible answer for it (image ``size`` w, h);
    about 5 % of answers are evasive (exercising the parse-failure paths)."""
    rec, text = _make_record(name, i, rng, size)
    if rng.random() < 0.05:
        evasive = f"Sorry, I cannot tell from image {i}."
        text = {k: evasive for k in text} if isinstance(text, dict) else evasive
    return rec, text


def _make_record(name: str, i: int, rng: random.Random, size: tuple[int, int]) -> tuple[dict, object]:
    adj = f"{rng.choice(ADJ)} {rng.choice(ADJ)}"
    if name == "CIFAR10":
        lab = rng.choice(CIFAR)
        say = lab if rng.random() < 0.7 else rng.choice(CIFAR)
        return {"label": lab}, f"The image shows a {adj} {say} number {i}."
    if name == "VOC2012":
        objs = [{"label": rng.choice(VOC), "bbox": _box(rng)} for _ in range(rng.randint(1, 3))]
        parts = []
        for o in objs:
            b = o["bbox"] if rng.random() < 0.6 else _box(rng)
            parts.append(f"a {o['label']} at [{b[0]}, {b[1]}, {b[2]}, {b[3]}]")
        return {"object": objs}, "In the image there is " + " and ".join(parts) + f", {adj}."
    if name in ("SQAimage", "AI2D"):
        k = rng.randint(2, 5)
        choices = [f"option {rng.choice(WORDS)} {j}" for j in range(k)]
        gt = rng.randrange(k)
        pick = gt if rng.random() < 0.6 else rng.randrange(k)
        style = rng.random()
        if style < 0.6:
            text = f"Because {_sent(rng, 8)}.\n The answer is ({'ABCDE'[pick]})."
        elif style < 0.8:
            text = f"Because {_sent(rng, 8)}.\n The answer is {choices[pick]}"
        else:
            text = f"I think ({'ABCDE'[pick]}) {choices[pick]}"
        return {"gt_choice": gt, "gt_choices": choices}, text
    if name == "flickr30k":
        refs = [_sent(rng, rng.randint(6, 12)).capitalize() + "." for _ in range(5)]
        words = refs[0].rstrip(".").split()
        words[rng.randrange(len(words))] = rng.choice(WORDS)  # a near copy of one reference
        return {"sentences": refs}, " ".join(words) + ". " + _sent(rng, 5) + "."
    if name == "UCMerced":
        lab = rng.choice(UCM)
        return {
            "label": lab
        }, f"This is an aerial image of a {adj} {lab if rng.random() < 0.6 else rng.choice(UCM)}."
    if name == "FSC147":
        n = rng.randint(1, 60)
        guess = max(0, n + rng.randint(-5, 5))
        say = (
            str(guess)
            if rng.random() < 0.8
            else ["zero", "one", "two", "three", "five", "ten"][rng.randrange(6)]
        )
        return {"num": n}, f"There are {say} {adj} objects in the image."
    if name == "SVT":
        words = [
            rng.choice(["hotel", "exit", "bar", "road", "inn", "cafe"]) for _ in range(rng.randint(1, 2))
        ]
        return {
            "word_list": [w.upper() for w in words]
        }, f'The text in the image reads "{" ".join(words)}" ({adj}).'
    if name == "CelebA(Smile)":
        attr = rng.choice(["1", "-1"])
        text = (
            f"Yes, the {adj} person is smiling."
            if rng.random() < 0.5
            else f"No, the {adj} person is not smiling."
        )
        return {"attr": attr}, text
    if name == "CelebA(Hair)":
        c = rng.choice(HAIR)
        say = c if rng.random() < 0.6 else rng.choice(HAIR)
        return {"attr": c}, f"The person in photo {i} has {adj} {say} hair."
    if name == "LSP":
        from lamm.tasks.lsp import LSP_JOINTS

        w, h = size
        joints = [[round(rng.uniform(0, w), 2), round(rng.uniform(0, h), 2), 1] for _ in range(14)]
        text = {j: f"The {j} is at [{round(x / w + rng.uniform(-0.15, 0.15), 3)}, {round(y / h, 3)}]."
                for j, (x, y, _) in zip(LSP_JOINTS, joints)}  # fmt: skip
        return {"gt_joints": joints}, text
    raise KeyError(name)


def build(workdir: Path, scale: float, seed: int = 0) -> Path:
    """Write ``workdir/2D_Benchmark`` (meta files + one 8x8 PNG per record) and ``workdir/answers``."""
    from PIL import Image

    from lamm.formats import write_json_official
    from lamm.tasks import find_dataset

    bench = workdir / "2D_Benchmark"
    stamp = workdir / "built.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == {"scale": scale, "seed": seed, "v": 4}:
        return bench
    rng = random.Random(seed)
    for name, n in SIZES.items():
        spec = find_dataset(name)
        n = max(1, round(n * scale))
        folder = name.lower().replace("(", "_").replace(")", "") + "_images"
        (bench / folder).mkdir(parents=True, exist_ok=True)
        meta, answers = [], []
        for i in range(n):
            rel = f"{folder}/{i}.png"
            size = (8 + i % 5, 8)
            if not (bench / rel).is_file():  # images depend only on (dataset, i): reused across versions
                Image.new("RGB", size, (i % 256, 0, 0)).save(bench / rel)
            rec, text = make_record(name, i, rng, size)
            meta.append({"id": str(i), "image": rel, "query": "q", **rec})
            answers.append({"id": str(i), "text": text, "delta_path": ""})
        write_json_official(bench / "meta_file" / spec.meta_file, meta)
        write_json_official(workdir / "answers" / spec.answer_file, answers)
    stamp.write_text(json.dumps({"scale": scale, "seed": seed, "v": 4}))
    return bench


def score_everything(bench: Path, answers: Path) -> dict[str, dict]:
    from lamm.bench.score import score_dataset
    from lamm.tasks import find_dataset

    return {name: score_dataset(bench, find_dataset(name), answers) for name in SIZES}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=os.environ.get("LAMM_BENCH_DIR", "/tmp/lamm_score_speed"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes (tests use less)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    workdir = Path(args.workdir)
    t = time.perf_counter()
    bench = build(workdir, args.scale)
    print(f"benchmark + answers ready in {time.perf_counter() - t:.1f} s at {workdir}")

    from lamm.bench import score
    from lamm.metrics import labels

    times, cpus, results = [], [], {}
    for r in range(args.runs):
        score.image_size.cache_clear()
        labels.answer_lemmas.cache_clear()
        t, c = time.perf_counter(), time.process_time()
        results = score_everything(bench, workdir / "answers")
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        print(f"run {r + 1}: wall {times[-1]:.2f} s, cpu {cpus[-1]:.2f} s"
              + (" (cold: WordNet load + empty caches)" if r == 0 else ""))  # fmt: skip
    n = sum(res["n"] for res in results.values())
    for name, res in results.items():
        print(f"  {name:14s} n={res['n']:6d}  {res['metric']} = {res['value']:.4f}  "
              f"parse failures {res['parse_failure_rate']:.3f}")  # fmt: skip
    warm = statistics.median(times[1:]) if len(times) > 1 else times[0]
    warm_cpu = statistics.median(cpus[1:]) if len(cpus) > 1 else cpus[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"samples: {n}; cold wall {times[0]:.2f} s / cpu {cpus[0]:.2f} s ({n / times[0]:.0f} samples/s wall); "
        f"warm median wall {warm:.2f} s / cpu {warm_cpu:.2f} s ({n / warm:.0f} samples/s wall, "
        f"{n / warm_cpu:.0f} samples/s cpu); load average {load:.1f} on {os.cpu_count()} cores; target < 10 s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
