"""`lamm data validate`: good files pass; every kind of bad input is reported with file, record and id."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from lamm.cli import main
from lamm.data.validate import validate_path
from lamm.formats import FormatError, check_image, load_npy_points
from lamm.tasks.lsp import LSP_JOINTS

CONV1 = [{"from": "human", "value": "<image>\nWhat colour?"}, {"from": "gpt", "value": "Red."}]
CONV3 = CONV1 + [{"from": "human", "value": "Shape?"}, {"from": "gpt", "value": "Disc."}] * 2


def _png(path, size=(24, 16), fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, fmt)
    return path


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4))
    return path


@pytest.fixture
def world(tmp_path):
    """A small 2D benchmark, 3D benchmark and 2D instruct folder, all valid."""
    b2 = tmp_path / "2D_Benchmark"
    for i in range(3):
        _png(b2 / "cifar10_images" / f"{i}.png")
    _png(b2 / "lsp_images" / "0.jpg", fmt="JPEG")
    _write(
        b2 / "meta_file" / "Classification_CIFAR10.json",
        [
            {"id": f"c{i}", "image": f"cifar10_images/{i}.png", "query": "What is it?", "label": "cat"}
            for i in range(3)
        ],
    )
    joints = [[float(k), float(k), 1] for k in range(14)]
    _write(
        b2 / "meta_file" / "Keypoints_Detection_LSP.json",
        [{"id": "l0", "image": "lsp_images/0.jpg", "query": "Where is the {}?", "gt_joints": joints}],
    )
    b3 = tmp_path / "3D_Benchmark"
    (b3 / "scannet_pcls").mkdir(parents=True)
    pts = np.random.default_rng(1).uniform(0, 3, (100, 6)).astype(np.float32)
    np.save(b3 / "scannet_pcls" / "scene0.npy", pts)
    _write(
        b3 / "meta_file" / "VG_ScanRefer.json",
        [
            {
                "id": "g0",
                "pcl": "./scannet_pcls/scene0.npy",
                "query": "the box",
                "object": [1, 1, 1, 0.5, 0.5, 0.5],
            }
        ],
    )
    ins = tmp_path / "2D_Instruct"
    _png(ins / "coco_images" / "1.jpg", fmt="JPEG")
    _write(
        ins / "meta_file" / "daily.json",
        [
            {"id": "1", "image": "coco_images/1.jpg", "conversations": CONV1, "task_type": "conversation"},
            {"id": "2", "image": "coco_images/1.jpg", "conversations": CONV3, "task_type": "conversation"},
            {"id": "3", "image": "coco_images/1.jpg", "conversations": CONV1},
            {"id": "4", "conversations": CONV1},  # no image key: ignored, as officially
        ],
    )
    return tmp_path


def test_good_world_passes_with_summary(world, capsys):
    rep = validate_path(world)
    assert rep.ok, [str(p) for p in rep.problems]
    s = rep.summary()
    assert s["records"] == 3 + 1 + 1 + 4 and s["usable_records"] == 8 and s["ignored_records"] == 1
    assert s["datasets"] == {"CIFAR10": 3, "LSP": 1, "ScanRefer": 1}
    assert s["task_types"] == {"conversation": 2, "normal": 1}
    assert s["turns"] == {"min": 1, "mean": pytest.approx(5 / 3, abs=1e-4), "max": 3}
    # 3 cifar + 1 lsp + 1 npy + 1 coco image (referenced 3 times, read once)
    assert s["media"] == {"checked": 6, "missing": 0, "corrupt": 0}

    assert main(["data", "validate", str(world / "2D_Instruct"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] and out["records"] == 4 and out["exit_status"] == 0


def test_single_benchmark_file_media_root_is_parent_of_meta_file(world):
    rep = validate_path(world / "3D_Benchmark" / "meta_file" / "VG_ScanRefer.json")
    assert rep.ok and rep.files[0].kind == "benchmark" and rep.files[0].dataset == "ScanRefer"


def test_malformed_json_is_a_file_problem(world, capsys):
    meta = world / "2D_Benchmark" / "meta_file" / "Counting_FSC147.json"
    meta.write_text('[{"id": "f0", "image": "x.png",')
    rep = validate_path(world / "2D_Benchmark")
    [p] = rep.problems
    assert p.kind == "file" and p.error.path == str(meta) and "malformed JSON" in p.error.message
    assert main(["data", "validate", str(meta)]) == 1
    assert "malformed JSON at line 1" in capsys.readouterr().out
    # skip mode still fails: the whole file is unusable
    assert main(["data", "validate", str(meta), "--on-error", "skip"]) == 1


def test_missing_and_truncated_images_reported_per_record(world, capsys):
    b2 = world / "2D_Benchmark"
    (b2 / "cifar10_images" / "1.png").unlink()
    jpg = b2 / "lsp_images" / "0.jpg"
    data = jpg.read_bytes()
    jpg.write_bytes(data[: len(data) // 2])
    png = b2 / "cifar10_images" / "2.png"
    png.write_bytes(png.read_bytes()[:200])

    rep = validate_path(b2)
    got = sorted((p.kind, p.error.index, p.error.record_id, p.error.field) for p in rep.problems)
    assert got == [("media", 0, "l0", "image"), ("media", 1, "c1", "image"), ("media", 2, "c2", "image")]
    msgs = {p.error.record_id: str(p) for p in rep.problems}
    assert (
        "Classification_CIFAR10.json, record 1, id 'c1', field 'image': missing media 'cifar10_images/1.png'"
        in msgs["c1"]
    )
    assert "truncated" in msgs["l0"] and "truncated" in msgs["c2"].lower()
    assert rep.summary()["media"] == {"checked": 4, "missing": 1, "corrupt": 2}
    assert rep.summary()["usable_records"] == 1

    assert main(["data", "validate", str(b2), "--json"]) == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["problem_count"] == 3 and {p["id"] for p in out["problems"]} == {"c1", "c2", "l0"}
    # --on-error skip: the problems are what a skipping run would drop; the rest is usable
    assert main(["data", "validate", str(b2), "--on-error", "skip"]) == 0
    assert "1 missing, 2 unreadable/corrupt" in capsys.readouterr().out


def test_truncated_jpeg_passes_verify_but_not_check_image(tmp_path):
    jpg = _png(tmp_path / "a.jpg", size=(64, 64), fmt="JPEG")
    assert check_image(jpg) == (64, 64)
    jpg.write_bytes(jpg.read_bytes()[:-200])
    with Image.open(jpg) as im:
        im.verify()  # PIL's structural check does not notice
    with pytest.raises(FormatError, match="truncated"):
        check_image(jpg)
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(FormatError, match="unreadable"):
        check_image(tmp_path / "b.png")


def test_schema_problems_in_instruct(world):
    meta = world / "2D_Instruct" / "meta_file" / "daily.json"
    recs = json.loads(meta.read_text())
    recs[1]["conversations"] = [CONV1[0], CONV1[0], CONV1[1]]  # human, human
    recs[2]["task_type"] = "dancing"
    recs[0]["image"] = "../outside.jpg"
    meta.write_text(json.dumps(recs))
    rep = validate_path(meta)
    got = sorted((p.error.index, p.error.field) for p in rep.problems)
    assert got == [(0, "image"), (2, "task_type")]
    by = {p.error.index: p.error.message for p in rep.problems}
    assert "escapes the data root" in by[0]
    assert "unknown task_type 'dancing'" in by[2]
    # human, human, gpt: the official trainer takes it (tests/test_turn_order.py): a warning only
    assert [(w.error.index, w.error.field) for w in rep.warnings] == [(1, "conversations")]
    assert "turns do not alternate (human, human, gpt)" in rep.warnings[0].error.message


def test_benchmark_schema_problems_collected_not_stopped(world):
    meta = world / "2D_Benchmark" / "meta_file" / "Classification_CIFAR10.json"
    recs = json.loads(meta.read_text())
    del recs[0]["label"]
    recs[2]["query"] = 5
    meta.write_text(json.dumps(recs))
    rep = validate_path(meta)
    assert sorted((p.error.index, p.error.record_id, p.error.field) for p in rep.problems) == [
        (0, "c0", "label"),
        (2, "c2", "query"),
    ]


def test_bad_point_clouds(world):
    b3 = world / "3D_Benchmark"
    np.save(b3 / "scannet_pcls" / "nan.npy", np.array([[0, 0, 0], [np.nan, 1, 1]], np.float32))
    np.save(b3 / "scannet_pcls" / "flat.npy", np.zeros((10, 2), np.float32))
    np.save(b3 / "scannet_pcls" / "empty.npy", np.zeros((0, 6), np.float32))
    np.save(b3 / "scannet_pcls" / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    box = [1, 1, 1, 0.5, 0.5, 0.5]
    names = ["scene0", "nan", "flat", "empty", "obj", "gone"]
    _write(
        b3 / "meta_file" / "VG_ScanRefer.json",
        [{"id": n, "pcl": f"./scannet_pcls/{n}.npy", "query": "q", "object": box} for n in names],
    )
    rep = validate_path(b3)
    msgs = {p.error.record_id: (p.error.index, p.error.message) for p in rep.problems}
    assert set(msgs) == {"nan", "flat", "empty", "obj", "gone"}
    assert msgs["nan"][0] == 1 and "NaN/inf values in 1 rows (first row 1)" in msgs["nan"][1]
    assert "shape (N, C>=3)" in msgs["flat"][1] and "(10, 2)" in msgs["flat"][1]
    assert "empty" in msgs["empty"][1]
    assert "unreadable .npy" in msgs["obj"][1]  # pickled objects are refused, never loaded
    assert "missing media" in msgs["gone"][1]
    with pytest.raises(FormatError, match="NaN/inf"):
        load_npy_points(b3 / "scannet_pcls" / "nan.npy")


def test_answer_files(world, tmp_path):
    ans = tmp_path / "answers"
    joints = {name: "[1, 2]" for name in LSP_JOINTS}
    _write(ans / "Keypoints_Detection_LSP.json", [{"id": "l0", "text": "[1, 2]", "delta_path": ""}])
    _write(
        ans / "Classification_CIFAR10.json",
        [{"id": "c0", "text": "cat", "delta_path": ""}, {"id": "cX", "text": "dog", "delta_path": ""}],
    )
    rep = validate_path(ans)
    [p] = rep.problems
    assert (p.error.index, p.error.record_id, p.error.field) == (0, "l0", "text")
    assert "LSP keypoint answer must be an object" in p.error.message

    _write(ans / "Keypoints_Detection_LSP.json", [{"id": "l0", "text": joints, "delta_path": ""}])
    assert validate_path(ans).ok  # without a benchmark nothing to pair with
    rep = validate_path(ans, root=world / "2D_Benchmark")
    msgs = sorted(((p.error.index, p.error.message) for p in rep.problems), key=lambda m: m[0] or -1)
    assert msgs[0][0] is None and "2 answers for 3 meta records" in msgs[0][1]
    assert msgs[1][0] == 1 and "does not match meta record 1 id 'c1'" in msgs[1][1]

    (ans / "LSP.jsonl").write_text('{"id": "a", "text": 3}\n')
    rep = validate_path(ans / "LSP.jsonl")
    assert rep.files[0].kind == "answers" and "must be a string" in rep.problems[0].error.message


def test_unknown_file_and_empty_folder(tmp_path):
    _write(tmp_path / "x" / "misc.json", [{"a": 1}])
    rep = validate_path(tmp_path / "x" / "misc.json")
    assert rep.problems[0].kind == "file" and "cannot tell what kind" in rep.problems[0].error.message
    (tmp_path / "empty").mkdir()
    assert "no .json/.jsonl" in validate_path(tmp_path / "empty").problems[0].error.message


def test_image_bytes_cut_at_various_points_are_all_caught(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    for k, cut in enumerate((10, len(data) // 3, len(data) - 50)):
        p = tmp_path / f"{k}.jpg"
        p.write_bytes(data[:cut])
        with pytest.raises(FormatError):
            check_image(p)


def test_eval_run_log_pairs_by_index(world, tmp_path):
    log = tmp_path / "run" / "answers.jsonl"
    log.parent.mkdir()
    rows = [
        {"dataset": "CIFAR10", "index": 2, "id": "c2", "text": "cat"},
        {"dataset": "CIFAR10", "index": 0, "id": "c1", "text": "dog"},  # wrong id for index 0
        {"dataset": "LSP", "index": 0, "id": "l0", "text": "not an object"},
        {"dataset": "CIFAR10", "index": 7, "id": "c7", "text": "cat"},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rep = validate_path(log, root=world / "2D_Benchmark")
    got = sorted((p.kind, p.error.index, p.error.field) for p in rep.problems)
    assert got == [("answers", 1, "id"), ("answers", 3, "index"), ("schema", 2, "text")]
    assert rep.summary()["datasets"] == {"CIFAR10": 3, "LSP": 1}


def test_truncation_caught_even_if_pil_told_to_load_truncated(tmp_path):
    from PIL import ImageFile

    jpg = _png(tmp_path / "a.jpg", size=(64, 64), fmt="JPEG")
    jpg.write_bytes(jpg.read_bytes()[:-300])
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # some training code sets this globally
    try:
        with pytest.raises(FormatError, match="truncated"):
            check_image(jpg)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored afterwards
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def test_chef_era_scienceqa_file_name_is_the_sqaimage_dataset(tmp_path):
    """ChEF reads ScienceQA from VQA_ScienceQA.json: validation, dataset selection and loading accept it."""
    from lamm.bench.eval.datasets import select_datasets
    from lamm.formats.benchmark import load_benchmark
    from lamm.tasks import spec_for_file

    b2 = tmp_path / "2D_Benchmark"
    _png(b2 / "sqaimage_images" / "0.png")
    rec = {"id": "s0", "image": "sqaimage_images/0.png", "query": "Which? \nOptions: (A) a (B) b\n",
           "gt_choice": 1, "gt_choices": ["a", "b"]}  # fmt: skip
    path = _write(b2 / "meta_file" / "VQA_ScienceQA.json", [rec])
    assert spec_for_file(path).name == "SQAimage"
    rep = validate_path(b2)
    assert rep.ok and rep.summary()["datasets"] == {"SQAimage": 1}
    [spec] = select_datasets(b2)
    assert spec.name == "SQAimage" and [r.id for r in load_benchmark(b2, spec)] == ["s0"]
    _write(b2 / "meta_file" / "VQA_SQAimage.json", [{**rec, "id": "official"}])  # the official name wins
    assert [r.id for r in load_benchmark(b2, spec)] == ["official"]
