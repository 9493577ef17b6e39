"""``lamm data validate`` / ``stats`` / ``score`` on awkward input: an empty array, absolute point-cloud
paths, a build folder (unions beside per-kind files, media root in the manifest), non-finite numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from build_fixtures import SOURCES_YAML, make_all, write_recipe
from PIL import Image

from lamm.cli import main

REPO = Path(__file__).resolve().parents[1]
CONV = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A box."}]


def _validate(capsys, *args: str) -> tuple[int, dict]:
    rc = main(["data", "validate", "--json", *args])
    return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_empty_instruction_array_is_a_named_problem_not_a_traceback(tmp_path, capsys):
    f = tmp_path / "meta_file" / "daily_dialogue.json"
    f.parent.mkdir()
    f.write_text("[]")
    assert main(["data", "validate", str(f)]) == 1
    out = capsys.readouterr().out
    assert f"{f}: file holds no records" in out and f"{f}: unknown, 0 records" in out


def test_absolute_pcl_path_is_read_as_a_point_cloud(tmp_path, capsys):
    clouds = tmp_path / "elsewhere"
    clouds.mkdir()
    np.save(clouds / "scene.npy", np.zeros((10, 6), np.float32))
    (clouds / "scene.npy").rename(clouds / "scene.bin")  # a point cloud whatever its name says
    (clouds / "broken.bin").write_bytes(b"not a cloud")
    f = tmp_path / "3D_Instruct" / "meta_file" / "LAMM_3dinstruct.json"
    f.parent.mkdir(parents=True)
    f.write_text(json.dumps([
        {"id": "a", "pcl": str(clouds / "scene.bin"), "conversations": CONV, "task_type": "conversation3d"},
        {"id": "b", "pcl": str(clouds / "broken.bin"), "conversations": CONV, "task_type": "conversation3d"},
    ]))  # fmt: skip
    rc, res = _validate(capsys, str(f))
    assert rc == 1 and res["media"] == {"checked": 2, "missing": 0, "corrupt": 1}
    [problem] = res["problems"]
    assert (problem["index"], problem["field"]) == (1, "pcl")
    assert ".npy" in problem["message"] and "image" not in problem["message"]


def test_build_folder_counts_each_sample_once_with_the_manifests_media_root(tmp_path, capsys):
    data = make_all(tmp_path / "data")
    sources = "\n".join(
        line for line in SOURCES_YAML.splitlines() if "name: voc," in line or "name: celeba," in line
    )
    recipe = write_recipe(data / "recipe.yaml", data_root=str(data), sources="\n" + sources + "\n")
    out = tmp_path / "built"  # not under the data root: media resolve only through the manifest
    assert main(["data", "build", str(recipe), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    rc, res = _validate(capsys, str(out))
    assert rc == 0, res["problems"][:3]
    assert res["records"] == counts["kept"] > 0
    assert [Path(f["path"]).name for f in res["files"]] == ["LAMM_instruct.json"]
    assert res["media"]["checked"] > 0 and res["media"]["missing"] == 0
    # stats: a table, written beside meta_file/ by default
    assert main(["data", "stats", str(out / "meta_file")]) == 0
    text = capsys.readouterr().out
    assert (out / "stats" / "stats.json").is_file() and not (out / "meta_file" / "stats").exists()
    assert "{" not in text and "tokens/sample" in text and f"{counts['kept']} samples" in text


def test_stats_into_a_closed_pipe_ends_quietly(tmp_path):
    f = tmp_path / "2D_Instruct" / "meta_file" / "x.json"
    f.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "2D_Instruct" / "a.png")
    f.write_text(json.dumps([{"id": str(i), "image": "a.png", "conversations": CONV} for i in range(3)]))
    p = subprocess.Popen([sys.executable, "-m", "lamm.cli", "data", "stats", str(f)], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)  # fmt: skip
    p.stdout.close()  # `| head` gone before lamm prints
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


# --------------------------------------------------------------------------------------- non-finite


def _voc(root: Path, bbox_text: str) -> None:
    """Locating_VOC2012 with two records; the second's box is written as raw JSON text (NaN, Infinity)."""
    (root / "meta_file").mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (40, 20)).save(root / f"{i}.png")
    good = '{"label": "dog", "bbox": [0.1, 0.1, 0.5, 0.5]}'
    recs = [
        f'{{"id": "v0", "image": "0.png", "query": "q", "object": [{good}]}}',
        f'{{"id": "v1", "image": "1.png", "query": "q", "object": [{{"label": "cat", "bbox": {bbox_text}}}]}}',
    ]
    (root / "meta_file" / "Locating_VOC2012.json").write_text("[" + ",".join(recs) + "]")


def test_non_finite_ground_truth_box_is_refused_by_validate_and_score(tmp_path, capsys):
    for k, text in enumerate(["[NaN, 0.1, 0.5, 0.5]", "[0.1, 0.1, Infinity, 0.5]"]):
        bench = tmp_path / f"b{k}"
        _voc(bench, text)
        rc, res = _validate(capsys, str(bench))
        assert rc == 1 and [(p["index"], p["field"]) for p in res["problems"]] == [(1, "object")]
        assert "non-finite" in res["problems"][0]["message"]
        answers = tmp_path / f"a{k}.json"
        answers.write_text(json.dumps([{"id": f"v{i}", "text": "[0.1, 0.1, 0.5, 0.5]"} for i in range(2)]))
        rc = main(["score", "--benchmark-dir", str(bench), "--dataset", "VOC2012", "--mode", "locating",
                   "--answers", str(answers)])  # fmt: skip
        err = capsys.readouterr().err
        assert rc == 2 and "record 1" in err and "id 'v1'" in err and "non-finite" in err


def test_non_finite_scanrefer_box_is_refused(tmp_path, capsys):
    root = tmp_path / "3D"
    (root / "meta_file").mkdir(parents=True)
    (root / "meta_file" / "VG_ScanRefer.json").write_text(
        '[{"id": "r0", "pcl": "./s.npy", "query": "q", "object": [1, 2, 3, NaN, 1, 1]}]'
    )
    rc, res = _validate(capsys, str(root), "--no-media")
    assert (
        rc == 1 and res["problems"][0]["field"] == "object" and "non-finite" in res["problems"][0]["message"]
    )


def test_non_finite_predicted_box_is_a_parse_failure_not_a_score(tmp_path, capsys):
    bench = tmp_path / "b"
    _voc(bench, "[0.6, 0.6, 0.9, 0.9]")
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps([{"id": "v0", "text": "[0.1, 0.1, 0.5, 0.5]"},
                                   {"id": "v1", "text": "[nan, 0.6, 0.9, 0.9]"}]))  # fmt: skip
    assert main(["score", "--json", "--benchmark-dir", str(bench), "--dataset", "VOC2012",
                 "--mode", "locating", "--answers", str(answers), "--samples", str(tmp_path / "s.jsonl")]) == 0  # fmt: skip
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["parse_failure_rate"] == 0.5
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert rows[1]["failed"] is True and rows[1]["rule"] == "non-finite"


def test_infinite_predicted_detection_box_is_a_parse_failure_in_recall_and_ap(tmp_path, capsys):
    """An infinite corner survives the x1 <= x2 check, so the AP's per-box labels once counted a box that
    the parser had refused: a raw ValueError traceback from ``lamm score`` (found by the audit)."""
    bench = tmp_path / "b"
    _voc(bench, "[0.6, 0.6, 0.9, 0.9]")
    (bench / "meta_file" / "Locating_VOC2012.json").rename(bench / "meta_file" / "Detection_VOC2012.json")
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps([{"id": "v0", "text": "dog [0.1, 0.1, 0.5, 0.5]"},
                                   {"id": "v1", "text": "cat [0.6, 0.6, 1e999, 0.9]"}]))  # fmt: skip
    rc = main(["score", "--json", "--benchmark-dir", str(bench), "--dataset", "VOC2012",
               "--answers", str(answers)])  # fmt: skip
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and res["parse_failure_rate"] == 0.5 and res["value"] == 0.5
    assert res["ap50"] is not None and res["ap50"] < 1.0


def test_inverted_voc_box_is_refused_by_validate_and_score_naming_the_field(tmp_path, capsys):
    """x2 < x1 or y2 < y1: the official scorers never match such a ground-truth box (lamm.tasks.checks;
    OpenGVLab/LAMM src/datasets/utils.py @83fbcb14: parse_bbox keeps x1 <= x2, y1 <= y2 only; cal_iou;
    check_inside_bbox is strict)."""
    cases = [([0.5, 0.1, 0.1, 0.5], "x2 < x1"), ([0.1, 0.5, 0.5, 0.1], "y2 < y1"),
             ([0.5, 0.5, 0.1, 0.1], "x2 < x1 and y2 < y1")]  # fmt: skip
    for k, (box, axes) in enumerate(cases):
        bench = tmp_path / f"b{k}"
        _voc(bench, json.dumps(box))
        meta = bench / "meta_file"
        (meta / "Detection_VOC2012.json").write_text((meta / "Locating_VOC2012.json").read_text())
        rc, res = _validate(capsys, str(bench))
        want = f"entry 0 'bbox' {box!r} is inverted ({axes}); VOC boxes are [x1, y1, x2, y2]"
        assert rc == 1 and [(Path(p["file"]).name, p["index"], p["id"], p["field"], p["message"])
                            for p in res["problems"]] == [
            ("Detection_VOC2012.json", 1, "v1", "object", want), ("Locating_VOC2012.json", 1, "v1", "object", want)
        ]  # fmt: skip
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps([{"id": f"v{i}", "text": "[0.1, 0.1, 0.5, 0.5]"} for i in range(2)]))
    rc = main(["score", "--benchmark-dir", str(tmp_path / "b0"), "--dataset", "VOC2012", "--mode", "locating",
               "--answers", str(answers)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "record 1" in err and "id 'v1'" in err and "'object'" in err and "x2 < x1" in err


def test_degenerate_voc_box_and_negative_3d_extents_are_accepted(tmp_path, capsys):
    """What an official file may hold stays valid: a zero-width VOC box, and 3D boxes with negative
    extents, which the official cal_iou_3d (OpenGVLab/LAMM src/datasets/utils.py @83fbcb14) reads as
    |extent|, ground truth included (ours too: scored as the positive box)."""
    _voc(tmp_path / "2D", "[0.3, 0.1, 0.3, 0.5]")
    rc, res = _validate(capsys, str(tmp_path / "2D"))
    assert rc == 0 and res["problems"] == []
    root = tmp_path / "3D"
    (root / "meta_file").mkdir(parents=True)
    neg = [1.0, 2.0, 0.5, -0.4, 0.6, -1.0]
    (root / "meta_file" / "Detection_ScanNet.json").write_text(json.dumps(
        [{"id": "s0", "pcl": "./s.npy", "query": "q", "object": [{"label": "chair", "bbox": neg}]}]))  # fmt: skip
    (root / "meta_file" / "VG_ScanRefer.json").write_text(
        json.dumps([{"id": "r0", "pcl": "./s.npy", "query": "q", "object": neg}]))  # fmt: skip
    rc, res = _validate(capsys, str(root), "--no-media")
    assert rc == 0 and res["problems"] == [] and res["datasets"] == {"ScanNet": 1, "ScanRefer": 1}
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps([{"id": "s0", "text": "chair [1.00, 2.00, 0.50, 0.40, 0.60, 1.00]"}]))
    rc = main(
        ["score", "--json", "--benchmark-dir", str(root), "--dataset", "ScanNet", "--answers", str(answers)]
    )
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and res["value"] == 1.0


def test_non_finite_points_and_keypoints_are_refused(tmp_path, capsys):
    root = tmp_path / "2D"
    (root / "meta_file").mkdir(parents=True)
    joints = ",".join(["[1, 2, 1]"] * 13 + ["[Infinity, 2, 1]"])
    (root / "meta_file" / "Locating_FSC147.json").write_text(
        '[{"id": "f0", "image": "f.png", "query": "q", "points": [[1, 2], [NaN, 3]]}]'
    )
    (root / "meta_file" / "Locating_LSP.json").write_text(
        f'[{{"id": "l0", "image": "l.png", "query": "q", "gt_joints": [{joints}]}}]'
    )
    rc, res = _validate(capsys, str(root), "--no-media")
    got = sorted((p["id"], p["field"]) for p in res["problems"] if "non-finite" in p["message"])
    assert rc == 1 and got == [("f0", "points"), ("l0", "gt_joints")]


def test_a_count_past_float_range_is_a_parse_failure_not_a_crash(tmp_path, capsys):
    root = tmp_path / "2D"
    (root / "meta_file").mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (40, 20)).save(root / f"{i}.png")
    (root / "meta_file" / "Counting_FSC147.json").write_text(
        json.dumps([{"id": f"f{i}", "image": f"{i}.png", "query": "q", "num": 3} for i in range(2)])
    )
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps([{"id": "f0", "text": "3"}, {"id": "f1", "text": "1" + "0" * 400}]))
    rc = main(["score", "--json", "--benchmark-dir", str(root), "--dataset", "FSC147",
               "--answers", str(answers)])  # fmt: skip
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and res["parse_failure_rate"] == 0.5 and res["value"] == 1.5  # unread count -> 0


def test_an_empty_benchmark_meta_file_is_an_error_for_eval_and_score(tmp_path, capsys):
    """``data validate`` called it a problem while ``eval`` and ``score`` gave exit 0 and a 0/0 row."""
    (tmp_path / "2D" / "meta_file").mkdir(parents=True)
    meta = tmp_path / "2D" / "meta_file" / "Classification_CIFAR10.json"
    meta.write_text("[]")
    (tmp_path / "a.json").write_text("[]")
    assert main(["eval", "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(tmp_path / "2D"),
                 "--datasets", "CIFAR10", "--out", str(tmp_path / "run")]) == 2  # fmt: skip
    assert capsys.readouterr().err == f"lamm: error: {meta}: file holds no records\n"
    assert main(["score", "--benchmark-dir", str(tmp_path / "2D"), "--dataset", "CIFAR10",
                 "--answers", str(tmp_path / "a.json")]) == 2  # fmt: skip
    assert capsys.readouterr().err == f"lamm: error: {meta}: file holds no records\n"
