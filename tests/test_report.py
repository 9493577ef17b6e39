"""``lamm report``: leaderboard with the paper's reference rows, per-dataset detail, examples, radar PNG;
the HTML is rendered in headless Chromium when it is installed."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from eval_helpers import EchoAdapter, make_benchmark_2d

from lamm.bench.eval.runner import EvalConfig, evaluate, select_datasets
from lamm.bench.report import REFERENCE, display_value, leaderboard_text, load_runs, table, write_report
from lamm.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    bench = make_benchmark_2d(tmp / "2D", n=4)
    evaluate(EvalConfig("py:echo", bench, select_datasets(bench), tmp / "echo"), EchoAdapter())
    (bench / "cifar10_images" / "3.png").write_bytes(b"broken")
    evaluate(
        EvalConfig("py:echo-b", bench, select_datasets(bench), tmp / "echo-b", on_error="skip"),
        EchoAdapter(fail="sqaimage_images/0.png"),
    )
    return tmp, [tmp / "echo", tmp / "echo-b"]


def test_leaderboard_rows_and_reference_numbers(runs):
    _, dirs = runs
    cols, rows = table(load_runs(dirs))
    assert cols == [("CIFAR10", "accuracy"), ("SQAimage", "accuracy"), ("LSP", "pck")]
    names = [r[0] for r in rows]
    assert names == [
        "echo",
        "echo-b",
        "LLaVA (paper)",
        "MiniGPT-4 (paper)",
        "mPLUG-Owl (paper)",
        "LAMM (paper)",
    ]
    res = json.loads((dirs[0] / "results.json").read_text())
    assert rows[0][2]["CIFAR10"] == pytest.approx(100 * res["datasets"]["CIFAR10"]["value"])
    assert rows[2][2] == {"CIFAR10": 60.83, "SQAimage": 40.5, "LSP": None}
    assert display_value("bleu4", 6.65) == 6.65 and display_value("mae", 3.0) == 3.0
    assert display_value("accuracy", 0.25) == 25.0
    assert rows[5][2]["SQAimage"] == 49.88 and REFERENCE["LAMM"]["FSC147"] == 46.88
    text = leaderboard_text(dirs)
    assert (
        "60.83" in text
        and "failed" in text
        and text.splitlines()[0].split() == ["model", "CIFAR10", "SQAimage", "LSP"]
    )


def test_html_and_markdown_reports(runs):
    tmp, dirs = runs
    out = write_report(dirs, tmp / "r" / "report.html")
    page = out.read_text()
    assert page.count("<tr class='ref'>") == 4 and "60.83" in page and "49.88" in page
    assert "data:image/png;base64," in page  # radar + example thumbnails embedded
    assert page.count("class='ex'") >= 2 * 3  # examples for each run and dataset
    assert "1 skipped" in page and "unreadable" in page  # the broken CIFAR10 image of echo-b
    assert "right ankle: " in page  # LSP answers shown per joint
    radar = (tmp / "r" / "report_files" / "radar.png").read_bytes()
    assert radar[:8] == b"\x89PNG\r\n\x1a\n" and len(radar) > 5000
    md = write_report(dirs, tmp / "r" / "report.md").read_text()
    assert md.startswith("# LAMM-Benchmark report") and "| *LLaVA (paper)* | **60.83** |" in md
    assert "![radar](report_files/radar.png)" in md and "| echo-b | accuracy |" in md
    assert main(["report", *map(str, dirs), "--out", str(tmp / "r" / "cli.html")]) == 0


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_html_renders_in_headless_chromium(runs):
    tmp, dirs = runs
    out = write_report(dirs, tmp / "shot" / "report.html")
    png = tmp / "shot" / "shot.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", f"--screenshot={png}", "--window-size=1280,1600", out.as_uri()]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000  # a page with tables and images, not blank
