"""``lamm score`` on a ``lamm eval`` run log (rows of several datasets) and on ``--dataset all``."""

from __future__ import annotations

import json

from eval_helpers import make_benchmark_2d

from lamm.cli import main


def _run(tmp_path, capsys):
    bench = make_benchmark_2d(tmp_path / "2D", n=5)
    run = tmp_path / "run"
    assert main(["eval", "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(bench),
                 "--out", str(run), "--datasets", "CIFAR10,SQAimage,LSP"]) == 0  # fmt: skip
    capsys.readouterr()
    return bench, run, json.loads((run / "results.json").read_text())


def _score(capsys, *args: str) -> tuple[int, dict | None, str]:
    rc = main(["score", "--json", *args])
    cap = capsys.readouterr()
    lines = cap.out.strip().splitlines()
    return rc, (json.loads(lines[-1]) if rc == 0 and lines else None), cap.err


def test_score_takes_only_the_named_datasets_rows_of_a_run_log(tmp_path, capsys):
    bench, run, results = _run(tmp_path, capsys)
    for name in ("SQAimage", "CIFAR10"):
        rc, res, err = _score(capsys, "--benchmark-dir", str(bench), "--dataset", name,
                              "--answers", str(run / "answers.jsonl"))  # fmt: skip
        assert rc == 0, err
        assert res["n"] == 5 and res["n_answers"] == 5 and res["skipped"] == []
        assert res["value"] == results["datasets"][name]["value"]
    # a dataset the log does not hold is an error naming what it holds
    rc, _, err = _score(capsys, "--benchmark-dir", str(bench), "--dataset", "VOC2012",
                        "--answers", str(run / "answers.jsonl"))  # fmt: skip
    assert rc == 2 and "no answers for VOC2012" in err and "CIFAR10, LSP, SQAimage" in err


def test_score_all_reports_per_dataset_and_pools_no_n(tmp_path, capsys):
    bench, run, results = _run(tmp_path, capsys)
    rc, res, err = _score(capsys, "--benchmark-dir", str(bench), "--dataset", "all",
                          "--answers", str(run / "answers"), "--on-error", "skip")  # fmt: skip
    assert rc == 0, err
    assert "n" not in res and "parse_failure_rate" not in res  # accuracy and MAE never pooled
    assert {k: (v["metric"], v["n"]) for k, v in res["datasets"].items()} == {
        "CIFAR10": ("accuracy", 5), "SQAimage": ("accuracy", 5), "LSP": ("pck", 5),
    }  # fmt: skip


def test_score_all_on_a_run_log_scores_each_logged_dataset(tmp_path, capsys):
    """``--dataset all --answers RUN/answers.jsonl`` once read the log as a folder: every dataset was
    "answer file RUN/answers.jsonl/<name>.json not found" and nothing was scored (exit 0 under skip)."""
    bench, run, results = _run(tmp_path, capsys)
    rc, res, err = _score(capsys, "--benchmark-dir", str(bench), "--dataset", "all",
                          "--answers", str(run / "answers.jsonl"), "--on-error", "skip")  # fmt: skip
    assert rc == 0, err
    assert {k: v["value"] for k, v in res["datasets"].items()} == {
        k: results["datasets"][k]["value"] for k in ("CIFAR10", "SQAimage", "LSP")
    }
    assert {s["dataset"]: s["reason"] for s in res["skipped"]}["VOC2012"] == (
        f"{run / 'answers.jsonl'} holds no answers for VOC2012"
    )
