"""LAMM-Mini 3D: official 3D files, point-cloud layout, determinism, disjoint splits, boxes that hold their
objects' points, grounding targets of the named colour, and a perfect score for oracle answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from lamm.data.mini import build_mini
from lamm.data.mini import world3d as W3
from lamm.data.mini.oracle import oracle_answers
from lamm.formats import load_benchmark, read_instruct
from lamm.tasks import datasets_3d, find_dataset

POINTS = 512
LAMM_3D = [
    s for s in datasets_3d() if not s.suite_task
]  # the 3D suite's files need --suite-3d (test_suite3d_eval)
TOL = 5 * W3.NOISE


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini3d") / "a"
    build_mini(out, seed=5, train=1, test=6, train_3d=4, points=POINTS, progress=False)
    return out


def _load(root: Path, rel: str) -> np.ndarray:
    return np.load(root / rel, allow_pickle=False)


def _meta3d(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("3D_*/meta_file/*.json"))}


def test_files_layout_and_determinism(world: Path, tmp_path: Path) -> None:
    names = {p.name for p in (world / "3D_Benchmark/meta_file").iterdir()}
    assert names == {"Detection_ScanNet.json", "VG_ScanRefer.json", "VQA_ScanQA_multiplechoice.json"}
    assert [p.name for p in (world / "3D_Instruct/meta_file").iterdir()] == ["LAMM_3dinstruct_36.json"]
    again = tmp_path / "b"
    build_mini(again, seed=5, train=1, test=6, train_3d=4, points=POINTS, progress=False)
    assert _meta3d(again) == _meta3d(world)
    rel = "3D_Benchmark/scannet_pcls/scanrefer_00002.npy"
    assert (again / rel).read_bytes() == (world / rel).read_bytes()
    other = tmp_path / "c"
    build_mini(other, seed=6, train=1, test=6, train_3d=4, points=POINTS, progress=False)
    a, b = _meta3d(other), _meta3d(world)
    assert all(a[k] != b[k] for k in b)
    assert (
        json.loads((world / "lamm_mini.json").read_text())["instruct_3d"]
        == "3D_Instruct/meta_file/LAMM_3dinstruct_36.json"
    )


def test_schema_and_point_clouds(world: Path) -> None:
    bench = world / "3D_Benchmark"
    for spec in LAMM_3D:
        for rec in load_benchmark(bench, spec):
            assert rec.media.startswith("./scannet_pcls/") and rec.media.endswith(".npy")
            pts = _load(bench, rec.media)
            assert pts.shape == (POINTS, 6) and pts.dtype == np.float32
            assert np.isfinite(pts).all() and pts[:, 3:].min() >= 0 and pts[:, 3:].max() <= 255
            assert pts[:, 2].min() > -TOL  # floor at z = 0, z up
    samples = read_instruct(world / "3D_Instruct/meta_file/LAMM_3dinstruct_36.json")
    assert {s.task_type for s in samples} == {
        "classification3d", "detection3d", "VQA3d", "visual_grounding3d", "description3d", "conversation3d",
    }  # fmt: skip
    for s in samples:
        assert s.media_key == "pcl" and s.extra["src_dataset"] == "lamm-mini" and s.extra["src_id"]
        assert _load(world / "3D_Instruct", s.media).shape == (POINTS, 6)
        assert "<image>" not in s.conversations[0]["value"]
    multi = [s for s in samples if s.task_type == "conversation3d"]
    assert all(len(s.conversations) >= 4 for s in multi)


def test_train_test_disjoint(world: Path) -> None:
    def hashes(root: Path) -> set[str]:
        return {
            hashlib.sha1(np.load(p, allow_pickle=False).tobytes()).hexdigest() for p in root.rglob("*.npy")
        }

    test_h, train_h = hashes(world / "3D_Benchmark"), hashes(world / "3D_Instruct")
    assert len(test_h) == 18 and len(train_h) == 8
    assert not test_h & train_h


def test_boxes_hold_their_points() -> None:
    for i in range(20):
        rng = np.random.default_rng(i)
        objs = W3.make_scene(rng)
        pts, owner = W3.scene_points(rng, objs, 1024, return_owner=True)
        for k, o in enumerate(objs):
            mine = pts[owner == k, :3]
            assert len(mine) >= 32
            c, e = np.array(o.bbox()[:3]), np.array(o.bbox()[3:])
            assert (np.abs(mine - c) <= e / 2 + TOL).all(), (o.label, i)
            # tight: the points reach every face of the box (the apex of cones/pyramids holds few points)
            axes = slice(0, 2) if o.label in ("cone", "pyramid") else slice(0, 3)
            slack = 0.15 * e + TOL
            assert (mine.max(0) >= c + e / 2 - slack)[axes].all() and (mine.min(0) <= c - e / 2 + slack).all()
        assert (np.abs(pts[owner == -1, 2]) <= TOL).all()


def test_file_boxes_cover_every_object_point(world: Path) -> None:
    bench = world / "3D_Benchmark"
    for rec in load_benchmark(bench, find_dataset("ScanNet")):
        pts = _load(bench, rec.media)
        above = pts[pts[:, 2] > 3 * TOL, :3]
        inside = np.zeros(len(above), bool)
        for o in rec["object"]:
            c, e = np.array(o["bbox"][:3]), np.array(o["bbox"][3:])
            inside |= (np.abs(above - c) <= e / 2 + TOL).all(1)
            assert o["label"] in W3.PRIMITIVES
        assert inside.all(), rec.id


def test_grounding_target_has_the_named_colour(world: Path) -> None:
    bench = world / "3D_Benchmark"
    for rec in load_benchmark(bench, find_dataset("ScanRefer")):
        expr = rec["description"]
        assert rec.query.endswith(expr) and any(
            f" {r} " in expr for r in ("left of", "right of", "in front of", "behind")
        )
        colour = expr.split()[1]
        pts = _load(bench, rec.media)
        c, e = np.array(rec["object"][:3]), np.array(rec["object"][3:])
        inside = pts[(np.abs(pts[:, :3] - c) <= e / 2).all(1) & (pts[:, 2] > 3 * TOL)]
        assert len(inside) > 10
        assert np.abs(np.median(inside[:, 3:], 0) - W3.COLORS3D[colour]).max() < 30, rec.id


def test_scanqa_options_and_oracle_scores(world: Path) -> None:
    from lamm.bench.score import score_dataset

    bench = world / "3D_Benchmark"
    for rec in load_benchmark(bench, find_dataset("ScanQA_multiplechoice")):
        assert 2 <= len(rec["gt_choices"]) <= 6 and len(set(rec["gt_choices"])) == len(rec["gt_choices"])
        assert "\nOptions: (A) " in rec.query
    for spec in LAMM_3D:
        for protocol in ("lamm", "lamm-v1"):
            res = score_dataset(bench, spec, oracle_answers(bench, spec), protocol=protocol)
            assert res["value"] == pytest.approx(1.0), (spec.name, protocol)


def test_primitive_labels_match_the_official_matcher() -> None:
    from lamm.metrics.labels import classification_acc

    for gt in W3.PRIMITIVES:
        for other in W3.PRIMITIVES:
            assert classification_acc(gt, f"The category is {other}.") == (gt == other)


def test_scenes_name_every_object_and_questions_are_answerable() -> None:
    """Each object of a scene has its own shape and colour on its own grid cell; ScanQA options are the
    whole vocabulary in a fixed order and the gold option is true of the scene."""
    cells = {(x, y) for x in W3.GRID for y in W3.GRID}
    for i in range(30):
        rng = np.random.default_rng(i)
        objs = W3.make_scene(rng)
        lo, hi = W3.SCENE_OBJECTS
        assert lo <= len(objs) <= hi
        assert len({o.label for o in objs}) == len({o.color for o in objs}) == len(objs)
        at = [(round(o.center[0], 6), round(o.center[1], 6)) for o in objs]
        assert len(set(at)) == len(objs) and (W3.JITTER > 0 or set(at) <= cells)
        q = W3.scanqa_question(objs, rng)
        gold = q["choices"][q["answer"]]
        if q["question"].startswith("What color is the "):
            assert q["choices"] == list(W3.COLORS3D)
            assert gold == next(o.color for o in objs if f" {o.label}?" in q["question"])
        elif q["question"].startswith("What shape is the "):
            assert q["choices"] == list(W3.PRIMITIVES)
            assert gold == next(o.label for o in objs if f" {o.color} object" in q["question"])
        else:
            assert q["choices"] == ["1", "2", "3", "4", "5", "6"] and gold == str(len(objs))
