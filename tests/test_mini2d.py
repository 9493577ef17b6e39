"""LAMM-Mini 2D: official layout and schema, determinism, disjoint splits, gt agreeing with the pixels,
and a perfect score for gt-derived (oracle) answers under the real scorers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from lamm.data.mini import build_mini
from lamm.data.mini import render2d as R
from lamm.data.mini.oracle import oracle_answers
from lamm.formats import load_benchmark, read_instruct
from lamm.tasks import datasets_2d, find_dataset

SIZE = 64
OFFICIAL_2D = {
    "Classification_CIFAR10.json", "Detection_VOC2012.json", "VQA_SQAimage.json", "VQA_AI2D.json",
    "Caption_flickr30k.json", "Fine-grained_Classification_UCMerced.json", "Counting_FSC147.json",
    "OCR_SVT.json", "Facial_Classification_CelebA(Smile).json", "Facial_Classification_CelebA(Hair).json",
    "Keypoints_Detection_LSP.json", "Locating_VOC2012.json", "Locating_LSP.json", "Locating_FSC147.json",
}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini") / "a"
    build_mini(out, seed=3, train=5, test=8, image_size=SIZE, with_3d=False, progress=False)
    return out


def _meta_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("*/meta_file/*.json"))}


def _img(root: Path, rel: str) -> np.ndarray:
    return np.asarray(Image.open(root / rel).convert("RGB"))


def test_official_files_and_determinism(world: Path, tmp_path: Path) -> None:
    names = {p.name for p in (world / "2D_Benchmark" / "meta_file").iterdir()}
    assert names == OFFICIAL_2D
    instruct = {p.name for p in (world / "2D_Instruct" / "meta_file").iterdir()}
    assert instruct == {
        "daily_dialogue_5.json", "factual_knowledge_dialogue_5.json", "detailed_description_5.json",
        "vision_task_dialogue_55.json", "LAMM_instruct_70.json",
    }  # fmt: skip
    again = tmp_path / "b"
    build_mini(again, seed=3, train=5, test=8, image_size=SIZE, with_3d=False, progress=False)
    assert _meta_bytes(again) == _meta_bytes(world)
    img = "2D_Benchmark/voc2012_images/voc2012_00003.png"
    assert (again / img).read_bytes() == (world / img).read_bytes()
    other = tmp_path / "c"
    build_mini(other, seed=4, train=5, test=8, image_size=SIZE, with_3d=False, progress=False)
    a, b = _meta_bytes(other), _meta_bytes(world)
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)
    manifest = json.loads((world / "lamm_mini.json").read_text())
    assert manifest["instruct_2d"] == "2D_Instruct/meta_file/LAMM_instruct_70.json"


def test_tower_corpus_boxes_match_the_pixels(world: Path) -> None:
    """2D_Pretrain: 24 x --train scenes of the four shape kinds in turn, then one face per 8 scenes, test
    images excluded, and each record's boxes (what the tower's patch targets read) enclose a shape of the
    named colour / the mouth as drawn."""
    from lamm.train.pretrain.clip import box_word_targets

    path = world / "2D_Pretrain" / "meta_file" / "tower_pretrain.json"
    assert len(read_instruct(path)) == 120 + 15  # the official 2D instruction schema
    recs = json.loads(path.read_text())
    assert len(recs) == 120 + 15 and json.loads((world / "lamm_mini.json").read_text())["pretrain"] == 120
    # then one face per 8 scenes: hair, face and mouth boxes; the mouth box holds the smile's red chord
    # exactly when it is labelled an open smile
    faces = recs[120:]
    assert {r["conversations"][1]["value"].count("[") for r in faces} == {3}
    kinds = set()
    for rec in faces:
        answer = rec["conversations"][1]["value"]
        smile = "open smile [" in answer
        assert smile or "closed mouth [" in answer
        seg = answer.split("open smile [" if smile else "closed mouth [")[1].split("]")[0]
        x1, y1, x2, y2 = (round(float(v) * SIZE) for v in seg.split(", "))
        mouth = _img(world / "2D_Pretrain", rec["image"])[y1:y2, x1:x2].reshape(-1, 3).astype(int)
        assert (np.abs(mouth - np.array([150, 20, 30])).sum(1) < 40).any() == smile, rec["id"]
        kinds.add(smile)
    assert kinds == {True, False}
    test_imgs = {hashlib.sha1(_img(world / "2D_Benchmark", r["image"]).tobytes()).hexdigest()
                 for p in (world / "2D_Benchmark" / "meta_file").glob("*.json") for r in json.loads(p.read_text())}  # fmt: skip
    index = {w: i for i, w in enumerate([*R.SHAPES, *R.COLORS])}
    for rec in recs[:8]:
        img = _img(world / "2D_Pretrain", rec["image"])
        assert hashlib.sha1(img.tobytes()).hexdigest() not in test_imgs
        answer = rec["conversations"][1]["value"]
        n = int(rec["conversations"][3]["value"].split()[2])
        assert answer.count("[") == n
        words, noun = box_word_targets(rec, index, grid=4)
        assert words.any(-1).sum() >= 1 and set(noun[noun >= 0].tolist()) <= set(range(len(R.SHAPES)))
        for seg in answer.removeprefix("The objects are: ").rstrip(".").split("], "):
            *_relations, color, _shape = seg.split(" [")[0].split()
            x1, y1, x2, y2 = (round(float(v) * SIZE) for v in seg.split("[")[1].rstrip("]").split(", "))
            box = img[y1:y2, x1:x2].reshape(-1, 3).astype(int)
            assert (np.abs(box - np.array(R.COLORS[color])).sum(1) < 90).any(), (rec["id"], seg)


def test_record_independent_of_counts(world: Path, tmp_path: Path) -> None:
    """Record i is the same whatever --test/--train is: its seed depends only on (seed, split, dataset, i)."""
    small = tmp_path / "s"
    build_mini(small, seed=3, train=2, test=3, image_size=SIZE, with_3d=False, progress=False)
    a = json.loads((small / "2D_Benchmark/meta_file/Counting_FSC147.json").read_text())
    b = json.loads((world / "2D_Benchmark/meta_file/Counting_FSC147.json").read_text())
    assert a == b[:3]


def test_schema_and_images(world: Path) -> None:
    bench = world / "2D_Benchmark"
    for spec in datasets_2d():
        recs = load_benchmark(bench, spec)
        assert len(recs) == 8
        for rec in recs:
            with Image.open(bench / rec.media) as im:
                assert im.size == (SIZE, SIZE)
    instruct = world / "2D_Instruct"
    types = set()
    for f in (instruct / "meta_file").iterdir():
        for s in read_instruct(f):
            assert s.conversations[0]["value"].startswith("<image>\n")
            assert (instruct / s.media).is_file()
            types.add(s.task_type)
    assert types == {
        "conversation", "commomsenseqa", "description", "classification", "detection", "counting", "VQA",
        "keypoint_detection",
    }  # fmt: skip
    multi = [
        s for s in read_instruct(instruct / "meta_file/daily_dialogue_5.json") if len(s.conversations) > 2
    ]
    assert multi, "daily dialogue is multi-turn"


def test_train_test_disjoint(world: Path) -> None:
    def hashes(root: Path) -> set[str]:
        return {
            hashlib.sha1(_img(root, str(p.relative_to(root))).tobytes()).hexdigest()
            for p in root.rglob("*.png")
        }

    test_h, train_h = hashes(world / "2D_Benchmark"), hashes(world / "2D_Instruct")
    assert len(test_h) == 14 * 8 and len(train_h) == 14 * 5
    assert not test_h & train_h


def _background(arr: np.ndarray) -> np.ndarray:
    flat = arr.reshape(-1, 3)
    vals, counts = np.unique(flat, axis=0, return_counts=True)
    return vals[counts.argmax()]


def test_boxes_cover_the_drawn_shapes(world: Path) -> None:
    bench = world / "2D_Benchmark"
    for name in ("VOC2012",):
        for rec in load_benchmark(bench, find_dataset(name)):
            arr = _img(bench, rec.media)
            fg = (arr != _background(arr)).any(-1)
            covered = np.zeros_like(fg)
            for obj in rec["object"]:
                x1, y1, x2, y2 = (round(v * SIZE) for v in obj["bbox"])
                covered[y1:y2, x1:x2] = True
                box = fg[y1:y2, x1:x2]
                # tight: the shape touches all four sides of its box
                assert box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any()
            assert not (fg & ~covered).any(), f"{rec.id}: drawn pixels outside every box"
            assert all(o["label"] in R.SHAPES for o in rec["object"])


def test_counts_and_points_match_pixels(world: Path) -> None:
    bench = world / "2D_Benchmark"
    for rec in load_benchmark(bench, find_dataset("FSC147")):
        arr = _img(bench, rec.media)
        fg = (arr != _background(arr)).any(-1)
        _, n = ndimage.label(fg, structure=np.ones((3, 3)))
        assert n == rec["num"] and 1 <= n <= 6
    for rec in load_benchmark(bench, find_dataset("FSC147", "locating")):
        arr = _img(bench, rec.media)
        fg = (arr != _background(arr)).any(-1)
        labels, n = ndimage.label(fg, structure=np.ones((3, 3)))
        hit = {labels[int(y), int(x)] for x, y in rec["points"]}
        assert n == len(rec["points"]) and hit == set(range(1, n + 1)), rec.id


def test_lsp_joints_inside_and_on_the_figure(world: Path) -> None:
    bench = world / "2D_Benchmark"
    on_limb = total = 0
    for mode in ("common", "locating"):
        for rec in load_benchmark(bench, find_dataset("LSP", mode)):
            arr = _img(bench, rec.media)
            bg = arr[0, 0]
            for x, y, v in rec["gt_joints"]:
                assert 0 <= x < SIZE and 0 <= y < SIZE and v == 1
                total += 1
                on_limb += bool((arr[int(round(y)), int(round(x))] != bg).any())
    assert on_limb == total


def test_vqa_and_other_gt_fields(world: Path) -> None:
    bench = world / "2D_Benchmark"
    for name in ("SQAimage", "AI2D"):
        for rec in load_benchmark(bench, find_dataset(name)):
            ch = rec["gt_choices"]
            assert 2 <= len(ch) <= 5 and len(set(ch)) == len(ch)
            opts = " ".join(f"({'ABCDE'[i]}) {c}" for i, c in enumerate(ch))
            assert rec.query.endswith(f" \nOptions: {opts}\n")
    smile = [r["attr"] for r in load_benchmark(bench, find_dataset("CelebA(Smile)"))]
    assert set(smile) <= {"1", "-1"}
    hair = [r["attr"] for r in load_benchmark(bench, find_dataset("CelebA(Hair)"))]
    assert set(hair) <= {"black", "blond", "brown", "gray"}
    assert all("{}" in r.query for r in load_benchmark(bench, find_dataset("LSP")))
    caps = load_benchmark(bench, find_dataset("flickr30k"))
    assert all(len(r["sentences"]) == 5 for r in caps)


def test_oracle_answers_score_perfectly(world: Path) -> None:
    """gt-derived C4 responses get full marks from the real scorers: labels match WordNet, numbers parse."""
    from lamm.bench.score import score_dataset

    bench = world / "2D_Benchmark"
    for spec in datasets_2d():
        res = score_dataset(bench, spec, oracle_answers(bench, spec))
        want = {"mae": 0.0, "bleu4": 100.0}.get(res["metric"], 1.0)
        assert res["value"] == pytest.approx(want), (spec.key, res["metric"], res["value"])
        assert res["parse_failure_rate"] == 0.0


def test_labels_distinguishable_by_the_official_matcher() -> None:
    """Each class name is matched by its own canonical answer and by no other class's."""
    from lamm.metrics.labels import classification_acc

    for classes, fmt in ((R.SHAPES, "The category is {}."), (tuple(R.HAIR), "The hair color is {}.")):
        for gt in classes:
            for other in classes:
                assert classification_acc(gt, fmt.format(other)) == (gt == other), (gt, other)


def test_cli_and_quickstart(tmp_path: Path, capsys) -> None:
    from lamm.cli import main

    assert (
        main(
            [
                "data",
                "mini",
                "--out",
                str(tmp_path / "m"),
                "--train",
                "2",
                "--test",
                "2",
                "--no-3d",
                "--quiet",
                "--json",
            ]
        )
        == 0
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["records"]["2D_Benchmark/CIFAR10"] == 2 and last["instruct_3d"] is None
    assert (tmp_path / "m" / last["instruct_2d"]).is_file()
    assert (
        main(
            [
                "quickstart",
                "--out",
                str(tmp_path / "q"),
                "--train",
                "2",
                "--test",
                "2",
                "--no-3d",
                "--data-only",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2D_Instruct/conversation" in out and "LAMM_instruct_28.json" in out
    assert (tmp_path / "q" / "data" / "2D_Instruct/meta_file/LAMM_instruct_28.json").is_file()
