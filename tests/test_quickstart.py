"""``lamm quickstart`` end to end on a minimal LAMM-Mini: data, one training step, eval of every 2D
benchmark file, trivial baselines, report."""

from __future__ import annotations

import json

import pytest

from lamm.cli import main


@pytest.mark.slow
def test_quickstart_end_to_end_smoke(tmp_path, capsys):
    out = tmp_path / "q"
    args = ["quickstart", "--out", str(out), "--train", "16", "--test", "2", "--no-3d", "--max-steps", "1",
            "--max-new-tokens", "8"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "[quickstart 4/4" in text and "tiny model vs trivial baselines" in text
    # LAMM-Mini has its own leaderboard: the trivial baseline beside the model, never the paper's rows
    assert f"report: {out / 'report.html'}" in text and "(paper)" not in text and "LAMM-Mini" in text
    res = json.loads((out / "eval" / "tiny" / "results.json").read_text())
    assert len(res["datasets"]) == 14 and all(d["n_answered"] == 2 for d in res["datasets"].values())
    assert res["run"]["model"].startswith("lamm:") and res["run"]["adapter"] == "lamm"
    assert "CIFAR10" in json.loads((out / "eval" / "trivial" / "results.json").read_text())["datasets"]
    page = (out / "report.html").read_text()
    assert "<tr class='paper'>" not in page and "<tr class='baseline'>" in page
    assert "<h2>Training</h2>" in page and "train_log.jsonl" in page  # run -> checkpoint -> training log
    # a rerun reuses data, model and answers
    assert main(args) == 0
    assert "reusing" in capsys.readouterr().out


@pytest.mark.slow
def test_quickstart_trains_3d_in_a_second_process(tmp_path, capsys):
    """With 3D, tiny-3d trains and is evaluated in a second process beside the 2D steps: its log, its
    results and its own LAMM-Mini 3D leaderboard are there, and the step lines report CPU seconds."""
    out = tmp_path / "q3"
    args = ["quickstart", "--out", str(out), "--train", "16", "--train-3d", "4", "--test", "2", "--max-steps", "1",
            "--max-new-tokens", "8"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "tiny-3d trains beside the 2D steps" in text and "[quickstart 6/6" in text and "CPU" in text
    log = (out / "tiny-3d.log").read_text()
    assert "[quickstart 4/6" in log and "[quickstart 5/6" in log and "tiny-3d finished" in log
    res = json.loads((out / "eval" / "tiny-3d" / "results.json").read_text())
    assert (
        res["run"]["benchmark"]["name"] == "LAMM-Mini" and res["run"]["benchmark"]["part"] == "3D_Benchmark"
    )
    assert {"ScanRefer", "ScanQA_multiplechoice"} <= set(res["datasets"])
    page = (out / "report.html").read_text()
    assert "Leaderboard: LAMM-Mini 2D_Benchmark" in page and "Leaderboard: LAMM-Mini 3D_Benchmark" in page
    assert "ScanQA_multiplechoice" in text.split("tiny model vs trivial baselines")[1]
