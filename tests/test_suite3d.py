"""The 3D-LLM suite's files: official annotation/scene readers, `lamm data convert-3d`, the suite's meta
checks in `lamm data validate`, and LAMM-Mini's suite generators (issue 16, items 1 and 4).

Fixture field names follow the official files: ScanQA (ATR-DBI/ScanQA docs/dataset.md @ 6ff5975f),
SQA3D (SilongYong/SQA3D LLM/v1_balanced_*_test_scannetv2.json @ e4e2cecc), ScanRefer
(daveredrum/ScanRefer; boxes as data/scannet/load_scannet_data.py @ 10f71145 writes them), Multi3DRefer
(3dlg-hcvc/M3DRef-CLIP m3drefclip/data/dataset/multi3drefer.py @ 0c991698).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lamm.cli import main
from lamm.data.mini import bench3d_suite as B
from lamm.data.mini.bench3d import bench3d_record
from lamm.data.mini.instruct3d import suite_samples
from lamm.data.validate import validate_path
from lamm.formats import scan3d as S
from lamm.formats.errors import FormatError
from lamm.formats.suite3d import SUITE_FILES, check_multi3drefer_record, check_suite_record
from lamm.protocol.suite3d import suite_query
from lamm.tasks import datasets_3d, find_dataset

# a yaw of 90 degrees about z and a shift: x' = -y + 1, y' = x + 2, z' = z + 0.5
ALIGN = [0, -1, 0, 1, 1, 0, 0, 2, 0, 0, 1, 0.5, 0, 0, 0, 1]


def _ply(path, pts):
    head = ["ply", "format ascii 1.0", f"element vertex {len(pts)}", "property float x", "property float y",
            "property float z", "property uchar red", "property uchar green", "property uchar blue", "end_header"]  # fmt: skip
    rows = [f"{x} {y} {z} {int(r)} {int(g)} {int(b)}" for x, y, z, r, g, b in pts]
    path.write_text("\n".join(head + rows) + "\n")


def _scans(tmp_path):
    """Two scenes as users hold them: scene0000_00 a mesh .ply + axis alignment in scans/<scene>/,
    scene0001_00 a preprocessed _aligned_vert.npy; both with _aligned_bbox.npy."""
    scans = tmp_path / "scans"
    (scans / "scene0000_00").mkdir(parents=True)
    pts = np.array([[0, 0, 0, 10, 20, 30], [1, 0, 0, 40, 50, 60], [0, 2, 1, 70, 80, 90]], np.float64)
    _ply(scans / "scene0000_00" / "scene0000_00_vh_clean_2.ply", pts)
    (scans / "scene0000_00" / "scene0000_00.txt").write_text(
        "colorHeight = 968\naxisAlignment = " + " ".join(map(str, ALIGN)) + "\nsceneType = Office\n"
    )
    np.save(
        scans / "scene0001_00_aligned_vert.npy",
        np.tile(np.array([[0.5, 0.5, 0.5, 1, 2, 3]], np.float32), (4, 1)),
    )
    for scene in ("scene0000_00", "scene0001_00"):
        boxes = np.array(
            [[1, 2, 0.5, 0.4, 0.6, 1.0, 5, 0], [0, 0, 0, 0, 0, 0, 0, 0], [3, 1, 0.5, 1, 1, 1, 7, 2]]
        )
        np.save(scans / f"{scene}_aligned_bbox.npy", boxes)
    return scans, pts


def _annotations(tmp_path):
    scanqa = [{"answers": ["brown", "dark brown"], "object_ids": [0], "object_names": ["cabinet"],
               "question": "What color is the cabinet?", "question_id": "val-scene0000-0", "scene_id": "scene0000_00"}]  # fmt: skip
    questions = {"info": {}, "questions": [{"scene_id": "scene0001_00", "situation": "I am standing by the table.",
                 "alternative_situation": [], "question": "What is on my left?", "question_id": 220602000002}]}  # fmt: skip
    answers = {"annotations": [{"scene_id": "scene0001_00", "question_type": "N/A", "answer_type": "other",
               "question_id": 220602000002, "answers": [{"answer": "door", "answer_confidence": "yes", "answer_id": 1}],
               "rotation": {"_x": 0, "_y": 0, "_z": 0.0, "_w": 1.0}, "position": {"x": 0.7, "y": -0.03, "z": 0}}]}  # fmt: skip
    scanrefer = [{"scene_id": "scene0000_00", "object_id": "0", "object_name": "cabinet", "ann_id": str(k),
                  "description": d, "token": d.split()} for k, d in enumerate(["a brown cabinet.", "the cabinet by the wall."])]  # fmt: skip
    scanrefer.append({"scene_id": "scene0001_00", "object_id": "2", "object_name": "table", "ann_id": "0",
                      "description": "a table.", "token": ["a", "table"]})  # fmt: skip
    m3d = [{"scene_id": "scene0000_00", "object_name": "chair", "ann_id": 0, "description": "all the chairs.",
            "object_ids": [0, 2], "eval_type": "mt", "token": []},
           {"scene_id": "scene0001_00", "object_name": "sofa", "ann_id": 1, "description": "the sofa.",
            "object_ids": [], "eval_type": "zt_wo_d", "token": []}]  # fmt: skip
    files = {"ScanQA_v1.0_val.json": scanqa, "q.json": questions, "a.json": answers,
             "ScanRefer_filtered_val.json": scanrefer, "multi3drefer_val.json": m3d}  # fmt: skip
    for name, data in files.items():
        (tmp_path / name).write_text(json.dumps(data))
    return {k: tmp_path / k for k in files}


def test_annotation_readers_keep_official_fields(tmp_path):
    f = _annotations(tmp_path)
    qa = S.read_scanqa(f["ScanQA_v1.0_val.json"])[0]
    assert (
        qa["answers"] == ["brown", "dark brown"]
        and qa["object_ids"] == [0]
        and qa["scene_id"] == "scene0000_00"
    )
    sqa = S.read_sqa3d(f["q.json"], f["a.json"])[0]
    assert (
        sqa["answers"] == ["door"]
        and sqa["position"] == [0.7, -0.03, 0.0]
        and sqa["rotation"] == [0, 0, 0, 1]
    )
    ref = S.read_scanrefer(f["ScanRefer_filtered_val.json"])
    assert [(r["object_id"], r["ann_id"]) for r in ref] == [(0, 0), (0, 1), (2, 0)]  # string ids -> ints
    test_w_obj = tmp_path / "ScanQA_v1.0_test_w_obj.json"  # the test split: objects, no answers
    test_w_obj.write_text(
        json.dumps(
            [
                {
                    k: v
                    for k, v in json.loads(f["ScanQA_v1.0_val.json"].read_text())[0].items()
                    if k != "answers"
                }
            ]
        )
    )
    assert S.read_scanqa(test_w_obj)[0]["answers"] is None
    m3d = S.read_multi3drefer(f["multi3drefer_val.json"])
    assert [r["object_ids"] for r in m3d] == [[0, 2], []] and m3d[1]["eval_type"] == "zt_wo_d"


@pytest.mark.parametrize(
    "name, edit, field",
    [
        ("ScanQA_v1.0_val.json", lambda d: d[0].pop("question"), "question"),
        ("ScanQA_v1.0_val.json", lambda d: d[0].update(answers="brown"), "answers"),
        ("ScanRefer_filtered_val.json", lambda d: d[1].update(object_id="x"), "object_id"),
        ("multi3drefer_val.json", lambda d: d[0].update(eval_type="st_w_d"), "object_ids"),
        ("a.json", lambda d: d["annotations"][0]["position"].update(x=float("nan")), "position"),
    ],
)
def test_reader_errors_name_file_record_field(tmp_path, name, edit, field):
    f = _annotations(tmp_path)
    data = json.loads(f[name].read_text())
    edit(data)
    f[name].write_text(json.dumps(data))
    with pytest.raises(FormatError) as e:
        if name in ("a.json", "q.json"):
            S.read_sqa3d(f["q.json"], f["a.json"])
        else:
            {"ScanQA_v1.0_val.json": S.read_scanqa, "ScanRefer_filtered_val.json": S.read_scanrefer,
             "multi3drefer_val.json": S.read_multi3drefer}[name](f[name])  # fmt: skip
    assert e.value.path == str(f[name]) and e.value.field == field and e.value.index is not None


def test_scene_readers_align_and_refuse_bad_arrays(tmp_path):
    scans, pts = _scans(tmp_path)
    got = S.load_scene(scans, "scene0000_00")
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    np.testing.assert_allclose(got[:, :3], np.stack([-y + 1, x + 2, z + 0.5], 1), atol=1e-6)
    np.testing.assert_array_equal(got[:, 3:6], pts[:, 3:6])  # vertex colours kept, 0..255
    np.testing.assert_array_equal(S.load_scene(scans, "scene0000_00", align=False)[:, :3], pts[:, :3])
    assert S.load_scene(scans, "scene0001_00").shape == (4, 6)  # _aligned_vert.npy: used as is
    # ScanRefer's scannet_data/<scene>_vert.npy is unaligned; its .txt lives in ScanNet's scans/<scene>/
    flat = tmp_path / "scannet_data"
    flat.mkdir()
    np.save(flat / "scene0000_00_vert.npy", np.concatenate([pts, np.zeros((3, 3))], 1))  # + normals
    with pytest.raises(FormatError, match="no scene0000_00.txt"):
        S.load_scene(flat, "scene0000_00")
    np.testing.assert_allclose(S.load_scene(flat, "scene0000_00", meta_dir=scans), got, atol=1e-6)
    boxes = S.read_instance_boxes(scans / "scene0000_00_aligned_bbox.npy")
    assert boxes == {0: {"bbox": [1, 2, 0.5, 0.4, 0.6, 1.0], "label_id": 5},
                     2: {"bbox": [3, 1, 0.5, 1, 1, 1], "label_id": 7}}  # fmt: skip
    np.save(tmp_path / "b.npy", np.array([[1, 2, 3, 1, 1, np.nan, 0, 0]]))
    np.save(tmp_path / "c.npy", np.zeros((2, 6)))
    np.save(tmp_path / "d.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for bad, words in (("b.npy", "NaN"), ("c.npy", r"shape \(K, 8\)"), ("d.npy", "unreadable")):
        with pytest.raises(FormatError, match=words):
            S.read_instance_boxes(tmp_path / bad)
    (tmp_path / "s.txt").write_text("axisAlignment = 1 0 0\n")
    with pytest.raises(FormatError, match="16 finite numbers"):
        S.read_axis_alignment(tmp_path / "s.txt")


def test_convert_3d_cli_writes_valid_meta_files_with_original_gt(tmp_path, capsys):
    scans, _ = _scans(tmp_path)
    f = _annotations(tmp_path)
    out = tmp_path / "out"
    args = ["data", "convert-3d", "--scans", str(scans), "--out", str(out),
            "--scanqa", str(f["ScanQA_v1.0_val.json"]), "--sqa3d-questions", str(f["q.json"]),
            "--sqa3d-annotations", str(f["a.json"]), "--scanrefer", str(f["ScanRefer_filtered_val.json"]),
            "--multi3drefer", str(f["multi3drefer_val.json"])]  # fmt: skip
    assert main(args) == 0
    meta = out / "3D_Benchmark" / "meta_file"
    load = lambda n: json.loads((meta / n).read_text())  # noqa: E731
    assert load("VQA_ScanQA.json")[0]["answers"] == ["brown", "dark brown"]
    assert load("VQA_SQA3D.json")[0]["situation"] == "I am standing by the table."
    cap = load("Caption_Scan2Cap.json")
    assert cap[0]["descriptions"] == ["a brown cabinet.", "the cabinet by the wall."] and cap[0][
        "gt_bbox"
    ] == [1, 2, 0.5, 0.4, 0.6, 1.0]
    assert [r["gt_bboxes"] for r in load("VG_Multi3DRefer.json")] == [
        [[1, 2, 0.5, 0.4, 0.6, 1.0], [3, 1, 0.5, 1, 1, 1]],
        [],
    ]
    assert load("VG_ScanRefer.json")[2]["object"] == [3, 1, 0.5, 1, 1, 1]
    # each file's query is its task's protocol query (lamm/tasks), ScanRefer's LAMM's VG3D_QS + description
    scanqa = load("VQA_ScanQA.json")[0]
    assert scanqa["query"] == scanqa["question"] + " Answer the question using a single word or phrase."
    assert cap[0]["query"].startswith(
        "The related object is located at [1.00, 2.00, 0.50, 0.40, 0.60, 1.00]."
    )
    ref = load("VG_ScanRefer.json")[0]
    assert ref["query"] == "Locate the object described by the given caption. " + ref["description"]
    aligned = np.load(out / "3D_Benchmark" / "scannet_pcls" / "scene0000_00.npy")
    np.testing.assert_allclose(aligned[0, :3], [1, 2, 0.5], atol=1e-6)  # (0, 0, 0) after the alignment
    report = validate_path(out / "3D_Benchmark")
    assert report.ok, report.format_text()
    assert dict(report.datasets) == {
        "ScanQA": 1,
        "SQA3D": 1,
        "Scan2Cap": 2,
        "Multi3DRefer": 2,
        "ScanRefer": 3,
    }
    # an object id that the scene's boxes lack: a clear error naming the file, record and field
    data = json.loads(f["multi3drefer_val.json"].read_text())
    data[0]["object_ids"] = [0, 9]
    f["multi3drefer_val.json"].write_text(json.dumps(data))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "multi3drefer_val.json, record 0" in err and "field 'object_id'" in err and "Traceback" not in err


def test_validate_flags_bad_suite_gt(tmp_path):
    meta = tmp_path / "3D_Benchmark" / "meta_file"
    meta.mkdir(parents=True)
    rec, pts = bench3d_record(find_dataset("Multi3DRefer"), 0, 0, 256)
    (tmp_path / "3D_Benchmark" / "scannet_pcls").mkdir()
    np.save(tmp_path / "3D_Benchmark" / rec["pcl"][2:], pts)
    bad = dict(rec, eval_type="mt", gt_bboxes=[[0, 0, 0, 1, 1, float("nan")]], object_ids=[0])
    (meta / "VG_Multi3DRefer.json").write_text(json.dumps([rec, bad]))
    report = validate_path(tmp_path / "3D_Benchmark")
    assert [(p.error.index, p.error.field) for p in report.problems] == [(1, "gt_bboxes")]
    assert check_multi3drefer_record(dict(rec, eval_type="zt_w_d", gt_bboxes=[], object_ids=[])) is None


def test_mini_suite_records_valid_and_deterministic():
    """The registry's suite datasets, as LAMM-Mini writes them: valid, seeded, with the protocol query."""
    specs = [s for s in datasets_3d() if s.suite_task]
    assert sorted(s.meta_file for s in specs) == sorted(SUITE_FILES)
    for spec in specs:
        check = SUITE_FILES[spec.meta_file][1]
        for i in range(6):
            rec, pts = bench3d_record(spec, i, 3, 512)
            assert check_suite_record(rec, check) is None, (spec.key, rec)
            assert rec["query"] == suite_query(spec.suite_task, rec) and list(rec)[:3] == [
                "id",
                "pcl",
                "query",
            ]
            again, pts2 = bench3d_record(spec, i, 3, 512)
            assert json.dumps(again) == json.dumps(rec) and np.array_equal(pts, pts2)
            assert pts.shape == (512, 6) and np.isfinite(pts).all()
        assert json.dumps(bench3d_record(spec, 0, 4, 512)[0]) != json.dumps(
            bench3d_record(spec, 0, 3, 512)[0]
        )


def test_mini_suite_answers_follow_the_scene():
    """Situated answers follow from the pose: "left" means a positive cross product with the facing."""
    for i in range(8):
        rec, _ = B.sqa3d_record(i, 0, 256)
        yaw = 2 * math.atan2(rec["rotation"][2], rec["rotation"][3])
        assert rec["answers"] and rec["position"][2] == 0.0 and -math.pi <= yaw <= math.pi
    counts = [B.multi3drefer_record(i, 0, 256)[0] for i in range(30)]
    kinds = {r["eval_type"][:2] for r in counts}
    assert kinds == {"zt", "st", "mt"}  # zero, single and multiple targets all occur
    assert all(len(r["gt_bboxes"]) == len(r["object_ids"]) for r in counts)


def test_suite_training_samples_use_trained_task_types():
    recs, pts = suite_samples(0, 0, 512)
    assert [r["task_type"] for r in recs] == ["VQA3d", "VQA3d", "VQA3d", "visual_grounding3d"]
    assert all(r["pcl"] == recs[0]["pcl"] and len(r["conversations"]) == 2 for r in recs)
    assert recs == suite_samples(0, 0, 512)[0]


def test_lamm_data_mini_suite_3d_through_cli(tmp_path, capsys):
    """`lamm data mini --suite-3d` adds the four files (valid) and suite training samples; the existing 3D
    benchmark files are byte-identical to a build without the flag (the default stays as it was)."""
    common = [
        "--train",
        "2",
        "--test",
        "3",
        "--pretrain",
        "0",
        "--image-size",
        "32",
        "--points",
        "512",
        "--quiet",
    ]
    assert main(["data", "mini", "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["data", "mini", "--out", str(tmp_path / "b"), *common, "--suite-3d"]) == 0
    a, b = tmp_path / "a" / "3D_Benchmark" / "meta_file", tmp_path / "b" / "3D_Benchmark" / "meta_file"
    assert sorted(p.name for p in b.iterdir()) == sorted([*(p.name for p in a.iterdir()), *SUITE_FILES])
    for p in a.iterdir():
        assert (b / p.name).read_bytes() == p.read_bytes()
    capsys.readouterr()
    assert main(["data", "validate", str(tmp_path / "b"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["ok"] and {
        summary["datasets"][k] for k in ("ScanQA", "SQA3D", "Scan2Cap", "Multi3DRefer")
    } == {3}
    instruct = next((tmp_path / "b" / "3D_Instruct" / "meta_file").iterdir())
    ids = [r["id"] for r in json.loads(instruct.read_text())]
    assert sum(i.startswith("suite_") for i in ids) == 4  # one suite scene per training scene (train_3d = 1)


def test_convert_3d_missing_scene_names_the_record_and_skip_reports_it(tmp_path, capsys):
    scans, _ = _scans(tmp_path)
    f = _annotations(tmp_path)
    data = json.loads(f["ScanRefer_filtered_val.json"].read_text())
    data.insert(1, dict(data[0], scene_id="scene0002_00"))  # a scene nobody holds
    f["ScanRefer_filtered_val.json"].write_text(json.dumps(data))
    args = ["data", "convert-3d", "--scans", str(scans), "--out", str(tmp_path / "o"),
            "--scanrefer", str(f["ScanRefer_filtered_val.json"])]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "ScanRefer_filtered_val.json, record 1, id 'scene0002_00'" in err and "aligned_bbox" in err
    assert main([*args, "--on-error", "skip"]) == 0
    out = capsys.readouterr().out
    meta = tmp_path / "o" / "3D_Benchmark" / "meta_file"
    assert len(json.loads((meta / "VG_ScanRefer.json").read_text())) == 3
    assert [r["descriptions"] for r in json.loads((meta / "Caption_Scan2Cap.json").read_text())] == [
        ["a brown cabinet.", "the cabinet by the wall."], ["a table."]]  # fmt: skip
    assert "skipped 2 record(s)" in out  # the grounding record and the captioning object


def test_situated_answers_are_hand_checked_on_a_fixed_scene():
    """Standing by the red box at (0, 0) facing the blue cone at (0, 1) (+y): the green sphere at (-1, 0)
    is on my left, the red cone at (1, 0.2) on my right (z up, as in world3d)."""
    from lamm.data.mini import world3d as W3

    objs = [W3.Obj3D("box", "red", (0, 0, 0.3), (0.6, 0.6, 0.6)), W3.Obj3D("cone", "blue", (0, 1, 0.3), (0.6, 0.6, 0.6)),
            W3.Obj3D("sphere", "green", (-1, 0, 0.3), (0.6, 0.6, 0.6)), W3.Obj3D("cone", "red", (1, 0.2, 0.3), (0.6, 0.6, 0.6))]  # fmt: skip
    truth = {"Is the green sphere on my left or on my right?": "left", "Is the red cone on my left or on my right?": "right",
             "What is on my left?": "green sphere", "What is on my right?": "red cone",
             "How many objects are on my left?": "1", "How many objects are on my right?": "1"}  # fmt: skip
    seen = set()
    for seed in range(2000):
        q = W3.situated_question(objs, np.random.default_rng(seed))
        if q and q["situation"] == "I am standing by the red box facing the blue cone.":
            assert q["answers"][0] == truth[q["question"]], q
            assert q["rotation"] == [
                0.0,
                0.0,
                round(math.sin(math.pi / 4), 6),
                round(math.cos(math.pi / 4), 6),
            ]
            seen.add(q["question"])
    assert seen == set(truth)


def test_multi_refer_targets_and_eval_types_hand_checked():
    from lamm.data.mini import world3d as W3

    size = (0.6, 0.6, 0.6)
    objs = [W3.Obj3D("box", "red", (0, 0, 0.3), size), W3.Obj3D("cone", "red", (1, 0, 0.3), size),
            W3.Obj3D("cone", "blue", (-1, 1, 0.3), size)]  # fmt: skip
    truth = {"all the red objects": ([0, 1], "mt"), "all the cones": ([1, 2], "mt"),
             "all the green objects": ([], "zt_wo_d"), "all the blue boxes": ([], "zt_w_d"),
             "all the red boxes": ([0], "st_wo_d"), "all the blue cones": ([2], "st_w_d"),
             "all the spheres": ([], "zt_wo_d")}  # fmt: skip
    seen = set()
    for seed in range(400):
        m = W3.multi_refer(objs, np.random.default_rng(seed))
        key = m["description"].removeprefix("Find ").removesuffix(" in the room.")
        if key in truth:
            assert (m["object_ids"], m["eval_type"]) == truth[key], m
            seen.add(key)
    assert seen == set(truth)


@pytest.mark.slow
def test_tiny_3d_trains_on_the_suite_samples(tmp_path, capsys):
    """The tiny-3d preset's data selection (VQA3d, visual_grounding3d) takes the suite's four samples per
    suite scene: 6 training scenes give 6 x 5 samples without --suite-3d and 6 x (5 + 4) with it."""
    from lamm.data.mini import build_mini
    from lamm.quickstart import train_preset
    from lamm.train.pretrain.pointcloud import pretrain_for_preset

    build_mini(
        tmp_path / "data",
        train=8,
        test=2,
        train_3d=6,
        pretrain=0,
        image_size=32,
        suite_3d=True,
        progress=False,
    )
    enc = pretrain_for_preset("tiny-3d", tmp_path / "data", tmp_path / "enc", steps=1)
    capsys.readouterr()
    ckpt = train_preset("tiny-3d", tmp_path / "data", tmp_path / "m", max_steps=1, progress=False,
                        overrides=[f"model.encoder.path={enc}"])  # fmt: skip
    assert ckpt.is_dir()
    cap = capsys.readouterr()
    assert f"; {6 * 9} samples," in cap.out + cap.err
