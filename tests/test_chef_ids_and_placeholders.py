"""ChEF-family benchmark files (optional ``id``; ids keep their JSON type) and the placeholders that keep
an official answer file aligned with its meta file after ``lamm eval --on-error skip``.

ChEF readers (OpenGVLab/LAMM at ea57136, src/ChEF/scenario/classification.py ``CIFAR10Dataset.__getitem__``
L27, the same in LAMM_dataset.py and Ch3Ef_dataset.py): ``id = str(item['id']) if 'id' in item else
str(index)``."""

from __future__ import annotations

import json

from eval_helpers import make_benchmark_2d

from lamm.cli import main
from lamm.formats.answers import placeholder
from lamm.tasks import find_dataset
from lamm.tasks.lsp import LSP_JOINTS


def _chef_bench(root):
    """CIFAR10 records without ``id`` (ChEF style), SQAimage records with integer ids."""
    bench = make_benchmark_2d(root, n=4)
    meta = bench / "meta_file"
    cifar = json.loads((meta / "Classification_CIFAR10.json").read_text("utf-8"))
    (meta / "Classification_CIFAR10.json").write_text(
        json.dumps([{k: v for k, v in r.items() if k != "id"} for r in cifar])
    )
    sqa = json.loads((meta / "VQA_SQAimage.json").read_text("utf-8"))
    (meta / "VQA_SQAimage.json").write_text(json.dumps([{**r, "id": 100 + i} for i, r in enumerate(sqa)]))
    (meta / "Keypoints_Detection_LSP.json").unlink()
    return bench


def _read(path):
    return json.loads(path.read_text("utf-8"))


def test_chef_folder_without_ids_validates_and_evaluates_with_id_types_kept(tmp_path, capsys):
    bench = _chef_bench(tmp_path / "2D")
    assert main(["data", "validate", str(bench)]) == 0, capsys.readouterr()
    run = tmp_path / "run"
    assert (
        main(["eval", "--model", "baseline:trivial", "--benchmark-dir", str(bench), "--out", str(run)]) == 0
    )
    cifar = _read(run / "answers" / "Classification_CIFAR10.json")
    sqa = _read(run / "answers" / "VQA_SQAimage.json")
    assert [a["id"] for a in cifar] == ["0", "1", "2", "3"]  # id = index, as ChEF assigns it
    assert [a["id"] for a in sqa] == [100, 101, 102, 103]  # integers stay integers
    log = [json.loads(x) for x in (run / "answers.jsonl").open()]
    assert [r["id"] for r in log if r["dataset"] == "SQAimage"] == [100, 101, 102, 103]
    results = _read(run / "results.json")
    assert results["datasets"]["CIFAR10"]["value"] is not None
    assert results["datasets"]["SQAimage"]["score"]["n"] == 4
    # the written answer folder validates against the benchmark (ids pair by position) and replays
    assert main(["data", "validate", str(run / "answers"), "--benchmark-dir", str(bench)]) == 0
    again = tmp_path / "again"
    assert main(["eval", "--model", f"answers:{run / 'answers'}", "--benchmark-dir", str(bench),
                 "--out", str(again)]) == 0  # fmt: skip
    assert _read(again / "answers" / "VQA_SQAimage.json") == [
        {**a, "delta_path": str(run / "answers")} for a in sqa
    ]


def test_skipped_records_keep_their_place_and_are_reported_not_scored(tmp_path, capsys):
    bench = make_benchmark_2d(tmp_path / "2D", n=4)
    (bench / "cifar10_images" / "1.png").unlink()
    run = tmp_path / "run"
    model = "py:eval_helpers:make_echo"  # generates, so the missing image is found (a replay never looks)
    args = ["eval", "--model", model, "--benchmark-dir", str(bench), "--datasets", "CIFAR10"]
    assert main([*args, "--out", str(run), "--on-error", "skip"]) == 0
    official = _read(run / "answers" / "Classification_CIFAR10.json")
    meta = _read(bench / "meta_file" / "Classification_CIFAR10.json")
    # official scorers zip answers with meta records: every position still holds its own record
    assert [a["id"] for a in official] == [m["id"] for m in meta] == ["c0", "c1", "c2", "c3"]
    results = _read(run / "results.json")["datasets"]["CIFAR10"]
    (skip,) = results["skipped"]
    assert (skip["index"], skip["id"]) == (1, "c1") and "not found" in skip["error"]
    assert official[1] == {"id": "c1", "text": "", "delta_path": model, "skipped": skip["error"]}
    assert results["n_answered"] == 3 and results["score"]["n"] == 3 and results["value"] is not None

    # lamm score on that file: the placeholder is reported as skipped and left out, never scored
    capsys.readouterr()
    score = ["score", "--benchmark-dir", str(bench), "--dataset", "CIFAR10", "--json",
             "--answers", str(run / "answers")]  # fmt: skip
    assert main(score) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["n"] == 3 and res["value"] == results["value"]
    assert [(s["index"], s["id"]) for s in res["skipped"]] == [(1, "c1")]
    assert res["skipped"][0]["reason"].startswith("placeholder of a record lamm eval skipped: ")
    assert main([*score, "--protocol", "lamm-v1"]) == 0  # same under the official denominators
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 3

    # replaying the folder: the placeholder is not an answer (an error, or skipped again)
    replay = [
        "eval",
        "--model",
        f"answers:{run / 'answers'}",
        "--benchmark-dir",
        str(bench),
        "--datasets",
        "CIFAR10",
    ]
    assert main([*replay, "--out", str(tmp_path / "r1")]) == 1
    assert "placeholder of a record lamm eval skipped" in capsys.readouterr().err
    assert main([*replay, "--out", str(tmp_path / "r2"), "--on-error", "skip"]) == 0
    assert [s["id"] for s in _read(tmp_path / "r2" / "results.json")["datasets"]["CIFAR10"]["skipped"]] == [
        "c1"
    ]


def test_lsp_placeholder_holds_every_joint():
    p = placeholder(find_dataset("LSP"), "l3", "image not found", "ckpt")
    assert p == {
        "id": "l3",
        "text": dict.fromkeys(LSP_JOINTS, ""),
        "delta_path": "ckpt",
        "skipped": "image not found",
    }
    assert list(p["text"]) == list(LSP_JOINTS)
