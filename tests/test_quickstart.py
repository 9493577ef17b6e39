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
