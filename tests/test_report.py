"""``lamm report``: one leaderboard per benchmark (LAMM-Mini never beside the paper's rows), 95% intervals,
trivial baselines, examples with ground truth and right/wrong marks, training curves of ``lamm train``
models, radar and error-bar PNGs; the HTML is rendered in headless Chromium when it is installed."""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess

import pytest
from eval_helpers import EchoAdapter, make_benchmark_2d
from train_helpers import make_base, make_instruct

from lamm.bench.eval.config import EvalConfig
from lamm.bench.eval.datasets import select_datasets
from lamm.bench.eval.runner import evaluate
from lamm.bench.report.leaderboard import REFERENCE, display_value, group_runs, table
from lamm.bench.report.runs import load_runs
from lamm.bench.report.terminal import leaderboard_text
from lamm.bench.report.write import write_report
from lamm.cli import main
from lamm.data.mini import build_mini
from lamm.metrics.intervals import interval, normal_mean, wilson

MINI_SETS = "CIFAR10,FSC147,CelebA(Smile),SQAimage"


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


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """A real LAMM-Mini build, a tiny model trained by the real trainer (4 steps) and evaluated on it."""
    from lamm.train.config import load_config
    from lamm.train.run import train

    tmp = tmp_path_factory.mktemp("mini")
    build_mini(
        tmp / "data", seed=1, train=2, test=12, image_size=32, with_3d=False, pretrain=8, progress=False
    )
    bench = tmp / "data" / "2D_Benchmark"
    data = make_instruct(tmp / "instruct", n=16)
    cfg = load_config(
        {"model": make_base(tmp / "base", data), "out_dir": str(tmp / "train"),
         "data": {"files": [{"path": str(data)}], "max_length": 64, "num_workers": 0},
         "train": {"global_batch_size": 4, "micro_batch_size": 4, "max_steps": 4, "lr": 3e-3,
                   "min_warmup_steps": 1, "tensorboard": False}}
    )  # fmt: skip
    ckpt = train(cfg, progress=False).checkpoint
    specs = select_datasets(bench, MINI_SETS)
    evaluate(EvalConfig(f"lamm:{ckpt}", bench, specs, tmp / "tiny", adapter_options={"max_new_tokens": 8}))
    return tmp, ckpt


def test_wilson_and_normal_intervals():
    lo, hi = wilson(0.5, 50)  # textbook value: 0.3664, 0.6336
    assert lo == pytest.approx(0.3664, abs=1e-4) and hi == pytest.approx(0.6336, abs=1e-4)
    assert wilson(1.0, 50)[1] == pytest.approx(1.0) and wilson(1.0, 50)[0] == pytest.approx(0.9287, abs=1e-4)
    lo, hi = normal_mean([0, 1, 2, 3])  # mean 1.5, s = 1.291, half = 1.96 * 1.291 / 2
    assert (lo + hi) / 2 == pytest.approx(1.5) and hi - lo == pytest.approx(2 * 1.959964 * 1.290994 / 2)
    acc = interval({"value": 0.5}, [{"score": float(i % 2)} for i in range(50)])
    assert acc[2] == "Wilson" and acc[0] == pytest.approx(0.3664, abs=1e-4)
    mae = interval({"value": 1.5}, [{"score": float(v)} for v in (0, 1, 2, 3)])
    assert mae[2] == "normal" and mae[0] == pytest.approx(lo)
    assert interval({"value": 6.6}, [{"score": 1.0}, {"score": 3.0}]) is None  # not the mean of the records
    assert interval({"value": 0.0, "metric": "bleu4"}, [{"score": 0.0}]) is None  # BLEU-4: corpus metric
    assert interval({"value": 0.25, "score": {"correct": 5, "total": 20}}, None)[2] == "Wilson"


def test_leaderboard_rows_and_reference_numbers(runs):
    _, dirs = runs
    cols, rows = table(load_runs(dirs))
    assert cols == [("CIFAR10", "accuracy"), ("SQAimage", "accuracy"), ("LSP", "pck")]
    names = [r.name for r in rows]
    # not LAMM-Mini: taken to be the real benchmark, so the paper's rows are there; the trivial baseline
    # (majority label, random option) is computed from the benchmark files
    assert names == ["echo", "echo-b", "trivial baseline", "LLaVA (paper)", "MiniGPT-4 (paper)",
                     "mPLUG-Owl (paper)", "LAMM (paper)"]  # fmt: skip
    res = json.loads((dirs[0] / "results.json").read_text())
    assert (
        res["run"]["benchmark"]["name"] == "LAMM-Benchmark"
        and len(res["run"]["benchmark"]["fingerprint"]) == 16
    )
    assert rows[0].values["CIFAR10"] == pytest.approx(100 * res["datasets"]["CIFAR10"]["value"])
    lo, hi = rows[0].intervals["CIFAR10"]
    ref_lo, ref_hi = wilson(res["datasets"]["CIFAR10"]["value"], 4)
    assert lo == pytest.approx(100 * ref_lo) and hi == pytest.approx(100 * ref_hi)
    assert rows[2].kind == "baseline" and rows[2].values["CIFAR10"] == 25.0  # 4 labels, one record each
    assert "LSP" not in rows[2].entries  # no trivial keypoints
    assert rows[3].values == {"CIFAR10": 60.83, "SQAimage": 40.5, "LSP": None}
    assert display_value("bleu4", 6.65) == 6.65 and display_value("mae", 3.0) == 3.0
    assert display_value("accuracy", 0.25) == 25.0
    assert rows[6].values["SQAimage"] == 49.88 and REFERENCE["LAMM"]["FSC147"] == 46.88
    text = leaderboard_text(dirs)
    lines = text.splitlines()
    assert "60.83" in text and "failed" in text and lines[0].startswith("LAMM-Benchmark 2D")
    assert lines[1].split() == ["model", "CIFAR10", "SQAimage", "LSP"]


def test_html_and_markdown_reports(runs):
    tmp, dirs = runs
    out = write_report(dirs, tmp / "r" / "report.html")
    page = out.read_text()
    assert page.count("<tr class='paper'>") == 4 and "60.83" in page and "49.88" in page
    assert page.count("<tr class='baseline'>") == 1 + 2  # leaderboard + CIFAR10 and SQAimage detail rows
    assert "data:image/png;base64," in page  # radar, error bars + example thumbnails embedded
    assert page.count("class='ex'") >= 2 * 3  # examples for each run and dataset
    assert "1 skipped" in page and "unreadable" in page  # the broken CIFAR10 image of echo-b
    assert "right ankle: " in page  # LSP answers shown per joint
    assert "<b>Ground truth:</b> (B) blue" in page or "<b>Ground truth:</b> (A) red" in page
    assert "✓ right" in page and "✗ wrong" in page
    assert "Wilson" in page and "95% CI" in page
    for name in ("radar_0.png", "scores_0.png"):
        png = (tmp / "r" / "report_files" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    md = write_report(dirs, tmp / "r" / "report.md").read_text()
    assert md.startswith("# LAMM-Benchmark report") and "| *LLaVA (paper)* | **60.83** |" in md
    assert "![radar](report_files/radar_0.png)" in md and "| echo-b | accuracy |" in md
    assert "| *trivial baseline* | 25.00 [" in md and "ground truth:" in md
    assert main(["report", *map(str, dirs), "--out", str(tmp / "r" / "cli.html")]) == 0


def test_lamm_mini_apart_from_paper_with_baseline_and_training_curve(runs, mini, capsys):
    """A LAMM-Mini run gets its own leaderboard without the paper's rows, with the trivial baseline of
    each dataset that has one, and the loss curve of the `lamm train` run behind its checkpoint."""
    tmp, dirs = runs
    mtmp, ckpt = mini
    res = json.loads((mtmp / "tiny" / "results.json").read_text())
    assert res["run"]["benchmark"]["name"] == "LAMM-Mini" and res["run"]["benchmark"]["mini"]["seed"] == 1
    assert res["run"]["training"]["train_log"] == str((mtmp / "train" / "train_log.jsonl").resolve())
    groups = group_runs(load_runs([*dirs, mtmp / "tiny"]))
    assert [g.ident["name"] for g in groups] == ["LAMM-Benchmark", "LAMM-Mini"]
    real, synth = groups
    assert [r.name for r in synth.rows] == ["tiny", "trivial baseline"]  # no paper rows
    assert [k for k, _ in synth.cols] == ["CIFAR10", "SQAimage", "FSC147", "CelebA(Smile)"]
    assert set(synth.rows[1].entries) == {"CIFAR10", "SQAimage", "FSC147", "CelebA(Smile)"}
    assert all(r.name != "tiny" for r in real.rows)
    base_mae = synth.rows[1].values["FSC147"]
    lo, hi = synth.rows[1].intervals["FSC147"]
    assert lo <= base_mae <= hi and math.isfinite(lo)  # normal interval over the per-record errors
    assert main(["report", *map(str, dirs), str(mtmp / "tiny"), "--out", str(mtmp / "r" / "all.html")]) == 0
    out = capsys.readouterr().out
    mini_block = out.split("LAMM-Mini")[1]
    assert "(paper)" not in mini_block and "trivial baseline" in mini_block
    page = (mtmp / "r" / "all.html").read_text()
    assert (
        page.count("<div class='bench'") == 2
        and "Leaderboard: LAMM-Mini 2D_Benchmark (synthetic, seed 1" in page
    )
    assert "<h2>Training</h2>" in page and str(ckpt.resolve()) in page
    curve = (mtmp / "r" / "all_files" / "training.png").read_bytes()
    assert curve[:8] == b"\x89PNG\r\n\x1a\n" and len(curve) > 5000
    md = write_report([mtmp / "tiny"], mtmp / "r" / "mini.md").read_text()
    assert "(paper)" not in md and "![training curves](mini_files/training.png)" in md


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (.ci/run installs it)")
def test_html_renders_in_headless_chromium(runs, mini):
    """The page a user opens: Chromium renders it without console errors, and the screenshot shows the
    tables and charts (many non-white pixels, coloured plot pixels) at the top and further down."""
    import numpy as np
    from PIL import Image

    tmp, dirs = runs
    mtmp, _ = mini
    out = write_report([*dirs, mtmp / "tiny"], tmp / "shot" / "report.html")
    png = tmp / "shot" / "shot.png"
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-dev-shm-usage", "--user-data-dir=" + str(tmp / "prof")]  # fmt: skip
    shot = subprocess.run([*base, "--enable-logging=stderr", "--v=0", f"--screenshot={png}", "--window-size=1280,2400",
                           out.as_uri()], capture_output=True, text=True, timeout=180)  # fmt: skip
    assert png.is_file(), shot.stderr[-2000:]
    console = [line for line in shot.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    dom = subprocess.run(
        [*base, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=180
    ).stdout
    assert dom.count("<table") >= 6 and "Leaderboard: LAMM-Mini" in dom and "trivial baseline" in dom
    img = Image.open(io.BytesIO(png.read_bytes())).convert("RGB")
    assert img.size == (1280, 2400)
    px = np.asarray(img.resize((128, 240))).astype(int)  # [240, 128, 3]
    ink = px.min(-1) < 200  # text, table borders, chart bars
    colour = (px.max(-1) - px.min(-1)) > 60  # chart colours (blue runs, grey baseline...)
    assert ink.mean() > 0.05 and colour.sum() > 50
    assert ink[:120].any() and ink[120:].any()  # content all the way down


def test_radar_of_degenerate_leaderboards_is_drawn_with_finite_radii():
    """Axes where every row scores 0, an MAE of 0 (the best possible), a BLEU-4 of 1e-230 and a NaN:
    every radius is finite and in [0, 1], the row equal to the best is at the rim (MAE 0 included),
    and a leaderboard where everything is 0 still gets its chart (its axes named "(all 0)")."""
    from PIL import Image

    from lamm.bench.report.leaderboard import Row
    from lamm.bench.report.plots import radar_png, radar_points

    cols = [("CIFAR10", "accuracy"), ("SQAimage", "accuracy"), ("Flickr30k", "bleu4"), ("FSC147", "mae")]
    rows = [
        Row("a", "run", {"CIFAR10": 0.0, "SQAimage": 40.0, "Flickr30k": 1e-230, "FSC147": 0.0}),
        Row("b", "run", {"CIFAR10": 0.0, "SQAimage": 10.0, "Flickr30k": float("nan"), "FSC147": 4.0}),
        Row("trivial baseline", "baseline", {"CIFAR10": 0.0, "SQAimage": 20.0, "FSC147": 2.0}),
    ]
    pts = radar_points(cols, rows)
    assert all(math.isfinite(p) and 0.0 <= p <= 1.0 for r in pts for p in r)
    # CIFAR10: all 0 -> centre; SQAimage: ratio to 40; BLEU-4 1e-230 is no score, NaN no value;
    # FSC147: MAE 0 is the best (rim), errors 4 and 2 are 0 / 4 and 0 / 2 of it
    assert pts == [[0.0, 1.0, 0.0, 1.0], [0.0, 0.25, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0]]
    zero = [Row(n, "run", {k: 0.0 for k, _ in cols}) for n in ("a", "b")]
    assert radar_points(cols, zero) == [[0.0, 0.0, 0.0, 1.0]] * 2  # every MAE 0: both perfect
    for case in (rows, zero):
        png = radar_png(cols, case, "LAMM-Mini")
        assert png is not None and Image.open(io.BytesIO(png)).size[0] > 400
    assert radar_png(cols[:2], rows, "two axes") is None  # no polygon with fewer than 3 datasets


def test_extra_table_is_drawn_below_its_groups_leaderboard(runs, monkeypatch):
    """A builder in extra_tables.BUILDERS (the seam the 3D-suite table plugs into) gets a table below
    the leaderboard of each group it returns one for, drawn like the leaderboard in HTML and Markdown."""
    from lamm.bench.report import extra_tables
    from lamm.bench.report.leaderboard import Row, Table

    tmp, dirs = runs

    def build(g):
        if not g.ident.get("official"):
            return None
        cols = [("CIFAR10 twice", "accuracy")]
        rows = [
            Row(r.name, "run", {"CIFAR10 twice": 2 * r.values["CIFAR10"]}) for r in g.rows if r.kind == "run"
        ]
        rows.append(Row("Somebody (paper)", "paper", {"CIFAR10 twice": None}))
        return Table("Doubled CIFAR10", cols, rows, note="from the leaderboard rows")

    monkeypatch.setattr(extra_tables, "BUILDERS", (build,))
    page = write_report(dirs, tmp / "x" / "report.html").read_text()
    bench = page.split("<div class='bench' id='bench-0'>")[1].split("</div>")[0]
    table = bench.split("<h3>Doubled CIFAR10</h3>")[1]
    assert bench.index("<h3>Radar</h3>") < bench.index("<h3>Doubled CIFAR10</h3>")
    assert "<td>echo</td>\n<td><b>50.00</b></td>" in table and "<td>echo-b</td>\n<td>0.00</td>" in table
    assert "<tr class='paper'><td>Somebody (paper)</td>\n<td class='na'>failed</td>" in table
    assert "<p class='small'>from the leaderboard rows</p>" in table
    md = write_report(dirs, tmp / "x" / "report.md").read_text()
    section = md.split("### Doubled CIFAR10\n\n")[1].split("\n\n")[0].splitlines()
    assert section == ["| model | CIFAR10 twice (accuracy ↑) |", "|---|---|", "| echo | **50.00** |",
                       "| echo-b | 0.00 |", "| *Somebody (paper)* | failed |"]  # fmt: skip
