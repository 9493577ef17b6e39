"""``lamm score`` end to end on small official-layout fixtures, including every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from lamm.cli import main
from lamm.tasks.lsp import LSP_JOINTS


def _img(root: Path, rel: str, size=(40, 20)) -> str:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 30, 200)).save(p)
    return rel


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4))
    return path


def _meta(root: Path, name: str, recs: list[dict]) -> None:
    _write(root / "meta_file" / name, recs)


def _answers(path: Path, texts: list, ids: list[str]) -> Path:
    return _write(path, [{"id": i, "text": t, "delta_path": ""} for i, t in zip(ids, texts)])


@pytest.fixture()
def bench2d(tmp_path: Path) -> Path:
    root = tmp_path / "2D_Benchmark"
    labels = ["cat", "automobile", "frog", "ship"]
    _meta(root, "Classification_CIFAR10.json", [
        {"id": f"c{i}", "image": _img(root, f"cifar10_images/{i}.png"), "query": "q", "label": lab}
        for i, lab in enumerate(labels)
    ])  # fmt: skip
    joints = [[2 * k + 4, k + 2, 1] for k in range(14)]  # pixels in a 40 x 20 image
    _meta(root, "Keypoints_Detection_LSP.json", [
        {"id": f"l{i}", "image": _img(root, f"lsp_images/{i}.jpg"), "query": "q {}", "gt_joints": joints}
        for i in range(2)
    ])  # fmt: skip
    objs = [{"label": "dog", "bbox": [0.1, 0.1, 0.5, 0.5]}, {"label": "cat", "bbox": [0.6, 0.6, 0.9, 0.9]}]
    for task in ("Detection", "Locating"):
        _meta(root, f"{task}_VOC2012.json", [
            {"id": f"v{i}", "image": _img(root, f"voc2012_images/{i}.jpg"), "query": "q", "object": objs}
            for i in range(2)
        ])  # fmt: skip
    _meta(root, "Locating_LSP.json", [
        {"id": "l0", "image": "lsp_images/0.jpg", "query": "q", "gt_joints": joints}
    ])  # fmt: skip
    _meta(root, "Locating_FSC147.json", [
        {"id": "f0", "image": _img(root, "fsc147_images/0.jpg"), "query": "q", "points": [[4, 4], [20, 10]]}
    ])  # fmt: skip
    return root


def lamm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lamm.cli", "score", *args], capture_output=True, text=True, timeout=120
    )


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


CIFAR_TEXTS = ["A cat.", "It is a car.", "A dog.", "ship"]


def test_cifar10_json_subprocess_and_no_torch(bench2d, tmp_path):
    ans = _answers(tmp_path / "a" / "Classification_CIFAR10.json", CIFAR_TEXTS, ["c0", "c1", "c2", "c3"])
    r = lamm("--benchmark-dir", str(bench2d), "--dataset", "CIFAR10", "--answers", str(ans), "--json")
    assert r.returncode == 0, r.stderr
    res = last_json(r.stdout)
    assert (res["dataset"], res["mode"], res["metric"], res["value"], res["n"]) == (
        "CIFAR10", "common", "accuracy", 0.75, 4,
    )  # fmt: skip
    # "A dog." names none of the four labels: a parse failure
    assert res["parse_failure_rate"] == 0.25 and res["skipped"] == [] and "samples" not in res
    assert res["versions"]["nltk"] == "3.8.1" and res["versions"]["wordnet_version"] == "3.0"
    code = "import lamm.tasks, lamm.bench.score_cli, lamm.bench.score, sys; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_answers_folder_jsonl_and_samples(bench2d, tmp_path, capsys):
    folder = tmp_path / "ans"
    _answers(folder / "Classification_CIFAR10.json", CIFAR_TEXTS, ["c0", "c1", "c2", "c3"])
    jl = tmp_path / "a.jsonl"
    jl.write_text("".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(CIFAR_TEXTS)))
    for src in (folder, jl):
        rc = main(["score", "--benchmark-dir", str(bench2d), "--dataset", "CIFAR10", "--answers", str(src),
                   "--json", "--samples", str(tmp_path / "s.jsonl")])  # fmt: skip
        assert rc == 0 and last_json(capsys.readouterr().out)["value"] == 0.75
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["score"] for r in rows] == [1.0, 1.0, 0.0, 1.0] and rows[0]["rule"] == "wordnet"


def test_human_output(bench2d, tmp_path, capsys):
    ans = _answers(tmp_path / "x.json", CIFAR_TEXTS, ["c0", "c1", "c2", "c3"])
    assert (
        main(["score", "--benchmark-dir", str(bench2d), "--dataset", "CIFAR10", "--answers", str(ans)]) == 0
    )
    out = capsys.readouterr().out
    assert "accuracy: 0.750000" in out and "parse_failure_rate" in out


def test_malformed_json(bench2d, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "c0", "text": "cat"},')
    r = lamm("--benchmark-dir", str(bench2d), "--dataset", "CIFAR10", "--answers", str(bad), "--json")
    assert r.returncode == 2 and str(bad) in r.stderr and "malformed JSON" in r.stderr


def test_length_mismatch_error_and_skip(bench2d, tmp_path, capsys):
    ans = _answers(tmp_path / "x.json", CIFAR_TEXTS[:3], ["c0", "c1", "c2"])
    args = ["score", "--benchmark-dir", str(bench2d), "--dataset", "CIFAR10", "--answers", str(ans), "--json"]
    assert main(args) == 2
    assert "3 answers for 4 records" in capsys.readouterr().err
    assert main([*args, "--on-error", "skip"]) == 0
    res = last_json(capsys.readouterr().out)
    assert res["n"] == 3 and res["value"] == pytest.approx(2 / 3)
    assert res["skipped"] == [
        {"index": 3, "id": "c3", "reason": "no answer at this position", "file": str(ans)}
    ]
    # lamm-v1 keeps the official denominator (number of answers for CIFAR10)
    assert main([*args, "--on-error", "skip", "--protocol", "lamm-v1"]) == 0
    assert last_json(capsys.readouterr().out)["value"] == pytest.approx(2 / 3)


def test_id_mismatch_is_an_error(bench2d, tmp_path, capsys):
    ans = _answers(tmp_path / "x.json", CIFAR_TEXTS, ["c0", "c9", "c2", "c3"])
    args = ["score", "--benchmark-dir", str(bench2d), "--dataset", "CIFAR10", "--answers", str(ans), "--json"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "record 1" in err and "'c9'" in err and "field 'id'" in err


def test_missing_and_truncated_image(bench2d, tmp_path, capsys):
    (bench2d / "cifar10_images" / "2.png").unlink()
    data = (bench2d / "cifar10_images" / "3.png").read_bytes()
    (bench2d / "cifar10_images" / "3.png").write_bytes(data[: len(data) // 2])
    ans = _answers(tmp_path / "x.json", CIFAR_TEXTS, ["c0", "c1", "c2", "c3"])
    r = lamm("--benchmark-dir", str(bench2d), "--dataset", "CIFAR10", "--answers", str(ans), "--json")
    assert r.returncode == 2
    assert "Classification_CIFAR10.json" in r.stderr and "record 2" in r.stderr and "not found" in r.stderr
    args = ["score", "--benchmark-dir", str(bench2d), "--dataset", "CIFAR10", "--answers", str(ans), "--json",
            "--on-error", "skip"]  # fmt: skip
    assert main(args) == 0
    res = last_json(capsys.readouterr().out)
    assert [s["index"] for s in res["skipped"]] == [2, 3] and "unreadable" in res["skipped"][1]["reason"]
    assert res["n"] == 2 and res["value"] == 1.0


def _lsp_answer(hit: int) -> dict:
    # joint k at pixel (2k+4, k+2) in 40 x 20 -> normalised ((2k+4)/40, (k+2)/20)
    return {name: (f"[{(2 * k + 4) / 40}, {(k + 2) / 20}]" if k < hit else "unknown")
            for k, name in enumerate(LSP_JOINTS)}  # fmt: skip


def test_lsp_pck_protocols_and_string_answer(bench2d, tmp_path, capsys):
    ans = _answers(tmp_path / "k.json", [_lsp_answer(7), _lsp_answer(14)], ["l0", "l1"])
    args = ["score", "--benchmark-dir", str(bench2d), "--dataset", "LSP", "--answers", str(ans), "--json"]
    assert main(args) == 0
    assert last_json(capsys.readouterr().out)["value"] == pytest.approx((0.5 + 1.0) / 2)
    assert main([*args, "--protocol", "lamm-v1"]) == 0
    res = last_json(capsys.readouterr().out)
    assert res["value"] == 0.0 and res["pck_fixed"] == pytest.approx(0.75)
    # a string where the joint object belongs
    bad = _answers(tmp_path / "bad.json", [_lsp_answer(7), "[0.1, 0.2]"], ["l0", "l1"])
    r = lamm("--benchmark-dir", str(bench2d), "--dataset", "LSP", "--answers", str(bad), "--json")
    assert r.returncode == 2 and str(bad) in r.stderr and "record 1" in r.stderr and "'l1'" in r.stderr
    assert main(["score", "--benchmark-dir", str(bench2d), "--dataset", "LSP", "--answers", str(bad),
                 "--json", "--on-error", "skip"]) == 0  # fmt: skip
    res = last_json(capsys.readouterr().out)
    assert res["n"] == 1 and res["value"] == 0.5 and res["skipped"][0]["index"] == 1


def test_voc_detection_json_extras(bench2d, tmp_path, capsys):
    texts = ["dog [0.1, 0.1, 0.5, 0.5] cat [0.6, 0.6, 0.9, 0.9]", "nothing"]
    ans = _answers(tmp_path / "d.json", texts, ["v0", "v1"])
    assert main(["score", "--benchmark-dir", str(bench2d), "--dataset", "VOC2012", "--answers", str(ans),
                 "--json"]) == 0  # fmt: skip
    res = last_json(capsys.readouterr().out)
    assert res["metric"] == "recall@0.5" and res["value"] == 0.5 and res["parse_failure_rate"] == 0.5
    # class-aware: dog and cat each 1 TP of 2 gt; each answer box is predicted as both classes
    assert res["ap50"] is not None and res["ap50_agnostic"] == pytest.approx(51 / 101)


def test_locating_all(bench2d, tmp_path, capsys):
    d = tmp_path / "loc"
    _answers(d / "Locating_VOC2012.json", ["dog at [0.3, 0.3]", "no idea"], ["v0", "v1"])
    _answers(d / "Locating_LSP.json", ["[0.5, 0.5]"], ["l0"])  # (20, 10) px inside joints' box
    _answers(d / "Locating_FSC147.json", ["[0.1, 0.2] [0.5, 0.5]"], ["f0"])  # both gt points hit
    args = ["score", "--benchmark-dir", str(bench2d), "--dataset", "all", "--mode", "locating",
            "--answers", str(d), "--json"]  # fmt: skip
    assert main(args) == 0
    res = last_json(capsys.readouterr().out)
    per = res["datasets"]
    assert (per["VOC2012"]["correct"], per["VOC2012"]["total"]) == (1, 4)
    assert (per["LSP"]["correct"], per["LSP"]["total"]) == (1, 1)
    assert (per["FSC147"]["correct"], per["FSC147"]["total"]) == (2, 2)
    assert res["value"] == pytest.approx(4 / 7) and res["acc_jul23"] == pytest.approx(2 / 5)
    # one dataset alone
    assert main(["score", "--benchmark-dir", str(bench2d), "--dataset", "LSP", "--mode", "locating",
                 "--answers", str(d), "--json"]) == 0  # fmt: skip
    assert last_json(capsys.readouterr().out)["value"] == 1.0
    # a missing answer file: error, or skipped and reported
    (d / "Locating_FSC147.json").unlink()
    assert main(args) == 2
    assert "Locating_FSC147.json" in capsys.readouterr().err
    assert main([*args, "--on-error", "skip"]) == 0
    res = last_json(capsys.readouterr().out)
    assert res["value"] == pytest.approx(2 / 5) and res["skipped"][0]["dataset"] == "FSC147"


def test_unknown_dataset(bench2d, tmp_path, capsys):
    assert main(["score", "--benchmark-dir", str(bench2d), "--dataset", "MNIST", "--answers", "x.json"]) == 2
    assert "unknown LAMM dataset 'MNIST'" in capsys.readouterr().err


def test_3d_scannet_protocols(tmp_path, capsys):
    root = tmp_path / "3D_Benchmark"
    objs = [{"label": "chair", "bbox": [0, 0, 0, 1, 1, 1]}, {"label": "table", "bbox": [5, 5, 0, 2, 2, 1]}]
    _meta(root, "Detection_ScanNet.json", [{"id": "scene0", "pcl": "./scannet_pcls/scene0.npy", "query": "q",
                                            "object": objs}])  # fmt: skip
    _meta(root, "VG_ScanRefer.json", [{"id": "g0", "pcl": "./scannet_pcls/scene0.npy", "query": "q",
                                       "object": [0, 0, 0, 1, 1, 1]}])  # fmt: skip
    _meta(root, "VQA_ScanQA_multiplechoice.json", [{"id": "q0", "pcl": "./scannet_pcls/scene0.npy", "query": "q",
                                                    "gt_choice": 5, "gt_choices": list("abcdef")}])  # fmt: skip
    det = _answers(
        tmp_path / "det.json", ["chair [0, 0, 0, 1, 1, 1] table [8.7, 8.7, 0, 2, 2, 1]"], ["scene0"]
    )
    base = ["score", "--benchmark-dir", str(root), "--json"]
    assert main([*base, "--dataset", "ScanNet", "--answers", str(det)]) == 0
    res = last_json(capsys.readouterr().out)
    assert res["value"] == 0.5 and res["map@0.5"] == pytest.approx(0.5)
    assert main([*base, "--dataset", "ScanNet", "--answers", str(det), "--protocol", "lamm-v1"]) == 0
    assert last_json(capsys.readouterr().out)["value"] == 1.0  # two-axis-separated table box counts
    vg = _answers(tmp_path / "vg.json", ["[2, 2, 0, 1, 1, 1]"], ["g0"])
    assert main([*base, "--dataset", "ScanRefer", "--answers", str(vg)]) == 0
    assert last_json(capsys.readouterr().out)["value"] == 0.0
    assert main([*base, "--dataset", "ScanRefer", "--answers", str(vg), "--protocol", "lamm-v1"]) == 0
    assert last_json(capsys.readouterr().out)["value"] == 1.0
    qa = _answers(tmp_path / "qa.json", ["hm\n The answer is F."], ["q0"])
    assert main([*base, "--dataset", "ScanQA_multiplechoice", "--answers", str(qa)]) == 0
    assert last_json(capsys.readouterr().out)["value"] == 1.0


def test_image_size_matches_pil_and_catches_truncation(tmp_path):
    import numpy as np

    from lamm.bench.score import image_size

    arr = np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated orientation: PIL's .size ignores it, and so do we
    cases = {"a.jpg": {}, "p.jpg": {"progressive": True}, "e.jpg": {"exif": exif}, "a.png": {}, "a.gif": {}}
    for name, kw in cases.items():
        im.save(tmp_path / name, **kw)
        assert image_size(str(tmp_path / name)) == Image.open(tmp_path / name).size == (53, 37)
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[:-30])
    with pytest.raises(OSError):
        image_size(str(tmp_path / "t.jpg"))
    with pytest.raises(OSError):
        image_size(str(tmp_path / "missing.png"))


def test_score_speed_script_small(tmp_path):
    script = Path(__file__).resolve().parent.parent / "bench" / "score_speed.py"
    r = subprocess.run(
        [sys.executable, str(script), "--workdir", str(tmp_path), "--runs", "1", "--scale", "0.002"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "samples: 125;" in r.stdout and "CelebA(Hair)" in r.stdout


def test_a_missing_package_disables_one_subcommand_only(monkeypatch, capsys):
    """Seen on a GPU image without ``openai``: ``lamm train`` must still work, ``lamm judge`` says why not."""
    for mod in [
        m for m in sys.modules if m in ("lamm.llm_client", "lamm.bench.judge", "lamm.bench.judge_cli")
    ]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "openai", None)  # import openai -> ModuleNotFoundError
    with pytest.raises(SystemExit, match="lamm judge: needs the Python package 'openai'"):
        main(["judge", "RUN_A", "RUN_B"])
    with pytest.raises(SystemExit) as exc:
        main(["score", "--help"])
    assert exc.value.code == 0 and "--benchmark-dir" in capsys.readouterr().out
